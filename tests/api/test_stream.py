"""Streaming: ``generate(..., stream=True)`` / ``corral.stream(...)`` yield ``StreamChunk(text, token_ids)`` pieces
that join into the ``Result`` of the same call without streaming (every sampler), never split a UTF-8 character,
stop the generation when closed early, raise the generation's errors; ``corral generate --stream``."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import corral
from corral.cli import main
from corral.errors import GenerationError, RegexError
from corral.generator import Generator
from corral.models.toy import ToyModel
from corral.streaming import MAX_AHEAD, Stream, StreamChunk, TextDecoder

PROMPT = "Generate a JSON object describing a person:\n"


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def _no_thread_left():
    """No stream's worker thread outlives its test."""
    yield
    assert not [t for t in threading.enumerate() if t.name == "corral-stream"]


def _joined(stream: Stream):
    chunks = list(stream)
    assert all(isinstance(c, StreamChunk) for c in chunks)
    return chunks, "".join(c.text for c in chunks), [t for c in chunks for t in c.token_ids]


def _check_against(stream: Stream, expected):
    chunks, text, ids = _joined(stream)
    result = stream.result
    assert (text, ids) == (result.text, result.token_ids)
    assert (result.text, result.token_ids, result.status) == (expected.text, expected.token_ids, expected.status)
    return chunks, result


@pytest.mark.parametrize("kwargs", [
    {"method": "lcd"},
    {"method": "awrs"},
    {"method": "lcd", "top_k": 5},
    {"method": "lcd", "draft": "auto"},
    {"method": "awrs", "draft": "auto"},
    {"method": "smc", "particles": 4},
], ids=lambda k: "-".join(str(v) for v in k.values()))
def test_chunks_join_into_the_result(kwargs):
    settings = {"grammar": "json", "seed": 0, "max_tokens": 48, **kwargs}
    chunks, result = _check_against(corral.stream(PROMPT, **settings), corral.generate(PROMPT, **settings))
    sizes = [len(c.token_ids) for c in chunks]
    if kwargs["method"] == "smc":
        assert len(chunks) == 1  # no single sequence before the end: one piece
    elif "draft" in kwargs:
        assert max(sizes) > 1 and len(chunks) > 1  # whole verified rounds
    else:
        assert len(chunks) > 1 and sum(sizes) == len(result.token_ids)


def test_unconstrained_stream_with_generate_and_generator():
    settings = {"seed": 3, "max_tokens": 30}
    expected = corral.generate("Write a sentence:\n", **settings)
    stream = corral.generate("Write a sentence:\n", stream=True, **settings)
    assert isinstance(stream, Stream)
    _check_against(stream, expected)
    _check_against(Generator().generate("Write a sentence:\n", stream=True, **settings), expected)


def test_chat_messages_stream():
    messages = [{"role": "user", "content": "Write a date:"}]
    settings = {"messages": messages, "system": "Be brief.", "seed": 0, "max_tokens": 12}
    _check_against(corral.stream(**settings), corral.generate(**settings))


def test_schema_stream_keeps_the_value():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    settings = {"schema": schema, "seed": 0, "max_tokens": 40}
    _, result = _check_against(corral.stream("A JSON object:\n", **settings), corral.generate("A JSON object:\n",
                                                                                               **settings))
    assert result.status != "complete" or isinstance(result.value["n"], int)


@pytest.mark.parametrize("method", ["lcd", "awrs", "smc"])
def test_multibyte_characters_are_never_split(method):
    """é and 😀 come as whole characters (the ids of tokens ending mid-character go with the next chunk)."""
    for choices, seed in ((["héllo", "😀😀"], 0), (["😀😀"], 1), (["é😀"], 2)):
        settings = {"choices": choices, "seed": seed, "method": method}
        chunks, result = _check_against(corral.stream("Pick:", **settings), corral.generate("Pick:", **settings))
        assert result.status == "complete" and result.text in choices
        assert all("\ufffd" not in c.text for c in chunks)
        assert all(c.text or c is chunks[-1] for c in chunks)  # only the last chunk (EOS) may be empty


def test_toy_model_split_characters():
    """Tokens that split 😀 and é: a chunk appears only once a character is whole, with every id since."""
    model = ToyModel([b"\xf0\x9f", b"\x98\x80", b"\xc3", b"\xa9", b"a"], lambda ctx: np.zeros(6))
    stream = Generator(model).generate([4], regex="😀éa", seed=0, stream=True)
    chunks = list(stream)
    assert chunks == [StreamChunk("😀", [0, 1]), StreamChunk("é", [2, 3]), StreamChunk("a", [4]),
                      StreamChunk("", [5])]
    assert stream.result.text == "😀éa"


