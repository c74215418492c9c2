"""A training-free n-gram / prompt-lookup drafter that adapts online (in the spirit of ADED)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from corral.drafters.base import Drafter
from corral.protocols import Proposal

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np

    from corral.protocols import ConstraintState
    from corral.tokens.vocabulary import Vocabulary

__all__ = ["NGramDrafter"]


class NGramDrafter(Drafter):
    """Propose the most frequent continuation of the longest context suffix seen before.

    The table maps each context of 1..``order`` tokens to the counts of the tokens that followed it. It is filled
    from every prompt (prompt lookup: extraction tasks copy spans of the prompt) and from every committed token
    (online adaptation: the repeated keys and punctuation of structured output), and it persists across sequences,
    so a drafter reused over many calls keeps learning. Proposals are point masses (``q = δ``); only tokens the
    mask allows are proposed.

    Parameters
    ----------
    vocab : Vocabulary
        The target's vocabulary (for EOS ids).
    order : int
        Longest context matched.
    min_feature : float
        Propose only when the continuation's smoothed frequency ``count / (total + 1)`` reaches this (a composite
        drafter then falls through to the next member, e.g. a draft model).
    min_order : int
        Shortest context matched.
    max_entries : int
        The table is cleared when it grows past this many contexts.
    """

    def __init__(self, vocab: Vocabulary, *, order: int = 4, min_feature: float = 0.0, min_order: int = 1,
                 max_entries: int = 500_000) -> None:
        if order < 1 or min_order < 1 or min_order > order:
            raise ValueError("need 1 <= min_order <= order")
        self.vocab = vocab
        self.order = int(order)
        self.min_order = int(min_order)
        self.min_feature = float(min_feature)
        self.max_entries = int(max_entries)
        self.table: dict[tuple, dict[int, int]] = {}
        self._ctx: list[int] = []
        self._seen = 0
        self.cost = 0.0

    def _add(self, tokens: list[int], start: int) -> None:
        """Count every continuation in ``tokens`` from position ``start`` on (contexts of 1..order tokens)."""
        table = self.table
        order = self.order
        for i in range(max(start, 1), len(tokens)):
            nxt = tokens[i]
            for n in range(1, min(order, i) + 1):
                key = tuple(tokens[i - n : i])
                row = table.get(key)
                if row is None:
                    table[key] = {nxt: 1}
                else:
                    row[nxt] = row.get(nxt, 0) + 1
        if len(table) > self.max_entries:
            table.clear()

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Index the prompt (prompt lookup)."""
        self._ctx = list(prompt_ids)
        self._add(self._ctx, 1)
        self._seen = len(self._ctx)

    def observe(self, ctx: list[int]) -> None:
        """Add the newly committed tokens to the table."""
        if len(ctx) < self._seen or ctx[: min(len(ctx), 1)] != self._ctx[: min(len(ctx), 1)]:
            self._seen = 0  # a different sequence: index it from the start
        self._ctx = list(ctx)
        if len(ctx) > self._seen:
            self._add(self._ctx, self._seen)
            self._seen = len(ctx)

    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """The most frequent allowed continuation of the longest matching suffix of ``ctx``."""
        table = self.table
        for n in range(min(self.order, len(ctx)), self.min_order - 1, -1):
            row = table.get(tuple(ctx[-n:]))
            if not row:
                continue
            total = 0
            best, best_count = None, 0
            for tok, cnt in row.items():
                total += cnt
                if cnt > best_count and (mask[tok] if mask is not None else
                                         (matcher is None or matcher.check(tok))):
                    best, best_count = tok, cnt
            if best is None:
                continue
            feature = best_count / (total + 1.0)
            if feature < self.min_feature:
                return None
            return Proposal("ngram", token=int(best), feature=feature)
        return None

    def __repr__(self) -> str:
        return f"NGramDrafter(order={self.order}, contexts={len(self.table)})"
