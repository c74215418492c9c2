"""The keys of an object outside its declared names, split into disjoint classes by the patterns they match
(automata), and the conjunction of located schemas: shared by the object branch
(:mod:`~corral.compile.json_schema.objects`) and its required key languages
(:mod:`~corral.compile.json_schema.witness`)."""

from __future__ import annotations

import re
from contextlib import contextmanager

from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.scalars import content_dfa, content_of, key_complement_content_dfa, lookaround_content
from corral.errors import SchemaError

__all__ = ["MAX_KEY_CLASSES", "conj", "key_languages", "key_language_errors", "spelled_key_class", "split_classes"]

MAX_KEY_CLASSES = 64


def conj(parts):
    """A schema for the conjunction of located schemas (None: it is ``false``)."""
    live = [(s, p) for s, p in parts if s is not True]
    if any(s is False for s, _ in live):
        return None
    if not live:
        return (True, parts[0][1] if parts else "")
    if len(live) == 1:
        return live[0]
    return (Sub("all", live), live[0][1])


def spelled_key_class(names, patterns, pn, sel: tuple) -> str:
    """The key class of :func:`key_languages` matching exactly the patterns ``sel``, spelled with lookaheads
    (:func:`~corral.compile.json_schema.scalars.lookaround_content`): used where its automaton's regex is too large."""
    musts = [rx.UNIT + "*"] + [rx.pattern_regex(q) for q in sel] + ([pn] if pn is not None else [])
    nots = [rx.pattern_regex(q) for q in patterns if q not in sel]
    if names:
        nots.append("|".join(re.escape(content_of(x)) for x in dict.fromkeys(names)))
    return lookaround_content(musts, nots)


def split_classes(classes: list, dfa, tag, where: str, keyword: str) -> list:
    """Each ``(key, lang)`` of ``classes`` split into ``(tag(key, True), lang ∩ dfa)`` and ``(tag(key, False),
    lang − dfa)``, empty parts dropped; unsupported past :data:`MAX_KEY_CLASSES` classes."""
    from corral.automata.operations import dfa_difference, dfa_intersection

    out = []
    for key, lang in classes:
        for inside, part in ((True, dfa_intersection(lang, dfa)), (False, dfa_difference(lang, dfa))):
            if not part.is_empty:
                out.append((tag(key, inside), part))
    if len(out) > MAX_KEY_CLASSES:
        raise SchemaError(f"more than {MAX_KEY_CLASSES} key classes", pointer=where, keyword=keyword,
                          kind="unsupported")
    return out


@contextmanager
def key_language_errors(where: str, keyword: str):
    """Automaton size limits met while computing key languages, as an unsupported SchemaError at ``where``."""
    try:
        yield
    except SchemaError:
        raise
    except (MemoryError, ValueError) as exc:
        raise SchemaError(f"the key languages cannot be computed: {exc}", pointer=where, keyword=keyword,
                          kind="unsupported") from None


def key_languages(names, patterns, pn, where: str, keyword: str, kp) -> list[tuple[tuple, object]]:
    """The keys outside ``names`` that ``pn`` allows, split into disjoint DFAs by the patterns they match:
    ``[(patterns matched, DFA)]``."""
    from corral.automata.operations import dfa_intersection

    with key_language_errors(where, keyword):
        base = content_dfa(rx.UNIT + "*")
        if names:
            base = key_complement_content_dfa(names)
        if pn is not None:
            base = dfa_intersection(base, content_dfa(f"(?:{pn})"))
        classes = [((), base)] if not base.is_empty else []
        for q in patterns:
            try:
                regex = rx.pattern_regex(q)
            except rx.PatternUnsupported as exc:
                raise SchemaError(f"pattern {q!r} cannot be compiled exactly: {exc}",
                                  pointer=kp("patternProperties", q), keyword="patternProperties",
                                  kind="unsupported") from None
            classes = split_classes(classes, content_dfa(regex), lambda sel, inside: sel + (q,) if inside else sel,
                                    where, keyword)
    return classes
