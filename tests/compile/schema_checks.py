"""Shared checks of compiled JSON schemas against the validator (printable-byte vocabulary of test_json_schema by
default): ``cg_for`` compiles once per (vocabulary, schema, options), ``accepted`` reads an instance in some key
order (or exactly as dumped), ``mismatches`` lists the instances where acceptance and validity differ."""

from __future__ import annotations

import json

import jsonschema

from corral.compile.json_schema import schema_to_grammar
from corral.runtime.matcher import CompiledGrammar
from test_json_schema import VOCAB, _dump, n_orderings, oracle, orderings

#: The exact-validation options (any key order, integral floats as integers).
EXACT = {"property_order": "any", "integral_floats": True}

_CACHE: dict = {}


def cg_for(schema, vocab=VOCAB, **options) -> CompiledGrammar:
    """``schema``'s compiled grammar over ``vocab`` (default: test_json_schema's) with ``options`` (cached)."""
    key = (id(vocab), json.dumps([schema, sorted(options.items())], sort_keys=True, default=str))
    if key not in _CACHE:
        _CACHE[key] = CompiledGrammar(schema_to_grammar(schema, **options), vocab)
    return _CACHE[key]


def accepted(cg: CompiledGrammar, x, exact: bool) -> bool:
    """Whether ``cg`` accepts ``x`` (default options: in some key order; exact: as dumped)."""
    if exact:
        return cg.accepts(_dump(x).encode())
    assert n_orderings(x) <= 5000
    return any(cg.accepts(_dump(v).encode()) for v in orderings(x))


def mismatches(schema, instances, exact: bool = False, compiled=None) -> list:
    """The instances where acceptance by ``compiled`` (default: ``schema``'s grammar) differs from validity."""
    check = jsonschema.Draft202012Validator(schema) if exact else oracle(schema)
    cg = compiled or cg_for(schema, **(EXACT if exact else {}))
    return [x for x in instances if accepted(cg, x, exact) != check.is_valid(x)]
