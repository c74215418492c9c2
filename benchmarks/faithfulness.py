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
token instead of checks, and mean Ẑ/Z), ASAp (one trie, the outputs drawn one after another: TV of each quarter
of them, so TV against samples drawn; ``θ(root)/Z`` at the end) and SMC twisted by that trie (N = 4, 16; time
without the trie's learning), with wall time per output and constraint checks per token. ``TV(ℓ, π)`` exact and the noise floor (mean TV of the same number of exact draws from π) are
printed beside them.

Part 2 (embedded model). Constraint checks per token of AWRS (max_rejects 8 and 32) and of AWRS-SMC (N = 8) on the
embedded model (``HFModel.load()``) with JSON schemas (``schemas/person.json`` and two inline schemas), each with its
task prompt and with a generic one, in the three exact layouts (compact, spaced = ``json.dumps`` defaults, pretty),
with rejections and full-mask fallbacks per token (``--embedded-only`` runs just this part).

genlm-control's AWRS-SMC (``benchmarks/genlm_baseline.py``: the same ToyModel wrapped as a genlm-backend LM, the
same languages) is compared when it is importable, or through ``--genlm-python`` (a separate venv); otherwise the
reason is printed.
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

        gen = torch.Generator().manual_seed(0)
        t0 = time.perf_counter()
        samples = [tuple(sample_sequence(model.start(), compiled.matcher(), max_tokens=64, generator=gen).tokens)
                   for _ in range(m_seq)]
        wall = (time.perf_counter() - t0) / m_seq
        q = empirical(samples)
        rows.append({**base, "sampler": "masked (LCD)", "outputs": m_seq, "tv": tv(q, pi), "kl": kl(q, pi),
                     "ms_per_output": 1e3 * wall, "checks_per_token": None, "floor": floor})

        rng = np.random.default_rng(1)
        t0 = time.perf_counter()
        checks = ntok = 0
        samples = []
        for _ in range(m_seq):
            out = awrs_sample_sequence(model.start(), compiled.matcher(), max_tokens=64, rng=rng)
            samples.append(tuple(out.tokens))
            checks += out.n_checks
            ntok += len(out.tokens)
        wall = (time.perf_counter() - t0) / m_seq
        q = empirical(samples)
        rows.append({**base, "sampler": "AWRS", "outputs": m_seq, "tv": tv(q, pi), "kl": kl(q, pi),
                     "ms_per_output": 1e3 * wall, "checks_per_token": checks / ntok, "floor": floor})

        for n in (4, 16, 64):
            runs = max(25, particle_budget // n)
            avg = {}
            checks = ntok = 0
            t0 = time.perf_counter()
            for r in range(runs):
                res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r)
                checks += res.n_checks
                ntok += res.n_tokens
                for k, w in res.posterior().items():
                    avg[k] = avg.get(k, 0.0) + w / runs
            wall = (time.perf_counter() - t0) / runs
            rows.append({**base, "sampler": f"SMC N={n}", "outputs": runs, "tv": tv(avg, pi), "kl": kl(avg, pi),
                         "ms_per_output": 1e3 * wall, "checks_per_token": checks / ntok, "floor": None})
        for n in (4, 16, 64):
            runs = max(25, particle_budget // (4 * n))
            avg = {}
            masks = ntok = 0
            zs = []
            t0 = time.perf_counter()
            for r in range(runs):
                res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r, resampling="optimal")
                masks += res.n_checks
                ntok += res.n_tokens
                zs.append(math.exp(res.log_z - log_z))
                for k, w in res.posterior().items():
                    avg[k] = avg.get(k, 0.0) + w / runs
            wall = (time.perf_counter() - t0) / runs
            rows.append({**base, "sampler": f"SMC-optimal N={n}", "outputs": runs, "tv": tv(avg, pi),
                         "kl": kl(avg, pi), "ms_per_output": 1e3 * wall, "checks_per_token": None,
                         "masks_per_token": masks / ntok, "z_ratio": float(np.mean(zs)), "floor": None})
        trie = AsapTrie()
        rows += asap_rows(model, compiled, pi, base, m_seq, trie)
        rows += twisted_rows(model, compiled, pi, base, particle_budget, trie)
        print(f"  done: {name} (|L tokenizations| = {len(pi)}, TV(ℓ, π) = {exact_tv:.3f})", file=sys.stderr)
    return rows


