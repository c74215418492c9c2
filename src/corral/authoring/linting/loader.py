"""Loading a grammar for the linter: resolve the source (Lark text, a path, a shipped grammar's name or a
:class:`~corral.compile.grammar.Grammar`), expand it with lark's own ``GrammarBuilder`` (EBNF, ``%import``,
templates; every rule kept, reachable or not), turn undefined names into findings, and hold the result in a
:class:`Model`, which names and locates rules and terminals as the user wrote them."""

from __future__ import annotations

import re
from pathlib import Path

from corral.authoring.linting.report import Finding, LintReport, sort_findings
from corral.compile.grammar import Grammar
from corral.compile.grammar_paths import safe_is_file, shipped_grammars_dir
from corral.compile.lark import terminal_from_lark
from corral.compile.lark_errors import refuse_backslash_runs, translate_lark_error
from corral.compile.lark_format import lark_terminal_body
from corral.compile.lark_locate import locate_definition, locate_import, locate_symbol, locate_terminal
from corral.compile.symbols import Terminal
from corral.errors import GrammarError

__all__ = ["load_model", "Model", "owner"]

_GENERATED = re.compile(r"__(.+)_(?:star|plus|repeat_a\d+_b\d+(?:_opt)?)_\d+\Z")


def load_model(source, start, source_name, import_paths) -> "Model | LintReport":
    """Resolve ``source`` and load it into a :class:`Model` (or a report of undefined names)."""
    if isinstance(source, Grammar):
        if source.source is None:
            return Model.from_grammar(source, start or source.start, source_name or source.source_name)
        paths = list(import_paths) + _folder_of(source.source_name)
        return _load_lark(source.source, start or source.start, source_name or source.source_name, paths)
    if isinstance(source, str) and _looks_like_path(source):
        source = _find_file(source.strip())
    if isinstance(source, Path):
        text = _read_file(source)
        return _load_lark(text, start or "start", source_name or str(source), [*import_paths, str(source.parent)])
    if not isinstance(source, str):
        raise GrammarError(f"cannot lint a {type(source).__name__}: pass Lark text, a path or a Grammar")
    return _load_lark(source, start or "start", source_name, list(import_paths))


def _looks_like_path(text: str) -> bool:
    """A one-line text without ``:`` in its last path component: a file name or a shipped grammar's name."""
    text = text.strip()
    return bool(text) and "\n" not in text and ":" not in text.replace("\\", "/").split("/")[-1]


def _find_file(text: str) -> Path:
    """The file a one-line source names: a path, else a shipped grammar; GrammarError if neither exists."""
    path = Path(text).expanduser()
    if safe_is_file(path):
        return path
    folder = shipped_grammars_dir()
    if folder is not None and re.fullmatch(r"[A-Za-z0-9_\-]+", text) and (folder / f"{text}.lark").is_file():
        return folder / f"{text}.lark"
    raise GrammarError(f"grammar file not found: {text}")


def _read_file(path: Path) -> str:
    """The text of a grammar file; GrammarError when it is missing, unreadable or not UTF-8."""
    if not safe_is_file(path):
        raise GrammarError(f"grammar file not found: {path}")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise GrammarError(f"cannot read grammar file {path}: {exc}") from exc


def _folder_of(source_name: str | None) -> list[str]:
    """The folder of an existing grammar file, for relative imports."""
    if source_name and safe_is_file(Path(source_name)):
        return [str(Path(source_name).parent)]
    return []


def _load_lark(text, start: str, source_name: str | None, import_paths) -> "Model | LintReport":
    """Load Lark text with lark's loader, keeping every rule (reachable or not); lark errors become GrammarError."""
    if not isinstance(text, str):
        raise GrammarError(f"a Lark grammar must be a str, not {type(text).__name__}")
    refuse_backslash_runs(text, source_name)
    try:
        return _build(text, start, source_name, import_paths)
    except GrammarError:
        raise
    except RecursionError as exc:
        raise GrammarError("grammar is too deeply nested for lark's loader", source_name=source_name) from exc
    except Exception as exc:  # every lark failure becomes a GrammarError (or an undefined-name finding)
        error = translate_lark_error(exc, text, source_name)
        if "used but not defined" in error.message or "marked to ignore but were not defined" in error.message:
            finding = Finding("undefined", "error", error.message, error.line, error.column, (),
                              source_name=source_name)
            return LintReport((finding,), source_name)
        raise error from exc


def _build(text: str, start: str, source_name: str | None, import_paths) -> "Model | LintReport":
    from lark.load_grammar import GrammarBuilder

    builder = GrammarBuilder(False, [str(p) for p in import_paths])
    builder.load_grammar(text, source_name or "<grammar>")
    missing = _undefined_names(builder)
    if missing:
        return _undefined_report(missing, text, source_name)
    lark_grammar = builder.build()
    rule_names = [str(n) for n, params, tree, _o in lark_grammar.rule_defs if not params and tree is not None]
    if start not in rule_names:
        shown = ", ".join(n for n in rule_names if "__" not in n[1:]) or "none"
        finding = Finding("undefined", "error", f"the start rule {start!r} is not defined (rules: {shown})",
                          names=(start,), source_name=source_name)
        return LintReport((finding,), source_name)
    defined = {str(n) for n, (tree, _p) in lark_grammar.term_defs if tree is not None}
    declared = frozenset(str(n) for n, (tree, _p) in lark_grammar.term_defs if tree is None)
    terms, rules, ignore = lark_grammar.compile(rule_names, defined)
    terminals = {str(t.name): terminal_from_lark(t) for t in terms}
    ir_rules = [(str(r.origin.name), tuple(str(s.name) for s in r.expansion)) for r in rules]
    return Model(start, ir_rules, terminals, tuple(str(n) for n in ignore), declared=declared,
                  user_rules=tuple(rule_names), named_terminals=frozenset(n for n in defined if not n.startswith("__")),
                  text=text, source_name=source_name)


