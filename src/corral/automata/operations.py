"""Operations on byte DFAs: products (intersection, union, difference), the character-level view, conversion back to
a regex by state elimination, and concatenation with literal bytes."""

from __future__ import annotations

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

    def cont(state: int, k: int) -> list[tuple[int, int, int]]:
        key = (state, k)
        if key in memo:
            return memo[key]
        out: list[tuple[int, int, int]] = []
        width = 64 ** (k - 1)
        for c in range(64):
            nxt = int(t[state, 0x80 + c])
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
        row = t[s]
        for byte in np.flatnonzero(row >= 0).tolist():
            nxt = int(row[byte])
            if byte < 0x80:
                spans = [(byte, byte, nxt)]
            elif 0xC2 <= byte <= 0xDF:
                spans = [((byte & 0x1F) << 6 | lo, (byte & 0x1F) << 6 | hi, tg) for lo, hi, tg in cont(nxt, 1)]
            elif 0xE0 <= byte <= 0xEF:
                spans = [((byte & 0x0F) << 12 | lo, (byte & 0x0F) << 12 | hi, tg) for lo, hi, tg in cont(nxt, 2)]
            elif 0xF0 <= byte <= 0xF4:
                spans = [((byte & 0x07) << 18 | lo, (byte & 0x07) << 18 | hi, tg) for lo, hi, tg in cont(nxt, 3)]
            else:
                raise ValueError("the DFA accepts malformed UTF-8")
            for lo, hi, tg in spans:
                rs = edges.setdefault(tg, [])
                if rs and rs[-1][1] + 1 == lo:
                    rs[-1] = (rs[-1][0], hi)
                else:
                    rs.append((lo, hi))
        result[s] = edges
        todo.extend(tg for tg in edges if tg not in result)
    return result


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

    def add(i, j, r):
        if r is None:
            return
        old = edge[i].get(j)
        edge[i][j] = alt(old, r)
        inc[j].add(i)
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

    remaining = set(graph)
    while remaining:
        s = min(remaining, key=lambda q: (len(inc[q] - {q}) * len(set(edge[q]) - {q}), q))
        remaining.discard(s)
        loop = edge[s].pop(s, None)
        inc[s].discard(s)
        star = "" if loop in (None, "") else grp(loop) + "*"
        outs = list(edge[s].items())
        for i in list(inc[s]):
            r_in = edge[i].pop(s)
            for j, r_out in outs:
                add(i, j, r_in + star + r_out)
        for j, _ in outs:
            inc[j].discard(s)
        del edge[s]
        del inc[s]
    return edge[START].get(FINAL)


def _depth_scan(x: str):
    """Yield ``(index, char, depth)`` for each character of regex ``x`` outside escapes and character classes
    (``depth``: group nesting before the character)."""
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


def _balanced_group(x: str) -> bool:
    """Whether ``x`` is one ``(?:...)`` group (its first parenthesis closes at the end)."""
    return all(not (ch == ")" and depth == 1 and i != len(x) - 1) for i, ch, depth in _depth_scan(x))


def has_top_level_alternation(x: str) -> bool:
    """Whether regex ``x`` has a ``|`` outside every group and class (so ``a + x + b`` would split it)."""
    return any(ch == "|" and depth == 0 for _, ch, depth in _depth_scan(x))


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
