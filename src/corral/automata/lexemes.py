"""A terminal's lexemes when its lookaheads see the text after the lexeme (lark's semantics, where a terminal's regex
is matched against the whole input at a position): :func:`lexeme_dfas`.

:func:`~corral.automata.regex.compile_regex` reads a pattern against the lexeme alone (``re.fullmatch``), where a
lookahead that is still undecided at the end of the lexeme sees the end of the string. In a grammar the text goes
on: ``[?](?![a-z])`` matches ``?`` only where no letter follows, and ``0(?![1-9])`` only before a non-digit. Here the
subset construction of :mod:`corral.automata.lookaround` labels each accepting state with what its pending
lookaheads require of the following text; supported requirements are *follow guards* (:class:`Guard`): the next
byte lies in a set, or the text ends. The lexemes are split by guard into one byte DFA each.

Refused (:class:`~corral.errors.RegexError`): a lookahead still undecided after one more character (it reaches
further past the lexeme), a requirement on the next character that its first UTF-8 byte does not decide, and a
lookbehind that can reach before the start of the lexeme (lark's would see the text before it).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from re import _constants as C

import numpy as np

from corral.automata.bytedfa import ByteDFA
from corral.errors import RegexError

__all__ = ["Guard", "lexeme_dfas", "may_assert", "clear_caches"]


@dataclass(frozen=True)
class Guard:
    """What the text after a lexeme must satisfy: its first byte lies in ``allowed`` (``bytes`` of 256 flags, 1 for
    an allowed byte), or the text ends there when ``end_ok``."""

    allowed: bytes
    end_ok: bool

    @property
    def array(self) -> np.ndarray:
        """bool ``[256]``: the allowed first bytes."""
        return np.frombuffer(self.allowed, dtype=np.uint8).astype(bool)

    def describe(self) -> str:
        """A short text for messages: the forbidden ASCII bytes (the allowed ones where the end is not allowed)."""
        arr = self.array
        shown = [b for b in range(128) if arr[b] != self.end_ok]
        spelled = "".join(chr(b) if 32 < b < 127 else f"\\x{b:02x}" for b in shown[:24])
        return f"not followed by [{spelled}]" if self.end_ok else f"followed by [{spelled}]"


def _lead(cp: int) -> int:
    """The first UTF-8 byte of code point ``cp``."""
    if cp < 0x80:
        return cp
    if cp < 0x800:
        return 0xC0 | cp >> 6
    if cp < 0x10000:
        return 0xE0 | cp >> 12
    return 0xF0 | cp >> 18


def _first_bytes(class_ranges, allowed: list[bool]) -> bytes | None:
    """The allowed first bytes, from the allowed character classes; ``None`` when a first byte starts both
    allowed and forbidden characters (the byte alone does not decide)."""
    status = [0] * 256
    for ranges, ok in zip(class_ranges, allowed):
        bit = 1 if ok else 2
        for lo, hi in ranges:
            for b in range(_lead(lo), _lead(hi) + 1):
                status[b] |= bit
    if any(s == 3 for s in status):
        return None
    return bytes(int(s == 1) for s in status)


def _residual(sub, configs) -> frozenset:
    """An accepting state's requirement on the following text: the obligation sets of its final configurations
    (any one met suffices); ``{∅}`` when nothing is required."""
    got = frozenset(obl for q, obl in configs if q == sub.final)
    return frozenset([frozenset()]) if frozenset() in got else got


def _classify(sub, residual: frozenset, class_ranges, pattern: str):
    """``None`` (no requirement), ``False`` (nothing can follow: not accepting) or the :class:`Guard` of a
    residual; RegexError when it is not a follow guard."""
    if frozenset() in residual:
        return None
    end_ok = any(sub.end_ok(obl) for obl in residual)
    allowed = []
    for c in range(sub.n_classes):
        outs = [sub.step(obl, c) for obl in residual]
        if any(o is not None and not o for o in outs):
            allowed.append(True)
        elif all(o is None for o in outs):
            allowed.append(False)
        else:
            raise RegexError("unsupported construct: a lookahead that reaches more than one character past the end "
                             "of a lexeme", pattern=pattern, construct="lookahead past the lexeme")
    if not end_ok and not any(allowed):
        return False
    first = _first_bytes(class_ranges, allowed)
    if first is None:
        raise RegexError("unsupported construct: a lookahead past the end of a lexeme whose test of the next "
                         "character is not decided by its first byte", pattern=pattern,
                         construct="lookahead past the lexeme")
    return Guard(first, end_ok)


def _reaches_before(items, before: int, state):
    """Whether a lookbehind among ``items`` can look before the lexeme's start, ``before`` (at least) characters
    consumed ahead of them. Returns its kind or ``None``."""
    from re import _parser as P

    for item in items:
        op, av = item
        if op in (C.ASSERT, C.ASSERT_NOT) and av[0] != 1:
            width = av[1].getwidth()[0]
            if before < width:
                return "neg_lookbehind" if op is C.ASSERT_NOT else "lookbehind"
            subs = [(av[1], before - width)]
        elif op in (C.ASSERT, C.ASSERT_NOT):
            subs = [(av[1], before)]
        elif op is C.SUBPATTERN:
            subs = [(av[3], before)]
        elif op is C.BRANCH:
            subs = [(alt, before) for alt in av[1]]
        elif op in (C.MAX_REPEAT, C.MIN_REPEAT):
            subs = [(av[2], before)]
        else:
            subs = []
        for sub_items, b in subs:
            found = _reaches_before(sub_items, b, state)
            if found:
                return found
        before += P.SubPattern(state, [item]).getwidth()[0]
    return None


def _parse(pattern: str, flags: frozenset):
    """The parse tree and NFA ``(tree, nfa, start, final)`` of a pattern (errors as compile_regex's)."""
    import warnings
    from re import _parser as P

    from corral.automata.nfa import _NFA
    from corral.automata.regex import _flag_bits

    _, bits = _flag_bits(flags, pattern)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = P.parse(pattern, bits)
    nfa = _NFA()
    start = nfa.new()
    return tree, nfa, start, nfa.seq(tree, start, tree.state.flags, True, True)


_ASSERTION_KINDS = ("lookahead", "neg_lookahead", "lookbehind", "neg_lookbehind", "^", "$", "\\A", "\\Z")


#: Texts one of which every assertion contains: a pattern without any has none (a C-speed test that spares
#: most patterns the character-by-character scan).
_ASSERTION_TEXTS = ("(?=", "(?!", "(?<", "^", "$", "\\A", "\\Z")


def may_assert(pattern: str, flags: frozenset = frozenset()) -> bool:
    """Whether ``pattern`` may hold an assertion (lookaround or an anchor outside a character class), so that the
    many patterns without one skip :func:`lexeme_dfas`' parse. ``False`` at once for a pattern with none of the
    assertions' texts and for one whose DFA was registered (built by automaton operations, so assertion-free, as
    :func:`lexeme_dfas` assumes too); else a linear scan of the text, memoised."""
    if not any(text in pattern for text in _ASSERTION_TEXTS):
        return False
    from corral.automata.regex import registered_dfa

    if registered_dfa(pattern, flags) is not None:
        return False
    return _scan_asserts(pattern, "x" in flags)


@functools.lru_cache(maxsize=256)
def _scan_asserts(pattern: str, verbose: bool) -> bool:
    """Whether the scan of ``pattern`` finds an assertion outside character classes."""
    from corral.automata.nfa import _scan

    return any(kind in _ASSERTION_KINDS for kind in _scan(pattern, verbose))


@functools.lru_cache(maxsize=256)
def lexeme_dfas(pattern: str, flags: frozenset = frozenset()) -> tuple:
    """A terminal's lexemes, split by what must follow them (see the module docstring).

    Parameters
    ----------
    pattern : str
        The terminal's regex.
    flags : frozenset of str
        Its flags (as :func:`~corral.automata.regex.compile_regex` takes them).

    Returns
    -------
    tuple of (Guard or None, ByteDFA)
        Disjoint languages whose union is the terminal's lexemes; ``None`` (first, when present) for the lexemes
        anything may follow. A pattern without lookaround (or registered with
        :func:`~corral.automata.regex.register_dfa`) gives ``((None, compile_regex(pattern, flags)),)``.

    Raises
    ------
    RegexError
        What :func:`~corral.automata.regex.compile_regex` raises, and a lookahead or lookbehind beyond the lexeme
        that is not a follow guard (see the module docstring).
    """
    from corral.automata.regex import compile_regex, literal_text, registered_dfa

    flags = frozenset(flags)
    plain = compile_regex(pattern, flags)  # every error (syntax, unsupported construct, size) is reported here
    if registered_dfa(pattern, flags) is not None or literal_text(pattern, flags) is not None:
        return ((None, plain),)
    if not may_assert(pattern, flags):
        return ((None, plain),)
    tree, nfa, start, final = _parse(pattern, flags)
    if not nfa.assertions:
        return ((None, plain),)
    kind = _reaches_before(list(tree), 0, tree.state)
    if kind:
        raise RegexError(f"unsupported construct: a {kind.replace('neg_', 'negative ')} that can look before the "
                         "start of the lexeme", pattern=pattern, construct="lookbehind before the lexeme")
    return _split(nfa, start, final, pattern)


def _split(nfa, start: int, final: int, pattern: str) -> tuple:
    """The construction with residual labels, and one byte DFA per guard."""
    from corral.automata.charsets import _partition
    from corral.automata.lookaround import Subset, _limits, class_moves, compile_assertions
    from corral.automata.limits import _Unsupported
    from corral.automata.nfa import class_dfa_to_bytes

    leaf_classes, class_ranges = _partition(nfa.leaves)
    moves = class_moves(nfa, leaf_classes)
    try:
        compile_assertions(nfa, moves, len(class_ranges))
        sub = Subset(nfa, moves, start, final, len(class_ranges))
        t, labels = sub.run(lambda configs: _residual(sub, configs), *_limits())
    except _Unsupported as u:
        raise RegexError(u.detail, pattern=pattern, construct="size") from None
    guards = {r: _classify(sub, r, class_ranges, pattern) for r in set(labels) if r}
    out = []
    for g in dict.fromkeys(v for v in guards.values() if v is not False):
        acc = np.array([bool(r) and guards[r] == g for r in labels])
        dfa = class_dfa_to_bytes(t, acc, class_ranges, pattern)
        if not dfa.is_empty:
            out.append((g, dfa))
    out.sort(key=lambda pair: pair[0] is not None)
    return tuple(out) or ((None, ByteDFA.empty(pattern)),)


def clear_caches() -> None:
    """Empty the memos of :func:`lexeme_dfas` and :func:`may_assert`."""
    lexeme_dfas.cache_clear()
    _scan_asserts.cache_clear()
