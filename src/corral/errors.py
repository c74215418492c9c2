"""Errors raised by corral.

Every error corral raises on bad input derives from :class:`CorralError`. Errors about user input also derive
from :class:`ValueError`, so callers can catch them either way::

    CorralError
    ├── GrammarError        (ValueError)  a Lark grammar is malformed, unsupported or has an empty language;
    │                                     carries ``line`` and ``column`` (1-based) where known
    ├── RegexError          (ValueError)  a regex uses a construct that cannot be compiled exactly;
    │                                     carries ``pattern``, ``position`` (0-based offset) and ``construct``
    ├── VocabularyError     (ValueError)  a tokenizer whose tokens cannot be mapped to bytes, or an unknown type
    ├── SchemaError         (ValueError)  a JSON Schema is invalid, unsatisfiable or unsupported; ``pointer``,
    │                                     ``keyword`` and ``kind``
    ├── ModelError          (ValueError)  a model cannot be found or loaded
    ├── ConfigurationError  (ValueError)  an argument or option is invalid (a value out of range, options that
    │                                     do not go together, an unknown method or scheme)
    └── GenerationError                   generation could not proceed (for example the prompt is too long)

On the hot path (``Matcher.check``) a rejected token is ``False``, never an exception.
"""

from __future__ import annotations

__all__ = [
    "CorralError",
    "GrammarError",
    "RegexError",
    "VocabularyError",
    "SchemaError",
    "ModelError",
    "ConfigurationError",
    "GenerationError",
    "warn_caller",
]


class CorralError(Exception):
    """Root of every error corral raises."""


class GrammarError(CorralError, ValueError):
    """A grammar is malformed, uses an unsupported feature, or describes an empty language.

    Attributes
    ----------
    message : str
        What is wrong, without the location.
    line, column : int or None
        1-based position in the grammar text, where known.
    source_name : str or None
        The grammar's file name, where known.
    kind : str or None
        ``"empty_language"`` when the grammar (or a terminal) describes no string at all; ``"too_complex"`` when
        compiling it ran past the compile budget (:mod:`corral.budget`); callers decide on this, never on the
        message text.
    """

    def __init__(
        self,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        source_name: str | None = None,
        kind: str | None = None,
    ) -> None:
        self.message = message
        self.line = line
        self.column = column
        self.source_name = source_name
        self.kind = kind
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.line is not None:
            where = f", at line {self.line} column {self.column if self.column is not None else '?'}"
        if self.source_name:
            where += f" of {self.source_name}"
        return f"{self.message}{where}"


class RegexError(CorralError, ValueError):
    """A regular expression cannot be compiled exactly.

    Attributes
    ----------
    pattern : str
        The regex.
    position : int or None
        0-based offset of the offending construct in ``pattern``, where known.
    construct : str or None
        The construct, for example ``"lookahead (?=...)"`` or ``"backreference \\1"``.
    """

    def __init__(
        self,
        message: str,
        *,
        pattern: str,
        position: int | None = None,
        construct: str | None = None,
    ) -> None:
        self.message = message
        self.pattern = pattern
        self.position = position
        self.construct = construct
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f" at position {self.position}" if self.position is not None else ""
        return f"{self.message}{where} in regex {self.pattern!r}"


class VocabularyError(CorralError, ValueError):
    """A tokenizer cannot be turned into a byte-level vocabulary."""


class SchemaError(CorralError, ValueError):
    """A JSON Schema cannot be compiled exactly.

    Attributes
    ----------
    pointer : str
        RFC 6901 JSON pointer into the schema (``""`` is the root).
    keyword : str or None
        The keyword at fault.
    kind : str
        One of ``"invalid"``, ``"unsatisfiable"``, ``"unsupported"``, ``"too_complex"`` (compiling it ran past the
        compile budget's time or size: see :mod:`corral.budget`; a larger ``compile_budget=`` may get through).
    """

    KINDS = ("invalid", "unsatisfiable", "unsupported", "too_complex")

    def __init__(self, message: str, *, pointer: str = "", keyword: str | None = None, kind: str = "invalid"):
        if kind not in self.KINDS:
            raise ValueError(f"unknown SchemaError kind {kind!r}")
        self.message = message
        self.pointer = pointer
        self.keyword = keyword
        self.kind = kind
        super().__init__(str(self))

    def __str__(self) -> str:
        kw = f" (keyword {self.keyword!r})" if self.keyword else ""
        return f"{self.kind}: {self.message}{kw} at schema pointer {self.pointer or '/'!s}"


class ModelError(CorralError, ValueError):
    """A model or tokenizer cannot be found or loaded."""


class ConfigurationError(CorralError, ValueError):
    """An argument or option is invalid: a value out of range, options that do not go together, an unknown method,
    resampling scheme or draft policy. Raised before any work starts."""


class GenerationError(CorralError):
    """Generation cannot proceed (for example, the prompt is longer than the model's context)."""



def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """Issue a warning attributed to the first stack frame outside the ``corral`` package.

    A warning raised deep inside a compiler then points at the user's line (``generate(...)``,
    ``schema_to_grammar(...)``), whatever the depth of the call inside corral.

    Parameters
    ----------
    message : str
    category : Warning subclass
    """
    import os
    import sys
    import warnings

    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
