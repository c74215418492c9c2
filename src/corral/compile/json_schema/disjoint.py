"""What ``oneOf`` needs to know about its alternatives, over *conjunctions* of located schemas (a ``oneOf``
alternative together with the keywords beside the ``oneOf``, its ``allOf`` parts and the targets of its ``$ref``):

* the kinds of instances a conjunction may accept (:func:`kinds_of`, through ``anyOf``/``oneOf``/``if``/``not``),
* the kinds of which a schema accepts every instance (:func:`universal`),
* the kinds on which two conjunctions may share an instance, every other kind being proven disjoint
  (:func:`overlap`): disjoint ``enum``/``const`` values, a property both require with disjoint schemas or one
  requires and the other forbids, disjoint property or item counts, disjoint first items, disjoint number ranges,
  string constraints whose automata intersect emptily;
* a :class:`Context`: what every instance of a conjunction satisfies (its kinds, the finite set of keys it may
  have, the names it requires, the context of each property's value), for the negation of another alternative
  relative to it (:mod:`~corral.compile.json_schema.oneof`).

Every answer is conservative: a kind is reported as shared, a key universe as unknown, whenever a proof fails (an
unresolvable ``$ref``, an untranslatable pattern, a schema nested too deep).
"""

from __future__ import annotations

import json
import weakref

from corral.compile.json_schema.dnf import COMBINATORS, EVERY_KIND, RESTRICTS, Sub, disjoint_ranges, number_range
from corral.compile.json_schema.scalars import content_dfa
from corral.compile.json_schema.strings import key_matches, string_content
from corral.compile.json_schema.vocab import NOT_ENUM, NOT_PATTERN, PATTERNS, is_annotation, ptr, type_of
from corral.errors import SchemaError

__all__ = ["Context", "flatten", "kinds_of", "type_kinds", "universal", "overlap", "property_parts", "required_names",
           "closed_names", "item_parts"]

MAX_DEPTH = 6  # nesting of the proofs (properties of properties...) and of the $ref/allOf chains followed
_NUMBERS = frozenset({"int", "frac"})


#: builder -> {(what, id of a schema, pointer, ...): (the schema, the answer)} (the schema is held, so that its id is
#: not reused while the answer is)
_MEMO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _memo(b, what: str, node, pointer: str, extra, compute):
    """``compute()``, remembered per builder for the located schema ``node`` (and ``extra``)."""
    memo = _MEMO.setdefault(b, {})
    key = (what, id(node), pointer, extra)
    hit = memo.get(key)
    if hit is not None and hit[0] is node:
        return hit[1]
    out = compute()
    memo[key] = (node, out)
    return out


def flatten(b, located, depth: int = 0):
    """The conjunction ``located`` (a list of ``(schema, pointer)``) as a list of located dicts, its ``$ref``
    targets and ``allOf`` parts added as parts of their own; None when a part is ``false``.

    A ``$ref`` whose siblings the draft ignores is replaced by its target. Synthetic schemas other than conjunctions,
    references that do not resolve and parts nested beyond :data:`MAX_DEPTH` are left out (the conjunction is then
    a superset of the true one, which keeps every proof sound).
    """
    out, seen = [], set()
    for node, pointer in located:
        one = _memo(b, "flat", node, pointer, depth, lambda: _flatten(b, node, pointer, depth))
        if one is None:
            return None
        for n, p in one:
            if (id(n), p) not in seen:
                seen.add((id(n), p))
                out.append((n, p))
    return out


