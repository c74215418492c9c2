"""The exact law of entropy-adaptive decoding (:mod:`corral.samplers.entropy_switch`) on toy models, by enumeration.

The switching decision at a position is a deterministic function of the prefix (the small model's masked entropies
along it), so the law of a whole sequence is the product of the masked laws of whichever model wrote each token.
:func:`switching_law` enumerates it over a finite language with the same arithmetic as the sampler (the same
float32 round trip of the log-probabilities, the same rule), so the decisions agree exactly with a sampled run;
tests compare sampled runs to it by chi-square and the benchmark reports its total variation to the target's ``ℓ``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from corral.samplers.entropy_switch import EntropyRule, _padded, masked_entropy
from corral.samplers.masking import constrained_law

__all__ = ["SwitchingLaw", "switching_law"]


@dataclass
class SwitchingLaw:
    """The exact law of the switching sampler.

    Attributes
    ----------
    law : dict
        Complete token tuple (EOS included) -> probability.
    share_large : float
        ``E[large-model tokens] / E[tokens]``: the share of the target's tokens over many runs.
    mean_tokens : float
        ``E[tokens]`` per sequence.
    """

    law: dict
    share_large: float
    mean_tokens: float


def switching_law(small, large, compiled, *, threshold: float, window: int = 1, max_tokens: int = 64,
                  temperature: float | None = 1.0, prompt=()) -> SwitchingLaw:
    """Enumerate the law of :func:`~corral.samplers.entropy_switch.switching_sample_sequence` on toy models.

    Parameters
    ----------
    small, large : ToyModel
        Models with ``logprobs_of(context)`` and the same vocabulary ids.
    compiled : CompiledGrammar
        A finite language (the recursion visits every allowed prefix).
    threshold, window
        The rule (:class:`~corral.samplers.entropy_switch.EntropyRule`).
    max_tokens : int
        Sequences longer than this (EOS included) are left out, as in :func:`corral.testing.enumerate_laws`.
    temperature : float or None
    prompt : sequence of int
        The prompt (empty: the large model's BOS, as ``ToyModel.start`` does).

    Returns
    -------
    SwitchingLaw
    """
    size, eos = large.vocab.size, large.eos_token_id
    law, counts = {}, [0.0, 0.0]  # counts: E[tokens], E[large tokens]

    def rec(ctx: list[int], matcher, history: tuple, logq: float) -> None:
        if len(ctx) - len(start) >= max_tokens:
            return
        mask = np.array([matcher.check(t) for t in range(size)], dtype=bool)
        small_lp = _padded(small.logprobs_of(ctx), size)
        rule = EntropyRule(threshold, window)
        rule.history.extend(history)
        use_large = rule.push(masked_entropy(small_lp, mask))
        ids, logp = constrained_law(large.logprobs_of(ctx) if use_large else small_lp, mask, temperature=temperature)
        counts[0] += math.exp(logq)
        counts[1] += math.exp(logq) * use_large
        for t, lp in zip(ids.tolist(), logp.tolist()):
            if t == eos:
                law[tuple(ctx[len(start):]) + (t,)] = math.exp(logq + lp)
                continue
            child = matcher.fork()
            child.advance(t)
            rec(ctx + [t], child, tuple(rule.history), logq + lp)

    start = [int(t) for t in prompt] or [large.bos_token_id]
    rec(list(start), compiled.matcher(), (), 0.0)
    return SwitchingLaw(law, counts[1] / counts[0] if counts[0] else 0.0, counts[0])
