"""The training script's larger-target path (``--only target --tokenizer-from``) and the benchmark's drafter names:
what ``benchmarks/gpu_speculative.sh`` relies on to time speculation with the embedded draft on a larger target."""

from __future__ import annotations

import json

from conftest import load_script
from corral.drafters.factory import auto_drafter, vocab_compatible
from corral.models.hf import HFModel, default_model_path


def test_larger_target_shares_the_embedded_tokenizer(tmp_path):
    """A fresh target of another shape, trained briefly, keeps the embedded tokenizer byte for byte, so the embedded
    draft model can draft for it (and ``auto`` takes it as its model arm)."""
    train = load_script("scripts/train_default_models.py", "train_default_models")
    embedded = str(default_model_path("target").parent)
    train.main(["--only", "target", "--target-size", "1x32x2", "--tokenizer-from", embedded, "--out-dir", str(tmp_path), "--budget-minutes", "0.01", "--train-examples", "400",
                "--eval-examples", "60", "--batch-size", "2", "--seq-len", "32", "--threads", "1"])
    folder = tmp_path / "target"
    assert not (tmp_path / "draft").exists()
    assert (folder / "tokenizer.json").read_bytes() == (default_model_path("target") / "tokenizer.json").read_bytes()
    config = json.loads((folder / "config.json").read_text())
    assert (config["n_layer"], config["n_embd"], config["n_head"]) == (1, 32, 2)
    target, draft = HFModel.load(str(folder)), HFModel.load(str(default_model_path("draft")))
    assert vocab_compatible(target.vocab, draft.vocab)
    assert set(auto_drafter(target, draft).arms) == {"ff", "ngram", "model"}
    assert set(auto_drafter(target).arms) == {"ff", "ngram"}  # not the embedded target: no model arm by default


def test_benchmark_tree_names():
    """``model-treeK`` / ``model-treeKxM`` rows of benchmarks/speculative.py map to ``draft_tree`` values."""
    bench = load_script("benchmarks/speculative.py", "speculative_bench")
    assert bench.tree_of("model") == ("model", None)
    assert bench.tree_of("model-tree4") == ("model", 4)
    assert bench.tree_of("auto-tree2x2") == ("auto", (2, 2))
