"""Parser configurations of a grammar with an indentation post-lexer: an Earley column plus the post-lexer's state.

A :class:`Config` is what a lexeme boundary knows in such a grammar: the Earley
:class:`~corral.runtime.earley.Column`, the indentation stack (a tuple, ``(0,)`` at the start), the bracket depth,
and the follow guard on the next byte left by the lexeme that just ended (:mod:`corral.runtime.guards`; ``None``
mostly). Configs are interned per compiled grammar (weakly, like columns), so a set of them is a cheap hashable part
of a matcher state; lexeme threads keep the unguarded :attr:`Config.base` as their origin, the guard having chosen
their start state (:attr:`Config.seeds`). Their transitions run lark's ``Indenter`` algorithm
(:mod:`corral.compile.indentation`): :meth:`Config.after` for a lexeme of an ordinary terminal (counting brackets),
:meth:`Config.after_newline` for a newline lexeme of a given indentation (feeding ``_NEWLINE`` and then ``_INDENT``
or the ``_DEDENT``\\ s), and :attr:`Config.complete` for the end of the text (the pending ``_DEDENT``\\ s, then the
start rule complete).

Only *live* configs are ever returned: some lexeme can start there, or the text may end there. A closing bracket
never starts at depth 0, and a newline lexeme starts only where some indentation after it leads to a live config.
The matcher's lexeme threads then always lead somewhere when the grammar uses ``_INDENT``/``_DEDENT`` the way
Python does (an ``_INDENT`` only right after a newline, a ``_DEDENT`` only right after a newline or a ``_DEDENT``,
no newline needed inside brackets), which makes ``mask()`` exact there; a grammar that, say, needs a ``_DEDENT``
right after an ordinary terminal may get a token allowed whose lexeme can only end in a dead config.
"""

from __future__ import annotations

import weakref
from collections import deque

from corral.runtime.earley import Column

__all__ = ["IndentSpace", "Config"]

_DEAD = object()  # memo of a transition to no live config


class IndentSpace:
    """The terminal ids of an indentation post-lexer in one compiled grammar, and its interned configs.

    Parameters
    ----------
    tables : EarleyTables
        The grammar's Earley tables.
    ids : dict of str to int
        Terminal name -> id (the declared ``_INDENT``/``_DEDENT`` included).
    spec : corral.compile.indentation.Indentation
        The post-lexer.
    """

    def __init__(self, tables, ids: dict, spec) -> None:
        self.tables = tables
        self.spec = spec
        self.newline = ids[spec.newline]
        self.indent = ids[spec.indent]
        self.dedent = ids[spec.dedent]
        names = {i: n for n, i in ids.items()}
        # The follow-guarded parts of a terminal (corral.runtime.guards) count as the terminal.
        kinds = {t: names.get(tables.aliases.get(t, t)) for t in range(tables.n_terminals)}
        self.opens = frozenset(t for t, n in kinds.items() if n in spec.open_parens)
        self.closes = frozenset(t for t, n in kinds.items() if n in spec.close_parens)
        self.skip = frozenset([self.newline, self.indent, self.dedent])  # never started as ordinary threads
        self.maximal = frozenset([self.newline, *tables.ignore])  # lexemes end only where the next byte stops them
        self._configs: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        # The configs made last stay alive (and their columns and memos with them): masks revisit the same few
        # hundred configs, which weak interning alone would drop and rebuild between calls.
        self._recent: deque = deque(maxlen=self.KEEP)
        self.seed_groups: dict = {}  # frozenset of configs -> (terminal, start state) -> configs (explore's)

    # How many recently made configs are kept alive.
    KEEP = 8192

    def config(self, col, stack: tuple, depth: int, guard: int | None = None) -> "Config":
        """The interned config ``(col, stack, depth, guard)`` (a guarded column gives its column and guard)."""
        if not isinstance(col, Column):
            col, guard = col.base, col.guard
        key = (col, stack, depth, guard)
        c = self._configs.get(key)
        if c is None:
            c = self._configs[key] = Config(self, col, stack, depth, guard)
            self._recent.append(c)
        return c

    def start_state(self, t: int, guard: int | None) -> int:
        """The DFA state lexemes of ``t`` start in under ``guard`` (``-1``: none can start)."""
        starts = self.tables.starts
        if not starts:
            return 0
        return starts[t][-1 if guard is None else guard]

    def initial(self, col) -> "Config":
        """The config at the start of the text (indentation 0, no bracket open)."""
        return self.config(col, (0,), 0)


