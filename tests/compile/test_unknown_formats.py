"""Unknown ``format`` names (issue 17): with ``formats="assert"`` (the default) a format name no draft defines and
jsonschema does not check (``"topic"``) is an annotation, as validators read it: the language is that of the schema
without it, and one :class:`~corral.compile.json_schema.FormatAnnotationWarning` names the format and its pointer.
``formats="strict"`` keeps it an error; known formats are unchanged.

Oracle: the same compiler on the schema with the ``format`` removed (language equality over random strings), and
jsonschema's Draft202012Validator with corral's format checker for generated outputs.
"""

from __future__ import annotations

import json
import random
import warnings

import jsonschema
import pytest

from corral.compile.json_schema import FormatAnnotationWarning, schema_to_grammar, validate_instance
from corral.compile.json_schema.formats import is_known_format
from corral.errors import SchemaError
from corral.options import SchemaOptions, option_names
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary
from corral.validate import make_validator

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])

TOPIC = {"type": "object", "properties": {"x": {"type": "string", "format": "topic", "minLength": 1,
                                                  "maxLength": 8, "pattern": "^[a-z@]"}},
         "required": ["x"], "additionalProperties": False}
TOPIC_PLAIN = {"type": "object", "properties": {"x": {"type": "string", "minLength": 1, "maxLength": 8,
                                                        "pattern": "^[a-z@]"}},
               "required": ["x"], "additionalProperties": False}
_ALPHABET = list("abz@.-_/ AZ09\"\\é") + ["\n", "\u2028", "😀"]


def _compile(schema, **options) -> CompiledGrammar:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FormatAnnotationWarning)
        return CompiledGrammar(schema_to_grammar(schema, whitespace="spaced", **options), VOCAB)


