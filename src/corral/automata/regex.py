"""Python regular expressions compiled exactly to byte-level DFAs over UTF-8.

The pattern is parsed by Python's own regex parser (``re._parser``), so the syntax, escapes, flags (global and
scoped) and verbose mode are exactly those of :mod:`re`.  The character sets of the leaves (literals, classes,
``.``, ``\\d``/``\\w``/``\\s`` with Unicode semantics, case-insensitive matching) are computed from the running
Python's Unicode tables, checking case-insensitive candidates with the :mod:`re` engine itself, so a DFA agrees
with ``re.fullmatch`` on every string.  The pipeline is

1. parse; reject constructs that a finite automaton cannot express exactly (:class:`~corral.errors.RegexError`);
2. split the code points into classes that no leaf distinguishes (a partition, computed with numpy);
3. Thompson NFA over the classes, subset construction, pruning and Moore minimisation at the character level;
4. expansion to bytes over well-formed UTF-8 (:func:`corral.automata.dfa.utf8_expand`) and canonical numbering.

``^``/``\\A`` at the start of the pattern and ``$``/``\\Z`` at its end always hold under full match. Lookahead,
lookbehind and anchors anywhere else are assertions, compiled exactly (:mod:`corral.automata.assertions`,
:mod:`corral.automata.lookaround`): a lookahead tests the rest of the string, a lookbehind the prefix; leading
lookaheads ``(?=X)(?!Y)R`` become products of automata. Backreferences, conditionals, ``\\b``/``\\B``, atomic
groups, possessive quantifiers, and a lookbehind inside a lookahead (or the reverse) raise
:class:`~corral.errors.RegexError`. :func:`corral.automata.lexemes.lexeme_dfas` reads a pattern as a grammar
terminal, its lookaheads seeing the text after the lexeme.

This module is the front: flags, the compile caches, literal patterns (:func:`literal_text`, :func:`literal_dfa`)
and DFAs registered by other compilers (:func:`register_dfa`). The leaves' character sets are computed in
:mod:`corral.automata.charsets`, the NFA and its determinisation in :mod:`corral.automata.nfa`, the UTF-8 expansion
in :mod:`corral.automata.dfa`. Every cache here and in those modules is bounded; :func:`clear_caches` empties them.
"""

from __future__ import annotations

import re
import warnings
from re import _constants as C
from re import _parser as P

import numpy as np

from corral.automata import bytedfa, charsets
from corral.automata.bytedfa import ByteDFA, canonical_tables, empty_tables
from corral.automata.charsets import _partition, char_set
from corral.automata.dfa import utf8_expand
from corral.automata.nfa import tree_to_dfa
from corral.automata.cache import dfa_cache
from corral.budget import current_budget
from corral.errors import RegexError

__all__ = ["compile_regex", "literal_dfa", "literal_text", "register_dfa", "registered_dfa", "clear_caches"]

_FLAG_BITS = {"i": re.I, "s": re.S, "m": re.M, "x": re.X, "a": re.A, "u": re.U}


def _flag_bits(flags, pattern: str) -> tuple[frozenset, int]:
    """The flags as a frozenset of letters and as ``re`` bits; :class:`RegexError` for an unknown flag."""
    fs = frozenset(flags)
    bits = 0
    for f in fs:
        if f not in _FLAG_BITS:
            raise RegexError(f"unknown regex flag {f!r} (known: i, s, m, x, a, u)", pattern=pattern,
                             construct=f"flag {f!r}")
        bits |= _FLAG_BITS[f]
    return fs, bits


# Patterns whose DFA was built directly (e.g. from automaton operations), by (pattern, flags): compiling the regex
# text again would give the same language at a much higher cost. A cache, not a registry: bounded, oldest first out,
# emptied by clear_caches (a pattern no longer registered is compiled from its text, to the same tables).
_REGISTERED: dict = {}
_REGISTERED_MAX = 4096
# Each memo of compiled DFAs holds at most this many bytes of tables (and 1,024 DFAs).
_CACHE_BYTES = 128 << 20


def register_dfa(pattern: str, dfa: ByteDFA, flags: frozenset[str] | str = frozenset(), *,
                 canonical: bool = False) -> None:
    """Record that ``dfa`` accepts exactly the language of ``pattern`` (the caller guarantees it).

    :func:`compile_regex` then returns it without parsing the pattern. Used by compilers that build a DFA with
    automaton operations and also need its regex text (for the grammar IR), whose re-compilation can be slow.
    The DFA is stored minimised and canonically numbered, so it has the very tables that compiling the pattern
    gives (state numbers key per-state caches by pattern, and a registration can be evicted and the pattern
    compiled from its text later); ``canonical=True`` says the caller built it so (tested against compiling the
    pattern), and skips that step.
    """
    fs, _ = _flag_bits(flags, pattern)
    if len(_REGISTERED) >= _REGISTERED_MAX:
        _REGISTERED.pop(next(iter(_REGISTERED)))
    if not canonical:
        dfa = ByteDFA.from_tables(dfa.transitions, dfa.accepting, pattern)
    _REGISTERED[(pattern, fs)] = dfa


