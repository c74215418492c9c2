"""MaskBench (JSONSchemaBench) for corral's JSON Schema compiler, beside llguidance's expected outcomes.

Per schema (one line of ``<shared>/data/jsonschemabench/maskbench/<Subset>.jsonl``):

* compile (``--mode exact``, the default: ``property_order="any"``, ``integral_floats=True``, the options that make
  the language exactly the valid instances; ``--mode default``: ``schema_to_grammar``'s defaults, keys in schema
  order and integers spelled as integer literals): ``schema_to_grammar`` + ``CompiledGrammar(grammar, vocab)`` + ``matcher()`` + first ``mask()``; the
  wall time of all that is the TTFM (time to first mask, µs).
* every test instance: ``json.dumps(data, ensure_ascii=False, separators=(",", ":"))`` (compact, corral's JSON
  Schema grammars are whitespace-free), tokenized with llama3 (``add_special_tokens=False``), forced token by token
  on a fresh matcher: ``mask()`` before each token (timed: the mask-time samples), the token must be in the mask,
  then ``advance``. Accepted iff every token was allowed and ``is_complete()`` at the end.
* outcome: ``compile_error`` (by SchemaError kind and keyword), ``timeout`` (the schema took over ``--timeout``
  seconds: remaining instances skipped), ``invalidation_error`` (an invalid instance accepted: a bug),
  ``validation_error`` (a valid instance rejected), ``passing``.

Schemas run in a worker process (the vocabulary loaded once there); a worker that overruns the timeout by 10 s
(e.g. stuck in a compile) is killed and restarted, and its schema counts as ``timeout``.

``--limit N`` takes at most N schemas in all, round-robin over the selected subsets (the first schemas of each file
in file order), so a limited run still covers every subset.

Usage::

    python benchmarks/maskbench.py [--mode exact|default] [--workers N] [--data DIR] [--tokenizer DIR] [--limit N]
                                   [--subsets A,B] [--json OUT]
"""

from __future__ import annotations

import argparse
import collections
import json
import multiprocessing as mp
import os
import sys
import threading
import time
import warnings
from pathlib import Path
from tables import print_table  # benchmarks/ is on sys.path when run as a script

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
DEFAULT_DATA = SHARED_DIR / "data" / "jsonschemabench" / "maskbench"
DEFAULT_TOKENIZER = SHARED_DIR / "tokenizers" / "llama3"
REFERENCE = SHARED_DIR / "data" / "reference_results" / "llguidance" / "expected_maskbench.json"

OUTCOMES = ("passing", "validation_error", "invalidation_error", "timeout", "compile_error", "worker_error")


# ---------------------------------------------------------------------------------------------------- worker side
MODES = {"exact": {"property_order": "any", "integral_floats": True}, "default": {}}


