"""The regex languages of terminals: :class:`Languages` compares them with interegular FSMs (after checking each
automaton's size with corral's regex compiler) and verifies every witness with Python's ``re``; :class:`Skip` is a
comparison that cannot be decided, and :func:`is_keyword` recognises keyword terminals."""

from __future__ import annotations

import re
import time

from corral.budget import CompileBudget, budget_scope
from corral.compile.symbols import REGEX_ERRORS, Terminal

__all__ = ["MAX_DFA_STATES", "WHITESPACE", "Skip", "Languages", "is_keyword"]

MAX_DFA_STATES = 4000  # terminals with larger automata are not compared (interegular would take too long)
WHITESPACE = r"\s+"


class Skip(Exception):
    """A terminal check that cannot be decided (unsupported construct, too large, out of time)."""


class Languages:
    """The languages of the terminals, compared with interegular FSMs and checked with Python's ``re``."""

    def __init__(self, terminals: dict[str, Terminal], deadline: float):
        self.terminals = terminals
        self.deadline = deadline
        self._patterns: dict[str, object] = {}
        self._fsms: dict[str, object] = {}

    def regex(self, name: str) -> str:
        """The terminal's Python regex (flags inlined)."""
        return self.terminals[name].regex()

    def plain(self, name: str) -> str | None:
        """The literal text of a string terminal without flags, else None."""
        term = self.terminals[name]
        return term.literal if term.literal is not None and not term.flags else None

    def fullmatch(self, name: str, text: str) -> bool:
        """Whether the terminal matches ``text`` in full (Python's ``re``)."""
        try:
            return re.fullmatch(self.regex(name), text) is not None
        except REGEX_ERRORS:
            return False

    def pattern(self, name: str):
        """The interegular pattern of a terminal; Skip when it cannot be compared."""
        if name not in self._patterns:
            self._patterns[name] = self._compile(name)
        if self._patterns[name] is None:
            raise Skip(name)
        return self._patterns[name]

    def _compile(self, name: str):
        """Parse a terminal with interegular after checking its automaton's size with corral's compiler."""
        from interegular import parse_pattern
        from corral.automata.regex import compile_regex

        term = self.terminals[name]
        seconds = max(0.05, self.deadline - time.monotonic())
        try:
            with budget_scope(CompileBudget(seconds=seconds, states=MAX_DFA_STATES), error=lambda exc: Skip()):
                compile_regex(term.pattern, term.flags)
            return parse_pattern(self.regex(name))
        except Exception:  # Skip, interegular's Unsupported / InvalidSyntax, corral's RegexError, ...
            return None

    def fsm(self, name: str, other: str | None = None):
        """The terminal's FSM over its own alphabet, or over the union with ``other``'s (and ``other``'s FSM)."""
        from interegular.fsm import Alphabet
        from interegular.patterns import REFlags

        self.check_time()
        if other is None:
            if name not in self._fsms:
                self._fsms[name] = self._to_fsm(self.pattern(name), None)
            return self._fsms[name]
        pa, pb = self.pattern(name), self.pattern(other)
        alphabet = Alphabet.union(pa.get_alphabet(REFlags(0)), pb.get_alphabet(REFlags(0)))[0]
        return self._to_fsm(pa, alphabet), self._to_fsm(pb, alphabet)

    def whitespace_fsms(self, name: str):
        """The terminal's FSM and that of ``\\s+`` over a common alphabet."""
        from interegular import parse_pattern
        from interegular.fsm import Alphabet
        from interegular.patterns import REFlags

        pa, pw = self.pattern(name), parse_pattern(WHITESPACE)
        alphabet = Alphabet.union(pa.get_alphabet(REFlags(0)), pw.get_alphabet(REFlags(0)))[0]
        return self._to_fsm(pa, alphabet), self._to_fsm(pw, alphabet)

    @staticmethod
    def _to_fsm(pattern, alphabet):
        """``pattern.to_fsm`` with full-match semantics; Skip on an unsupported construct."""
        try:
            return pattern.to_fsm(alphabet, (0, 0))
        except Exception as exc:  # interegular.patterns.Unsupported and friends
            raise Skip(str(exc)) from None

    def check_time(self) -> None:
        """Skip once the time limit has passed."""
        if time.monotonic() > self.deadline:
            raise Skip("time")

    def is_empty_language(self, name: str) -> bool:
        """Whether a terminal matches no string at all (False when it cannot be decided)."""
        if self.terminals[name].literal is not None:
            return False
        try:
            return self.fsm(name).empty()
        except Skip:
            return False

    def finite(self, fsm) -> bool:
        """Whether an FSM's language is finite."""
        try:
            fsm.cardinality()
            return True
        except OverflowError:
            return False

    def witness(self, fsm, a: str, b: str) -> str:
        """The shortest string of ``fsm`` (an intersection) that both terminals match under Python's ``re``."""
        other = _unused_char(fsm.alphabet)
        try:
            for n, symbols in enumerate(fsm.strings(20_000)):
                text = "".join(other if not isinstance(c, str) else c for c in symbols)
                if self.fullmatch(a, text) and self.fullmatch(b, text):
                    return text
                if n >= 50:
                    break
        except ValueError:  # no string within the iteration limit
            pass
        raise Skip("no witness")


def _unused_char(alphabet) -> str:
    """A character outside the alphabet's named symbols (what interegular's ``anything_else`` stands for)."""
    named = {c for c in alphabet if isinstance(c, str)}
    for c in "aA0_xZ -#@~\u00e9\u4e00":
        if c not in named:
            return c
    return next(chr(i) for i in range(0x100, 0x10000) if chr(i) not in named)


def is_keyword(term: Terminal) -> bool:
    """Whether a terminal is a string literal or an alternation of string literals (``"a"i | "bc"i``)."""
    if term.literal is not None:
        return True
    from re import _constants as C
    from re import _parser as P

    try:
        tree = P.parse(term.regex())
    except REGEX_ERRORS:
        return False

    def literal_only(sub) -> bool:
        for op, av in sub:
            if op is C.LITERAL:
                continue
            if op is C.SUBPATTERN:
                ok = literal_only(av[-1])
            elif op is C.BRANCH:
                ok = all(literal_only(alt) for alt in av[1])
            elif op is C.IN:
                ok = all(o is C.LITERAL for o, _ in av)
            else:
                ok = False
            if not ok:
                return False
        return True

    return literal_only(tree)
