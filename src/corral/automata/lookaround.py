"""The subset construction for NFAs with assertions (lookaround and inner anchors, built by
:mod:`corral.automata.assertions`), over the character classes of :func:`corral.automata.charsets._partition`.

Every assertion is first compiled, innermost first, to a minimal character-class DFA of the language it tests
(:func:`compile_assertions`). The construction then runs over *configurations* ``(q, O)``: an NFA state ``q`` and
the lookaheads passed on the way that are still undecided, ``O``, a set of ``(assertion, DFA state)`` pairs that
read the rest of the string along with the run. A DFA state is the set of configurations reached, plus the state of
one tracker DFA per lookbehind of the (sub-)NFA, which reads the whole prefix (``Σ*·B``):

* entering a check state of a lookbehind lets the configuration through iff its tracker accepts (or does not,
  for a negative one); entering one of a lookahead adds the obligation ``(assertion, start state)``;
* an obligation that reaches a state accepting every continuation is met (dropped) when positive and fails (the
  configuration dies) when negative; reaching the dead state is the converse;
* at the end of the string, a configuration in the final state accepts iff each remaining obligation's state is
  accepting (non-accepting for a negative one).

This accepts exactly the strings ``s`` with ``re.fullmatch(pattern, s)``: Python's backtracking tries every path,
and an assertion is a test of ``s`` at one position. The compile budget bounds the DFA states
(``_max_dfa_states``) and the configurations held; past them the construction raises ``_Unsupported("size")``.
"""

from __future__ import annotations

import numpy as np

from corral.automata.dfa import _minimize_small
from corral.budget import checkpoint

__all__ = ["class_moves", "compile_assertions", "determinize_lookaround", "Subset", "class_product"]

_EMPTY: frozenset = frozenset()
# Configurations held in all, per allowed DFA state: fewer than the native construction's 400 NFA states, since each
# is a Python tuple (with its obligations) rather than an int.
_POOL_PER_STATE = 64


def class_moves(nfa, leaf_classes: list[list[int]]) -> list[dict[int, tuple[int, ...]]]:
    """Per NFA state: character class -> the states its edges reach on that class."""
    out = []
    for es in nfa.edges:
        m: dict[int, list[int]] = {}
        for lid, t in es:
            for c in leaf_classes[lid]:
                m.setdefault(c, []).append(t)
        out.append({c: tuple(ts) for c, ts in m.items()})
    return out


def _reachable(nfa, moves, start: int) -> set[int]:
    """The NFA states reachable from ``start`` (epsilon and character edges)."""
    seen, todo = {start}, [start]
    while todo:
        q = todo.pop()
        for t in [*nfa.eps[q], *(t for ts in moves[q].values() for t in ts)]:
            if t not in seen:
                seen.add(t)
                todo.append(t)
    return seen


