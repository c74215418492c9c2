"""Whitespace layouts of the JSON Schema compiler: the punctuation between tokens, literals and "any value"."""

from __future__ import annotations

import functools
import json

from corral.compile.json_schema import regexes as rx
from corral.compile.json_schema.vocab import NUMBER

__all__ = ["LayoutMixin", "DEFAULT_FREE_WHITESPACE"]


@functools.lru_cache(maxsize=8192)
def _dump_key(name: str) -> str:
    """``json.dumps`` of a key (memoised: objects spell their declared keys many times)."""
    return json.dumps(name, ensure_ascii=False)

DEFAULT_FREE_WHITESPACE = 4


class LayoutMixin:
    """Punctuation by layout: ``compact`` (none), ``spaced`` (``json.dumps(x)``: ``", "`` and ``": "``), ``pretty``
    (``json.dumps(indent=2)``), ``free`` (bounded)."""

    MAX_PRETTY_DEPTH = 32

    def _init_layout(self, whitespace) -> None:
        if whitespace == "compact":
            self.ws, self.ws_max = "compact", 0
        elif whitespace == "spaced":
            self.ws, self.ws_max = "spaced", 0
        elif whitespace == "pretty":
            self.ws, self.ws_max = "pretty", 0
        elif whitespace == "free":
            self.ws, self.ws_max = "free", DEFAULT_FREE_WHITESPACE
        elif isinstance(whitespace, int) and not isinstance(whitespace, bool) and whitespace >= 1:
            self.ws, self.ws_max = "free", whitespace
        else:
            raise ValueError(f"whitespace={whitespace!r} is not supported: use 'compact', 'spaced', 'pretty', "
                             "'free' or an int >= 1 (the most whitespace characters between two tokens)")
        self.depth = 0
        self._any_values: dict[int, str] = {}
        self._ws_nt: str | None = None

    # -------------------------------------------------------------- tokens

    def _wsp(self) -> str:
        if self._ws_nt is None:
            self._ws_nt = "ws"
            self.rule("ws")
            self.rule("ws", self.term("[ \\t\\n\\r]{1,%d}" % self.ws_max))
        return self._ws_nt

    def _ind(self, depth: int) -> str:
        return "\n" + "  " * depth

    def p_sep(self, started: bool) -> list[str]:
        """Symbols before a member or element of the container being built (``started``: not the first)."""
        if self.ws == "compact":
            return [self.lit(",")] if started else []
        if self.ws == "spaced":
            return [self.lit(", ")] if started else []
        if self.ws == "pretty":
            return [self.lit(("," if started else "") + self._ind(self.depth + 1))]
        return [self._wsp(), self.lit(","), self._wsp()] if started else [self._wsp()]

    def p_close(self, ch: str, started: bool) -> list[str]:
        """Symbols closing the container being built."""
        if self.ws == "pretty" and started:
            return [self.lit(self._ind(self.depth) + ch)]
        if self.ws == "free":
            return [self._wsp(), self.lit(ch)]
        return [self.lit(ch)]

    def p_key(self, name: str) -> list[str]:
        """Symbols for a declared key and its colon."""
        text = _dump_key(name)
        if self.ws == "compact":
            return [self.lit(text + ":")]
        if self.ws == "spaced":
            return [self.lit(text + ": ")]
        if self.ws == "pretty":
            return [self.lit(text + ": ")]
        return [self.lit(text), self._wsp(), self.lit(":"), self._wsp()]

    def p_colon(self) -> list[str]:
        """Symbols between a key terminal and its value."""
        if self.ws == "compact":
            return [self.lit(":")]
        if self.ws in ("pretty", "spaced"):
            return [self.lit(": ")]
        return [self._wsp(), self.lit(":"), self._wsp()]

    def child(self, node, pointer: str) -> str:
        """The nonterminal of a member or element schema (one level deeper)."""
        self.depth += 1
        try:
            return self.schema(node, pointer)
        finally:
            self.depth -= 1

    def value_symbols(self, value) -> list[str]:
        """Symbols spelling one JSON value literally in the current layout."""
        if self.ws == "compact":
            return [self.lit(json.dumps(value, separators=(",", ":"), ensure_ascii=False))]
        if self.ws == "spaced":
            return [self.lit(json.dumps(value, ensure_ascii=False))]
        if self.ws == "pretty":
            text = json.dumps(value, indent=2, ensure_ascii=False)
            return [self.lit(text.replace("\n", self._ind(self.depth)))]
        if isinstance(value, dict) and value:
            out = [self.lit("{")]
            for i, (k, v) in enumerate(value.items()):
                out += self.p_sep(i > 0) + self.p_key(k) + self.value_symbols(v)
            return out + self.p_close("}", True)
        if isinstance(value, list) and value:
            out = [self.lit("[")]
            for i, v in enumerate(value):
                out += self.p_sep(i > 0) + self.value_symbols(v)
            return out + self.p_close("]", True)
        if isinstance(value, (dict, list)):
            return [self.lit("{" if isinstance(value, dict) else "[")] + self.p_close(
                "}" if isinstance(value, dict) else "]", False)
        return [self.lit(json.dumps(value, ensure_ascii=False))]

    # -------------------------------------------------------------- any value

    def any_value(self) -> str:
        """Nonterminal for any JSON value (canonical strings, any number syntax) at the current depth."""
        depth = self.depth if self.ws == "pretty" else 0
        if depth in self._any_values:
            return self._any_values[depth]
        if self.ws == "pretty" and depth > self.MAX_PRETTY_DEPTH:
            return self.never()
        sfx = f"_{depth}" if depth else ""
        v, obj, arr = f"value{sfx}", f"any_object{sfx}", f"any_array{sfx}"
        self._any_values[depth] = v
        string = self.term(rx.string_regex())
        for alt in (obj, arr, string, self.term(NUMBER), self.lit("true"), self.lit("false"), self.lit("null")):
            self.rule(v, alt)
        self._any_containers(obj, arr, string)
        return v

    def any_object(self) -> str:
        """Nonterminal for any JSON object at the current depth."""
        self.any_value()
        depth = self.depth if self.ws == "pretty" else 0
        return f"any_object_{depth}" if depth else "any_object"

    def _any_containers(self, obj: str, arr: str, string: str) -> None:
        mem, els = obj + "_members", arr + "_elements"
        self.depth += 1
        try:
            inner = self.any_value()
        finally:
            self.depth -= 1
        self.rule(obj, self.lit("{"), *self.p_close("}", False))
        self.rule(obj, self.lit("{"), mem, *self.p_close("}", True))
        self.rule(mem, *self.p_sep(False), string, *self.p_colon(), inner)
        self.rule(mem, mem, *self.p_sep(True), string, *self.p_colon(), inner)
        self.rule(arr, self.lit("["), *self.p_close("]", False))
        self.rule(arr, self.lit("["), els, *self.p_close("]", True))
        self.rule(els, *self.p_sep(False), inner)
        self.rule(els, els, *self.p_sep(True), inner)
