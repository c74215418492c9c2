"""The batch engine: many rows, each with its own prompt, constraint and sampling, one forward pass per step.

:class:`BatchEngine` keeps a queue of submitted rows and a set of live rows in a row set
(:func:`corral.models.rows.make_rows`: one shared KV cache for an :class:`~corral.models.hf.HFModel`). A
:meth:`~BatchEngine.step` admits queued rows (continuous batching: whenever there is room; static batching: only
when the batch is empty), runs one forward pass for every live row, then for each row masks the law with its
constraint state, samples with :func:`corral.samplers.masking.sample_token` from the row's own seeded generator
(the law and the randomness of ``method="lcd"``), advances the constraint, streams the token (``on_token``) and
ends the row on EOS, ``max_tokens``, the context length, cancellation or its timeout. A failing row (its
constraint, its callback, its prompt) ends alone with status ``"error"``. An admitted row's prompt is prefilled
alone (batch size 1) within the step that admits it, so a long prompt delays that one step for every row.

Use it synchronously (:meth:`~BatchEngine.step`, :meth:`~BatchEngine.run_until_idle`) or in a thread
(:meth:`~BatchEngine.start` / :meth:`~BatchEngine.close`), submitting from any thread::

    engine = BatchEngine(lm, max_batch=16).start()
    handle = engine.submit(Request(lm.encode("Hi"), compiled=cg, max_tokens=32, on_token=print))
    result = handle.result()
    engine.close()
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.batching.request import BatchResult, QueueFull, Request, RowHandle
from corral.errors import ConfigurationError, GenerationError
from corral.streaming import TokenText

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import LanguageModel

__all__ = ["BatchEngine"]


class _Live:
    """A row being generated: its handle, model row, constraint state, generator and output so far."""

    __slots__ = ("handle", "req", "row", "matcher", "gen", "eos", "tokens", "steps", "logprob", "model_logprob",
                 "decoder", "admitted", "first")

    def __init__(self, handle: RowHandle, row: int, matcher, gen: torch.Generator, eos: frozenset,
                 token_bytes) -> None:
        self.handle, self.req, self.row, self.matcher, self.gen, self.eos = handle, handle.request, row, matcher, gen, eos
        self.tokens: list[int] = []
        self.steps: list = []
        self.logprob = self.model_logprob = 0.0
        self.decoder = TokenText(token_bytes, eos)
        self.admitted = time.perf_counter()
        self.first: float | None = None


class BatchEngine:
    """Generates many rows at once: one forward pass per step for every live row.

    Parameters
    ----------
    model : LanguageModel
        An :class:`~corral.models.hf.HFModel` (batched KV cache) or any language model (one forward per row, or
        ``model.logprobs_batch``).
    max_batch : int
        Most rows generated at once (``>= 1``).
    continuous : bool
        ``True``: a queued row joins the running batch at the next step (continuous batching). ``False``: a new
        batch of up to ``max_batch`` rows starts only when the previous one has ended (static batching).
    max_queue : int or None
        Most rows waiting to be admitted; :meth:`submit` raises :class:`~corral.batching.request.QueueFull` past
        it. ``None``: unbounded.
    per_row : bool
        One forward per row even for an HF model (for comparisons and tests).

    Attributes
    ----------
    n_steps : int
        Steps that ran a forward pass.
    n_tokens : int
        Tokens sampled, all rows together.
    """

    def __init__(self, model: LanguageModel, *, max_batch: int = 16, continuous: bool = True,
                 max_queue: int | None = None, per_row: bool = False) -> None:
        from corral.models.rows import make_rows

        if isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 1:
            raise ConfigurationError(f"max_batch must be an integer >= 1, got {max_batch!r}")
        if max_queue is not None and (isinstance(max_queue, bool) or not isinstance(max_queue, int)
                                      or max_queue < 0):
            raise ConfigurationError(f"max_queue must be an integer >= 0 or None, got {max_queue!r}")
        if not model.eos_token_ids:
            raise ConfigurationError("the model declares no EOS token, so no row could ever end")
        self.model = model
        self.max_batch = max_batch
        self.continuous = bool(continuous)
        self.max_queue = max_queue
        self._per_row = per_row
        self._rows = make_rows(model, per_row=per_row)
        self._queue: deque[RowHandle] = deque()
        self._live: list[_Live] = []
        self._lock = threading.Lock()  # the queue
        self._step_lock = threading.RLock()  # one step at a time (re-entered by close() from a callback)
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self.n_steps = 0
        self.n_tokens = 0

    # ------------------------------------------------------------------ submitting
    def submit(self, request: Request | None = None, /, **fields) -> RowHandle:
        """Queue a row (thread-safe); it is admitted at a later :meth:`step`.

        Parameters
        ----------
        request : Request, optional
            The row. Or give :class:`~corral.batching.request.Request`'s fields as keywords
            (``submit(prompt_ids=[...], compiled=cg, max_tokens=32)``).

        Returns
        -------
        RowHandle

        Raises
        ------
        QueueFull
            ``max_queue`` rows are already waiting.
        ConfigurationError
            Bad request fields, or the engine is closed.
        """
        if request is None:
            request = Request(**fields)
        elif fields:
            raise ConfigurationError("give a Request or its fields as keywords, not both")
        handle = RowHandle(request)
        with self._lock:
            if self._closed:
                raise ConfigurationError("the engine is closed")
            if self.max_queue is not None and len(self._queue) >= self.max_queue:
                raise QueueFull(f"the queue holds {len(self._queue)} rows (max_queue={self.max_queue})")
            self._queue.append(handle)
        self._wake.set()
        return handle

    @property
    def n_queued(self) -> int:
        """Rows waiting to be admitted."""
        return len(self._queue)

    @property
    def n_live(self) -> int:
        """Rows being generated."""
        return len(self._live)

    def idle(self) -> bool:
        """Whether no row is queued or live."""
        return not self._queue and not self._live

    # ------------------------------------------------------------------ running
    def step(self) -> int:
        """Admit queued rows, run one forward pass for every live row and sample one token for each.

        Returns
        -------
        int
            Tokens sampled in this step (0 when there was nothing to do).
        """
        with self._step_lock:
            self._reap()
            self._admit()
            limit = self._rows.max_length
            for lv in list(self._live):
                if limit is not None and self._rows.length(lv.row) > limit:
                    self._finish(lv, "length")  # the context is full: the last token cannot be fed
            if not self._live:
                return 0
            try:
                laws = self._rows.logprobs()
            except Exception as exc:  # the forward pass itself failed: every live row fails, the cache is rebuilt
                for lv in list(self._live):
                    self._finish(lv, "error", f"the model's forward pass failed: {type(exc).__name__}: {exc}")
                from corral.models.rows import make_rows

                self._rows = make_rows(self.model, per_row=self._per_row)
                return 0
            self.n_steps += 1
            n = 0
            for lv in list(self._live):
                try:
                    n += self._sample(lv, laws[lv.row])
                except Exception as exc:
                    self._finish(lv, "error", f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc))
            self.n_tokens += n
            return n

    def run_until_idle(self) -> None:
        """Step until no row is queued or live (synchronous use)."""
        while not self.idle():
            self.step()

    def run_forever(self, poll: float = 0.05) -> None:
        """Step while there is work, sleep while there is none, until :meth:`close` (the body of :meth:`start`)."""
        while not self._closed:
            if self.idle():
                self._wake.wait(poll)
                self._wake.clear()
                continue
            try:
                self.step()
            except Exception as exc:  # pragma: no cover - step() ends failing rows itself; a last resort
                with self._step_lock:
                    for lv in list(self._live):
                        self._finish(lv, "error", f"the engine failed: {type(exc).__name__}: {exc}")

    def start(self) -> BatchEngine:
        """Run :meth:`run_forever` in a daemon thread; returns the engine."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.run_forever, name="corral-batch-engine", daemon=True)
            self._thread.start()
        return self

    def close(self, *, drain: bool = False, timeout: float | None = None) -> None:
        """Stop the engine: queued and live rows end with status ``"cancelled"`` (after finishing them with
        ``drain=True``), the thread (if any) is joined; later :meth:`submit` calls fail."""
        if drain:
            if self._thread is not None:
                while not self.idle() and self._thread.is_alive():
                    time.sleep(0.01)
            else:
                self.run_until_idle()
        with self._lock:
            self._closed = True
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        with self._step_lock:
            while self._queue:
                self._resolve(self._queue.popleft(), None, "cancelled", "the engine was closed")
            for lv in list(self._live):
                self._finish(lv, "cancelled", "the engine was closed")

    def __enter__(self) -> BatchEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ rows
    def _reap(self) -> None:
        """End the rows, live or queued, that were cancelled or ran out of time (a queued row frees its slot)."""
        now = time.perf_counter()
        for lv in list(self._live):
            if lv.handle.cancelled:
                self._finish(lv, "cancelled", "cancelled")
            elif lv.req.timeout is not None and now - lv.handle.submitted > lv.req.timeout:
                self._finish(lv, "timeout", f"no result within {lv.req.timeout:g} s")
        with self._lock:
            gone = [h for h in self._queue if h.cancelled or (h.request.timeout is not None
                                                               and now - h.submitted > h.request.timeout)]
            for h in gone:
                self._queue.remove(h)
        for h in gone:
            if h.cancelled:
                self._resolve(h, None, "cancelled", "cancelled")
            else:
                self._resolve(h, None, "timeout", f"no result within {h.request.timeout:g} s")

    def _admit(self) -> None:
        if not self.continuous and self._live:
            return
        while len(self._live) < self.max_batch:
            with self._lock:
                if not self._queue:
                    return
                handle = self._queue.popleft()
            req = handle.request
            if handle.cancelled:
                self._resolve(handle, None, "cancelled", "cancelled")
                continue
            if req.timeout is not None and time.perf_counter() - handle.submitted > req.timeout:
                self._resolve(handle, None, "timeout", f"no result within {req.timeout:g} s")
                continue
            try:
                self._live.append(self._open(handle))
            except Exception as exc:
                self._resolve(handle, None, "error", str(exc) or type(exc).__name__)

    def _open(self, handle: RowHandle) -> _Live:
        from corral.runtime.free import FreeMatcher

        req, lm = handle.request, self.model
        bad = [t for t in req.prompt_ids if not 0 <= t < lm.vocab.size]
        if bad:
            raise ConfigurationError(f"prompt token ids must be in [0, {lm.vocab.size}); got {bad[:5]}")
        eos = frozenset(lm.eos_token_ids if req.eos_token_ids is None else (int(t) for t in req.eos_token_ids))
        if eos != frozenset(lm.eos_token_ids) and (req.compiled is not None or req.matcher is not None):
            raise ConfigurationError("eos_token_ids is for unconstrained rows (a constraint ends where its text "
                                     "is complete, with the model's EOS)")
        if req.matcher is not None:
            matcher = req.matcher
        elif req.compiled is not None:
            matcher = req.compiled.matcher()
        else:
            matcher = FreeMatcher(lm.vocab, eos)
        gen = torch.Generator()
        if req.seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(req.seed) % (2**63))
        row = self._rows.add(req.prompt_ids)
        return _Live(handle, row, matcher, gen, eos, self.model.vocab.token_bytes)

    def _sample(self, lv: _Live, law) -> int:
        """Sample, record and stream one token of a live row; end the row when it is done."""
        from corral.samplers.masking import checked_logprobs, sample_token
        from corral.samplers.steps import Step

        req = lv.req
        law = checked_logprobs(law)
        mask = lv.matcher.mask()
        token, lp, model_lp = sample_token(law, mask, temperature=req.temperature, top_k=req.top_k,
                                           top_p=req.top_p, generator=lv.gen)
        if lv.first is None:
            lv.first = time.perf_counter()
        lv.tokens.append(token)
        lv.logprob += lp
        lv.model_logprob += model_lp
        lv.steps.append(Step(token, model_lp, int(np.count_nonzero(mask))))
        lv.matcher.advance(token)
        done = token in lv.eos
        ended = done or len(lv.tokens) >= req.max_tokens
        if req.on_token is not None:
            req.on_token(token, lv.decoder.piece(token, final=ended))
        if done:
            self._finish(lv, "complete")
        elif ended:
            self._finish(lv, "length")
        else:
            self._rows.append(lv.row, token)
        return 1

    def _finish(self, lv: _Live, status: str, error: str | None = None) -> None:
        """Take a live row out of the batch and resolve its handle."""
        if lv in self._live:
            self._live.remove(lv)
            try:
                self._rows.remove(lv.row)
            except Exception:  # pragma: no cover - a row set that lost the row already
                pass
        self._resolve(lv.handle, lv, status, error)

    def _resolve(self, handle: RowHandle, lv: _Live | None, status: str, error: str | None) -> None:
        """Build the row's :class:`BatchResult` (text, timings, ``finalize``) and resolve the handle."""
        from corral.runners import decode_output, token_steps

        req, now = handle.request, time.perf_counter()
        tokens = list(lv.tokens) if lv is not None else []
        constrained = req.compiled is not None or req.matcher is not None
        try:
            text = decode_output(self.model, tokens, status == "complete", constrained)
        except GenerationError as exc:
            status, error = "error", str(exc)
            text = decode_output(self.model, tokens, False, constrained)
        admitted = lv.admitted if lv is not None else now
        gen_s = now - admitted
        timings = {"load_s": 0.0, "compile_s": 0.0, "queue_s": admitted - handle.submitted,
                   "first_token_s": (lv.first - handle.submitted) if lv is not None and lv.first else 0.0,
                   "total_s": now - handle.submitted, "tokens_per_s": len(tokens) / gen_s if gen_s > 0 else 0.0}
        timings.update(req.timings)
        result = BatchResult(text=text, token_ids=tokens, status=status, logprob=lv.logprob if lv else 0.0,
                             timings=timings, model_logprob=lv.model_logprob if lv else 0.0,
                             steps=token_steps(self.model, lv.steps) if lv is not None else [], error=error,
                             tag=req.tag)
        if req.finalize is not None and status not in ("error", "cancelled", "timeout"):
            try:
                result = req.finalize(result)
            except Exception as exc:
                result.status, result.error, result.value = "error", str(exc) or type(exc).__name__, None
        handle._resolve(result)
