"""Faithfulness benchmark: how far each sampler's output law is from the conditioned model π.

    python benchmarks/faithfulness.py                # full run (a few minutes on a loaded 2-core box)
    python benchmarks/faithfulness.py --quick        # smoke run
    python benchmarks/faithfulness.py --json out.json

Part 1 (exact reference). For several constraints with dead ends (a Lark grammar, a JSON Schema, a regex and a list
of choices), on a tiny explicit model (:class:`corral.models.toy.ToyModel`, hash-seeded float64 logits) whose
conditioned law ``π(y) ∝ p(y) 1[y ∈ L]`` and locally constrained law ``ℓ`` are enumerated exactly, it measures TV
and KL(q̂‖π) of: masked decoding (``ℓ``), AWRS sequences (``ℓ``, with weights), SMC with N = 4, 16, 64 (AWRS
proposals; the law of one draw from the posterior, estimated by the run-averaged posterior) and SMC with optimal
resampling (``resampling="optimal"``: every allowed token listed, Fearnhead-Clifford resampling; masks per kept
token instead of checks, and mean Ẑ/Z), ASAp (one trie, the outputs drawn one after another: TV of all of them and
of each quarter; ``θ(root)/Z`` at the end) and SMC twisted by that trie (N = 4, 16; time without the trie's
learning), with wall time per output and constraint checks per token. ``TV(ℓ, π)`` exact and the noise floor (mean
TV of the same number of exact draws from π) are printed beside them. A second table gives, for every row, TV to π
against outputs drawn (the estimate from its first 25, 100, 400, 1600 outputs, beside the iid noise floor at each n)
and against wall time (the estimate from the outputs it had finished after 0.1, 1 and 10 s): :class:`Trace`,
:func:`curve`.

Part 2 (embedded model). Constraint checks per token of AWRS (max_rejects 8 and 32) and of AWRS-SMC (N = 8) on the
embedded model (``HFModel.load()``) with JSON schemas (``schemas/person.json`` and two inline schemas), each with its
task prompt and with a generic one, in the three exact layouts (compact, spaced = ``json.dumps`` defaults, pretty),
with rejections and full-mask fallbacks per token (``--embedded-only`` runs just this part).

genlm-control's AWRS-SMC (``benchmarks/genlm_baseline.py``: genlm-control's own ``SMC`` with its ``AWRS`` token
sampler, on the same ToyModel wrapped as a genlm-backend LM, the same languages (checked equal), the same N, runs,
ESS threshold 0.5, stratified resampling and max_tokens as the ``SMC N=n`` rows) is compared when it is importable,
or through ``--genlm-python`` (a separate venv, e.g. ``python -m venv /work/genlm-venv &&
/work/genlm-venv/bin/pip install -c constraints.txt torch==2.13.0 genlm-control``); otherwise the reason is
printed. Its rows carry the same curves (``seq_row``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from corral.compile.grammar import Grammar  # noqa: E402
from corral.models.toy import ToyModel  # noqa: E402
from corral.runtime.matcher import CompiledGrammar  # noqa: E402
from corral.samplers.asap import AsapTrie, asap_samples  # noqa: E402
from corral.samplers.awrs import awrs_sample_sequence  # noqa: E402
from corral.samplers.masking import sample_sequence  # noqa: E402
from corral.testing import enumerate_laws, tv  # noqa: E402
from corral.samplers.smc import smc  # noqa: E402

GENLM_NOTE = (
    "genlm-control's AWRS-SMC (benchmarks/genlm_baseline.py) runs when genlm-control is importable here (it is in "
    "the `bench` extras) or in the interpreter given by --genlm-python / $CORRAL_GENLM_PYTHON (a separate venv: "
    "it pulls ~45 packages incl. bitsandbytes, numba, scipy, pandas)."
)

COLOR_SCHEMA = {
    "type": "object",
    "properties": {"color": {"enum": ["red", "green", "blue"]}, "n": {"enum": [1, 2, 3]}},
    "required": ["color", "n"],
    "additionalProperties": False,
}

LARK = r"""
start: "(" expr ")" | expr
expr: NUM | NUM "+" NUM
NUM: "1" | "10"
"""


def guided_model(token_strings, grammar, *, seed: int, scale: float = 1.5, bonus: float = 1.5):
    """A tiny model that has "learned" the language imperfectly: hash-seeded ``scale * N(0, 1)`` logits plus
    ``bonus`` on the tokens the constraint allows in that context (so it mostly, not always, stays in the language,
    and the local normalisers vary: dead ends). Returns ``(model, compiled grammar)``."""
    import hashlib

    holder = {}
    n = len(token_strings) + 1

    def logits(ctx):
        digest = hashlib.sha256(repr((seed, ctx)).encode()).digest()
        out = scale * np.random.default_rng(int.from_bytes(digest[:8], "little")).standard_normal(n)
        m = holder["compiled"].matcher()
        for t in ctx[1:]:
            m.advance(t)
        out[m.mask()[:n]] += bonus
        return out

    model = ToyModel(token_strings, logits)
    holder["compiled"] = CompiledGrammar(grammar, model.vocab)
    return model, holder["compiled"]


def constraints():
    """(name, kind, Grammar, token strings, model seed)."""
    try:
        from corral.compile.json_schema import schema_to_grammar

        schema_grammar = schema_to_grammar(COLOR_SCHEMA)
    except Exception as exc:  # pragma: no cover - reported, not fatal
        print(f"  JSON Schema constraint skipped: {exc}", file=sys.stderr)
        schema_grammar = None
    return [c for c in [
        ("arith (Lark)", "lark", Grammar.from_lark(LARK),
         ["(", ")", "1", "0", "10", "+", "+1", "1)"], 3),
        ("color/n (JSON Schema)", "schema", schema_grammar,
         ['{', '"', '{"', 'color', '":', ':', '"color":"', 'n', '":"', ',', '","', '",', '"n":', 'red', 're', 'd',
          'green', 'gr', 'een', 'blue', 'bl', 'ue', '1', '2', '3', '}', '"}'], 5),
        ("(ab|a)(c|cc)?b (regex)", "regex", Grammar.from_regex(r"(ab|a)(c|cc)?b"),
         ["a", "b", "c", "ab", "cc", "cb", "bc"], 0),
        ("9 strings (choices)", "choices",
         Grammar.from_choices(["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]),
         ["a", "b", "c", "ab"], 0),
    ] if c[2] is not None]


def kl(q, p):
    """KL(q ‖ p) (q an estimate whose support is inside p's)."""
    return sum(v * math.log(v / p[k]) for k, v in q.items() if v > 0)


def empirical(samples):
    out = {}
    for s in samples:
        out[s] = out.get(s, 0.0) + 1.0 / len(samples)
    return out


def noise_floor(pi, m, rng, reps=20):
    keys = list(pi)
    p = np.array([pi[k] for k in keys])
    return float(np.mean([tv(empirical([keys[i] for i in rng.choice(len(keys), size=m, p=p)]), pi)
                          for _ in range(reps)]))


CURVE_OUTPUTS = (25, 100, 400, 1600)  # TV to π of the first n outputs of a row (against samples drawn)
CURVE_SECONDS = (0.1, 1.0, 10.0)  # TV to π of the outputs a row had finished after t seconds (against wall time)


class Trace:
    """The outputs of one row in the order drawn, each with the wall time since the row started.

    An item is a key (one output: mass 1) or a law (an SMC run's normalised posterior; ``{}`` for a run whose
    particles all died: no mass). The estimate after ``n`` items is their mass-weighted average, the same estimate as
    the row's (the empirical law, or the run-averaged posterior)."""

    def __init__(self):
        self.items, self.times, self.cpu_times = [], [], []
        self.t0, self.c0 = time.perf_counter(), time.process_time()

    def add(self, item):
        self.items.append(item)
        self.times.append(time.perf_counter() - self.t0)
        self.cpu_times.append(time.process_time() - self.c0)


def curve(items, times, pi, outputs=CURVE_OUTPUTS, seconds=CURVE_SECONDS) -> dict:
    """TV to π against outputs drawn and against wall time (see :class:`Trace`).

    ``tv_at_outputs``: ``[[n, TV of the first n items]]`` for the ``n`` of ``outputs`` the row reached, then the
    row's total. ``tv_at_seconds``: ``[[t, TV, n, ended]]``: the ``n`` items finished within ``t`` seconds (TV
    ``None`` when not even one); ``ended`` when the row stopped before ``t`` (then it is the row's final TV, reached
    at ``total_s``)."""
    marks = sorted({n for n in outputs if n < len(items)} | {len(items)}
                   | {sum(1 for x in times if x <= t) for t in seconds} - {0})
    acc, mass, at, j = {}, 0.0, {}, 0
    for i, item in enumerate(items, 1):
        law = item if isinstance(item, dict) else {item: 1.0}
        for k, w in law.items():
            acc[k] = acc.get(k, 0.0) + w
        mass += sum(law.values())
        while j < len(marks) and marks[j] == i:
            at[i] = tv({k: v / mass for k, v in acc.items()}, pi) if mass > 0 else None
            j += 1
    total = times[-1] if times else 0.0
    by_n = [[n, at[n]] for n in marks if n in set(outputs) | {len(items)}]
    by_t = []
    for t in seconds:
        n = sum(1 for x in times if x <= t)
        by_t.append([t, at.get(n), n, total <= t])
    return {"tv_at_outputs": by_n, "tv_at_seconds": by_t, "total_s": total}


def floor_curve(pi, outputs=CURVE_OUTPUTS, reps: int = 20) -> list:
    """Mean TV to π of ``n`` exact iid draws from π, for the ``n`` of ``outputs`` (the noise floor against samples)."""
    return [[n, noise_floor(pi, n, np.random.default_rng(0), reps)] for n in outputs]


def run_exact(quick: bool):
    m_seq = 600 if quick else 3000
    particle_budget = 1600 if quick else 12800
    rows = []
    for name, kind, grammar, toks, seed in constraints():
        model, compiled = guided_model(toks, grammar, seed=seed)
        ell, pi, log_z = enumerate_laws(model, compiled)
        exact_tv = tv(ell, pi)
        floor = noise_floor(pi, m_seq, np.random.default_rng(0))
        base = {"constraint": name, "kind": kind, "support": len(pi), "tv_ell_pi": exact_tv, "Z": math.exp(log_z)}
        rows.append({**base, "sampler": "exact iid draws from π (noise floor)", "floor_curve": floor_curve(pi)})

        gen = torch.Generator().manual_seed(0)
        trace = Trace()
        for _ in range(m_seq):
            trace.add(tuple(sample_sequence(model.start(), compiled.matcher(), max_tokens=64, generator=gen).tokens))
        rows.append({**base, "sampler": "masked (LCD)", **seq_row(trace, pi), "checks_per_token": None,
                     "floor": floor})

        rng = np.random.default_rng(1)
        checks = ntok = 0
        trace = Trace()
        for _ in range(m_seq):
            out = awrs_sample_sequence(model.start(), compiled.matcher(), max_tokens=64, rng=rng)
            checks += out.n_checks
            ntok += len(out.tokens)
            trace.add(tuple(out.tokens))
        rows.append({**base, "sampler": "AWRS", **seq_row(trace, pi), "checks_per_token": checks / ntok,
                     "floor": floor})

        for n in (4, 16, 64):
            runs = max(25, particle_budget // n)
            checks = ntok = 0
            trace = Trace()
            for r in range(runs):
                res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r)
                checks += res.n_checks
                ntok += res.n_tokens
                trace.add(res.posterior())
            rows.append({**base, "sampler": f"SMC N={n}", **seq_row(trace, pi), "checks_per_token": checks / ntok,
                         "floor": None})
        for n in (4, 16, 64):
            runs = max(25, particle_budget // (4 * n))
            masks = ntok = 0
            zs = []
            trace = Trace()
            for r in range(runs):
                res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r, resampling="optimal")
                masks += res.n_checks
                ntok += res.n_tokens
                zs.append(math.exp(res.log_z - log_z))
                trace.add(res.posterior())
            rows.append({**base, "sampler": f"SMC-optimal N={n}", **seq_row(trace, pi), "checks_per_token": None,
                         "masks_per_token": masks / ntok, "z_ratio": float(np.mean(zs)), "floor": None})
        trie = AsapTrie()
        rows += asap_rows(model, compiled, pi, base, m_seq, trie)
        rows += twisted_rows(model, compiled, pi, base, particle_budget, trie)
        print(f"  done: {name} (|L tokenizations| = {len(pi)}, TV(ℓ, π) = {exact_tv:.3f})", file=sys.stderr)
    return rows


def seq_row(trace: Trace, pi) -> dict:
    """The common fields of a row from its trace: outputs, TV and KL of the whole estimate, ms/output, the curve."""
    c = curve(trace.items, trace.times, pi)
    cpu = curve(trace.items, trace.cpu_times, pi)
    c.update(tv_at_cpu_seconds=cpu["tv_at_seconds"], cpu_s=cpu["total_s"])
    acc, mass = {}, 0.0
    for item in trace.items:
        law = item if isinstance(item, dict) else {item: 1.0}
        for k, w in law.items():
            acc[k] = acc.get(k, 0.0) + w
        mass += sum(law.values())
    q = {k: v / mass for k, v in acc.items()}
    return {"outputs": len(trace.items), "tv": tv(q, pi), "kl": kl(q, pi) if all(k in pi for k in q) else math.inf,
            "ms_per_output": 1e3 * c["total_s"] / len(trace.items),
            "cpu_ms_per_output": 1e3 * c["cpu_s"] / len(trace.items), **c}


def asap_rows(model, compiled, pi, base, m, trie):
    """ASAp: ``m`` outputs drawn one after another in ``trie`` (one ``asap_samples`` call each, so that each has its
    time; the trie is kept); a row with the curve of all of them, then one row per quarter (TV of that quarter)."""
    gen = torch.Generator().manual_seed(0)
    trace = Trace()
    for _ in range(m):
        o = asap_samples(model.start(), compiled.matcher(), trie, samples=1, max_tokens=64, generator=gen)[0]
        trace.add(tuple(o.tokens) if o.status == "complete" else "length")
    keys = trace.items
    wall = trace.times[-1] / m
    theta = trie.theta / base["Z"]
    rows = [{**base, "sampler": "ASAp (all, cumulative)", **seq_row(trace, pi), "checks_per_token": None,
             "floor": noise_floor(pi, m, np.random.default_rng(0)), "theta_ratio": theta}]
    q = m // 4
    for i in range(4):
        law = empirical(keys[i * q:(i + 1) * q])
        rows.append({**base, "sampler": f"ASAp samples {i * q + 1}-{(i + 1) * q}", "outputs": q, "tv": tv(law, pi),
                     "kl": kl(law, pi) if "length" not in law else math.inf, "ms_per_output": 1e3 * wall,
                     "checks_per_token": None, "floor": noise_floor(pi, q, np.random.default_rng(0)),
                     "theta_ratio": theta, "quarter": True})
    return rows


def twisted_rows(model, compiled, pi, base, particle_budget, trie):
    """SMC twisted by the learned ASAp trie (``twist=trie``), N = 4 and 16: run-averaged posterior, mean Ẑ/Z."""
    rows = []
    for n in (4, 16):
        runs = max(25, particle_budget // n)
        zs, checks, ntok = [], 0, 0
        trace = Trace()
        for r in range(runs):
            res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r, twist=trie)
            checks, ntok = checks + res.n_checks, ntok + res.n_tokens
            zs.append(math.exp(res.log_z) / base["Z"])
            trace.add(res.posterior())
        rows.append({**base, "sampler": f"SMC N={n} + ASAp twist", **seq_row(trace, pi),
                     "checks_per_token": checks / ntok, "floor": None, "z_ratio": float(np.mean(zs))})
    return rows


PRODUCT_SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 30}, "price": {"type": "number"},
                   "in_stock": {"type": "boolean"}},
    "required": ["name", "price", "in_stock"],
    "additionalProperties": False,
}
EVENT_SCHEMA = {
    "type": "object",
    "properties": {"title": {"type": "string", "maxLength": 40}, "date": {"type": "string"},
                   "attendees": {"type": "integer", "minimum": 0}},
    "required": ["title", "date"],
    "additionalProperties": False,
}


