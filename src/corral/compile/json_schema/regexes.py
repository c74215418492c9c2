"""Regex builders for the JSON Schema compiler: canonical JSON strings, ECMAScript patterns, integer ranges.

Every string the compiler emits is in *canonical* spelling, the one of
``json.dumps(s, ensure_ascii=False)``: characters are written raw except ``"`` and ``\\`` (``\\"``, ``\\\\``),
``\\b \\f \\n \\r \\t``, and the other control characters U+0000..U+001F as ``\\u00xx`` (lower-case hex). One
decoded code point is therefore exactly one *unit* of the encoded text, which makes ``minLength``/``maxLength`` and
``pattern`` exact.
"""

from __future__ import annotations

import bisect
import functools
import json
import re
from decimal import Decimal

try:  # Python >= 3.11
    from re import _constants as _c, _parser as _p
except ImportError:  # pragma: no cover
    import sre_constants as _c  # type: ignore
    import sre_parse as _p  # type: ignore

__all__ = ["UNIT", "CONTENT_START", "CONTENT_END", "string_regex", "pattern_regex", "units_for", "int_range_regex",
           "float_range_regex", "PatternUnsupported", "key_complement_regex"]

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


_UNIT_REMOVE = ((0, 0x1F), (0x22, 0x22), (0x5C, 0x5C), _SURROGATES)
_SPECIAL_UNITS = tuple((c, re.escape(json.dumps(chr(c))[1:-1])) for c in _SPECIAL)  # (code point, its escape)


def units_for(ranges) -> str | None:
    """Regex for the canonical units of the code points in ``ranges``.

    The same string as :func:`units_for_py` (the specification; the tests compare the two), finding the escaped
    code points by bisection instead of scanning every range for each.

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
    raw = _subtract(ranges, _UNIT_REMOVE)
    alts = []
    if raw:
        alts.append("[" + "".join(_cp(a) if a == b else f"{_cp(a)}-{_cp(b)}" for a, b in raw) + "]")
    if ranges and ranges[0][0] <= 0x5C:
        starts = [lo for lo, _ in ranges]
        for c, unit in _SPECIAL_UNITS:
            i = bisect.bisect_right(starts, c) - 1
            if i >= 0 and c <= ranges[i][1]:
                alts.append(unit)
    if not alts:
        return None
    return "(?:" + "|".join(alts) + ")"


def units_for_py(ranges) -> str | None:
    """Regex for the canonical units of the code points in ``ranges`` (the specification of :func:`units_for`).

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


@functools.lru_cache(maxsize=4096)
def _units_except(children: tuple) -> str:
    """``units_for`` of every code point but ``children`` (sorted); memoised, as sibling sets repeat across keys."""
    return units_for(_complement([(c, c) for c in children]))


@functools.lru_cache(maxsize=4096)
def _lit_char(ch: str) -> str:
    """``_lit`` of one character (memoised)."""
    return _lit(ch)


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
        rest = _units_except(tuple(sorted(ord(k) for k in node if k is not None)))
        alts.append(prefix + rest + UNIT + "*")
        for k, child in node.items():
            if k is not None:
                walk(child, prefix + _lit_char(k))

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


#: ``$`` inside a pattern: the content ends here (the closing quote follows, or the text ends).
CONTENT_END = '(?=(?:"|\\Z))'
#: ``^`` inside a pattern: the content starts here (after the opening quote, or at the start of the text).
CONTENT_START = '(?:(?<=\\A")|\\A)'


