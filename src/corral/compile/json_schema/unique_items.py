"""``uniqueItems`` over a finite item language, for the array branch (:mod:`~corral.compile.json_schema.arrays`).

Distinct items are not context-free in general, but when every item takes one of finitely many values the arrays
of distinct items are a finite language: the grammar tracks the set of values used so far (one nonterminal per
subset, so at most :data:`MAX_UNIQUE_TRANSITIONS` rules, that is 12 values, or more under a small ``maxItems``).

Uniqueness is jsonschema's (``jsonschema._utils.uniq``): ``1 == 1.0`` (and ``0 == -0.0``), ``true != 1``, objects
equal whatever their key order, arrays element by element. The candidate values of an item schema come from the
``enum``/``const`` of each conjunction of its union of conjunctions (or ``null``/``true``/``false`` for a
conjunction of those types, :func:`finite_values`); they are grouped by that equality (:func:`group_values`), and
each group's texts are the item schema conjoined with ``enum: group``, so every spelling the grammar allows for a
value (``1`` and ``1.0`` with ``integral_floats``, keys in any order, whitespace) counts as that one value.
"""

from __future__ import annotations

from math import comb

from corral.compile.json_schema.vocab import type_of

__all__ = ["MAX_UNIQUE_TRANSITIONS", "finite_values", "group_values", "value_key", "unique_transitions"]

#: The most (subset of values used, next value) pairs an array with ``uniqueItems`` may have: 12 values with no
#: ``maxItems`` (``12 * 2**11``), more values when ``maxItems`` keeps the subsets small.
MAX_UNIQUE_TRANSITIONS = 12 * 2 ** 11


def value_key(v):
    """A hashable key of a JSON value, equal for two values iff jsonschema's uniqueness counts them equal
    (numbers by value, ``1 == 1.0`` but ``true != 1``; objects whatever their key order)."""
    if isinstance(v, bool) or v is None:
        return ("c", v)
    if isinstance(v, (int, float)):
        return ("n", v)  # int and float hash and compare by value (1 == 1.0, hash(1) == hash(1.0))
    if isinstance(v, str):
        return ("s", v)
    if isinstance(v, list):
        return ("a", tuple(value_key(x) for x in v))
    if isinstance(v, dict):
        return ("o", frozenset((k, value_key(x)) for k, x in v.items()))
    raise TypeError(type(v).__name__)


def group_values(values) -> list[list]:
    """``values`` grouped by jsonschema equality (:func:`value_key`), in order of first occurrence."""
    groups: dict = {}
    for v in values:
        groups.setdefault(value_key(v), []).append(v)
    return list(groups.values())


def _atom_values(b, atom: dict, pointer: str):
    """A finite superset of the values the applicator-free ``atom`` allows, or None if it allows infinitely many."""
    from corral.compile.json_schema.checks import node_types

    types = node_types(b, atom, pointer)
    if "enum" in atom or "const" in atom:
        values = list(atom["enum"]) if isinstance(atom.get("enum"), list) else []
        if "const" in atom:
            values = [atom["const"]] if "enum" not in atom else [v for v in values
                                                                  if value_key(v) == value_key(atom["const"])]
        allowed = set(types) | ({"integer", "number"} if {"integer", "number"} & set(types) else set())
        return [v for v in values if type_of(v) in allowed]  # a superset: any number beside integer
    if set(types) <= {"null", "boolean"}:
        return ([None] if "null" in types else []) + ([True, False] if "boolean" in types else [])
    return None


def finite_values(b, node, pointer: str):
    """A finite superset of the values the schema ``node`` (at ``pointer``) allows, or None where it allows
    infinitely many (or where that is not evident: only ``enum``/``const``, ``null`` and ``boolean`` are finite).

    The schema is rewritten into its union of conjunctions and each conjunction merged (as for compiling it), so
    ``$ref``, ``anyOf``, ``allOf`` with an ``enum`` part and ``not`` are followed.
    """
    from corral.compile.json_schema import merge

    if node is True:
        return None
    if node is False:
        return []
    out = []
    for parts in b.expand(node, pointer):
        merged = merge.merge_or_false(b, parts, pointer)
        if merged is None or merged is False:
            continue
        values = _atom_values(b, merged, pointer)
        if values is None:
            return None
        out += values
    return out


def unique_transitions(n: int, hi: int | None, limit: int | None = None) -> int:
    """The (subset of used values, next value) pairs of arrays of distinct values among ``n``, at most ``hi``
    items (None: no bound); counting stops past ``limit`` (then the result is only known to exceed it)."""
    top = n if hi is None else min(hi, n)
    total = 0
    for s in range(top):
        total += comb(n, s) * (n - s)
        if limit is not None and total > limit:
            break
    return total
