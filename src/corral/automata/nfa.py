"""From a parsed regex to a minimal byte-level DFA, through a Thompson NFA (the core of
:func:`corral.automata.regex.compile_regex`).

:func:`tree_to_dfa` takes the parse tree of Python's own regex parser (``re._parser``):

1. it builds a Thompson NFA whose edges are labelled by the character sets of the leaves
   (:func:`corral.automata.charsets.char_set`), refusing constructs that a finite automaton cannot express exactly;
2. splits the code points into classes that no leaf distinguishes (a partition, computed with numpy);
3. runs the subset construction (native when built), pruning and Moore minimisation at the character level;
4. expands to bytes over well-formed UTF-8 (:func:`corral.automata.dfa.utf8_expand`) and numbers the states
   canonically.

Assertions (lookaround, and anchors that do not trivially hold where they stand) become check states of the NFA
(:mod:`corral.automata.assertions`); an NFA with any is determinised by :mod:`corral.automata.lookaround` instead,
and a pattern that starts with lookaheads, ``(?=X)(?!Y)R``, by products of automata (``_leading_lookaheads``).

An unsupported construct becomes a :class:`~corral.errors.RegexError` that names it and gives its position, found by
scanning the pattern text (``_scan``).
"""

from __future__ import annotations

import re
from re import _constants as C

import numpy as np

from corral.automata.bytedfa import ByteDFA, canonical_tables, empty_tables
from corral.automata.charsets import _partition, char_set
from corral.automata.dfa import _minimize_small, utf8_expand
from corral.automata.limits import _Unsupported, _max_dfa_states
from corral.budget import BudgetExceeded, checkpoint, seconds_left
from corral.errors import RegexError

__all__ = ["tree_to_dfa", "class_dfa_to_bytes"]

_I, _A, _S = int(re.I), int(re.A), int(re.S)  # plain ints: ``int & re.I`` goes through the (slow) enum machinery
_MAX_NFA_STATES = 200_000
_POOL_PER_STATE = 400  # the subsets of all DFA states hold at most 400 NFA states per allowed DFA state (_native.c)


# --------------------------------------------------------------------------------------------------------------
# Locating unsupported constructs in the pattern text
# --------------------------------------------------------------------------------------------------------------

_QUANT = re.compile(r"\{\d*(?:,\d*)?\}")
_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([aiLmsux]*))?([:)])")
_CONSTRUCTS = {
    "lookahead": "lookahead (?=...)", "neg_lookahead": "negative lookahead (?!...)",
    "lookbehind": "lookbehind (?<=...)", "neg_lookbehind": "negative lookbehind (?<!...)",
    "backref": "backreference", "conditional": "conditional (?(...)...)", "atomic": "atomic group (?>...)",
    "possessive": "possessive quantifier", "boundary": "word boundary \\b", "nonboundary": "non-word-boundary \\B",
    "^": "anchor ^", "$": "anchor $", "\\A": "anchor \\A", "\\Z": "anchor \\Z",
}
_GROUP_KINDS = (("(?<=", "lookbehind"), ("(?<!", "neg_lookbehind"), ("(?=", "lookahead"), ("(?!", "neg_lookahead"),
                ("(?>", "atomic"), ("(?(", "conditional"), ("(?P=", "backref"))


