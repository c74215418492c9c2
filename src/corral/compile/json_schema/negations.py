"""Negations of the array and object applicators, for :data:`~corral.compile.json_schema.logic.NEGATORS`.

Each negator returns the union of conjunctions (a list of lists of ``(atom, pointer)``) of the instances that
violate one keyword, where that is exact. ``not`` applies to every JSON type and these keywords only restrict
arrays or objects, so each violation is an array (an object): a value of another type satisfies the keyword.

* ``contains: S`` (with ``minContains`` m, default 1, and ``maxContains`` M): fewer than m items match (for m = 1:
  every item matches ``not S``) or more than M do.
* ``items: S`` (after the ``prefixItems``) / draft-07 ``additionalItems``: some item there matches ``not S``
  (``contains: not S`` when there is no positional item before; ``items: false``: more items than the prefix).
* ``prefixItems`` (and draft-07 array ``items``): for some position j, the array has an item j matching the
  negation of its schema.
* ``propertyNames: S``: some key matches ``not S``; ``not S`` being a string schema, a finite one
  (``enum``/``const``) is a union of ``required`` names, any other one the internal keyword
  :data:`~corral.compile.json_schema.vocab.SOME_KEY` (compiled by :mod:`~corral.compile.json_schema.objects`).
* ``patternProperties: {P: false}``: some key matches P; ``additionalProperties: false``: some key outside the
  declared names and the patterns. A value schema other than ``false`` (``{P: S}``, ``additionalProperties: S``)
  is unsupported: "some key with a value outside S" is not exact when a text may repeat a key (its last value
  counts, and the grammar cannot tell a repeated key from another key of the same pattern).
* ``dependentRequired: {a: [b]}``: ``a`` present and ``b`` absent; ``dependentSchemas: {a: S}`` (and draft-07
  ``dependencies``): ``a`` present and ``not S``.

A negated subschema is the schema :class:`Negated` (its negation's union, which remembers the schema it negates:
negating it again gives back that schema's expansion, exactly, as :func:`~corral.compile.json_schema.logic.negate`
does for it).
"""

from __future__ import annotations

from corral.compile.json_schema.checks import count
from corral.compile.json_schema.dnf import Sub, conjoin
from corral.compile.json_schema.vocab import NOT_ENUM, NOT_PATTERN, PATTERNS, SOME_KEY, is_annotation, ptr
from corral.errors import SchemaError

__all__ = ["Negated", "negation_schema", "NEGATORS_OF_APPLICATORS"]

# The string keywords that restrict which keys a key schema allows (without them: every key).
_KEY_RESTRICTIONS = ("minLength", "maxLength", "pattern", "format", PATTERNS, NOT_PATTERN)


class Negated(Sub):
    """The negation of a located schema, as a schema: the union (``Sub("any")``) of the conjunctions of its
    negation, remembering the schema it negates (``original``: ``(schema, pointer)``), so that negating it again
    is that schema's expansion rather than the negation of each conjunction."""

    __slots__ = ("original",)

    def __init__(self, dnf, original) -> None:
        super().__init__("any", [(Sub("all", conj), original[1]) for conj in dnf])
        self.original = original


def negation_schema(b, value, pointer: str, seen: frozenset = frozenset()):
    """A schema for ``not value`` (``value`` found at ``pointer``): ``False``, ``True`` or a :class:`Negated`.

    The negation is computed now (so a recursive schema is refused here, with ``seen``), and unsupported where it
    is not exact."""
    dnf = b.negate(value, pointer, seen)
    if not dnf:
        return False
    if any(not conj for conj in dnf):
        return True
    return Negated(dnf, (value, pointer))


def _refuse(key, kp: str, why: str):
    raise SchemaError(f"the negation of {key!r} is not supported: {why}", pointer=kp, keyword=key,
                      kind="unsupported")


# ------------------------------------------------------------------ arrays

def _neg_contains(b, key, value, kp, seen, node, pointer):
    lo = count(b, node, pointer, "minContains", 1)
    hi = count(b, node, pointer, "maxContains")
    at = kp[:-len("/contains")] if kp.endswith("/contains") else pointer  # where the atom's contains is kp
    out = []
    if lo == 1:
        neg = negation_schema(b, value, kp, seen)
        out.append([({"type": "array", "items": neg} if neg is not True else {"type": "array"}, kp)])
    elif lo > 1:
        b.negate(value, kp, seen)  # the items are split by the negation of contains: refused here if it is
        out.append([({"type": "array", "contains": value, "minContains": 0, "maxContains": lo - 1}, at)])
    if hi is not None:
        out.append([({"type": "array", "contains": value, "minContains": hi + 1}, at)])
    return out


def _neg_contains_count(b, key, value, kp, seen, node, pointer):
    """``minContains``/``maxContains``: negated together with ``contains`` (no constraint without it)."""
    return []


def _some_item_after(b, key, value, kp, seen, k: int):
    """Arrays with an item after the first ``k`` that matches ``not value``."""
    neg = negation_schema(b, value, kp, seen)
    if neg is False:
        return []
    if neg is True:
        return [[({"type": "array", "minItems": k + 1}, kp)]]
    if k:
        _refuse(key, kp, f"an item after the first {k} outside its schema (only {key}: false is)")
    return [[({"type": "array", "contains": neg}, kp)]]


def _neg_prefix(b, key, value, kp, seen):
    if not isinstance(value, list):
        raise SchemaError(f"{key} must be an array", pointer=kp, keyword=key)
    out = []
    for j, s in enumerate(value):
        neg = negation_schema(b, s, ptr(kp, j), seen)
        if neg is False:
            continue
        atom = {"type": "array", "minItems": j + 1}
        if neg is not True:
            atom["prefixItems"] = [True] * j + [neg]
        out.append([(atom, kp)])
    return out


