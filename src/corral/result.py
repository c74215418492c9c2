"""The outcome of a generation: :class:`Result` (what :func:`corral.generate` and :class:`corral.Generator` return)
and its per-token record :class:`TokenStep`."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Result", "TokenStep"]


@dataclass(frozen=True)
class TokenStep:
    """One generated token: what it is, how it was chosen, and how likely the model found it.

    Recorded during generation from quantities the sampler computes anyway (no extra forward pass, no extra mask).
    :func:`corral.authoring.tokens.token_view` displays them.

    Attributes
    ----------
    token_id : int
        The token.
    text : str
        Its text, for display: the token's bytes decoded incrementally (UTF-8, ``errors="replace"``), so a
        character split over several tokens appears at the token that completes it and ``"".join`` of the texts
        is the output's text; ``""`` for EOS.
    data : bytes
        The token's exact bytes (``b""`` for EOS): the token boundaries.
    prob : float or None
        The raw model's probability of the token at that step (untempered, unconstrained); ``None`` when unknown
        (a speculative block inside SMC from a proposal that does not report per-token values).
    forced : bool or None
        Whether the constraint allowed exactly one token there. Known where the sampler holds the mask (masked
        decoding, D1 speculation); ``None`` for AWRS, D2 and SMC, which only check tokens.
    n_allowed : int or None
        How many tokens the constraint allowed there (EOS included), where known (as ``forced``).
    checks, rejects : int or None
        AWRS (also D2 and SMC's AWRS proposal): constraint checks made at that position and tokens rejected before
        this one was accepted. 0 for masked decoding and D1; ``None`` when unknown (optimal SMC).
    source : str
        ``"draft"`` (an accepted drafted token, forced or EOS ones included, so that the ``"draft"`` steps are
        the speculative run's accepted drafts), else ``"eos"`` (the EOS token), else ``"forced"`` (the only
        allowed token), else ``"sampled"`` (sampled by the target: AWRS, masked decoding, or a speculative round's
        corrected or bonus token). With ``switching="entropy"``, ``"draft"`` marks the small model's (unverified)
        tokens, with ``draft_kind == "small"``; the others are the target's.
    n_rejected_drafts : int
        Speculation: drafted tokens rejected at this position. Single drafts: 0 or 1 (the drafts after a rejected
        one are discarded unverified). ``draft_tree=``: up to the number of candidates at that node, also on an
        accepted draft (D1: the candidates tested and rejected before the outcome; D2: every candidate that is not
        the emitted token). 0 otherwise.
    draft_kind : str or None
        The drafter's kind (``"forced"``, ``"ff"``, ``"ngram"``, ``"model"``) when the token is an accepted draft,
        whatever its ``source``.
    """

    token_id: int
    text: str
    data: bytes = b""
    prob: float | None = None
    forced: bool | None = None
    n_allowed: int | None = None
    checks: int | None = 0
    rejects: int | None = 0
    source: str = "sampled"
    n_rejected_drafts: int = 0
    draft_kind: str | None = None


@dataclass
class Result:
    """The outcome of :func:`generate`.

    Attributes
    ----------
    text : str
        The generated text, without the prompt and without EOS. When ``status == "complete"`` and a constraint was
        given, the text is in the constraint's language.
    token_ids : list of int
        The generated token ids; the last one is the EOS token when ``status == "complete"``.
    status : str
        ``"complete"``: the model emitted EOS (and the text is valid). ``"length"``: ``max_tokens`` (or the model's
        context) ran out first; the text is then an unfinished prefix and is **not** valid (undecodable bytes are
        replaced by U+FFFD). ``"invalid"``: only with ``lenient=True``, a complete output of the widened schema
        that fails validation against the real one.
    logprob : float
        Log-probability of ``token_ids`` under the law they were sampled from (the masked, tempered and truncated
        next-token laws; 0 for greedy decoding).
    timings : dict of str to float
        ``load_s`` (model load, 0 when cached), ``compile_s`` (constraint compile, 0 when cached),
        ``first_token_s`` (prefill and first token), ``total_s`` (the whole call) and ``tokens_per_s`` (generated
        tokens per second of generation, first token included).
    value : object or None
        With ``schema=``: the parsed, validated output (a model instance for a pydantic model) when complete;
        otherwise ``None``.
    model_logprob : float
        Log-probability of ``token_ids`` under the raw, unconstrained model.
    particles : list of (str, list of int, float, str) or None
        ``method="smc"`` only: the final weighted particle set, one ``(text, token_ids, log_weight, status)`` per
        particle (``log_weight = -inf`` for particles that died or ran out of tokens). For every resampling
        scheme the weights average to ``Ẑ``: ``log_z = log mean exp(log_weight)``.
    posterior : dict of str to float or None
        ``method="smc"`` only: the posterior over distinct output texts (normalised particle weights summed by
        text, complete particles only), by decreasing probability.
    log_z : float or None
        ``method="smc"``: ``log Ẑ``, an unbiased (in ``Ẑ``) estimate of the probability that the (tempered) model's
        output is in the language within ``max_tokens``. ``method="awrs"``: the sequence's log importance weight
        ``Σ_t log Ẑ_t`` (the same estimate with one particle).
    stats : dict
        ``method="awrs"``/``"smc"``: ``checks_per_token``, ``n_checks``, ``n_rejects``, ``n_fallbacks``,
        ``n_tokens`` and, for SMC, ``ess_trace``, ``n_resamples``, ``n_steps``, ``n_forward``. Empty for ``"lcd"``
        (but ``{"switching": {"small_tokens", "large_tokens", "share_large", ...}}`` with ``switching="entropy"``).
        ``method="asap"``: ``samples`` (every draw, ``[text, token_ids, status]``, in order; the output is the
        last), ``n_tokens`` and the trie's ``root_theta`` (an upper bound on ``Z`` that falls to it),
        ``trie_samples``, ``trie_nodes``, ``trie_children``, ``trie_dead_ends``.
    steps : list of TokenStep
        One :class:`TokenStep` per token of ``token_ids``: its text, the model's probability, whether it was
        forced, sampled or an accepted draft, AWRS checks and rejected drafts. For SMC, the chosen particle's
        (``forced``/``n_allowed`` unknown). Empty for a result not made by a sampler.
    """

    text: str
    token_ids: list[int]
    status: str
    logprob: float
    timings: dict[str, float] = field(default_factory=dict)
    value: object | None = None
    model_logprob: float = 0.0
    particles: list | None = None
    posterior: dict | None = None
    log_z: float | None = None
    stats: dict = field(default_factory=dict)
    steps: list[TokenStep] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """``True`` when generation ended with EOS (``status == "complete"``)."""
        return self.status == "complete"

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        """One line: status, the text (truncated), the number of tokens, log-probabilities and the method's stats."""
        text = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        parts = [f"status={self.status!r}", f"text={text!r}", f"tokens={len(self.token_ids)}",
                 f"logprob={self.logprob:.4g}", f"model_logprob={self.model_logprob:.4g}"]
        if self.log_z is not None:
            parts.append(f"log_z={self.log_z:.4g}")
        for key in ("checks_per_token", "acceptance_rate", "n_resamples"):
            value = self.stats.get(key)
            if isinstance(value, (int, float)) and not (isinstance(value, float) and math.isnan(value)):
                parts.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
        return f"Result({', '.join(parts)})"

    def _repr_html_(self) -> str:
        """Notebook display: a header line (status, log-probabilities, timings), then the token view."""
        from corral.authoring.tokens import result_html

        return result_html(self)
