"""``type: string`` for the JSON Schema compiler: lengths, ``pattern``, ``format`` and their negations, combined
exactly as automata over the canonical string content; and the key patterns of ``patternProperties``."""

from __future__ import annotations

import json
import re

from corral.compile.json_schema import formats as fmt, regexes as rx
from corral.compile.json_schema.checks import count
from corral.compile.json_schema.long_strings import LONG_STRING, MAX_LONG_STRING, long_string
from corral.compile.json_schema.scalars import (content_dfa, content_of, lookaround_content, regex_of_dfa,
                                                register_length_dfa)
from corral.compile.json_schema.vocab import NOT_ENUM, NOT_FORMAT, NOT_PATTERN, PATTERNS
from corral.budget import is_size_limit
from corral.errors import SchemaError

__all__ = ["compile_string", "string_content", "format_content", "key_matches", "MAX_COMBINED_LENGTH"]

#: Largest ``minLength``/``maxLength`` combined with ``pattern``, ``format`` or a negation (a product automaton).
MAX_COMBINED_LENGTH = 256


def compile_string(b, node, pointer) -> str:
    """The terminal of the strings ``node`` allows (``never`` when none); a length bound above ``LONG_STRING``
    (up to ``MAX_LONG_STRING``) alone, without pattern, format or negation, compiles to a chain of chunks
    (:mod:`.long_strings`)."""
    lo = count(b, node, pointer, "minLength", 0)
    hi = count(b, node, pointer, "maxLength")
    if LONG_STRING < max(lo, hi or 0) <= MAX_LONG_STRING and _lengths_only(b, node, pointer):
        return b.never() if hi is not None and lo > hi else long_string(b, lo, hi)
    content = string_content(b, node, pointer)
    if content is None:
        return b.never()
    if "pattern" not in node:
        return b.term(f'"{content}"')
    outer, b.where = b.where, (b.kp(node, pointer, "pattern"), "pattern")  # a terminal past the budget is its error
    try:
        return b.term(f'"{content}"')
    finally:
        b.where = outer


def _lengths_only(b, node, pointer) -> bool:
    """Whether ``node`` constrains its strings by length only (a ``format`` that is an annotation counts as none:
    :func:`format_content` records it)."""
    if "pattern" in node or any(node.get(k) for k in (PATTERNS, NOT_PATTERN, NOT_ENUM, NOT_FORMAT)):
        return False
    return "format" not in node or format_content(b, node, pointer) is None


def format_content(b, node, pointer, name=None) -> str | None:
    """Content regex of ``node``'s ``format``; None when it is an annotation only (an unknown format name under
    ``formats="assert"``: recorded for the :class:`~corral.compile.json_schema.compiler.FormatAnnotationWarning`).

    Raises SchemaError (unsupported) for a format a draft defines that corral does not compile, and for an unknown
    one under ``formats="strict"``. ``name``: the format (default ``node["format"]``).
    """
    name = node["format"] if name is None else name
    content = fmt.format_regex(name, rx.UNIT) if isinstance(name, str) else None
    if content is not None:
        return content
    where = b.kp(node, pointer, "format")
    if getattr(b, "formats", "assert") == "assert" and not fmt.is_known_format(name):
        b.annotated_formats.setdefault(where, name)
        return None
    raise SchemaError(f"format {name!r} is not supported", pointer=where, keyword="format", kind="unsupported")


def _format_content(b, node, pointer, lo: int, hi: int | None) -> tuple[str | None, bool]:
    """(content regex of the ``format``, None for an annotation; whether its strings all have one length within
    ``[lo, hi]``)."""
    content = format_content(b, node, pointer)
    if content is None:
        return None, False
    fixed = fmt.FIXED_LENGTH.get(node["format"])
    if fixed is not None and (fixed < lo or (hi is not None and fixed > hi)):
        raise SchemaError(f"format {node['format']!r} strings have length {fixed}",
                          pointer=b.kp(node, pointer, "format"), keyword="format", kind="unsatisfiable")
    return content, fixed is not None