def run_embedded(quick: bool, smc_particles: int = 8):
    """AWRS (and AWRS-SMC) constraint checks per token on the embedded model, per schema, prompt, layout and K."""
    from corral.compile.json_schema import resolve_schema, schema_to_grammar
    from corral.generate import load_model
    from corral.runtime.matcher import CompiledGrammar
    from corral.samplers.smc import smc

    lm = load_model()
    person = resolve_schema(str(ROOT / "schemas" / "person.json"))[0]
    cases = [  # (schema, prompt): the task's own prompt (as the model was trained), then a generic one
        ("person.json", person, "Generate a JSON object describing a person:\n"),
        ("product (inline)", PRODUCT_SCHEMA, "Generate a JSON object describing a product:\n"),
        ("event (inline)", EVENT_SCHEMA, "Generate a JSON object describing an event:\n"),
        ("person.json", person, "Answer in JSON:\n"),
        ("product (inline)", PRODUCT_SCHEMA, "Answer in JSON:\n"),
    ]
    n_seq = 4 if quick else 12
    rows = []
    for (name, schema, prompt), layout in itertools.product(cases, ("compact", "spaced", "pretty")):
        compiled = CompiledGrammar(schema_to_grammar(schema, whitespace=layout), lm.vocab)
        ids = lm.encode(prompt)
        base = {"schema": name, "layout": layout, "prompt": prompt.strip()}
        for k in (8, 32):
            c = r = f = t = 0
            complete = 0
            t0 = time.perf_counter()
            for s in range(n_seq):
                out = awrs_sample_sequence(lm.start(ids), compiled.matcher(), max_tokens=128, stream=s,
                                           max_rejects=k)
                c, r, f, t = c + out.n_checks, r + out.n_rejects, f + out.n_fallbacks, t + len(out.tokens)
                complete += out.status == "complete"
            wall = time.perf_counter() - t0
            rows.append({**base, "sampler": "AWRS", "max_rejects": k, "sequences": n_seq, "complete": complete,
                         "tokens": t, "checks_per_token": c / t, "rejects_per_token": r / t,
                         "fallbacks_per_token": f / t, "tokens_per_s": t / wall})
        t0 = time.perf_counter()
        res = smc(lm, ids, compiled.matcher(), particles=smc_particles, max_tokens=128, seed=0, max_rejects=32)
        wall = time.perf_counter() - t0
        complete = sum(1 for p in res.particles if p.status == "complete")
        rows.append({**base, "sampler": f"AWRS-SMC N={smc_particles}", "max_rejects": 32, "sequences": smc_particles,
                     "complete": complete, "tokens": res.n_tokens, "checks_per_token": res.checks_per_token,
                     "rejects_per_token": res.n_rejects / max(res.n_tokens, 1),
                     "fallbacks_per_token": res.n_fallbacks / max(res.n_tokens, 1),
                     "tokens_per_s": res.n_tokens / wall})
        print(f"  done: {name} / {layout} / {prompt.strip()}", file=sys.stderr)
    return rows


