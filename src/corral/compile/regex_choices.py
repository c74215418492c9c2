"""The regex and choices front ends: the rules and terminals of :meth:`corral.compile.grammar.Grammar.from_regex`
(``start -> REGEX``, and ``start -> ε`` when the regex matches the empty string) and of
:meth:`corral.compile.grammar.Grammar.from_choices` (one literal terminal per non-empty choice).
"""

from __future__ import annotations

import re
from typing import Iterable, Sequence

from corral.compile.symbols import Rule, Terminal, inline_flags
from corral.errors import GrammarError

__all__ = ["regex_symbols", "choice_symbols"]


def regex_symbols(pattern: str, flags: Iterable[str] = ()) -> tuple[list[Rule], dict[str, Terminal]]:
    """The rules and terminals of the grammar whose language is the regex's (full-match) language.

    Raises
    ------
    RegexError
        The regex is invalid, uses a construct that cannot be compiled exactly, or matches no string; the error
        names the pattern and the position.
    """
    from corral.automata.regex import compile_regex
    from corral.errors import RegexError

    flags = frozenset(flags)
    try:
        compiled = re.compile(inline_flags(pattern, flags))
    except re.error as exc:
        raise RegexError(f"invalid regex: {exc.msg}", pattern=pattern, position=exc.pos) from None
    except (ValueError, TypeError, OverflowError, RecursionError) as exc:
        raise RegexError(f"invalid regex: {exc}", pattern=pattern) from None
    if compile_regex(pattern, flags).is_empty:
        raise RegexError("the regex matches no string", pattern=pattern)
    rules = [Rule("start", ("REGEX",))]
    if compiled.fullmatch("") is not None:
        rules.append(Rule("start", ()))
    return rules, {"REGEX": Terminal("REGEX", pattern, flags, None)}


def choice_symbols(choices: Sequence[str]) -> tuple[list[Rule], dict[str, Terminal]]:
    """The rules and terminals of the grammar whose language is exactly the given strings (``""`` an empty
    alternative).

    Raises
    ------
    GrammarError
        If ``choices`` is a single string, is empty, or holds something other than a string.
    """
    if isinstance(choices, str):
        raise GrammarError("choices must be a list of strings, not a single string")
    choices = list(dict.fromkeys(choices))
    if not choices:
        raise GrammarError("choices is empty: the language is empty", kind="empty_language")
    rules, terminals = [], {}
    for i, text in enumerate(choices):
        if not isinstance(text, str):
            raise GrammarError(f"choice {i} is not a string: {text!r}")
        if text == "":
            rules.append(Rule("start", ()))
            continue
        name = f"CHOICE_{i}"
        terminals[name] = Terminal(name, re.escape(text), frozenset(), text)
        rules.append(Rule("start", (name,)))
    return rules, terminals