def _neg_items(b, key, value, kp, seen, node, pointer):
    if isinstance(value, list):  # draft-07 tuple form
        return _neg_prefix(b, key, value, kp, seen)
    prefix = node.get("prefixItems")
    return _some_item_after(b, key, value, kp, seen, len(prefix) if isinstance(prefix, list) else 0)


def _neg_additional_items(b, key, value, kp, seen, node, pointer):
    items = node.get("items")
    if not isinstance(items, list):
        return []  # without array items it applies to nothing
    return _some_item_after(b, key, value, kp, seen, len(items))


def _neg_prefix_items(b, key, value, kp, seen, node, pointer):
    return _neg_prefix(b, key, value, kp, seen)


# ------------------------------------------------------------------ objects

def _some_key(b, key_schema: dict, kp: str):
    """The objects with a key that ``key_schema`` (an applicator-free schema) allows: a union of ``required``
    names when it allows finitely many strings, ``minProperties: 1`` when it allows every string, else the
    internal keyword :data:`SOME_KEY`."""
    from corral.compile.json_schema.checks import node_types
    from corral.compile.json_schema.oracle import instance_valid

    if "string" not in node_types(b, key_schema, kp):
        return []
    if "enum" in key_schema or "const" in key_schema:
        values = list(key_schema["enum"]) if isinstance(key_schema.get("enum"), list) else []
        if "const" in key_schema:
            values = [key_schema["const"]] if "enum" not in key_schema else [
                v for v in values if v == key_schema["const"]]
        names = list(dict.fromkeys(v for v in values if isinstance(v, str)))
        rest = {k: v for k, v in key_schema.items() if k not in ("type", "enum", "const") and not is_annotation(k)}
        if rest:
            names = [n for n in names if instance_valid(b, rest, kp, n, key_schema)]
        return [[({"type": "object", "required": [n]}, kp)] for n in names]
    if not any(k in key_schema for k in _KEY_RESTRICTIONS) and not any(
            isinstance(v, str) for v in key_schema.get(NOT_ENUM, ())):
        return [[({"type": "object", "minProperties": 1}, kp)]]
    return [[({"type": "object", SOME_KEY: [key_schema]}, kp)]]


def _neg_property_names(b, key, value, kp, seen, node, pointer):
    from corral.compile.json_schema import merge

    out = []
    for conj in b.negate(value, kp, seen):
        atom = merge.merge_or_false(b, conj, kp)
        if atom is not False:
            out += _some_key(b, atom, kp)
    return out


def _neg_pattern_properties(b, key, value, kp, seen, node, pointer):
    if not isinstance(value, dict):
        raise SchemaError("patternProperties must be an object", pointer=kp, keyword=key)
    out = []
    for q, s in value.items():
        neg = negation_schema(b, s, ptr(kp, q), seen)
        if neg is False:
            continue
        if neg is not True:
            _refuse(key, ptr(kp, q), "a key matching the pattern with a value outside its schema (only a false "
                                     "schema is: a text may repeat a key, and its last value counts)")
        out += _some_key(b, {"type": "string", "pattern": q}, ptr(kp, q))
    return out


def _neg_additional_properties(b, key, value, kp, seen, node, pointer):
    neg = negation_schema(b, value, kp, seen)
    if neg is False:
        return []
    if neg is not True:
        _refuse(key, kp, "a key outside properties and patternProperties with a value outside the schema (only "
                         "additionalProperties: false is: a text may repeat a key, and its last value counts)")
    props, patterns = node.get("properties", {}), node.get("patternProperties", {})
    if not isinstance(props, dict) or not isinstance(patterns, dict):
        raise SchemaError("properties and patternProperties must be objects", pointer=kp, keyword=key)
    key_schema = {"type": "string"}
    if props:
        key_schema[NOT_ENUM] = list(props)
    if patterns:
        key_schema[NOT_PATTERN] = list(patterns)
    return _some_key(b, key_schema, kp)


def _neg_dependent_required(b, key, value, kp, seen, node, pointer):
    if not isinstance(value, dict):
        raise SchemaError(f"{key} must be an object", pointer=kp, keyword=key)
    out = []
    for a, names in value.items():
        if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
            raise SchemaError(f"{key} must map names to arrays of strings", pointer=ptr(kp, a), keyword=key)
        out += [[({"type": "object", "required": [a], "properties": {x: False}}, ptr(kp, a))]
                for x in dict.fromkeys(names) if x != a]
    return out


def _neg_dependent_schemas(b, key, value, kp, seen, node, pointer):
    if not isinstance(value, dict):
        raise SchemaError(f"{key} must be an object", pointer=kp, keyword=key)
    out = []
    for a, s in value.items():
        if isinstance(s, list):  # draft-07 array form: dependentRequired
            out += _neg_dependent_required(b, key, {a: s}, kp, seen, node, pointer)
            continue
        sp = ptr(kp, a)
        out += conjoin([[[({"type": "object", "required": [a]}, sp)]], b.negate(s, sp, seen)], sp, key)
    return out


#: The negators of this module, by keyword (merged into :data:`~corral.compile.json_schema.logic.NEGATORS`).
NEGATORS_OF_APPLICATORS = {
    "contains": _neg_contains,
    "minContains": _neg_contains_count,
    "maxContains": _neg_contains_count,
    "items": _neg_items,
    "additionalItems": _neg_additional_items,
    "prefixItems": _neg_prefix_items,
    "propertyNames": _neg_property_names,
    "patternProperties": _neg_pattern_properties,
    "additionalProperties": _neg_additional_properties,
    "dependentRequired": _neg_dependent_required,
    "dependentSchemas": _neg_dependent_schemas,
    "dependencies": _neg_dependent_schemas,
}
