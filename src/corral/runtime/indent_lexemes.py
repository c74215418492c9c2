"""Maximal lexemes of a grammar with an indentation post-lexer: where they may end, and the newline's indentation.

With an indentation post-lexer, the newline terminal and the ignored terminals follow lark's lexer: a lexeme of
them is *maximal*, ending only before a byte its DFA cannot take (or at the end of the text), so a newline lexeme
takes all the indentation after it; and the newline terminal goes first, so an ignored lexeme never starts with a
byte a newline lexeme can start with (:func:`without_newline_starts`: python.lark's comments are newline lexemes,
as lark lexes them, and one at the very end of the text fails as it does in lark). A newline lexeme also carries its
indentation: the columns after its last line break (a space counts 1, a tab ``tab_len``, anything else 0, as
lark's ``Indenter`` counts them), or ``-1`` while it has no line break.

:func:`step_width` updates the indentation per byte (the matcher's byte loop); :func:`run_maximal` runs a DFA and
the indentation over many token remainders at once (the mask), and :func:`maximal_ends` caches, per terminal and
DFA state, the tokens that end a lexeme strictly inside them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["IGNORED", "step_width", "MaximalRun", "run_maximal", "maximal_ends", "resolve_widths",
           "without_newline_starts"]

IGNORED = -2  # the width of a newline lexeme inside brackets (dropped, its indentation is never used)


def step_width(width: int, byte: int, tab_len: int) -> int:
    """The indentation after one more byte of a newline lexeme (``-1``: no line break yet; :data:`IGNORED`)."""
    if width == IGNORED:
        return width
    if byte == 10:
        return 0
    if width < 0:
        return width
    return width + (1 if byte == 32 else tab_len if byte == 9 else 0)


class MaximalRun(NamedTuple):
    """What :func:`run_maximal` found: the remainders alive at their last byte, and the maximal lexeme ends.

    ``ends``, ``offsets``: positions (into the inputs) and offsets of the ends; ``seen``: whether the lexeme
    took a line break inside the remainder; ``width``: the columns after it (after the start if not ``seen``).
    """

    alive: np.ndarray
    ends: np.ndarray
    offsets: np.ndarray
    seen: np.ndarray
    width: np.ndarray


def run_maximal(trans, acc, bm, lengths, ids, offs, state: int, tab_len: int) -> MaximalRun:
    """Run a DFA from ``state`` over the remainders ``token[offs:]`` of ``ids``, tracking the indentation.

    A lexeme may end before byte ``p`` (``p > offs``) when the DFA accepts after ``p`` bytes and cannot take byte
    ``p``; a remainder that stays alive to its last byte is ``alive`` (the lexeme goes on into the next token).
    """
    n = len(ids)
    alive = np.zeros(n, dtype=bool)
    pos = np.arange(n)
    tok, off, st = ids, offs.copy(), np.full(n, state, dtype=np.int32)
    seen, width = np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    parts: list = []
    first = True
    while tok.size:
        b = bm[tok, off]
        nxt = trans[st, b]
        if not first:
            end = acc[st] & (nxt < 0)
            if end.any():
                parts.append((pos[end], off[end], seen[end], width[end]))
        first = False
        ok = nxt >= 0
        tok, off, pos, seen, width, b, st = tok[ok], off[ok], pos[ok], seen[ok], width[ok], b[ok], nxt[ok]
        brk = b == 10
        seen = seen | brk
        width = np.where(brk, 0, width + (b == 32) + tab_len * (b == 9))
        off = off + 1
        fin = off == lengths[tok]
        if fin.any():
            alive[pos[fin]] = True
            keep = ~fin
            tok, off, pos, seen, width, st = tok[keep], off[keep], pos[keep], seen[keep], width[keep], st[keep]
    if parts:
        cols = [np.concatenate(c) for c in zip(*parts)]
        return MaximalRun(alive, *cols)
    empty = np.zeros(0, dtype=np.int64)
    return MaximalRun(alive, empty, empty, np.zeros(0, dtype=bool), empty)


def resolve_widths(run: MaximalRun, width: int) -> np.ndarray:
    """The indentation at each end of ``run`` for a lexeme whose indentation was ``width`` where the run started."""
    if width == IGNORED:
        return np.full(run.ends.size, IGNORED, dtype=np.int64)
    before = run.width + width if width >= 0 else np.full(run.ends.size, -1, dtype=np.int64)
    return np.where(run.seen, run.width, before)


def maximal_ends(index, cache: dict, t: int, state: int, tab_len: int) -> tuple[np.ndarray, MaximalRun]:
    """``(ids, run)``: :func:`run_maximal` of terminal ``t`` from DFA ``state`` over the tokens whose first byte it
    can take, from offset 0, and the token id of each end (memoised in ``cache`` per ``(t, state)``)."""
    got = cache.get((t, state))
    if got is None:
        va = index._va
        live = np.nonzero(index._trans[t][state] >= 0)[0]
        parts = [va.by_first[va.first_starts[b]:va.first_starts[b + 1]] for b in live]
        ids = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        run = run_maximal(index._trans[t], index._acc[t], index.bm, index.lengths, ids,
                          np.zeros(ids.size, dtype=np.int64), state, tab_len)
        got = cache[(t, state)] = (ids[run.ends], run)
    return got


def without_newline_starts(dfa, newline):
    """``dfa`` (an ignored terminal's) without the lexemes whose first byte ``newline``'s DFA can take: a copy of
    its start state, with those bytes cut, becomes the start (``None`` when no lexeme is left)."""
    from corral.automata.bytedfa import ByteDFA

    t = np.asarray(dfa.transitions)
    n = t.shape[0]
    moved = np.where(t == 0, n, t)  # the old start, reached again, is the unrestricted copy at ``n``
    start = np.where(np.asarray(newline.transitions)[0] >= 0, -1, moved[0])
    table = np.vstack([start[None, :], moved[1:], moved[:1]])
    acc = np.concatenate([dfa.accepting[:1], dfa.accepting[1:], dfa.accepting[:1]])
    out = ByteDFA.from_tables(table, acc, dfa.pattern)
    return None if out.is_empty else out
