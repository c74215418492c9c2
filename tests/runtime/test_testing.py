"""``corral.testing``: the shipped invariant checkers pass on correct constraints and fail on broken ones.

Each check has a negative control: a wrapper around a correct Matcher that breaks one invariant (an extra token in
the mask, a lying ``is_complete``, a rollback that does nothing, a fork that shares state, ...) must make
:func:`check_matcher_invariants` raise, naming what broke; ``chi2_pvalue`` must reject samples of another law.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys

import numpy as np
import pytest

from corral.compile.grammar import Grammar
from corral.runtime.engine import NATIVE_ENGINE
from corral.runtime.free import FreeMatcher
from corral.runtime.matcher import CompiledGrammar
from corral.testing import (
    SYNTHETIC_EOS,
    assert_step_invariants,
    check_matcher_invariants,
    chi2_pvalue,
    lark_accepts,
    lark_oracle,
    random_walk,
    synthetic_vocab,
    synthetic_vocab_for,
)
from corral.testing.laws import _gammaincc

PARENS = 'start: "(" start ")" start | '
LIST = 'start: "[" [item ("," item)*] "]"\nitem: /[0-9]+/ | start\n%ignore " "'


@pytest.fixture(scope="module")
def parens():
    return CompiledGrammar(Grammar.from_lark(PARENS), synthetic_vocab("()x"))


# ------------------------------------------------------------------------------------------- positive


def test_import_is_light():
    code = ("import sys, corral.testing; "
            "print(sorted(m for m in ('torch', 'lark', 'transformers', 'corral.runtime.matcher') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("native", [None, False], ids=["native", "python"])
def test_correct_matchers_pass(native):
    if native is None and not NATIVE_ENGINE:
        pytest.skip("the compiled engine is not built")
    grammar = Grammar.from_lark(LIST)
    cg = CompiledGrammar(grammar, synthetic_vocab("[],0123 x"), native=native)
    assert cg.native == (native is None)
    walks = check_matcher_invariants(cg, walks=6, steps=12, seed=1, oracle=lark_oracle(grammar))
    assert len(walks) == 6 and any(w and w[-1] == SYNTHETIC_EOS for w in walks)
    assert walks == check_matcher_invariants(cg, walks=6, steps=12, seed=1)  # reproducible


def test_targets_of_every_kind(parens):
    oracle = lark_oracle(PARENS)
    check_matcher_invariants(PARENS, walks=3, steps=8, oracle=oracle)  # Lark text, synthetic vocabulary
    check_matcher_invariants(Grammar.from_lark(PARENS), parens.vocab, walks=3, steps=8, oracle=oracle)
    m = parens.matcher()
    m.advance(parens.vocab.token_bytes.index(b"("))
    check_matcher_invariants(m, walks=3, steps=8)  # a state: walks start from forks of it
    assert m.num_tokens == 1
    check_matcher_invariants(parens.matcher, walks=2, steps=8)  # a factory
    check_matcher_invariants(FreeMatcher(parens.vocab), parens.vocab, walks=3, steps=6, oracle=lambda s: True)
    with pytest.raises(TypeError, match="vocab="):
        check_matcher_invariants(FreeMatcher(parens.vocab), walks=1)
    with pytest.raises(TypeError, match="expected a grammar"):
        check_matcher_invariants(42)


def test_helpers(parens):
    v = synthetic_vocab("ab", extra=["abc", b"\xff"])
    assert v.token_bytes[SYNTHETIC_EOS] is None and v.eos_token_ids == {SYNTHETIC_EOS}
    assert v.token_bytes[1:9] == [b"a", b"b", b"aa", b"ab", b"ba", b"bb", b"abc", b"\xff"]
    assert synthetic_vocab(b"\x00\xce").token_bytes[1:3] == [b"\x00", b"\xce"]
    # a terminal over non-ASCII characters only: the DFA samples make it reachable, so walks complete texts
    g = Grammar.from_lark('start: "<" WORD ("," WORD)* ">"\nWORD: /[α-ω]+/')
    vocab = synthetic_vocab_for(g, seed=2)
    assert any(tb and tb[0] >= 0x80 for tb in vocab.token_bytes[1:])
    walks = check_matcher_invariants(g, vocab, walks=8, steps=12, p_eos=0.9, oracle=lark_oracle(g))
    assert any(w and w[-1] == SYNTHETIC_EOS for w in walks)
    oracle = lark_oracle(g)
    assert oracle("<αβ,γ>") and not oracle("<ab>") and lark_accepts(oracle.parser, "<ω>")
    m = parens.matcher()
    mask = assert_step_invariants(m)
    assert mask.tolist() == [bool(m.check(t)) for t in range(parens.vocab.size)]
    toks = random_walk(parens.matcher(), random.Random(0), steps=6, all_tokens=False)
    assert 1 <= len(toks) <= 6


# ------------------------------------------------------------------------------------------- negative controls


class Wrapped:
    """A correct constraint state behind a wrapper; subclasses break one invariant."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.vocab = inner.compiled.vocab

    def _wrap(self, inner):
        return type(self)(inner)

    def check(self, token: int) -> bool:
        return self.inner.check(token)

    def mask(self) -> np.ndarray:
        return self.inner.mask()

    def advance(self, token: int) -> None:
        self.inner.advance(token)

    def fork(self):
        return self._wrap(self.inner.fork())

    def rollback(self, n: int = 1) -> None:
        self.inner.rollback(n)

    def is_complete(self) -> bool:
        return self.inner.is_complete()


