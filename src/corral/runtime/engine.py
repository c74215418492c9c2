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

import hashlib
from collections import OrderedDict

import numpy as np

from corral.budget import checkpoint
from corral.runtime.packed import packed_width
from corral.tokens import native

try:
    if not native.NATIVE:
        raise ImportError("the native module is off")
    from corral import _engine
except ImportError:  # pragma: no cover - the extension is built by every install
    _engine = None

__all__ = ["NATIVE_ENGINE", "MaskEngine", "clear_caches"]

NATIVE_ENGINE = _engine is not None

# Sparse inside sets (under 1/64 of the vocabulary) are handed over as ids rather than packed words.
_SPARSE = 64


# Token tables by the right language of their DFA state, shared by every terminal (and grammar) that has a state with
# that language: (vocabulary fingerprint, canonical key) -> table. Hubs likewise (see _Resolver._build).
_TABLES: "OrderedDict[tuple, tuple]" = OrderedDict()
_TABLES_MAX = 512
_HUBS: "OrderedDict[tuple, tuple]" = OrderedDict()
_HUBS_MAX = 16
_HUB_ASKED: "OrderedDict[tuple, int]" = OrderedDict()  # hubs asked for once (see _Resolver._hub)
# States whose right language reaches more DFA states than this are keyed by (terminal, state) only.
_CANON_MAX_STATES = 64
# A DFA state sends at least this many first bytes to one state (a hub) before the hub's table is used.
_HUB_MIN = 32


def clear_caches() -> None:
    """Forget the token tables and hubs shared between grammars (bounded; rebuilt on demand)."""
    _TABLES.clear()
    _HUBS.clear()
    _HUB_ASKED.clear()


def right_language_key(trans: np.ndarray, acc: np.ndarray, state: int) -> bytes | None:
    """A key of the language accepted from ``state``: equal keys, equal languages (the reachable part of the DFA
    numbered breadth first, bytes in order, hashed; for minimal DFAs also the converse). ``None`` past
    ``_CANON_MAX_STATES`` reachable states."""
    order = np.full(len(trans), -1, dtype=np.int64)
    order[state] = 0
    seq, frontier = [np.array([state])], np.array([state])
    n = 1
    while frontier.size:
        nxt = trans[frontier].ravel()
        nxt = nxt[nxt >= 0]
        nxt = nxt[order[nxt] < 0]
        if not nxt.size:
            break
        uniq, first = np.unique(nxt, return_index=True)
        frontier = uniq[np.argsort(first)]
        order[frontier] = np.arange(n, n + frontier.size)
        n += frontier.size
        if n > _CANON_MAX_STATES:
            return None
        seq.append(frontier)
    states = np.concatenate(seq)
    rows = trans[states]
    rows = np.where(rows >= 0, order[np.maximum(rows, 0)], -1).astype(np.int32)
    return hashlib.blake2b(rows.tobytes() + acc[states].astype(np.uint8).tobytes(), digest_size=20).digest()


def _remember(store: OrderedDict, key, value, limit: int):
    store[key] = value
    while len(store) > limit:
        store.popitem(last=False)
    return value


