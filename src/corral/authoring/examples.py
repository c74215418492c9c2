"""See what a grammar says: :func:`examples` draws strings from the grammar itself, without a model.

First one string per rule that no earlier string used (a shortest derivation through that rule, with the shortest
string of each terminal), so that every rule of the grammar shows up; then random derivations: each nonterminal
picks a rule at random, and past a depth it takes the rule of its shortest derivation, so every derivation ends.
Terminal strings come from the terminal's byte DFA: a random walk that may stop in accepting states and heads for the
nearest accepting state once it is long enough (every string is valid UTF-8, since the DFA only accepts UTF-8).
Ignored terminals are never inserted: a string without them is in the language.
"""

from __future__ import annotations

import random
from collections import deque

__all__ = ["examples"]

_DEEP = 12  # nesting depth past which derivations take shortest rules
_LEXEME = 8  # bytes after which a terminal's random walk heads for acceptance
_TERMINALS = 40  # terminals in a random derivation after which it takes shortest rules


class _Deriver:
    """Shortest derivations and random derivations of one grammar."""

    def __init__(self, grammar, rng: random.Random) -> None:
        self.g, self.rng = grammar, rng
        self.by_lhs = grammar.rules_by_lhs()
        self.cost, self.best = self._shortest()
        self.dfas = grammar.check_terminals() or {}
        self.used: set[int] = set()
        self.dist: dict[str, list[int]] = {}  # terminal -> distances to acceptance (see _distances)
        self.index = {id(r): i for i, r in enumerate(grammar.rules)}

    def _shortest(self):
        """Fewest terminals each nonterminal derives, and the rule that first achieved it (well-founded)."""
        cost, best = {}, {}
        changed = True
        while changed:
            changed = False
            for r in self.g.rules:
                if any(s not in self.g.terminals and s not in cost for s in r.rhs):
                    continue
                c = sum(1 if s in self.g.terminals else cost[s] for s in r.rhs)
                if c < cost.get(r.lhs, float("inf")):
                    cost[r.lhs], best[r.lhs] = c, r
                    changed = True
        return cost, best

    def expand(self, symbol: str, depth: int, shortest: bool, out: list) -> None:
        """Append the terminals of a derivation of ``symbol`` to ``out`` (shortest rules once ``out`` holds
        :data:`_TERMINALS` terminals, so that a branching grammar cannot grow a derivation exponentially)."""
        if symbol in self.g.terminals:
            out.append(symbol)
            return
        shortest = shortest or depth > _DEEP or len(out) > _TERMINALS
        rule = self.best[symbol] if shortest else self.rng.choice(
            [r for r in self.by_lhs[symbol] if all(s in self.g.terminals or s in self.cost for s in r.rhs)])
        self.used.add(self.index[id(rule)])
        for s in rule.rhs:
            self.expand(s, depth + 1, shortest, out)

    def through(self, target) -> list:
        """The terminals of a shortest derivation from the start symbol that uses the rule ``target``."""
        path = self._path_to(target.lhs)
        out: list = []
        self._follow(self.g.start, path, target, out)
        return out

    def _path_to(self, nt: str) -> list:
        """Rules and positions leading from the start symbol to ``nt`` (BFS: fewest steps)."""
        seen = {self.g.start: []}
        todo = deque([self.g.start])
        while todo:
            cur = todo.popleft()
            if cur == nt:
                return seen[cur]
            for r in self.by_lhs.get(cur, ()):
                if not all(s in self.g.terminals or s in self.cost for s in r.rhs):
                    continue
                for i, s in enumerate(r.rhs):
                    if s not in self.g.terminals and s not in seen:
                        seen[s] = seen[cur] + [(r, i)]
                        todo.append(s)
        raise ValueError(f"{nt!r} is not reachable")

    def _follow(self, symbol: str, path: list, target, out: list) -> None:
        if not path:
            self.used.add(self.index[id(target)])
            for s in target.rhs:
                self.expand(s, 0, True, out)
            return
        (rule, i), rest = path[0], path[1:]
        self.used.add(self.index[id(rule)])
        for j, s in enumerate(rule.rhs):
            if j == i:
                self._follow(s, rest, target, out)
            else:
                self.expand(s, 0, True, out)

    def lexeme(self, terminal: str, shortest: bool) -> bytes:
        """A string of the terminal: its shortest, or a random one."""
        term = self.g.terminals[terminal]
        if term.literal is not None:
            return term.literal.encode("utf-8")
        dfa = self.dfas[terminal]
        dist = self.dist.get(terminal)
        if dist is None:
            dist = self.dist[terminal] = _distances(dfa)
        state, out = 0, bytearray()
        while True:
            acc = bool(dfa.accepting[state])
            if acc and out and (shortest or len(out) >= _LEXEME or self.rng.random() < 0.3):
                return bytes(out)
            row = dfa.transitions[state]
            live = [b for b in range(256) if row[b] >= 0 and dist[row[b]] >= 0]
            if acc and not live:
                return bytes(out)
            if shortest or len(out) >= _LEXEME:
                b = min(live, key=lambda x: (dist[row[x]], _plainness(x), x))
            else:
                nice = [x for x in live if _plainness(x) < 2]
                b = self.rng.choice(nice if nice and self.rng.random() < 0.9 else live)
            out.append(b)
            state = int(row[b])