def _undefined_names(builder) -> list[str]:
    """Every name used but not defined in the loaded definitions (lark's own check stops at the first)."""
    from lark.load_grammar import _find_used_symbols

    defs = getattr(builder, "_definitions", None)
    if not isinstance(defs, dict):
        return []
    missing: dict[str, None] = {}
    for d in defs.values():
        if d.tree is None:
            continue
        used = set(_find_used_symbols(d.tree)) | {t.children[0].name for t in d.tree.find_data("template_usage")}
        for sym in sorted(str(s) for s in used - set(d.params)):
            if sym not in defs:
                missing[sym] = None
    for name in getattr(builder, "_ignore_names", ()):
        if name not in defs:
            missing[str(name)] = None
    return list(missing)


def _undefined_report(missing: list[str], text: str, source_name: str | None) -> LintReport:
    """A report with one ``undefined`` finding per name, at its first use."""
    findings = []
    for name in missing:
        what = "terminal" if name.lstrip("_")[:1].isupper() else "rule"
        loc = locate_symbol(text, name, skip_definitions=True) or (None, None)
        findings.append(Finding("undefined", "error", f"{what} {name} is used but not defined", loc[0], loc[1],
                                (name,), source_name=source_name))
    return LintReport(sort_findings(findings), source_name)


class Model:
    """BNF rules and terminals as lark builds them, with the helpers that name and locate them."""

    def __init__(self, start, rules, terminals, ignore, *, declared=frozenset(), user_rules=None,
                 named_terminals=None, text=None, source_name=None):
        self.start = start
        self.rules = rules
        self.terminals = terminals
        self.ignore = tuple(n for n in ignore if n in terminals)
        self.declared = frozenset(declared)
        lhs = list(dict.fromkeys(r[0] for r in rules))
        self.user_rules = tuple(user_rules) if user_rules is not None else tuple(n for n in lhs if owner(n) == n)
        self.named_terminals = (named_terminals if named_terminals is not None
                                else frozenset(n for n in terminals if not n.startswith("__")))
        self.text = text
        self.source_name = source_name

    @classmethod
    def from_grammar(cls, grammar: Grammar, start: str, source_name: str | None) -> "Model":
        """A model of a Grammar built without Lark text: its normalised rules, no locations."""
        rules = [(r.lhs, tuple(r.rhs)) for r in grammar.rules]
        return cls(start, rules, dict(grammar.terminals), grammar.ignore, source_name=source_name)

    def is_terminal(self, name: str) -> bool:
        """Whether a symbol is a terminal (declared ones included)."""
        return name in self.terminals or name in self.declared

    def show(self, name: str) -> str:
        """A terminal as the user wrote it (its name, or its literal or regex when anonymous); a rule's name."""
        term = self.terminals.get(name)
        if term is None or name in self.named_terminals:
            return owner(name)
        return lark_terminal_body(term)

    def where_rule(self, name: str) -> tuple[int | None, int | None]:
        """The position of a rule's definition (or first use), ``(None, None)`` when unknown."""
        if self.text is None:
            return None, None
        return (locate_definition(self.text, name) or locate_symbol(self.text, name) or self._where_import(name)
                or (None, None))

    def where_terminal(self, name: str) -> tuple[int | None, int | None]:
        """The position of a terminal's definition, literal or regex (or first use)."""
        if self.text is None:
            return None, None
        term = self.terminals.get(name)
        loc = locate_terminal(self.text, name, term.pattern if term else None, term.literal if term else None)
        if loc is None and term is not None and term.literal is None:
            loc = _find_regex(self.text, term)
        return loc or locate_symbol(self.text, name) or self._where_import(name) or (None, None)

    def _where_import(self, name: str) -> tuple[int, int] | None:
        """The ``%import`` statement that brought an imported symbol (lark names it ``module__NAME``)."""
        head = name.lstrip("_")
        if "__" not in head:
            return None
        return locate_import(self.text, head.split("__", 1)[0])

    def finding(self, kind: str, message: str, where, names, *, severity: str = "warning",
                witness: str | None = None) -> Finding:
        """A finding at ``where`` (a ``(line, column)`` pair)."""
        return Finding(kind, severity, message, where[0], where[1], tuple(names), witness, self.source_name)


def owner(name: str) -> str:
    """The user's rule behind a lark-generated one: ``__start_star_0`` -> ``start``, ``sep{a,B}`` -> ``sep``."""
    while True:
        m = _GENERATED.match(name)
        if m is None:
            break
        name = m.group(1)
    return name.split("{", 1)[0] if "{" in name else name


def _find_regex(text: str, term: Terminal) -> tuple[int, int] | None:
    """The position of ``/pattern/`` in the text, for an anonymous regex lark rewrote (``%ignore /.../``)."""
    body = lark_terminal_body(term)
    pos = text.find(body.rsplit("/", 1)[0] + "/")
    if pos < 0:
        return None
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1