class Subset:
    """One subset construction over the sub-NFA of ``nfa`` from ``start`` to ``final`` (see the module
    docstring); :meth:`run` builds the DFA."""

    def __init__(self, nfa, moves, start: int, final: int, n_classes: int) -> None:
        self.nfa, self.moves, self.start, self.final, self.n_classes = nfa, moves, start, final, n_classes
        self.asserts = nfa.assertions
        used = {nfa.checks[q] for q in _reachable(nfa, moves, start) if q in nfa.checks}
        self.behind = sorted(a for a in used if self.asserts[a].kind == "behind")
        self.slot = {a: i for i, a in enumerate(self.behind)}
        self._steps: dict = {}

    def oblige(self, obligations: frozenset, a: int, d: int) -> frozenset | None:
        """``obligations`` with assertion ``a`` in DFA state ``d`` added: unchanged when that is met, ``None``
        when it has failed."""
        spec = self.asserts[a]
        if d < 0 or spec.universal[d]:
            return obligations if (d < 0) == spec.negative else None
        return obligations | {(a, d)}

    def step(self, obligations: frozenset, c: int) -> frozenset | None:
        """The obligations after one character of class ``c`` (``None``: one failed). Memoised."""
        key = (obligations, c)
        got = self._steps.get(key, False)
        if got is not False:
            return got
        out: frozenset | None = _EMPTY
        for a, d in obligations:
            out = self.oblige(out, a, self.asserts[a].table[d][c])
            if out is None:
                break
        self._steps[key] = out
        return out

    def end_ok(self, obligations: frozenset) -> bool:
        """Whether every obligation holds at the end of the string."""
        return all(self.asserts[a].accepting[d] != self.asserts[a].negative for a, d in obligations)

    def closure(self, seed, trackers: tuple) -> frozenset:
        """The configurations reachable from ``seed`` by epsilon edges, where the lookbehind trackers are in
        ``trackers`` (the state of each one after the prefix read so far)."""
        out: set = set()
        todo = list(seed)
        checks, eps = self.nfa.checks, self.nfa.eps
        while todo:
            conf = todo.pop()
            if conf in out:
                continue
            out.add(conf)
            q, obl = conf
            for t in eps[q]:
                a = checks.get(t)
                if a is not None:
                    obl2 = self._check(a, obl, trackers)
                    if obl2 is not None:
                        todo.append((t, obl2))
                else:
                    todo.append((t, obl))
        return frozenset(out)

    def _check(self, a: int, obligations: frozenset, trackers: tuple) -> frozenset | None:
        """The obligations after passing assertion ``a``'s check state, ``None`` if it fails there."""
        spec = self.asserts[a]
        if spec.kind == "ahead":
            return self.oblige(obligations, a, 0)
        d = trackers[self.slot[a]]
        holds = d >= 0 and spec.accepting[d]
        return obligations if holds != spec.negative else None

    def _advance(self, trackers: tuple, c: int) -> tuple:
        """The lookbehind trackers after one character of class ``c``."""
        return tuple(self.asserts[a].table[d][c] if d >= 0 else -1 for a, d in zip(self.behind, trackers))

    def _moves(self, configs: frozenset) -> dict[int, set]:
        """Class -> the configurations one character of it leads to (before their closure)."""
        out: dict[int, set] = {}
        for q, obl in configs:
            for c, targets in self.moves[q].items():
                obl2 = self.step(obl, c)
                if obl2 is not None:
                    out.setdefault(c, set()).update((t, obl2) for t in targets)
        return out

    def run(self, label, limit: int, pool_limit: int) -> tuple[np.ndarray, list]:
        """Build the DFA: ``(transitions [n, n_classes] with -1, [label(configs) per state])``. ``label`` maps a
        state's configurations to its acceptance (any hashable); ``_Unsupported("size")`` past ``limit``
        states or ``pool_limit`` configurations in all."""
        from corral.automata.limits import _Unsupported

        trackers = tuple(0 for _ in self.behind)
        first = (trackers, self.closure([(self.start, _EMPTY)], trackers))
        index, states, rows, pool = {first: 0}, [first], [], len(first[1])
        while len(rows) < len(states):
            if len(rows) & 15 == 0:
                checkpoint()
            trackers, configs = states[len(rows)]
            row = [-1] * self.n_classes
            for c, seed in self._moves(configs).items():
                tr = self._advance(trackers, c)
                key = (tr, self.closure(seed, tr))
                j = index.get(key)
                if j is None:
                    pool += len(key[1])
                    if len(states) >= limit or pool > pool_limit:
                        raise _Unsupported("size", 0, "the automaton is too large (lookaround)")
                    j = index[key] = len(states)
                    states.append(key)
                row[c] = j
            rows.append(row)
        return np.asarray(rows, dtype=np.int64).reshape(len(rows), self.n_classes), [label(s[1]) for s in states]

    def accepts_at_end(self, configs: frozenset) -> bool:
        """The plain acceptance: some configuration in the final state with its obligations met at the end."""
        return any(q == self.final and self.end_ok(obl) for q, obl in configs)


