"""Scalar branches of the JSON Schema compiler: null, boolean, numbers, integers, strings, and enum/const."""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from fractions import Fraction

from corral.errors import SchemaError
from corral.compile.json_schema import formats as fmt, regexes as rx
from corral.compile.json_schema.numbers import multiple_of_symbol
from corral.compile.json_schema.vocab import (BY_TYPE as _BY_TYPE, MAX_COUNT, MAX_NUMBER_BOUND, NON_INTEGER,
                                              NOT_MULTIPLE,
                                              NOT_ENUM, NOT_PATTERN, PATTERNS, TYPES, NUMBER, dump as _dump,
                                              type_of as _type_of)

__all__ = ["ScalarsMixin", "content_dfa", "regex_of_dfa", "key_complement_content_dfa"]

MAX_KEY_REGEX = 200_000
MAX_COMBINED_LENGTH = 256
_INT = r"-?(?:0|[1-9][0-9]*)"


def _non_integer_regex() -> str:
    """Number literals that parse (as Python floats, like jsonschema) to a non-integral value.

    Plain decimals with at most 15 significant digits and a non-zero last fractional digit (``12.5``,
    ``0.001``; at most 299 zeros after ``0.``), and ``d.ddde-k`` with the same digits and 1 <= k <= 300. A decimal
    with at most 15 significant digits lies further from every integer than the rounding error of its parse, so
    it stays non-integral; longer spellings (``1.0000000000000001`` parses to ``1.0``), positive exponents
    (``1.5e1`` is 15) and underflowing ones are not generated (a narrowing: integral floats such as ``1.0`` are
    integers for jsonschema).
    """
    big = "|".join(f"[1-9][0-9]{{{n - 1}}}\\.[0-9]{{0,{14 - n}}}[1-9]" for n in range(1, 15))
    sig = "(?:[1-9]|[1-9][0-9]{0,13}[1-9])"
    small = f"0\\.0{{0,299}}{sig}"
    sci = "[1-9](?:\\.[0-9]{0,13}[1-9])?[eE]-0*(?:[1-9][0-9]?|[12][0-9][0-9]|300)"
    return f"-?(?:{big}|{small}|{sci})"


_NON_INT = _non_integer_regex()


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integral(v) -> bool:
    """Whether the number ``v`` has an integral value (ints of any size included)."""
    return isinstance(v, int) or (isinstance(v, float) and v.is_integer())


def number_spellings(v) -> list[str]:
    """The canonical texts (``json.dumps``) of the JSON numbers equal to ``v`` for jsonschema: ``v``'s own, and for
    an integral value both the integer and the float spelling when each is exactly equal (``1``, ``1.0``; ``0``,
    ``0.0``, ``-0.0``; ``1e+16``)."""
    out = [json.dumps(v)]
    if _integral(v):
        out.append(json.dumps(int(v)))
        try:
            if float(v) == v:
                out.append(json.dumps(float(v)))
        except OverflowError:
            pass
        if v == 0:
            out.append("-0.0")
    return list(dict.fromkeys(out))


def content_dfa(regex: str):
    """The byte DFA of a content regex (over canonical JSON string content)."""
    from corral.automata.regex import compile_regex

    return compile_regex(regex)


def regex_of_dfa(dfa, pointer: str, keyword: str) -> str | None:
    """A regex for a content DFA (None: empty), or an unsupported SchemaError when it is too large."""
    from corral.automata.operations import dfa_to_regex

    try:
        regex = dfa_to_regex(dfa, MAX_KEY_REGEX)
    except ValueError:
        raise SchemaError("the combined string language is too large to compile", pointer=pointer, keyword=keyword,
                          kind="unsupported") from None
    if regex is not None and len(regex) > 2000:
        # The terminals '"<regex>"' and '"(?:<regex>)"' are this DFA between quotes: register it, so that compiling
        # the grammar does not parse and determinise a huge regex again.
        from corral.automata.operations import dfa_between, has_top_level_alternation
        from corral.automata.regex import register_dfa

        quoted = dfa_between(b'"', dfa, b'"', f'"{regex}"')
        if quoted is not None:
            if not has_top_level_alternation(regex):
                register_dfa(f'"{regex}"', quoted)
            register_dfa(f'"(?:{regex})"', quoted)
    return regex


