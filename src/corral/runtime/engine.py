"""The compiled mask engine of a :class:`~corral.runtime.matcher.CompiledGrammar` (``corral._engine``).

The engine holds the grammar's lexer x parser *product automaton*, built lazily: a product state is what a Python
matcher state is (:class:`corral.runtime.matcher._State`: lexeme threads and their origin Earley columns), with
integers for everything, interned, with a 256-entry successor table per state filled on first use. The Earley
recognizer runs in C too (columns interned by kernel and signature as :mod:`corral.runtime.earley` does). Masks,
checks and feeds then run over the token trie in C (see the comment at the top of ``_engine.c`` for the
algorithm). The one thing the engine asks Python (a :class:`_Resolver`) is the token table of a DFA state:

* ``table(t, s)``: the packed *inside* set and the *end nodes* of terminal ``t``'s DFA state ``s`` over the
  vocabulary's trie, cached process-wide beside the Python token tables (shared by every grammar with that terminal).

The Python matcher (``CompiledGrammar._fill_mask``, ``_feed``) is the executable specification; ``NATIVE_ENGINE``
is false when the module is missing or ``CORRAL_PURE_PYTHON=1`` is set, and the tests compare the two.
"""

from __future__ import annotations

import numpy as np

from corral.runtime.packed import packed_width
from corral.tokens import native

try:
    if not native.NATIVE:
        raise ImportError("the native module is off")
    from corral import _engine
except ImportError:  # pragma: no cover - the extension is built by every install
    _engine = None

__all__ = ["NATIVE_ENGINE", "MaskEngine"]

NATIVE_ENGINE = _engine is not None

# Sparse inside sets (under 1/64 of the vocabulary) are handed over as ids rather than packed words.
_SPARSE = 64


class _Resolver:
    """What the C engine asks Python: the token tables of DFA states (see the module docstring)."""

    def __init__(self, index, size: int) -> None:
        self._index = index
        self._trie = index._va.trie()
        self._words = packed_width(size)
        self._size = size

    def table(self, terminal: int, state: int):
        """``(words or None, ids or None, end nodes)`` of a DFA state, built once per terminal and state."""
        cache = self._index._caches[terminal]
        key = ("ctable", state)
        got = cache.get(key)
        if got is None:
            got = cache[key] = self._build(terminal, state)
        return got

    def _build(self, terminal: int, state: int):
        trie = self._trie
        words = np.zeros(self._words, dtype=np.uint32)
        nodes = np.empty(len(trie.byte), dtype=np.int32)
        inside = np.empty(self._size // _SPARSE + 1, dtype=np.int64)
        n, count = _engine.ctable(trie.byte, trie.depth, trie.lo, trie.hi, trie.full, trie.skip, trie.ids,
                                  self._index._trans[terminal], self._index._acc8[terminal], int(state),
                                  trie.max_depth, words, nodes, inside)
        nodes = nodes[:n].copy()
        ids = None
        if count < len(inside):  # few tokens inside: listed, cheaper to set than a whole packed vector to OR
            ids, words = inside[:count].copy(), None
        for a in (words, ids, nodes):
            if a is not None:
                a.flags.writeable = False
        return words, ids, nodes


def grammar_arrays(tables) -> tuple:
    """The Earley tables as the engine's flat arrays: ``(rules_lhs, rules_start, rules_syms, lhs_start, lhs_rules,
    nullable, start)`` (nonterminal ``n`` is symbol ``n_terminals + n``)."""
    n_t = tables.n_terminals
    rules = tables.rules
    symbols = [tables.start] + [r.lhs for r in rules] + [s for r in rules for s in r.rhs]
    n_nt = max(max(symbols) - n_t + 1, 1)
    lhs = np.array([r.lhs for r in rules], dtype=np.int32)
    starts = np.cumsum([0] + [len(r.rhs) for r in rules]).astype(np.int32)
    syms = np.array([s for r in rules for s in r.rhs], dtype=np.int32)
    by = [tables.by_lhs.get(n_t + n, ()) for n in range(n_nt)]
    lhs_start = np.cumsum([0] + [len(b) for b in by]).astype(np.int32)
    lhs_rules = np.array([r for b in by for r in b], dtype=np.int32)
    nullable = np.array([n_t + n in tables.nullable for n in range(n_nt)], dtype=np.uint8)
    return lhs, starts, syms, lhs_start, lhs_rules, nullable, int(tables.start)


class MaskEngine:
    """The C product automaton of one compiled grammar, with the conversion from Python matcher states.

    Parameters
    ----------
    compiled : corral.runtime.matcher.CompiledGrammar
        The grammar (its DFAs, token index, vocabulary and EOS ids).
    """

    def __init__(self, compiled) -> None:
        index = compiled.index
        trie = index._va.trie()
        self.words = packed_width(compiled.size)
        sizes = [len(a) for a in index._acc8]
        self.base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        self._c = _engine.Engine(_Resolver(index, compiled.size), trie.byte, trie.depth, trie.lo, trie.full,
                                 trie.skip, trie.ids, max(trie.max_depth, 1), index.bm, index.lengths,
                                 compiled.size, compiled.eos_ids, list(index._trans), list(index._acc8),
                                 compiled.n_terminals, grammar_arrays(compiled.tables))

    def initial(self) -> int:
        """The product state at the start of the text."""
        return self._c.initial()

    def mask(self, pid: int) -> np.ndarray:
        """int32 ``[ceil(V / 32)]``: the packed mask of product state ``pid`` (GIL released while computing)."""
        out = np.empty(self.words, dtype=np.int32)
        self._c.mask(pid, out)
        return out

    def fill(self, pids: np.ndarray, out: np.ndarray) -> np.ndarray:
        """The packed masks of product states ``pids`` (int32) into the rows of ``out`` (GIL released)."""
        self._c.fill(pids, out)
        return out

    def feed_bytes(self, pid: int, data: bytes) -> int:
        """The product state after ``data`` (``-1``: not viable)."""
        return self._c.feed_bytes(pid, data)

    def feed(self, pid: int, token: int) -> int:
        """The product state after ``token``'s bytes (``-1``: not viable)."""
        return self._c.feed(pid, token)

    def threads(self, pid: int) -> int:
        """How many lexeme threads product state ``pid`` has (0: nothing can follow)."""
        return int(self._c.info(pid)[0])

    def complete(self, pid: int) -> bool:
        """Whether the text is complete in product state ``pid``."""
        return bool(self._c.info(pid)[1])

    def next_bytes(self, pid: int) -> np.ndarray:
        """bool ``[256]``: the bytes that keep the text completable from ``pid``."""
        return np.frombuffer(self._c.next_bytes(pid), dtype=np.uint8).astype(bool)

    def trim(self) -> None:
        """Drop the cached successor tables (state ids stay valid; they are recomputed on demand)."""
        self._c.trim()

    def nbytes(self) -> int:
        """Resident bytes of the engine's own tables (states, successor tables, sets, columns)."""
        return int(self._c.stats()["nbytes"])

    def stats(self) -> dict:
        """Counts (states, sets, columns) and resident bytes."""
        return dict(self._c.stats())
