"""HF backend (KV cache, crop, fork, limits, errors), generate() and the CLI, on a tiny random GPT-2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
pytest.importorskip("corral.tokens.vocabulary", reason="corral.tokens.vocabulary (Vocabulary) not there yet")

from corral.errors import GenerationError, ModelError  # noqa: E402
from corral.generate import Result, clear_caches, generate  # noqa: E402
from corral.models.hf import HFModel, default_model_path  # noqa: E402

EOS = "<|endoftext|>"
N_POSITIONS = 32
PAD = 5  # the model's output layer is larger than the tokenizer (padded vocab)
TEXTS = ["yes", "no", "maybe", "hello world", "the cat sat on the mat", "yes no maybe", "123 456"] * 5


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-gpt2")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(TEXTS, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS)
    fast.save_pretrained(folder)
    eos_id = fast.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(fast) + PAD,
        n_positions=N_POSITIONS,
        n_embd=16,
        n_layer=2,
        n_head=2,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
    )
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config)
    with torch.no_grad():  # sharpen the random model a little so that outputs vary
        model.lm_head.weight.mul_(20)
    model.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def lm(tiny_folder) -> HFModel:
    return HFModel.load(tiny_folder)


def full_forward_logprobs(lm: HFModel, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        logits = lm.model(input_ids=torch.tensor([ids]), use_cache=False).logits[0, -1]
    return torch.log_softmax(logits.float(), dim=-1)


class AllowedStrings:
    """A fake compiled grammar: the language is a fixed set of strings (checked on bytes)."""

    def __init__(self, vocab, allowed):
        self.vocab = vocab
        self.allowed = [a.encode() for a in allowed]

    def matcher(self):
        return AllowedStringsMatcher(self)


class AllowedStringsMatcher:
    def __init__(self, grammar):
        self.g = grammar
        self.text = b""

    def is_complete(self):
        return self.text in self.g.allowed

    def check(self, token):
        if token in self.g.vocab.eos_token_ids:
            return self.is_complete()
        b = self.g.vocab.token_bytes[token]
        if not b:
            return False
        return any(a.startswith(self.text + b) for a in self.g.allowed)

    def mask(self):
        return np.array([self.check(t) for t in range(self.g.vocab.size)], dtype=bool)

    def advance(self, token):
        assert self.check(token), token
        if token not in self.g.vocab.eos_token_ids:
            self.text += self.g.vocab.token_bytes[token]


# ----------------------------------------------------------------------------- HFModel


def test_load_folder_vocab_and_eos(lm, tiny_folder):
    eos_id = lm.tokenizer.convert_tokens_to_ids(EOS)
    assert lm.eos_token_ids == frozenset({eos_id})
    assert lm.vocab.size == lm.model.config.vocab_size == len(lm.tokenizer) + PAD
    assert lm.max_length == N_POSITIONS
    assert lm.vocab.decode(lm.encode("hello world")) == b"hello world"


def test_kv_cache_matches_full_forward(lm):
    ids = lm.encode("the cat sat")
    seq = lm.start(ids)
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids), atol=1e-5, rtol=0)
    assert seq.logprobs() is seq.logprobs()  # no recomputation without new tokens
    more = lm.encode(" on the mat")
    for t in more[:2]:
        seq.append(t)
        ids.append(t)
        torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids), atol=1e-5, rtol=0)
    seq.extend(more[2:])  # several pending tokens in one forward pass
    ids.extend(more[2:])
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids), atol=1e-5, rtol=0)
    assert seq.tokens == ids
    assert seq.logprobs().dtype == torch.float32 and seq.logprobs().shape == (lm.vocab.size,)


def test_crop(lm):
    ids = lm.encode("hello world yes no")
    seq = lm.start(ids[:2])
    seq.logprobs()
    seq.extend(ids[2:])
    after = seq.logprobs().clone()
    seq.crop(3)  # into the cache
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids[:-3]), atol=1e-5, rtol=0)
    seq.extend(ids[-3:])  # re-append: same law as before
    torch.testing.assert_close(seq.logprobs(), after, atol=1e-5, rtol=0)
    # crop tokens that were never fed, then part of the cache
    seq.append(ids[0])
    seq.append(ids[1])
    seq.crop(2)
    torch.testing.assert_close(seq.logprobs(), after, atol=1e-5, rtol=0)
    seq.append(ids[0])
    seq.crop(2)
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids[:-1]), atol=1e-5, rtol=0)
    seq.crop(len(seq.tokens) - 1)  # down to one token: the cache is emptied and rebuilt
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids[:1]), atol=1e-5, rtol=0)
    with pytest.raises(ValueError):
        seq.crop(5)


def test_fork_is_independent(lm):
    ids = lm.encode("yes no maybe")
    seq = lm.start(ids)
    seq.logprobs()
    other = seq.fork()
    other.append(ids[0])
    branch = other.logprobs().clone()
    torch.testing.assert_close(seq.logprobs(), full_forward_logprobs(lm, ids), atol=1e-5, rtol=0)
    seq.append(ids[1])
    seq.logprobs()
    torch.testing.assert_close(other.logprobs(), branch)
    torch.testing.assert_close(branch, full_forward_logprobs(lm, ids + [ids[0]]), atol=1e-5, rtol=0)


def test_empty_prompt_starts_from_bos(lm):
    seq = lm.start([])
    assert seq.tokens == [lm.bos_token_id]
    assert torch.isfinite(seq.logprobs()).all()


def test_long_prompt_raises(lm):
    with pytest.raises(GenerationError, match=rf"40 tokens.*{N_POSITIONS}"):
        lm.start([1] * 40)


def test_load_errors(tmp_path, monkeypatch, lm, tiny_folder):
    with pytest.raises(ModelError, match="does not exist"):
        HFModel.load(tmp_path / "missing")
    with pytest.raises(ModelError, match="does not exist"):
        HFModel.load(str(tmp_path / "missing"))
    with pytest.raises(ModelError, match="config.json"):
        HFModel.load(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="not a local folder .* the hub is not reachable .HF_HUB_OFFLINE is set"):
        HFModel.load("corral-no-such-model-xyz")
    with pytest.raises(ModelError, match="tokenizer"):
        HFModel.load(lm.model)


def test_load_model_object_with_tokenizer(lm, tiny_folder):
    other = HFModel.load(lm.model, tokenizer=tiny_folder)
    assert other.vocab.fingerprint == lm.vocab.fingerprint
    again = HFModel.load((lm.model, lm.tokenizer))
    assert again.eos_token_ids == lm.eos_token_ids


# ----------------------------------------------------------------------------- generate


def test_generate_with_fake_matcher(lm):
    allowed = ["yes", "no", "maybe", "hello world"]
    grammar = AllowedStrings(lm.vocab, allowed)
    seen = set()
    for seed in range(8):
        res = generate("Answer:", model=lm, grammar=grammar, seed=seed, max_tokens=20)
        assert isinstance(res, Result)
        assert res.status == "complete", res
        assert res.text in allowed and str(res) == res.text
        assert res.token_ids[-1] in lm.eos_token_ids
        assert res.logprob <= 1e-9 and res.model_logprob <= res.logprob + 1e-6  # masking only raises probabilities
        assert set(res.timings) >= {"load_s", "compile_s", "first_token_s", "total_s", "tokens_per_s"}
        seen.add(res.text)
    assert len(seen) > 1
    greedy = generate("Answer:", model=lm, grammar=grammar, temperature=0, max_tokens=20)
    assert greedy.text in allowed and greedy.logprob == 0.0


def test_generate_length_status(lm):
    grammar = AllowedStrings(lm.vocab, ["hello world"])
    res = generate("Answer:", model=lm, grammar=grammar, seed=0, max_tokens=1)
    assert res.status == "length"
    assert len(res.token_ids) == 1
    assert "hello world".startswith(res.text)


def test_generate_hits_the_context_limit(lm):
    prompt = lm.encode("the cat sat on the mat " * 10)[: N_POSITIONS - 2]
    # language with no end in sight: one long string
    grammar = AllowedStrings(lm.vocab, ["x" * 100])
    res = generate(prompt, model=lm, grammar=grammar, seed=0, max_tokens=50)
    assert res.status == "length"
    assert len(res.token_ids) == 3  # positions N-2, N-1 and the last token, which is never fed


def test_generate_seeded_and_unconstrained(lm, tiny_folder):
    a = generate("hello", model=tiny_folder, seed=123, max_tokens=8)
    b = generate("hello", model=tiny_folder, seed=123, max_tokens=8)
    assert a.token_ids == b.token_ids and a.text == b.text
    assert b.timings["load_s"] < 1.0  # cached model
    assert a.status in ("complete", "length")
    for t in a.token_ids:
        assert lm.vocab.token_bytes[t] is not None or t in lm.eos_token_ids


def test_generate_argument_errors(lm):
    with pytest.raises(ValueError, match="at most one of"):
        generate("x", model=lm, regex="a", choices=["a"])
    with pytest.raises(ValueError, match="max_tokens"):
        generate("x", model=lm, max_tokens=0)
    with pytest.raises(ValueError, match="top_p"):
        generate("x", model=lm, top_p=0)
    with pytest.raises(ValueError, match="choices"):
        generate("x", model=lm, choices="abc")
    with pytest.raises(GenerationError):
        generate([1] * 40, model=lm)


def test_generate_with_real_matcher(lm):
    for module in ("corral.runtime.matcher", "corral.compile.grammar", "corral.automata.regex"):
        pytest.importorskip(module, reason=f"{module} not there yet")
    choices = ["yes", "no", "maybe"]
    for seed in range(3):
        res = generate("Answer:", model=lm, choices=choices, seed=seed, max_tokens=20)
        assert res.status == "complete" and res.text in choices
    res = generate("Number:", model=lm, regex=r"[0-9]{2,4}", seed=1, max_tokens=20)
    assert res.status == "complete"
    assert res.text.isdigit() and 2 <= len(res.text) <= 4


def test_default_model():
    if not (default_model_path("target") / "config.json").is_file():
        pytest.skip("the embedded default model is not there yet")
    res = generate("Hello", max_tokens=4, seed=0)
    assert res.status in ("complete", "length")


# ----------------------------------------------------------------------------- CLI


def test_cli_exit_codes(tiny_folder, capsys, monkeypatch):
    from corral.cli import main

    clear_caches()
    code = main(["generate", "hello", "--model", str(tiny_folder), "--max-tokens", "1", "--seed", "0", "--json"])
    record = json.loads(capsys.readouterr().out)
    assert code == (0 if record["status"] == "complete" else 3)
    assert set(record) >= {"text", "status", "timings", "token_ids"}

    code = main(["generate", "hello", "--model", str(tiny_folder), "--top-p", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "top_p" in err and "Traceback" not in err
    code = main(["generate", "hello", "--model", str(tiny_folder / "nope")])
    assert code == 2 and "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["generate", "hello", "--regex", "a", "--choices", "a", "b"])
    assert exc.value.code == 2

    from corral.generator import Generator

    for status, expected in (("complete", 0), ("length", 3)):
        fake = Result(text="ok", token_ids=[1], status=status, logprob=0.0, timings={})
        monkeypatch.setattr(Generator, "run", lambda self, *a, _r=fake, **k: _r)
        assert main(["generate", "hello"]) == expected
        assert capsys.readouterr().out == "ok\n"


def test_python_dash_m_bad_input(tmp_path):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    proc = subprocess.run(
        [sys.executable, "-m", "corral", "generate", "hi", "--model", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr
