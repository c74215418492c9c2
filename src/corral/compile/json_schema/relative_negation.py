"""Negation relative to a context, for ``oneOf``: the instances of a context (:class:`~corral.compile.json_schema
.disjoint.Context`: kinds, a finite key set, required names, what it says of each property) that a schema rejects
(:func:`negate_within`), exact on those instances and free to differ outside them.

Keywords that only restrict kinds outside the context, and keywords a part of the context has with the same
value, are dropped; ``allOf``, ``anyOf``, ``$ref`` and ``not`` recurse; ``required``/``properties`` negate per name
(and so do ``additionalProperties``/``patternProperties``/``propertyNames`` where the context allows finitely many
keys); ``items`` relative to the context's items, ``enum``/``const`` value by value, ``format`` by the internal
``NOT_FORMAT``; every other keyword through ``b.negate``. A negation that reaches the schema it negates again (a
recursive schema) becomes a lazily computed schema (:class:`_LazyNegation`).
"""

from __future__ import annotations

import json
import re
import weakref

from corral.compile.json_schema.checks import check_keywords
from corral.compile.json_schema.disjoint import Context, flatten, item_parts, overlap, type_kinds
from corral.compile.json_schema.dnf import EVERY_KIND, MAX_ALTERNATIVES, RESTRICTS, Sub
from corral.compile.json_schema.dnf_product import product
from corral.compile.json_schema.negations import Negated
from corral.compile.json_schema.objects import key_language
from corral.compile.json_schema.scalars import content_of
from corral.compile.json_schema.strings import format_content, key_matches
from corral.compile.json_schema.value_exclusion import excluded_values
from corral.compile.json_schema.vocab import NOT_FORMAT, is_annotation, ptr
from corral.errors import SchemaError

__all__ = ["negate_within"]

_OBJECT_KEYS = ("properties", "required", "additionalProperties", "patternProperties", "propertyNames")
_COMPANIONS = {"if": ("then", "else")}


def _prune(dnf, kinds):
    """The conjunctions of ``dnf`` that may hold an instance of ``kinds`` (by their atoms' ``type``)."""
    return [conj for conj in dnf if all(not (isinstance(n, dict) and "type" in n) or type_kinds({"type": n["type"]})
                                        & kinds for n, _ in conj)]


def _standard(b, node: dict, pointer: str, keys, seen, kinds, origin=None):
    """``b.negate`` of the keywords ``keys`` of ``node`` (with their companions), pruned to ``kinds``; ``origin``:
    the schema whose keyword pointers ``node`` shares (default ``node``)."""
    keys = list(keys) + [c for k in keys for c in _COMPANIONS.get(k, ()) if c in node]
    piece = {k: node[k] for k in dict.fromkeys(keys)}
    for table in (b.origin, b.prop_ptrs):
        if id(origin or node) in table:
            table[id(piece)] = table[id(origin or node)]
    b.keep.append(piece)
    return _prune(b.negate(piece, pointer, seen), kinds)


def negate_within(b, node, pointer: str, ctx: Context, seen: frozenset = frozenset()):
    """The union of conjunctions of the instances of the context ``ctx`` that ``node`` rejects: a negation of
    ``node`` that is exact on every instance ``ctx`` describes (its kinds, its finite key set, its required names,
    what it says of each property's value); outside them it may differ.

    Nothing where the context implies ``node``, everything where no instance of the context satisfies it
    (:func:`~corral.compile.json_schema.disjoint.overlap`). Keywords that only restrict kinds outside
    ``ctx.kinds``, and keywords a part of the context has with the same value, are dropped; ``allOf``, ``anyOf``,
    ``$ref`` and ``not`` recurse; ``required``/``properties`` negate per name (:func:`_negate_object`), and so do
    ``additionalProperties``/``patternProperties``/``propertyNames`` where the context allows finitely many keys;
    ``items`` relative to the context's items, ``enum``/``const`` value by value (:func:`_negate_values`),
    ``format`` by the internal ``NOT_FORMAT``; every other keyword through ``b.negate``. Raises SchemaError
    (unsupported) where that is not exact.
    """
    if node is True:
        return []
    if node is False:
        return [[]]
    if not isinstance(node, dict):
        return _prune(b.negate(node, pointer, seen), ctx.kinds)
    if pointer in seen:
        raise SchemaError("negating a recursive schema is not supported", pointer=pointer, keyword="not",
                          kind="unsupported")
    check_keywords(b, node, pointer)
    settled = _settled_by_context(b, node, pointer, ctx)
    if settled is not None:
        return settled
    inner = seen | {pointer}
    if "$ref" in node and b.refs.ignores_ref_siblings():
        target, tptr = b.refs.resolve(node["$ref"], b.kp(node, pointer, "$ref"), pointer)
        return negate_within(b, target, tptr, ctx, inner)
    out, rest = _negate_keywords(b, node, pointer, ctx, inner)
    if "object" in ctx.kinds:
        out += _negate_object(b, node, pointer, ctx, inner)
        out += _negate_open_keys(b, node, pointer, ctx, seen)
    if rest:
        out += _standard(b, node, pointer, rest, seen, ctx.kinds)
    return out