def _flatten(b, node, pointer: str, depth: int):
    """:func:`flatten` of one located schema."""
    out, todo, seen = [], [(node, pointer, depth)], set()
    while todo:
        node, pointer, d = todo.pop()
        if node is False:
            return None
        if isinstance(node, Sub) and node.kind == "all" and d < MAX_DEPTH:
            todo += [(n, p, d + 1) for n, p in node.parts]
            continue
        if not isinstance(node, dict) or (id(node), pointer) in seen:
            continue
        seen.add((id(node), pointer))
        if "$ref" in node and d < MAX_DEPTH:
            try:
                target, tptr = b.refs.resolve(node["$ref"], b.kp(node, pointer, "$ref"), pointer)
            except SchemaError:
                target = None
            if target is not None:
                todo.append((target, tptr, d + 1))
            if b.refs.ignores_ref_siblings():
                continue
        if isinstance(node.get("allOf"), list) and d < MAX_DEPTH:
            todo += [(s, b.kp(node, pointer, "allOf", i), d + 1) for i, s in enumerate(node["allOf"])]
        out.append((node, pointer))
    return out


def type_kinds(node: dict) -> set[str]:
    """Kinds (``int`` includes integral floats, ``frac`` the other numbers) that ``type``/``enum``/``const`` of
    ``node`` allow."""
    kinds = set(EVERY_KIND)
    t = node.get("type")
    if t is not None:
        kinds = set()
        for x in ([t] if isinstance(t, str) else t if isinstance(t, list) else []):
            kinds |= set(_NUMBERS) if x == "number" else {"int"} if x == "integer" else {x}
    if "enum" in node or "const" in node:
        values = ([node["const"]] if "const" in node else []) + (
            list(node["enum"]) if isinstance(node.get("enum"), list) else [])
        kinds &= {_value_kind(v) for v in values}
    return kinds


def _value_kind(v) -> str:
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return "int" if float(v).is_integer() else "frac"
    return type_of(v)


def kinds_of(b, parts, depth: int = 0) -> set[str]:
    """Kinds of instances the flattened conjunction ``parts`` may accept (a superset; empty for None)."""
    if parts is None:
        return set()
    kinds = set(EVERY_KIND)
    for node, pointer in parts:
        kinds &= _memo(b, "kinds", node, pointer, depth, lambda: _part_kinds(b, node, pointer, depth))
    return kinds


def _part_kinds(b, node: dict, pointer: str, depth: int) -> frozenset:
    """:func:`kinds_of` one part."""
    kinds = type_kinds(node)
    if depth < MAX_DEPTH:
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list):
                union = set()
                for i, s in enumerate(node[key]):
                    union |= kinds_of(b, flatten(b, [(s, b.kp(node, pointer, key, i))], depth + 1), depth + 1)
                kinds &= union
        if "if" in node and ("then" in node or "else" in node):
            branches = [(node.get(k, True), b.kp(node, pointer, k)) for k in ("then", "else")]
            kinds &= set().union(*(kinds_of(b, flatten(b, [br], depth + 1), depth + 1) for br in branches))
        if "not" in node:
            kinds -= universal(b, node["not"], b.kp(node, pointer, "not"))
    return frozenset(kinds)


def _exact(b, node, pointer: str):
    """Follow bare ``$ref`` chains only where the referring schema equals its target (None: a cycle)."""
    seen = set()
    while isinstance(node, dict) and "$ref" in node:
        if not (b.refs.ignores_ref_siblings() or all(is_annotation(k) for k in node if k != "$ref")):
            break
        if pointer in seen:
            return None
        seen.add(pointer)
        try:
            node, pointer = b.refs.resolve(node["$ref"], ptr(pointer, "$ref"), pointer)
        except SchemaError:
            return None
    return node


def universal(b, node, pointer: str) -> set[str]:
    """Kinds all of whose instances ``node`` accepts (a subset of the true set).

    ``int`` and ``frac`` are reported together or not at all (integral floats are integers for jsonschema and
    not for the compiler, so the two are never told apart here).
    """
    node = _exact(b, node, pointer)
    if node is True:
        return set(EVERY_KIND)
    if not isinstance(node, dict) or "enum" in node or "const" in node:
        return set()
    if any(k in COMBINATORS or k == "$dynamicRef" for k in node):
        return set()
    kinds = type_kinds(node)
    for key, value in node.items():
        if key == "type" or is_annotation(key):
            continue
        if key in ("items", "additionalProperties", "additionalItems") and value is True:
            continue
        if key == "uniqueItems" and value is False:
            continue
        kinds -= RESTRICTS.get(key, EVERY_KIND)
    if not _NUMBERS <= kinds:
        kinds -= _NUMBERS
    return kinds


