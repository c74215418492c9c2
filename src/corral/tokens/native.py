"""The per-vocabulary hot loops of the token index: compiled (``corral._native``, built from ``_native.c`` by
``pip install``) with the pure Python versions beside them as the executable specification.

* :func:`suffix_ids`: for every token and every offset in it, the id of the token spelling the rest of its bytes
  (``-1`` if none): a lexeme that ends inside a token leaves a remainder, and a remainder that is a token lets the
  mask reuse that token's bit of the next state's mask.
* :func:`class_groups`: tokens grouped by their sequence of byte classes (tokens a DFA cannot tell apart).
* :func:`copy_rows`: a batch of packed masks into one array, with the GIL released.
* :class:`Trie` and :func:`trie_table`: the vocabulary's token trie (built once per vocabulary), walked from a
  (terminal, DFA state) to give its token table; a dead branch is skipped whole.
* :func:`run_suffixes`: a DFA run over token remainders (which survive, where lexemes end inside them).
* :func:`determinize`: the subset construction of the regex compiler (specification:
  :func:`corral.automata.regex._determinize_py`).
* :func:`refine_partition`: Moore partition refinement, the core of DFA minimisation (its numpy specification is
  :func:`corral.automata.dfa.refine_partition_py`).
* :func:`column_classes`: the byte classes of a transition table (equal columns; specification:
  :func:`corral.tokens.index._byte_classes_py`).
* :func:`minimize_dfa`: pruning, minimisation and canonical numbering of a small byte DFA in one call
  (specification: the numpy path of :func:`corral.automata.bytedfa.minimize_tables`).

The Python specification of :func:`trie_table` and :func:`run_suffixes` is the numpy DFA run of
:mod:`corral.tokens.index` (``TokenIndex._run``), which the tests compare with them.

``NATIVE`` says whether the compiled module is in use; ``CORRAL_PURE_PYTHON=1`` in the environment forces the
Python versions (tests compare the two).
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["NATIVE", "suffix_ids", "suffix_ids_py", "class_groups", "class_groups_py", "copy_rows", "Trie", "Forest",
           "trie_table", "run_suffixes", "refine_partition", "column_classes", "minimize_dfa",
           "determinize"]

try:
    if os.environ.get("CORRAL_PURE_PYTHON", "") not in ("", "0"):
        raise ImportError("CORRAL_PURE_PYTHON is set")
    from corral import _native
except ImportError:  # pragma: no cover - the extension is built by every install
    _native = None

NATIVE = _native is not None


def suffix_starts(lengths: np.ndarray) -> np.ndarray:
    """int64 ``[V]``: where each token's run of suffix entries starts in :func:`suffix_ids`' output."""
    lengths = np.maximum(np.asarray(lengths, dtype=np.int64), 0)
    return np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) if lengths.size else lengths


def suffix_ids(bm: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The token id of every suffix of every token.

    Parameters
    ----------
    bm : numpy.ndarray
        uint8 ``[V, W]``: token bytes, zero padded.
    lengths : numpy.ndarray
        int64 ``[V]``: token lengths (0: not a candidate, never found).

    Returns
    -------
    (ids, starts)
        ``ids[starts[t] + o]`` (int32) is the smallest token id whose bytes are ``bm[t, o:lengths[t]]``, or -1,
        for ``0 <= o < lengths[t]``.
    """
    bm = np.ascontiguousarray(bm, dtype=np.uint8)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    starts = suffix_starts(lengths)
    out = np.empty(int(np.maximum(lengths, 0).sum()), dtype=np.int32)
    if _native is None:
        return suffix_ids_py(bm, lengths, starts, out), starts
    _native.suffix_ids(bm, lengths, starts, out)
    return out, starts


def suffix_ids_py(bm: np.ndarray, lengths: np.ndarray, starts: np.ndarray, out: np.ndarray) -> np.ndarray:
    """The specification of :func:`suffix_ids` (fills and returns ``out``)."""
    tb = [bm[t, : int(n)].tobytes() if n > 0 else None for t, n in enumerate(lengths.tolist())]
    ids: dict[bytes, int] = {}
    for t in range(len(tb) - 1, -1, -1):
        if tb[t] is not None:
            ids[tb[t]] = t
    for t, b in enumerate(tb):
        if b is not None:
            s = int(starts[t])
            out[s: s + len(b)] = [ids.get(b[o:], -1) for o in range(len(b))]
    return out