class Config:
    """An Earley column with the indentation stack and bracket depth (see the module docstring). Immutable."""

    __slots__ = ("space", "col", "stack", "depth", "guard", "base", "_complete", "_starts", "_seeds", "_nl_start",
                 "_after", "_nl", "__weakref__")

    def __init__(self, space: IndentSpace, col, stack: tuple, depth: int, guard: int | None = None) -> None:
        self.space = space
        self.col = col
        self.stack = stack
        self.depth = depth
        self.guard = guard
        self.base = self if guard is None else space.config(col, stack, depth)
        self._complete = None
        self._starts = None
        self._seeds = None
        self._nl_start = None
        self._after: dict = {}
        self._nl: dict = {}

    def __repr__(self) -> str:
        return f"<Config terms={self.col.terms} stack={self.stack} depth={self.depth} guard={self.guard}>"

    # ------------------------------------------------------------------ end of text and liveness

    @property
    def complete(self) -> bool:
        """Whether the text may end here: after the pending ``_DEDENT``\\ s the start rule is complete."""
        if self._complete is None:
            col = self._dedents(len(self.stack) - 1)
            end_ok = self.guard is None or self.space.tables.guards[self.guard].end_ok
            self._complete = end_ok and col is not None and col.complete
        return self._complete

    def _dedents(self, n: int):
        """The column after ``n`` ``_DEDENT``\\ s, or ``None``."""
        col, dedent = self.col, self.space.dedent
        for _ in range(n):
            if dedent not in col.scan:
                return None
            col = col.after(dedent).base
        return col

    def _raw_live(self) -> bool:
        """Some lexeme can start here (a newline lexeme: if the parser expects one), or the text may end here."""
        return self.depth > 0 or bool(self.seeds) or self.space.newline in self.col.terms or self.complete

    # ------------------------------------------------------------------ which lexemes may start

    @property
    def starts(self) -> tuple[int, ...]:
        """The ordinary (not newline, not declared) terminals that may start here (no closing bracket at depth 0)."""
        if self._starts is None:
            skip = self.space.skip | (self.space.closes if self.depth == 0 else frozenset())
            self._starts = tuple(t for t in self.col.terms if t not in skip)
        return self._starts

    @property
    def seeds(self) -> tuple[tuple[int, int], ...]:
        """The threads ``(terminal, start state)`` of the ordinary and ignored lexemes that may start here."""
        if self._seeds is None:
            sp = self.space
            keys = ((t, sp.start_state(t, self.guard)) for t in self.starts + sp.tables.ignore)
            self._seeds = tuple(k for k in keys if k[1] >= 0)
        return self._seeds

    @property
    def newline_seed(self) -> tuple[int, int] | None:
        """The thread ``(newline, start state)`` of a newline lexeme that may start here, or ``None``."""
        if not self.newline_start:
            return None
        state = self.space.start_state(self.space.newline, self.guard)
        return (self.space.newline, state) if state >= 0 else None

    @property
    def newline_start(self) -> bool:
        """Whether a newline lexeme may start here: always inside brackets (it is dropped), else when the parser
        expects one and some indentation after it leads to a live config."""
        if self._nl_start is None:
            if self.depth > 0:
                self._nl_start = True
            elif self.space.newline not in self.col.terms:
                self._nl_start = False
            else:
                top = self.stack[-1]
                widths = (top, top + 1) + self.stack[:-1]
                self._nl_start = any(self.after_newline(w) is not None for w in widths)
        return self._nl_start

    # ------------------------------------------------------------------ transitions

    def after_ignored(self, t: int) -> "Config":
        """The config after a lexeme of the ignored terminal ``t`` (its follow guard, if any, added)."""
        guard = self.space.tables.guard_of.get(t)
        return self if guard is None else self.space.config(self.col, self.stack, self.depth, guard)

    def after(self, t: int) -> "Config | None":
        """The live config after a lexeme of the ordinary terminal ``t`` (expected here), or ``None``."""
        got = self._after.get(t)
        c = got() if isinstance(got, weakref.ref) else got
        if c is None:
            c = self._step(t)
            self._after[t] = _DEAD if c is None else weakref.ref(c)
        return None if c is _DEAD else c

    def _step(self, t: int) -> "Config | None":
        """:meth:`after`, not memoised: the bracket depth counted, the column scanned, liveness checked."""
        sp = self.space
        depth = self.depth
        if t in sp.opens:
            depth += 1
        elif t in sp.closes:
            if depth == 0:
                return None  # lark's Indenter asserts the bracket depth stays >= 0
            depth -= 1
        if t not in self.col.scan:
            return None
        c = sp.config(self.col.after(t), self.stack, depth)
        return c if c._raw_live() else None

    def after_newline(self, width: int) -> "Config | None":
        """The live config after a newline lexeme whose indentation (after its last line break) is ``width``
        (``-1``: it has no line break), or ``None``. Inside brackets the lexeme is dropped: the config itself."""
        if self.depth > 0:
            return self
        got = self._nl.get(width)
        c = got() if isinstance(got, weakref.ref) else got
        if c is None:
            c = self._newline(width)
            self._nl[width] = _DEAD if c is None else weakref.ref(c)
        return None if c is _DEAD else c

    def _newline(self, width: int) -> "Config | None":
        """lark's ``Indenter.handle_NL``: ``_NEWLINE``, then one ``_INDENT`` or the ``_DEDENT``\\ s."""
        sp = self.space
        if width < 0 or sp.newline not in self.col.scan:
            return None  # lark fails on a newline lexeme without a line break (a comment at the end)
        col, stack = self.col.after(sp.newline).base, self.stack
        if width > stack[-1]:
            if sp.indent not in col.scan:
                return None
            col, stack = col.after(sp.indent).base, stack + (width,)
        else:
            while width < stack[-1]:
                if sp.dedent not in col.scan:
                    return None
                col, stack = col.after(sp.dedent).base, stack[:-1]
            if width != stack[-1]:
                return None  # lark's DedentError
        c = sp.config(col, stack, 0)
        return c if c._raw_live() else None

