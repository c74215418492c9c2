"""The instances equal to none of some values (a negated ``enum``/``const``), as a union of conjunctions: the scalars
by the internal ``NOT_ENUM``, each array or object value by how an instance may differ from it (:func:`_differs`;
``NOT_ENUM`` alone only excludes scalars), of any kind or of a context's kinds.
"""

from __future__ import annotations

from corral.compile.json_schema.disjoint import Context
from corral.compile.json_schema.dnf import EVERY_KIND, Sub
from corral.compile.json_schema.dnf_product import kinds_dnf, product
from corral.compile.json_schema.vocab import NOT_ENUM, SOME_KEY

__all__ = ["excluded_values"]


def excluded_values(b, values: list, kp: str, ctx: Context | None = None):
    """The union of conjunctions of the instances equal to none of ``values`` (a negated ``enum``/``const``), any
    kind: the scalars by the internal ``NOT_ENUM``, each array or object value by how an instance may differ from
    it (:func:`_differs`; ``NOT_ENUM`` alone only excludes scalars). With a context ``ctx``, an array or object
    instance only differs from a value as the instances of the context may."""
    scalars = [v for v in values if not isinstance(v, (list, dict))]
    factors = [[[({NOT_ENUM: scalars}, kp)]]] if scalars else []
    factors += [_differs(v, kp, ctx) for v in values if isinstance(v, (list, dict))]
    return product(b, factors, kp)


def _differs(value, kp: str, ctx: Context | None):
    """The instances (of the context, when given) that differ from the array or object ``value``: another kind; an
    array of another length or with an item that differs (a one-item array: ``items``, else ``prefixItems``); an
    object without a key of ``value``, with a value that differs, or with another key (a key the context allows,
    else the internal ``SOME_KEY`` over the other names: ``minProperties`` would be inexact beside open keys)."""
    kind = "array" if isinstance(value, list) else "object"
    out = kinds_dnf((ctx.kinds if ctx is not None else EVERY_KIND) - {kind}, kp)
    if isinstance(value, list):
        n = len(value)
        out += [[({"type": "array", "minItems": n + 1}, kp)]] + ([[({"type": "array", "maxItems": n - 1}, kp)]]
                                                                 if n else [])
        for i, v in enumerate(value):
            item = _other_than(v, kp)
            atom = {"type": "array", "minItems": 1, "maxItems": 1, "items": item} if n == 1 else \
                {"type": "array", "minItems": n, "prefixItems": [True] * i + [item]}
            out.append([(atom, kp)])
        return out
    for k, v in value.items():
        out.append([({"type": "object", "properties": {k: _other_than(v, kp)}}, kp)])
    names = ctx.names if ctx is not None else None
    if names is None:  # another key: minProperties would be inexact beside open keys (a text may repeat a key)
        other = {"type": "object", SOME_KEY: [{"type": "string", NOT_ENUM: list(value)}]} if value else \
            {"type": "object", "minProperties": 1}
        out.append([(other, kp)])
    else:
        out += [[({"type": "object", "required": [n]}, kp)] for n in sorted(names - set(value))]
    return out


def _other_than(value, kp: str):
    """A schema for the values other than ``value``."""
    if not isinstance(value, (list, dict)):
        return Sub("all", [({NOT_ENUM: [value]}, kp)])
    return Sub("any", [(Sub("all", conj), kp) for conj in _differs(value, kp, None)])
