"""What a :class:`~corral.batching.engine.BatchEngine` row is made of: its :class:`Request`, the :class:`RowHandle`
the caller holds, and the :class:`BatchResult` the handle resolves to.

A handle is thread-safe: the engine resolves it from its own thread, and any thread may wait on it
(:meth:`RowHandle.result`), cancel it, or register a callback (:meth:`RowHandle.add_done_callback`, e.g. an
``asyncio`` server's ``loop.call_soon_threadsafe``).
"""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corral.errors import ConfigurationError, GenerationError
from corral.result import Result

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import CompiledConstraint, ConstraintState

__all__ = ["Request", "RowHandle", "BatchResult", "QueueFull", "STATUSES"]

#: Every status a batch row ends with: those of :class:`~corral.result.Result` (``complete``, ``length``,
#: ``invalid``) and ``error`` (this row failed: :attr:`BatchResult.error` says why), ``cancelled``
#: (:meth:`RowHandle.cancel`, or the engine was closed) and ``timeout`` (:attr:`Request.timeout` ran out).
STATUSES = ("complete", "length", "invalid", "error", "cancelled", "timeout")


class QueueFull(GenerationError):
    """:meth:`~corral.batching.engine.BatchEngine.submit` on an engine whose queue holds ``max_queue`` rows."""


@dataclass
class BatchResult(Result):
    """A :class:`~corral.result.Result` of one batch row, with the row's error and the caller's tag.

    Attributes
    ----------
    error : str or None
        Why the row failed (``status == "error"``), or was stopped (``"cancelled"``, ``"timeout"``).
    tag : object
        :attr:`Request.tag`, unchanged (an id to match results with requests).
    """

    error: str | None = None
    tag: Any = None

    def __repr__(self) -> str:  # the base repr, plus the error
        base = super().__repr__()
        return base if self.error is None else base[:-1] + f", error={self.error!r})"


@dataclass
class Request:
    """One row to generate: prompt, constraint, sampling and callbacks.

    Attributes
    ----------
    prompt_ids : list of int
        The prompt's token ids (empty: the model's BOS token).
    compiled : CompiledConstraint or None
        The constraint: the row gets ``compiled.matcher()`` when admitted. ``None`` and no ``matcher``:
        unconstrained (a :class:`~corral.runtime.free.FreeMatcher`).
    matcher : ConstraintState or None
        A fresh constraint state to use as it is (instead of ``compiled``).
    max_tokens : int
        Most tokens to generate, EOS included (``>= 1``).
    temperature, top_k, top_p : optional
        As in :func:`corral.generate` (0 or ``None`` temperature: greedy).
    seed : int or None
        Seeds the row's own ``torch.Generator`` the way :func:`corral.generate` does, so a row's tokens equal the
        single-call output for that seed wherever the batched and single forward passes round alike.
    eos_token_ids : collection of int or None
        The tokens that end the row (default: the model's EOS ids). For unconstrained rows only (a constraint
        allows the model's EOS ids exactly where its text is complete): extra stop ids are allowed and end the row;
        a model EOS id left out is an ordinary token (``[]``: never stop before ``max_tokens``, like "ignore EOS").
    on_token : callable or None
        ``on_token(token_id, text)`` after each sampled token (EOS included, with text ``""``), in the engine's
        thread; ``text`` is the token's bytes decoded incrementally (UTF-8, ``errors="replace"``; a character split
        over tokens comes with the token that completes it), so the pieces join into the result's text. An
        exception it raises ends the row with status ``"error"`` (e.g. a client that went away).
    finalize : callable or None
        ``finalize(result) -> result`` once the row ended (e.g. parse and validate a schema output); an exception
        makes the row an ``"error"``.
    timeout : float or None
        Seconds from :meth:`~corral.batching.engine.BatchEngine.submit`; past it the row ends with ``"timeout"``.
    tag : object
        Anything; copied to :attr:`BatchResult.tag`.
    timings : dict
        Figures added to the result's ``timings`` (e.g. ``compile_s`` measured by the caller).
    """

    prompt_ids: list[int]
    compiled: CompiledConstraint | None = None
    matcher: ConstraintState | None = None
    max_tokens: int = 256
    temperature: float | None = 1.0
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    eos_token_ids: Collection[int] | None = None
    on_token: Callable[[int, str], None] | None = None
    finalize: Callable[[BatchResult], BatchResult] | None = None
    timeout: float | None = None
    tag: Any = None
    timings: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        from corral.samplers.masking import validate_sampling

        if isinstance(self.prompt_ids, (str, bytes)) or not all(
                isinstance(t, numbers.Integral) and not isinstance(t, bool) for t in self.prompt_ids):
            raise ConfigurationError("Request.prompt_ids must be a list of token ids (encode text first)")
        self.prompt_ids = [int(t) for t in self.prompt_ids]
        if isinstance(self.max_tokens, bool) or not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            raise ConfigurationError(f"max_tokens must be an integer >= 1, got {self.max_tokens!r}")
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ConfigurationError(f"seed must be an integer or None, got {self.seed!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ConfigurationError(f"timeout must be a number of seconds > 0, got {self.timeout!r}")
        validate_sampling(self.temperature, self.top_k, self.top_p)


class RowHandle:
    """The caller's side of a submitted row: wait for it, cancel it, watch it.

    Attributes
    ----------
    request : Request
    submitted : float
        ``time.perf_counter()`` at submission.
    """

    def __init__(self, request: Request) -> None:
        self.request = request
        self.submitted = time.perf_counter()
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._result: BatchResult | None = None
        self._callbacks: list[Callable[[RowHandle], None]] = []
        self._cancelled = False

    @property
    def tag(self):
        """The request's tag."""
        return self.request.tag

    def cancel(self) -> bool:
        """Ask the engine to stop this row at its next step (status ``"cancelled"``, the text so far).

        Returns
        -------
        bool
            ``False`` when the row had already ended.
        """
        with self._lock:
            if self._result is not None:
                return False
            self._cancelled = True
            return True

    @property
    def cancelled(self) -> bool:
        """Whether :meth:`cancel` was called before the row ended."""
        return self._cancelled

    def done(self) -> bool:
        """Whether the row has ended (its result is set)."""
        return self._event.is_set()

    def result(self, timeout: float | None = None) -> BatchResult:
        """The row's result, waiting for it.

        Parameters
        ----------
        timeout : float, optional
            Most seconds to wait (default: forever).

        Raises
        ------
        TimeoutError
            The row did not end within ``timeout``.
        """
        if not self._event.wait(timeout):
            raise TimeoutError("the row has not ended yet")
        return self._result  # type: ignore[return-value]

    def add_done_callback(self, fn: Callable[[RowHandle], None]) -> None:
        """Call ``fn(handle)`` when the row ends (in the engine's thread; at once when it already has).

        Exceptions raised by ``fn`` are ignored.
        """
        with self._lock:
            if self._result is None:
                self._callbacks.append(fn)
                return
        _call_quietly(fn, self)

    def _resolve(self, result: BatchResult) -> None:
        """Set the result (once) and run the callbacks: the engine's side."""
        with self._lock:
            if self._result is not None:
                return
            self._result = result
            callbacks, self._callbacks = self._callbacks, []
        self._event.set()
        for fn in callbacks:
            _call_quietly(fn, self)

    def __repr__(self) -> str:
        state = self._result.status if self._result is not None else "cancelling" if self._cancelled else "pending"
        return f"RowHandle(tag={self.tag!r}, {state})"


def _call_quietly(fn, handle) -> None:
    try:
        fn(handle)
    except Exception:  # a callback must not break the engine
        pass
