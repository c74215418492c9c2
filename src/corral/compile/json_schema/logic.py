"""Applicators of the JSON Schema compiler: unions of conjunctions and exact negation, one handler per keyword.

:func:`expand` rewrites a schema into a union of conjunctions of applicator-free schemas ("atoms"), a list of lists
of ``(atom, pointer)``: the keywords without applicators form one atom, conjoined with the factor of each applicator
of :data:`EXPANDERS` (``allOf`` and ``$ref`` beside other keywords conjoin, ``anyOf`` and a provably disjoint
``oneOf`` unite, ``not`` negates exactly, ``if``/``then``/``else`` is ``(if ∧ then) ∨ (¬if ∧ else)`` and
``dependentSchemas`` is ``(a absent) ∨ (a present ∧ schema)``). :func:`negate` is the union of the negations of a
schema's keywords, each by its handler in :data:`NEGATORS` (a keyword without one is unsupported under ``not``;
the array and object applicators' handlers are in :mod:`~corral.compile.json_schema.negations`).
:func:`~corral.compile.json_schema.merge.merge` then turns each conjunction into one schema when that is exact.
"""

from __future__ import annotations

from corral.compile.json_schema.checks import check_keywords
from corral.compile.json_schema.dnf import COMBINATORS, MAX_ALTERNATIVES, Sub, alternatives, conjoin
from corral.compile.json_schema.negations import NEGATORS_OF_APPLICATORS, Negated
from corral.compile.json_schema.oneof import excluded_values, not_one_of, one_of
from corral.compile.json_schema.vocab import NON_INTEGER, NOT_ENUM, NOT_MULTIPLE, NOT_PATTERN, TYPES, is_annotation, \
    ptr, type_set
from corral.errors import SchemaError

__all__ = ["expand", "negate", "EXPANDERS", "NEGATORS"]


# ------------------------------------------------------------------ unions of conjunctions

def expand(b, node, pointer: str, seen: frozenset = frozenset()):
    """The union of conjunctions (a list of lists of ``(atom, pointer)``) equivalent to ``node``.

    ``seen`` holds the pointers being expanded (a ``$ref`` back to one of them is a cycle without an intervening
    object or array, which is unsupported).
    """
    if node is True:
        return [[]]
    if node is False:
        return []
    if isinstance(node, Sub):
        if node.kind == "all":
            return conjoin([b.expand(n, p, seen) for n, p in node.parts], pointer, "allOf")
        if node.kind == "any":
            return [c for n, p in node.parts for c in b.expand(n, p, seen)]
        n, p = node.parts[0]
        return b.negate(n, p, seen)
    if not isinstance(node, dict):
        raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
    check_keywords(b, node, pointer)
    seen = seen | {pointer}
    if "$ref" in node and b.refs.ignores_ref_siblings():
        return _expand_ref(b, node, pointer, "$ref", seen)[0]
    factors = [[[(_base(b, node, pointer), pointer)]]]
    for key, expander in EXPANDERS.items():
        if key in node:
            factors += expander(b, node, pointer, key, seen)
    return conjoin(factors, pointer, next((k for k in node if k in COMBINATORS), "allOf"))


def _piece(b, node: dict, keys) -> dict:
    """The keywords ``keys`` of ``node``, keeping the pointers of a merged node's keywords."""
    part = {k: node[k] for k in keys}
    if id(node) in b.origin or id(node) in b.prop_ptrs:
        b.origin[id(part)] = dict(b.origin.get(id(node), {}))
        if id(node) in b.prop_ptrs:
            b.prop_ptrs[id(part)] = b.prop_ptrs[id(node)]
        b.keep.append(part)
    return part


def _base(b, node: dict, pointer: str) -> dict:
    """The atom of the keywords of ``node`` that are not applicators (draft-07 array ``dependencies`` become
    ``dependentRequired``)."""
    base_keys = [k for k in node if k not in COMBINATORS]
    deps = node.get("dependencies")
    arrays = {a: v for a, v in deps.items() if isinstance(v, list)} if isinstance(deps, dict) else {}
    if not arrays:
        return _piece(b, node, base_keys)
    base_keys.append("dependentRequired")
    base = _piece(b, {**node, "dependentRequired": {**node.get("dependentRequired", {}), **arrays}}, base_keys)
    b.origin.setdefault(id(base), {})["dependentRequired"] = pointer
    b.keep.append(base)
    return base


def _expand_ref(b, node, pointer: str, key: str, seen):
    """The union of conjunctions of the target of the ``$ref`` of ``node`` (as the one factor of a list)."""
    where = b.kp(node, pointer, key)
    target, tptr = b.refs.resolve(node[key], where, pointer)
    if tptr in seen:
        raise SchemaError("a $ref cycle without an intervening object or array is not supported",
                          pointer=where, keyword="$ref", kind="unsupported")
    return [b.expand(target, tptr, seen)]


