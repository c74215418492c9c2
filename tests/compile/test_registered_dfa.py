"""DFAs registered for long key-complement / combined-string terminals accept exactly their regex's language."""

from __future__ import annotations

import pytest

from corral.automata.operations import dfa_difference
from corral.automata.regex import _compile_cached, compile_regex
from corral.compile.json_schema.scalars import key_complement_pattern

NAMES = [
    ["apiVersion", "kind", "metadata", "spec", "status"] + [f"field{i}" for i in range(150)],
    ["a", "ab", "abc", "é", "ü\"q", "tab\tx", "back\\slash", "🎉", "x" * 40] + [f"k{i}" for i in range(200)],
]


@pytest.mark.parametrize("names", NAMES)
def test_registered_key_complement_equals_compiled_regex(names):
    pattern = key_complement_pattern(names)
    registered = compile_regex(pattern)
    direct = _compile_cached(pattern, frozenset())  # the regex compiled from its text
    assert registered is not direct
    assert dfa_difference(registered, direct).is_empty
    assert dfa_difference(direct, registered).is_empty
    for name in names[:20]:
        quoted = ('"' + name.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"').encode()
        assert not registered.fullmatch(quoted)
    assert registered.fullmatch(b'"someOtherKey"') and registered.fullmatch(b'""')


SCHEMAS = [
    {"type": "string", "pattern": "^[a-z]+(-[a-z0-9]+)*$", "maxLength": 6},
    {"type": "string", "format": "date", "not": {"const": "2020-01-01"}},
    {"type": "object", "propertyNames": {"pattern": "^[a-z]{2,40}$", "maxLength": 30},
     "additionalProperties": {"type": "integer"}},
    {"type": "object", "properties": {f"p{i}": {"type": "integer"} for i in range(300)}},
]


@pytest.mark.parametrize("schema", SCHEMAS)
def test_every_registered_terminal_equals_its_regex(schema):
    """Whatever the compiler registered, the DFA is the language of the terminal's regex text."""
    from corral.automata.regex import registered_dfa
    from corral.compile.json_schema import schema_to_grammar

    grammar = schema_to_grammar(schema)
    checked = 0
    for term in grammar.terminals.values():
        dfa = registered_dfa(term.pattern, term.flags)
        if dfa is None:
            continue
        direct = _compile_cached(term.pattern, frozenset(term.flags))
        assert dfa_difference(dfa, direct).is_empty and dfa_difference(direct, dfa).is_empty, term.name
        checked += 1
    if schema.get("properties"):
        assert checked >= 1  # the 300-name key complement is long enough to be registered