def _emit(seq, at_start: bool = False, in_look: bool = False) -> str:
    """The content regex of the parsed pattern items ``seq``; ``at_start``: ``seq`` begins where the content does
    (a ``^`` there is redundant); ``in_look``: inside a lookahead (where a ``^`` elsewhere cannot be expressed).

    Lookaheads translate as such (over content units, they cannot read past the closing quote), and ``$``/``^``
    inside a pattern as assertions on the content's end and start, exact both for a content alone and between
    quotes (units end at unit boundaries, where only the closing quote can follow).
    """
    out = []
    for i, (op, av) in enumerate(seq):
        name = str(op)
        first = at_start and i == 0
        if name in ("LITERAL", "NOT_LITERAL", "ANY", "IN"):
            out.append(_unit_of(name, av))
        elif name == "SUBPATTERN":
            _group, add, delete, sub = av
            if add or delete:
                raise PatternUnsupported("inline flags")
            out.append("(?:" + _emit(sub, first, in_look) + ")")
        elif name == "BRANCH":
            out.append("(?:" + "|".join(_emit(b, first, in_look) for b in av[1]) + ")")
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            lo, hi, sub = av
            hi_s = "" if hi == _c.MAXREPEAT else str(hi)
            out.append("(?:" + _emit(sub, in_look=in_look) + ")" + "{%d,%s}" % (lo, hi_s))
        elif name in ("ASSERT", "ASSERT_NOT") and av[0] == 1:  # lookbehinds are refused before parsing
            out.append(("(?=" if name == "ASSERT" else "(?!") + _emit(av[1], first, True) + ")")
        elif name == "AT" and str(av) == "AT_END":
            out.append(CONTENT_END)
        elif name == "AT" and str(av) == "AT_BEGINNING" and (first or not in_look):
            out.append("" if first else CONTENT_START)
        else:
            raise PatternUnsupported(f"construct {name}")
    return "".join(out)


def _unit_of(name: str, av) -> str:
    """The regex of the one code point a pattern item (a literal, its negation, ``.`` or a class) matches."""
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
    return unit