def _scan(pattern: str, verbose: bool) -> dict[str, list[int]]:
    """Positions (0-based) of the constructs of ``_CONSTRUCTS`` in ``pattern``, in text order."""
    found: dict[str, list[int]] = {}
    stack = [verbose]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if stack[-1] and c in " \t\n\r\f\v":
            i += 1
        elif stack[-1] and c == "#":
            j = pattern.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "\\":
            d = pattern[i + 1 : i + 2]
            kind = {"b": "boundary", "B": "nonboundary", "A": "\\A", "Z": "\\Z"}.get(d)
            if kind:
                found.setdefault(kind, []).append(i)
            if d == "N" and pattern[i + 2 : i + 3] == "{":
                i = pattern.find("}", i) + 1 or n
            elif d in "123456789" and d:
                three = pattern[i + 1 : i + 4]
                if len(three) == 3 and all(x in "01234567" for x in three):
                    i += 4
                else:
                    found.setdefault("backref", []).append(i)
                    i += 3 if pattern[i + 2 : i + 3].isdigit() else 2
            else:
                i += 2
        elif c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
        elif c == "(":
            kind = next((k for s, k in _GROUP_KINDS if pattern.startswith(s, i)), None)
            m = _FLAGS.match(pattern, i)
            if kind:
                found.setdefault(kind, []).append(i)
                stack.append(stack[-1])
            elif pattern.startswith("(?#", i):
                j = pattern.find(")", i)
                i = n if j < 0 else j
            elif m:
                on = ("x" in m.group(1) or stack[-1]) and "x" not in (m.group(2) or "")
                if m.group(3) == ")":
                    stack[-1] = on
                else:
                    stack.append(on)
                i = m.end() - 1
            else:
                stack.append(stack[-1])
            i += 1
        elif c == ")":
            if len(stack) > 1:
                stack.pop()
            i += 1
        elif c in "*+?{":
            m = _QUANT.match(pattern, i) if c == "{" else None
            if c == "{" and (m is None or m.group() == "{}"):
                i += 1
                continue
            end = m.end() if m else i + 1
            if pattern[end : end + 1] == "+":
                found.setdefault("possessive", []).append(i)
            i = end + (1 if pattern[end : end + 1] in ("+", "?") else 0)
        elif c in "^$":
            found.setdefault(c, []).append(i)
            i += 1
        else:
            i += 1
    return found


# --------------------------------------------------------------------------------------------------------------
# Parse tree -> NFA over leaves
# --------------------------------------------------------------------------------------------------------------

_LEAVES = (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT)
_AT_KINDS = {C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: "\\A", C.AT_END: "$", C.AT_END_STRING: "\\Z",
             C.AT_BOUNDARY: "boundary", C.AT_NON_BOUNDARY: "nonboundary"}


def _consumes(items) -> bool:
    """Whether a sub-pattern can consume a character (conservative: ``True`` when unsure)."""
    for op, av in items:
        if op in _LEAVES:
            return True
        if op is C.BRANCH and any(_consumes(alt) for alt in av[1]):
            return True
        if op is C.SUBPATTERN and _consumes(av[3]):
            return True
        if op in _REPEATS and av[1] > 0 and _consumes(av[2]):
            return True
    return False


def _size(items) -> int:
    """Upper bound on the number of NFA states built for a sub-pattern (to refuse huge repetitions early)."""
    n = 0
    for op, av in items:
        if op is C.BRANCH:
            n += 2 + sum(_size(alt) + 1 for alt in av[1])
        elif op is C.SUBPATTERN:
            n += _size(av[3])
        elif op is C.ASSERT or op is C.ASSERT_NOT:
            n += 8 + _size(av[1])
        elif op in _REPEATS:
            lo, hi, body = av
            n += 2 + (lo + 1 if hi == C.MAXREPEAT else hi) * _size(body)
        else:
            n += 1
        if n > _MAX_NFA_STATES:
            break
    return n