def _limits() -> tuple[int, int]:
    """The most DFA states and configurations one construction may hold (the compile budget's, as in nfa.py)."""
    from corral.automata.limits import _max_dfa_states

    limit = _max_dfa_states()
    return limit, limit * _POOL_PER_STATE


def compile_assertions(nfa, moves, n_classes: int) -> None:
    """Compile every assertion of ``nfa`` to the minimal class DFA of the language it tests (in creation order,
    so nested assertions come first), filling its ``table``, ``accepting`` and ``universal``."""
    for spec in nfa.assertions:
        sub = Subset(nfa, moves, spec.start, spec.final, n_classes)
        t, acc = sub.run(sub.accepts_at_end, *_limits())
        small = _minimize_small(t, np.asarray(acc, dtype=bool))
        if small is None:  # the empty language: a non-accepting start state with no way out
            t, acc = np.full((1, n_classes), -1, dtype=np.int64), np.zeros(1, dtype=bool)
        else:
            t, acc = small
        loops = (t == np.arange(len(t))[:, None]).all(axis=1)
        spec.table, spec.accepting = t.tolist(), acc.tolist()
        spec.universal = (acc & loops).tolist()


def determinize_lookaround(nfa, start: int, final: int, leaf_classes: list[list[int]], n_classes: int):
    """The subset construction of an NFA with assertions: ``(transitions [n, n_classes] with -1, accepting)``,
    the DFA of the strings ``re.fullmatch`` accepts (see the module docstring)."""
    moves = class_moves(nfa, leaf_classes)
    compile_assertions(nfa, moves, n_classes)
    sub = Subset(nfa, moves, start, final, n_classes)
    t, acc = sub.run(sub.accepts_at_end, *_limits())
    return t, np.asarray(acc, dtype=bool)


def class_product(a: tuple, b: tuple, difference: bool, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The product of two class DFAs ``(transitions, accepting)`` over the same classes: ``L(a) ∩ L(b)``, or
    ``L(a) \\ L(b)`` when ``difference``; built breadth first, a level at a time, vectorised over the states of
    the level. ``_Unsupported("size")`` past ``limit`` states."""
    from corral.automata.limits import _Unsupported

    ta, aa = np.asarray(a[0], dtype=np.int64), np.asarray(a[1], dtype=bool)
    tb, ab = np.asarray(b[0], dtype=np.int64), np.asarray(b[1], dtype=bool)
    width = tb.shape[0] + 1
    index = {width + 1: 0}  # pair (p, q) is code (p + 1) * width + (q + 1); the start pair is (0, 0)
    codes, rows = [width + 1], []
    level = np.array([width + 1], dtype=np.int64)
    while level.size:
        checkpoint()
        p, q = level // width - 1, level % width - 1
        nxt_a = ta[p]
        nxt_b = np.where((q >= 0)[:, None], tb[np.maximum(q, 0)], -1)
        live = (nxt_a >= 0) if difference else (nxt_a >= 0) & (nxt_b >= 0)
        uniq, inverse = np.unique(((nxt_a + 1) * width + nxt_b + 1)[live], return_inverse=True)
        fresh = [c for c in uniq.tolist() if c not in index]
        if len(index) + len(fresh) > limit:
            raise _Unsupported("size", 0, "the automaton is too large (a lookaround product)")
        for c in fresh:
            index[c] = len(codes)
            codes.append(c)
        row = np.full(live.shape, -1, dtype=np.int64)
        row[live] = np.asarray([index[c] for c in uniq.tolist()], dtype=np.int64)[inverse.reshape(-1)]
        rows.append(row)
        level = np.asarray(fresh, dtype=np.int64)
    pairs = np.asarray(codes, dtype=np.int64)
    p, q = pairs // width - 1, pairs % width - 1
    in_b = (q >= 0) & ab[np.maximum(q, 0)]
    acc = aa[p] & (~in_b if difference else in_b)
    return np.vstack(rows), acc