def class_groups(bm: np.ndarray, lengths: np.ndarray, order: np.ndarray, cls: np.ndarray) -> tuple[np.ndarray, int]:
    """Group the tokens ``order`` by their sequence of byte classes ``cls[bm[t, :lengths[t]]]``.

    Returns
    -------
    (groups, n)
        int64 ``groups[i]``: the group of ``order[i]``, numbered ``0 .. n-1`` in order of first appearance.
    """
    bm = np.ascontiguousarray(bm, dtype=np.uint8)
    lengths = np.ascontiguousarray(lengths, dtype=np.int64)
    order = np.ascontiguousarray(order, dtype=np.int64)
    cls = np.ascontiguousarray(cls, dtype=np.uint8)
    out = np.empty(len(order), dtype=np.int64)
    if _native is None:
        return class_groups_py(bm, lengths, order, cls, out)
    n = _native.class_groups(bm, lengths, order, cls, out)
    return out, int(n)


def class_groups_py(bm, lengths, order, cls, out) -> tuple[np.ndarray, int]:
    """The specification of :func:`class_groups` (fills ``out``)."""
    seen: dict[bytes, int] = {}
    table = cls.tobytes()
    for i, t in enumerate(order.tolist()):
        key = bm[t, : int(lengths[t])].tobytes().translate(table)
        out[i] = seen.setdefault(key, len(seen))
    return out, len(seen)


def copy_rows(rows, out: np.ndarray) -> np.ndarray:
    """``out[i] = rows[i]`` for int32 rows of ``out``'s width (GIL released with the native module)."""
    if _native is None:
        for i, r in enumerate(rows):
            out[i] = r
        return out
    _native.copy_rows(rows, out)
    return out


_FIRST_END_CAPACITY = 1 << 16
_NODE = np.dtype([("skip", "<i4"), ("lo", "<i4"), ("byte", "u1"), ("depth", "u1"), ("full", "u1"), ("kids", "u1")])


class Trie:
    """The token trie of a vocabulary in preorder (native module only; see ``trie_build`` in ``_native.c``).

    Parameters
    ----------
    bm : numpy.ndarray
        uint8 ``[V, W]`` token bytes.
    lengths : numpy.ndarray
        int64 ``[V]``.
    candidates : numpy.ndarray
        int64 ids of the tokens to index (length > 0).

    Attributes
    ----------
    ids : numpy.ndarray
        The candidates sorted by bytes. Node ``i`` covers ``ids[lo[i]:hi[i]]``.
    nbytes : int
        Resident size of the trie's arrays.
    """

    def __init__(self, bm: np.ndarray, lengths: np.ndarray, candidates: np.ndarray) -> None:
        if _native is None:  # pragma: no cover - callers check NATIVE
            raise RuntimeError("the token trie needs the native module")
        self.bm = np.ascontiguousarray(bm, dtype=np.uint8)
        self.lengths = np.ascontiguousarray(lengths, dtype=np.int64)
        self.ids = np.array(candidates, dtype=np.int64)
        cap = int(self.lengths[self.ids].sum()) if self.ids.size else 0
        arrays = [np.empty(cap, np.uint8)] + [np.empty(cap, np.int32) for _ in range(5)]
        m = _native.trie_build(self.bm, self.lengths, self.ids, *arrays)
        self.byte, self.depth, self.lo, self.hi, self.full, self.skip = (a[:m].copy() for a in arrays)
        self.size = int(self.bm.shape[0])
        self.max_ends = cap
        self.max_depth = int(self.depth.max()) if m else 0

    @property
    def nbytes(self) -> int:
        """Bytes held by the node arrays and the sorted ids."""
        arrays = (self.byte, self.depth, self.lo, self.hi, self.full, self.skip, self.ids)
        return sum(a.nbytes for a in arrays) + (self._records.nbytes if self._records is not None else 0)

    _records = None

    def records(self) -> np.ndarray | None:
        """The nodes as 12-byte records (fields ``skip``, ``lo`` (int32), ``byte``, ``depth``, ``full``, ``kids``
        (uint8; ``kids``: some token goes on below the node)), the layout ``corral._engine`` walks. ``None`` when
        a token is longer than 255 bytes or 256 tokens share their bytes (then the engine is not used)."""
        if self._records is None:
            if self.byte.size and (int(self.depth.max()) > 255 or int(self.full.max()) > 255):
                return None
            rec = np.zeros(self.byte.size, dtype=_NODE)
            rec["skip"], rec["lo"], rec["byte"] = self.skip, self.lo, self.byte
            rec["depth"], rec["full"], rec["kids"] = self.depth, self.full, self.hi > self.lo + self.full
            rec.flags.writeable = False
            self._records = rec
        return self._records

    @property
    def packed(self) -> np.ndarray | None:
        """:meth:`records` as bytes (uint8 ``[M * 12]``), or ``None``."""
        rec = self.records()
        return None if rec is None else rec.view(np.uint8)