class _NFA:
    """Thompson NFA whose edges are labelled by leaf character sets."""

    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[int, int]]] = []
        self.leaves: list[np.ndarray] = []
        self.leaf_ids: dict[bytes, int] = {}
        self.seen: dict[str, int] = {}
        # Lookaround (corral.automata.assertions): check states -> assertion index, the assertions, which body is
        # being built ("main", "ahead" or "behind") and, in a lookahead body, its (open, exact) final states.
        self.checks: dict[int, int] = {}
        self.assertions: list = []
        self.mode = "main"
        self.ends: tuple[int, int] | None = None

    def new(self) -> int:
        """A new state (``_Unsupported("size")`` past ``_MAX_NFA_STATES``)."""
        if len(self.eps) >= _MAX_NFA_STATES:
            raise _Unsupported("size", 0, "the automaton is too large (bounded repetitions too big)")
        if len(self.eps) & 4095 == 0:
            checkpoint()
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def leaf(self, cs: np.ndarray) -> int:
        """The id of a leaf character set (equal sets share one id)."""
        key = cs.tobytes()
        lid = self.leaf_ids.get(key)
        if lid is None:
            lid = self.leaf_ids[key] = len(self.leaves)
            self.leaves.append(cs)
        return lid

    def note(self, kind: str) -> int:
        """Count one more occurrence of an unsupported construct; returns how many came before it."""
        k = self.seen.get(kind, 0)
        self.seen[kind] = k + 1
        return k

    def seq(self, items, s: int, flags: int, pre0: bool, post0: bool, tail: bool = False) -> int:
        """Build a sequence of parse items from state ``s``; returns its end state. ``pre0``/``post0``: nothing
        can be consumed before/after it (so ``^``/``$`` hold there); ``tail``: nothing at all follows it in a
        lookahead body (an end anchor there pins the body's end)."""
        items = list(items)
        cons = [_consumes([it]) for it in items]
        for k, (op, av) in enumerate(items):
            p0 = pre0 and not any(cons[:k])
            q0 = post0 and not any(cons[k + 1 :])
            s = self.item(op, av, s, flags, p0, q0, tail and k == len(items) - 1)
        return s

    def item(self, op, av, s: int, flags: int, pre0: bool, post0: bool, tail: bool = False) -> int:
        """Build one parse item from state ``s``; returns its end state (``_Unsupported`` for what cannot be)."""
        if op in _LEAVES:
            cs = char_set(op, tuple(av) if op is C.IN else av, bool(flags & _I), bool(flags & _A), bool(flags & _S))
            t = self.new()
            self.edges[s].append((self.leaf(cs), t))
            return t
        if op is C.SUBPATTERN:
            _, add, rem, sub = av
            return self.seq(sub, s, (flags | add) & ~rem, pre0, post0, tail)
        if op is C.BRANCH:
            end = self.new()
            for alt in av[1]:
                a = self.new()
                self.eps[s].append(a)
                self.eps[self.seq(alt, a, flags, pre0, post0, tail)].append(end)
            return end
        if op in _REPEATS:
            lo, hi, body = av
            if hi == 0:
                return s
            if hi > 1 and _consumes(body):
                pre0 = post0 = False
            for _ in range(lo):
                s = self.seq(body, s, flags, pre0, post0)
            if hi == C.MAXREPEAT:
                a = self.new()
                self.eps[s].append(a)
                self.eps[self.seq(body, a, flags, pre0, post0)].append(a)
                return a
            exits = []
            for _ in range(hi - lo):
                exits.append(s)
                s = self.seq(body, s, flags, pre0, post0)
            end = self.new()
            for e in exits + [s]:
                self.eps[e].append(end)
            return end
        if op is C.AT:
            kind = _AT_KINDS.get(av, str(av))
            k = self.note(kind)
            if kind in ("boundary", "nonboundary") or kind not in _CONSTRUCTS:
                raise _Unsupported(kind, k)
            if self.mode == "main" and ((kind in ("^", "\\A") and pre0) or (kind in ("$", "\\Z") and post0)):
                return s
            from corral.automata.assertions import build_anchor
            return build_anchor(self, kind, flags, s, k, tail)
        if op is C.ASSERT or op is C.ASSERT_NOT:
            from corral.automata.assertions import build_assertion
            kind = ("neg_" if op is C.ASSERT_NOT else "") + ("lookahead" if av[0] == 1 else "lookbehind")
            return build_assertion(self, kind, op is C.ASSERT_NOT, av, flags, s, self.note(kind))
        kind = {C.GROUPREF: "backref", C.GROUPREF_EXISTS: "conditional"}.get(op)
        if kind is None and op is getattr(C, "ATOMIC_GROUP", None):
            kind = "atomic"
        if kind is None and op is getattr(C, "POSSESSIVE_REPEAT", None):
            kind = "possessive"
        if kind is None:
            raise _Unsupported(str(op), 0)
        raise _Unsupported(kind, self.note(kind))


