"""Unions of conjunctions for ``oneOf`` and the negations it takes: the conjunction of several unions distributed
with the conjunctions they share factored out (:func:`product`), and the union of the instances of some kinds
(:func:`kinds_dnf`).
"""

from __future__ import annotations

from corral.compile.json_schema.dnf import MAX_ALTERNATIVES, Sub, conjoin
from corral.errors import SchemaError

__all__ = ["product", "kinds_dnf"]


def kinds_dnf(kinds, pointer: str):
    """A union of conjunctions of the instances of the given kinds (``int`` alone: ``integer``)."""
    types = [t for t in ("null", "boolean", "object", "array", "string") if t in kinds]
    if "frac" in kinds:
        types.append("number")
    elif "int" in kinds:
        types.append("integer")
    return [[({"type": types}, pointer)]] if types else []


def _key(value):
    """A hashable key of a plain or synthetic schema value (synthetic schemas by identity)."""
    if isinstance(value, dict):
        return ("d",) + tuple(sorted((repr(k), _key(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return ("l",) + tuple(_key(v) for v in value)
    if isinstance(value, Sub):
        return ("s", id(value))
    return ("v", repr(value))


def _conj_key(b, conj):
    """A hashable key of a conjunction: its atoms' values and the base URIs their references resolve against."""
    return tuple(sorted((_key(atom), b.refs.base_for(p)) for atom, p in conj))


def product(b, factors, pointer: str):
    """The union of conjunctions equivalent to the conjunction of the unions ``factors`` (``b``: the builder), with
    a conjunction that several factors share taken out first (``(c ∨ X) ∧ (c ∨ Y) = c ∨ (X ∧ Y)``): the plain
    distribution (:func:`~corral.compile.json_schema.dnf.conjoin`) of ten negations of two or three cases each is
    beyond any limit, while they often share a case (the same discriminating property present).

    Raises SchemaError (unsupported, at ``pointer``) beyond :data:`~corral.compile.json_schema.dnf.MAX_ALTERNATIVES`.
    """
    if any(not f for f in factors):
        return []
    factors = [f for f in factors if all(c for c in f)]  # a factor holding the empty conjunction is true
    if len(factors) < 2:
        return [list(c) for c in factors[0]] if factors else [[]]
    keyed = [{_conj_key(b, c): c for c in f} for f in factors]
    counts: dict = {}
    for f in keyed:
        for k in f:
            counts[k] = counts.get(k, 0) + 1
    k, n = max(counts.items(), key=lambda kv: (kv[1], -len(kv[0])))
    if n < 2:
        return conjoin(factors, pointer, "oneOf")
    shared = next(f[k] for f in keyed if k in f)
    holding = [[c for ck, c in f.items() if ck != k] for f in keyed if k in f]
    others = [list(f.values()) for f in keyed if k not in f]
    out = [list(shared) + c for c in product(b, others, pointer)] if others else [list(shared)]
    out += product(b, holding + others, pointer)
    if len(out) > MAX_ALTERNATIVES:
        raise SchemaError(f"more than {MAX_ALTERNATIVES} alternatives after distributing the negations",
                          pointer=pointer, keyword="oneOf", kind="unsupported")
    return out