def _samples(seed: int = 0, n: int = 600) -> list[str]:
    """Random JSON texts ``{"x": s}`` (s a random string of 0..10 characters, some email-like) and a few non-strings."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = "".join(rng.choice(_ALPHABET) for _ in range(rng.randrange(11)))
        out.append(_dump({"x": s}))
    out += [_dump({"x": v}) for v in ("a@b.c", "ab@example.com", "abc", "a", "", 3, None, ["a"])]
    return out


def _dump(x) -> str:
    return json.dumps(x, ensure_ascii=False)  # the spaced layout's canonical text


def _disagreements(accepts_a, accepts_b, samples) -> list[str]:
    """The samples on which two acceptors differ (the check of the tests: empty means 'same language here')."""
    return [t for t in samples if accepts_a(t.encode()) != accepts_b(t.encode())]


def test_unknown_format_warns_once_with_name_and_pointer():
    with pytest.warns(FormatAnnotationWarning) as record:
        schema_to_grammar(TOPIC)
    ours = [w for w in record if issubclass(w.category, FormatAnnotationWarning)]
    assert len(ours) == 1
    message = str(ours[0].message)
    assert "'topic'" in message and "/properties/x/format" in message and "strict" in message
    assert issubclass(FormatAnnotationWarning, UserWarning)


def test_known_formats_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error", FormatAnnotationWarning)
        schema_to_grammar({"type": "string", "format": "email"})
        schema_to_grammar({"type": "string", "format": "topic"}, formats="annotate")


def test_unknown_format_language_equals_the_schema_without_it():
    samples = _samples()
    got, plain = _compile(TOPIC), _compile(TOPIC_PLAIN)
    assert sum(plain.accepts(t.encode()) for t in samples) > 50  # the check sees both answers
    assert sum(not plain.accepts(t.encode()) for t in samples) > 50
    assert _disagreements(got.accepts, plain.accepts, samples) == []
    for t in samples:  # and the compiled language is exactly jsonschema's (format ignored, as it does)
        value = json.loads(t)
        valid = jsonschema.Draft202012Validator(TOPIC, format_checker=jsonschema.FormatChecker()).is_valid(value)
        if got.accepts(t.encode()):
            assert valid, t


@pytest.mark.parametrize("wrong", ["empty", "email"])
def test_the_check_catches_a_wrong_reading_of_the_unknown_format(wrong):
    """Reading the unknown format as 'no string' or as 'email' is a different language: the check above sees it."""
    samples = _samples()
    plain = _compile(TOPIC_PLAIN)
    if wrong == "empty":
        def accepts(text: bytes) -> bool:
            return False
    else:
        email = json.loads(json.dumps(TOPIC).replace('"topic"', '"email"'))
        accepts = _compile(email).accepts
    assert _disagreements(accepts, plain.accepts, samples) != []


@pytest.mark.parametrize("schema, plain", [
    ({"type": "string", "not": {"format": "topic", "maxLength": 2}}, {"type": "string", "not": {"maxLength": 2}}),
    ({"allOf": [{"type": "string", "format": "topic"}, {"format": "email"}]}, {"type": "string", "format": "email"}),
    ({"enum": ["a", "b@c", 1], "format": "path"}, {"enum": ["a", "b@c", 1]}),
    ({"oneOf": [{"type": "string", "format": "url"}, {"type": "integer"}]},
     {"oneOf": [{"type": "string"}, {"type": "integer"}]}),
])
def test_unknown_format_is_an_annotation_everywhere(schema, plain):
    texts = [_dump(v) for v in ("", "a", "ab", "abc", "b@c", "x@y.z", 1, 2.5, None)]
    with pytest.warns(FormatAnnotationWarning):
        got = CompiledGrammar(schema_to_grammar(schema, whitespace="spaced"), VOCAB)
    assert _disagreements(got.accepts, _compile(plain).accepts, texts) == []


def test_unknown_format_in_a_remote_document():
    registry = {"http://example.test/t.json": {"type": "string", "format": "topic", "maxLength": 3}}
    with pytest.warns(FormatAnnotationWarning, match="http://example.test/t.json#/format"):
        g = CompiledGrammar(schema_to_grammar({"$ref": "http://example.test/t.json"}, registry=registry), VOCAB)
    assert g.accepts(b'"abc"') and not g.accepts(b'"abcd"')


def test_strict_refuses_an_unknown_format():
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(TOPIC, formats="strict")
    assert info.value.kind == "unsupported" and info.value.keyword == "format"
    assert info.value.pointer == "/properties/x/format" and "topic" in str(info.value)
    with pytest.raises(SchemaError, match="format"):
        schema_to_grammar({"enum": ["a"], "format": "topic"}, formats="strict")


@pytest.mark.parametrize("formats", ["assert", "strict"])
def test_known_formats_are_unchanged(formats):
    g = _compile({"type": "string", "format": "email"}, formats=formats)
    assert g.accepts(b'"a@b.c"') and not g.accepts(b'"not an email"') and not g.accepts(b'"a@"')
    for name in ("regex", "idn-email", "idn-hostname", "color"):  # known, not compiled: still an error
        assert is_known_format(name)
        with pytest.raises(SchemaError) as info:
            schema_to_grammar({"type": "string", "format": name}, formats=formats)
        assert info.value.kind == "unsupported" and info.value.pointer == "/format"
    with pytest.raises(SchemaError) as info:  # not a string: invalid, never an annotation
        schema_to_grammar({"type": "string", "format": 3}, formats=formats)
    assert info.value.kind == "invalid"


def test_validators_read_unknown_formats_as_annotations():
    schema = {"type": "string", "format": "topic"}
    for formats in ("assert", "strict", "annotate"):
        assert validate_instance(schema, "anything", formats=formats) == []
    assert make_validator(schema).is_valid("anything")
    assert validate_instance({"type": "string", "format": "email"}, "x", formats="strict") == ["/"]
    assert not make_validator({"type": "string", "format": "email"}).is_valid("x")


def test_option_and_flag():
    assert SchemaOptions(formats="strict").compile_kwargs()["formats"] == "strict"
    assert "formats" in option_names()
    import argparse

    from corral.options import add_cli_arguments

    parser = argparse.ArgumentParser()
    add_cli_arguments(parser)
    assert parser.parse_args(["--formats", "strict"]).formats == "strict"
    text = parser.format_help()
    assert all(v in text for v in ("assert", "strict", "annotate"))
    with pytest.raises(ValueError, match="strict"):
        schema_to_grammar({}, formats="ignore")


@pytest.mark.parametrize("seed", [0, 1])
def test_generated_outputs_validate(seed):
    import corral

    schema = {"type": "object", "properties": {"topic": {"type": "string", "format": "topic", "maxLength": 12},
                                               "n": {"type": "integer"}},
              "required": ["topic", "n"], "additionalProperties": False}
    with pytest.warns(FormatAnnotationWarning, match="/properties/topic/format"):
        r = corral.generate("A topic as JSON:\n", schema=schema, seed=seed, max_tokens=40)
    assert r.status == "complete", r
    value = json.loads(r.text)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.FormatChecker()).validate(value)
    assert make_validator(schema).is_valid(value)
