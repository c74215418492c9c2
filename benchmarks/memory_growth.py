"""Memory over many distinct schemas in one process: the caches are bounded, so resident memory levels off.

    python benchmarks/memory_growth.py                      # 10,000 schemas on the embedded model's vocabulary
    python benchmarks/memory_growth.py --schemas 1000       # smoke run
    python benchmarks/memory_growth.py --tokenizer ../shared/tokenizers/llama3 --schemas 2000

Each schema is distinct (seeded): objects with generated property names, integer bounds, string patterns, enums and
arrays. Each is compiled through one :class:`corral.Generator` (its cache holds 16 compiled constraints) and its
first mask is computed, as a call of ``generate`` would. The table gives the resident set size (from
``/proc/self/statm``) after every tenth of the run, the sizes of the process-wide caches, and the growth over the
second half of the run (which bounded caches keep near zero; the first half includes warm-up: the vocabulary's
arrays, the token trie, the allocator's arenas).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def rss_mb() -> float:
    """Resident set size of this process in MiB."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def schema(i: int) -> dict:
    """The i-th distinct schema (seeded by i)."""
    rng = random.Random(i)
    props = {}
    for k in range(rng.randint(1, 5)):
        name = f"f{i}_{k}_{rng.randrange(10**6)}"
        kind = rng.choice(["int", "str", "enum", "array", "pattern"])
        if kind == "int":
            lo = rng.randint(-1000, 1000)
            props[name] = {"type": "integer", "minimum": lo, "maximum": lo + rng.randint(0, 10**6)}
        elif kind == "str":
            props[name] = {"type": "string", "maxLength": rng.randint(1, 40)}
        elif kind == "enum":
            props[name] = {"enum": [f"v{i}_{j}" for j in range(rng.randint(1, 6))]}
        elif kind == "array":
            props[name] = {"type": "array", "items": {"type": "integer"}, "maxItems": rng.randint(1, 5)}
        else:
            props[name] = {"type": "string", "pattern": f"^[a-z]{{{rng.randint(1, 4)}}}{i % 97}$"}
    return {"type": "object", "properties": props, "required": list(props)[: rng.randint(0, len(props))],
            "additionalProperties": False}


def cache_sizes() -> dict[str, int]:
    """Entries in the process-wide caches."""
    from corral.automata import regex
    from corral.runtime import engine
    from corral.tokens import index

    regex_info = regex._compile_cached.cache_info()
    return {"token tables": len(index._SHARED), "engine tables": len(engine._TABLES),
            "regex DFAs": regex_info.currsize, "regex MiB": round(regex_info.nbytes / 2 ** 20, 1),
            "vocab arrays": len(index._VOCAB)}


def main(argv=None) -> int:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schemas", type=int, default=10_000)
    parser.add_argument("--tokenizer", default=None, help="a tokenizer folder (default: the embedded model's)")
    args = parser.parse_args(argv)

    from corral.constraint import Constraint
    from corral.generator import Generator
    from corral.models.hf import HFModel
    from corral.options import SchemaOptions

    model = HFModel.load(None)
    if args.tokenizer:
        from transformers import AutoTokenizer

        from corral.tokens.vocabulary import Vocabulary

        model.vocab = Vocabulary.from_huggingface(AutoTokenizer.from_pretrained(args.tokenizer))
    gen = Generator(model)
    options = SchemaOptions(whitespace="spaced")
    rows, start, t0 = [], rss_mb(), time.perf_counter()
    step = max(args.schemas // 10, 1)
    for i in range(args.schemas):
        gen.compile(Constraint(schema=schema(i)), options).matcher().mask_packed()
        if (i + 1) % step == 0:
            gc.collect()
            rows.append((i + 1, rss_mb(), time.perf_counter() - t0, cache_sizes()))
    print(f"| schemas | RSS MiB | seconds | {' | '.join(rows[0][3])} |")
    print("|---:|---:|---:|" + "---:|" * len(rows[0][3]))
    for n, mb, s, sizes in rows:
        print(f"| {n:,} | {mb:.1f} | {s:.1f} | {' | '.join(str(v) for v in sizes.values())} |")
    half = rows[len(rows) // 2 - 1][1]
    print(f"\nRSS at start {start:.1f} MiB, after {rows[-1][0]:,} schemas {rows[-1][1]:.1f} MiB; growth over the second "
          f"half {rows[-1][1] - half:+.1f} MiB ({(rows[-1][1] - half) / max(rows[-1][0] / 2, 1) * 1024:.2f} KiB per "
          f"schema); generator cache {gen.cache_info()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
