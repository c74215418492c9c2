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
* ``type: number`` (or no ``type``) with ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``
  generates integer literals in canonical form (no ``-0``) and float literals that are plain decimals (magnitude 0 or
  in ``[1e-5, 1e17]``) or scientific with one non-zero integer digit (``1.5e-07``): every ``repr`` of a float has
  one of these forms. A float literal is generated iff its decimal value lies between the ``repr`` of the smallest
  and of the largest float satisfying the bounds, so, float parsing being monotone, it parses to a valid float, and
  the canonical text of every valid float is generated (integer literals are compared exactly). Bounds beyond
  ``1e100`` in magnitude are unsupported.
* Numbers otherwise may use any JSON number syntax.
* ``allOf`` is merged into one schema when that is exact: types intersect, bounds take the tightest value,
  ``required`` unites, ``properties`` unite when no name is declared twice, ``additionalProperties``/``items`` only
  together with the ``properties``/``prefixItems`` of their own part, any other keyword in at most one part (or
  equal in all); otherwise it is unsupported.
* ``oneOf`` compiles as ``anyOf`` when every two alternatives are provably disjoint: no common instance kind
  (``integer`` overlaps ``number``; integral floats count as integers), disjoint ``enum``/``const`` values
  (compared like jsonschema: ``1 == 1.0``), or objects with a property required by both whose ``const``/``enum``
  values are disjoint; otherwise it is unsupported, naming both alternatives.
* ``minProperties`` needs ``additionalProperties: false`` (a repeated additional key would make the parsed object
  smaller than the text); ``maxProperties`` is counted exactly either way.
* ``format`` is an assertion (as with a format checker), for the formats of
  :mod:`corral.compile.json_schema.formats` (which documents the reference of each); other formats, and ``format``
  together with ``pattern`` or (except for the fixed-length ``date`` and ``uuid``) ``minLength``/``maxLength``, are
  unsupported.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from decimal import Decimal
from fractions import Fraction

from corral.compile.grammar import Grammar, Rule, Terminal
from corral.errors import GrammarError, SchemaError
from corral.compile.json_schema import formats as fmt, regexes as rx

__all__ = ["schema_to_grammar"]

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "$schema", "$id", "$comment",
                         "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "$anchor",
                         "contentEncoding", "contentMediaType", "contentSchema"})
# Every keyword that has a meaning for validation or reference resolution in drafts 4 to 2020-12. A keyword outside
# this set is unknown, and unknown keywords are annotations (JSON Schema 2020-12 core, section 6.5): they never change
# which instances are valid, so ignoring them is exact (e.g. "x-kubernetes-*", "self", "_format", "links").
KNOWN = frozenset({
    "$ref", "$dynamicRef", "$dynamicAnchor", "$recursiveRef", "$recursiveAnchor", "$vocabulary", "type", "enum",
    "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum", "maxLength", "minLength",
    "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains", "maxProperties", "minProperties",
    "required", "dependentRequired", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas",
    "prefixItems", "items", "additionalItems", "contains", "properties", "patternProperties", "additionalProperties",
    "propertyNames", "unevaluatedItems", "unevaluatedProperties", "format", "dependencies", "divisibleBy", "extends",
    "disallow",
}) | ANNOTATIONS


def is_annotation(key: str) -> bool:
    """Whether ``key`` never affects validation: a listed annotation, or a keyword no draft defines."""
    return key in ANNOTATIONS or key not in KNOWN


TYPES = ("null", "boolean", "object", "array", "number", "integer", "string")
NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?"
_BY_TYPE = {
    "array": ("items", "prefixItems", "minItems", "maxItems"),
    "object": ("properties", "required", "additionalProperties", "minProperties", "maxProperties"),
    "string": ("minLength", "maxLength", "pattern", "format"),
    "integer": ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"),
}
SUPPORTED = frozenset(k for v in _BY_TYPE.values() for k in v) | {"type", "enum", "const", "anyOf", "$ref", "allOf",
                                                                       "oneOf"}