def test_text_decoder():
    decoder = TextDecoder([b"a", b"\xc3", b"\xa9", None])
    assert decoder.feed([1]) is None
    assert decoder.feed([2, 0]) == StreamChunk("éa", [1, 2, 0])
    assert decoder.feed([3]) is None  # EOS: no text
    assert decoder.finish() == StreamChunk("", [3])
    decoder = TextDecoder([b"a", b"\xc3", b"\xa9", None])
    assert decoder.feed([0, 1]) == StreamChunk("a", [0, 1])  # the first byte of é comes with "a"'s chunk
    assert decoder.finish([0]) == StreamChunk("\ufffda", [0])  # invalid bytes: replaced as in Result.text
    assert TextDecoder([b"a"]).finish() is None


def _counting_model(calls: list, *, fail_after: int | None = None):
    """A toy model that never wants to stop (EOS has probability ~0) and counts its forward computations."""
    def logits(ctx):
        calls.append(len(ctx))
        if fail_after is not None and len(calls) > fail_after:
            raise RuntimeError("boom in the model")
        return np.array([0.0, 0.0, -1e9])

    return ToyModel(["a", "b"], logits)


@pytest.mark.parametrize("kwargs", [{"method": "lcd"}, {"method": "awrs"}, {"method": "lcd", "draft": "ngram"},
                                    {"method": "awrs", "draft": "ngram", "draft_length": 2}],
                         ids=lambda k: "-".join(str(v) for v in k.values()))
def test_breaking_out_stops_generation(kwargs):
    calls: list = []
    stream = Generator(_counting_model(calls)).generate([0], max_tokens=100_000, seed=0, stream=True, **kwargs)
    assert calls == []  # nothing runs before the first next()
    with stream:
        next(stream)
    # closed: the worker stopped at its next token (or round) and is gone
    limit = 2 * (MAX_AHEAD + 2) * (1 + kwargs.get("draft_length", 4))
    assert len(calls) <= limit, len(calls)
    n = len(calls)
    time.sleep(0.2)
    assert len(calls) == n and stream.closed
    assert list(stream) == []
    with pytest.raises(GenerationError, match="closed before"):
        stream.result


def test_break_in_a_for_loop_closes_the_dropped_stream():
    calls: list = []
    gen = Generator(_counting_model(calls))
    for _chunk in gen.generate([0], max_tokens=100_000, seed=0, stream=True):
        break  # the stream is dropped here: closing it stops the worker
    n = len(calls)
    assert n <= 2 * (MAX_AHEAD + 2)
    time.sleep(0.2)
    assert len(calls) == n


@pytest.mark.parametrize("method", ["lcd", "awrs", "smc"])
def test_errors_during_generation_propagate(method):
    calls: list = []
    stream = Generator(_counting_model(calls, fail_after=5)).generate([0], max_tokens=50, seed=0, method=method,
                                                                      stream=True)
    got = []
    with pytest.raises(RuntimeError, match="boom in the model"):
        for chunk in stream:
            got.append(chunk)
    assert len(got) <= 5 and stream.closed
    with pytest.raises(RuntimeError, match="boom"):
        stream.result  # the same error again


def test_argument_errors_are_raised_by_the_call():
    with pytest.raises(RegexError):
        corral.stream("a", regex="(")
    with pytest.raises(corral.ConfigurationError):
        corral.stream("a", max_tokens=0)


def test_result_before_the_end_finishes_the_generation():
    settings = {"regex": "[a-z]{5,12}", "seed": 0}
    stream = corral.stream("Word:", **settings)
    first = next(stream)
    result = stream.result
    assert result.text == corral.generate("Word:", **settings).text and result.text.startswith(first.text)
    assert list(stream) == [] and stream.closed
    stream.close()  # a finished stream keeps its result
    assert stream.result is result


def _cli(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("argv", [
    ["generate", "Write a sentence:\n", "--seed", "0", "--max-tokens", "24"],
    ["generate", "Pick:", "--choices", "héllo", "😀😀", "--seed", "1"],
    ["generate", PROMPT, "--grammar", "json", "--seed", "0", "--max-tokens", "30", "--draft", "auto"],
    ["generate", PROMPT, "--grammar", "json", "--seed", "0", "--max-tokens", "30", "--method", "smc",
     "--particles", "3"],
])
def test_cli_stream_prints_the_same_text(argv, capsys):
    plain = _cli(argv, capsys)
    streamed = _cli([*argv, "--stream"], capsys)
    assert streamed == plain and plain[1].endswith("\n")


def test_cli_stream_writes_as_it_goes(monkeypatch, capsys):
    """Each chunk is written and flushed as it comes (one write per chunk, then the newline)."""
    import sys

    writes = []
    real_write = sys.stdout.write
    monkeypatch.setattr(sys.stdout, "write", lambda s: (writes.append(s), real_write(s))[1])
    code = main(["generate", "Write a sentence:\n", "--seed", "0", "--max-tokens", "12", "--stream"])
    out = capsys.readouterr().out
    assert code in (0, 3) and len(writes) > 2 and "".join(writes) == out and writes[-1] == "\n"
