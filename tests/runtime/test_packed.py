"""Packed masks for serving engines: the layout, the per-state cache, the batch fill, the in-place apply, and the
memory report."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import GRAMMARS_DIR, tokenizer_path
from corral.compile.grammar import grammar_from_source
from corral.runtime.matcher import CompiledGrammar
from corral.runtime.packed import apply_packed_mask_, fill_packed_masks, pack_mask, packed_width, unpack_mask
from corral.tokens.vocabulary import Vocabulary


@pytest.mark.parametrize("size", [1, 31, 32, 33, 1000, 50257])
def test_pack_layout(size):
    m = np.random.default_rng(size).random(size) < 0.4
    p = pack_mask(m)
    assert p.dtype == np.int32 and p.shape == (packed_width(size),)
    for t in np.random.default_rng(1).integers(0, size, 50).tolist():
        assert bool((int(p[t // 32]) >> (t % 32)) & 1) == m[t]
    assert np.array_equal(unpack_mask(p, size), m)


@pytest.fixture(scope="module")
def compiled():
    vocab = Vocabulary.from_huggingface(str(tokenizer_path("gpt2")))
    return CompiledGrammar(grammar_from_source(GRAMMARS_DIR / "json.lark"), vocab)


def test_matcher_packed_mask_is_cached_and_equals_the_bool_mask(compiled):
    m = compiled.matcher()
    p = m.mask_packed()
    assert m.mask_packed() is p and not p.flags.writeable
    assert np.array_equal(unpack_mask(p, compiled.size), m.mask())


def test_batch_fill_and_apply(compiled):
    a, b = compiled.matcher(), compiled.matcher()
    b.advance(int(np.flatnonzero(b.mask())[0]))
    out = np.full((3, packed_width(compiled.size)), 7, dtype=np.int32)
    fill_packed_masks([a, b], out)
    assert np.array_equal(out[0], a.mask_packed()) and np.array_equal(out[1], b.mask_packed()) and (out[2] == 7).all()
    logits = torch.zeros(2, compiled.size + 5)  # a model's output may be wider than the vocabulary
    apply_packed_mask_(logits, out[:2])
    for row, m in ((0, a), (1, b)):
        allowed = torch.isfinite(logits[row]).numpy()
        assert np.array_equal(allowed[: compiled.size], m.mask()) and not allowed[compiled.size:].any()
    arr = np.zeros(compiled.size, dtype=np.float32)
    apply_packed_mask_(arr, a.mask_packed())
    assert np.array_equal(np.isfinite(arr), a.mask())
    with pytest.raises(ValueError):
        fill_packed_masks([a], np.zeros((1, 3), dtype=np.int32))


def test_memory_report(compiled):
    compiled.matcher().mask_packed()
    mem = compiled.memory()
    assert set(mem) == {"vocabulary", "tables", "masks", "dfas", "engine"}
    assert all(v > 0 for k, v in mem.items() if k != "engine" or compiled.native)
    # a grammar's own state stays a few MB
    assert mem["tables"] + mem["masks"] + mem["dfas"] + mem["engine"] < 8 * 2**20
