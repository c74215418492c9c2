"""Token tables per (terminal, DFA state), computed vectorised over the whole vocabulary.

For a lexeme in progress (terminal ``T`` whose DFA is in state ``s``), every token of the vocabulary falls in one
of three groups, and which group depends only on ``(T, s)``, never on the parser:

* **inside**: running the token's bytes from ``s`` keeps the DFA alive to the end of the token. Such a token is
  allowed whatever the parser state (the lexeme can still be finished, and the parser expects ``T``). This is the
  "context-independent" part of XGrammar's adaptive token mask cache.
* **ends**: at some offset ``p`` strictly inside the token the DFA is accepting, so the lexeme may end there and the
  rest of the token ``token[p:]`` must be checked against the parser state after ``T`` (context dependent).
* **dead**: neither. Never allowed through this lexeme.

:class:`TokenTable` stores ``inside`` as a bool vector and ``ends`` as parallel arrays of token ids and offsets.
Tables are built lazily on first use and memoised per (terminal, state). A build does not run the DFA over every
token: bytes the DFA cannot tell apart (same column of its transition table) form one *byte class*, and tokens with
the same sequence of classes behave identically from every state, so the DFA runs once per distinct class sequence
(a few thousand for a string terminal over llama3's 128k tokens, a few hundred for a whitespace terminal) and the
results are expanded to the tokens. The class sequences are computed once per byte partition and shared by every
terminal with that partition (process-wide, see :func:`shared_caches`). The remainders are checked by
:meth:`TokenIndex.explore`, which runs the DFAs of the terminals the parser expects next over all the remainders
at once (numpy gathers over the padded byte matrix), recursing only for the few tokens that cross another lexeme
boundary.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np

from corral.budget import checkpoint
from corral.tokens import native

__all__ = ["TokenTable", "TokenIndex", "shared_caches", "clear_caches"]

_SHARED: "OrderedDict[tuple, dict]" = OrderedDict()
_SHARED_MAX = 512
# Distinct class sequences of the vocabulary per (vocabulary fingerprint, byte partition); few partitions recur.
_PARTITIONS: "OrderedDict[tuple, _ClassRows]" = OrderedDict()
_PARTITIONS_MAX = 32


@dataclass(frozen=True)
class _ClassRows:
    """The candidate tokens grouped by their sequence of byte classes.

    ``rows[u]`` (int64 ``[U, L]``, zero padded) is a distinct class sequence of length ``lengths[u]``;
    ``tokens[starts[u]:starts[u + 1]]`` are the token ids spelling it; ``first[u]`` is its first class, and
    ``by_first[first_starts[c]:first_starts[c + 1]]`` are the rows starting with class ``c``.
    """

    rows: np.ndarray
    lengths: np.ndarray
    tokens: np.ndarray
    starts: np.ndarray
    by_first: np.ndarray
    first_starts: np.ndarray


class _VocabArrays:
    """Vocabulary arrays shared by every index over one vocabulary (process-wide, by fingerprint)."""

    def __init__(self, byte_matrix: np.ndarray, lengths: np.ndarray) -> None:
        # One extra zero column so gathers at offset == length stay in bounds.
        self.bm = np.concatenate([byte_matrix, np.zeros((byte_matrix.shape[0], 1), np.uint8)], axis=1)
        self.lengths = lengths.astype(np.int64)
        self.candidates = np.nonzero(self.lengths > 0)[0]
        # Candidates by decreasing length (the order of the class-sequence groups), and the longest length.
        lens = self.lengths[self.candidates]
        order = np.argsort(-lens, kind="stable")
        self.by_len = self.candidates[order]
        self.by_len_lengths = lens[order]
        self.width = int(lens.max()) if lens.size else 0
        # Candidates bucketed by first byte: a small table build only touches tokens whose first byte is live.
        first = self.bm[self.candidates, 0]
        order = np.argsort(first, kind="stable")
        self.by_first = self.candidates[order]
        self.first_starts = np.searchsorted(first[order], np.arange(257))
        self._suffix: tuple[np.ndarray, np.ndarray] | None = None
        self._trie: native.Trie | None = None
        self._forest: native.Forest | None = None

    def forest(self) -> "native.Forest":
        """The vocabulary's short and long token tries in one node array (for the compiled engine), built once."""
        if self._forest is None:
            self._forest = native.Forest(self.bm, self.lengths, self.candidates)
        return self._forest

    def trie(self) -> "native.Trie":
        """The vocabulary's token trie (native module), built once per vocabulary."""
        if self._trie is None:
            self._trie = native.Trie(self.bm, self.lengths, self.candidates)
        return self._trie

    def suffix(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, starts) of :func:`corral.tokens.native.suffix_ids`, computed once per vocabulary."""
        if self._suffix is None:
            self._suffix = native.suffix_ids(self.bm, self.lengths)
        return self._suffix


_VOCAB: "OrderedDict[str, _VocabArrays]" = OrderedDict()


def _byte_classes(transitions: np.ndarray) -> tuple[np.ndarray, int]:
    """Byte -> class id (bytes with equal transition columns share a class, numbered in order of their first
    byte), and the number of classes: :func:`corral.tokens.native.column_classes` (two passes over the table in
    C), else :func:`_byte_classes_py`. On the DFA of a large format (14,000 states) sorting the 256 columns as raw
    bytes takes about 20 ms: the first mask in such a string waited for it."""
    got = native.column_classes(np.asarray(transitions))
    return got if got is not None else _byte_classes_py(transitions)


def _byte_classes_py(transitions: np.ndarray) -> tuple[np.ndarray, int]:
    """:func:`_byte_classes` by sorting the columns as raw bytes (the specification; the tests compare the two)."""
    cols = np.ascontiguousarray(np.asarray(transitions, dtype=np.int32).T)  # [256, S]
    keys = cols.view(np.dtype((np.void, cols.shape[1] * 4))).reshape(-1)
    _, first, cls = np.unique(keys, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(len(first))
    cls = rank[cls.reshape(-1)]
    return cls, len(first)


def clear_caches() -> None:
    """Forget the process-wide token tables, byte-class rows and vocabulary arrays (bounded; rebuilt on demand).

    Indexes built before keep the tables they hold; only the sharing with later ones is lost.
    """
    _SHARED.clear()
    _PARTITIONS.clear()
    _VOCAB.clear()


def shared_caches(fingerprint: str, terminals) -> list[dict]:
    """Process-wide table caches, one dict per terminal, keyed by (vocabulary fingerprint, regex, flags).

    ``terminals`` yields ``(pattern, flags)`` pairs. At most 512 terminals are kept (least recently used first out).
    """
    out = []
    for pattern, flags in terminals:
        key = (fingerprint, pattern, tuple(sorted(flags)))
        cache = _SHARED.get(key)
        if cache is None:
            cache = {}
            _SHARED[key] = cache
            if len(_SHARED) > _SHARED_MAX:
                _SHARED.popitem(last=False)
        else:
            _SHARED.move_to_end(key)
        out.append(cache)
    return out


@dataclass(frozen=True)
class TokenTable:
    """The vocabulary's behaviour from one (terminal, DFA state).

    Attributes
    ----------
    inside : np.ndarray
        bool [V]: the token keeps the lexeme alive to its last byte.
    end_ids, end_offsets : np.ndarray
        int64 [K]: token ``end_ids[k]`` can end the lexeme after ``end_offsets[k]`` of its bytes, with bytes left.
    inside_ids : np.ndarray or None
        The ids of ``inside`` when they are few (under 1/64 of the vocabulary), else ``None``: setting a few ids in
        a mask is cheaper than OR-ing a whole ``[V]`` vector (a key literal's table holds a handful of tokens).
    """

    inside: np.ndarray
    end_ids: np.ndarray
    end_offsets: np.ndarray
    inside_ids: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = np.flatnonzero(self.inside)
        if ids.size * 64 < self.inside.size:
            object.__setattr__(self, "inside_ids", ids)

    def add_inside(self, mask: np.ndarray) -> None:
        """Set the ``inside`` tokens in the bool mask ``mask`` (in place)."""
        if self.inside_ids is not None:
            mask[self.inside_ids] = True
        else:
            mask |= self.inside


class TokenIndex:
    """Lazily built token tables for a set of byte DFAs over one vocabulary.

    Parameters
    ----------
    dfas : list of ByteDFA
        One DFA per terminal id.
    byte_matrix : np.ndarray
        uint8 [V, L], token bytes zero padded.
    lengths : np.ndarray
        int [V], token lengths; 0 for tokens outside the constrained vocabulary (never allowed).
    caches : list of dict or None, optional
        One dict per terminal holding its tables (and remainder ids) by DFA state. Tables depend only on the
        terminal's regex and the vocabulary, so callers share these dicts between grammars (see
        :func:`shared_caches`): a new grammar then only builds tables for terminals never seen before.
    """

    def __init__(self, dfas, byte_matrix: np.ndarray, lengths: np.ndarray, caches=None,
                 fingerprint: str | None = None) -> None:
        self.dfas = dfas
        va = _VOCAB.get(fingerprint) if fingerprint is not None else None
        if va is None:
            va = _VocabArrays(byte_matrix, lengths)
            if fingerprint is not None:
                _VOCAB[fingerprint] = va
                if len(_VOCAB) > 4:
                    _VOCAB.popitem(last=False)
        else:
            _VOCAB.move_to_end(fingerprint)
        self._va = va
        self.bm = va.bm
        self.lengths = va.lengths
        self.size = int(byte_matrix.shape[0])
        self.candidates = va.candidates
        self._trans = [np.asarray(d.transitions, dtype=np.int32) for d in dfas]
        self._acc = [np.asarray(d.accepting, dtype=bool) for d in dfas]
        self._acc8 = [a.astype(np.uint8) for a in self._acc]
        self._fingerprint = fingerprint
        self.building: int | None = None  # the terminal whose table is being built (see table())
        self._classes: list = [None] * len(dfas)  # per terminal: (byte -> class, class transitions, _ClassRows)
        # Which first bytes can start a lexeme of each terminal: a cheap pre-filter for remainders.
        self._first = [t[0] >= 0 for t in self._trans]
        self._caches = caches if caches is not None else [{} for _ in dfas]

    def table(self, terminal: int, state: int) -> TokenTable:
        """The (memoised) table for a lexeme of ``terminal`` whose DFA is in ``state``."""
        cache = self._caches[terminal]
        tab = cache.get(state)
        if tab is None:
            self.building = terminal  # for a too_complex error: the terminal whose table ran out of budget
            checkpoint()
            tab = self._build(terminal, state)
            cache[state] = tab
        return tab

    def remainder_ids(self, terminal: int, state: int) -> np.ndarray:
        """For each lexeme end of ``table(terminal, state)``: the id of the token spelling the remainder, or -1.

        A remainder that is itself a token lets a caller reuse a whole mask instead of exploring the remainder.
        """
        cache = self._caches[terminal]
        key = ("remainders", state)
        rem = cache.get(key)
        if rem is None:
            tab = self.table(terminal, state)
            ids, starts = self._va.suffix()
            rem = ids[starts[tab.end_ids] + tab.end_offsets].astype(np.int64)
            cache[key] = rem
        return rem

    def unmatched_buckets(self, terminal: int, state: int) -> tuple[np.ndarray, np.ndarray]:
        """Lexeme ends of ``table(terminal, state)`` whose remainder is not a token, bucketed by its first byte.

        Returns ``(positions, starts)``: ``positions[starts[b]:starts[b + 1]]`` are the indices (into the table's
        end arrays) of the ends whose remainder starts with byte ``b``.
        """
        cache = self._caches[terminal]
        key = ("buckets", state)
        got = cache.get(key)
        if got is None:
            tab = self.table(terminal, state)
            pos = np.nonzero(self.remainder_ids(terminal, state) < 0)[0]
            first = self.bm[tab.end_ids[pos], tab.end_offsets[pos]]
            order = np.argsort(first, kind="stable")
            got = (pos[order], np.searchsorted(first[order], np.arange(257)))
            cache[key] = got
        return got

    def end_buckets(self, terminal: int, state: int) -> tuple[np.ndarray, np.ndarray]:
        """All lexeme ends of ``table(terminal, state)``, bucketed by the first byte of their remainder.

        Returns ``(positions, starts)`` as :meth:`unmatched_buckets` does, over every end.
        """
        cache = self._caches[terminal]
        key = ("all_buckets", state)
        got = cache.get(key)
        if got is None:
            tab = self.table(terminal, state)
            first = self.bm[tab.end_ids, tab.end_offsets]
            order = np.argsort(first, kind="stable")
            got = (order, np.searchsorted(first[order], np.arange(257)))
            cache[key] = got
        return got

    def first_bytes(self, terminals) -> np.ndarray:
        """bool [256]: bytes that can start a lexeme of any of ``terminals``."""
        live = np.zeros(256, dtype=bool)
        for t in terminals:
            live |= self._first[t]
        return live

    def vocabulary_nbytes(self) -> int:
        """Bytes of the per-vocabulary arrays (shared by every index over the vocabulary)."""
        va = self._va
        arrays = [va.bm, va.lengths, va.candidates, va.by_len, va.by_len_lengths, va.by_first]
        if va._suffix is not None:
            arrays += list(va._suffix)
        return (sum(a.nbytes for a in arrays) + (va._trie.nbytes if va._trie is not None else 0)
                + (va._forest.nbytes if va._forest is not None else 0))

    def tables_nbytes(self) -> int:
        """Bytes of the token tables and per-state arrays built so far for this index's terminals."""
        total = 0
        for cache in self._caches:
            for value in cache.values():
                parts = value if isinstance(value, tuple) else (value,)
                for part in parts:
                    if isinstance(part, TokenTable):
                        total += part.inside.nbytes + part.end_ids.nbytes + part.end_offsets.nbytes
                        total += part.inside_ids.nbytes if part.inside_ids is not None else 0
                    elif isinstance(part, np.ndarray):
                        total += part.nbytes
        return total

    @property
    def n_tables(self) -> int:
        """How many tables have been built so far."""
        return sum(sum(1 for k in c if isinstance(k, int)) for c in self._caches)

    def _class_rows(self, terminal: int):
        """(class transitions [S, C], _ClassRows) of a terminal's byte partition (memoised, shared by partition)."""
        got = self._classes[terminal]
        if got is None:
            cls, n_cls = _byte_classes(self._trans[terminal])
            rep = np.zeros(n_cls, dtype=np.int64)
            rep[cls[::-1]] = np.arange(255, -1, -1)  # one byte per class
            ctrans = np.ascontiguousarray(self._trans[terminal][:, rep])
            key = (self._fingerprint, cls.astype(np.uint8).tobytes()) if self._fingerprint is not None else None
            rows = _PARTITIONS.get(key) if key is not None else None
            if rows is None:
                rows = self._group_rows(cls)
                if key is not None:
                    _PARTITIONS[key] = rows
                    if len(_PARTITIONS) > _PARTITIONS_MAX:
                        _PARTITIONS.popitem(last=False)
            elif key is not None:
                _PARTITIONS.move_to_end(key)
            got = (ctrans, rows)
            self._classes[terminal] = got
        return got

    def _group_rows(self, cls: np.ndarray) -> _ClassRows:
        """Group the candidate tokens by class sequence (exactly, by :func:`corral.tokens.native.class_groups`)."""
        va = self._va
        cand, lens = va.by_len, va.by_len_lengths
        width = va.width
        inverse, _ = native.class_groups(va.bm, va.lengths, cand, cls.astype(np.uint8))
        # Groups are numbered in order of first appearance: the running maximum of the group ids steps up exactly
        # at each group's first token, its representative.
        running = np.maximum.accumulate(inverse) if inverse.size else inverse
        uniq_idx = np.flatnonzero(np.r_[True, running[1:] > running[:-1]]) if inverse.size else inverse
        order = np.argsort(inverse, kind="stable")
        starts = np.searchsorted(inverse[order], np.arange(len(uniq_idx) + 1))
        rows = cls.astype(np.uint8)[va.bm[cand[uniq_idx], :max(width, 1)]]
        rlens = lens[uniq_idx]
        first = rows[:, 0]
        forder = np.argsort(first, kind="stable")
        fstarts = np.searchsorted(first[forder], np.arange(int(cls.max()) + 2))
        return _ClassRows(rows, rlens, cand[order], starts, forder, fstarts)

    # A build over fewer tokens than this runs the DFA on the tokens directly; a larger one groups them by class.
    _GROUP_MIN = 16384

    def _build(self, terminal: int, state: int) -> TokenTable:
        if native.NATIVE:
            return TokenTable(*native.trie_table(self._va.trie(), self._trans[terminal], self._acc8[terminal], state))
        return self._build_py(terminal, state)

    def _build_py(self, terminal: int, state: int) -> TokenTable:
        """The numpy build of a table (the specification of the trie walk): DFA runs over the tokens, grouped by
        class sequence for large builds."""
        trans = self._trans[terminal]
        live_first = np.nonzero(trans[state] >= 0)[0]
        va = self._va
        n = int(sum(va.first_starts[b + 1] - va.first_starts[b] for b in live_first.tolist()))
        if n < self._GROUP_MIN and self._classes[terminal] is None:
            parts = [va.by_first[va.first_starts[b]: va.first_starts[b + 1]] for b in live_first]
            ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
            inside = np.zeros(self.size, dtype=bool)
            end_ids, end_offs = self._run(trans, self._acc[terminal], ids, np.zeros(len(ids), np.int64), state,
                                          inside_out=inside)
            return TokenTable(inside, end_ids, end_offs)
        ctrans, cr = self._class_rows(terminal)
        acc = self._acc[terminal]
        live_first = np.nonzero(ctrans[state] >= 0)[0]
        parts = [cr.by_first[cr.first_starts[c]: cr.first_starts[c + 1]] for c in live_first]
        rows = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        inside_rows = np.zeros(len(cr.lengths), dtype=bool)
        e_rows, e_offs = self._run_rows(ctrans, acc, cr, rows, state, inside_rows)
        inside = np.zeros(self.size, dtype=bool)
        inside[self._expand(cr, np.nonzero(inside_rows)[0])[0]] = True
        end_ids, which = self._expand(cr, e_rows)
        return TokenTable(inside, end_ids, e_offs[which])

    @staticmethod
    def _expand(cr: _ClassRows, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The token ids of the given class rows, and for each the index into ``rows`` it came from."""
        counts = cr.starts[rows + 1] - cr.starts[rows]
        total = int(counts.sum())
        which = np.repeat(np.arange(len(rows)), counts)
        base = np.repeat(cr.starts[rows] - (np.cumsum(counts) - counts), counts)
        return cr.tokens[base + np.arange(total)], which

    @staticmethod
    def _run_rows(ctrans, acc, cr: _ClassRows, rows: np.ndarray, state: int, inside_out: np.ndarray):
        """Run the class DFA from ``state`` over whole class rows; like :meth:`_run` with ``inside_out``."""
        st = np.full(len(rows), state, dtype=np.int32)
        off = np.zeros(len(rows), dtype=np.int64)
        row = rows
        lengths, mat = cr.lengths, cr.rows
        e_rows: list[np.ndarray] = []
        e_offs: list[np.ndarray] = []
        while row.size:
            st = ctrans[st, mat[row, off]]
            ok = st >= 0
            if not ok.all():
                row, st, off = row[ok], st[ok], off[ok]
            off = off + 1
            fin = off == lengths[row]
            if fin.any():
                inside_out[row[fin]] = True
                rest = ~fin
                row, st, off = row[rest], st[rest], off[rest]
            a = acc[st]
            if a.any():
                e_rows.append(row[a])
                e_offs.append(off[a])
        if e_rows:
            return np.concatenate(e_rows), np.concatenate(e_offs)
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def _run(self, trans, acc, ids, offs, state, inside_out=None, viable_out=None, pos_map=None):
        """Run one DFA from ``state`` over ``token[offs:]`` for each token in ``ids``.

        Tokens that stay alive to their end are marked in ``inside_out`` (indexed by token id) or ``viable_out``
        (indexed by position in ``ids``). Returns (ids, offsets) of the proper lexeme ends (bytes remain), as
        token ids when ``inside_out`` is given, else as positions into the original ``ids``.
        """
        lengths = self.lengths
        bm = self.bm
        pos = np.arange(len(ids)) if pos_map is None else pos_map
        st = np.full(len(ids), state, dtype=np.int32)
        off = offs.copy()
        tok = ids
        e_ids: list[np.ndarray] = []
        e_offs: list[np.ndarray] = []
        while tok.size:
            st = trans[st, bm[tok, off]]
            ok = st >= 0
            if not ok.all():
                tok, st, off, pos = tok[ok], st[ok], off[ok], pos[ok]
            off = off + 1
            fin = off == lengths[tok]
            if fin.any():
                if inside_out is not None:
                    inside_out[tok[fin]] = True
                else:
                    viable_out[pos[fin]] = True
                rest = ~fin
                tok, st, off, pos = tok[rest], st[rest], off[rest], pos[rest]
            a = acc[st]
            if a.any():
                e_ids.append(tok[a] if inside_out is not None else pos[a])
                e_offs.append(off[a])
        if e_ids:
            return np.concatenate(e_ids), np.concatenate(e_offs)
        return np.zeros(0, np.int64), np.zeros(0, np.int64)

    def explore(self, cols, ids: np.ndarray, offs: np.ndarray, ignore: tuple[int, ...], *, unique: bool = False
                ) -> np.ndarray:
        """Which remainders ``token[offs:]`` can follow a lexeme boundary where the parser is in ``cols``.

        Parameters
        ----------
        cols : iterable of Column
            The parser state right after a lexeme ended (a set of columns, as in a matcher state; a
            :class:`~corral.runtime.earley.GuardedColumn` starts its lexemes in guarded start states: its
            ``seeds``).
        ids, offs : np.ndarray
            Token ids and the offsets where their remainders start (``offs < length``).
        ignore : tuple of int
            Ignored terminals, which may start at any boundary and leave the parser state unchanged.
        unique : bool, default: False
            The caller guarantees the (token, offset) pairs are distinct (skips deduplication).

        Returns
        -------
        np.ndarray
            bool [len(ids)]: whether the remainder keeps the text completable.
        """
        # Different split points can reach the same (token, offset) pair; explore each pair once, or the work
        # grows exponentially with the number of lexemes inside one token.
        if not unique and len(ids) > 1:
            width = self.bm.shape[1]
            codes = ids * width + offs
            uniq, inverse = np.unique(codes, return_inverse=True)
            if len(uniq) < len(codes):
                return self.explore(cols, uniq // width, uniq % width, ignore, unique=True)[inverse]
        viable = np.zeros(len(ids), dtype=bool)
        by_seed: dict[tuple, list] = {}  # (terminal, start state) -> the columns its lexemes start from
        for c in cols:
            for key in c.seeds:  # the expected and ignored terminals (``ignore``), in their start states
                by_seed.setdefault(key, []).append(c.base)
        first = self.bm[ids, offs]
        for (t, start), tcols in by_seed.items():
            todo = np.nonzero((self._trans[t][start][first] >= 0) & ~viable)[0]
            if not todo.size:
                continue
            if native.NATIVE:
                e_pos, e_offs = native.run_suffixes(self._trans[t], self._acc8[t], self.bm, self.lengths, ids[todo],
                                                    offs[todo], todo, start, viable)
            else:
                e_pos, e_offs = self._run(
                    self._trans[t], self._acc[t], ids[todo], offs[todo], start, viable_out=viable, pos_map=todo
                )
            if e_pos.size:
                keep = ~viable[e_pos]
                e_pos, e_offs = e_pos[keep], e_offs[keep]
            if e_pos.size:
                if t in ignore:
                    nxt = tcols[0].tables.after_ignored(t, frozenset(tcols))
                else:
                    nxt = frozenset(c.after(t) for c in tcols)
                sub = self.explore(nxt, ids[e_pos], e_offs, ignore)
                viable[e_pos[sub]] = True
        return viable
