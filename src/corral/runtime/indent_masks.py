"""Masks of :class:`~corral.runtime.indented.IndentedGrammar` states: :mod:`corral.runtime.masks` with configs for
columns and maximal lexemes (:mod:`corral.runtime.indent_lexemes`), sharing its steps for remainders that are
whole tokens (:func:`~corral.runtime.masks.allow_remainders`) and the fixpoint (:func:`~corral.runtime.masks.settle`).

For each lexeme thread, the tokens that keep it alive to their last byte are allowed (the table's ``inside``); the
tokens that end it inside them are allowed when their remainder is, after the configs the end leads to. An ordinary
lexeme may end wherever its DFA accepts; a maximal one (newline, ignored) only where the next byte stops its DFA,
which may be right before the token (the thread accepts now: the boundary's mask, restricted to the first bytes the
DFA cannot take), or inside it (:func:`~corral.runtime.indent_lexemes.maximal_ends`, the newline's ends grouped by
the indentation they reach). Remainders that are whole tokens reuse the boundary's mask when the group is large (or
the lexeme is ignored, whose boundary is the same configs); the others are explored
(:func:`corral.runtime.indent_explore.explore`). At depth 0 the threads started at the state's own boundary
contribute that boundary's cached mask.
"""

from __future__ import annotations

import numpy as np

from corral.runtime.indent_explore import explore
from corral.runtime.indent_lexemes import maximal_ends, resolve_widths
from corral.runtime.masks import allow_remainders, settle
from corral.runtime.packed import unpack_mask

__all__ = ["fill_mask"]


def fill_mask(g, state, m: np.ndarray, depth: int) -> None:
    """Fill the bool mask ``m`` with the tokens allowed at ``state`` of the indented grammar ``g``."""
    deferred: list = []
    for (t, s), origins in _own_threads(g, state, m, depth).items():
        tab = g.index.table(t, s)
        tab.add_inside(m)
        if t in g.space.maximal:
            _maximal(g, state, t, s, origins, m, depth, deferred)
        elif tab.end_ids.size:
            nxt = frozenset(c for c in (o.after(t) for o in origins) if c is not None)
            if nxt:
                big = depth == 0 and tab.end_ids.size >= g._REUSE_MIN_ENDS
                _remainders(g, state, m, tab.end_ids, tab.end_offsets, nxt, depth, deferred, reuse=big)
    settle(g, state, m, deferred)


def _own_threads(g, state, m: np.ndarray, depth: int) -> dict:
    """The threads of ``state`` left to explore: at depth 0, those started at the boundary ``state.here``
    contribute that boundary's (cached) mask instead, often computed by the step before."""
    if depth or not state.here:
        return state.threads
    boundary = g._boundary(state.here)
    if boundary.key == state.key:
        return state.threads
    m |= unpack_mask(g._packed(boundary, depth + 1), g.size)
    own = {}
    for key, origins in state.threads.items():
        rest = origins - boundary.threads.get(key, frozenset())
        if rest:
            own[key] = rest
    return own


def _maximal(g, state, t: int, s: int, origins, m, depth, deferred) -> None:
    """Tokens that end the maximal lexeme of thread ``(t, s)``: right before their first byte, or inside them."""
    if g._acc[t][s]:
        nxt = frozenset(g.after_maximal(t, origins))
        if nxt:
            words = g._packed(g._boundary(nxt), depth + 1)
            stop = np.append(np.asarray(g.dfas[t].transitions[s]) < 0, False)
            m |= unpack_mask(words, g.size) & stop[_first_bytes(g)]
    ids, run = maximal_ends(g.index, g._ends_cache, t, s, g.space.spec.tab_len)
    if not ids.size:
        return
    reuse = depth == 0 or t != g.space.newline  # an ignored lexeme's boundary is its origins: no chain
    for sel, nxt in _end_groups(g, t, origins, run):
        if nxt:
            _remainders(g, state, m, ids[sel], run.offsets[sel], nxt, depth, deferred, reuse=reuse)


def _end_groups(g, t: int, origins, run):
    """``(selection of run's ends, configs after them)``: one group for an ignored terminal, one per (origin
    indentation, indentation reached) for the newline."""
    if t != g.space.newline:
        yield np.ones(run.ends.size, dtype=bool), frozenset(g.after_maximal(t, origins))
        return
    for w in {w for _, w in origins}:
        cols = [c for c, w2 in origins if w2 == w]
        widths = resolve_widths(run, w)
        for v in np.unique(widths).tolist():
            yield widths == v, frozenset(c for c in (o.after_newline(v) for o in cols) if c is not None)


def _remainders(g, state, m, ids, offs, nxt: frozenset, depth, deferred, *, reuse: bool) -> None:
    """Allow the tokens ``ids`` whose remainder after ``offs`` is allowed at the boundary ``nxt``."""
    if reuse:
        sfx, starts = g.index._va.suffix()
        rem = sfx[starts[ids] + offs].astype(np.int64)
        has = allow_remainders(g, state, m, ids, rem, g._boundary(nxt), depth, deferred)
        ids, offs = ids[~has], offs[~has]
    sel = ~m[ids]
    if sel.any():
        ids = ids[sel]
        m[ids[explore(g, nxt, ids, offs[sel])]] = True


def _first_bytes(g) -> np.ndarray:
    """int64 ``[size]``: each token's first byte, ``256`` for EOS ids and tokens without bytes (memoised)."""
    fb = getattr(g, "_first_bytes", None)
    if fb is None:
        from corral.runtime.groups import prefix_index
        fb = prefix_index(g)[2].astype(np.int64)
        fb[fb < 0] = 256
        g._first_bytes = fb
    return fb