@functools.lru_cache(maxsize=1024)
def pattern_regex(pattern: str) -> str:
    """Translate an ECMAScript ``pattern`` (unanchored search) to a regex over a canonical JSON string's content.
    Memoised: schemas repeat their patterns (each ``patternProperties`` key is asked about for every property).

    Supported: literals, ``.`` (not ``\\n \\r \\u2028 \\u2029``), classes with ranges, ``\\d \\w \\s`` and their
    negations (ASCII digits and word characters, ECMAScript white space), groups ``(...)``/``(?:...)``,
    alternation, greedy and lazy quantifiers, lookaheads ``(?=...)``/``(?!...)``, ``$`` anywhere and ``^`` at the
    start of a top-level alternative or anywhere outside a lookahead.
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
    alternatives = _top_alternatives(list(tree))
    outs = []
    for alt in alternatives:
        head = UNIT + "*"
        tail = UNIT + "*"
        if alt and str(alt[0][0]) == "AT" and str(alt[0][1]) == "AT_BEGINNING":
            head, alt = "", alt[1:]
        if alt and str(alt[-1][0]) == "AT" and str(alt[-1][1]) == "AT_END":
            tail, alt = "", alt[:-1]
        outs.append(head + _emit(alt, at_start=not head) + tail)
    return "(?:" + "|".join(f"(?:{o})" for o in outs) + ")"


def _top_alternatives(items: list) -> list[list]:
    """The top-level alternatives of a parsed pattern, distributing a prefix the parser factored out of a final
    alternation (``^in$|^out$`` parses as ``^(?:in$|out$)``) and opening a lone top-level group (``(^a$)``):
    ``p(x|y)`` is ``px|py``, and a group only captures, so each alternative matches the same strings."""
    if len(items) == 1 and str(items[0][0]) == "SUBPATTERN":
        group = items[0][1]
        if not group[1] and not group[2]:  # no inline flags
            return _top_alternatives(list(group[-1]))
    if items and str(items[-1][0]) == "BRANCH":
        head = items[:-1]
        if not any(str(op) in ("AT", "BRANCH") for op, _ in head[1:]):
            return [alt for b in items[-1][1][1] for alt in
                    ([head + list(b)] if head else _top_alternatives(list(b)))]
    return [items]


# ------------------------------------------------------------------ integer ranges

@functools.lru_cache(maxsize=4096)
def _same_len(x: str, y: str) -> str:
    """Regex for the digit strings of len(x) between x and y (x <= y, same length); memoised (schemas repeat the
    bounds of 32- and 64-bit integers)."""
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


# ------------------------------------------------------------------ decimal intervals (bounded numbers)

def _split(d) -> tuple[int, str]:
    """(integer part, fraction digits without trailing zeros) of a non-negative Decimal."""
    text = format(d, "f")
    ip, _, fp = text.partition(".")
    return int(ip), fp.rstrip("0")


def _frac(a: str, ai: bool, b: str | None, bi: bool, memo: dict) -> tuple[bool, str | None]:
    """Digit strings ``s`` (``0.s`` zero-padded) with ``0.a <=/< 0.s <=/< 0.b`` (b None: no upper bound).

    Returns (whether the empty string is in the language, regex for its non-empty strings or None).
    """
    a = a.rstrip("0")
    b = None if b is None else b.rstrip("0")
    key = (a, ai, b, bi)
    if key in memo:
        return memo[key]
    if a == "" and b is None:
        out = (True, "[0-9]+") if ai else (False, "0*[1-9][0-9]*")
    elif a == "" and b == "":
        out = (True, "0+") if ai and bi else (False, None)
    else:
        empty = a == "" and ai and (b is None or b != "" or bi)
        a0 = int(a[0]) if a else 0
        b0 = None if b is None else (int(b[0]) if b else 0)
        groups: dict[str, list[int]] = {}
        for d in range(10):
            if d < a0 or (b0 is not None and d > b0):
                continue
            lo_t, hi_t = d == a0, b0 is not None and d == b0
            if lo_t and hi_t:
                e, ne = _frac(a[1:], ai, b[1:], bi, memo)
            elif lo_t:
                e, ne = _frac(a[1:], ai, None, True, memo)
            elif hi_t:
                e, ne = _frac("", True, b[1:], bi, memo)
            else:
                e, ne = True, "[0-9]+"
            if ne is None and not e:
                continue
            sub = "" if ne is None else (f"(?:{ne})?" if e else f"(?:{ne})")
            groups.setdefault(sub, []).append(d)
        alts = []
        for sub, ds in groups.items():
            cls = str(ds[0]) if len(ds) == 1 else f"[{''.join(map(str, ds))}]"
            alts.append(cls + sub)
        out = (empty, "(?:" + "|".join(alts) + ")" if alts else None)
    memo[key] = out
    return out


def _plain_interval(lo, lo_incl: bool, hi, hi_incl: bool, frac_optional: bool) -> list[str]:
    """Alternatives for ``int.frac`` spellings (canonical integer part) with magnitude in the interval.

    ``lo``/``hi`` are non-negative Decimals (``hi`` None: unbounded). The fraction is required unless
    ``frac_optional``.
    """
    if hi is not None and (lo > hi or (lo == hi and not (lo_incl and hi_incl))):
        return []
    memo: dict = {}
    ia, fa = _split(lo)
    out = []

    def part(i: int, f) -> None:
        empty, ne = f
        alts = []
        if ne is not None:
            alts.append(rf"\.{ne}")
        if empty and frac_optional:
            alts.append("")
        if alts:
            out.append(str(i) + ("(?:" + "|".join(alts) + ")" if alts != [""] else ""))

    tail = r"(?:\.[0-9]+)?" if frac_optional else r"\.[0-9]+"
    if hi is None:
        part(ia, _frac(fa, lo_incl, None, True, memo))
        out.append(f"{int_range_regex(ia + 1, None)}{tail}")
        return out
    ib, fb = _split(hi)
    if ia == ib:
        part(ia, _frac(fa, lo_incl, fb, hi_incl, memo))
        return out
    part(ia, _frac(fa, lo_incl, None, True, memo))
    if ia + 1 <= ib - 1:
        out.append(f"{int_range_regex(ia + 1, ib - 1)}{tail}")
    part(ib, _frac("", True, fb, hi_incl, memo))
    return out


def _exp_regex(lo: int | None, hi: int | None) -> str:
    """``[eE]`` and a signed exponent (leading zeros and ``+`` allowed) with value in ``[lo, hi]``."""
    parts = []
    if hi is None or hi >= 0:
        parts.append(r"\+?0*" + int_range_regex(max(lo, 0) if lo is not None else 0, hi))
    if lo is None or lo < 0:
        neg_hi = None if lo is None else -lo
        neg_lo = 1 if hi is None or hi >= 0 else -hi
        parts.append("-0*" + int_range_regex(neg_lo, neg_hi))
    if (lo is None or lo <= 0) and (hi is None or hi >= 0):
        parts.append("-0+")
    return "[eE](?:" + "|".join(parts) + ")"


_MANTISSA = r"[1-9](?:\.[0-9]+)?"
PLAIN_MIN = Decimal("1e-5")
PLAIN_MAX = Decimal("1e17")


def _sci_interval(lo, hi) -> list[str]:
    """Alternatives for ``m[eE]x`` spellings, ``1 <= m < 10``, with magnitude in ``[lo, hi]`` (inclusive)."""
    if hi is not None and (hi <= 0 or lo > hi):
        return []
    xa = lo.adjusted() if lo > 0 else None
    xb = hi.adjusted() if hi is not None else None
    out = []

    def mant(a, b) -> str | None:
        alts = _plain_interval(a, True, b, True, True)
        return "(?:" + "|".join(alts) + ")" if alts else None

    if xa is not None and xa == xb:
        m = mant(lo.scaleb(-xa), hi.scaleb(-xb))
        if m:
            out.append(m + _exp_regex(xa, xa))
        return out
    if xa is not None:
        m = mant(lo.scaleb(-xa), None)
        if m:
            out.append(m + _exp_regex(xa, xa))
    mid_lo = None if xa is None else xa + 1
    mid_hi = None if xb is None else xb - 1
    if mid_lo is None or mid_hi is None or mid_lo <= mid_hi:
        out.append(_MANTISSA + _exp_regex(mid_lo, mid_hi))
    if xb is not None:
        m = mant(Decimal(1), hi.scaleb(-xb))
        if m:
            out.append(m + _exp_regex(xb, xb))
    return out


def float_range_regex(lo, hi) -> str | None:
    """Regex for float spellings with value in ``[lo, hi]``: ``-?int.frac`` with magnitude 0 or in
    ``[PLAIN_MIN, PLAIN_MAX]``, and ``-?m[eE]x`` with ``1 <= m < 10`` (one non-zero integer digit). These include
    every ``repr`` of a float (which is plain exactly for magnitudes in ``[1e-4, 1e16)``).

    Parameters
    ----------
    lo, hi : decimal.Decimal or None
        Inclusive bounds (``None``: unbounded on that side).

    Returns
    -------
    str or None
        The regex, or ``None`` if no spelling lies in the interval. Every such spelling whose value lies in the
        interval matches, and nothing else.
    """
    zero = Decimal(0)

    def magnitudes(a, b) -> list[str]:
        out = [r"0\.0+"] if a == 0 else []
        a2, b2 = max(a, PLAIN_MIN), PLAIN_MAX if b is None else min(b, PLAIN_MAX)
        if a2 <= b2:
            out += _plain_interval(a2, True, b2, True, False)
        return out + _sci_interval(a, b)

    alts = []
    if hi is None or hi >= 0:  # non-negative magnitudes
        alts += magnitudes(zero if lo is None or lo < 0 else lo, hi)
    if lo is None or lo <= 0:  # "-" followed by a magnitude in [max(-hi, 0), -lo]
        alts += ["-" + x for x in magnitudes(zero if hi is None or hi > 0 else -hi, None if lo is None else -lo)]
    if not alts:
        return None
    return "(?:" + "|".join(f"(?:{x})" for x in alts) + ")"