# The handlers recurse in plain loops (a comprehension would cost a stack frame per level of nesting).

def _expand_all_of(b, node, pointer, key, seen):
    alts, ptrs = alternatives(b, node, pointer, key)
    factors = []
    for s, p in zip(alts, ptrs):
        factors.append(b.expand(s, p, seen))
    return factors


def _expand_any_of(b, node, pointer, key, seen):
    alts, ptrs = alternatives(b, node, pointer, key)
    union = []
    for s, p in zip(alts, ptrs):
        union += b.expand(s, p, seen)
    return [union]


def _expand_not(b, node, pointer, key, seen):
    return [b.negate(node["not"], b.kp(node, pointer, "not"), seen)]


def _expand_if(b, node, pointer, key, seen):
    i_s, ip = node["if"], b.kp(node, pointer, "if")
    t_s, tp = node.get("then", True), b.kp(node, pointer, "then")
    e_s, ep = node.get("else", True), b.kp(node, pointer, "else")
    if t_s is True and e_s is True:
        return []
    yes = conjoin([b.expand(i_s, ip, seen), b.expand(t_s, tp, seen)], ip, "if")
    no = conjoin([b.negate(i_s, ip, seen), b.expand(e_s, ep, seen)], ip, "if")
    return [yes + no]


def _expand_dependent_schemas(b, node, pointer, key, seen):
    value = node[key]
    if value is None:
        return []
    if not isinstance(value, dict):
        raise SchemaError(f"{key} must be an object", pointer=b.kp(node, pointer, key), keyword=key)
    factors = []
    for a, s in value.items():
        if isinstance(s, list):  # draft-07 array form: dependentRequired (see _base)
            continue
        sp = b.kp(node, pointer, key, a)
        absent = [[({"properties": {a: False}}, sp)]]
        present = conjoin([[[({"required": [a]}, sp)]], b.expand(s, sp, seen)], sp, key)
        factors.append(absent + present)
    return factors


#: Applicator -> ``expander(b, node, pointer, keyword, seen)``: the factors (unions of conjunctions) it conjoins
#: to the atom of the other keywords, in this order.
EXPANDERS = {
    "$ref": _expand_ref,
    "allOf": _expand_all_of,
    "anyOf": _expand_any_of,
    "oneOf": one_of,
    "not": _expand_not,
    "if": _expand_if,
    "dependentSchemas": _expand_dependent_schemas,
    "dependencies": _expand_dependent_schemas,
}


# ------------------------------------------------------------------ negation

def negate(b, node, pointer: str, seen: frozenset = frozenset()):
    """The union of conjunctions equivalent to ``not node`` (unsupported where that is not exact)."""
    if node is True:
        return []
    if node is False:
        return [[]]
    if isinstance(node, Negated):
        n, p = node.original
        return b.expand(n, p, seen)
    if isinstance(node, Sub):
        if node.kind == "all":
            return [c for n, p in node.parts for c in b.negate(n, p, seen)]
        if node.kind == "any":
            return conjoin([b.negate(n, p, seen) for n, p in node.parts], pointer, "not")
        n, p = node.parts[0]
        return b.expand(n, p, seen)
    if not isinstance(node, dict):
        raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
    check_keywords(b, node, pointer)
    if pointer in seen:
        raise SchemaError("negating a recursive schema is not supported", pointer=pointer, keyword="not",
                          kind="unsupported")
    seen = seen | {pointer}
    if "$ref" in node and b.refs.ignores_ref_siblings():
        target, tptr = b.refs.resolve(node["$ref"], b.kp(node, pointer, "$ref"), pointer)
        return b.negate(target, tptr, seen)
    out = []
    for key, value in node.items():
        if is_annotation(key) or key in ("then", "else"):
            continue
        kp = b.kp(node, pointer, key)
        out += NEGATORS.get(key, _unsupported)(b, key, value, kp, seen, node, pointer)
        if len(out) > MAX_ALTERNATIVES:
            raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives in a negation", pointer=kp,
                              keyword="not", kind="unsupported")
    return out


def _unsupported(b, key, value, kp, seen, node, pointer):
    raise SchemaError(f"the negation of {key!r} is not supported", pointer=kp,
                      keyword=key if isinstance(key, str) else "not", kind="unsupported")


def _neg_type(b, key, value, kp, seen, node, pointer):
    ts = type_set(value, kp)
    out = []
    comp = [t for t in TYPES if t not in ts and t not in ("integer", "number")]
    if "number" not in ts:
        if "integer" in ts:
            out.append([({"type": "number", NON_INTEGER: True}, kp)])
        else:
            comp.append("number")
    if comp:
        out.append([({"type": comp}, kp)])
    return out


