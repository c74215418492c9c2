"""The embedded default model pair (src/corral/data/default/{target,draft}) loads offline and is sane."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "src" / "corral" / "data" / "default"
FOLDERS = {name: DEFAULT_DIR / name for name in ("target", "draft")}
EOS = "<|endoftext|>"
MAX_TOTAL_BYTES = 20 * 1024 * 1024
REQUIRED_FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                  "tokenizer_config.json", "special_tokens_map.json")


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def models():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return {name: transformers.AutoModelForCausalLM.from_pretrained(str(folder)).eval()
            for name, folder in FOLDERS.items()}


@pytest.fixture(scope="module")
def tokenizer():
    return transformers.AutoTokenizer.from_pretrained(str(FOLDERS["target"]))


@pytest.mark.parametrize("name", list(FOLDERS))
def test_files_present(name):
    folder = FOLDERS[name]
    for f in REQUIRED_FILES:
        assert (folder / f).is_file(), f"{folder / f} missing"


def test_total_size_under_limit():
    total = sum(f.stat().st_size for folder in FOLDERS.values() for f in folder.rglob("*") if f.is_file())
    assert total <= MAX_TOTAL_BYTES, total


def test_tokenizer_shared():
    a = (FOLDERS["target"] / "tokenizer.json").read_bytes()
    b = (FOLDERS["draft"] / "tokenizer.json").read_bytes()
    assert a == b


@pytest.mark.parametrize("name", list(FOLDERS))
def test_eos_configured(name, models):
    folder = FOLDERS[name]
    tok = transformers.AutoTokenizer.from_pretrained(str(folder))
    assert tok.eos_token == EOS
    eos_id = tok.eos_token_id
    assert eos_id is not None and tok.convert_ids_to_tokens(eos_id) == EOS
    cfg = models[name].config
    assert cfg.eos_token_id == eos_id and cfg.bos_token_id == eos_id
    gen = json.loads((folder / "generation_config.json").read_text())
    assert gen["eos_token_id"] == eos_id
    special = json.loads((folder / "special_tokens_map.json").read_text())
    eos_entry = special["eos_token"]
    assert (eos_entry if isinstance(eos_entry, str) else eos_entry["content"]) == EOS
    assert cfg.vocab_size >= len(tok)


def test_tokenizer_byte_level_roundtrip(tokenizer):
    text = '{"name": "Zoë Müller", "emoji": "\U0001F600", "ctl": "\x01\t"} 東京\n'
    ids = tokenizer(text).input_ids
    assert tokenizer.decode(ids) == text


@pytest.mark.parametrize("name", list(FOLDERS))
def test_forward_pass_float32(name, models, tokenizer):
    model = models[name]
    assert next(model.parameters()).dtype == torch.float32
    ids = tokenizer("Answer in JSON:\n", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], model.config.vocab_size)
    assert torch.isfinite(logits).all()


@pytest.mark.parametrize("name", list(FOLDERS))
def test_sizes(name, models):
    n = sum(p.numel() for p in models[name].parameters())
    if name == "target":
        assert 3_000_000 <= n <= 5_000_000, n
    else:
        assert 400_000 <= n <= 1_000_000, n


def test_target_greedy_json_starts_with_brace(models, tokenizer):
    ids = tokenizer("Generate a JSON object describing a person:\n", return_tensors="pt").input_ids
    with torch.no_grad():
        out = models["target"].generate(ids, max_new_tokens=8, do_sample=False,
                                        pad_token_id=tokenizer.eos_token_id)
    completion = tokenizer.decode(out[0, ids.shape[1]:])
    assert completion.startswith("{"), completion
