"""The runtime Matcher: one sequence's constraint state at token level.

A matcher state is a set of *lexeme threads* plus the columns at the current byte position:

* a thread ``(terminal, dfa_state) -> origins`` says: a lexeme of ``terminal`` started at a boundary where the
  parser was in one of the ``origins`` columns, and its DFA is now in ``dfa_state`` (always a live state);
* ``here`` is the set of columns at the current position, non-empty iff some lexeme ended exactly here.

Feeding a byte steps every thread's DFA; a thread whose DFA accepts may end its lexeme, which scans the terminal in
its origin columns (:meth:`Column.after`) and starts new threads for every terminal the new column expects, and for
the ignored terminals. A token is viable iff feeding its bytes leaves some thread alive (every live DFA state can
finish its lexeme, and every Earley item can be completed because all rules are productive) or leaves the text
complete. States are immutable, so ``fork`` shares them and ``rollback`` steps back along a parent chain.

``mask()`` computes the same thing for the whole vocabulary at once from the per-(terminal, state) token tables of
:mod:`corral.tokens.index`; ``check()`` runs the bytes of one token. The two are independent implementations of one
definition, and tests assert ``mask()[t] == check(t)`` along random walks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Iterable

import numpy as np

from corral.budget import BudgetExceeded, budget_scope
from corral.compile.grammar import Grammar, productive_rules
from corral.errors import ConfigurationError, GrammarError
from corral.runtime.earley import Column, EarleyTables
from corral.runtime import groups, guards
from corral.runtime.engine import NATIVE_ENGINE, MaskEngine
from corral.runtime.packed import pack_mask, unpack_mask
from corral.runtime.states import Rejection, _NState, _State
from corral.runtime.terminals import terminal_dfas
from corral.tokens.index import TokenIndex, shared_caches
from corral.tokens.vocabulary import Vocabulary

__all__ = ["CompiledGrammar", "Matcher", "Rejection"]


def _check_arguments(grammar, vocab) -> None:
    """``ConfigurationError`` unless ``grammar`` is a Grammar and ``vocab`` a Vocabulary."""
    if not isinstance(grammar, Grammar):
        hint = " (Lark text: Grammar.from_lark(text))" if isinstance(grammar, str) else ""
        raise ConfigurationError(f"grammar must be a Grammar, got {type(grammar).__name__}{hint}")
    if not isinstance(vocab, Vocabulary):
        raise ConfigurationError(f"vocab must be a Vocabulary, got {type(vocab).__name__}")


class CompiledGrammar:
    """A grammar compiled against one vocabulary: DFAs, Earley tables and lazily built token tables.

    One compiled grammar serves any number of matchers; build it once per (grammar, vocabulary).

    Parameters
    ----------
    grammar : corral.compile.grammar.Grammar
        The grammar IR.
    vocab : corral.tokens.vocabulary.Vocabulary
        The token vocabulary.
    mask_cache_size : int, default: 256
        How many masks to keep, keyed by matcher state (a lexeme that spans many tokens repeats its state), in
        packed form (one bit per vocabulary entry: 16 KB for a 128k vocabulary); the last 32 are also kept as bool
        arrays for ``mask()``.
    native : bool, optional
        Compute masks and checks with the compiled engine (:mod:`corral.runtime.engine`); ``False`` uses the
        Python specification. Default: the engine when it is built (not under ``CORRAL_PURE_PYTHON=1``).
    compile_budget : float, dict, "unlimited" or corral.budget.CompileBudget, optional
        Time and automaton size for building this up to the first mask (:mod:`corral.budget`; default 4 s).

    Raises
    ------
    GrammarError
        A terminal matches the empty string or nothing, or the grammar's language is empty; kind ``"too_complex"``
        past the compile budget (a SchemaError, at its pointer, for a grammar compiled from a JSON Schema).
    ConfigurationError
        ``grammar`` is not a Grammar (compile Lark text with ``Grammar.from_lark``) or ``vocab`` not a Vocabulary.
    """

    # Whether this matcher runs follow guards (corral.runtime.guards); a subclass with its own lexing may not.
    _FOLLOW_GUARDS = True

    # Subclasses for grammars the plain matcher cannot run, by the Grammar attribute that calls for them (set, not
    # None): corral.runtime.indented registers IndentedGrammar for ``postlex`` (corral/runtime/__init__.py imports it).
    VARIANTS: dict = {}

    def __new__(cls, grammar=None, *args, **kwargs):
        """A grammar that needs a variant matcher (:attr:`VARIANTS`; an indentation post-lexer, ``grammar.postlex``)
        compiles to that subclass (the same interface)."""
        grammar = kwargs.get("grammar", grammar)
        if cls is CompiledGrammar:
            cls = next((sub for attr, sub in cls.VARIANTS.items() if getattr(grammar, attr, None) is not None), cls)
        return super().__new__(cls)

    def __init__(self, grammar: Grammar, vocab: Vocabulary, *, mask_cache_size: int = 256,
                 native: bool | None = None, compile_budget=None) -> None:
        _check_arguments(grammar, vocab)
        with budget_scope(compile_budget):
            try:
                self._build(grammar, vocab, mask_cache_size, native)
            except BudgetExceeded as exc:  # while building a token table (terminal DFAs report their own)
                index = getattr(self, "index", None)
                if getattr(index, "building", None) is not None:
                    where = self.terminal_names[index.building].removesuffix(" (ignored)")
                    raise grammar.too_complex(where, exc.what) from None
                raise GrammarError(f"{exc.what} (building the token tables and the first mask)",
                                   kind="too_complex") from None

    def _build(self, grammar: Grammar, vocab: Vocabulary, mask_cache_size: int, native: bool | None) -> None:
        """The body of the constructor (under the compile budget): terminal DFAs, Earley tables, token index, the
        engine, and the first mask."""
        self.grammar = grammar
        self.vocab = vocab
        names = self._terminal_symbols(grammar)
        dfas, cache_keys = self._terminal_dfas(grammar, names)
        ignored = list(grammar.ignore)
        plan = guards.plan_guards(grammar, names, dfas, cache_keys, supported=self._FOLLOW_GUARDS)
        if plan is not None:  # terminals whose lookahead reaches past their lexemes (corral.runtime.guards)
            names, ignored, dfas, cache_keys = plan.names, plan.ignored, plan.dfas, plan.keys
        self.terminal_names = names + [f"{n} (ignored)" for n in ignored]
        self.dfas = dfas
        self.n_terminals = len(names)
        self.ignore_ids = tuple(range(len(names), len(names) + len(ignored)))
        self._lists = None  # the DFAs as nested lists, for the Python matcher (see _trans)
        self.tables = EarleyTables(self.n_terminals, *self._bnf(grammar, names), ignore=self.ignore_ids)
        if plan is not None:
            guards.install(plan, self.tables)
        caches = shared_caches(vocab.fingerprint, cache_keys)
        self.index = TokenIndex(dfas, vocab.byte_matrix, vocab.lengths, caches,
                                fingerprint=vocab.fingerprint)
        self.eos_ids = np.array(sorted(vocab.eos_token_ids), dtype=np.int64)
        self.size = vocab.size
        self._mask_cache: OrderedDict = OrderedDict()
        self._packed_cache: OrderedDict = OrderedDict()  # state key -> int32 [ceil(V / 32)]
        self._local = threading.local()  # per-thread scratch buffers (see _scratch)
        self.native = NATIVE_ENGINE if native is None else bool(native) and NATIVE_ENGINE
        self._mask_cache_size = mask_cache_size
        self._boundaries: dict = {}
        self._sorted = None
        self._rows: dict = {}  # (terminal, dfa state) -> bool [256]: the bytes that continue the lexeme
        self._group_cache: OrderedDict = OrderedDict()  # (prefix, threads after it) -> ids dead one byte later
        self._group_cache_ids = 0  # total ids held by _group_cache
        self.native = self.native and MaskEngine.supports(self.index) and plan is None
        if self.native:
            self._engine = MaskEngine(self)
            self.initial_state = _NState(self._engine, self._engine.initial())
        else:
            self._engine = None
            self.initial_state = self._start_threads(frozenset([self.tables.initial]))
        self._packed(self.initial_state)  # the first mask, under the budget (and cached for the first step)

    def _terminal_symbols(self, grammar: Grammar) -> list[str]:
        """The terminal symbols, in id order (the ignored terminals get the ids after them)."""
        return list(grammar.terminals)

    def _terminal_dfas(self, grammar: Grammar, names: list[str]) -> tuple[list, list]:
        """The DFAs of ``names`` then of the ignored terminals, and their token-table cache keys."""
        return terminal_dfas(grammar, names)

    @property
    def _trans(self) -> list:
        """Per terminal, its DFA transitions as nested lists (the Python matcher steps them byte by byte)."""
        if self._lists is None:
            self._lists = ([d.transitions.tolist() for d in self.dfas], [d.accepting.tolist() for d in self.dfas])
        return self._lists[0]

    @property
    def _acc(self) -> list:
        """Per terminal, its DFA's accepting flags as a list."""
        self._trans  # noqa: B018 - builds both lists
        return self._lists[1]

    def _bnf(self, grammar, names):
        """Integer BNF rules with unproductive rules pruned; GrammarError if the language is empty."""
        tid = {n: i for i, n in enumerate(names)}
        nts = sorted({r.lhs for r in grammar.rules} | {grammar.start})
        nid = {n: len(names) + i for i, n in enumerate(nts)}
        rules = []
        for r in grammar.rules:
            rhs = []
            for s in r.rhs:
                if s in tid:
                    rhs.append(tid[s])
                elif s in nid:
                    rhs.append(nid[s])
                else:
                    raise GrammarError(f"rule {r.lhs} uses undefined symbol {s}")
            rules.append((nid[r.lhs], tuple(rhs)))
        start = nid[grammar.start]
        if grammar.is_normal():  # normalisation already kept exactly the productive, reachable rules
            return rules, start
        productive, pending = productive_rules(rules, len(names))
        if start not in productive:
            raise GrammarError(f"the grammar's language is empty: rule {grammar.start} derives no finite string")
        return [r for r, p in zip(rules, pending) if not p], start

    # ----------------------------------------------------------------------------------------------------------
    # state transitions

    def _start_threads(self, here: frozenset, threads: dict | None = None, parent=None, token=None) -> _State:
        threads = {} if threads is None else threads
        for c in here:
            for key in c.seeds:
                threads.setdefault(key, set()).add(c.base)
        return _State({k: frozenset(v) for k, v in threads.items()}, here, parent, token)

    def _feed(self, state, data: bytes, parent=None, token=None):
        """The state after ``data`` (possibly with no threads: not viable)."""
        if self.native:
            return _NState(self._engine, self._engine.feed_bytes(state.pid, data), parent, token)
        return self._run(state, data, parent, token)[0]

    def _terminate(self, state, token):
        """The state after EOS (``token``) in ``state``."""
        if self.native:
            return _NState(self._engine, state.pid, state, token, terminated=True)
        return _State({}, state.here, state, token, terminated=True)

    def _viable(self, state: _State, data: bytes) -> bool:
        """``self._feed(state, data).viable`` for non-empty ``data``, without building the state when no lexeme can
        end inside ``data``: the threads' DFAs are stepped alone, and the first accepting DFA state (where the
        parser would step in) hands over to :meth:`_feed` from the start."""
        if self.native:
            return self._engine.feed_bytes(state.pid, data) >= 0
        trans, acc = self._trans, self._acc
        live = [(trans[t], acc[t], s) for t, s in state.threads]
        for b in data:
            nxt = []
            for tr, ac, s in live:
                s2 = tr[s][b]
                if s2 >= 0:
                    if ac[s2]:
                        return self._feed(state, data).viable
                    nxt.append((tr, ac, s2))
            if not nxt:
                return False
            live = nxt
        return True

    def _run(self, state: _State, data: bytes, parent=None, token=None, trace: list | None = None
             ) -> tuple[_State, int]:
        """``(state after data, n)``: ``n`` is the length of the shortest prefix of ``data`` after which no lexeme
        thread is left (no byte can follow it), or ``-1`` if threads survive all of ``data``. With ``trace``, the
        lexeme threads after each byte are appended to it."""
        threads = state.threads
        here = state.here
        n_t = self.n_terminals
        dead_at = -1
        for i, b in enumerate(data):
            new: dict = {}
            here_set: set = set()
            for (t, s), origins in threads.items():
                s2 = self._trans[t][s][b]
                if s2 < 0:
                    continue
                cur = new.get((t, s2))
                new[(t, s2)] = origins if cur is None else cur | origins
                if self._acc[t][s2]:
                    if t >= n_t:
                        here_set.update(self.tables.after_ignored(t, origins))
                    else:
                        here_set.update(o.after(t) for o in origins)
            here = frozenset(here_set)
            for c in here:
                base = c.base
                for key in c.seeds:
                    cur = new.get(key)
                    new[key] = frozenset([base]) if cur is None else cur | {base}
            threads = new
            if trace is not None:
                trace.append(threads)
            if not threads:
                if dead_at < 0:
                    dead_at = i + 1
                if not here:
                    break
        return _State(threads, here, parent, token), dead_at

    def invalid_group(self, state, data: bytes) -> "Rejection | None":
        """Tokens certainly invalid at ``state`` because ``data`` (a token's bytes) is: ``None`` if ``data`` is
        viable (see :func:`corral.runtime.groups.invalid_group`)."""
        return groups.invalid_group(self, state, data)

    def _mask(self, state: _State, depth: int = 0) -> np.ndarray:
        """bool ``[V]`` mask of ``state``: the unpacked :meth:`_packed` (a few of them cached)."""
        key = state.key
        m = self._mask_cache.get(key)
        if m is not None:
            self._mask_cache.move_to_end(key)
            return m
        m = unpack_mask(self._packed(state, depth), self.size)
        m.flags.writeable = False
        self._mask_cache[key] = m
        if len(self._mask_cache) > self._BOOL_CACHE_SIZE:
            self._mask_cache.popitem(last=False)
        return m

    def _packed(self, state: _State, depth: int = 0) -> np.ndarray:
        """int32 ``[ceil(V / 32)]`` mask of ``state`` (:func:`corral.runtime.packed.pack_mask` layout), cached per
        state. Computed in a reused per-thread, per-depth bool buffer, so a new state costs no fresh V-sized
        allocation."""
        key = state.key
        p = self._packed_cache.get(key)
        if p is not None:
            self._packed_cache.move_to_end(key)
            return p
        if self.native and not state.terminated:
            p = self._engine.mask(state.pid)
            if self._engine.nbytes() > self._ENGINE_MAX_BYTES:
                self._engine.trim()
        else:
            m = self._scratch(depth)
            if not state.terminated:
                self._fill_mask(state, m, depth)
            p = pack_mask(m)
        p.flags.writeable = False
        self._packed_cache[key] = p
        if len(self._packed_cache) > self._mask_cache_size:
            self._packed_cache.popitem(last=False)
        return p

    # The compiled engine drops its successor tables (recomputed on demand) when they outgrow this.
    _ENGINE_MAX_BYTES = 64 << 20

    def fill_packed(self, states, out: np.ndarray, rows) -> None:
        """Write the packed masks of matcher ``states`` into ``out[rows]``: cached ones copied, the others
        computed by the engine in one call with the GIL released (then cached)."""
        todo = []
        for st, row in zip(states, rows):
            p = self._packed_cache.get(st.key)
            if p is not None:
                out[row] = p
            elif self.native and not st.terminated and st.pid >= 0:
                todo.append((st, row))
            else:
                out[row] = self._packed(st)
        if not todo:
            return
        buf = np.empty((len(todo), out.shape[1]), dtype=np.int32)
        self._engine.fill(np.array([st.pid for st, _ in todo], dtype=np.int32), buf)
        for (st, row), p in zip(todo, buf):
            out[row] = p
            p = p.copy()
            p.flags.writeable = False
            self._packed_cache[st.key] = p
        while len(self._packed_cache) > self._mask_cache_size:
            self._packed_cache.popitem(last=False)

    def _scratch(self, depth: int) -> np.ndarray:
        """A zeroed bool ``[V]`` buffer for computing a mask at recursion ``depth`` (one per thread and depth)."""
        bufs = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = self._local.bufs = []
        while len(bufs) <= depth:
            bufs.append(np.zeros(self.size, dtype=bool))
        m = bufs[depth]
        m.fill(False)
        return m

    def _boundary(self, here: frozenset) -> _State:
        """The state right after a lexeme boundary where the parser is in ``here`` (no lexeme in progress)."""
        b = self._boundaries.get(here)
        if b is None:
            b = self._start_threads(here)
            if len(self._boundaries) >= self._mask_cache_size:
                self._boundaries.clear()
            self._boundaries[here] = b
        return b

    # Unpacked (bool) masks kept for mask() callers; the packed cache holds mask_cache_size states.
    _BOOL_CACHE_SIZE = 32

    # The prefix-group cache of invalid_group holds at most this many ids in all (16 MB of int64).
    _GROUP_CACHE_IDS = 2_000_000

    # Lexeme ends with at least this many tokens reuse the boundary's whole mask instead of exploring remainders.
    _REUSE_MIN_ENDS = 512

    def _fill_mask(self, state: _State, m: np.ndarray, depth: int) -> None:
        """Fill ``m`` with the mask of ``state``.

        Tokens that end a lexeme of ``t`` after ``p`` bytes are viable iff their remainder ``token[p:]`` is
        viable at the boundary state after ``t``. When the remainder is itself a token, that is one bit of the
        boundary's mask: for large groups (whitespace followed by a word, a quote followed by punctuation) the
        boundary mask is computed once (and cached: it is often the very next state) instead of exploring tens
        of thousands of remainders. Boundary masks are computed at depth 1 with plain exploration, so this never
        chains along the grammar. A state that is its own boundary (an ignored lexeme) resolves by fixpoint.
        """
        index = self.index
        n_t = self.n_terminals
        deferred = []
        for (t, s), origins in state.threads.items():
            tab = index.table(t, s)
            tab.add_inside(m)
            if not tab.end_ids.size:
                continue
            nxt = self.tables.after_ignored(t, origins) if t >= n_t else None
            if t >= n_t or (depth == 0 and tab.end_ids.size >= self._REUSE_MIN_ENDS):
                if nxt is None:
                    nxt = frozenset(o.after(t) for o in origins)
                rem = index.remainder_ids(t, s)
                has = rem >= 0
                boundary = self._boundary(nxt)
                if boundary.key == state.key:
                    deferred.append((tab.end_ids[has], rem[has]))
                else:
                    words, r = self._packed(boundary, depth + 1), rem[has]
                    m[tab.end_ids[has][((words[r >> 5] >> (r & 31)) & 1).astype(bool)]] = True
                # The other remainders can only survive if their first byte can start a lexeme at the boundary.
                pos, starts = index.unmatched_buckets(t, s)
                live = np.nonzero(index.first_bytes({k[0] for k in boundary.threads}))[0]
                cand = np.concatenate([pos[starts[b]:starts[b + 1]] for b in live]) if live.size else pos[:0]
                sel = np.zeros(tab.end_ids.size, dtype=bool)
                sel[cand] = True
                sel &= ~m[tab.end_ids]
            elif tab.end_ids.size >= self._REUSE_MIN_ENDS:
                # Plain exploration of a large group: only remainders whose first byte can start a lexeme at the
                # boundary (the same filter explore() applies per terminal, but from cached buckets).
                nxt = frozenset(o.after(t) for o in origins)
                boundary = self._boundary(nxt)
                pos, starts = index.end_buckets(t, s)
                live = np.nonzero(index.first_bytes({k[0] for k in boundary.threads}))[0]
                cand = np.concatenate([pos[starts[b]:starts[b + 1]] for b in live]) if live.size else pos[:0]
                sel = np.zeros(tab.end_ids.size, dtype=bool)
                sel[cand] = True
                sel &= ~m[tab.end_ids]
            else:
                sel = ~m[tab.end_ids]
            if sel.any():
                ids = tab.end_ids[sel]
                if nxt is None:
                    nxt = frozenset(o.after(t) for o in origins)
                ok = index.explore(nxt, ids, tab.end_offsets[sel], self.ignore_ids, unique=True)
                m[ids[ok]] = True
        # This state is its own boundary: a token whose remainder is a shorter token is allowed iff that token is.
        # Iterate to the least fixpoint (one or two rounds in practice).
        changed = bool(deferred)
        while changed:
            changed = False
            for ids, rem in deferred:
                add = ids[m[rem] & ~m[ids]]
                if add.size:
                    m[add] = True
                    changed = True
        if state.complete and self.eos_ids.size:
            m[self.eos_ids] = True

    def memory(self) -> dict[str, int]:
        """Resident bytes of what this compiled grammar holds or uses.

        Returns
        -------
        dict of str to int
            ``vocabulary``: the per-vocabulary arrays shared by every grammar over it (byte matrix, token trie,
            suffix ids); ``tables``: the token tables of this grammar's terminals built so far (shared with other
            grammars using the same terminals); ``masks``: the cached masks (bool and packed); ``dfas``: the
            terminals' DFA transition tables; ``engine``: the compiled engine's states, successor tables and
            Earley columns.
        """
        return {"vocabulary": self.index.vocabulary_nbytes(), "tables": self.index.tables_nbytes(),
                "masks": sum(m.nbytes for m in self._mask_cache.values())
                + sum(p.nbytes for p in self._packed_cache.values()),
                "dfas": sum(d.transitions.nbytes + d.accepting.nbytes for d in self.dfas),
                "engine": self._engine.nbytes() if self._engine is not None else 0}

    def __repr__(self) -> str:
        from corral.authoring.html import compiled_repr
        return compiled_repr(self)

    def _repr_html_(self) -> str:
        from corral.authoring.html import compiled_html
        return compiled_html(self)

    def matcher(self) -> "Matcher":
        """A fresh matcher at the start of the text."""
        return Matcher(self, self.initial_state)

    def accepts(self, data: bytes) -> bool:
        """Whether ``data`` is a complete string of the language (a byte-level check, for tests and validation)."""
        return self._feed(self.initial_state, data).complete

    def is_prefix(self, data: bytes) -> bool:
        """Whether ``data`` can be completed into a string of the language."""
        return self._feed(self.initial_state, data).viable


