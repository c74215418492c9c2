"""Entropy-adaptive decoding (``switching="entropy"``, lossy) against masked decoding and exact speculation.

Two tables.

1. **Toy pair** (the hash-seeded ToyModels of ``tests/samplers/test_entropy_switch.py``, a 9-string language): for
   a sweep of thresholds and windows, the *exact* law of the switching sampler
   (:func:`corral.samplers.entropy_switch_law.switching_law`): its total variation to the target's masked-decoding law
   ``ℓ`` and its expected share of target tokens; beside it the TV of ``--toy-samples`` sampled runs (the sampling
   floor of an empirical TV is not 0), for the switching sampler and for exact D1 speculation with the small model as
   drafter (whose exact TV is 0).
2. **Embedded pair** (target 3.8M / draft 0.7M parameters, ``schemas/person.json``, temperature 1), through
   ``corral.generate``: masked decoding on the target, exact speculation (``draft="model"``), and switching for a
   sweep of thresholds (window 4). Columns: share of target tokens (switching; the other rows follow the target's
   law exactly), share of tokens written by the small model (switching: unverified; speculation: accepted drafts,
   verified), tokens/s (generation only: summed tokens over
   summed sampler seconds, warm caches, one torch thread), complete rate (every complete output is schema-valid by the
   constraint; the rest ran out of ``--max-tokens``), the mean target log-probability per token of the outputs
   (a quality figure, but mode-seeking: low-entropy outputs score above the target's own samples, so it is not a
   divergence), and ``KL(q‖ℓ)`` per sequence, estimated as the mean of ``log q(y) − log ℓ(y)`` over the runs
   (``q``: the law the tokens were drawn from, ``Result.logprob``; ``ℓ(y)``: the target's masked law, replayed with
   one scored target pass and the matcher); 0 up to float noise for the exact rows.

Usage::

    python benchmarks/entropy_switch.py [--seeds 4] [--max-tokens 128] [--toy-samples 2000] [--json OUT] [--quick]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402

INF = math.inf
TOY_TOKENS = ["a", "b", "c", "ab"]
TOY_LANGUAGE = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]
TOY_SWEEP = [(INF, 1), (1.0, 1), (0.8, 1), (0.6, 2), (0.4, 1), (0.4, 2), (0.2, 1), (0.0, 1), (-INF, 1)]
SCHEMA = REPO_ROOT / "schemas" / "person.json"
PROMPTS = ["Generate a JSON object describing a person:\n", "Describe a person as JSON:\n", "Answer in JSON:\n"]
THRESHOLDS = [INF, 2.0, 1.5, 1.0, 0.5, 0.25, -INF]


def _toy_pair():
    """The toy small and large models, the compiled language and the large model's ``ℓ``."""
    from corral.compile.grammar import Grammar
    from corral.models.toy import ToyModel
    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import enumerate_laws

    small = ToyModel.random(TOY_TOKENS, seed=3, scale=1.5)
    large = ToyModel.random(TOY_TOKENS, seed=11, scale=1.5)
    compiled = CompiledGrammar(Grammar.from_choices(TOY_LANGUAGE), large.vocab)
    return small, large, compiled, enumerate_laws(large, compiled)[0]


def _empirical(draw, n: int) -> dict:
    """The empirical law of ``n`` draws ``draw(seed) -> token list``."""
    counts: dict = {}
    for i in range(n):
        key = tuple(draw(i))
        counts[key] = counts.get(key, 0) + 1
    return {k: c / n for k, c in counts.items()}


def toy_table(n: int) -> tuple[list, list]:
    """Rows of the toy table: exact and sampled TV to the target's ℓ, and the share of target tokens."""
    import torch

    from corral.drafters.model import ModelDrafter
    from corral.samplers.entropy_switch import switching_sample_sequence
    from corral.samplers.entropy_switch_law import switching_law
    from corral.samplers.speculative import speculative_sample_sequence
    from corral.testing import tv

    small, large, compiled, ell = _toy_pair()
    out = []
    for h, w in TOY_SWEEP:
        law = switching_law(small, large, compiled, threshold=h, window=w)
        seen = _empirical(lambda i: switching_sample_sequence(
            large.start(), small.start(), compiled.matcher(), threshold=h, window=w, max_tokens=64,
            generator=torch.Generator().manual_seed(i)).tokens, n)
        rec = {"config": f"switch H={h} W={w}", "tv_exact": tv(law.law, ell), "tv_sampled": tv(seen, ell),
               "share_large": law.share_large}
        out.append(rec)
    seen = _empirical(lambda i: speculative_sample_sequence(
        large.start(), compiled.matcher(), drafter=ModelDrafter(small), verify="d1", max_tokens=64,
        generator=torch.Generator().manual_seed(i)).tokens, n)
    out.append({"config": "exact speculation (D1, small drafts)", "tv_exact": 0.0, "tv_sampled": tv(seen, ell),
                "share_large": 1.0})  # every token verified: the target's law
    rows = [[r["config"], f"{r['tv_exact']:.4f}", f"{r['tv_sampled']:.4f}", f"{r['share_large']:.3f}"] for r in out]
    return rows, out


