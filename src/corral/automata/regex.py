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

``^``/``\\A`` at the start of the pattern and ``$``/``\\Z`` at its end are accepted (they always hold under full
match); anchors anywhere else, lookaround, backreferences, conditionals, ``\\b``/``\\B``, atomic groups and
possessive quantifiers raise :class:`~corral.errors.RegexError`.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache
from re import _constants as C
from re import _parser as P

import numpy as np

from corral.automata.bytedfa import ByteDFA, canonical_tables, empty_tables
from corral.automata.dfa import (
    _EMPTY,
    _UNICODE_END,
    _VALID,
    _cs_diff,
    _cs_mask,
    _cs_op,
    _cs_points,
    _cs_ranges,
    _cs_union,
    _minimize_small,
    _partition,
    utf8_expand,
)
from corral.errors import RegexError

__all__ = ["compile_regex", "literal_dfa", "char_set", "literal_text"]

_FLAG_BITS = {"i": re.I, "s": re.S, "m": re.M, "x": re.X, "a": re.A, "u": re.U}
_I, _A, _S = int(re.I), int(re.A), int(re.S)  # plain ints: ``int & re.I`` goes through the (slow) enum machinery
_MAX_NFA_STATES = 200_000
_MAX_DFA_STATES = 50_000
_CASE_SCAN_END = 0x20000  # no cased code point at or above this (checked by the tests for the running Python)

# --------------------------------------------------------------------------------------------------------------
# Unicode tables (computed once per process from the running Python)
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=None)
def _category(name: str, ascii_only: bool) -> np.ndarray:
    """Code points of ``\\d``, ``\\s`` or ``\\w`` (Python ``re`` semantics)."""
    if ascii_only:
        return _cs_ranges({"d": [(48, 57)], "s": [(9, 13), (32, 32)],
                           "w": [(48, 57), (65, 90), (95, 95), (97, 122)]}[name])
    cps = np.arange(_UNICODE_END, dtype=np.uint32)
    if hasattr(np, "strings"):  # numpy >= 2: vectorised Py_UNICODE_IS* predicates
        chars = cps.view("<U1")
        mask = {"d": np.strings.isdecimal, "s": np.strings.isspace, "w": np.strings.isalnum}[name](chars)
        if name == "w":
            mask |= cps == ord("_")
        return _cs_diff(_cs_mask(mask), _cs_ranges([(0xD800, 0xDFFF)]))
    text = cps.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass")
    spans = [m.span() for m in re.finditer("\\" + name + "+", text)]
    return _cs_diff(_cs_ranges([(a, b - 1) for a, b in spans]), _cs_ranges([(0xD800, 0xDFFF)]))


@lru_cache(maxsize=None)
def _case_candidates() -> tuple[np.ndarray, str]:
    """Code points whose case-insensitive matching can differ from case-sensitive matching (array and string).

    Under ``re.IGNORECASE`` the engine compares ``lower(ch)`` (and for some ranges ``upper(ch)``) with the
    lower-cased pattern plus a table of extra cases, so a code point that is not cased and is not the lower case
    of a cased code point matches exactly when it matches case-sensitively.
    """
    try:
        import _sre

        cased = [c for c in range(_CASE_SCAN_END) if _sre.unicode_iscased(c)]
        lowers = [_sre.unicode_tolower(c) for c in cased]
    except (ImportError, AttributeError):  # pragma: no cover - other implementations
        cased = [c for c in range(_CASE_SCAN_END) if chr(c).lower() != chr(c) or chr(c).upper() != chr(c)]
        lowers = [ord(chr(c).lower()[0]) for c in cased]
    extra: set[int] = set()
    try:
        from re import _casefix

        for k, v in _casefix._EXTRA_CASES.items():
            extra.add(k)
            extra.update(v)
    except ImportError:  # pragma: no cover
        pass
    cand = sorted(set(cased) | set(lowers) | extra)
    return np.asarray(cand, dtype=np.int64), "".join(map(chr, cand))


