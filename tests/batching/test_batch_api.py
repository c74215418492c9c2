"""``corral.generate_batch`` and ``iter_batch``: input order, per-row constraints and options, chat rows, bad rows."""

from __future__ import annotations

import json

import jsonschema
import pytest

import corral
from corral.batching import iter_batch
from corral.errors import ConfigurationError, RegexError

SCHEMA = {"type": "object", "properties": {"id": {"type": "integer"}, "ok": {"type": "boolean"}},
          "required": ["id", "ok"]}


def test_results_in_input_order_with_values():
    prompts = [f"Record {i}: " for i in range(10)]
    results = corral.generate_batch(prompts, schema=SCHEMA, max_tokens=40, seed=4, batch_size=3)
    assert [r.tag for r in results] == list(range(10))
    singles = [corral.generate(p, schema=SCHEMA, max_tokens=40, seed=4) for p in prompts]
    for r, s in zip(results, singles):
        assert isinstance(r, corral.Result) and r.token_ids == s.token_ids and r.status == s.status
        if r.status == "complete":
            jsonschema.validate(r.value, SCHEMA)
            assert r.value == json.loads(r.text) == s.value
        assert r.timings["total_s"] >= r.timings["queue_s"] >= 0


def test_request_dicts_with_their_own_constraints_and_options():
    items = [
        {"id": "digits", "prompt": "n=", "regex": "[0-9]+", "max_tokens": 6},
        {"id": "pick", "prompt": "Answer: ", "choices": ["yes", "no", "maybe"]},
        {"id": "json", "prompt": "Obj: ", "schema": SCHEMA, "whitespace": "compact", "max_tokens": 60},
        {"id": "free", "prompt": "Once", "max_tokens": 5, "temperature": 0},
        "a plain prompt, the shared constraint",
    ]
    results = corral.generate_batch(items, regex="[a-z]{1,8}", seed=1, temperature=0)
    assert [r.tag for r in results] == ["digits", "pick", "json", "free", 4]
    assert results[0].text.isdigit() or results[0].status == "length"
    assert results[1].text in ("yes", "no", "maybe")
    if results[2].status == "complete":
        assert ", " not in results[2].text and results[2].value is not None
    # a dict without a constraint of its own gets the shared one
    assert results[3].token_ids == corral.generate("Once", regex="[a-z]{1,8}", max_tokens=5,
                                                   temperature=0).token_ids
    assert results[4].token_ids == corral.generate(items[4], regex="[a-z]{1,8}", temperature=0).token_ids


def test_chat_rows_equal_single_chat_calls():
    messages = [{"role": "user", "content": "Say yes or no."}]
    results = corral.generate_batch([messages, {"messages": messages, "system": "Be brief."}, "Hi"],
                                    choices=["yes", "no"], temperature=0)
    assert all(r.status == "complete" for r in results)
    assert results[0].text == corral.generate(messages=messages, choices=["yes", "no"], temperature=0).text
    assert results[1].text == corral.generate(messages=messages, system="Be brief.", choices=["yes", "no"],
                                              temperature=0).text
    with_system = corral.generate_batch(["Hi", messages, {"prompt": "Hi"}, {"prompt": [5, 6]}], system="S",
                                        choices=["yes", "no"], temperature=0)
    expected = corral.generate("Hi", system="S", choices=["yes", "no"], temperature=0)
    assert with_system[0].token_ids == with_system[2].token_ids == expected.token_ids
    assert with_system[3].status == "error" and "token ids" in with_system[3].error  # no chat of token ids


def test_bad_rows_are_reported_and_the_batch_goes_on():
    items = ["ok", {"prompt": "x", "bogus": 1}, {"prompt": "x", "regex": "("}, {"prompt": "x", "method": "smc"},
             {"messages": "not a list"}, [10**9], {"prompt": "x", "max_tokens": 0}, "ok too"]
    results = corral.generate_batch(items, regex="[0-9]{1,3}", seed=0)
    assert [r.status for r in results] == ["complete"] + ["error"] * 6 + ["complete"]
    assert "bogus" in results[1].error and "lcd" in results[3].error and "max_tokens" in results[6].error
    assert all(r.error for r in results[1:7])


def test_shared_errors_are_raised():
    with pytest.raises(RegexError):
        corral.generate_batch(["a"], regex="(")
    with pytest.raises(ConfigurationError, match="draft"):
        corral.generate_batch(["a"], draft="ngram")
    # shared schema options are the defaults of schema rows; a row of another kind cannot set its own
    rows = corral.generate_batch(["a", {"prompt": "a", "whitespace": "compact"}], regex="a", whitespace="compact")
    assert rows[0].status == "complete" and rows[1].status == "error" and "schema= only" in rows[1].error
    with pytest.raises(ConfigurationError):
        iter_batch(42)
    assert corral.generate_batch([]) == []


def test_iter_batch_yields_rows_as_they_finish():
    lengths = [12, 2, 6, 1]
    items = [{"prompt": "go", "max_tokens": n} for n in lengths]
    order = [i for i, _ in iter_batch(items, temperature=0, batch_size=4, regex="[a-z]{20,30}")]
    assert sorted(order) == [0, 1, 2, 3]
    assert order == sorted(range(4), key=lambda i: lengths[i])  # shortest rows first


def test_static_batching_gives_the_same_results():
    prompts = [f"P{i}" for i in range(5)]
    a = [r for _, r in sorted(iter_batch(prompts, regex="[a-z ]{3,20}", seed=2, batch_size=2, continuous=False),
                              key=lambda x: x[0])]
    b = corral.generate_batch(prompts, regex="[a-z ]{3,20}", seed=2, batch_size=2)
    assert [r.token_ids for r in a] == [r.token_ids for r in b]
