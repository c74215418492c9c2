"""Grammar IR: plain BNF rules over named terminals (Python regexes), plus the regex and choices front ends.

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
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from corral.compile.indentation import Indentation, resolve_postlex
from corral.compile.lark import (declare_error, format_lark_text, locate_definition, locate_symbol, locate_terminal,
                                 parse_lark_grammar)
from corral.compile.symbols import (REGEX_ERRORS, Rule, Terminal, inline_flags, regex_anchor,
                                    regex_matches_empty)
from corral.budget import budget_scope, checkpoint
from corral.errors import GrammarError

if TYPE_CHECKING:  # pragma: no cover
    from corral.automata.bytedfa import ByteDFA

__all__ = ["Terminal", "Rule", "Grammar", "grammar_from_source", "load_lark_file", "shipped_grammars_dir",
           "list_shipped_grammars"]

_FLAG_CHARS = "imsxu"


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
        self._normalize()

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
            grammar._refuse_anchors()
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
        term = Terminal("REGEX", pattern, flags, None)
        return cls(rules, {"REGEX": term}, "start", (), None, None, allow_nullable_terminals=True)

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
        try:
            from corral.automata.regex import compile_regex
        except ImportError as exc:  # the regex compiler is optional for this check
            if getattr(exc, "name", None) not in (None, "corral.automata.regex", "corral.automata"):
                raise
            return None
        from corral.budget import BudgetExceeded
        from corral.errors import RegexError

        out = {}
        for name, term in self.terminals.items():
            dfa = self._dfa_cache.get(term)
            if dfa is None:
                checkpoint()
                try:
                    dfa = compile_regex(term.pattern, term.flags)
                except BudgetExceeded as exc:
                    raise self.too_complex(name, exc.what) from None
                except RegexError as exc:
                    if exc.construct == "size":
                        raise self.too_complex(name, str(exc)) from None
                    raise self._error(f"terminal {name!r} uses an unsupported regex: {exc}", terminal=name) from exc
                if dfa.is_empty:
                    raise self._error(f"terminal {name!r} matches nothing (its language is empty)", terminal=name,
                                      kind="empty_language")
                if bool(dfa.accepting[0]) and not self.allow_nullable_terminals:
                    raise self._error(f"terminal {name!r} matches the empty string", terminal=name)
                self._dfa_cache[term] = dfa
            out[name] = dfa
        return out

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

    def _refuse_anchors(self) -> None:
        """GrammarError for a terminal with a position anchor: lark matches terminals against the whole input, so
        ``/..$/`` only matches at the end of the text, a meaning a token-level terminal cannot carry."""
        for name, term in self.terminals.items():
            anchor = regex_anchor(term.pattern, term.flags) if term.literal is None else None
            if anchor is not None:
                raise self._error(f"terminal {name!r} uses the anchor {anchor}, which in Lark refers to the whole "
                                  "input rather than the lexeme: not supported (a terminal always matches whole "
                                  "lexemes, so an anchor at its ends can be dropped)", terminal=name)

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

    def _normalize(self) -> None:
        terms = self.terminals
        for key, term in terms.items():
            checkpoint()
            if not isinstance(term, Terminal) or term.name != key:
                raise GrammarError(f"terminals[{key!r}] must be a Terminal named {key!r}")
            bad = set(term.flags) - set(_FLAG_CHARS)
            if bad:
                raise self._error(f"terminal {key!r} has unsupported regex flags {sorted(bad)}", terminal=key)
            try:
                nullable = regex_matches_empty(term.pattern, term.flags)
            except REGEX_ERRORS as exc:
                raise self._error(f"terminal {key!r} has an invalid regex {term.pattern!r}: {exc}",
                                  terminal=key) from exc
            if nullable and not self.allow_nullable_terminals:
                raise self._error(f"terminal {key!r} matches the empty string", terminal=key)
        lhs_set = {r.lhs for r in self.rules}
        both = lhs_set & set(terms)
        if both:
            name = sorted(both)[0]
            raise self._error(f"{name!r} is both a terminal and a rule", rule=name)
        if self.start in terms:
            raise GrammarError(f"the start symbol {self.start!r} must be a rule, not a terminal")
        for name in self.ignore:
            if name not in terms:
                raise self._error(f"ignored terminal {name!r} is not defined", symbol=name)
        declared = self._check_postlex()
        terms = {**terms, **dict.fromkeys(declared)}  # declared terminals are symbols, with no pattern
        if self.start not in lhs_set:
            known = ", ".join(list(dict.fromkeys(r.lhs for r in self.rules if not r.lhs.startswith("_")))[:8])
            raise GrammarError(f"the start rule {self.start!r} is not defined (rules: {known or 'none'})",
                               source_name=self.source_name)
        for r in self.rules:
            for s in r.rhs:
                if s not in terms and s not in lhs_set:
                    kind = "terminal" if s[:1].isupper() or s.lstrip("_")[:1].isupper() else "rule"
                    raise self._error(f"{kind} {s!r} used but not defined (in rule {r.lhs!r})", symbol=s)

        productive, pending = productive_rules(self.rules, terms)
        if self.start not in productive:
            raise self._error(
                f"the language is empty: the start rule {self.start!r} cannot derive any string "
                "(every derivation needs infinitely many steps)", rule=self.start, kind="empty_language")
        rules = [r for r, p in zip(self.rules, pending) if not p]

        # reachable from start
        by_lhs: dict[str, list[Rule]] = {}
        for r in rules:
            by_lhs.setdefault(r.lhs, []).append(r)
        reachable = {self.start}
        stack = [self.start]
        while stack:
            for r in by_lhs.get(stack.pop(), ()):
                for s in r.rhs:
                    if s not in reachable and s not in terms:
                        reachable.add(s)
                        stack.append(s)
        rules = list(dict.fromkeys(r for r in rules if r.lhs in reachable))
        used = {s for r in rules for s in r.rhs if s in terms} | set(self.ignore)
        self.rules = rules
        self.terminals = {k: v for k, v in terms.items() if k in used and k not in declared}
        if declared and self.postlex.newline not in self.terminals:
            raise self._error(f"the newline terminal {self.postlex.newline!r} of the indentation post-lexer is not "
                              "used by any rule", terminal=self.postlex.newline)
        self._normal = (rules, len(rules))  # what normalisation left (CompiledGrammar skips re-checking it)

    def _check_postlex(self) -> tuple[str, ...]:
        """The declared terminals of :attr:`postlex` (none without one); GrammarError if its names do not fit."""
        post = self.postlex
        if post is None:
            return ()
        if not isinstance(post, Indentation):
            raise GrammarError(f"postlex must be an Indentation, not {type(post).__name__}")
        for name in post.declared:
            if name in self.terminals or name in {r.lhs for r in self.rules}:
                raise self._error(f"{name!r} is produced by the indentation post-lexer, so it must be declared "
                                  "(%declare), not defined", symbol=name)
        if post.newline not in self.terminals or post.newline in self.ignore:
            raise GrammarError(f"the indentation post-lexer's newline terminal {post.newline!r} is not a terminal "
                               "of the grammar (or is ignored)", source_name=self.source_name)
        return post.declared

    def is_normal(self) -> bool:
        """Whether :attr:`rules` are still the list normalisation produced (every rule productive and reachable)."""
        normal = getattr(self, "_normal", None)
        return normal is not None and normal[0] is self.rules and normal[1] == len(self.rules)


def productive_rules(rules, terminals) -> tuple[set, list[int]]:
    """The nonterminals that derive some terminal string (the least fixpoint), and per rule how many distinct
    nonterminals of its right-hand side do not (0: the rule is productive).

    A worklist: each rule is looked at once per nonterminal of its right-hand side. ``rules`` are ``(lhs, rhs)``
    pairs or :class:`Rule` objects; ``terminals`` is the container of terminal symbols, or an ``int`` ``n`` when the
    symbols are integers and the terminals are those below ``n``.
    """
    pending: list[int] = []
    users: dict = {}
    productive: set = set()
    work = []
    pairs = [(r[0], r[1]) if isinstance(r, tuple) else (r.lhs, r.rhs) for r in rules]
    numbered = isinstance(terminals, int)
    for i, (lhs, rhs) in enumerate(pairs):
        nts = {s for s in rhs if s >= terminals} if numbered else {s for s in rhs if s not in terminals}
        pending.append(len(nts))
        for s in nts:
            users.setdefault(s, []).append(i)
        if not nts and lhs not in productive:
            productive.add(lhs)
            work.append(lhs)
    while work:
        for i in users.get(work.pop(), ()):
            pending[i] -= 1
            lhs = pairs[i][0]
            if not pending[i] and lhs not in productive:
                productive.add(lhs)
                work.append(lhs)
    return productive, pending


# ---------------------------------------------------------------------- sources


def shipped_grammars_dir() -> Path | None:
    """The folder of the grammars shipped inside the package (``corral/grammars``), or ``None`` if it is missing.

    Read through :mod:`importlib.resources`, so it is found in an installed wheel as in a source checkout.

    Returns
    -------
    Path or None
    """
    from importlib import resources

    try:
        folder = resources.files("corral") / "grammars"
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - corral is always importable here
        return None
    path = Path(str(folder))
    return path if path.is_dir() else None


def list_shipped_grammars() -> list[str]:
    """Names of the shipped grammars (``"json"``, ``"sql"``, ...).

    Returns
    -------
    list of str
    """
    folder = shipped_grammars_dir()
    return sorted(p.stem for p in folder.glob("*.lark")) if folder else []


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


def _is_file(path: Path) -> bool:
    """``path.is_file()``, ``False`` for a name no file can have (a NUL byte, an over-long name)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


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
        if not _is_file(grammar):
            raise GrammarError(f"grammar file not found: {grammar}")
        return load_lark_file(grammar, start=start)
    if not isinstance(grammar, str):
        raise GrammarError(f"cannot make a grammar from {type(grammar).__name__}")
    text = grammar.strip()
    if "\n" not in text and ":" not in text.replace("\\", "/").split("/")[-1]:
        tried = []
        if re.fullmatch(r"[A-Za-z0-9_\-]+", text):
            folder = shipped_grammars_dir()
            if folder is not None and (folder / f"{text}.lark").is_file():
                return load_lark_file(folder / f"{text}.lark", start=start)
            tried.append(f"shipped grammar {text!r}")
        path = Path(text).expanduser()
        if _is_file(path):
            return load_lark_file(path, start=start)
        tried.append("no file (the text holds a NUL byte)" if "\0" in text else f"file {path.resolve()}")
        names = ", ".join(list_shipped_grammars()) or "none found"
        raise GrammarError(f"cannot find grammar {text!r}; tried {'; '.join(tried)} (shipped grammars: {names})")
    return Grammar.from_lark(grammar, start=start or "start")

