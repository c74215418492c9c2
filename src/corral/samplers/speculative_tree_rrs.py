"""Multi-draft verification at one node of a draft tree: recursive rejection sampling (RRS).

A node of a draft tree has the target's constrained law ``p`` (masked decoding's law at that context) and an ordered
list of candidate children ``x_1 .. x_m``. Candidate ``i`` comes with the law ``q_i`` it was drawn from *given the
earlier candidates*:

* drawn **without replacement** from the drafter's constrained law ``q`` (RSD, Jeon et al. 2024):
  ``q_i = q`` with ``x_1 .. x_{i-1}`` removed, renormalised (:func:`draw_without_replacement`);
* drawn **with replacement** (i.i.d., SpecInfer's multi-step rule): ``q_i = q`` (:func:`draw_with_replacement`);
* **deterministic** candidates (an n-gram or fast-forward point mass, the draft's top-k under greedy decoding):
  ``q_i = δ_{x_i}`` (:func:`top_candidates`).

The rule (:func:`acceptance_chain`, :func:`select_child`): with ``p_1 = p``, accept ``x_i`` with probability
``min(1, p_i(x_i) / q_i(x_i))``; on rejection continue with the residual ``p_{i+1} = norm(max(0, p_i - q_i))``; when
every candidate is rejected, sample the last residual ``p_{m+1}``.

**Why the emitted token has law p exactly.** By induction from the last candidate: given the history ``H_i``
(``x_1 .. x_{i-1}``, all rejected), candidate ``x_i ~ q_i(·|H_i)``, and whatever ``x_i`` is, what is emitted after
its rejection has law ``p_{i+1}`` (``p_{i+1}`` depends on ``q_i`` and ``p_i`` but not on ``x_i``). Step ``i`` is
then Leviathan's rule for the pair ``(p_i, q_i)``, whose output law is ``min(p_i, q_i) + (1 - Σ min(p_i, q_i))
p_{i+1} = p_i``. So the node emits a token with law ``p_1 = p``, for any ``q`` and any number of candidates, as long
as the number of candidates and their laws are fixed before the target's uniforms are drawn. A rejected candidate
gets residual mass 0 (``p_i(x) < q_i(x)`` when it can be rejected), so the final draw never repeats one.

The naive rule "accept each candidate against the *original* ``p``, first accepted wins" is biased for ``k >= 2``
(it over-emits tokens that several candidates share, or that the first candidates cover); the tests of
``tests/speculative/test_draft_tree.py`` show the bias with the same enumeration and chi-square tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import NamedTuple

import numpy as np
import torch

from corral.samplers.awrs import logsumexp
from corral.samplers.speculative_d1 import _sample_ids, leviathan_step

__all__ = ["Candidate", "acceptance_chain", "draw_with_replacement", "draw_without_replacement", "select_child",
           "top_candidates", "without"]

Law = tuple[np.ndarray, np.ndarray]  # (ids increasing, float64 log-probabilities)


class Candidate(NamedTuple):
    """One candidate child of a tree node.

    Attributes
    ----------
    token : int
    q_ids, q_logp : numpy.ndarray or None
        The law ``q_i`` the candidate was drawn from given the earlier candidates; ``None``: a point mass (a
        deterministic candidate).
    """

    token: int
    q_ids: np.ndarray | None = None
    q_logp: np.ndarray | None = None


def without(ids: np.ndarray, logp: np.ndarray, token: int) -> Law | None:
    """The law ``(ids, logp)`` with ``token`` removed and renormalised; ``None`` when nothing is left."""
    keep = ids != token
    if not keep.any():
        return None
    rest = logp[keep]
    finite = rest > -np.inf
    if not finite.any():
        return None
    ids2, rest = ids[keep][finite], rest[finite]
    return ids2, rest - logsumexp(rest)


def draw_without_replacement(ids: np.ndarray, logp: np.ndarray, n: int,
                             generator: torch.Generator | None) -> list[Candidate]:
    """Up to ``n`` distinct candidates drawn one by one without replacement from ``(ids, logp)`` (fewer when the
    support is smaller), each with its conditional law ``q_i``."""
    out: list[Candidate] = []
    law: Law | None = (ids, logp)
    while law is not None and len(out) < n:
        q_ids, q_logp = law
        tok = int(q_ids[_sample_ids(q_ids, q_logp, generator)])
        out.append(Candidate(tok, q_ids, q_logp))
        law = without(q_ids, q_logp, tok) if len(out) < n else None
    return out


def draw_with_replacement(ids: np.ndarray, logp: np.ndarray, n: int,
                          generator: torch.Generator | None) -> list[Candidate]:
    """``n`` i.i.d. candidates from ``(ids, logp)``, each with the same law ``q``."""
    return [Candidate(int(ids[_sample_ids(ids, logp, generator)]), ids, logp) for _ in range(n)]


def top_candidates(ids: np.ndarray, logp: np.ndarray, n: int) -> list[Candidate]:
    """The ``n`` most probable tokens of ``(ids, logp)`` (ties by lower id) as deterministic candidates."""
    order = np.lexsort((ids, -logp))[:n]
    return [Candidate(int(ids[j])) for j in order]


def _next_target(p: Law, residual: Law) -> Law:
    """The law the next candidate is tested against after a rejection: the residual (the exact rule)."""
    return residual


def acceptance_chain(p: Law, candidates: list[Candidate], size: int) -> Iterator[tuple[float, Law]]:
    """For each candidate in order: its acceptance probability given that the earlier ones were rejected, and the
    law to sample when it is rejected too (the residual ``p_{i+1}``, normalised).

    Lazy: the sampler stops at the first accepted candidate; the tests enumerate the whole chain.
    """
    cur = p
    for c in candidates:
        acc, r_ids, r_p = leviathan_step(cur[0], cur[1], c.q_ids, c.q_logp, c.token, size)
        residual = (r_ids, np.log(r_p / r_p.sum()))
        yield acc, residual
        cur = _next_target(cur, residual)


def select_child(p: Law, candidates: list[Candidate], size: int,
                 uniform: Callable[[], float]) -> tuple[int | None, Law, int]:
    """Run the rule at one node.

    Returns
    -------
    index : int or None
        The accepted candidate, or ``None`` when every candidate was rejected (or there was none).
    law : tuple
        On ``None``: the law to sample the node's token from (the last residual, or ``p`` with no candidates).
    n_rejected : int
        Candidates rejected before the outcome.
    """
    law = p
    for i, (acc, residual) in enumerate(acceptance_chain(p, candidates, size)):
        if uniform() < acc:
            return i, p, i
        law = residual
    return None, law, len(candidates)
