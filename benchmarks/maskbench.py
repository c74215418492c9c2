"""MaskBench (JSONSchemaBench) for corral's JSON Schema compiler, with llguidance and xgrammar run live beside it.

One command (from the repository root; all three engines, the table at the end)::

    python benchmarks/maskbench.py --limit 60

Full usage::

    python benchmarks/maskbench.py [--engines corral,llguidance,xgrammar] [--mode exact|default]
                                   [--layout spaced|compact] [--workers N] [--timeout S] [--limit N]
                                   [--subsets A,B] [--ids ID,...|@FILE] [--data DIR] [--tokenizer DIR]
                                   [--json OUT]

**Data.** Each schema is one line of ``<shared>/data/jsonschemabench/maskbench/<Subset>.jsonl`` with its test
instances. ``--limit N`` takes at most N schemas in all, round-robin over the selected subsets (the first schemas of
each file in file order), so a limited run still covers every subset.

**Instances, MaskBench's own layout.** Every test instance is ``json.dumps(test["data"], ensure_ascii=False)``: the
default separators ``", "`` and ``": "``, one line, non-ASCII characters written as themselves. This is what
MaskBench feeds (``json.dumps(data, indent=None, ensure_ascii=False)``, see ``<shared>/data/README.md``). It is
tokenized once, in the parent, with the llama3 tokenizer (``tokenizers.Tokenizer``, ``add_special_tokens=False``),
and every engine gets the same token ids. ``--layout compact`` (the old behaviour of this script) uses
``separators=(",", ":")`` instead, for the instances and for every engine's layout options.

**Engines**, each in its own worker process (one per engine and ``--workers`` slot; every schema goes through the
engines one after the other, so they never run at the same time within a slot), one thread each
(``RAYON_NUM_THREADS=OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``), all on the llama3 tokenizer and the same EOS
id (the tokenizer's ``eos_token``, ``<|eot_id|>`` = 128009 for llama3, which llguidance also uses; it must be one of
corral's ``Vocabulary.eos_token_ids``):

* ``corral``: ``schema_to_grammar(schema, whitespace="spaced", **mode)`` (``--layout compact``:
  ``whitespace="compact"``) + ``CompiledGrammar(grammar, Vocabulary.from_huggingface(tokenizer))``; masks are
  ``Matcher.mask_packed()`` (int32 words, bit ``t % 32`` of word ``t // 32``). ``--mode exact`` (default):
  ``property_order="any"``, ``integral_floats=True``, the options that make the language exactly the valid
  instances; ``--mode default``: ``schema_to_grammar``'s defaults (keys in schema order, integers spelled as
  integer literals).
* ``llguidance``: ``LLMatcher(llguidance.hf.from_tokenizer(hf), LLMatcher.grammar_from_json_schema(schema,
  overrides={"whitespace_flexible": False, "item_separator": ", ", "key_separator": ": "}))`` (``--layout compact``:
  ``","`` and ``":"``). ``whitespace_flexible: False`` allows no whitespace beyond the separators, so its language
  has exactly MaskBench's layout (MaskBench itself ran llguidance with flexible whitespace, which accepts the same
  instances plus other layouts). ``overrides`` rather than ``defaults`` so that an ``x-guidance`` key in a schema
  cannot change the layout (no local schema has one). Masks: ``llguidance.numpy.fill_next_token_bitmask`` into an
  int32 bitmask. A matcher in the error state after construction is a compile error.
* ``xgrammar``: ``GrammarCompiler(TokenizerInfo.from_huggingface(hf, stop_token_ids=[eos]), max_threads=1,
  cache_enabled=False).compile_json_schema(schema, any_whitespace=False, separators=(", ", ": "),
  strict_mode=False)`` (``--layout compact``: ``(",", ":")``). The cache is off, so each TTFM is a cold compile.
  ``strict_mode=False`` keeps JSON Schema's semantics: xgrammar's default ``strict_mode=True`` forbids properties and
  items the schema does not list (``additionalProperties: false`` everywhere), a different language that rejects
  many valid MaskBench instances. Masks: ``GrammarMatcher.fill_next_token_bitmask`` into
  ``xgrammar.allocate_token_bitmask`` (int32, read through its numpy view).

``--engines`` picks a subset (default: all three); an engine whose worker cannot import it is skipped with the
reason printed.

**Per schema and engine:**

* TTFM (time to first mask, reported in ms): compile + matcher + first packed mask, wall time. Each engine's
  modules are imported when its worker starts (corral's schema compiler and matcher, and jsonschema, which the
  compiler uses for enum checks: with rfc3987-syntax installed, as the Jupyter stack installs it, importing
  jsonschema takes about 1.6 s, 0.15 s without), so no schema's TTFM carries a once-per-process import.
* every instance, on a fresh matcher (corral ``cg.matcher()``, llguidance a ``deep_copy`` of the compiled matcher,
  xgrammar a new ``GrammarMatcher``): before each token the packed mask is computed (timed: a mask sample), the
  token must have its bit set, then the token is advanced (an advance refused after the mask allowed the token is
  an ``inconsistent`` error). After the last token the mask is computed once more (timed too) and the instance is
  **accepted iff the EOS bit is set** in it. The engine's own completeness test (corral ``is_complete()``,
  llguidance ``is_accepting()``, xgrammar ``is_completed()``) must agree; a disagreement is an ``inconsistent``
  error (counted per schema, listed, and in the JSON).
* outcome: ``compile_error`` (corral: by SchemaError kind and keyword; compilation runs under corral's default
  compile budget, 4 s up to the first mask, and a budget hit is a compile error of kind ``too_complex``, counted
  apart in the table), ``timeout`` (the schema took over
  ``--timeout`` seconds, compile included: remaining instances skipped), ``invalidation_error`` (an invalid instance
  accepted: a bug), ``validation_error`` (a valid instance rejected), ``passing``, ``worker_error`` (an exception
  while matching, or the worker process died, e.g. a segfault). A worker that overruns the timeout by 10 s (stuck
  in a compile) is killed and restarted, and its schema counts as ``timeout``.

**Report.** One table with a row per engine: schemas run, passing, compile errors, validation errors,
invalidation errors, timeouts, worker errors, schemas with inconsistencies, TTFM p50/p90/p99 (ms, over the schemas
that compiled), mask p50/p99/p99.9 and mean (µs, over every mask computed after the first, the final EOS mask
included), and a ``corral / llguidance`` row with the ratio of each timing column (< 1: corral faster). The same
table is printed again for the **shared half**: the schemas every selected engine compiled and ran to the end
(outcome passing, validation_error or invalidation_error for all of them; no compile_error, timeout or
worker_error in any), which is where the issue-12 goals are stated. Then a per-subset breakdown, corral's
compile-error keywords, corral x llguidance outcomes (and llguidance live against its published expected outcomes,
``<shared>/data/reference_results/llguidance/expected_maskbench.json``, which were obtained with flexible
whitespace), and the failing instances. ``--json OUT`` writes all of it: options, both summaries, the shared ids and
every schema's per-engine result (failing instances with their text, without the raw mask samples).
The exit status is 1 when corral has an invalidation error, worker error or inconsistency.
"""