_CATEGORIES = {
    C.CATEGORY_DIGIT: ("d", False, r"\d"), C.CATEGORY_NOT_DIGIT: ("d", True, r"\D"),
    C.CATEGORY_SPACE: ("s", False, r"\s"), C.CATEGORY_NOT_SPACE: ("s", True, r"\S"),
    C.CATEGORY_WORD: ("w", False, r"\w"), C.CATEGORY_NOT_WORD: ("w", True, r"\W"),
}


def _leaf_source(op, av) -> str:
    """A standalone regex for one single-character leaf."""
    if op is C.LITERAL:
        return "\\U%08x" % av
    if op is C.NOT_LITERAL:
        return "[^\\U%08x]" % av
    parts = []
    for iop, iav in av:
        if iop is C.NEGATE:
            parts.insert(0, "^")
        elif iop is C.LITERAL:
            parts.append("\\U%08x" % iav)
        elif iop is C.RANGE:
            parts.append("\\U%08x-\\U%08x" % iav)
        elif iop is C.CATEGORY:
            parts.append(_CATEGORIES[iav][2])
        else:  # pragma: no cover - not produced by the parser
            raise ValueError(iop)
    return "[" + "".join(parts) + "]"


@lru_cache(maxsize=8192)
def char_set(op, av, ignore_case: bool = False, ascii_only: bool = False, dotall: bool = False) -> np.ndarray:
    """Unicode scalar values matched by one single-character regex leaf.

    Parameters
    ----------
    op, av
        A parse-tree item of ``re._parser``: ``LITERAL``, ``NOT_LITERAL``, ``ANY`` or ``IN`` (with ``av`` a tuple).
    ignore_case, ascii_only, dotall : bool
        The ``re.I``, ``re.A`` and ``re.S`` flags in effect.

    Returns
    -------
    numpy.ndarray
        Sorted ``int64`` half-open boundaries ``[s0, e0, s1, e1, ...]``; surrogates excluded.
    """
    if op is C.ANY:
        return _VALID if dotall else _cs_diff(_VALID, _cs_ranges([(10, 10)]))
    if op is C.LITERAL:
        plain = _cs_ranges([(av, av)])
    elif op is C.NOT_LITERAL:
        plain = _cs_diff(_VALID, _cs_ranges([(av, av)]))
    elif op is C.IN:
        plain, negate, lits = _EMPTY, False, []
        for iop, iav in av:
            if iop is C.NEGATE:
                negate = True
            elif iop is C.LITERAL:
                lits.append((iav, iav))
            elif iop is C.RANGE:
                lits.append(iav)
            elif iop is C.CATEGORY:
                name, neg, _ = _CATEGORIES[iav]
                cat = _category(name, ascii_only)
                plain = _cs_union(plain, _cs_diff(_VALID, cat) if neg else cat)
        plain = _cs_union(plain, _cs_ranges(lits))
        if negate:
            plain = _cs_diff(_VALID, plain)
    else:  # pragma: no cover
        raise ValueError(op)
    if ignore_case:
        cand, cand_text = _case_candidates()
        rx = re.compile("(?:" + _leaf_source(op, av) + ")+", re.I | (re.A if ascii_only else 0))
        hits = np.concatenate([_EMPTY] + [cand[m.start() : m.end()] for m in rx.finditer(cand_text)])
        plain = _cs_union(_cs_diff(plain, _cs_points(cand)), _cs_points(np.sort(hits)))
    return _cs_op(plain, _VALID, np.logical_and)


# --------------------------------------------------------------------------------------------------------------
# Locating unsupported constructs in the pattern text
# --------------------------------------------------------------------------------------------------------------

