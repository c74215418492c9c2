"""The interfaces the stages are typed against: constraint states, language models, model batches and drafters.

These are :class:`typing.Protocol` classes, checkable at run time with ``isinstance`` (which checks that the
methods exist; ``tests/runtime/test_protocols.py`` also checks their signatures on every implementation). They are the
documentation too: ``docs/INTERFACES.md`` prints them (``python -m corral.protocols`` writes that section, and a test
keeps the two equal).

* :class:`ConstraintState` is what a sampler needs of a constraint: :class:`corral.runtime.matcher.Matcher` (a
  grammar), :class:`corral.runtime.free.FreeMatcher` (no constraint) and any user object with these methods.
* :class:`GroupedConstraintState` adds the optional AWRS accelerations (``check_group``, ``implied``).
* :class:`CompiledConstraint` makes constraint states (:class:`corral.runtime.matcher.CompiledGrammar`).
* :class:`LanguageModel` and :class:`ModelSequence` are what samplers need of a model:
  :class:`corral.models.hf.HFModel` and :class:`corral.models.toy.ToyModel` (and their sequences).
* :class:`ModelBatch` is a batch of sequences advanced together (SMC particles).
* :class:`Drafter` proposes tokens for speculative decoding (:mod:`corral.drafters`), each a :class:`Proposal`.

Nothing here imports numpy or torch at run time; array types are named in strings.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import torch

    from corral.runtime.states import Rejection
    from corral.tokens.vocabulary import Vocabulary

__all__ = [
    "ConstraintState",
    "GroupedConstraintState",
    "CompiledConstraint",
    "LanguageModel",
    "ModelSequence",
    "ModelBatch",
    "Drafter",
    "Proposal",
    "PROTOCOLS",
    "conforms",
    "interfaces_markdown",
]


@runtime_checkable
class ConstraintState(Protocol):
    """One sequence's position in a constraint's language (the Matcher interface samplers use).

    A token is allowed iff the text so far followed by its bytes can still be completed into a string of the
    language; EOS is allowed iff the text is complete. ``mask()[t] == check(t)`` for every token ``t``.
    """

    def check(self, token: int) -> bool:
        """Whether ``token`` is allowed here (no state change)."""
        ...

    def advance(self, token: int) -> None:
        """Consume an allowed ``token`` (``ValueError`` if it is not allowed)."""
        ...

    def mask(self) -> np.ndarray:
        """The bool mask of allowed tokens, ``[vocab size]``; read only."""
        ...

    def fork(self) -> ConstraintState:
        """An independent copy (advancing one does not move the other)."""
        ...

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` advances."""
        ...

    def is_complete(self) -> bool:
        """Whether EOS is allowed (the text is in the language)."""
        ...


@runtime_checkable
class GroupedConstraintState(ConstraintState, Protocol):
    """A constraint state with the optional AWRS accelerations (:class:`corral.runtime.matcher.Matcher` has them)."""

    def check_group(self, token: int) -> np.ndarray | Rejection | None:
        """``None`` if ``token`` is allowed, else the tokens proven disallowed with it: ids, or a ``Rejection``."""
        ...

    def implied(self, valid_token: int, other: int) -> bool:
        """``True`` only if ``other`` is allowed whenever ``valid_token`` is (``False`` means unknown)."""
        ...


@runtime_checkable
class CompiledConstraint(Protocol):
    """A constraint compiled for one vocabulary: the factory of its states (a ``CompiledGrammar``)."""

    vocab: Vocabulary

    def matcher(self) -> ConstraintState:
        """A fresh state at the start of the text."""
        ...


@runtime_checkable
class ModelSequence(Protocol):
    """A growing token sequence of a language model, with its cache (``HFModel.start`` returns one)."""

    tokens: list[int]
    model: LanguageModel
    max_length: int | None

    def logprobs(self) -> torch.Tensor:
        """float32 log-probabilities ``[vocab size]`` of the next token."""
        ...

    def append(self, token: int) -> None:
        """Feed one token (computed lazily at the next :meth:`logprobs`)."""
        ...

    def extend(self, tokens: Sequence[int]) -> None:
        """Feed several tokens."""
        ...

    def extend_scored(self, tokens: Sequence[int]) -> torch.Tensor:
        """Feed a block of tokens in one pass; the next-token log-probabilities at each of its positions."""
        ...

    def crop(self, n: int) -> None:
        """Drop the last ``n`` tokens (and their cache)."""
        ...

    def fork(self) -> ModelSequence:
        """An independent copy."""
        ...

    def __len__(self) -> int:
        """Number of tokens, prompt included."""
        ...


@runtime_checkable
class LanguageModel(Protocol):
    """A causal language model over a byte-level vocabulary (``HFModel``, ``ToyModel``)."""

    vocab: Vocabulary
    eos_token_ids: Collection[int]
    max_length: int | None

    def start(self, prompt_ids: Sequence[int]) -> ModelSequence:
        """A sequence holding ``prompt_ids``."""
        ...

    def encode(self, text: str) -> list[int]:
        """The prompt ids of ``text`` (with the tokenizer's default special tokens)."""
        ...


