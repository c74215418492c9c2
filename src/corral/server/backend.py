"""What runs the server's rows: a :class:`Backend` takes :class:`Row` objects and gives back
:class:`~corral.batching.request.RowHandle` objects that resolve to a :class:`~corral.batching.request.BatchResult`.

* :class:`SerialBackend` runs rows one at a time in a worker thread through :meth:`Generator.run
  <corral.generator.Generator.run>` (every method and ``draft=``; tokens are passed on as the sampler emits them and a
  cancelled row stops at its next token; SMC and ASAp emit theirs at the end, so such a row runs to its end). Rows
  run in the order submitted: the ``method="asap"`` rows of one prompt are its successive samples in a shared trie.
* :class:`EngineBackend` puts masked-decoding rows (``method="lcd"`` without ``draft=``) on a
  :class:`~corral.batching.engine.BatchEngine` (one forward pass per step for every live row; with continuous
  batching a new row joins at the next step) and hands the others to a :class:`SerialBackend`.

Both bound their queue: :meth:`Backend.submit` raises :class:`~corral.batching.request.QueueFull` when ``max_queue``
rows already wait.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

from corral.batching.request import BatchResult, QueueFull, Request, RowHandle

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.constraint import Constraint
    from corral.generator import Generator
    from corral.options import GenerateOptions
    from corral.protocols import CompiledConstraint

__all__ = ["Row", "Backend", "SerialBackend", "EngineBackend", "make_backend"]

log = logging.getLogger("corral.server")


@dataclass
class Row:
    """One row to generate, in both the batch engine's terms and :meth:`Generator.run`'s.

    Attributes
    ----------
    prompt_ids : list of int
    constraint : Constraint
        The request's constraint (for :meth:`Generator.run`; compiled through its cache).
    compiled : CompiledConstraint or None
        The same constraint compiled (for the engine); ``None`` when unconstrained.
    options : GenerateOptions
        Every option of the row, its seed included.
    on_token : callable or None
        ``on_token(token_id)`` for each generated token (EOS included), in the backend's thread.
    timeout : float or None
        Seconds from submission; past it the row ends with status ``"timeout"``.
    """

    prompt_ids: list
    constraint: Constraint
    compiled: CompiledConstraint | None
    options: GenerateOptions
    on_token: Callable[[int], Any] | None = None
    timeout: float | None = None

    def request(self) -> Request:
        """The batch engine's :class:`~corral.batching.request.Request` for this row."""
        s = self.options.sampling
        on_token = self.on_token
        return Request(prompt_ids=list(self.prompt_ids), compiled=self.compiled, max_tokens=s.max_tokens,
                       temperature=s.temperature, top_k=s.top_k, top_p=s.top_p, seed=s.seed,
                       on_token=(lambda token, text: on_token(token)) if on_token is not None else None,
                       timeout=self.timeout)


class Backend(abc.ABC):
    """The interface: :meth:`submit`, :meth:`stats`, :meth:`close`."""

    name = "backend"

    @abc.abstractmethod
    def submit(self, row: Row) -> RowHandle:
        """Queue ``row``; its handle. Raises :class:`~corral.batching.request.QueueFull` when the queue is full."""

    @abc.abstractmethod
    def stats(self) -> dict:
        """``live_rows`` (being generated), ``queued_rows`` (waiting) and counters."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop: rows still queued or running end with status ``"cancelled"``."""


class _Stop(BaseException):
    """Raised by the token callback to stop a cancelled or timed-out row (not an ``Exception``: no sampler
    swallows it)."""


