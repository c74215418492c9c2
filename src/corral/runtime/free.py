"""The constraint state of unconstrained generation (one for every sampler and for speculative decoding)."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from corral.tokens.vocabulary import Vocabulary

__all__ = ["FreeMatcher"]


class FreeMatcher:
    """No constraint: every token with bytes, and EOS, is allowed; EOS ends the text (nothing is allowed after it).

    It implements :class:`corral.protocols.ConstraintState` (and ``vocab_size``), so every sampler and speculative
    decoding run unconstrained through the same code as constrained.

    Parameters
    ----------
    vocab : Vocabulary
    eos : collection of int, optional
        The ids that end the text; the vocabulary's EOS ids by default. The allowed set is
        ``vocab.free_mask`` (cached on the vocabulary) with these ids added.
    """

    def __init__(self, vocab: Vocabulary, eos: Collection[int] | None = None) -> None:
        self.vocab_size = vocab.size
        self._eos = frozenset(vocab.eos_token_ids if eos is None else (int(t) for t in eos))
        mask = vocab.free_mask
        if not self._eos <= set(vocab.eos_token_ids):
            mask = mask.copy()
            mask[sorted(self._eos)] = True
            mask.flags.writeable = False
        self._mask = mask
        self._done: list[bool] = [False]

    def mask(self) -> np.ndarray:
        """All tokens (none after EOS); read only."""
        return self._mask if not self._done[-1] else np.zeros_like(self._mask)

    def check(self, token: int) -> bool:
        """Whether ``token`` is allowed."""
        return not self._done[-1] and 0 <= int(token) < self.vocab_size and bool(self._mask[int(token)])

    def advance(self, token: int) -> None:
        """Consume ``token`` (``ValueError`` if it is not allowed)."""
        if not self.check(token):
            raise ValueError(f"token {token} is not allowed here")
        self._done.append(int(token) in self._eos)

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` advances."""
        if n > len(self._done) - 1:
            raise ValueError(f"cannot roll back {n} tokens")
        if n:
            del self._done[len(self._done) - n:]

    def fork(self) -> FreeMatcher:
        """An independent copy."""
        other = FreeMatcher.__new__(FreeMatcher)
        other.vocab_size, other._eos, other._mask = self.vocab_size, self._eos, self._mask
        other._done = [self._done[-1]]
        return other

    def is_complete(self) -> bool:
        """Whether EOS is allowed: always, until it is emitted."""
        return not self._done[-1]
