"""Throughput of batched generation (``corral.generate_batch``) against a loop of single ``corral.generate`` calls.

    python benchmarks/batch.py                         # 32 prompts x (schema, grammar), median of 3 repetitions
    python benchmarks/batch.py --prompts 8 --repeat 1  # smoke run
    python benchmarks/batch.py --threads 1 --device cpu --max-tokens 64 --json out.json

Two workloads over the same prompts, each row with its own seed (row ``i``: ``seed=i``): a JSON Schema (an object
with a name, an age, a city and up to three tags) and a Lark grammar (nested parenthesised lists of words). For each
workload and repetition, in this process and one after the other: the ``loop`` of single calls
``corral.generate(prompt, seed=i, ...)``, then ``corral.generate_batch(items, batch_size=B)`` for each batch size
(default 1, 4, 16; continuous batching) and ``16 static`` (a new batch only when the previous one has ended). Each
timing covers generation only: the model is loaded and the constraints compiled in a warm-up run first.

The table gives, per workload and method, the median wall time, the generated tokens (EOS included), tokens/s and the
ratio to the loop's tokens/s, plus how many rows produced exactly the loop's tokens (the batched forward passes
round slightly differently from the single ones, so a seeded row may, rarely, take another token).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

import corral  # noqa: E402
from corral.batching import iter_batch  # noqa: E402

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "city": {"type": "string", "maxLength": 20},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
    },
    "required": ["name", "age", "city", "tags"],
    "additionalProperties": False,
}
GRAMMAR = 'start: "(" item (" " item)* ")"\nitem: /[a-z]{1,8}/ | start'
WORKLOADS = {"schema": {"schema": SCHEMA}, "grammar": {"grammar": GRAMMAR}}
SUBJECTS = ["a librarian", "a pilot", "a baker", "a chemist", "a sailor", "an architect", "a farmer", "a poet"]


def prompts(n: int) -> list[str]:
    """``n`` different prompts."""
    return [f"Record {i} describes {SUBJECTS[i % len(SUBJECTS)]} from town {i // len(SUBJECTS)}: " for i in range(n)]


def run_loop(model, texts, constraint, max_tokens):
    """A loop of single calls: ``(seconds, results)``."""
    t0 = time.perf_counter()
    results = [corral.generate(p, model=model, seed=i, max_tokens=max_tokens, **constraint)
               for i, p in enumerate(texts)]
    return time.perf_counter() - t0, results


def run_batch(model, texts, constraint, max_tokens, batch_size, continuous=True):
    """One batched run: ``(seconds, results in input order)``."""
    items = [{"prompt": p, "seed": i} for i, p in enumerate(texts)]
    t0 = time.perf_counter()
    out = [None] * len(items)
    for index, result in iter_batch(items, model=model, max_tokens=max_tokens, batch_size=batch_size,
                                    continuous=continuous, **constraint):
        out[index] = result
    return time.perf_counter() - t0, out


def measure(model, texts, sizes, repeat, max_tokens):
    """``{workload: {method: {"s": [...], "tokens": n, "same": k}}}``."""
    methods = ["loop"] + [f"batch {b}" for b in sizes] + [f"batch {max(sizes)} static"]
    table = {}
    for name, constraint in WORKLOADS.items():
        run_batch(model, texts[:2], constraint, 8, 2)  # warm-up: compile the constraint
        rows = table[name] = {m: {"s": [], "tokens": 0, "same": 0} for m in methods}
        for _ in range(repeat):
            seconds, reference = run_loop(model, texts, constraint, max_tokens)
            rows["loop"].update(tokens=sum(len(r.token_ids) for r in reference), same=len(texts))
            rows["loop"]["s"].append(seconds)
            for m in methods[1:]:
                size = int(m.split()[1])
                seconds, results = run_batch(model, texts, constraint, max_tokens, size, "static" not in m)
                bad = [r for r in results if r.status == "error"]
                if bad:
                    raise SystemExit(f"{name} {m}: a row failed: {bad[0].error}")
                rows[m]["s"].append(seconds)
                rows[m]["tokens"] = sum(len(r.token_ids) for r in results)
                rows[m]["same"] = sum(a.token_ids == b.token_ids for a, b in zip(results, reference))
    return table


def print_table(table, n):
    print(f"| workload | method | median s | tokens | tokens/s | x loop | rows = loop (of {n}) |")
    print("|---|---|---|---|---|---|---|")
    for name, rows in table.items():
        base = rows["loop"]["tokens"] / statistics.median(rows["loop"]["s"])
        for m, row in rows.items():
            med = statistics.median(row["s"])
            rate = row["tokens"] / med
            print(f"| {name} | {m} | {med:.2f} | {row['tokens']} | {rate:,.0f} | {rate / base:.2f}x | "
                  f"{row['same']} |")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=32, help="number of prompts (32)")
    parser.add_argument("--sizes", default="1,4,16", help="batch sizes, comma-separated (1,4,16)")
    parser.add_argument("--repeat", type=int, default=3, help="repetitions; the median is reported (3)")
    parser.add_argument("--max-tokens", type=int, default=64, help="max_tokens of every row (64)")
    parser.add_argument("--model", default=None, help="model folder or hub name (default: the embedded model)")
    parser.add_argument("--device", default=None, help="cpu, cuda... (default: cpu)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--json", metavar="OUT", help="also write the measurements as JSON")
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    model = corral.HFModel.load(args.model, device=args.device)
    texts = prompts(args.prompts)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"model {model}, {len(texts)} prompts, max_tokens {args.max_tokens}, torch threads "
          f"{torch.get_num_threads()}, repeat {args.repeat}", file=sys.stderr)
    table = measure(model, texts, sizes, args.repeat, args.max_tokens)
    print_table(table, len(texts))
    if args.json:
        Path(args.json).write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
