"""Non-integer ``multipleOf`` as a digit automaton: the multiples of a terminating decimal ``m = P / 10**K``.

A plain decimal text ``-?digits(.digits)?`` has the value ``N / 10**f`` (``N`` all its digits, ``f`` the number of
fraction digits); it is a multiple of ``m`` iff ``N * 10**(K - f)`` is divisible by ``P`` with every fraction digit
past the ``K``-th a zero. Reading the text left to right, the state is the remainder ``N mod P`` and ``min(f, K)``,
so the multiples form a regular language (about ``P * (K + 2)`` states before minimisation). Its product with the
DFA of the bounds' spellings is emitted as a right-linear grammar, like the integer remainder automaton.

Only plain texts are generated (no exponent, the existing convention for ``multipleOf``); trailing fraction zeros
are allowed (``0.10`` is a multiple of ``0.05``). Which semantics the caller wants, and whether it agrees with
jsonschema's float arithmetic, is decided in :mod:`~corral.compile.json_schema.numbers` (see its docstring).
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

from corral.automata.regex import compile_regex
from corral.compile.json_schema.digit_rules import table_rules
from corral.errors import SchemaError

__all__ = ["decimal_parts", "dyadic_exponent", "decimal_multiples_symbol", "PLAIN_NUMBER"]

#: Plain decimal number texts (no exponent).
PLAIN_NUMBER = r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?"
_SYM = [ord(c) for c in "-0123456789."]


def decimal_parts(k) -> tuple[int, int]:
    """``(P, K)`` with ``k == P / 10**K`` as a decimal (its shortest text, ``repr`` for a float), ``K`` minimal."""
    d = Decimal(repr(k)) if isinstance(k, float) else Decimal(k)
    _, digits, exp = d.normalize().as_tuple()
    p = int("".join(map(str, digits)))
    return (p * 10 ** exp, 0) if exp >= 0 else (p, -exp)


def dyadic_exponent(k) -> int | None:
    """``a`` with the float ``k`` equal to ``p / 2**a`` (``p`` odd) when the float equals its decimal text exactly
    (``0.25``, ``2.5``; so jsonschema divides by the decimal value itself), else None (``0.1``, ``0.01``)."""
    q = Fraction(k)
    if q != Fraction(Decimal(repr(k)) if isinstance(k, float) else Decimal(k)):
        return None
    den = q.denominator
    return den.bit_length() - 1


def _multiples_table(p: int, k: int, limit: int):
    """The (unminimised) multiples automaton over ``_SYM``: ``(states, table, accepting)``."""
    index: dict[tuple, int] = {}
    states: list[tuple] = []
    table: list[list[int]] = []

    def sid(key) -> int:
        if key not in index:
            if len(states) >= limit:
                raise OverflowError
            index[key] = len(states)
            states.append(key)
        return index[key]

    sid(("start",))
    i = 0
    while i < len(states):
        key = states[i]
        row = [-1] * len(_SYM)
        kind = key[0]
        for c, byte in enumerate(_SYM):
            d = byte - 48 if 48 <= byte <= 57 else None
            nxt = None
            if kind in ("start", "sign") and d is not None:
                nxt = ("int", d % p, d == 0)
            elif kind == "start" and byte == 45:
                nxt = ("sign",)
            elif kind == "int":
                if d is not None and not key[2]:
                    nxt = ("int", (key[1] * 10 + d) % p, False)
                elif byte == 46:
                    nxt = ("dot", key[1])
            elif kind in ("dot", "frac") and d is not None:
                f = 0 if kind == "dot" else key[2]
                if f < k:
                    nxt = ("frac", (key[1] * 10 + d) % p, f + 1)
                elif d == 0:
                    nxt = ("frac", key[1], f)
            if nxt is not None:
                row[c] = sid(nxt)
        table.append(row)
        i += 1
    acc = [(s[0] == "int" and s[1] * 10 ** k % p == 0) or (s[0] == "frac" and s[1] * 10 ** (k - s[2]) % p == 0)
           for s in states]
    return table, acc


def decimal_multiples_symbol(b, k, bounds_regex: str, mptr: str, max_states: int) -> str | None:
    """Nonterminal for the texts matching ``bounds_regex`` that are plain decimals and exact decimal multiples of
    ``k`` (None if there are none).

    Parameters
    ----------
    b : corral.compile.json_schema.builder.Builder
    k : int or float
        The ``multipleOf`` value (a float is read as its ``repr``, the decimal the schema wrote).
    bounds_regex : str
        The number texts the bounds allow (a regex over the whole text).
    mptr : str
        Pointer of the ``multipleOf`` keyword (errors).
    max_states : int
        Most states of the product before minimisation.
    """
    p, scale = decimal_parts(k)
    too_big = SchemaError(f"multipleOf {k!r} needs more than {max_states} states", pointer=mptr,
                          keyword="multipleOf", kind="unsupported")
    try:
        mtable, macc = _multiples_table(p, scale, max_states)
    except OverflowError:
        raise too_big from None
    dfa = compile_regex(bounds_regex)
    brows = dfa.transitions[:, _SYM].tolist()
    bacc = dfa.accepting.tolist()
    index: dict[tuple[int, int], int] = {(0, 0): 0}
    pairs = [(0, 0)]
    table: list[list[int]] = []
    i = 0
    while i < len(pairs):
        s, m = pairs[i]
        row = []
        for c in range(len(_SYM)):
            t, u = brows[s][c], mtable[m][c]
            if t < 0 or u < 0:
                row.append(-1)
                continue
            if (t, u) not in index:
                if len(pairs) >= max_states:
                    raise too_big
                index[(t, u)] = len(pairs)
                pairs.append((t, u))
            row.append(index[(t, u)])
        table.append(row)
        i += 1
    return table_rules(b, table, [bacc[s] and macc[m] for s, m in pairs], _SYM, "dmult")
