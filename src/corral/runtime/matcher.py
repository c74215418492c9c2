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
:mod:`corral.tokens.index` (:mod:`corral.runtime.masks`); ``check()`` runs the bytes of one token. The two are
independent implementations of one definition, and tests assert ``mask()[t] == check(t)`` along random walks.

This module holds :class:`CompiledGrammar` (a grammar compiled against a vocabulary: its states, their transitions
and their cached masks); the per-sequence :class:`Matcher` it makes lives in :mod:`corral.runtime.constraint_state`
and is importable from here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np

from corral.budget import BudgetExceeded, budget_scope
from corral.compile.grammar import Grammar, productive_rules
from corral.errors import ConfigurationError, GrammarError
from corral.runtime.earley import Column, EarleyTables
from corral.runtime import groups, guards, masks, stepping
from corral.runtime.constraint_state import Matcher
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
        names, cache_keys, plan = self._build_terminals(grammar)
        self.tables = EarleyTables(self.n_terminals, *self._bnf(grammar, names), ignore=self.ignore_ids)
        if plan is not None:
            guards.install(plan, self.tables)
        caches = shared_caches(vocab.fingerprint, cache_keys)
        self.index = TokenIndex(self.dfas, vocab.byte_matrix, vocab.lengths, caches,
                                fingerprint=vocab.fingerprint)
        self.eos_ids = np.array(sorted(vocab.eos_token_ids), dtype=np.int64)
        self.size = vocab.size
        self._init_caches(mask_cache_size)
        self.native = NATIVE_ENGINE if native is None else bool(native) and NATIVE_ENGINE
        self.native = self.native and MaskEngine.supports(self.index) and plan is None
        if self.native:
            self._engine = MaskEngine(self)
            self.initial_state = _NState(self._engine, self._engine.initial())
        else:
            self._engine = None
            self.initial_state = self._start_threads(frozenset([self.tables.initial]))
        self._packed(self.initial_state)  # the first mask, under the budget (and cached for the first step)

    def _build_terminals(self, grammar: Grammar) -> tuple[list[str], list, "guards.GuardPlan | None"]:
        """Set the terminal names, DFAs and ids (the ignored terminals after the others), with follow guards where
        a terminal's lookahead reaches past its lexemes (:mod:`corral.runtime.guards`); returns the names of the
        non-ignored terminals, the token-table cache keys and the guard plan (``None``: no guards)."""
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
        return names, cache_keys, plan

    def _init_caches(self, mask_cache_size: int) -> None:
        """Empty mask, boundary and rejected-group caches, and the per-thread scratch buffers."""
        self._mask_cache: OrderedDict = OrderedDict()
        self._packed_cache: OrderedDict = OrderedDict()  # state key -> int32 [ceil(V / 32)]
        self._local = threading.local()  # per-thread scratch buffers (see _scratch)
        self._mask_cache_size = mask_cache_size
        self._boundaries: dict = {}
        self._sorted = None
        self._rows: dict = {}  # (terminal, dfa state) -> bool [256]: the bytes that continue the lexeme
        self._group_cache: OrderedDict = OrderedDict()  # (prefix, threads after it) -> ids dead one byte later
        self._group_cache_ids = 0  # total ids held by _group_cache

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
        """``self._feed(state, data).viable`` for non-empty ``data``, cheaply: by the engine, else stepping the
        threads' DFAs alone until a lexeme may end (:func:`corral.runtime.stepping.viable`)."""
        if self.native:
            return self._engine.feed_bytes(state.pid, data) >= 0
        return stepping.viable(self, state, data)

    def _run(self, state: _State, data: bytes, parent=None, token=None, trace: list | None = None
             ) -> tuple[_State, int]:
        """``(state after data, n)``: ``n`` is the length of the shortest prefix of ``data`` after which no lexeme
        thread is left, or ``-1`` (:func:`corral.runtime.stepping.run`; ``trace`` collects the threads after each
        byte)."""
        return stepping.run(self, state, data, parent, token, trace)

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
        """Fill ``m`` with the mask of ``state`` (:func:`corral.runtime.masks.fill_mask`)."""
        masks.fill_mask(self, state, m, depth)

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