from __future__ import annotations

import os

# One thread per engine; set before any engine (or torch, numpy's BLAS, tokenizers) is imported. The workers are
# forked from this process and inherit it.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import collections
import gc
import json
import multiprocessing as mp
import platform
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
from tables import print_table  # benchmarks/ is on sys.path when run as a script

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
DEFAULT_DATA = SHARED_DIR / "data" / "jsonschemabench" / "maskbench"
DEFAULT_TOKENIZER = SHARED_DIR / "tokenizers" / "llama3"
REFERENCE = SHARED_DIR / "data" / "reference_results" / "llguidance" / "expected_maskbench.json"

OUTCOMES = ("passing", "validation_error", "invalidation_error", "timeout", "compile_error", "worker_error")
RAN = ("passing", "validation_error", "invalidation_error")  # compiled and ran every instance
ENGINES = ("corral", "llguidance", "xgrammar")
MODES = {"exact": {"property_order": "any", "integral_floats": True}, "default": {}}
LAYOUTS = {"spaced": (", ", ": "), "compact": (",", ":")}


def instance_text(data, layout: str) -> str:
    """The instance as MaskBench feeds it (``layout="spaced"``: ``json.dumps(data, ensure_ascii=False)``)."""
    return json.dumps(data, ensure_ascii=False, separators=LAYOUTS[layout])


# ---------------------------------------------------------------------------------------------------- engines
class CompileError(Exception):
    def __init__(self, kind: str, keyword: str, message: str, pointer: str | None = None):
        super().__init__(message)
        self.kind, self.keyword, self.pointer = kind, keyword, pointer


def _bit(words, tok: int) -> bool:
    return bool((int(words[tok >> 5]) >> (tok & 31)) & 1)


