"""The batch engine: per-row constraints, seeds and statuses; greedy and seeded rows equal single calls;
cancellation, failing rows, timeouts, static and continuous batching, threads."""

from __future__ import annotations

import threading

import jsonschema
import pytest

import corral
from corral.batching import BatchEngine, QueueFull, Request
from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.generator import Generator, default_generator
from corral.models.toy import ToyModel

SCHEMA = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 12}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
GRAMMAR = 'start: "(" item ("," item)* ")"\nitem: /[a-z]+/ | start'
PROMPTS = ["Person: ", "A", "The quick brown fox jumps over the lazy dog. Data: ", ""]


@pytest.fixture(scope="module")
def gen():
    return default_generator(None)


@pytest.fixture(scope="module")
def lm(gen):
    return gen.model


@pytest.fixture(scope="module")
def compiled(gen):
    return {"schema": gen.compile(Constraint(schema=SCHEMA)), "grammar": gen.compile(Constraint(grammar=GRAMMAR)),
            "regex": gen.compile(Constraint(regex="[0-9]{2,6}")), None: None}


def _requests(lm, compiled, **kw):
    kinds = ["schema", "grammar", "regex", None]
    return [Request(lm.encode(p), compiled=compiled[k], tag=(i, k), **kw)
            for i, (p, k) in enumerate((p, k) for p in PROMPTS for k in kinds)]


def _run(engine, requests):
    handles = [engine.submit(r) for r in requests]
    engine.run_until_idle()
    assert all(h.done() for h in handles)
    return [h.result() for h in handles]


def test_every_row_valid_with_its_own_constraint(lm, compiled):
    engine = BatchEngine(lm, max_batch=6)
    results = _run(engine, _requests(lm, compiled, max_tokens=48, seed=1))
    assert len(results) == 16
    for r in results:
        kind = r.tag[1]
        assert r.status in ("complete", "length") and r.error is None
        if r.status == "complete" and kind == "schema":
            jsonschema.validate(__import__("json").loads(r.text), SCHEMA)
        if r.status == "complete" and kind is not None:
            assert compiled[kind].accepts(r.text.encode())
            assert r.token_ids[-1] in lm.eos_token_ids
    assert sum(r.status == "complete" for r in results) >= 8
    assert engine.n_tokens == sum(len(r.token_ids) for r in results)


