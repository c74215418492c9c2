"""The other backends behave the same: static batching, and the serial fallback (no batch engine): valid outputs,
streams that join into the same text, and a cancelled stream that frees its row."""

from __future__ import annotations

import json

import jsonschema
import pytest

pytest.importorskip("fastapi", reason="the server tests need the server extra (fastapi)")
pytest.importorskip("uvicorn", reason="the server tests need the server extra (uvicorn)")
openai = pytest.importorskip("openai", reason="the server tests need the openai client (dev extra)")


from corral.server.app import create_app
from corral.server.thread import ServerThread
from server_helpers import TIMEOUT, generator, raw, server, wait_idle  # noqa: F401  (fixtures)

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
          "required": ["id", "ok"], "additionalProperties": False}
FORMAT = {"type": "json_schema", "json_schema": {"name": "s", "schema": SCHEMA, "strict": True}}


@pytest.fixture(scope="module", params=[{"continuous": False}, {"batched": False}], ids=["static", "serial"])
def other(request, generator):
    with ServerThread(create_app(generator, max_batch=4, max_queue=8, **request.param)) as running:
        yield running, request.param


def test_same_behaviour(other):
    server, param = other
    health = raw(server, "GET", "/health")[1]
    assert health["backend"] == ("serial" if param.get("batched") is False else "engine")
    assert health["continuous"] is param.get("continuous", True)
    with openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=TIMEOUT) as client:
        kwargs = dict(model="corral-default", messages=[{"role": "user", "content": "JSON"}], max_tokens=60, seed=4,
                      n=2, response_format=FORMAT)
        whole = client.chat.completions.create(**kwargs)
        for choice in whole.choices:
            jsonschema.validate(json.loads(choice.message.content), SCHEMA)
        texts = {0: "", 1: ""}
        for chunk in client.chat.completions.create(stream=True, **kwargs):
            for c in chunk.choices:
                texts[c.index] += c.delta.content or ""
        assert [texts[0], texts[1]] == [c.message.content for c in whole.choices]
        stream = client.completions.create(model="corral-default", prompt="x", max_tokens=500, stream=True,
                                           extra_body={"regex": "([a-z] ){400}"})
        for i, _ in enumerate(stream):
            if i == 2:
                break
        stream.close()
    health = wait_idle(server)
    if param.get("batched") is False:
        assert health["stats"]["cancelled"] >= 1