_QUANT = re.compile(r"\{\d*(?:,\d*)?\}")
_FLAGS = re.compile(r"\(\?([aiLmsux]*)(?:-([aiLmsux]*))?([:)])")
_CONSTRUCTS = {
    "lookahead": "lookahead (?=...)", "neg_lookahead": "negative lookahead (?!...)",
    "lookbehind": "lookbehind (?<=...)", "neg_lookbehind": "negative lookbehind (?<!...)",
    "backref": "backreference", "conditional": "conditional (?(...)...)", "atomic": "atomic group (?>...)",
    "possessive": "possessive quantifier", "boundary": "word boundary \\b", "nonboundary": "non-word-boundary \\B",
    "^": "anchor ^", "$": "anchor $", "\\A": "anchor \\A", "\\Z": "anchor \\Z",
}
_GROUP_KINDS = (("(?<=", "lookbehind"), ("(?<!", "neg_lookbehind"), ("(?=", "lookahead"), ("(?!", "neg_lookahead"),
                ("(?>", "atomic"), ("(?(", "conditional"), ("(?P=", "backref"))


def _scan(pattern: str, verbose: bool) -> dict[str, list[int]]:
    """Positions (0-based) of the constructs of ``_CONSTRUCTS`` in ``pattern``, in text order."""
    found: dict[str, list[int]] = {}
    stack = [verbose]
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if stack[-1] and c in " \t\n\r\f\v":
            i += 1
        elif stack[-1] and c == "#":
            j = pattern.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "\\":
            d = pattern[i + 1 : i + 2]
            kind = {"b": "boundary", "B": "nonboundary", "A": "\\A", "Z": "\\Z"}.get(d)
            if kind:
                found.setdefault(kind, []).append(i)
            if d == "N" and pattern[i + 2 : i + 3] == "{":
                i = pattern.find("}", i) + 1 or n
            elif d in "123456789" and d:
                three = pattern[i + 1 : i + 4]
                if len(three) == 3 and all(x in "01234567" for x in three):
                    i += 4
                else:
                    found.setdefault("backref", []).append(i)
                    i += 3 if pattern[i + 2 : i + 3].isdigit() else 2
            else:
                i += 2
        elif c == "[":
            j = i + 1
            if pattern[j : j + 1] == "^":
                j += 1
            if pattern[j : j + 1] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            i = j + 1
        elif c == "(":
            kind = next((k for s, k in _GROUP_KINDS if pattern.startswith(s, i)), None)
            m = _FLAGS.match(pattern, i)
            if kind:
                found.setdefault(kind, []).append(i)
                stack.append(stack[-1])
            elif pattern.startswith("(?#", i):
                j = pattern.find(")", i)
                i = n if j < 0 else j
            elif m:
                on = ("x" in m.group(1) or stack[-1]) and "x" not in (m.group(2) or "")
                if m.group(3) == ")":
                    stack[-1] = on
                else:
                    stack.append(on)
                i = m.end() - 1
            else:
                stack.append(stack[-1])
            i += 1
        elif c == ")":
            if len(stack) > 1:
                stack.pop()
            i += 1
        elif c in "*+?{":
            m = _QUANT.match(pattern, i) if c == "{" else None
            if c == "{" and (m is None or m.group() == "{}"):
                i += 1
                continue
            end = m.end() if m else i + 1
            if pattern[end : end + 1] == "+":
                found.setdefault("possessive", []).append(i)
            i = end + (1 if pattern[end : end + 1] in ("+", "?") else 0)
        elif c in "^$":
            found.setdefault(c, []).append(i)
            i += 1
        else:
            i += 1
    return found


class _Unsupported(Exception):
    def __init__(self, kind: str, index: int, detail: str = ""):
        super().__init__(kind)
        self.kind, self.index, self.detail = kind, index, detail


# --------------------------------------------------------------------------------------------------------------
# Parse tree -> NFA over leaves
# --------------------------------------------------------------------------------------------------------------

