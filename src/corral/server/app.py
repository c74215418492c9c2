"""The OpenAI-compatible ASGI application: :func:`create_app`.

Routes: ``POST /v1/chat/completions``, ``POST /v1/completions`` (see :mod:`corral.server.protocol` for the fields),
``GET /v1/models`` (the served model), ``GET /v1/models/{id}`` and ``GET /health`` (the backend's live and queued
rows, the constraint cache). Every error is an OpenAI error body (:mod:`corral.server.errors`), a 500 included (its
traceback goes to the ``corral.server`` log, never to the client).

This module imports fastapi (the ``server`` extra); :mod:`corral.server` itself does not. Run the application with
uvicorn (``corral serve``, or ``uvicorn.run(create_app(...))``); the backend's threads stop at the application's
shutdown (the ASGI lifespan) or with ``app.state.service.backend.close()``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException

from corral.server.backend import make_backend
from corral.server.errors import APIError, from_exception
from corral.server.protocol import parse_request
from corral.server.service import Service

__all__ = ["create_app", "model_name_of", "MAX_BODY_BYTES"]

log = logging.getLogger("corral.server")
MAX_BODY_BYTES = 8 * 1024 * 1024  #: Largest request body accepted (a 413 past it).
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def model_name_of(model) -> str:
    """The name the server gives a model: a folder's name, a hub name as it is, ``"corral-default"`` for the
    embedded model, else the loaded model's ``name_or_path`` (its last part) or its class name."""
    if model is None:
        return "corral-default"
    if isinstance(model, (str, os.PathLike)):
        path = Path(os.fspath(model)).expanduser()
        return path.resolve().name if path.exists() else os.fspath(model)
    inner = getattr(model, "model", None)
    name = getattr(getattr(inner, "config", None), "_name_or_path", None) or getattr(inner, "name_or_path", None)
    return Path(name).name if isinstance(name, str) and name else type(model).__name__


#: Seconds of compile budget per request by default (the library's default is 4 s; see ``create_app``).
SERVER_COMPILE_BUDGET = 10.0


