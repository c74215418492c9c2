"""corral.integrations.transformers.LogitsProcessor inside Hugging Face ``generate``, on the embedded default model.

Greedy decoding with the processor picks the same tokens as ``corral.generate(..., temperature=0)`` (same prompt
ids, same constraint, same schema options); batched sampling and beam search return valid outputs, rows that end
are padded; the processor follows rows by their generated suffix (beam reordering), masks the score columns past
the vocabulary, and reports instead of crashing when a row cannot continue.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

pytest.importorskip("transformers")
jsonschema = pytest.importorskip("jsonschema")

from transformers import LogitsProcessorList  # noqa: E402

import corral  # noqa: E402
from corral.compile.grammar import Grammar  # noqa: E402
from corral.constraint import Constraint  # noqa: E402
from corral.errors import ConfigurationError, SchemaError  # noqa: E402
from corral.generate import load_model  # noqa: E402
from corral.integrations.transformers import LogitsProcessor  # noqa: E402
from corral.runtime.matcher import CompiledGrammar  # noqa: E402
from corral.testing.oracles import lark_oracle  # noqa: E402

PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}
#: A finite language (at most 23 characters), so every sampled row ends within max_new_tokens.
FLAGS = {"type": "object",
         "properties": {"ok": {"type": "boolean"}, "n": {"type": "integer", "minimum": 0, "maximum": 99}},
         "required": ["ok", "n"], "additionalProperties": False}
LIST = r"""
start: "[" item ("," " "? item)* "]"
item: WORD | NUMBER
WORD: /[a-z]{1,6}/
NUMBER: /[0-9]{1,3}/
"""
PROMPTS = ["A person as JSON: ", "{\"ok\": ", "Data:\n"]


@pytest.fixture(scope="module")
def lm():
    """The embedded default model (the one ``corral.generate`` uses by default, loaded once)."""
    return load_model()


def _generate(lm, prompts, processor, **kwargs):
    """``model.generate`` on prompts (text, encoded like corral does), left-padded by hand; the generated part."""
    encoded = [lm.encode(p) for p in prompts]
    width = max(len(e) for e in encoded)
    ids = torch.tensor([[0] * (width - len(e)) + e for e in encoded])
    mask = torch.tensor([[0] * (width - len(e)) + [1] * len(e) for e in encoded])
    out = lm.model.generate(input_ids=ids, attention_mask=mask, logits_processor=LogitsProcessorList([processor]),
                            pad_token_id=kwargs.pop("pad_token_id", 0), **kwargs)
    sequences = out.sequences if hasattr(out, "sequences") else out
    return sequences[:, width:].tolist(), out


def _split(tokens, eos, pad):
    """``(body, ended)``: the tokens before the first EOS; whether there is one (then the rest is EOS/pad only)."""
    if eos not in tokens:
        return tokens, False
    k = tokens.index(eos)
    assert set(tokens[k + 1:]) <= {eos, pad}, f"a finished row continues after EOS: {tokens}"
    return tokens[:k], True


# ------------------------------------------------------------------ greedy == corral.generate
@pytest.mark.parametrize("prompt, constraint, options", [
    ("The answer is ", {"regex": r"[0-9]{1,3}( apples)?"}, {}),
    ("A person: ", {"schema": PERSON}, {}),
    ("A person: ", {"schema": PERSON}, {"whitespace": "compact"}),
    ("Compute: ", {"grammar": "arithmetic"}, {}),
    ("Items: ", {"grammar": LIST}, {}),
    ("Pick one: ", {"choices": ["red", "green", "blue"]}, {}),
], ids=["regex", "schema", "schema-compact", "grammar-name", "grammar-lark", "choices"])
def test_greedy_equals_corral_generate(lm, prompt, constraint, options):
    n = 40
    expected = corral.generate(prompt, temperature=0, max_tokens=n, **constraint, **options)
    processor = LogitsProcessor(tokenizer=lm.tokenizer, **constraint, **options)
    got, _ = _generate(lm, [prompt], processor, do_sample=False, max_new_tokens=n)
    assert got[0] == expected.token_ids
    assert processor.dead_rows == 0 and processor.off_constraint_rows == 0
    if expected.status == "complete":
        body, ended = _split(got[0], 0, 0)
        assert ended and processor.vocab.decode(body).decode() == expected.text


def test_compiled_grammar_and_constraint_positionally(lm):
    """A prebuilt CompiledGrammar, or a Constraint, given positionally, gives the same tokens."""
    grammar = Grammar.from_regex(r"(yes|no), because [a-z ]{1,20}\.")
    compiled = CompiledGrammar(grammar, lm.vocab)
    expected = corral.generate("Answer: ", grammar=compiled, temperature=0, max_tokens=30)
    for processor in (LogitsProcessor(compiled), LogitsProcessor(Constraint(grammar=grammar), lm.tokenizer)):
        got, _ = _generate(lm, ["Answer: "], processor, do_sample=False, max_new_tokens=30)
        assert got[0] == expected.token_ids


def test_reused_across_generate_calls(lm):
    """One processor serves successive generate calls (a new call is detected), and reset() also works."""
    processor = LogitsProcessor(tokenizer=lm.tokenizer, schema=PERSON)
    runs = []
    for prompts in (["A person: "], ["Someone: ", "A person: "]):  # another prompt length, another batch size
        got, _ = _generate(lm, prompts, processor, do_sample=False, max_new_tokens=24)
        fresh, _ = _generate(lm, prompts, LogitsProcessor(tokenizer=lm.tokenizer, schema=PERSON),
                             do_sample=False, max_new_tokens=24)
        assert got == fresh
        runs.append(got[0])
    processor.reset()
    again, _ = _generate(lm, ["A person: "], processor, do_sample=False, max_new_tokens=24)
    assert again[0] == runs[0]


# ------------------------------------------------------------------ batched sampling
def test_batch_sampling_schema(lm):
    torch.manual_seed(0)
    processor = LogitsProcessor(tokenizer=lm.tokenizer, schema=FLAGS)
    pad = 3  # not EOS: a finished row is padded with it, and the processor still knows the row has ended
    got, _ = _generate(lm, PROMPTS * 2, processor, do_sample=True, temperature=1.3, top_k=50, top_p=0.95,
                       max_new_tokens=40, pad_token_id=pad)
    assert len(got) == 6
    for row in got:
        body, ended = _split(row, 0, pad)
        assert ended, f"a row of a finite language did not end: {row}"
        jsonschema.validate(json.loads(processor.vocab.decode(body).decode()), FLAGS)
    assert processor.dead_rows == 0 and processor.off_constraint_rows == 0
    assert processor.finished_rows >= 1  # rows that ended before the longest one were seen padded


def test_batch_sampling_grammar(lm):
    torch.manual_seed(1)
    compiled = CompiledGrammar(Grammar.from_lark(LIST), lm.vocab)
    oracle = lark_oracle(LIST)
    processor = LogitsProcessor(tokenizer=lm.tokenizer, grammar=LIST)
    got, _ = _generate(lm, PROMPTS, processor, do_sample=True, temperature=1.0, max_new_tokens=40)
    n_ended = 0
    for row in got:
        body, ended = _split(row, 0, 0)
        data = processor.vocab.decode(body)
        if ended:
            n_ended += 1
            assert compiled.accepts(data) and oracle(data.decode())
        else:
            assert compiled.is_prefix(data)
    assert n_ended >= 1
    assert processor.dead_rows == 0 and processor.off_constraint_rows == 0


# ------------------------------------------------------------------ beam search
@pytest.mark.parametrize("constraint", [{"schema": FLAGS}, {"grammar": LIST}, {"choices": ["yes", "no", "maybe"]}],
                         ids=["schema", "grammar", "choices"])
def test_beam_search(lm, constraint):
    processor = LogitsProcessor(tokenizer=lm.tokenizer, **constraint)
    compiled = processor.compiled
    got, out = _generate(lm, PROMPTS[:2], processor, do_sample=False, num_beams=4, num_return_sequences=2,
                         max_new_tokens=30, return_dict_in_generate=True, output_scores=True)
    assert len(got) == 4
    n_ended = 0
    for row, score in zip(got, out.sequences_scores.tolist()):
        body, ended = _split(row, 0, 0)
        data = processor.vocab.decode(body)
        if ended:
            n_ended += 1
            assert np.isfinite(score)
            assert compiled.accepts(data)
            if "schema" in constraint:
                jsonschema.validate(json.loads(data.decode()), FLAGS)
            if "choices" in constraint:
                assert data.decode() in constraint["choices"]
    assert n_ended >= 2
    assert processor.dead_rows == 0


# ------------------------------------------------------------------ the processor on its own
def test_extra_columns_masked(lm):
    """Scores wider than the vocabulary (a padded embedding matrix): the extra columns are -inf, the others as
    without them."""
    processor = LogitsProcessor(tokenizer=lm.tokenizer, schema=PERSON)
    v = processor.vocab.size
    prompt = torch.tensor([lm.encode("A person: ")] * 2)
    scores = torch.randn(2, v + 37)
    scores[:, v:] = 100.0  # the model would pick these
    masked = processor(prompt, scores.clone())
    assert torch.isneginf(masked[:, v:]).all()
    processor.reset()
    narrow = processor(prompt, scores[:, :v].clone())
    assert torch.equal(masked[:, :v], narrow)
    allowed = torch.from_numpy(np.array(processor.compiled.matcher().mask()))
    assert torch.equal(~torch.isneginf(narrow[0]), allowed)
    # a generation step later, still masked
    step = torch.cat([prompt, torch.tensor([[int(allowed.nonzero()[0])]] * 2)], dim=1)
    assert torch.isneginf(processor(step, torch.randn(2, v + 37))[:, v:]).all()


@pytest.fixture(scope="module")
def padded_model(tmp_path_factory):
    """A tiny random GPT-2 whose output layer has 5 more ids than its tokenizer (a padded embedding matrix)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    eos = "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[eos],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(["yes no maybe", "the cat sat on the mat", "123 456", "hello world"] * 5, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, bos_token=eos)
    eos_id = fast.convert_tokens_to_ids(eos)
    config = GPT2Config(vocab_size=len(fast) + 5, n_positions=64, n_embd=16, n_layer=2, n_head=2,
                        bos_token_id=eos_id, eos_token_id=eos_id)
    torch.manual_seed(0)
    model = GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        model.lm_head.weight.mul_(20)
    return model, fast


