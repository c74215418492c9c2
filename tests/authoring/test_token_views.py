"""Look at tokens (issue 15): ``Result.steps`` recorded by every sampler (lcd, AWRS, D1/D2 speculation, SMC), the
token view of a result (text table and HTML) and :func:`corral.authoring.tokens.allowed_tokens` for a matcher
state. The records agree with the output (ids, bytes, text), with the model's log-probability, with the mask and
with the samplers' own stats; recording them changes no output for a seed."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import Counter
from html.parser import HTMLParser

import numpy as np
import pytest

import corral
from conftest import GRAMMARS_DIR
from corral.authoring.tokens import allowed_tokens, token_view
from corral.result import Result, TokenStep

ARITH = (GRAMMARS_DIR / "arithmetic.lark").read_text()
PERSON = {"type": "object", "properties": {"name": {"type": "string", "maxLength": 8}, "age": {"type": "integer"}},
          "required": ["name", "age"], "additionalProperties": False}

RUNS = {
    "lcd": {"method": "lcd"},
    "lcd-greedy": {"method": "lcd", "temperature": 0},
    "awrs": {"method": "awrs"},
    "d1-auto": {"method": "lcd", "draft": "auto"},
    "d1-forced": {"method": "lcd", "draft": "forced"},
    "d2-auto": {"method": "awrs", "draft": "auto"},
    "d2-model-t07": {"method": "awrs", "draft": "model", "temperature": 0.7},
    "smc": {"method": "smc", "particles": 3},
    "smc-draft": {"method": "smc", "particles": 3, "draft": "auto"},
    "smc-optimal": {"method": "smc", "particles": 3, "resampling": "optimal"},
}


def _vocab():
    from corral.generator import default_generator

    return default_generator(None).model.vocab


def _run(name, constraint="schema", seed=1, max_tokens=40):
    where = {"schema": PERSON} if constraint == "schema" else {"grammar": ARITH}
    return corral.generate("Person: " if constraint == "schema" else "Compute: ", seed=seed, max_tokens=max_tokens,
                           **where, **RUNS[name])


@pytest.mark.parametrize("constraint", ["schema", "arith"])
@pytest.mark.parametrize("name", list(RUNS))
def test_steps_match_the_output(name, constraint):
    r = _run(name, constraint)
    steps = r.steps
    assert len(steps) == len(r.token_ids) > 0
    assert [s.token_id for s in steps] == r.token_ids
    assert all(isinstance(s, TokenStep) for s in steps)
    assert b"".join(s.data for s in steps) == _vocab().decode(r.token_ids)
    assert "".join(s.text for s in steps) == r.text
    # the product of the raw model's probabilities is the model probability of the output
    assert math.fsum(math.log(s.prob) for s in steps) == pytest.approx(r.model_logprob, rel=1e-4, abs=1e-4)
    for s in steps:
        assert s.source in ("sampled", "forced", "draft", "eos")
        assert (s.source == "draft") == (s.draft_kind is not None)
        if s.forced is not None:
            assert s.forced == (s.n_allowed == 1)
        if s.source == "forced":
            assert s.forced and s.n_allowed == 1
    if r.status == "complete":
        assert steps[-1].data == b"" and steps[-1].source in ("eos", "draft")
        assert all(s.source != "eos" for s in steps[:-1])


def test_masked_decoding_steps_hold_the_mask_size():
    r = _run("lcd")
    assert all(s.checks == 0 and s.rejects == 0 and s.n_rejected_drafts == 0 for s in r.steps)
    assert all(s.n_allowed >= 1 and s.forced == (s.n_allowed == 1) for s in r.steps)
    assert any(s.source == "forced" for s in r.steps)  # the schema forces '"' after '{' and 'e' after 'nam'
    # replaying the output on the constraint gives the same mask sizes
    from corral.constraint import Constraint
    from corral.generator import default_generator

    m = default_generator(None).compile(Constraint(schema=PERSON)).matcher()
    for s in r.steps:
        assert int(np.count_nonzero(m.mask())) == s.n_allowed
        m.advance(s.token_id)


@pytest.mark.parametrize("name", ["awrs", "d2-auto", "smc"])
def test_awrs_steps_count_checks(name):
    r = _run(name, "arith", seed=3)
    assert all(s.checks >= 1 and 0 <= s.rejects < s.checks for s in r.steps)
    assert all(s.forced is None and s.n_allowed is None for s in r.steps)
    if name == "awrs":
        assert sum(s.checks for s in r.steps) == r.stats["n_checks"]
        assert sum(s.rejects for s in r.steps) == r.stats["n_rejects"]


@pytest.mark.parametrize("name", ["d1-auto", "d1-forced", "d2-auto", "d2-model-t07"])
@pytest.mark.parametrize("constraint", ["schema", "arith"])
def test_speculative_steps_agree_with_the_stats(name, constraint):
    r = _run(name, constraint)
    st = r.stats
    drafts = [s for s in r.steps if s.source == "draft"]
    assert len(drafts) == st["accepted"]
    assert sum(s.n_rejected_drafts for s in r.steps) == st["drafted"] - st["accepted"]
    assert Counter(s.draft_kind for s in drafts) == Counter({k: v[1] for k, v in st["by_kind"].items() if v[1]})
    assert all(s.n_rejected_drafts in (0, 1) for s in r.steps)
    assert not any(s.n_rejected_drafts and s.source == "draft" for s in r.steps)  # a rejection emits the target's


def test_d2_reports_the_raw_model_logprob():
    """With drafts, AWRS reports the same raw model log-probability as without (not the tempered one)."""
    plain = corral.generate("Compute: ", grammar=ARITH, seed=3, max_tokens=32, method="awrs", temperature=0.7)
    spec = corral.generate("Compute: ", grammar=ARITH, seed=3, max_tokens=32, method="awrs", temperature=0.7,
                           draft="model")
    assert spec.token_ids == plain.token_ids
    assert spec.model_logprob == pytest.approx(plain.model_logprob, abs=1e-3)
    assert [s.checks for s in spec.steps] == [s.checks for s in plain.steps]


# Outputs recorded before steps were recorded ("Compute: ", ARITH, max_tokens=32, seed=3).
BEFORE = {
    "lcd": [8, 25, 767, 16, 14, 739, 11, 461, 22, 645, 18, 440, 21, 486, 995, 9, 0],
    "awrs": [534, 1669, 917, 640, 498, 373, 739, 13, 868, 9, 0],
    "d1-auto": [19, 637, 17, 498, 471, 478, 24, 14, 1057, 9, 0],
    "d2-auto": [534, 1669, 917, 640, 498, 373, 739, 13, 868, 9, 0],
    "smc": [1812, 13, 495, 0],
    "smc-optimal": [1812, 13, 434, 11, 659, 0],
}


@pytest.mark.parametrize("name", list(BEFORE))
def test_seeded_outputs_are_unchanged(name):
    assert _run(name, "arith", seed=3, max_tokens=32).token_ids == BEFORE[name]


# ----------------------------------------------------------------------------------------------------------------
# allowed tokens


@pytest.fixture(scope="module")
def tiny():
    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary

    vocab = Vocabulary.from_token_bytes([b"{", b'"', b"a", b"b", b"}", b'{"', b"<script>", b" ", None], [8])
    return CompiledGrammar(Grammar.from_lark('start: "{\\"" ("a" | "b" | "<script>") "\\"}"'), vocab)


def test_allowed_tokens_are_the_mask(tiny):
    m = tiny.matcher()
    for prefix in ([], [0], [5], [5, 2], [5, 2, 1], [5, 2, 1, 4]):
        m = tiny.matcher()
        m.advance_many(prefix)
        a = allowed_tokens(m)
        assert a.ids.tolist() == np.flatnonzero(m.mask()).tolist()
        assert a.count == int(np.count_nonzero(m.mask()))
        assert a.eos_allowed == m.is_complete()
        assert [i for i, _ in a.shown] == [i for i in a.ids.tolist() if i != 8]
        assert all(b == tiny.vocab.token_bytes[i] for i, b in a.shown)
        assert list(a.forced_tokens) == m.forced_tokens(32)
    assert str(allowed_tokens(tiny.matcher())).startswith("2 allowed tokens (EOS not allowed); nothing forced")


def test_forced_prefix(tiny):
    m = tiny.matcher()
    m.advance(0)  # '{': only '"' may follow
    a = allowed_tokens(m)
    assert a.forced_tokens == (1,) and a.forced_prefix == b'"' and not a.forced_eos
    m.advance_many([1, 2])  # '{"a': '"', '}' then EOS are forced
    a = allowed_tokens(m)
    assert a.forced_tokens == (1, 4, 8) and a.forced_prefix == b'"}' and a.forced_eos
    assert "then EOS" in str(a)


def test_allowed_tokens_without_forced_tokens_api(tiny):
    """A matcher without ``forced_tokens`` gets its forced tokens by advancing a fork (the matcher is unchanged)."""

    class Plain:
        def __init__(self, m):
            self.m = m

        def mask(self):
            return self.m.mask()

        def fork(self):
            return Plain(self.m.fork())

        def advance(self, t):
            self.m.advance(t)

    m = tiny.matcher()
    m.advance_many([0, 1, 2])
    p = Plain(m)
    a = allowed_tokens(p, tiny.vocab)
    assert a.forced_tokens == (1, 4, 8) and a.forced_prefix == b'"}'
    assert m.num_tokens == 3
    with pytest.raises(ValueError, match="vocab="):
        allowed_tokens(p)


def test_allowed_tokens_limit_on_the_model_vocabulary():
    from corral.constraint import Constraint
    from corral.generator import default_generator

    m = default_generator(None).compile(Constraint(grammar=ARITH)).matcher()
    a = allowed_tokens(m, limit=10)
    assert len(a.shown) == 10 and a.count == int(np.count_nonzero(m.mask())) > 10
    assert "more" in str(a) and "more" in a._repr_html_()
    _check_html(a._repr_html_())


# ----------------------------------------------------------------------------------------------------------------
# display


class _Balance(HTMLParser):
    """Every tag closed, in order."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors = [], []

    def handle_starttag(self, tag, attrs):
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(tag)


