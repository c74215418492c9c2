"""Tools for writing grammars and schemas: test strings against them and see why one is rejected
(:mod:`corral.authoring.diagnose`), and see strings of the language (:mod:`corral.authoring.examples`)."""

from corral.authoring.diagnose import CheckTable, Diagnosis, check_text, check_texts
from corral.authoring.examples import examples

__all__ = ["Diagnosis", "CheckTable", "check_text", "check_texts", "examples"]
