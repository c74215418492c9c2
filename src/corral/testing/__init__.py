"""Invariant checks for constraint states, grammars and samplers, for users testing their own (and for corral's tests).

Like xgrammar's ``testing.py`` and genlm-control's ``PotentialTests``, these are the checks corral's own test suite
runs, shipped as plain functions so that a user with a new grammar, vocabulary or
:class:`~corral.protocols.ConstraintState` implementation gets the same guarantees:

* :func:`check_matcher_invariants`: the one-call entry point. It runs random walks over the allowed tokens of a
  grammar (or of any constraint state) and checks at every step that ``mask()[t] == check(t)`` for every token,
  that EOS is allowed iff ``is_complete()``, that every allowed token can be advanced and rolled back (and
  disallowed ones raise ``ValueError``), that ``fork`` gives an independent copy, and, given an ``oracle``, that
  the text so far is complete iff the oracle accepts it.
* :func:`random_walk` and :func:`assert_step_invariants`: the same checks, one walk or one step at a time.
* :func:`synthetic_vocab` and :func:`synthetic_vocab_for`: tiny byte-level vocabularies that reach deep into a
  language (single symbols, pairs, literals), so a walk can check every token at every step.
* :func:`lark_oracle` and :func:`lark_accepts`: lark's own Earley parser (``lexer="dynamic_complete"``, the
  language semantics corral implements) as the membership oracle.
* :func:`chi2_pvalue`: Pearson's chi-square goodness of fit of samples against an exact law (the
  sequence-level faithfulness tests of ALGORITHMS.md section 5).

Modules: :mod:`corral.testing.invariants` (the checks and walks), :mod:`corral.testing.vocab` (the synthetic
vocabularies), :mod:`corral.testing.oracles` (the lark oracle), :mod:`corral.testing.laws` (exact laws by
enumeration: :func:`enumerate_laws`, :func:`tv`, :func:`chi2_pvalue`).

Every check raises ``AssertionError`` with the walk, the step, the text so far, the token and what was expected
against what was found. ``import corral.testing`` imports numpy only: lark, the compiler and the runtime are
imported on first use, torch never.

Examples
--------
>>> from corral.testing import check_matcher_invariants, lark_oracle
>>> grammar = 'start: "(" start ")" start | '
>>> walks = check_matcher_invariants(grammar, walks=2, steps=6, oracle=lark_oracle(grammar))
"""

from corral.testing.invariants import assert_step_invariants, check_matcher_invariants, random_walk
from corral.testing.laws import chi2_pvalue, enumerate_laws, tv
from corral.testing.oracles import lark_accepts, lark_oracle
from corral.testing.vocab import SYNTHETIC_EOS, synthetic_vocab, synthetic_vocab_for

__all__ = [
    "SYNTHETIC_EOS",
    "assert_step_invariants",
    "check_matcher_invariants",
    "chi2_pvalue",
    "enumerate_laws",
    "lark_accepts",
    "lark_oracle",
    "random_walk",
    "synthetic_vocab",
    "synthetic_vocab_for",
    "tv",
]