def _check_html(fragment: str) -> None:
    p = _Balance()
    p.feed(fragment)
    p.close()
    assert not p.errors and not p.stack
    ET.fromstring("<div>" + fragment + "</div>")  # well-formed as XML too
    assert "<script" not in fragment.lower()


def _steps():
    return [TokenStep(1, "<script>alert('x')</script>", b"<script>alert('x')</script>", 0.25, False, 7, 3, 2,
                      "sampled"),
            TokenStep(2, " & \x01\n", b" & \x01\n", 0.9, True, 1, 0, 0, "forced"),
            TokenStep(3, "", b"\xe2\x82", 0.5, None, None, 0, 0, "draft", 0, "model"),
            TokenStep(4, "\u20ac", b"\xac", None, None, None, None, None, "sampled", 1),
            TokenStep(5, "", b"", 0.99, None, None, 0, 0, "eos")]


def test_token_view_escapes_and_parses():
    v = token_view(_steps())
    html = v._repr_html_()
    _check_html(html)
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert "\\x01" in html and "\x01" not in html
    assert "rejected drafts: 1" in html and "rejects: 2" in html  # in the tooltips
    table = str(v)
    assert len(table.splitlines()) == 6 and "<eos>" in table and "x1 rejected" in table
    assert "model" in table.splitlines()[3] and b"\\xe2\\x82".decode() in table
    assert v.counts() == {"sampled": 2, "forced": 1, "draft": 1, "eos": 1}


def test_allowed_tokens_html_escapes(tiny):
    m = tiny.matcher()
    m.advance(5)
    html = allowed_tokens(m)._repr_html_()
    _check_html(html)
    assert "&lt;script&gt;" in html


def test_result_repr_and_html():
    r = _run("d1-auto")
    text = repr(r)
    assert text.startswith("Result(status='complete'") and f"tokens={len(r.token_ids)}" in text
    assert "acceptance_rate=" in text and len(text) < 300
    html = r._repr_html_()
    _check_html(html)
    assert html.count("<span") >= len(r.steps) and "complete" in html
    evil = Result(text="<script>", token_ids=[1, 5], status="length", logprob=-1.0, steps=_steps()[:1])
    _check_html(evil._repr_html_())
    _check_html(Result(text="<b>x</b>", token_ids=[], status="length", logprob=0.0)._repr_html_())
    assert "&lt;b&gt;x&lt;/b&gt;" in Result(text="<b>x</b>", token_ids=[], status="length", logprob=0.0)._repr_html_()
