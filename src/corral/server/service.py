"""Serving one checked request (:class:`~corral.server.protocol.ServeRequest`): prompts to token ids, the constraint
compiled through the generator's cache, one row per choice on the backend, then the OpenAI response, whole
(:meth:`Service.complete`) or as server-sent events (:meth:`Service.stream`).

Rows end early when the client goes away (a streaming response's generator is cancelled by the server; a plain
response polls ``request.is_disconnected()``), when a stop string appears, and at the request's deadline
(``request_timeout`` seconds after it arrived: a 504, or an error event in a stream).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from corral.errors import ConfigurationError
from corral.server import sse
from corral.server.backend import Backend, Row
from corral.server.errors import APIError, from_exception
from corral.server.protocol import ServeRequest
from corral.server.text import TextStream

__all__ = ["Service", "Prepared", "corral_stats"]

_POLL_S = 0.25  # how often a plain request checks that its client is still there
#: Request fields an option error may name, the longest names first ("draft_tree" before "draft").
_OPTION_PARAMS = ("draft_tree", "switch_threshold", "switch_window", "switching", "max_tokens", "temperature",
                  "top_p", "method", "draft", "seed")
#: The request field of each option ``switch_threshold`` and ``switch_window`` come from.
_PARAM_FIELDS = {"switch_threshold": "switching.threshold", "switch_window": "switching.window"}


@dataclass
class Prepared:
    """A request ready to run: its prompts as token ids and its rows.

    Attributes
    ----------
    prompt_ids : list of list of int
    rows : list of Row
        ``len(prompt_ids) * n`` rows, prompt by prompt.
    streams : list of TextStream
        One per row: its text as tokens arrive, stop strings applied.
    deadline : float
        ``time.monotonic()`` past which the request times out.
    """

    prompt_ids: list
    rows: list = field(default_factory=list)
    streams: list = field(default_factory=list)
    deadline: float = 0.0


class Service:
    """Runs requests on a generator's model through a backend.

    Parameters
    ----------
    generator : Generator
    backend : Backend
    model_name : str
        The name the responses carry.
    request_timeout : float
        Seconds a request may take, queueing included.
    compile_budget : CompileBudget, optional
        The budget of each request's constraint compilation (``None``: the request options' default).
    """

    def __init__(self, generator, backend: Backend, *, model_name: str, request_timeout: float = 60.0,
                 compile_budget=None) -> None:
        self.generator = generator
        self.compile_budget = compile_budget
        self.backend = backend
        self.model_name = model_name
        self.request_timeout = float(request_timeout)

    async def prepare(self, req: ServeRequest) -> Prepared:
        """Token ids, options and the compiled constraint of a request (compiling runs in a worker thread).

        Raises
        ------
        APIError
            400 for a bad prompt, option or constraint (a schema error names its pointer and keyword).
        """
        deadline = time.monotonic() + self.request_timeout
        lm = self.generator.model
        ids = [self._prompt_ids(lm, req, p) for p in req.prompts]
        tries = _asap_tries(req, len(ids))
        options = [self._options(req, i, tries[i // req.n]) for i in range(len(ids) * req.n)]
        try:
            compiled = await asyncio.to_thread(self.generator.compile, req.constraint, req.schema_options,
                                               compile_budget=self.compile_budget or options[0].compile.budget)
        except Exception as exc:
            raise from_exception(exc, param=req.constraint_param, prompt_param=req.prompt_param) from None
        prepared = Prepared(prompt_ids=ids, deadline=deadline)
        vocab = lm.vocab
        for k, opts in enumerate(options):
            prepared.rows.append(Row(prompt_ids=ids[k // req.n], constraint=req.constraint, compiled=compiled,
                                     options=opts, timeout=self.request_timeout))
            prepared.streams.append(TextStream(vocab.token_bytes, lm.eos_token_ids, req.stop))
        return prepared

    def _prompt_ids(self, lm, req: ServeRequest, prompt) -> list:
        from corral.chat import render_messages

        try:
            if req.endpoint == "chat":
                ids = render_messages(lm, prompt)
            elif isinstance(prompt, str):
                ids = lm.encode(prompt)
            else:
                bad = [t for t in prompt if not 0 <= t < lm.vocab.size]
                if bad:
                    raise ConfigurationError(f"prompt token ids must be in [0, {lm.vocab.size}); got {bad[:5]}")
                ids = list(prompt)
        except Exception as exc:
            raise from_exception(exc, param=req.prompt_param, prompt_param=req.prompt_param) from None
        limit = getattr(lm, "max_length", None)
        if limit is not None and len(ids) >= limit:
            raise APIError(400, f"the prompt has {len(ids)} tokens; the model's context holds {limit} (prompt and "
                                "output together)", param=req.prompt_param, code="context_length_exceeded")
        return ids

    def _options(self, req: ServeRequest, index: int, trie=None):
        from corral.options import GenerateOptions

        kwargs = dict(req.options)
        if trie is not None:
            kwargs["trie"] = trie
        if req.seed is not None:
            kwargs["seed"] = (req.seed + index) % (2**63)
        if req.schema_options.lenient:
            kwargs["lenient"] = True
        try:
            return GenerateOptions.from_kwargs(**kwargs)
        except ConfigurationError as exc:
            param = next((name for name in _OPTION_PARAMS if name in str(exc) and name in req.options), None)
            raise APIError(400, str(exc), param=_PARAM_FIELDS.get(param, param)) from None

    def submit(self, prepared: Prepared, on_token=None) -> list:
        """Put every row on the backend (all or none); their handles.

        Parameters
        ----------
        on_token : callable, optional
            ``on_token(row_index, token_id)``, called in the backend's thread. Without it, each row's text stream
            takes the tokens there (and a stop string cancels the row at once).

        Raises
        ------
        APIError
            429 when the queue is full.
        """
        from corral.batching.request import QueueFull

        handles: list = []
        for i, (row, stream) in enumerate(zip(prepared.rows, prepared.streams)):
            row.on_token = _token_callback(i, stream, handles) if on_token is None else (
                lambda token, i=i: on_token(i, token))
            try:
                handles.append(self.backend.submit(row))
            except QueueFull as exc:
                for handle in handles:
                    handle.cancel()
                raise APIError(429, f"the server is busy ({exc}); retry later", code="queue_full") from None
            if stream.stopped:  # a stop string before the handle existed
                handles[-1].cancel()
        return handles

    async def complete(self, req: ServeRequest, prepared: Prepared, request) -> dict:
        """Run a plain (not streamed) request to its response body.

        Raises
        ------
        APIError
            429 queue full, 504 timed out, 499-like cancellation when the client left (nothing is sent then), 500
            when a row failed.
        """
        handles = self.submit(prepared)
        loop = asyncio.get_running_loop()
        futures = [_as_future(loop, handle) for handle in handles]
        try:
            while not all(f.done() for f in futures):
                remaining = prepared.deadline - time.monotonic()
                if remaining <= 0:
                    raise APIError(504, f"the request took longer than {self.request_timeout:g} s",
                                   code="timeout")
                await asyncio.wait(futures, timeout=min(_POLL_S, remaining))
                if request is not None and await request.is_disconnected():
                    raise APIError(499, "the client closed the connection", code="client_closed")
        finally:
            for handle in handles:
                handle.cancel()
        choices = [self._choice(req, k, f.result(), prepared.streams[k]) for k, f in enumerate(futures)]
        completion = sum(c.pop("_tokens") for c in choices)
        return sse.response_body(req, self.model_name, choices, _usage(prepared, completion))

    def _choice(self, req: ServeRequest, index: int, result, stream: TextStream) -> dict:
        """One choice of a finished row (or the APIError of a row that did not finish)."""
        reason = _finish_reason(result, stream)
        text = stream.text if stream.stopped else result.text
        tokens = stream.n_tokens if stream.stopped else len(result.token_ids)
        choice = sse.choice(req, index, text, reason, corral=corral_stats(result, lossy="switching" in req.options))
        choice["_tokens"] = tokens
        return choice

    async def stream(self, req: ServeRequest, prepared: Prepared):
        """The server-sent events of a streamed request: ``(events, cancel)``.

        ``events`` is an async iterator of ``bytes``; ``cancel()`` cancels every row still running (call it once
        the response is over, also when it never started). The rows are submitted now, before the first event (a
        full queue is a 429, not an event); rows still running when ``events`` is closed or cancelled (the client
        went away) are cancelled too.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()

        def on_token(i, token):  # the text streams are fed in the event loop
            loop.call_soon_threadsafe(queue.put_nowait, (i, token))

        handles = self.submit(prepared, on_token)
        for i, handle in enumerate(handles):
            handle.add_done_callback(lambda h, i=i: loop.call_soon_threadsafe(queue.put_nowait, (i, None)))

        def cancel() -> None:
            for handle in handles:
                handle.cancel()

        return self._events(req, prepared, handles, queue), cancel

    async def _events(self, req: ServeRequest, prepared: Prepared, handles, queue: asyncio.Queue):
        chunk = sse.Chunker(req, self.model_name)
        completion = 0
        try:
            if req.endpoint == "chat":
                for i in range(len(handles)):
                    yield chunk.event(i, role=True)
            pending = set(range(len(handles)))
            while pending:
                remaining = prepared.deadline - time.monotonic()
                try:
                    i, token = await asyncio.wait_for(queue.get(), timeout=max(remaining, 0.001))
                except asyncio.TimeoutError:
                    error = APIError(504, f"the request took longer than {self.request_timeout:g} s",
                                     code="timeout")
                    yield sse.error_event(error)
                    return
                stream = prepared.streams[i]
                if token is not None:
                    piece = stream.push(token)
                    if piece:
                        yield chunk.event(i, text=piece)
                    if stream.stopped:
                        handles[i].cancel()
                    continue
                if i not in pending:
                    continue
                pending.discard(i)
                result = handles[i].result(0)
                reason = _finish_reason(result, stream)  # APIError when the row failed
                piece = stream.finish(None if stream.stopped else result.text)
                if piece:
                    yield chunk.event(i, text=piece)
                yield chunk.event(i, finish_reason=reason, corral=corral_stats(result, lossy="switching" in req.options))
                completion += stream.n_tokens if stream.stopped else len(result.token_ids)
            if req.include_usage:
                yield chunk.usage_event(_usage(prepared, completion))
            yield sse.DONE
        except APIError as error:
            yield sse.error_event(error)
        finally:
            for handle in handles:
                handle.cancel()


