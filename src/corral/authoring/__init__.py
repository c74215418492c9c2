"""Tools for writing grammars and schemas: test strings against them and see why one is rejected
(:mod:`corral.authoring.diagnose`), see strings of the language (:mod:`corral.authoring.examples`), look at tokens
(:mod:`corral.authoring.tokens`), find likely defects in a grammar (:mod:`corral.authoring.linting`), render them in
notebooks (:mod:`corral.authoring.html`) and plot what a sampler did (:mod:`corral.authoring.plots`, with
matplotlib)."""

from corral.authoring.diagnose import CheckTable, Diagnosis, check_text, check_texts
from corral.authoring.examples import examples
from corral.authoring.linting import Finding, LintReport, lint
from corral.authoring.tokens import AllowedTokens, TokenView, allowed_tokens, token_view

__all__ = ["Diagnosis", "CheckTable", "check_text", "check_texts", "examples", "AllowedTokens", "TokenView",
           "allowed_tokens", "token_view", "Finding", "LintReport", "lint"]
