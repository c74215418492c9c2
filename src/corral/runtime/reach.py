"""Where a lexeme can still lead to a complete text when follow guards (:mod:`corral.runtime.guards`) constrain
what may follow some lexemes: :class:`Reach`, consulted by :attr:`corral.runtime.earley.Column.seeds`.

Without guards every Earley item can be completed (all rules are productive), so every live lexeme thread can. A
guard can block that (``a(?!b)`` where only ``b`` may follow), so with guards a lexeme only starts where its end
leaves a boundary from which the text can be completed; the masks stay exact (no token leads to a dead end).
"""

from __future__ import annotations

import weakref

__all__ = ["Reach"]


class Reach:
    """Which lexeme boundaries can still lead to a complete text, with follow guards (installed on the Earley
    tables as ``tables.reach``; :attr:`corral.runtime.earley.Column.seeds` starts a lexeme only where its end can).

    Guard states are the guard indices and ``len(guards)`` (none pending). A symbol's *relation* holds the pairs
    ``(p, q)`` such that a derivation of it (with ignored lexemes before each terminal) can start with ``p`` pending
    and leave ``q`` pending: exact, as a least fixpoint over the rules. ``up(column)`` holds the pairs
    ``(A, q)`` such that a derivation of ``A`` that started at ``column`` and ends with ``q`` pending can be
    completed to the start symbol (the end of the text allows every guard): the items waiting for ``A`` there, the
    rest of their rule, and so on up their origins.
    """

    def __init__(self, plan, tables) -> None:
        self.tables, self.free = tables, len(plan.guards)
        self.states = range(self.free + 1)
        self.pending = {t: plan.guard_of.get(t, self.free) for t in plan.starts}
        ignore = set().union(*({(p, self.pending[j]) for p in self.states if plan.starts[j][p] >= 0}
                               for j in tables.ignore))
        self.identity = {(p, p) for p in self.states}
        closure = self.identity
        while True:
            wider = closure | _compose(closure, ignore)
            if wider == closure:
                break
            closure = wider
        parts: dict[int, set] = {}
        for part in plan.starts:
            if part not in tables.ignore:
                t = plan.aliases.get(part, part)
                parts.setdefault(t, set()).update((p, self.pending[part]) for p in self.states
                                                  if plan.starts[part][p] >= 0)
        self.symbols = self._fixpoint({t: _compose(closure, rel) for t, rel in parts.items()})
        self._suffixes: dict = {}
        self._up: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def _fixpoint(self, moves: dict) -> dict:
        """The relations of the nonterminals too (a least fixpoint: derivations are finite)."""
        changed = True
        while changed:
            changed = False
            for r in self.tables.rules:
                got = moves.setdefault(r.lhs, set())
                add = _sequence(r.rhs, moves, self.identity) - got
                if add:
                    got |= add
                    changed = True
        return moves

    def suffix(self, rule: int, dot: int) -> dict:
        """The relation of the rest of ``rule`` from ``dot``, as ``p -> {q}``."""
        key = (rule, dot)
        got = self._suffixes.get(key)
        if got is None:
            got = {}
            for p, q in _sequence(self.tables.rules[rule].rhs[dot:], self.symbols, self.identity):
                got.setdefault(p, set()).add(q)
            self._suffixes[key] = got
        return got

    def up(self, column) -> frozenset:
        """``(A, q)`` pairs of ``column`` (see the class docstring); the origins first, without recursion."""
        stack = [column]
        while stack:
            col = stack[-1]
            if col in self._up:
                stack.pop()
                continue
            missing = [o for items in col.wait.values() for _, _, o in items if o is not col and o not in self._up]
            if missing:
                stack.extend(dict.fromkeys(missing))
                continue
            stack.pop()
            self._up[col] = self._solve(col)
        return self._up[column]

    def _solve(self, col) -> frozenset:
        """``up(col)``, its origins' known: a least fixpoint over the items waiting in ``col``."""
        rules = self.tables.rules
        found = {(self.tables.start, q) for q in self.states} if col is self.tables.initial else set()
        changed = True
        while changed:
            changed = False
            for a, items in col.wait.items():
                for r, d, o in items:
                    known = found if o is col else self._up[o]
                    lhs, rest = rules[r].lhs, self.suffix(r, d + 1)
                    for p in self.states:
                        if (a, p) not in found and any((lhs, q) in known for q in rest.get(p, ())):
                            found.add((a, p))
                            changed = True
        return frozenset(found)

    def _goes_on(self, items, dot_shift: int, p: int) -> bool:
        """Whether one of the Earley ``items`` (their dot moved by ``dot_shift``) completes with ``p`` pending."""
        for r, d, o in items:
            known = self.up(o)
            if any((self.tables.rules[r].lhs, q) in known for q in self.suffix(r, d + dot_shift).get(p, ())):
                return True
        return False

    def viable(self, column, terminal: int) -> bool:
        """Whether a lexeme of ``terminal`` (an expected or ignored one) starting at the (base) ``column`` leads
        to a boundary from which the text can be completed."""
        p = self.pending[terminal]
        if terminal in self.tables.ignore:
            if column.complete:
                return True
            return any(self._goes_on(items, 0, p) for group in (column.scan, column.wait) for items in group.values())
        return self._goes_on(column.scan[terminal], 1, p)


def _compose(a: set, b: set) -> set:
    """The composition of two relations on guard indices."""
    return {(p, r) for p, q in a for q2, r in b if q == q2}


def _sequence(symbols, moves: dict, identity: set) -> set:
    """The guard relation of a sequence of symbols."""
    rel = identity
    for s in symbols:
        rel = _compose(rel, moves.get(s, set()))
        if not rel:
            break
    return rel
