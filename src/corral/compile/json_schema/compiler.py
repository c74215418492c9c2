"""JSON Schema (draft 2020-12, with draft-07 spellings) to :class:`~corral.compile.grammar.Grammar`.

Language
--------
The grammar of a schema generates compact JSON text (no whitespace) such that:

* every generated text parses to an instance that is valid against the schema (soundness), and
* the *canonical text* of every valid instance is generated (completeness), where the canonical text is
  ``json.dumps(x, separators=(",", ":"), ensure_ascii=False)`` with object keys ordered as below.

Choices that make the output canonical (documented narrowings, never widenings):

* Strings are spelled canonically (see :mod:`corral.compile.json_schema.regexes`); lone surrogates never appear.
* ``"type": "integer"`` generates integer literals only (``1``, never ``1.0`` or ``1e0``): integer-valued floats
  are treated as numbers that are not integers.
* ``enum``/``const`` values are generated exactly as their compact ``json.dumps`` literal: ``1`` and ``1.0`` are
  different values, and object literals keep their key order.
* Object properties appear in schema order (each optional one may be absent), followed by the other keys, if
  ``additionalProperties`` allows them (those keys are distinct from the declared ones).
* Numbers otherwise may use any JSON number syntax.
"""

from __future__ import annotations

import json
import math
import re

from corral.compile.grammar import Grammar, Rule, Terminal
from corral.errors import GrammarError, SchemaError
from corral.compile.json_schema import regexes as rx

__all__ = ["schema_to_grammar"]

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$schema", "$id", "$comment",
                         "deprecated", "readOnly", "writeOnly", "$defs", "definitions"})
TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_BY_TYPE = {
    "array": ("items", "prefixItems", "minItems", "maxItems"),
    "object": ("properties", "required", "additionalProperties"),
    "string": ("minLength", "maxLength", "pattern"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}
SUPPORTED = frozenset(k for v in _BY_TYPE.values() for k in v) | {"type", "enum", "const", "anyOf", "$ref"}
MAX_COUNT = 1000


def _esc(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def _ptr(pointer: str, *parts) -> str:
    return pointer + "".join("/" + _esc(str(p)) for p in parts)


def _type_of(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    raise TypeError(type(value).__name__)


def _dump(value, pointer: str, keyword: str) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"not a JSON value: {exc}", pointer=pointer, keyword=keyword) from None


class _Builder:
    """Accumulates rules and terminals while walking the schema."""

    def __init__(self, root) -> None:
        self.root = root
        self.rules: list[Rule] = []
        self.terminals: dict[str, Terminal] = {}
        self._by_pattern: dict[str, str] = {}
        self._memo: dict[str, str] = {}
        self._n = 0
        self._any: str | None = None
        self._never: str | None = None

    # -------------------------------------------------------------- primitives

    def nt(self, hint: str = "n") -> str:
        self._n += 1
        return f"{hint}_{self._n}"

    def rule(self, lhs: str, *rhs: str) -> None:
        self.rules.append(Rule(lhs, tuple(rhs)))

    def term(self, pattern: str, literal: str | None = None) -> str:
        name = self._by_pattern.get(pattern)
        if name is None:
            name = f"T{len(self.terminals)}"
            self.terminals[name] = Terminal(name, pattern, frozenset(), literal)
            self._by_pattern[pattern] = name
        return name

    def lit(self, text: str) -> str:
        return self.term(re.escape(text), text)

    def never(self) -> str:
        if self._never is None:
            self._never = "never"
            self.rule("never", "never")
        return self._never

    def any_value(self) -> str:
        """Nonterminal for any JSON value (canonical strings, any number syntax)."""
        if self._any is None:
            v, obj, arr, mem, els = "value", "any_object", "any_array", "any_members", "any_elements"
            self._any = v
            string = self.term(rx.string_regex())
            for alt in (obj, arr, string, self.term(NUMBER), self.lit("true"), self.lit("false"), self.lit("null")):
                self.rule(v, alt)
            self.rule(obj, self.lit("{"), self.lit("}"))
            self.rule(obj, self.lit("{"), mem, self.lit("}"))
            self.rule(mem, string, self.lit(":"), v)
            self.rule(mem, mem, self.lit(","), string, self.lit(":"), v)
            self.rule(arr, self.lit("["), self.lit("]"))
            self.rule(arr, self.lit("["), els, self.lit("]"))
            self.rule(els, v)
            self.rule(els, els, self.lit(","), v)
        return self._any

    # -------------------------------------------------------------- schema walking

    def resolve(self, ref: str, pointer: str):
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", pointer=pointer, keyword="$ref")
        if ref != "#" and not ref.startswith("#/"):
            raise SchemaError(f"only local JSON-pointer references are supported, not {ref!r}", pointer=pointer,
                              keyword="$ref", kind="unsupported")
        from urllib.parse import unquote

        node, target = self.root, ""
        for raw in (ref[2:].split("/") if ref != "#" else []):
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError(f"$ref {ref!r} does not resolve", pointer=pointer, keyword="$ref")
            target = _ptr(target, part)
        return node, target

    def schema(self, node, pointer: str) -> str:
        """Return the nonterminal for the subschema ``node`` found at ``pointer`` (memoized, so refs may recurse)."""
        if pointer in self._memo:
            return self._memo[pointer]
        if node is True:
            self._memo[pointer] = self.any_value()
            return self._memo[pointer]
        if node is False:
            self._memo[pointer] = self.never()
            return self._memo[pointer]
        if not isinstance(node, dict):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        name = self.nt("s")
        self._memo[pointer] = name
        self._compile(node, pointer, name)
        return name

    def _compile(self, node: dict, pointer: str, name: str) -> None:
        if "$id" in node and pointer != "":
            raise SchemaError("$id below the root is not supported", pointer=_ptr(pointer, "$id"), keyword="$id",
                              kind="unsupported")
        for key in node:
            if key not in SUPPORTED and key not in ANNOTATIONS:
                raise SchemaError(f"keyword {key!r} is not supported", pointer=_ptr(pointer, key), keyword=key,
                                  kind="unsupported")
        for key in ("$defs", "definitions"):
            if key in node and not isinstance(node[key], dict):
                raise SchemaError(f"{key} must be an object", pointer=_ptr(pointer, key), keyword=key)
        assertions = [k for k in node if k not in ANNOTATIONS]
        for combinator in ("$ref", "anyOf"):
            if combinator in node:
                others = [k for k in assertions if k != combinator]
                if others:
                    raise SchemaError(f"{combinator} together with {others[0]!r} is not supported",
                                      pointer=_ptr(pointer, combinator), keyword=combinator, kind="unsupported")
                if combinator == "$ref":
                    target, tptr = self.resolve(node["$ref"], _ptr(pointer, "$ref"))
                    self.rule(name, self.schema(target, tptr))
                else:
                    alts = node["anyOf"]
                    if not isinstance(alts, list) or not alts:
                        raise SchemaError("anyOf must be a non-empty array", pointer=_ptr(pointer, "anyOf"),
                                          keyword="anyOf")
                    for i, sub in enumerate(alts):
                        self.rule(name, self.schema(sub, _ptr(pointer, "anyOf", i)))
                return
        types = self._types(node, pointer)
        if "enum" in node or "const" in node:
            self._enum(node, pointer, name, types, assertions)
            return
        self._validate_keywords(node, pointer)
        if "number" in types and any(k in node for k in _BY_TYPE["integer"]):
            key = next(k for k in _BY_TYPE["integer"] if k in node)
            raise SchemaError(f"{key} is only supported with type 'integer' (not 'number')",
                              pointer=_ptr(pointer, key), keyword=key, kind="unsupported")
        for t in types:
            self.rule(name, getattr(self, "_t_" + t)(node, pointer))

    def _types(self, node: dict, pointer: str) -> list[str]:
        if "type" not in node:
            return [t for t in TYPES if t != "integer"]
        t = node["type"]
        ts = [t] if isinstance(t, str) else t
        if (not isinstance(ts, list) or not ts or len(set(map(repr, ts))) != len(ts)
                or not all(isinstance(x, str) and x in TYPES for x in ts)):
            raise SchemaError(f"invalid type {t!r}", pointer=_ptr(pointer, "type"), keyword="type")
        if "number" in ts and "integer" in ts:
            ts = [x for x in ts if x != "integer"]
        return ts

    def _enum(self, node, pointer, name, types, assertions) -> None:
        extra = [k for k in assertions if k not in ("type", "enum", "const")]
        if extra:
            raise SchemaError(f"enum/const together with {extra[0]!r} is not supported",
                              pointer=_ptr(pointer, extra[0]), keyword=extra[0], kind="unsupported")
        lists = []
        if "enum" in node:
            if not isinstance(node["enum"], list):
                raise SchemaError("enum must be an array", pointer=_ptr(pointer, "enum"), keyword="enum")
            lists.append([(v, _dump(v, _ptr(pointer, "enum", i), "enum")) for i, v in enumerate(node["enum"])])
        if "const" in node:
            lists.append([(node["const"], _dump(node["const"], _ptr(pointer, "const"), "const"))])
        allowed = set(types) | ({"integer"} if "number" in types else set())
        keep = [(v, d) for v, d in lists[0] if all(d in {e for _, e in other} for other in lists[1:])]
        keep = [d for v, d in keep if _type_of(v) in allowed]
        if not keep:
            kw = "enum" if "enum" in node else "const"
            raise SchemaError(f"no {kw} value satisfies the other keywords", pointer=_ptr(pointer, kw), keyword=kw,
                              kind="unsatisfiable")
        for d in dict.fromkeys(keep):
            self.rule(name, self.lit(d))

    # -------------------------------------------------------------- keyword checks

    def _count(self, node, pointer, key, default=None):
        if key not in node:
            return default
        v = node[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float) and not v.is_integer()):
            raise SchemaError(f"{key} must be a non-negative integer", pointer=_ptr(pointer, key), keyword=key)
        v = int(v)
        if v > MAX_COUNT and key not in ("maxItems", "maxLength"):
            raise SchemaError(f"{key} above {MAX_COUNT} is not supported", pointer=_ptr(pointer, key), keyword=key,
                              kind="unsupported")
        return v

    def _validate_keywords(self, node, pointer) -> None:
        for key in ("minItems", "maxItems", "minLength", "maxLength"):
            self._count(node, pointer, key)
        for lo, hi in (("minItems", "maxItems"), ("minLength", "maxLength")):
            if lo in node and hi in node and node[lo] > node[hi]:
                raise SchemaError(f"{lo} > {hi}", pointer=_ptr(pointer, lo), keyword=lo, kind="unsatisfiable")
        for key in _BY_TYPE["integer"]:
            v = node.get(key, 0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
                raise SchemaError(f"{key} must be a number", pointer=_ptr(pointer, key), keyword=key)
        if "pattern" in node and not isinstance(node["pattern"], str):
            raise SchemaError("pattern must be a string", pointer=_ptr(pointer, "pattern"), keyword="pattern")
        if "required" in node:
            req = node["required"]
            if not isinstance(req, list) or not all(isinstance(r, str) for r in req) or len(set(req)) != len(req):
                raise SchemaError("required must be an array of distinct strings", pointer=_ptr(pointer, "required"),
                                  keyword="required")
        if "properties" in node and not isinstance(node["properties"], dict):
            raise SchemaError("properties must be an object", pointer=_ptr(pointer, "properties"),
                              keyword="properties")
        if "prefixItems" in node and (not isinstance(node["prefixItems"], list) or not node["prefixItems"]):
            raise SchemaError("prefixItems must be a non-empty array", pointer=_ptr(pointer, "prefixItems"),
                              keyword="prefixItems")

    # -------------------------------------------------------------- one branch per type

    def _t_null(self, node, pointer) -> str:
        return self.lit("null")

    def _t_boolean(self, node, pointer) -> str:
        n = self.nt("bool")
        self.rule(n, self.lit("true"))
        self.rule(n, self.lit("false"))
        return n

    def _t_number(self, node, pointer) -> str:
        return self.term(NUMBER)

    def _t_integer(self, node, pointer) -> str:
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
        if lo is not None and hi is not None and lo > hi:
            key = next(k for k in ("minimum", "exclusiveMinimum") if k in node)
            raise SchemaError("no integer lies between the bounds", pointer=_ptr(pointer, key), keyword=key,
                              kind="unsatisfiable")
        if lo is None and hi is None:
            return self.term(r"-?(?:0|[1-9][0-9]*)")
        return self.term(rx.int_range_regex(lo, hi))

    def _t_string(self, node, pointer) -> str:
        lo = self._count(node, pointer, "minLength", 0)
        hi = self._count(node, pointer, "maxLength")
        if "pattern" not in node:
            return self.term(rx.string_regex(lo, hi))
        if "minLength" in node or "maxLength" in node:
            raise SchemaError("pattern together with minLength/maxLength is not supported",
                              pointer=_ptr(pointer, "pattern"), keyword="pattern", kind="unsupported")
        try:
            content = rx.pattern_regex(node["pattern"])
        except rx.PatternUnsupported as exc:
            raise SchemaError(f"pattern {node['pattern']!r} cannot be compiled exactly: {exc}",
                              pointer=_ptr(pointer, "pattern"), keyword="pattern", kind="unsupported") from None
        return self.term(f'"{content}"')

    def _t_array(self, node, pointer) -> str:
        prefix = node.get("prefixItems", [])
        pre_ptr = "prefixItems"
        items = node.get("items", True)
        items_ptr = _ptr(pointer, "items")
        if isinstance(items, list):  # draft-07 tuple form
            if "prefixItems" in node:
                raise SchemaError("items as an array together with prefixItems", pointer=items_ptr, keyword="items")
            prefix, pre_ptr, items = items, "items", True
        elements = [self.schema(s, _ptr(pointer, pre_ptr, i)) for i, s in enumerate(prefix)]
        rest = self.schema(items, items_ptr) if items is not False else None
        lo = self._count(node, pointer, "minItems", 0)
        hi = self._count(node, pointer, "maxItems")
        k = len(elements)
        if rest is None:
            hi = k if hi is None else min(hi, k)
        n = self.nt("array")
        if lo > (hi if hi is not None else lo):
            self.rule(n, self.never())
            return n
        loop = max(k, lo, 1)
        if hi is not None and hi - loop > MAX_COUNT:
            raise SchemaError(f"maxItems more than {MAX_COUNT} beyond the other bounds is not supported",
                              pointer=_ptr(pointer, "maxItems"), keyword="maxItems", kind="unsupported")
        tails: dict[int, str] = {}

        def tail(i: int) -> str:  # elements after the first i ones
            j = loop if hi is None and i >= loop else i
            if j not in tails:
                tails[j] = self.nt("items")
                if j >= lo:
                    self.rule(tails[j])
                if hi is None or j < hi:
                    elem = elements[j] if j < k else rest
                    self.rule(tails[j], self.lit(","), elem, tail(j + 1))
            return tails[j]

        if lo == 0:
            self.rule(n, self.lit("["), self.lit("]"))
        if hi is None or hi >= 1:
            self.rule(n, self.lit("["), elements[0] if k else rest, tail(1), self.lit("]"))
        return n

    def _t_object(self, node, pointer) -> str:
        props = node.get("properties", {})
        required = node.get("required", [])
        extra = node.get("additionalProperties", True)
        n = self.nt("object")
        if "properties" not in node and "required" not in node and extra is True:
            self.rule(n, self._any_object())
            return n
        missing = [r for r in required if r not in props]
        if missing:
            if extra is False:
                self.rule(n, self.never())
                return n
            raise SchemaError(f"required property {missing[0]!r} not in properties is not supported",
                              pointer=_ptr(pointer, "required"), keyword="required", kind="unsupported")
        names = list(props)
        values = [self.schema(props[p], _ptr(pointer, "properties", p)) for p in names]
        extra_val = self.schema(extra, _ptr(pointer, "additionalProperties")) if extra is not False else None
        comma, colon = self.lit(","), self.lit(":")
        extra_rules: dict[bool, str] = {}

        def extras(started: bool) -> str:
            if started not in extra_rules:
                x = extra_rules[started] = self.nt("extra")
                self.rule(x)
                if extra_val is not None:
                    key = self.term(rx.key_complement_regex(names))
                    self.rule(x, *([comma] if started else []), key, colon, extra_val, extras(True))
            return extra_rules[started]

        memo: dict[tuple[int, bool], str] = {}

        def seq(i: int, started: bool) -> str:
            if i == len(names):
                return extras(started)
            if (i, started) not in memo:
                s = memo[(i, started)] = self.nt("props")
                if names[i] not in required:
                    self.rule(s, seq(i + 1, started))
                key = self.lit(json.dumps(names[i], ensure_ascii=False) + ":")
                self.rule(s, *([comma] if started else []), key, values[i], seq(i + 1, True))
            return memo[(i, started)]

        self.rule(n, self.lit("{"), seq(0, False), self.lit("}"))
        return n

    def _any_object(self) -> str:
        self.any_value()
        return "any_object"


def schema_to_grammar(schema, *, whitespace: str = "compact") -> Grammar:
    """Compile a JSON Schema to a grammar of the compact JSON texts of its valid instances.

    Parameters
    ----------
    schema : dict or bool
        A draft 2020-12 schema (draft-07 ``definitions`` and array-form ``items`` are accepted). Supported keywords:
        ``type``, ``enum``, ``const``, ``properties``, ``required``, ``additionalProperties``, ``items``,
        ``prefixItems``, ``minItems``, ``maxItems``, ``minLength``, ``maxLength``, ``pattern``, integer
        ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, ``anyOf`` and ``$ref`` (local
        pointers, recursion allowed), plus the annotations. See the module docstring for the exact language.
    whitespace : {"compact"}
        Only compact output (no whitespace) is supported.

    Returns
    -------
    Grammar
        A grammar whose start symbol is ``start``.

    Raises
    ------
    SchemaError
        ``kind="invalid"`` for a malformed schema, ``"unsatisfiable"`` for one no instance satisfies, and
        ``"unsupported"`` for a keyword or construct that cannot be compiled exactly, with ``keyword`` and the
        RFC 6901 ``pointer`` of the offending keyword.
    ValueError
        If ``whitespace`` is not ``"compact"``.
    """
    if whitespace != "compact":
        raise ValueError(f"whitespace={whitespace!r} is not supported (only 'compact')")
    if not isinstance(schema, (dict, bool)):
        raise SchemaError("a schema must be an object or a boolean", pointer="")
    builder = _Builder(schema)
    top = builder.schema(schema, "")
    builder.rule("start", top)
    try:
        return Grammar(builder.rules, builder.terminals, "start")
    except GrammarError as exc:
        if "empty" in str(exc):
            raise SchemaError("no JSON value satisfies the schema", pointer="", kind="unsatisfiable") from None
        raise