@pytest.mark.parametrize("temperature, seed", [(0, None), (1.0, 7), (0.7, 3)])
def test_rows_equal_single_calls(lm, compiled, temperature, seed):
    """Greedy rows (and seeded rows, the forward passes rounding alike) give the tokens of corral.generate."""
    constraints = {"schema": {"schema": SCHEMA}, "grammar": {"grammar": GRAMMAR}, "regex": {"regex": "[0-9]{2,6}"},
                   None: {}}
    engine = BatchEngine(lm, max_batch=5)
    results = _run(engine, _requests(lm, compiled, max_tokens=40, temperature=temperature, seed=seed))
    for r in results:
        (i, kind) = r.tag
        single = corral.generate(PROMPTS[i // 4], max_tokens=40, temperature=temperature, seed=seed,
                                 **constraints[kind])
        assert r.token_ids == single.token_ids and r.text == single.text and r.status == single.status
        assert r.logprob == pytest.approx(single.logprob, abs=1e-3)
        assert r.model_logprob == pytest.approx(single.model_logprob, abs=1e-2)


def test_streaming_pieces_join_into_the_text(lm, compiled):
    pieces: dict[int, list] = {0: [], 1: []}
    reqs = [Request(lm.encode("Name: "), compiled=compiled["schema"], max_tokens=40, seed=2,
                    on_token=lambda t, s, i=i: pieces[i].append((t, s))) for i in (0, 1)]
    reqs[1].compiled = None
    results = _run(BatchEngine(lm), reqs)
    for i, r in enumerate(results):
        assert [t for t, _ in pieces[i]] == r.token_ids
        assert "".join(s for _, s in pieces[i]) == r.text
        if r.status == "complete":
            assert pieces[i][-1][1] == ""  # EOS


class _Exploding:
    """A constraint state that fails after ``n`` tokens."""

    def __init__(self, inner, n):
        self.inner, self.n = inner, n

    def mask(self):
        return self.inner.mask()

    def advance(self, token):
        self.n -= 1
        if self.n < 0:
            raise RuntimeError("matcher exploded")
        self.inner.advance(token)


def test_a_failing_row_does_not_affect_the_others(lm, compiled):
    base = _requests(lm, compiled, max_tokens=30, temperature=0)[:6]
    alone = _run(BatchEngine(lm, max_batch=4), base)
    reqs = _requests(lm, compiled, max_tokens=30, temperature=0)[:6]
    # fails at its second token (every output of the regex has at least two: digits, then EOS)
    reqs.insert(1, Request(lm.encode("x"), matcher=_Exploding(compiled["regex"].matcher(), 1), tag="bad matcher"))

    def hang_up(token, text):
        raise ConnectionError("client went away")

    reqs.insert(3, Request(lm.encode("y"), on_token=hang_up, tag="bad callback"))
    reqs.insert(4, Request([lm.vocab.size + 5], tag="bad prompt"))
    reqs.insert(5, Request([3] * (lm.max_length + 1), tag="too long"))
    results = _run(BatchEngine(lm, max_batch=4), reqs)
    bad = {r.tag: r for r in results if isinstance(r.tag, str)}
    assert all(r.status == "error" for r in bad.values())
    assert "exploded" in bad["bad matcher"].error and len(bad["bad matcher"].token_ids) == 2
    assert "went away" in bad["bad callback"].error
    assert "vocabulary" in bad["bad prompt"].error or "[0," in bad["bad prompt"].error
    assert "context" in bad["too long"].error
    good = [r for r in results if not isinstance(r.tag, str)]
    assert [r.token_ids for r in good] == [r.token_ids for r in alone]


def test_cancel_frees_the_row(lm):
    engine = BatchEngine(lm, max_batch=2)
    a = engine.submit(prompt_ids=lm.encode("one"), max_tokens=200, temperature=0, eos_token_ids=[])
    b = engine.submit(prompt_ids=lm.encode("two"), max_tokens=200, temperature=0, eos_token_ids=[])
    c = engine.submit(prompt_ids=lm.encode("three"), max_tokens=5, temperature=0)
    d = engine.submit(prompt_ids=lm.encode("four"), max_tokens=5)
    for _ in range(3):
        engine.step()
    assert engine.n_live == 2 and engine.n_queued == 2
    d.cancel()  # a queued row frees its queue slot at the next step, though the batch is full
    engine.step()
    assert d.done() and d.result().status == "cancelled" and d.result().token_ids == []
    assert engine.n_live == 2 and engine.n_queued == 1
    assert a.cancel()
    engine.step()  # the cancelled row leaves, the queued one takes its place
    assert a.done() and a.result().status == "cancelled" and len(a.result().token_ids) == 4
    assert engine.n_live == 2 and engine.n_queued == 0 and len(engine._rows) == 2
    b.cancel()
    engine.run_until_idle()
    assert b.result().status == "cancelled" and c.result().status in ("complete", "length")
    assert len(engine._rows) == 0 and not a.cancel()  # ended rows cannot be cancelled again
    single = corral.generate("three", max_tokens=5, temperature=0)
    assert c.result().token_ids == single.token_ids


def _first_steps(lm, continuous):
    """Step at which each of 5 rows got its first token, and its last, with max_batch=2."""
    engine = BatchEngine(lm, max_batch=2, continuous=continuous)
    first, last = {}, {}

    def track(i):
        def on_token(token, text):
            first.setdefault(i, engine.n_steps)
            last[i] = engine.n_steps
        return on_token

    lengths = [4, 9, 6, 3, 5]
    handles = [engine.submit(prompt_ids=lm.encode(f"row {i}"), max_tokens=n, temperature=0, eos_token_ids=[],
                             on_token=track(i)) for i, n in enumerate(lengths)]
    engine.run_until_idle()
    return first, last, [h.result() for h in handles]


def test_continuous_and_static_batching(lm):
    first_c, last_c, res_c = _first_steps(lm, True)
    first_s, last_s, res_s = _first_steps(lm, False)
    assert [r.token_ids for r in res_c] == [r.token_ids for r in res_s]
    assert all(r.status == "length" for r in res_c)
    # continuous: row 2 joins as soon as row 0 ends; static: only when rows 0 and 1 have both ended
    assert first_c[2] == last_c[0] + 1
    assert first_s[2] == max(last_s[0], last_s[1]) + 1 > first_c[2]


def test_engine_in_a_thread(lm, compiled):
    engine = BatchEngine(lm, max_batch=4).start()
    handles, lock = [], threading.Lock()

    def client(i):
        h = engine.submit(prompt_ids=lm.encode(PROMPTS[i % 4]), compiled=compiled["regex"], max_tokens=12,
                          temperature=0, tag=i)
        with lock:
            handles.append(h)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = {h.tag: h.result(timeout=120) for h in handles}
    assert len(results) == 8
    for i, r in results.items():
        assert r.token_ids == corral.generate(PROMPTS[i % 4], regex="[0-9]{2,6}", max_tokens=12,
                                              temperature=0).token_ids
    seen = []
    late = engine.submit(prompt_ids=[5], max_tokens=10_000, eos_token_ids=[])
    late.add_done_callback(seen.append)
    engine.close()
    assert late.result(timeout=10).status == "cancelled" and seen == [late]
    with pytest.raises(ConfigurationError, match="closed"):
        engine.submit(prompt_ids=[5])


def test_timeout_and_bounded_queue(lm):
    engine = BatchEngine(lm, max_batch=1, max_queue=2)
    a = engine.submit(prompt_ids=[5], max_tokens=10_000, eos_token_ids=[], timeout=0.3)
    engine.submit(prompt_ids=[6], max_tokens=2)
    with pytest.raises(QueueFull):
        engine.submit(prompt_ids=[7])
    engine.run_until_idle()
    assert a.result().status == "timeout" and "0.3" in a.result().error and a.result().token_ids


def test_bad_requests():
    with pytest.raises(ConfigurationError):
        Request("text")
    with pytest.raises(ConfigurationError):
        Request([1], max_tokens=0)
    with pytest.raises(ConfigurationError):
        Request([1], temperature=-1)
    toy = ToyModel(["a"], lambda ctx: [0.0, 0.0])
    with pytest.raises(ConfigurationError):
        BatchEngine(toy, max_batch=0)


def test_per_row_fallback_on_a_toy_model_equals_single_calls_exactly():
    toy = ToyModel.random(["a", "b", "c", "ab"], seed=5, eos_bias=0.5)
    generator = Generator(toy)
    cg = generator.compile(Constraint(regex="(a|b)+c?"))
    engine = BatchEngine(toy, max_batch=3)
    handles = [engine.submit(prompt_ids=[i % 3], compiled=cg if i % 2 else None, max_tokens=12, seed=i, tag=i)
               for i in range(7)]
    engine.run_until_idle()
    for h in handles:
        i, r = h.tag, h.result()
        single = generator.generate([i % 3], regex="(a|b)+c?" if i % 2 else None, max_tokens=12, seed=i)
        assert r.token_ids == single.token_ids and r.logprob == single.logprob and r.status == single.status
