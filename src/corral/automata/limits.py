"""Limits shared by the regex automata builders (:mod:`corral.automata.nfa`, :mod:`~corral.automata.assertions`,
:mod:`~corral.automata.lookaround`): the construct-refusal exception and the subset construction's state cap."""

from __future__ import annotations

from corral.budget import current_budget

__all__ = ["_Unsupported", "_max_dfa_states"]


class _Unsupported(Exception):
    """A construct the NFA cannot express (``kind``, a key of ``_CONSTRUCTS``), its ``index``-th occurrence."""

    def __init__(self, kind: str, index: int, detail: str = ""):
        super().__init__(kind)
        self.kind, self.index, self.detail = kind, index, detail


def _max_dfa_states() -> int:
    """The most DFA states one subset construction may build: the compile budget's ``states`` (default
    50,000), capped so that the native pool stays addressable."""
    return min(current_budget().states, 1 << 24)
