"""Resampling schemes for SMC: ancestor indices from normalised weights.

Every scheme is unbiased: the expected number of copies of particle ``i`` is ``N * W_i``. Multinomial draws ``N``
i.i.d. ancestors; stratified draws one uniform in each stratum ``[(k + u_k) / N]``; systematic uses one shared
uniform ``(k + u) / N`` (lowest variance in practice, not always); residual keeps ``floor(N W_i)`` copies and draws the
rest multinomially.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from numpy.typing import ArrayLike

__all__ = ["RESAMPLERS", "resample", "ess", "normalized_weights"]


def normalized_weights(log_weights: ArrayLike) -> np.ndarray:
    """Normalised weights ``W_i = exp(logw_i) / Σ exp(logw)`` (all zeros when every weight is ``-inf``)."""
    lw = np.asarray(log_weights, dtype=np.float64)
    m = lw.max() if lw.size else -np.inf
    if m == -np.inf:
        return np.zeros_like(lw)
    w = np.exp(lw - m)
    return w / w.sum()


def ess(log_weights: ArrayLike) -> float:
    """Effective sample size ``1 / Σ W_i²`` (0 when every weight is ``-inf``)."""
    w = normalized_weights(log_weights)
    s = float((w * w).sum())
    return 1.0 / s if s > 0 else 0.0


def _from_uniforms(w: np.ndarray, u: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(w)
    cdf[-1] = 1.0
    return np.minimum(np.searchsorted(cdf, u, side="right"), w.size - 1)


def _multinomial(w, n, rng):
    return _from_uniforms(w, np.sort(rng.random(n)))


def _stratified(w, n, rng):
    return _from_uniforms(w, (np.arange(n) + rng.random(n)) / n)


def _systematic(w, n, rng):
    return _from_uniforms(w, (np.arange(n) + rng.random()) / n)


def _residual(w, n, rng):
    counts = np.floor(n * w).astype(np.int64)
    rest = n - int(counts.sum())
    out = np.repeat(np.arange(w.size), counts)
    if rest > 0:
        r = n * w - counts
        r = r / r.sum()
        out = np.concatenate([out, _from_uniforms(r, np.sort(rng.random(rest)))])
    return np.sort(out)


RESAMPLERS = {
    "multinomial": _multinomial,
    "stratified": _stratified,
    "systematic": _systematic,
    "residual": _residual,
}


def resample(weights: ArrayLike, rng: np.random.Generator, scheme: str = "stratified",
             n: int | None = None) -> np.ndarray:
    """Ancestor indices.

    Parameters
    ----------
    weights : array_like
        Normalised weights (sum 1, non-negative).
    rng : numpy.random.Generator
    scheme : {"multinomial", "stratified", "systematic", "residual"}
    n : int, optional
        Number of ancestors (default ``len(weights)``).

    Returns
    -------
    numpy.ndarray
        int64 ``[n]`` indices, non-decreasing.

    Raises
    ------
    ValueError
        Unknown scheme or weights that do not sum to a positive number.
    """
    fn = RESAMPLERS.get(scheme)
    if fn is None:
        raise ValueError(f"unknown resampling scheme {scheme!r}; choose one of {', '.join(RESAMPLERS)}")
    w = np.asarray(weights, dtype=np.float64)
    total = w.sum()
    if not total > 0:
        raise ValueError("cannot resample: every weight is zero")
    w = w / total
    return np.asarray(fn(w, w.size if n is None else int(n), rng), dtype=np.int64)
