"""Keyword checks of the JSON Schema compiler: known and supported keywords, and the values of the keywords an
applicator-free schema compiles (:data:`KEYWORD_CHECKS`, one small function per keyword)."""

from __future__ import annotations

import math

from corral.compile.json_schema.vocab import (BY_TYPE, KNOWN, MAX_COUNT, SUPPORTED, TYPES, is_annotation,
                                              is_extension, suggest_keyword)
from corral.errors import SchemaError

__all__ = ["check_keywords", "unknown_keyword", "count", "validate_keywords", "node_types", "KEYWORD_CHECKS"]


def check_keywords(b, node: dict, pointer: str) -> None:
    """Refuse the known keywords of ``node`` that are not supported and malformed ``$defs``; record (or, with
    ``strict_keywords``, refuse) the unknown ones (:func:`unknown_keyword`)."""
    for key in node:
        if not isinstance(key, str):
            continue
        if key not in KNOWN:
            unknown_keyword(b, node, pointer, key)
        elif key not in SUPPORTED and not is_annotation(key):
            raise SchemaError(f"keyword {key!r} is not supported", pointer=b.kp(node, pointer, key), keyword=key,
                              kind="unsupported")
    for key in ("$defs", "definitions"):
        if key in node and not isinstance(node[key], dict):
            raise SchemaError(f"{key} must be an object", pointer=b.kp(node, pointer, key), keyword=key)


def unknown_keyword(b, node: dict, pointer: str, key: str) -> None:
    """Record (or, with ``strict_keywords``, refuse) the unknown keyword ``key`` of ``node``.

    An unknown keyword is an annotation. One that looks like a misspelt known keyword is recorded in ``b.typos``
    for the :class:`~corral.compile.json_schema.compiler.SchemaKeywordWarning`; with ``strict_keywords``, every one
    raises, except the conventional extensions (``x-...``, ``discriminator``).
    """
    where = b.kp(node, pointer, key)
    guess = suggest_keyword(key, node[key], b.by_draft)
    if b.options.strict_keywords and not is_extension(key):
        hint = f" (did you mean {guess!r}?)" if guess else ""
        raise SchemaError(f"unknown keyword {key!r}{hint} (strict_keywords=True)", pointer=where, keyword=key,
                          kind="invalid")
    if guess is not None:
        b.typos.setdefault(where, (key, guess))


def count(b, node, pointer: str, key: str, default=None):
    """The value of the count keyword ``key`` (``minItems``, ``maxLength``, ...) of ``node``, or ``default``.

    Raises SchemaError: ``invalid`` unless a non-negative integer; ``unsupported`` above :data:`MAX_COUNT` (except
    ``maxItems`` and ``maxLength``).
    """
    if key not in node:
        return default
    v = node[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0 or (isinstance(v, float) and not v.is_integer()):
        raise SchemaError(f"{key} must be a non-negative integer", pointer=b.kp(node, pointer, key), keyword=key)
    v = int(v)
    if v > MAX_COUNT and key not in ("maxItems", "maxLength", "minLength"):
        raise SchemaError(f"{key} above {MAX_COUNT} is not supported", pointer=b.kp(node, pointer, key), keyword=key,
                          kind="unsupported")
    return v


_MAX_OF = {"minItems": "maxItems", "minLength": "maxLength", "minProperties": "maxProperties"}


def _check_count(b, node, pointer, key) -> None:
    count(b, node, pointer, key)


def _check_at_most_max(b, node, pointer, key) -> None:
    hi = _MAX_OF[key]
    if hi in node and node[key] > node[hi]:
        raise SchemaError(f"{key} > {hi}", pointer=b.kp(node, pointer, key), keyword=key, kind="unsatisfiable")


def _check_number(b, node, pointer, key) -> None:
    v = node[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
        raise SchemaError(f"{key} must be a number", pointer=b.kp(node, pointer, key), keyword=key)


def _check_string(b, node, pointer, key) -> None:
    if not isinstance(node[key], str):
        raise SchemaError(f"{key} must be a string", pointer=b.kp(node, pointer, key), keyword=key)


def _check_required(b, node, pointer, key) -> None:
    req = node[key]
    if not isinstance(req, list) or not all(isinstance(r, str) for r in req) or len(set(req)) != len(req):
        raise SchemaError("required must be an array of distinct strings", pointer=b.kp(node, pointer, key),
                          keyword=key)


def _check_properties(b, node, pointer, key) -> None:
    if not isinstance(node[key], dict):
        raise SchemaError("properties must be an object", pointer=b.kp(node, pointer, key), keyword=key)


def _check_prefix_items(b, node, pointer, key) -> None:
    if not isinstance(node[key], list) or not node[key]:
        raise SchemaError("prefixItems must be a non-empty array", pointer=b.kp(node, pointer, key), keyword=key)


#: ``(keyword, check)`` run in this order on every applicator-free schema that is not an ``enum``/``const`` (the
#: first failing check names the error), for each keyword present; ``check(b, node, pointer, keyword)`` raises.
KEYWORD_CHECKS = (
    *((k, _check_count) for k in ("minItems", "maxItems", "minLength", "maxLength", "minProperties",
                                  "maxProperties")),
    *((k, _check_at_most_max) for k in _MAX_OF),
    *((k, _check_number) for k in BY_TYPE["integer"]),
    ("format", _check_string),
    ("pattern", _check_string),
    ("required", _check_required),
    ("properties", _check_properties),
    ("prefixItems", _check_prefix_items),
)


def validate_keywords(b, node, pointer: str) -> None:
    """Run :data:`KEYWORD_CHECKS` on ``node``."""
    for key, check in KEYWORD_CHECKS:
        if key in node:
            check(b, node, pointer, key)


def node_types(b, node: dict, pointer: str) -> list[str]:
    """The types ``node`` allows, in :data:`~corral.compile.json_schema.vocab.TYPES` order for a missing ``type``
    (``integer`` dropped beside ``number``)."""
    if "type" not in node:
        return [t for t in TYPES if t != "integer"]
    t = node["type"]
    ts = [t] if isinstance(t, str) else t
    if (not isinstance(ts, list) or not ts or len(set(map(repr, ts))) != len(ts)
            or not all(isinstance(x, str) and x in TYPES for x in ts)):
        raise SchemaError(f"invalid type {t!r}", pointer=b.kp(node, pointer, "type"), keyword="type")
    if "number" in ts and "integer" in ts:
        ts = [x for x in ts if x != "integer"]
    return ts