_LEAVES = (C.LITERAL, C.NOT_LITERAL, C.ANY, C.IN)
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT)
_AT_KINDS = {C.AT_BEGINNING: "^", C.AT_BEGINNING_STRING: "\\A", C.AT_END: "$", C.AT_END_STRING: "\\Z",
             C.AT_BOUNDARY: "boundary", C.AT_NON_BOUNDARY: "nonboundary"}


def _consumes(items) -> bool:
    """Whether a sub-pattern can consume a character (conservative: ``True`` when unsure)."""
    for op, av in items:
        if op in _LEAVES:
            return True
        if op is C.BRANCH and any(_consumes(alt) for alt in av[1]):
            return True
        if op is C.SUBPATTERN and _consumes(av[3]):
            return True
        if op in _REPEATS and av[1] > 0 and _consumes(av[2]):
            return True
    return False


def _size(items) -> int:
    """Upper bound on the number of NFA states built for a sub-pattern (to refuse huge repetitions early)."""
    n = 0
    for op, av in items:
        if op is C.BRANCH:
            n += 2 + sum(_size(alt) + 1 for alt in av[1])
        elif op is C.SUBPATTERN:
            n += _size(av[3])
        elif op in _REPEATS:
            lo, hi, body = av
            n += 2 + (lo + 1 if hi == C.MAXREPEAT else hi) * _size(body)
        else:
            n += 1
        if n > _MAX_NFA_STATES:
            break
    return n


class _NFA:
    """Thompson NFA whose edges are labelled by leaf character sets."""

    def __init__(self) -> None:
        self.eps: list[list[int]] = []
        self.edges: list[list[tuple[int, int]]] = []
        self.leaves: list[np.ndarray] = []
        self.leaf_ids: dict[bytes, int] = {}
        self.seen: dict[str, int] = {}

    def new(self) -> int:
        if len(self.eps) >= _MAX_NFA_STATES:
            raise _Unsupported("size", 0, "the automaton is too large (bounded repetitions too big)")
        self.eps.append([])
        self.edges.append([])
        return len(self.eps) - 1

    def leaf(self, cs: np.ndarray) -> int:
        key = cs.tobytes()
        lid = self.leaf_ids.get(key)
        if lid is None:
            lid = self.leaf_ids[key] = len(self.leaves)
            self.leaves.append(cs)
        return lid

    def note(self, kind: str) -> int:
        k = self.seen.get(kind, 0)
        self.seen[kind] = k + 1
        return k

    def seq(self, items, s: int, flags: int, pre0: bool, post0: bool) -> int:
        items = list(items)
        cons = [_consumes([it]) for it in items]
        for k, (op, av) in enumerate(items):
            p0 = pre0 and not any(cons[:k])
            q0 = post0 and not any(cons[k + 1 :])
            s = self.item(op, av, s, flags, p0, q0)
        return s

    def item(self, op, av, s: int, flags: int, pre0: bool, post0: bool) -> int:
        if op in _LEAVES:
            cs = char_set(op, tuple(av) if op is C.IN else av, bool(flags & _I), bool(flags & _A), bool(flags & _S))
            t = self.new()
            self.edges[s].append((self.leaf(cs), t))
            return t
        if op is C.SUBPATTERN:
            _, add, rem, sub = av
            return self.seq(sub, s, (flags | add) & ~rem, pre0, post0)
        if op is C.BRANCH:
            end = self.new()
            for alt in av[1]:
                a = self.new()
                self.eps[s].append(a)
                self.eps[self.seq(alt, a, flags, pre0, post0)].append(end)
            return end
        if op in _REPEATS:
            lo, hi, body = av
            if hi == 0:
                return s
            if hi > 1 and _consumes(body):
                pre0 = post0 = False
            for _ in range(lo):
                s = self.seq(body, s, flags, pre0, post0)
            if hi == C.MAXREPEAT:
                a = self.new()
                self.eps[s].append(a)
                self.eps[self.seq(body, a, flags, pre0, post0)].append(a)
                return a
            exits = []
            for _ in range(hi - lo):
                exits.append(s)
                s = self.seq(body, s, flags, pre0, post0)
            end = self.new()
            for e in exits + [s]:
                self.eps[e].append(end)
            return end
        if op is C.AT:
            kind = _AT_KINDS.get(av, str(av))
            k = self.note(kind)
            if (kind in ("^", "\\A") and pre0) or (kind in ("$", "\\Z") and post0):
                return s
            where = "start" if kind in ("^", "\\A") else "end"
            detail = "" if kind in ("boundary", "nonboundary") else f" (only allowed at the {where} of the pattern)"
            raise _Unsupported(kind, k, detail)
        if op is C.ASSERT or op is C.ASSERT_NOT:
            kind = ("neg_" if op is C.ASSERT_NOT else "") + ("lookahead" if av[0] == 1 else "lookbehind")
            raise _Unsupported(kind, self.note(kind))
        kind = {C.GROUPREF: "backref", C.GROUPREF_EXISTS: "conditional"}.get(op)
        if kind is None and op is getattr(C, "ATOMIC_GROUP", None):
            kind = "atomic"
        if kind is None and op is getattr(C, "POSSESSIVE_REPEAT", None):
            kind = "possessive"
        if kind is None:
            raise _Unsupported(str(op), 0)
        raise _Unsupported(kind, self.note(kind))


