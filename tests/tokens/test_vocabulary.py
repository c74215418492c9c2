"""Tests for corral.tokens.vocabulary: token id -> bytes for Hugging Face tokenizers."""

from __future__ import annotations

import json
import random
import unicodedata

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

from conftest import tokenizer_path
from corral.errors import VocabularyError
from corral.tokens.vocabulary import Vocabulary, eos_token_ids_from_config, gpt2_byte_decoder

HAND_WRITTEN = [
    "", "a", " ", "  ", "hello world", "Hello, World!", "  leading and trailing  ", "\t\ttabs\n\nnewlines\r\n",
    "café résumé naïve Ærøskøbing", "Ünïcödé façade coöperate", "e\u0301 a\u0308 n\u0303 combining marks",
    "Å vs A\u030a (NFC vs NFD)", "中文字符测试，你好世界。", "日本語のテキストとカタカナ", "한국어 텍스트",
    "emoji 🤗🎉👍🏽 👨‍👩‍👧‍👦 🇫🇷", "🤗", "😀😃😄", "RTL: שלום עולם مرحبا بالعالم", "Ελληνικά και Кириллица",
    "control \x00\x01\x07\x1b[31m\x7f chars", "zero\u200bwidth\u200djoiner\ufeffbom", "math ∀x∈ℝ: x²≥0 ≠ ∞",
    '{"key": "value", "n": [1, 2.5, -3e10], "nested": {"a": null, "b": true}}',
    '{"name":"Zoë","emoji":"🤗","escape":"\\n\\t\\"\\u00e9"}', "[]", "{}", '"', "\\", "\\\\n",
    "def f(x):\n    return x ** 2  # square\n", "for (int i = 0; i < n; ++i) { sum += a[i]; }",
    "SELECT * FROM users WHERE name = 'O''Brien';", "<html><body><p class=\"x\">Hi &amp; bye</p></body></html>",
    "https://example.com/path?q=1&r=%20#frag", "1234567890 3.14159 -42 1e-9 0x1F", "    indented\n        more",
    "line1\nline2\n\n\nline5", "trailing newline\n", "mixed\r\nline\rendings\n", "ﬁ ligature ﬀ and ① ㍿",
    "'s 't 're 've 'm 'll 'd don't I'm", "ALL CAPS SHOUTING", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "=" * 80, " " * 33 + "x", "▁sentencepiece▁marker", "<0x41> literal byte-token text", "<s-like> </ unk>",
    "Ġ Ċ ĉ byte-level alphabet", "\u00a0nbsp\u2009thin\u3000ideographic", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝟙𝟚𝟛 astral",
]

_ALPHABETS = ["abc xyz", "éàüñç", "中文日本語", "🤗🎉👍", "שלוםمرحبا", "\u0301\u0308", "\x00\x1b\t\n", '{}[]":,\\',
              "0123456789", "    ", "Ωж€£"]


def _generated(n: int = 200, seed: int = 1234) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chars = "".join(rng.sample(_ALPHABETS, 3))
        out.append("".join(rng.choice(chars) for _ in range(rng.randint(1, 40))))
    return out