def _plainness(b: int) -> int:
    """0 for ASCII letters and digits, 1 for other printable ASCII (space included), 2 for the rest: what a
    reader would rather see in an example."""
    return 0 if chr(b).isalnum() and b < 0x80 else 1 if 0x20 <= b < 0x7F else 2


def _distances(dfa) -> list[int]:
    """Fewest bytes from each state to an accepting state (-1: none), by a backward BFS."""
    n = dfa.n_states
    preds: list[list[int]] = [[] for _ in range(n)]
    t = dfa.transitions
    for s in range(n):
        for nxt in set(int(x) for x in t[s] if x >= 0):
            preds[nxt].append(s)
    dist = [-1] * n
    todo = deque(s for s in range(n) if dfa.accepting[s])
    for s in todo:
        dist[s] = 0
    while todo:
        s = todo.popleft()
        for p in preds[s]:
            if dist[p] < 0:
                dist[p] = dist[s] + 1
                todo.append(p)
    return dist


def examples(grammar, n: int = 5, *, seed: int | None = None, max_length: int | None = 200) -> list[str]:
    """Strings of ``grammar``'s language, drawn from the grammar itself (see the module docstring).

    Parameters
    ----------
    grammar : Grammar
    n : int
        How many strings (fewer when the language is smaller than that; duplicates are dropped).
    seed : int, optional
        For reproducible draws.
    max_length : int or None
        Random strings longer than this many characters are drawn again (a few tries); the rule-covering strings
        are shortest derivations and always kept.

    Returns
    -------
    list of str
        The rule-covering strings first (one per rule not yet used, in rule order), then random ones.
    """
    return _draw(grammar, n, seed, max_length)[0]


def _draw(grammar, n: int, seed, max_length) -> tuple[list[str], set[int]]:
    """:func:`examples` and the indices of the grammar's rules their derivations used."""
    d = _Deriver(grammar, random.Random(seed))
    out: list[str] = []

    def emit(terms: list, shortest: bool) -> str:
        return b"".join(d.lexeme(t, shortest) for t in terms).decode("utf-8")

    for i, rule in enumerate(grammar.rules):
        if len(out) >= n:
            return out, d.used
        if i not in d.used:
            text = emit(d.through(rule), True)
            if text not in out:
                out.append(text)
    for _ in range(5 * n + 20):
        if len(out) >= n:
            break
        terms: list = []
        d.expand(grammar.start, 0, False, terms)
        text = emit(terms, False)
        if (max_length is None or len(text) <= max_length) and text not in out:
            out.append(text)
    return out, d.used
