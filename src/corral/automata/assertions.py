"""Lookaround and inner anchors in the Thompson NFA of :mod:`corral.automata.nfa`.

An assertion becomes a *check state*: an NFA state entered by an epsilon edge, which the subset construction of
:mod:`corral.automata.lookaround` only lets a run through when the assertion holds at that position. Each assertion
keeps a sub-NFA (in the same :class:`~corral.automata.nfa._NFA`, sharing its leaves) for the language it tests:

* a lookahead ``(?=X)`` / ``(?!X)`` at position ``i`` of ``s`` tests ``s[i:]`` against ``X·Σ*`` (``X`` matched as a
  prefix of the rest of the string; a ``\\Z`` or ``$`` at the very end of ``X`` pins the end of the string instead);
* a lookbehind ``(?<=B)`` / ``(?<!B)`` tests ``s[:i]`` against ``Σ*·B`` (Python only allows fixed-width ``B``, so
  this is "the ``w`` characters before ``i`` match ``B``", and fails when fewer than ``w`` precede).

Anchors that do not trivially hold where they stand are assertions too: ``\\A`` (and ``^`` without ``re.M``) is
``(?<![\\s\\S])``, ``^`` with ``re.M`` is ``(?<![^\\n])``, ``\\Z`` is ``(?![\\s\\S])``, ``$`` without ``re.M`` is
``(?!(?s:..)|[^\\n])`` and ``$`` with ``re.M`` is ``(?![^\\n])``.

A lookahead body may not look behind its own position (a lookbehind, ``^`` or ``\\A`` inside it), nor a lookbehind
body ahead of its own (a lookahead, ``$`` or ``\\Z``): those raise the construct's ``_Unsupported``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from re import _constants as C

from corral.automata.charsets import char_set

__all__ = ["Assertion", "build_assertion", "build_anchor", "body_language"]

_M = int(re.M)
_BEHIND_KINDS = ("lookbehind", "neg_lookbehind", "^", "\\A")


@dataclass
class Assertion:
    """One assertion of an NFA: its kind (``"ahead"`` or ``"behind"``), polarity, and the sub-NFA of its language
    (``start`` to ``final``). :func:`corral.automata.lookaround.compile_assertions` fills in the character-class
    DFA of that language: ``table`` (rows of next states, ``-1`` dead), ``accepting`` and ``universal`` (the state
    accepts every continuation)."""

    kind: str
    negative: bool
    start: int
    final: int
    table: list = field(default_factory=list, repr=False)
    accepting: list = field(default_factory=list, repr=False)
    universal: list = field(default_factory=list, repr=False)


def _sigma(nfa) -> int:
    """The leaf id of every character (``(?s:.)``)."""
    return nfa.leaf(char_set(C.ANY, None, False, False, True))


def _not_newline(nfa) -> int:
    """The leaf id of every character but ``\\n``."""
    return nfa.leaf(char_set(C.NOT_LITERAL, 10, False, False, True))


def _refuse(nfa, kind: str, index: int, behind: bool) -> None:
    """``_Unsupported`` when an assertion looks the other way than the body being built allows."""
    from corral.automata.limits import _Unsupported

    if nfa.mode == "ahead" and behind:
        raise _Unsupported(kind, index, " inside a lookahead (it would look before the lookahead's position)")
    if nfa.mode == "behind" and not behind:
        raise _Unsupported(kind, index, " inside a lookbehind (it would look past the lookbehind's position)")


def _register(nfa, kind: str, negative: bool, start: int, final: int, s: int) -> int:
    """Record the assertion and link a check state for it after ``s``; returns the check state."""
    nfa.assertions.append(Assertion(kind, negative, start, final))
    check = nfa.new()
    nfa.checks[check] = len(nfa.assertions) - 1
    nfa.eps[s].append(check)
    return check


def _ahead_body(nfa, build) -> tuple[int, int]:
    """The sub-NFA ``X·Σ*`` of a lookahead body, ``build(start, open_final, exact_final)`` building ``X`` from
    ``start`` and returning its end (which continues into ``Σ*``; a pinned end goes to ``exact_final``)."""
    start, open_final, exact_final, final = nfa.new(), nfa.new(), nfa.new(), nfa.new()
    nfa.edges[open_final].append((_sigma(nfa), open_final))
    nfa.eps[open_final].append(final)
    nfa.eps[exact_final].append(final)
    nfa.eps[build(start, open_final, exact_final)].append(open_final)
    return start, final


def _behind_body(nfa, build) -> tuple[int, int]:
    """The sub-NFA ``Σ*·B`` of a lookbehind body, ``build(start)`` building ``B`` and returning its end."""
    start = nfa.new()
    nfa.edges[start].append((_sigma(nfa), start))
    return start, build(start)


def build_assertion(nfa, kind: str, negative: bool, av, flags: int, s: int, index: int) -> int:
    """Build the parse item ``(?=X)``, ``(?!X)``, ``(?<=B)`` or ``(?<!B)`` (``av``: its ``(direction, items)``)
    after state ``s`` of ``nfa``; returns the state after it. ``kind`` names it as in ``nfa._CONSTRUCTS`` and
    ``index`` counts its earlier occurrences (for the error position)."""
    direction, items = av
    behind = direction != 1
    _refuse(nfa, kind, index, behind)
    start, final = body_language(nfa, items, flags, behind)
    return _register(nfa, "behind" if behind else "ahead", negative, start, final, s)


def body_language(nfa, items, flags: int, behind: bool) -> tuple[int, int]:
    """Build the sub-NFA ``(start, final)`` of the language a lookaround body ``items`` tests: ``X·Σ*`` over the
    rest of the string for a lookahead, ``Σ*·B`` over the prefix for a lookbehind."""
    saved, saved_ends = nfa.mode, nfa.ends
    nfa.mode = "behind" if behind else "ahead"
    try:
        if behind:
            return _behind_body(nfa, lambda b: nfa.seq(items, b, flags, False, False))

        def build(b, open_final, exact_final):
            nfa.ends = (open_final, exact_final)
            return nfa.seq(items, b, flags, False, False, tail=True)
        return _ahead_body(nfa, build)
    finally:
        nfa.mode, nfa.ends = saved, saved_ends


def _pinned_end(nfa, kind: str, flags: int, s: int) -> int:
    """An end anchor at the very end of a lookahead body: the body's match ends the string (``\\Z``; ``$`` also
    before a final newline; ``$`` with ``re.M`` also before any newline). Returns a fresh, unreachable state (the
    anchor's successors are the body's finals, reached here)."""
    open_final, exact_final = nfa.ends
    nfa.eps[s].append(exact_final)
    if kind == "$":
        nfa.edges[s].append((nfa.leaf(char_set(C.LITERAL, 10, False, False, True)),
                             open_final if flags & _M else exact_final))
    return nfa.new()


def build_anchor(nfa, kind: str, flags: int, s: int, index: int, tail: bool) -> int:
    """Build an anchor (``^``, ``$``, ``\\A``, ``\\Z``) that does not trivially hold where it stands, after state
    ``s``: as the equivalent assertion (see the module docstring), or, at the very end of a lookahead body
    (``tail``), as a pinned end. Returns the state after it."""
    behind = kind in _BEHIND_KINDS
    _refuse(nfa, kind, index, behind)
    if tail and not behind and nfa.mode == "ahead":
        return _pinned_end(nfa, kind, flags, s)
    multiline = bool(flags & _M) and kind in ("^", "$")
    if behind:
        leaf = _not_newline(nfa) if multiline else _sigma(nfa)
        start, final = _behind_body(nfa, lambda b: _edge(nfa, b, leaf))
        return _register(nfa, "behind", True, start, final, s)

    def build(b, open_final, exact_final):
        if multiline or kind == "\\Z":
            return _edge(nfa, b, _not_newline(nfa) if multiline else _sigma(nfa))
        end = _edge(nfa, _edge(nfa, b, _sigma(nfa)), _sigma(nfa))  # two characters, or one that is not "\n"
        nfa.eps[_edge(nfa, b, _not_newline(nfa))].append(end)
        return end
    start, final = _ahead_body(nfa, build)
    return _register(nfa, "ahead", True, start, final, s)


def _edge(nfa, s: int, leaf: int) -> int:
    """A new state reached from ``s`` on ``leaf``."""
    t = nfa.new()
    nfa.edges[s].append((leaf, t))
    return t
