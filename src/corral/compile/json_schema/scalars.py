"""Regular languages of strings for the JSON Schema compiler, as automata over the canonical JSON string content:
content DFAs and their regexes, the keys other than the declared names, and length-bounded strings (built
directly, without compiling their regex text)."""

from __future__ import annotations

import json
import re

from corral.compile.json_schema import regexes as rx
from corral.errors import SchemaError

__all__ = ["content_dfa", "content_of", "regex_of_dfa", "lookaround_content", "key_complement_pattern", "key_complement_content_dfa",
           "key_complement_content_dfa_py", "register_length_dfa", "length_dfa"]

MAX_KEY_REGEX = 200_000


def content_dfa(regex: str):
    """The byte DFA of a content regex (over canonical JSON string content)."""
    from corral.automata.regex import compile_regex

    return compile_regex(regex)


def regex_of_dfa(dfa, pointer: str, keyword: str, spelled: str | None = None) -> str | None:
    """A regex for a content DFA (None: empty); where its regex is too large, ``spelled`` (an equivalent content
    regex the caller wrote with lookarounds, :func:`lookaround_content`) with the DFA registered under it, else a
    too_complex SchemaError."""
    from corral.automata.operations import dfa_to_regex

    if dfa.is_empty:
        return None
    try:
        regex = dfa_to_regex(dfa, MAX_KEY_REGEX)
    except ValueError:  # over MAX_KEY_REGEX: a size limit
        if spelled is None:
            raise SchemaError("the combined string language is too large to compile", pointer=pointer,
                              keyword=keyword, kind="too_complex") from None
        regex = spelled
    if regex is not None and len(regex) > 2000 or regex is spelled:
        # The terminals '"<regex>"' and '"(?:<regex>)"' are this DFA between quotes: register it, so that compiling
        # the grammar does not parse and determinise a huge regex again.
        from corral.automata.operations import dfa_between, has_top_level_alternation
        from corral.automata.regex import register_dfa

        quoted = dfa_between(b'"', dfa, b'"', f'"{regex}"')
        if quoted is not None:
            if not has_top_level_alternation(regex):
                register_dfa(f'"{regex}"', quoted)
            register_dfa(f'"(?:{regex})"', quoted)
        if regex is spelled:
            register_dfa(regex, dfa)
            register_dfa(f"(?:{regex})", dfa)
    return regex


def lookaround_content(musts: list[str], nots: list[str]) -> str:
    """One content regex for the contents in every ``musts`` regex and in no ``nots`` one (all within ``UNIT*``),
    written with lookaheads: ``(?=(?:A)(?:"|\\Z))(?!(?:N)(?:"|\\Z))(?:B)``.

    Exact for ``re.fullmatch`` over a content and inside the quotes of a JSON string alike: a regex within
    ``UNIT*`` only ends at a unit boundary, where the next character is the closing quote or the end, never the
    ``"`` of an escaped ``\\"`` (which follows a backslash inside one unit). Its length is the sum of the operands',
    where the regex of their product automaton can be exponentially longer.
    """
    end = '(?:"|\\Z)'
    looks = [f"(?=(?:{m}){end})" for m in musts[1:]] + [f"(?!(?:{n}){end})" for n in nots]
    return "".join(looks) + f"(?:{musts[0]})"


def key_complement_pattern(names) -> str:
    """``regexes.key_complement_regex(names)`` (a quoted JSON string whose value is none of ``names``), with its
    DFA (string content minus the names, between quotes, built directly by :func:`key_complement_content_dfa`)
    registered so that compiling the grammar does not parse and determinise the regex again."""
    from corral.automata.bytedfa import ByteDFA
    from corral.automata.operations import dfa_between
    from corral.automata.regex import register_dfa, registered_dfa

    regex = rx.key_complement_regex(names)
    if registered_dfa(regex) is not None:  # the same names before (objects often repeat their property sets)
        return regex
    tables = _key_complement_tables(names)
    if tables is None:  # too many names: the regex is compiled from its text instead
        return regex
    # register_dfa minimises: the content tables go between the quotes as built (saves one minimisation).
    quoted = dfa_between(b'"', ByteDFA(*tables, "key complement"), b'"', regex)
    if quoted is not None:
        register_dfa(regex, quoted)
    return regex