def _first_disallowed(inner) -> int:
    mask = inner.mask()
    eos = inner.compiled.vocab.eos_token_ids
    return next(t for t in range(len(mask)) if not mask[t] and t not in eos)


class ExtraTokenInMask(Wrapped):
    def mask(self):
        mask = self.inner.mask().copy()
        mask[_first_disallowed(self.inner)] = True
        return mask


class LateLyingComplete(Wrapped):
    """Right until two tokens were taken, then claims the opposite (EOS mask unchanged)."""

    def is_complete(self):
        return self.inner.is_complete() != (self.inner.num_tokens == 2)


class AllowsTooMuch(Wrapped):
    """mask and check agree on an extra token, but advancing it fails."""

    def _extra(self):
        return _first_disallowed(self.inner)

    def check(self, token):
        return self.inner.check(token) or (not self.inner.is_terminated() and token == self._extra())

    def mask(self):
        mask = self.inner.mask().copy()
        if not self.inner.is_terminated():
            mask[self._extra()] = True
        return mask


class AdvancesAnything(Wrapped):
    def advance(self, token):
        if self.inner.check(token):
            self.inner.advance(token)


class RollbackDoesNothing(Wrapped):
    def rollback(self, n=1):
        pass


class ForkSharesState(Wrapped):
    def fork(self):
        return self


class BadGroups(Wrapped):
    """check_group says "allowed" (None) for every token."""

    def check_group(self, token):
        return None


@pytest.mark.parametrize("wrapper, message", [
    (ExtraTokenInMask, r"walk 0, step 0, text so far '': mask and check disagree on token \d+ \(b'.*'\): "
                       r"mask\(\)\[\d+\] is True but check\(\d+\) is False"),
    (LateLyingComplete, r"step 2, text so far '.+': EOS 0 is (not )?allowed but is_complete\(\) is"),
    (AllowsTooMuch, r"step 0, .*the allowed token \d+ .* cannot be advanced"),
    (AdvancesAnything, r"accepts the disallowed token \d+ .*expected ValueError"),
    (RollbackDoesNothing, r"rollback\(1\) .*does not restore"),
    (ForkSharesState, r"fork shares state"),
    (BadGroups, r"check_group returns None for the disallowed token"),
])
def test_broken_states_are_caught(parens, wrapper, message):
    with pytest.raises(AssertionError, match=message):
        check_matcher_invariants(lambda: wrapper(parens.matcher()), walks=8, steps=10, p_eos=0.0)


