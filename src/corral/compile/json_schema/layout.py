"""Whitespace layouts of the JSON Schema compiler: the punctuation between tokens, literals and "any value".

The layouts: ``compact`` (none), ``spaced`` (``json.dumps(x)``: ``", "`` and ``": "``), ``pretty``
(``json.dumps(indent=2)``), ``free`` (bounded). Each function takes the :class:`~corral.compile.json_schema.builder.
Builder` ``b`` and returns the symbols for the current layout (``b.options.ws``) and depth (``b.depth``).
"""

from __future__ import annotations

import functools
import json

from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.vocab import NUMBER

__all__ = ["DEFAULT_FREE_WHITESPACE", "MAX_PRETTY_DEPTH", "parse_whitespace", "sep", "close", "key", "colon",
           "value_symbols", "any_value", "any_object"]

DEFAULT_FREE_WHITESPACE = 4
#: Values nested deeper than this are not generated in the ``pretty`` layout.
MAX_PRETTY_DEPTH = 32


@functools.lru_cache(maxsize=8192)
def _dump_key(name: str) -> str:
    """``json.dumps`` of a key (memoised: objects spell their declared keys many times)."""
    return json.dumps(name, ensure_ascii=False)


def parse_whitespace(whitespace) -> tuple[str, int]:
    """``(layout, most whitespace characters between two tokens)`` for the ``whitespace`` option.

    Raises
    ------
    ValueError
        If ``whitespace`` is not ``"compact"``, ``"spaced"``, ``"pretty"``, ``"free"`` or an int >= 1.
    """
    if whitespace in ("compact", "spaced", "pretty"):
        return whitespace, 0
    if whitespace == "free":
        return "free", DEFAULT_FREE_WHITESPACE
    if isinstance(whitespace, int) and not isinstance(whitespace, bool) and whitespace >= 1:
        return "free", whitespace
    raise ValueError(f"whitespace={whitespace!r} is not supported: use 'compact', 'spaced', 'pretty', "
                     "'free' or an int >= 1 (the most whitespace characters between two tokens)")


def _wsp(b) -> str:
    if b.ws_nt is None:
        b.ws_nt = "ws"
        b.rule("ws")
        b.rule("ws", b.term("[ \\t\\n\\r]{1,%d}" % b.options.ws_max))
    return b.ws_nt


def _ind(depth: int) -> str:
    return "\n" + "  " * depth


def sep(b, started: bool) -> list[str]:
    """Symbols before a member or element of the container being built (``started``: not the first)."""
    ws = b.options.ws
    if ws == "compact":
        return [b.lit(",")] if started else []
    if ws == "spaced":
        return [b.lit(", ")] if started else []
    if ws == "pretty":
        return [b.lit(("," if started else "") + _ind(b.depth + 1))]
    return [_wsp(b), b.lit(","), _wsp(b)] if started else [_wsp(b)]


def close(b, ch: str, started: bool) -> list[str]:
    """Symbols closing the container being built."""
    if b.options.ws == "pretty" and started:
        return [b.lit(_ind(b.depth) + ch)]
    if b.options.ws == "free":
        return [_wsp(b), b.lit(ch)]
    return [b.lit(ch)]


def key(b, name: str) -> list[str]:
    """Symbols for a declared key and its colon."""
    text = _dump_key(name)
    ws = b.options.ws
    if ws == "compact":
        return [b.lit(text + ":")]
    if ws in ("spaced", "pretty"):
        return [b.lit(text + ": ")]
    return [b.lit(text), _wsp(b), b.lit(":"), _wsp(b)]


def colon(b) -> list[str]:
    """Symbols between a key terminal and its value."""
    ws = b.options.ws
    if ws == "compact":
        return [b.lit(":")]
    if ws in ("pretty", "spaced"):
        return [b.lit(": ")]
    return [_wsp(b), b.lit(":"), _wsp(b)]


def value_symbols(b, value) -> list[str]:
    """Symbols spelling one JSON value literally in the current layout."""
    ws = b.options.ws
    if ws == "compact":
        return [b.lit(json.dumps(value, separators=(",", ":"), ensure_ascii=False))]
    if ws == "spaced":
        return [b.lit(json.dumps(value, ensure_ascii=False))]
    if ws == "pretty":
        text = json.dumps(value, indent=2, ensure_ascii=False)
        return [b.lit(text.replace("\n", _ind(b.depth)))]
    if isinstance(value, dict) and value:
        out = [b.lit("{")]
        for i, (k, v) in enumerate(value.items()):
            out += sep(b, i > 0) + key(b, k) + value_symbols(b, v)
        return out + close(b, "}", True)
    if isinstance(value, list) and value:
        out = [b.lit("[")]
        for i, v in enumerate(value):
            out += sep(b, i > 0) + value_symbols(b, v)
        return out + close(b, "]", True)
    if isinstance(value, (dict, list)):
        return [b.lit("{" if isinstance(value, dict) else "[")] + close(
            b, "}" if isinstance(value, dict) else "]", False)
    return [b.lit(json.dumps(value, ensure_ascii=False))]


def any_value(b) -> str:
    """Nonterminal for any JSON value (canonical strings, any number syntax) at the current depth."""
    depth = b.depth if b.options.ws == "pretty" else 0
    if depth in b.any_values:
        return b.any_values[depth]
    if b.options.ws == "pretty" and depth > MAX_PRETTY_DEPTH:
        return b.never()
    sfx = f"_{depth}" if depth else ""
    v, obj, arr = f"value{sfx}", f"any_object{sfx}", f"any_array{sfx}"
    b.any_values[depth] = v
    string = b.term(rx.string_regex())
    for alt in (obj, arr, string, b.term(NUMBER), b.lit("true"), b.lit("false"), b.lit("null")):
        b.rule(v, alt)
    _any_containers(b, obj, arr, string)
    return v


def any_object(b) -> str:
    """Nonterminal for any JSON object at the current depth."""
    any_value(b)
    depth = b.depth if b.options.ws == "pretty" else 0
    return f"any_object_{depth}" if depth else "any_object"


def _any_containers(b, obj: str, arr: str, string: str) -> None:
    mem, els = obj + "_members", arr + "_elements"
    b.depth += 1
    try:
        inner = any_value(b)
    finally:
        b.depth -= 1
    b.rule(obj, b.lit("{"), *close(b, "}", False))
    b.rule(obj, b.lit("{"), mem, *close(b, "}", True))
    b.rule(mem, *sep(b, False), string, *colon(b), inner)
    b.rule(mem, mem, *sep(b, True), string, *colon(b), inner)
    b.rule(arr, b.lit("["), *close(b, "]", False))
    b.rule(arr, b.lit("["), els, *close(b, "]", True))
    b.rule(els, *sep(b, False), inner)
    b.rule(els, els, *sep(b, True), inner)