def genlm_rows(quick: bool, python: str | None) -> tuple[list, str]:
    """genlm-control's AWRS-SMC rows (benchmarks/genlm_baseline.py), here or in another interpreter."""
    import os
    import subprocess
    import tempfile

    try:
        import genlm.control  # noqa: F401

        sys.path.insert(0, str(ROOT / "benchmarks"))
        from genlm_baseline import genlm_rows as rows_here

        return rows_here(quick), "genlm-control rows: run in this interpreter."
    except ImportError:
        pass
    python = python or os.environ.get("CORRAL_GENLM_PYTHON")
    if not python:
        return [], GENLM_NOTE
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "genlm.json"
        cmd = [python, str(ROOT / "benchmarks" / "genlm_baseline.py"), "--json", str(out)] + (["--quick"] if quick
                                                                                               else [])
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            return [], f"genlm-control run failed ({python}): {proc.stderr.strip()[-500:]}"
        data = json.loads(out.read_text())
    rows = data["rows"] if isinstance(data, dict) else data
    return rows, f"genlm-control rows: run with {python}."


def curve_markdown(exact_rows) -> list:
    """The second table: TV to π of each row's estimate after n outputs and after t seconds of wall time."""
    ns = "".join(f" TV @{n} |" for n in CURVE_OUTPUTS)
    ts = "".join(f" TV @{t:g} s (outputs) |" for t in CURVE_SECONDS)
    out = ["## TV to π against outputs drawn and against wall time", "",
           f"| constraint | sampler |{ns} TV @all (outputs) |{ts} total s (CPU s) |",
           "|---|---|" + "---|" * (len(CURVE_OUTPUTS) + 1 + len(CURVE_SECONDS) + 1)]
    for r in exact_rows:
        if "floor_curve" in r:
            cells = [f"{v:.3f}" for _, v in r["floor_curve"]]
            out.append(f"| {r['constraint']} | *{r['sampler']}* | " + " | ".join(cells) + " | |"
                       + " |" * len(CURVE_SECONDS) + " |")
            continue
        if "tv_at_outputs" not in r:
            continue
        by_n = {n: v for n, v in r["tv_at_outputs"]}
        cells = ["" if by_n.get(n) is None else f"{by_n[n]:.3f}" for n in CURVE_OUTPUTS]
        cells.append(f"{r['tv']:.3f} ({r['outputs']})")
        for _, v, n, ended in r["tv_at_seconds"]:
            cells.append("–" if v is None else f"{v:.3f} ({n}{'†' if ended else ''})")
        cells.append(f"{r['total_s']:.2f} ({r['cpu_s']:.2f})")
        out.append(f"| {r['constraint']} | {r['sampler']} | " + " | ".join(cells) + " |")
    out += ["", "TV @n: the row's estimate from its first n outputs (empty: the row drew fewer). TV @t s: from the "
            "outputs it had finished after t seconds of wall time, their number in brackets (–: not one yet; †: the "
            "row ended before t, at `total s`, so this is its final TV). `CPU s`: the process's CPU time for the "
            "same outputs (the box is shared: wall time also counts waiting for a core; the JSON has the curves in CPU "
            "time too, `tv_at_cpu_seconds`). SMC outputs are runs (each one the run's "
            "posterior, averaged). The noise-floor row is the mean TV of n exact iid draws from π. ASAp (all, "
            "cumulative): the outputs of one trie, learning included in the time; twisted SMC's time leaves out that "
            "learning. genlm-control rows ran in their own process after the corral rows, on the same machine."]
    return out