class _Resolver:
    """What the C engine asks Python: the token tables of DFA states (see the module docstring)."""

    def __init__(self, index, size: int) -> None:
        self._index = index
        self._forest = index._va.forest()
        self._words = packed_width(size)
        self._size = size
        self._fp = index._fingerprint

    def table(self, terminal: int, state: int):
        """``(words or None, ids or None, end nodes)`` of a DFA state: its table over the short tokens (shared by
        the states that agree within the forest's depth, see :meth:`_short`) and over the long ones."""
        cache = self._index._caches[terminal]
        got = cache.get(("ctable", state))
        if got is None:
            self._index.building = terminal  # for a too_complex error (see CompiledGrammar)
            checkpoint()
            f = self._forest
            short = self._short(terminal, state)
            long = self._walk(terminal, state, f.m_short, f.m)
            got = cache[("ctable", state)] = self._union(short, long)
        return got

    def _short(self, terminal: int, state: int):
        """The table over the short tokens, by the state's class of behaviour within the forest's depth
        (Moore's rounds, :meth:`_depth_classes`); shared across terminals by the state's right language."""
        cache = self._index._caches[terminal]
        # a state with few live first bytes walks little of the trie: not worth the depth classes of its DFA
        cheap = int((self._index._trans[terminal][state] >= 0).sum()) < _HUB_MIN
        cls = ("state", state) if cheap else self._depth_class(terminal, state)
        got = cache.get(("short", cls))
        if got is None:
            key = self._key(terminal, state)
            got = _TABLES.get(key) if key is not None else None
            if got is None:
                got = self._walk(terminal, state, 0, self._forest.m_short, self._hub_of(terminal, state))
                if key is not None:
                    _remember(_TABLES, key, got, _TABLES_MAX)
            cache[("short", cls)] = got
        return got

    def _depth_class(self, terminal: int, state: int):
        """The state's depth class (:meth:`_depth_classes`), computed for a DFA from its second costly state on
        (the classes cost rounds over the whole DFA: tens of ms for a string counted to a thousand)."""
        cache = self._index._caches[terminal]
        if ("depth classes",) in cache or cache.get(("costly",), state) != state:
            return int(self._depth_classes(terminal)[state])
        cache[("costly",)] = state
        return ("state", state)

    def _depth_classes(self, terminal: int) -> np.ndarray:
        """Per DFA state, its block of states that agree on every input of at most the forest's depth."""
        cache = self._index._caches[terminal]
        got = cache.get(("depth classes",))
        if got is None:
            from corral.tokens.index import _byte_classes

            trans, acc = self._index._trans[terminal], self._index._acc8[terminal]
            cls, n = _byte_classes(trans)  # bytes with equal columns
            rep = np.zeros(n, dtype=np.int64)
            rep[cls] = np.arange(256)
            got = native.refine_partition(trans[:, rep], acc.astype(np.int64), rounds=self._forest.depth)
            got.flags.writeable = False
            cache[("depth classes",)] = got
        return got

    def _key(self, terminal: int, state: int):
        """The state's right-language key, for states with at least ``_HUB_MIN`` live first bytes (whose tables
        can cost a walk of the whole trie); ``None`` for the others and past ``_CANON_MAX_STATES``."""
        cache = self._index._caches[terminal]
        got = cache.get(("canon", state))
        if got is None:
            trans = self._index._trans[terminal]
            if int((trans[state] >= 0).sum()) < _HUB_MIN:
                cache[("canon", state)] = False
                return None
            key = right_language_key(trans, self._index._acc8[terminal], state)
            got = cache[("canon", state)] = (self._fp, key) if key is not None and self._fp is not None else False
        return got or None

    def _hub_of(self, terminal: int, state: int):
        """``(hub, its table by root)`` when at least ``_HUB_MIN`` first bytes lead from ``state`` to one state
        whose table is at hand (see :meth:`_hub`), else ``(-1, None)``."""
        row = self._index._trans[terminal][state]
        targets, counts = np.unique(row[row >= 0], return_counts=True)
        if not counts.size or counts.max() < _HUB_MIN:
            return -1, None
        hub = int(targets[np.argmax(counts)])
        parts = self._hub(terminal, hub)
        return (hub, parts) if parts is not None else (-1, None)

    def _hub(self, terminal: int, state: int):
        """The short table of "every first byte reached in ``state``", by root: ``(ids, id starts, end nodes, end
        starts)``, or ``None`` the first time it is asked for (building one costs a walk of the whole trie: worth
        it only for a hub that recurs, like the free state of a key complement, not for the next state of a
        counted string)."""
        key = self._key(terminal, state)
        key = ("hub", terminal, state) if key is None else key
        got = _HUBS.get(key) if key[0] != "hub" else self._index._caches[terminal].get(key)
        if got is not None:
            return got
        loops = int((self._index._trans[terminal][state] == state).sum()) >= _HUB_MIN  # a "free" state
        if not loops and _HUB_ASKED.get(key, 0) < 1:
            _remember(_HUB_ASKED, key, 1, 4 * _TABLES_MAX)
            return None
        f = self._forest
        ids = np.empty(f.ids.size, dtype=np.int64)
        nodes = np.empty(f.m, dtype=np.int32)
        id_starts, end_starts = np.empty(257, dtype=np.int64), np.empty(257, dtype=np.int64)
        n, count = _engine.ctable(f.packed, f.ids, self._index._trans[terminal], self._index._acc8[terminal], -1,
                                  int(state), 0, f.m_short, None, nodes, ids, id_starts, end_starts, -1, None, None,
                                  None, None)
        got = (ids[:count].copy(), id_starts, nodes[:n].copy(), end_starts)
        for a in got:
            a.flags.writeable = False
        if key[0] == "hub":
            self._index._caches[terminal][key] = got
            return got
        return _remember(_HUBS, key, got, _HUBS_MAX)

    def _walk(self, terminal: int, state: int, lo: int, hi: int, hub: tuple = (-1, None)):
        """``(words or None, ids or None, end nodes)`` of a DFA state over the forest's nodes ``[lo, hi)``; ``hub``
        is :meth:`_hub_of`'s ``(hub state, its table by root)``."""
        f = self._forest
        hub, parts = hub
        words = np.zeros(self._words, dtype=np.int32)
        nodes = np.empty(hi - lo, dtype=np.int32)
        inside = np.empty(self._size // _SPARSE + 1, dtype=np.int64)
        n, count = _engine.ctable(f.packed, f.ids, self._index._trans[terminal], self._index._acc8[terminal],
                                  int(state), -1, lo, hi, words, nodes, inside, None, None, hub,
                                  *(parts or (None, None, None, None)))
        ids = None
        if count < len(inside):  # few tokens inside: listed, cheaper to set than a whole packed vector to OR
            ids, words = inside[:count].copy(), None
        return self._frozen(words, ids, nodes[:n].copy())

    def _union(self, a, b):
        """The union of two tables over disjoint token sets."""
        (wa, ia, na), (wb, ib, nb) = a, b
        nodes = np.concatenate([na, nb]) if nb.size else na
        if wa is None and wb is None and ia.size + ib.size <= self._size // _SPARSE:
            return self._frozen(None, np.concatenate([ia, ib]) if ib.size else ia, nodes)
        words = np.zeros(self._words, dtype=np.int32) if wa is None else wa.copy()
        if wb is not None:
            words |= wb
        for ids in (ia, ib):
            if ids is not None and ids.size:
                np.bitwise_or.at(words.view(np.uint32), ids >> 5, (np.uint32(1) << (ids & 31).astype(np.uint32)))
        return self._frozen(words, None, nodes)

    @staticmethod
    def _frozen(words, ids, nodes):
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
        forest = index._va.forest()
        self.words = packed_width(compiled.size)
        sizes = [len(a) for a in index._acc8]
        self.base = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64).tolist()
        self._c = _engine.Engine(_Resolver(index, compiled.size), forest.packed, forest.ids, index.bm, index.lengths,
                                 compiled.size, compiled.eos_ids, list(index._trans), list(index._acc8),
                                 compiled.n_terminals, grammar_arrays(compiled.tables),
                                 getattr(forest, "engine_checked", None) != compiled.size)
        forest.engine_checked = compiled.size  # validated for this size: later engines skip the O(trie) check

    @staticmethod
    def supports(index) -> bool:
        """Whether the engine can run over this token index's vocabulary (its trie packs into 12-byte nodes:
        tokens of at most 255 bytes)."""
        return index._va.forest().packed is not None

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
