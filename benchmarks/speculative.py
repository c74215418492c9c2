"""Speculative constrained decoding on the embedded target/draft pair: every drafter against no drafting.

Rows: for each task and each decoding mode, no drafting and every drafter (``ngram``, ``forced`` = grammar
fast-forward, ``model`` = the embedded draft model, ``model-treeK`` = the draft model proposing K candidates at the
root then chains (``draft_tree=K``; ``model-tree2x2``: 2 at the root and at depth 1), ``auto`` = the cost-aware
choice among them, :class:`corral.drafters.auto.AutoDrafter`), all with ``draft_length="adaptive"``.
``benchmarks/speculative_tree.py`` studies the trees further (fixed depths, single rounds from fixed contexts, the
cost of a tree pass). Modes:

| mode | what | no drafting |
|---|---|---|
| `greedy` | masked decoding, temperature 0, D1 verification | ``sample_sequence(temperature=0)`` |
| `sample` | masked decoding, temperature 1, D1 verification | ``sample_sequence(temperature=1)`` |
| `awrs` | AWRS, temperature 1, D2 (Gumbel-coupled) verification | ``awrs_sample_sequence`` |

Every speculative row samples exactly the law of its mode's no-drafting row (D2 and greedy: the very same tokens;
``tests/speculative/`` checks this), so only the speed differs. ``x none`` is the median tokens/s over the median of
the no-drafting row of the same mode; ``paired`` is the geometric mean of per-run ratios against the no-drafting run
on the same prompt and seed (runs are interleaved, so background load falls on all rows alike), with ``±`` two
standard errors of that mean (in log space) to tell speed from noise; ``cpu x none`` is the same ratio in CPU time of
this process (``time.process_time``), which other processes on a busy machine do not inflate. Drafters are kept
across the runs of a row (the n-gram table and ``auto``'s estimates keep learning) unless ``--fresh-drafters`` (one
per run, as ``corral.generate`` does). Timings use one torch thread; the first run of every row is a warm-up.

Usage::

    python benchmarks/speculative.py [--seeds 3] [--max-tokens 160] [--tasks json] [--modes greedy,sample,awrs]
                                     [--drafts none,ngram,forced,model,model-tree2,model-tree4,auto
                                              [,auto-measure,model-tree2x2,auto-tree2]] [--fresh-drafters]
                                     [--target FOLDER --draft-model FOLDER --device cuda] [--json OUT]

On a GPU (the target there, the draft model on the CPU through its lean runner), with a larger target trained by
``scripts/train_default_models.py --device cuda --only target --target-size 12x768x12 --tokenizer-from
src/corral/data/default``: ``--target /tmp/larger/target --device cuda``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from tables import print_table  # noqa: E402

GRAMMARS = REPO_ROOT / "src" / "corral" / "grammars"
TASKS = {
    "json": {"grammar": GRAMMARS / "json.lark",
             "prompts": ["Answer in JSON:\n", "Generate a JSON object describing a person:\n",
                         "Output a JSON list of three numbers:\n"]},
    "json-schema": {"schema": REPO_ROOT / "schemas" / "person.json",
                    "prompts": ["Generate a JSON object describing a person:\n", "Answer in JSON:\n",
                                "Describe a person as JSON:\n"]},
    "lark-sql": {"grammar": GRAMMARS / "sql.lark",
                 "prompts": ["Write an SQL query:\n", "Write an SQL query that lists users:\n", "SQL:\n"]},
    "lark-arith": {"grammar": GRAMMARS / "arithmetic.lark",
                   "prompts": ["Write an arithmetic expression:\n", "Compute:\n", "Expression:\n"]},
}
MODES = {"greedy": (0.0, "d1"), "sample": (1.0, "d1"), "awrs": (1.0, "d2")}
DRAFTS = ["none", "ngram", "forced", "model", "model-tree2", "model-tree4", "auto"]
#: Rows run only when asked for: ``auto`` with costs measured on this machine (``profile="measure"``), other trees.
EXTRA_DRAFTS = ["auto-measure", "model-tree2x2", "auto-tree2"]


def tree_of(draft: str) -> tuple[str, int | tuple[int, ...] | None]:
    """``"model-tree2x2"`` -> ``("model", (2, 2))``; ``"model-tree4"`` -> ``("model", 4)``; no tree -> ``None``."""
    if "-tree" not in draft:
        return draft, None
    base, shape = draft.split("-tree")
    widths = tuple(int(w) for w in shape.split("x"))
    return base, widths[0] if len(widths) == 1 else widths


def _sync(model) -> None:
    """Wait for an accelerator's queued work (times then cover it); nothing on the CPU."""
    import torch

    if str(getattr(model, "device", "cpu")).startswith("cuda"):
        torch.cuda.synchronize()