def _worker(conn, tokenizer_dir: str, timeout_s: float, mode: str = "exact") -> None:
    for var in ("OMP_NUM_THREADS", "RAYON_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    from tokenizers import Tokenizer

    from corral.tokens.vocabulary import Vocabulary

    hf = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    vocab = Vocabulary.from_huggingface(tokenizer_dir)
    conn.send(("ready", vocab.size))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        try:
            res = _run_schema(msg, hf, vocab, timeout_s, MODES[mode])
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            res = {"outcome": "worker_error", "error": f"{type(e).__name__}: {e}"}
        conn.send(res)


def _run_schema(rec: dict, hf, vocab, timeout_s: float, options: dict) -> dict:
    from corral.compile.json_schema import schema_to_grammar
    from corral.errors import GrammarError, RegexError, SchemaError
    from corral.runtime.matcher import CompiledGrammar

    out: dict = {}
    t0 = time.perf_counter_ns()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # narrowings show up as validation errors
            grammar = schema_to_grammar(rec["schema"], **options)
        cg = CompiledGrammar(grammar, vocab)
        m = cg.matcher()
        m.mask()
    except SchemaError as e:
        return {"outcome": "compile_error", "kind": e.kind, "keyword": e.keyword or "-", "pointer": e.pointer,
                "error": str(e)}
    except (GrammarError, RegexError) as e:
        return {"outcome": "compile_error", "kind": "grammar", "keyword": type(e).__name__, "error": str(e)}
    except RecursionError as e:
        return {"outcome": "compile_error", "kind": "error", "keyword": "RecursionError", "error": str(e)[:300]}
    except Exception as e:  # noqa: BLE001
        return {"outcome": "compile_error", "kind": "error", "keyword": type(e).__name__,
                "error": f"{type(e).__name__}: {e}"[:500]}
    ttfm_ns = time.perf_counter_ns() - t0
    out["ttfm_us"] = ttfm_ns / 1e3
    deadline = time.perf_counter() + max(0.0, timeout_s - ttfm_ns / 1e9)

    mask_us: list[float] = []
    instances = []
    timed_out = False
    for ti, test in enumerate(rec["tests"]):
        if time.perf_counter() > deadline:
            timed_out = True
            break
        text = json.dumps(test["data"], ensure_ascii=False, separators=(",", ":"))
        ids = hf.encode(text, add_special_tokens=False).ids
        m = cg.matcher()
        rejected_at = None
        inconsistent = None
        for i, tok in enumerate(ids):
            t1 = time.perf_counter_ns()
            mk = m.mask()
            mask_us.append((time.perf_counter_ns() - t1) / 1e3)
            if not mk[tok]:
                rejected_at = i
                break
            try:
                m.advance(tok)
            except ValueError as e:
                inconsistent = f"mask allowed token {tok} but advance refused it: {e}"
                rejected_at = i
                break
            if time.perf_counter() > deadline:
                timed_out = True
                break
        if timed_out:
            break
        accepted = rejected_at is None and m.is_complete()
        inst = {"i": ti, "valid": bool(test["valid"]), "accepted": accepted, "tokens": len(ids)}
        if accepted != inst["valid"]:
            inst["text"] = text
            inst["rejected_at"] = rejected_at
            if rejected_at is not None:
                inst["rejected_token"] = ids[rejected_at]
                inst["rejected_prefix"] = hf.decode(ids[:rejected_at], skip_special_tokens=False)
                inst["rejected_piece"] = hf.decode([ids[rejected_at]], skip_special_tokens=False)
        if inconsistent:
            inst["inconsistent"] = inconsistent
        instances.append(inst)
    out["mask_us"] = mask_us
    out["instances"] = instances
    fp = [x for x in instances if x["accepted"] and not x["valid"]]
    fn = [x for x in instances if not x["accepted"] and x["valid"]]
    out["n_fp"], out["n_fn"] = len(fp), len(fn)
    if fp:
        out["outcome"] = "invalidation_error"
    elif timed_out:
        out["outcome"] = "timeout"
    elif fn:
        out["outcome"] = "validation_error"
    else:
        out["outcome"] = "passing"
    # keep only the failing instances in the report
    out["instances"] = [x for x in instances if x["accepted"] != x["valid"] or "inconsistent" in x]
    out["n_instances_run"] = len(instances)
    return out


class Worker:
    def __init__(self, tokenizer_dir: str, timeout_s: float, mode: str = "exact"):
        self.tokenizer_dir, self.timeout_s, self.mode = tokenizer_dir, timeout_s, mode
        self.restarts = -1
        self._start()

    def _start(self):
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child, self.tokenizer_dir, self.timeout_s, self.mode),
                                daemon=True)
        self.proc.start()
        msg = self.conn.recv()
        assert msg[0] == "ready", msg
        self.vocab_size = msg[1]
        self.restarts += 1

    def run(self, rec: dict) -> dict:
        t0 = time.perf_counter()
        self.conn.send(rec)
        if self.conn.poll(self.timeout_s + 10.0):
            try:
                res = self.conn.recv()
            except EOFError:
                res = {"outcome": "worker_error", "error": "worker died"}
                self._restart()
        else:
            res = {"outcome": "timeout", "error": f"killed after {time.perf_counter() - t0:.1f}s (stuck)",
                   "killed": True}
            self._restart()
        res["wall_s"] = time.perf_counter() - t0
        return res

    def _restart(self):
        self.proc.kill()
        self.proc.join()
        self._start()

    def close(self):
        try:
            self.conn.send(None)
        except Exception:  # noqa: BLE001
            pass
        self.proc.join(timeout=5)
        if self.proc.is_alive():
            self.proc.kill()


