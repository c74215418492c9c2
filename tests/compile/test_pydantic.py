"""pydantic v2 models as schemas: the grammar accepts the canonical compact JSON of model instances, and generate()
returns model instances."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated, Literal, Optional, Union

import pytest

pydantic = pytest.importorskip("pydantic")
from pydantic import BaseModel, Field  # noqa: E402

import corral  # noqa: E402
from corral.compile.json_schema import resolve_schema, schema_to_grammar  # noqa: E402
from corral.errors import SchemaError  # noqa: E402
from corral.models.hf import default_model_path  # noqa: E402
from corral.runtime.matcher import CompiledGrammar  # noqa: E402
from corral.tokens.vocabulary import Vocabulary  # noqa: E402

VOCAB = Vocabulary.from_token_bytes([None] + [bytes([b]) for b in range(32, 127)] + ["é".encode()],
                                    eos_token_ids=[0])


class Color(str, Enum):
    red = "red"
    green = "green"


class Priority(int, Enum):
    low = 1
    high = 2


class Address(BaseModel):
    street: str
    zip: str = Field(pattern=r"^[0-9]{5}$")


class Cat(BaseModel):
    kind: Literal["cat"]
    lives: int = Field(ge=0, le=9)


class Dog(BaseModel):
    kind: Literal["dog"]
    good: bool = True


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    age: int = Field(ge=0, le=150)
    email: Optional[str] = None
    color: Color = Color.red
    priority: Priority
    tags: list[str] = []
    address: Address
    id: int | str
    pet: Annotated[Union[Cat, Dog], Field(discriminator="kind")]
    score: float = Field(default=0.5, ge=0, lt=1)
    mode: Literal["a", "b", 3]


class Point(BaseModel):
    x: int
    y: int


class Tree(BaseModel):
    label: str = Field(max_length=3)
    children: list["Tree"] = []


class Small(BaseModel):
    ok: bool
    n: int = Field(ge=0, le=9)
    color: Color


class Polygon(BaseModel):
    name: Literal["tri", "quad"]
    points: list[Point] = Field(min_length=1, max_length=4)
    step: int = Field(default=10, multiple_of=5, ge=0, le=100)


PERSONS = [
    Person(name="Ann", age=30, priority=Priority.low, address=Address(street="Main \"1\"", zip="12345"), id=7,
           pet=Cat(kind="cat", lives=9), mode="a"),
    Person(name="Bé", age=0, email="b@c.d", color=Color.green, priority=Priority.high, tags=["x", ""],
           address=Address(street="", zip="00000"), id="s", pet=Dog(kind="dog", good=False), score=0.25, mode=3),
    Person(name="C" * 20, age=150, priority=2, address={"street": "q", "zip": "99999"}, id=-3,
           pet={"kind": "dog"}, score=0.0, mode="b"),
]
INSTANCES = [
    (Person, PERSONS),
    (Point, [Point(x=1, y=-2), Point(x=0, y=10 ** 20)]),
    (Tree, [Tree(label="a"), Tree(label="r", children=[Tree(label="x", children=[Tree(label="")]), Tree(label="y")])]),
    (Small, [Small(ok=True, n=0, color="red"), Small(ok=False, n=9, color=Color.green)]),
    (Polygon, [Polygon(name="tri", points=[Point(x=1, y=2)]),
               Polygon(name="quad", points=[Point(x=0, y=0)] * 4, step=95)]),
]


def _text(obj: BaseModel) -> str:
    return json.dumps(obj.model_dump(mode="json"), separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("model,objs", INSTANCES, ids=[m.__name__ for m, _ in INSTANCES])
def test_model_instances_are_accepted(model, objs):
    schema, cls = resolve_schema(model)
    assert cls is model
    cg = CompiledGrammar(schema_to_grammar(schema), VOCAB)
    for obj in objs:
        text = _text(obj)
        assert cg.accepts(text.encode()), text
        assert model.model_validate_json(text) == obj
    # fields with defaults may be omitted; required ones may not
    if model is Person:
        full = json.loads(_text(PERSONS[0]))
        slim = {k: v for k, v in full.items() if k not in ("email", "color", "tags", "score")}
        assert cg.accepts(json.dumps(slim, separators=(",", ":")).encode())
        del slim["age"]
        assert not cg.accepts(json.dumps(slim, separators=(",", ":")).encode())


def test_constraints_are_enforced():
    cg = CompiledGrammar(schema_to_grammar(Person.model_json_schema()), VOCAB)
    good = json.loads(_text(PERSONS[0]))
    for key, bad in [("age", 151), ("name", ""), ("name", "x" * 21), ("mode", "c"), ("priority", 3),
                     ("color", "blue"), ("score", 1.0), ("address", {"street": "a", "zip": "1234"}),
                     ("pet", {"kind": "cat", "lives": 10}), ("pet", {"kind": "fish"}), ("id", 1.5)]:
        text = json.dumps({**good, key: bad}, separators=(",", ":"), ensure_ascii=False)
        assert not cg.accepts(text.encode()), text


def test_defaulted_discriminator_is_compiled_exactly():
    """pydantic leaves a discriminator with a default out of ``required``: the oneOf alternatives then overlap
    (``{}`` is valid against both), so oneOf is compiled as ``(A ∧ ¬B) ∨ (B ∧ ¬A)``: exactly one must match."""

    class A(BaseModel):
        kind: Literal["a"] = "a"

    class B(BaseModel):
        kind: Literal["b"] = "b"

    class M(BaseModel):
        v: Annotated[Union[A, B], Field(discriminator="kind")]

    cg = CompiledGrammar(schema_to_grammar(M.model_json_schema()), VOCAB)
    assert cg.accepts(b'{"v":{"kind":"a"}}') and cg.accepts(b'{"v":{"kind":"b"}}')
    assert not cg.accepts(b'{"v":{}}') and not cg.accepts(b'{"v":{"kind":"c"}}')


needs_model = pytest.mark.skipif(not (default_model_path() / "model.safetensors").exists(),
                                 reason="embedded default model not built")


@needs_model
def test_generate_returns_model_instances():
    complete = 0
    for model, seed in [(Small, 0), (Point, 0), (Polygon, 0)]:
        res = corral.generate(f"A {model.__name__} as JSON:\n", schema=model, seed=seed, temperature=0.7,
                              max_tokens=48)
        assert res.status in ("complete", "length")
        if res.status == "complete":
            complete += 1
            assert isinstance(res.value, model) and model.model_validate_json(res.text) == res.value
        else:
            assert res.value is None
    assert complete >= 1