# --------------------------------------------------------------------------------------------------------------
# NFA -> minimal character DFA -> byte DFA
# --------------------------------------------------------------------------------------------------------------


def _determinize(nfa: _NFA, start: int, final: int, leaf_classes: list[list[int]], n_classes: int):
    """Subset construction; returns (transitions [n, n_classes] with -1, accepting). Native when built (states
    numbered in another order than :func:`_determinize_py`, which callers do not depend on: the DFA is minimised
    and renumbered canonically afterwards)."""
    from corral.tokens import native

    if not native.NATIVE:
        return _determinize_py(nfa, start, final, leaf_classes, n_classes)
    got = native.determinize(nfa.eps, nfa.edges, leaf_classes, start, final, n_classes, _MAX_DFA_STATES)
    if got is None:
        raise _Unsupported("size", 0, "the automaton is too large")
    return got


def _determinize_py(nfa: _NFA, start: int, final: int, leaf_classes: list[list[int]], n_classes: int):
    """The Python specification of :func:`_determinize`."""
    edges = [[(c, t) for lid, t in es for c in leaf_classes[lid]] for es in nfa.edges]
    eps = nfa.eps

    def closure(states) -> frozenset:
        out, todo = set(states), list(states)
        while todo:
            for t in eps[todo.pop()]:
                if t not in out:
                    out.add(t)
                    todo.append(t)
        return frozenset(out)

    first = closure([start])
    index = {first: 0}
    sets = [first]
    trans: list[list[int]] = []
    i = 0
    while i < len(sets):
        moves: dict[int, set[int]] = {}
        for s in sets[i]:
            for c, t in edges[s]:
                moves.setdefault(c, set()).add(t)
        row = [-1] * n_classes
        for c, ts in moves.items():
            key = frozenset(ts)
            tgt = closure(key)
            j = index.get(tgt)
            if j is None:
                if len(sets) >= _MAX_DFA_STATES:
                    raise _Unsupported("size", 0, "the automaton is too large")
                j = index[tgt] = len(sets)
                sets.append(tgt)
            row[c] = j
        trans.append(row)
        i += 1
    return np.asarray(trans, dtype=np.int64).reshape(len(sets), n_classes), np.array([final in s for s in sets])


