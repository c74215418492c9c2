"""Streaming: ``corral.generate(..., stream=True)`` (or ``corral.stream(...)``) gives the output as it is generated.

The call returns a :class:`Stream`, an iterator of :class:`StreamChunk` ``(text, token_ids)``; once it is exhausted,
``Stream.result`` holds the :class:`~corral.result.Result` that the same call without ``stream=True`` returns::

    s = corral.generate("Write a sentence:\\n", stream=True, seed=0, max_tokens=40)
    for chunk in s:
        print(chunk.text, end="", flush=True)
    s.result.status

What the chunks add up to: ``"".join(c.text for c in s) == s.result.text`` and the chunks' ``token_ids`` joined are
``s.result.token_ids`` (EOS included: the last chunk may carry only the EOS id, with empty text). Text is decoded
incrementally at UTF-8 boundaries (:class:`TextDecoder`): a chunk never holds part of a character; a token that ends
inside a character gives no chunk of its own, and its id goes with the next chunk. Bytes that can never form valid
UTF-8 are replaced with U+FFFD exactly as in ``Result.text``.

When the pieces come: masked decoding (``method="lcd"``) and AWRS one token at a time; speculative decoding
(``draft=``) each verified round at once (several tokens); SMC (``method="smc"``) has no single sequence until the
posterior draw at the end, so its whole output comes as one chunk at the end.

How: the sampler calls a callback synchronously for each token or round, so the generation runs in a worker thread
that puts the tokens on a bounded queue, and iterating takes them off. The thread starts on the first ``next()``.
An exception raised during generation is raised by ``next()`` (and again by :attr:`Stream.result`). Closing the
stream (:meth:`Stream.close`, leaving a ``with`` block, or dropping the last reference, e.g. ``break`` out of
``for chunk in corral.stream(...)``) stops the generation at its next token (a round for speculative decoding) and
joins the thread: it never outlives the stream. Errors in the arguments (a bad option, a grammar error, a missing
model, a prompt too long) are raised by the call itself, before any iteration.
"""

from __future__ import annotations

import codecs
import queue
import threading
from typing import TYPE_CHECKING, Callable, NamedTuple

from corral.errors import GenerationError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from collections.abc import Sequence

    from corral.result import Result

__all__ = ["TokenText", "StreamChunk", "TextDecoder", "Stream"]

#: Token batches the worker may run ahead of the consumer before it waits.
MAX_AHEAD = 8
_POLL_S = 0.05  # how often a waiting worker checks whether the stream was closed


class StreamChunk(NamedTuple):
    """One piece of streamed output.

    Attributes
    ----------
    text : str
        Whole characters (never part of one); empty only in a last chunk that carries only the EOS id (or ids of
        tokens without bytes).
    token_ids : list of int
        The tokens this text came from, in order (with the ids of tokens that ended inside a character before it).
    """

    text: str
    token_ids: list[int]


class TokenText:
    """The text each token adds to an output: its bytes decoded incrementally as UTF-8 (``errors="replace"``), so
    that a token ending inside a character adds ``""`` and the character comes with the token that completes it;
    the pieces join into the output's decoded text. One per output.

    Parameters
    ----------
    token_bytes : sequence of bytes or None
        The bytes of each token id (``Vocabulary.token_bytes``; ``None`` for tokens without text).
    eos_token_ids : collection of int
        Tokens that add no text (an EOS id whose vocabulary entry has bytes).
    """

    def __init__(self, token_bytes: Sequence[bytes | None], eos_token_ids=()) -> None:
        self._token_bytes = token_bytes
        self._eos = frozenset(eos_token_ids)
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def bytes_of(self, token: int) -> bytes:
        """The bytes ``token`` adds (``b""`` for EOS, tokens without bytes and ids outside the vocabulary)."""
        tb = self._token_bytes
        if token in self._eos or not 0 <= token < len(tb):
            return b""
        return tb[token] or b""

    def piece(self, token: int, final: bool = False) -> str:
        """The text ``token`` adds; ``final``: the output ends with it (incomplete bytes left become U+FFFD)."""
        return self.decode(self.bytes_of(token), final)

    def decode(self, data: bytes, final: bool = False) -> str:
        """The text ``data`` adds after what came before (``final`` flushes, as :meth:`piece`)."""
        return self._decoder.decode(data, final=final)


class TextDecoder:
    """Incremental decoding of token ids into :class:`StreamChunk` pieces that never split a UTF-8 character.

    Parameters
    ----------
    token_bytes : sequence of bytes or None
        The bytes of each token id (``Vocabulary.token_bytes``; ``None`` for EOS and special tokens, which add no
        text).

    Examples
    --------
    >>> d = TextDecoder([b"a", b"\\xc3", b"\\xa9"])   # "é" is b"\\xc3\\xa9"
    >>> d.feed([1]), d.feed([2, 0]), d.finish([1])
    (None, StreamChunk(text='éa', token_ids=[1, 2, 0]), StreamChunk(text='\\ufffd', token_ids=[1]))

    Token 1 ends inside a character: it gives no chunk, and its id goes with the next one. The last, incomplete
    byte is replaced when the stream ends.
    """

    def __init__(self, token_bytes: Sequence[bytes | None]) -> None:
        self._text = TokenText(token_bytes)
        self._pending: list[int] = []

    def feed(self, token_ids) -> StreamChunk | None:
        """Add tokens.

        Parameters
        ----------
        token_ids : iterable of int

        Returns
        -------
        StreamChunk or None
            The text they complete, with their ids and any kept before; ``None`` when they complete no character
            yet (their ids are then kept for the next chunk).
        """
        ids = [int(t) for t in token_ids]
        text = "".join(self._text.piece(t) for t in ids)
        self._pending.extend(ids)
        if not text:
            return None
        chunk = StreamChunk(text, self._pending)
        self._pending = []
        return chunk

    def finish(self, token_ids=()) -> StreamChunk | None:
        """Add the last tokens and flush: bytes left incomplete become U+FFFD (as ``bytes.decode(errors="replace")``
        does).

        Parameters
        ----------
        token_ids : iterable of int, optional

        Returns
        -------
        StreamChunk or None
            Everything not yet returned (its text may be empty: ids of tokens without bytes, such as EOS), or
            ``None`` when nothing is left.
        """
        chunk = self.feed(token_ids)
        tail = self._text.decode(b"", final=True)
        if chunk is None:
            if not tail and not self._pending:
                return None
            chunk = StreamChunk(tail, self._pending)
        elif tail:
            chunk = StreamChunk(chunk.text + tail, chunk.token_ids)
        self._pending = []
        return chunk


