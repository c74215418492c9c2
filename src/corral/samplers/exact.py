"""Exact laws by enumeration, for small models and finite languages (tests and benchmarks of faithfulness).

For a model with an explicit next-token law (e.g. :class:`corral.models.toy.ToyModel`) and a constraint whose
language is finite, :func:`enumerate_laws` lists every complete token sequence and returns the masked-decoding law
``ℓ``, the conditioned law ``π(y) ∝ p(y) 1[y ∈ L]`` and ``log Z`` exactly (ALGORITHMS.md section 0).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from corral.samplers.awrs import logsumexp

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.models.toy import ToyModel
    from corral.runtime.matcher import CompiledGrammar

__all__ = ["enumerate_laws", "tv"]


def enumerate_laws(model: ToyModel, compiled: CompiledGrammar,
                   max_tokens: int = 64) -> tuple[dict, dict, float]:
    """Exact ``ℓ`` and ``π`` over complete token sequences (EOS included) of length ``<= max_tokens``, and ``log Z``.

    Parameters
    ----------
    model : ToyModel
        Has ``logprobs_of(context) -> tensor``, ``bos_token_id``, ``eos_token_id`` and ``vocab``.
    compiled : CompiledGrammar
    max_tokens : int
        Sequences longer than this (EOS included) are not in the support (the truncated target of SMC).

    Returns
    -------
    (dict, dict, float)
        ``ℓ`` and ``π`` as dicts token tuple -> probability, and ``log Z = log Σ_{y ∈ L} p(y)``.
    """
    eos = model.eos_token_id
    ell, logp = {}, {}

    def rec(ctx, m, lp, ll):
        lps = model.logprobs_of([model.bos_token_id] + ctx).numpy()
        valid = [t for t in range(model.vocab.size) if m.check(t)]
        if not valid or len(ctx) + 1 > max_tokens:
            return
        last = len(ctx) + 1 == max_tokens
        z = logsumexp(lps[valid])
        for t in valid:
            if t == eos:
                key = tuple(ctx + [t])
                ell[key] = math.exp(ll + lps[t] - z)
                logp[key] = lp + lps[t]
            elif not last:
                m2 = m.fork()
                m2.advance(t)
                rec(ctx + [t], m2, lp + lps[t], ll + lps[t] - z)

    rec([], compiled.matcher(), 0.0, 0.0)
    log_z = logsumexp(list(logp.values()))
    return ell, {k: math.exp(v - log_z) for k, v in logp.items()}, log_z


def tv(a: dict, b: dict) -> float:
    """Total variation distance between two laws given as dicts outcome -> probability."""
    return 0.5 * sum(abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b))