def test_wrong_oracle_is_caught(parens):
    oracle = lark_oracle(PARENS)
    with pytest.raises(AssertionError, match=r"is_complete\(\) is True but the oracle rejects '\(\)'"):
        check_matcher_invariants(parens, walks=20, steps=6, oracle=lambda s: oracle(s) and s != "()")
    with pytest.raises(AssertionError, match=r"is_complete\(\) is False but the oracle accepts"):
        check_matcher_invariants(parens, walks=4, steps=6, oracle=lambda s: True)


def test_correct_wrapper_passes(parens):
    check_matcher_invariants(lambda: Wrapped(parens.matcher()), walks=4, steps=10, oracle=lark_oracle(PARENS))


# ------------------------------------------------------------------------------------------- chi-square


def test_gammaincc_closed_forms():
    for x in [1e-3, 0.3, 1.0, 2.5, 7.0, 30.0, 200.0]:
        assert _gammaincc(1.0, x) == pytest.approx(math.exp(-x), rel=1e-12)
        assert _gammaincc(0.5, x) == pytest.approx(math.erfc(math.sqrt(x)), rel=1e-10)
        for k in [2, 3, 7]:  # Q(k, x) = e^-x sum_{i<k} x^i / i!
            want = math.exp(-x) * sum(x**i / math.factorial(i) for i in range(k))
            assert _gammaincc(float(k), x) == pytest.approx(want, rel=1e-10)
    assert _gammaincc(3.0, 0.0) == 1.0


def test_chi2_pvalue_accepts_the_law_and_rejects_another():
    rng = np.random.default_rng(0)
    outcomes = ["a", "b", "c", "d", "e", "f"]
    p = dict(zip(outcomes, [0.3, 0.25, 0.2, 0.15, 0.09, 0.01]))
    q = dict(zip(outcomes, [0.25, 0.3, 0.2, 0.15, 0.09, 0.01]))  # TV(p, q) = 0.05
    pvalues = [chi2_pvalue(rng.choice(outcomes, 4000, p=list(p.values())).tolist(), p) for _ in range(50)]
    assert min(pvalues) > 1e-3 and 0.2 < float(np.mean(pvalues)) < 0.8  # roughly uniform under the null
    assert chi2_pvalue(rng.choice(outcomes, 4000, p=list(q.values())).tolist(), p) < 1e-6  # power
    assert chi2_pvalue(["a", "z"], p) == 0.0  # an impossible outcome
    assert chi2_pvalue(["a"] * 10, {"a": 1.0}) == 1.0  # one bin: nothing to test


def test_lark_oracle_lets_an_ignored_lexeme_end_anywhere():
    """lark's dynamic lexer matches %ignore terminals with re.match only: ``%ignore /[ ]]+(\\.[0-9]+)?/`` swallows
    `` ]].5`` whole, so lark alone refuses `` ]].52`` (found by the lark fuzz target). corral's language lets the
    ignored lexeme be `` ]].5`` and ``2`` the number; the oracle spells the ignores out so it agrees."""
    import lark

    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar
    from corral.testing import synthetic_vocab_for

    text = 'start: NUMBER\nNUMBER: /[0-9]+/\n%ignore /[ ]]+(\\.[0-9]+)?/\n'
    plain = lark.Lark(text, parser="earley", lexer="dynamic_complete")
    assert not lark_accepts(plain, " ]].52")  # lark's own reading: the negative control
    oracle = lark_oracle(text)
    grammar = Grammar.from_lark(text)
    cg = CompiledGrammar(grammar, synthetic_vocab_for(grammar))
    for s in (" ]].52", "2", " ]2 ]", " ] 2", "2 ]].5"):
        assert oracle(s) == cg.accepts(s.encode()), s
    assert oracle(" ]].52") and not oracle(" ] 2")
