"""Matcher states: the Python matcher's lexeme threads (:class:`_State`), the compiled engine's product-state ids
(:class:`_NState`, same interface), and the group of tokens a rejected check proves invalid (:class:`Rejection`).

States are immutable: forking a matcher shares them, rolling back walks the ``parent`` chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from corral.runtime.engine import MaskEngine

__all__ = ["Rejection"]


class _State:
    """An immutable matcher state (see the module docstring)."""

    __slots__ = ("threads", "here", "parent", "token", "terminated", "_key")

    def __init__(self, threads: dict, here: frozenset, parent=None, token=None, terminated=False):
        self.threads = threads
        self.here = here
        self.parent = parent
        self.token = token
        self.terminated = terminated
        self._key = None

    @property
    def key(self):
        if self._key is None:
            self._key = (frozenset(self.threads.items()), self.here, self.terminated)
        return self._key

    @property
    def complete(self) -> bool:
        return any(c.complete for c in self.here)

    @property
    def viable(self) -> bool:
        return bool(self.threads) or self.complete


class _NState:
    """An immutable matcher state of the compiled engine: a product state ``pid`` (see
    :mod:`corral.runtime.engine`; ``-1``: not viable), with the same interface as :class:`_State`."""

    __slots__ = ("engine", "pid", "parent", "token", "terminated", "_complete")

    def __init__(self, engine: MaskEngine, pid: int, parent=None, token=None, terminated=False):
        self.engine = engine
        self.pid = pid
        self.parent = parent
        self.token = token
        self.terminated = terminated
        self._complete = None

    @property
    def key(self):
        return (self.pid, self.terminated)

    @property
    def complete(self) -> bool:
        if self._complete is None:
            self._complete = self.pid >= 0 and self.engine.complete(self.pid)
        return self._complete

    @property
    def viable(self) -> bool:
        return self.pid >= 0


class Rejection(NamedTuple):
    """A disallowed token and the tokens its check proves disallowed too (:meth:`Matcher.check_group`).

    The group is ``ids``, the arrays of ``parts``, and, when ``first_allowed`` is given, every token whose first byte
    ``first_byte[t] >= 0`` is outside ``first_allowed``; the token itself is always in the group.

    Attributes
    ----------
    ids : numpy.ndarray
        int64 ids (distinct), disallowed.
    first_allowed : numpy.ndarray or None
        bool ``[256]``: the bytes a token may start with at this state.
    first_byte : numpy.ndarray or None
        int16 ``[vocab size]``: each token's first byte, ``-1`` for EOS ids and tokens without bytes (shared).
    parts : tuple of numpy.ndarray
        Disjoint read-only id arrays (one per depth of the rejected token's bytes), cached by the compiled grammar:
        the same object comes back for the same prefix and threads, so a sampler may skip a part it has applied.
    """

    ids: np.ndarray
    first_allowed: np.ndarray | None = None
    first_byte: np.ndarray | None = None
    parts: tuple = ()

    def all_ids(self) -> np.ndarray:
        """Every id of the group (sorted, distinct)."""
        ids = np.concatenate([self.ids, *self.parts]) if self.parts else self.ids
        if self.first_allowed is not None:
            fb = self.first_byte
            dead = np.flatnonzero((fb >= 0) & ~self.first_allowed[np.maximum(fb, 0)])
            ids = np.concatenate([ids, dead])
        return np.unique(ids)
