"""The matcher of a grammar with an indentation post-lexer (lark's ``Indenter``; :mod:`corral.compile.indentation`).

:class:`IndentedGrammar` is the :class:`~corral.runtime.matcher.CompiledGrammar` that ``CompiledGrammar(grammar,
vocab)`` builds when ``grammar.postlex`` is set. It keeps the Python matcher's design (lexeme threads over sets of
boundaries, immutable states, masks from the per-(terminal, DFA state) token tables) with three changes:

* a boundary is a :class:`~corral.runtime.indent_configs.Config` (Earley column, indentation stack, bracket depth)
  instead of a bare column, so ending an ordinary lexeme counts brackets and ending a newline lexeme feeds
  ``_NEWLINE`` and the ``_INDENT``/``_DEDENT``\\ s its indentation calls for; EOS feeds the pending ``_DEDENT``\\ s;
* the newline and the ignored terminals are *maximal* (:mod:`corral.runtime.indent_lexemes`): their lexemes end
  only when the next byte arrives and their DFA cannot take it (:meth:`IndentedGrammar._pending`), or at EOS;
* a newline thread ``(newline, dfa_state)`` holds ``(config, width)`` pairs: its origins and the lexeme's
  indentation so far.

The compiled engine does not implement this; such grammars always run the Python matcher. ``mask()``
(:mod:`corral.runtime.indent_masks`) and ``check()`` stay two implementations of one definition.
"""

from __future__ import annotations

import numpy as np

from corral.automata.bytedfa import ByteDFA
from corral.errors import GrammarError
from corral.runtime import indent_masks
from corral.runtime.earley import Column
from corral.runtime.groups import next_bytes
from corral.runtime.indent_configs import IndentSpace
from corral.runtime.indent_lexemes import IGNORED, step_width, without_newline_starts
from corral.runtime.matcher import CompiledGrammar
from corral.runtime.stepping import feed
from corral.runtime.states import _State
from corral.runtime.terminals import terminal_dfas

__all__ = ["IndentedGrammar"]


class _IState(_State):
    """A matcher state of :class:`IndentedGrammar`: :class:`~corral.runtime.states._State` whose completeness also
    counts the maximal lexemes that may end at EOS (``pending``)."""

    __slots__ = ("pending",)

    def __init__(self, threads: dict, here: frozenset, parent=None, token=None, terminated=False,
                 pending: bool = False):
        super().__init__(threads, here, parent, token, terminated)
        self.pending = pending

    @property
    def complete(self) -> bool:
        """Whether the text may end here (EOS allowed)."""
        return self.pending or any(c.complete for c in self.here)