def string_content(b, node, pointer) -> str | None:
    """Regex for the canonical content of the strings ``node`` allows (None: none)."""
    lo = count(b, node, pointer, "minLength", 0)
    hi = count(b, node, pointer, "maxLength")
    must: list[tuple[str, str]] = []  # (content regex, keyword)
    if "format" in node:
        content, fixed = _format_content(b, node, pointer, lo, hi)
        if fixed:
            lo, hi = 0, None
        if content is not None:
            must.append((content, "format"))
    pats = ([node["pattern"]] if "pattern" in node else []) + list(node.get(PATTERNS, ()))
    if lo or hi is not None or not (must or pats):  # a pattern's content regex is within UNIT* already
        must.append((rx.string_regex(lo, hi)[1:-1], "minLength" if "minLength" in node else "maxLength"))
    for p in pats:
        must.append((pattern_content(b, p, node, pointer), "pattern"))
    nots = [pattern_content(b, p, node, pointer) for p in node.get(NOT_PATTERN, ())]
    nots += [c for c in (format_content(b, node, pointer, f) for f in node.get(NOT_FORMAT, ())) if c is not None]
    names = [v for v in node.get(NOT_ENUM, ()) if isinstance(v, str)]
    if names:
        nots.append("|".join(re.escape(content_of(v)) for v in names))
    bounded = bool(lo) or hi is not None  # then must holds UNIT{lo,hi}: its DFA is built directly
    if len(must) == 1 and not nots:
        if bounded:
            register_length_dfa(lo, hi, quoted=True)
        if rx.CONTENT_START in must[0][0] and content_dfa(must[0][0]).is_empty:
            return None  # a "^" after a character: no string matches (a terminal must match one)
        return must[0][0]
    if bounded:
        register_length_dfa(lo, hi, quoted=False)
    kw = "pattern" if pats else must[0][1]
    if nots and not pats:
        kw = "not"
    if max(lo, hi or 0) > MAX_COMBINED_LENGTH:
        key = "maxLength" if (hi or 0) > MAX_COMBINED_LENGTH else "minLength"
        raise SchemaError(f"{key} above {MAX_COMBINED_LENGTH} together with pattern, format or not is not "
                          "supported", pointer=b.kp(node, pointer, kw if kw != "maxLength" else key),
                          keyword=kw if kw != "maxLength" else key, kind="unsupported")
    return _combined(b, node, pointer, must, nots, kw)


def _combined(b, node, pointer, must, nots, kw: str) -> str | None:
    """Regex for the intersection of the ``must`` content regexes minus the ``nots`` (None: empty)."""
    from corral.automata.operations import dfa_difference, dfa_intersection

    try:
        dfa = content_dfa(must[0][0])
        for regex, _ in must[1:]:
            dfa = dfa_intersection(dfa, content_dfa(regex))
        for regex in nots:
            dfa = dfa_difference(dfa, content_dfa(f"(?:{regex})"))
    except SchemaError:
        raise
    except (MemoryError, ValueError) as exc:
        raise SchemaError(f"the string constraints cannot be combined: {exc}", pointer=b.kp(node, pointer, kw),
                          keyword=kw, kind="too_complex" if is_size_limit(exc) else "unsupported") from None
    spelled = lookaround_content([regex for regex, _ in must], nots)
    return regex_of_dfa(dfa, b.kp(node, pointer, kw), kw, spelled)


def pattern_content(b, pattern, node, pointer) -> str:
    """The content regex of the ECMAScript ``pattern`` of ``node`` (unsupported when it cannot be exact)."""
    if not isinstance(pattern, str):
        raise SchemaError("pattern must be a string", pointer=b.kp(node, pointer, "pattern"), keyword="pattern")
    try:
        return rx.pattern_regex(pattern)
    except rx.PatternUnsupported as exc:
        raise SchemaError(f"pattern {pattern!r} cannot be compiled exactly: {exc}",
                          pointer=b.kp(node, pointer, "pattern"), keyword="pattern", kind="unsupported") from None


def key_matches(pattern, name: str, pointer: str) -> bool:
    """Whether the key ``name`` matches the ``patternProperties`` pattern ``pattern`` (found at ``pointer``)."""
    try:
        regex = rx.pattern_regex(pattern)
    except rx.PatternUnsupported as exc:
        raise SchemaError(f"pattern {pattern!r} cannot be compiled exactly: {exc}", pointer=pointer,
                          keyword="patternProperties", kind="unsupported") from None
    return re.fullmatch(regex, json.dumps(name, ensure_ascii=False)[1:-1]) is not None
