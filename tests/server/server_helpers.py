"""Helpers of the server tests: raw HTTP requests (what the OpenAI client does not send) and waiting for the
server's rows to drain."""

from __future__ import annotations

import http.client
import json
import time

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
