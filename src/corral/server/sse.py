"""The OpenAI response objects: whole responses (``chat.completion``, ``text_completion``) and server-sent events
(``chat.completion.chunk`` / ``text_completion`` chunks, ``data: [DONE]``, and an ``{"error": ...}`` event when a
stream fails after it started).

A choice may carry one field OpenAI does not define, ``corral`` (on a whole response's choice, and on a stream's
last chunk of that choice, the one with its ``finish_reason``): how the text was drawn where a client should know,
e.g. the share of tokens each model wrote with the lossy ``switching`` (:func:`corral.server.service.corral_stats`).
OpenAI clients keep unknown fields (``choice.model_extra["corral"]`` in the Python client)."""

from __future__ import annotations

import json
import time
import uuid

from corral.server.errors import APIError

__all__ = ["DONE", "choice", "response_body", "Chunker", "error_event", "new_id"]

#: The last event of a successful stream.
DONE = b"data: [DONE]\n\n"


def new_id(endpoint: str) -> str:
    """A fresh response id: ``chatcmpl-...`` or ``cmpl-...``."""
    return f"{'chatcmpl' if endpoint == 'chat' else 'cmpl'}-{uuid.uuid4().hex[:24]}"


def _event(data: dict) -> bytes:
    return b"data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"


def choice(req, index: int, text: str, finish_reason: str, *, corral: dict | None = None) -> dict:
    """One choice of a whole response.

    Parameters
    ----------
    req : ServeRequest
    index : int
    text : str
    finish_reason : str
        ``"stop"`` or ``"length"``.
    corral : dict, optional
        The choice's ``corral`` field (left out when ``None``).
    """
    if req.endpoint == "chat":
        item = {"index": index, "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None, "finish_reason": finish_reason}
    else:
        item = {"index": index, "text": text, "logprobs": None, "finish_reason": finish_reason}
    if corral is not None:
        item["corral"] = corral
    return item


def response_body(req, model: str, choices: list, usage: dict) -> dict:
    """A whole ``chat.completion`` or ``text_completion`` object."""
    return {"id": new_id(req.endpoint), "object": "chat.completion" if req.endpoint == "chat" else "text_completion",
            "created": int(time.time()), "model": model, "choices": choices, "usage": usage,
            "system_fingerprint": None}


class Chunker:
    """The events of one streamed response (one id and creation time for all its chunks).

    Parameters
    ----------
    req : ServeRequest
    model : str
    """

    def __init__(self, req, model: str) -> None:
        self.req = req
        self.model = model
        self.id = new_id(req.endpoint)
        self.created = int(time.time())
        self.object = "chat.completion.chunk" if req.endpoint == "chat" else "text_completion"

    def _chunk(self, choices: list, usage=None) -> dict:
        data = {"id": self.id, "object": self.object, "created": self.created, "model": self.model,
                "choices": choices, "system_fingerprint": None}
        if self.req.include_usage:
            data["usage"] = usage
        return data

    def event(self, index: int, *, text: str | None = None, role: bool = False,
              finish_reason: str | None = None, corral: dict | None = None) -> bytes:
        """One chunk for choice ``index``: the assistant role (chat's first chunk), a piece of text, or the end
        (``finish_reason``, with an empty delta, and the choice's ``corral`` field when not ``None``)."""
        if self.req.endpoint == "chat":
            delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
            item = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        else:
            item = {"index": index, "text": text or "", "logprobs": None, "finish_reason": finish_reason}
        if corral is not None:
            item["corral"] = corral
        return _event(self._chunk([item]))

    def usage_event(self, usage: dict) -> bytes:
        """The last chunk with ``stream_options.include_usage``: no choices, the usage."""
        return _event(self._chunk([], usage))


def error_event(error: APIError) -> bytes:
    """An ``{"error": ...}`` event: a stream that failed after it started (the status line was already sent)."""
    return _event(error.body())