@runtime_checkable
class ModelBatch(Protocol):
    """Rows of sequences advanced together, one token per row per step (SMC particles)."""

    def tokens(self, row: int) -> list[int]:
        """The tokens of ``row``."""
        ...

    def logprobs(self) -> np.ndarray:
        """float64 next-token log-probabilities ``[rows, vocab size]``."""
        ...

    def append(self, tokens: Sequence[int]) -> None:
        """Feed one token to every row."""
        ...

    def select(self, rows: Sequence[int]) -> None:
        """Keep these rows, in this order (repeats allowed: resampling)."""
        ...


@dataclass
class Proposal:
    """One proposed draft position.

    Attributes
    ----------
    kind : str
        ``"model"`` (a distribution), ``"ngram"``, ``"ff"`` (grammar fast-forward) or ``"forced"`` (the mask has a
        single token; made by the round itself). Used by the adaptive length policy to keep separate statistics.
    token : int or None
        The proposed token when the proposal is a point mass (``q = δ_token``).
    logprobs : numpy.ndarray or torch.Tensor or None
        The draft's next-token log-probabilities ``[V]`` when the proposal is a distribution; the round applies
        the mask, temperature, top-k and top-p of the target's law to it and samples the draft token.
    feature : float
        A confidence feature in ``[0, 1]`` for the acceptance predictor (n-gram: empirical frequency of the
        proposed continuation; fast-forward: 1; a model proposal's feature is filled in by the round with
        ``q_c(token)``).
    """

    kind: str
    token: int | None = None
    logprobs: np.ndarray | torch.Tensor | None = None
    feature: float = 1.0


@runtime_checkable
class Drafter(Protocol):
    """Proposes the next token of a draft (speculative decoding); :class:`corral.drafters.base.Drafter` is a base."""

    cost: float

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Start a sequence whose context starts with ``prompt_ids``."""
        ...

    def propose(self, ctx: list[int], matcher: ConstraintState | None,
                mask: np.ndarray | None) -> Proposal | None:
        """Propose the token after ``ctx`` (``None`` ends the draft)."""
        ...

    def observe(self, ctx: list[int]) -> None:
        """Learn from the committed context after a round."""
        ...


#: Every protocol, in the order docs/INTERFACES.md prints them.
PROTOCOLS = (ConstraintState, GroupedConstraintState, CompiledConstraint, LanguageModel, ModelSequence, ModelBatch,
             Drafter)


def _members(proto: type) -> dict[str, Any]:
    """The members a protocol declares itself (methods and annotated attributes), in source order."""
    own = {name: value for name, value in vars(proto).items()
           if not name.startswith("_") or name == "__len__"}
    names = list(getattr(proto, "__annotations__", {}))
    names += [n for n, v in own.items() if callable(v) and n not in names]
    return {n: own.get(n) for n in names}


def conforms(obj: object, proto: type) -> list[str]:
    """What ``obj`` lacks to implement ``proto``: missing members and methods whose parameters differ.

    A method conforms when it accepts the protocol's parameters by the same names (it may add optional ones).
    Returns an empty list when ``obj`` conforms.
    """
    problems = []
    for base in reversed(proto.__mro__):
        if base in PROTOCOLS:
            for name, member in _members(base).items():
                if not hasattr(obj, name):
                    problems.append(f"missing {name}")
                elif callable(member):
                    problems += _signature_problems(name, member, getattr(obj, name))
    return problems


def _signature_problems(name: str, spec, impl) -> list[str]:
    """Differences between a protocol method's parameters and an implementation's."""
    try:
        want = list(inspect.signature(spec).parameters.values())[1:]
        have = inspect.signature(impl).parameters
    except (TypeError, ValueError):  # builtins without signatures
        return []
    if any(p.kind is p.VAR_POSITIONAL for p in have.values()):
        return []
    have_names = [n for n in have if n != "self"]
    problems = [f"{name}: no parameter {p.name!r}" for p in want if p.name not in have]
    extra = [n for n in have_names if n not in {p.name for p in want}
             and have[n].default is inspect.Parameter.empty and have[n].kind is not have[n].VAR_KEYWORD]
    problems += [f"{name}: extra required parameter {n!r}" for n in extra]
    return problems


def _format_signature(method) -> str:
    """``(self, token: int) -> bool``: a signature with its annotations as written (no quotes)."""
    sig = inspect.signature(method)
    params = []
    for p in sig.parameters.values():
        text = p.name if p.annotation is p.empty else f"{p.name}: {p.annotation}"
        params.append(text if p.default is p.empty else f"{text} = {p.default!r}")
    return f"({', '.join(params)}) -> {sig.return_annotation}"


def interfaces_markdown() -> str:
    """The protocols as the Markdown section of docs/INTERFACES.md (signatures and one-line docs)."""
    lines = ["```python"]
    for proto in PROTOCOLS:
        bases = [b.__name__ for b in proto.__bases__ if b in PROTOCOLS]
        lines.append(f"class {proto.__name__}({', '.join(bases + ['Protocol'])}):")
        lines.append(f"    # {inspect.getdoc(proto).splitlines()[0]}")
        for name, member in _members(proto).items():
            if callable(member):
                lines.append(f"    def {name}{_format_signature(member)}")
                lines.append(f"        # {inspect.getdoc(member).splitlines()[0]}")
            else:
                lines.append(f"    {name}: {proto.__annotations__[name]}")
        lines.append("")
    lines[-1] = "```"
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # pragma: no cover - documentation generator
    print(interfaces_markdown(), end="")