# ------------------------------------------------------------------ the facts of a conjunction

def _norm(v):
    if isinstance(v, float) and v.is_integer():
        return int(v)
    if isinstance(v, list):
        return [_norm(e) for e in v]
    if isinstance(v, dict):
        return {k: _norm(e) for k, e in v.items()}
    return v


def _values(parts) -> set[str] | None:
    """Equality keys (jsonschema's equality: 1 == 1.0, true != 1) of the values the ``enum``/``const`` of the
    parts allow, None if no part has either."""
    out = None
    for node, _ in parts:
        for key in ("enum", "const"):
            if key in node:
                vals = node[key] if key == "enum" else [node[key]]
                if not isinstance(vals, list):
                    continue
                try:
                    mine = {json.dumps(_norm(v), sort_keys=True) for v in vals}
                except (TypeError, ValueError):
                    continue
                out = mine if out is None else out & mine
    return out


def _count(parts, lo_key: str, hi_key: str, floor: int = 0):
    """The interval of a count keyword pair over the parts (for :func:`disjoint_ranges`)."""
    lo, hi = floor, None
    for node, _ in parts:
        v, w = node.get(lo_key), node.get(hi_key)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            lo = max(lo, v)
        if isinstance(w, (int, float)) and not isinstance(w, bool):
            hi = w if hi is None else min(hi, w)
    return (lo, False), ((hi, False) if hi is not None else None)


def _number_range(parts):
    """The interval of the numbers the bounds of the parts allow (for :func:`disjoint_ranges`)."""
    return number_range(*(node for node, _ in parts))


def required_names(b, parts, depth: int = 0) -> set[str]:
    """The names every object of the conjunction has (those of ``required``, and those every alternative of an
    ``anyOf``/``oneOf`` requires)."""
    found = _required(b, parts, depth)
    return set() if found is None else set(found[0])


def _required(b, parts, depth: int) -> tuple[frozenset, int] | None:
    """(the names every object of the conjunction has, the fewest properties it has by its ``required`` names
    and alternatives); None for no instance."""
    if parts is None:
        return None
    names, least = set(), 0
    for node, pointer in parts or ():
        r = node.get("required")
        if isinstance(r, list):
            names |= {x for x in r if isinstance(x, str)}
        if depth >= MAX_DEPTH:
            continue
        for key in ("anyOf", "oneOf"):
            if isinstance(node.get(key), list) and node[key]:
                each = [_memo(b, "required", s, b.kp(node, pointer, key, i), depth, lambda s=s, i=i: _required(
                    b, flatten(b, [(s, b.kp(node, pointer, key, i))], depth + 1), depth + 1))
                        for i, s in enumerate(node[key])]
                live = [e for e in each if e is not None]
                if live:
                    names |= set.intersection(*(set(n) for n, _ in live))
                    least = max(least, min(k for _, k in live))
    return frozenset(names), max(least, len(names))


def property_parts(b, parts, name: str):
    """The flattened conjunction a value of the property ``name`` satisfies in every object of ``parts`` (its
    ``properties`` schemas, the ``patternProperties`` it matches, else ``additionalProperties``); None when no such
    value is allowed (the property cannot be present)."""
    out = []
    for node, pointer in parts or ():
        props, pats = node.get("properties"), node.get("patternProperties")
        matched, sure = False, True
        if isinstance(props, dict) and name in props:
            out.append((props[name], b.prop_ptrs.get(id(node), {}).get(name) or
                        b.kp(node, pointer, "properties", name)))
            matched = True
        if isinstance(pats, dict):
            for q, s in pats.items():
                try:
                    if key_matches(q, name, b.kp(node, pointer, "patternProperties", q)):
                        out.append((s, b.kp(node, pointer, "patternProperties", q)))
                        matched = True
                except SchemaError:
                    sure = False
        if not matched and sure and "additionalProperties" in node:
            out.append((node["additionalProperties"], b.kp(node, pointer, "additionalProperties")))
    return flatten(b, out, 1)


