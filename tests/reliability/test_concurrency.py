"""Concurrency: ``generate`` from 8 threads at once, with fixed seeds, gives exactly the outputs of the same calls made
one after another (shared caches are safe: compiled grammars, token tables, the model)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import corral
from corral.generate import clear_caches

CALLS = [
    {"regex": r"[0-9]{1,4}", "seed": 1},
    {"choices": ["red", "green", "blue"], "seed": 2},
    {"grammar": "json", "seed": 3, "max_tokens": 24},
    {"schema": {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, "seed": 4},
    {"regex": r"[a-z]+@[a-z]+\.(com|org)", "seed": 5, "method": "awrs"},
    {"choices": ["yes", "no"], "seed": 6, "method": "smc", "particles": 4},
    {"grammar": "arithmetic", "seed": 7, "max_tokens": 16, "draft": "ngram"},
    {"schema": {"type": "array", "items": {"enum": [1, 2, 3]}, "maxItems": 3}, "seed": 8},
]


def _run(kwargs):
    result = corral.generate("Q: ", max_tokens=kwargs.pop("max_tokens", 12), **kwargs)
    return result.text, result.token_ids, result.status


@pytest.mark.parametrize("cold", [True, False], ids=["cold caches", "warm caches"])
def test_threads_give_the_sequential_outputs(cold):
    sequential = [_run(dict(c)) for c in CALLS]
    if cold:
        clear_caches()  # the threads then compile and fill the shared tables concurrently
    with ThreadPoolExecutor(8) as pool:
        concurrent = list(pool.map(lambda c: _run(dict(c)), CALLS * 2))
    assert concurrent == sequential * 2
