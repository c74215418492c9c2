"""Strings with large length bounds (``maxLength: 32767``) as a chain of fixed-size chunks: a counter in the grammar.

A DFA for ``UNIT{0,32767}`` needs a state per unit read (and per pending UTF-8 byte): over 100,000 states, too
large to build or to tabulate per token. Instead the content is split, unambiguously, into full chunks of exactly
``CHUNK`` units followed by one remainder of fewer than ``CHUNK`` units (possibly empty):

    B_j -> REM(r_lo..r_hi) | CHUNK B_{j+1}

where ``B_j`` stands for "``j`` chunks read" and the remainder range keeps the total ``j * CHUNK + r`` within
``[lo, hi]``; a chunk is offered only while ``(j + 1) * CHUNK <= hi``. Once ``j * CHUNK >= lo`` with no upper
bound the rest is ``UNIT*``. The grammar has ``hi / CHUNK + 1`` such rules and two terminals of at most
``CHUNK`` units (their DFAs are built directly), so a bound of tens of thousands compiles in milliseconds. Every
content splits in exactly one way, so the language is exactly ``UNIT{lo,hi}`` between quotes (tested against
python-jsonschema and the regex).
"""

from __future__ import annotations

from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.scalars import register_length_dfa

__all__ = ["CHUNK", "LONG_STRING", "MAX_LONG_STRING", "long_string"]

#: Units per chunk.
CHUNK = 256
#: Length bounds above this are compiled as chunks (below it the one-terminal DFA is built directly).
LONG_STRING = 1024
#: ... up to this bound (4,096 chunk rules); larger ones take the one-terminal path, which refuses them as too large.
MAX_LONG_STRING = 1 << 20


def _units(b, lo: int, hi: int | None) -> str:
    """The content terminal ``UNIT{lo,hi}`` (``lo >= 1``), its DFA registered (built directly)."""
    register_length_dfa(lo, hi, quoted=False)
    return b.term(rx.string_regex(lo, hi)[1:-1])


def _remainder(b, lhs: str, r_lo: int, r_hi: int | None) -> None:
    """Rules ``lhs -> UNIT{r_lo,r_hi}``, the empty remainder as an empty alternative (terminals are non-empty)."""
    if r_lo == 0:
        b.rule(lhs)
        r_lo = 1
    if r_hi is None or r_lo <= r_hi:
        b.rule(lhs, _units(b, r_lo, r_hi))


def long_string(b, lo: int, hi: int | None) -> str:
    """A nonterminal for the canonical JSON strings (quotes included) of ``lo..hi`` code points (``hi=None``:
    unbounded), as chunks (module docstring); the caller ensures ``lo <= hi``."""
    last = hi // CHUNK if hi is not None else -(-lo // CHUNK)  # B_last: no further chunk
    names = [b.nt("chunks") for _ in range(last + 1)]
    for j, name in enumerate(names):
        done = j * CHUNK
        if hi is None and done >= lo:  # the last one: any remainder
            _remainder(b, name, 0, None)
            continue
        r_lo = max(0, lo - done)
        r_hi = CHUNK - 1 if hi is None else min(CHUNK - 1, hi - done)
        if r_lo <= r_hi:
            _remainder(b, name, r_lo, r_hi)
        if j < last:
            b.rule(name, _units(b, CHUNK, CHUNK), names[j + 1])
    start = b.nt("long_string")
    b.rule(start, b.lit('"'), names[0], b.lit('"'))
    return start