def _token_callback(i: int, stream: TextStream, handles: list):
    """A plain request's ``on_token``: feed the row's text stream and cancel the row at a stop string."""
    def callback(token: int) -> None:
        if stream.stopped:
            return
        stream.push(token)
        if stream.stopped and len(handles) > i:
            handles[i].cancel()
    return callback


def _finish_reason(result, stream: TextStream) -> str:
    """``"stop"`` (complete, or cut at a stop string) or ``"length"``; an :class:`APIError` for a row that did not
    finish (timed out: 504, failed: 500 or the mapped corral error, cancelled: 503)."""
    if stream.stopped or result.status in ("complete", "invalid"):
        return "stop"
    if result.status == "length":
        return "length"
    if result.status == "timeout":
        raise APIError(504, "the request timed out", code="timeout")
    if result.status == "cancelled":
        raise APIError(503, "the row was cancelled (the server is shutting down)", code="cancelled")
    exc = getattr(result, "exception", None)
    if exc is not None:
        raise from_exception(exc)
    raise APIError(500, f"generation failed: {result.error}", code="generation_error")


def _asap_tries(req: ServeRequest, n_prompts: int) -> list:
    """One fresh :class:`~corral.samplers.asap_trie.AsapTrie` per prompt with ``method="asap"`` (the prompt's ``n``
    rows are its samples, drawn one after another in it), else ``None`` per prompt."""
    if req.options.get("method") != "asap":
        return [None] * n_prompts
    from corral.samplers.asap_trie import AsapTrie

    return [AsapTrie() for _ in range(n_prompts)]