def key_complement_pattern(names) -> str:
    """``regexes.key_complement_regex(names)`` (a quoted JSON string whose value is none of ``names``), with its
    DFA (string content minus the names, between quotes, built directly by :func:`key_complement_content_dfa`)
    registered so that compiling the grammar does not parse and determinise the regex again."""
    from corral.automata.bytedfa import ByteDFA
    from corral.automata.operations import dfa_between
    from corral.automata.regex import register_dfa, registered_dfa

    regex = rx.key_complement_regex(names)
    if registered_dfa(regex) is not None:  # the same names before (objects often repeat their property sets)
        return regex
    tables = _key_complement_tables(names)
    if tables is None:  # too many names: the regex is compiled from its text instead
        return regex
    # register_dfa minimises: the content tables go between the quotes as built (saves one minimisation).
    quoted = dfa_between(b'"', ByteDFA(*tables, "key complement"), b'"', regex)
    if quoted is not None:
        register_dfa(regex, quoted)
    return regex


def key_complement_content_dfa(names):
    """The DFA of the canonical JSON string contents (``UNIT*``) other than those of ``names``.

    Built directly: the product of the byte trie of the names' contents with the ``UNIT*`` DFA (a trie node, or
    the ``UNIT*`` state reached after leaving the trie), then minimised. The same tables as
    :func:`key_complement_content_dfa_py` (the specification; the tests compare the two).
    """
    from corral.automata.bytedfa import ByteDFA

    tables = _key_complement_tables(names)
    if tables is None:  # beyond the product's size limit: the specification raises as it always did
        return key_complement_content_dfa_py(names)
    return ByteDFA.from_tables(*tables, "key complement")


MAX_KEY_TRIE = 5_000  # trie nodes of a directly built key complement (the product automaton's state limit)


def _key_complement_tables(names):
    """The product tables of :func:`key_complement_content_dfa`, before pruning and minimisation; ``None`` above
    ``MAX_KEY_TRIE`` trie nodes."""
    import numpy as np

    unit = content_dfa(rx.UNIT + "*")
    children, ustate, end = _content_trie(unit, names)
    n = len(children)
    if n > MAX_KEY_TRIE:
        return None
    tt = np.full((n, 256), -1, dtype=np.int64)
    for node, kids in enumerate(children):
        if kids:
            tt[node, list(kids)] = list(kids.values())
    ut = unit.transitions.astype(np.int64)
    us = np.asarray(ustate, dtype=np.int64)
    off = ut[us]
    top = np.where(tt >= 0, tt, np.where(off >= 0, off + n, -1))
    table = np.vstack([top, np.where(ut >= 0, ut + n, -1)])
    acc = np.concatenate([unit.accepting[us] & ~np.asarray(end, dtype=bool), unit.accepting])
    return table, acc


def _content_trie(unit, names) -> tuple[list[dict], list[int], list[bool]]:
    """Byte trie of the names' canonical contents that ``unit`` accepts: each node's children ``{byte: node}``, its
    ``unit`` state and whether a name ends there (node 0 is the root)."""
    rows = unit._rows
    children: list[dict] = [{}]
    ustate, end = [0], [False]
    for name in dict.fromkeys(names):
        try:
            data = content_of(name).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 spelling, so no string content to exclude
            continue
        if not unit.fullmatch(data):
            continue
        node = 0
        for b in data:
            nxt = children[node].get(b)
            if nxt is None:
                nxt = children[node][b] = len(children)
                children.append({})
                ustate.append(rows[ustate[node]][b])
                end.append(False)
            node = nxt
        end[node] = True
    return children, ustate, end


def key_complement_content_dfa_py(names):
    """The specification of :func:`key_complement_content_dfa`: ``UNIT*`` minus the regex alternation of the
    names' escaped contents, by a product automaton."""
    from corral.automata.operations import dfa_difference

    base = content_dfa(rx.UNIT + "*")
    names = list(names)
    if not names:
        return base
    return dfa_difference(base, content_dfa("|".join(re.escape(content_of(x)) for x in names)))


# Lengths up to which string_content registers the directly built DFA: the regex text compiles too (larger bounds
# are left to compile_regex, which refuses them as too large, as before).
MAX_DIRECT_LENGTH = 1024


