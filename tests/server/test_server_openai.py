"""The server driven over loopback by the official ``openai`` client: constrained chat and completions, streaming,
the OpenAI error format, and rows freed when a client goes away."""

from __future__ import annotations

import json
import time

import jsonschema
import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (fastapi)")
pytest.importorskip("uvicorn", reason="the server tests need the server extra (uvicorn)")
openai = pytest.importorskip("openai", reason="the server tests need the openai client (dev extra)")


from server_helpers import client, generator, raw, server, wait_idle  # noqa: F401  (fixtures)

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer", "minimum": 0},
                   "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3}},
    "required": ["name", "age", "tags"],
    "additionalProperties": False,
}
LONG = {"regex": "([a-z] ){400}"}  # at least 400 tokens: a row that ran to its end generated that many
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "A person, please."}]


def _json_schema(schema, strict=True):
    return {"type": "json_schema", "json_schema": {"name": "person", "schema": schema, "strict": strict}}


def test_models_and_health(client, server):
    models = client.models.list()
    assert [m.id for m in models.data] == ["corral-default"]
    assert client.models.retrieve("corral-default").id == "corral-default"
    status, health = raw(server, "GET", "/health")
    assert status == 200 and health["status"] == "ok" and health["backend"] == "engine"
    assert health["continuous"] is True and health["max_batch"] == 4


def test_chat_json_schema_validates(client):
    response = client.chat.completions.create(model="corral-default", messages=MESSAGES, max_tokens=120, seed=1,
                                              response_format=_json_schema(PERSON))
    choice = response.choices[0]
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    jsonschema.validate(json.loads(choice.message.content), PERSON)
    assert response.object == "chat.completion" and response.model == "corral-default"
    assert response.usage.completion_tokens > 0 and response.usage.prompt_tokens > 0
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_stream_chunks_concatenate_to_the_same_text(client):
    kwargs = dict(model="corral-default", messages=MESSAGES, max_tokens=120, seed=7,
                  response_format=_json_schema(PERSON))
    whole = client.chat.completions.create(**kwargs)
    pieces, reasons, usage = [], [], None
    with client.chat.completions.create(stream=True, stream_options={"include_usage": True}, **kwargs) as stream:
        for chunk in stream:
            assert chunk.object == "chat.completion.chunk"
            if chunk.usage is not None:
                usage = chunk.usage
            for c in chunk.choices:
                pieces.append(c.delta.content or "")
                reasons.append(c.finish_reason)
    assert len(pieces) > 3  # streamed token by token, not in one piece
    assert "".join(pieces) == whole.choices[0].message.content
    assert reasons[-1] == "stop" and set(reasons[:-1]) == {None}
    assert usage.completion_tokens == whole.usage.completion_tokens


def test_bad_schema_is_a_400_naming_keyword_and_pointer(client):
    bad = {"type": "object", "properties": {"age": {"type": "integer", "minimum": "zero"}}}
    with pytest.raises(openai.BadRequestError) as info:
        client.chat.completions.create(model="corral-default", messages=MESSAGES,
                                       response_format=_json_schema(bad))
    error = info.value.body
    assert info.value.status_code == 400
    assert "minimum" in error["message"] and "/properties/age/minimum" in error["message"]
    assert error["param"] == "response_format.json_schema.schema/properties/age/minimum"
    assert error["keyword"] == "minimum" and error["pointer"] == "/properties/age/minimum"
    assert error["type"] == "invalid_request_error" and error["code"] == "schema_invalid"


def test_cancelled_stream_frees_its_row(client, server):
    wait_idle(server)
    before = raw(server, "GET", "/health")[1]["stats"]["engine"]["tokens"]
    stream = client.completions.create(model="corral-default", prompt="Letters:", max_tokens=500, seed=0,
                                       stream=True, extra_body=LONG)
    received = 0
    for chunk in stream:
        received += 1
        if received == 3:
            break
    stream.close()  # the client goes away
    health = wait_idle(server, timeout=20)
    generated = health["stats"]["engine"]["tokens"] - before
    assert generated < 400, f"the row ran to its end ({generated} tokens) instead of being cancelled"


def test_plain_request_abandoned_by_its_client_frees_its_row(server):
    wait_idle(server)
    before = raw(server, "GET", "/health")[1]["stats"]["engine"]["tokens"]
    with openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=0.3) as hasty:
        with pytest.raises(openai.APITimeoutError):
            hasty.completions.create(model="corral-default", prompt="Letters:", max_tokens=500, seed=0,
                                     extra_body=LONG)
    health = wait_idle(server, timeout=20)
    assert health["stats"]["engine"]["tokens"] - before < 400


@pytest.mark.parametrize("extra, check", [
    ({"regex": "[0-9]{3}-[0-9]{2}"}, lambda t: len(t) == 6 and t[3] == "-" and t.replace("-", "").isdigit()),
    ({"choices": ["red", "green", "blue"]}, lambda t: t in ("red", "green", "blue")),
    ({"grammar": 'start: "(" NUM ("+" NUM)* ")"\nNUM: /[0-9]{1,2}/'},
     lambda t: t.startswith("(") and t.endswith(")")),
    ({"response_format": {"type": "json_object"}}, lambda t: isinstance(json.loads(t), dict)),
])
def test_completions_with_each_constraint(client, extra, check):
    response = client.completions.create(model="corral-default", prompt="Value: ", max_tokens=100, seed=3, n=2,
                                         extra_body=extra)
    assert response.object == "text_completion" and len(response.choices) == 2
    for choice in response.choices:
        assert choice.finish_reason == "stop" and check(choice.text), choice.text


