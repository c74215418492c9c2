"""First-contact problems with schemas: pydantic models compile closed (no invented or repeated keys), and a
misspelt keyword is reported (:class:`SchemaKeywordWarning`) or, with ``strict_keywords=True``, refused."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Optional, Union

import pytest

from corral.compile.json_schema import SchemaKeywordWarning, resolve_schema, schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

VOCAB = Vocabulary.from_token_bytes([bytes([b]) for b in range(256)] + [None], [256])
SCHEMAS_DIR = Path(__file__).resolve().parents[2] / "schemas"


def accepts(schema, text: str, **options) -> bool:
    return CompiledGrammar(schema_to_grammar(schema, **options), VOCAB).accepts(text.encode())


def keyword_warnings(schema, **options) -> list[warnings.WarningMessage]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        schema_to_grammar(schema, **options)
    return [w for w in caught if issubclass(w.category, SchemaKeywordWarning)]


# ------------------------------------------------------------------ pydantic models are closed

pydantic = pytest.importorskip("pydantic")
from pydantic import BaseModel, ConfigDict  # noqa: E402


class Pot(BaseModel):
    height_cm: float
    color: str


class Plant(BaseModel):
    name: str
    pot: Pot
    spares: list[Pot] = []
    previous: Optional[Pot] = None
    either: Union[Pot, int] = 0
    counts: dict[str, int] = {}


class OpenPot(BaseModel):
    model_config = ConfigDict(extra="allow")
    height_cm: float


class OpenPlant(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    pot: OpenPot


POT = {"height_cm": 30.4, "color": "red"}
PLANT = {"name": "fern", "pot": POT, "spares": [POT], "previous": POT, "either": POT, "counts": {"a": 1}}


def _text(x) -> str:
    return json.dumps(x, separators=(",", ":"))


def test_pydantic_model_and_nested_models_are_closed():
    schema, model = resolve_schema(Plant)
    assert model is Plant
    g = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    assert g.accepts(_text(PLANT).encode())
    extra_pot = {**POT, "height_in": 12}
    for bad in ({**PLANT, "extra": 1}, {**PLANT, "pot": extra_pot}, {**PLANT, "spares": [POT, extra_pot]},
                {**PLANT, "previous": extra_pot}, {**PLANT, "either": extra_pot}):
        assert not g.accepts(_text(bad).encode()), bad
    # a repeated declared key (the reported symptom)
    assert not g.accepts(b'{"name":"fern","pot":{"height_cm":30.4,"height_cm":16.2,"color":"red"}}')


def test_pydantic_dict_fields_stay_open():
    schema, _ = resolve_schema(Plant)
    assert schema["properties"]["counts"]["additionalProperties"] == {"type": "integer"}
    assert accepts(schema, _text({**PLANT, "counts": {"x": 1, "y": 2}}))


def test_pydantic_extra_allow_and_forbid():
    class Forbid(BaseModel):
        model_config = ConfigDict(extra="forbid")
        a: int

    assert Forbid.model_json_schema()["additionalProperties"] is False  # what pydantic itself emits
    assert OpenPlant.model_json_schema()["additionalProperties"] is True
    schema, _ = resolve_schema(OpenPlant)
    assert schema["$defs"]["OpenPot"]["additionalProperties"] is True
    assert accepts(schema, '{"name":"x","pot":{"height_cm":1.5,"note":"y"},"extra":[1]}')
    forbid, _ = resolve_schema(Forbid)
    assert not accepts(forbid, '{"a":1,"b":2}')


def test_open_object_never_repeats_a_declared_name():
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    assert accepts(schema, '{"a":1,"b":2}')
    assert not accepts(schema, '{"a":1,"a":2}')
    assert not accepts(schema, '{"b":1,"a":2}')


# ------------------------------------------------------------------ misspelt and unknown keywords

def test_misspelt_keyword_warns_with_pointer_and_suggestion():
    schema = {"type": "object", "propertis": {"a": {"type": "integer"}}}
    caught = keyword_warnings(schema)
    assert len(caught) == 1
    assert str(caught[0].message) == ("unknown keyword 'propertis' at /propertis (did you mean 'properties'?): "
                                      "ignored as an annotation")
    assert caught[0].filename == __file__  # attributed to the caller's line
    with pytest.warns(SchemaKeywordWarning):
        assert accepts(schema, '{"a":"not an integer"}')  # still an annotation


def test_misspelt_keywords_are_listed_in_one_warning():
    schema = {"type": "object", "properties": {"a": {"type": "array", "maxItem": 3},
                                               "b": {"type": "string", "patern": "^x"}}, "requird": ["a"]}
    caught = keyword_warnings(schema)
    assert len(caught) == 1
    text = str(caught[0].message)
    for part in ("'maxItem' at /properties/a/maxItem (did you mean 'maxItems'?)",
                 "'patern' at /properties/b/patern (did you mean 'pattern'?)",
                 "'requird' at /requird (did you mean 'required'?)"):
        assert part in text


def test_no_warning_for_made_up_annotations():
    schema = {"type": "object", "properties": {"a": {"type": "integer", "myAnnotation": True, "example": 3}}}
    assert keyword_warnings(schema) == []
    # close to a keyword, but with a value that keyword never takes ("format" a string, "not" a schema)
    schema = {"type": "object", "form": [{"type": "validator"}], "note": "free text", "_format": "date"}
    assert keyword_warnings(schema) == []
    assert len(keyword_warnings({"type": "string", "fromat": "date"})) == 1


@pytest.mark.parametrize("schema", [
    {"type": "object", "title": "T", "description": "d", "$comment": "c", "examples": [{}], "default": {},
     "properties": {"a": {"type": "integer", "x-foo": 1, "x-type": "int", "readOnly": True}}},
    {"oneOf": [{"type": "integer"}, {"type": "string"}], "discriminator": {"propertyName": "kind"}},
    {"$schema": "http://json-schema.org/draft-07/schema#", "type": "array", "prefixItems": [{"type": "integer"}],
     "definitions": {}, "dependencies": {}},
    {"$schema": "http://json-schema.org/draft-04/schema#", "type": "number", "minimum": 0,
     "exclusiveMinimum": True, "const": 3, "if": {}, "then": {}},
])
def test_no_warning_for_annotations_extensions_and_other_drafts(schema):
    assert keyword_warnings(schema) == []
    schema_to_grammar(schema, strict_keywords=True)  # none of them is unknown to strict mode either


def test_strict_keywords_refuses_unknown_keywords():
    schema = {"type": "object", "properties": {"a": {"type": "integer", "myAnnotation": True}}}
    schema_to_grammar(schema)  # an annotation by default, without a warning
    assert keyword_warnings(schema) == []
    with pytest.raises(SchemaError) as info:
        schema_to_grammar(schema, strict_keywords=True)
    assert (info.value.kind, info.value.pointer, info.value.keyword) == ("invalid", "/properties/a/myAnnotation",
                                                                          "myAnnotation")
    assert "myAnnotation" in str(info.value)
    with pytest.raises(SchemaError) as info:  # lenient does not drop it
        schema_to_grammar({"propertis": {}}, strict_keywords=True, lenient=True)
    assert info.value.pointer == "/propertis" and "did you mean 'properties'" in str(info.value)


def test_unknown_keyword_in_property_names_is_checked():
    schema = {"type": "object", "propertyNames": {"maxLenght": 3}}
    caught = keyword_warnings(schema)
    assert len(caught) == 1 and "/propertyNames/maxLenght (did you mean 'maxLength'?)" in str(caught[0].message)


@pytest.mark.parametrize("path", sorted(SCHEMAS_DIR.glob("*.json")), ids=lambda p: p.name)
def test_example_schemas_compile_without_keyword_warnings(path):
    schema, _ = resolve_schema(path)
    assert keyword_warnings(schema) == []
