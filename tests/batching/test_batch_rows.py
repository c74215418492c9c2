"""The multi-prompt row sets of :mod:`corral.models.rows`: batched laws equal the single-sequence path at every step.

The key property of the batched KV cache: rows of different prompts and lengths, joining mid-way and leaving,
each get (to float32 rounding) the log-probabilities that ``HFModel.start(prompt).logprobs()`` gives for the same
tokens, at every step; the per-row fallback (toy model) equals the single path exactly.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from corral.errors import GenerationError
from corral.models.rows import HFRows, SequenceRows, make_rows, supports_rows
from corral.models.toy import ToyModel

ATOL = 1e-4
PROMPTS = ["Hello there, my name is", "A", "", "The quick brown fox jumps over the lazy dog and then it went home"]


@pytest.fixture(scope="module")
def lm():
    from corral.generator import default_generator

    return default_generator(None).model  # the model corral.generate() uses


def _drive(lm, rows, schedule, steps, seed=0):
    """Run ``steps`` steps: ``schedule[step]`` is a list of ("add", prompt) / ("remove", k) actions (k: the k-th
    live row). Every row's law is compared with a single-path Sequence fed the same tokens. Returns the max error."""
    rng = random.Random(seed)
    live: dict[int, object] = {}
    worst = 0.0
    for step in range(steps):
        for action, arg in schedule.get(step, []):
            if action == "add":
                ids = lm.encode(arg)
                live[rows.add(ids)] = lm.start(ids)
            else:
                key = list(live)[arg]
                rows.remove(key)
                del live[key]
        laws = rows.logprobs()
        assert set(laws) == set(live) == set(rows.rows)
        for key, seq in live.items():
            ref = seq.logprobs().to("cpu")
            worst = max(worst, float((laws[key] - ref).abs().max()))
            assert rows.tokens(key) == seq.tokens and rows.length(key) == len(seq.tokens)
            token = rng.randrange(1, lm.vocab.size)
            rows.append(key, token)
            seq.append(token)
    return worst


def test_hf_model_gets_the_shared_cache(lm):
    assert supports_rows(lm)
    assert isinstance(make_rows(lm), HFRows)
    assert isinstance(make_rows(lm, per_row=True), SequenceRows)


def test_batched_laws_equal_single_laws_at_every_step(lm):
    """Four prompts of different lengths (one empty), joining at different steps, two leaving mid-way."""
    rows = make_rows(lm)
    schedule = {0: [("add", PROMPTS[0]), ("add", PROMPTS[1])], 3: [("add", PROMPTS[2])], 5: [("remove", 0)],
                7: [("add", PROMPTS[3])], 12: [("remove", 1)], 15: [("add", PROMPTS[0])]}
    worst = _drive(lm, rows, schedule, 24)
    assert worst < ATOL, worst
    # one batched forward per step, plus one prefill per added row
    assert rows.n_batched <= 24 and rows.n_forward == rows.n_batched + 5


def test_all_rows_leave_then_new_rows_join(lm):
    rows = make_rows(lm)
    schedule = {0: [("add", PROMPTS[3])], 4: [("remove", 0), ("add", PROMPTS[1]), ("add", PROMPTS[0])]}
    assert _drive(lm, rows, schedule, 10) < ATOL


def test_left_padding_is_cut_when_the_long_row_leaves(lm):
    rows = HFRows(lm)
    short, long = rows.add(lm.encode("A")), rows.add(lm.encode(PROMPTS[3]))
    rows.logprobs()
    rows.append(short, 5)
    rows.append(long, 6)
    rows.logprobs()
    assert rows.padding() == len(lm.encode(PROMPTS[3])) - 1
    rows.remove(long)
    assert rows.padding() == 0 and rows.rows == [short]
    rows.append(short, 7)
    seq = lm.start(lm.encode("A") + [5, 7])
    assert torch.allclose(rows.logprobs()[short], seq.logprobs().to("cpu"), atol=ATOL)


def test_every_row_must_get_one_token_per_step(lm):
    rows = HFRows(lm)
    a, b = rows.add([5, 6]), rows.add([7])
    rows.logprobs()
    rows.append(a, 1)
    rows.append(b, 2)
    rows.logprobs()  # both merged into the shared cache
    rows.append(a, 3)
    with pytest.raises(GenerationError, match="exactly one token"):
        rows.logprobs()


def test_a_new_row_given_several_tokens_before_its_first_step(lm):
    rows = HFRows(lm)
    a = rows.add(lm.encode("Hello"))
    rows.logprobs()
    for t in (11, 12, 13):
        rows.append(a, t)
    law = rows.logprobs()[a]
    ref = lm.start(lm.encode("Hello") + [11, 12, 13]).logprobs().to("cpu")
    assert torch.allclose(law, ref, atol=ATOL)


def test_prompt_longer_than_the_context(lm):
    rows = make_rows(lm)
    with pytest.raises(GenerationError, match="context"):
        rows.add([5] * (lm.max_length + 1))
    assert len(rows) == 0


def test_sequence_rows_on_a_toy_model_are_exact():
    toy = ToyModel.random(["a", "b", "c"], seed=3)
    rows = make_rows(toy)
    assert isinstance(rows, SequenceRows)
    keys = [rows.add([0]), rows.add([1, 2]), rows.add([])]
    rng = np.random.default_rng(0)
    for _ in range(6):
        laws = rows.logprobs()
        for k in keys:
            assert torch.equal(laws[k], toy.logprobs_of(rows.tokens(k)))
            rows.append(k, int(rng.integers(0, 3)))
    rows.remove(keys[1])
    assert rows.rows == [keys[0], keys[2]] and rows.tokens(keys[2])[0] == toy.bos_token_id
