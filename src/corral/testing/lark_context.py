"""The oracle's terminal matcher for lark's dynamic Earley scanner (:func:`corral.testing.oracles.lark_oracle`):
each terminal's longest full match near lark's own, with the lookaheads of the terminal's regex seeing the text
after the lexeme, as lark's ``re.match`` over the whole input does.

lark's ``dynamic_complete`` scanner takes ``re.match(text, i)``, then matches each prefix ``s[:-j]`` of that
lexeme as a string of its own, where a lookahead at its end sees nothing. The oracle instead matches a candidate
lexeme ``text[i:e]`` *in context*: the regex must have a match at ``i`` that ends exactly at ``e``, its assertions
evaluated on the whole text. For a regex without lookahead that is ``re.fullmatch(text, i, e)``; with one, the
regex followed by ``(?=[\\s\\S]{R}\\Z)`` (``R = len(text) - e``, pinning the end) matched at ``i``. Prefixes stay in
context because the lexeme lark slices is a :class:`_Lexeme` that remembers where it lies in the text.
"""

from __future__ import annotations

import functools
import re

__all__ = ["contextual_matcher"]

_BEYOND = 32  # characters past re.match's match within which a longer full match is looked for


class _Lexeme(str):
    """A lexeme that remembers the text it was cut from and where (its prefixes too)."""

    stream: str
    start: int

    def __new__(cls, value: str, stream: str, start: int) -> "_Lexeme":
        obj = str.__new__(cls, value)
        obj.stream, obj.start = stream, start
        return obj

    def __getitem__(self, key):
        part = str.__getitem__(self, key)
        if isinstance(key, slice) and key.start in (None, 0) and key.step in (None, 1):
            return _Lexeme(part, self.stream, self.start)
        return part


class _Match:
    """What lark's scanner reads of a match: ``group(0)`` and ``end()``."""

    def __init__(self, lexeme: _Lexeme, end: int) -> None:
        self._lexeme, self._end = lexeme, end

    def group(self, index: int = 0) -> str:
        """The lexeme (only group 0 is asked for)."""
        return self._lexeme

    def end(self) -> int:
        """The end of the match in the string the scanner passed."""
        return self._end


@functools.lru_cache(maxsize=4096)
def _pinned(pattern: str, flags: int, rest: int) -> re.Pattern | None:
    """``pattern`` followed by "exactly ``rest`` characters remain" (``None`` if that does not compile)."""
    try:
        return re.compile(f"(?:{pattern})(?=[\\s\\S]{{{rest}}}\\Z)", flags)
    except re.error:
        return None


def _ends_here(rx: re.Pattern, stream: str, start: int, end: int, context: bool) -> bool:
    """Whether ``rx`` has a match at ``start`` ending exactly at ``end``, its lookaheads seeing all of ``stream``
    when ``context`` (else the text up to ``end``)."""
    pinned = _pinned(rx.pattern, rx.flags, len(stream) - end) if context else None
    if pinned is None:
        return rx.fullmatch(stream, start, end) is not None
    return pinned.match(stream, start) is not None


def _longest(rx: re.Pattern, stream: str, start: int, limit: int, context: bool) -> int | None:
    """The end of the longest in-context match of ``rx`` at ``start`` ending by ``limit``, looked for up to
    ``_BEYOND`` characters past ``re.match``'s own (which is the answer when none is longer)."""
    first = rx.match(stream, start)
    base = first.end() if first is not None and first.end() <= limit else start
    for end in range(min(limit, base + _BEYOND), base, -1):
        if _ends_here(rx, stream, start, end, context):
            return end
    return base if base > start else None


def contextual_matcher(regexps: dict):
    """A ``term_matcher`` for lark's dynamic Earley scanner over lark's compiled ``regexps`` (name -> pattern):
    ``matcher(term, text, index=0)`` -> a match object or ``None`` (see the module docstring)."""

    def matcher(term, text, index=0):
        rx = regexps[term.name]
        context = "(?=" in rx.pattern or "(?!" in rx.pattern  # without lookahead, the text up to the end decides
        if context and isinstance(text, _Lexeme) and index == 0:  # a prefix lark sliced off a lexeme
            stream, start, limit, offset = text.stream, text.start, text.start + len(text), text.start
        else:
            stream, start, limit, offset = text, index, len(text), 0
        end = _longest(rx, stream, start, limit, context)
        if end is None:
            return None
        return _Match(_Lexeme(stream[start:end], stream, start), end - offset)

    return matcher
