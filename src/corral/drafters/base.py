"""The drafter interface, a composite drafter, and :func:`make_drafter`."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["Proposal", "Drafter", "CompositeDrafter", "make_drafter"]


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
    logprobs: object | None = None
    feature: float = 1.0


class Drafter:
    """Base class of drafters (see :mod:`corral.drafters`). Every method has a do-nothing default.

    Attributes
    ----------
    cost : float
        Rough cost of one proposal relative to one target forward pass (0 for table look-ups); the adaptive
        policy uses it to decide how long to draft.
    """

    cost: float = 0.0

    def begin(self, prompt_ids) -> None:
        """Start a new sequence whose context starts with ``prompt_ids`` (the target sequence's tokens)."""

    def propose(self, ctx: list[int], matcher, mask) -> Proposal | None:
        """Propose the token after ``ctx``.

        Parameters
        ----------
        ctx : list of int
            Every token so far: prompt, committed tokens and the tokens drafted earlier in this round. Do not
            mutate.
        matcher : corral.runtime.matcher.Matcher or None
            The constraint state after ``ctx`` (read only: do not advance it).
        mask : numpy.ndarray or None
            The bool mask at this position when the verifier computed one (D1), ``None`` otherwise (D2).

        Returns
        -------
        Proposal or None
            ``None`` ends the draft.
        """
        return None

    def observe(self, ctx: list[int]) -> None:
        """Called after each round with the committed context (prompt and committed tokens, EOS excluded)."""


class CompositeDrafter(Drafter):
    """Ask several drafters in order; the first proposal wins.

    Parameters
    ----------
    drafters : list of Drafter
        E.g. ``[FastForwardDrafter, NGramDrafter, ModelDrafter]``: free proposals first, the model last.
    """

    def __init__(self, drafters) -> None:
        self.drafters = [d for d in drafters if d is not None]
        self.cost = max((d.cost for d in self.drafters), default=0.0)

    def begin(self, prompt_ids) -> None:
        """Start every member."""
        for d in self.drafters:
            d.begin(prompt_ids)

    def propose(self, ctx, matcher, mask):
        """The first member's proposal that is not ``None``."""
        for d in self.drafters:
            p = d.propose(ctx, matcher, mask)
            if p is not None:
                return p
        return None

    def observe(self, ctx) -> None:
        """Forward to every member."""
        for d in self.drafters:
            d.observe(ctx)

    def __repr__(self) -> str:
        return f"CompositeDrafter({self.drafters!r})"


_draft_lock = threading.Lock()
_embedded_draft = None


def _embedded_draft_model():
    """The embedded draft model (loaded once per process)."""
    global _embedded_draft
    with _draft_lock:
        if _embedded_draft is None:
            from corral.models.hf import HFModel, default_model_path

            _embedded_draft = HFModel.load(default_model_path("draft"))
        return _embedded_draft


def _is_embedded_target(model) -> bool:
    from corral.models.hf import default_model_path

    name = getattr(getattr(getattr(model, "model", None), "config", None), "_name_or_path", "") or ""
    try:
        return bool(name) and Path(name).resolve() == default_model_path("target").resolve()
    except OSError:
        return False


def vocab_compatible(a, b) -> bool:
    """Whether two vocabularies map every common id to the same bytes and share the EOS ids (draft-compatible)."""
    if a.fingerprint == b.fingerprint:
        return True
    n = min(a.size, b.size)
    return a.token_bytes[:n] == b.token_bytes[:n] and set(a.eos_token_ids) == set(b.eos_token_ids)


def make_drafter(draft, target_model, *, ngram_order: int = 4) -> Drafter | None:
    """Map the ``draft=`` argument of ``generate`` to a drafter.

    Parameters
    ----------
    draft : None, "auto", "ngram", "forced", "model", HFModel, str path / hub name, Drafter, or list of these
        * ``None``: no speculation (returns ``None``).
        * ``"auto"``: grammar fast-forward, then the n-gram drafter (only its confident proposals: smoothed
          frequency >= 0.6), then the embedded draft model when the target
          is the embedded target and the vocabularies match (by fingerprint); otherwise fast-forward + n-gram.
        * ``"ngram"``: the online n-gram / prompt-lookup drafter alone.
        * ``"forced"`` (or ``"fastforward"``): grammar fast-forward alone.
        * ``"model"``: the embedded draft model alone.
        * an :class:`~corral.models.hf.HFModel`, a ``ToyModel``, a folder or a hub name: that model as drafter
          (it must share the target's tokenizer).
        * a :class:`Drafter`: used as it is. A list: a :class:`CompositeDrafter` of the members in order.
    target_model : HFModel or ToyModel
        The target (for its vocabulary).
    ngram_order : int
        Longest context the n-gram drafter matches.

    Returns
    -------
    Drafter or None

    Raises
    ------
    ValueError
        Unknown string, or a draft model whose vocabulary differs from the target's.
    """
    from corral.drafters.forced import FastForwardDrafter
    from corral.drafters.model import ModelDrafter
    from corral.drafters.ngram import NGramDrafter

    if draft is None:
        return None
    if isinstance(draft, Drafter):
        return draft
    if isinstance(draft, (list, tuple)):
        return CompositeDrafter([make_drafter(d, target_model, ngram_order=ngram_order) for d in draft])
    vocab = target_model.vocab
    if isinstance(draft, str) and draft in ("auto", "ngram", "forced", "fastforward", "model"):
        if draft == "ngram":
            return NGramDrafter(vocab, order=ngram_order)
        if draft in ("forced", "fastforward"):
            return FastForwardDrafter(vocab, getattr(target_model, "tokenizer", None))
        members: list[Drafter] = []
        if draft == "auto":
            members += [FastForwardDrafter(vocab, getattr(target_model, "tokenizer", None)),
                        NGramDrafter(vocab, order=ngram_order, min_feature=0.6)]
        embedded = _is_embedded_target(target_model)
        if draft == "model" or embedded:
            dm = _embedded_draft_model()
            if vocab_compatible(dm.vocab, vocab):
                members.append(ModelDrafter(dm))
            elif draft == "model":
                raise ValueError("the embedded draft model does not share the target's vocabulary")
        return members[0] if len(members) == 1 else CompositeDrafter(members)
    if isinstance(draft, str) and "/" not in draft and not Path(draft).expanduser().exists():
        raise ValueError(
            f"draft must be None, 'auto', 'ngram', 'forced', 'model', a model, a folder or an org/name hub id; "
            f"got {draft!r}"
        )
    if isinstance(draft, (str, os.PathLike)) or hasattr(draft, "vocab") or hasattr(draft, "config"):
        if hasattr(draft, "vocab") and hasattr(draft, "start"):
            dm = draft
        else:
            from corral.models.hf import HFModel

            dm = HFModel.load(draft)
        if not vocab_compatible(dm.vocab, vocab):
            raise ValueError("the draft model's vocabulary differs from the target's: it cannot draft for it")
        return ModelDrafter(dm)
    raise ValueError(
        f"draft must be None, 'auto', 'ngram', 'forced', 'model', a model, a path or a Drafter; got {draft!r}"
    )


def allowed_first_bytes(vocab, mask) -> np.ndarray:
    """The distinct first bytes of the allowed non-EOS tokens of ``mask`` (int array)."""
    ids = np.flatnonzero(mask[: vocab.size])
    ids = ids[vocab.lengths[ids] > 0]
    return np.unique(vocab.byte_matrix[ids, 0])
