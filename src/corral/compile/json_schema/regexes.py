"""Regex builders for the JSON Schema compiler: canonical JSON strings, ECMAScript patterns, integer ranges.

Every string the compiler emits is in *canonical* spelling, the one of
``json.dumps(s, ensure_ascii=False)``: characters are written raw except ``"`` and ``\\`` (``\\"``, ``\\\\``),
``\\b \\f \\n \\r \\t``, and the other control characters U+0000..U+001F as ``\\u00xx`` (lower-case hex). One
decoded code point is therefore exactly one *unit* of the encoded text, which makes ``minLength``/``maxLength`` and
``pattern`` exact.
"""

from __future__ import annotations

import json
import re

try:  # Python >= 3.11
    from re import _constants as _c, _parser as _p
except ImportError:  # pragma: no cover
    import sre_constants as _c  # type: ignore
    import sre_parse as _p  # type: ignore

__all__ = ["UNIT", "string_regex", "pattern_regex", "units_for", "int_range_regex", "PatternUnsupported",
           "key_complement_regex"]

MAX_CP = 0x10FFFF
_SURROGATES = (0xD800, 0xDFFF)
#: One canonical unit (one decoded code point) of a JSON string's content.
UNIT = r'(?:[^"\\\x00-\x1f]|\\["\\bfnrt]|\\u00(?:0[0-7bef]|1[0-9a-f]))'
_SPECIAL = [cp for cp in range(0x20)] + [0x22, 0x5C]


class PatternUnsupported(Exception):
    """A ``pattern`` uses a construct that cannot be translated exactly (message says which)."""


def _norm(ranges):
    out = []
    for lo, hi in sorted(ranges):
        if lo > hi:
            continue
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _complement(ranges):
    out, nxt = [], 0
    for lo, hi in _norm(ranges):
        if lo > nxt:
            out.append((nxt, lo - 1))
        nxt = hi + 1
    if nxt <= MAX_CP:
        out.append((nxt, MAX_CP))
    return out


def _subtract(ranges, remove):
    return _complement(_norm(_complement(ranges)) + list(remove))


def _cp(c: int) -> str:
    return f"\\u{c:04x}" if c <= 0xFFFF else f"\\U{c:08x}"


def units_for(ranges) -> str | None:
    """Regex for the canonical units of the code points in ``ranges``.

    Parameters
    ----------
    ranges : iterable of (int, int)
        Inclusive code point ranges; surrogates are ignored.

    Returns
    -------
    str or None
        A Python regex matching exactly the canonical spellings of those code points, or ``None`` if there are none.
    """
    ranges = _norm(ranges)
    raw = _subtract(ranges, [(0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), _SURROGATES])
    alts = []
    if raw:
        alts.append("[" + "".join(_cp(a) if a == b else f"{_cp(a)}-{_cp(b)}" for a, b in raw) + "]")
    for c in _SPECIAL:
        if any(lo <= c <= hi for lo, hi in ranges):
            alts.append(re.escape(json.dumps(chr(c))[1:-1]))
    if not alts:
        return None
    return "(?:" + "|".join(alts) + ")"


def _lit(text: str) -> str:
    """Regex for the canonical spelling of ``text`` (without quotes)."""
    return re.escape(json.dumps(text, ensure_ascii=False)[1:-1])


def string_regex(min_length: int = 0, max_length: int | None = None) -> str:
    """Regex for a whole canonical JSON string (quotes included) of ``min_length..max_length`` code points.

    Parameters
    ----------
    min_length : int
        Minimum number of code points.
    max_length : int or None
        Maximum number of code points (``None``: unbounded).

    Returns
    -------
    str
    """
    if min_length == 0 and max_length is None:
        rep = "*"
    else:
        rep = "{%d,%s}" % (min_length, "" if max_length is None else max_length)
    return f'"{UNIT}{rep}"'


