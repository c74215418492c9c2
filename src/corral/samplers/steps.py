"""Per-token records kept by every sampler (:class:`Step`), turned into :class:`corral.result.TokenStep` by the
runners (which add the token's text).

A sampler appends one :class:`Step` per emitted token, from quantities it has already computed (the model's
log-probability of the token, the mask's size when it holds the mask, its AWRS checks), so recording costs no
forward pass and no mask.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["Step"]


class Step(NamedTuple):
    """One emitted token, as the sampler saw it.

    Attributes
    ----------
    token : int
        The token id.
    model_logprob : float
        Its log-probability under the raw (untempered, unconstrained) model at that position (``nan``: unknown).
    n_allowed : int or None
        How many tokens the constraint allowed there, when the sampler held the mask (masked decoding, D1);
        ``None`` otherwise (AWRS and D2 only check tokens).
    checks, rejects : int or None
        AWRS and D2: constraint checks made at that position and tokens rejected before this one was accepted.
        0 for masked decoding and D1; ``None`` when unknown.
    draft : str or None
        The drafter's kind (``"forced"``, ``"ff"``, ``"ngram"``, ``"model"``) when the token is an accepted draft.
    rejected_drafts : int
        Drafted tokens rejected at this position: 0 or 1 with single drafts (verification stops at the first
        rejection); with a draft tree, the node's rejected candidates (possibly several, also on an accepted draft).
    """

    token: int
    model_logprob: float
    n_allowed: int | None = None
    checks: int | None = 0
    rejects: int | None = 0
    draft: str | None = None
    rejected_drafts: int = 0
