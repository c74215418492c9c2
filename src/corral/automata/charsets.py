"""Sets of Unicode code points, and the character sets matched by the single-character leaves of a regex.

A code-point set is a sorted ``int64`` array of half-open boundaries ``[s0, e0, s1, e1, ...]`` (the ``_cs_*``
functions build and combine them). :func:`char_set` computes the set of one regex leaf (a literal, a class, ``.``,
``\\d``/``\\w``/``\\s`` with Unicode semantics, case-insensitive matching) from the running Python's Unicode tables,
checking case-insensitive candidates with the :mod:`re` engine itself, so it agrees with ``re`` on every code point.
``_partition`` splits the code points into the classes that no leaf of a regex distinguishes.

The Unicode tables are computed once per process and cached (bounded); :func:`clear_caches` forgets them.
"""

from __future__ import annotations

import re
from functools import lru_cache
from re import _constants as C

import numpy as np

from corral.automata.bytedfa import _unique_rows

__all__ = ["char_set", "clear_caches"]

_UNICODE_END = 0x110000
_VALID = np.array([0, 0xD800, 0xE000, _UNICODE_END], dtype=np.int64)  # scalar values, half-open
_EMPTY = np.zeros(0, dtype=np.int64)
_CASE_SCAN_END = 0x20000  # no cased code point at or above this (checked by the tests for the running Python)

# --------------------------------------------------------------------------------------------------------------
# Code-point sets (sorted int64 arrays of half-open boundaries [s0, e0, s1, e1, ...])
# --------------------------------------------------------------------------------------------------------------


def _cs_ranges(pairs) -> np.ndarray:
    """Set from inclusive (lo, hi) pairs."""
    out: list[int] = []
    for lo, hi in sorted(pairs):
        if out and lo <= out[-1]:
            out[-1] = max(out[-1], hi + 1)
        else:
            out += [lo, hi + 1]
    return np.asarray(out, dtype=np.int64)


def _cs_points(points: np.ndarray) -> np.ndarray:
    """Set from a sorted array of distinct code points."""
    if len(points) == 0:
        return _EMPTY
    brk = np.flatnonzero(np.diff(points) != 1)
    starts = np.concatenate([points[:1], points[brk + 1]])
    ends = np.concatenate([points[brk], points[-1:]]) + 1
    return np.stack([starts, ends], axis=1).reshape(-1).astype(np.int64)


def _cs_mask(mask: np.ndarray) -> np.ndarray:
    """Set from a boolean mask over code points 0..len(mask)-1."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d).astype(np.int64)


def _cs_member(cs: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return (np.searchsorted(cs, pts, side="right") & 1).astype(bool)


def _cs_op(a: np.ndarray, b: np.ndarray, op) -> np.ndarray:
    """Combine two sets with a boolean ufunc (``op(False, False)`` must be ``False``)."""
    pts = np.union1d(a, b)
    if len(pts) == 0:
        return _EMPTY
    r = op(_cs_member(a, pts), _cs_member(b, pts))
    prev = np.concatenate([[False], r[:-1]])
    return pts[r != prev]


def _cs_union(a, b):
    return _cs_op(a, b, np.logical_or)


def _cs_diff(a, b):
    return _cs_op(a, b, lambda x, y: x & ~y)


def _partition(leaves: list[np.ndarray]) -> tuple[list[list[int]], list[list[tuple[int, int]]]]:
    """Split code points into classes no leaf distinguishes; return each leaf's classes and each class's ranges."""
    if not leaves:
        return [], []
    pts = np.unique(np.concatenate([np.array([0, _UNICODE_END], dtype=np.int64)] + leaves))
    starts = pts[:-1]
    member = np.stack([_cs_member(cs, starts) for cs in leaves], axis=1)
    keep = member.any(axis=1)
    rows, inverse = _unique_rows(member[keep])
    inverse = inverse.reshape(-1)
    leaf_classes = [np.flatnonzero(rows[:, j]).tolist() for j in range(len(leaves))]
    ranges: list[list[tuple[int, int]]] = [[] for _ in range(len(rows))]
    for c, lo, hi in zip(inverse.tolist(), starts[keep].tolist(), (pts[1:][keep] - 1).tolist()):
        r = ranges[c]
        if r and r[-1][1] + 1 == lo:
            r[-1] = (r[-1][0], hi)
        else:
            r.append((lo, hi))
    return leaf_classes, ranges


# --------------------------------------------------------------------------------------------------------------
# Unicode tables (computed once per process from the running Python)
# --------------------------------------------------------------------------------------------------------------


@lru_cache(maxsize=16)  # 3 categories x 2 (ASCII or Unicode)
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


@lru_cache(maxsize=1)
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


def clear_caches() -> None:
    """Forget the cached Unicode tables and leaf character sets (they are recomputed on the next use)."""
    for cached in (_category, _case_candidates, char_set):
        cached.cache_clear()