class CorralEngine:
    name = "corral"

    def __init__(self, tokenizer_dir: str, eos: int, layout: str, mode: str):
        import jsonschema  # noqa: F401 - corral's schema compiler uses it (enum checks): a once-per-process import

        import corral.compile.json_schema  # noqa: F401 - imports are process set-up, as the peers' are
        import corral.runtime.matcher  # noqa: F401
        from corral.tokens.vocabulary import Vocabulary

        self.vocab = Vocabulary.from_huggingface(tokenizer_dir)
        if eos not in self.vocab.eos_token_ids:
            raise RuntimeError(f"EOS {eos} is not among corral's eos_token_ids {sorted(self.vocab.eos_token_ids)}")
        self.size = self.vocab.size
        self.options = dict(MODES[mode], whitespace=layout)
        self.info = f"schema_to_grammar(whitespace={layout!r}, {MODES[mode]}); Matcher.mask_packed()"

    def compile(self, schema):
        from corral.compile.json_schema import schema_to_grammar
        from corral.errors import GrammarError, RegexError, SchemaError
        from corral.runtime.matcher import CompiledGrammar

        from corral.budget import budget_scope

        try:
            with budget_scope(None):  # corral's default budget over schema to grammar, token tables, first mask
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # narrowings show up as validation errors
                    grammar = schema_to_grammar(schema, **self.options)
                cg = CompiledGrammar(grammar, self.vocab)
                cg.matcher().mask_packed()
        except SchemaError as e:
            raise CompileError(e.kind, e.keyword or "-", str(e), e.pointer) from None
        except (GrammarError, RegexError) as e:
            kind = "too_complex" if getattr(e, "kind", None) == "too_complex" else "grammar"
            raise CompileError(kind, type(e).__name__, str(e)) from None
        except RecursionError as e:
            raise CompileError("error", "RecursionError", str(e)[:300]) from None
        except Exception as e:  # noqa: BLE001
            raise CompileError("error", type(e).__name__, f"{type(e).__name__}: {e}"[:500]) from None
        return cg

    def matcher(self, cg):
        return cg.matcher()

    def fill(self, m):
        return m.mask_packed()

    def advance(self, m, tok: int) -> bool:
        try:
            m.advance(tok)
            return True
        except ValueError:
            return False

    def complete(self, m) -> bool:
        return m.is_complete()


class LLGuidanceEngine:
    name = "llguidance"

    def __init__(self, tokenizer_dir: str, eos: int, layout: str, mode: str):
        import llguidance
        import llguidance.hf
        import llguidance.numpy
        import transformers

        hf = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
        self.size = len(hf)
        self.llg = llguidance
        self.tok = llguidance.hf.from_tokenizer(hf, n_vocab=self.size)
        if self.tok.eos_token != eos:
            raise RuntimeError(f"llguidance's EOS is {self.tok.eos_token}, not {eos}")
        self._fill = llguidance.numpy.fill_next_token_bitmask
        self.bitmask = llguidance.numpy.allocate_token_bitmask(1, self.size)
        item, key = LAYOUTS[layout]
        self.options = {"whitespace_flexible": False, "item_separator": item, "key_separator": key}
        self.info = (f"llguidance {_version('llguidance')}: grammar_from_json_schema(overrides="
                     f"{self.options}); llguidance.numpy.fill_next_token_bitmask")

    def compile(self, schema):
        try:
            g = self.llg.LLMatcher.grammar_from_json_schema(schema, overrides=self.options)
            m = self.llg.LLMatcher(self.tok, g, log_level=0)
        except Exception as e:  # noqa: BLE001
            raise CompileError("llguidance", type(e).__name__, f"{type(e).__name__}: {e}"[:500]) from None
        if m.is_error():
            raise CompileError("llguidance", _first_words(m.get_error()), m.get_error()[:500])
        self._fill(m, self.bitmask)
        if m.is_error():
            raise CompileError("llguidance", _first_words(m.get_error()), m.get_error()[:500])
        return m

    def matcher(self, pristine):
        return pristine.deep_copy()

    def fill(self, m):
        self._fill(m, self.bitmask)
        return self.bitmask[0]

    def advance(self, m, tok: int) -> bool:
        return bool(m.consume_token(tok)) and not m.is_error()

    def complete(self, m) -> bool:
        return bool(m.is_accepting())