def key_complement_content_dfa(names):
    """The DFA of the canonical JSON string contents (``UNIT*``) other than those of ``names``.

    Built directly: the product of the byte trie of the names' contents with the ``UNIT*`` DFA (a trie node, or
    the ``UNIT*`` state reached after leaving the trie), then minimised. The same tables as
    :func:`key_complement_content_dfa_py` (the specification; the tests compare the two).
    """
    from corral.automata.bytedfa import ByteDFA

    tables = _key_complement_tables(names)
    if tables is None:  # beyond the product's size limit: the specification raises as it always did
        return key_complement_content_dfa_py(names)
    return ByteDFA.from_tables(*tables, "key complement")


MAX_KEY_TRIE = 5_000  # trie nodes of a directly built key complement (the product automaton's state limit)


def _key_complement_tables(names):
    """The product tables of :func:`key_complement_content_dfa`, before pruning and minimisation; ``None`` above
    ``MAX_KEY_TRIE`` trie nodes."""
    import numpy as np

    unit = content_dfa(rx.UNIT + "*")
    children, ustate, end = _content_trie(unit, names)
    n = len(children)
    if n > MAX_KEY_TRIE:
        return None
    tt = np.full((n, 256), -1, dtype=np.int64)
    for node, kids in enumerate(children):
        if kids:
            tt[node, list(kids)] = list(kids.values())
    ut = unit.transitions.astype(np.int64)
    us = np.asarray(ustate, dtype=np.int64)
    off = ut[us]
    top = np.where(tt >= 0, tt, np.where(off >= 0, off + n, -1))
    table = np.vstack([top, np.where(ut >= 0, ut + n, -1)])
    acc = np.concatenate([unit.accepting[us] & ~np.asarray(end, dtype=bool), unit.accepting])
    return table, acc


def _content_trie(unit, names) -> tuple[list[dict], list[int], list[bool]]:
    """Byte trie of the names' canonical contents that ``unit`` accepts: each node's children ``{byte: node}``, its
    ``unit`` state and whether a name ends there (node 0 is the root)."""
    rows = unit._rows
    children: list[dict] = [{}]
    ustate, end = [0], [False]
    for name in dict.fromkeys(names):
        try:
            data = content_of(name).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: no UTF-8 spelling, so no string content to exclude
            continue
        if not unit.fullmatch(data):
            continue
        node = 0
        for b in data:
            nxt = children[node].get(b)
            if nxt is None:
                nxt = children[node][b] = len(children)
                children.append({})
                ustate.append(rows[ustate[node]][b])
                end.append(False)
            node = nxt
        end[node] = True
    return children, ustate, end


def key_complement_content_dfa_py(names):
    """The specification of :func:`key_complement_content_dfa`: ``UNIT*`` minus the regex alternation of the
    names' escaped contents, by a product automaton."""
    from corral.automata.operations import dfa_difference

    base = content_dfa(rx.UNIT + "*")
    names = list(names)
    if not names:
        return base
    return dfa_difference(base, content_dfa("|".join(re.escape(content_of(x)) for x in names)))


# Lengths up to which string_content registers the directly built DFA: the regex text compiles too (larger bounds
# are left to compile_regex, which refuses them as too large, as before).
MAX_DIRECT_LENGTH = 1024


