"""A server in a background thread (tests, benchmarks, notebooks): :class:`ServerThread`.

::

    with ServerThread(create_app(max_batch=8)) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="none")
        ...

It listens on ``127.0.0.1`` on a free port by default, installs no signal handlers, and always stops: leaving the
block (or :meth:`ServerThread.stop`) asks uvicorn to exit, waits a bounded time, and closes the application's
backend (its lifespan shutdown).
"""

from __future__ import annotations

import socket
import threading
import time

__all__ = ["ServerThread"]


class ServerThread:
    """uvicorn serving an ASGI application in a daemon thread.

    Parameters
    ----------
    app : ASGI application
        E.g. :func:`corral.server.app.create_app`'s.
    host : str
        Address to listen on (default: loopback).
    port : int
        0 (default): a free port, chosen by the system.
    start_timeout, stop_timeout : float
        Most seconds to wait for the server to start (``TimeoutError`` past it) and to stop.

    Attributes
    ----------
    url : str
        ``http://host:port`` once started.
    """

    def __init__(self, app, *, host: str = "127.0.0.1", port: int = 0, start_timeout: float = 30.0,
                 stop_timeout: float = 15.0, log_level: str = "warning") -> None:
        import uvicorn

        self.app = app
        self.host = host
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self.server.install_signal_handlers = lambda: None  # only the main thread may; ours stays untouched
        self._start_timeout = start_timeout
        self._stop_timeout = stop_timeout
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]},
                                        name="corral-server", daemon=True)

    def start(self) -> ServerThread:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        deadline = time.monotonic() + self._start_timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"the server did not start within {self._start_timeout:g} s")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Ask the server to exit and wait for it (bounded); then close the listening socket."""
        self.server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(self._stop_timeout)
        if self._thread.is_alive():  # a connection that would not close: force it
            self.server.force_exit = True
            self._thread.join(self._stop_timeout)
        self._sock.close()
        service = getattr(getattr(self.app, "state", None), "service", None)
        if service is not None:  # the lifespan closed it already unless the exit was forced; closing twice is fine
            service.backend.close()

    def __enter__(self) -> ServerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
