"""genlm-control's AWRS-SMC on the tiny explicit models and constraints of ``faithfulness.py`` (baseline column).

    /work/genlm-venv/bin/python benchmarks/genlm_baseline.py --runs 50
    /work/genlm-venv/bin/python benchmarks/genlm_baseline.py --quick --json out.json

genlm-control is not a dependency of corral; it lives in its own venv (``python3 -m venv /work/genlm-venv &&
/work/genlm-venv/bin/pip install -c constraints.txt -e . genlm-control``). This module imports corral from
``src/`` and genlm-control from that venv.

For each constraint of :func:`faithfulness.constraints` it builds the same hash-seeded :class:`ToyModel`
(:func:`faithfulness.guided_model`), enumerates the exact laws ``ℓ`` and ``π`` (:func:`enumerate_laws`), and runs
genlm-control's SMC with AWRS token proposals (``AWRS(llm, condition).smc(...)``) on

* the LM: the ToyModel wrapped as a genlm-backend ``AsyncLM`` (:class:`ToyAsyncLM`): byte vocabulary = the token
  strings, plus an EOS token whose byte string occurs in no other token; ``PromptedLLM`` with ``prompt_ids =
  [bos]`` so the model sees exactly the contexts ``enumerate_laws`` gives it (``[bos] + ctx``);
* the condition: a byte-level Boolean potential coerced to the LM's tokens with ``.coerce(llm, f=b"".join)``:
  ``BoolCFG.from_lark`` (Lark), ``BoolFSA.from_regex`` (regex, and choices as an escaped alternation), and for the
  JSON Schema a ``BoolCFG`` from a Lark grammar of our exact (compact, schema-order) language, because
  genlm-control's ``JsonSchema`` potential accepts the keys in any order (and whitespace) -- a different language
  even over this vocabulary (``--check-json-schema`` runs :func:`json_schema_check`).

Before sampling, :func:`language_check` enumerates the token sequences the genlm condition accepts (prefix-tree walk
with the coerced potential's ``prefix``/``complete``) and asserts they equal ``supp(π)``, so the target of genlm's
SMC, ``p(y) 1[y ∈ L]`` truncated at ``max_tokens``, is exactly our ``π``.

The sampler is genlm-control's ``SMC`` (``genlm.control.sampler.sequence``) over its ``AWRS`` token sampler
(adaptive weighted rejection sampling, ``max_accepts=2``, no reject limit) with the settings of faithfulness.py's
``SMC N=n`` rows: the same N and number of runs, ESS threshold 0.5, stratified resampling (corral ``smc()``'s
default; genlm-control's own default is multinomial, ``--resampling``), max_tokens 64 (genlm forces EOS at the
budget; the enumeration bound is the same).

Reported per constraint and N: TV and KL(q̂‖π) of the run-averaged posterior (the law of one draw from the
posterior, as the "SMC N=n" rows of faithfulness.py), TV(ℓ, π) exact, ms per SMC run, and the curves of
:func:`faithfulness.curve` (TV against runs drawn and against wall time).

Tested with genlm-control 0.4.1 (genlm-backend 0.3.1, torch 2.13.0+cpu).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from corral.testing import enumerate_laws, tv  # noqa: E402

import faithfulness as F  # noqa: E402

from genlm.backend.llm.base import AsyncLM  # noqa: E402
from genlm.backend.tokenization import Token  # noqa: E402
from genlm.control import AWRS, EOS, BoolCFG, BoolFSA, JsonSchema, PromptedLLM  # noqa: E402

MAX_TOKENS = 64  # as faithfulness.py (SMC max_tokens and the enumeration bound)
PARTICLES = (4, 16, 64)

# Our JSON Schema grammar (schema_to_grammar(COLOR_SCHEMA)) is compact JSON, keys in schema order, enum values.
# The same language as a Lark grammar for genlm's BoolCFG (checked against supp(π) by language_check).
COLOR_LARK = r"""
start: "{\"color\":" COLOR ",\"n\":" N "}"
COLOR: "\"red\"" | "\"green\"" | "\"blue\""
N: "1" | "2" | "3"
"""


class ToyAsyncLM(AsyncLM):
    """A corral :class:`ToyModel` as a genlm-backend ``AsyncLM``.

    Token id ``i < len(tokens)`` has the token's bytes; the EOS id ``len(tokens)`` gets ``eos_bytes`` (a byte
    string no ordinary token has, so that ``PromptedLLM`` maps exactly this one id to genlm's ``EOS``).
    ``next_token_logprobs(ids)`` is ``model.logprobs_of(ids)`` (float64 log-softmax over all ids).
    """

    def __init__(self, model, eos_bytes: bytes = b"<|eos|>"):
        # AsyncLM.__init__ decodes a Hugging Face tokenizer; we build its attributes directly instead.
        self.model = model
        tb = list(model.vocab.token_bytes)
        eos = model.eos_token_id
        if eos != len(tb) - 1 or any(b is None for b in tb[:eos]):
            raise ValueError("expected a ToyModel: ordinary tokens 0..V-2 with bytes, EOS last")
        if eos_bytes in tb[:eos]:
            raise ValueError(f"EOS byte string {eos_bytes!r} collides with an ordinary token")
        if len(set(tb[:eos])) != eos:
            raise ValueError("duplicate token byte strings: the key mapping by token id would still work, but "
                             "genlm's bytes-level coercion could not tell them apart")
        raw = [bytes(b) for b in tb[:eos]] + [eos_bytes]
        self.eos_bytes = eos_bytes
        self.tokenizer = SimpleNamespace(eos_token_id=eos, name_or_path="corral-toy")
        self.byte_vocab = [Token(token_id=i, byte_string=b) for i, b in enumerate(raw)]
        self.str_vocab = [b.decode("utf-8", errors="replace") for b in raw]
        self._batch_queue = []
        self._batch_armed = False

    async def next_token_logprobs(self, token_ids, lora_name=None):
        return self.model.logprobs_of(list(token_ids))

    def next_token_logprobs_sync(self, token_ids, lora_name=None):
        return self.model.logprobs_of(list(token_ids))

    async def batch_next_token_logprobs(self, token_ids_list, lora_name=None):
        return torch.stack([self.model.logprobs_of(list(ids)) for ids in token_ids_list])

    def batch_next_token_logprobs_sync(self, token_ids_list, lora_name=None):
        return torch.stack([self.model.logprobs_of(list(ids)) for ids in token_ids_list])


class Float64PromptedLLM(PromptedLLM):
    """``PromptedLLM`` whose next-token log-weights stay float64 (stock ``PromptedLLM`` casts them to float32).

    With float32 weights, genlm-control's ``recursive_awrs`` trips its own assertion
    ``not last or log_q >= -error_tolerance`` (token.py) on the JSON-schema model: after rejecting every other
    allowed token, the float32 rejected mass leaves ``log q`` of the last one below ``-1e-5``. Our ToyModel is
    float64 (``complete``/``prefix`` of the stock class are already float64), so we keep the rows float64."""

    async def logw_next(self, context):
        ids = self.encode_tokens(context)
        lp = self._maybe_temper(await self.model.next_token_logprobs(self.prompt_ids + ids, lora_name=self.lora_name))
        return self.make_lazy_weights(self._process_logw_next_batch(lp.unsqueeze(0))[0])

    async def batch_logw_next(self, contexts):
        ids = [self.encode_tokens(c) for c in contexts]
        lp = self._maybe_temper(await self.model.batch_next_token_logprobs(
            [self.prompt_ids + i for i in ids], lora_name=self.lora_name))
        return self.make_lazy_weights(self._process_logw_next_batch(lp))


def prompted_llm(model, float64: bool = True) -> PromptedLLM:
    """The ToyModel as a genlm ``PromptedLLM`` starting at ``bos`` (as ``enumerate_laws`` and ``model.start()``).
    ``float64=False``: the stock class (float32 next-token weights)."""
    lm = ToyAsyncLM(model)
    cls = Float64PromptedLLM if float64 else PromptedLLM
    return cls(lm, prompt_ids=[model.bos_token_id], eos_byte_strings=[lm.eos_bytes])


def byte_condition(kind: str):
    """genlm byte-level Boolean potential for a constraint kind of ``faithfulness.constraints()`` (its note)."""
    if kind == "lark":
        return BoolCFG.from_lark(F.LARK), "BoolCFG.from_lark(LARK)"
    if kind == "schema":
        return BoolCFG.from_lark(COLOR_LARK), "BoolCFG.from_lark(COLOR_LARK) (compact, schema key order)"
    if kind == "regex":
        return BoolFSA.from_regex(r"(ab|a)(c|cc)?b"), "BoolFSA.from_regex('(ab|a)(c|cc)?b')"
    if kind == "choices":
        choices = ["a", "ab", "abc", "b", "bb", "bca", "cab", "ccc", "cb"]
        pat = "|".join(re.escape(c) for c in choices)
        return BoolFSA.from_regex(pat), f"BoolFSA.from_regex({pat!r})"
    raise ValueError(kind)


def token_condition(byte_pot, llm):
    return byte_pot.coerce(llm, f=b"".join)


def key_of(context, eos_id: int) -> tuple:
    """A genlm context (Token objects, then ``EOS``) as our key: token ids incl. the trailing EOS id."""
    return tuple(eos_id if t is EOS else int(t.token_id) for t in context)


async def _accepted(cond, eos_id: int, max_tokens: int) -> set:
    """Every token sequence (EOS id appended) the coerced condition accepts, of length <= max_tokens incl. EOS."""
    out = set()

    async def rec(ctx):
        if len(ctx) + 1 > max_tokens:
            return
        if await cond.complete(ctx) == 0:
            out.add(key_of(ctx, eos_id) + (eos_id,))
        if len(ctx) + 2 > max_tokens:
            return
        for t in cond.vocab:
            if await cond.prefix(ctx + [t]) == 0:
                await rec(ctx + [t])

    await rec([])
    return out


def language_check(cond, pi: dict, eos_id: int, max_tokens: int = MAX_TOKENS) -> dict:
    """Compare the token sequences genlm's condition accepts with supp(π): counts of common / only-genlm / only-ours."""
    acc = asyncio.run(_accepted(cond, eos_id, max_tokens))
    ours = set(pi)
    return {"common": len(acc & ours), "only_genlm": len(acc - ours), "only_ours": len(ours - acc),
            "examples_only_genlm": sorted(acc - ours)[:3], "examples_only_ours": sorted(ours - acc)[:3]}


