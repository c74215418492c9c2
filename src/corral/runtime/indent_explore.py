"""Token remainders after a lexeme boundary, for a grammar with an indentation post-lexer.

:func:`explore` is :meth:`corral.tokens.index.TokenIndex.explore` over :class:`~corral.runtime.indent_configs.Config`
sets: the ordinary terminals run as there, and the lexemes of the maximal terminals (newline, ignored) end only
where the next byte stops them, a newline's end going on from the config its indentation leads to
(:mod:`corral.runtime.indent_lexemes`).
"""

from __future__ import annotations

import numpy as np

from corral.runtime.indent_lexemes import resolve_widths, run_maximal
from corral.tokens import native

__all__ = ["explore"]


def explore(g, configs, ids: np.ndarray, offs: np.ndarray, *, unique: bool = False) -> np.ndarray:
    """bool ``[len(ids)]``: whether each remainder ``token[offs:]`` keeps the text completable after a lexeme
    boundary at ``configs`` (a set of configs of the indented grammar ``g``)."""
    index = g.index
    if not unique and len(ids) > 1:
        width = index.bm.shape[1]
        codes = ids * width + offs
        uniq, inverse = np.unique(codes, return_inverse=True)
        if len(uniq) < len(codes):
            return explore(g, configs, uniq // width, uniq % width, unique=True)[inverse]
    viable = np.zeros(len(ids), dtype=bool)
    seeds, groups, rows = _by_seed(g, configs)
    hits = rows[:, index.bm[ids, offs]]  # [seed, remainder]: its first byte can start the seed's lexeme
    for k in np.flatnonzero(hits.any(axis=1)).tolist():
        todo = np.flatnonzero(hits[k] & ~viable)
        if not todo.size:
            continue
        (t, start), tcols = seeds[k], groups[k]
        if t in g.space.maximal:
            _explore_maximal(g, t, start, tcols, ids, offs, todo, viable)
        else:
            _explore_terminal(g, t, start, tcols, ids, offs, todo, viable)
    return viable


def _by_seed(g, configs: frozenset) -> tuple[list, list, np.ndarray]:
    """The threads ``(terminal, start state)`` that may start at ``configs``, for each the (unguarded) configs it
    starts from, and bool ``[thread, 256]``: the bytes it can start with (memoised per config set)."""
    space = g.space
    got = space.seed_groups.get(configs)
    if got is not None:
        return got
    by_seed: dict = {}
    for c in configs:
        for key in c.seeds:
            by_seed.setdefault(key, []).append(c.base)
        key = c.newline_seed
        if key is not None:
            by_seed.setdefault(key, []).append(c.base)
    seeds = list(by_seed)
    rows = np.array([g.index._trans[t][s] >= 0 for t, s in seeds], dtype=bool).reshape(len(seeds), 256)
    if len(space.seed_groups) >= 4096:
        space.seed_groups.clear()
    got = space.seed_groups[configs] = (seeds, [by_seed[k] for k in seeds], rows)
    return got


def _explore_terminal(g, t, start, tcols, ids, offs, todo, viable) -> None:
    """Run terminal ``t`` from ``start`` over the remainders ``todo``; mark the viable ones (recursing at lexeme
    ends)."""
    index = g.index
    if native.NATIVE:
        e_pos, e_offs = native.run_suffixes(index._trans[t], index._acc8[t], index.bm, index.lengths, ids[todo],
                                            offs[todo], todo, start, viable)
    else:
        e_pos, e_offs = index._run(index._trans[t], index._acc[t], ids[todo], offs[todo], start, viable_out=viable,
                                   pos_map=todo)
    keep = ~viable[e_pos]
    e_pos, e_offs = e_pos[keep], e_offs[keep]
    if not e_pos.size:
        return
    nxt = frozenset(c for c in (o.after(t) for o in tcols) if c is not None)
    if nxt:
        viable[e_pos[explore(g, nxt, ids[e_pos], e_offs)]] = True


def _explore_maximal(g, t, start, tcols, ids, offs, todo, viable) -> None:
    """Run the maximal terminal ``t`` from ``start`` over the remainders ``todo`` (fresh lexemes); at each end,
    go on from the configs after it (for the newline, those its indentation leads to)."""
    index = g.index
    run = run_maximal(index._trans[t], index._acc[t], index.bm, index.lengths, ids[todo], offs[todo], start,
                      g.space.spec.tab_len)
    viable[todo[run.alive]] = True
    if not run.ends.size:
        return
    pos = todo[run.ends]
    if t != g.space.newline:
        groups = [(np.ones(pos.size, dtype=bool), frozenset(c.after_ignored(t) for c in tcols))]
    else:
        widths = resolve_widths(run, -1)  # fresh lexemes: no line break before the remainder
        groups = [(widths == w, frozenset(c for c in (o.after_newline(w) for o in tcols) if c is not None))
                  for w in np.unique(widths).tolist()]
    for sel, nxt in groups:
        sel = sel & ~viable[pos]
        if nxt and sel.any():
            p = pos[sel]
            viable[p[explore(g, nxt, ids[p], run.offsets[sel])]] = True
