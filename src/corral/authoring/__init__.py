"""Tools for writing grammars and schemas: test strings against them and see why one is rejected
(:mod:`corral.authoring.diagnose`)."""

from corral.authoring.diagnose import CheckTable, Diagnosis, check_text, check_texts

__all__ = ["Diagnosis", "CheckTable", "check_text", "check_texts"]