def cost_profile(target, draft_model, k: int = 4, reps: int = 40) -> dict:
    """Median milliseconds of a one-token target pass, a (k+1)-token target pass (verification) and a one-token
    draft pass (lean runner), all incremental on a KV cache after a short prompt."""
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
            _sync(model)
            t0 = time.perf_counter()
            if scored:
                seq.extend_scored(toks)
            else:
                seq.extend(toks)
                seq.logprobs()
            _sync(model)
            times.append(time.perf_counter() - t0)
            if len(seq.tokens) > 400:
                seq = model.start(ids)
                seq.logprobs()
        return 1e3 * statistics.median(times)

    one, block, drafted = timed(target, 1, False), timed(target, k + 1, True), timed(lean, 1, False)
    return {"k": k, "reps": reps, "target_1_ms": one, "target_block_ms": block, "draft_1_ms": drafted,
            "block_over_one": block / one, "draft_over_target": drafted / one}


def _compile(spec, vocab):
    """The task's compiled grammar."""
    from corral.compile.grammar import Grammar
    from corral.compile.json_schema import schema_to_grammar
    from corral.runtime.matcher import CompiledGrammar

    if "schema" in spec:
        g = schema_to_grammar(json.loads(Path(spec["schema"]).read_text()))
    else:
        g = Grammar.from_lark(Path(spec["grammar"]).read_text())
    return CompiledGrammar(g, vocab)


class Runner:
    """Runs one (task, mode, draft) row on one prompt and seed."""

    def __init__(self, target, draft_model, compiled, max_tokens: int, fresh: bool) -> None:
        self.target, self.draft_model, self.compiled = target, draft_model, compiled
        self.max_tokens, self.fresh = max_tokens, fresh
        self.drafters: dict = {}  # (task, mode, draft) -> drafter, kept across runs unless fresh

    def _make(self, draft):
        """A new drafter for a row (the draft model arm is ``self.draft_model``)."""
        from corral.drafters import make_drafter
        from corral.drafters.factory import auto_drafter
        from corral.drafters.model import ModelDrafter

        if draft == "model":
            return ModelDrafter(self.draft_model)
        if draft in ("auto", "auto-measure"):
            return auto_drafter(self.target, self.draft_model, profile="measure" if draft == "auto-measure" else None)
        return make_drafter(draft, self.target)

    def _drafter(self, key, draft):
        if self.fresh or key not in self.drafters:
            self.drafters[key] = self._make(draft)
        return self.drafters[key]

    def __call__(self, task, mode, draft, prompt, seed) -> dict:
        """One generation; tokens, seconds and speculative counters."""
        import torch

        from corral.samplers.awrs import awrs_sample_sequence
        from corral.samplers.masking import sample_sequence
        from corral.samplers.speculative import speculative_sample_sequence

        temperature, verify = MODES[mode]
        seq = self.target.start(self.target.encode(prompt))
        matcher = self.compiled[task].matcher()
        gen = torch.Generator().manual_seed(seed)
        base, tree = tree_of(draft)
        drafter = None if draft == "none" else self._drafter((task, mode, draft), base)
        t0, c0 = time.perf_counter(), time.process_time()
        if drafter is None and verify == "d2":
            out = awrs_sample_sequence(seq, matcher, max_tokens=self.max_tokens, temperature=temperature, stream=seed)
        elif drafter is None:
            out = sample_sequence(seq, matcher, max_tokens=self.max_tokens, temperature=temperature, generator=gen)
        else:
            out = speculative_sample_sequence(seq, matcher, drafter=drafter, verify=verify, max_tokens=self.max_tokens,
                                              temperature=temperature, generator=gen, stream=seed, draft_tree=tree)
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
        n = len(out.tokens)
        st = getattr(out, "stats", None)
        return {"tokens": n, "seconds": dt, "cpu_seconds": cpu, "forwards": st.target_forwards if st else n,
                "drafted": st.drafted if st else 0, "accepted": st.accepted if st else 0,
                "by_kind": dict(st.by_kind) if st else {}, "status": out.status}