def corral_stats(result, *, lossy: bool = False) -> dict | None:
    """The ``corral`` field of a choice: what an OpenAI client should know of how its text was drawn, or ``None``.

    ``{"switching": {"lossy": True, "small_tokens", "large_tokens", "share_small", "share_large", "switches",
    ...}}`` for ``switching`` (the share of tokens each model wrote; only ``{"lossy": True}`` when the row stopped
    early, at a stop string, without its counts); ``{"asap": {"root_theta", "trie_samples", "trie_nodes", ...}}``
    for ``method="asap"`` (the trie after this sample; ``root_theta`` bounds ``Z`` from above).

    Parameters
    ----------
    result : Result
        The row's result.
    lossy : bool
        Whether the request asked for ``switching``.
    """
    stats = getattr(result, "stats", None) or {}
    if lossy or "switching" in stats:
        switching = {"lossy": True, **stats.get("switching", {})}
        n = switching.get("small_tokens", 0) + switching.get("large_tokens", 0)
        if n:
            switching["share_small"] = switching["small_tokens"] / n
        return {"switching": switching}
    if "root_theta" in stats:
        return {"asap": {k: v for k, v in stats.items() if k == "root_theta" or k.startswith("trie_")}}
    return None


def _usage(prepared: Prepared, completion: int) -> dict:
    prompt = sum(len(ids) for ids in prepared.prompt_ids)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _as_future(loop, handle) -> asyncio.Future:
    """An asyncio future resolved (in the loop) with the handle's result."""
    future = loop.create_future()

    def done(h):
        loop.call_soon_threadsafe(lambda: future.done() or future.set_result(h.result(0)))

    handle.add_done_callback(done)
    return future
