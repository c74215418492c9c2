"""Speed of ``corral validate`` against a plain python-jsonschema loop over the same JSON Lines file.

    python benchmarks/validate_speed.py                    # 50,000 lines, median of 3 repetitions
    python benchmarks/validate_speed.py --lines 5000 --repeat 1        # smoke run
    python benchmarks/validate_speed.py --schema schemas/person.json --no-bad-bytes

The data are generated in a temporary folder (seeded): records of ``schemas/person.json`` (names with some non-ASCII
letters, ages, e-mail addresses, hobby lists), about 5% of them invalid (age out of range or a string, name missing
or empty, an extra key, too many hobbies) and about 1% malformed lines (cut short, or with a byte that is not UTF-8;
``--no-bad-bytes`` keeps only the cut lines, for versions of corral that stopped at a bad byte).

Two schemas are measured: the schema as given, and the same schema with ``"format": "email"`` on ``email`` (so that
the format checkers run; corral checks ``email`` by RFC 5321, jsonschema's own checker only wants an ``@``, so the
two may count differently there). Each repetition times, one after the other, in this process:

* ``cli``: ``corral.cli.main(["validate", "--schema", SCHEMA_FILE, DATA_FILE])`` with stdout redirected to devnull
  (the default output: only the invalid and malformed records, then the summary);
* ``api``: ``corral.validate_jsonl(SCHEMA_FILE, DATA_FILE)`` (a report keeping every record);
* ``plain``: read the schema file, ``Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)``,
  then for each non-empty line of the file read as bytes ``json.loads(line)`` (a ``ValueError`` counts as malformed)
  and ``list(validator.iter_errors(x))``.

The table gives the median seconds of each and the ratios ``cli / plain`` and ``api / plain`` (below 1: corral is
faster); the counts of valid / invalid / malformed records of corral and of the plain loop are printed under it.
Every timing includes reading the schema and building the validator; :mod:`re`'s cache is emptied before each,
so that each pays for compiling its regexes, as a fresh process would. Imports are not timed, except that the very
first ``cli`` call imports corral's schema package (~0.15 s; the median of 3 or more leaves it out).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from corral.cli import main as corral_main  # noqa: E402
from corral.validate import validate_jsonl  # noqa: E402

FIRST = ["Ada", "Grace", "Alan", "José", "Zoë", "Björn", "Chloé", "Wei", "李雷", "Søren", "Amélie", "Noah", "Mia"]
LAST = ["Lovelace", "Hopper", "Turing", "García", "Müller", "O'Brien", "Nakamura", "Ødegaard", "Smith", "Kowalski"]
HOBBIES = ["chess", "climbing", "piano", "go", "cycling", "reading", "origami", "running", "baking", "knitting"]


def make_record(rng: random.Random) -> dict:
    """One valid person record."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    record = {"name": f"{first} {last}", "age": rng.randint(0, 99)}
    if rng.random() < 0.8:
        local = first.lower().encode("ascii", "ignore").decode() or "user"
        record["email"] = f"{local}.{rng.randint(1, 999)}@example.com"
    if rng.random() < 0.7:
        record["hobbies"] = rng.sample(HOBBIES, rng.randint(0, 4))
    return record


def spoil(record: dict, rng: random.Random) -> dict:
    """Make ``record`` invalid in one of a few realistic ways."""
    kind = rng.randrange(5)
    if kind == 0:
        record["age"] = rng.choice([-1, 131, 200, "42"])
    elif kind == 1:
        del record["name"]
    elif kind == 2:
        record["name"] = ""
    elif kind == 3:
        record["nickname"] = "x"
    else:
        record["hobbies"] = HOBBIES[:6]
    return record


def make_lines(n: int, *, seed: int = 0, bad_bytes: bool = True) -> list[bytes]:
    """``n`` JSONL lines (bytes, with their newline): ~5% invalid records, ~1% malformed lines."""
    rng = random.Random(seed)
    lines = []
    for _ in range(n):
        record = make_record(rng)
        u = rng.random()
        if u < 0.05:
            record = spoil(record, rng)
        text = json.dumps(record, ensure_ascii=False)
        malformed = "cut" if 0.05 <= u < 0.06 else None
        if malformed and bad_bytes and rng.random() < 0.5:
            malformed = "bad byte"
        if malformed == "cut":
            text = text[: rng.randrange(1, len(text))]  # at a character boundary
        line = text.encode("utf-8")
        if malformed == "bad byte":
            at = rng.randrange(1, len(line))
            line = line[:at] + b"\xff" + line[at:]
        lines.append(line + b"\n")
    return lines


