"""Grammar IR: plain BNF rules over named terminals (Python regexes), its constructors (Lark text, a regex, a list of
choices) and the grammar sources (:func:`grammar_from_source`, :func:`load_lark_file`).

Language semantics
------------------
A string is in the language of a :class:`Grammar` iff it can be split into non-empty lexemes ``w1 ... wn``, each
fully matching a terminal or an ignored terminal, such that the sequence of the non-ignored terminals derives from
``start`` under the BNF :attr:`Grammar.rules`. *Any* split counts (the "scannerless" semantics of lark's Earley
parser with ``lexer="dynamic_complete"``). Terminal priorities only choose among parses of the same text, so they
never change the language; they are kept in the IR for information only. A grammar with an indentation post-lexer
(:attr:`Grammar.postlex`, for ``%declare _INDENT _DEDENT``) narrows the splits and runs lark's ``Indenter`` over the
terminals: see :mod:`corral.compile.indentation`.

Every :class:`Grammar` is normalized when it is built (``__post_init__``): undefined symbols are errors, rules that
cannot derive a terminal string (unproductive) and rules unreachable from ``start`` are dropped, duplicate rules are
merged, unused terminals (neither in a kept rule nor ignored) are dropped, and a grammar whose ``start`` cannot
derive anything raises :class:`~corral.errors.GrammarError` ("the language is empty"). A terminal whose regex
matches the empty string is an error, except in grammars built with ``allow_nullable_terminals=True`` (as
:meth:`Grammar.from_regex` does), where such a terminal stands for its non-empty matches only.

Where the parts live: the normalization passes in :mod:`corral.compile.normalize`, the terminal checks in
:mod:`corral.compile.terminal_checks`, the symbols of the regex and choices front ends in
:mod:`corral.compile.regex_choices`, the Lark front end in :mod:`corral.compile.lark`, and the shipped grammars
and the lookup of a grammar by name in :mod:`corral.compile.grammar_paths`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from corral.compile.grammar_paths import (grammar_file, list_shipped_grammars, names_a_file, safe_is_file,
                                          shipped_grammars_dir)
from corral.compile.indentation import Indentation, resolve_postlex
from corral.compile.lark import parse_lark_grammar
from corral.compile.lark_errors import declare_error
from corral.compile.lark_format import format_lark_text
from corral.compile.lark_locate import locate_definition, locate_symbol, locate_terminal
from corral.compile.normalize import normalize
from corral.compile.normalize import productive_rules  # noqa: F401 - importable here, as before
from corral.compile.regex_choices import choice_symbols, regex_symbols
from corral.compile.symbols import Rule, Terminal
from corral.compile.terminal_checks import compile_terminals, refuse_anchors
from corral.budget import budget_scope
from corral.errors import GrammarError

if TYPE_CHECKING:  # pragma: no cover
    from corral.automata.bytedfa import ByteDFA

__all__ = ["Terminal", "Rule", "Grammar", "grammar_from_source", "load_lark_file", "shipped_grammars_dir",
           "list_shipped_grammars"]


@dataclass
class Grammar:
    """A context-free grammar over regex terminals (plain BNF), normalized on construction.

    Parameters
    ----------
    rules : list of Rule
        Plain BNF: EBNF (``?``, ``*``, ``+``, ``[]``, ``~`` ranges) already expanded; empty ``rhs`` allowed.
    terminals : dict of str to Terminal
        The terminals by name.
    start : str
        The start nonterminal.
    ignore : tuple of str
        Terminal names that may appear between any two terminals (and at both ends).
    source : str or None
        The Lark text the grammar came from, if any (used to locate errors).
    source_name : str or None
        The file name of ``source``, if known.
    allow_nullable_terminals : bool
        Accept terminals whose regex matches the empty string; they then stand for their non-empty matches only.
    origins : dict of str to (str, str or None)
        For a grammar compiled from a JSON Schema: the schema pointer and keyword each terminal came from (a
        terminal that runs past the compile budget is reported there, as a SchemaError).
    postlex : Indentation or None
        An indentation post-lexer (lark's ``PythonIndenter``; :mod:`corral.compile.indentation`): its ``indent``
        and ``dedent`` names are declared terminals (rules use them, :attr:`terminals` does not hold them) and its
        ``newline`` terminal must be one of :attr:`terminals`. The matcher runs the post-lexer
        (:mod:`corral.runtime.indented`).

    Raises
    ------
    GrammarError
        On undefined symbols, bad terminals or an empty language (see the module docstring).
    """

    rules: list[Rule]
    terminals: dict[str, Terminal]
    start: str = "start"
    ignore: tuple[str, ...] = ()
    source: str | None = None
    source_name: str | None = None
    allow_nullable_terminals: bool = False
    origins: dict = field(default_factory=dict, repr=False, compare=False)
    postlex: Indentation | None = None
    _dfa_cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.rules = [r if type(r) is Rule and type(r.rhs) is tuple else  # frozen: shared as they are
                      Rule(r.lhs, tuple(r.rhs)) if isinstance(r, Rule) else Rule(r[0], tuple(r[1]))
                      for r in self.rules]
        self.terminals = dict(self.terminals)
        self.ignore = tuple(dict.fromkeys(self.ignore))
        normalize(self)  # corral.compile.normalize

    def __repr__(self) -> str:
        """A one-line summary (start, rule and terminal counts, ignored terminals, source)."""
        from corral.authoring.html import grammar_repr
        return grammar_repr(self)

    def _repr_html_(self) -> str:
        """The notebook display: summary, Lark text with line numbers, terminals (:mod:`corral.authoring.html`)."""
        from corral.authoring.html import grammar_html
        return grammar_html(self)

    # ------------------------------------------------------------------ constructors

    @classmethod
    def from_lark(
        cls,
        text: str,
        *,
        start: str = "start",
        source_name: str | None = None,
        import_paths: Sequence[str | Path] = (),
        check_regex: bool = True,
        compile_budget=None,
        postlex="auto",
    ) -> "Grammar":
        """Build a grammar from Lark text, using lark's own loader to expand EBNF, imports and templates.

        Parameters
        ----------
        text : str
            The Lark grammar.
        start : str
            The start rule.
        source_name : str, optional
            The grammar's file name (for messages and relative ``%import``).
        import_paths : sequence of str or Path
            Extra folders searched by ``%import``.
        check_regex : bool
            Also compile every terminal with :func:`corral.automata.regex.compile_regex` (see
            :meth:`check_terminals`).
        compile_budget : float, dict, "unlimited" or corral.budget.CompileBudget, optional
            The time and automaton size compiling the terminals may take (:mod:`corral.budget`; default 4 s);
            past it, a GrammarError of kind ``"too_complex"`` at the terminal's line.
        postlex : "auto", "python", None, Indentation or a lark Indenter
            The indentation post-lexer (:func:`corral.compile.indentation.resolve_postlex`). ``"auto"`` (default):
            lark's ``PythonIndenter`` for a grammar that declares ``%declare _INDENT _DEDENT`` and has a newline
            terminal ``_NEWLINE`` (or ``_NL``); none otherwise. Other declared terminals are a GrammarError.

        Returns
        -------
        Grammar

        Raises
        ------
        GrammarError
            Any problem with the grammar, with ``line`` and ``column`` where known.
        """
        with budget_scope(compile_budget):
            rules, terminals, ignore, declared = parse_lark_grammar(text, start=start, source_name=source_name,
                                                                    import_paths=import_paths)
            indentation = resolve_postlex(postlex, declared, terminals)
            missing = [n for n in declared if indentation is None or n not in indentation.declared]
            if missing:
                raise declare_error(text, missing, source_name)
            grammar = cls(rules, terminals, start, ignore, text, source_name, postlex=indentation)
            refuse_anchors(grammar)
            if check_regex:
                grammar.check_terminals()
        return grammar

    @classmethod
    def from_regex(cls, pattern: str, flags: Iterable[str] = ()) -> "Grammar":
        """Build the grammar ``start -> REGEX`` whose language is the regex's (full-match) language.

        If the regex matches the empty string, the grammar also has the rule ``start -> ε`` and the terminal
        stands for its non-empty matches.

        Parameters
        ----------
        pattern : str
            A Python regex.
        flags : iterable of str
            Regex flags (``"i"``, ``"s"``, ...).

        Returns
        -------
        Grammar

        Raises
        ------
        RegexError
            The regex is invalid, uses a construct that cannot be compiled exactly, or matches no string; the error
            names the pattern and the position.
        """
        rules, terminals = regex_symbols(pattern, flags)  # corral.compile.regex_choices
        return cls(rules, terminals, "start", (), None, None, allow_nullable_terminals=True)

    @classmethod
    def from_choices(cls, choices: Sequence[str]) -> "Grammar":
        """Build the grammar whose language is exactly the given strings.

        Parameters
        ----------
        choices : sequence of str
            The allowed strings; ``""`` is allowed and becomes an empty alternative.

        Returns
        -------
        Grammar

        Raises
        ------
        GrammarError
            If ``choices`` is empty.
        """
        rules, terminals = choice_symbols(choices)  # corral.compile.regex_choices
        return cls(rules, terminals, "start", (), None, None)

    # ------------------------------------------------------------------ queries

    @property
    def nonterminals(self) -> set[str]:
        """set of str: the names of the nonterminals (left-hand sides of rules)."""
        return {r.lhs for r in self.rules}

    def rules_by_lhs(self) -> dict[str, list[Rule]]:
        """Group the rules by left-hand side, in rule order.

        Returns
        -------
        dict of str to list of Rule
        """
        out: dict[str, list[Rule]] = {}
        for r in self.rules:
            out.setdefault(r.lhs, []).append(r)
        return out

    def nullable(self) -> set[str]:
        """Nonterminals that derive the empty string (terminals never do: lexemes are non-empty).

        Returns
        -------
        set of str
        """
        nullable: set[str] = set()
        changed = True
        while changed:
            changed = False
            for r in self.rules:
                if r.lhs not in nullable and all(s in nullable for s in r.rhs):
                    nullable.add(r.lhs)
                    changed = True
        return nullable

    def check_terminals(self) -> "dict[str, ByteDFA] | None":
        """Compile every terminal to a byte DFA and check that it is supported and sensible.

        Uses :func:`corral.automata.regex.compile_regex`. The DFAs are cached on the grammar, so a later caller
        (the runtime) gets them for free. If that module is not available, the check is skipped.

        Returns
        -------
        dict of str to ByteDFA, or None
            The DFA of every terminal, or ``None`` when the regex compiler is not installed.

        Raises
        ------
        GrammarError
            A terminal uses an unsupported regex construct, has an empty language, or matches the empty string.
        """
        return compile_terminals(self)  # corral.compile.terminal_checks

    # ------------------------------------------------------------------ output

    def to_lark(self) -> str:
        """Print the grammar as Lark text with the same language.

        Names that are not valid Lark names (or start with ``__``, which Lark reserves) are renamed
        (:func:`corral.compile.lark.lark_names`); the start rule is always printed as ``start``, so
        ``Grammar.from_lark(g.to_lark())`` round-trips.

        Returns
        -------
        str
        """
        declared = self.postlex.declared if self.postlex is not None else ()
        return format_lark_text(self.start, self.rules, self.terminals, self.ignore, declared)

    def too_complex(self, terminal: str, what: str) -> "GrammarError | SchemaError":
        """The error for a terminal past the compile budget: a SchemaError (kind ``too_complex``) at the schema
        pointer and keyword it came from (:attr:`origins`), else a GrammarError (kind ``too_complex``) at its line."""
        from corral.errors import SchemaError

        if terminal in self.origins:
            pointer, keyword = self.origins[terminal]
            return SchemaError(what, pointer=pointer, keyword=keyword, kind="too_complex")
        return self._error(f"terminal {terminal!r}: {what}", terminal=terminal, kind="too_complex")

    # ------------------------------------------------------------------ internals

    def _error(self, message: str, *, terminal: str | None = None, rule: str | None = None,
               symbol: str | None = None, kind: str | None = None) -> GrammarError:
        """A GrammarError at the line and column (in :attr:`source`, when there is one) of ``terminal``, of the
        definition of ``rule``, or of the first use of ``symbol``."""
        line = column = None
        if self.source is not None:
            if terminal is not None:
                term = self.terminals.get(terminal)
                loc = locate_terminal(self.source, terminal, term.pattern if term else None,
                                      term.literal if term else None)
            elif rule is not None:
                loc = locate_definition(self.source, rule)
            else:
                loc = locate_symbol(self.source, symbol) if symbol else None
            if loc:
                line, column = loc
        return GrammarError(message, line=line, column=column, source_name=self.source_name, kind=kind)

    def is_normal(self) -> bool:
        """Whether :attr:`rules` are still the list normalisation produced (every rule productive and reachable)."""
        normal = getattr(self, "_normal", None)
        return normal is not None and normal[0] is self.rules and normal[1] == len(self.rules)


# ---------------------------------------------------------------------- sources


def load_lark_file(path: str | Path, start: str | None = None, *, check_regex: bool = True,
                   postlex="auto") -> Grammar:
    """Load a ``.lark`` file; relative ``%import`` statements resolve against the file's folder.

    Parameters
    ----------
    path : str or Path
        The grammar file.
    start : str, optional
        The start rule (default ``"start"``).
    check_regex : bool
        Compile the terminals to DFAs as well (see :meth:`Grammar.check_terminals`).
    postlex : "auto", "python", None, Indentation or a lark Indenter
        The indentation post-lexer (see :meth:`Grammar.from_lark`; ``"auto"``: lark's ``PythonIndenter`` for a
        grammar that declares ``_INDENT`` and ``_DEDENT``).

    Returns
    -------
    Grammar

    Raises
    ------
    GrammarError
        If the file cannot be read or the grammar is invalid.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file {path}: {exc}") from exc
    return Grammar.from_lark(text, start=start or "start", source_name=str(path), import_paths=[str(path.parent)],
                             check_regex=check_regex, postlex=postlex)


def grammar_from_source(grammar: "str | Path | Grammar", *, start: str | None = None) -> Grammar:
    """Turn any grammar source into a :class:`Grammar`.

    Parameters
    ----------
    grammar : str, Path or Grammar
        A :class:`Grammar` (returned as is), Lark text, a path to a ``.lark`` file, or the name of a shipped
        grammar (``"json"`` is ``corral/grammars/json.lark`` inside the package).
    start : str, optional
        The start rule (default ``"start"``); ignored for a :class:`Grammar`.

    Returns
    -------
    Grammar

    Raises
    ------
    GrammarError
        If the grammar is invalid, or a name or path cannot be resolved (the message lists what was tried).
    """
    if isinstance(grammar, Grammar):
        return grammar
    if isinstance(grammar, Path):
        if not safe_is_file(grammar):
            raise GrammarError(f"grammar file not found: {grammar}")
        return load_lark_file(grammar, start=start)
    if not isinstance(grammar, str):
        raise GrammarError(f"cannot make a grammar from {type(grammar).__name__}")
    text = grammar.strip()
    if names_a_file(text):  # a shipped grammar's name or a path (corral.compile.grammar_paths)
        return load_lark_file(grammar_file(text), start=start)
    return Grammar.from_lark(grammar, start=start or "start")
