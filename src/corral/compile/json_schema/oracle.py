"""A validator with the compiler's semantics, to filter ``enum``/``const`` values (and ``propertyNames`` values)
by the other keywords of their schema: a value is kept iff its JSON text, as the grammar spells it, is valid, so this
is jsonschema's own semantics (``1 == 1.0`` for ``enum``/``const``, also under ``not``; ``1.0`` is an integer from
draft-06 on, and not under a draft-04 ``$schema``), with the compiler's exact translations of ``pattern`` and
``format`` (the language the compiler gives them).
"""

from __future__ import annotations

import json
import re

from corral.compile.json_schema import formats as fmt
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.regexes import PatternUnsupported
from corral.compile.json_schema.vocab import (NON_INTEGER, NOT_ENUM, NOT_FORMAT, NOT_MULTIPLE, NOT_PATTERN, PATTERNS,
                                              SOME_KEY)
from corral.errors import SchemaError

__all__ = ["instance_valid"]


def instance_valid(b, rest: dict, pointer: str, value, node) -> bool:
    """Whether ``value`` satisfies the applicator-free keywords ``rest`` of ``node`` (compiler semantics).

    Raises SchemaError (unsupported) when ``rest`` cannot be written as a plain schema (a ``$ref``, or a keyword
    merged from an ``allOf`` into a synthetic schema).
    """
    plain = _plain(rest)
    if plain is None:
        key = next(iter(rest))
        raise SchemaError(f"enum/const together with {key!r} is not supported",
                          pointer=b.kp(node, pointer, key) if isinstance(key, str) else pointer,
                          keyword=key if isinstance(key, str) else "enum", kind="unsupported")
    name = rest.get("format") if isinstance(rest, dict) else None
    if name is not None and not fmt.is_known_format(name):
        from corral.compile.json_schema.strings import format_content

        format_content(b, node, pointer, name)  # an annotation (recorded for the warning), or strict's error
    try:
        return _oracle(plain, getattr(b, "draft", None) in ("draft-03", "draft-04")).is_valid(value)
    except PatternUnsupported as exc:
        raise SchemaError(f"a pattern beside enum/const cannot be compiled exactly: {exc}", pointer=pointer,
                          keyword="pattern", kind="unsupported") from None


def _plain(node):
    """``node`` as a plain JSON schema (internal keywords spelled with ``not``/``allOf``), None if it cannot be."""
    if isinstance(node, bool):
        return node
    if isinstance(node, Sub) and getattr(node, "original", None) is not None:  # negations.Negated
        inner = _plain(node.original[0])
        return None if inner is None else {"not": inner}
    if isinstance(node, Sub) and node.kind in ("all", "any", "not"):  # a synthetic conjunction, union, negation
        parts = [_plain(s) for s, _ in node.parts]
        if any(p is None for p in parts):
            return None
        return {"not": parts[0]} if node.kind == "not" and len(parts) == 1 else \
            {"allOf": parts} if node.kind == "all" else {"anyOf": parts} if node.kind == "any" else None
    if not isinstance(node, dict):
        return None
    out: dict = {}
    extra = []
    for k, v in node.items():
        if k == "$ref" or k == "$dynamicRef":
            return None
        if k == NOT_ENUM:
            extra.append({"not": {"enum": v}})
        elif k == NOT_PATTERN:
            extra += [{"not": {"pattern": p}} for p in v]
        elif k == NOT_FORMAT:
            extra += [{"not": {"format": f}} for f in v]
        elif k == PATTERNS:
            extra += [{"pattern": p} for p in v]
        elif k == NON_INTEGER:
            extra.append({"not": {"type": "integer"}})
        elif k == NOT_MULTIPLE:
            extra += [{"not": {"multipleOf": m}} for m in v]
        elif k == SOME_KEY:  # some key satisfies each string schema (negations.py)
            keys = [_plain(r) for r in v]
            if any(r is None for r in keys):
                return None
            extra += [{"not": {"propertyNames": {"not": r}}} for r in keys]
        elif k in ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas"):
            if not isinstance(v, dict):
                return None
            sub = {}
            for name, s in v.items():
                p = _plain(s)
                if p is None:
                    return None
                sub[name] = p
            out[k] = sub
        elif k in ("items", "additionalProperties", "additionalItems", "contains", "propertyNames", "not", "if",
                   "then", "else") and not isinstance(v, list):
            p = _plain(v)
            if p is None:
                return None
            out[k] = p
        elif k in ("allOf", "anyOf", "oneOf", "prefixItems", "items"):
            ps = [_plain(s) for s in v] if isinstance(v, list) else None
            if ps is None or any(p is None for p in ps):
                return None
            out[k] = ps
        elif isinstance(k, str):
            out[k] = v
        else:
            return None
    if extra:
        out = {**out, "allOf": list(out.get("allOf", [])) + extra}
    return _in_2020_12(out)


def _in_2020_12(out: dict):
    """``out`` with the draft-07 spellings the compiler accepts rewritten for the draft 2020-12 validator: array
    ``items`` (+ ``additionalItems``) as ``prefixItems`` (+ ``items``), ``dependencies`` as ``dependentRequired`` /
    ``dependentSchemas``; None where a dependency schema cannot be written plainly."""
    if isinstance(out.get("items"), list):
        out["prefixItems"] = out.pop("items")
        if "additionalItems" in out:
            out["items"] = out.pop("additionalItems")
    out.pop("additionalItems", None)  # without array items it applies to nothing
    deps = out.pop("dependencies", None)
    if isinstance(deps, dict):
        for name, dep in deps.items():
            if isinstance(dep, list):
                out["dependentRequired"] = {**out.get("dependentRequired", {}), name: dep}
            else:
                plain = _plain(dep)
                if plain is None:
                    return None
                out["dependentSchemas"] = {**out.get("dependentSchemas", {}), name: plain}
    return out


_ORACLES: dict = {}


def _oracle(schema, draft04: bool = False):
    """A validator of ``schema`` with the compiler's semantics (one class per integer semantics, built once)."""
    cls = _ORACLES.get(draft04)
    if cls is None:
        import jsonschema
        from jsonschema import validators
        from corral.compile.json_schema import regexes as rx

        def _d(x):
            return json.dumps(x, separators=(",", ":"), ensure_ascii=False)

        def pattern(validator, p, instance, schema):
            if isinstance(instance, str) and not re.fullmatch(rx.pattern_regex(p), _d(instance)[1:-1]):
                yield jsonschema.ValidationError("pattern")

        def format_(validator, name, instance, schema):
            if isinstance(instance, str):
                regex = fmt.format_regex(name, rx.UNIT)
                if regex is None and not fmt.is_known_format(name):
                    return  # an unknown format is an annotation (instance_valid warned, or refused it if strict)
                if regex is None or not re.fullmatch(regex, _d(instance)[1:-1]):
                    yield jsonschema.ValidationError("format")

        checker = jsonschema.Draft202012Validator.TYPE_CHECKER
        if draft04:  # Draft4Validator's integers: no float, even an integral one
            checker = checker.redefine("integer", lambda c, x: isinstance(x, int) and not isinstance(x, bool))
        cls = _ORACLES[draft04] = validators.extend(jsonschema.Draft202012Validator,
                                                    {"pattern": pattern, "format": format_}, type_checker=checker)
    return cls(schema)