class SerialBackend(Backend):
    """Rows one at a time through :meth:`Generator.run` in one worker thread.

    Parameters
    ----------
    generator : Generator
    max_queue : int
        Most rows waiting (the running row not counted).
    """

    name = "serial"

    def __init__(self, generator: Generator, *, max_queue: int = 64) -> None:
        self.generator = generator
        self.max_queue = int(max_queue)
        self._queue: deque = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._live = 0
        self._counts = {"submitted": 0, "finished": 0, "cancelled": 0}
        self._thread = threading.Thread(target=self._work, name="corral-serve-serial", daemon=True)
        self._thread.start()

    def submit(self, row: Row) -> RowHandle:
        """Queue ``row`` (see :meth:`Backend.submit`)."""
        handle = RowHandle(row.request())
        with self._cond:
            if self._closed:
                raise QueueFull("the backend is closed")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f"the queue holds {self.max_queue} rows")
            self._queue.append((row, handle))
            self._counts["submitted"] += 1
            self._cond.notify()
        return handle

    def stats(self) -> dict:
        """See :meth:`Backend.stats`."""
        with self._cond:
            return {"live_rows": self._live, "queued_rows": len(self._queue), **self._counts}

    def close(self) -> None:
        """See :meth:`Backend.close`."""
        with self._cond:
            self._closed = True
            pending = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for _, handle in pending:
            handle.cancel()
            handle._resolve(_ended(handle, "cancelled", "the server is shutting down"))
        self._thread.join(timeout=30)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if self._closed and not self._queue:
                    return
                row, handle = self._queue.popleft()
                self._live += 1
            try:
                handle._resolve(self._run(row, handle))
            finally:
                with self._cond:
                    self._live -= 1
                    self._counts["finished"] += 1
                    if handle.cancelled:
                        self._counts["cancelled"] += 1

    def _run(self, row: Row, handle: RowHandle) -> BatchResult:
        """Run one row to its result (cancellation, timeout and errors included)."""
        deadline = None if row.timeout is None else handle.submitted + row.timeout
        emitted: list[int] = []

        def check() -> None:
            if self._closed or handle.cancelled:
                raise _Stop("cancelled")
            if deadline is not None and time.perf_counter() > deadline:
                raise _Stop("timeout")

        def on_tokens(token_ids) -> None:
            for token in token_ids:
                emitted.append(int(token))
                if row.on_token is not None:
                    row.on_token(int(token))
            check()

        try:
            check()
            result = self.generator.run(list(row.prompt_ids), row.constraint, row.options, on_tokens=on_tokens)
        except _Stop as stop:
            reason = str(stop)
            return _ended(handle, reason, "cancelled" if reason == "cancelled" else "the request timed out",
                          tokens=emitted)
        except Exception as exc:  # the row fails, the server goes on
            log.exception("row failed")
            return _ended(handle, "error", f"{type(exc).__name__}: {exc}", tokens=emitted, exc=exc)
        for token in result.token_ids[len(emitted):]:  # what the sampler did not stream (SMC, ASAp)
            if row.on_token is not None:
                row.on_token(int(token))
        fields = {name: getattr(result, name) for name in result.__dataclass_fields__}
        return BatchResult(**fields)


def _ended(handle: RowHandle, status: str, error: str, *, tokens=(), exc: BaseException | None = None):
    """The result of a row that did not finish (cancelled, timed out, failed)."""
    result = BatchResult(text="", token_ids=list(tokens), status=status, logprob=float("nan"), error=error)
    result.exception = exc  # the original exception, for the server to map (a prompt too long is the client's)
    return result


class EngineBackend(Backend):
    """Masked-decoding rows on a :class:`~corral.batching.engine.BatchEngine`, the others serially.

    Parameters
    ----------
    generator : Generator
    max_batch : int
        Most rows in one forward pass.
    max_queue : int
        Most rows waiting (in the engine's queue; the serial side has its own queue of the same bound).
    continuous : bool
        Continuous batching (a row joins the running batch at the next step) or static batching (a new batch
        starts when the running one has ended).
    """

    name = "engine"

    def __init__(self, generator: Generator, *, max_batch: int = 16, max_queue: int = 64,
                 continuous: bool = True) -> None:
        from corral.batching.engine import BatchEngine

        self.generator = generator
        self.engine = BatchEngine(generator.model, max_batch=max_batch, max_queue=max_queue,
                                  continuous=continuous).start()
        self.serial = SerialBackend(generator, max_queue=max_queue)

    def submit(self, row: Row) -> RowHandle:
        """Queue ``row`` (see :meth:`Backend.submit`)."""
        s = row.options
        if s.sampling.method != "lcd" or s.speculation.draft is not None:
            return self.serial.submit(row)
        return self.engine.submit(row.request())

    def stats(self) -> dict:
        """See :meth:`Backend.stats` (the engine's and the serial side's rows together)."""
        e = self.engine
        engine = {"live_rows": e.n_live, "queued_rows": e.n_queued, "steps": e.n_steps, "tokens": e.n_tokens}
        serial = self.serial.stats()
        return {"live_rows": engine["live_rows"] + serial["live_rows"],
                "queued_rows": engine["queued_rows"] + serial["queued_rows"], "engine": engine, "serial": serial}

    def close(self) -> None:
        """See :meth:`Backend.close`."""
        self.engine.close(timeout=30)
        self.serial.close()


def make_backend(generator: Generator, *, max_batch: int = 16, max_queue: int = 64, continuous: bool = True,
                 batched: bool | None = None) -> Backend:
    """The backend for a generator: an :class:`EngineBackend` when the batch engine is available (and
    ``batched`` is not ``False``), else a :class:`SerialBackend`."""
    if batched is not False:
        try:
            return EngineBackend(generator, max_batch=max_batch, max_queue=max_queue, continuous=continuous)
        except ImportError:
            if batched:
                raise
    return SerialBackend(generator, max_queue=max_queue)
