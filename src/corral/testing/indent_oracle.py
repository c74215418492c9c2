"""A membership oracle for grammars with an indentation post-lexer, from lark's own ``Indenter`` and Earley parser.

lark cannot run a post-lexer behind its scannerless (dynamic) Earley lexer, so the oracle splits the text itself,
the way corral's language is defined (:mod:`corral.compile.indentation`): every lexeme fully matches its terminal
(any split), except that a lexeme of the newline terminal or of an ignored one is maximal (the next character could
not continue a match of its terminal: a partial match of the ``regex`` module), and that an ignored lexeme does not
start with a character a newline lexeme can start with (lark's lexer tries the newline terminal first). A lookahead
at the end of a terminal sees the text after the lexeme, as in lark (corral's follow guards). Each split is run
through a lark ``Indenter`` with the grammar's post-lexer settings and parsed by ``lark.Lark(parser="earley")`` from
a token list; a split is abandoned as soon as lark rejects its prefix (``UnexpectedEOF`` means the prefix is fine so
far). Two shortcuts keep it fast without changing an answer: a prefix with two adjacent terminals that no sentential
form has next to each other (:func:`corral.testing.adjacency.adjacency`) is rejected at once, and one that lark's
LALR parser (when the grammar builds one) takes is accepted at once, LALR's language being part of the grammar's
(lark resolves shift/reduce conflicts by shifting, so an LALR rejection still goes to Earley).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.compile.grammar import Grammar

__all__ = ["indent_oracle"]

_SENTINEL = "CORRAL_PREFIX_END"


def indent_oracle(grammar: Grammar, *, start: str | None = None, max_nodes: int = 200_000) -> Callable[[str], bool]:
    """A membership oracle for a grammar with ``grammar.postlex`` (see the module docstring).

    Parameters
    ----------
    grammar : Grammar
        A grammar with an indentation post-lexer.
    start : str, optional
        The start rule; default: the grammar's.
    max_nodes : int
        How many lexemes one query may try before it raises ``RuntimeError`` (the search is exponential in the
        worst case).

    Returns
    -------
    callable
        ``oracle(text) -> bool``. Its ``parser`` attribute is the ``lark.Lark`` instance.
    """
    import lark
    import regex

    from corral.compile.grammar import Grammar
    from corral.compile.lark import lark_names
    from corral.compile.symbols import inline_flags

    if start is not None and start != grammar.start:
        grammar = Grammar(grammar.rules, grammar.terminals, start, grammar.ignore, postlex=grammar.postlex)
    spec = grammar.postlex
    names = lark_names(grammar.start, grammar.rules, grammar.terminals, spec.declared)
    text = grammar.to_lark()
    parser = lark.Lark(text, parser="earley", lexer=_list_lexer(), start="start")
    lexers = [(names[n], regex.compile(inline_flags(t.pattern, t.flags)), n in grammar.ignore, n == spec.newline)
              for n, t in grammar.terminals.items()]
    checker = _Checker(grammar, names, text, parser, _indenter(spec, names))

    def oracle(s: str) -> bool:
        """Whether ``s`` is in the language."""
        return _Search(checker, lexers, s, max_nodes).run()

    oracle.parser = parser
    return oracle


def _list_lexer():
    """A lark ``Lexer`` class that hands over a ready token list."""
    from lark.lexer import Lexer

    class _ListLexer(Lexer):
        """Takes the token list passed to ``parse`` as it is."""

        def __init__(self, lexer_conf):
            pass

        def lex(self, data):
            """The tokens, unchanged."""
            return iter(data)

    return _ListLexer


def _indenter(spec, names):
    """A lark ``Indenter`` with the post-lexer's settings (the terminal names as the printed grammar spells them)."""
    from lark.indenter import Indenter

    attrs = {"NL_type": names[spec.newline], "INDENT_type": names[spec.indent], "DEDENT_type": names[spec.dedent],
             "OPEN_PAREN_types": [names.get(n, n) for n in spec.open_parens],
             "CLOSE_PAREN_types": [names.get(n, n) for n in spec.close_parens], "tab_len": spec.tab_len}
    return type("OracleIndenter", (Indenter,), attrs)()