def plain_loop(schema_file: str, data_file: str) -> dict:
    """The baseline: python-jsonschema's Draft 2020-12 validator with its own format checker."""
    from jsonschema import Draft202012Validator

    with open(schema_file, encoding="utf-8") as f:
        schema = json.load(f)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    counts = {"valid": 0, "invalid": 0, "malformed": 0}
    with open(data_file, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                x = json.loads(line)
            except ValueError:
                counts["malformed"] += 1
                continue
            counts["invalid" if list(validator.iter_errors(x)) else "valid"] += 1
    return counts


def run_cli(schema_file: str, data_file: str) -> int:
    """``corral validate`` in this process, stdout to devnull; its exit status."""
    with open(os.devnull, "w", encoding="utf-8") as null, contextlib.redirect_stdout(null):
        return corral_main(["validate", "--schema", schema_file, data_file])


def run_api(schema_file: str, data_file: str) -> dict:
    """:func:`corral.validate_jsonl`; its counts."""
    summary = validate_jsonl(schema_file, data_file).summary()
    return {k: summary[k] for k in ("valid", "invalid", "malformed")}


def timed(fn, *args):
    """``(seconds, result)`` of one call, after emptying :mod:`re`'s cache (each call then compiles its regexes, as
    a fresh ``corral validate`` process would)."""
    re.purge()
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def measure(schema_file: str, data_file: str, repeat: int) -> tuple[dict, dict]:
    """Median seconds of cli / api / plain over ``repeat`` interleaved repetitions, and the last counts."""
    times = {"cli": [], "api": [], "plain": []}
    counts = {}
    for _ in range(repeat):
        for name, fn in (("cli", run_cli), ("api", run_api), ("plain", plain_loop)):
            seconds, counts[name] = timed(fn, schema_file, data_file)
            times[name].append(seconds)
    return {k: statistics.median(v) for k, v in times.items()}, counts


def main(argv=None) -> None:
    """Generate the data, time the three paths per schema, print the table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=50_000, help="JSONL lines to generate (50,000)")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions; the median is reported (3)")
    ap.add_argument("--schema", default=str(ROOT / "schemas" / "person.json"), help="a person-like schema file")
    ap.add_argument("--no-bad-bytes", action="store_true", help="malformed lines are only cut short, never bad UTF-8")
    args = ap.parse_args(argv)
    base = json.loads(Path(args.schema).read_text(encoding="utf-8"))
    with_format = json.loads(json.dumps(base))
    with_format["properties"]["email"]["format"] = "email"
    rows, notes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        data_file = os.path.join(tmp, "data.jsonl")
        with open(data_file, "wb") as f:
            f.writelines(make_lines(args.lines, bad_bytes=not args.no_bad_bytes))
        for label, schema in (("person", base), ("person+email", with_format)):
            schema_file = os.path.join(tmp, f"{label}.json")
            Path(schema_file).write_text(json.dumps(schema), encoding="utf-8")
            med, counts = measure(schema_file, data_file, args.repeat)
            rows.append((label, med))
            notes.append(f"{label}: corral cli exit {counts['cli']}, corral {counts['api']}, plain {counts['plain']}")
    print_table(rows, args.lines, args.repeat)
    print("\n".join(notes))


def print_table(rows: list, lines: int, repeat: int) -> None:
    """One row per schema: lines, median seconds of cli / api / plain, and the ratios to plain."""
    print(f"{'schema':<14}{'lines':>8}{'cli s':>9}{'api s':>9}{'plain s':>9}{'cli/plain':>11}{'api/plain':>11}")
    for label, med in rows:
        print(f"{label:<14}{lines:>8}{med['cli']:>9.3f}{med['api']:>9.3f}{med['plain']:>9.3f}"
              f"{med['cli'] / med['plain']:>11.2f}{med['api'] / med['plain']:>11.2f}")
    print(f"(median of {repeat}; Python {sys.version.split()[0]})")


if __name__ == "__main__":
    main()
