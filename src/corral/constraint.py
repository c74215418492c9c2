"""What the output must be: :class:`Constraint`, one of ``grammar=``, ``regex=``, ``choices=`` or ``schema=``.

A constraint is checked when built (at most one kind, the right types) and knows its cache key; a
:class:`~corral.generator.Generator` compiles it for its model's vocabulary (:meth:`Generator.compile`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.errors import ConfigurationError

__all__ = ["Constraint", "source_key"]

_KINDS = ("grammar", "regex", "choices", "schema")


@dataclass(frozen=True)
class Constraint:
    """At most one of a grammar, a regex, a list of choices or a JSON Schema (none: unconstrained).

    Attributes
    ----------
    grammar : Grammar, str, os.PathLike or CompiledGrammar, optional
        A :class:`~corral.compile.grammar.Grammar`, Lark text, a ``.lark`` file, a shipped grammar name
        (``"json"``) or an already compiled grammar.
    regex : str, optional
        A Python regular expression the whole output must match.
    choices : tuple of str, optional
        The output must be exactly one of these strings.
    schema : dict, str, os.PathLike or pydantic model class, optional
        A JSON Schema (object, JSON text or file path) or a pydantic v2 model class; the output is JSON that
        validates, and ``Result.value`` the parsed (and validated) object.
    """

    grammar: Any = None
    regex: str | None = None
    choices: tuple | None = None
    schema: Any = None

    def __post_init__(self) -> None:
        given = [name for name in _KINDS if getattr(self, name) is not None]
        if len(given) > 1:
            listed = "grammar=, regex=, choices= and schema=" if "schema" in given else "grammar=, regex= and choices="
            raise ConfigurationError(f"pass at most one of {listed} (got {', '.join(given)})")
        if self.regex is not None and not isinstance(self.regex, str):
            raise ConfigurationError(f"regex must be a string, got {type(self.regex).__name__}")
        if self.choices is not None:
            if isinstance(self.choices, (str, bytes)) or not all(isinstance(c, str) for c in self.choices):
                raise ConfigurationError("choices must be a list of strings")
            object.__setattr__(self, "choices", tuple(self.choices))
            if not self.choices:
                raise ConfigurationError("choices must not be empty")
        if self.grammar is not None and not _is_grammar_source(self.grammar):
            raise ConfigurationError(
                "grammar must be a Grammar, Lark text, a .lark path, a shipped grammar name or a CompiledGrammar; "
                f"got {type(self.grammar).__name__}")

    @property
    def kind(self) -> str | None:
        """``"grammar"``, ``"regex"``, ``"choices"``, ``"schema"`` or ``None`` (unconstrained)."""
        return next((name for name in _KINDS if getattr(self, name) is not None), None)

    @property
    def is_compiled(self) -> bool:
        """Whether ``grammar`` is already compiled (a :class:`~corral.protocols.CompiledConstraint`, e.g. a CompiledGrammar)."""
        from corral.protocols import CompiledConstraint

        return isinstance(self.grammar, CompiledConstraint)


def _is_grammar_source(source) -> bool:
    """Whether ``source`` can be a ``grammar=``: a Grammar, text or path, or a compiled constraint."""
    from corral.compile.grammar import Grammar
    from corral.protocols import CompiledConstraint

    return isinstance(source, (Grammar, str, os.PathLike, CompiledConstraint))


def source_key(source) -> tuple:
    """The cache key of a ``grammar=`` text or path: the text, and a file's modification time when it is one."""
    text = os.fspath(source)
    stamp = None
    try:
        if len(text) < 4096 and "\n" not in text and Path(text).is_file():
            stamp = Path(text).stat().st_mtime_ns
    except (OSError, ValueError):  # not a name a file can have (a NUL byte): Lark text
        pass
    return (text, stamp)
