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
Tables are built lazily on first use and memoised per (terminal, state). The remainders are checked by
:meth:`TokenIndex.explore`, which runs the DFAs of the terminals the parser expects next over all the remainders
at once (numpy gathers over the padded byte matrix), recursing only for the few tokens that cross another lexeme
boundary.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

__all__ = ["TokenTable", "TokenIndex", "shared_caches"]

_SHARED: "OrderedDict[tuple, dict]" = OrderedDict()
_SHARED_MAX = 512


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
    """

    inside: np.ndarray
    end_ids: np.ndarray
    end_offsets: np.ndarray


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
    token_bytes : list of bytes or None, optional
        The same tokens as Python bytes (faster remainder look-ups); derived from ``byte_matrix`` when omitted.
    caches : list of dict or None, optional
        One dict per terminal holding its tables (and remainder ids) by DFA state. Tables depend only on the
        terminal's regex and the vocabulary, so callers share these dicts between grammars (see
        :func:`shared_caches`): a new grammar then only builds tables for terminals never seen before.
    """

    def __init__(self, dfas, byte_matrix: np.ndarray, lengths: np.ndarray, token_bytes=None, caches=None) -> None:
        self.dfas = dfas
        # One extra zero column so gathers at offset == length stay in bounds.
        self.bm = np.concatenate([byte_matrix, np.zeros((byte_matrix.shape[0], 1), np.uint8)], axis=1)
        self.lengths = lengths.astype(np.int64)
        self.size = int(byte_matrix.shape[0])
        self.candidates = np.nonzero(self.lengths > 0)[0]
        # Bucket the candidate tokens by first byte: a table build only touches tokens whose first byte is live.
        first = self.bm[self.candidates, 0]
        order = np.argsort(first, kind="stable")
        self._by_first = self.candidates[order]
        self._first_starts = np.searchsorted(first[order], np.arange(257))
        self._trans = [np.asarray(d.transitions, dtype=np.int32) for d in dfas]
        self._acc = [np.asarray(d.accepting, dtype=bool) for d in dfas]
        # Which first bytes can start a lexeme of each terminal: a cheap pre-filter for remainders.
        self._first = [t[0] >= 0 for t in self._trans]
        self._caches = caches if caches is not None else [{} for _ in dfas]
        self._token_ids: dict[bytes, int] | None = None
        if token_bytes is None:
            token_bytes = [None] * self.size
            for t in self.candidates.tolist():
                token_bytes[t] = self.bm[t, : self.lengths[t]].tobytes()
        self._token_bytes = token_bytes

    def table(self, terminal: int, state: int) -> TokenTable:
        """The (memoised) table for a lexeme of ``terminal`` whose DFA is in ``state``."""
        cache = self._caches[terminal]
        tab = cache.get(state)
        if tab is None:
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
            if self._token_ids is None:
                tb = self._token_bytes
                self._token_ids = {tb[t]: t for t in self.candidates[::-1].tolist()}
            tab = self.table(terminal, state)
            get = self._token_ids.get
            tb = self._token_bytes
            rem = np.fromiter(
                (get(tb[t][o:], -1) for t, o in zip(tab.end_ids.tolist(), tab.end_offsets.tolist())),
                dtype=np.int64,
                count=len(tab.end_ids),
            )
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

    @property
    def n_tables(self) -> int:
        """How many tables have been built so far."""
        return sum(sum(1 for k in c if isinstance(k, int)) for c in self._caches)

    def _build(self, terminal: int, state: int) -> TokenTable:
        trans = self._trans[terminal]
        acc = self._acc[terminal]
        live_first = np.nonzero(trans[state] >= 0)[0]
        parts = [self._by_first[self._first_starts[b] : self._first_starts[b + 1]] for b in live_first]
        ids = np.concatenate(parts) if parts else np.zeros(0, np.int64)
        inside = np.zeros(self.size, dtype=bool)
        end_ids, end_offs = self._run(trans, acc, ids, np.zeros(len(ids), np.int64), state, inside_out=inside)
        return TokenTable(inside, end_ids, end_offs)

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
            The parser state right after a lexeme ended (a set of columns, as in a matcher state).
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
        by_term: dict[int, list] = {}
        for c in cols:
            for t in c.terms:
                by_term.setdefault(t, []).append(c)
        for t in ignore:
            by_term.setdefault(t, []).extend(cols)
        first = self.bm[ids, offs]
        for t, tcols in by_term.items():
            todo = np.nonzero(self._first[t][first] & ~viable)[0]
            if not todo.size:
                continue
            e_pos, e_offs = self._run(
                self._trans[t], self._acc[t], ids[todo], offs[todo], 0, viable_out=viable, pos_map=todo
            )
            if e_pos.size:
                keep = ~viable[e_pos]
                e_pos, e_offs = e_pos[keep], e_offs[keep]
            if e_pos.size:
                nxt = frozenset(tcols) if t in ignore else frozenset(c.after(t) for c in tcols)
                sub = self.explore(nxt, ids[e_pos], e_offs, ignore)
                viable[e_pos[sub]] = True
        return viable