class XGrammarEngine:
    name = "xgrammar"

    def __init__(self, tokenizer_dir: str, eos: int, layout: str, mode: str):
        import transformers
        import xgrammar as xgr

        # xgrammar logs schema-conversion warnings from C++ on fd 2 (hundreds per run): silence this worker's
        # stderr; its failures still come back as compile_error / worker_error results.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            pass
        hf = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
        self.size = len(hf)
        self.xgr = xgr
        info = xgr.TokenizerInfo.from_huggingface(hf, vocab_size=self.size, stop_token_ids=[eos])
        self.compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        self.bitmask = xgr.allocate_token_bitmask(1, self.size)
        self.np_bitmask = self.bitmask.numpy()  # shares memory with the torch tensor
        self.options = {"any_whitespace": False, "separators": LAYOUTS[layout], "strict_mode": False}
        self.info = (f"xgrammar {_version('xgrammar')}: GrammarCompiler(max_threads=1, "
                     f"cache_enabled=False).compile_json_schema({self.options}); "
                     "GrammarMatcher.fill_next_token_bitmask")

    def compile(self, schema):
        try:
            cg = self.compiler.compile_json_schema(schema, **self.options)
            m = self.xgr.GrammarMatcher(cg)
            m.fill_next_token_bitmask(self.bitmask)
        except Exception as e:  # noqa: BLE001
            raise CompileError("xgrammar", type(e).__name__, f"{type(e).__name__}: {e}"[:500]) from None
        return cg

    def matcher(self, cg):
        return self.xgr.GrammarMatcher(cg)

    def fill(self, m):
        m.fill_next_token_bitmask(self.bitmask)
        return self.np_bitmask[0]

    def advance(self, m, tok: int) -> bool:
        return bool(m.accept_token(tok))

    def complete(self, m) -> bool:
        return bool(m.is_completed())


ENGINE_CLASSES = {c.name: c for c in (CorralEngine, LLGuidanceEngine, XGrammarEngine)}


def _version(dist: str) -> str:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001
        return "?"


def _first_words(msg: str) -> str:
    """A short key for an error message (its text up to the first colon, or its first words)."""
    head = msg.strip().split("\n", 1)[0]
    head = head.split(":", 1)[0] if ":" in head[:60] else " ".join(head.split()[:4])
    return head[:60] or "-"


# ---------------------------------------------------------------------------------------------------- worker side
def _worker(conn, engine: str, tokenizer_dir: str, timeout_s: float, eos: int, layout: str, mode: str) -> None:
    try:
        eng = ENGINE_CLASSES[engine](tokenizer_dir, eos, layout, mode)
    except Exception as e:  # noqa: BLE001 - an engine that cannot start is skipped by the parent
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", {"size": eng.size, "info": eng.info}))
    while True:
        msg = conn.recv()
        if msg is None:
            return
        try:
            res = _run_schema(msg, eng, timeout_s, eos)
        except Exception as e:  # noqa: BLE001 - reported, not hidden
            res = {"outcome": "worker_error", "error": f"{type(e).__name__}: {e}"[:500]}
        conn.send(res)


def _run_schema(rec: dict, eng, timeout_s: float, eos: int) -> dict:
    out: dict = {}
    gc.collect()
    t0 = time.perf_counter_ns()
    try:
        compiled = eng.compile(rec["schema"])
    except CompileError as e:
        return {"outcome": "compile_error", "kind": e.kind, "keyword": e.keyword, "pointer": e.pointer,
                "error": str(e)[:500]}
    ttfm_ns = time.perf_counter_ns() - t0
    out["ttfm_us"] = ttfm_ns / 1e3
    deadline = time.perf_counter() + max(0.0, timeout_s - ttfm_ns / 1e9)

    mask_ns: list[int] = []
    instances = []
    timed_out = False
    clock = time.perf_counter_ns
    for ti, test in enumerate(rec["tests"]):
        if time.perf_counter() > deadline:
            timed_out = True
            break
        ids = test["ids"]
        m = eng.matcher(compiled)
        rejected_at = None
        inconsistent = None
        for i, tok in enumerate(ids):
            t1 = clock()
            words = eng.fill(m)
            mask_ns.append(clock() - t1)
            if not _bit(words, tok):
                rejected_at = i
                break
            if not eng.advance(m, tok):
                inconsistent = f"mask allowed token {tok} but advance refused it"
                rejected_at = i
                break
            if time.perf_counter() > deadline:
                timed_out = True
                break
        if timed_out:
            break
        eos_bit = None
        if rejected_at is None:
            t1 = clock()
            words = eng.fill(m)
            mask_ns.append(clock() - t1)
            eos_bit = _bit(words, eos)
            complete = eng.complete(m)
            if complete != eos_bit:
                inconsistent = f"EOS bit {eos_bit} but {eng.name} says complete={complete} after the last token"
        accepted = bool(eos_bit)
        inst = {"i": ti, "valid": bool(test["valid"]), "accepted": accepted, "tokens": len(ids)}
        if accepted != inst["valid"]:
            inst["rejected_at"] = rejected_at
        if inconsistent:
            inst["inconsistent"] = inconsistent
        instances.append(inst)
    out["mask_us"] = np.asarray(mask_ns, dtype=np.float64) / 1e3
    fp = [x for x in instances if x["accepted"] and not x["valid"]]
    fn = [x for x in instances if not x["accepted"] and x["valid"]]
    out["n_fp"], out["n_fn"] = len(fp), len(fn)
    out["n_inconsistent"] = sum(1 for x in instances if "inconsistent" in x)
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