class Matcher:
    """One sequence's constraint state: which tokens may come next.

    Methods that change state say so; the others do not. A token is allowed iff the text so far plus the token's
    bytes can still be completed into a string of the language; EOS is allowed iff the text is in the language.
    It implements :class:`corral.protocols.GroupedConstraintState` (``corral.testing.check_matcher_invariants``
    checks the invariants on random walks).
    """

    __slots__ = ("compiled", "_state", "_eos")

    def __init__(self, compiled: CompiledGrammar, state: _State) -> None:
        self.compiled = compiled
        self._state = state
        self._eos = compiled.vocab.eos_token_ids

    @property
    def vocab_size(self) -> int:
        """Length of the mask (the vocabulary size, padded to the model's output size where given)."""
        return self.compiled.size

    def _next_state(self, token: int) -> _State | None:
        st = self._state
        if st.terminated:
            return None
        if token in self._eos:
            if not st.complete:
                return None
            return self.compiled._terminate(st, token)
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        if not tb:
            return None
        nxt = self.compiled._feed(st, tb, st, token)
        return nxt if nxt.viable else None

    def check(self, token: int) -> bool:
        """Whether ``token`` is allowed now. Does not change the state."""
        token = int(token)
        st = self._state
        if st.terminated or token in self._eos:
            return self._next_state(token) is not None
        if self.compiled.native:
            return 0 <= token < self.compiled.size and st.engine.feed(st.pid, token) >= 0
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        return bool(tb) and self.compiled._viable(st, tb)

    def check_group(self, token: int) -> "Rejection | None":
        """Like :meth:`check` (one feed of the token's bytes), but on rejection also the tokens it proves invalid.

        Returns ``None`` if ``token`` is allowed; otherwise a :class:`Rejection`: ``token`` and every token that
        shares a prefix of its bytes and then takes a byte no lexeme thread can take there are not allowed now
        either (AWRS drops them without checking them; see :func:`corral.samplers.awrs.awrs_step`). No state
        change.
        """
        token = int(token)
        st = self._state
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        if token in self._eos or not tb or st.terminated:
            return None if self._next_state(token) is not None else Rejection(np.array([token], dtype=np.int64))
        return self.compiled.invalid_group(st, tb)

    def implied(self, valid_token: int, other: int) -> bool:
        """``True`` if ``other`` is allowed whenever ``valid_token`` is: its bytes are a non-empty prefix of
        ``valid_token``'s (a text that can be completed after the longer bytes can be after the shorter), neither
        being EOS. ``False`` means "unknown". No state change."""
        if valid_token in self._eos or other in self._eos:
            return False
        tb = self.compiled.vocab.token_bytes
        size = self.compiled.size
        if not (0 <= valid_token < size and 0 <= other < size):
            return False
        a, b = tb[valid_token], tb[other]
        return bool(a) and bool(b) and a.startswith(b)

    def mask(self) -> np.ndarray:
        """bool [vocab_size]: ``mask()[t] == check(t)`` for every token. Read-only array; no state change."""
        return self.compiled._mask(self._state)

    def mask_packed(self) -> np.ndarray:
        """The mask as int32 words, bit ``t % 32`` of word ``t // 32`` (the xgrammar/vLLM layout). Read-only
        array, cached with the mask (packed once per state); no state change."""
        return self.compiled._packed(self._state)

    def advance(self, token: int) -> None:
        """Consume ``token``. Changes the state. Raises ValueError if the token is not allowed."""
        nxt = self._next_state(int(token))
        if nxt is None:
            raise ValueError(f"token {token} is not allowed here")
        self._state = nxt

    def advance_many(self, tokens: Iterable[int]) -> None:
        """Consume several tokens (all or nothing: on a disallowed token the state is left unchanged)."""
        start = self._state
        try:
            for t in tokens:
                self.advance(t)
        except ValueError:
            self._state = start
            raise

    def fork(self) -> "Matcher":
        """An independent matcher in the same state (O(1): states are immutable and shared)."""
        return Matcher(self.compiled, self._state)

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` advances. Changes the state. Raises ValueError if fewer than n were made."""
        st = self._state
        for _ in range(n):
            if st.parent is None:
                raise ValueError(f"cannot roll back {n} tokens")
            st = st.parent
        self._state = st

    @property
    def num_tokens(self) -> int:
        """How many tokens have been advanced (the rollback depth available)."""
        n, st = 0, self._state
        while st.parent is not None:
            n, st = n + 1, st.parent
        return n

    def is_complete(self) -> bool:
        """Whether the text so far is in the language (EOS allowed). No state change."""
        return not self._state.terminated and self._state.complete

    def is_terminated(self) -> bool:
        """Whether EOS has been advanced."""
        return self._state.terminated

    def forced_tokens(self, limit: int = 16) -> list[int]:
        """The tokens forced from here in sequence (each the only allowed token), at most ``limit``. No state change."""
        out: list[int] = []
        m = self.fork()
        while len(out) < limit and not m.is_terminated():
            allowed = np.flatnonzero(m.mask())
            if len(allowed) != 1:
                break
            tok = int(allowed[0])
            out.append(tok)
            m.advance(tok)
        return out

    def accepts_bytes(self, data: bytes) -> bool:
        """Whether the text so far followed by ``data`` can still be completed. No state change."""
        return self.compiled._feed(self._state, data).viable

    def state_key(self):
        """A hashable key of the current state (equal keys allow the same continuations)."""
        return self._state.key

    def __repr__(self) -> str:
        from corral.authoring.html import matcher_repr
        return matcher_repr(self)

    def _repr_html_(self) -> str:
        from corral.authoring.html import matcher_html
        return matcher_html(self)