_MAX_OF = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_MIN_OF = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
MAX_COUNT = 1000
MAX_NUMBER_BOUND = 1e100


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
        self._origin: dict[int, dict[str, str]] = {}  # merged allOf node -> keyword -> pointer of its schema
        self._merged: list[dict] = []  # keeps merged nodes alive (ids are keys of _origin)
        self._prop_ptrs: dict[int, dict[str, str]] = {}  # merged node -> property -> pointer of its schema

    def _kp(self, node, pointer: str, key, *parts) -> str:
        """Pointer of ``key`` of ``node`` (found at ``pointer``), following keywords merged from an allOf."""
        base = self._origin.get(id(node), {}).get(key, pointer) if isinstance(node, dict) else pointer
        return _ptr(base, key, *parts)

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
            raise SchemaError("$id below the root is not supported",
                              pointer=self._kp(node, pointer, "$id"), keyword="$id",
                              kind="unsupported")
        for key in node:
            if key not in SUPPORTED and not is_annotation(key):
                raise SchemaError(f"keyword {key!r} is not supported",
                                  pointer=self._kp(node, pointer, key), keyword=key,
                                  kind="unsupported")
        for key in ("$defs", "definitions"):
            if key in node and not isinstance(node[key], dict):
                raise SchemaError(f"{key} must be an object", pointer=self._kp(node, pointer, key), keyword=key)
        if "allOf" in node:
            merged = self._merge_all_of(node, pointer)
            if merged is None:
                self.rule(name, self.never())
            else:
                self._compile(merged, pointer, name)
            return
        assertions = [k for k in node if not is_annotation(k)]
        for combinator in ("$ref", "anyOf", "oneOf"):
            if combinator in node:
                others = [k for k in assertions if k != combinator]
                if others:
                    raise SchemaError(f"{combinator} together with {others[0]!r} is not supported",
                                      pointer=self._kp(node, pointer, combinator),
                                      keyword=combinator, kind="unsupported")
                if combinator == "$ref":
                    target, tptr = self.resolve(node["$ref"], self._kp(node, pointer, "$ref"))
                    self.rule(name, self.schema(target, tptr))
                else:
                    alts = node[combinator]
                    if not isinstance(alts, list) or not alts:
                        raise SchemaError(f"{combinator} must be a non-empty array",
                                          pointer=self._kp(node, pointer, combinator), keyword=combinator)
                    ptrs = [self._kp(node, pointer, combinator, i) for i in range(len(alts))]
                    if combinator == "oneOf":
                        self._check_disjoint(alts, ptrs, self._kp(node, pointer, combinator))
                    for sub, sptr in zip(alts, ptrs):
                        self.rule(name, self.schema(sub, sptr))
                return
        types = self._types(node, pointer)
        if "enum" in node or "const" in node:
            self._enum(node, pointer, name, types, assertions)
            return
        self._validate_keywords(node, pointer)
        for t in types:
            self.rule(name, getattr(self, "_t_" + t)(node, pointer))

    def _merge_all_of(self, node: dict, pointer: str) -> dict | None:
        """Merge ``allOf`` with its sibling keywords into one schema (None: a part is ``false``), if that is exact."""
        parts_ = node["allOf"]
        aptr = self._kp(node, pointer, "allOf")
        if not isinstance(parts_, list) or not parts_:
            raise SchemaError("allOf must be a non-empty array", pointer=aptr, keyword="allOf")

        def refuse(why: str):
            raise SchemaError(f"allOf cannot be merged exactly: {why}", pointer=aptr, keyword="allOf",
                              kind="unsupported")

        parts = [({k: v for k, v in node.items() if k != "allOf"}, pointer)]
        for i, sub in enumerate(parts_):
            sptr = _ptr(aptr, i)
            if sub is False:
                return None
            if sub is True:
                continue
            if not isinstance(sub, dict):
                raise SchemaError("a schema must be an object or a boolean", pointer=sptr)
            parts.append((sub, sptr))
        merged: dict = {}
        origin: dict[str, str] = {}
        type_sets = []
        for sub, sptr in parts:
            for key, value in sub.items():
                if is_annotation(key):
                    continue
                if key in ("$ref", "anyOf", "allOf"):
                    refuse(f"a part uses {key!r}")
                if key not in SUPPORTED:
                    raise SchemaError(f"keyword {key!r} is not supported", pointer=_ptr(sptr, key), keyword=key,
                                      kind="unsupported")
                if key == "type":
                    ts = [value] if isinstance(value, str) else value
                    if not isinstance(ts, list) or not all(isinstance(t, str) and t in TYPES for t in ts):
                        raise SchemaError(f"invalid type {value!r}", pointer=_ptr(sptr, key), keyword=key)
                    type_sets.append(set(ts) | ({"integer"} if "number" in ts else set()))
                    origin[key] = sptr
                    continue
                if key not in merged:
                    merged[key], origin[key] = value, sptr
                elif key in _MAX_OF + _MIN_OF:
                    better = max if key in _MAX_OF else min
                    for v in (value, merged[key]):
                        if isinstance(v, bool) or not isinstance(v, (int, float)):
                            raise SchemaError(f"{key} must be a number", pointer=_ptr(sptr, key), keyword=key)
                    if better(value, merged[key]) != merged[key]:
                        merged[key], origin[key] = value, sptr
                elif key == "required":
                    if not isinstance(value, list) or not isinstance(merged[key], list):
                        raise SchemaError("required must be an array", pointer=_ptr(sptr, key), keyword=key)
                    merged[key] = list(dict.fromkeys(merged[key] + value))
                elif key == "properties":
                    if not isinstance(value, dict):
                        raise SchemaError("properties must be an object", pointer=_ptr(sptr, key), keyword=key)
                    common = set(value) & set(merged[key])
                    if common:
                        refuse(f"property {sorted(common)[0]!r} is declared by two parts")
                    merged[key] = {**merged[key], **value}
                    origin.pop(key, None)  # the values' pointers are tracked per property below
                elif _dump(value, sptr, key) != _dump(merged[key], origin[key], key):
                    refuse(f"{key!r} appears in two parts with different values")
        # additionalProperties (items) only depends on the properties (prefixItems) of its own schema object
        prop_parts = [sptr for sub, sptr in parts if "properties" in sub]
        for rest, base in (("additionalProperties", "properties"), ("items", "prefixItems")):
            rest_parts = [sptr for sub, sptr in parts if rest in sub]
            base_parts = [sptr for sub, sptr in parts if base in sub]
            if rest_parts and (len(rest_parts) > 1 or any(p != rest_parts[0] for p in base_parts)):
                refuse(f"{rest} together with {base} of another part")
            if rest == "items" and len(base_parts) > 1:
                refuse("prefixItems in two parts")
        if type_sets:
            allowed = set.intersection(*type_sets)
            if not allowed:
                raise SchemaError("the parts of allOf allow no common type", pointer=aptr, keyword="allOf",
                                  kind="unsatisfiable")
            merged["type"] = [t for t in TYPES if t in allowed]
        if "properties" in merged and len(prop_parts) > 1:
            # compile each property value at its own pointer
            props = {}
            for sub, sptr in parts:
                for p, v in (sub.get("properties") or {}).items():
                    props[p] = (v, _ptr(sptr, "properties", p))
            merged["properties"] = {p: v for p, (v, _) in props.items()}
            self._prop_ptrs[id(merged)] = {p: q for p, (_, q) in props.items()}
        self._merged.append(merged)
        self._origin[id(merged)] = origin
        return merged

    # -------------------------------------------------------------- oneOf

    def _follow(self, node, pointer: str):
        """Follow a chain of bare ``$ref`` schemas (for the disjointness check)."""
        seen = set()
        while isinstance(node, dict) and "$ref" in node and pointer not in seen:
            seen.add(pointer)
            node, pointer = self.resolve(node["$ref"], _ptr(pointer, "$ref"))
        return node

    @staticmethod
    def _values(node) -> set[str] | None:
        """Equality keys (jsonschema's equality: 1 == 1.0, true != 1) of the enum/const values, None if neither."""
        def norm(v):
            if isinstance(v, float) and v.is_integer():
                return int(v)
            if isinstance(v, list):
                return [norm(e) for e in v]
            if isinstance(v, dict):
                return {k: norm(e) for k, e in v.items()}
            return v

        if not isinstance(node, dict) or not ("enum" in node or "const" in node):
            return None
        sets = []
        if "enum" in node and isinstance(node["enum"], list):
            sets.append({json.dumps(norm(v), sort_keys=True) for v in node["enum"]})
        if "const" in node:
            sets.append({json.dumps(norm(node["const"]), sort_keys=True)})
        return set.intersection(*sets) if sets else None

    @staticmethod
    def _kinds(node) -> set[str]:
        """Kinds of instances (``int`` includes integral floats, ``frac`` the other numbers) the schema may accept."""
        every = {"null", "boolean", "object", "array", "string", "int", "frac"}
        if node is True or not isinstance(node, dict):
            return every if node is not False else set()
        kinds = set(every)
        t = node.get("type")
        if t is not None:
            ts = [t] if isinstance(t, str) else (t if isinstance(t, list) else [])
            kinds = set()
            for x in ts:
                kinds |= {"int", "frac"} if x == "number" else {"int"} if x == "integer" else {x}
        values = [node["const"]] if "const" in node else []
        if isinstance(node.get("enum"), list):
            values += node["enum"]
        if "enum" in node or "const" in node:
            vk = set()
            for v in values:
                k = _type_of(v) if not isinstance(v, (int, float)) or isinstance(v, bool) else (
                    "int" if float(v).is_integer() else "frac")
                vk.add(k)
            kinds &= vk
        return kinds

    def _disjoint(self, a, aptr: str, b, bptr: str) -> bool:
        a, b = self._follow(a, aptr), self._follow(b, bptr)
        if a is False or b is False:
            return True
        common = self._kinds(a) & self._kinds(b)
        if not common:
            return True
        va, vb = self._values(a), self._values(b)
        if va is not None and vb is not None and not (va & vb):
            return True
        if common == {"object"} and isinstance(a, dict) and isinstance(b, dict):
            ra, rb = a.get("required", []), b.get("required", [])
            pa, pb = a.get("properties", {}), b.get("properties", {})
            if isinstance(ra, list) and isinstance(rb, list) and isinstance(pa, dict) and isinstance(pb, dict):
                for p in set(ra) & set(rb) & set(pa) & set(pb):
                    xa, xb = self._values(pa[p]), self._values(pb[p])
                    if xa is not None and xb is not None and not (xa & xb):
                        return True
        return False

    def _check_disjoint(self, alts, ptrs, optr: str) -> None:
        for i, j in itertools.combinations(range(len(alts)), 2):
            if not self._disjoint(alts[i], ptrs[i], alts[j], ptrs[j]):
                raise SchemaError(f"oneOf alternatives {ptrs[i]} and {ptrs[j]} are not provably disjoint",
                                  pointer=optr, keyword="oneOf", kind="unsupported")

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

    def _enum(self, node, pointer, name, types, assertions) -> None:
        extra = [k for k in assertions if k not in ("type", "enum", "const")]
        if extra:
            raise SchemaError(f"enum/const together with {extra[0]!r} is not supported",
                              pointer=self._kp(node, pointer, extra[0]), keyword=extra[0], kind="unsupported")
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
        keep = [d for v, d in keep if _type_of(v) in allowed]
        if not keep:
            kw = "enum" if "enum" in node else "const"
            raise SchemaError(f"no {kw} value satisfies the other keywords",
                              pointer=self._kp(node, pointer, kw), keyword=kw,
                              kind="unsatisfiable")
        for d in dict.fromkeys(keep):
            self.rule(name, self.lit(d))

    # -------------------------------------------------------------- keyword checks

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

    # -------------------------------------------------------------- one branch per type

    def _t_null(self, node, pointer) -> str:
        return self.lit("null")

    def _t_boolean(self, node, pointer) -> str:
        n = self.nt("bool")
        self.rule(n, self.lit("true"))
        self.rule(n, self.lit("false"))
        return n

    def _t_number(self, node, pointer) -> str:
        keys = [k for k in _BY_TYPE["integer"] if k in node]
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
        lo, hi = self._int_bounds(node)
        if lo is not None and hi is not None and lo > hi:
            key = next(k for k in ("minimum", "exclusiveMinimum") if k in node)
            raise SchemaError("no integer lies between the bounds", pointer=self._kp(node, pointer, key), keyword=key,
                              kind="unsatisfiable")
        if lo is None and hi is None:
            return self.term(r"-?(?:0|[1-9][0-9]*)")
        return self.term(rx.int_range_regex(lo, hi))

    def _t_string(self, node, pointer) -> str:
        lo = self._count(node, pointer, "minLength", 0)
        hi = self._count(node, pointer, "maxLength")
        if "format" in node:
            content = fmt.format_regex(node["format"], rx.UNIT)
            if content is None:
                raise SchemaError(f"format {node['format']!r} is not supported",
                                  pointer=self._kp(node, pointer, "format"),
                                  keyword="format", kind="unsupported")
            fixed = fmt.FIXED_LENGTH.get(node["format"])
            if fixed is not None and "pattern" not in node:  # length bounds either keep all or nothing
                if fixed < lo or (hi is not None and fixed > hi):
                    raise SchemaError(f"format {node['format']!r} strings have length {fixed}",
                                      pointer=self._kp(node, pointer, "format"), keyword="format",
                                      kind="unsatisfiable")
                return self.term(f'"{content}"')
            other = next((k for k in ("pattern", "minLength", "maxLength") if k in node), None)
            if other is not None:
                raise SchemaError(f"format together with {other} is not supported",
                                  pointer=self._kp(node, pointer, "format"),
                                  keyword="format", kind="unsupported")
            return self.term(f'"{content}"')
        if "pattern" not in node:
            return self.term(rx.string_regex(lo, hi))
        if "minLength" in node or "maxLength" in node:
            raise SchemaError("pattern together with minLength/maxLength is not supported",
                              pointer=self._kp(node, pointer, "pattern"), keyword="pattern", kind="unsupported")
        try:
            content = rx.pattern_regex(node["pattern"])
        except rx.PatternUnsupported as exc:
            raise SchemaError(f"pattern {node['pattern']!r} cannot be compiled exactly: {exc}",
                              pointer=self._kp(node, pointer, "pattern"),
                              keyword="pattern", kind="unsupported") from None
        return self.term(f'"{content}"')

    def _t_array(self, node, pointer) -> str:
        prefix = node.get("prefixItems", [])
        pre_ptr = "prefixItems"
        items = node.get("items", True)
        items_ptr = self._kp(node, pointer, "items")
        if isinstance(items, list):  # draft-07 tuple form
            if "prefixItems" in node:
                raise SchemaError("items as an array together with prefixItems", pointer=items_ptr, keyword="items")
            prefix, pre_ptr, items = items, "items", True
        elements = [self.schema(s, self._kp(node, pointer, pre_ptr, i)) for i, s in enumerate(prefix)]
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
                              pointer=self._kp(node, pointer, "maxItems"), keyword="maxItems", kind="unsupported")
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
        lo = self._count(node, pointer, "minProperties", 0)
        hi = self._count(node, pointer, "maxProperties")
        n = self.nt("object")
        counted = "minProperties" in node or "maxProperties" in node
        if "properties" not in node and "required" not in node and extra is True and not counted:
            self.rule(n, self._any_object())
            return n
        missing = [r for r in required if r not in props]
        if missing:
            if extra is False:
                self.rule(n, self.never())
                return n
            raise SchemaError(f"required property {missing[0]!r} not in properties is not supported",
                              pointer=self._kp(node, pointer, "required"), keyword="required", kind="unsupported")
        if lo > 0 and extra is not False:
            # a generated text may repeat an additional key, and its parsed object then has fewer properties
            raise SchemaError("minProperties is only supported with additionalProperties false",
                              pointer=self._kp(node, pointer, "minProperties"), keyword="minProperties",
                              kind="unsupported")
        cap = max(lo, hi or 0)  # counts are tracked up to cap (present properties so far, capped)
        names = list(props)
        prop_ptrs = self._prop_ptrs.get(id(node), {})
        values = [self.schema(props[p], prop_ptrs.get(p) or self._kp(node, pointer, "properties", p)) for p in names]
        extra_val = self.schema(extra, self._kp(node, pointer, "additionalProperties")) if extra is not False else None
        comma, colon = self.lit(","), self.lit(":")
        extra_rules: dict[tuple[bool, int], str] = {}

        def room(c: int) -> bool:
            return hi is None or c < hi

        def extras(started: bool, c: int) -> str:
            if (started, c) not in extra_rules:
                x = extra_rules[(started, c)] = self.nt("extra")
                if c >= lo:
                    self.rule(x)
                if extra_val is not None and room(c):
                    key = self.term(rx.key_complement_regex(names))
                    self.rule(x, *([comma] if started else []), key, colon, extra_val, extras(True, min(c + 1, cap)))
                elif c < lo:
                    self.rule(x, self.never())
            return extra_rules[(started, c)]

        memo: dict[tuple[int, bool, int], str] = {}

        def seq(i: int, started: bool, c: int) -> str:
            if i == len(names):
                return extras(started, c)
            if (i, started, c) not in memo:
                s = memo[(i, started, c)] = self.nt("props")
                if names[i] not in required:
                    self.rule(s, seq(i + 1, started, c))
                if room(c):
                    key = self.lit(json.dumps(names[i], ensure_ascii=False) + ":")
                    self.rule(s, *([comma] if started else []), key, values[i], seq(i + 1, True, min(c + 1, cap)))
                elif names[i] in required:
                    self.rule(s, self.never())
            return memo[(i, started, c)]

        self.rule(n, self.lit("{"), seq(0, False, 0), self.lit("}"))
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
        ``prefixItems``, ``minItems``, ``maxItems``, ``minLength``, ``maxLength``, ``pattern``, ``format`` (see
        :mod:`~corral.compile.json_schema.formats`), ``minimum``/``maximum``/``exclusiveMinimum``/
        ``exclusiveMaximum``, ``minProperties``/``maxProperties``, ``anyOf``, ``allOf`` (merged, when exact),
        ``oneOf`` (provably disjoint alternatives) and ``$ref`` (local
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
