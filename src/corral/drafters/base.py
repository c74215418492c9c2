"""The drafter interface and a composite drafter (:func:`~corral.drafters.factory.make_drafter` builds drafters).

:class:`Drafter` is the base class of corral's drafters and implements the protocol
:class:`corral.protocols.Drafter` (every method has a do-nothing default); what a drafter proposes is a
:class:`corral.protocols.Proposal`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from corral.protocols import ConstraintState, Proposal

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from corral.tokens.vocabulary import Vocabulary

__all__ = ["Drafter", "CompositeDrafter", "propose_batch"]


class Drafter:
    """Base class of drafters (see :mod:`corral.drafters`). Every method has a do-nothing default.

    Attributes
    ----------
    cost : float
        Rough cost of one proposal relative to one target forward pass (0 for table look-ups); the adaptive
        policy uses it to decide how long to draft.
    """

    cost: float = 0.0

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Start a new sequence whose context starts with ``prompt_ids`` (the target sequence's tokens)."""

    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """Propose the token after ``ctx``.

        Parameters
        ----------
        ctx : list of int
            Every token so far: prompt, committed tokens and the tokens drafted earlier in this round. Do not
            mutate.
        matcher : ConstraintState or None
            The constraint state after ``ctx`` (read only: do not advance it): a
            :class:`~corral.protocols.ConstraintState`, e.g. a :class:`~corral.runtime.matcher.Matcher`.
        mask : numpy.ndarray or None
            The bool mask at this position when the verifier computed one (D1), ``None`` otherwise (D2).

        Returns
        -------
        Proposal or None
            ``None`` ends the draft.
        """
        return None

    def propose_many(self, ctxs: Sequence[list[int]], matchers: Sequence[ConstraintState | None],
                     masks: Sequence[np.ndarray | None]) -> list[Proposal | None]:
        """Propose the token after each of several contexts (the frontier of a draft tree), in one call.

        Same arguments as :meth:`propose`, one entry per context; a drafter that can evaluate the contexts together
        (a draft model: one batched forward over branches that share a prefix) overrides this. The default asks
        :meth:`propose` once per context, in order.

        Returns
        -------
        list of Proposal or None
            One entry per context.
        """
        return [self.propose(c, m, k) for c, m, k in zip(ctxs, matchers, masks)]

    def observe(self, ctx: list[int]) -> None:
        """Called after each round with the committed context (prompt and committed tokens, EOS excluded)."""


class CompositeDrafter(Drafter):
    """Ask several drafters in order; the first proposal wins.

    Parameters
    ----------
    drafters : list of Drafter
        E.g. ``[FastForwardDrafter, NGramDrafter, ModelDrafter]``: free proposals first, the model last (``None``
        members are skipped).
    """

    def __init__(self, drafters: Iterable[Drafter | None]) -> None:
        self.drafters = [d for d in drafters if d is not None]
        self.cost = max((d.cost for d in self.drafters), default=0.0)

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Start every member."""
        for d in self.drafters:
            d.begin(prompt_ids)

    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """The first member's proposal that is not ``None``."""
        for d in self.drafters:
            p = d.propose(ctx, matcher, mask)
            if p is not None:
                return p
        return None

    def propose_many(self, ctxs: Sequence[list[int]], matchers: Sequence[ConstraintState | None],
                     masks: Sequence[np.ndarray | None]) -> list[Proposal | None]:
        """Each context's first member proposal that is not ``None``; each member answers the contexts still open in
        one :meth:`Drafter.propose_many` call. A subclass that overrides :meth:`propose` (e.g.
        :class:`~corral.drafters.auto.AutoDrafter`) is asked one context at a time."""
        if type(self).propose is not CompositeDrafter.propose:
            return Drafter.propose_many(self, ctxs, matchers, masks)
        out: list[Proposal | None] = [None] * len(ctxs)
        for d in self.drafters:
            todo = [i for i, p in enumerate(out) if p is None]
            if not todo:
                break
            got = propose_batch(d, [ctxs[i] for i in todo], [matchers[i] for i in todo], [masks[i] for i in todo])
            for i, p in zip(todo, got):
                out[i] = p
        return out

    def observe(self, ctx: list[int]) -> None:
        """Forward to every member."""
        for d in self.drafters:
            d.observe(ctx)

    def __repr__(self) -> str:
        return f"CompositeDrafter({self.drafters!r})"


def propose_batch(drafter, ctxs: Sequence[list[int]], matchers: Sequence[ConstraintState | None],
                  masks: Sequence[np.ndarray | None]) -> list[Proposal | None]:
    """``drafter.propose_many(ctxs, matchers, masks)``, or one :meth:`~Drafter.propose` per context for a drafter
    that only implements the :class:`corral.protocols.Drafter` protocol."""
    many = getattr(drafter, "propose_many", None)
    if many is not None:
        return list(many(ctxs, matchers, masks))
    return [drafter.propose(c, m, k) for c, m, k in zip(ctxs, matchers, masks)]


def allowed_first_bytes(vocab: Vocabulary, mask: np.ndarray) -> np.ndarray:
    """The distinct first bytes of the allowed non-EOS tokens of ``mask`` (int array)."""
    ids = np.flatnonzero(mask[: vocab.size])
    ids = ids[vocab.lengths[ids] > 0]
    return np.unique(vocab.byte_matrix[ids, 0])