CORPUS = HAND_WRITTEN + _generated()
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
HYPO = settings(derandomize=True, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
REAL = ["gpt2", "llama2", "llama3", "qwen3"]
EXPECTED_EOS = {"gpt2": "<|endoftext|>", "llama2": "</s>", "llama3": "<|eot_id|>", "qwen3": "<|im_end|>"}

_cache: dict = {}


def real(name: str) -> tuple[Tokenizer, Vocabulary]:
    """Load (once) one of the shared tokenizers and its vocabulary."""
    if name not in _cache:
        folder = tokenizer_path(name)
        _cache[name] = (Tokenizer.from_file(str(folder / "tokenizer.json")), Vocabulary.from_huggingface(folder))
    return _cache[name]


def expected_bytes(name: str, text: str) -> bytes:
    """What the concatenated token bytes of ``encode(text)`` should be."""
    if name == "llama2":  # normaliser prepends "▁" and turns " " into "▁"; all "▁" decode to spaces
        return (" " + text.replace("▁", " ")).encode()
    if name == "qwen3":
        return unicodedata.normalize("NFC", text).encode()
    return text.encode()


def check_roundtrip(name: str, tok: Tokenizer, vocab: Vocabulary, text: str) -> None:
    ids = tok.encode(text, add_special_tokens=False).ids
    assert all(vocab.token_bytes[i] is not None for i in ids), text
    joined = b"".join(vocab.token_bytes[i] for i in ids)
    assert joined == vocab.decode(ids)
    decoded = tok.decode(ids, skip_special_tokens=False).encode()
    assert joined == expected_bytes(name, text), (text, ids)
    if name == "llama2":  # its decoder strips the dummy-prefix space of the first token
        assert joined == (b" " + decoded if ids else b"")
    else:
        assert joined == decoded


# ---------------------------------------------------------------------------------------------- real tokenizers


@pytest.mark.parametrize("name", REAL)
def test_real_corpus_roundtrip(name):
    tok, vocab = real(name)
    for text in CORPUS:
        if name == "llama2" and not text:
            continue
        check_roundtrip(name, tok, vocab, text)


@pytest.mark.parametrize("name", REAL)
def test_real_hypothesis_roundtrip(name):
    tok, vocab = real(name)

    @HYPO
    @given(TEXT)
    def run(text):
        if name == "llama2" and not text:
            return
        check_roundtrip(name, tok, vocab, text)

    run()


@pytest.mark.parametrize("name", REAL)
def test_real_special_tokens_and_eos(name):
    tok, vocab = real(name)
    eos = tok.token_to_id(EXPECTED_EOS[name])
    assert vocab.eos_token_ids == {eos}
    specials = tok.get_added_tokens_decoder()
    assert specials and all(vocab.token_bytes[i] is None for i in specials)
    assert vocab.size == len(vocab) == tok.get_vocab_size(with_added_tokens=True)
    n_regular = sum(b is not None for b in vocab.token_bytes)
    assert n_regular == vocab.size - len(specials)
    assert "[eos]" in vocab.token_str(eos) and EXPECTED_EOS[name] in vocab.token_str(eos)
    # a special token's text encodes to the special id, which contributes nothing
    ids = tok.encode("a" + EXPECTED_EOS[name], add_special_tokens=False).ids
    assert eos in ids and vocab.decode(ids) == expected_bytes(name, "a")


@pytest.mark.parametrize("name", REAL)
def test_real_arrays_and_fingerprint(name):
    _, vocab = real(name)
    m, lengths = vocab.byte_matrix, vocab.lengths
    assert m.dtype == np.uint8 and lengths.dtype == np.int32 and m.shape == (vocab.size, vocab.max_len)
    rng = random.Random(0)
    for i in [0, vocab.size - 1, *rng.sample(range(vocab.size), 300)]:
        b = vocab.token_bytes[i] or b""
        assert lengths[i] == len(b) and bytes(m[i, : len(b)]) == b and not m[i, len(b):].any()
    assert len(vocab.fingerprint) == 64
    assert Vocabulary.from_token_bytes(vocab.token_bytes, vocab.eos_token_ids).fingerprint == vocab.fingerprint


def test_real_partial_utf8_tokens_are_raw_bytes():
    tok, vocab = real("gpt2")
    ids = tok.encode("🤗").ids
    parts = [vocab.token_bytes[i] for i in ids]
    assert len(parts) > 1 and b"".join(parts) == "🤗".encode()
    with pytest.raises(UnicodeDecodeError):
        parts[0].decode("utf-8")
    tok, vocab = real("llama2")
    ids = tok.encode("🤗", add_special_tokens=False).ids
    assert [tok.id_to_token(i) for i in ids][-4:] == ["<0xF0>", "<0x9F>", "<0xA4>", "<0x97>"]
    assert [vocab.token_bytes[i] for i in ids[-4:]] == [b"\xf0", b"\x9f", b"\xa4", b"\x97"]
    assert vocab.token_bytes[tok.token_to_id("▁the")] == b" the"
    assert "b'\\xf0'" in vocab.token_str(tok.token_to_id("<0xF0>"))
    # every byte value is a token of the byte-fallback and byte-level vocabularies
    for name in ("llama2", "gpt2", "llama3", "qwen3"):
        singles = {b for b in real(name)[1].token_bytes if b is not None and len(b) == 1}
        assert len(singles) == 256, name


def test_transformers_fast_tokenizer_matches_path():
    transformers = pytest.importorskip("transformers")
    for name in ("gpt2", "llama2"):
        folder = tokenizer_path(name)
        hf = transformers.AutoTokenizer.from_pretrained(str(folder))
        vocab = Vocabulary.from_huggingface(hf)
        assert vocab.eos_token_ids == {hf.eos_token_id}
        assert vocab.fingerprint == real(name)[1].fingerprint


def test_tokenizers_object_needs_explicit_eos():
    tok, vocab = real("gpt2")
    with pytest.raises(VocabularyError, match="EOS"):
        Vocabulary.from_huggingface(tok)
    assert Vocabulary.from_huggingface(tok, eos_token_ids=[50256]).fingerprint == vocab.fingerprint
    assert Vocabulary.from_huggingface(tok, model_config={"eos_token_id": 50256}).eos_token_ids == {50256}


def test_model_config_merge_and_padding():
    folder = tokenizer_path("llama3")
    vocab = Vocabulary.from_huggingface(folder / "tokenizer.json", model_config={"eos_token_id": [128001, 128009]},
                                        size=128300)
    assert vocab.eos_token_ids == {128001, 128009} and vocab.size == 128300
    assert vocab.token_bytes[128256:] == [None] * 44 and not vocab.lengths[128256:].any()
    assert vocab.byte_matrix.shape == (128300, 128)
    assert vocab.fingerprint != real("llama3")[1].fingerprint


# ----------------------------------------------------------------------------------------- synthetic tokenizers

TRAIN = CORPUS[:60] * 3


def byte_level_bpe() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|eos|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(TRAIN, trainer)
    tok.add_tokens(["<added>", AddedToken(" plain added", special=False)])
    return tok


def sentencepiece_bpe() -> Tokenizer:
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    vocab.update({f"<0x{b:02X}>": 3 + b for b in range(256)})
    for ch in "▁abcdefghijklmnopqrstuvwxyzTHé":
        vocab[ch] = len(vocab)
    merges = [("▁", "t"), ("h", "e"), ("▁t", "he"), ("▁", "a"), ("é", "t")]
    for a, b in merges:
        vocab[a + b] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens(["<s>", "</s>", "<unk>"])
    return tok


@pytest.mark.parametrize("kind", ["byte_level", "sentencepiece"])
def test_synthetic_roundtrip(kind):
    tok = byte_level_bpe() if kind == "byte_level" else sentencepiece_bpe()
    eos = tok.token_to_id("<|eos|>" if kind == "byte_level" else "</s>")
    vocab = Vocabulary.from_huggingface(tok, eos_token_ids=[eos])
    name = "gpt2" if kind == "byte_level" else "llama2"
    for i in tok.get_added_tokens_decoder():
        assert vocab.token_bytes[i] is None
    for text in CORPUS:
        if text and "<added>" not in text:
            check_roundtrip(name, tok, vocab, text)

    @HYPO
    @given(TEXT.filter(bool))
    def run(text):
        check_roundtrip(name, tok, vocab, text)

    run()


def test_synthetic_folder_eos_lookup(tmp_path):
    tok = byte_level_bpe()
    tok.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(VocabularyError, match="eos_token_ids"):
        Vocabulary.from_huggingface(tmp_path)
    eos = tok.token_to_id("<|eos|>")
    assert Vocabulary.from_huggingface(tmp_path, eos_token_ids=eos).eos_token_ids == {eos}
    assert Vocabulary.from_huggingface(tmp_path, eos_token_ids=[]).eos_token_ids == frozenset()
    (tmp_path / "special_tokens_map.json").write_text(json.dumps({"eos_token": {"content": "<|eos|>"}}))
    assert Vocabulary.from_huggingface(str(tmp_path)).eos_token_ids == {eos}
    (tmp_path / "generation_config.json").write_text(json.dumps({"eos_token_id": [eos, 5]}))
    vocab = Vocabulary.from_huggingface(tmp_path / "tokenizer.json")
    assert vocab.eos_token_ids == {eos, 5} and vocab.token_bytes[5] is None
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"eos_token": "<nope>"}))
    with pytest.raises(VocabularyError, match="<nope>"):
        Vocabulary.from_huggingface(tmp_path)
    assert eos_token_ids_from_config(tmp_path) == {eos, 5}


