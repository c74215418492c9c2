"""Fixtures of the server tests: a server on loopback in a background thread (always stopped) and the official
``openai`` client pointed at it (helpers: ``server_helpers``)."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

from corral.generator import Generator  # noqa: E402
from corral.server.app import create_app  # noqa: E402
from corral.server.thread import ServerThread  # noqa: E402

from server_helpers import TIMEOUT  # noqa: E402


@pytest.fixture(scope="session")
def generator():
    """One generator (the embedded model) for every server of the session: constraints compile once."""
    return Generator()


@pytest.fixture(scope="module")
def server(generator):
    """The main server: batched (max_batch 4), continuous, on a free loopback port."""
    with ServerThread(create_app(generator, max_batch=4, max_queue=16, request_timeout=60)) as running:
        yield running


@pytest.fixture()
def client(server):
    """The official OpenAI client on :func:`server` (no retries: every status is what the server said)."""
    with openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=TIMEOUT) as c:
        yield c
