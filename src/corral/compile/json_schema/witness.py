"""Objects that must have a key of a given language: the internal keyword
:data:`~corral.compile.json_schema.vocab.SOME_KEY` (made by the negations of ``propertyNames``,
``patternProperties: {P: false}`` and ``additionalProperties: false``, :mod:`~corral.compile.json_schema.negations`).

``SOME_KEY: [K1, K2, ...]`` (string schemas) holds iff, for each ``Ki``, some key of the object satisfies ``Ki``,
whatever its value. The object branch (:mod:`~corral.compile.json_schema.objects`) tracks which of them a member
seen so far satisfies (a bit mask, one bit per ``Ki``) and closes the object only when all are: each declared name
has the mask of the ``Ki`` it satisfies, and the other keys' classes are split by each ``Ki`` (automata), each part
with its mask. A text may repeat a key, but its last occurrence has the same key, so the parsed object still has it:
exact.
"""

from __future__ import annotations

import re

from corral.compile.json_schema.key_classes import conj, key_language_errors, key_languages, split_classes
from corral.compile.json_schema.scalars import content_dfa, content_of, regex_of_dfa
from corral.compile.json_schema.strings import string_content
from corral.compile.json_schema.vocab import SOME_KEY
from corral.errors import SchemaError

__all__ = ["MAX_WITNESSES", "witness_members"]

#: The most ``SOME_KEY`` requirements one object may carry (the states of an object multiply by 2 ** this).
MAX_WITNESSES = 4


def witness_members(b, node, pointer: str, names: list, patterns: dict, extra, pn, kp):
    """``(need, name_masks, classes, class_masks)`` for the ``SOME_KEY`` requirements of the object ``node``.

    ``need`` is the mask of every requirement; ``name_masks[i]`` the requirements ``names[i]`` satisfies;
    ``classes`` the ``(key terminal, value nonterminal)`` of the keys outside ``names`` (as
    :func:`~corral.compile.json_schema.objects._key_classes` builds them, ``pn`` being the ``propertyNames``
    content regex, None for all, ``False`` for none), split by the requirements, ``class_masks`` their masks.
    """
    reqs = node[SOME_KEY]
    if len(reqs) > MAX_WITNESSES:
        raise SchemaError(f"more than {MAX_WITNESSES} negated propertyNames/patternProperties/additionalProperties "
                          "conjoined in one object are not supported", pointer=pointer, keyword="not",
                          kind="unsupported")
    need = (1 << len(reqs)) - 1
    contents = [string_content(b, r, pointer) for r in reqs]
    if any(c is None for c in contents):  # a requirement no string satisfies: no object closes
        return need, [0] * len(names), [], []
    name_masks = [sum(1 << i for i, c in enumerate(contents) if re.fullmatch(c, content_of(n))) for n in names]
    if pn is False:
        return need, name_masks, [], []
    where = kp("patternProperties") if patterns else pointer
    keyword = "patternProperties" if patterns else "not"
    with key_language_errors(where, keyword):
        classes = [((sel, 0), lang) for sel, lang in key_languages(names, patterns, pn, where, keyword, kp)]
        for i, c in enumerate(contents):
            classes = split_classes(classes, content_dfa(f"(?:{c})"),
                                    lambda key, inside: (key[0], key[1] | 1 << i) if inside else key, where, keyword)
    out, masks = [], []
    for (sel, mask), lang in classes:
        parts = [(patterns[q], kp("patternProperties", q)) for q in sel] if sel else \
            [(extra, kp("additionalProperties"))]
        c = conj(parts)
        val = None if c is None else b.attempt(b.child, *c)
        regex = regex_of_dfa(lang, where, keyword) if val is not None else None
        if regex is not None:
            out.append((b.term(f'"(?:{regex})"'), val))
            masks.append(mask)
    return need, name_masks, out, masks