def register_length_dfa(lo: int, hi: int | None, quoted: bool) -> None:
    """Register the DFA of ``rx.string_regex(lo, hi)`` (``quoted``) or of its content ``UNIT{lo,hi}``, built directly
    by :func:`length_dfa` (compiling ``{0,1024}`` from its text is slow); bounds above ``MAX_DIRECT_LENGTH`` are
    left alone."""
    from corral.automata.regex import register_dfa, registered_dfa

    regex = rx.string_regex(lo, hi)
    if not quoted:
        regex = regex[1:-1]
    if max(lo, hi or 0) <= MAX_DIRECT_LENGTH and registered_dfa(regex) is None:
        dfa = length_dfa(lo, hi, quoted)
        if dfa is not None:
            register_dfa(regex, dfa, canonical=True)  # minimal and numbered breadth-first by construction


def length_dfa(lo: int, hi: int | None, quoted: bool = False):
    """The DFA of ``UNIT{lo,hi}`` (``hi=None``: unbounded; ``quoted``: between ``"``), built directly, or ``None``
    when ``lo > hi``.

    Copy ``k`` of the one-unit DFA's non-final states stands for ``k`` units read; completing a unit moves to the
    start of copy ``k + 1``; copy ``hi`` is only its start state (unbounded: copy ``lo`` is only its start state,
    which moves like the start of copy ``lo - 1`` but back to itself). The start of copy ``k`` accepts (quoted:
    moves on ``"`` to a final state) iff ``lo <= k``. As ``UNIT`` is a prefix code, the result is minimal without a
    refinement: only the breadth-first renumbering is needed. The same tables as compiling the regex (the
    specification; the tests compare the two).
    """
    from corral.automata.bytedfa import ByteDFA

    tables = _length_tables(lo, hi, quoted)
    regex = rx.string_regex(lo, hi)
    return None if tables is None else ByteDFA(*tables, regex if quoted else regex[1:-1])


def _length_tables(lo: int, hi: int | None, quoted: bool):
    """Canonical tables of :func:`length_dfa` (``None`` when ``lo > hi`` or the unit DFA is not as expected)."""
    import numpy as np

    from corral.automata.bytedfa import canonical_tables

    unit = content_dfa(rx.UNIT)
    t = unit.transitions.astype(np.int64)
    final = np.flatnonzero(unit.accepting)
    if (hi is not None and lo > hi) or len(final) != 1 or (t[final[0]] >= 0).any() or final[0] == 0 or (
            t[0, ord('"')] >= 0):
        return None
    f = int(final[0])
    keep = np.array([q for q in range(len(t)) if q != f])  # state 0 (the start) stays first
    pos = np.full(len(t), -1, dtype=np.int64)
    pos[keep] = np.arange(len(keep))
    n, top = len(keep), (lo if hi is None else hi)
    within = np.where(t[keep] >= 0, pos[np.maximum(t[keep], 0)], -1)
    k = np.arange(top + 1, dtype=np.int64)[:, None, None]
    table = np.where(t[keep] == f, (k + 1) * n, np.where(within >= 0, k * n + within, -1)).reshape(-1, 256)
    table[table >= (top + 1) * n] = -1 if hi is not None else top * n  # past the last copy: dead, or loop
    if hi is not None or top:
        table[top * n] = -1 if hi is not None else table[(top - 1) * n]
    acc = np.zeros(len(table), dtype=bool)
    acc[np.arange(lo, top + 1) * n] = True
    if quoted:  # state 0: the opening quote; the closing quote leads from each accepting start to the final state
        table = np.vstack([np.full((1, 256), -1), np.where(table >= 0, table + 1, -1), np.full((1, 256), -1)])
        table[0, ord('"')] = 1
        table[1 + np.flatnonzero(acc), ord('"')] = len(table) - 1
        acc = np.zeros(len(table), dtype=bool)
        acc[-1] = True
    return canonical_tables(table, acc)


def content_of(s: str) -> str:
    """The canonical spelling of the content of the JSON string ``s``."""
    return json.dumps(s, ensure_ascii=False)[1:-1]


