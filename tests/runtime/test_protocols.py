"""Every implementation conforms to the protocols of ``corral.protocols``, and docs/INTERFACES.md shows them.

* ``isinstance(obj, Proto)`` (runtime-checkable: the members exist) and ``conforms(obj, Proto) == []`` (the
  methods take the protocol's parameters by name) for the Matcher (compiled engine and Python), FreeMatcher,
  CompiledGrammar, ToyModel and HFModel with their sequences, both batches, and every drafter class;
* ``conforms`` has power: a class missing a method, with a renamed parameter or an extra required one, is reported;
* the section of docs/INTERFACES.md between ``<!-- protocols:begin -->`` and ``<!-- protocols:end -->`` is
  exactly ``python -m corral.protocols``; every method the runtime / tokens / models blocks list exists on the
  named class with the parameters listed.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

import corral.drafters
from corral import protocols
from corral.compile.grammar import Grammar
from corral.drafters import AutoDrafter, CompositeDrafter, FastForwardDrafter, ModelDrafter, NGramDrafter
from corral.drafters.base import Drafter as DrafterBase
from corral.models.batch import HFBatch, SequenceBatch, make_batch
from corral.models.toy import ToyModel, ToySequence
from corral.protocols import (
    ConstraintState,
    Drafter,
    GroupedConstraintState,
    LanguageModel,
    ModelBatch,
    ModelSequence,
    conforms,
)
from corral.runtime.engine import NATIVE_ENGINE
from corral.runtime.free import FreeMatcher
from corral.runtime.matcher import CompiledGrammar, Matcher
from corral.testing import synthetic_vocab

INTERFACES = Path(__file__).resolve().parents[2] / "docs" / "INTERFACES.md"
CompiledConstraint = getattr(protocols, "CompiledConstraint", None)


def _assert_conforms(obj, proto) -> None:
    assert isinstance(obj, proto), f"{type(obj).__name__} is not a {proto.__name__}"
    assert conforms(obj, proto) == [], f"{type(obj).__name__} vs {proto.__name__}: {conforms(obj, proto)}"


@pytest.fixture(scope="module")
def toy():
    return ToyModel.random(["a", "b", "ab"], seed=0)


@pytest.fixture(scope="module")
def hf():
    from corral.errors import ModelError
    from corral.models.hf import HFModel, default_model_path

    if not default_model_path("target").is_dir():
        pytest.skip(f"the embedded default model is absent ({default_model_path('target')})")
    try:
        return HFModel.load(None)
    except ModelError as exc:  # e.g. files present but incomplete
        pytest.skip(f"the embedded default model cannot be loaded: {exc}")


# ------------------------------------------------------------------------------------------- constraint states


@pytest.mark.parametrize("native", [None, False], ids=["native", "python"])
def test_matcher_is_a_grouped_constraint_state(native):
    if native is None and not NATIVE_ENGINE:
        pytest.skip("the compiled engine is not built")
    cg = CompiledGrammar(Grammar.from_lark('start: "(" start ")" start | '), synthetic_vocab("()x"), native=native)
    assert cg.native == (native is None)
    m = cg.matcher()
    assert isinstance(m, Matcher)
    _assert_conforms(m, ConstraintState)
    _assert_conforms(m, GroupedConstraintState)
    _assert_conforms(m.fork(), GroupedConstraintState)
    if CompiledConstraint is not None:
        _assert_conforms(cg, CompiledConstraint)


def test_free_matcher_is_a_constraint_state(toy):
    m = FreeMatcher(toy.vocab)
    _assert_conforms(m, ConstraintState)
    _assert_conforms(m.fork(), ConstraintState)
    assert not isinstance(m, GroupedConstraintState)  # no AWRS hooks: samplers check one token at a time


# ------------------------------------------------------------------------------------------- models and batches


def test_toy_model_and_sequence(toy):
    _assert_conforms(toy, LanguageModel)
    seq = toy.start(toy.encode("ab"))
    assert isinstance(seq, ToySequence)
    _assert_conforms(seq, ModelSequence)
    _assert_conforms(seq.fork(), ModelSequence)


def test_sequence_batch(toy):
    batch = make_batch(toy, toy.encode("a"), 3)
    assert isinstance(batch, SequenceBatch)
    _assert_conforms(batch, ModelBatch)
    _assert_conforms(batch.sequence(0), ModelSequence)


def test_hf_model_sequence_and_batches(hf):
    from corral.models.hf import Sequence

    _assert_conforms(hf, LanguageModel)
    seq = hf.start(hf.encode("Hello"))
    assert isinstance(seq, Sequence)
    _assert_conforms(seq, ModelSequence)
    _assert_conforms(seq.fork(), ModelSequence)
    batch = make_batch(hf, hf.encode("Hello"), 2)
    assert isinstance(batch, HFBatch)
    _assert_conforms(batch, ModelBatch)
    rows = make_batch(hf, hf.encode("Hello"), 2, per_row=True)
    assert isinstance(rows, SequenceBatch)
    _assert_conforms(rows, ModelBatch)


# ------------------------------------------------------------------------------------------- drafters


def _drafters(toy) -> dict[type, object]:
    """One instance of every drafter class, built as tests/speculative/test_drafters.py builds them."""
    return {
        DrafterBase: DrafterBase(),
        NGramDrafter: NGramDrafter(toy.vocab, order=2),
        FastForwardDrafter: FastForwardDrafter(toy.vocab),
        ModelDrafter: ModelDrafter(toy),
        CompositeDrafter: CompositeDrafter([FastForwardDrafter(toy.vocab), NGramDrafter(toy.vocab)]),
        AutoDrafter: AutoDrafter([("ff", FastForwardDrafter(toy.vocab)), ("ngram", NGramDrafter(toy.vocab))],
                                 target=toy),
    }


def test_every_drafter_class_is_a_drafter(toy):
    built = _drafters(toy)
    classes = {obj for name in corral.drafters.__all__
               if isinstance(obj := getattr(corral.drafters, name), type) and issubclass(obj, DrafterBase)}
    assert classes <= set(built), f"no conformance case for {sorted(c.__name__ for c in classes - set(built))}"
    for cls, drafter in built.items():
        assert type(drafter) is cls
        _assert_conforms(drafter, Drafter)


def test_every_protocol_has_an_implementation_tested():
    tested = {ConstraintState, GroupedConstraintState, LanguageModel, ModelSequence, ModelBatch, Drafter,
              CompiledConstraint}
    assert set(protocols.PROTOCOLS) <= tested, "a new protocol needs conformance cases here"


# ------------------------------------------------------------------------------------------- conforms has power


class _Good:
    def check(self, token: int) -> bool:
        return True

    def advance(self, token: int) -> None:
        pass

    def mask(self) -> np.ndarray:
        return np.ones(2, bool)

    def fork(self):
        return self

    def rollback(self, n: int = 1) -> None:
        pass

    def is_complete(self) -> bool:
        return True


class _NoRollback:
    check, advance, mask, fork, is_complete = (_Good.check, _Good.advance, _Good.mask, _Good.fork,
                                               _Good.is_complete)


class _RenamedParameter(_Good):
    def check(self, tok: int) -> bool:  # "token" renamed: keyword callers would break
        return True


class _ExtraRequired(_Good):
    def rollback(self, n: int = 1, *, hard: bool) -> None:
        pass


class _ExtraOptional(_Good):
    def check(self, token: int, strict: bool = False) -> bool:  # an optional extra is fine
        return True


def test_conforms_reports_what_is_wrong(toy):
    assert conforms(_Good(), ConstraintState) == [] and isinstance(_Good(), ConstraintState)
    assert conforms(_ExtraOptional(), ConstraintState) == []
    assert conforms(_NoRollback(), ConstraintState) == ["missing rollback"]
    assert not isinstance(_NoRollback(), ConstraintState)
    assert isinstance(_RenamedParameter(), ConstraintState)  # isinstance checks names only ...
    assert conforms(_RenamedParameter(), ConstraintState) == [  # ... conforms also checks the parameters
        "check: no parameter 'token'", "check: extra required parameter 'tok'"]
    assert conforms(_ExtraRequired(), ConstraintState) == ["rollback: extra required parameter 'hard'"]
    missing = conforms(_Good(), GroupedConstraintState)
    assert missing == ["missing check_group", "missing implied"]

    class NoMaxLength:
        vocab, eos_token_ids = toy.vocab, toy.eos_token_ids

        def start(self, prompt_ids):
            return toy.start(prompt_ids)

        def encode(self, text):
            return toy.encode(text)

    assert conforms(NoMaxLength(), LanguageModel) == ["missing max_length"]

    class RenamedDrafter(DrafterBase):
        def propose(self, context, matcher, mask):
            return None

    assert conforms(RenamedDrafter(), Drafter) == ["propose: no parameter 'ctx'", "propose: extra required "
                                                   "parameter 'context'"]


# ------------------------------------------------------------------------------------------- docs/INTERFACES.md


def _between_markers(text: str) -> str:
    begin, end = "<!-- protocols:begin -->\n", "<!-- protocols:end -->"
    assert begin in text and end in text, "docs/INTERFACES.md lacks the protocols markers"
    return text.split(begin, 1)[1].split(end, 1)[0]


def test_interfaces_md_shows_the_protocols():
    section = _between_markers(INTERFACES.read_text(encoding="utf-8"))
    assert section == protocols.interfaces_markdown(), \
        "docs/INTERFACES.md is stale: paste `python -m corral.protocols` between the protocols markers"


def _documented_methods(section_titles: tuple[str, ...]):
    """(class name, def line) for every method listed inside a class in the named sections' code blocks."""
    text = INTERFACES.read_text(encoding="utf-8")
    out = []
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        title = section.splitlines()[0].strip()
        if not title.startswith(section_titles):
            continue
        for block in re.findall(r"```python\n(.*?)```", section, flags=re.S):
            cls = None
            for line in block.splitlines():
                if m := re.match(r"class (\w+)", line):
                    cls = m.group(1)
                elif not line.startswith(" ") and line.strip():
                    cls = None  # a top-level function or comment ends the class
                elif cls and re.match(r"\s+def \w+\(", line):
                    out.append((cls, _def_head(line.strip())))
    return out


