"""The core of the JSON Schema compiler: :class:`Builder`, the state of one compilation.

Every other module of the compiler is plain functions that take the builder ``b`` as their first argument, as
python-jsonschema's keyword functions take the validator: they add rules through ``b.rule``/``b.term``/``b.lit``,
recurse through ``b.schema``/``b.child``/``b.expand``/``b.negate`` and raise :class:`~corral.errors.SchemaError`
with pointers from ``b.kp``. The builder walks a schema (:meth:`Builder.schema`) through the tables that route each
keyword to its function:

* :data:`~corral.compile.json_schema.logic.EXPANDERS` and :data:`~corral.compile.json_schema.logic.NEGATORS`
  (applicators, and the negation of each keyword),
* :data:`~corral.compile.json_schema.merge.MERGERS` (how two values of a keyword in one ``allOf`` combine),
* :data:`~corral.compile.json_schema.atoms.TYPE_COMPILERS` (one function per ``type``),
* :data:`~corral.compile.json_schema.checks.KEYWORD_CHECKS` (the value checks of a compiled schema).

Adding a keyword: list it in :mod:`~corral.compile.json_schema.vocab` (``BY_TYPE``, else ``SUPPORTED``), read it in
the type compiler of its type, and add its entry to each table above that concerns it (a keyword without a merger
must be equal in every part of an ``allOf``; one without a negator is unsupported under ``not``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from corral.budget import BudgetExceeded, checkpoint
from corral.compile.json_schema import atoms, layout, logic, merge
from corral.compile.json_schema.checks import check_keywords
from corral.compile.json_schema.dnf import Sub
from corral.compile.json_schema.shapes import check_shapes
from corral.compile.json_schema.refs import (Resolver, draft04_bounds, dropped_by_vocabulary, local_unevaluated,
                                            schema_draft, without_keywords)
from corral.compile.json_schema.vocab import is_annotation, ptr
from corral.compile.symbols import Rule, Terminal
from corral.errors import RegexError, SchemaError

__all__ = ["Builder", "Options"]

# re.escape is pure and the compiler escapes the same few key and punctuation literals over and over.
_escape = functools.lru_cache(maxsize=8192)(re.escape)


@dataclass(frozen=True)
class Options:
    """The options of one compilation (see :func:`~corral.compile.json_schema.schema_to_grammar`).

    Attributes
    ----------
    ws : {"compact", "spaced", "pretty", "free"}
        The layout; ``ws_max`` is the most whitespace characters between two tokens in the ``free`` layout.
    any_order : bool
        ``property_order="any"``.
    integral_floats, lenient, strict_keywords : bool
        As the arguments of the same names.
    float_integers : bool
        Whether ``type: integer`` admits integral floats (``1.0``): ``integral_floats``, except under a draft-04
        (or 3) ``$schema``, where an integer is a number without a fraction part in its spelling
        (``Draft4Validator`` rejects ``1.0`` as an integer, while ``1.0`` still equals ``enum: [1]``).
    """

    ws: str
    ws_max: int
    any_order: bool
    integral_floats: bool
    lenient: bool
    strict_keywords: bool
    float_integers: bool


class Builder:
    """The state of one compilation: the grammar under construction, the memo of compiled subschemas, the reference
    resolver, the options and the diagnostics for the warnings.

    Attributes
    ----------
    options : Options
    refs : corral.compile.json_schema.refs.Resolver
        Resolves ``$ref`` (``refs.resolve``) and knows the base URI of every pointer.
    root : dict or bool
        The schema, rewritten for its draft (keywords its vocabulary leaves out dropped).
    rules, terminals : list of Rule, dict of str to Terminal
        The grammar so far.
    origin, prop_ptrs : dict
        For a schema merged from an ``allOf`` (keyed by ``id``): the pointer of the part each keyword (each
        property) came from, so that errors point into the user's schema (see :meth:`kp`).
    depth : int
        Nesting depth of the value being compiled (the ``pretty`` layout indents by it).
    narrowed, relaxed, typos
        What the :class:`~corral.compile.json_schema.compiler.SchemaNarrowedWarning`, ``SchemaRelaxedWarning`` and
        ``SchemaKeywordWarning`` report.
    """

    def __init__(self, root, *, whitespace="compact", registry=None, lenient: bool = False,
                 property_order: str = "schema", integral_floats: bool = False, formats: str = "assert",
                 strict_keywords: bool = False) -> None:
        if property_order not in ("schema", "any"):
            raise ValueError(f"property_order must be 'schema' or 'any', not {property_order!r}")
        if formats not in ("assert", "strict", "annotate"):
            raise ValueError(f"formats must be 'assert', 'strict' or 'annotate', not {formats!r}")
        self.formats = formats
        self.annotated_formats: dict[str, str] = {}  # pointer -> unknown format compiled as an annotation
        self.by_draft = dropped_by_vocabulary(root, registry)  # keywords the $schema's draft leaves out
        drop = self.by_draft | ({"format"} if formats == "annotate" else set())
        self.draft = schema_draft(root)
        root = without_keywords(root, frozenset(drop))
        check_shapes(root, draft=self.draft)  # first: it bounds the nesting the next pass recurses through
        if formats == "assert":  # unknown format names are annotations (in a remote document: strings.py)
            from corral.compile.json_schema.formats import without_unknown_formats

            root = without_unknown_formats(root, self.annotated_formats)
        root = local_unevaluated(root)
        if self.draft in ("draft-03", "draft-04"):
            root = draft04_bounds(root)
        self.root = root
        ws, ws_max = layout.parse_whitespace(whitespace)
        self.options = Options(ws, ws_max, property_order == "any", bool(integral_floats), lenient,
                               bool(strict_keywords),
                               bool(integral_floats) and self.draft not in ("draft-03", "draft-04"))
        self.rules: list[Rule] = []
        self.terminals: dict[str, Terminal] = {}
        self._by_pattern: dict[str, str] = {}
        self._n = 0
        self._never: str | None = None
        self._memo: dict = {}
        self._memo_log: list = []
        self.origin: dict[int, dict[str, str]] = {}  # merged node -> keyword -> pointer of its schema
        self.prop_ptrs: dict[int, dict[str, str]] = {}  # merged node -> property -> pointer of its schema
        self.keep: list = []  # keeps synthetic nodes alive (their ids are keys)
        self.narrowed: list[tuple[str, str]] = []  # (pointer, reason) where an option could not be honoured
        self.relaxed: list[tuple[str, str]] = []  # (pointer, keyword) dropped by lenient
        self.typos: dict[str, tuple[str, str]] = {}  # pointer -> (unknown keyword, suggested keyword)
        self.depth = 0
        self.any_values: dict[int, str] = {}  # depth -> nonterminal of any value (see layout.any_value)
        self.ws_nt: str | None = None
        self.refs = Resolver(root, registry, drop_keywords=frozenset(drop))
        self.where: tuple[str, str | None] = ("", None)  # (pointer, likely keyword) of the schema being compiled
        self.origins: dict[str, tuple[str, str | None]] = {}  # terminal -> where it was first made

    def kp(self, node, pointer: str, key, *parts) -> str:
        """Pointer of ``key`` of ``node`` (found at ``pointer``), following keywords merged from an allOf."""
        base = self.origin.get(id(node), {}).get(key, pointer) if isinstance(node, dict) else pointer
        return ptr(base, key, *parts)

    # -------------------------------------------------------------- grammar primitives

    def nt(self, hint: str = "n") -> str:
        """A fresh nonterminal name."""
        self._n += 1
        return f"{hint}_{self._n}"

    def rule(self, lhs: str, *rhs: str) -> None:
        """Add the rule ``lhs -> rhs``."""
        self.rules.append(Rule(lhs, tuple(rhs)))

    def term(self, pattern: str, literal: str | None = None) -> str:
        """The terminal for a regex (shared between equal patterns)."""
        name = self._by_pattern.get(pattern)
        if name is None:
            name = f"T{len(self.terminals)}"
            self.terminals[name] = Terminal(name, pattern, frozenset(), literal)
            self._by_pattern[pattern] = name
            self.origins[name] = self.where
        return name

    def lit(self, text: str) -> str:
        """The terminal for a literal text."""
        return self.term(_escape(text), text)

    def never(self) -> str:
        """A nonterminal with an empty language."""
        if self._never is None:
            self._never = "never"
            self.rule("never", "never")
        return self._never

    # -------------------------------------------------------------- recursion

    def schema(self, node, pointer: str) -> str:
        """Return the nonterminal for the subschema ``node`` found at ``pointer`` (memoized, so refs may recurse).

        With ``lenient``, an unsupported keyword is dropped from the schema holding it (see :func:`_relaxed`) and
        that schema compiled again.
        """
        if self.options.ws == "pretty" and self.depth > layout.MAX_PRETTY_DEPTH:
            return self.never()
        key = self._memo_key(node, pointer)
        if key in self._memo:
            return self._memo[key]
        if node is True:
            return layout.any_value(self)
        if node is False:
            return self.never()
        if not isinstance(node, (dict, Sub)):
            raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
        name = self.nt("s")
        self._memo[key] = name
        self._memo_log.append(key)
        while True:
            snap = self._snapshot()
            try:
                self._compile_checked(node, pointer, name)
                return name
            except BudgetExceeded as exc:
                keyword = exc.keyword or likely_keyword(node)
                raise SchemaError(exc.what, pointer=self.kp(node, pointer, keyword) if keyword else pointer,
                                  keyword=keyword, kind="too_complex") from None
            except RecursionError:
                raise SchemaError("compiling this subschema recursed too deeply (its nesting is too deep)",
                                  pointer=pointer, kind="too_complex") from None
            except RegexError as exc:
                if exc.construct != "size":
                    raise
                keyword = likely_keyword(node)
                raise SchemaError(str(exc), pointer=self.kp(node, pointer, keyword) if keyword else pointer,
                                  keyword=keyword, kind="too_complex") from None
            except SchemaError as exc:
                if not self.options.lenient or exc.kind != "unsupported" or isinstance(node, Sub):
                    raise
                relaxed = _relaxed(node, pointer, exc)
                if relaxed is None:
                    raise
                self._rollback(snap)
                self._memo[key] = name
                self.relaxed.append((exc.pointer, exc.keyword or "?"))
                node = relaxed

    def child(self, node, pointer: str) -> str:
        """The nonterminal of a member or element schema (one level deeper)."""
        self.depth += 1
        try:
            return self.schema(node, pointer)
        finally:
            self.depth -= 1

    # ``b.expand(node, pointer, seen)`` and ``b.negate(...)``: the union of conjunctions equivalent to ``node`` and to
    # ``not node`` (:func:`~corral.compile.json_schema.logic.expand`, :func:`~corral.compile.json_schema.logic.negate`).
    # Plain functions bound as methods, so that each level of a nested schema costs no extra stack frame.
    expand = logic.expand
    negate = logic.negate

    def attempt(self, fn, *args):
        """Run ``fn(*args)``; on an unsatisfiable SchemaError undo its rules and return None."""
        snap = self._snapshot()
        try:
            return fn(*args)
        except SchemaError as exc:
            if exc.kind != "unsatisfiable":
                raise
            self._rollback(snap)
            return None

    # -------------------------------------------------------------- internals

    def _memo_key(self, node, pointer: str):
        if isinstance(node, Sub) or (isinstance(node, dict) and id(node) in self.origin):
            key = ("id", id(node))
            self.keep.append(node)
        else:
            key = pointer
        return (key, self.depth) if self.options.ws == "pretty" else key

    def _snapshot(self):
        return len(self.rules), len(self._memo_log), self._never, dict(self.any_values)

    def _rollback(self, snap) -> None:
        n_rules, n_memo, never, anys = snap
        del self.rules[n_rules:]
        for key in self._memo_log[n_memo:]:
            self._memo.pop(key, None)
        del self._memo_log[n_memo:]
        self._never = never
        self.any_values = anys

    def _compile_checked(self, node, pointer: str, name: str) -> None:
        """:meth:`_compile` under the compile budget (:func:`~corral.budget.checkpoint` per subschema), with a
        number beyond the range of floats (``1e999`` as an integer bound, a 400-digit ``multipleOf``) reported as
        unsupported at this schema instead of an ``OverflowError``."""
        checkpoint()
        outer, self.where = self.where, (pointer, likely_keyword(node))
        try:
            self._compile(node, pointer, name)
        except OverflowError as exc:
            raise SchemaError(f"a number in this schema is beyond the range of floats ({exc})", pointer=pointer,
                              kind="unsupported") from None
        finally:
            self.where = outer

    def _compile(self, node, pointer: str, name: str) -> None:
        """Rules for ``name``: a bare ``$ref`` refers, an applicator-free schema compiles type by type, any other is
        rewritten into a union of conjunctions first."""
        if isinstance(node, Sub):
            self._compile_dnf(self.expand(node, pointer), pointer, name)
            return
        check_keywords(self, node, pointer)
        assertions = [k for k in node if not is_annotation(k)]
        if (assertions == ["$ref"] and not self.refs.ignores_ref_siblings()) or (
                "$ref" in node and self.refs.ignores_ref_siblings()):
            target, tptr = self.refs.resolve(node["$ref"], self.kp(node, pointer, "$ref"), pointer)
            self.rule(name, self.schema(target, tptr))
            return
        if atoms.is_atom(node):
            atoms.compile_atom(self, node, pointer, name)
            return
        where = self.kp(node, pointer, "allOf") if "allOf" in node else pointer
        self._compile_dnf(self.expand(node, pointer), where, name)

    def _compile_dnf(self, dnf, pointer: str, name: str) -> None:
        """Rules ``name -> alternative`` for each conjunction of a union (unsatisfiable ones dropped)."""
        if not dnf:
            self.rule(name, self.never())
            return
        for parts in dnf:
            try:
                merged = merge.merge(self, parts, pointer)
            except SchemaError as exc:
                if exc.kind != "unsatisfiable" or len(dnf) == 1:
                    raise
                continue  # an empty conjunction adds nothing to the union
            if merged is None:
                continue
            if len(dnf) == 1:
                atoms.compile_atom(self, merged, pointer if len(parts) != 1 else parts[0][1], name)
                continue
            alt = self.nt("alt")
            where = parts[0][1] if len(parts) == 1 else pointer
            if self.attempt(lambda: atoms.compile_atom(self, merged, where, alt) or True):
                self.rule(name, alt)
        self.rule(name, self.never())  # keeps ``name`` defined when every alternative is empty


def _relaxed(node: dict, pointer: str, exc: SchemaError):
    """A copy of ``node`` without the keyword that ``exc`` points at (None if it is not inside ``node``); a ``oneOf``
    whose alternatives are not provably disjoint becomes an ``anyOf``."""
    if exc.keyword == "oneOf" and "not provably disjoint" in exc.message and exc.pointer == pointer + "/oneOf":
        out = {k: v for k, v in node.items() if k != "oneOf"}
        out["anyOf"] = node["oneOf"]
        return out
    prefix = pointer + "/"
    if not exc.pointer.startswith(prefix):
        return None
    parts = [p.replace("~1", "/").replace("~0", "~") for p in exc.pointer[len(prefix):].split("/")]
    top = dict(node)
    cur = top
    for p in parts[:-1]:
        if isinstance(cur, dict) and isinstance(cur.get(p), dict):
            cur[p] = dict(cur[p])
            cur = cur[p]
        elif isinstance(cur, dict) and isinstance(cur.get(p), list) and parts:
            cur[p] = list(cur[p])
            cur = cur[p]
        elif isinstance(cur, list) and p.isdigit() and int(p) < len(cur) and isinstance(cur[int(p)], dict):
            cur[int(p)] = dict(cur[int(p)])
            cur = cur[int(p)]
        else:
            return None
    if not isinstance(cur, dict) or parts[-1] not in cur:
        return None
    del cur[parts[-1]]
    return top


# The keywords that make a schema expensive to compile, most likely first (for a too_complex error that a
# checkpoint could not attribute to one keyword).
_COSTLY = ("pattern", "patternProperties", "propertyNames", "format", "minLength", "maxLength", "multipleOf", "enum",
           "const", "oneOf", "anyOf", "allOf", "not", "$ref", "properties", "items", "prefixItems")


def likely_keyword(node) -> str | None:
    """The keyword of ``node`` most likely to have made it costly (None if it has none of them)."""
    return next((k for k in _COSTLY if isinstance(node, dict) and k in node), None)