def _configs() -> list[tuple[str, dict]]:
    """The embedded-pair configurations: name -> keyword arguments of ``corral.generate``."""
    sweep = [(f"switch H={h:g}" + (" (small only)" if h == INF else " (target only)" if h == -INF else ""),
              {"draft": "model", "switching": "entropy", "switch_threshold": h}) for h in THRESHOLDS]
    return [("masked decoding, target", {}), ("exact speculation, draft=model", {"draft": "model"})] + sweep


def _log_ell(lm, compiled, prompt_ids: list[int], tokens: list[int]) -> float:
    """``log ℓ(tokens)``: the target's masked, untempered law of the output, from one scored pass and a matcher."""
    from corral.samplers.masking import constrained_law

    rows = lm.start(prompt_ids).extend_scored(tokens[:-1]) if len(tokens) > 1 else lm.start(prompt_ids).logprobs()[None]
    m, total = compiled.matcher(), 0.0
    for i, t in enumerate(tokens):
        ids, logp = constrained_law(rows[i], m.mask(), temperature=1.0)
        total += float(logp[int(np.searchsorted(ids, t))])
        m.advance(t)
    return total


def _run(kwargs: dict, prompt: str, seed: int, max_tokens: int, schema: dict) -> dict:
    """One generation's figures."""
    import corral

    r = corral.generate(prompt, schema=schema, seed=seed, max_tokens=max_tokens, **kwargs)
    n = len(r.token_ids)
    sw = r.stats.get("switching")
    large = sw["large_tokens"] if sw else n
    small = sum(s.source == "draft" for s in r.steps)
    return {"tokens": n, "large": large, "small": small, "seconds": n / r.timings["tokens_per_s"] if n else 0.0,
            "complete": r.status == "complete", "model_logprob": r.model_logprob, "logq": r.logprob,
            "token_ids": r.token_ids}


def embedded_table(seeds: int, max_tokens: int) -> tuple[list, list]:
    """Rows of the embedded-pair table (runs interleaved across configurations; one warm-up run each)."""
    from corral.constraint import Constraint
    from corral.generator import default_generator

    schema = json.loads(SCHEMA.read_text())
    gen = default_generator(None)
    lm, compiled = gen.model, gen.compile(Constraint(schema=schema))
    configs = _configs()
    for _, kw in configs:
        _run(kw, PROMPTS[0], 10_000, max_tokens, schema)
    runs: dict = {name: [] for name, _ in configs}
    for seed in range(seeds):
        for prompt in PROMPTS:
            for name, kw in configs:
                rec = _run(kw, prompt, seed, max_tokens, schema)
                rec["log_ell"] = _log_ell(lm, compiled, lm.encode(prompt), rec.pop("token_ids"))
                runs[name].append(rec)
    return _summarise(runs)


def _summarise(runs: dict) -> tuple[list, list]:
    """One row per configuration."""
    rows, out = [], []
    for name, rs in runs.items():
        tok = sum(r["tokens"] for r in rs)
        rec = {"config": name, "runs": len(rs), "share_large": sum(r["large"] for r in rs) / tok,
               "share_small": sum(r["small"] for r in rs) / tok,
               "tokens_per_s": tok / sum(r["seconds"] for r in rs),
               "complete": sum(r["complete"] for r in rs) / len(rs),
               "target_logprob_per_token": sum(r["model_logprob"] for r in rs) / tok,
               "kl_q_ell": float(np.mean([r["logq"] - r["log_ell"] for r in rs])),
               "kl_se": float(np.std([r["logq"] - r["log_ell"] for r in rs]) / math.sqrt(len(rs)))}
        out.append(rec)
        share = f"{rec['share_large']:.3f}" if "switch" in name else "1 (exact)"
        rows.append([name, share, f"{rec['share_small']:.3f}", f"{rec['tokens_per_s']:.0f}", f"{rec['complete']:.0%}",
                     f"{rec['target_logprob_per_token']:.3f}", f"{rec['kl_q_ell']:.2f} ±{2 * rec['kl_se']:.2f}"])
    return rows, out


def main(argv=None) -> int:
    """Run both tables, print them as Markdown (and write JSON with ``--json``)."""
    import torch

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--toy-samples", type=int, default=2000)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--quick", action="store_true", help="1 seed, 300 toy samples")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.toy_samples = 1, 300
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    toy_rows, toy = toy_table(args.toy_samples)
    print(f"Toy pair: TV to the target's ℓ (exact by enumeration; sampled from {args.toy_samples} runs)\n")
    print_table(["config", "TV exact", "TV sampled", "share target"], toy_rows)
    emb_rows, emb = embedded_table(args.seeds, args.max_tokens)
    print(f"\nEmbedded pair, person.json, T=1, {args.seeds} seeds x {len(PROMPTS)} prompts, max {args.max_tokens} "
          "tokens, window 4\n")
    print_table(["config", "share target", "small-model tokens", "tok/s", "complete", "target logp/token",
                 "KL(q||ℓ) ±2se"], emb_rows)
    print(f"\n({time.perf_counter() - t0:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"toy": toy, "embedded": emb, "args": vars(args)}, default=str, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
