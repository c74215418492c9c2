"""Exact laws and sequence-level faithfulness (ALGORITHMS.md sections 0 and 5): the laws ``ℓ`` and ``π`` of a
small model on a finite language by enumeration (:func:`enumerate_laws`), their total variation (:func:`tv`), and
Pearson's chi-square goodness of fit of samples against an exact law (:func:`chi2_pvalue`, with its own incomplete
gamma function so it needs neither scipy nor torch)."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.models.toy import ToyModel
    from corral.runtime.matcher import CompiledGrammar

__all__ = ["chi2_pvalue", "enumerate_laws", "tv"]


def chi2_pvalue(samples: Iterable[Hashable], probs: Mapping[Hashable, float]) -> float:
    """Pearson's chi-square goodness-of-fit p-value of samples against an exact law.

    Outcomes whose expected count is below 5 are pooled into one bin (dropped when its expected count is below
    1); the expected counts are rescaled to the observed total.

    Parameters
    ----------
    samples : iterable of hashable
        The draws (e.g. token tuples or texts).
    probs : mapping
        outcome -> probability under the law tested (e.g. :func:`enumerate_laws`).

    Returns
    -------
    float
        The p-value; ``0.0`` when a sample has probability 0 under ``probs`` (impossible under the law), ``1.0``
        when there is a single bin (nothing to test).
    """
    samples = list(samples)
    m = len(samples)
    counts: dict = {}
    for s in samples:
        counts[s] = counts.get(s, 0) + 1
    if any(probs.get(s, 0.0) == 0.0 for s in counts):
        return 0.0
    big = [k for k, p in probs.items() if p * m >= 5]
    big_set = set(big)
    small = [k for k in probs if k not in big_set]
    obs = [counts.get(k, 0) for k in big]
    exp = [probs[k] * m for k in big]
    if small:
        o, e = sum(counts.get(k, 0) for k in small), sum(probs[k] for k in small) * m
        if e >= 1:
            obs.append(o)
            exp.append(e)
    obs_a, exp_a = np.array(obs, float), np.array(exp, float)
    if obs_a.size < 2:
        return 1.0
    exp_a *= obs_a.sum() / exp_a.sum()
    stat = float(((obs_a - exp_a) ** 2 / exp_a).sum())
    return _gammaincc((obs_a.size - 1) / 2, stat / 2)


def _gammaincc(a: float, x: float) -> float:
    """The regularised upper incomplete gamma function Q(a, x) (series below a + 1, continued fraction above;
    relative accuracy about 1e-14), so chi-square p-values need neither scipy nor torch."""
    if x <= 0:
        return 1.0
    log_front = a * math.log(x) - x - math.lgamma(a)
    if x < a + 1:  # P(a, x) by its series
        term = total = 1.0 / a
        ap = a
        for _ in range(10_000):
            ap += 1
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-16:
                break
        return max(0.0, 1.0 - total * math.exp(log_front))
    tiny = 1e-300  # Q(a, x) by Lentz's continued fraction
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 10_000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return math.exp(log_front) * h


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
    from corral.samplers.awrs import logsumexp  # torch is imported on first use only

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
