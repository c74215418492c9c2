"""Cost of AWRS rejection groups on a large vocabulary: checks per token and milliseconds per step.

    python benchmarks/awrs_groups.py [--tokenizer DIR] [--steps 60] [--scale 2.0]

On a real tokenizer (llama3 by default, from ``$CORRAL_SHARED_DIR/tokenizers``) and ``schemas/person.json``, AWRS steps
walk the grammar with random logits (``scale`` x standard normal: the worst case for rejection sampling, since almost
every visited token is invalid), three ways on the same keys: plain checks, ``check_group`` (rejection groups), and
``check_group`` + ``implied`` (what corral's samplers use). The three return the same tokens; the table gives checks
per token and the median and p99 milliseconds per step (the first pass is a warm-up: it builds the mask tables and
the sorted vocabulary index). A last line gives the cost of one ``Matcher.check(t)`` (median, p99, mean µs) at the
walks' states.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402

SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))


def walk(compiled, vocab_size, logw_for, hooks_for, steps):
    """One AWRS walk; (tokens, checks, per-step seconds)."""
    from corral.samplers.awrs import awrs_step, gumbel_keys

    m = compiled.matcher()
    tokens, checks, times = [], 0, []
    for pos in range(steps):
        logw = logw_for(pos)
        keys = logw + gumbel_keys(1, pos, vocab_size)
        t0 = time.perf_counter()
        st = awrs_step(logw, m.check, keys=keys, max_rejects=32, full_mask=m.mask, **hooks_for(m))
        times.append(time.perf_counter() - t0)
        if st.token is None:
            break
        tokens.append(st.token)
        checks += st.n_checks
        m.advance(st.token)
        if m.is_terminated():
            break
    return tokens, checks, times


def main(argv=None) -> int:
    """Run the comparison and print a table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default=str(SHARED_DIR / "tokenizers" / "llama3"))
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--scale", type=float, default=2.0)
    ap.add_argument("--walks", type=int, default=4)
    args = ap.parse_args(argv)
    if not Path(args.tokenizer).is_dir():
        print(f"tokenizer folder {args.tokenizer} not found (set CORRAL_SHARED_DIR or --tokenizer)", file=sys.stderr)
        return 2

    from transformers import AutoTokenizer

    from corral.compile.json_schema import resolve_schema, schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_huggingface(AutoTokenizer.from_pretrained(args.tokenizer))
    compiled = CompiledGrammar(vocab=vocab, grammar=schema_to_grammar(
        resolve_schema(str(REPO_ROOT / "schemas" / "person.json"))[0]))
    variants = {
        "plain checks": lambda m: {},
        "check_group": lambda m: {"check_group": m.check_group},
        "check_group + implied": lambda m: {"check_group": m.check_group, "implied": m.implied},
    }
    rows, outputs = [], {}
    for name, hooks in variants.items():
        toks = checks = 0
        times: list[float] = []
        for w in range(args.walks + 1):
            rng = np.random.default_rng(w)
            table = rng.normal(size=(args.steps, vocab.size)) * args.scale
            out, c, t = walk(compiled, vocab.size, lambda pos: table[pos], hooks, args.steps)
            if w == 0:
                continue  # warm-up
            outputs.setdefault(w, out)
            assert outputs[w] == out, "variants disagree on the sampled tokens"
            toks, checks, times = toks + len(out), checks + c, times + t
        times.sort()
        rows.append([name, toks, f"{checks / toks:.2f}", f"{1e3 * statistics.median(times):.2f}",
                     f"{1e3 * times[int(0.99 * (len(times) - 1))]:.2f}"])
    print(f"AWRS steps on {Path(args.tokenizer).name} ({vocab.size} tokens), schemas/person.json, random logits x "
          f"{args.scale}, {args.walks} walks of <= {args.steps} steps, max_rejects 32")
    print_table(["variant", "tokens", "checks/token", "ms/step median", "ms/step p99"], rows)
    cost = check_cost(compiled, vocab.size, outputs)
    print(f"\none check(t) (Matcher.check, tokens drawn uniformly at the states of the walks above): "
          f"median {cost['median']:.2f} µs, p99 {cost['p99']:.2f} µs, mean {cost['mean']:.2f} µs over {cost['n']} checks")
    return 0


def check_cost(compiled, vocab_size: int, outputs: dict, per_state: int = 40) -> dict:
    """Time single ``Matcher.check(t)`` calls (µs) at every state of the walks, ``per_state`` random tokens each."""
    rng = np.random.default_rng(0)
    times = []
    for out in outputs.values():
        m = compiled.matcher()
        for tok in out:
            for t in rng.integers(0, vocab_size, per_state).tolist():
                t0 = time.perf_counter()
                m.check(t)
                times.append(time.perf_counter() - t0)
            if m.is_terminated():
                break
            m.advance(tok)
    us = np.array(times) * 1e6
    return {"median": float(np.median(us)), "p99": float(np.percentile(us, 99)), "mean": float(us.mean()),
            "n": len(us)}


if __name__ == "__main__":
    raise SystemExit(main())