class EngineUnavailable(Exception):
    pass


class Worker:
    def __init__(self, engine: str, tokenizer_dir: str, timeout_s: float, eos: int, layout: str, mode: str):
        self.engine = engine
        self.args = (engine, tokenizer_dir, timeout_s, eos, layout, mode)
        self.timeout_s = timeout_s
        self.restarts = -1
        self._start()

    def _start(self):
        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker, args=(child,) + self.args, daemon=True)
        self.proc.start()
        child.close()
        try:
            msg = self.conn.recv() if self.conn.poll(300) else ("error", "no answer in 300 s")
        except EOFError:
            msg = ("error", "worker died while starting")
        if msg[0] != "ready":
            self.proc.kill()
            self.proc.join()
            raise EngineUnavailable(msg[1])
        self.vocab_size, self.info = msg[1]["size"], msg[1]["info"]
        self.restarts += 1

    def run(self, rec: dict) -> dict:
        t0 = time.perf_counter()
        self.conn.send(rec)
        if self.conn.poll(self.timeout_s + 10.0):
            try:
                res = self.conn.recv()
            except EOFError:
                self.proc.join(timeout=2)
                res = {"outcome": "worker_error", "error": f"worker died (exit code {self.proc.exitcode})"}
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
            self.proc.join()


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


def eos_id(tokenizer_dir: Path, hf) -> int:
    """The tokenizer's ``eos_token`` (tokenizer_config.json) as an id: ``<|eot_id|>`` = 128009 for llama3."""
    cfg = json.loads((tokenizer_dir / "tokenizer_config.json").read_text())
    tok = cfg.get("eos_token")
    if isinstance(tok, dict):
        tok = tok.get("content")
    tid = hf.token_to_id(tok) if tok else None
    if tid is None:
        raise SystemExit(f"cannot find the EOS token {tok!r} of {tokenizer_dir}")
    return tid


def pct(xs, q):
    xs = np.asarray(xs, dtype=float)
    return float(np.percentile(xs, q)) if xs.size else float("nan")


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


def summarize(results: list[dict]) -> dict:
    """Counts and timing percentiles of one engine over a list of per-schema results."""
    c = collections.Counter(r["outcome"] for r in results)
    kinds = collections.Counter(r.get("kind") for r in results if r["outcome"] == "compile_error")
    kws = collections.Counter(f'{r.get("kind")}:{r.get("keyword")}' for r in results
                              if r["outcome"] == "compile_error")
    ttfm_ms = np.asarray([r["ttfm_us"] / 1e3 for r in results if "ttfm_us" in r], dtype=float)
    masks = [r["mask_us"] for r in results if len(r.get("mask_us", ())) > 0]
    masks = np.concatenate(masks) if masks else np.zeros(0)
    n = len(results)
    return {
        "schemas": n, "outcomes": {o: c[o] for o in OUTCOMES}, "compile_error_kinds": dict(kinds),
        "compile_error_keywords": dict(kws.most_common()),
        "inconsistent_schemas": sum(1 for r in results if r.get("n_inconsistent")),
        "passing_pct": 100.0 * c["passing"] / n if n else float("nan"),
        "ttfm_p50_ms": pct(ttfm_ms, 50), "ttfm_p90_ms": pct(ttfm_ms, 90), "ttfm_p99_ms": pct(ttfm_ms, 99),
        "ttfm_n": int(ttfm_ms.size),
        "mask_p50_us": pct(masks, 50), "mask_p99_us": pct(masks, 99), "mask_p999_us": pct(masks, 99.9),
        "mask_mean_us": float(masks.mean()) if masks.size else float("nan"), "masks": int(masks.size),
    }


