"""Compile budgets (issue 14, :mod:`corral.budget`): hostile schemas, grammars and regexes either compile or fail
with a ``too_complex`` error naming where, soon after the budget runs out, and the memory they took is released.

Timing here is coarse on purpose (a budget of 0.3 s must stop within 5 s: the promise made for every MaskBench
schema); the speed of compilation itself is measured in ``benchmarks/``, not asserted.
"""

from __future__ import annotations

import gc
import time
import tracemalloc

import pytest

import corral
from corral.budget import BudgetExceeded, CompileBudget, budget_scope, checkpoint, current_budget
from corral.compile.grammar import Grammar
from corral.compile.json_schema import schema_to_grammar
from corral.errors import GrammarError, SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
STOP_WITHIN = 5.0  # seconds: a 0.3 s budget must end the call well before this


def _nested(depth: int) -> dict:
    root = node = {}
    for _ in range(depth):
        node["items"] = {}
        node = node["items"]
    node["type"] = "integer"
    return root


# name -> (schema, the keyword a too_complex error must name, its pointer; None: not checked)
HOSTILE_SCHEMAS = {
    "pattern whose language explodes": ({"type": "string", "pattern": "^(a|b)*a(a|b){20}$"},
                                        "pattern", "/pattern"),
    "unanchored pattern with a 2^17-state DFA": ({"type": "string", "pattern": "(a|b)*a(a|b){16}"}, "pattern",
                                                 "/pattern"),
    "many patterned properties": ({"type": "object", "properties": {
        f"p{i}": {"type": "string", "pattern": f"^x{i}[a-z]+[0-9]{{2,9}}$"} for i in range(3000)}},
        ("pattern", "properties"), None),
    "huge enum": ({"enum": list(range(300_000))}, "enum", "/enum"),
    "long $ref chain": ({"$defs": {f"d{i}": {"$ref": f"#/$defs/d{i + 1}"} for i in range(3000)}
                         | {"d3000": {"type": "integer"}}, "$ref": "#/$defs/d0"}, None, None),
    "deep nesting": (_nested(5000), None, None),
}


@pytest.mark.parametrize("name", list(HOSTILE_SCHEMAS))
def test_a_hostile_schema_fails_fast_with_a_location(name):
    schema, keyword, pointer = HOSTILE_SCHEMAS[name]
    start = time.perf_counter()
    with pytest.raises(SchemaError) as info:
        CompiledGrammar(schema_to_grammar(schema, compile_budget=0.3), VOCAB, compile_budget=0.3)
    elapsed = time.perf_counter() - start
    assert info.value.kind == "too_complex", info.value
    assert elapsed < STOP_WITHIN, f"{name}: {elapsed:.1f} s"
    if keyword is not None:
        assert info.value.keyword in ((keyword,) if isinstance(keyword, str) else keyword), info.value
    if pointer is not None:
        assert info.value.pointer == pointer, info.value


def test_generate_reports_the_budget_through_its_option():
    """``generate(compile_budget=...)``: one budget over the schema compile and the token tables."""
    schema = HOSTILE_SCHEMAS["pattern whose language explodes"][0]
    with pytest.raises(SchemaError) as info:
        corral.generate("x", schema=schema, compile_budget=0.3, max_tokens=2)
    assert info.value.kind == "too_complex" and info.value.keyword == "pattern"


def test_a_larger_budget_gets_through():
    """The same schema compiles when the budget allows it (a budget, not a refusal)."""
    schema = {"enum": list(range(3000))}
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema, compile_budget=1e-6)
    assert info.value.kind == "too_complex"
    assert CompiledGrammar(schema_to_grammar(schema, compile_budget=60), VOCAB).matcher().mask().any()


def test_lark_terminal_over_the_state_budget_names_its_line():
    text = 'start: "x" BIG\nBIG: /(a|b)*a(a|b){14}/\n'
    assert Grammar.from_lark(text, compile_budget={"seconds": 60, "states": 100_000})
    with pytest.raises(GrammarError) as info:
        Grammar.from_lark(text, compile_budget={"seconds": 60, "states": 1000})
    assert info.value.kind == "too_complex" and info.value.line == 2, info.value