# ---------------------------------------------------------------------------------------------------- parent side
def load_records(data: Path, subsets: list[str] | None, limit: int | None) -> list[dict]:
    files = sorted(data.glob("*.jsonl"))
    if subsets:
        names = {p.stem: p for p in files}
        unknown = [s for s in subsets if s not in names]
        if unknown:
            raise SystemExit(f"unknown subsets {unknown}; have {sorted(names)}")
        files = [names[s] for s in subsets]
    per = [[json.loads(line) for line in p.open() if line.strip()] for p in files]
    if limit is None:
        return [r for rs in per for r in rs]
    out, i = [], 0
    while len(out) < limit and any(i < len(rs) for rs in per):
        for rs in per:
            if i < len(rs) and len(out) < limit:
                out.append(rs[i])
        i += 1
    return out


def pct(xs, q):
    if not xs:
        return float("nan")
    import numpy as np

    return float(np.percentile(np.asarray(xs, dtype=float), q))


def llg_outcome(v) -> str:
    if v is None:
        return "missing"
    if not v:
        return "passing"
    if "json_error" in v:
        return "compile_error"
    if "validation_error" in v:
        return "validation_error"
    return "other:" + ",".join(sorted(v))


def summarize(rows: list[dict]) -> dict:
    c = collections.Counter(r["outcome"] for r in rows)
    kinds = collections.Counter(r.get("kind") for r in rows if r["outcome"] == "compile_error")
    kws = collections.Counter(f'{r.get("kind")}:{r.get("keyword")}' for r in rows if r["outcome"] == "compile_error")
    ttfm = [r["ttfm_us"] for r in rows if "ttfm_us" in r]
    masks = [x for r in rows for x in r.get("mask_us", ())]
    llg = collections.Counter(r["llguidance"] for r in rows)
    n = len(rows)
    return {
        "schemas": n, "outcomes": dict(c), "compile_error_kinds": dict(kinds),
        "compile_error_keywords": dict(kws.most_common()),
        "passing_pct": 100.0 * c["passing"] / n if n else float("nan"),
        "ttfm_p50_us": pct(ttfm, 50), "ttfm_p90_us": pct(ttfm, 90),
        "mask_p50_us": pct(masks, 50), "mask_p99_us": pct(masks, 99), "masks": len(masks),
        "llguidance": dict(llg),
        "llguidance_passing_pct": 100.0 * llg["passing"] / n if n else float("nan"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--limit", type=int, default=None, help="at most N schemas, round-robin over the subsets")
    ap.add_argument("--subsets", default=None, help="comma-separated subset names (file stems)")
    ap.add_argument("--timeout", type=float, default=20.0, help="per-schema seconds (compile + instances)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--progress", type=int, default=50, help="print a progress line every N schemas (0: never)")
    ap.add_argument("--mode", choices=tuple(MODES), default="exact", help="compile options (module docstring)")
    ap.add_argument("--workers", type=int, default=1, help="worker processes (timings are noisier above 1)")
    args = ap.parse_args(argv)

    records = load_records(args.data, args.subsets.split(",") if args.subsets else None, args.limit)
    ref = json.loads(args.reference.read_text()) if args.reference.exists() else {}
    t0 = time.perf_counter()
    workers = [Worker(str(args.tokenizer), args.timeout, args.mode) for _ in range(max(1, args.workers))]
    print(f"{len(records)} schemas, mode {args.mode} {MODES[args.mode]}; {len(workers)} worker(s) ready in "
          f"{time.perf_counter() - t0:.2f}s (V={workers[0].vocab_size})", flush=True)

    rows: list = [None] * len(records)
    done = 0
    lock = threading.Lock()
    t_start = time.perf_counter()
    todo = iter(enumerate(records))

    def drive(worker):
        nonlocal done
        while True:
            with lock:
                try:
                    i, rec = next(todo)
                except StopIteration:
                    return
            res = worker.run({"schema": rec["schema"], "tests": rec["tests"]})
            res.update(id=rec["id"], subset=rec["subset"], source_file=rec["source_file"],
                       n_tests=len(rec["tests"]), llguidance=llg_outcome(ref.get(rec["source_file"])))
            with lock:
                if res["outcome"] == "invalidation_error":
                    print(f"!!! INVALIDATION ERROR {rec['source_file']}: "
                          + "; ".join(x.get("text", "")[:200] for x in res["instances"] if x["accepted"]),
                          flush=True)
                rows[i] = res
                done += 1
                if args.progress and done % args.progress == 0:
                    c = collections.Counter(r["outcome"] for r in rows if r is not None)
                    print(f"  [{done}/{len(records)} {time.perf_counter() - t_start:.0f}s] " +
                          ", ".join(f"{o} {c[o]}" for o in OUTCOMES if c[o]), flush=True)

    threads = [threading.Thread(target=drive, args=(w,)) for w in workers]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in workers:
            w.close()
    rows = [r for r in rows if r is not None]
    elapsed = time.perf_counter() - t_start

    subsets = list(dict.fromkeys(r["subset"] for r in rows))
    per = {s: summarize([r for r in rows if r["subset"] == s]) for s in subsets}
    total = summarize(rows)

    def line(name, s):
        o = s["outcomes"]
        ck = s["compile_error_kinds"]
        return [name, s["schemas"], o.get("compile_error", 0), ck.get("unsupported", 0), ck.get("invalid", 0),
                ck.get("unsatisfiable", 0), ck.get("grammar", 0) + ck.get("error", 0), o.get("timeout", 0),
                o.get("validation_error", 0), o.get("invalidation_error", 0), o.get("worker_error", 0),
                o.get("passing", 0), f'{s["passing_pct"]:.1f}%', f'{s["ttfm_p50_us"] / 1e3:.1f}',
                f'{s["mask_p50_us"]:.1f}', f'{s["mask_p99_us"]:.0f}',
                s["llguidance"].get("passing", 0), f'{s["llguidance_passing_pct"]:.1f}%',
                s["llguidance"].get("compile_error", 0), s["llguidance"].get("validation_error", 0)]

    header = ["subset", "schemas", "CE", "CE unsup", "CE inval", "CE unsat", "CE other", "timeout", "valid err",
              "invalid err", "runtime err", "passing", "pass %", "TTFM p50 ms", "mask p50 us", "mask p99 us", "llg pass",
              "llg pass %", "llg CE", "llg valid err"]
    table = [line(s, per[s]) for s in subsets] + [line("**total**", total)]
    print()
    print_table(header, table)
    print("(CE other = grammar/regex errors and unexpected compile exceptions; runtime err = an exception while "
          "matching the instances)")

    print("\ntop compile-error keywords (kind:keyword, schemas):")
    for kw, v in list(total["compile_error_keywords"].items())[:25]:
        print(f"  {kw:40s} {v}")
    cross = collections.Counter((r["outcome"], r["llguidance"]) for r in rows)
    print("\nours x llguidance (schemas):")
    for (a, b), v in sorted(cross.items()):
        print(f"  {a:20s} {b:20s} {v}")

    bad = [r for r in rows if r["outcome"] in ("invalidation_error", "worker_error")]
    incons = [(r, x) for r in rows for x in r.get("instances", ()) if "inconsistent" in x]
    if bad:
        print(f"\n!!! {len(bad)} schemas with invalidation / worker errors:")
        for r in bad:
            print(f"  {r['source_file']}: {r.get('error', '')}")
            for x in r.get("instances", ()):
                if x["accepted"] and not x["valid"]:
                    print(f"     accepted invalid instance #{x['i']}: {x['text'][:300]}")
    if incons:
        print(f"\n!!! {len(incons)} mask/advance inconsistencies:")
        for r, x in incons:
            print(f"  {r['source_file']} #{x['i']}: {x['inconsistent']}")
    ve = [r for r in rows if r["outcome"] == "validation_error"]
    if ve:
        print(f"\nvalidation errors ({len(ve)} schemas), first rejected valid instance of each:")
        for r in ve[:30]:
            x = next(x for x in r["instances"] if x["valid"] and not x["accepted"])
            where = (f"token {x['rejected_at']} {x.get('rejected_piece')!r} after {x.get('rejected_prefix', '')[-60:]!r}"
                     if x.get("rejected_at") is not None else "incomplete at end")
            print(f"  {r['source_file']} #{x['i']} ({where}): {x['text'][:120]}")
        if len(ve) > 30:
            print(f"  ... {len(ve) - 30} more (see --json)")
    to = [r for r in rows if r["outcome"] == "timeout"]
    if to:
        print(f"\ntimeouts: " + ", ".join(f"{r['source_file']} ({r['wall_s']:.0f}s)" for r in to))
    print(f"\n{len(rows)} schemas in {elapsed:.0f}s (worker restarts: {sum(w.restarts for w in workers)})")

    if args.json:
        for r in rows:
            r.pop("mask_us", None)
        report = {"data": str(args.data), "tokenizer": str(args.tokenizer), "limit": args.limit, "mode": args.mode,
                  "timeout_s": args.timeout, "elapsed_s": elapsed, "total": total, "per_subset": per,
                  "schemas": rows}
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"report written to {args.json}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
