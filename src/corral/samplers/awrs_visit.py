"""How one AWRS step walks its candidates: the lazy visit order by decreasing key, and the tokens it drops unvisited.

:func:`visit_order` yields candidate tokens by decreasing perturbed key (ties by id) without sorting the whole
vocabulary when the step accepts early. :class:`DroppedTokens` records the groups of tokens a rejection proves
invalid (``Matcher.check_group``), so that :func:`corral.samplers.awrs.awrs_step` never visits them and adds their
mass to the rejected mass at once.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.runtime.states import Rejection

__all__ = ["DroppedTokens", "order_chunks", "visit_order"]

_SMALL_V = 64  # vocabularies up to this size are sorted at once; larger ones are visited in argpartition chunks
_FIRST_CHUNK = 16


def visit_order(work: np.ndarray, n: int) -> Iterator[int]:
    """Yield the ``n`` candidate indices of ``work`` (entries ``> -inf``) by decreasing value, ties by index.

    ``work`` is consumed (visited entries are set to ``-inf``). Small arrays are sorted at once; large ones are
    visited in geometrically growing ``argpartition`` chunks, so a step that accepts early touches ``O(V)`` once.
    """
    for chunk in order_chunks(work, n):
        yield from chunk.tolist()


def order_chunks(work: np.ndarray, n: int) -> Iterator[np.ndarray]:
    """The visit order of :func:`visit_order` as consecutive index arrays."""
    if n <= 0:
        return
    size = work.size
    if size <= _SMALL_V or n <= _FIRST_CHUNK:
        if n == size:
            yield np.lexsort((np.arange(size), -work))
            return
        idx = np.flatnonzero(work > -np.inf)
        yield idx[np.lexsort((idx, -work[idx]))]
        return
    k = _FIRST_CHUNK
    left = n
    while left > 0:
        k = min(k, left)
        if k == left:
            top = np.flatnonzero(work > -np.inf)
        else:
            top = np.argpartition(work, size - k)[size - k:]
        top = top[np.lexsort((top, -work[top]))]
        work[top] = -np.inf
        left -= top.size
        yield top
        k *= 4


class DroppedTokens:
    """The candidates an AWRS step has dropped as invalid (``check_group`` groups), and their probability mass.

    Explicit ids are marked in a boolean row. A :class:`~corral.runtime.matcher.Rejection`'s first-byte part (every
    token whose first byte no lexeme thread takes, often most of the vocabulary) is kept as a 256-entry table: its
    mass is summed per first byte in one pass, and visited tokens are tested against it one by one, so a large
    vocabulary is not rewritten at every rejection.

    Parameters
    ----------
    size : int
        Number of tokens (the length of the step's log-weights).
    logp : numpy.ndarray
        float64 ``[size]`` normalised log-probabilities of the step.
    cand : numpy.ndarray
        bool ``[size]``: the step's candidates (finite log-weight).
    """

    def __init__(self, size: int, logp: np.ndarray, cand: np.ndarray) -> None:
        self.size, self.logp, self.cand = size, logp, cand
        self.removed = np.zeros(size, dtype=bool)
        self.explicit: list[int] = []
        self.dead_first: np.ndarray | None = None  # bool [256]
        self.first: np.ndarray | None = None  # int [size]: first byte, -1 for none
        self.applied: dict = {}  # id(part) -> part, for the cached parts of Rejections

    def _first_dead(self, ids):
        """bool per id (or for one id): dropped by the first-byte table (``False`` before it came)."""
        if self.dead_first is None:
            return np.zeros(np.shape(ids), dtype=bool)
        f = self.first[ids]
        return (f >= 0) & self.dead_first[np.maximum(f, 0)]

    def has(self, t: int) -> bool:
        """Whether token ``t`` has been dropped."""
        return bool(self.removed[t]) or bool(self._first_dead(t))

    def add(self, group: np.ndarray | Rejection, t: int) -> float:
        """Drop ``group`` (an id array or a Rejection) and token ``t``; the mass newly dropped."""
        mass = 0.0
        first_allowed = getattr(group, "first_allowed", None)
        if first_allowed is not None and self.dead_first is None:
            first = np.asarray(group.first_byte)
            if first.size != self.size:  # (logits wider or narrower than the vocabulary)
                first = np.concatenate([first[:self.size], np.full(max(0, self.size - first.size), -1, first.dtype)])
            self.first, self.dead_first = first, ~np.asarray(first_allowed, dtype=bool)
            p = np.where(self.cand, np.exp(self.logp), 0.0)
            per_byte = np.bincount(first + 1, weights=p, minlength=257)[1:]
            mass += float(per_byte[self.dead_first].sum())
            # tokens dropped earlier by id whose first byte is dead were counted twice: take them out again
            mass -= sum(math.exp(float(self.logp[u])) for u in self.explicit if self._first_dead(u))
            self.explicit = []
        for part in getattr(group, "parts", ()):  # disjoint, cached arrays: one the step has applied is skipped
            if id(part) not in self.applied:
                self.applied[id(part)] = part  # (kept alive, so its id is not reused during the step)
                mass += self._drop(part[part < self.size])
        ids = np.asarray(getattr(group, "ids", group), dtype=np.int64).reshape(-1)
        ids = np.unique(np.append(ids[(ids >= 0) & (ids < self.size)], t))  # the token itself, in any case
        return mass + self._drop(ids)

    def _drop(self, ids: np.ndarray) -> float:
        """Drop the distinct ``ids`` not dropped yet; their mass."""
        ids = ids[self.cand[ids] & ~self.removed[ids]]
        ids = ids[~self._first_dead(ids)]
        self.removed[ids] = True
        if self.dead_first is None:  # needed only to correct the first-byte mass, once it comes
            self.explicit.extend(ids.tolist())
        return float(np.exp(self.logp[ids]).sum())

    def kept_among(self, ids: np.ndarray) -> np.ndarray:
        """bool per id: not dropped."""
        return ~self.removed[ids] & ~self._first_dead(ids)

    def kept(self) -> np.ndarray:
        """bool ``[size]``: the candidates not dropped."""
        return self.cand & self.kept_among(np.arange(self.size))