def test_padded_output_layer_end_to_end(padded_model):
    """A real model whose logits are wider than len(tokenizer): greedy equals corral.generate on that model, and
    no id past the tokenizer is ever generated."""
    from corral.models.hf import HFModel

    model, tok = padded_model
    assert model.get_output_embeddings().weight.shape[0] == len(tok) + 5
    hf = HFModel.load((model, tok))
    prompt = "the cat "
    ids = hf.encode(prompt)
    for constraint in ({"regex": r"(yes|no|maybe)( [0-9]{1,3}){1,4}"}, {"choices": ["yes", "no", "maybe"]}):
        expected = corral.generate(ids, model=hf, temperature=0, max_tokens=20, **constraint)
        processor = LogitsProcessor(tokenizer=tok, **constraint)
        assert processor.vocab.size == len(tok)
        out = model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                             logits_processor=LogitsProcessorList([processor]), do_sample=False, max_new_tokens=20,
                             pad_token_id=tok.eos_token_id)
        got = out[0, len(ids):].tolist()
        assert got == expected.token_ids and max(got) < len(tok)


def test_rows_followed_by_suffix_not_position(lm):
    """Beam search reorders, drops and duplicates rows: each row's mask is its own suffix's, wherever it is."""
    processor = LogitsProcessor(tokenizer=lm.tokenizer, regex=r"(red|green|blue|[0-9]{1,3}) (apples|pears)")
    compiled, v = processor.compiled, processor.vocab.size
    prompt = lm.encode("Fruit: ")

    def allowed_after(tokens):
        m = compiled.matcher()
        m.advance_many(tokens)
        return torch.from_numpy(np.array(m.mask()))

    def allowed_in(row):
        return ~torch.isneginf(row)

    first = processor(torch.tensor([prompt] * 2), torch.zeros(2, v))
    assert torch.equal(allowed_in(first[0]), allowed_after([])) and torch.equal(first[0], first[1])
    a, b = np.flatnonzero(allowed_after([]).numpy())[[0, -1]].tolist()  # two different first tokens
    processor(torch.tensor([prompt + [a], prompt + [b]]), torch.zeros(2, v))
    b1, b2 = np.flatnonzero(allowed_after([b]).numpy())[[0, -1]].tolist()
    # row 0 (suffix [a]) is dropped, row 1 (suffix [b]) continues twice, in the other order
    rows = [[b, b2], [b, b1]]
    out = processor(torch.tensor([prompt + r for r in rows]), torch.zeros(2, v))
    for i, r in enumerate(rows):
        assert torch.equal(allowed_in(out[i]), allowed_after(r))
    rows = [[b, b1, int(np.flatnonzero(allowed_after([b, b1]).numpy())[0])], [b, b2, 0]]  # 0 is EOS
    out = processor(torch.tensor([prompt + r for r in rows]), torch.zeros(2, v))
    assert torch.equal(allowed_in(out[0]), allowed_after(rows[0]))
    assert allowed_in(out[1]).nonzero().flatten().tolist() == [0]  # ended (or off the constraint): EOS only
    ended = bool(allowed_after([b, b2])[0])
    assert (processor.finished_rows, processor.off_constraint_rows) == ((1, 0) if ended else (0, 1))
    assert processor.dead_rows == 0