def key_complement_regex(names) -> str:
    """Regex for a canonical JSON string (quotes included) whose value is none of ``names``.

    Parameters
    ----------
    names : iterable of str
        The excluded strings.

    Returns
    -------
    str
    """
    trie: dict = {}
    for name in names:
        node = trie
        for ch in name:
            node = node.setdefault(ch, {})
        node[None] = True
    alts = []

    def walk(node, prefix):
        if None not in node:
            alts.append(prefix)  # the prefix itself is not excluded
        children = [ord(k) for k in node if k is not None]
        rest = units_for(_complement([(c, c) for c in children]))
        alts.append(prefix + rest + UNIT + "*")
        for k, child in node.items():
            if k is not None:
                walk(child, prefix + _lit(k))

    walk(trie, "")
    body = "|".join(alts)
    return f'"(?:{body})"'


# ------------------------------------------------------------------ ECMAScript patterns

_ECMA_SPACE = [(0x09, 0x0D), (0x20, 0x20), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A), (0x2028, 0x2029),
               (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000), (0xFEFF, 0xFEFF)]
_CATEGORIES = {
    "CATEGORY_DIGIT": [(0x30, 0x39)],
    "CATEGORY_WORD": [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)],
    "CATEGORY_SPACE": _ECMA_SPACE,
}
_DOT = _complement([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)])


def _class_ranges(items):
    ranges, negate = [], False
    for op, av in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            ranges.append((av, av))
        elif name == "RANGE":
            ranges.append(av)
        elif name == "CATEGORY":
            cat = str(av)
            if cat in _CATEGORIES:
                ranges += _CATEGORIES[cat]
            elif cat.startswith("CATEGORY_NOT_") and "CATEGORY_" + cat[13:] in _CATEGORIES:
                ranges += _complement(_CATEGORIES["CATEGORY_" + cat[13:]])
            else:
                raise PatternUnsupported(f"character category {cat}")
        else:
            raise PatternUnsupported(f"class item {name}")
    return _complement(ranges) if negate else _norm(ranges)


def _emit(seq) -> str:
    out = []
    for op, av in seq:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            if name == "LITERAL":
                ranges = [(av, av)]
            elif name == "NOT_LITERAL":
                ranges = _complement([(av, av)])
            elif name == "ANY":
                ranges = _DOT
            else:
                ranges = _class_ranges(av)
            unit = units_for(ranges)
            if unit is None:
                raise PatternUnsupported("a character class that matches nothing")
            out.append(unit)
        elif name == "SUBPATTERN":
            _group, add, delete, sub = av
            if add or delete:
                raise PatternUnsupported("inline flags")
            out.append("(?:" + _emit(sub) + ")")
        elif name == "BRANCH":
            out.append("(?:" + "|".join(_emit(b) for b in av[1]) + ")")
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            lo, hi, sub = av
            hi_s = "" if hi == _c.MAXREPEAT else str(hi)
            out.append("(?:" + _emit(sub) + ")" + "{%d,%s}" % (lo, hi_s))
        else:
            raise PatternUnsupported(f"construct {name}")
    return "".join(out)