# --------------------------------------------------------------------------------------------------------------
# NFA -> minimal character DFA -> byte DFA
# --------------------------------------------------------------------------------------------------------------


def _determinize(nfa: _NFA, start: int, final: int, leaf_classes: list[list[int]], n_classes: int):
    """Subset construction; returns (transitions [n, n_classes] with -1, accepting). Native when built (states
    numbered in another order than :func:`_determinize_py`, which callers do not depend on: the DFA is minimised
    and renumbered canonically afterwards)."""
    from corral.tokens import native

    if not native.NATIVE:
        return _determinize_py(nfa, start, final, leaf_classes, n_classes)
    checkpoint()
    got = native.determinize(nfa.eps, nfa.edges, leaf_classes, start, final, n_classes, _max_dfa_states(),
                             seconds_left())
    if got is False:  # out of time inside the native loop
        checkpoint()
        raise BudgetExceeded("compilation ran out of its time budget (in a subset construction)")
    if got is None:
        raise _Unsupported("size", 0, "the automaton is too large")
    return got


def _determinize_py(nfa: _NFA, start: int, final: int, leaf_classes: list[list[int]], n_classes: int):
    """The Python specification of :func:`_determinize`."""
    edges = [[(c, t) for lid, t in es for c in leaf_classes[lid]] for es in nfa.edges]
    eps = nfa.eps

    def closure(states) -> frozenset:
        out, todo = set(states), list(states)
        while todo:
            for t in eps[todo.pop()]:
                if t not in out:
                    out.add(t)
                    todo.append(t)
        return frozenset(out)

    first = closure([start])
    index = {first: 0}
    sets = [first]
    pool = len(first)  # NFA states in all the subsets: bounded, since `.*a{n}` makes it quadratic in n
    trans: list[list[int]] = []
    i = 0
    limit = _max_dfa_states()
    while i < len(sets):
        if i & 255 == 0:
            checkpoint()
        moves: dict[int, set[int]] = {}
        for s in sets[i]:
            for c, t in edges[s]:
                moves.setdefault(c, set()).add(t)
        row = [-1] * n_classes
        for c, ts in moves.items():
            key = frozenset(ts)
            tgt = closure(key)
            j = index.get(tgt)
            if j is None:
                if len(sets) >= limit or pool + len(tgt) > limit * _POOL_PER_STATE:
                    raise _Unsupported("size", 0, "the automaton is too large")
                pool += len(tgt)
                j = index[tgt] = len(sets)
                sets.append(tgt)
            row[c] = j
        trans.append(row)
        i += 1
    return np.asarray(trans, dtype=np.int64).reshape(len(sets), n_classes), np.array([final in s for s in sets])


def _to_byte_dfa(nfa: _NFA, start: int, final: int, pattern: str) -> ByteDFA:
    """Determinise, minimise and expand the NFA from ``start`` to ``final`` into a canonical byte DFA."""
    leaf_classes, class_ranges = _partition(nfa.leaves)
    if nfa.assertions:
        from corral.automata.lookaround import determinize_lookaround
        t, acc = determinize_lookaround(nfa, start, final, leaf_classes, len(class_ranges))
    else:
        t, acc = _determinize(nfa, start, final, leaf_classes, len(class_ranges))
    return class_dfa_to_bytes(t, acc, class_ranges, pattern)


def class_dfa_to_bytes(t: np.ndarray, acc: np.ndarray, class_ranges, pattern: str) -> ByteDFA:
    """Minimise a character-class DFA (``t [n, classes]`` with -1, ``acc``) and expand it to its canonical byte
    DFA over UTF-8."""
    checkpoint()
    small = _minimize_small(t, acc)
    if small is None:
        return ByteDFA(*empty_tables(), pattern)
    t, acc = small
    checkpoint()
    bt, bacc = utf8_expand(class_ranges, t, acc)
    checkpoint()
    return ByteDFA(*canonical_tables(bt, bacc), pattern)


