"""A grammar linter: :func:`lint` reads a Lark grammar and reports likely defects as :class:`Finding` records, each
with the line and column of the rule or terminal concerned (1-based), collected in a :class:`LintReport`.

The grammar is analysed as lark's own loader expands it (EBNF into BNF, ``%import``, templates), *before* corral's
normalisation, which silently drops unreachable and unproductive rules. Rules that lark generates for ``*``, ``+``
and ``~`` (``__start_star_0``) and template instances (``sep{item,COMMA}``) are reported under the user's rule that
contains them. Anonymous terminals are shown as written (``"if"``, ``/[0-9]+/``).

Kinds of finding (severity ``"error"`` for ``undefined`` and for an unproductive start rule, whose language is
empty; ``"warning"`` otherwise):

``undefined``
    A rule, terminal or template used but not defined (also an ``%ignore``-d name, and a start rule that does not
    exist). Lark cannot build such a grammar, so when a name is undefined the other checks do not run.
``unproductive``
    A rule that cannot derive any string (every derivation needs infinitely many steps), or a terminal whose regex
    matches nothing.
``unreachable``
    A rule that the start rule never uses (templates are not rules: they are only reported through their uses).
``nullable_cycle``
    Rules that can derive themselves with everything around them deriving the empty string (``a: b | "x"``,
    ``b: a |``, or ``(x?)*``): the grammar is infinitely ambiguous.
``collision``
    Two terminals that match a common string (the ``witness``) and can both be the next terminal at the same point
    of a parse. See the rule below.
``empty_terminal``
    A terminal whose regex matches the empty string.
``ignored_overlap``
    An ``%ignore``-d terminal that matches a string some other terminal of the rules matches (the ``witness``):
    under corral's semantics, where any split of the text into lexemes counts, that text reads both ways.
``unbounded_whitespace``
    The grammar lets whitespace run on without bound. See the rule below.

Collisions
    Lark itself reports a collision between two regex terminals of the same priority that its contextual lexer may
    try at the same point; this linter follows that, exactly, with interegular (the library lark uses), and
    verifies every witness with Python's ``re.fullmatch`` against both terminals. A pair is reported when

    * both terminals can be the next terminal in the same state of the grammar's LR(0) automaton (a shift, or a
      completed rule's FOLLOW set: SLR lookaheads, slightly wider than lark's LALR ones), so two terminals that
      never compete for the same text (an ``INTEGER`` only after ``LIMIT``, a ``NUMBER`` elsewhere) are fine;
    * they have the same priority (a priority is lark's way to say which one wins);
    * their languages intersect (the witness is the shortest common string interegular finds); and
    * it is not the keyword idiom: a *keyword terminal* (a string literal, or an alternation of string literals
      such as ``"count"i | "sum"i``) whose language is a *proper* subset of the other terminal's (``"select"`` or
      ``"count"i | "sum"i`` against ``NAME``). Lark exempts every string literal; here two literal terminals with
      the same text, or a literal and a regex that matches only that text, are still reported, since one of
      the two can never be told apart from the other.

    Terminals whose automaton is large (over 4,000 states in corral's regex compiler: interegular's construction
    can take minutes on them), that use constructs interegular or corral cannot compile (lookarounds,
    backreferences, verbose mode), or that the time limit leaves unchecked are skipped and counted in
    :attr:`LintReport.skipped`. Above 20,000 LR(0) states, every pair of terminals is compared instead.

Unbounded whitespace
    In constrained generation a model that may emit whitespace forever sometimes does, until ``max_tokens``. A
    *whitespace terminal* is one whose every string is whitespace (``/[ \\t]+/``, ``" "``; a text terminal that also
    matches blanks, such as csv's ``/[^,\\n]+/``, is not one). Reported:

    * a whitespace terminal used in the rules whose language is infinite (``WS: /\\s+/`` in ``a: "x" WS "y"``);
    * a rule that repeats whitespace without bound (``" "*``, ``ws: ws WS | WS``, ``(_WS | _NL)*``): a cycle
      ``A =>+ a A b`` in which ``a`` (or ``b``) is made of whitespace symbols only, one of them non-empty. The
      whitespace symbols are the whitespace terminals and the rules whose every string is whitespace (``_sp: _WS?``);
      a content rule that merely can be empty is not one, so csv's ``record (NEWLINE record)*``, which repeats
      possibly empty records, is not reported although it allows any number of line breaks;
    * with ``strict_whitespace=True`` only: every ``%ignore``-d terminal that matches whitespace, since ignored
      terminals may repeat between any two tokens. ``%ignore WS`` is Lark's standard idiom, so it is not reported
      by default.

Modules
    ``report`` (:class:`Finding`, :class:`LintReport`); ``loader`` (the source read with lark's loader, undefined
    names, the model of the grammar); ``analysis`` (nullable and reachable symbols, cycles, FIRST/FOLLOW, LR(0)
    contexts); ``languages`` (terminal languages compared with interegular); ``whitespace`` (the whitespace symbols
    of a grammar); ``checks`` (the checks themselves).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from corral.authoring.linting.checks import Linter
from corral.authoring.linting.loader import load_model
from corral.authoring.linting.report import KINDS, Finding, LintReport
from corral.compile.grammar import Grammar

__all__ = ["Finding", "LintReport", "lint", "KINDS"]


def lint(source: "str | Path | Grammar", *, start: str | None = None, source_name: str | None = None,
         import_paths: Sequence[str | Path] = (), strict_whitespace: bool = False,
         max_seconds: float = 10.0) -> LintReport:
    """Find likely defects in a grammar (see the module docstring for the kinds and rules).

    Parameters
    ----------
    source : str, Path or Grammar
        Lark text; a path to a ``.lark`` file (a :class:`~pathlib.Path`, or a one-line ``str``); the name of a
        shipped grammar (``"json"``); or a :class:`~corral.compile.grammar.Grammar` (its Lark text when it has
        one, else its rules, without locations, after corral's normalisation).
    start : str, optional
        The start rule (default ``"start"``, or the Grammar's own).
    source_name : str, optional
        The file name shown in findings (default: the path, when ``source`` is one).
    import_paths : sequence of str or Path
        Extra folders for ``%import`` (a file's own folder is always searched).
    strict_whitespace : bool
        Also report ``%ignore``-d whitespace terminals as unbounded whitespace.
    max_seconds : float
        Time for the terminal comparisons; pairs left unchecked are counted in :attr:`LintReport.skipped`.

    Returns
    -------
    LintReport

    Raises
    ------
    GrammarError
        When the grammar cannot be read or parsed at all (a missing file, a syntax error, an invalid regex), with
        ``line`` and ``column`` where known. Undefined names are findings, not errors.
    """
    model = load_model(source, start, source_name, import_paths)
    if isinstance(model, LintReport):
        return model
    return Linter(model, strict_whitespace, max_seconds).run()