def _to_byte_dfa(nfa: _NFA, start: int, final: int, pattern: str) -> ByteDFA:
    leaf_classes, class_ranges = _partition(nfa.leaves)
    t, acc = _determinize(nfa, start, final, leaf_classes, len(class_ranges))
    small = _minimize_small(t, acc)
    if small is None:
        return ByteDFA(*empty_tables(), pattern)
    t, acc = small
    bt, bacc = utf8_expand(class_ranges, t, acc)
    return ByteDFA(*canonical_tables(bt, bacc), pattern)


# --------------------------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------------------------


def _flag_bits(flags, pattern: str) -> tuple[frozenset, int]:
    fs = frozenset(flags)
    bits = 0
    for f in fs:
        if f not in _FLAG_BITS:
            raise RegexError(f"unknown regex flag {f!r} (known: i, s, m, x, a, u)", pattern=pattern,
                             construct=f"flag {f!r}")
        bits |= _FLAG_BITS[f]
    return fs, bits


# Patterns whose DFA was built directly (e.g. from automaton operations), by (pattern, flags): compiling the regex
# text again would give the same language at a much higher cost. Bounded, oldest first out.
_REGISTERED: dict = {}
_REGISTERED_MAX = 4096


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
        On a syntax error, or a construct a finite automaton cannot express exactly: lookahead, lookbehind,
        backreferences, conditionals, ``\\b``, ``\\B``, atomic groups, possessive quantifiers, and ``^``/``\\A``
        not at the start or ``$``/``\\Z`` not at the end.  ``construct`` names it and ``position`` is its 0-based
        offset in ``pattern``.
    """
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be str, not {type(pattern).__name__}")
    fs, _ = _flag_bits(flags, pattern)
    hit = _REGISTERED.get((pattern, fs))
    if hit is not None:
        return hit
    if literal_text(pattern, fs) is not None:
        return _compile_literal(pattern, fs)
    return _compile_cached(pattern, fs)


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


@lru_cache(maxsize=1024)
def _compile_literal(pattern: str, flags: frozenset) -> ByteDFA:
    """:func:`compile_regex` for a literal pattern (:func:`literal_text`): the chain DFA of its UTF-8 bytes, with no
    regex parsing; the same tables as :func:`_compile_cached` (the specification, compared by the tests)."""
    base = literal_dfa(literal_text(pattern, flags))
    return ByteDFA(base.transitions, base.accepting, pattern)


@lru_cache(maxsize=1024)
def _compile_cached(pattern: str, flags: frozenset) -> ByteDFA:
    _, bits = _flag_bits(flags, pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = P.parse(pattern, bits)
    except re.error as e:
        raise RegexError(f"invalid regex: {e.msg}", pattern=pattern, position=e.pos, construct="syntax error") from None
    except (RecursionError, OverflowError) as e:
        raise RegexError(f"regex too complex to parse ({type(e).__name__})", pattern=pattern,
                         construct="nesting") from None
    nfa = _NFA()
    try:
        if _size(tree) > _MAX_NFA_STATES:
            raise _Unsupported("size", 0, "the automaton is too large (bounded repetitions too big)")
        start = nfa.new()
        final = nfa.seq(tree, start, tree.state.flags, True, True)
        return _to_byte_dfa(nfa, start, final, pattern)
    except _Unsupported as u:
        if u.kind == "size":
            raise RegexError(u.detail, pattern=pattern, construct="size") from None
        construct = _CONSTRUCTS.get(u.kind, u.kind)
        positions = _scan(pattern, bool(tree.state.flags & re.X)).get(u.kind, [])
        pos = positions[u.index] if u.index < len(positions) else (positions[0] if positions else None)
        raise RegexError(f"unsupported construct: {construct}{u.detail}", pattern=pattern, position=pos,
                         construct=construct) from None
    except RecursionError:
        raise RegexError("regex too deeply nested", pattern=pattern, construct="nesting") from None
    except MemoryError as e:
        raise RegexError(f"the automaton is too large ({e})", pattern=pattern, construct="size") from None


@lru_cache(maxsize=1024)
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
