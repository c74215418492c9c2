"""Sequence-level faithfulness: Pearson's chi-square goodness of fit of samples against an exact law
(ALGORITHMS.md section 5), with its own incomplete gamma function so it needs neither scipy nor torch."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping

import numpy as np


def chi2_pvalue(samples: Iterable[Hashable], probs: Mapping[Hashable, float]) -> float:
    """Pearson's chi-square goodness-of-fit p-value of samples against an exact law.

    Outcomes whose expected count is below 5 are pooled into one bin (dropped when its expected count is below
    1); the expected counts are rescaled to the observed total.

    Parameters
    ----------
    samples : iterable of hashable
        The draws (e.g. token tuples or texts).
    probs : mapping
        outcome -> probability under the law tested (e.g. :func:`corral.samplers.exact.enumerate_laws`).

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
