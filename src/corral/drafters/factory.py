""":func:`make_drafter`: the ``draft=`` argument of ``generate`` (``None | "auto" | "ngram" | "forced" | "model" |
model | path | Drafter | list``) -> a drafter, and the embedded draft model it may load."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Union

from corral.drafters.auto import AutoDrafter
from corral.drafters.base import CompositeDrafter, Drafter
from corral.drafters.costs import CostProfile, flop_ratio
from corral.drafters.forced import FastForwardDrafter
from corral.drafters.model import ModelDrafter
from corral.drafters.ngram import NGramDrafter
from corral.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.models.hf import HFModel
    from corral.protocols import LanguageModel
    from corral.tokens.vocabulary import Vocabulary

    #: What the ``draft=`` argument may be (a list combines several).
    DraftSpec = Union[str, os.PathLike, LanguageModel, Drafter, Sequence["DraftSpec"], None]

__all__ = ["auto_drafter", "make_drafter", "vocab_compatible"]


_draft_lock = threading.Lock()
_embedded_draft = None


def _embedded_draft_model() -> HFModel:
    """The embedded draft model (loaded once per process)."""
    global _embedded_draft
    with _draft_lock:
        if _embedded_draft is None:
            from corral.models.hf import HFModel, default_model_path

            _embedded_draft = HFModel.load(default_model_path("draft"))
        return _embedded_draft


def _is_embedded_target(model: LanguageModel) -> bool:
    """Whether ``model`` is the embedded target model (by its folder)."""
    from corral.models.hf import default_model_path

    name = getattr(getattr(getattr(model, "model", None), "config", None), "_name_or_path", "") or ""
    try:
        return bool(name) and Path(name).resolve() == default_model_path("target").resolve()
    except OSError:
        return False


def vocab_compatible(a: Vocabulary, b: Vocabulary) -> bool:
    """Whether two vocabularies map every common id to the same bytes and share the EOS ids (draft-compatible)."""
    if a.fingerprint == b.fingerprint:
        return True
    n = min(a.size, b.size)
    return a.token_bytes[:n] == b.token_bytes[:n] and set(a.eos_token_ids) == set(b.eos_token_ids)


def auto_drafter(target_model: LanguageModel, draft_model: LanguageModel | None = None, *, ngram_order: int = 4,
                 profile: CostProfile | str | None = None) -> AutoDrafter:
    """``draft="auto"``: fast-forward, n-gram and a draft model, chosen per position by their costs and acceptance.

    Parameters
    ----------
    target_model : LanguageModel
        The target (its vocabulary, its clock, and its size for the draft model's cost).
    draft_model : LanguageModel, optional
        The draft model arm. Default: the embedded draft model when the target is the embedded target (no model arm
        otherwise). A model whose vocabulary differs from the target's is left out.
    ngram_order : int
        Longest context the n-gram arm matches.
    profile : CostProfile, "measure" or None
        The costs (:class:`~corral.drafters.auto.AutoDrafter`); default: the fixed profile, the draft model's cost
        its FLOP ratio to the target.

    Returns
    -------
    AutoDrafter
    """
    vocab = target_model.vocab
    arms: list[tuple[str, Drafter]] = [("ff", FastForwardDrafter(vocab, getattr(target_model, "tokenizer", None))),
                                       ("ngram", NGramDrafter(vocab, order=ngram_order))]
    dm = draft_model
    if dm is None and _is_embedded_target(target_model):
        dm = _embedded_draft_model()
    draft = {}
    if dm is not None and vocab_compatible(dm.vocab, vocab):
        arms.append(("model", ModelDrafter(dm)))
        draft["model"] = flop_ratio(target_model, dm) or CostProfile().draft["model"]
    else:
        dm = None
    if profile is None:
        profile = CostProfile(draft=draft)
    return AutoDrafter(arms, target=target_model, profile=profile, profile_key=dm)


def make_drafter(draft: DraftSpec, target_model: LanguageModel, *, ngram_order: int = 4) -> Drafter | None:
    """Map the ``draft=`` argument of ``generate`` to a drafter.

    Parameters
    ----------
    draft : None, "auto", "ngram", "forced", "model", HFModel, str path / hub name, Drafter, or list of these
        * ``None``: no speculation (returns ``None``).
        * ``"auto"``: an :class:`~corral.drafters.auto.AutoDrafter` over grammar fast-forward, the n-gram drafter
          and, when the target is the embedded target and the vocabularies match, the embedded draft model: at
          each position the one (or none) with the best expected tokens per second under measured costs and
          acceptance. Same output law as every drafter; only the speed differs.
        * ``"ngram"``: the online n-gram / prompt-lookup drafter alone.
        * ``"forced"`` (or ``"fastforward"``): grammar fast-forward alone.
        * ``"model"``: the embedded draft model alone.
        * an :class:`~corral.models.hf.HFModel`, a ``ToyModel``, a folder or a hub name: that model as drafter
          (it must share the target's tokenizer).
        * a :class:`Drafter`: used as it is. A list: a :class:`CompositeDrafter` of the members in order.
    target_model : LanguageModel
        The target, an HFModel or a ToyModel (for its vocabulary).
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
        if draft == "auto":
            return auto_drafter(target_model, ngram_order=ngram_order)
        dm = _embedded_draft_model()
        if not vocab_compatible(dm.vocab, vocab):
            raise ConfigurationError("the embedded draft model does not share the target's vocabulary")
        return ModelDrafter(dm)
    if isinstance(draft, str) and "/" not in draft and not Path(draft).expanduser().exists():
        raise ConfigurationError(
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
            raise ConfigurationError("the draft model's vocabulary differs from the target's: it cannot draft for it")
        return ModelDrafter(dm)
    raise ConfigurationError(
        f"draft must be None, 'auto', 'ngram', 'forced', 'model', a model, a path or a Drafter; got {draft!r}"
    )
