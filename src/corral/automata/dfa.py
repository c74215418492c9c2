"""Byte-level deterministic finite automata: the UTF-8 expansion of character-level DFAs, and the public home of
the DFA API.

The automaton itself, :class:`ByteDFA`, and its table algorithms (:func:`minimize_tables`,
:func:`canonical_tables`) live in :mod:`corral.automata.bytedfa`; the operations on DFAs (products, conversion to a
regex, concatenation with literals) live in :mod:`corral.automata.operations`. Both are imported here because
``corral.automata.dfa`` is where docs/INTERFACES.md documents them (``from corral.automata.dfa import
dfa_intersection`` works).

This module holds the character-to-byte step used by :mod:`corral.automata.regex` (code-point sets and the
partition of code points into classes live in :mod:`corral.automata.charsets`):

* ``_minimize_small`` prunes and minimises a class-level DFA;
* :func:`utf8_expand` turns a character-level DFA (transitions labelled by classes of code points) into a
  byte-level DFA over well-formed UTF-8, sharing equal mid-character states (so a minimal character DFA gives a
  minimal byte DFA).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from corral.automata.bytedfa import (
    ByteDFA,
    live_states,
    _unique_rows,
    canonical_tables,
    empty_tables,
    minimize_tables,
    refine_partition,
)
from corral.automata.operations import (
    char_transitions,
    dfa_between,
    dfa_difference,
    dfa_intersection,
    dfa_product,
    dfa_to_regex,
    dfa_union,
    has_top_level_alternation,
)
from corral.budget import checkpoint

__all__ = ["ByteDFA", "empty_tables", "utf8_expand", "minimize_tables", "canonical_tables", "dfa_product",
           "dfa_intersection", "dfa_union", "dfa_difference", "char_transitions", "dfa_to_regex", "dfa_between",
           "has_top_level_alternation"]


_MAX_EXPAND_CELLS = 1 << 27  # refuse expansions needing more than 512 MiB of int32 rows
_SPACE = 5 << 18  # code points 0..0x13FFFF: five 4-byte lead blocks (those above 0x10FFFF are never valid)


def _intern_rows(rows: np.ndarray, base: int) -> tuple[np.ndarray, np.ndarray]:
    """Give equal rows one id (``base``, ``base + 1``, ...) and all-dead rows ``-1``.

    Returns the ids (one per input row) and the distinct live rows.
    """
    flat = rows.reshape(-1, rows.shape[-1])
    alive = (flat >= 0).any(axis=1)
    ids = np.full(flat.shape[0], -1, dtype=np.int32)
    if not alive.any():
        return ids.reshape(rows.shape[:-1]), np.zeros((0, rows.shape[-1]), dtype=np.int64)
    uniq, inv = _unique_rows(flat[alive])
    ids[alive] = base + inv.reshape(-1)
    return ids.reshape(rows.shape[:-1]), uniq


def _descriptors(children: np.ndarray, n_uniform: int) -> tuple[np.ndarray, np.ndarray]:
    """Describe 64-child blocks: a uniform class ``c < n_uniform`` or ``n_uniform + k`` for signature ``k``."""
    uni = (children == children[:, :1]).all(axis=1) & (children[:, 0] < n_uniform)
    desc = children[:, 0].copy()
    sigs = np.zeros((0, 64), dtype=children.dtype)
    if (~uni).any():
        sigs, inv = _unique_rows(children[~uni])
        desc[~uni] = n_uniform + inv.reshape(-1)
    return desc, sigs


def _class_segments(class_ranges: Sequence[Sequence[tuple[int, int]]], none: int) -> tuple[np.ndarray, np.ndarray]:
    """Segments ``[seg_start[i], seg_start[i+1])`` of constant class covering the code points from 0 (the gaps
    between the classes get the pseudo-class ``none``)."""
    los, his, cs = [], [], []
    for c, ranges in enumerate(class_ranges):
        for lo, hi in ranges:
            los.append(lo)
            his.append(hi)
            cs.append(c)
    order = np.argsort(np.asarray(los, dtype=np.int64), kind="stable")
    lo_a = np.asarray(los, dtype=np.int64)[order]
    hi_a = np.asarray(his, dtype=np.int64)[order] + 1
    c_a = np.asarray(cs, dtype=np.int64)[order]
    gap_starts = np.concatenate([[0], hi_a])
    seg_start = np.concatenate([gap_starts, lo_a])
    seg_class = np.concatenate([np.full(len(gap_starts), none), c_a])
    # Sort; at equal starts a class segment (later in the concatenation) wins over a gap.
    key = np.lexsort((np.arange(len(seg_start)), seg_start))
    seg_start, seg_class = seg_start[key], seg_class[key]
    last = np.concatenate([seg_start[1:] != seg_start[:-1], [True]])
    return seg_start[last], seg_class[last]


def utf8_expand(
    class_ranges: Sequence[Sequence[tuple[int, int]]], class_targets: np.ndarray, accepting: Sequence[bool]
) -> tuple[np.ndarray, np.ndarray]:
    """Expand a character-level DFA into a byte-level DFA over well-formed UTF-8.

    Parameters
    ----------
    class_ranges : sequence of sequences of (int, int)
        ``K`` disjoint character classes, each a list of inclusive code-point ranges of Unicode scalar values
        (no surrogates, nothing above U+10FFFF).
    class_targets : numpy.ndarray
        ``[Q, K]`` integer table: the character state reached from state ``q`` on class ``c``, ``-1`` for none.
        State 0 is the start state.
    accepting : sequence of bool
        Accepting flags of the ``Q`` character states.

    Returns
    -------
    tuple of numpy.ndarray
        ``int32 [m, 256]`` transitions and ``bool [m]`` accepting.  Character state ``q`` becomes byte state ``q``;
        mid-character states follow (some may be unreachable: renumber with :func:`canonical_tables`).  Equal
        mid-character states are shared, so if the character DFA is minimal and every state is live, the
        reachable part of the result is minimal and every state is live.

    Notes
    -----
    Works on the aligned blocks of 64, 4096 and 262144 code points that share their leading UTF-8 bytes (the
    "UTF-8 ranges" idea): blocks inside one class are described by that class, and only blocks that mix classes
    are expanded, all at once for every state with numpy, so large classes such as ``.`` or ``\\w`` stay cheap.
    """
    targets = np.asarray(class_targets, dtype=np.int64)
    n_q, n_k = targets.shape
    none = n_k  # pseudo-class of code points in no class
    seg_start, seg_class = _class_segments(class_ranges, none)

    def class_at(x: np.ndarray) -> np.ndarray:
        return seg_class[np.searchsorted(seg_start, x, side="right") - 1]

    tq = np.concatenate([targets, np.full((n_q, 1), -1, dtype=np.int64)], axis=1).astype(np.int32)  # [Q, K + 1]
    n_uni = n_k + 1
    # Level 1: blocks of 64 code points (one continuation byte left).
    blocks = np.arange(_SPACE >> 6, dtype=np.int64)
    d1 = class_at(blocks << 6)
    mixed = np.unique(seg_start[(seg_start & 63) != 0] >> 6)
    mixed = mixed[mixed < len(blocks)]
    sig1 = np.zeros((0, 64), dtype=np.int64)
    if len(mixed):
        sig1, inv = _unique_rows(class_at((mixed[:, None] << 6) + np.arange(64)))
        d1[mixed] = n_uni + inv.reshape(-1)
    if n_q * (n_uni + len(sig1)) * 64 > _MAX_EXPAND_CELLS:
        raise MemoryError(f"UTF-8 expansion too large: {n_q} states x {n_uni + len(sig1)} blocks")
    checkpoint()
    rows1 = np.concatenate([np.repeat(tq[:, :, None], 64, axis=2), tq[:, sig1]], axis=1)  # [Q, D1, 64]
    id1, uniq1 = _intern_rows(rows1, n_q)
    del rows1
    checkpoint()
    # Level 2: blocks of 4096 (two continuation bytes left); lead E0 must not encode code points below U+0800.
    ch2 = d1.reshape(-1, 64).copy()
    ch2[0, :32] = none
    d2, sig2 = _descriptors(ch2, n_uni)
    rows2 = np.concatenate([np.repeat(id1[:, :n_uni, None], 64, axis=2), id1[:, sig2]], axis=1)
    id2, uniq2 = _intern_rows(rows2, n_q + len(uniq1))
    del rows2
    checkpoint()
    # Level 3: blocks of 262144; lead F0 must not encode code points below U+10000.
    ch3 = d2.reshape(-1, 64).copy()
    ch3[0, :16] = none
    d3, sig3 = _descriptors(ch3, n_uni)
    rows3 = np.concatenate([np.repeat(id2[:, :n_uni, None], 64, axis=2), id2[:, sig3]], axis=1)
    id3, uniq3 = _intern_rows(rows3, n_q + len(uniq1) + len(uniq2))
    del rows3
    checkpoint()
    # Rows of the character states: ASCII bytes and lead bytes.
    top = np.full((n_q, 256), -1, dtype=np.int64)
    top[:, :0x80] = tq[:, class_at(np.arange(0x80))]
    top[:, 0xC2:0xE0] = id1[:, d1[0x02:0x20]]
    top[:, 0xE0:0xF0] = id2[:, d2[0x00:0x10]]
    top[:, 0xF0:0xF5] = id3[:, d3[0x00:0x05]]
    mids = [u for u in (uniq1, uniq2, uniq3) if len(u)]
    table = np.full((n_q + sum(len(u) for u in mids), 256), -1, dtype=np.int64)
    table[:n_q] = top
    if mids:
        table[n_q:, 0x80:0xC0] = np.concatenate(mids)
    acc = np.zeros(table.shape[0], dtype=bool)
    acc[:n_q] = np.asarray(accepting, dtype=bool)
    return table.astype(np.int32), acc


# --------------------------------------------------------------------------------------------------------------
# Character-level DFAs
# --------------------------------------------------------------------------------------------------------------


def _minimize_small(t: np.ndarray, acc: np.ndarray):
    """Prune dead states and minimise a character DFA (Moore refinement); start state first. None if empty."""
    live = live_states(t, acc)
    if not live[0]:
        return None
    t = np.where((t >= 0) & live[np.maximum(t, 0)], t, -1)
    part = refine_partition(t, np.where(live, acc.astype(np.int64), -1))
    # Renumber live blocks with the start block first.
    blocks = list(dict.fromkeys([int(part[0])] + [int(b) for b in part if b >= 0]))
    num = {b: i for i, b in enumerate(blocks)}
    rep = {}
    for s, b in enumerate(part.tolist()):
        if b >= 0 and b not in rep:
            rep[b] = s
    qt = np.array([[num[int(part[x])] if x >= 0 else -1 for x in t[rep[b]].tolist()] for b in blocks])
    return qt.reshape(len(blocks), t.shape[1]), np.array([bool(acc[rep[b]]) for b in blocks])