def _settled_by_context(b, node: dict, pointer: str, ctx: Context):
    """``[]`` where the context implies ``node`` (a part of it is ``node``), ``[[]]`` where no instance of the
    context satisfies it, else ``None``."""
    if any(part is node for part, _ in ctx.parts or ()):
        return []  # the context implies the schema
    if not overlap(b, ctx.parts or [], flatten(b, [(node, pointer)])) & ctx.kinds:
        return [[]]  # no instance of the context satisfies the schema
    return None


def _negate_keywords(b, node: dict, pointer: str, ctx: Context, inner):
    """``(negations, rest)``: the union of the negations of the keywords of ``node`` that :func:`_negate_keyword`
    negates itself, and the keywords left to ``b.negate`` (the object keywords are negated apart, when the context
    holds objects; dropped: annotations, ``then``/``else``, keywords restricting only kinds outside the context
    and keywords the context implies)."""
    objects = "object" in ctx.kinds
    out, rest = [], []
    for key, value in node.items():
        if is_annotation(key) or key in ("then", "else") or (key in RESTRICTS and not RESTRICTS[key] & ctx.kinds):
            continue
        kp = b.kp(node, pointer, key)
        if (objects and key in _OBJECT_KEYS) or _implied(b, node, key, value, kp, ctx):
            continue
        neg = _negate_keyword(b, node, pointer, key, value, kp, ctx, inner)
        if neg is None:
            rest.append(key)
        else:
            out += neg
        if len(out) > MAX_ALTERNATIVES:
            raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives in a negation", pointer=kp,
                              keyword="oneOf", kind="unsupported")
    return out, rest


def _negate_keyword(b, node: dict, pointer: str, key, value, kp: str, ctx: Context, inner):
    """The instances of the context that the keyword ``key`` of ``node`` rejects, for ``items`` (schema form),
    ``enum``/``const``, ``format``, ``$ref``, ``allOf``, ``anyOf`` and ``not``; ``None`` for the others."""
    if key == "items" and isinstance(value, (dict, bool)) and not isinstance(node.get("prefixItems"), list):
        return _negate_items(b, value, kp, ctx, inner)
    if key in ("enum", "const"):
        return _negate_values(b, node[key] if key == "enum" else [value], kp, ctx)
    if key == "format":  # numbers have no format (jsonschema checks strings only)
        return _negate_format(b, node, pointer, kp) if "string" in ctx.kinds else []
    if key == "$ref":
        target, tptr = b.refs.resolve(value, kp, pointer)
        return negate_within(b, target, tptr, ctx, inner)
    if key == "allOf" and isinstance(value, list):
        out = []
        for i, s in enumerate(value):
            out += negate_within(b, s, ptr(kp, i), ctx, inner)
        return out
    if key == "anyOf" and isinstance(value, list) and value:
        return product(b, [negate_within(b, s, ptr(kp, i), ctx, inner) for i, s in enumerate(value)], kp)
    if key == "not":
        return _prune(b.expand(value, kp, inner), ctx.kinds)
    return None


def _negate_open_keys(b, node: dict, pointer: str, ctx: Context, seen):
    """The objects of the context with a key that ``additionalProperties``/``patternProperties``/
    ``propertyNames`` of ``node`` reject, where the context does not list its keys: ``b.negate`` of those
    keywords with the declared names only (their values are negated by :func:`_negate_object`)."""
    keys = [k for k in ("additionalProperties", "patternProperties", "propertyNames") if k in node and not
            _implied(b, node, k, node[k], b.kp(node, pointer, k), ctx)]
    if not keys or ctx.names is not None:
        return []
    stub = {**{k: node[k] for k in keys}, "properties": dict.fromkeys(node.get("properties", {}), True)}
    return _standard(b, stub, pointer, list(stub), seen, ctx.kinds, node)