def markdown(exact_rows, emb_rows, note, skipped=()) -> str:
    out = []
    if "exact" not in skipped:
        out += ["## Faithfulness on a tiny enumerable model (TV and KL to π)", "",
                "| constraint | TV(ℓ,π) exact | sampler | outputs | TV to π | KL(q̂‖π) | noise floor | ms/output | "
                "checks/token |", "|---|---|---|---|---|---|---|---|---|"]
        for r in exact_rows:
            if "floor_curve" in r:
                continue
            cpt = "mask" if r["checks_per_token"] is None else f"{r['checks_per_token']:.2f}"
            if r["sampler"].startswith("genlm"):
                cpt = "n/a"
            if "masks_per_token" in r:
                cpt = f"{r['masks_per_token']:.2f} masks (E Ẑ/Z {r['z_ratio']:.3f})"
            elif "z_ratio" in r:
                cpt += f" (E Ẑ/Z {r['z_ratio']:.3f})"
            if "theta_ratio" in r:
                cpt = f"mask (θ/Z {r['theta_ratio']:.4f})"
            floor = "" if r["floor"] is None else f"{r['floor']:.3f}"
            out.append(f"| {r['constraint']} | {r['tv_ell_pi']:.3f} | {r['sampler']} | {r['outputs']} | "
                       f"{r['tv']:.3f} | {r['kl']:.4f} | {floor} | {r['ms_per_output']:.2f} | {cpt} |")
        out += ["", "SMC rows: `outputs` = runs; TV/KL of the run-averaged posterior (the law of one draw from the "
                "posterior). Noise floor: mean TV to π of the same number of exact draws from π as the masked/AWRS "
                "rows. ASAp rows: the outputs of one trie in order (all of them, then a quarter per row; dependent "
                "draws: their floor is the iid one), θ/Z = θ(root)/Z after all of them; its ms/output includes "
                "learning. Twisted SMC rows use that trie (time without learning it). genlm-control rows: "
                "genlm-control's own SMC (`AWRS(llm, condition).smc`) with the same N, runs, ESS threshold, "
                "resampling scheme and max_tokens as the corral `SMC N=n` rows.", ""]
        out += curve_markdown(exact_rows) + [""]
    else:
        out += ["(exact part skipped: --embedded-only)", ""]
    if "embedded" not in skipped:
        out += ["## AWRS constraint checks per token on the embedded model (JSON schemas)", "",
                "| schema | layout | prompt | sampler | max_rejects | sequences (complete) | tokens | checks/token | "
                "rejects/token | fallbacks/token | tokens/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in emb_rows:
            out.append(f"| {r['schema']} | {r['layout']} | {r['prompt']} | {r['sampler']} | {r['max_rejects']} | "
                       f"{r['sequences']} ({r['complete']}) | "
                       f"{r['tokens']} | {r['checks_per_token']:.2f} | {r['rejects_per_token']:.2f} | "
                       f"{r['fallbacks_per_token']:.3f} | {r['tokens_per_s']:.1f} |")
        if not emb_rows:
            out.append("(no rows: the embedded part produced none)")
    else:
        out += ["(embedded part skipped: --skip-embedded)"]
    if "exact" not in skipped:
        out += ["", note]
    return "\n".join(out)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples (smoke run)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    parser.add_argument("--skip-embedded", action="store_true", help="only the exact toy-model part")
    parser.add_argument("--embedded-only", action="store_true", help="only the embedded-model part")
    parser.add_argument("--genlm-python", default=None, metavar="PYTHON",
                        help="an interpreter where genlm-control is installed (default: $CORRAL_GENLM_PYTHON)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.skip_embedded and args.embedded_only:
        parser.error("--skip-embedded and --embedded-only exclude each other")
    skipped = ("exact",) if args.embedded_only else ("embedded",) if args.skip_embedded else ()
    exact_rows, note = [], "(exact part skipped)"
    if not args.embedded_only:
        exact_rows = run_exact(args.quick)
        extra, note = genlm_rows(args.quick, args.genlm_python)
        order = {r["constraint"]: i for i, r in enumerate(exact_rows)}
        exact_rows = sorted(exact_rows + extra, key=lambda r: order.get(r["constraint"], len(order)))
    emb_rows = [] if args.skip_embedded else run_embedded(args.quick)
    print(markdown(exact_rows, emb_rows, note, skipped))
    if args.json:
        Path(args.json).write_text(json.dumps({"exact": exact_rows, "embedded": emb_rows, "genlm_control": note},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