def test_wordpiece_and_char_level():
    wp = Tokenizer(models.WordPiece({"[UNK]": 0, "hello": 1, "wor": 2, "##ld": 3, ".": 4, "n't": 5, "do": 6},
                                    unk_token="[UNK]"))
    wp.pre_tokenizer = pre_tokenizers.Whitespace()
    wp.decoder = decoders.WordPiece(cleanup=True)
    vocab = Vocabulary.from_huggingface(wp, eos_token_ids=[0])
    assert vocab.token_bytes[1:] == [b" hello", b" wor", b"ld", b".", b"n't", b" do"]
    ids = [1, 2, 3, 4]
    assert vocab.decode(ids) == b" " + wp.decode(ids).encode()
    chars = Tokenizer(models.BPE({c: i for i, c in enumerate("ab😀 é")}, []))
    chars.decoder = decoders.Fuse()
    vocab = Vocabulary.from_huggingface(chars, eos_token_ids=[])
    assert vocab.token_bytes == [b"a", b"b", "😀".encode(), b" ", "é".encode()]
    assert vocab.decode(chars.encode("ab 😀é").ids) == "ab 😀é".encode()


def test_unsupported_decoders_and_unmappable_tokens():
    tok = Tokenizer(models.BPE({"a": 0, "b": 1}, []))
    with pytest.raises(VocabularyError, match="no decoder"):
        Vocabulary.from_huggingface(tok, eos_token_ids=[])
    tok.decoder = decoders.CTC()
    with pytest.raises(VocabularyError, match="CTC"):
        Vocabulary.from_huggingface(tok, eos_token_ids=[])
    tok = Tokenizer(models.BPE({"a": 0, "b c": 1, "<x y>": 2}, []))  # " " is not in the byte-level alphabet
    tok.decoder = decoders.ByteLevel()
    with pytest.raises(VocabularyError, match=r"token 1 \('b c'\)"):
        Vocabulary.from_huggingface(tok, eos_token_ids=[])
    tok.add_special_tokens(["<x y>"])
    tok.add_tokens(["b c"])  # an added token is excluded, so it need not be mappable
    vocab = Vocabulary.from_huggingface(tok, eos_token_ids=[2])
    assert vocab.token_bytes == [b"a", None, None] and vocab.eos_token_ids == {2}