def _def_head(line: str) -> str:
    """``def name(params)`` of a listed method: up to the parenthesis that closes the parameters."""
    depth = 0
    for i, ch in enumerate(line):
        depth += {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}.get(ch, 0)
        if ch == ")" and depth == 0:
            return line[: i + 1]
    raise AssertionError(f"unbalanced parameters in docs/INTERFACES.md: {line!r}")


def _classes():
    from corral.models import hf
    from corral.tokens.vocabulary import Vocabulary

    return {"CompiledGrammar": CompiledGrammar, "Matcher": Matcher, "FreeMatcher": FreeMatcher,
            "Vocabulary": Vocabulary, "HFModel": hf.HFModel, "Sequence": hf.Sequence, "ToyModel": ToyModel,
            "ToySequence": ToySequence, "HFBatch": HFBatch, "SequenceBatch": SequenceBatch}


DOCUMENTED = _documented_methods(("tokens", "runtime", "models"))


def test_documented_methods_were_found():
    names = {cls for cls, _ in DOCUMENTED}
    assert {"CompiledGrammar", "Matcher", "FreeMatcher", "Vocabulary", "HFModel", "Sequence"} <= names


@pytest.mark.parametrize("cls_name, line", DOCUMENTED, ids=[f"{c}.{d[4:d.index('(')]}" for c, d in DOCUMENTED])
def test_documented_method_exists_with_these_parameters(cls_name, line):
    classes = _classes()
    if cls_name not in classes:
        pytest.skip(f"{cls_name} is documented outside the runtime/tokens/models modules")
    func = ast.parse(line.strip() + ": pass").body[0]
    cls = classes[cls_name]
    assert hasattr(cls, func.name), f"docs/INTERFACES.md lists {cls_name}.{func.name}, which does not exist"
    member = inspect.getattr_static(cls, func.name)
    member = member.__func__ if isinstance(member, (classmethod, staticmethod)) else member
    args = func.args
    listed = [a.arg for a in args.posonlyargs + args.args + args.kwonlyargs]
    actual = [n for n, p in inspect.signature(member).parameters.items()
              if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    assert listed == actual, f"{cls_name}.{func.name}: INTERFACES.md lists {listed}, the code has {actual}"
