"""Helpers of the server tests: the fixtures (a server on loopback in a background thread, always stopped, and the
official ``openai`` client pointed at it), raw HTTP requests (what the OpenAI client does not send) and waiting for
the server's rows to drain.

The fixtures live here, imported by the test modules, rather than in a ``tests/server/conftest.py``: a second module
named ``conftest`` would shadow ``tests/conftest.py`` for the suites that ``from conftest import ...``."""

from __future__ import annotations

import http.client
import json
import time

import pytest

TIMEOUT = 60  # seconds: every client call is bounded


def raw(server, method: str, path: str, body=None, *, timeout: float = TIMEOUT):
    """``(status, decoded JSON body)`` of one request sent with ``http.client`` (``body``: JSON data or bytes)."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
    try:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        payload = response.read()
        return response.status, json.loads(payload) if payload else None
    finally:
        conn.close()


def wait_idle(server, *, timeout: float = 20.0) -> dict:
    """Poll ``/health`` until no row is live or queued; the last health body (the test fails past ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        status, health = raw(server, "GET", "/health")
        assert status == 200
        if health["live_rows"] == 0 and health["queued_rows"] == 0:
            return health
        assert time.monotonic() < deadline, f"rows still running: {health}"
        time.sleep(0.05)


def _server_deps():
    """The server's optional dependencies, or a skip naming the extra."""
    pytest.importorskip("fastapi", reason="the server tests need the server extra (fastapi)")
    pytest.importorskip("uvicorn", reason="the server tests need the server extra (uvicorn)")
    return pytest.importorskip("openai", reason="the server tests need the openai client (dev extra)")


@pytest.fixture(scope="session")
def generator():
    """One generator (the embedded model) for every server of the session: constraints compile once."""
    _server_deps()
    from corral.generator import Generator

    return Generator()


@pytest.fixture(scope="module")
def server(generator):
    """The main server: batched (max_batch 4), continuous, on a free loopback port."""
    from corral.server.app import create_app
    from corral.server.thread import ServerThread

    with ServerThread(create_app(generator, max_batch=4, max_queue=16, request_timeout=60)) as running:
        yield running


@pytest.fixture()
def client(server):
    """The official OpenAI client on :func:`server` (no retries: every status is what the server said)."""
    openai = _server_deps()
    with openai.OpenAI(base_url=server.url + "/v1", api_key="none", max_retries=0, timeout=TIMEOUT) as c:
        yield c
