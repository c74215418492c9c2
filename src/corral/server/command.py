"""``corral serve``: the OpenAI-compatible server on one model.

``corral serve --model PATH [--host 127.0.0.1] [--port 8000] [--max-batch 16] [--max-queue 64]
[--request-timeout 60] [--no-continuous]``. Everything is checked before the server starts: the numbers, that
fastapi and uvicorn are installed (the ``server`` extra), that the model loads and that the address can be bound;
any failure is one ``corral: error:`` line and exit status 2. The server listens on the loopback address unless
``--host`` says otherwise, and runs until interrupted (exit status 0).

This module imports neither fastapi nor uvicorn at import time: ``corral --help`` works without the extra.
"""

from __future__ import annotations

import socket
import sys

from corral.errors import ConfigurationError

__all__ = ["add_serve_parser", "run_serve"]


def add_serve_parser(sub) -> None:
    """Add the ``serve`` command to the ``corral`` command's subparsers.

    Parameters
    ----------
    sub : argparse._SubParsersAction
    """
    srv = sub.add_parser(
        "serve",
        help="serve a model over HTTP (OpenAI-compatible; the server extra)",
        description="Serve a model with an OpenAI-compatible API: POST /v1/chat/completions and /v1/completions "
                    "(response_format json_schema / json_object; extra body fields grammar, regex, choices, method "
                    "(lcd, awrs, smc, asap: the n choices are successive ASAp samples in one trie), draft (auto, "
                    "ngram, forced, model), draft_tree (K or [K1, K2, ...], with a draft) and switching ('entropy' or "
                    "{type, threshold, window}, with draft 'model': lossy, each choice reports the share of tokens "
                    "each model wrote in its 'corral' field)), GET /v1/models and /health. Concurrent requests are "
                    "batched onto the model. Needs the "
                    "server extra (pip install 'corral[server]'). Exit status: 0 after an interrupt, 2 bad input "
                    "(bad numbers, missing extra, a model that cannot be loaded, an address that cannot be bound).",
    )
    srv.add_argument("--model", metavar="PATH", help="model folder or hub name (default: the embedded model)")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1, loopback only)")
    srv.add_argument("--port", default="8000", metavar="N", help="port to listen on (default 8000; 0: any free port)")
    srv.add_argument("--max-batch", default="16", metavar="N", help="most rows in one forward pass (16)")
    srv.add_argument("--max-queue", default="64", metavar="N",
                     help="most rows waiting for the batch; a request that does not fit gets HTTP 429 (64)")
    srv.add_argument("--request-timeout", default="60", metavar="SECONDS",
                     help="seconds a request may take, queueing included (60); then HTTP 504")
    srv.add_argument("--compile-budget", default=None, metavar="SECONDS|unlimited",
                     help="compile budget of each request's constraint (default 10 s; past it a 400 too_complex)")
    srv.add_argument("--no-continuous", dest="continuous", action="store_false",
                     help="static batching: a new batch starts only when the running one has ended")
    srv.add_argument("--log-level", default="info", choices=("critical", "error", "warning", "info", "debug"),
                     help="uvicorn's log level (info)")


def _integer(text: str, flag: str, low: int, high: int | None = None) -> int:
    try:
        value = int(text, 10)
    except (TypeError, ValueError):
        value = None
    if value is None or value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ConfigurationError(f"{flag} must be an integer {bound}, got {text!r}")
    return value


def _seconds(text: str, flag: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = float("nan")
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"{flag} must be a number of seconds > 0, got {text!r}")
    return value


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv4 or IPv6), so that a taken port is an error before serving."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise ConfigurationError(f"--host {host!r}: {exc.strerror or exc}") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock


def run_serve(args) -> int:
    """Run ``corral serve`` with parsed arguments (see :func:`add_serve_parser`); the exit status.

    Raises
    ------
    ConfigurationError, ModelError
        Bad input (the command line prints it and exits with 2).
    """
    port = _integer(args.port, "--port", 0, 65535)
    max_batch = _integer(args.max_batch, "--max-batch", 1)
    max_queue = _integer(args.max_queue, "--max-queue", 1)
    timeout = _seconds(args.request_timeout, "--request-timeout")
    budget = None if args.compile_budget is None else (
        "unlimited" if args.compile_budget == "unlimited" else _seconds(args.compile_budget, "--compile-budget"))
    try:
        import fastapi  # noqa: F401  (checked here: a clear error before the model loads)
        import uvicorn
    except ImportError as exc:
        raise ConfigurationError(f"corral serve needs the server extra (pip install 'corral[server]'): {exc}") from None
    from corral.server.app import create_app

    sock = _bind(args.host, port)
    try:
        app = create_app(args.model, max_batch=max_batch, max_queue=max_queue, request_timeout=timeout,
                         continuous=args.continuous, **({} if budget is None else {"compile_budget": budget}))
    except BaseException:
        sock.close()
        raise
    bound = sock.getsockname()
    print(f"corral: serving {app.state.service.model_name} on http://{args.host}:{bound[1]} "
          f"(OpenAI API under /v1; Ctrl-C stops)", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_level=args.log_level, lifespan="on", timeout_graceful_shutdown=5)
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down gracefully on Ctrl-C, then raises it again
        pass
    finally:
        sock.close()
    return 0