def _paired(rs, base, clock: str = "seconds") -> tuple[float, float]:
    """Geometric mean of per-run tokens/s ratios against the matching no-drafting runs, and two standard errors of
    the mean log-ratio (as a factor); ``clock``: ``"seconds"`` (wall) or ``"cpu_seconds"``."""
    ref = {(r["prompt"], r["seed"]): r["tokens"] / r[clock] for r in base}
    logs = [math.log(r["tokens"] / r[clock] / ref[(r["prompt"], r["seed"])]) for r in rs
            if (r["prompt"], r["seed"]) in ref and r["tokens"]]
    if not logs:
        return float("nan"), float("nan")
    se = statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else float("nan")
    return math.exp(statistics.fmean(logs)), math.exp(2 * se)


def _row(task, mode, draft, rs, base) -> tuple[list, dict]:
    """One table row and its JSON summary."""
    tps = statistics.median(r["tokens"] / r["seconds"] for r in rs)
    base_tps = statistics.median(r["tokens"] / r["seconds"] for r in base) if base else float("nan")
    paired, err = _paired(rs, base) if base else (float("nan"), float("nan"))
    cpu, cpu_err = _paired(rs, base, "cpu_seconds") if base else (float("nan"), float("nan"))
    tok, fwd = sum(r["tokens"] for r in rs), sum(r["forwards"] for r in rs)
    drafted, acc = sum(r["drafted"] for r in rs), sum(r["accepted"] for r in rs)
    kinds: dict = {}
    for r in rs:
        for k, (d, a) in r["by_kind"].items():
            row = kinds.setdefault(k, [0, 0])
            row[0] += d
            row[1] += a
    summary = {"tokens_per_s_median": tps, "x_none": tps / base_tps, "paired": paired, "paired_err": err,
               "paired_cpu": cpu, "paired_cpu_err": cpu_err,
               "tokens_per_target_forward": tok / fwd if fwd else float("nan"),
               "acceptance_rate": acc / drafted if drafted else float("nan"), "by_kind": kinds, "tokens": tok,
               "complete": sum(r["status"] == "complete" for r in rs), "runs": len(rs)}
    mix = " ".join(f"{k}:{a}/{d}" for k, (d, a) in sorted(kinds.items())) or "-"
    cells = [task, mode, draft, f"{tps:.0f}", f"{summary['x_none']:.2f}", f"{paired:.2f} ±{(err - 1) * 100:.0f}%",
             f"{cpu:.2f} ±{(cpu_err - 1) * 100:.0f}%",
             f"{summary['tokens_per_target_forward']:.2f}", "-" if not drafted else f"{summary['acceptance_rate']:.2f}",
             mix, f"{summary['complete']}/{len(rs)}"]
    return cells, summary


def _verdicts(summary, tasks, modes) -> list[str]:
    """One line per (task, mode): auto against no drafting and against the best single drafter."""
    lines = []
    for task in tasks:
        for mode in modes:
            get = lambda d: summary.get(f"{task}/{mode}/{d}")  # noqa: E731
            singles = {d: get(d) for d in ("ngram", "forced", "model") if get(d)}
            for which in ("auto", "auto-measure", "auto-tree2"):
                auto = get(which)
                if auto and singles:
                    lines += _verdict(f"{task}/{mode}", which, auto, singles)
            lines += _tree_verdicts(f"{task}/{mode}", get, summary, f"{task}/{mode}/")
    return lines


def _tree_verdicts(where: str, get, summary: dict, prefix: str) -> list[str]:
    """One line per tree row: its speed over the single-draft chain of the same drafter (where the tree pays)."""
    lines = []
    for key in sorted(k for k in summary if k.startswith(prefix) and "-tree" in k):
        draft = key[len(prefix):]
        chain, tree = get(draft.split("-tree")[0]), summary[key]
        if chain:
            lines.append(f"{where}: {draft} {tree['paired_cpu'] / chain['paired_cpu']:.2f}x the speed of its chain "
                         f"(cpu), {tree['tokens_per_target_forward']:.2f} vs "
                         f"{chain['tokens_per_target_forward']:.2f} tokens per target forward")
    return lines


def _verdict(where: str, which: str, auto: dict, singles: dict) -> list[str]:
    """Wall and CPU lines: one ``auto`` row against no drafting and the best single drafter."""
    lines = []
    for clock, name in (("paired", "wall"), ("paired_cpu", "cpu")):
        best = max(singles, key=lambda d: singles[d][clock])
        err = lambda r: f"±{(r[clock + '_err'] - 1) * 100:.0f}%"  # noqa: E731
        lines.append(f"{where} ({name}): {which} {auto[clock]:.2f}x ({err(auto)}) of no drafting; best single "
                     f"drafter {best} {singles[best][clock]:.2f}x ({err(singles[best])})")
    return lines


