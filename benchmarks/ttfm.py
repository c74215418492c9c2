"""corral's time to first mask on MaskBench schemas, by phase, and against an earlier run or checkout.

    python benchmarks/ttfm.py [--limit 120] [--json OUT]          # the records maskbench.py --limit 120 runs
    python benchmarks/ttfm.py --compare BEFORE.json               # per-schema ratios to an earlier --json
    PYTHONPATH=/tmp/old/src python benchmarks/ttfm.py --json BEFORE.json   # a worktree of another commit

The records are those of ``benchmarks/maskbench.py`` (same data folder, same round-robin over the subsets, same
options: MaskBench's layout, ``--mode exact``), compiled one after the other in this process, as maskbench's worker
does, without the instances in between (modules imported first, not timed). Per schema, phases: ``schema`` (``schema_to_grammar``), ``grammar``
(``CompiledGrammar``), ``matcher`` and ``mask`` (the first ``mask_packed()``); TTFM is their sum. The table gives
p50/p90/p99 and the mean of each over the schemas that compiled. With ``--compare``, the geometric mean of
per-schema TTFM ratios (this run / the other, on the schemas both compiled) and the schemas that moved most.
TTFM is noisy on a shared machine (repeat, and compare ratios more than absolute numbers).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import statistics
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from maskbench import DEFAULT_DATA, DEFAULT_TOKENIZER, MODES, load_records  # noqa: E402
from tables import print_table  # noqa: E402

PHASES = ("schema", "grammar", "matcher", "mask")


def time_schema(schema, vocab, options) -> dict | None:
    """Seconds per phase for one schema (``None`` when it does not compile)."""
    from corral.compile.json_schema import schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar

    gc.collect()
    marks = [time.perf_counter()]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            grammar = schema_to_grammar(schema, **options)
        marks.append(time.perf_counter())
        compiled = CompiledGrammar(grammar, vocab)
        marks.append(time.perf_counter())
        matcher = compiled.matcher()
        marks.append(time.perf_counter())
        matcher.mask_packed()
        marks.append(time.perf_counter())
    except Exception:  # noqa: BLE001 - compile errors are maskbench's business; here they are left out
        return None
    return {p: b - a for p, a, b in zip(PHASES, marks, marks[1:])}


def _pct(xs: list[float], q: float) -> float:
    """The ``q`` quantile of ``xs`` (nearest rank)."""
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def report(times: dict) -> None:
    """Print the per-phase table (milliseconds)."""
    rows = []
    for phase in PHASES + ("ttfm",):
        xs = [1e3 * (sum(t.values()) if phase == "ttfm" else t[phase]) for t in times.values()]
        rows.append([phase, f"{statistics.median(xs):.2f}", f"{_pct(xs, 0.9):.2f}", f"{_pct(xs, 0.99):.2f}",
                     f"{statistics.mean(xs):.2f}"])
    print_table(["phase", "p50 ms", "p90 ms", "p99 ms", "mean ms"], rows)


def compare(times: dict, other: dict) -> None:
    """Print the geometric mean of per-schema TTFM ratios against ``other`` and the largest moves."""
    ttfm = {k: sum(t.values()) for k, t in times.items()}
    before = {k: sum(t.values()) for k, t in other.items()}
    common = [k for k in ttfm if k in before]
    ratios = {k: ttfm[k] / before[k] for k in common}
    geo = math.exp(statistics.mean(math.log(r) for r in ratios.values()))
    print(f"\n{len(common)} schemas in both runs: TTFM this / other, geometric mean {geo:.3f}; p50 "
          f"{1e3 * statistics.median(ttfm[k] for k in common):.2f} ms against "
          f"{1e3 * statistics.median(before[k] for k in common):.2f} ms")
    moved = sorted(common, key=lambda k: ratios[k])
    rows = [[k, f"{1e3 * before[k]:.2f}", f"{1e3 * ttfm[k]:.2f}", f"{ratios[k]:.2f}"] for k in moved[:5] + moved[-5:]]
    print_table(["schema", "other ms", "this ms", "ratio"], rows)


def main(argv=None) -> int:
    """Run, print the tables, and write ``--json``."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--tokenizer", default=str(DEFAULT_TOKENIZER))
    ap.add_argument("--limit", type=int, default=120)
    ap.add_argument("--mode", choices=sorted(MODES), default="exact")
    ap.add_argument("--compare", type=Path, help="the --json of an earlier run")
    ap.add_argument("--json", dest="json_out", type=Path)
    args = ap.parse_args(argv)

    import jsonschema  # noqa: F401 - imported once per process before timing, as maskbench.py's worker does

    import corral.compile.json_schema  # noqa: F401
    import corral.runtime.matcher  # noqa: F401
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_huggingface(args.tokenizer)
    options = dict(MODES[args.mode], whitespace="spaced")
    times = {}
    for rec in load_records(args.data, None, args.limit):
        t = time_schema(rec["schema"], vocab, options)
        if t is not None:
            times[rec["id"]] = t
    print(f"{len(times)} schemas compiled (of the first {args.limit} records), {args.mode} mode, spaced layout")
    report(times)
    if args.compare:
        compare(times, json.loads(args.compare.read_text()))
    if args.json_out:
        args.json_out.write_text(json.dumps(times, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
