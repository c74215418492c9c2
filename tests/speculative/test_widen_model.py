"""scripts/widen_model.py: the widened GPT-2 computes the source's next-token law (the CPU cost proxy of a larger
target in benchmarks/speculative.py relies on it), and a wrong construction is caught."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from conftest import load_script  # noqa: E402
from corral.models.hf import default_model_path  # noqa: E402


def _script():
    """scripts/widen_model.py, freshly loaded (a test may patch it)."""
    return load_script("scripts/widen_model.py", "widen_model")


def _logits(model, ids):
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0].double()


@pytest.fixture(scope="module")
def source():
    from transformers import GPT2LMHeadModel

    folder = default_model_path("draft")
    return folder, GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32).eval()


@pytest.mark.parametrize("factor", [1, 2, 3])
def test_widened_model_has_the_same_logits(tmp_path, source, factor):
    """Logits of the widened model (and of the checkpoint it wrote) equal the source's on a 40-token text."""
    from transformers import GPT2LMHeadModel

    folder, model = source
    wide = _script().widen(folder, tmp_path / "wide", factor).eval()
    ids = list(range(5, 45))
    want = _logits(model, ids)
    assert wide.config.n_embd == model.config.n_embd * factor
    assert (_logits(wide, ids) - want).abs().max().item() < 1e-4
    reloaded = GPT2LMHeadModel.from_pretrained(tmp_path / "wide", dtype=torch.float32).eval()
    assert (_logits(reloaded, ids) - want).abs().max().item() < 1e-4
    assert (tmp_path / "wide" / "tokenizer.json").read_bytes() == (folder / "tokenizer.json").read_bytes()


def test_query_scaling_is_needed(tmp_path, source, monkeypatch):
    """Negative control: without the ``1/sqrt(f)`` query scale the widened model's logits differ."""
    folder, model = source
    script = _script()
    real = script._widen_attention

    def unscaled(w, b, d, factor):
        qw, qb = real(w, b, d, factor)
        s = factor ** 0.5
        qw[:, :d * factor] *= s
        qb[:d * factor] *= s
        return qw, qb

    monkeypatch.setattr(script, "_widen_attention", unscaled)
    wide = script.widen(folder, tmp_path / "wide", 4).eval()
    ids = list(range(5, 45))
    assert (_logits(wide, ids) - _logits(model, ids)).abs().max().item() > 1e-2