def asap_rows(model, compiled, pi, base, m, trie):
    """ASAp: ``m`` outputs drawn one after another in ``trie``; one row per quarter of them (TV of that quarter)."""
    t0 = time.perf_counter()
    outs = asap_samples(model.start(), compiled.matcher(), trie, samples=m, max_tokens=64,
                        generator=torch.Generator().manual_seed(0))
    wall = (time.perf_counter() - t0) / m
    keys = [tuple(o.tokens) if o.status == "complete" else "length" for o in outs]
    rows, q = [], m // 4
    for i in range(4):
        law = empirical(keys[i * q:(i + 1) * q])
        rows.append({**base, "sampler": f"ASAp samples {i * q + 1}-{(i + 1) * q}", "outputs": q, "tv": tv(law, pi),
                     "kl": kl(law, pi) if "length" not in law else math.inf, "ms_per_output": 1e3 * wall,
                     "checks_per_token": None, "floor": noise_floor(pi, q, np.random.default_rng(0)),
                     "theta_ratio": trie.theta / base["Z"]})
    return rows


def twisted_rows(model, compiled, pi, base, particle_budget, trie):
    """SMC twisted by the learned ASAp trie (``twist=trie``), N = 4 and 16: run-averaged posterior, mean Ẑ/Z."""
    rows = []
    for n in (4, 16):
        runs = max(25, particle_budget // n)
        avg, zs, checks, ntok = {}, [], 0, 0
        t0 = time.perf_counter()
        for r in range(runs):
            res = smc(model, [], compiled.matcher(), particles=n, max_tokens=64, seed=r, twist=trie)
            checks, ntok = checks + res.n_checks, ntok + res.n_tokens
            zs.append(math.exp(res.log_z) / base["Z"])
            for k, w in res.posterior().items():
                avg[k] = avg.get(k, 0.0) + w / runs
        wall = (time.perf_counter() - t0) / runs
        rows.append({**base, "sampler": f"SMC N={n} + ASAp twist", "outputs": runs, "tv": tv(avg, pi),
                     "kl": kl(avg, pi), "ms_per_output": 1e3 * wall, "checks_per_token": checks / ntok,
                     "floor": None, "z_ratio": float(np.mean(zs))})
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


def markdown(exact_rows, emb_rows, note) -> str:
    out = ["## Faithfulness on a tiny enumerable model (TV and KL to π)", "",
           "| constraint | TV(ℓ,π) exact | sampler | outputs | TV to π | KL(q̂‖π) | noise floor | ms/output | "
           "checks/token |", "|---|---|---|---|---|---|---|---|---|"]
    for r in exact_rows:
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
        out.append(f"| {r['constraint']} | {r['tv_ell_pi']:.3f} | {r['sampler']} | {r['outputs']} | {r['tv']:.3f} | "
                   f"{r['kl']:.4f} | {floor} | {r['ms_per_output']:.2f} | {cpt} |")
    out += ["", "SMC rows: `outputs` = runs; TV/KL of the run-averaged posterior (the law of one draw from the "
            "posterior). Noise floor: mean TV to π of the same number of exact draws from π as the masked/AWRS rows. "
            "ASAp rows: the outputs of one trie in order, a quarter per row (dependent draws: their floor is the iid "
            "one), θ/Z = θ(root)/Z after all of them; its ms/output includes learning. Twisted SMC rows use that "
            "trie (time without learning it).",
            "", "## AWRS constraint checks per token on the embedded model (JSON schemas)", "",
            "| schema | layout | prompt | sampler | max_rejects | sequences (complete) | tokens | checks/token | "
            "rejects/token | fallbacks/token | tokens/s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in emb_rows:
        out.append(f"| {r['schema']} | {r['layout']} | {r['prompt']} | {r['sampler']} | {r['max_rejects']} | "
                   f"{r['sequences']} ({r['complete']}) | "
                   f"{r['tokens']} | {r['checks_per_token']:.2f} | {r['rejects_per_token']:.2f} | "
                   f"{r['fallbacks_per_token']:.3f} | {r['tokens_per_s']:.1f} |")
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
    exact_rows, note = [], "(exact part skipped)"
    if not args.embedded_only:
        exact_rows = run_exact(args.quick)
        extra, note = genlm_rows(args.quick, args.genlm_python)
        order = {r["constraint"]: i for i, r in enumerate(exact_rows)}
        exact_rows = sorted(exact_rows + extra, key=lambda r: order.get(r["constraint"], len(order)))
    emb_rows = [] if args.skip_embedded else run_embedded(args.quick)
    print(markdown(exact_rows, emb_rows, note))
    if args.json:
        Path(args.json).write_text(json.dumps({"exact": exact_rows, "embedded": emb_rows, "genlm_control": note},
                                              indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
