"""Drafters for speculative decoding: where draft tokens come from.

A drafter proposes the next draft token given the context (prompt, committed tokens and the tokens drafted so far
in this round) and the constraint's mask at that position. A proposal is either a *distribution* (the draft
model's log-probabilities: the round masks it with the same mask as the target and samples from it) or a single
*token* (``q = δ``: n-gram lookup, grammar fast-forward). Whatever a drafter proposes, verification
(:mod:`corral.samplers.speculative`) keeps the output law exact; drafters only change the speed.

Modules:

* :mod:`corral.drafters.base`: :class:`Drafter`, :class:`CompositeDrafter` (proposals are
  :class:`corral.protocols.Proposal`);
* :mod:`corral.drafters.model`: :class:`ModelDrafter` (any LM sharing the target's vocabulary);
* :mod:`corral.drafters.ngram`: :class:`NGramDrafter` (training-free, online, prompt lookup);
* :mod:`corral.drafters.forced`: :class:`FastForwardDrafter` (byte-level forced strings of the grammar);
* :mod:`corral.drafters.policy`: :class:`AdaptivePolicy` (SpecDec++-style threshold), :class:`FixedPolicy`;
* :mod:`corral.drafters.auto`: :class:`AutoDrafter` (``draft="auto"``: per position, the drafter or none that
  maximises expected tokens per second), with its cost model in :mod:`corral.drafters.costs` (measured costs) and
  :mod:`corral.drafters.choice` (acceptance estimates and the decision rule);
* :mod:`corral.drafters.factory`: :func:`make_drafter`: ``None | "auto" | "ngram" | "forced" | model | path`` -> a
  drafter.
"""

from corral.drafters.auto import AutoDrafter
from corral.drafters.base import CompositeDrafter, Drafter
from corral.drafters.factory import make_drafter
from corral.drafters.forced import FastForwardDrafter
from corral.drafters.model import ModelDrafter
from corral.drafters.ngram import NGramDrafter
from corral.drafters.policy import AdaptivePolicy, FixedPolicy, make_policy

__all__ = [
    "AdaptivePolicy",
    "AutoDrafter",
    "CompositeDrafter",
    "Drafter",
    "FastForwardDrafter",
    "FixedPolicy",
    "ModelDrafter",
    "NGramDrafter",
    "make_drafter",
    "make_policy",
]