def _report(results, tasks, modes, args, target, draft_model) -> dict:
    """Print the table, the verdict lines and (unless ``--no-profile``) the cost profile; the JSON summary."""
    header = ["task", "mode", "draft", "tok/s", "x none", "paired x none", "cpu x none", "tok/target fwd", "accept",
              "accepted/drafted", "complete"]
    rows, summary = [], {}
    for (task, mode, draft), rs in results.items():
        cells, summary[f"{task}/{mode}/{draft}"] = _row(task, mode, draft, rs, results.get((task, mode, "none")))
        rows.append(cells)
    pair = "embedded target/draft pair" if not args.target else f"target {args.target}, draft {draft_model!r}"
    print(f"{pair}, target on {target.device}, 1 torch thread, max_tokens {args.max_tokens}, {args.seeds} seed(s) x "
          f"{args.prompts} prompt(s) per task, drafters {'fresh per run' if args.fresh_drafters else 'kept per row'}")
    print_table(header, rows)
    print("\n".join([""] + _verdicts(summary, tasks, modes)))
    if not args.no_profile:
        prof = cost_profile(target, draft_model)
        summary["cost_profile"] = prof
        print(f"\ncost profile (median of {prof['reps']} passes): target 1 token {prof['target_1_ms']:.2f} ms, target "
              f"{prof['k'] + 1} tokens {prof['target_block_ms']:.2f} ms = {prof['block_over_one']:.2f}x, draft 1 token "
              f"{prof['draft_1_ms']:.2f} ms = {prof['draft_over_target']:.2f}x of a target pass")
    return summary


def main(argv=None) -> int:
    """Run the benchmark and print a Markdown table (and write JSON with ``--json``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--tasks", default="json")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--drafts", default=",".join(DRAFTS))
    ap.add_argument("--prompts", type=int, default=3, help="prompts per task (at most 3)")
    ap.add_argument("--fresh-drafters", action="store_true", help="a new drafter per run, as corral.generate does")
    ap.add_argument("--no-profile", action="store_true", help="skip the cost profile at the end")
    ap.add_argument("--target", default=None, help="target model folder (default: the embedded target)")
    ap.add_argument("--draft-model", default=None, help="draft model folder (default: the embedded draft), run on "
                    "the CPU; it must share the target's tokenizer")
    ap.add_argument("--device", default="cpu", help="where the target runs (cpu, cuda)")
    ap.add_argument("--json", dest="json_out")
    args = ap.parse_args(argv)

    import torch

    from corral.models.hf import HFModel, default_model_path

    torch.set_num_threads(1)
    target = HFModel.load(args.target, device=args.device)
    draft_model = HFModel.load(args.draft_model or str(default_model_path("draft")))
    tasks = {k: TASKS[k] for k in args.tasks.split(",")}
    modes = [m for m in args.modes.split(",") if m in MODES]
    drafts = [d for d in args.drafts.split(",") if d in DRAFTS + EXTRA_DRAFTS or tree_of(d)[1]]
    run = Runner(target, draft_model, {k: _compile(v, target.vocab) for k, v in tasks.items()}, args.max_tokens,
                 args.fresh_drafters)
    for task, spec in tasks.items():  # warm-up, not counted
        for mode in modes:
            for draft in drafts:
                run(task, mode, draft, spec["prompts"][0], 10_000)
    results = {(t, m, d): [] for t in tasks for m in modes for d in drafts}
    for task, spec in tasks.items():
        for prompt in spec["prompts"][: args.prompts]:
            for seed in range(args.seeds):
                for mode in modes:
                    for draft in drafts:
                        r = run(task, mode, draft, prompt, seed)
                        r.update(prompt=prompt, seed=seed)
                        results[(task, mode, draft)].append(r)
            print(f"# {task}: prompt {prompt!r} done", file=sys.stderr, flush=True)

    summary = _report(results, tasks, modes, args, target, draft_model)
    if args.json_out:
        Path(args.json_out).write_text(json.dumps({
            "settings": vars(args), "summary": summary,
            "runs": {"/".join(k): rs for k, rs in results.items()},
        }, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