def test_finished_and_off_constraint_rows(lm):
    """A row that took EOS may only take EOS/pad (also after pads); a row that took a disallowed token (a -inf
    beam) too, and is counted; neither raises."""
    processor = LogitsProcessor(tokenizer=lm.tokenizer, choices=["yes", "no"])
    v = processor.vocab.size
    prompt = lm.encode("Answer: ")
    yes = lm.encode("yes")
    assert processor.compiled.accepts(b"yes") and len(yes) >= 1
    m = processor.compiled.matcher()
    m.advance_many(yes)
    assert m.is_complete()
    bad = int(np.flatnonzero(~np.array(processor.compiled.matcher().mask()))[5])
    rows = [prompt + yes, prompt + [bad] + [bad] * (len(yes) - 1)]
    processor(torch.tensor([r[:len(prompt)] for r in rows]), torch.zeros(2, v))
    for k in range(1, len(yes) + 1):
        processor(torch.tensor([r[:len(prompt) + k] for r in rows]), torch.zeros(2, v))
    assert processor.off_constraint_rows == 1
    out = processor(torch.tensor([r + [0] for r in rows]), torch.zeros(2, v))  # the first row ends
    assert processor.finished_rows == 1
    for row in out:
        assert (~torch.isneginf(row)).nonzero().flatten().tolist() == [0]  # EOS (== pad) only
    out = processor(torch.tensor([r + [0, 0] for r in rows]), torch.zeros(2, v))  # padded
    assert (~torch.isneginf(out[0])).nonzero().flatten().tolist() == [0]
    assert processor.dead_rows == 0 and processor.off_constraint_rows == 1