def json_schema_check(model, llm, pi: dict) -> dict:
    """Why genlm's ``JsonSchema`` potential is not used for the schema constraint: over this very vocabulary it
    accepts documents outside our language. Checks (with its coerced ``complete``/``prefix``): how many of supp(π)
    it accepts, how many of the 9 documents with the keys in the other order (greedy tokenization) it accepts, and
    whether ``"n":11`` is still a viable prefix (so its prefix tree is not finite within 64 tokens: a full
    enumeration as in :func:`language_check` does not terminate in reasonable time)."""
    js = token_condition(JsonSchema(F.COLOR_SCHEMA), llm)
    dec = llm.token_maps.decode

    def toks(ids):
        return [dec[i] for i in ids]

    async def go():
        ours = sum([await js.complete(toks(k[:-1])) == 0 for k in pi])
        swapped = [json.dumps({"n": n, "color": c}, separators=(",", ":"))
                   for c in ("red", "green", "blue") for n in (1, 2, 3)]
        other = sum([await js.complete(toks(model.encode(s))) == 0 for s in swapped])
        long_num = await js.prefix(toks(model.encode('{"color":"red","n":11'))) == 0
        return {"supp_pi_accepted": f"{ours}/{len(pi)}", "swapped_key_order_accepted": f"{other}/{len(swapped)}",
                "prefix_n_11_viable": long_num}

    return asyncio.run(go())


