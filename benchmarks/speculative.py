"""Speculative constrained decoding on the embedded target/draft pair: tokens/s and tokens per target forward.

Configurations (each on every task x prompt x seed, interleaved so background load falls on all alike):

| name | what |
|---|---|
| `unconstrained` | the target alone, no constraint, no speculation (``sample_sequence`` with no matcher) |
| `constrained` | masked decoding, no speculation (``sample_sequence``) |
| `spec-model` | D1, embedded draft model, adaptive length |
| `spec-model-k4` | D1, embedded draft model, fixed length 4 |
| `spec-ngram` | D1, online n-gram / prompt-lookup drafter (one drafter per configuration, kept across runs) |
| `spec-ff` | D1, grammar fast-forward (token-forced and byte-forced strings) |
| `spec-all` | D1, fast-forward + n-gram + draft model (``draft="auto"``), adaptive length |
| `spec-all-k4` | as `spec-all`, fixed length 4 |
| `spec-all-d2` | D2 (Gumbel-coupled AWRS verification), fast-forward + n-gram + draft model, adaptive |

Every speculative configuration samples exactly the law of `constrained` (D1: the same law as masked decoding;
D2: the same law, and for a given stream the very tokens of non-speculative AWRS); ``tests/speculative/test_speculative.py``
checks this. Timings use one torch thread. The first run of every configuration is a warm-up and is not counted.
After the table, a cost profile (one-token and (k+1)-token target passes, one-token draft pass) and the speedup
ceiling it implies for the draft model at k = 4 given the measured tokens per target forward.

Usage::

    python benchmarks/speculative.py [--seeds 3] [--max-tokens 128] [--temperature 1.0] [--json OUT] [--quick]
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
    "json-schema": {
        "schema": REPO_ROOT / "schemas" / "person.json",
        "prompts": ["Generate a JSON object describing a person:\n", "Answer in JSON:\n",
                    "Describe a person as JSON:\n"],
    },
    "lark-sql": {
        "grammar": REPO_ROOT / "src" / "corral" / "grammars" / "sql.lark",
        "prompts": ["Write an SQL query:\n", "Write an SQL query that lists users:\n", "SQL:\n"],
    },
    "lark-arith": {
        "grammar": REPO_ROOT / "src" / "corral" / "grammars" / "arithmetic.lark",
        "prompts": ["Write an arithmetic expression:\n", "Compute:\n", "Expression:\n"],
    },
}

CONFIGS = [
    # name, draft, verify, draft_length
    ("unconstrained", None, None, None),
    ("constrained", None, None, None),
    ("spec-model", "model", "d1", "adaptive"),
    ("spec-model-k4", "model", "d1", 4),
    ("spec-ngram", "ngram", "d1", "adaptive"),
    ("spec-ff", "forced", "d1", "adaptive"),
    ("spec-all", "auto", "d1", "adaptive"),
    ("spec-all-k4", "auto", "d1", 4),
    ("spec-all-d2", "auto", "d2", "adaptive"),
]


def cost_profile(target, draft_model, k: int = 4, reps: int = 40) -> dict:
    """Median milliseconds of the passes that bound any speedup: a one-token target pass, a (k+1)-token target pass
    (verification) and a one-token draft pass (lean runner), all incremental on a KV cache after a short prompt."""
    from corral.drafters.model import LeanGPT2

    lean = LeanGPT2(draft_model) if LeanGPT2.supports(draft_model) else draft_model
    ids = target.encode("Generate a JSON object describing a person:\n")
    filler = target.encode('{"name": "Ada Lovelace", "age": 36}')

    def timed(model, block, scored):
        times = []
        seq = model.start(ids)
        seq.logprobs()
        for i in range(reps):
            toks = [filler[(i * block + j) % len(filler)] for j in range(block)]
            t0 = time.perf_counter()
            if scored:
                seq.extend_scored(toks)
            else:
                seq.extend(toks)
                seq.logprobs()
            times.append(time.perf_counter() - t0)
            if len(seq.tokens) > 400:
                seq = model.start(ids)
                seq.logprobs()
        return 1e3 * statistics.median(times)

    one = timed(target, 1, False)
    block = timed(target, k + 1, True)
    drafted = timed(lean, 1, False)
    return {"k": k, "reps": reps, "target_1_ms": one, "target_block_ms": block, "draft_1_ms": drafted,
            "block_over_one": block / one, "draft_over_target": drafted / one}


def main(argv=None) -> int:
    """Run the benchmark and print a Markdown table (and write JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--configs", default=",".join(c[0] for c in CONFIGS))
    ap.add_argument("--quick", action="store_true", help="1 seed, 1 prompt per task")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args(argv)

    import torch

    from corral.compile.grammar import Grammar
    from corral.compile.json_schema import schema_to_grammar
    from corral.drafters import make_drafter
    from corral.runtime.matcher import CompiledGrammar
    from corral.models.hf import HFModel, default_model_path
    from corral.samplers.masking import sample_sequence
    from corral.samplers.speculative import speculative_sample_sequence

    torch.set_num_threads(1)
    target = HFModel.load(None)
    configs = [c for c in CONFIGS if c[0] in args.configs.split(",")]
    tasks = {k: v for k, v in TASKS.items() if k in args.tasks.split(",")}
    seeds = 1 if args.quick else args.seeds

    compiled = {}
    for name, spec in tasks.items():
        if "schema" in spec:
            g = schema_to_grammar(json.loads(Path(spec["schema"]).read_text()))
        else:
            g = Grammar.from_lark(Path(spec["grammar"]).read_text())
        compiled[name] = CompiledGrammar(g, target.vocab)

    drafters = {}  # (task, config) -> drafter, kept across runs (the n-gram table adapts online)

    def run_one(task, cfg, prompt, seed):
        cname, draft, verify, length = cfg
        ids = target.encode(prompt)
        seq = target.start(ids)
        gen = torch.Generator().manual_seed(seed)
        matcher = None if cname == "unconstrained" else compiled[task].matcher()
        t0 = time.perf_counter()
        if draft is None:
            out = sample_sequence(seq, matcher, max_tokens=args.max_tokens, temperature=args.temperature,
                                  generator=gen)
            dt = time.perf_counter() - t0
            return {"tokens": len(out.tokens), "seconds": dt, "forwards": len(out.tokens), "drafted": 0,
                    "accepted": 0, "rounds": len(out.tokens), "status": out.status}
        key = (task, cname)
        if key not in drafters:
            drafters[key] = make_drafter(draft, target)
        out = speculative_sample_sequence(seq, matcher, drafter=drafters[key], verify=verify, draft_length=length,
                                          max_tokens=args.max_tokens, temperature=args.temperature, generator=gen,
                                          stream=seed)
        dt = time.perf_counter() - t0
        st = out.stats
        return {"tokens": len(out.tokens), "seconds": dt, "forwards": st.target_forwards, "drafted": st.drafted,
                "accepted": st.accepted, "rounds": st.rounds, "status": out.status, "draft_s": st.draft_s,
                "verify_s": st.verify_s, "mask_s": st.mask_s, "by_kind": st.by_kind}

    # warm-up: one run per (task, config), not counted
    for task, spec in tasks.items():
        for cfg in configs:
            run_one(task, cfg, spec["prompts"][0], 10_000)

    results = {(t, c[0]): [] for t in tasks for c in configs}
    for task, spec in tasks.items():
        prompts = spec["prompts"][:1] if args.quick else spec["prompts"]
        for prompt in prompts:
            for seed in range(seeds):
                for cfg in configs:
                    r = run_one(task, cfg, prompt, seed)
                    r.update(prompt=prompt, seed=seed)
                    results[(task, cfg[0])].append(r)
        print(f"# {task} done", file=sys.stderr, flush=True)

    header = ["task", "config", "tok/s (median)", "x constrained", "x unconstrained", "tok/target fwd",
              "accept rate", "mean acc len", "draft s", "verify s", "tokens", "complete"]
    rows, summary = [], {}
    for task in tasks:
        base_c = statistics.median(r["tokens"] / r["seconds"] for r in results[(task, "constrained")]) \
            if (task, "constrained") in results and results[(task, "constrained")] else float("nan")
        base_u = statistics.median(r["tokens"] / r["seconds"] for r in results[(task, "unconstrained")]) \
            if (task, "unconstrained") in results and results[(task, "unconstrained")] else float("nan")
        for cfg in configs:
            rs = results[(task, cfg[0])]
            tps = statistics.median(r["tokens"] / r["seconds"] for r in rs)
            tok = sum(r["tokens"] for r in rs)
            fwd = sum(r["forwards"] for r in rs)
            drafted = sum(r["drafted"] for r in rs)
            acc = sum(r["accepted"] for r in rs)
            rounds = sum(r["rounds"] for r in rs)
            row = {
                "tokens_per_s_median": tps,
                "speedup_vs_constrained": tps / base_c,
                "speedup_vs_unconstrained": tps / base_u,
                "tokens_per_target_forward": tok / fwd if fwd else float("nan"),
                "acceptance_rate": acc / drafted if drafted else float("nan"),
                "mean_accepted_length": acc / rounds if rounds else 0.0,
                "draft_s": sum(r.get("draft_s", 0.0) for r in rs),
                "verify_s": sum(r.get("verify_s", 0.0) for r in rs),
                "tokens": tok,
                "complete": sum(r["status"] == "complete" for r in rs),
                "runs": len(rs),
            }
            summary[f"{task}/{cfg[0]}"] = row
            rows.append([task, cfg[0], f"{tps:.0f}", f"{row['speedup_vs_constrained']:.2f}",
                         f"{row['speedup_vs_unconstrained']:.2f}", f"{row['tokens_per_target_forward']:.2f}",
                         "-" if not drafted else f"{row['acceptance_rate']:.2f}",
                         f"{row['mean_accepted_length']:.2f}", f"{row['draft_s']:.2f}", f"{row['verify_s']:.2f}",
                         tok, f"{row['complete']}/{len(rs)}"])
    print(f"embedded target/draft pair, CPU, 1 torch thread, temperature {args.temperature}, "
          f"max_tokens {args.max_tokens}, {seeds} seed(s) x {len(next(iter(tasks.values()))['prompts'][:1 if args.quick else None])} prompts per task")
    print_table(header, rows)
    prof = cost_profile(target, HFModel.load(str(default_model_path("draft"))))
    ceiling = {}
    for task in tasks:
        key = f"{task}/spec-model-k4"
        if key in summary:  # tokens per round at k = 4, over the cost of one round, in one-token passes
            tpr = summary[key]["tokens_per_target_forward"]
            ceiling[task] = tpr / (prof["block_over_one"] + prof["k"] * prof["draft_over_target"])
    print(f"\ncost profile (median of {prof['reps']} passes): target 1 token {prof['target_1_ms']:.2f} ms, target "
          f"{prof['k'] + 1} tokens (verification) {prof['target_block_ms']:.2f} ms = {prof['block_over_one']:.2f}x, "
          f"draft 1 token {prof['draft_1_ms']:.2f} ms = {prof['draft_over_target']:.2f}x of a target pass")
    if ceiling:
        print("speedup ceiling of the draft model at k = 4 from these costs alone (tokens per round / round cost; "
              "constraint work excluded): " + ", ".join(f"{t} {c:.2f}x" for t, c in ceiling.items()))
    summary["cost_profile"] = prof
    summary["draft_model_ceiling_k4"] = ceiling
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "settings": vars(args),
            "summary": summary,
            "runs": {f"{t}/{c}": rs for (t, c), rs in results.items()},
        }, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