def item_parts(b, parts):
    """The flattened conjunction every item of every array of ``parts`` satisfies (from schema-form ``items``
    without positional items; parts with positional items say nothing here)."""
    out = []
    for node, pointer in parts or ():
        items = node.get("items")
        if items is not None and not isinstance(items, list) and not isinstance(node.get("prefixItems"), list):
            out.append((items, b.kp(node, pointer, "items")))
    return flatten(b, out, 1)


def closed_names(b, parts) -> frozenset | None:
    """The finite set of keys an object of the conjunction may have (None: not known to be finite)."""
    out = None
    for node, pointer in parts or ():
        if node.get("additionalProperties") is not False or node.get("patternProperties"):
            continue
        props = node.get("properties", {})
        if isinstance(props, dict):
            out = frozenset(props) if out is None else out & frozenset(props)
    if out is None:
        return None
    return frozenset(n for n in out if property_parts(b, parts, n) is not None)


class Context:
    """What every instance of a conjunction (a oneOf alternative and the keywords beside the oneOf) satisfies,
    restricted to ``kinds``: the negation of another alternative relative to it may drop every keyword that only
    restricts other kinds, and spell "some key outside these names" over the finite set of keys the conjunction
    allows.

    Parameters
    ----------
    b : Builder
    parts : list of (dict, str) or None
        The flattened conjunction (None: no instance).
    kinds : set of str, optional
        The kinds considered (default: :func:`kinds_of` the parts).
    """

    __slots__ = ("b", "parts", "kinds", "_names", "_required", "_props")

    def __init__(self, b, parts, kinds=None) -> None:
        self.b, self.parts = b, parts
        self.kinds = frozenset(kinds_of(b, parts) if kinds is None else kinds)
        self._names = self._required = False
        self._props: dict = {}

    @property
    def names(self) -> frozenset | None:
        """The keys an object may have, when finitely many (None: unknown)."""
        if self._names is False:
            self._names = closed_names(self.b, self.parts) if "object" in self.kinds else None
        return self._names

    @property
    def required(self) -> set[str]:
        """The names every object has."""
        if self._required is False:
            self._required = required_names(self.b, self.parts)
        return self._required

    def prop(self, name: str) -> Context | None:
        """The context of the value of the property ``name`` (None: the property cannot be present)."""
        if name not in self._props:
            parts = None if self.names is not None and name not in self.names else \
                property_parts(self.b, self.parts, name)
            self._props[name] = None if parts is None else Context(self.b, parts)
        return self._props[name]


# ------------------------------------------------------------------ disjointness

def overlap(b, a, c, depth: int = 0) -> set[str]:
    """Kinds on which the flattened conjunctions ``a`` and ``c`` may share an instance (every other kind is
    proven disjoint)."""
    common = kinds_of(b, a) & kinds_of(b, c)
    if not common:
        return common
    va, vc = _values(a), _values(c)
    if va is not None and vc is not None and not (va & vc):
        return set()
    if "object" in common and _objects_disjoint(b, a, c, depth):
        common.discard("object")
    if "array" in common and _arrays_disjoint(b, a, c, depth):
        common.discard("array")
    if common & _NUMBERS and disjoint_ranges(_number_range(a), _number_range(c)):
        common -= _NUMBERS
    if "string" in common and _strings_disjoint(b, a, c):
        common.discard("string")
    return common