TIMING = [("TTFM p50 ms", "ttfm_p50_ms", 2), ("TTFM p90 ms", "ttfm_p90_ms", 2), ("TTFM p99 ms", "ttfm_p99_ms", 2),
          ("mask p50 µs", "mask_p50_us", 1), ("mask p99 µs", "mask_p99_us", 1),
          ("mask p99.9 µs", "mask_p999_us", 1), ("mask mean µs", "mask_mean_us", 1)]


def _f(x, nd):
    return "-" if x != x else f"{x:,.{nd}f}"


def engine_table(summaries: dict[str, dict]) -> tuple[list, list]:
    header = ["engine", "schemas", "passing", "compile err", "of which too complex", "validation err",
              "invalidation err", "timeout", "worker err", "inconsistent"] + [t[0] for t in TIMING] + ["masks"]
    rows = []
    for name, s in summaries.items():
        o = s["outcomes"]
        rows.append([name, s["schemas"], o["passing"], o["compile_error"],
                     s["compile_error_kinds"].get("too_complex", 0), o["validation_error"],
                     o["invalidation_error"], o["timeout"], o["worker_error"], s["inconsistent_schemas"]]
                    + [_f(s[k], nd) for _, k, nd in TIMING] + [f'{s["masks"]:,}'])
    if "corral" in summaries and "llguidance" in summaries:
        a, b = summaries["corral"], summaries["llguidance"]
        rows.append(["corral / llguidance"] + [""] * 9
                    + [(f"{a[k] / b[k]:.2f}x" if b[k] and a[k] == a[k] and b[k] == b[k] else "-")
                       for _, k, _ in TIMING] + [""])
    return header, rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--engines", default=",".join(ENGINES),
                    help="comma-separated, from corral,llguidance,xgrammar (default: all that import)")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--limit", type=int, default=None, help="at most N schemas, round-robin over the subsets")
    ap.add_argument("--subsets", default=None, help="comma-separated subset names (file stems)")
    ap.add_argument("--ids", default=None, help="only these schema ids (comma-separated, or @FILE with one per line): "
                                                "to rerun, say, the schemas a loaded run found too complex")
    ap.add_argument("--timeout", type=float, default=20.0, help="per-schema seconds (compile + instances)")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--progress", type=int, default=20, help="print a progress line every N schemas (0: never)")
    ap.add_argument("--mode", choices=tuple(MODES), default="exact", help="corral's compile options (docstring)")
    ap.add_argument("--layout", choices=tuple(LAYOUTS), default="spaced",
                    help="instance layout and every engine's separators: spaced = json.dumps defaults "
                         "(MaskBench), compact = (',', ':')")
    ap.add_argument("--workers", type=int, default=1,
                    help="worker slots, each with one process per engine (timings are noisier above 1)")
    args = ap.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINE_CLASSES:
            ap.error(f"unknown engine {e!r}; choose from {', '.join(ENGINES)}")

    from tokenizers import Tokenizer

    hf = Tokenizer.from_file(str(args.tokenizer / "tokenizer.json"))
    eos = eos_id(args.tokenizer, hf)
    records = load_records(args.data, args.subsets.split(",") if args.subsets else None, args.limit)
    if args.ids:
        wanted = set((Path(args.ids[1:]).read_text().split() if args.ids.startswith("@") else args.ids.split(",")))
        records = [r for r in records if r["id"] in wanted]
    ref = json.loads(args.reference.read_text()) if args.reference.exists() else {}

    # ---- workers first (forked before this process tokenizes anything)
    t0 = time.perf_counter()
    slots: list[dict[str, Worker]] = [{} for _ in range(max(1, args.workers))]
    skipped: dict[str, str] = {}
    for e in engines:
        for slot in slots:
            try:
                slot[e] = Worker(e, str(args.tokenizer), args.timeout, eos, args.layout, args.mode)
            except EngineUnavailable as exc:
                skipped[e] = str(exc)
                print(f"skipping {e}: {exc}", flush=True)
                for s in slots:
                    w = s.pop(e, None)
                    if w is not None:
                        w.close()
                break
    engines = [e for e in engines if e not in skipped]
    if not engines:
        raise SystemExit("no engine available")
    info = {e: slots[0][e].info for e in engines}
    sizes = {e: slots[0][e].vocab_size for e in engines}
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
          f"{len(records)} schemas; layout {args.layout}; engines {', '.join(engines)}; {len(slots)} slot(s) ready "
          f"in {time.perf_counter() - t0:.1f}s; V={sizes}; EOS {eos} {hf.id_to_token(eos)!r}", flush=True)
    for e in engines:
        print(f"  {e}: {info[e]}")

    # ---- instances: one tokenization shared by every engine
    jobs = []
    for rec in records:
        tests = []
        for t in rec["tests"]:
            text = instance_text(t["data"], args.layout)
            tests.append({"valid": bool(t["valid"]), "ids": hf.encode(text, add_special_tokens=False).ids})
        jobs.append({"schema": rec["schema"], "tests": tests})

    rows: list = [None] * len(records)
    done = 0
    lock = threading.Lock()
    t_start = time.perf_counter()
    todo = iter(enumerate(records))

    def drive(slot):
        nonlocal done
        while True:
            with lock:
                try:
                    i, rec = next(todo)
                except StopIteration:
                    return
            row = {"id": rec["id"], "subset": rec["subset"], "source_file": rec["source_file"],
                   "n_tests": len(rec["tests"]), "llguidance_ref": llg_outcome(ref.get(rec["source_file"])),
                   "engines": {}}
            for e in engines:
                res = slot[e].run(jobs[i])
                for x in res.get("instances", ()):  # the failing instances, for the report
                    test = rec["tests"][x["i"]]
                    x["text"] = instance_text(test["data"], args.layout)
                    at = x.get("rejected_at")
                    if at is not None:
                        ids = jobs[i]["tests"][x["i"]]["ids"]
                        x["rejected_token"] = ids[at]
                        x["rejected_prefix"] = hf.decode(ids[:at], skip_special_tokens=False)
                        x["rejected_piece"] = hf.decode([ids[at]], skip_special_tokens=False)
                row["engines"][e] = res
            with lock:
                for e, res in row["engines"].items():
                    if res["outcome"] == "invalidation_error":
                        print(f"!!! {e} INVALIDATION ERROR {rec['source_file']}: "
                              + "; ".join(x["text"][:200] for x in res["instances"] if x["accepted"]), flush=True)
                rows[i] = row
                done += 1
                if args.progress and done % args.progress == 0:
                    parts = []
                    for e in engines:
                        c = collections.Counter(r["engines"][e]["outcome"] for r in rows if r is not None)
                        parts.append(f"{e}: " + ", ".join(f"{o} {c[o]}" for o in OUTCOMES if c[o]))
                    print(f"  [{done}/{len(records)} {time.perf_counter() - t_start:.0f}s] " + "; ".join(parts),
                          flush=True)

    threads = [threading.Thread(target=drive, args=(s,)) for s in slots]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in slots:
            for w in s.values():
                w.close()
    rows = [r for r in rows if r is not None]
    elapsed = time.perf_counter() - t_start

    # ---- summaries: all schemas, and the shared half
    shared = [r for r in rows if all(r["engines"][e]["outcome"] in RAN for e in engines)]
    total = {e: summarize([r["engines"][e] for r in rows]) for e in engines}
    total_shared = {e: summarize([r["engines"][e] for r in shared]) for e in engines}
    subsets = list(dict.fromkeys(r["subset"] for r in rows))
    per_subset = {s: {e: summarize([r["engines"][e] for r in rows if r["subset"] == s]) for e in engines}
                  for s in subsets}

    print(f"\nAll {len(rows)} schemas ({args.layout} layout, corral --mode {args.mode}; TTFM over the schemas that "
          "compiled; mask samples: every mask after the first, the final EOS mask included):")
    print_table(*engine_table(total))
    print(f"\nShared half: the {len(shared)} schemas every engine compiled and ran to the end "
          f"({100.0 * len(shared) / max(1, len(rows)):.1f}%):")
    print_table(*engine_table(total_shared))

    header = ["subset", "schemas"] + [f"{e} pass/CE/VE/IE/TO" for e in engines] + ["shared"]
    table = []
    for s in subsets:
        cells = [s, per_subset[s][engines[0]]["schemas"]]
        for e in engines:
            o = per_subset[s][e]["outcomes"]
            cells.append(f'{o["passing"]}/{o["compile_error"]}/{o["validation_error"]}/'
                         f'{o["invalidation_error"]}/{o["timeout"] + o["worker_error"]}')
        cells.append(sum(1 for r in shared if r["subset"] == s))
        table.append(cells)
    print("\nper subset (passing / compile err / validation err / invalidation err / timeout+worker err):")
    print_table(header, table)

    if "corral" in engines:
        print("\ncorral's top compile-error keywords (kind:keyword, schemas):")
        for kw, v in list(total["corral"]["compile_error_keywords"].items())[:20]:
            print(f"  {kw:40s} {v}")
    for e in engines:
        if e != "corral" and total[e]["compile_error_keywords"]:
            print(f"\n{e}'s top compile errors:")
            for kw, v in list(total[e]["compile_error_keywords"].items())[:8]:
                print(f"  {kw:60s} {v}")
    if "corral" in engines and "llguidance" in engines:
        cross = collections.Counter((r["engines"]["corral"]["outcome"], r["engines"]["llguidance"]["outcome"])
                                    for r in rows)
        print("\ncorral x llguidance (live), schemas:")
        for (a, b), v in sorted(cross.items()):
            print(f"  {a:20s} {b:20s} {v}")
    if "llguidance" in engines and ref:
        cross = collections.Counter((r["engines"]["llguidance"]["outcome"], r["llguidance_ref"]) for r in rows)
        print("\nllguidance live x llguidance published (expected_maskbench.json, flexible whitespace), schemas:")
        for (a, b), v in sorted(cross.items()):
            print(f"  {a:20s} {b:20s} {v}")

    def failing(e):
        return [r for r in rows if r["engines"][e]["outcome"] in ("invalidation_error", "worker_error")]

    for e in engines:
        bad = failing(e)
        incons = [(r, x) for r in rows for x in r["engines"][e].get("instances", ()) if "inconsistent" in x]
        if bad:
            print(f"\n!!! {e}: {len(bad)} schemas with invalidation / worker errors:")
            for r in bad[:20]:
                res = r["engines"][e]
                print(f"  {r['source_file']}: {res.get('error', '')}")
                for x in res.get("instances", ()):
                    if x["accepted"] and not x["valid"]:
                        print(f"     accepted invalid instance #{x['i']}: {x['text'][:300]}")
        if incons:
            print(f"\n!!! {e}: {len(incons)} inconsistencies:")
            for r, x in incons[:20]:
                print(f"  {r['source_file']} #{x['i']}: {x['inconsistent']}")
        ve = [r for r in rows if r["engines"][e]["outcome"] == "validation_error"]
        if ve:
            limit = 30 if e == "corral" else 10
            print(f"\n{e}: validation errors ({len(ve)} schemas), first rejected valid instance of each:")
            for r in ve[:limit]:
                x = next(x for x in r["engines"][e]["instances"] if x["valid"] and not x["accepted"])
                where = (f"token {x['rejected_at']} {x.get('rejected_piece')!r} after "
                         f"{x.get('rejected_prefix', '')[-60:]!r}" if x.get("rejected_at") is not None
                         else "EOS not allowed at the end")
                print(f"  {r['source_file']} #{x['i']} ({where}): {x['text'][:120]}")
            if len(ve) > limit:
                print(f"  ... {len(ve) - limit} more (see --json)")
        to = [r for r in rows if r["engines"][e]["outcome"] == "timeout"]
        if to:
            print(f"\n{e}: timeouts: " + ", ".join(f"{r['source_file']} ({r['engines'][e]['wall_s']:.0f}s)"
                                                  for r in to))
    restarts = {e: sum(s[e].restarts for s in slots) for e in engines}
    print(f"\n{len(rows)} schemas in {elapsed:.0f}s (worker restarts: {restarts})")

    if args.json:
        for r in rows:
            for res in r["engines"].values():
                res.pop("mask_us", None)
        report = {"data": str(args.data), "tokenizer": str(args.tokenizer), "eos": eos, "limit": args.limit,
                  "subsets": args.subsets, "mode": args.mode, "layout": args.layout, "timeout_s": args.timeout,
                  "workers": len(slots), "engines": engines, "engine_info": info, "skipped": skipped,
                  "elapsed_s": elapsed, "total": total, "shared": total_shared,
                  "shared_ids": [r["id"] for r in shared], "per_subset": per_subset, "schemas": rows}
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"report written to {args.json}")
    if "corral" not in engines:
        return 0
    corral_bad = failing("corral") or any(r["engines"]["corral"].get("n_inconsistent") for r in rows)
    return 1 if corral_bad else 0


if __name__ == "__main__":
    sys.exit(main())