class IndentedGrammar(CompiledGrammar):
    """A :class:`~corral.runtime.matcher.CompiledGrammar` for a grammar with an indentation post-lexer (same
    parameters and interface; always the Python matcher). See the module docstring."""

    _space = None

    def _build(self, grammar, vocab, mask_cache_size: int, native) -> None:
        """The base build without the compiled engine (it has no post-lexer)."""
        self._ends_cache: dict = {}
        super()._build(grammar, vocab, mask_cache_size, False)

    def _terminal_symbols(self, grammar) -> list[str]:
        """The grammar's terminals, then the declared ``_INDENT`` and ``_DEDENT``."""
        return list(grammar.terminals) + list(grammar.postlex.declared)

    def _terminal_dfas(self, grammar, names: list[str]) -> tuple[list, list]:
        """The terminals' DFAs, an empty DFA for each declared terminal (never lexed), then the ignored ones', which
        never start where a newline lexeme can (:func:`~corral.runtime.indent_lexemes.without_newline_starts`)."""
        real = [n for n in names if n in grammar.terminals]
        dfas, keys = terminal_dfas(grammar, real)
        newline = dfas[real.index(grammar.postlex.newline)]
        n = len(real)
        for i in range(n, len(dfas)):
            dfa = without_newline_starts(dfas[i], newline)
            dfas[i] = dfa if dfa is not None else ByteDFA.empty(f"<{dfas[i].pattern}: starts like a newline>")
            nl = grammar.terminals[grammar.postlex.newline]
            keys[i] = ((keys[i][0], "no newline start", nl.pattern, tuple(sorted(nl.flags))), keys[i][1])
        declared = [n for n in names if n not in grammar.terminals]
        dfas[n:n] = [ByteDFA.empty(f"<declared {d}>") for d in declared]
        keys[n:n] = [(f"<declared {d}>", frozenset()) for d in declared]
        return dfas, keys

    @property
    def space(self) -> IndentSpace:
        """The post-lexer's terminal ids and interned configs."""
        if self._space is None:
            ids = {n: i for i, n in enumerate(self.terminal_names[:self.n_terminals])}
            post = self.grammar.postlex
            if ids[post.newline] in self.tables.aliases.values():
                raise self.grammar._error(f"the newline terminal {post.newline!r} of the indentation post-lexer has "
                                          "a lookahead past the end of its lexemes: not supported",
                                          terminal=post.newline)
            if any(t in self.tables.guard_of for t in self.ignore_ids):
                raise GrammarError("an ignored terminal with a lookahead past the end of its lexemes is not supported "
                                   "with the indentation post-lexer", source_name=self.grammar.source_name)
            self._space = IndentSpace(self.tables, ids, post)
        return self._space

    # ----------------------------------------------------------------------------------------------------------
    # state transitions

    def _start_threads(self, here: frozenset, threads: dict | None = None, parent=None, token=None) -> _IState:
        """The state at a boundary ``here`` (configs; the initial column is wrapped) with no lexeme in progress."""
        if any(isinstance(c, Column) for c in here):
            here = frozenset(self.space.initial(c) if isinstance(c, Column) else c for c in here)
        new = {} if threads is None else threads
        self._start_into(new, here)
        return _IState({k: frozenset(v) for k, v in new.items()}, here, parent, token)

    def _start_into(self, threads: dict, configs) -> None:
        """Add the threads that start at ``configs`` to ``threads`` (values: sets or frozensets, replaced)."""
        for c in configs:
            base = (c.base,)
            for key in c.seeds:
                _add(threads, key, base)
            key = c.newline_seed
            if key is not None:
                _add(threads, key, ((c.base, -1 if c.depth == 0 else IGNORED),))

    def _pending(self, threads: dict, byte: int | None) -> set:
        """The configs after the maximal lexemes that end before ``byte`` (their DFA cannot take it; ``None``: the
        end of the text)."""
        out: set = set()
        for (t, s), origins in threads.items():
            if t in self.space.maximal and self._acc[t][s] and (byte is None or self._trans[t][s][byte] < 0):
                out.update(self.after_maximal(t, origins))
        return out

    def after_maximal(self, t: int, origins) -> set:
        """The live configs after a lexeme of the maximal terminal ``t`` with thread ``origins`` (configs, or
        ``(config, width)`` pairs for the newline terminal)."""
        if t != self.space.newline:
            return {o.after_ignored(t) for o in origins}
        return {c for c in (o.after_newline(w) for o, w in origins) if c is not None}

    def _state(self, threads: dict, here: frozenset, parent=None, token=None) -> _IState:
        """The state with ``threads`` and boundary ``here`` (its completeness counts the pending lexeme ends)."""
        pending = any(c.complete for c in self._pending(threads, None))
        return _IState(threads, here, parent, token, pending=pending)

    def _feed(self, state, data: bytes, parent=None, token=None):
        """The state after ``data`` (possibly with no threads: not viable)."""
        return self._run(state, data, parent, token)[0]

    def _terminate(self, state, token):
        """The state after EOS (``token``) in ``state``."""
        return _IState({}, state.here, state, token, terminated=True)

    def _viable(self, state, data: bytes) -> bool:
        """Whether ``data`` can follow ``state``."""
        return self._run(state, data)[0].viable

    def _run(self, state, data: bytes, parent=None, token=None, trace: list | None = None):
        """``(state after data, n)`` as :meth:`CompiledGrammar._run` (``n``: the prefix after which no thread is
        left, ``-1`` if none); with ``trace``, the threads after each byte."""
        threads, here, dead_at = feed(state.threads, state.here, data, self._byte, trace)
        return self._state(threads, here, parent, token), dead_at

    def _byte(self, threads: dict, b: int) -> tuple[dict, frozenset]:
        """One byte: the maximal lexemes it cannot extend end first (their configs start new threads), then every
        thread steps."""
        ended = self._pending(threads, b)
        if ended:
            threads = dict(threads)
            self._start_into(threads, ended)
        return self._step(threads, b)

    def _step(self, threads: dict, b: int) -> tuple[dict, frozenset]:
        """Feed one byte to every thread: the new threads and the boundary configs after it (ordinary lexemes end
        at once, maximal ones when the next byte comes)."""
        trans, acc, maximal = self._trans, self._acc, self.space.maximal
        nl, tab = self.space.newline, self.space.spec.tab_len
        new: dict = {}
        here: set = set()
        for (t, s), origins in threads.items():
            s2 = trans[t][s][b]
            if s2 < 0:
                continue
            if t == nl:
                origins = frozenset((c, step_width(w, b, tab)) for c, w in origins)
            _add(new, (t, s2), origins)
            if acc[t][s2] and t not in maximal:
                here.update(c for c in (o.after(t) for o in origins) if c is not None)
        here = frozenset(here)
        self._start_into(new, here)
        return {k: frozenset(v) for k, v in new.items()}, here

    # ----------------------------------------------------------------------------------------------------------
    # masks and rejected groups

    def _fill_mask(self, state, m: np.ndarray, depth: int) -> None:
        """Fill ``m`` with the mask of ``state`` (:func:`corral.runtime.indent_masks.fill_mask`)."""
        indent_masks.fill_mask(self, state, m, depth)

    def _effective(self, threads: dict) -> dict:
        """``threads`` with the threads the maximal lexemes that may end here would start (for the bytes allowed
        next: a byte their end refuses is one the ending thread itself takes)."""
        ended = self._pending(threads, None)
        if not ended:
            return threads
        out = dict(threads)
        self._start_into(out, ended)
        return out

    def _trace(self, state, data: bytes):
        """:func:`corral.runtime.groups.trace` for this matcher: the allowed bytes count the maximal lexemes that
        may end at each position."""
        steps: list = []
        nxt, n = self._run(state, data, trace=steps)
        if n < 0 or nxt.viable and n == len(data):
            return -1, None, None
        seq = [state.threads] + steps
        keys = [frozenset(self._effective(t)) for t in steps]
        return n, keys, lambda i: next_bytes(self, self._effective(seq[i]))


CompiledGrammar.VARIANTS["postlex"] = IndentedGrammar


def _add(threads: dict, key, origins) -> None:
    """``threads[key] |= origins``."""
    cur = threads.get(key)
    threads[key] = frozenset(origins) if cur is None else cur | frozenset(origins)