def pattern_regex(pattern: str) -> str:
    """Translate an ECMAScript ``pattern`` (unanchored search) to a regex over a canonical JSON string's content.

    Supported: literals, ``.`` (not ``\\n \\r \\u2028 \\u2029``), classes with ranges, ``\\d \\w \\s`` and their
    negations (ASCII digits and word characters, ECMAScript white space), groups ``(...)``/``(?:...)``,
    alternation, greedy and lazy quantifiers, and ``^``/``$`` at the very start/end of a top-level alternative.
    Everything else raises :class:`PatternUnsupported`.

    Parameters
    ----------
    pattern : str
        The ECMAScript regex.

    Returns
    -------
    str
        A Python regex for the *content* (between the quotes) of the canonical JSON strings that contain a match.

    Raises
    ------
    PatternUnsupported
        The pattern uses a construct that cannot be translated exactly.
    """
    if "[^]" in pattern or "[]" in pattern or "(?<" in pattern or "\\c" in pattern or "\\u{" in pattern:
        raise PatternUnsupported("an ECMAScript-only construct ([^], [], (?<...>), \\c, \\u{...})")
    if re.search(r"\\[1-9kpPbBAZzG]", pattern):
        raise PatternUnsupported("an escape whose meaning differs or cannot be compiled (\\b, \\p, backreference)")
    try:
        tree = _p.parse(pattern)
    except Exception as exc:  # re.error and friends
        raise PatternUnsupported(f"not parsable: {exc}") from None
    if tree.state.flags & ~(re.UNICODE | getattr(re, "NOFLAG", 0)):
        raise PatternUnsupported("inline flags")
    items = list(tree)
    alternatives = [items]
    if len(items) == 1 and str(items[0][0]) == "BRANCH":
        alternatives = [list(b) for b in items[0][1][1]]
    outs = []
    for alt in alternatives:
        head = UNIT + "*"
        tail = UNIT + "*"
        if alt and str(alt[0][0]) == "AT" and str(alt[0][1]) == "AT_BEGINNING":
            head, alt = "", alt[1:]
        if alt and str(alt[-1][0]) == "AT" and str(alt[-1][1]) == "AT_END":
            tail, alt = "", alt[:-1]
        outs.append(head + _emit(alt) + tail)
    return "(?:" + "|".join(f"(?:{o})" for o in outs) + ")"


# ------------------------------------------------------------------ integer ranges

def _same_len(x: str, y: str) -> str:
    """Regex for the digit strings of len(x) between x and y (x <= y, same length)."""
    if not x:
        return ""
    if x == y:
        return x
    n = len(x) - 1
    if x[1:] == "0" * n and y[1:] == "9" * n:
        return f"[{x[0]}-{y[0]}]" + (f"[0-9]{{{n}}}" if n else "")
    if x[0] == y[0]:
        return x[0] + _same_len(x[1:], y[1:])
    parts = [x[0] + _same_len(x[1:], "9" * n)]
    if int(y[0]) - int(x[0]) > 1:
        parts.append(f"[{int(x[0]) + 1}-{int(y[0]) - 1}]" + f"[0-9]{{{n}}}")
    parts.append(y[0] + _same_len("0" * n, y[1:]))
    return "(?:" + "|".join(parts) + ")"


def _naturals(lo: int, hi: int | None) -> list[str]:
    """Alternatives for the canonical decimal naturals in [lo, hi] (hi None: unbounded); lo >= 0."""
    parts = []
    top = len(str(hi)) if hi is not None else len(str(lo))
    for length in range(len(str(lo)), top + 1):
        a = max(lo, 10 ** (length - 1) if length > 1 else 0)
        b = 10 ** length - 1 if hi is None else min(hi, 10 ** length - 1)
        if a <= b:
            parts.append(_same_len(str(a), str(b)))
    if hi is None:
        parts.append(f"[1-9][0-9]{{{len(str(lo))},}}")
    return parts


def int_range_regex(lo: int | None, hi: int | None) -> str:
    """Regex for the canonical decimal integers in ``[lo, hi]`` (``None``: unbounded on that side).

    Parameters
    ----------
    lo, hi : int or None
        Inclusive bounds, ``lo <= hi`` when both are given.

    Returns
    -------
    str
        A regex matching exactly ``str(n)`` for every integer ``n`` in the range (``-0`` is not produced).
    """
    parts = []
    if hi is None or hi >= 0:
        parts += _naturals(max(lo, 0) if lo is not None else 0, hi)
    if lo is None or lo < 0:
        neg_hi = None if lo is None else -lo           # magnitudes
        neg_lo = 1 if hi is None or hi >= 0 else -hi
        parts += ["-" + p for p in (f"(?:{q})" for q in _naturals(neg_lo, neg_hi))]
    return "(?:" + "|".join(parts) + ")"
