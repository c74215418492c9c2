"""``type: number`` and ``type: integer`` for the JSON Schema compiler: bounds, negated values and ``multipleOf``,
exact where the language stays regular.

Bounds without ``multipleOf``: see the module docstring of :mod:`~corral.compile.json_schema.compiler` (integer
literals in canonical form, float literals between the ``repr`` of the extreme floats within the bounds).

What ``multipleOf`` generates (``k`` is its value, bounds are ``minimum``/``maximum``/``exclusiveMinimum``/
``exclusiveMaximum``):

* ``k`` an integer (a JSON integer in the schema), ``type: integer``: the canonical integer literals ``n`` within the
  bounds with ``n % k == 0``. "Divisible by ``k``" is a regular language of decimal digit strings (the remainder
  of the digits read so far is the state), so the product of the bounds' DFA and the remainder automaton is emitted
  as a right-linear grammar (one nonterminal per product state). jsonschema computes ``instance % k`` exactly for
  integers, so this is exact. The automaton is built over every reachable remainder before it is minimised, so a
  ``k`` whose product automaton exceeds :data:`MAX_STATES` states (``k`` above about 15000) is unsupported.
* ``k`` an integer, ``type: number`` (or no type): those integer literals, plus ``N.0`` (the ``repr`` of the float
  ``N``) for the same ``N`` with ``|N| <= 2**53`` (floats that exact, so ``float % k`` is exact), plus ``-0.0`` when
  0 is within the bounds. Documented narrowing: integral floats of magnitude above ``2**53`` (``1e+20``) and other
  spellings of a multiple (``1e1``, ``10.00``) are not generated. ``k > 2**53`` is unsupported for numbers.
* ``not: {multipleOf: k}`` (``k`` an integer; several such, and a positive integer ``multipleOf`` beside them,
  combine): the remainder automaton runs modulo the lcm of all of them, accepting the integers divisible by the
  positive ``k`` and by none of the negated ones; ``N.0`` likewise. Documented narrowing: non-integral numbers
  (``2.5``), which jsonschema's float division may or may not count as multiples, are never generated there, nor
  is ``-0.0`` (a multiple of everything). Two integer ``multipleOf`` in one conjunction merge into their lcm.
* ``k`` a non-integer (a JSON number with a fraction or exponent, e.g. ``0.01``, ``2.5``): jsonschema tests
  ``int(x / k) == x / k`` in float arithmetic, which is not decimal divisibility (``0.07 / 0.01`` is
  ``7.000000000000001``, so jsonschema rejects ``0.07``). With both a lower and an upper bound and at most
  :data:`MAX_ENUMERATED` candidate multiples, the instances jsonschema accepts are enumerated exactly (for each
  integer ``j``, the floats ``x`` near ``j * k`` whose float quotient is ``j``, and the integers) and generated as
  their canonical texts (``repr`` for floats, ``str`` for integers): sound, and complete for canonical texts.
* ``k`` a non-integer otherwise (one bound or none, or too many multiples): the plain decimal texts (no exponent;
  trailing fraction zeros allowed) within the bounds whose value is an exact decimal multiple of ``k`` read as the
  decimal its JSON text wrote (``0.07`` for ``0.01``), built as a digit automaton
  (:mod:`~corral.compile.json_schema.decimal_multiples`). When the float ``k`` is exactly that decimal (``k`` a
  dyadic rational: ``0.5``, ``0.25``, ``2.5``, ``0.125``), texts of magnitude below ``2**(53 - a)`` (``k = p / 2**a``,
  ``p`` odd) are exact floats whose float quotient by ``k`` is the exact integer, so jsonschema agrees on every
  generated text; documented narrowing: larger multiples, exponent spellings and plain texts outside the plain range
  of the bounds' spellings are not generated. When it is not (``0.01``, ``0.1``, ``0.3``), exact decimal
  divisibility (the JSON Schema specification's "division results in an integer") and jsonschema's float test
  disagree on about one multiple in nine for ``0.01`` (``0.07``, ``0.14``, ...), and the float test is not a regular
  language, so this is unsupported unless the compile options carry ``decimal_multiple_of=True`` (decimal
  semantics, which then differs from jsonschema's and corral's float-based validator on those values).
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

from corral.automata.regex import compile_regex
from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.decimal_multiples import PLAIN_NUMBER, decimal_multiples_symbol, dyadic_exponent
from corral.compile.json_schema.digit_rules import table_rules
from corral.compile.json_schema.vocab import BY_TYPE, MAX_NUMBER_BOUND, NON_INTEGER, NOT_ENUM, NOT_MULTIPLE, NUMBER
from corral.errors import SchemaError

__all__ = ["compile_number", "compile_integer", "multiple_of_symbol", "int_bounds", "jsonschema_multiple",
           "MAX_ENUMERATED", "MAX_STATES"]

#: Most candidate multiples enumerated for a non-integer ``multipleOf``.
MAX_ENUMERATED = 10000
#: Most states of the product automaton (bounds x remainders).
MAX_STATES = 50000
_EXACT = 2 ** 53


def jsonschema_multiple(instance, k) -> bool:
    """Whether jsonschema's ``multipleOf`` keyword accepts ``instance`` (a JSON number) for ``k`` (its arithmetic).

    Parameters
    ----------
    instance : int or float
    k : int or float

    Returns
    -------
    bool
    """
    if isinstance(k, float):
        try:
            quotient = instance / k
            return int(quotient) == quotient
        except OverflowError:
            return (Fraction(instance) / Fraction(k)).denominator == 1
    return not instance % k


def _bound_ok(node, x) -> bool:
    q = Fraction(x)
    return (("minimum" not in node or q >= Fraction(node["minimum"]))
            and ("exclusiveMinimum" not in node or q > Fraction(node["exclusiveMinimum"]))
            and ("maximum" not in node or q <= Fraction(node["maximum"]))
            and ("exclusiveMaximum" not in node or q < Fraction(node["exclusiveMaximum"])))


def int_bounds(node) -> tuple[int | None, int | None]:
    """Inclusive integer bounds ``(lo, hi)`` implied by the bound keywords of ``node`` (None: unbounded).

    Parameters
    ----------
    node : dict
        A schema object with numeric bound keywords.

    Returns
    -------
    (int or None, int or None)
    """
    lo = hi = None
    for key in ("minimum", "exclusiveMinimum"):
        if key in node:
            q = Fraction(node[key])
            v = math.ceil(q) if key == "minimum" else math.floor(q) + 1
            lo = v if lo is None else max(lo, v)
    for key in ("maximum", "exclusiveMaximum"):
        if key in node:
            q = Fraction(node[key])
            v = math.floor(q) if key == "maximum" else math.ceil(q) - 1
            hi = v if hi is None else min(hi, v)
    return lo, hi


_SYMBOLS = [ord("-")] + list(range(ord("0"), ord("9") + 1))


def _divisible_ints(b, lo, hi, k: int, mptr: str, neg=()) -> str | None:
    """Nonterminal for the canonical integers in ``[lo, hi]`` divisible by ``k`` (None if there are none).

    The product of the bounds' DFA and the remainder automaton (remainder of the digits read so far, modulo ``k``)
    is minimised and emitted as a right-linear grammar: one nonterminal per state, one rule per transition.
    """
    if lo is not None and hi is not None and lo > hi:
        return None
    modulus = math.lcm(k, *neg)  # the remainder modulo every divisor asked about (``neg``: must not divide)
    pattern = rx.int_range_regex(lo, hi)  # canonical: no "-0"
    dfa = compile_regex(pattern)
    rows = dfa.transitions[:, _SYMBOLS].tolist()
    acc = dfa.accepting.tolist()
    index: dict[tuple[int, int], int] = {(0, 0): 0}
    states = [(0, 0)]
    table: list[list[int]] = []
    i = 0
    while i < len(states):
        s, r = states[i]
        row = []
        for c, t in enumerate(rows[s]):
            if t < 0:
                row.append(-1)
                continue
            key = (t, (r * 10 + c - 1) % modulus if c else r)
            if key not in index:
                if len(states) >= MAX_STATES:
                    raise SchemaError(f"multipleOf {k} with these bounds needs more than {MAX_STATES} states",
                                      pointer=mptr, keyword="multipleOf", kind="unsupported")
                index[key] = len(states)
                states.append(key)
            row.append(index[key])
        table.append(row)
        i += 1
    final = [acc[s] and r % k == 0 and all(r % n for n in neg) for s, r in states]
    return table_rules(b, table, final, _SYMBOLS, "mult")


def _enumerated(b, node, k: float, integer: bool, mptr: str) -> str | None:
    """Regex terminal for the canonical texts of the bounded instances jsonschema accepts (None: none)."""
    has_lo = "minimum" in node or "exclusiveMinimum" in node
    has_hi = "maximum" in node or "exclusiveMaximum" in node
    if not (has_lo and has_hi):
        raise SchemaError(f"multipleOf {k!r} (not an integer) needs both a lower and an upper bound",
                          pointer=mptr, keyword="multipleOf", kind="unsupported")
    lo, hi = int_bounds(node)
    qk = Fraction(k)
    lows = [Fraction(node[x]) for x in ("minimum", "exclusiveMinimum") if x in node]
    highs = [Fraction(node[x]) for x in ("maximum", "exclusiveMaximum") if x in node]
    j_lo, j_hi = math.floor(max(lows) / qk) - 1, math.ceil(min(highs) / qk) + 1
    if j_hi - j_lo > MAX_ENUMERATED:
        raise SchemaError(f"multipleOf {k!r} has more than {MAX_ENUMERATED} multiples between the bounds",
                          pointer=mptr, keyword="multipleOf", kind="unsupported")
    texts: set[str] = set()
    if lo is not None and hi is not None:
        if hi - lo > 4 * MAX_ENUMERATED:
            raise SchemaError(f"multipleOf {k!r}: too many integers between the bounds", pointer=mptr,
                              keyword="multipleOf", kind="unsupported")
        texts.update(str(n) for n in range(lo, hi + 1) if jsonschema_multiple(n, k))
    if not integer:
        for j in range(j_lo, j_hi + 1):
            try:
                c = float(j * qk)
            except OverflowError:
                continue
            if not math.isfinite(c):
                continue
            # the floats whose float quotient by k is the integer j form a run around j * k: walk it
            for direction in (-math.inf, math.inf):
                x, misses = c, 0
                while misses < 4:
                    if jsonschema_multiple(x, k) and x / k == j:
                        misses = 0
                        if _bound_ok(node, x):
                            texts.add(repr(x))
                    else:
                        misses += 1
                    x = math.nextafter(x, direction)
            if j == 0 and _bound_ok(node, 0):
                texts.add("-0.0")
    texts = {t for t in texts if _bound_ok(node, float(t) if "." in t or "e" in t else int(t))}
    if not texts:
        return None
    return b.term(_trie_regex(sorted(texts)))


def _non_integer_multiple(b, node, k: float, integer: bool, mptr: str) -> str | None:
    """A non-integer ``multipleOf``: enumerated between two close bounds, else the decimal digit automaton."""
    if any(x in node for x in ("minimum", "exclusiveMinimum")) and any(x in node for x in ("maximum",
                                                                                          "exclusiveMaximum")):
        try:
            return _enumerated(b, node, k, integer, mptr)
        except SchemaError as exc:
            if exc.kind != "unsupported":
                raise
    a = dyadic_exponent(k)
    if a is None and not getattr(b.options, "decimal_multiple_of", False):
        raise SchemaError(f"multipleOf {k!r} is not exact in binary: jsonschema's float test (0.07 / 0.01 is "
                          "7.000000000000001) is not a regular language; give both a lower and an upper bound, or "
                          "compile with decimal_multiple_of=True for exact decimal multiples", pointer=mptr,
                          keyword="multipleOf", kind="unsupported")
    bounds = dict(node)
    if a is not None:  # multiples below 2**(53-a) in magnitude are exact floats, their quotients exact integers
        cap = 2 ** (53 - a) if a <= 53 else 2.0 ** (53 - a)
        bounds["exclusiveMaximum"] = min(bounds.get("exclusiveMaximum", cap), cap)
        bounds["exclusiveMinimum"] = max(bounds.get("exclusiveMinimum", -cap), -cap)
    regex = _bounds_regex(bounds, integer, mptr)
    if regex is None:
        return None
    return decimal_multiples_symbol(b, k, regex, mptr, MAX_STATES)


def _bounds_regex(node, integer: bool, mptr: str) -> str | None:
    """The texts (integers, or also float spellings) within the bounds of ``node`` (None: none)."""
    keys = [x for x in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum") if x in node]
    if not keys:
        return _INT if integer else PLAIN_NUMBER
    for key in keys:
        if not integer and abs(node[key]) > MAX_NUMBER_BOUND:
            raise SchemaError(f"{key} beyond 1e100 in magnitude is not supported for numbers",
                              pointer=mptr.rsplit("/", 1)[0] + "/" + key, keyword=key, kind="unsupported")
    lo_i, hi_i = int_bounds(node)
    spellings = []
    if lo_i is None or hi_i is None or lo_i <= hi_i:
        spellings.append(rx.int_range_regex(lo_i, hi_i))
    if not integer:
        lo_f, hi_f = _extreme_float(node, True), _extreme_float(node, False)
        if lo_f is None or hi_f is None or lo_f <= hi_f:
            floats = rx.float_range_regex(lo_f, hi_f)
            if floats is not None:
                spellings.append(floats)
    return "(?:" + "|".join(f"(?:{s})" for s in spellings) + ")" if spellings else None


def _trie_regex(words: list[str]) -> str:
    """A regex matching exactly ``words`` (shared prefixes factored)."""
    import re

    trie: dict = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def walk(node) -> str:
        alts = [re.escape(ch) + walk(child) for ch, child in node.items() if ch]
        end = "" in node
        if not alts:
            return ""
        body = alts[0] if len(alts) == 1 and not end else "(?:" + "|".join(alts) + ")"
        return f"(?:{body})?" if end else body

    return walk(trie)


def multiple_of_symbol(b, node: dict, mptr: str, integer: bool) -> str:
    """Grammar symbol for the ``integer`` (or ``number``) instances of ``node`` that satisfy its ``multipleOf``.

    Parameters
    ----------
    b : corral.compile.json_schema.builder.Builder
        The builder (its ``nt``, ``rule``, ``term`` and ``lit`` are used).
    node : dict
        The schema object; its numeric bounds are honoured exactly.
    mptr : str
        JSON pointer of the ``multipleOf`` keyword (for errors).
    integer : bool
        Whether only integers are allowed (``type: integer``).

    Returns
    -------
    str
        A nonterminal or terminal name.

    Raises
    ------
    SchemaError
        ``invalid`` when ``multipleOf`` is not a positive number; ``unsupported`` in the cases the module docstring
        lists; ``unsatisfiable`` when no number satisfies the keywords.
    """
    k = node.get("multipleOf", 1)
    neg = list(node.get(NOT_MULTIPLE, ()))
    if any(isinstance(n, bool) or not isinstance(n, int) or n <= 0 for n in neg) or (neg and isinstance(k, float)):
        raise SchemaError("not multipleOf is only supported for integer multipleOf values", pointer=mptr,
                          keyword="multipleOf", kind="unsupported")
    if isinstance(k, bool) or not isinstance(k, (int, float)) or not math.isfinite(k) or k <= 0:
        raise SchemaError("multipleOf must be a number greater than 0", pointer=mptr, keyword="multipleOf")
    for key in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        v = node.get(key, 0)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise SchemaError(f"{key} must be a number", pointer=mptr.rsplit("/", 1)[0] + "/" + key, keyword=key)
    if any(isinstance(key, tuple) and key != NOT_MULTIPLE and node[key] for key in node):  # internal exclusions
        raise SchemaError("multipleOf together with not is not supported", pointer=mptr, keyword="multipleOf",
                          kind="unsupported")
    if isinstance(k, float):
        out = _non_integer_multiple(b, node, k, integer, mptr)
    else:
        lo, hi = int_bounds(node)
        ints = _divisible_ints(b, lo, hi, k, mptr, neg)
        alts = [ints] if ints is not None else []
        if not integer:
            if k > _EXACT:
                raise SchemaError("an integer multipleOf above 2**53 is only supported with type integer",
                                  pointer=mptr, keyword="multipleOf", kind="unsupported")
            flo = -_EXACT if lo is None else max(lo, -_EXACT)
            fhi = _EXACT if hi is None else min(hi, _EXACT)
            floats = _divisible_ints(b, flo, fhi, k, mptr, neg)
            if floats is not None:
                f = b.nt("mult_float")
                b.rule(f, floats, b.lit(".0"))
                alts.append(f)
                if (lo is None or lo <= 0) and (hi is None or hi >= 0) and not neg:
                    alts.append(b.lit("-0.0"))
        out = None
        if alts:
            out = b.nt("multiple")
            for a in alts:
                b.rule(out, a)
    if out is None:
        raise SchemaError(f"no number between the bounds is a multiple of {k!r}", pointer=mptr,
                          keyword="multipleOf", kind="unsatisfiable")
    return out


# ---------------------------------------------------------------------- the type compilers

_INT = r"-?(?:0|[1-9][0-9]*)"


def _non_integer_regex() -> str:
    """Number literals that parse (as Python floats, like jsonschema) to a non-integral value.

    Plain decimals with at most 15 significant digits and a non-zero last fractional digit (``12.5``,
    ``0.001``; at most 299 zeros after ``0.``), and ``d.ddde-k`` with the same digits and 1 <= k <= 300. A decimal
    with at most 15 significant digits lies further from every integer than the rounding error of its parse, so
    it stays non-integral; longer spellings (``1.0000000000000001`` parses to ``1.0``), positive exponents
    (``1.5e1`` is 15) and underflowing ones are not generated (a narrowing: integral floats such as ``1.0`` are
    integers for jsonschema).
    """
    big = "|".join(f"[1-9][0-9]{{{n - 1}}}\\.[0-9]{{0,{14 - n}}}[1-9]" for n in range(1, 15))
    sig = "(?:[1-9]|[1-9][0-9]{0,13}[1-9])"
    small = f"0\\.0{{0,299}}{sig}"
    sci = "[1-9](?:\\.[0-9]{0,13}[1-9])?[eE]-0*(?:[1-9][0-9]?|[12][0-9][0-9]|300)"
    return f"-?(?:{big}|{small}|{sci})"


_NON_INT = _non_integer_regex()


def _not_numbers(node, pointer, integral_only: bool) -> list:
    """Integer values excluded by NOT_ENUM; unsupported if a non-integral literal could equal one."""
    out = []
    for v in node.get(NOT_ENUM, ()):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        if isinstance(v, float) and not v.is_integer():
            if not integral_only:
                raise SchemaError("not/const of a non-integral number is not supported", pointer=pointer,
                                  keyword="not", kind="unsupported")
            continue
        if not integral_only:
            raise SchemaError("excluding a number from type number is not supported (1 == 1.0 has many "
                              "spellings)", pointer=pointer, keyword="not", kind="unsupported")
        out.append(int(v))
    return out


def _numbers_excluding(excluded) -> str:
    """Integer literals other than the excluded values, and canonical float spellings (see the module docstring
    of the compiler) whose value lies outside the rounding interval of every excluded float."""
    ints = [int(v) for v in excluded if float(v).is_integer() and abs(v) < 2 ** 63 or isinstance(v, int)]
    spellings = [_int_regex_excluding(None, None, ints)]
    floats = sorted({float(v) for v in excluded})
    lo = None
    for f in floats:
        below = Decimal(repr(math.nextafter(f, -math.inf)))
        if lo is None or lo <= below:
            r = rx.float_range_regex(lo, below)
            if r is not None:
                spellings.append(r)
        lo = Decimal(repr(math.nextafter(f, math.inf)))
    r = rx.float_range_regex(lo, None)
    if r is not None:
        spellings.append(r)
    return "(?:" + "|".join(f"(?:{x})" for x in spellings if x is not None) + ")"


def _int_regex_excluding(lo, hi, excluded) -> str | None:
    """Regex for the integers in [lo, hi] except ``excluded``."""
    pieces, cur = [], lo
    for x in sorted(set(excluded)):
        if (lo is not None and x < lo) or (hi is not None and x > hi):
            continue
        if cur is None or cur <= x - 1:
            pieces.append((cur, x - 1))
        cur = x + 1
    if cur is None or hi is None or cur <= hi:
        pieces.append((cur, hi))
    if not pieces:
        return None
    return "(?:" + "|".join(f"(?:{rx.int_range_regex(a, b)})" for a, b in pieces) + ")"


def _bounds_ok(node, x: float, lower: bool) -> bool:
    """Whether ``x`` satisfies the lower (else the upper) bounds of ``node``, exactly."""
    q = Fraction(x)
    if lower:
        return ((("minimum" not in node) or q >= Fraction(node["minimum"]))
                and (("exclusiveMinimum" not in node) or q > Fraction(node["exclusiveMinimum"])))
    return ((("maximum" not in node) or q <= Fraction(node["maximum"]))
            and (("exclusiveMaximum" not in node) or q < Fraction(node["exclusiveMaximum"])))


def _extreme_float(node, lower: bool) -> Decimal | None:
    """The ``repr`` of the smallest (``lower``; else the largest) float within the bounds (None: unbounded)."""
    names = ("minimum", "exclusiveMinimum") if lower else ("maximum", "exclusiveMaximum")
    vals = [node[k] for k in names if k in node]
    if not vals:
        return None
    out, inward, outward = float(max(vals) if lower else min(vals)), math.inf, -math.inf
    if not lower:
        inward, outward = outward, inward
    while not _bounds_ok(node, out, lower):
        out = math.nextafter(out, inward)
    while _bounds_ok(node, math.nextafter(out, outward), lower):
        out = math.nextafter(out, outward)
    return Decimal(repr(out))


def compile_number(b, node, pointer) -> str:
    """The symbol of the numbers ``node`` allows: ``multipleOf``, a negated ``type: integer`` or negated values,
    else integer and float literals within the bounds."""
    if "multipleOf" in node or NOT_MULTIPLE in node:
        return multiple_of_symbol(b, node, b.kp(node, pointer, "multipleOf"), False)
    keys = [k for k in BY_TYPE["integer"] if k in node]
    if node.get(NON_INTEGER):
        _not_numbers(node, pointer, True)
        if not keys:
            return b.term(_NON_INT)
        raise SchemaError("bounds on non-integral numbers (not integer) are not supported", pointer=pointer,
                          keyword="not", kind="unsupported")
    excluded = [v for v in node.get(NOT_ENUM, ()) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if excluded:
        if keys:
            raise SchemaError("excluding a number together with bounds is not supported", pointer=pointer,
                              keyword="not", kind="unsupported")
        return b.term(_numbers_excluding(excluded))
    if not keys:
        return b.term(NUMBER)
    for k in keys:
        if abs(node[k]) > MAX_NUMBER_BOUND:
            raise SchemaError(f"{k} beyond 1e100 in magnitude is not supported for numbers",
                              pointer=b.kp(node, pointer, k), keyword=k, kind="unsupported")
    lo_i, hi_i = int_bounds(node)
    spellings = []
    if lo_i is None or hi_i is None or lo_i <= hi_i:
        unbounded = lo_i is None and hi_i is None
        spellings.append(_INT if unbounded else rx.int_range_regex(lo_i, hi_i))
    lo_f, hi_f = _extreme_float(node, True), _extreme_float(node, False)
    if lo_f is None or hi_f is None or lo_f <= hi_f:
        floats = rx.float_range_regex(lo_f, hi_f)
        if floats is not None:
            spellings.append(floats)
    if not spellings:
        raise SchemaError("no number lies between the bounds", pointer=b.kp(node, pointer, keys[0]),
                          keyword=keys[0], kind="unsatisfiable")
    return b.term("(?:" + "|".join(f"(?:{s})" for s in spellings) + ")")


def compile_integer(b, node, pointer) -> str:
    """The symbol of the integer literals ``node`` allows (with ``integral_floats``, also ``N.0`` up to 2^53)."""
    if node.get(NON_INTEGER):  # a negated type: integer (merged beside type: integer): no integer
        return b.never()
    if "multipleOf" in node or NOT_MULTIPLE in node:
        return multiple_of_symbol(b, node, b.kp(node, pointer, "multipleOf"), True)
    lo, hi = int_bounds(node)
    if lo is not None and hi is not None and lo > hi:
        key = next(k for k in ("minimum", "exclusiveMinimum") if k in node)
        raise SchemaError("no integer lies between the bounds", pointer=b.kp(node, pointer, key), keyword=key,
                          kind="unsatisfiable")
    excluded = _not_numbers(node, pointer, True)
    if excluded:
        regex = _int_regex_excluding(lo, hi, excluded)
    elif lo is None and hi is None:
        regex = _INT
    else:
        regex = rx.int_range_regex(lo, hi)
    if b.options.float_integers:
        # integral floats, exact up to 2^53: their canonical text is the integer's followed by ".0"
        lo_f, hi_f = max(lo, -2 ** 53) if lo is not None else -2 ** 53, min(hi, 2 ** 53) if hi is not None \
            else 2 ** 53
        floats = _int_regex_excluding(lo_f, hi_f, excluded) if lo_f <= hi_f else None
        if floats is not None:
            zero = lo_f <= 0 <= hi_f and 0 not in excluded
            regex = "|".join(f"(?:{x})" for x in (regex, floats + r"\.0", "-0\\.0" if zero else None) if x)
    return b.term(regex) if regex is not None else b.never()
