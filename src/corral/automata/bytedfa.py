"""The byte-level DFA and the table algorithms it is built with.

A :class:`ByteDFA` reads bytes.  Its transition table has one row per state and one column per byte value; ``-1``
is the (implicit) dead state.  State 0 is the start state.  Every state is live (some accepting state is reachable
from it), except for the empty language, which is one non-accepting state with every transition ``-1``.

* :func:`minimize_tables` prunes dead and unreachable states and minimises (Moore partition refinement,
  :func:`refine_partition`, vectorised with numpy or native);
* :func:`canonical_tables` renumbers states in breadth-first order, so equal minimal DFAs get equal tables.

The documented import path is :mod:`corral.automata.dfa`, which imports these names from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from corral.budget import checkpoint

__all__ = ["ByteDFA", "empty_tables", "live_states", "minimize_tables", "canonical_tables", "refine_partition",
           "refine_partition_py", "clear_caches"]


@dataclass(frozen=True, eq=False)
class ByteDFA:
    """A deterministic automaton over bytes, stored as dense tables.

    Parameters
    ----------
    transitions : numpy.ndarray
        ``int32`` array of shape ``[n_states, 256]``; ``transitions[s, b]`` is the next state, ``-1`` for dead.
    accepting : numpy.ndarray
        ``bool`` array of shape ``[n_states]``.
    pattern : str
        The source regex (for messages and cache keys).

    Notes
    -----
    State 0 is the start state.  Every state is live, except that the empty language is represented by exactly
    one non-accepting state with every transition ``-1``.  DFAs built by this package are minimal and numbered in
    breadth-first order, so two DFAs for the same language have identical tables.  Instances compare by identity;
    the arrays are read-only.
    """

    transitions: np.ndarray
    accepting: np.ndarray
    pattern: str

    def __post_init__(self) -> None:
        t = np.ascontiguousarray(self.transitions, dtype=np.int32)
        a = np.ascontiguousarray(self.accepting, dtype=bool)
        if t.ndim != 2 or t.shape[1] != 256 or a.shape != (t.shape[0],) or t.shape[0] == 0:
            raise ValueError(f"bad ByteDFA tables: transitions {t.shape}, accepting {a.shape}")
        t.setflags(write=False)
        a.setflags(write=False)
        object.__setattr__(self, "transitions", t)
        object.__setattr__(self, "accepting", a)

    @classmethod
    def from_tables(
        cls, transitions: np.ndarray, accepting: np.ndarray, pattern: str = "", *, minimize: bool = True
    ) -> "ByteDFA":
        """Build a DFA from arbitrary tables, pruning dead states and (by default) minimising.

        Parameters
        ----------
        transitions : numpy.ndarray
            ``[n, 256]`` integer table, ``-1`` for dead; state 0 is the start.
        accepting : numpy.ndarray
            ``[n]`` booleans.
        pattern : str, optional
            Description stored on the result.
        minimize : bool, optional
            Minimise (Moore refinement) and renumber canonically; otherwise only prune and renumber.

        Returns
        -------
        ByteDFA
        """
        t, a = minimize_tables(np.asarray(transitions), np.asarray(accepting), minimize=minimize)
        return cls(t, a, pattern)

    @classmethod
    def empty(cls, pattern: str = "") -> "ByteDFA":
        """The DFA of the empty language (one non-accepting state, all transitions dead).

        Parameters
        ----------
        pattern : str, optional
            Description stored on the result.

        Returns
        -------
        ByteDFA
        """
        t, a = empty_tables()
        return cls(t, a, pattern)

    @property
    def n_states(self) -> int:
        """Number of states."""
        return int(self.transitions.shape[0])

    @property
    def is_empty(self) -> bool:
        """Whether the language is empty."""
        return self.n_states == 1 and not bool(self.accepting[0]) and bool((self.transitions[0] < 0).all())

    @property
    def matches_empty(self) -> bool:
        """Whether the empty string is in the language."""
        return bool(self.accepting[0])

    @cached_property
    def _rows(self) -> list[list[int]]:
        return self.transitions.tolist()

    @cached_property
    def _accepting_list(self) -> list[bool]:
        return self.accepting.tolist()

    def step(self, state: int, byte: int) -> int:
        """One transition.

        Parameters
        ----------
        state : int
            Current state (``-1`` stays dead).
        byte : int
            Byte value 0..255.

        Returns
        -------
        int
            Next state, ``-1`` if dead.
        """
        return -1 if state < 0 else self._rows[state][byte]

    def run(self, data: bytes, state: int = 0) -> int:
        """Feed ``data`` from ``state``.

        Parameters
        ----------
        data : bytes
            Input bytes.
        state : int, optional
            State to start from (default: the start state).

        Returns
        -------
        int
            The state reached, or ``-1`` if the automaton dies.
        """
        if state < 0:
            return -1
        rows = self._rows
        for b in data:
            state = rows[state][b]
            if state < 0:
                return -1
        return state

    def is_accepting(self, state: int) -> bool:
        """Whether ``state`` is accepting (``False`` for the dead state ``-1``).

        Parameters
        ----------
        state : int
            A state or ``-1``.

        Returns
        -------
        bool
        """
        return state >= 0 and self._accepting_list[state]

    def fullmatch(self, data: bytes) -> bool:
        """Whether ``data`` is in the language.

        Parameters
        ----------
        data : bytes
            Input bytes.

        Returns
        -------
        bool
        """
        return self.is_accepting(self.run(data))

    def live_bytes(self, state: int) -> np.ndarray:
        """Byte values with a (live) transition out of ``state``.

        Parameters
        ----------
        state : int
            A state.

        Returns
        -------
        numpy.ndarray
            Sorted ``int64`` array of byte values.
        """
        return np.flatnonzero(self.transitions[state] >= 0)

    def __repr__(self) -> str:
        return f"ByteDFA(pattern={self.pattern!r}, n_states={self.n_states})"


def empty_tables() -> tuple[np.ndarray, np.ndarray]:
    """Tables of the empty language.

    Returns
    -------
    tuple of numpy.ndarray
        ``int32 [1, 256]`` all ``-1`` and ``bool [1]`` ``False``.
    """
    return np.full((1, 256), -1, dtype=np.int32), np.zeros(1, dtype=bool)


@lru_cache(maxsize=256)
def _hash_multipliers(w: int) -> np.ndarray:
    """The fixed odd 64-bit multipliers that hash rows of width ``w`` (seeded by ``w``: the same in every process)."""
    rng = np.random.default_rng(0x5EED + w)
    return rng.integers(1, 2**62, size=w, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


def clear_caches() -> None:
    """Forget the cached row-hash multipliers (recomputed, identical, on the next use)."""
    _hash_multipliers.cache_clear()


def _unique_rows(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a 2-D integer array and, for each row, the index of its distinct row.

    Rows are hashed (64-bit multiply-add, fixed odd multipliers) and grouped by hash, which is much faster than
    ``numpy.unique(axis=0)``; a hash collision is detected and falls back to ``numpy.unique``.
    """
    n, w = a.shape
    if n == 0:
        return a.copy(), np.zeros(0, dtype=np.int64)
    mult = _hash_multipliers(w)
    h = np.zeros(n, dtype=np.uint64)
    for j in range(w):
        h += a[:, j].astype(np.int64).astype(np.uint64) * mult[j]
    _, first, inv = np.unique(h, return_index=True, return_inverse=True)
    inv = inv.reshape(-1)
    uniq = a[first]
    if not (uniq[inv] == a).all():  # pragma: no cover - 64-bit hash collision
        uniq, inv = np.unique(a, axis=0, return_inverse=True)
        inv = inv.reshape(-1)
    return uniq, inv