def _implied(b, node: dict, key, value, kp: str, ctx: Context) -> bool:
    """Whether a part of the context has the keyword ``key`` with the same value (then no instance of the context
    violates it): plain JSON, equal as text, under the same base URI."""
    if not isinstance(key, str) or key.startswith("unevaluated"):  # those depend on every sibling
        return False
    for part, pp in ctx.parts or ():
        if key in part and _same(part[key], value) and b.refs.base_for(b.kp(part, pp, key)) == b.refs.base_for(kp) \
                and all(_same(part.get(c, _ABSENT), node.get(c, _ABSENT)) for c in _DEPENDS.get(key, ())):
            return True
    return False


_ABSENT = object()
# keyword -> the keywords its meaning depends on (equal values only imply each other with equal companions)
_DEPENDS = {"additionalProperties": ("properties", "patternProperties"), "additionalItems": ("items",),
            "items": ("prefixItems",), "contains": ("minContains", "maxContains"), "minContains": ("contains",),
            "maxContains": ("contains",), "if": ("then", "else"), "then": ("if",), "else": ("if",)}


def _same(x, y) -> bool:
    """Whether two keyword values are the same plain JSON (never for synthetic schemas)."""
    if x is y:
        return True
    try:
        return json.dumps(x, sort_keys=True) == json.dumps(y, sort_keys=True)
    except (TypeError, ValueError):
        return False


def _negate_items(b, value, kp: str, ctx: Context, seen):
    """The arrays of the context with an item that the schema-form ``items`` (without positional items) rejects:
    ``contains`` the negation of ``items`` relative to what the context says of its items."""
    parts = item_parts(b, ctx.parts)
    if parts is None:
        return []  # the arrays of the context have no item
    neg = _negation_schema(b, value, kp, Context(b, parts), seen)
    if neg is False:
        return []
    return [[({"type": "array", "minItems": 1} if neg is True else {"type": "array", "contains": neg}, kp)]]


def _negate_values(b, values, kp: str, ctx: Context):
    """The instances of the context equal to none of ``values`` (an ``enum``): the scalars by the internal
    ``NOT_ENUM``, an array or object value by how an instance may differ from it
    (:func:`~corral.compile.json_schema.value_exclusion.excluded_values`)."""
    if not isinstance(values, list):
        raise SchemaError("enum must be an array", pointer=kp, keyword="enum")
    return _prune(excluded_values(b, values, kp, ctx), ctx.kinds)


def _negate_format(b, node: dict, pointer: str, kp: str):
    """The strings outside a ``format`` (none for a format that is an annotation)."""
    if format_content(b, node, pointer) is None:
        return []
    return [[({"type": "string", NOT_FORMAT: [node["format"]]}, kp)]]


class _LazyNegation(Negated):
    """The negation of a located schema, computed when first read (:func:`negate_within` without a context), so
    that a negation that reaches the schema it negates again (a recursive schema) refers to this same schema (one
    grammar symbol) instead of recursing. Negated again, it is the schema itself (:class:`Negated`)."""

    __slots__ = ("_b", "_parts")

    def __init__(self, b, node, pointer: str) -> None:  # not Sub.__init__: it would compute the parts now
        self.kind, self.original, self._b, self._parts = "any", (node, pointer), b, None

    @property
    def parts(self):
        """The conjunctions of the negation (computed on first use)."""
        if self._parts is None:
            self._parts = ()  # a reference to itself met while computing (never read meanwhile)
            try:
                node, pointer = self.original
                dnf = negate_within(self._b, node, pointer, Context(self._b, [], EVERY_KIND))
            except BaseException:
                self._parts = None
                raise
            self._parts = tuple((Sub("all", conj), pointer) for conj in dnf)
        return self._parts


#: builder -> {pointer: the lazy negation of the schema at that pointer}
_LAZY: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _lazy_negation(b, node, pointer: str):
    """The schema ``not node`` (``node`` found at ``pointer``), computed when first read, one per pointer."""
    per = _LAZY.setdefault(b, {})
    if pointer not in per:
        per[pointer] = _LazyNegation(b, node, pointer)
        b.keep.append(per[pointer])
    return per[pointer]