class ScalarsMixin:
    """Type branches for scalars, ``enum``/``const`` and keyword validation."""

    def _types(self, node: dict, pointer: str) -> list[str]:
        if "type" not in node:
            return [t for t in TYPES if t != "integer"]
        t = node["type"]
        ts = [t] if isinstance(t, str) else t
        if (not isinstance(ts, list) or not ts or len(set(map(repr, ts))) != len(ts)
                or not all(isinstance(x, str) and x in TYPES for x in ts)):
            raise SchemaError(f"invalid type {t!r}", pointer=self._kp(node, pointer, "type"), keyword="type")
        if "number" in ts and "integer" in ts:
            ts = [x for x in ts if x != "integer"]
        return ts


    def _enum(self, node, pointer, name, types) -> None:
        lists = []
        if "enum" in node:
            if not isinstance(node["enum"], list):
                raise SchemaError("enum must be an array", pointer=self._kp(node, pointer, "enum"), keyword="enum")
            lists.append([(v, _dump(v, self._kp(node, pointer, "enum", i), "enum"))
                          for i, v in enumerate(node["enum"])])
        if "const" in node:
            lists.append([(node["const"], _dump(node["const"], self._kp(node, pointer, "const"), "const"))])
        allowed = set(types) | ({"integer"} if "number" in types else set())
        keep = [(v, d) for v, d in lists[0] if all(d in {e for _, e in other} for other in lists[1:])]
        keep = [(v, d) for v, d in keep if _type_of(v) in allowed or (
            self.integral_floats and "integer" in allowed and _is_number(v) and _integral(v))]
        rest = {k: v for k, v in node.items() if k not in ("type", "enum", "const") and not self._is_note(k)}
        if rest:
            keep = [(v, d) for v, d in keep if self.instance_valid(rest, pointer, v, node)]
        if not keep:
            kw = "enum" if "enum" in node else "const"
            raise SchemaError(f"no {kw} value satisfies the other keywords",
                              pointer=self._kp(node, pointer, kw), keyword=kw,
                              kind="unsatisfiable")
        for v, d in dict((d, (v, d)) for v, d in keep).values():
            if self._spelled_apart(v):
                self.rule(name, self._literal_symbol(v, self._kp(node, pointer, "enum" if "enum" in node
                                                                 else "const")))
            else:
                self.rule(name, *self.value_symbols(v))

    def _spelled_apart(self, v) -> bool:
        """Whether the options make ``v`` more than its compact literal: an object of two or more keys with
        ``property_order="any"``, or an integral number with ``integral_floats``."""
        if isinstance(v, dict):
            return (self.any_order and len(v) > 1) or any(self._spelled_apart(x) for x in v.values())
        if isinstance(v, list):
            return any(self._spelled_apart(x) for x in v)
        return self.integral_floats and _is_number(v) and _integral(v)

    def _literal_symbol(self, v, pointer: str) -> str:
        """A symbol for every spelling of the value ``v`` that the options allow (numbers: :func:`number_spellings`;
        objects: their keys in any order)."""
        if not isinstance(v, (dict, list)):
            return self.term("|".join(re.escape(x) for x in number_spellings(v)))
        children = [{"const": x} for x in (v.values() if isinstance(v, dict) else v)]
        if isinstance(v, dict):
            node = {"type": "object", "properties": dict(zip(v, children)), "required": list(v),
                    "additionalProperties": False}
        else:
            node = {"type": "array", "prefixItems": children, "items": False, "minItems": len(v)}
        for d in [node] + children:  # synthetic: memoised by identity, not by pointer (shared by all the values)
            self._origin[id(d)] = {}
            self._keep.append(d)
        return self.schema(node, pointer)

    @staticmethod
    def _is_note(key) -> bool:
        from corral.compile.json_schema.vocab import is_annotation

        return is_annotation(key)

    # ---- keyword checks

    def _count(self, node, pointer, key, default=None):
        if key not in node:
            return default
        v = node[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float) and not v.is_integer()):
            raise SchemaError(f"{key} must be a non-negative integer",
                              pointer=self._kp(node, pointer, key), keyword=key)
        v = int(v)
        if v > MAX_COUNT and key not in ("maxItems", "maxLength"):
            raise SchemaError(f"{key} above {MAX_COUNT} is not supported",
                              pointer=self._kp(node, pointer, key), keyword=key,
                              kind="unsupported")
        return v

    def _validate_keywords(self, node, pointer) -> None:
        for key in ("minItems", "maxItems", "minLength", "maxLength"):
            self._count(node, pointer, key)
        for key in ("minProperties", "maxProperties"):
            self._count(node, pointer, key)
        for lo, hi in (("minItems", "maxItems"), ("minLength", "maxLength"), ("minProperties", "maxProperties")):
            if lo in node and hi in node and node[lo] > node[hi]:
                raise SchemaError(f"{lo} > {hi}", pointer=self._kp(node, pointer, lo), keyword=lo, kind="unsatisfiable")
        for key in _BY_TYPE["integer"]:
            v = node.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
                raise SchemaError(f"{key} must be a number", pointer=self._kp(node, pointer, key), keyword=key)
        if "format" in node and not isinstance(node["format"], str):
            raise SchemaError("format must be a string", pointer=self._kp(node, pointer, "format"), keyword="format")
        if "pattern" in node and not isinstance(node["pattern"], str):
            raise SchemaError("pattern must be a string", pointer=self._kp(node, pointer, "pattern"), keyword="pattern")
        if "required" in node:
            req = node["required"]
            if not isinstance(req, list) or not all(isinstance(r, str) for r in req) or len(set(req)) != len(req):
                raise SchemaError("required must be an array of distinct strings",
                                  pointer=self._kp(node, pointer, "required"),
                                  keyword="required")
        if "properties" in node and not isinstance(node["properties"], dict):
            raise SchemaError("properties must be an object", pointer=self._kp(node, pointer, "properties"),
                              keyword="properties")
        if "prefixItems" in node and (not isinstance(node["prefixItems"], list) or not node["prefixItems"]):
            raise SchemaError("prefixItems must be a non-empty array", pointer=self._kp(node, pointer, "prefixItems"),
                              keyword="prefixItems")


    def _t_null(self, node, pointer) -> str:
        return self.lit("null") if not self._excluded(node, None) else self.never()

    def _excluded(self, node, value) -> bool:
        d = json.dumps(value)
        return any(json.dumps(v) == d for v in node.get(NOT_ENUM, ()) if _type_of(v) == _type_of(value))

    def _t_boolean(self, node, pointer) -> str:
        n = self.nt("bool")
        for v in (True, False):
            if not self._excluded(node, v):
                self.rule(n, self.lit(json.dumps(v)))
        self.rule(n, self.never())
        return n

    def _not_numbers(self, node, pointer, integral_only: bool) -> list:
        """Integer values excluded by NOT_ENUM; unsupported if a non-integral literal could equal one."""
        out = []
        for v in node.get(NOT_ENUM, ()):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if isinstance(v, float) and not v.is_integer():
                if not integral_only:
                    raise SchemaError("not/const of a non-integral number is not supported", pointer=pointer,
                                      keyword="not", kind="unsupported")
                continue
            if not integral_only:
                raise SchemaError("excluding a number from type number is not supported (1 == 1.0 has many "
                                  "spellings)", pointer=pointer, keyword="not", kind="unsupported")
            out.append(int(v))
        return out

    def _numbers_excluding(self, excluded) -> str:
        """Integer literals other than the excluded values, and canonical float spellings (see the module docstring
        of the compiler) whose value lies outside the rounding interval of every excluded float."""
        ints = [int(v) for v in excluded if float(v).is_integer() and abs(v) < 2 ** 63 or isinstance(v, int)]
        spellings = [self._int_regex_excluding(None, None, ints)]
        floats = sorted({float(v) for v in excluded})
        lo = None
        for f in floats:
            below = Decimal(repr(math.nextafter(f, -math.inf)))
            if lo is None or lo <= below:
                r = rx.float_range_regex(lo, below)
                if r is not None:
                    spellings.append(r)
            lo = Decimal(repr(math.nextafter(f, math.inf)))
        r = rx.float_range_regex(lo, None)
        if r is not None:
            spellings.append(r)
        return "(?:" + "|".join(f"(?:{x})" for x in spellings if x is not None) + ")"

    def _int_regex_excluding(self, lo, hi, excluded) -> str | None:
        """Regex for the integers in [lo, hi] except ``excluded``."""
        pieces, cur = [], lo
        for x in sorted(set(excluded)):
            if (lo is not None and x < lo) or (hi is not None and x > hi):
                continue
            if cur is None or cur <= x - 1:
                pieces.append((cur, x - 1))
            cur = x + 1
        if cur is None or hi is None or cur <= hi:
            pieces.append((cur, hi))
        if not pieces:
            return None
        return "(?:" + "|".join(f"(?:{rx.int_range_regex(a, b)})" for a, b in pieces) + ")"

    def _t_string(self, node, pointer) -> str:
        content = self.string_content(node, pointer)
        if content is None:
            return self.never()
        return self.term(f'"{content}"')

    def string_content(self, node, pointer) -> str | None:
        """Regex for the canonical content of the strings ``node`` allows (None: none)."""
        lo = self._count(node, pointer, "minLength", 0)
        hi = self._count(node, pointer, "maxLength")
        must: list[tuple[str, str]] = []  # (content regex, keyword)
        if "format" in node:
            content = fmt.format_regex(node["format"], rx.UNIT)
            if content is None:
                raise SchemaError(f"format {node['format']!r} is not supported",
                                  pointer=self._kp(node, pointer, "format"),
                                  keyword="format", kind="unsupported")
            fixed = fmt.FIXED_LENGTH.get(node["format"])
            if fixed is not None and (fixed < lo or (hi is not None and fixed > hi)):
                raise SchemaError(f"format {node['format']!r} strings have length {fixed}",
                                  pointer=self._kp(node, pointer, "format"), keyword="format",
                                  kind="unsatisfiable")
            if fixed is not None:
                lo, hi = 0, None
            must.append((content, "format"))
        if lo or hi is not None or not must:
            must.append((rx.string_regex(lo, hi)[1:-1], "minLength" if "minLength" in node else "maxLength"))
        pats = ([node["pattern"]] if "pattern" in node else []) + list(node.get(PATTERNS, ()))
        for p in pats:
            must.append((self._pattern(p, node, pointer), "pattern"))
        nots = [self._pattern(p, node, pointer) for p in node.get(NOT_PATTERN, ())]
        names = [v for v in node.get(NOT_ENUM, ()) if isinstance(v, str)]
        if names:
            nots.append("|".join(re.escape(content_of(v)) for v in names))
        bounded = bool(lo) or hi is not None  # then must holds UNIT{lo,hi}: its DFA is built directly
        if len(must) == 1 and not nots:
            if bounded:
                register_length_dfa(lo, hi, quoted=True)
            return must[0][0]
        if bounded:
            register_length_dfa(lo, hi, quoted=False)
        from corral.automata.operations import dfa_difference, dfa_intersection

        kw = "pattern" if pats else must[0][1]
        if nots and not pats:
            kw = "not"
        if max(lo, hi or 0) > MAX_COMBINED_LENGTH:
            key = "maxLength" if (hi or 0) > MAX_COMBINED_LENGTH else "minLength"
            raise SchemaError(f"{key} above {MAX_COMBINED_LENGTH} together with pattern, format or not is not "
                              "supported", pointer=self._kp(node, pointer, kw if kw != "maxLength" else key),
                              keyword=kw if kw != "maxLength" else key, kind="unsupported")

        try:
            dfa = content_dfa(must[0][0])
            for regex, _ in must[1:]:
                dfa = dfa_intersection(dfa, content_dfa(regex))
            for regex in nots:
                dfa = dfa_difference(dfa, content_dfa(f"(?:{regex})"))
        except SchemaError:
            raise
        except (MemoryError, ValueError) as exc:
            raise SchemaError(f"the string constraints cannot be combined: {exc}",
                              pointer=self._kp(node, pointer, kw), keyword=kw, kind="unsupported") from None
        return regex_of_dfa(dfa, self._kp(node, pointer, kw), kw)

    def _pattern(self, pattern, node, pointer) -> str:
        if not isinstance(pattern, str):
            raise SchemaError("pattern must be a string", pointer=self._kp(node, pointer, "pattern"),
                              keyword="pattern")
        try:
            return rx.pattern_regex(pattern)
        except rx.PatternUnsupported as exc:
            raise SchemaError(f"pattern {pattern!r} cannot be compiled exactly: {exc}",
                              pointer=self._kp(node, pointer, "pattern"),
                              keyword="pattern", kind="unsupported") from None

    def _t_number(self, node, pointer) -> str:
        if "multipleOf" in node or NOT_MULTIPLE in node:  # exact multipleOf: see corral.compile.json_schema.numbers
            return multiple_of_symbol(self, node, self._kp(node, pointer, "multipleOf"), False)
        keys = [k for k in _BY_TYPE["integer"] if k in node]
        if node.get(NON_INTEGER):
            self._not_numbers(node, pointer, True)
            if not keys:
                return self.term(_NON_INT)
            raise SchemaError("bounds on non-integral numbers (not integer) are not supported", pointer=pointer,
                              keyword="not", kind="unsupported")
        excluded = [v for v in node.get(NOT_ENUM, ()) if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if excluded:
            if keys:
                raise SchemaError("excluding a number together with bounds is not supported", pointer=pointer,
                                  keyword="not", kind="unsupported")
            return self.term(self._numbers_excluding(excluded))
        if not keys:
            return self.term(NUMBER)
        for k in keys:
            if abs(node[k]) > MAX_NUMBER_BOUND:
                raise SchemaError(f"{k} beyond 1e100 in magnitude is not supported for numbers",
                                  pointer=self._kp(node, pointer, k), keyword=k, kind="unsupported")
        lo_i, hi_i = self._int_bounds(node)
        spellings = []
        if lo_i is None or hi_i is None or lo_i <= hi_i:
            unbounded = lo_i is None and hi_i is None
            spellings.append(r"-?(?:0|[1-9][0-9]*)" if unbounded else rx.int_range_regex(lo_i, hi_i))

        def ok(x: float, lower: bool) -> bool:
            q = Fraction(x)
            if lower:
                return ((("minimum" not in node) or q >= Fraction(node["minimum"]))
                        and (("exclusiveMinimum" not in node) or q > Fraction(node["exclusiveMinimum"])))
            return ((("maximum" not in node) or q <= Fraction(node["maximum"]))
                    and (("exclusiveMaximum" not in node) or q < Fraction(node["exclusiveMaximum"])))

        def extreme(lower: bool) -> Decimal | None:  # the smallest (largest) float within the lower (upper) bounds
            names = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
            vals = [node[k] for k in names if k in node]
            if not vals:
                return None
            out, inward, outward = float(max(vals) if lower else min(vals)), math.inf, -math.inf
            if not lower:
                inward, outward = outward, inward
            while not ok(out, lower):
                out = math.nextafter(out, inward)
            while ok(math.nextafter(out, outward), lower):
                out = math.nextafter(out, outward)
            return Decimal(repr(out))

        lo_f, hi_f = extreme(True), extreme(False)
        if lo_f is None or hi_f is None or lo_f <= hi_f:
            floats = rx.float_range_regex(lo_f, hi_f)
            if floats is not None:
                spellings.append(floats)
        if not spellings:
            raise SchemaError("no number lies between the bounds",
                              pointer=self._kp(node, pointer, keys[0]), keyword=keys[0],
                              kind="unsatisfiable")
        return self.term("(?:" + "|".join(f"(?:{s})" for s in spellings) + ")")

    def _int_bounds(self, node):
        lo = hi = None
        if "minimum" in node:
            lo = math.ceil(node["minimum"])
        if "exclusiveMinimum" in node:
            v = math.floor(node["exclusiveMinimum"]) + 1
            lo = v if lo is None else max(lo, v)
        if "maximum" in node:
            hi = math.floor(node["maximum"])
        if "exclusiveMaximum" in node:
            v = math.ceil(node["exclusiveMaximum"]) - 1
            hi = v if hi is None else min(hi, v)
        return lo, hi

    def _t_integer(self, node, pointer) -> str:
        if "multipleOf" in node or NOT_MULTIPLE in node:
            return multiple_of_symbol(self, node, self._kp(node, pointer, "multipleOf"), True)
        lo, hi = self._int_bounds(node)
        if lo is not None and hi is not None and lo > hi:
            key = next(k for k in ("minimum", "exclusiveMinimum") if k in node)
            raise SchemaError("no integer lies between the bounds", pointer=self._kp(node, pointer, key), keyword=key,
                              kind="unsatisfiable")
        excluded = self._not_numbers(node, pointer, True)
        if excluded:
            regex = self._int_regex_excluding(lo, hi, excluded)
        elif lo is None and hi is None:
            regex = r"-?(?:0|[1-9][0-9]*)"
        else:
            regex = rx.int_range_regex(lo, hi)
        if self.integral_floats:
            # integral floats, exact up to 2^53: their canonical text is the integer's followed by ".0"
            lo_f, hi_f = max(lo, -2 ** 53) if lo is not None else -2 ** 53, min(hi, 2 ** 53) if hi is not None \
                else 2 ** 53
            floats = self._int_regex_excluding(lo_f, hi_f, excluded) if lo_f <= hi_f else None
            if floats is not None:
                zero = lo_f <= 0 <= hi_f and 0 not in excluded
                regex = "|".join(f"(?:{x})" for x in (regex, floats + r"\.0", "-0\\.0" if zero else None) if x)
        return self.term(regex) if regex is not None else self.never()