def _objects_disjoint(b, a, c, depth: int) -> bool:
    """Whether no object satisfies both: disjoint property counts, a property one requires whose schemas in
    both are disjoint, or one required by one and forbidden by the other."""
    (ra, na), (rc, nc) = _required(b, a, depth), _required(b, c, depth)
    if disjoint_ranges(_count(a, "minProperties", "maxProperties", na),
                       _count(c, "minProperties", "maxProperties", nc)):
        return True
    for x, rx_, y in ((a, ra, c), (c, rc, a)):
        names = closed_names(b, y)
        for r in rx_:
            if (names is not None and r not in names) or property_parts(b, y, r) is None:
                return True
    if depth < MAX_DEPTH:  # a property one requires, whose value the other constrains (where present)
        for p in sorted(set(ra) | set(rc)):
            pa, pc = property_parts(b, a, p), property_parts(b, c, p)
            if pa is not None and pc is not None and not overlap(b, pa, pc, depth + 1):
                return True
    return False


def _first_item(b, parts):
    """The flattened conjunction the first item of every array of ``parts`` satisfies."""
    out = []
    for node, pointer in parts:
        prefix = node.get("prefixItems")
        items = node.get("items")
        if isinstance(prefix, list) and prefix:
            out.append((prefix[0], b.kp(node, pointer, "prefixItems", 0)))
        elif isinstance(items, list):
            if items:
                out.append((items[0], b.kp(node, pointer, "items", 0)))
            elif "additionalItems" in node:
                out.append((node["additionalItems"], b.kp(node, pointer, "additionalItems")))
        elif items is not None and not isinstance(prefix, list):
            out.append((items, b.kp(node, pointer, "items")))
    return flatten(b, out, 1)


def _arrays_disjoint(b, a, c, depth: int) -> bool:
    """Whether no array satisfies both: disjoint item counts, or both have a first item and its schemas are
    disjoint."""
    ca, cc = _count(a, "minItems", "maxItems"), _count(c, "minItems", "maxItems")
    if disjoint_ranges(ca, cc):
        return True
    if depth < MAX_DEPTH and ca[0][0] >= 1 and cc[0][0] >= 1:
        fa, fc = _first_item(b, a), _first_item(b, c)
        if fa is None or fc is None:
            return True
        return not overlap(b, fa, fc, depth + 1)
    return False


_STRING_KEYS = ("minLength", "maxLength", "pattern", "format", PATTERNS, NOT_PATTERN)


def _string_node(parts) -> dict | None:
    """One schema with the string constraints of all the parts (None when they have none; a second ``format``
    is left out, which only widens)."""
    out: dict = {}
    for node, _ in parts:
        for key in _STRING_KEYS:
            if key not in node:
                continue
            v = node[key]
            if key == "minLength":
                out[key] = max(out.get(key, 0), v) if isinstance(v, int) else out.get(key, 0)
            elif key == "maxLength":
                out[key] = min(out[key], v) if key in out and isinstance(v, int) else v
            elif key == "pattern" or key == PATTERNS:
                out.setdefault(PATTERNS, []).extend([v] if key == "pattern" else list(v))
            elif key == NOT_PATTERN:
                out.setdefault(NOT_PATTERN, []).extend(v)
            else:
                out.setdefault(key, v)
        names = [v for v in node.get(NOT_ENUM, ()) if isinstance(v, str)]
        if names:
            out.setdefault(NOT_ENUM, []).extend(names)
    return out or None


def _strings_disjoint(b, a, c) -> bool:
    """Whether the string constraints of ``a`` and ``c`` have disjoint languages (their automata intersect
    emptily)."""
    from corral.automata.operations import dfa_intersection

    sa, sc = _string_node(a), _string_node(c)
    if sa is None or sc is None:
        return False
    try:
        ca, cc = string_content(b, sa, a[0][1]), string_content(b, sc, c[0][1])
        if ca is None or cc is None:
            return True
        return not dfa_intersection(content_dfa(ca), content_dfa(cc)).accepting.any()
    except (SchemaError, MemoryError, ValueError, RecursionError, TypeError):
        return False