def registered_dfa(pattern: str, flags: frozenset[str] | str = frozenset()) -> ByteDFA | None:
    """The DFA registered for ``pattern`` with :func:`register_dfa`, or ``None``."""
    try:
        fs, _ = _flag_bits(flags, pattern)
    except RegexError:
        return None
    return _REGISTERED.get((pattern, fs))


def compile_regex(pattern: str, flags: frozenset[str] | str = frozenset()) -> ByteDFA:
    """Compile a Python regex to a minimal byte-level DFA with full-match semantics over UTF-8.

    Parameters
    ----------
    pattern : str
        A regex in Python :mod:`re` syntax (a ``str`` pattern: Unicode semantics for ``\\d``, ``\\w``, ``\\s``
        and case folding, unless the ``a`` flag is given).
    flags : frozenset of str or str, optional
        Any of ``"i"`` (ignore case), ``"s"`` (``.`` matches newline), ``"m"`` (multiline), ``"x"`` (verbose),
        ``"a"`` (ASCII classes), ``"u"``; inline flags such as ``(?i)`` and ``(?s:...)`` work too.

    Returns
    -------
    ByteDFA
        Accepts exactly the UTF-8 encodings of the strings ``s`` with ``re.fullmatch(pattern, s, flags)``.
        Results are cached: the same pattern and flags give the same object.

    Raises
    ------
    RegexError
        On a syntax error (including a lookbehind that is not fixed-width, as :mod:`re` says), or a construct a
        finite automaton cannot express exactly: backreferences, conditionals, ``\\b``, ``\\B``, atomic groups,
        possessive quantifiers, and a lookbehind (or ``^``, ``\\A``) inside a lookahead or a lookahead (or ``$``,
        ``\\Z``) inside a lookbehind.  ``construct`` names it and ``position`` is its 0-based offset in
        ``pattern``. ``construct == "size"`` past the compile budget's states (:mod:`corral.budget`).

    Notes
    -----
    Lookaround and anchors are exact under full match: ``(?=X)`` at position ``i`` of ``s`` holds iff ``X``
    matches a prefix of ``s[i:]`` (a ``\\Z`` at the end of ``X`` pins it to the end), ``(?<=B)`` iff the
    ``len(B)`` characters before ``i`` match ``B``; ``$``, ``^``, ``\\A``, ``\\Z`` anywhere mean what they mean to
    :mod:`re` (with ``re.M`` too). ``(?=A\\Z)(?!N\\Z)B`` compiles as the automaton of ``A ∩ B \\ N``.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
    fs, _ = _flag_bits(flags, pattern)
    hit = _REGISTERED.get((pattern, fs))
    if hit is not None:
        return hit
    limit = current_budget().states
    literal = literal_text(pattern, fs)
    if literal is not None:
        if len(literal.encode("utf-8", "surrogatepass")) >= limit:
            raise RegexError(f"the automaton is too large (a literal of {len(literal)} characters, over the compile "
                             f"budget's {limit} states)", pattern=pattern, construct="size")
        return _compile_literal(pattern, fs)
    dfa = _compile_cached(pattern, fs)
    if dfa.n_states > limit:  # cached under a larger budget
        raise RegexError(f"the automaton is too large ({dfa.n_states} states, over the compile budget's {limit})",
                         pattern=pattern, construct="size")
    return dfa


# A pattern made only of characters that are not metacharacters and of escapes ``\`` + a character that is not an
# ASCII letter or digit (which Python's parser reads as that character) matches exactly one string, whatever the
# flags below do (they only change ``.``, ``^``, ``$``).  ``{`` and ``}`` are excluded even where ``re`` would read
# them literally: such patterns simply take the general path.
_LITERAL_RE = re.compile(r"(?:[^.^$*+?{}\[\]\\|()]|\\[^A-Za-z0-9])*")
_ESCAPED_RE = re.compile(r"\\(.)", re.S)
_LITERAL_FLAGS = frozenset("sm")


def literal_text(pattern: str, flags: frozenset) -> str | None:
    """The one string ``pattern`` matches when it is a plain (escaped) literal under ``flags``, else ``None``.

    Parameters
    ----------
    pattern : str
        A Python regex.
    flags : frozenset of str
        Its flags; only ``"s"`` and ``"m"`` (which cannot change a literal) keep the answer.

    Returns
    -------
    str or None
        The literal (escapes resolved), or ``None`` when the pattern is anything else (including invalid).
    """
    if not flags <= _LITERAL_FLAGS or _LITERAL_RE.fullmatch(pattern) is None:
        return None
    return _ESCAPED_RE.sub(lambda m: m.group(1), pattern) if "\\" in pattern else pattern


@dfa_cache(1024, _CACHE_BYTES)
def _compile_literal(pattern: str, flags: frozenset) -> ByteDFA:
    """:func:`compile_regex` for a literal pattern (:func:`literal_text`): the chain DFA of its UTF-8 bytes, with no
    regex parsing; the same tables as :func:`_compile_cached` (the specification, compared by the tests)."""
    base = literal_dfa(literal_text(pattern, flags))
    return ByteDFA(base.transitions, base.accepting, pattern)


@dfa_cache(1024, _CACHE_BYTES)
def _compile_cached(pattern: str, flags: frozenset) -> ByteDFA:
    """:func:`compile_regex` for a pattern that is neither registered nor a literal: parse it, then
    :func:`corral.automata.nfa.tree_to_dfa`."""
    _, bits = _flag_bits(flags, pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = P.parse(pattern, bits)
            if "(?<" in pattern:
                re.compile(pattern, bits)  # what only re's compiler checks: a lookbehind's fixed width
    except re.error as e:
        raise RegexError(f"invalid regex: {e.msg}", pattern=pattern, position=e.pos, construct="syntax error") from None
    except (RecursionError, OverflowError) as e:
        raise RegexError(f"regex too complex to parse ({type(e).__name__})", pattern=pattern,
                         construct="nesting") from None
    return tree_to_dfa(tree, pattern)


@dfa_cache(1024, _CACHE_BYTES)
def literal_dfa(text: str | bytes, ignore_case: bool = False) -> ByteDFA:
    """DFA of one exact string, built directly (no regex parsing).

    Parameters
    ----------
    text : str or bytes
        The string (``str`` is matched as its UTF-8 encoding; ``bytes`` as is).
    ignore_case : bool, optional
        For ``str``: match as ``re.fullmatch(re.escape(text), s, re.IGNORECASE)`` does (Unicode case folding).
        For ``bytes``: ASCII letters match either case.

    Returns
    -------
    ByteDFA
        Minimal; its ``pattern`` is ``re.escape(text)`` (prefixed with ``(?i)`` when ignoring case).  A ``str``
        containing a surrogate gives the empty language (it has no UTF-8 encoding).
    """
    if isinstance(text, bytes):
        desc = repr(text)
        n = len(text)
        t = np.full((n + 1, 256), -1, dtype=np.int32)
        for i, b in enumerate(text):
            t[i, b] = i + 1
            if ignore_case and (0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A):
                t[i, b ^ 0x20] = i + 1
        acc = np.zeros(n + 1, dtype=bool)
        acc[n] = True
        return ByteDFA(t, acc, desc)
    desc = ("(?i)" if ignore_case else "") + re.escape(text)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        return ByteDFA(*empty_tables(), desc)
    if not ignore_case:
        base = literal_dfa(text.encode("utf-8"))
        return ByteDFA(base.transitions, base.accepting, desc)
    leaf_classes, class_ranges = _partition([char_set(C.LITERAL, ord(ch), True) for ch in text])
    t = np.full((len(text) + 1, len(class_ranges)), -1, dtype=np.int64)
    for i, classes in enumerate(leaf_classes):
        t[i, classes] = i + 1
    bt, bacc = utf8_expand(class_ranges, t, [False] * len(text) + [True])
    return ByteDFA(*canonical_tables(bt, bacc), desc)


def clear_caches() -> None:
    """Empty every cache of the regex compiler and the automata it uses.

    That is: compiled patterns, literal DFAs, registered DFAs (:func:`register_dfa`), the leaves' character sets and
    Unicode tables (:func:`corral.automata.charsets.clear_caches`) and the row-hash multipliers
    (:func:`corral.automata.bytedfa.clear_caches`).

    Results do not change: everything is recomputed on the next use.
    """
    for cached in (_compile_literal, _compile_cached, literal_dfa):
        cached.cache_clear()
    _REGISTERED.clear()
    charsets.clear_caches()
    bytedfa.clear_caches()