def test_unknown_object_type():
    for obj in (42, object(), {"vocab": 1}, ["a"]):
        with pytest.raises(VocabularyError, match="unsupported tokenizer object"):
            Vocabulary.from_huggingface(obj)
    with pytest.raises(VocabularyError, match="no tokenizer.json"):
        Vocabulary.from_huggingface("/nonexistent/folder")


def test_slow_tokenizer_fallback():
    tok = byte_level_bpe()

    class Slow:  # duck-typed stand-in for a transformers slow (python) tokenizer
        byte_decoder = gpt2_byte_decoder()
        eos_token_id = tok.token_to_id("<|eos|>")
        all_special_ids = [eos_token_id]
        added_tokens_decoder = {i: a for i, a in tok.get_added_tokens_decoder().items()}

        def __len__(self):
            return tok.get_vocab_size()

        def convert_ids_to_tokens(self, ids):
            return [tok.id_to_token(i) for i in ids]

    vocab = Vocabulary.from_huggingface(Slow())
    assert vocab.fingerprint == Vocabulary.from_huggingface(tok, eos_token_ids=[Slow.eos_token_id]).fingerprint
    del Slow.byte_decoder
    with pytest.raises(VocabularyError, match="slow tokenizer Slow"):
        Vocabulary.from_huggingface(Slow())


# -------------------------------------------------------------------------------------------- from_token_bytes


def test_from_token_bytes():
    vocab = Vocabulary.from_token_bytes([b"a", "é", None, b"\xf0\x9f", b"\xa4\x97", b"", b"<eos>"], [6], size=9)
    assert vocab.size == len(vocab) == 9 and vocab.eos_token_ids == {6}
    assert vocab.token_bytes == [b"a", "é".encode(), None, b"\xf0\x9f", b"\xa4\x97", None, None, None, None]
    assert vocab.lengths.tolist() == [1, 2, 0, 2, 2, 0, 0, 0, 0] and vocab.max_len == 2
    assert vocab.decode([0, 3, 4, 6, 2, 1]) == "a🤗é".encode()
    assert bytes(vocab.byte_matrix[1]) == "é".encode() and bytes(vocab.byte_matrix[0]) == b"a\0"
    assert vocab.token_str(0) == "'a'" and vocab.token_str(6) == "<id 6> [eos]"
    assert vocab.token_str(7) == "<id 7> [unused]" and vocab.decode(iter([0, 1])) == "aé".encode()
    assert "b'\\xf0\\x9f'" == vocab.token_str(3)
    with pytest.raises(IndexError):
        vocab.decode([9])
    with pytest.raises(VocabularyError, match="outside"):
        Vocabulary.from_token_bytes([b"a"], [3])
    with pytest.raises(VocabularyError, match="smaller"):
        Vocabulary.from_token_bytes([b"a", b"b"], [], size=1)
    assert Vocabulary.from_token_bytes([b"a", None], [], size=1).size == 1
    other = Vocabulary.from_token_bytes([b"a", "é", None, b"\xf0\x9f", b"\xa4\x97", b"", b"<eos>"], [6], size=9)
    assert other.fingerprint == vocab.fingerprint
    assert Vocabulary.from_token_bytes([b"ab", b""], []).fingerprint != Vocabulary.from_token_bytes(
        [b"a", b"b"], []).fingerprint
    empty = Vocabulary.from_token_bytes([], [])
    assert empty.max_len == 0 and empty.byte_matrix.shape == (0, 0)


@HYPO
@given(st.lists(st.one_of(st.none(), st.binary(min_size=1, max_size=6)), min_size=1, max_size=30), st.data())
def test_from_token_bytes_decode_is_concatenation(tokens, data):
    vocab = Vocabulary.from_token_bytes(tokens, [])
    ids = data.draw(st.lists(st.integers(0, len(tokens) - 1), max_size=20))
    assert vocab.decode(ids) == b"".join(tokens[i] or b"" for i in ids)
    for i, b in enumerate(tokens):
        assert bytes(vocab.byte_matrix[i, : vocab.lengths[i]]) == (b or b"")