def test_schema_terminal_over_the_budget_is_a_schema_error_at_its_keyword():
    """A terminal built from a schema that blows the budget when the tables are built is reported at the
    subschema (pointer and keyword) it came from."""
    grammar = schema_to_grammar({"type": "object", "properties": {"a": {"type": "string", "format": "email"}}})
    with pytest.raises(SchemaError) as info:
        CompiledGrammar(grammar, VOCAB, compile_budget={"seconds": 60, "states": 10})
    assert info.value.kind == "too_complex" and info.value.pointer == "/properties/a", info.value


def test_memory_is_released_after_a_budget_failure():
    """Nothing half-built stays referenced: traced memory returns to where it was (within 1 MiB)."""
    schema = HOSTILE_SCHEMAS["many patterned properties"][0]
    with pytest.raises(SchemaError):  # warm the caches of the compiler's own modules first
        schema_to_grammar(schema, compile_budget=0.2)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(3):
            with pytest.raises(SchemaError):
                schema_to_grammar(schema, compile_budget=0.2)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 1 << 20, f"{(after - before) / 2**20:.1f} MiB still held"


def test_budget_values():
    assert CompileBudget.of(None) == CompileBudget() and CompileBudget.of(2).seconds == 2
    assert CompileBudget.of({"states": 10}).states == 10
    assert CompileBudget.of("unlimited").seconds == float("inf")
    for bad in (-1, 0, "soon", {"minutes": 1}, True, [1]):
        with pytest.raises(ValueError):
            CompileBudget.of(bad)


def test_scopes_nest_and_convert():
    """An inner scope keeps the outer deadline; a BudgetExceeded never leaves a scope unconverted."""
    with budget_scope(100):
        with budget_scope(1e-9):
            assert current_budget().seconds == 100
            checkpoint()  # the outer, generous deadline applies
    checkpoint()  # no scope: a no-op
    with pytest.raises(GrammarError) as info:
        with budget_scope(1e-9):
            time.sleep(0.001)
            checkpoint()
    assert info.value.kind == "too_complex"
    with pytest.raises(SchemaError):
        with budget_scope(1e-9, error=lambda exc: SchemaError(exc.what, kind="too_complex")):
            raise BudgetExceeded("test")


def test_dfa_caches_are_bounded_by_bytes():
    """The regex compiler's memos drop the least recently used DFAs past their byte bound, not only their count."""
    from corral.automata.cache import dfa_cache
    from corral.automata.regex import literal_dfa

    @dfa_cache(100, 50_000)
    def build(n):
        return literal_dfa(b"a" * n)  # (n + 1) * 256 * 4 bytes of tables

    for n in range(1, 120):
        build(n)
        assert build.cache_nbytes() <= 50_000
    kept = build(30)
    assert build(30) is kept and build.cache_nbytes() > 0
    build.cache_clear()
    assert build.cache_nbytes() == 0


def test_a_long_literal_is_over_the_state_budget():
    """A 100,000-character const would be a 100 MB literal DFA: refused by the state budget, not built."""
    with pytest.raises(SchemaError) as info:
        CompiledGrammar(schema_to_grammar({"const": "x" * 100_000}), VOCAB)
    assert info.value.kind == "too_complex" and info.value.pointer in ("/const", ""), info.value


def test_budget_failures_on_real_schemas_are_always_located_errors():
    """Under a budget too small for most of them, 150 MaskBench schemas (a seeded sample) each compile or fail with a
    CorralError; a budget failure is always a SchemaError of kind too_complex (a terminal's table keeps the pointer
    of its subschema), never a BudgetExceeded or another exception escaping."""
    import json
    import random
    import warnings

    from conftest import DATA_DIR
    from corral.errors import CorralError

    files = sorted((DATA_DIR / "jsonschemabench" / "maskbench").glob("*.jsonl"))
    if not files:
        pytest.skip(f"MaskBench data not found under {DATA_DIR} (set CORRAL_DATA_DIR)")
    records = [json.loads(line) for f in files for line in f.open(encoding="utf-8")]
    kinds = {}
    for rec in random.Random(14).sample(records, 150):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                with budget_scope(0.01):
                    CompiledGrammar(schema_to_grammar(rec["schema"], whitespace="spaced", property_order="any"),
                                    VOCAB)
            kind = "compiled"
        except CorralError as exc:
            kind = (type(exc).__name__, getattr(exc, "kind", None))
            assert kind != ("GrammarError", "too_complex"), (rec["id"], exc)
        kinds[kind] = kinds.get(kind, 0) + 1
    assert kinds.get(("SchemaError", "too_complex"), 0) > 0, kinds  # the budget did bite
