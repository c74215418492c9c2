"""Non-integer multipleOf without two bounds: exact decimal multiples as a digit automaton (issue 17).

Dyadic values (0.25, 1.5, 0.125, 2.5) are always compiled and agree with jsonschema's float test on every generated
text; the others (0.01, 0.3, 2.5e-3) need ``decimal_multiple_of=True`` and follow exact decimal divisibility.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal

import jsonschema
import pytest

from corral.compile.json_schema import builder, decimal_multiples as dm, schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([None] + [bytes([b]) for b in range(32, 127)], eos_token_ids=[0])
DYADIC = [0.25, 1.5, 0.125, 2.5]
DECIMAL = [0.01, 0.3, 2.5e-3]
BOUNDS = [{}, {"minimum": 0}, {"exclusiveMaximum": 7.5}, {"exclusiveMinimum": -3}]


@pytest.fixture
def decimal_option(monkeypatch):
    monkeypatch.setattr(builder.Options, "decimal_multiple_of", True, raising=False)


def _in_bounds(node, v: Decimal) -> bool:
    d = {k: Decimal(repr(x)) if isinstance(x, float) else Decimal(x) for k, x in node.items()
         if k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")}
    return (("minimum" not in d or v >= d["minimum"]) and ("maximum" not in d or v <= d["maximum"])
            and ("exclusiveMinimum" not in d or v > d["exclusiveMinimum"])
            and ("exclusiveMaximum" not in d or v < d["exclusiveMaximum"]))


def _expected(schema, text: str) -> bool:
    """The documented language: a plain text within the bounds, an exact decimal multiple, below the cap."""
    k = schema["multipleOf"]
    v = Decimal(text)
    if schema["type"] == "integer" and ("." in text or text == "-0"):
        return False
    if not _in_bounds(schema, v) or v % Decimal(repr(k)) != 0:
        return False
    a = dm.dyadic_exponent(k)
    return a is None or abs(v) < Decimal(2) ** (53 - a)


def _texts(rng: random.Random, k: float, n: int = 400) -> list[str]:
    """Random plain number texts, half of them multiples of ``k`` (some with trailing zeros)."""
    m = Decimal(repr(k))
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            v = m * rng.randint(-10 ** rng.randint(0, 6), 10 ** rng.randint(0, 6))
            t = format(v, "f")
            if rng.random() < 0.3:
                t += ("" if "." in t else ".") + "0" * rng.randint(1, 3)
        else:
            t = str(rng.randint(0, 10 ** rng.randint(0, 6)))
            if rng.random() < 0.7:
                t += "." + "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 5)))
            t = rng.choice(["", "-"]) + t
        if t in ("-0",) or t.startswith("-0") and set(t[1:]) <= {"0", "."} and "." not in t:
            continue
        out.append(t)
    return out


def _check(schema, texts) -> list[str]:
    cg = CompiledGrammar(schema_to_grammar(schema, whitespace="compact"), VOCAB)
    return [t for t in texts if cg.accepts(t.encode()) != _expected(schema, t)]


@pytest.mark.parametrize("k", DYADIC)
@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("typ", ["number", "integer"])
def test_dyadic_exact_and_agrees_with_jsonschema(k, bounds, typ):
    schema = {"type": typ, "multipleOf": k, **bounds}
    texts = _texts(random.Random(f"{k}{bounds}{typ}"), k)
    assert _check(schema, texts) == []
    cg = CompiledGrammar(schema_to_grammar(schema, whitespace="compact"), VOCAB)
    validator = jsonschema.Draft202012Validator(schema)
    for t in texts:  # soundness against jsonschema's float arithmetic
        if cg.accepts(t.encode()):
            assert validator.is_valid(json.loads(t)), t


@pytest.mark.parametrize("k", DECIMAL)
@pytest.mark.parametrize("bounds", BOUNDS)
@pytest.mark.parametrize("typ", ["number", "integer"])
def test_decimal_semantics_with_option(decimal_option, k, bounds, typ):
    schema = {"type": typ, "multipleOf": k, **bounds}
    assert _check(schema, _texts(random.Random(f"{k}{bounds}{typ}"), k)) == []


@pytest.mark.parametrize("k", DECIMAL)
def test_non_dyadic_refused_by_default(k):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"type": "number", "multipleOf": k, "minimum": 0})
    assert (info.value.kind, info.value.pointer) == ("unsupported", "/multipleOf")


def test_fixed_cases(decimal_option):
    s = {"type": "number", "multipleOf": 0.01}
    cg = CompiledGrammar(schema_to_grammar(s, whitespace="compact"), VOCAB)
    for t, ok in [("0.07", True), ("599.99", True), ("599.995", False), ("0.10", True), ("1.000", True),
                  ("-12.3", True), ("1.001", False), ("1e2", False), ("-0.0", True)]:
        assert cg.accepts(t.encode()) == ok, t
    cg = CompiledGrammar(schema_to_grammar({"type": "integer", "multipleOf": 0.5}, whitespace="compact"), VOCAB)
    assert all(cg.accepts(str(n).encode()) for n in (-7, 0, 1, 12345)) and not cg.accepts(b"1.5")
    cg = CompiledGrammar(schema_to_grammar({"type": "integer", "multipleOf": 0.3}, whitespace="compact"), VOCAB)
    assert cg.accepts(b"3") and cg.accepts(b"-30") and not cg.accepts(b"1")


@pytest.mark.parametrize("wrong", ["modulus", "scale"])
def test_wrong_automaton_is_caught(monkeypatch, decimal_option, wrong):
    real = dm.decimal_parts

    def broken(k):
        p, s = real(k)
        return (p + 1, s) if wrong == "modulus" else (p, max(s - 1, 0))

    monkeypatch.setattr(dm, "decimal_parts", broken)
    found = 0
    for k in (0.25, 0.3, 0.01):
        schema = {"type": "number", "multipleOf": k}
        found += len(_check(schema, _texts(random.Random(str(k)), k)))
    assert found > 0


@pytest.mark.parametrize("schema", [{"type": "number", "multipleOf": 0.25, "minimum": 0},
                                    {"type": "number", "multipleOf": 1.5},
                                    {"type": "integer", "multipleOf": 2.5, "maximum": 100}])
def test_examples_validate(schema):
    from corral.authoring import examples

    validator = jsonschema.Draft202012Validator(schema)
    outs = examples(schema_to_grammar(schema), 20, seed=0)
    assert outs and all(validator.is_valid(json.loads(o)) for o in outs)


def test_generation_validates():
    import corral

    schema = {"type": "number", "multipleOf": 0.25, "minimum": 0}
    validator = jsonschema.Draft202012Validator(schema)
    for s in range(3):
        r = corral.generate("Price:", schema=schema, seed=s, max_tokens=12)
        assert r.status == "complete" and validator.is_valid(json.loads(r.text)), r.text
