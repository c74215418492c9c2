"""Pieces shared by the union-of-conjunctions rewriting (:mod:`~corral.compile.json_schema.logic`) and ``oneOf``
(:mod:`~corral.compile.json_schema.oneof`): the synthetic schema :class:`Sub`, the applicator keywords and limits,
the distribution of a conjunction over unions (:func:`conjoin`), the kinds of values each keyword restricts, the
intervals used to prove two schemas disjoint, and the check that a negation does not hinge on the compiler's textual
number semantics.
"""

from __future__ import annotations

from corral.compile.json_schema.vocab import BY_TYPE, NON_INTEGER, NOT_ENUM, NOT_MULTIPLE, NOT_PATTERN, PATTERNS
from corral.errors import SchemaError

__all__ = ["Sub", "COMBINATORS", "MAX_ALTERNATIVES", "EVERY_KIND", "RESTRICTS", "alternatives", "conjoin", "has_number",
           "number_sensitive", "checked_negation", "count_range", "number_range", "disjoint_ranges"]

COMBINATORS = frozenset({"allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref", "dependentSchemas",
                         "dependencies"})
MAX_ALTERNATIVES = 256


class Sub:
    """A synthetic schema: the conjunction (``"all"``), union (``"any"``) or negation (``"not"``) of located schemas.

    Parameters
    ----------
    kind : {"all", "any", "not"}
    parts : iterable of (schema, pointer)
    """

    __slots__ = ("kind", "parts")

    def __init__(self, kind: str, parts) -> None:
        self.kind = kind
        self.parts = tuple(parts)

    def __repr__(self) -> str:
        return f"Sub({self.kind!r}, {[p for _, p in self.parts]})"


def alternatives(b, node, pointer: str, key: str) -> tuple[list, list]:
    """The schemas of the applicator ``key`` of ``node`` (``allOf``, ``anyOf``, ``oneOf``: a non-empty array) and
    their pointers; ``b`` is the :class:`~corral.compile.json_schema.builder.Builder`."""
    alts = node[key]
    if not isinstance(alts, list) or not alts:
        raise SchemaError(f"{key} must be a non-empty array", pointer=b.kp(node, pointer, key), keyword=key)
    return alts, [b.kp(node, pointer, key, i) for i in range(len(alts))]


def conjoin(dnfs, pointer: str, keyword: str):
    """The union of conjunctions equivalent to the conjunction of unions of conjunctions ``dnfs`` (distributed).

    Raises SchemaError (unsupported, at ``pointer``, naming ``keyword``) beyond :data:`MAX_ALTERNATIVES`.
    """
    out = [[]]
    for d in dnfs:
        out = [a + b for a in out for b in d]
        if len(out) > MAX_ALTERNATIVES:
            raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives after distributing the applicators",
                              pointer=pointer, keyword=keyword, kind="unsupported")
    return out


# The kinds of JSON values the DNF distinguishes ("int" and "frac" split numbers), and the kinds each keyword restricts.
EVERY_KIND = frozenset({"null", "boolean", "object", "array", "string", "int", "frac"})
RESTRICTS = {**{k: {"array"} for k in BY_TYPE["array"]}, **{k: {"object"} for k in BY_TYPE["object"]},
              "minLength": {"string"}, "maxLength": {"string"}, "pattern": {"string"},
              PATTERNS: {"string"}, NOT_PATTERN: {"string"}, "format": {"string", "int", "frac"},
              **{k: {"int", "frac"} for k in BY_TYPE["integer"]}, "multipleOf": {"int", "frac"},
              NON_INTEGER: {"int", "frac"}, NOT_MULTIPLE: {"int", "frac"}}


def has_number(value) -> bool:
    """Whether a plain JSON value is or holds a number (booleans are not numbers)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if isinstance(value, list):
        return any(has_number(v) for v in value)
    if isinstance(value, dict):
        return any(has_number(v) for v in value.values())
    return False


def number_sensitive(node) -> bool:
    """Whether a negation result relies on the compiler's textual number semantics (``1.0`` is not an integer and
    differs from ``1``), where it differs from jsonschema's: ``NON_INTEGER`` or a ``NOT_ENUM`` holding a number."""
    if isinstance(node, Sub):
        return any(number_sensitive(n) for n, _ in node.parts)
    if not isinstance(node, dict):
        return False
    if NON_INTEGER in node or has_number(node.get(NOT_ENUM, [])):
        return True
    for key, value in node.items():
        if isinstance(value, Sub) and number_sensitive(value):
            return True
        if key in ("properties", "patternProperties") and isinstance(value, dict) and \
                any(number_sensitive(v) for v in value.values()):
            return True
        if isinstance(value, list) and key in ("prefixItems", "allOf", "anyOf", "oneOf") and \
                any(number_sensitive(v) for v in value):
            return True
        if key in ("items", "additionalProperties", "contains", "propertyNames", "not") and number_sensitive(value):
            return True
    return False


def checked_negation(dnf, pointer: str):
    """``dnf`` (a negation used by ``oneOf``), unless its exactness hinges on the textual number semantics."""
    if any(number_sensitive(n) for conj in dnf for n, _ in conj):
        raise SchemaError("the negation distinguishes integral floats from integers (1.0 from 1), unlike "
                          "jsonschema", pointer=pointer, keyword="oneOf", kind="unsupported")
    return dnf


def count_range(node, lo_key: str, hi_key: str, floor=0):
    """The interval ``[lo_key, hi_key]`` of a count keyword pair (``minItems``/``maxItems``...), lower bound at least
    ``floor``, as ``((lo, False), (hi, False) | None)`` for :func:`disjoint_ranges`."""
    lo, hi = node.get(lo_key, 0), node.get(hi_key)
    lo = lo if isinstance(lo, (int, float)) and not isinstance(lo, bool) else 0
    hi = hi if isinstance(hi, (int, float)) and not isinstance(hi, bool) else None
    return (max(lo, floor), False), ((hi, False) if hi is not None else None)


def number_range(*nodes):
    """The interval of the numbers the bounds of ``nodes`` (all together) allow, as
    ``((lo, exclusive) | None, (hi, exclusive) | None)`` for :func:`disjoint_ranges`."""
    lo = hi = None
    for node in nodes:
        for key, excl, lower in (("minimum", False, True), ("exclusiveMinimum", True, True),
                                 ("maximum", False, False), ("exclusiveMaximum", True, False)):
            v = node.get(key)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue
            if lower and (lo is None or v > lo[0] or (v == lo[0] and excl)):
                lo = (v, excl)
            if not lower and (hi is None or v < hi[0] or (v == hi[0] and excl)):
                hi = (v, excl)
    return lo, hi


def disjoint_ranges(ra, rb) -> bool:
    """Whether two intervals ((lo, exclusive) | None, (hi, exclusive) | None) share no point."""
    def below(hi, lo):  # every point <= hi lies below every point >= lo
        return hi is not None and lo is not None and (hi[0] < lo[0] or (hi[0] == lo[0] and (hi[1] or lo[1])))

    return below(ra[1], rb[0]) or below(rb[1], ra[0])
