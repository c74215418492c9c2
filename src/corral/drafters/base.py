"""The drafter interface and a composite drafter (:func:`~corral.drafters.factory.make_drafter` builds drafters)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Proposal", "Drafter", "CompositeDrafter"]


@dataclass
class Proposal:
    """One proposed draft position.

    Attributes
    ----------
    kind : str
        ``"model"`` (a distribution), ``"ngram"``, ``"ff"`` (grammar fast-forward) or ``"forced"`` (the mask has a
        single token; made by the round itself). Used by the adaptive length policy to keep separate statistics.
    token : int or None
        The proposed token when the proposal is a point mass (``q = δ_token``).
    logprobs : numpy.ndarray or torch.Tensor or None
        The draft's next-token log-probabilities ``[V]`` when the proposal is a distribution; the round applies
        the mask, temperature, top-k and top-p of the target's law to it and samples the draft token.
    feature : float
        A confidence feature in ``[0, 1]`` for the acceptance predictor (n-gram: empirical frequency of the
        proposed continuation; fast-forward: 1; a model proposal's feature is filled in by the round with
        ``q_c(token)``).
    """

    kind: str
    token: int | None = None
    logprobs: object | None = None
    feature: float = 1.0


class Drafter:
    """Base class of drafters (see :mod:`corral.drafters`). Every method has a do-nothing default.

    Attributes
    ----------
    cost : float
        Rough cost of one proposal relative to one target forward pass (0 for table look-ups); the adaptive
        policy uses it to decide how long to draft.
    """

    cost: float = 0.0

    def begin(self, prompt_ids) -> None:
        """Start a new sequence whose context starts with ``prompt_ids`` (the target sequence's tokens)."""

    def propose(self, ctx: list[int], matcher, mask) -> Proposal | None:
        """Propose the token after ``ctx``.

        Parameters
        ----------
        ctx : list of int
            Every token so far: prompt, committed tokens and the tokens drafted earlier in this round. Do not
            mutate.
        matcher : corral.runtime.matcher.Matcher or None
            The constraint state after ``ctx`` (read only: do not advance it).
        mask : numpy.ndarray or None
            The bool mask at this position when the verifier computed one (D1), ``None`` otherwise (D2).

        Returns
        -------
        Proposal or None
            ``None`` ends the draft.
        """
        return None

    def observe(self, ctx: list[int]) -> None:
        """Called after each round with the committed context (prompt and committed tokens, EOS excluded)."""


class CompositeDrafter(Drafter):
    """Ask several drafters in order; the first proposal wins.

    Parameters
    ----------
    drafters : list of Drafter
        E.g. ``[FastForwardDrafter, NGramDrafter, ModelDrafter]``: free proposals first, the model last.
    """

    def __init__(self, drafters) -> None:
        self.drafters = [d for d in drafters if d is not None]
        self.cost = max((d.cost for d in self.drafters), default=0.0)

    def begin(self, prompt_ids) -> None:
        """Start every member."""
        for d in self.drafters:
            d.begin(prompt_ids)

    def propose(self, ctx, matcher, mask):
        """The first member's proposal that is not ``None``."""
        for d in self.drafters:
            p = d.propose(ctx, matcher, mask)
            if p is not None:
                return p
        return None

    def observe(self, ctx) -> None:
        """Forward to every member."""
        for d in self.drafters:
            d.observe(ctx)

    def __repr__(self) -> str:
        return f"CompositeDrafter({self.drafters!r})"


def allowed_first_bytes(vocab, mask) -> np.ndarray:
    """The distinct first bytes of the allowed non-EOS tokens of ``mask`` (int array)."""
    ids = np.flatnonzero(mask[: vocab.size])
    ids = ids[vocab.lengths[ids] > 0]
    return np.unique(vocab.byte_matrix[ids, 0])
