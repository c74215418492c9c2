"""Stepping :class:`~corral.runtime.matcher.CompiledGrammar` states byte by byte in Python (the executable
specification the compiled engine follows): :func:`run` feeds bytes to a state's lexeme threads and Earley
columns, :func:`viable` tells whether some thread survives them without building the states it passes.

Each byte steps every thread's DFA; a thread whose DFA accepts may end its lexeme, which scans the terminal in its
origin columns (:meth:`~corral.runtime.earley.Column.after`; the origins themselves, possibly guarded, for an
ignored terminal) and starts new threads for every terminal the new columns expect (their ``seeds``).
"""

from __future__ import annotations

from corral.runtime.states import _State

__all__ = ["feed", "run", "viable"]


def feed(threads: dict, here, data: bytes, step, trace: list | None = None) -> tuple[dict, object, int]:
    """Feed ``data`` byte by byte through ``step(threads, byte) -> (threads, here)``: ``(threads, here, n)`` after
    it, ``n`` the length of the shortest prefix after which no lexeme thread is left (no byte can follow it), or
    ``-1`` if threads survive all of ``data`` (it stops early once neither threads nor ended lexemes are left). With
    ``trace``, the threads after each byte are appended to it. Shared by the plain and the indentation-aware
    grammars."""
    dead_at = -1
    for i, b in enumerate(data):
        threads, here = step(threads, b)
        if trace is not None:
            trace.append(threads)
        if not threads:
            if dead_at < 0:
                dead_at = i + 1
            if not here:
                break
    return threads, here, dead_at


def run(g, state: _State, data: bytes, parent=None, token=None, trace: list | None = None) -> tuple[_State, int]:
    """``(state after data, n)`` (:func:`feed`'s ``n``); with ``trace``, the lexeme threads after each byte."""
    threads, here, dead_at = feed(state.threads, state.here, data, lambda t, b: _step(g, t, b), trace)
    return _State(threads, here, parent, token), dead_at


def _step(g, threads: dict, b: int) -> tuple[dict, frozenset]:
    """The lexeme threads after the byte ``b``, and the columns where a lexeme ended at it (whose expected
    terminals start new threads)."""
    n_t = g.n_terminals
    new: dict = {}
    here_set: set = set()
    for (t, s), origins in threads.items():
        s2 = g._trans[t][s][b]
        if s2 < 0:
            continue
        cur = new.get((t, s2))
        new[(t, s2)] = origins if cur is None else cur | origins
        if g._acc[t][s2]:
            if t >= n_t:
                here_set.update(g.tables.after_ignored(t, origins))
            else:
                here_set.update(o.after(t) for o in origins)
    here = frozenset(here_set)
    for c in here:
        base = c.base
        for key in c.seeds:
            cur = new.get(key)
            new[key] = frozenset([base]) if cur is None else cur | {base}
    return new, here


def viable(g, state: _State, data: bytes) -> bool:
    """``g._feed(state, data).viable`` for non-empty ``data``, without building the state when no lexeme can end
    inside ``data``: the threads' DFAs are stepped alone, and the first accepting DFA state (where the parser would
    step in) hands over to ``g._feed`` from the start."""
    trans, acc = g._trans, g._acc
    live = [(trans[t], acc[t], s) for t, s in state.threads]
    for b in data:
        nxt = []
        for tr, ac, s in live:
            s2 = tr[s][b]
            if s2 >= 0:
                if ac[s2]:
                    return g._feed(state, data).viable
                nxt.append((tr, ac, s2))
        if not nxt:
            return False
        live = nxt
    return True