def refine_partition(t: np.ndarray, part: np.ndarray) -> np.ndarray:
    """Moore partition refinement: the coarsest partition refining ``part`` in which equal blocks have equal
    successor blocks on every column of ``t``.

    Parameters
    ----------
    t : numpy.ndarray
        int ``[n, w]`` transitions, ``-1`` for dead.
    part : numpy.ndarray
        int ``[n]`` initial blocks, ``-1`` for dead states (which stay ``-1``).

    Returns
    -------
    numpy.ndarray
        int64 ``[n]``: live blocks numbered ``0 .. k-1`` (the native module numbers them in order of first
        appearance; callers depend only on the partition, not on the numbering).
    """
    from corral.tokens import native

    if native.NATIVE:
        return native.refine_partition(t, part)
    return refine_partition_py(t, part)


def refine_partition_py(t: np.ndarray, part: np.ndarray) -> np.ndarray:
    """The numpy specification of :func:`refine_partition` (one vectorised ``_unique_rows`` per round)."""
    t = np.asarray(t, dtype=np.int64)
    part = np.asarray(part, dtype=np.int64)
    live = part >= 0
    count = len(np.unique(part[live]))
    while True:
        checkpoint()
        succ = np.where(t >= 0, part[np.maximum(t, 0)], -1)
        _, new = _unique_rows(np.concatenate([part[:, None], succ], axis=1))
        new = np.where(live, new.reshape(-1), -1)
        _, new_live = np.unique(new[live], return_inverse=True)
        new[live] = new_live.reshape(-1)
        k = int(new_live.max()) + 1 if new_live.size else 0
        part = new
        if k == count:
            return part
        count = k


