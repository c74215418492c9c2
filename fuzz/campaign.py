"""A fuzzing campaign (libFuzzer workers through atheris), corpus merging, and replay of saved inputs.

* :func:`run_campaign`: ``workers`` libFuzzer processes on ``corpus/<target>/`` for ``minutes`` (each restarted
  when libFuzzer stops on a native crash, hang or memory blow-up before the time is up); new coverage goes to the
  corpus, findings to ``findings/<target>/``; then the inputs of findings are taken out of the corpus and a summary
  is printed.
* :func:`merge_corpus`: libFuzzer's ``-merge=1``: keep the named seeds and only those generated inputs (SHA-1
  names) that add coverage.
* :func:`replay`: every saved finding and the corpus (or a sample) through the targets, without atheris; failures
  listed in ``known_issues.json`` are reported as known.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fuzz import harness
from fuzz.harness import CORPUS_DIR, FINDINGS_DIR, FUZZ_DIR, input_files
from fuzz.targets import TARGETS, get_target

KNOWN_ISSUES = FUZZ_DIR / "known_issues.json"
DICTS_DIR = FUZZ_DIR / "dicts"
_SHA1_NAME = re.compile(r"[0-9a-f]{40}")


def load_known_issues() -> dict[str, str]:
    """``{"<target>/<finding file>": "note"}``: findings that still reproduce on purpose (reported, not fixed)."""
    if not KNOWN_ISSUES.is_file():
        return {}
    return {k: v for k, v in json.loads(KNOWN_ISSUES.read_text()).items() if not k.startswith("_")}


def _corpus_stats(folder: Path) -> tuple[int, int]:
    n = size = 0
    for p in input_files(folder):
        try:  # libFuzzer replaces inputs by shorter ones while we count
            size += p.stat().st_size
            n += 1
        except FileNotFoundError:
            pass
    return n, size


WORKER = FUZZ_DIR / "worker.sh"


def _worker_env(name: str, time_limit: float) -> dict:
    return dict(os.environ, FUZZ_TARGET=name, FUZZ_TIME_LIMIT=str(time_limit), FUZZ_PYTHON=sys.executable,
                PYTHONPATH=os.pathsep.join([str(FUZZ_DIR.parent), str(FUZZ_DIR.parent / "src"),
                                            os.environ.get("PYTHONPATH", "")]))


def _libfuzzer_args(name: str, seconds: int, time_limit: float, seed: int, extra: list[str]) -> list[str]:
    target = get_target(name)
    args = [str(CORPUS_DIR / name), f"-max_total_time={seconds}", f"-timeout={int(time_limit * 2) + 5}",
            "-rss_limit_mb=3072", f"-max_len={target.max_len}", f"-artifact_prefix={FINDINGS_DIR / name}/",
            "-print_final_stats=1", f"-seed={seed}", "-reload=10", "-print_pcs=0"]
    dictionary = DICTS_DIR / f"{name}.dict"
    if dictionary.is_file():
        args.append(f"-dict={dictionary}")
    return args + list(extra)


def _execs_of(log: Path, stats: Path) -> int:
    text = log.read_text(errors="replace") if log.is_file() else ""
    m = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    best = int(m[-1]) if m else 0
    if not m:
        runs = re.findall(r"^#(\d+)\s", text, flags=re.M)
        best = int(runs[-1]) if runs else 0
    if stats.is_file():
        try:
            best = max(best, json.loads(stats.read_text())["execs"])
        except (ValueError, KeyError):
            pass
    return best


def run_campaign(name: str, minutes: float, workers: int = 1, time_limit: float = harness.DEFAULT_TIME_LIMIT,
                 extra: list[str] | None = None, verbose: bool = False) -> dict:
    """Fuzz one target for ``minutes`` with ``workers`` processes; prints progress and a summary, returns it."""
    try:
        import atheris  # noqa: F401
    except ImportError:
        raise SystemExit("fuzz campaigns need atheris: pip install 'atheris>=2.3' (replay does not)") from None
    get_target(name)
    corpus, findings = CORPUS_DIR / name, FINDINGS_DIR / name
    corpus.mkdir(parents=True, exist_ok=True)
    findings.mkdir(parents=True, exist_ok=True)
    corpus_before = _corpus_stats(corpus)
    findings_before = {p.name: p.stat().st_mtime for p in input_files(findings)}
    run_dir = Path(tempfile.mkdtemp(prefix=f"corral-fuzz-{name}-"))
    bad_log = run_dir / "bad.sha1"
    env = _worker_env(name, time_limit)
    start = time.monotonic()
    deadline = start + minutes * 60
    slots: list[dict] = [{"proc": None, "runs": 0, "execs": 0} for _ in range(workers)]
    rng = random.Random()
    last_report = start
    print(f"fuzz {name}: {workers} worker(s) for {minutes:g} min, corpus {corpus_before[0]} inputs "
          f"({corpus_before[1] / 1024:.0f} KiB), time limit {time_limit:g} s CPU per input", flush=True)
    try:
        while True:
            now = time.monotonic()
            alive = False
            for i, slot in enumerate(slots):
                proc = slot["proc"]
                if proc is not None and proc.poll() is None:
                    alive = True
                    continue
                if proc is not None:  # finished: count it
                    slot["execs"] += _execs_of(slot["log"], slot["stats"])
                    if proc.returncode != 0 and verbose:
                        print(f"  worker {i} stopped with status {proc.returncode} (see {slot['log']})", flush=True)
                    slot["proc"] = None
                remaining = int(deadline - now)
                if remaining < 5 or slot["runs"] >= 50:
                    continue
                slot["runs"] += 1
                slot["log"] = run_dir / f"worker{i}-{slot['runs']}.log"
                slot["stats"] = run_dir / f"worker{i}-{slot['runs']}.json"
                cmd = [str(WORKER), *_libfuzzer_args(name, remaining, time_limit, rng.randrange(1, 2 ** 31),
                                                     extra or [])]
                slot["fh"] = open(slot["log"], "wb")
                slot["proc"] = subprocess.Popen(
                    cmd, stdout=slot["fh"], stderr=subprocess.STDOUT, cwd=str(FUZZ_DIR.parent),
                    env=dict(env, FUZZ_STATS=str(slot["stats"]), FUZZ_BAD_LOG=str(bad_log)))
                alive = True
            if not alive and time.monotonic() >= deadline - 5:
                break
            if not alive and all(s["runs"] >= 50 for s in slots):
                break
            if time.monotonic() - last_report >= 30:
                last_report = time.monotonic()
                execs = sum(s["execs"] + (_execs_of(s["log"], s["stats"]) if s["proc"] else 0) for s in slots)
                print(f"  {time.monotonic() - start:5.0f} s: {execs} execs, corpus {_corpus_stats(corpus)[0]}, "
                      f"findings {_new_findings(findings, findings_before)[0]}", flush=True)
            time.sleep(1.0)
    except BaseException as exc:
        print(f"{type(exc).__name__}; stopping the workers", flush=True)
        for slot in slots:
            if slot["proc"] is not None and slot["proc"].poll() is None:
                slot["proc"].terminate()
                slot["proc"].wait(timeout=30)
                slot["execs"] += _execs_of(slot["log"], slot["stats"])
        if not isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        for slot in slots:
            if slot.get("fh"):
                slot["fh"].close()
    removed = _drop_bad_inputs(corpus, bad_log)
    n_new, changed = _new_findings(findings, findings_before)
    corpus_after = _corpus_stats(corpus)
    summary = {
        "target": name, "seconds": round(time.monotonic() - start), "workers": workers,
        "execs": sum(s["execs"] for s in slots), "restarts": sum(max(0, s["runs"] - 1) for s in slots),
        "corpus_before": corpus_before[0], "corpus": corpus_after[0], "corpus_kib": round(corpus_after[1] / 1024),
        "findings_new_or_updated": n_new, "finding_inputs_dropped_from_corpus": removed, "logs": str(run_dir),
    }
    print(f"\nfuzz {name}: {summary['execs']} execs in {summary['seconds']} s "
          f"({summary['execs'] / max(1, summary['seconds']):.1f}/s), {summary['restarts']} restarts; corpus "
          f"{corpus_before[0]} -> {corpus_after[0]} inputs ({summary['corpus_kib']} KiB); "
          f"{n_new} new or updated findings; logs in {run_dir}")
    for path in changed:
        print(f"  {path.relative_to(FUZZ_DIR.parent)}: {_trace_headline(path)}")
    return summary


def _new_findings(folder: Path, before: dict) -> tuple[int, list[Path]]:
    changed = [p for p in input_files(folder) if before.get(p.name) != p.stat().st_mtime]
    return len(changed), changed


def _trace_headline(path: Path) -> str:
    """The signature and last line of a finding's ``.trace`` (libFuzzer's own artifacts have none)."""
    trace = path.with_name(path.name + ".trace")
    if not trace.is_file():
        return "libFuzzer artifact (native crash, hang or memory): replay it with --replay"
    lines = [ln for ln in trace.read_text(errors="replace").splitlines() if ln.strip()]
    sig = next((ln[len("signature: "):] for ln in lines if ln.startswith("signature: ")), "?")
    return f"{lines[-1][:200]} [{sig}]"


def _drop_bad_inputs(corpus: Path, bad_log: Path) -> int:
    if not bad_log.is_file():
        return 0
    removed = 0
    for sha in set(bad_log.read_text().split()):
        p = corpus / sha
        if p.is_file():
            p.unlink()
            removed += 1
    return removed


def merge_corpus(name: str, time_limit: float = harness.DEFAULT_TIME_LIMIT) -> None:
    """Keep the named seeds of ``corpus/<target>/`` and the generated inputs that add coverage to them."""
    get_target(name)
    corpus = CORPUS_DIR / name
    generated = [p for p in input_files(corpus) if _SHA1_NAME.fullmatch(p.name)]
    seeds = [p for p in input_files(corpus) if not _SHA1_NAME.fullmatch(p.name)]
    with tempfile.TemporaryDirectory(prefix="corral-fuzz-merge-") as tmp:
        dst, src = Path(tmp, "dst"), Path(tmp, "src")
        dst.mkdir()
        src.mkdir()
        for p in seeds:
            shutil.copy(p, dst / p.name)
        for p in generated:
            shutil.copy(p, src / p.name)
        cmd = [str(WORKER), "-merge=1", f"-timeout={int(time_limit * 2) + 5}", "-rss_limit_mb=3072",
               f"-max_len={get_target(name).max_len}", str(dst), str(src)]
        done = subprocess.run(cmd, env=_worker_env(name, time_limit), cwd=str(FUZZ_DIR.parent),
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        log = done.stdout.decode(errors="replace")
        if done.returncode != 0 or "MERGE-OUTER:" not in log:
            raise SystemExit(f"merge {name} failed (status {done.returncode}); corpus left as it was:\n{log[-3000:]}")
        kept = {p.name for p in dst.iterdir()} - {p.name for p in seeds}
        for p in generated:
            if p.name not in kept:
                p.unlink()
        for name_ in kept:
            if not (corpus / name_).exists():
                shutil.copy(dst / name_, corpus / name_)
    print(f"merge {name}: {len(seeds)} seeds kept, generated inputs {len(generated)} -> {len(kept)}")


def _sample(files: list[Path], n: int | None, salt: str) -> list[Path]:
    if n is None or len(files) <= n:
        return files
    return sorted(random.Random(salt).sample(files, n))


def replay(names: list[str], sample: int | None = None, seconds: float | None = None,
           time_limit: float = harness.DEFAULT_TIME_LIMIT, as_json: bool = False, corpus: bool = True) -> int:
    """Run every saved finding and the corpus (all, or ``sample`` inputs per target, within ``seconds`` per
    target) through the targets. Prints the failures; returns 1 if one is not in ``known_issues.json``, else 0."""
    known = load_known_issues()
    results = []
    for name in names:
        target = get_target(name)
        started = time.monotonic()
        groups = [("findings", input_files(FINDINGS_DIR / name))]
        if corpus:
            groups.append(("corpus", _sample(input_files(CORPUS_DIR / name), sample, name)))
        counts = {"findings": 0, "corpus": 0}
        for group, files in groups:
            for path in files:
                if group == "corpus" and seconds is not None and time.monotonic() - started > seconds:
                    break
                counts[group] += 1
                finding = harness.run_one(target.fn, path.read_bytes(), time_limit)
                key = f"{name}/{path.name}"
                if finding is not None or key in known:
                    results.append({"target": name, "file": str(path.relative_to(FUZZ_DIR.parent)), "key": key,
                                    "group": group, "known": key in known,
                                    "failure": finding.summary() if finding else None,
                                    "trace": finding.trace[-3000:] if finding else None})
        results.append({"target": name, "replayed": counts, "seconds": round(time.monotonic() - started, 1)})
    failures = [r for r in results if r.get("failure") and not r["known"]]
    if as_json:
        print(json.dumps(results))
    else:
        for r in results:
            if "replayed" in r:
                print(f"{r['target']}: replayed {r['replayed']['findings']} findings and {r['replayed']['corpus']} "
                      f"corpus inputs in {r['seconds']} s")
            elif r["failure"]:
                print(f"  {'KNOWN ' if r['known'] else 'FAIL  '}{r['file']}: {r['failure']}")
            else:
                print(f"  FIXED? {r['file']} is in known_issues.json but no longer fails: remove it from the list")
        print(f"{len(failures)} unexpected failures")
    return 1 if failures else 0


def minimize_file(name: str, path: Path, budget: float, time_limit: float = harness.DEFAULT_TIME_LIMIT) -> None:
    """Shrink a saved input in place, keeping its finding signature; rewrites its ``.trace``."""
    target = get_target(name)
    data = path.read_bytes()
    finding = harness.run_one(target.fn, data, time_limit)
    if finding is None:
        print(f"{path}: no finding (fixed?)")
        return
    small = harness.minimize(target.fn, data, finding.signature, time_limit, budget)
    final = harness.run_one(target.fn, small, time_limit) or finding
    path.write_bytes(small)
    if path.parent.resolve() == (FINDINGS_DIR / name).resolve() or path.with_name(path.name + ".trace").exists():
        note = (f"target: {name}\nsignature: {final.signature}\nkind: {final.kind}\nseconds: {final.seconds:.2f}\n"
                f"input: {small[:2000]!r}\n\n{final.trace}")
        path.with_name(path.name + ".trace").write_text(note, encoding="utf-8", errors="backslashreplace")
    print(f"{path}: {len(data)} -> {len(small)} bytes: {small[:300]!r}\n  {final.summary()}")


def all_targets() -> list[str]:
    return list(TARGETS)


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()
