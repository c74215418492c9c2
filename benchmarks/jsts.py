"""JSON Schema Test Suite (draft2020-12) conformance of corral's JSON Schema compiler, beside llguidance.

For every test of the suite (top-level files plus ``optional/format/``, the 1,897-test set of llguidance's
reference ``expected_json_schema_test_suite.json``): compile the case's schema once with
``schema_to_grammar`` + ``CompiledGrammar``; if it compiles, dump the instance compactly
(``json.dumps(instance, separators=(",", ":"), ensure_ascii=False)``), tokenize it with the llama3 tokenizer and
feed it token by token (``check`` then ``advance``; rejected at the first disallowed token). The instance is
accepted iff every token was allowed and ``is_complete()`` holds at the end; this is compared with the test's
``valid``.

Modes (``--mode``): ``exact`` (default) compiles with the options that make the language exactly the valid
instances: ``property_order="any"``, ``integral_floats=True``, and ``formats="annotate"`` (draft 2020-12's default,
format as an annotation) except for the files of ``optional/format/``, which the suite writes for format assertion;
``default`` compiles with ``schema_to_grammar``'s defaults (keys in schema order, integers as integer literals,
format asserted everywhere), whose narrowings show up as false negatives.

Categories: ``pass``, ``false_positive`` (invalid instance accepted: a bug), ``false_negative`` (valid instance
rejected), ``compile_error`` (with the SchemaError kind and keyword; GrammarError / RegexError count as kind
``grammar``, anything else as ``error``).

Usage::

    python benchmarks/jsts.py [--mode exact|default] [--suite DIR] [--tokenizer DIR] [--json OUT] [--files a,b]
                              [--verbose]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import time
import warnings
from pathlib import Path
from tables import print_table  # benchmarks/ is on sys.path when run as a script

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
DEFAULT_SUITE = SHARED_DIR / "data" / "json-schema-test-suite" / "pinned_78048ead" / "tests" / "draft2020-12"
DEFAULT_TOKENIZER = SHARED_DIR / "tokenizers" / "llama3"
REFERENCE = SHARED_DIR / "data" / "reference_results" / "llguidance" / "expected_json_schema_test_suite.json"

CATS = ("pass", "false_positive", "false_negative", "compile_error")
# llguidance's categories folded onto ours.
LLG_FOLD = {
    "pass": "pass",
    "false_positive": "false_positive",
    "false_negative": "false_negative",
    "skip_compile": "compile_error",
    "compile_error_valid": "compile_error",
    "compile_error_all_invalid": "compile_error",
}


def suite_files(suite: Path) -> list[tuple[str, Path]]:
    """(key, path) for the top-level files and ``optional/format/*``; key as in llguidance's reference."""
    out = [(p.stem, p) for p in sorted(suite.glob("*.json"))]
    fmt = suite / "optional" / "format"
    out += [(f"optional/format/{p.stem}", p) for p in sorted(fmt.glob("*.json"))]
    return out


def remotes_registry(suite: Path) -> dict:
    """The suite's remote documents (``remotes/``) by their ``http://localhost:1234/`` URI (as its runners serve)."""
    folder = suite.parent.parent / "remotes"
    out = {}
    if folder.is_dir():
        for p in sorted(folder.rglob("*.json")):
            out["http://localhost:1234/" + p.relative_to(folder).as_posix()] = json.loads(p.read_text())
    return out


REGISTRY: dict = {}


def compile_options(mode: str, key: str) -> dict:
    """``schema_to_grammar`` options of ``mode`` for the suite file ``key``."""
    if mode == "default":
        return {}
    return {"property_order": "any", "integral_floats": True,
            "formats": "assert" if key.startswith("optional/format/") else "annotate"}


def compile_schema(schema, vocab, **options):
    """Returns (CompiledGrammar, None) or (None, (kind, keyword, message))."""
    from corral.compile.json_schema import schema_to_grammar
    from corral.errors import GrammarError, RegexError, SchemaError
    from corral.runtime.matcher import CompiledGrammar

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # narrowings show up as false negatives
            grammar = schema_to_grammar(schema, registry=REGISTRY, **options)
        return CompiledGrammar(grammar, vocab), None
    except SchemaError as e:
        return None, (e.kind, e.keyword or "-", str(e))
    except (GrammarError, RegexError) as e:
        return None, ("grammar", type(e).__name__, str(e))
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return None, ("error", type(e).__name__, f"{type(e).__name__}: {e}")


def run_instance(cg, ids: list[int]) -> tuple[bool, int | None]:
    """(accepted, index of the first rejected token or None)."""
    m = cg.matcher()
    for i, t in enumerate(ids):
        if not m.check(t):
            return False, i
        m.advance(t)
    return m.is_complete(), None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    ap.add_argument("--tokenizer", type=Path, default=DEFAULT_TOKENIZER)
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--json", type=Path, default=None, help="write the full report here")
    ap.add_argument("--files", default=None, help="comma-separated keys (e.g. type,optional/format/date)")
    ap.add_argument("--verbose", action="store_true", help="list every FP / FN")
    ap.add_argument("--mode", choices=("exact", "default"), default="exact",
                    help="compile options (see the module docstring)")
    args = ap.parse_args(argv)

    from tokenizers import Tokenizer

    from corral.tokens.vocabulary import Vocabulary

    t0 = time.perf_counter()
    hf = Tokenizer.from_file(str(args.tokenizer / "tokenizer.json"))
    vocab = Vocabulary.from_huggingface(str(args.tokenizer))
    print(f"mode {args.mode}: {compile_options(args.mode, 'x') or 'schema_to_grammar defaults'}")
    print(f"tokenizer {args.tokenizer} loaded in {time.perf_counter() - t0:.2f}s (V={vocab.size})")

    ref = {}
    if args.reference.exists():
        ref = json.loads(args.reference.read_text())
        ref = next(iter(ref.values())) if len(ref) == 1 else ref
    REGISTRY.update(remotes_registry(args.suite))
    files = suite_files(args.suite)
    if args.files:
        want = set(args.files.split(","))
        files = [f for f in files if f[0] in want]

    results = []  # one dict per test
    per_file = collections.OrderedDict()
    t_start = time.perf_counter()
    for key, path in files:
        cases = json.loads(path.read_text())
        fc = collections.Counter()
        for ci, case in enumerate(cases):
            tc = time.perf_counter()
            cg, err = compile_schema(case["schema"], vocab, **compile_options(args.mode, key))
            compile_s = time.perf_counter() - tc
            for ti, test in enumerate(case["tests"]):
                rec = {
                    "file": key, "case": case["description"], "test": test["description"],
                    "case_index": ci, "test_index": ti, "valid": bool(test["valid"]),
                    "compile_s": round(compile_s, 4),
                }
                if err is not None:
                    rec.update(category="compile_error", error_kind=err[0], error_keyword=err[1], error=err[2])
                else:
                    text = json.dumps(test["data"], separators=(",", ":"), ensure_ascii=False)
                    ids = hf.encode(text, add_special_tokens=False).ids
                    try:
                        accepted, rej = run_instance(cg, ids)
                    except Exception as e:  # noqa: BLE001
                        accepted, rej = False, None
                        rec["runtime_error"] = f"{type(e).__name__}: {e}"
                    rec.update(text=text, accepted=accepted, rejected_at=rej)
                    if accepted == rec["valid"]:
                        rec["category"] = "pass"
                    else:
                        rec["category"] = "false_positive" if accepted else "false_negative"
                    if rej is not None:
                        rec["rejected_token"] = ids[rej]
                        rec["rejected_prefix"] = hf.decode(ids[:rej], skip_special_tokens=False)
                llg = ref.get(key, {}).get(case["description"], {}).get(test["description"])
                rec["llguidance"] = llg
                fc[rec["category"]] += 1
                results.append(rec)
        per_file[key] = fc
    elapsed = time.perf_counter() - t_start

    # ---- per-file table
    def llg_counts(key):
        c = collections.Counter()
        for case in ref.get(key, {}).values():
            for cat in case.values():
                c[LLG_FOLD.get(cat, cat)] += 1
        return c

    header = ["file", "tests", "pass", "FP", "FN", "compile err", "llg pass", "llg FP", "llg FN", "llg CE"]
    rows = []
    tot, ltot = collections.Counter(), collections.Counter()
    for key, fc in per_file.items():
        lc = llg_counts(key)
        tot.update(fc)
        ltot.update(lc)
        rows.append([key, sum(fc.values()), fc["pass"], fc["false_positive"], fc["false_negative"],
                     fc["compile_error"], lc["pass"], lc["false_positive"], lc["false_negative"],
                     lc["compile_error"]])
    n = sum(tot.values())
    rows.append(["**total**", n, tot["pass"], tot["false_positive"], tot["false_negative"], tot["compile_error"],
                 ltot["pass"], ltot["false_positive"], ltot["false_negative"], ltot["compile_error"]])
    print()
    print_table(header, rows)
    if n != 1897 and not args.files:
        print(f"warning: {n} tests, expected 1,897 (llguidance's key set)")
    missing = sum(1 for r in results if r["llguidance"] is None)
    if missing:
        print(f"warning: {missing} tests have no llguidance entry (duplicate or unmatched descriptions)")

    # ---- compile errors by kind / keyword
    ce_kind = collections.Counter()
    ce_kw = collections.Counter()
    ce_cases = set()
    for r in results:
        if r["category"] == "compile_error":
            ce_kind[r["error_kind"]] += 1
            ce_kw[(r["error_kind"], r["error_keyword"])] += 1
            ce_cases.add((r["file"], r["case_index"]))
    print(f"\ncompile errors: {tot['compile_error']} tests in {len(ce_cases)} cases; by kind: "
          + ", ".join(f"{k} {v}" for k, v in ce_kind.most_common()))
    print("by (kind, keyword), tests:")
    for (k, kw), v in ce_kw.most_common():
        print(f"  {k:13s} {kw:28s} {v}")
    all_invalid = sum(1 for r in results if r["category"] == "compile_error" and not any(
        x["valid"] for x in results if x["file"] == r["file"] and x["case_index"] == r["case_index"]))
    print(f"  (of which {all_invalid} tests are in cases whose tests are all invalid)")

    # ---- cross table with llguidance
    cross = collections.Counter((r["category"], r["llguidance"]) for r in results)
    print("\nours x llguidance (tests):")
    for (a, b), v in sorted(cross.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
        print(f"  {a:15s} {str(b):26s} {v}")

    # ---- FP / FN listings
    fps = [r for r in results if r["category"] == "false_positive"]
    fns = [r for r in results if r["category"] == "false_negative"]
    errs = [r for r in results if "runtime_error" in r]
    if fps:
        print(f"\n!!! {len(fps)} FALSE POSITIVES (invalid instance accepted):")
        for r in fps:
            print(f"  {r['file']} / {r['case']} / {r['test']}: {r['text']}")
    if errs:
        print(f"\n!!! {len(errs)} runtime errors while matching:")
        for r in errs:
            print(f"  {r['file']} / {r['case']} / {r['test']}: {r['runtime_error']}")
    if fns:
        print(f"\n{len(fns)} false negatives (valid instance rejected):")
        for r in (fns if args.verbose else fns[:40]):
            where = (f"rejected at token {r['rejected_at']}, after {r.get('rejected_prefix', '')!r}"
                     if r["rejected_at"] is not None else "all tokens allowed, incomplete at the end")
            print(f"  {r['file']} / {r['case']} / {r['test']}: {r['text'][:100]!s} ({where})")
        if not args.verbose and len(fns) > 40:
            print(f"  ... {len(fns) - 40} more (--verbose)")
    print(f"\n{n} tests in {elapsed:.1f}s")

    if args.json:
        report = {
            "suite": str(args.suite), "tokenizer": str(args.tokenizer), "elapsed_s": elapsed,
            "totals": dict(tot), "llguidance_totals": dict(ltot),
            "per_file": {k: dict(v) for k, v in per_file.items()},
            "compile_errors_by_kind": dict(ce_kind),
            "compile_errors_by_keyword": {f"{k}:{kw}": v for (k, kw), v in ce_kw.most_common()},
            "cross_with_llguidance": {f"{a}|{b}": v for (a, b), v in cross.items()},
            "tests": results,
        }
        args.json.write_text(json.dumps(report, indent=1, ensure_ascii=False))
        print(f"report written to {args.json}")
    return 1 if fps else 0


if __name__ == "__main__":
    sys.exit(main())
