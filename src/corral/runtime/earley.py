"""An incremental Earley recognizer over terminals, with immutable, hash-consed columns.

The recognizer works on lexeme boundaries: a :class:`Column` is the Earley item set at a point of the text where a
lexeme just ended (or at the start). Columns are immutable once built, so a parser state is just a set of column
references: forking is free and rollback is dropping references. Items are tuples ``(rule, dot, origin)`` whose
``origin`` is the :class:`Column` where the rule was predicted (an object, not an index), so no chart array has to
be kept, copied or truncated.

Columns are hash-consed by their kernel (the items produced by scanning a terminal): two paths that reach the same
kernel share one column object. This keeps ambiguous grammars (``A+`` over a terminal that matches any split of the
text) from growing the state with the length of the text, and lets caches keyed by column identity hit.

Nullable nonterminals are handled with the Aycock-Horspool rule: predicting a nullable nonterminal also moves the
dot past it, so completions of empty derivations never need the current column's own waiting list.

Follow guards (:mod:`corral.runtime.guards`): a terminal whose lexemes must be followed by certain bytes is split
into parts, the extra parts *aliases* scanned in the original's place (:attr:`EarleyTables.aliases`). Scanning a
guarded part gives a :class:`GuardedColumn`: the column, plus the guard on the first byte of what follows, which
starts each lexeme there in its terminal's guarded start state (:attr:`Column.seeds`).
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

__all__ = ["EarleyTables", "Column", "GuardedColumn"]


class _Rule(NamedTuple):
    lhs: int
    rhs: tuple[int, ...]


class EarleyTables:
    """Grammar tables for the recognizer: integer symbols, rules by left-hand side, nullable set.

    Parameters
    ----------
    n_terminals : int
        Terminals are the integers ``0 .. n_terminals-1``; nonterminals are the integers from ``n_terminals`` on.
    rules : list of (lhs, rhs)
        Plain BNF rules over integer symbols. Every nonterminal must be productive (the caller prunes).
    start : int
        The start nonterminal.
    ignore : tuple of int, optional
        The ignored terminals (lexemes of them may start at every boundary: :attr:`Column.seeds`).

    Attributes
    ----------
    aliases, guard_of, guards, starts, reach :
        Follow guards, set by :func:`corral.runtime.guards.install` (empty without them): alias terminal ->
        the terminal it is scanned as; terminal -> the index in ``guards`` of what must follow its lexemes; the
        guards; terminal -> its DFA's start state under each guard, then unguarded (``-1``: no lexeme can start
        there); the :class:`~corral.runtime.reach.Reach` that tells where a lexeme can lead to a complete text.
    """

    def __init__(self, n_terminals: int, rules: list[tuple[int, tuple[int, ...]]], start: int,
                 ignore: tuple[int, ...] = ()) -> None:
        self.n_terminals = n_terminals
        self.ignore = tuple(ignore)
        self.aliases: dict[int, int] = {}
        self.guard_of: dict[int, int] = {}
        self.guards: list = []
        self.starts: dict[int, tuple[int, ...]] = {}
        self.reach = None
        self._guarded: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
        self.rules = [_Rule(lhs, tuple(rhs)) for lhs, rhs in rules]
        self.start = start
        self.by_lhs: dict[int, tuple[int, ...]] = {}
        by: dict[int, list[int]] = {}
        for i, r in enumerate(self.rules):
            by.setdefault(r.lhs, []).append(i)
        self.by_lhs = {k: tuple(v) for k, v in by.items()}
        self.nullable = self._nullable()
        self._interned: weakref.WeakValueDictionary[frozenset, Column] = weakref.WeakValueDictionary()
        self._canonical: weakref.WeakValueDictionary[frozenset, Column] = weakref.WeakValueDictionary()
        self._initial: Column | None = None

    @property
    def initial(self) -> "Column":
        """The column at the start of the text (built on first use: the compiled engine has its own)."""
        if self._initial is None:
            self._initial = Column(self, [(i, 0, None) for i in self.by_lhs.get(self.start, ())], initial=True)
        return self._initial

    def _nullable(self) -> frozenset[int]:
        """The nonterminals that derive the empty string (a worklist over the rules without terminals)."""
        from corral.compile.grammar import productive_rules

        n_t = self.n_terminals
        candidates = [r for r in self.rules if all(s >= n_t for s in r.rhs)]
        return frozenset(productive_rules(candidates, 0)[0])

    def guarded(self, column: "Column", guard: int) -> "GuardedColumn":
        """The boundary ``column`` with guard ``guard`` on what follows (hash-consed)."""
        got = self._guarded.get((column, guard))
        if got is None:
            got = self._guarded[(column, guard)] = GuardedColumn(column, guard)
        return got

    def after_ignored(self, terminal: int, origins: frozenset) -> frozenset:
        """The boundary columns after a lexeme of the ignored ``terminal`` that started at ``origins``."""
        guard = self.guard_of.get(terminal)
        return origins if guard is None else frozenset(self.guarded(c, guard) for c in origins)

    def column(self, kernel: frozenset) -> "Column":
        """Return the column whose kernel is ``kernel``, hash-consed.

        Two columns are interchangeable when they hold the same items that can still move (completed items only
        serve completion while the column is built). Interning on that signature, not on the kernel, keeps
        ambiguous grammars bounded: splitting ``data.json`` into lexemes at every byte reaches one column per
        parse position instead of one per split.
        """
        col = self._interned.get(kernel)
        if col is None:
            col = Column(self, kernel)
            sig = col.signature()
            existing = self._canonical.get(sig)
            if existing is not None:
                col = existing
            else:
                self._canonical[sig] = col
            self._interned[kernel] = col
        return col


class Column:
    """An immutable Earley item set at a lexeme boundary.

    Attributes
    ----------
    scan : dict[int, tuple]
        Terminal -> items whose dot stands before that terminal.
    terms : tuple[int, ...]
        The terminals this column expects (the keys of ``scan``), sorted.
    complete : bool
        Whether the start symbol is complete from the initial column: the text up to here is in the language.
    """

    __slots__ = ("tables", "scan", "wait", "terms", "complete", "_after", "_seeds", "__weakref__")

    def __init__(self, tables: EarleyTables, kernel, *, initial: bool = False) -> None:
        self.tables = tables
        self._after: dict[int, weakref.ref] = {}
        self._seeds = None
        rules = tables.rules
        nullable = tables.nullable
        n_t = tables.n_terminals
        seen: set = set()
        agenda: list = []
        # Items predicted here carry ``self`` as origin; the initial column's kernel uses None as a placeholder.
        for r, d, o in kernel:
            item = (r, d, self if o is None else o)
            if item not in seen:
                seen.add(item)
                agenda.append(item)
        scan: dict[int, list] = {}
        wait: dict[int, list] = {}
        predicted: set[int] = set()
        complete = False
        initial_col = self if initial else tables.initial
        while agenda:
            item = agenda.pop()
            r, d, origin = item
            rule = rules[r]
            if d == len(rule.rhs):
                if origin is self:
                    # Empty derivation: parents got the dot moved by the nullable rule at prediction time.
                    if initial and rule.lhs == tables.start:
                        complete = True
                    continue
                if rule.lhs == tables.start and origin is initial_col:
                    complete = True
                for pr, pd, po in origin.wait.get(rule.lhs, ()):
                    nxt = (pr, pd + 1, po)
                    if nxt not in seen:
                        seen.add(nxt)
                        agenda.append(nxt)
                continue
            sym = rule.rhs[d]
            if sym < n_t:
                scan.setdefault(sym, []).append(item)
                continue
            wait.setdefault(sym, []).append(item)
            if sym not in predicted:
                predicted.add(sym)
                for pr in tables.by_lhs.get(sym, ()):
                    nxt = (pr, 0, self)
                    if nxt not in seen:
                        seen.add(nxt)
                        agenda.append(nxt)
            if sym in nullable:
                nxt = (r, d + 1, origin)
                if nxt not in seen:
                    seen.add(nxt)
                    agenda.append(nxt)
        if initial and tables.start in nullable:
            complete = True
        for alias, terminal in tables.aliases.items():
            if terminal in scan:
                scan[alias] = scan[terminal]
        self.scan = {k: tuple(v) for k, v in scan.items()}
        self.wait = {k: tuple(v) for k, v in wait.items()}
        self.terms = tuple(sorted(self.scan))
        self.complete = complete

    def signature(self) -> frozenset:
        """The items that can still move (own predictions written with origin None), and the complete flag."""
        items = [(r, d, None if o is self else o) for group in (self.scan, self.wait) for v in group.values()
                 for r, d, o in v]
        return frozenset(items + [("complete", self.complete)])

    def after(self, terminal: int) -> "Column":
        """The column after scanning ``terminal`` here (memoised). ``terminal`` must be in :attr:`terms`."""
        ref = self._after.get(terminal)
        col = ref() if ref is not None else None
        if col is None:
            kernel = frozenset((r, d + 1, o) for r, d, o in self.scan[terminal])
            col = self.tables.column(kernel)
            guard = self.tables.guard_of.get(terminal)
            if guard is not None:
                col = self.tables.guarded(col, guard)
            # Weak: successors stay cached while some state uses them, and a long-lived grammar does not
            # accumulate every column it ever explored.
            self._after[terminal] = weakref.ref(col)
        return col

    @property
    def base(self) -> "Column":
        """The column itself (a :class:`GuardedColumn`'s is the column it guards)."""
        return self

    @property
    def seeds(self) -> tuple:
        """The lexeme threads ``(terminal, DFA state)`` that start here: every expected and ignored terminal, in
        its start state (terminals with no lexeme left out where follow guards split some)."""
        if self._seeds is None:
            tables = self.tables
            ts = self.terms + tables.ignore
            if tables.reach is None:
                self._seeds = tuple((t, 0) for t in ts)
            else:
                self._seeds = tuple((t, 0) for t in ts if tables.starts[t][-1] >= 0 and tables.reach.viable(self, t))
        return self._seeds

    def __repr__(self) -> str:
        return f"<Column terms={self.terms} complete={self.complete}>"


class GuardedColumn:
    """A lexeme boundary where the parser is in column :attr:`base` and the next byte must pass guard
    :attr:`guard` (an index into ``tables.guards``), or the text end there when the guard allows it. Threads start
    here in their terminal's guarded start state (:attr:`seeds`), with origin :attr:`base`; scanning and
    completion are the base column's."""

    __slots__ = ("base", "guard", "complete", "seeds", "__weakref__")

    def __init__(self, base: Column, guard: int) -> None:
        self.base = base
        self.guard = guard
        tables = base.tables
        self.complete = base.complete and tables.guards[guard].end_ok
        ts = base.terms + tables.ignore
        self.seeds = tuple((t, tables.starts[t][guard]) for t in ts
                           if tables.starts[t][guard] >= 0 and tables.reach.viable(base, t))

    @property
    def terms(self) -> tuple:
        """The base column's expected terminals."""
        return self.base.terms

    @property
    def tables(self) -> EarleyTables:
        """The base column's grammar tables."""
        return self.base.tables

    def after(self, terminal: int) -> Column:
        """The column after scanning ``terminal`` from the base column."""
        return self.base.after(terminal)

    def __repr__(self) -> str:
        return f"<GuardedColumn {self.base!r} guard={self.guard}>"