class Forest:
    """The vocabulary as two tries in one array of packed nodes (:meth:`Trie.records`): the tokens of at most
    ``depth`` bytes (nodes ``[0, m_short)``), then the longer ones (nodes ``[m_short, m)``).

    A DFA state's table over the short tokens depends only on what the state does within ``depth`` bytes, so
    states that agree that far (the states of a long counted string, far from its end) share it; the long tokens
    (1,312 of llama3's 128k for ``depth=16``) are walked per state.

    Attributes
    ----------
    packed : numpy.ndarray or None
        uint8 ``[m * 12]``, or ``None`` when a trie does not pack (see :meth:`Trie.records`).
    ids : numpy.ndarray
        int64 token ids in node order (the short trie's, then the long trie's).
    m_short, m : int
        Node counts.
    depth : int
    """

    def __init__(self, bm: np.ndarray, lengths: np.ndarray, candidates: np.ndarray, depth: int = 16) -> None:
        lens = np.asarray(lengths)[candidates]
        short = Trie(bm, lengths, candidates[lens <= depth])
        long = Trie(bm, lengths, candidates[lens > depth])
        a, b = short.records(), long.records()
        self.depth = depth
        self.ids = np.concatenate([short.ids, long.ids])
        self.m_short, self.m = short.byte.size, short.byte.size + long.byte.size
        self.packed = None
        if a is not None and b is not None:
            b = b.copy()
            b["skip"] += self.m_short
            b["lo"] += short.ids.size
            rec = np.concatenate([a, b])
            self.packed = rec.view(np.uint8)
            self.packed.flags.writeable = False
        self.nbytes = self.ids.nbytes + (self.packed.nbytes if self.packed is not None else 0)


def trie_table(trie: Trie, trans: np.ndarray, acc: np.ndarray, state: int):
    """The token table of a DFA state (see :class:`corral.tokens.index.TokenTable`) by walking ``trie``.

    Returns
    -------
    (inside, end_ids, end_offsets)
        bool ``[V]``; int64 arrays of the lexeme ends (token, offset with bytes left), ordered by trie node.
    """
    trans = np.ascontiguousarray(trans, dtype=np.int32)
    acc = np.ascontiguousarray(acc, dtype=np.uint8)
    inside = np.zeros(trie.size, dtype=np.uint8)
    cap = min(trie.max_ends, _FIRST_END_CAPACITY)  # most tables have few ends; max_ends bounds them all
    while True:
        end_ids = np.empty(cap, dtype=np.int64)
        end_offs = np.empty(cap, dtype=np.int64)
        n = _native.trie_table(trie.byte, trie.depth, trie.lo, trie.hi, trie.full, trie.skip, trie.ids, trans, acc,
                               int(state), trie.max_depth, inside, end_ids, end_offs)
        if n >= 0:
            break
        if cap >= trie.max_ends:  # pragma: no cover - max_ends bounds every end
            raise RuntimeError("trie_table: end capacity exceeded")
        cap, inside[:] = trie.max_ends, 0
    if n < cap // 2:
        end_ids, end_offs = end_ids[:n].copy(), end_offs[:n].copy()
    return inside.view(bool), end_ids[:n], end_offs[:n]


def run_suffixes(trans, acc, bm, lengths, ids, offs, pos, state: int, viable: np.ndarray):
    """Run a DFA from ``state`` over ``bm[ids[i], offs[i]:lengths[ids[i]]]`` (native module only).

    Marks ``viable[pos[i]]`` for the remainders alive at their last byte and returns ``(e_pos, e_offs)``: the
    positions ``pos[i]`` and offsets where the DFA accepts with bytes left (a lexeme may end there).
    """
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    offs = np.ascontiguousarray(offs, dtype=np.int64)
    pos = np.ascontiguousarray(pos, dtype=np.int64)
    cap = int((lengths[ids] - offs).sum()) if ids.size else 0
    e_pos = np.empty(cap, dtype=np.int64)
    e_offs = np.empty(cap, dtype=np.int64)
    v = viable.view(np.uint8)
    n = _native.run_suffixes(np.ascontiguousarray(trans, dtype=np.int32), np.ascontiguousarray(acc, dtype=np.uint8),
                             bm, lengths, ids, offs, pos, int(state), v, e_pos, e_offs)
    if n < 0:  # pragma: no cover - cap bounds every end
        raise RuntimeError("run_suffixes: end capacity exceeded")
    return e_pos[:n], e_offs[:n]


