"""Masks of :class:`~corral.runtime.matcher.CompiledGrammar` states in Python (the executable specification the
compiled engine follows), and the steps :mod:`corral.runtime.indent_masks` shares with it.

For each lexeme thread of a state, the tokens that keep it alive to their last byte are allowed (the table's
``inside``); a token that ends the lexeme after ``p`` bytes is allowed iff its remainder ``token[p:]`` is viable at
the boundary state after the lexeme. When the remainder is itself a token, that is one bit of the boundary's mask:
for large groups (whitespace followed by a word, a quote followed by punctuation) the boundary mask is computed
once (and cached: it is often the very next state) instead of exploring tens of thousands of remainders
(:func:`allow_remainders`). Boundary masks are computed at depth 1 with plain exploration, so this never chains
along the grammar. A state that is its own boundary (an ignored lexeme) resolves by fixpoint (:func:`settle`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fill_mask", "allow_remainders", "settle"]


def fill_mask(g, state, m: np.ndarray, depth: int) -> None:
    """Fill the bool mask ``m`` with the tokens allowed at ``state`` of the compiled grammar ``g`` (see the module
    docstring); ``depth`` is the recursion depth of boundary masks."""
    deferred: list = []
    for (t, s), origins in state.threads.items():
        tab = g.index.table(t, s)
        tab.add_inside(m)
        if tab.end_ids.size:
            _lexeme_ends(g, state, t, s, origins, tab, m, depth, deferred)
    settle(g, state, m, deferred)


def _lexeme_ends(g, state, t: int, s: int, origins, tab, m: np.ndarray, depth: int, deferred: list) -> None:
    """Allow the tokens that end the lexeme of thread ``(t, s)`` and whose remainder is viable after it: by the
    boundary's mask for an ignored lexeme or a large group at depth 0, else by exploring the remainders (for a
    large group, only those whose first byte can start a lexeme at the boundary)."""
    ends = tab.end_ids
    nxt = None
    if t >= g.n_terminals or (depth == 0 and ends.size >= g._REUSE_MIN_ENDS):
        nxt = _after(g, t, origins)
        sel = _reuse_boundary(g, state, t, s, nxt, ends, m, depth, deferred)
    elif ends.size >= g._REUSE_MIN_ENDS:
        # Plain exploration of a large group: only remainders whose first byte can start a lexeme at the
        # boundary (the same filter explore() applies per terminal, but from cached buckets).
        nxt = _after(g, t, origins)
        sel = _startable(g, g._boundary(nxt), g.index.end_buckets(t, s), ends, m)
    else:
        sel = ~m[ends]
    if sel.any():
        ids = ends[sel]
        if nxt is None:
            nxt = _after(g, t, origins)
        ok = g.index.explore(nxt, ids, tab.end_offsets[sel], g.ignore_ids, unique=True)
        m[ids[ok]] = True


def _after(g, t: int, origins) -> frozenset:
    """The boundary columns after a lexeme of ``t`` that started in the columns ``origins``."""
    if t >= g.n_terminals:
        return g.tables.after_ignored(t, origins)
    return frozenset(o.after(t) for o in origins)


def _reuse_boundary(g, state, t: int, s: int, nxt: frozenset, ends: np.ndarray, m: np.ndarray, depth: int,
                    deferred: list) -> np.ndarray:
    """Allow the ends of thread ``(t, s)`` whose remainder is a token allowed at the boundary ``nxt``; the ends
    left to explore (a bool selection of ``ends``): the other remainders can only survive if their first byte can
    start a lexeme at the boundary."""
    rem = g.index.remainder_ids(t, s)
    boundary = g._boundary(nxt)
    allow_remainders(g, state, m, ends, rem, boundary, depth, deferred)
    return _startable(g, boundary, g.index.unmatched_buckets(t, s), ends, m)


def _startable(g, boundary, buckets: tuple, ends: np.ndarray, m: np.ndarray) -> np.ndarray:
    """bool over ``ends``: not yet allowed, and in a bucket (``(positions, starts)`` by the remainder's first
    byte) of a byte that can start a lexeme at ``boundary``."""
    pos, starts = buckets
    live = np.nonzero(g.index.first_bytes({k[0] for k in boundary.threads}))[0]
    cand = np.concatenate([pos[starts[b]:starts[b + 1]] for b in live]) if live.size else pos[:0]
    sel = np.zeros(ends.size, dtype=bool)
    sel[cand] = True
    sel &= ~m[ends]
    return sel


def allow_remainders(g, state, m: np.ndarray, ids: np.ndarray, rem: np.ndarray, boundary, depth: int,
                     deferred: list) -> np.ndarray:
    """Allow the tokens ``ids`` whose remainder is the token ``rem`` (``-1``: not a token) allowed at the state
    ``boundary``: one bit of its (cached) mask, or, where ``state`` is its own boundary, a pair deferred to
    :func:`settle`. Returns the bool selection of ``ids`` whose remainder is a token."""
    has = rem >= 0
    if boundary.key == state.key:
        deferred.append((ids[has], rem[has]))
    else:
        words, r = g._packed(boundary, depth + 1), rem[has]
        m[ids[has][((words[r >> 5] >> (r & 31)) & 1).astype(bool)]] = True
    return has


def settle(g, state, m: np.ndarray, deferred: list) -> None:
    """Finish the mask ``m`` of ``state``: the ``deferred`` pairs of :func:`allow_remainders` (the state is its own
    boundary: a token whose remainder is a shorter token is allowed iff that token is) iterated to the least
    fixpoint (one or two rounds in practice), then EOS where the text is complete."""
    changed = bool(deferred)
    while changed:
        changed = False
        for ids, rem in deferred:
            add = ids[m[rem] & ~m[ids]]
            if add.size:
                m[add] = True
                changed = True
    if state.complete and g.eos_ids.size:
        m[g.eos_ids] = True
