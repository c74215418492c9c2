"""Multi-draft (tree) speculation beside single drafts on the embedded target/draft pair.

Configurations (each on every task x prompt x seed, interleaved so background load falls on all alike; one torch
thread; the first run of each configuration is a warm-up):

| name | what |
|---|---|
| `constrained` | masked decoding, no speculation |
| `chain` | D1, embedded draft model, fixed depth k (single draft, ``speculative_d1.d1_round``) |
| `tree1` | the same chain through the tree code (``draft_tree=1``): its overhead |
| `tree2`, `tree4` | ``draft_tree=2`` / ``4``: 2 / 4 candidates at the root, then chains, depth k |
| `tree2x2` | ``draft_tree=(2, 2)``: 2 candidates at the root and at depth 1, then chains |
| `auto`, `auto-tree2` | ``draft="auto"`` (fast-forward + n-gram + draft model), adaptive length, without/with a tree |
| `d2-chain`, `d2-tree2` | D2 (Gumbel-coupled AWRS verification), depth k, without/with ``draft_tree=2`` |

Every configuration samples exactly the law of `constrained` (``tests/speculative/test_draft_tree.py``). At
temperature 0 all of D1's configurations return the same tokens. The table gives median tokens/s, tokens per target
forward, draft-model forwards per emitted token (the drafting cost), and the candidates tested and accepted per
round. A cost profile follows: a one-token target pass, a chain pass (k + 1 tokens), a tree pass (4 x k nodes + 1)
and a one-token draft pass. Then a round study: single D1 rounds from fixed contexts (prefixes of masked decoding),
every configuration on the same contexts, which measures the tree's gain in tokens per target forward without the
variance of sequences that diverge (greedy rounds are deterministic: one per context).

Usage::

    python benchmarks/speculative_tree.py [--seeds 2] [--max-tokens 96] [--temperatures 1,0] [--depth 4]
                                          [--contexts 6] [--rounds 30] [--configs ...] [--quick] [--rounds-only]
                                          [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402

TASKS = {
    "json-schema": {"schema": REPO_ROOT / "schemas" / "person.json",
                    "prompts": ["Generate a JSON object describing a person:\n", "Answer in JSON:\n"]},
    "lark-sql": {"grammar": REPO_ROOT / "src" / "corral" / "grammars" / "sql.lark",
                 "prompts": ["Write an SQL query:\n", "Write an SQL query that lists users:\n"]},
    "lark-arith": {"grammar": REPO_ROOT / "src" / "corral" / "grammars" / "arithmetic.lark",
                   "prompts": ["Write an arithmetic expression:\n", "Compute:\n"]},
}

# name, draft, verify, length ("k": --depth), draft_tree
CONFIGS = [
    ("constrained", None, None, None, None),
    ("chain", "model", "d1", "k", None),
    ("tree1", "model", "d1", "k", 1),
    ("tree2", "model", "d1", "k", 2),
    ("tree4", "model", "d1", "k", 4),
    ("tree2x2", "model", "d1", "k", (2, 2)),
    ("auto", "auto", "d1", "adaptive", None),
    ("auto-tree2", "auto", "d1", "adaptive", 2),
    ("d2-chain", "model", "d2", "k", None),
    ("d2-tree2", "model", "d2", "k", 2),
]


def compile_tasks(target, tasks):
    """Task name -> compiled constraint."""
    from corral.compile.grammar import Grammar
    from corral.compile.json_schema import schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar

    out = {}
    for name, spec in tasks.items():
        if "schema" in spec:
            g = schema_to_grammar(json.loads(Path(spec["schema"]).read_text()))
        else:
            g = Grammar.from_lark(Path(spec["grammar"]).read_text())
        out[name] = CompiledGrammar(g, target.vocab)
    return out


def model_forwards(drafter) -> int:
    """Draft-model forward passes so far (a ModelDrafter alone or inside a CompositeDrafter; a batched pass over a
    tree's frontier counts once)."""
    members = getattr(drafter, "drafters", [drafter])
    return sum(getattr(d, "n_forward", 0) for d in members)


class Runner:
    """Runs one configuration on one prompt and seed; drafters are kept per (task, config) across runs."""

    def __init__(self, target, compiled, args):
        self.target, self.compiled, self.args = target, compiled, args
        self.drafters = {}

    def run(self, task, cfg, prompt, seed, temperature):
        """One generation: tokens, seconds and the speculation counters."""
        import torch

        from corral.drafters import make_drafter
        from corral.samplers.masking import sample_sequence
        from corral.samplers.speculative import speculative_sample_sequence

        name, draft, verify, length, tree = cfg
        seq = self.target.start(self.target.encode(prompt))
        gen = torch.Generator().manual_seed(seed)
        matcher = self.compiled[task].matcher()
        t0 = time.perf_counter()
        if draft is None:
            out = sample_sequence(seq, matcher, max_tokens=self.args.max_tokens, temperature=temperature,
                                  generator=gen)
            return {"tokens": len(out.tokens), "seconds": time.perf_counter() - t0, "forwards": len(out.tokens),
                    "drafted": 0, "accepted": 0, "rounds": len(out.tokens), "draft_forwards": 0}
        drafter = self.drafters.setdefault((task, name), make_drafter(draft, self.target))
        before = model_forwards(drafter)
        out = speculative_sample_sequence(
            seq, matcher, drafter=drafter, verify=verify, draft_length=self.args.depth if length == "k" else length,
            max_tokens=self.args.max_tokens, temperature=temperature, generator=gen, stream=seed, draft_tree=tree)
        st = out.stats
        return {"tokens": len(out.tokens), "seconds": time.perf_counter() - t0, "forwards": st.target_forwards,
                "drafted": st.drafted, "accepted": st.accepted, "rounds": st.rounds,
                "draft_forwards": model_forwards(drafter) - before, "draft_s": st.draft_s, "verify_s": st.verify_s,
                "mask_s": st.mask_s}


def summarise(rs, base_tps, chain_tps):
    """One table row's numbers from a configuration's runs."""
    tps = statistics.median(r["tokens"] / r["seconds"] for r in rs)
    tok = sum(r["tokens"] for r in rs)
    fwd = sum(r["forwards"] for r in rs)
    rounds = sum(r["rounds"] for r in rs)
    return {"tokens_per_s": tps, "x_constrained": tps / base_tps, "x_chain": tps / chain_tps if chain_tps else None,
            "tokens_per_target_forward": tok / fwd,
            "draft_forwards_per_token": sum(r["draft_forwards"] for r in rs) / tok,
            "tested_per_round": sum(r["drafted"] for r in rs) / rounds,
            "accepted_per_round": sum(r["accepted"] for r in rs) / rounds,
            "draft_s": sum(r.get("draft_s", 0.0) for r in rs), "verify_s": sum(r.get("verify_s", 0.0) for r in rs),
            "tokens": tok}


def cost_profile(target, depth, reps=30):
    """Median ms of a one-token target pass, a chain pass (depth + 1 tokens), a tree pass (4 branches of ``depth``
    nodes plus the pending token) and a one-token draft pass (lean runner), on a KV cache after a short prompt."""
    from corral.drafters.model import LeanGPT2
    from corral.models.hf import HFModel, default_model_path

    draft = HFModel.load(str(default_model_path("draft")))
    lean = LeanGPT2(draft) if LeanGPT2.supports(draft) else draft
    ids = target.encode("Generate a JSON object describing a person:\n")
    filler = target.encode('{"name": "Ada Lovelace", "age": 36}')
    parents = [-1 if j % depth == 0 else j - 1 for j in range(4 * depth)]

    def timed(model, kind):
        times = []
        for i in range(reps):
            seq = model.start(ids)
            seq.logprobs()
            seq.append(filler[i % len(filler)])
            t0 = time.perf_counter()
            if kind == "one":
                seq.logprobs()
            elif kind == "chain":
                seq.extend_scored(filler[:depth])
            else:
                seq.extend_tree([filler[j % len(filler)] for j in range(4 * depth)], parents)
            times.append(time.perf_counter() - t0)
        return 1e3 * statistics.median(times)

    one = timed(target, "one")
    prof = {"target_1_ms": one, "chain_ms": timed(target, "chain"), "tree4_ms": timed(target, "tree"),
            "draft_1_ms": timed(lean, "one")}
    prof.update(chain_over_one=prof["chain_ms"] / one, tree4_over_one=prof["tree4_ms"] / one,
                draft_over_target=prof["draft_1_ms"] / one)
    return prof


ROUND_CONFIGS = [("chain", None), ("tree2", 2), ("tree4", 4), ("tree2x2", (2, 2))]


def round_study(runner, tasks, temperature, contexts, rounds):
    """Tokens and seconds of single D1 rounds (draft model, depth k) from fixed contexts, configurations interleaved:
    the tree's gain in tokens per target forward without the variance of diverging sequences."""
    import torch

    from corral.drafters import make_drafter
    from corral.drafters.policy import FixedPolicy
    from corral.samplers.masking import sample_sequence
    from corral.samplers.speculative_d1 import d1_round
    from corral.samplers.speculative_round import SpecStats
    from corral.samplers.speculative_tree import parse_tree_shape
    from corral.samplers.speculative_tree_d1 import d1_tree_round

    target, eos, depth = runner.target, runner.target.eos_token_ids, runner.args.depth
    drafter = make_drafter("model", target)
    gen = torch.Generator().manual_seed(0)
    out = {}
    for task, spec in tasks.items():
        cells = {name: [0, 0.0, 0, SpecStats()] for name, _ in ROUND_CONFIGS}  # tokens, seconds, rounds, stats
        for c in range(contexts):  # contexts: prefixes sampled at temperature 1 (greedy rounds included)
            prompt = target.encode(spec["prompts"][c % len(spec["prompts"])])
            pre = sample_sequence(target.start(prompt), runner.compiled[task].matcher(), max_tokens=3 + 5 * (c % 8),
                                  generator=torch.Generator().manual_seed(c))
            prefix = [t for t in pre.tokens if t not in eos]
            for _ in range(rounds):
                for name, tree in ROUND_CONFIGS:
                    seq, matcher = target.start(prompt + prefix), runner.compiled[task].matcher()
                    matcher.advance_many(prefix)
                    seq.logprobs()
                    drafter.propose(list(seq.tokens), matcher, matcher.mask())  # the draft model's prefill
                    cell = cells[name]
                    t0 = time.perf_counter()
                    if tree is None:
                        r = d1_round(seq, matcher, drafter, FixedPolicy(depth), max_drafts=depth,
                                     temperature=temperature, generator=gen, eos=eos, stats=cell[3])
                    else:
                        r = d1_tree_round(seq, matcher, drafter, FixedPolicy(depth), shape=parse_tree_shape(tree),
                                          max_drafts=depth, temperature=temperature, generator=gen, eos=eos,
                                          stats=cell[3])
                    cell[0], cell[1], cell[2] = cell[0] + len(r.tokens), cell[1] + time.perf_counter() - t0, cell[2] + 1
        out[task] = {name: {"tokens_per_round": t / n, "ms_per_round": 1e3 * s / n, "tokens_per_s": t / s,
                            "draft_ms": 1e3 * st.draft_s / n, "verify_ms": 1e3 * st.verify_s / n,
                            "mask_ms": 1e3 * st.mask_s / n}
                     for name, (t, s, n, st) in cells.items()}
    return out


def print_round_study(study, temperature, n_ctx, reps, args):
    """The round study as a Markdown table."""
    rows = []
    for task, cells in study.items():
        chain = cells["chain"]
        for name, c in cells.items():
            gain = c["tokens_per_round"] / chain["tokens_per_round"]
            rows.append([task, name, f"{c['tokens_per_round']:.2f}", f"{gain:.2f}",
                         f"{c['ms_per_round']:.1f}", f"{c['draft_ms']:.1f}", f"{c['verify_ms']:.1f}",
                         f"{c['mask_ms']:.1f}", f"{c['tokens_per_s']:.0f}",
                         f"{c['tokens_per_s'] / chain['tokens_per_s']:.2f}"])
    print(f"\nsingle rounds from fixed contexts (D1, draft model, depth {args.depth}, temperature {temperature}, "
          f"{n_ctx} contexts x {reps} rounds per task)")
    print_table(["task", "config", "tok/target fwd", "x chain", "ms/round", "draft ms", "verify ms", "mask ms",
                 "tok/s in rounds", "x chain"], rows)


def main(argv=None) -> int:
    """Run the benchmark; print one Markdown table per temperature and the cost profile."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=96)
    ap.add_argument("--temperatures", default="1,0")
    ap.add_argument("--depth", type=int, default=4, help="draft depth k of the fixed-length configurations")
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--configs", default=",".join(c[0] for c in CONFIGS))
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 prompt per task")
    ap.add_argument("--contexts", type=int, default=6, help="round study: contexts per task")
    ap.add_argument("--rounds", type=int, default=30, help="round study: rounds per context and configuration")
    ap.add_argument("--rounds-only", action="store_true", help="only the round study and the cost profile")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args(argv)

    import torch

    from corral.models.hf import HFModel

    torch.set_num_threads(1)
    target = HFModel.load(None)
    configs = [c for c in CONFIGS if c[0] in args.configs.split(",") or c[0] in ("constrained", "chain")]
    tasks = {k: v for k, v in TASKS.items() if k in args.tasks.split(",")}
    seeds = 1 if args.quick else args.seeds
    runner = Runner(target, compile_tasks(target, tasks), args)
    summary = {}
    for temperature in (float(t) for t in args.temperatures.split(",")):
        if not args.rounds_only:
            summary[temperature] = run_temperature(runner, tasks, configs, seeds, temperature, args)
        # greedy rounds are deterministic: more contexts, a few repeats for the timings
        n_ctx, reps = (args.contexts, args.rounds) if temperature else (5 * args.contexts, 3)
        study = round_study(runner, tasks, temperature, n_ctx, reps)
        print_round_study(study, temperature, n_ctx, reps, args)
        summary[f"rounds@{temperature}"] = study
    prof = cost_profile(target, args.depth)
    print(f"\ncost profile (median of 30 passes): target 1 token {prof['target_1_ms']:.2f} ms; chain of "
          f"{args.depth + 1} tokens {prof['chain_ms']:.2f} ms = {prof['chain_over_one']:.2f}x; tree of "
          f"{4 * args.depth} nodes + 1 {prof['tree4_ms']:.2f} ms = {prof['tree4_over_one']:.2f}x; draft 1 token "
          f"{prof['draft_1_ms']:.2f} ms = {prof['draft_over_target']:.2f}x of a target pass")
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({"settings": vars(args), "summary": summary, "cost_profile": prof},
                                                  indent=1, default=str))
    return 0


def run_temperature(runner, tasks, configs, seeds, temperature, args):
    """Warm up, run every configuration interleaved, print the table; the summary by task and config."""
    for task, spec in tasks.items():
        for cfg in configs:
            runner.run(task, cfg, spec["prompts"][0], 10_000, temperature)
    results = {(t, c[0]): [] for t in tasks for c in configs}
    for task, spec in tasks.items():
        for prompt in spec["prompts"][:1] if args.quick else spec["prompts"]:
            for seed in range(seeds):
                for cfg in configs:
                    results[(task, cfg[0])].append(runner.run(task, cfg, prompt, seed, temperature))
        print(f"# {task} done (temperature {temperature})", file=sys.stderr, flush=True)
    header = ["task", "config", "tok/s", "x constrained", "x chain", "tok/target fwd", "draft fwd/tok",
              "tested/round", "acc/round", "draft s", "verify s"]
    rows, summary = [], {}
    for task in tasks:
        base = statistics.median(r["tokens"] / r["seconds"] for r in results[(task, "constrained")])
        chain = statistics.median(r["tokens"] / r["seconds"] for r in results[(task, "chain")])
        for cfg in configs:
            s = summary[f"{task}/{cfg[0]}"] = summarise(results[(task, cfg[0])], base, chain)
            rows.append([task, cfg[0], f"{s['tokens_per_s']:.0f}", f"{s['x_constrained']:.2f}", f"{s['x_chain']:.2f}",
                         f"{s['tokens_per_target_forward']:.2f}", f"{s['draft_forwards_per_token']:.2f}",
                         f"{s['tested_per_round']:.1f}", f"{s['accepted_per_round']:.2f}", f"{s['draft_s']:.2f}",
                         f"{s['verify_s']:.2f}"])
    print(f"\nembedded pair, CPU, 1 torch thread, temperature {temperature}, max_tokens {args.max_tokens}, "
          f"depth {args.depth}, {seeds} seed(s)")
    print_table(header, rows)
    return summary


if __name__ == "__main__":
    raise SystemExit(main())