class _Checker:
    """Post-lexes a token prefix with lark's ``Indenter`` and asks lark whether it parses (answers cached)."""

    def __init__(self, grammar, names: dict, text: str, earley, indenter) -> None:
        import lark

        from corral.testing.adjacency import adjacency

        self.earley, self.indenter = earley, indenter
        declared = grammar.postlex.declared
        first, follow = adjacency(grammar.rules, grammar.start, set(grammar.terminals) | set(declared))
        self.first = frozenset(names[t] for t in first)
        self.follow = {names[a]: frozenset(names[b] for b in bs) for a, bs in follow.items()}
        try:
            self.lalr = lark.Lark(text, parser="lalr", lexer=_list_lexer(), start="start")
        except lark.exceptions.GrammarError:  # a reduce/reduce conflict: Earley only
            self.lalr = None
        self.cache: dict = {}

    def parses(self, toks: tuple, final: bool) -> bool:
        """Whether lark accepts the post-lexed ``toks`` (``final``: as the whole text; else as a prefix)."""
        import lark

        try:
            out = self._postlex(toks, final)
        except (lark.exceptions.LarkError, AssertionError, IndexError):
            return False
        key = (tuple(t.type for t in out), final)
        got = self.cache.get(key)
        if got is None:
            got = self.cache[key] = self._adjacent(key[0]) and (self._lalr(out, final) or self._earley(out, final))
        return got

    def _postlex(self, toks: tuple, final: bool) -> list:
        """lark's ``Indenter`` over ``toks`` (``final``: with the dedents of the end of the text)."""
        from lark.lexer import Token

        stream = [Token(t, v) for t, v in toks] + ([] if final else [Token(_SENTINEL, "")])
        out = []
        for tok in self.indenter.process(iter(stream)):
            if tok.type == _SENTINEL:
                break
            out.append(tok)
        return out

    def _adjacent(self, types: tuple) -> bool:
        """Whether every two neighbours of ``types`` can be neighbours in a sentential form."""
        if types and types[0] not in self.first:
            return False
        return all(b in self.follow.get(a, ()) for a, b in zip(types, types[1:]))

    def _lalr(self, out: list, final: bool) -> bool:
        """True when LALR takes ``out`` (a ``False`` proves nothing)."""
        import lark

        if self.lalr is None:
            return False
        try:
            ip = self.lalr.parse_interactive(out)
            ip.exhaust_lexer()
            if final:
                ip.feed_eof()
            return True
        except lark.exceptions.LarkError:
            return False

    def _earley(self, out: list, final: bool) -> bool:
        """lark's Earley verdict (``UnexpectedEOF``: a fine prefix)."""
        import lark

        try:
            self.earley.parse(out)
            return True
        except lark.exceptions.UnexpectedEOF:
            return not final
        except lark.exceptions.LarkError:
            return False


class _Search:
    """One query: a depth-first search over the splits of ``text``, pruned by lark on each prefix."""

    def __init__(self, checker: _Checker, lexers, text: str, max_nodes: int) -> None:
        self.checker, self.lexers, self.text = checker, lexers, text
        self.budget = max_nodes
        self.failed: set = set()

    def run(self) -> bool:
        """Whether some split of the text parses."""
        return self._from(0, ())

    def _from(self, pos: int, toks: tuple) -> bool:
        """Whether the text from ``pos`` can be split so that ``toks`` plus its tokens parse (failures memoised)."""
        if pos == len(self.text):
            return self.checker.parses(toks, True)
        key = (pos, toks)
        if key in self.failed:
            return False
        for end, name, ignored in self._lexemes(pos):
            nxt = toks if ignored else toks + ((name, self.text[pos:end]),)
            if (ignored or self.checker.parses(nxt, False)) and self._from(end, nxt):
                return True
        self.failed.add(key)
        return False

    def _lexemes(self, pos: int):
        """``(end, lark name, ignored)`` of every lexeme that may start at ``pos``."""
        text = self.text
        nl_rx = next(rx for _, rx, _, newline in self.lexers if newline)
        nl_starts = nl_rx.fullmatch(text, pos, pos + 1, partial=True) is not None
        for name, rx, ignored, newline in self.lexers:
            if ignored and nl_starts:
                continue
            for end in range(pos + 1, len(text) + 1):
                self.budget -= 1
                if self.budget < 0:
                    raise RuntimeError(f"indent_oracle: the search for {text!r} ran out of nodes")
                m = rx.fullmatch(text, pos, end, partial=True)
                if m is None:
                    break
                if m.partial:
                    continue
                maximal = newline or ignored
                if maximal and end < len(text) and rx.fullmatch(text, pos, end + 1, partial=True) is not None:
                    continue  # not maximal
                if _LOOKAHEAD in rx.pattern or _NEG_LOOKAHEAD in rx.pattern:
                    if _pinned(rx.pattern, len(text) - end).match(text, pos) is None:
                        continue  # its lookahead fails on the text after the lexeme
                yield end, name, ignored


_LOOKAHEAD, _NEG_LOOKAHEAD = "(?=", "(?!"


@functools.lru_cache(maxsize=4096)
def _pinned(pattern: str, rest: int):
    """``pattern`` followed by "exactly ``rest`` characters remain": matched at a lexeme's start, it ends exactly at
    the lexeme's end while its lookaheads see the whole text."""
    import regex

    return regex.compile(f"(?:{pattern})(?=[\\s\\S]{{{rest}}}\\Z)")
