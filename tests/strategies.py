"""Shared hypothesis strategies for the tests."""

from __future__ import annotations

from hypothesis import strategies as st


@st.composite
def mutated(draw, seeds, alphabet):
    """A string from ``seeds`` with up to three random edits (delete, replace, insert) from ``alphabet``: strings
    near the boundary of a language, valid and invalid alike."""
    s = list(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 3))):
        op, i = draw(st.integers(0, 2)), draw(st.integers(0, len(s)))
        if op == 0 and i < len(s):
            del s[i]
        elif op == 1 and i < len(s):
            s[i] = draw(st.sampled_from(alphabet))
        else:
            s.insert(i, draw(st.sampled_from(alphabet)))
    return "".join(s)
