"""The outcome of a generation: :class:`Result` (what :func:`corral.generate` and :class:`corral.Generator` return)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Result"]


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
        ``n_tokens`` and, for SMC, ``ess_trace``, ``n_resamples``, ``n_steps``, ``n_forward``. Empty for ``"lcd"``.
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

    @property
    def complete(self) -> bool:
        """``True`` when generation ended with EOS (``status == "complete"``)."""
        return self.status == "complete"

    def __str__(self) -> str:
        return self.text
