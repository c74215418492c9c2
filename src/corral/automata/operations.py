"""Operations on byte DFAs: products (intersection, union, difference), the character-level view, conversion back to
a regex by state elimination, and concatenation with literal bytes."""

from __future__ import annotations

import heapq
import itertools
import re

import numpy as np

from corral.automata.bytedfa import ByteDFA
from corral.budget import checkpoint

__all__ = ["dfa_product", "dfa_intersection", "dfa_union", "dfa_difference", "char_transitions", "dfa_to_regex",
           "has_top_level_alternation", "dfa_between", "without_empty_string"]


# --------------------------------------------------------------------------------------------------------------
# Boolean operations on byte DFAs and conversion back to a (code-point level) Python regex
# --------------------------------------------------------------------------------------------------------------


def dfa_product(a: ByteDFA, b: ByteDFA, op: str, pattern: str = "", max_states: int = 5_000) -> ByteDFA:
    """Product automaton of two byte DFAs.

    Parameters
    ----------
    a, b : ByteDFA
        The operands.
    op : {"and", "or", "diff"}
        Intersection, union, or difference ``a \\ b``.
    pattern : str, optional
        Description stored on the result.
    max_states : int, optional
        Give up (``ValueError``) when the product has more reachable states.

    Returns
    -------
    ByteDFA
        The minimal DFA of the combined language.
    """
    if op not in ("and", "or", "diff"):
        raise ValueError(f"unknown product operation {op!r}")
    ta, tb = a.transitions.astype(np.int64), b.transitions.astype(np.int64)
    aa, ab = a.accepting, b.accepting
    dead = np.full(256, -1, dtype=np.int64)
    index = {(0, 0): 0}
    pairs = [(0, 0)]
    rows: list[np.ndarray] = []
    acc: list[bool] = []
    i = 0
    while i < len(pairs):
        if i & 255 == 0:
            checkpoint()
        p, q = pairs[i]
        i += 1
        ra = ta[p] if p >= 0 else dead
        rb = tb[q] if q >= 0 else dead
        in_a, in_b = bool(aa[p]) if p >= 0 else False, bool(ab[q]) if q >= 0 else False
        acc.append(in_a and in_b if op == "and" else in_a or in_b if op == "or" else in_a and not in_b)
        live = (ra >= 0) & (rb >= 0) if op == "and" else (ra >= 0) | (rb >= 0) if op == "or" else ra >= 0
        row = np.full(256, -1, dtype=np.int64)
        if live.any():
            code = (ra + 1) * (tb.shape[0] + 1) + (rb + 1)
            uniq, inv = np.unique(code[live], return_inverse=True)
            targets = []
            for c in uniq.tolist():
                key = (c // (tb.shape[0] + 1) - 1, c % (tb.shape[0] + 1) - 1)
                if key not in index:
                    if len(pairs) >= max_states:
                        raise ValueError(f"the product automaton has more than {max_states} states")
                    index[key] = len(pairs)
                    pairs.append(key)
                targets.append(index[key])
            row[live] = np.asarray(targets, dtype=np.int64)[inv.reshape(-1)]
        rows.append(row)
    return ByteDFA.from_tables(np.stack(rows), np.asarray(acc, dtype=bool), pattern)


def dfa_intersection(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The DFA of ``L(a) ∩ L(b)``."""
    return dfa_product(a, b, "and", f"({a.pattern})&({b.pattern})")


def dfa_union(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The DFA of ``L(a) ∪ L(b)``."""
    return dfa_product(a, b, "or", f"({a.pattern})|({b.pattern})")


def dfa_difference(a: ByteDFA, b: ByteDFA) -> ByteDFA:
    """The DFA of ``L(a) \\ L(b)`` (a complement relative to the universe ``a``)."""
    return dfa_product(a, b, "diff", f"({a.pattern})-({b.pattern})")


def without_empty_string(dfa: ByteDFA) -> ByteDFA:
    """The DFA of ``L(dfa) \\ {ε}``: a fresh, non-accepting start state with the old start state's transitions.

    Parameters
    ----------
    dfa : ByteDFA

    Returns
    -------
    ByteDFA
        Minimal; equal to ``dfa`` when it does not accept the empty string.
    """
    if not dfa.matches_empty:
        return dfa
    old = dfa.transitions.astype(np.int64)
    shifted = np.where(old >= 0, old + 1, -1)
    transitions = np.vstack([shifted[:1], shifted])
    accepting = np.concatenate([[False], dfa.accepting])
    return ByteDFA.from_tables(transitions, accepting, f"({dfa.pattern})-(ε)")


def char_transitions(dfa: ByteDFA) -> dict[int, dict[int, list[tuple[int, int]]]]:
    """Read a byte DFA over UTF-8 as a character-level automaton.

    Parameters
    ----------
    dfa : ByteDFA
        A DFA whose language is a set of well-formed UTF-8 strings.

    Returns
    -------
    dict
        ``{state: {target: [(lo, hi), ...]}}`` for the states reached at character boundaries from the start
        state 0: from ``state``, one code point in an inclusive range ``(lo, hi)`` leads to ``target``.
    """
    t = dfa.transitions
    memo: dict[tuple[int, int], list[tuple[int, int, int]]] = {}
    rows: dict[int, list[int]] = {}  # rows as Python lists, made on first use (numpy scalar reads are slow)

    def row_of(state: int) -> list[int]:
        r = rows.get(state)
        if r is None:
            r = rows[state] = t[state].tolist()
        return r

    def cont(state: int, k: int) -> list[tuple[int, int, int]]:
        key = (state, k)
        if key in memo:
            return memo[key]
        out: list[tuple[int, int, int]] = []
        width = 64 ** (k - 1)
        row = row_of(state)
        for c in range(64):
            nxt = row[0x80 + c]
            if nxt < 0:
                continue
            subs = [(0, 0, nxt)] if k == 1 else cont(nxt, k - 1)
            for lo, hi, tg in subs:
                lo, hi = c * width + lo, c * width + hi
                if out and out[-1][2] == tg and out[-1][1] + 1 == lo:
                    out[-1] = (out[-1][0], hi, tg)
                else:
                    out.append((lo, hi, tg))
        memo[key] = out
        return out

    result: dict[int, dict[int, list[tuple[int, int]]]] = {}
    todo = [0]
    while todo:
        s = todo.pop()
        if s in result:
            continue
        edges: dict[int, list[tuple[int, int]]] = {}
        row = row_of(s)
        spans = _ascii_runs(row)  # the one-byte characters, a span per run of bytes to the same state
        _add_spans(edges, spans)
        for byte in (np.flatnonzero(t[s, 0x80:] >= 0) + 0x80).tolist():
            nxt = row[byte]
            if 0xC2 <= byte <= 0xDF:
                spans = [((byte & 0x1F) << 6 | lo, (byte & 0x1F) << 6 | hi, tg) for lo, hi, tg in cont(nxt, 1)]
            elif 0xE0 <= byte <= 0xEF:
                spans = [((byte & 0x0F) << 12 | lo, (byte & 0x0F) << 12 | hi, tg) for lo, hi, tg in cont(nxt, 2)]
            elif 0xF0 <= byte <= 0xF4:
                spans = [((byte & 0x07) << 18 | lo, (byte & 0x07) << 18 | hi, tg) for lo, hi, tg in cont(nxt, 3)]
            else:
                raise ValueError("the DFA accepts malformed UTF-8")
            _add_spans(edges, spans)
        result[s] = edges
        todo.extend(tg for tg in edges if tg not in result)
    return result


def _ascii_runs(row: list[int]) -> list[tuple[int, int, int]]:
    """``(lo, hi, target)`` for each maximal run of bytes below 0x80 that ``row`` sends to one state (the same
    spans, merged, as one span per byte)."""
    out, pos = [], 0
    for nxt, run in itertools.groupby(row[:0x80]):
        n = len(list(run))
        if nxt >= 0:
            out.append((pos, pos + n - 1, nxt))
        pos += n
    return out


def _add_spans(edges: dict, spans) -> None:
    """Add code-point spans ``(lo, hi, target)``, in increasing order, to ``edges`` (target -> ranges), merging a
    span into the previous range to its target when they touch."""
    for lo, hi, tg in spans:
        rs = edges.setdefault(tg, [])
        if rs and rs[-1][1] + 1 == lo:
            rs[-1] = (rs[-1][0], hi)
        else:
            rs.append((lo, hi))


def _re_cp(c: int) -> str:
    return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


def _re_class(ranges: list[tuple[int, int]]) -> str:
    if len(ranges) == 1 and ranges[0][0] == ranges[0][1]:
        return _re_cp(ranges[0][0])
    return "[" + "".join(_re_cp(a) if a == b else f"{_re_cp(a)}-{_re_cp(b)}" for a, b in ranges) + "]"


def dfa_to_regex(dfa: ByteDFA, max_size: int = 200_000, max_states: int = 400) -> str | None:
    """A Python regex (over code points) for the language of a byte DFA over UTF-8, by state elimination.

    Parameters
    ----------
    dfa : ByteDFA
        A DFA accepting only well-formed UTF-8.
    max_size : int, optional
        Give up (``ValueError``) when the regex grows beyond this many characters.
    max_states : int, optional
        Give up (``ValueError``) for automata with more character-boundary states.

    Returns
    -------
    str or None
        A regex whose full matches are exactly the decoded strings of the language (``""`` matches the empty
        string only), or ``None`` for the empty language.

    Raises
    ------
    ValueError
        The regex would exceed ``max_size``.
    """
    if dfa.is_empty:
        return None
    graph = char_transitions(dfa)
    if len(graph) > max_states:
        raise ValueError(f"the automaton has more than {max_states} character states")
    START, FINAL = -1, -2
    edge: dict[int, dict[int, str | None]] = {s: {} for s in [START, FINAL, *graph]}
    inc: dict[int, set[int]] = {s: set() for s in edge}

    def alt(x, y):
        if x is None:
            return y
        if y is None or x == y:
            return x
        return f"(?:{x}|{y})"

    order = _EliminationOrder(edge, inc)

    def add(i, j, r):
        if r is None:
            return
        old = edge[i].get(j)
        edge[i][j] = alt(old, r)
        inc[j].add(i)
        order.touch(i)
        order.touch(j)
        if len(edge[i][j]) > max_size:
            raise ValueError("the regex of the automaton is too large")

    add(START, 0, "")
    for s, outs in graph.items():
        for tg, ranges in outs.items():
            add(s, tg, _re_class(ranges))
        if dfa.is_accepting(s):
            add(s, FINAL, "")

    def grp(x: str) -> str:
        return x if len(x) <= 1 or x.startswith("(?:") and _balanced_group(x) or x.startswith("[") and \
            x.endswith("]") and x.count("[") == 1 else f"(?:{x})"

    order.start(graph)
    for _ in range(len(graph)):
        s = order.pop()
        loop = edge[s].pop(s, None)
        inc[s].discard(s)
        star = "" if loop in (None, "") else grp(loop) + "*"
        outs = list(edge[s].items())
        for i in list(inc[s]):
            r_in = edge[i].pop(s)
            order.touch(i)
            for j, r_out in outs:
                add(i, j, r_in + star + r_out)
        for j, _ in outs:
            inc[j].discard(s)
            order.touch(j)
        del edge[s]
        del inc[s]
    return edge[START].get(FINAL)


class _EliminationOrder:
    """The order in which :func:`dfa_to_regex` eliminates states: fewest paths through the state first (its
    in-edges times its out-edges, self-loops aside), then the lowest number. A heap of keys, a fresh entry pushed
    whenever a state's edges change (:meth:`touch`) and stale entries skipped, so each pick is the minimum over
    the current keys (as a scan of every remaining state would find) in logarithmic time."""

    def __init__(self, edge: dict, inc: dict) -> None:
        self.edge, self.inc = edge, inc
        self.remaining: set[int] = set()
        self.heap: list[tuple[int, int]] = []

    def key(self, q: int) -> int:
        """The number of paths through ``q`` (self-loops aside)."""
        return (len(self.inc[q]) - (q in self.inc[q])) * (len(self.edge[q]) - (q in self.edge[q]))

    def start(self, states) -> None:
        """Begin with ``states`` to eliminate (every key computed once)."""
        self.remaining = set(states)
        self.heap = [(self.key(q), q) for q in self.remaining]
        heapq.heapify(self.heap)

    def touch(self, q: int) -> None:
        """``q``'s edges changed: queue its current key."""
        if q in self.remaining:
            heapq.heappush(self.heap, (self.key(q), q))

    def pop(self) -> int:
        """The next state to eliminate (removed from the remaining ones)."""
        while True:
            k, q = heapq.heappop(self.heap)
            if q in self.remaining and k == self.key(q):
                self.remaining.discard(q)
                return q


def _depth_scan(x: str):
    """Yield ``(index, char, depth)`` for each character of regex ``x`` outside escapes and character classes
    (``depth``: group nesting before the character). The specification of :func:`_structure` (tested against it)."""
    depth, i, n = 0, 0, len(x)
    while i < n:
        ch = x[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            i += 1
            while i < n and x[i] != "]":
                i += 2 if x[i] == "\\" else 1
        else:
            yield i, ch, depth
            if ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
        i += 1


# Escapes and character classes (to their first unescaped ``]``), as :func:`_depth_scan` skips them; then the same
# or a parenthesis or bar (group 1).
_OPAQUE = re.compile(r"\\.|\[(?:\\.|[^\]\\])*\]?", re.DOTALL)
_STRUCTURE = re.compile(_OPAQUE.pattern + r"|([()|])", re.DOTALL)
_NOT_STRUCTURE = re.compile(r"[^()|]+")


def _structure(x: str):
    """What :func:`_depth_scan` yields for the ``(``, ``)`` and ``|`` of regex ``x``, found by one scan of the
    regex engine instead of a Python loop over every character (the regexes :func:`dfa_to_regex` builds run to
    many kilobytes)."""
    depth = 0
    for m in _STRUCTURE.finditer(x):
        ch = m.group(1)
        if ch is None:
            continue
        yield m.start(), ch, depth
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1


def _balanced_group(x: str) -> bool:
    """Whether ``x`` is one ``(?:...)`` group (its first parenthesis closes at the end)."""
    return all(not (ch == ")" and depth == 1 and i != len(x) - 1) for i, ch, depth in _structure(x))


def has_top_level_alternation(x: str) -> bool:
    """Whether regex ``x`` has a ``|`` outside every group and class (so ``a + x + b`` would split it).

    Vectorised: the regex engine drops escapes, classes and every other character, then the group depth before
    each remaining ``(``, ``)`` or ``|`` is a cumulative sum (the same answer as scanning :func:`_structure`)."""
    if "|" not in x:
        return False
    marks = np.frombuffer(_NOT_STRUCTURE.sub("", _OPAQUE.sub("", x)).encode("ascii"), dtype=np.uint8)
    step = (marks == ord("(")).astype(np.int64) - (marks == ord(")"))
    depth = np.cumsum(step) - step
    return bool(np.any((marks == ord("|")) & (depth == 0)))


def dfa_between(prefix: bytes, dfa: ByteDFA, suffix: bytes, pattern: str = "") -> ByteDFA | None:
    """The DFA of ``prefix · L(dfa) · suffix``, or ``None`` when that is not a plain DFA construction.

    Exact when no accepting state of ``dfa`` has a transition on ``suffix[0]`` (then the end of the middle part is
    determined by the suffix's first byte), e.g. a JSON string content between quotes: content never holds a raw
    ``"``. Returns ``None`` otherwise, and for an empty ``suffix`` or an empty language.
    """
    if not suffix or dfa.is_empty:
        return None
    t = np.asarray(dfa.transitions)
    acc = np.asarray(dfa.accepting, dtype=bool)
    if (t[acc, suffix[0]] >= 0).any():
        return None
    n_mid, n_pre, n_suf = t.shape[0], len(prefix), len(suffix)
    total = n_pre + n_mid + n_suf + 1
    out = np.full((total, 256), -1, dtype=np.int32)
    for i, b in enumerate(prefix):  # prefix chain: states 0 .. n_pre-1, then the middle's start
        out[i, b] = i + 1
    mid = n_pre
    out[mid:mid + n_mid] = np.where(t >= 0, t + mid, -1)
    first_suf = mid + n_mid
    out[mid + np.nonzero(acc)[0], suffix[0]] = first_suf
    for j, b in enumerate(suffix[1:]):
        out[first_suf + j, b] = first_suf + j + 1
    accepting = np.zeros(total, dtype=bool)
    accepting[first_suf + n_suf - 1] = True
    out = out[: first_suf + n_suf]
    accepting = accepting[: first_suf + n_suf]
    return ByteDFA(out, accepting, pattern)