def _neg_enum(b, key, value, kp, seen, node, pointer):
    """The instances equal to none of the ``enum`` values (``const``: one value); array and object values by how an
    instance may differ from them."""
    if key == "const":
        value = [value]
    elif not isinstance(value, list):
        raise SchemaError("enum must be an array", pointer=kp, keyword="enum")
    if any(isinstance(v, (list, dict)) for v in value):
        return excluded_values(b, list(value), kp)
    return [[({NOT_ENUM: list(value)}, kp)]]


# bound keyword -> (the type it restricts, the keyword of the complement, offset of the complement's value)
_NEGATED_BOUND = {"minLength": ("string", "maxLength", -1), "maxLength": ("string", "minLength", 1),
                  "minItems": ("array", "maxItems", -1), "maxItems": ("array", "minItems", 1),
                  "minProperties": ("object", "maxProperties", -1), "maxProperties": ("object", "minProperties", 1),
                  "minimum": ("number", "exclusiveMaximum", 0), "exclusiveMinimum": ("number", "maximum", 0),
                  "maximum": ("number", "exclusiveMinimum", 0), "exclusiveMaximum": ("number", "minimum", 0)}


def _neg_bound(b, key, value, kp, seen, node, pointer):
    t, other, delta = _NEGATED_BOUND[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise SchemaError(f"{key} must be a number", pointer=kp, keyword=key)
    return [[({"type": t, other: value + delta}, kp)]] if delta >= 0 or value + delta >= 0 else []


def _neg_multiple_of(b, key, value, kp, seen, node, pointer):
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return [[({"type": "number", NOT_MULTIPLE: [value]}, kp)]]
    return _unsupported(b, key, value, kp, seen, node, pointer)


def _neg_required(b, key, value, kp, seen, node, pointer):
    if not isinstance(value, list):
        raise SchemaError("required must be an array", pointer=kp, keyword=key)
    return [[({"type": "object", "properties": {a: False}}, kp)] for a in value]


def _neg_properties(b, key, value, kp, seen, node, pointer):
    if not isinstance(value, dict):
        raise SchemaError("properties must be an object", pointer=kp, keyword=key)
    out = []
    for p, s in value.items():
        neg = b.negate(s, ptr(kp, p), seen)
        if neg:
            sub = Sub("any", [(Sub("all", conj), ptr(kp, p)) for conj in neg])
            out.append([({"type": "object", "properties": {p: sub}, "required": [p]}, kp)])
    return out


def _neg_unique_items(b, key, value, kp, seen, node, pointer):
    return [] if value is False else _unsupported(b, key, value, kp, seen, node, pointer)


def _neg_all_of(b, key, value, kp, seen, node, pointer):
    out = []
    for i, s in enumerate(value):
        out += b.negate(s, ptr(kp, i), seen)
    return out


def _neg_any_of(b, key, value, kp, seen, node, pointer):
    negations = []
    for i, s in enumerate(value):
        negations.append(b.negate(s, ptr(kp, i), seen))
    return conjoin(negations, kp, key)


def _neg_if(b, key, value, kp, seen, node, pointer):
    t_s, e_s = node.get("then", True), node.get("else", True)
    tp, ep = b.kp(node, pointer, "then"), b.kp(node, pointer, "else")
    return (conjoin([b.expand(value, kp, seen), b.negate(t_s, tp, seen)], kp, "if")
            + conjoin([b.negate(value, kp, seen), b.negate(e_s, ep, seen)], kp, "if"))


def _neg_ref(b, key, value, kp, seen, node, pointer):
    target, tptr = b.refs.resolve(value, kp, pointer)
    return b.negate(target, tptr, seen)


#: Keyword -> ``negator(b, keyword, value, pointer of the keyword, seen, node, pointer of node)``: the union of
#: conjunctions of the instances that violate that keyword (the negation of a schema is their union).
NEGATORS = {
    "type": _neg_type,
    "enum": _neg_enum,
    "const": _neg_enum,
    **dict.fromkeys(_NEGATED_BOUND, _neg_bound),
    "multipleOf": _neg_multiple_of,
    NOT_MULTIPLE: lambda b, key, value, kp, *rest: [[({"type": "number", "multipleOf": k}, kp)] for k in value],
    "pattern": lambda b, key, value, kp, *rest: [[({"type": "string", NOT_PATTERN: [value]}, kp)]],
    NOT_PATTERN: lambda b, key, value, kp, *rest: [[({"type": "string", "pattern": p}, kp)] for p in value],
    "required": _neg_required,
    "properties": _neg_properties,
    "uniqueItems": _neg_unique_items,
    "allOf": _neg_all_of,
    "anyOf": _neg_any_of,
    "oneOf": not_one_of,
    "not": lambda b, key, value, kp, seen, *rest: b.expand(value, kp, seen),
    "$ref": _neg_ref,
    "if": _neg_if,
    **NEGATORS_OF_APPLICATORS,
}