def canonical_tables(transitions: np.ndarray, accepting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Renumber states breadth-first from state 0 (bytes in increasing order), dropping unreachable states.

    Parameters
    ----------
    transitions : numpy.ndarray
        ``[n, 256]`` integer table, ``-1`` for dead.
    accepting : numpy.ndarray
        ``[n]`` booleans.

    Returns
    -------
    tuple of numpy.ndarray
        The renumbered ``int32`` transitions and ``bool`` accepting arrays.
    """
    t = np.asarray(transitions, dtype=np.int64)
    n = t.shape[0]
    pos = np.full(n, -1, dtype=np.int64)
    pos[0] = 0
    found = [np.zeros(1, dtype=np.int64)]
    count = 1
    frontier = found[0]
    while len(frontier):
        checkpoint()
        # Level-synchronous BFS: new states in order of first appearance in the frontier's rows.
        tg = t[frontier].reshape(-1)
        tg = tg[tg >= 0]
        u, first = np.unique(tg, return_index=True)
        u = u[np.argsort(first)]
        u = u[pos[u] < 0]
        pos[u] = count + np.arange(len(u))
        count += len(u)
        found.append(u)
        frontier = u
    idx = np.concatenate(found)
    sub = t[idx]
    out = np.where(sub >= 0, pos[np.maximum(sub, 0)], -1).astype(np.int32)
    return out, np.asarray(accepting, dtype=bool)[idx].copy()


def live_states(t: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """bool ``[n]``: the states from which an accepting state is reachable (backward closure; ``-1`` is dead).

    A breadth-first search backwards over the edges, one vectorised step per layer: linear in the edges (a
    fixpoint over the whole table took one pass per layer, quadratic on a chain such as ``.*a{10000}``).
    """
    t = np.asarray(t)
    live = np.asarray(acc, dtype=bool).copy()
    n = live.shape[0]
    if n == 0:
        return live
    src, col = np.nonzero(t >= 0)
    dst = t[src, col]
    order = np.argsort(dst, kind="stable")
    preds = src[order]  # predecessors grouped by target state
    start = np.searchsorted(dst[order], np.arange(n + 1))
    frontier = np.flatnonzero(live)
    while frontier.size:
        checkpoint()
        lo, counts = start[frontier], start[frontier + 1] - start[frontier]
        total = int(counts.sum())
        if not total:
            break
        offsets = np.repeat(lo - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
        found = preds[np.arange(total) + offsets]
        frontier = np.unique(found[~live[found]])
        live[frontier] = True
    return live


#: States up to which :func:`minimize_tables` runs in C (a few milliseconds at most, so no budget checkpoint).
NATIVE_MINIMIZE_MAX = 16_384


def minimize_tables(
    transitions: np.ndarray, accepting: np.ndarray, *, minimize: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Prune unreachable and dead states, optionally minimise, and renumber canonically.

    Parameters
    ----------
    transitions : numpy.ndarray
        ``[n, 256]`` integer table, ``-1`` for dead; state 0 is the start.
    accepting : numpy.ndarray
        ``[n]`` booleans.
    minimize : bool, optional
        Merge equivalent states by Moore partition refinement (each round is one vectorised ``numpy.unique``).

    Returns
    -------
    tuple of numpy.ndarray
        ``int32 [m, 256]`` transitions and ``bool [m]`` accepting, satisfying the :class:`ByteDFA` invariants.
    """
    t = np.asarray(transitions, dtype=np.int64)
    acc = np.asarray(accepting, dtype=bool)
    n = t.shape[0]
    if minimize and 0 < n <= NATIVE_MINIMIZE_MAX and 0 < t.shape[1] <= 256:  # one C call (same tables);
        # larger tables keep the budget checkpoints of the numpy path
        from corral.tokens import native

        got = native.minimize_dfa(t, acc)
        if got is not None:
            return got
    return minimize_tables_py(t, acc, minimize=minimize)


def minimize_tables_py(transitions: np.ndarray, accepting: np.ndarray, *, minimize: bool = True):
    """:func:`minimize_tables` in numpy (the specification of :func:`corral.tokens.native.minimize_dfa`, and the
    path for large tables, with budget checkpoints)."""
    t = np.asarray(transitions, dtype=np.int64)
    acc = np.asarray(accepting, dtype=bool)
    n = t.shape[0]
    live = live_states(t, acc)
    if n == 0 or not live[0]:
        return empty_tables()
    t = np.where((t >= 0) & live[np.maximum(t, 0)], t, -1)
    if minimize:
        part = refine_partition(t, acc.astype(np.int64))
        n_blocks = int(part.max()) + 1
        # Quotient automaton: pick one representative per block.
        rep = np.full(n_blocks, -1, dtype=np.int64)
        rep[part[::-1]] = np.arange(n)[::-1]
        qt = t[rep]
        t = np.where(qt >= 0, part[np.maximum(qt, 0)], -1)
        acc = acc[rep]
        start_block = part[0]
        # Move the start block to index 0 before canonical renumbering.
        perm = np.arange(n_blocks)
        perm[[0, start_block]] = perm[[start_block, 0]]
        inv = np.argsort(perm)
        t = np.where(t[perm] >= 0, inv[np.maximum(t[perm], 0)], -1)
        acc = acc[perm]
    return canonical_tables(t, acc)


# --------------------------------------------------------------------------------------------------------------
# UTF-8 expansion of a character-level DFA
# --------------------------------------------------------------------------------------------------------------