async def _smc_runs(llm, cond, n: int, runs: int, eos_id: int, ess_threshold: float, resampling: str):
    """``runs`` SMC runs; a :class:`faithfulness.Trace` of their normalised posteriors (``{}`` for a run whose
    particles all ended at weight 0: no mass) and the number of such dead runs."""
    n_dead = 0
    trace = F.Trace()
    for r in range(runs):
        np.random.seed(r)  # genlm's resampling draws from numpy's global RNG
        sampler = AWRS(llm, cond, seed=r)
        seqs = await sampler.smc(n_particles=n, ess_threshold=ess_threshold, max_tokens=MAX_TOKENS,
                                 resampling_method=resampling)
        post = {}
        if np.isfinite(seqs.log_total):
            for ctx, w in zip(seqs.contexts, seqs.normalized_weights):
                if w > 0:
                    k = key_of(ctx, eos_id)
                    post[k] = post.get(k, 0.0) + float(w)
        else:
            n_dead += 1  # every particle has weight 0: this run contributes nothing (counted, reported)
        trace.add(post)
    if not any(trace.items):
        raise RuntimeError(f"N={n}: all {runs} SMC runs ended with every particle at weight 0")
    return trace, n_dead


def genlm_rows(quick: bool = False, runs: int | None = None, particles=PARTICLES, ess_threshold: float = 0.5,
               resampling: str = "stratified", check_json_schema: bool = False, verbose: bool = True,
               float64: bool = True) -> list[dict]:
    """Rows in the format of faithfulness.py's exact rows for genlm-control's AWRS-SMC, N in ``particles``.

    ``runs`` SMC runs per (constraint, N); ``None``: the run counts of faithfulness.py's "SMC N=n" rows,
    ``max(25, budget // N)`` with a particle budget of 1600 (quick) or 12800."""
    budget = 1600 if quick else 12800  # particle budget per (constraint, N), as faithfulness.py's SMC rows
    rows = []
    for name, kind, grammar, toks, seed in F.constraints():
        model, compiled = F.guided_model(toks, grammar, seed=seed)
        ell, pi, log_z = enumerate_laws(model, compiled, max_tokens=MAX_TOKENS)
        exact_tv = tv(ell, pi)
        llm = prompted_llm(model, float64=float64)
        eos_id = model.eos_token_id
        byte_pot, note = byte_condition(kind)
        cond = token_condition(byte_pot, llm)
        lang = language_check(cond, pi, eos_id)
        if lang["only_genlm"] or lang["only_ours"]:
            raise RuntimeError(f"{name}: genlm condition {note} is not our language over this vocabulary: {lang}")
        if verbose:
            print(f"  {name}: genlm condition {note}; accepted token sequences = supp(π) ({lang['common']})",
                  file=sys.stderr)
        if kind == "schema" and check_json_schema:
            js = json_schema_check(model, llm, pi)
            if verbose:
                print(f"  {name}: genlm JsonSchema(COLOR_SCHEMA) over this vocabulary: {js}", file=sys.stderr)
        base = {"constraint": name, "kind": kind, "support": len(pi), "tv_ell_pi": exact_tv, "Z": math.exp(log_z),
                "floor": None, "checks_per_token": None, "genlm_condition": note}
        for n in particles:
            n_runs = runs if runs is not None else max(25, budget // n)
            trace, n_dead = asyncio.run(_smc_runs(llm, cond, n, n_runs, eos_id, ess_threshold, resampling))
            rows.append({**base, "sampler": f"genlm-control AWRS-SMC N={n}", **F.seq_row(trace, pi),
                         "dead_runs": n_dead,
                         "ess_threshold": ess_threshold, "resampling": resampling,
                         "weights_dtype": "float64" if float64 else "float32"})
            if verbose:
                r = rows[-1]
                print(f"    N={n:3d} runs={n_runs}: TV={r['tv']:.3f} KL={r['kl']:.4f} (TV(ℓ,π)={exact_tv:.3f}) "
                      f"{r['ms_per_output']:.1f} ms/run, dead runs {n_dead}", file=sys.stderr)
    return rows


def markdown(rows) -> str:
    out = ["| constraint | TV(ℓ,π) exact | sampler | runs | TV to π | KL(q̂‖π) | ms/run |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        out.append(f"| {r['constraint']} | {r['tv_ell_pi']:.3f} | {r['sampler']} | {r['outputs']} | {r['tv']:.3f} | "
                   f"{r['kl']:.4f} | {r['ms_per_output']:.2f} |")
    return "\n".join(out + [""] + F.curve_markdown(rows)[:-2])  # the curve table, without its faithfulness.py note


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=None,
                        help="SMC runs per (constraint, N) (default: as faithfulness.py, max(25, 12800 // N); "
                             "max(25, 1600 // N) with --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer runs (smoke run)")
    parser.add_argument("--particles", type=int, nargs="+", default=list(PARTICLES))
    parser.add_argument("--ess-threshold", type=float, default=0.5)
    parser.add_argument("--resampling", default="stratified",
                        choices=["multinomial", "stratified", "systematic", "residual"],
                        help="genlm-control's resampling method (default: stratified, corral smc()'s default, as in "
                             "faithfulness.py's SMC rows; genlm-control's own default is multinomial)")
    parser.add_argument("--check-json-schema", action="store_true",
                        help="also show that genlm's JsonSchema potential accepts more than our language here")
    parser.add_argument("--float32", action="store_true",
                        help="stock PromptedLLM (float32 next-token weights; can trip an AWRS assertion)")
    parser.add_argument("--json", metavar="OUT", help="also write the rows as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = genlm_rows(args.quick, runs=args.runs, particles=args.particles, ess_threshold=args.ess_threshold,
                      resampling=args.resampling, check_json_schema=args.check_json_schema,
                      float64=not args.float32)
    print(markdown(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
