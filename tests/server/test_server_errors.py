"""Every refusal is an OpenAI error body with the right status and ``param``; never a 500 with a traceback.
Also the limits: a full queue is a 429, a request past its deadline a 504."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (fastapi)")
pytest.importorskip("uvicorn", reason="the server tests need the server extra (uvicorn)")
openai = pytest.importorskip("openai", reason="the server tests need the openai client (dev extra)")


from corral.server.app import create_app
from corral.server.thread import ServerThread
from server_helpers import TIMEOUT, generator, raw, server, wait_idle  # noqa: F401  (fixtures)

CHAT = "/v1/chat/completions"
LONG = {"regex": "([a-z] ){240}"}  # at least 240 tokens: longer than the tight server's deadline
MSG = [{"role": "user", "content": "hi"}]


def _check_error(status, body, expected_status, param=None):
    assert status == expected_status, body
    error = body["error"]
    assert set(error) >= {"message", "type", "param", "code"} and error["message"]
    assert "Traceback" not in error["message"]
    if param is not None:
        assert error["param"] == param, error
    return error


@pytest.mark.parametrize("path, body, status, param", [
    (CHAT, {"messages": MSG, "regex": "a", "choices": ["a"]}, 400, "choices"),
    (CHAT, {"messages": MSG, "response_format": {"type": "json_object"}, "grammar": "json"}, 400, "grammar"),
    (CHAT, {"messages": MSG, "bogus": 1}, 400, "bogus"),
    (CHAT, {"messages": MSG, "tools": [{"type": "function", "function": {"name": "f"}}]}, 400, "tools"),
    (CHAT, {"messages": MSG, "presence_penalty": 0.5}, 400, "presence_penalty"),
    (CHAT, {"messages": MSG, "temperature": 3}, 400, "temperature"),
    (CHAT, {"messages": MSG, "top_p": 0}, 400, "top_p"),
    (CHAT, {"messages": MSG, "max_tokens": 0}, 400, "max_tokens"),
    (CHAT, {"messages": MSG, "n": 0}, 400, "n"),
    (CHAT, {"messages": MSG, "seed": "x"}, 400, "seed"),
    (CHAT, {"messages": MSG, "method": "beam"}, 400, "method"),
    (CHAT, {"messages": MSG, "draft": "/etc"}, 400, "draft"),
    (CHAT, {"messages": MSG, "grammar": "/etc/passwd"}, 400, "grammar"),
    (CHAT, {"messages": MSG, "grammar": "start: foo"}, 400, "grammar"),
    (CHAT, {"messages": MSG, "regex": "(a)\\1b"}, 400, "regex"),
    (CHAT, {"messages": MSG, "regex": "a", "stop": ["x"]}, 400, "stop"),
    (CHAT, {"messages": MSG, "stream_options": {"include_usage": True}}, 400, "stream_options"),
    (CHAT, {"messages": MSG, "response_format": {"type": "xml"}}, 400, "response_format"),
    (CHAT, {"messages": MSG, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}}, 400,
     "response_format.json_schema.schema"),
    (CHAT, {"messages": MSG, "method": "awrs", "top_p": 0.5}, 400, "top_p"),
    (CHAT, {"messages": MSG, "method": "asap", "top_p": 0.5}, 400, "top_p"),
    (CHAT, {"messages": MSG, "method": "asap", "samples": 4}, 400, "samples"),
    (CHAT, {"messages": MSG, "draft": "ngram", "draft_tree": [8, 16]}, 400, "draft_tree"),  # 128 leaves > 64
    (CHAT, {"messages": MSG, "draft": "ngram", "draft_tree": 2, "method": "smc"}, 400, "draft_tree"),
    (CHAT, {"messages": MSG, "draft": "ngram", "switching": "entropy"}, 400, "switching"),
    (CHAT, {"messages": MSG, "draft": "model", "switching": {"type": "entropy", "window": -1}}, 400,
     "switching.window"),
    (CHAT, {"messages": []}, 400, "messages"),
    (CHAT, {"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
    (CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400, "messages[0].content"),
    (CHAT, {"messages": [{"role": "user", "content": "x " * 600}]}, 400, "messages"),
    (CHAT, {"messages": MSG, "model": "gpt-4o"}, 404, "model"),
    (CHAT, [1, 2], 400, None),
    ("/v1/completions", {"prompt": {"a": 1}}, 400, "prompt"),
    ("/v1/completions", {"prompt": [10**9]}, 400, "prompt"),
    ("/v1/completions", {"prompt": "a", "echo": True}, 400, "echo"),
    ("/v1/completions", {"prompt": "a", "messages": MSG}, 400, "messages"),
])
def test_bad_requests(server, path, body, status, param):
    _check_error(*raw(server, "POST", path, body), status, param)


def test_schema_errors_of_each_kind(server):
    cases = [({"type": "integer", "minimum": 5, "maximum": 1}, "schema_unsatisfiable", "/minimum"),
             ({"type": "string", "pattern": "(a)\\1"}, "schema_unsupported", "/pattern"),
             ({"$ref": "https://example.com/s.json"}, None, "/$ref")]
    for schema, code, pointer in cases:
        body = {"messages": MSG, "response_format": {"type": "json_schema",
                                                     "json_schema": {"name": "s", "schema": schema}}}
        error = _check_error(*raw(server, "POST", CHAT, body), 400)
        assert error["param"].startswith("response_format.json_schema.schema"), error
        assert error["pointer"] in (pointer, ""), error
        if code is not None:
            assert error["code"] == code, error


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lenient_schema_when_strict_is_false(server):
    schema = {"type": "object", "properties": {"s": {"type": "string", "pattern": "^(a)\\1+$"}}, "required": ["s"]}
    body = {"messages": MSG, "max_tokens": 40, "seed": 0,
            "response_format": {"type": "json_schema", "json_schema": {"name": "s", "schema": schema}}}
    _check_error(*raw(server, "POST", CHAT, body), 400)  # strict by default: a backreference cannot be exact
    body["response_format"]["json_schema"]["strict"] = False
    status, response = raw(server, "POST", CHAT, body)
    assert status == 200 and response["choices"][0]["finish_reason"] in ("stop", "length"), response


def test_malformed_body_unknown_route_and_method(server):
    _check_error(*raw(server, "POST", CHAT, b"{not json"), 400)
    _check_error(*raw(server, "POST", CHAT, b"\xff\xfe"), 400)
    _check_error(*raw(server, "GET", "/v1/nothing"), 404)
    _check_error(*raw(server, "GET", CHAT), 405)
    _check_error(*raw(server, "GET", "/v1/models/other"), 404, "model")
    _check_error(*raw(server, "POST", CHAT, b" " * (8 * 1024 * 1024 + 1)), 413)


def test_neutral_openai_fields_are_accepted(server):
    body = {"messages": MSG, "max_tokens": 4, "presence_penalty": 0, "frequency_penalty": 0.0, "logprobs": False,
            "user": "u", "tools": [], "logit_bias": {}, "parallel_tool_calls": True, "temperature": 0}
    status, response = raw(server, "POST", CHAT, body)
    assert status == 200, response


@pytest.fixture(scope="module")
def tight(generator):
    """A server with one batch place, one queue place and a 0.4 s deadline."""
    with ServerThread(create_app(generator, max_batch=1, max_queue=1, request_timeout=0.4)) as running:
        yield running


def test_full_queue_is_a_429(tight):
    with openai.OpenAI(base_url=tight.url + "/v1", api_key="none", max_retries=0, timeout=TIMEOUT) as client:
        with pytest.raises(openai.RateLimitError) as info:  # 3 rows: one live, one queued, one too many
            client.completions.create(model="corral-default", prompt="x", n=3, max_tokens=450,
                                      extra_body=LONG)
    assert info.value.body["code"] == "queue_full" and info.value.response.headers["retry-after"] == "1"
    wait_idle(tight)


def test_deadline_is_a_504_and_a_stream_error_event(tight):
    with openai.OpenAI(base_url=tight.url + "/v1", api_key="none", max_retries=0, timeout=TIMEOUT) as client:
        with pytest.raises(openai.APIStatusError) as info:
            client.completions.create(model="corral-default", prompt="x", max_tokens=450,
                                      extra_body=LONG, temperature=1.0)
        assert info.value.status_code == 504 and info.value.body["code"] == "timeout"
        wait_idle(tight)
        with pytest.raises(openai.APIError) as info:  # the status line was sent: the error is an event
            for _ in client.completions.create(model="corral-default", prompt="x", max_tokens=450, stream=True,
                                               extra_body=LONG):
                pass
        assert "longer than" in str(info.value) or "timed out" in str(info.value)
    wait_idle(tight)