def test_n_choices_with_a_seed_are_reproducible(client):
    kwargs = dict(model="corral-default", messages=MESSAGES, max_tokens=60, n=3, seed=11,
                  response_format=_json_schema({"type": "object", "properties": {"n": {"type": "integer"}},
                                                "required": ["n"]}))
    first = client.chat.completions.create(**kwargs)
    second = client.chat.completions.create(**kwargs)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in second.choices]
    assert len(set(texts)) > 1  # row i has seed + i


def test_stop_cuts_unconstrained_text(client):
    response = client.completions.create(model="corral-default", prompt="The", max_tokens=64, seed=5,
                                         stop=["e", "a"], n=4)
    for choice in response.choices:
        assert "e" not in choice.text and "a" not in choice.text
        assert choice.finish_reason in ("stop", "length")
    streamed = client.completions.create(model="corral-default", prompt="The", max_tokens=64, seed=5,
                                         stop=["e", "a"], stream=True)
    text = "".join(c.choices[0].text for c in streamed if c.choices)
    assert text == response.choices[0].text


def test_compiled_constraints_are_cached_across_requests(client, generator):
    schema = {"type": "object", "properties": {"k": {"enum": ["x", "y"]}}, "required": ["k"]}
    client.chat.completions.create(model="corral-default", messages=MESSAGES, max_tokens=30,
                                   response_format=_json_schema(schema))
    size = generator.cache_info()["constraints"]
    start = time.perf_counter()
    for _ in range(2):
        client.chat.completions.create(model="corral-default", messages=MESSAGES, max_tokens=30,
                                       response_format=_json_schema(schema))
    assert generator.cache_info()["constraints"] == size
    assert time.perf_counter() - start < 30


def test_awrs_smc_and_draft_go_through_the_serial_path(client, server):
    before = raw(server, "GET", "/health")[1]["stats"]["serial"]["finished"]
    for extra in ({"method": "awrs"}, {"draft": "ngram"}, {"method": "smc"}):
        response = client.completions.create(model="corral-default", prompt="Value: ", max_tokens=20, seed=2,
                                             extra_body={"regex": "[0-9]{4}", **extra})
        assert response.choices[0].finish_reason == "stop" and len(response.choices[0].text) == 4
    streamed = client.completions.create(model="corral-default", prompt="Value: ", max_tokens=20, seed=2,
                                         stream=True, extra_body={"regex": "[0-9]{4}", "method": "smc"})
    assert "".join(c.choices[0].text for c in streamed if c.choices) == response.choices[0].text
    assert raw(server, "GET", "/health")[1]["stats"]["serial"]["finished"] == before + 4


def test_asap_choices_are_successive_samples_in_one_trie_per_prompt(client):
    kwargs = dict(model="corral-default", prompt=["Value: ", "Code: "], max_tokens=10, seed=2, n=3,
                  extra_body={"regex": "[0-9]{4}", "method": "asap"})
    response = client.completions.create(**kwargs)
    assert len(response.choices) == 6
    for choice in response.choices:
        assert choice.finish_reason == "stop" and len(choice.text) == 4 and choice.text.isdigit(), choice.text
    tries = [c.model_extra["corral"]["asap"] for c in response.choices]
    assert [t["trie_samples"] for t in tries] == [1, 2, 3, 1, 2, 3]  # each prompt's choices: draws 1..n of its trie
    for first, later in ((tries[0], tries[1:3]), (tries[3], tries[4:])):
        assert all(t["root_theta"] <= first["root_theta"] + 1e-12 for t in later)  # θ(root) only falls
    again = client.completions.create(**kwargs)
    assert [c.text for c in again.choices] == [c.text for c in response.choices]  # a fresh trie per request


def test_draft_tree_output_is_generates(client, generator):
    extra = {"regex": "[0-9]{4}", "draft": "model", "draft_tree": [2, 2]}
    response = client.completions.create(model="corral-default", prompt="Value: ", max_tokens=10, seed=3,
                                         extra_body=extra)
    expected = generator.generate("Value: ", regex="[0-9]{4}", draft="model", draft_tree=(2, 2), max_tokens=10,
                                  seed=3)
    assert expected.stats["drafted"] > 0
    assert response.choices[0].text == expected.text and response.choices[0].finish_reason == "stop"
    assert "corral" not in (response.choices[0].model_extra or {})  # exact: nothing to report


def test_switching_reports_each_models_share(client, generator):
    switching = {"type": "entropy", "threshold": 2.5, "window": 2}
    kwargs = dict(model="corral-default", messages=MESSAGES, max_tokens=12, seed=5,
                  extra_body={"draft": "model", "switching": switching})
    whole = client.chat.completions.create(**kwargs)
    shares = whole.choices[0].model_extra["corral"]["switching"]
    assert shares["small_tokens"] + shares["large_tokens"] == whole.usage.completion_tokens
    assert shares["lossy"] is True and shares["share_small"] + shares["share_large"] == pytest.approx(1.0)
    assert (shares["threshold"], shares["window"]) == (2.5, 2)
    expected = generator.generate(messages=MESSAGES, draft="model", switching="entropy", switch_threshold=2.5,
                                  switch_window=2, max_tokens=12, seed=5)
    assert whole.choices[0].message.content == expected.text
    assert shares["small_tokens"] == expected.stats["switching"]["small_tokens"]
    pieces, last = [], None
    for chunk in client.chat.completions.create(stream=True, **kwargs):
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            last = c
    assert "".join(pieces) == whole.choices[0].message.content
    assert last.finish_reason is not None and last.model_extra["corral"]["switching"] == shares
