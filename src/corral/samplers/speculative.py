"""Exact constrained speculative decoding (ALGORITHMS.md §4): the sequence loop over D1 or D2 rounds.

A *round* drafts up to ``k`` tokens (from a :mod:`corral.drafters` drafter; tokens the grammar forces are drafted
for free), scores all ``k + 1`` positions with one target forward pass (``Sequence.extend_scored``), keeps the
verified prefix and one more token, and rolls the target's KV cache and the matcher back to it. Drafted tokens
advance the matcher only temporarily; nothing is committed unverified.

* **D1** (:func:`corral.samplers.speculative_d1.d1_round`): masked speculative sampling. The mask at each draft
  position is computed once and shared by the draft and the target; the draft law ``q_c`` is the draft's
  distribution (or a point mass for n-gram, fast-forward and forced drafts) under the same constrained law as the
  target (mask, temperature, top-k, top-p: :func:`corral.samplers.masking.constrained_law`), and Leviathan's rule
  on ``(p_c, q_c)`` emits tokens with law ``p_c`` at every position: the token stream has exactly the law of
  :func:`corral.samplers.masking.sample_sequence`. Greedy: accept iff the draft is the target's constrained argmax.
* **D2** (:func:`corral.samplers.speculative_d2.d2_round`): Gumbel-coupled verification with AWRS. Draft and target
  share the Gumbel keys ``G(stream, position)``; every emitted token is the argmax of ``log p + G`` over the valid
  tokens, i.e. the token non-speculative AWRS (:func:`corral.samplers.awrs.awrs_sample_sequence`) emits for the same
  stream, whatever the drafter, the draft length or the policy. No masks are needed (constraint checks only).
* **Trees** (``draft_tree=``, :mod:`corral.samplers.speculative_tree`): several candidates per node, one target
  pass over the whole tree; D1 verifies by recursive rejection sampling at each node (same law), D2 by following
  the coupled token down the tree (same tokens).

Both rounds return the block's log-weight increment (``Σ log Z_p`` for D1, exact; ``Σ log Ẑ`` for D2, properly
weighted), so a round is also an SMC proposal step (:class:`~corral.samplers.speculative_smc.SpeculativeProposal`).
What a round reports (:class:`~corral.samplers.speculative_round.RoundResult`,
:class:`~corral.samplers.speculative_round.SpecStats`) is in :mod:`corral.samplers.speculative_round`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from corral.drafters.policy import make_policy
from corral.runtime.free import FreeMatcher
from corral.samplers.awrs import DEFAULT_MAX_REJECTS
from corral.samplers.masking import validate_sampling
from corral.samplers.speculative_d1 import d1_round
from corral.samplers.speculative_d2 import d2_round
from corral.samplers.speculative_round import RoundResult, SpecStats
from corral.samplers.speculative_tree import parse_tree_shape
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import ConstraintState, Drafter, ModelSequence

__all__ = ["SpecOutput", "speculative_sample_sequence"]


@dataclass
class SpecOutput:
    """What :func:`speculative_sample_sequence` returns (a superset of ``SampleOutput``).

    Attributes
    ----------
    tokens : list of int
        Generated tokens; ends with EOS when ``status == "complete"``.
    status : str
        ``"complete"``, ``"length"`` or ``"dead"`` (D2 only: no valid continuation).
    logprob : float
        Log-probability under the sampling law (see :class:`RoundResult`).
    model_logprob : float
        Log-probability under the model (D1: the raw model; D2: the tempered model, see :class:`RoundResult`).
    log_weight : float
        Sum of the rounds' ``delta_logw``: the importance weight that corrects ``ℓ`` into ``π``.
    stats : SpecStats
    first_token_s : float
        Seconds until the first round ended.
    raw_logprob : float
        Log-probability under the raw (untempered) model.
    steps : list of Step
        One :class:`~corral.samplers.steps.Step` per token (the rounds' steps, in order).
    """

    tokens: list[int] = field(default_factory=list)
    status: str = "length"
    logprob: float = 0.0
    model_logprob: float = 0.0
    log_weight: float = 0.0
    stats: SpecStats = field(default_factory=SpecStats)
    first_token_s: float = 0.0
    raw_logprob: float = 0.0
    steps: list[Step] = field(default_factory=list)


def speculative_sample_sequence(
    seq: ModelSequence,
    matcher: ConstraintState | None,
    *,
    drafter: Drafter | None = None,
    verify: str = "d1",
    draft_length: str | int | FixedPolicy | AdaptivePolicy | None = "adaptive",
    max_tokens: int,
    temperature: float | None = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    stream: int | None = None,
    eos_token_ids: Collection[int] | None = None,
    max_rejects: int | str | None = "default",
    on_tokens: Callable[[list[int]], None] | None = None,
    draft_tree: int | tuple[int, ...] | None = None,
) -> SpecOutput:
    """Generate one sequence with speculative rounds until EOS or ``max_tokens``.

    The output law is that of masked decoding: D1 samples exactly
    :func:`corral.samplers.masking.sample_sequence`'s law (same temperature, top-k, top-p; with ``drafter=None``
    even the same tokens for the same generator), D2 exactly
    :func:`corral.samplers.awrs.awrs_sample_sequence`'s tokens for the same ``stream`` (temperature only).

    Parameters
    ----------
    seq : ModelSequence
        Target sequence after the prompt; generated tokens (EOS excluded) are appended.
    matcher : ConstraintState or None
        The constraint; ``None`` for unconstrained generation (a :class:`~corral.runtime.free.FreeMatcher`).
    drafter : Drafter or None
        From :func:`corral.drafters.make_drafter`. ``begin`` is called here with the prompt.
    verify : {"d1", "d2"}
    draft_length : "adaptive", int, or a policy object
        See :func:`corral.drafters.policy.make_policy`.
    max_tokens : int
        Most tokens to generate, EOS included.
    temperature, top_k, top_p
        D1: as in masked decoding. D2: temperature only (top-k/top-p raise ``ValueError``).
    generator : torch.Generator, optional
        D1's randomness (drafts, acceptance tests, residuals).
    stream : int, optional
        D2's Gumbel stream; default: drawn from ``generator`` (or fresh).
    eos_token_ids : collection of int, optional
        Default ``seq.model.eos_token_ids``.
    max_rejects : int, None or "default"
        D2's AWRS fallback threshold (default :data:`corral.samplers.awrs.DEFAULT_MAX_REJECTS`).
    on_tokens : callable, optional
        Called with each round's emitted tokens (the accepted drafts and the target's token, EOS included) as
        soon as the round is verified (streaming, :mod:`corral.streaming`); an exception it raises stops
        generation and propagates.
    draft_tree : int, tuple of int or None
        Multi-draft (tree) speculation: ``k`` candidates at the root then chains, or children per node at each
        depth (:mod:`corral.samplers.speculative_tree`); verified exactly (same law, D2: same tokens). ``None``:
        single drafts.

    Returns
    -------
    SpecOutput
    """
    _check_arguments(verify, max_tokens, temperature, top_k, top_p)
    if max_rejects == "default":
        max_rejects = DEFAULT_MAX_REJECTS
    if verify == "d2" and stream is None:
        stream = int(torch.randint(0, 2**62, (1,), generator=generator))
    regime = "d2" if verify == "d2" else ("greedy" if not temperature else False)  # drafts cannot change the output
    policy = make_policy(draft_length, drafter if draft_tree is None else None, timed=regime)
    shape = None if draft_tree is None else parse_tree_shape(draft_tree)
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    if matcher is None:
        matcher = FreeMatcher(seq.model.vocab, eos)
    limit = seq.max_length
    out = SpecOutput()
    stats = out.stats
    if drafter is not None:
        drafter.begin(list(seq.tokens))
    t0 = time.perf_counter()
    n = int(max_tokens)
    while len(out.tokens) < n:
        if limit is not None and len(seq.tokens) > limit:
            break  # the context is full
        room = n - len(out.tokens) - 1
        if limit is not None:
            room = min(room, limit - len(seq.tokens))
        if shape is not None:
            r = _tree_round(verify, shape, seq, matcher, drafter, policy, max(room, 0), len(out.tokens), stream,
                            temperature, top_k, top_p, generator, eos, max_rejects, stats)
        elif verify == "d1":
            r = d1_round(seq, matcher, drafter, policy, max_drafts=max(room, 0), temperature=temperature,
                         top_k=top_k, top_p=top_p, generator=generator, eos=eos, stats=stats)
        else:
            r = d2_round(seq, matcher, drafter, policy, max_drafts=max(room, 0), position=len(out.tokens),
                         stream=stream, temperature=temperature, eos=eos, max_rejects=max_rejects, stats=stats)
        if not out.tokens:
            out.first_token_s = time.perf_counter() - t0
        ended = _add_round(out, r, eos)
        if on_tokens is not None and r.tokens:
            on_tokens(list(r.tokens))
        if ended:
            return out
        if drafter is not None:
            drafter.observe(seq.tokens)
    return out


def _tree_round(verify, shape, seq, matcher, drafter, policy, room, position, stream, temperature, top_k, top_p,
                generator, eos, max_rejects, stats) -> RoundResult:
    """One multi-draft round (:mod:`corral.samplers.speculative_tree_d1` or ``_d2``)."""
    if verify == "d1":
        from corral.samplers.speculative_tree_d1 import d1_tree_round

        return d1_tree_round(seq, matcher, drafter, policy, shape=shape, max_drafts=room, temperature=temperature,
                             top_k=top_k, top_p=top_p, generator=generator, eos=eos, stats=stats)
    from corral.samplers.speculative_tree_d2 import d2_tree_round

    return d2_tree_round(seq, matcher, drafter, policy, shape=shape, max_drafts=room, position=position,
                         stream=stream, temperature=temperature, eos=eos, max_rejects=max_rejects, stats=stats)


def _add_round(out: SpecOutput, r: RoundResult, eos: Collection[int]) -> bool:
    """Append round ``r`` to ``out``; whether the sequence ended with it (``"dead"`` or ``"complete"``)."""
    out.tokens.extend(r.tokens)
    out.logprob += r.logprob
    out.model_logprob += r.model_logprob
    out.raw_logprob += r.raw_logprob
    out.steps.extend(r.steps)
    out.log_weight += r.delta_logw
    if r.dead:
        out.status = "dead"
        return True
    if r.tokens and r.tokens[-1] in eos:
        out.status = "complete"
        return True
    return False


def _check_arguments(verify: str, max_tokens: int, temperature: float | None, top_k: int | None,
                     top_p: float | None) -> None:
    """ValueError for bad sampling parameters, an unknown ``verify``, top-k/top-p with D2, or a bad ``max_tokens``."""
    validate_sampling(temperature, top_k, top_p)
    if verify not in ("d1", "d2"):
        raise ValueError(f"verify must be 'd1' or 'd2', got {verify!r}")
    if verify == "d2" and (top_k is not None or (top_p is not None and top_p < 1)):
        raise ValueError("D2 (AWRS) verification supports temperature only, not top_k/top_p; use verify='d1'")
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise ValueError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