class _Cancelled(BaseException):
    """Raised in the worker by the token callback once the stream is closed (a BaseException, so that no
    ``except Exception`` in a sampler can swallow it)."""


def _put(q: queue.Queue, item, cancel: threading.Event) -> None:
    """Put ``item`` on the bounded queue, waiting for room; ``_Cancelled`` as soon as the stream is closed."""
    while True:
        if cancel.is_set():
            raise _Cancelled
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            continue


def _work(run: Callable, q: queue.Queue, cancel: threading.Event) -> None:
    """The worker thread: run the generation, sending each batch of tokens, then the result or the error.

    It holds no reference to the :class:`Stream`, so that dropping the stream closes it.
    """
    def on_tokens(token_ids: list[int]) -> None:
        _put(q, ("ids", list(token_ids)), cancel)

    try:
        try:
            item = ("done", run(on_tokens))
        except _Cancelled:
            return
        except BaseException as exc:  # raised again in the consumer's thread
            item = ("error", exc)
        _put(q, item, cancel)
    except _Cancelled:
        return


class Stream:
    """The output of one generation as it comes: an iterator of :class:`StreamChunk`, then :attr:`result`.

    Made by ``corral.generate(..., stream=True)``, ``corral.stream(...)``, ``Generator.generate(..., stream=True)``
    and ``Generator.run_stream``; see :mod:`corral.streaming`. Iterate it from one thread. Use it as a context
    manager (or call :meth:`close`) to stop a generation early and deterministically.

    Parameters
    ----------
    run : callable
        ``run(on_tokens) -> Result``: the generation, calling ``on_tokens(token_ids)`` as tokens are emitted.
    token_bytes : sequence of bytes or None
        The model's ``Vocabulary.token_bytes``, to decode the tokens.
    """

    def __init__(self, run: Callable[[Callable[[list[int]], None]], Result],
                 token_bytes: Sequence[bytes | None]) -> None:
        self._run = run
        self._decoder = TextDecoder(token_bytes)
        self._queue: queue.Queue = queue.Queue(maxsize=MAX_AHEAD)
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._emitted: list[int] = []
        self._finished = False
        self._result: Result | None = None
        self._error: BaseException | None = None

    def __iter__(self) -> Stream:
        return self

    def __next__(self) -> StreamChunk:
        if self._finished:
            raise StopIteration
        if self._thread is None:
            self._thread = threading.Thread(target=_work, args=(self._run, self._queue, self._cancel),
                                            name="corral-stream", daemon=True)
            self._run = None  # the thread holds it now
            self._thread.start()
        while True:
            kind, value = self._queue.get()
            if kind == "ids":
                self._emitted.extend(value)
                chunk = self._decoder.feed(value)
                if chunk is not None:
                    return chunk
            elif kind == "error":
                self._end()
                self._error = value
                raise value
            else:
                return self._last_chunk(value)

    def _last_chunk(self, result: Result) -> StreamChunk:
        """The chunk of what the callback did not stream (SMC: everything) and the decoder's tail; records the
        result."""
        self._end()
        n = len(self._emitted)
        if list(result.token_ids[:n]) != self._emitted:
            self._error = GenerationError("the streamed tokens are not a prefix of the result's tokens (a bug in "
                                          "the sampler's streaming)")
            raise self._error
        self._result = result
        chunk = self._decoder.finish(result.token_ids[n:])
        if chunk is None:
            raise StopIteration
        return chunk

    def _end(self) -> None:
        """Mark the stream finished and wait for the worker (which has sent its last item)."""
        self._finished = True
        if self._thread is not None:
            self._thread.join()

    @property
    def result(self) -> Result:
        """The :class:`~corral.result.Result` of the generation (what ``stream=False`` returns).

        Read before the stream is exhausted, it runs the generation to its end (the chunks not yet read are
        skipped; ``Result.text`` has all the text). Raises the generation's error, or a ``GenerationError`` when the
        stream was closed before the end.
        """
        for _ in self:
            pass
        if self._error is not None:
            raise self._error
        if self._result is None:
            raise GenerationError("the stream was closed before the generation ended: it has no result")
        return self._result

    @property
    def closed(self) -> bool:
        """Whether the stream is exhausted, failed or closed (no more chunks)."""
        return self._finished

    def close(self) -> None:
        """Stop the generation (at its next token or round) and wait for it; further chunks are not produced.

        Does nothing on a finished stream (its :attr:`result` stays available).
        """
        if self._finished:
            return
        self._finished = True
        self._cancel.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter shutdown
            pass

    def __repr__(self) -> str:
        state = "finished" if self._finished else "running" if self._thread is not None else "not started"
        return f"<corral.streaming.Stream {state}>"