def create_app(generator_or_model=None, *, max_batch: int = 16, max_queue: int = 64, request_timeout: float = 60,
               continuous: bool = True, model_name: str | None = None, batched: bool | None = None,
               compile_budget=SERVER_COMPILE_BUDGET):
    """The FastAPI application serving one model.

    Parameters
    ----------
    generator_or_model : Generator or model, optional
        A :class:`~corral.generator.Generator` (its caches are used: compiled constraints are shared across
        requests), or anything ``Generator(model)`` takes (``None``: the embedded default model). The model is
        loaded now.
    max_batch : int
        Most rows in one forward pass.
    max_queue : int
        Most rows waiting for a place in the batch; a request that does not fit gets a 429.
    request_timeout : float
        Seconds a request may take, queueing included (then a 504, or an error event in a stream).
    continuous : bool
        Continuous batching (a new request joins the running batch at the next step); ``False``: static batching.
    model_name : str, optional
        The model's name in responses and ``/v1/models`` (default: :func:`model_name_of`).
    batched : bool, optional
        ``False`` runs every row serially through ``Generator.run`` (no batch engine); ``None`` (default) uses the
        batch engine when it is available.
    compile_budget : float, dict, "unlimited" or CompileBudget
        The budget of each request's constraint compilation (:mod:`corral.budget`; past it, a 400 ``too_complex``
        naming the schema keyword). Default :data:`SERVER_COMPILE_BUDGET` seconds, more than the library's 4 s: a
        server compiles while it generates, so its wall clock runs slower than an idle caller's.

    Returns
    -------
    fastapi.FastAPI
        With ``app.state.service`` (:class:`~corral.server.service.Service`), whose ``backend`` runs the rows.

    Raises
    ------
    ConfigurationError, ModelError
        Bad sizes, or a model that cannot be loaded.
    """
    from corral.errors import ConfigurationError
    from corral.generator import Generator

    for name, value, low in (("max_batch", max_batch, 1), ("max_queue", max_queue, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ConfigurationError(f"{name} must be an integer >= {low}, got {value!r}")
    if isinstance(request_timeout, bool) or not isinstance(request_timeout, (int, float)) or not request_timeout > 0:
        raise ConfigurationError(f"request_timeout must be a number of seconds > 0, got {request_timeout!r}")
    from corral.budget import CompileBudget

    try:
        budget = CompileBudget.of(compile_budget)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(str(exc)) from None
    generator = generator_or_model if isinstance(generator_or_model, Generator) else Generator(generator_or_model)
    generator.model  # load it now: a missing model fails here, not at the first request
    name = model_name or model_name_of(getattr(generator, "_spec", generator_or_model))
    backend = make_backend(generator, max_batch=max_batch, max_queue=max_queue, continuous=continuous,
                           batched=batched)
    service = Service(generator, backend, model_name=name, request_timeout=request_timeout, compile_budget=budget)
    created = int(time.time())
    config = {"max_batch": max_batch, "max_queue": max_queue, "continuous": continuous,
              "request_timeout": float(request_timeout)}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        yield
        backend.close()

    app = FastAPI(title="corral", version=_version(), lifespan=lifespan)
    app.state.service = service

    def error_response(error: APIError):
        headers = {"Retry-After": "1"} if error.status == 429 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(HTTPException)
    async def http_error(request, exc):  # unknown routes, wrong methods
        return error_response(APIError(exc.status_code, str(exc.detail), code="not_found"
                                       if exc.status_code == 404 else None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request, exc):
        return error_response(APIError(400, "invalid request", code="invalid_request"))

    async def serve(request: Request, endpoint: str):
        try:
            raw = await _read_body(request)
            try:
                body = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise APIError(400, f"the request body is not JSON: {exc}", code="invalid_json") from None
            req = parse_request(body, endpoint)
            if req.model is not None and req.model != name:
                raise APIError(404, f"the model {req.model!r} does not exist; this server serves {name!r}",
                               param="model", code="model_not_found")
            prepared = await service.prepare(req)
            if req.stream:
                events, cancel = await service.stream(req, prepared)
                return StreamingResponse(events, media_type="text/event-stream", headers=_SSE_HEADERS,
                                         background=BackgroundTask(cancel))  # also when the stream never started
            return JSONResponse(await service.complete(req, prepared, request))
        except Exception as exc:  # every error is an OpenAI error body
            error = from_exception(exc)
            if error.status >= 500 and not isinstance(exc, APIError):
                log.error("request failed", exc_info=exc)
            return error_response(error)

    @app.post("/v1/chat/completions")
    async def chat_completions(request: Request):
        """OpenAI chat completions, constrained (``response_format``, ``grammar``, ``regex``, ``choices``)."""
        return await serve(request, "chat")

    @app.post("/v1/completions")
    async def completions(request: Request):
        """OpenAI (legacy) completions, constrained the same way."""
        return await serve(request, "completion")

    def model_card() -> dict:
        return {"id": name, "object": "model", "created": created, "owned_by": "corral"}

    @app.get("/v1/models")
    async def models():
        """The served model."""
        return {"object": "list", "data": [model_card()]}

    @app.get("/v1/models/{model_id:path}")
    async def model(model_id: str):
        """The served model, by name (404 for another)."""
        if model_id != name:
            return error_response(APIError(404, f"the model {model_id!r} does not exist", param="model",
                                           code="model_not_found"))
        return model_card()

    @app.get("/health")
    async def health():
        """Liveness and load: live and queued rows, counters, the constraint cache."""
        stats = backend.stats()
        return {"status": "ok", "model": name, "backend": backend.name, **config,
                "live_rows": stats.get("live_rows", 0), "queued_rows": stats.get("queued_rows", 0),
                "stats": stats, "cache": generator.cache_info()}

    return app


async def _read_body(request: Request) -> bytes:
    """The request body, refused with a 413 as soon as it is known to be larger than :data:`MAX_BODY_BYTES`."""
    too_large = APIError(413, f"the request body is larger than {MAX_BODY_BYTES} bytes", code="body_too_large")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_BODY_BYTES:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _version() -> str:
    from corral import __version__

    return __version__