def refine_partition(t: np.ndarray, part: np.ndarray, method: str = "auto", rounds: int = -1) -> np.ndarray:
    """The coarsest stable refinement of ``part`` under the transitions ``t`` (native module only).

    Parameters
    ----------
    t : numpy.ndarray
        int ``[n, w]`` transitions, ``-1`` for dead.
    part : numpy.ndarray
        int ``[n]`` initial blocks; ``-1`` marks dead states, which stay ``-1``.

    method : {"auto", "moore", "hopcroft"}
        ``"auto"``: Hopcroft's O(w n log n) algorithm unless its tables would pass 2^24 cells, then Moore's rounds.
    rounds : int, default: -1
        ``>= 0``: at most that many of Moore's rounds (whatever ``method``): states stay together iff they agree
        on every input of at most ``rounds`` symbols (the blocks of ``part`` reached, or death).

    Returns
    -------
    numpy.ndarray
        int64 ``[n]`` block ids (live blocks numbered in order of first appearance).
    """
    out = np.array(part, dtype=np.int64)
    _native.refine_partition(np.ascontiguousarray(t, dtype=np.int64), out,
                             {"auto": 0, "moore": 1, "hopcroft": 2}[method], int(rounds))
    return out


def column_classes(t: np.ndarray) -> tuple[np.ndarray, int] | None:
    """Class per column of the int ``[n, w]`` table ``t`` (equal columns share one; classes numbered in order of
    their first column) and the number of classes; ``None`` without the native module or on a hash collision
    (the caller then sorts the columns)."""
    if _native is None:
        return None
    out = np.empty(t.shape[1], dtype=np.int64)
    k = _native.column_classes(np.ascontiguousarray(t, dtype=np.int32), out)
    return (out, k) if k >= 0 else None


def minimize_dfa(transitions: np.ndarray, accepting: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The minimal DFA of ``[n, w]`` ``transitions`` (``w <= 256`` symbols) and ``accepting``, pruned and
    numbered canonically, as :func:`corral.automata.bytedfa.minimize_tables` gives it (``int32`` table, ``bool``
    accepting; one dead state of 256 columns for the empty language); ``None`` without the native module."""
    if _native is None:
        return None
    t = np.ascontiguousarray(transitions, dtype=np.int64)
    n = t.shape[0]
    out_t = np.empty((n, t.shape[1]), dtype=np.int32)
    out_acc = np.empty(n, dtype=np.uint8)
    m = _native.minimize_dfa(t, np.ascontiguousarray(accepting, dtype=np.uint8), out_t, out_acc)
    if m == 0:
        return np.full((1, 256), -1, dtype=np.int32), np.zeros(1, dtype=bool)
    return out_t[:m].copy(), out_acc[:m].astype(bool)


def _csr(lists) -> tuple[np.ndarray, np.ndarray]:
    """(starts [n + 1], flat values) of a list of lists of ints."""
    starts = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=starts[1:])
    flat = np.fromiter((v for x in lists for v in x), dtype=np.int64, count=int(starts[-1]))
    return starts, flat


def determinize(eps, edges, leaf_classes, start: int, final: int, n_classes: int, max_states: int,
                max_seconds: float = float("inf")):
    """Subset construction of a Thompson NFA (native module only).

    Parameters
    ----------
    eps : list of list of int
        Epsilon successors per NFA state.
    edges : list of list of (int, int)
        ``(leaf, target)`` edges per NFA state.
    leaf_classes : list of list of int
        The character classes of each leaf.
    start, final : int
        NFA states.
    n_classes : int
    max_states : int
        Most DFA states; ``None`` is returned past it, or past ``400 * max_states`` NFA states summed over all the
        DFA states' subsets (quadratic for ``.*a{n}``: the bound keeps time and memory in check).
    max_seconds : float
        Stop after this long (the compile budget's time left) and return ``False``.

    Returns
    -------
    (transitions, accepting), None or False
        int64 ``[m, n_classes]`` (``-1`` dead) and bool ``[m]``; state 0 is the start.
    """
    eps_start, eps_to = _csr(eps)
    edge_start = np.zeros(len(edges) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in edges], out=edge_start[1:])
    pairs = np.array([p for x in edges for p in x], dtype=np.int64).reshape(-1, 2)
    leaf_start, leaf_class = _csr(leaf_classes)
    got = _native.determinize(eps_start, eps_to, edge_start, np.ascontiguousarray(pairs[:, 0]),
                              np.ascontiguousarray(pairs[:, 1]), leaf_start, leaf_class, int(start), int(final),
                              int(n_classes), int(max_states), min(float(max_seconds), 1e300))
    if got is None or got is False:
        return got
    trans, acc = got
    accepting = np.frombuffer(acc, dtype=np.uint8).astype(bool)
    t = np.frombuffer(trans, dtype=np.int32).astype(np.int64).reshape(len(accepting), int(n_classes))
    return t, accepting