def register_length_dfa(lo: int, hi: int | None, quoted: bool) -> None:
    """Register the DFA of ``rx.string_regex(lo, hi)`` (``quoted``) or of its content ``UNIT{lo,hi}``, built directly
    by :func:`length_dfa` (compiling ``{0,1024}`` from its text is slow); bounds above ``MAX_DIRECT_LENGTH`` are
    left alone."""
    from corral.automata.regex import register_dfa, registered_dfa

    regex = rx.string_regex(lo, hi)
    if not quoted:
        regex = regex[1:-1]
    if max(lo, hi or 0) <= MAX_DIRECT_LENGTH and registered_dfa(regex) is None:
        dfa = length_dfa(lo, hi, quoted)
        if dfa is not None:
            register_dfa(regex, dfa, canonical=True)  # minimal and numbered breadth-first by construction


def length_dfa(lo: int, hi: int | None, quoted: bool = False):
    """The DFA of ``UNIT{lo,hi}`` (``hi=None``: unbounded; ``quoted``: between ``"``), built directly, or ``None``
    when ``lo > hi``.

    Copy ``k`` of the one-unit DFA's non-final states stands for ``k`` units read; completing a unit moves to the
    start of copy ``k + 1``; copy ``hi`` is only its start state (unbounded: copy ``lo`` is only its start state,
    which moves like the start of copy ``lo - 1`` but back to itself). The start of copy ``k`` accepts (quoted:
    moves on ``"`` to a final state) iff ``lo <= k``. As ``UNIT`` is a prefix code, the result is minimal without a
    refinement: only the breadth-first renumbering is needed. The same tables as compiling the regex (the
    specification; the tests compare the two).
    """
    from corral.automata.bytedfa import ByteDFA

    tables = _length_tables(lo, hi, quoted)
    regex = rx.string_regex(lo, hi)
    return None if tables is None else ByteDFA(*tables, regex if quoted else regex[1:-1])


def _length_tables(lo: int, hi: int | None, quoted: bool):
    """Canonical tables of :func:`length_dfa` (``None`` when ``lo > hi`` or the unit DFA is not as expected)."""
    import numpy as np

    from corral.automata.bytedfa import canonical_tables

    unit = content_dfa(rx.UNIT)
    t = unit.transitions.astype(np.int64)
    final = np.flatnonzero(unit.accepting)
    if (hi is not None and lo > hi) or len(final) != 1 or (t[final[0]] >= 0).any() or final[0] == 0 or (
            t[0, ord('"')] >= 0):
        return None
    f = int(final[0])
    keep = np.array([q for q in range(len(t)) if q != f])  # state 0 (the start) stays first
    pos = np.full(len(t), -1, dtype=np.int64)
    pos[keep] = np.arange(len(keep))
    n, top = len(keep), (lo if hi is None else hi)
    within = np.where(t[keep] >= 0, pos[np.maximum(t[keep], 0)], -1)
    k = np.arange(top + 1, dtype=np.int64)[:, None, None]
    table = np.where(t[keep] == f, (k + 1) * n, np.where(within >= 0, k * n + within, -1)).reshape(-1, 256)
    table[table >= (top + 1) * n] = -1 if hi is not None else top * n  # past the last copy: dead, or loop
    if hi is not None or top:
        table[top * n] = -1 if hi is not None else table[(top - 1) * n]
    acc = np.zeros(len(table), dtype=bool)
    acc[np.arange(lo, top + 1) * n] = True
    if quoted:  # state 0: the opening quote; the closing quote leads from each accepting start to the final state
        table = np.vstack([np.full((1, 256), -1), np.where(table >= 0, table + 1, -1), np.full((1, 256), -1)])
        table[0, ord('"')] = 1
        table[1 + np.flatnonzero(acc), ord('"')] = len(table) - 1
        acc = np.zeros(len(table), dtype=bool)
        acc[-1] = True
    return canonical_tables(table, acc)


def content_of(s: str) -> str:
    """The canonical spelling of the content of the JSON string ``s``."""
    return json.dumps(s, ensure_ascii=False)[1:-1]