def _negation_schema(b, node, pointer: str, ctx: Context, seen):
    """A schema for the values of the context that ``node`` rejects: ``False``, ``True`` or a union; the lazy
    ``not`` of ``node`` where negating it now reaches a schema being negated (a recursive schema)."""
    try:
        neg = negate_within(b, node, pointer, ctx, seen)
    except SchemaError as exc:
        if exc.kind != "unsupported" or not exc.message.startswith("negating a recursive schema"):
            raise
        return _lazy_negation(b, node, pointer)
    if not neg:
        return False
    if any(not conj for conj in neg):
        return True
    return Negated(neg, (node, pointer))  # negated again (an array's items split by contains): node itself


def _negate_object(b, node: dict, pointer: str, ctx: Context, seen):
    """The objects of the context that ``required``/``properties`` of ``node`` reject (a required name absent or
    any declared value outside its schema) and, where the context allows finitely many keys, those with a key
    that ``additionalProperties``/``patternProperties``/``propertyNames`` reject."""
    props, required = node.get("properties", {}), node.get("required", [])
    if not isinstance(props, dict):
        raise SchemaError("properties must be an object", pointer=b.kp(node, pointer, "properties"),
                          keyword="properties")
    if not isinstance(required, list):
        raise SchemaError("required must be an array", pointer=b.kp(node, pointer, "required"), keyword="required")
    rp, pp = b.kp(node, pointer, "required"), b.kp(node, pointer, "properties")
    out, done = [], set()
    for r in dict.fromkeys(x for x in required if isinstance(x, str)):
        if r in ctx.required:
            continue  # present in every object of the context: only its value may fail (below)
        sub = ctx.prop(r)
        if sub is None:  # r is never present: every object of the context fails
            return [[({"type": "object"}, rp)]]
        value = _negation_schema(b, props[r], ptr(pp, r), sub, seen) if r in props else False
        done.add(r)
        if value is True:
            return [[({"type": "object"}, rp)]]
        out.append([({"type": "object", "properties": {r: value}}, rp)])  # absent, or present and not valid
    for p, s in props.items():
        sub = ctx.prop(p) if p not in done else None
        value = _negation_schema(b, s, ptr(pp, p), sub, seen) if sub is not None else False
        if value is not False:
            atom = {"type": "object", "required": [p]}
            if value is not True:
                atom["properties"] = {p: value}
            out.append([(atom, pp)])
    if ctx.names is not None:
        out += _negate_keys(b, node, pointer, ctx, seen, props)
    return out


def _negate_keys(b, node: dict, pointer: str, ctx: Context, seen, props):
    """The objects of the context (finitely many keys) with a key that ``patternProperties``,
    ``additionalProperties`` or ``propertyNames`` of ``node`` reject: for each key, it is present and its value
    is outside the schema that applies to it (or the key is outside ``propertyNames``)."""
    pats = node.get("patternProperties", {})
    extra = node.get("additionalProperties", True)
    pnames = node.get("propertyNames", True)
    if not isinstance(pats, dict):
        raise SchemaError("patternProperties must be an object", pointer=b.kp(node, pointer, "patternProperties"),
                          keyword="patternProperties")
    out = []
    for n in sorted(ctx.names):
        sub = ctx.prop(n)
        if sub is None:
            continue
        schemas = [(s, b.kp(node, pointer, "patternProperties", q)) for q, s in pats.items()
                   if key_matches(q, n, b.kp(node, pointer, "patternProperties", q))]
        if n not in props and not schemas:
            schemas.append((extra, b.kp(node, pointer, "additionalProperties")))
        for s, sp in schemas:
            value = _negation_schema(b, s, sp, sub, seen)
            if value is not False:
                atom = {"type": "object", "required": [n]}
                if value is not True:
                    atom["properties"] = {n: value}
                out.append([(atom, sp)])
        if pnames is not True and not _name_allowed(b, pnames, b.kp(node, pointer, "propertyNames"), n):
            out.append([({"type": "object", "required": [n]}, b.kp(node, pointer, "propertyNames"))])
    return out


def _name_allowed(b, pnames, pointer: str, name: str) -> bool:
    """Whether the key ``name`` satisfies the ``propertyNames`` schema ``pnames``."""
    lang = key_language(b, pnames, pointer)
    return lang is None or (lang is not False and re.fullmatch(lang, content_of(name)) is not None)