def _leading_lookaheads(items: list, flags: int, pattern: str) -> ByteDFA | None:
    """``(?=X)(?!Y)...R`` with the lookaheads at the very start, as the products ``R ∩ X·Σ* \\ Y·Σ* ...`` of
    character-class DFAs (each operand determinised on its own, natively): how the JSON Schema compiler spells an
    intersection or difference. ``None`` for any other pattern, or when an operand has assertions of its own (the
    general construction of :mod:`corral.automata.lookaround` then does it all, and reports what it refuses)."""
    from corral.automata.assertions import body_language
    from corral.automata.lookaround import class_product

    k = 0
    while k < len(items) and items[k][0] in (C.ASSERT, C.ASSERT_NOT) and items[k][1][0] == 1:
        k += 1
    if k == 0:
        return None
    nfa = _NFA()
    try:
        start = nfa.new()
        operands = [(start, nfa.seq(items[k:], start, flags, True, True), False)]
        for op, (_, body) in items[:k]:
            operands.append((*body_language(nfa, body, flags, False), op is C.ASSERT_NOT))
    except _Unsupported as u:
        if u.kind == "size":
            raise
        return None
    if nfa.assertions:
        return None
    leaf_classes, class_ranges = _partition(nfa.leaves)
    dfas = []
    for s, f, negative in operands:
        small = _minimize_small(*_determinize(nfa, s, f, leaf_classes, len(class_ranges)))
        dfas.append((small if small is not None else _empty_class_dfa(len(class_ranges)), negative))
    dfa = dfas[0][0]
    for operand, negative in dfas[1:]:
        dfa = class_product(dfa, operand, negative, _max_dfa_states())
        small = _minimize_small(*dfa)
        dfa = small if small is not None else _empty_class_dfa(len(class_ranges))
    return class_dfa_to_bytes(*dfa, class_ranges, pattern)


def _empty_class_dfa(n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The class DFA of the empty language."""
    return np.full((1, n_classes), -1, dtype=np.int64), np.zeros(1, dtype=bool)


def tree_to_dfa(tree, pattern: str) -> ByteDFA:
    """Compile a parsed regex to its minimal, canonically numbered byte DFA (full match over UTF-8).

    Parameters
    ----------
    tree : re._parser.SubPattern
        ``re._parser.parse(pattern, flags)``.
    pattern : str
        The pattern text (the DFA's ``pattern``, and where error positions are looked up).

    Returns
    -------
    ByteDFA

    Raises
    ------
    RegexError
        An unsupported construct (``construct`` names it, ``position`` is its offset in ``pattern``), an automaton
        over the size limits, or nesting too deep.
    """
    nfa = _NFA()
    try:
        if _size(tree) > _MAX_NFA_STATES:
            raise _Unsupported("size", 0, "the automaton is too large (bounded repetitions too big)")
        product = _leading_lookaheads(list(tree), tree.state.flags, pattern)
        if product is not None:
            return product
        start = nfa.new()
        final = nfa.seq(tree, start, tree.state.flags, True, True)
        return _to_byte_dfa(nfa, start, final, pattern)
    except _Unsupported as u:
        if u.kind == "size":
            raise RegexError(u.detail, pattern=pattern, construct="size") from None
        construct = _CONSTRUCTS.get(u.kind, u.kind)
        positions = _scan(pattern, bool(tree.state.flags & re.X)).get(u.kind, [])
        pos = positions[u.index] if u.index < len(positions) else (positions[0] if positions else None)
        raise RegexError(f"unsupported construct: {construct}{u.detail}", pattern=pattern, position=pos,
                         construct=construct) from None
    except RecursionError:
        raise RegexError("regex too deeply nested", pattern=pattern, construct="nesting") from None
    except MemoryError as e:
        raise RegexError(f"the automaton is too large ({e})", pattern=pattern, construct="size") from None