class _StuckConstraint:
    """A compiled constraint whose states allow nothing (not a corral grammar: exercises the defensive path)."""

    def __init__(self, vocab):
        self.vocab = vocab

    def matcher(self):
        return _Stuck(self.vocab)


class _Stuck:
    def __init__(self, vocab):
        self.vocab = vocab

    def check(self, token):
        return False

    def advance(self, token):
        raise ValueError("nothing is allowed")

    def mask(self):
        return np.zeros(self.vocab.size, dtype=bool)

    def fork(self):
        return self

    def rollback(self, n=1):
        raise ValueError("no history")

    def is_complete(self):
        return False


def test_dead_rows_reported_not_raised(lm):
    processor = LogitsProcessor(_StuckConstraint(lm.vocab), lm.tokenizer)
    got, _ = _generate(lm, PROMPTS, processor, do_sample=False, max_new_tokens=5)
    assert all(row[0] == 0 for row in got)  # EOS at once
    assert processor.dead_rows == 3


# ------------------------------------------------------------------ arguments
def test_argument_errors(lm):
    tok = lm.tokenizer
    with pytest.raises(ConfigurationError, match="give a constraint"):
        LogitsProcessor(tokenizer=tok)
    with pytest.raises(ConfigurationError, match="at most one"):
        LogitsProcessor(tokenizer=tok, regex="a", choices=["b"])
    with pytest.raises(ConfigurationError, match="not both"):
        LogitsProcessor("json", tok, regex="a")
    with pytest.raises(ConfigurationError, match="schema= only"):
        LogitsProcessor(tokenizer=tok, regex="a", whitespace="compact")
    with pytest.raises(ConfigurationError, match="unknown option"):
        LogitsProcessor(tokenizer=tok, schema=PERSON, whitespaces="compact")
    with pytest.raises(ConfigurationError, match="tokenizer"):
        LogitsProcessor(regex="a")
    with pytest.raises(SchemaError) as info:  # at construction, as corral.generate reports it
        LogitsProcessor(tokenizer=tok, schema={"type": "array", "items": {"type": "integer"}, "uniqueItems": True})
    assert info.value.keyword == "uniqueItems"
    with pytest.warns(UserWarning, match="uniqueItems"):  # the schema options reach the compiler
        LogitsProcessor(tokenizer=tok, schema={"type": "array", "items": {"type": "integer"}, "uniqueItems": True},
                        lenient=True)
    processor = LogitsProcessor(tokenizer=tok, regex="[0-9]+", prompt_length=4)
    with pytest.raises(ConfigurationError, match="prompt_length"):
        processor(torch.tensor([[1, 2]]), torch.zeros(1, processor.vocab.size))


def test_vocab_argument_and_eos(lm):
    """vocab= (the model's own vocabulary) is the tokenizer's here (same size): the compiled constraint is shared
    (compiled once, cached by vocabulary); EOS ids are the tokenizer's, extra ones are added."""
    a = LogitsProcessor(vocab=lm.vocab, regex="[0-9]{2}")
    b = LogitsProcessor(tokenizer=lm.tokenizer, regex="[0-9]{2}")
    assert a.vocab.fingerprint == b.vocab.fingerprint and a.compiled is b.compiled
    assert a.eos_token_ids == b.eos_token_ids == {0} and b.pad_token_id == 0
    c = LogitsProcessor(tokenizer=lm.tokenizer, regex="[0-9]{2}", eos_token_id=[0, 1])
    assert c.eos_token_ids == {0, 1}
