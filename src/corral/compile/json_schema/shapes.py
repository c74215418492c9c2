"""The shape check: every keyword of a schema holds a value of a form some draft allows, checked before compiling.

The compiler's keyword functions assume well-formed values (``required`` a list of strings, ``allOf`` a list of
schemas, a finite number for ``maximum``, ...). :func:`check_shapes` walks a schema once, iteratively (no
``RecursionError`` on deep schemas), through every subschema position, and raises a :class:`SchemaError`
(``kind="invalid"``) naming the keyword and its JSON pointer for the first value of the wrong form. The forms are the
union over drafts 4 to 2020-12 (``items`` may be a schema or an array of schemas, ``exclusiveMinimum`` a number or
a boolean, ``dependencies`` values schemas or arrays of names), as the compiler accepts every draft's spelling;
keywords the schema's draft does not define were dropped before (they are annotations). Data (``enum``, ``const``)
must be JSON: no NaN or infinity, no keys that are not strings. Unknown keywords are annotations and are not looked
into.
"""

from __future__ import annotations

import math
import re

from corral.budget import checkpoint
from corral.compile.json_schema.vocab import TYPES, ptr
from corral.errors import SchemaError

__all__ = ["check_shapes", "check_node", "SHAPES", "DRAFT_SHAPES", "MAX_DEPTH"]

# Subschemas nested deeper than this are refused (too_complex) before the recursive passes of the compiler run.
MAX_DEPTH = 200


def _is_schema(v) -> bool:
    return isinstance(v, (dict, bool))


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and (isinstance(v, int) or math.isfinite(v))


def _is_count(v) -> bool:
    return _is_number(v) and v >= 0 and v == int(v)


def _is_names(v) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v)


def _type(v) -> bool:
    names = [v] if isinstance(v, str) else v
    return (isinstance(names, list) and bool(names) and all(isinstance(t, str) and t in TYPES for t in names)
            and len(set(names)) == len(names))


def _one(test, form: str):
    """A shape: ``test(value)`` must hold."""
    return lambda v: None if test(v) else ((), form)


def _array_of(test, form: str, item_form: str, non_empty: bool = False):
    """A shape: an array (non-empty if asked) whose every element passes ``test``."""
    def shape(v):
        if not isinstance(v, list) or (non_empty and not v):
            return (), form
        return next((((i,), item_form) for i, x in enumerate(v) if not test(x)), None)
    return shape


def _object_of(test, form: str, item_form: str, key_test=None):
    """A shape: an object whose every value passes ``test`` (and every key ``key_test``)."""
    def shape(v):
        if not isinstance(v, dict):
            return (), form
        return next((((k,), item_form) for k, x in v.items() if not test(x) or (key_test and not key_test(k))),
                    None)
    return shape


# Python's re and ECMAScript agree that these are syntax errors (anything else Python refuses may be an ECMAScript
# construct Python lacks, which the compiler reports as unsupported when it meets it).
_REGEX_SYNTAX = re.compile(r"missing \)|unbalanced parenthesis|nothing to repeat|multiple repeat|unterminated "
                           r"character set|unterminated subpattern|bad character range")


def _regex(v) -> bool:
    if not isinstance(v, str):
        return False
    try:
        re.compile(v)
    except re.error as exc:
        return not _REGEX_SYNTAX.search(str(exc))
    except (RecursionError, OverflowError, ValueError):
        return True  # too deep or too large for Python's parser: the compiler decides
    return True


_SCHEMA = "a schema (an object or a boolean)"

# keyword -> shape: value -> None (well-formed) or (pointer tokens below the keyword, the form it must have)
SHAPES = {
    **dict.fromkeys(("not", "if", "then", "else", "additionalProperties", "contains", "propertyNames",
                     "additionalItems", "unevaluatedItems", "unevaluatedProperties"), _one(_is_schema, _SCHEMA)),
    "items": lambda v: (_array_of(_is_schema, "", _SCHEMA)(v) if isinstance(v, list) else
                        _one(_is_schema, "a schema or an array of schemas")(v)),
    **dict.fromkeys(("allOf", "anyOf", "oneOf", "prefixItems"),
                    _array_of(_is_schema, "a non-empty array of schemas", _SCHEMA, non_empty=True)),
    **dict.fromkeys(("properties", "$defs", "definitions", "dependentSchemas"),
                    _object_of(_is_schema, "an object of schemas", _SCHEMA)),
    "patternProperties": _object_of(_is_schema, "an object of schemas", _SCHEMA + " under a valid regex",
                                    key_test=_regex),
    "dependencies": _object_of(lambda s: _is_schema(s) or _is_names(s), "an object",
                               "a schema or an array of property names"),
    "dependentRequired": _object_of(_is_names, "an object", "an array of property names"),
    "required": _array_of(lambda s: isinstance(s, str), "an array of property names", "a property name (a string)"),
    "type": _one(_type, f"a type name ({', '.join(TYPES)}) or a non-empty array of distinct type names"),
    "enum": _one(lambda v: isinstance(v, list), "an array"),
    **dict.fromkeys(("multipleOf", "divisibleBy"), _one(lambda v: _is_number(v) and v > 0, "a number greater than 0")),
    **dict.fromkeys(("maximum", "minimum"), _one(_is_number, "a finite number")),
    **dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum"), _one(lambda v: _is_number(v) or isinstance(v, bool),
                                                                   "a finite number (a boolean in draft-04)")),
    **dict.fromkeys(("maxLength", "minLength", "maxItems", "minItems", "maxContains", "minContains",
                     "maxProperties", "minProperties"), _one(_is_count, "a non-negative integer")),
    **dict.fromkeys(("uniqueItems", "$recursiveAnchor"), _one(lambda v: isinstance(v, bool), "a boolean")),
    "pattern": _one(_regex, "a valid regular expression"),
    **dict.fromkeys(("format", "$ref", "$dynamicRef", "$recursiveRef", "$anchor", "$dynamicAnchor", "$id",
                     "$schema"), _one(lambda v: isinstance(v, str), "a string")),
    "$vocabulary": _one(lambda v: isinstance(v, dict), "an object"),
}

# Where a declared draft allows fewer forms than the union.
DRAFT_SHAPES = {
    "draft-04": dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum"), _one(lambda v: isinstance(v, bool),
                                                                            "a boolean in draft-04")),
    "2020-12": {"items": _one(_is_schema, "a schema in draft 2020-12 (its array form is prefixItems)")},
    **{d: dict.fromkeys(("exclusiveMaximum", "exclusiveMinimum"), _one(_is_number, f"a finite number in {d}"))
       for d in ("draft-06", "draft-07", "2019-09")},
}
DRAFT_SHAPES["2020-12"].update(DRAFT_SHAPES["2019-09"])

_ONE = ("not", "if", "then", "else", "additionalProperties", "contains", "propertyNames", "additionalItems",
        "unevaluatedItems", "unevaluatedProperties")
_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")


def _json_data(value, pointer: str, keyword: str) -> None:
    """SchemaError unless ``value`` is JSON data (finite numbers, string keys), walked without recursion."""
    stack, n = [value], 0
    while stack:
        v = stack.pop()
        n += 1
        if n & 4095 == 0:
            checkpoint(keyword)
        if isinstance(v, float) and not math.isfinite(v):
            raise SchemaError(f"{keyword} holds {v!r}, which is not a JSON number", pointer=pointer, keyword=keyword)
        if isinstance(v, dict):
            if not all(isinstance(k, str) for k in v):
                raise SchemaError(f"{keyword} holds an object with a key that is not a string", pointer=pointer,
                                  keyword=keyword)
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)


def _children(node: dict, pointer: str):
    """The subschemas of ``node`` (already shape-checked) with their pointers."""
    for key, value in node.items():
        if key in _ONE or (key == "items" and not isinstance(value, list)):
            yield value, ptr(pointer, key)
        elif key in _LISTS:
            yield from ((sub, ptr(pointer, key, i)) for i, sub in enumerate(value))
        elif key in _MAPS:
            yield from ((sub, ptr(pointer, key, name)) for name, sub in value.items() if _is_schema(sub))


def check_node(node, pointer: str, draft: str | None = None) -> None:
    """Check the keywords of one schema object (not its subschemas), in the forms of ``draft`` (None: any)."""
    if not _is_schema(node):
        raise SchemaError("a schema must be an object or a boolean", pointer=pointer)
    if node is True or node is False:
        return
    for key, value in node.items():
        if not isinstance(key, str):
            raise SchemaError(f"keyword {key!r} is not a string", pointer=pointer)
        shape = DRAFT_SHAPES.get(draft, {}).get(key) or SHAPES.get(key)
        fault = shape(value) if shape is not None else None
        if fault is not None:
            parts, form = fault
            bad = value
            for part in parts:
                bad = bad[part]
            where = f"{key} entry {parts[0]!r}" if parts else key
            raise SchemaError(f"{where} must be {form}, not {_show(bad)}", pointer=ptr(pointer, key, *parts),
                              keyword=key)
        if key in ("enum", "const"):
            _json_data(value, ptr(pointer, key), key)


def _show(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_shapes(schema, pointer: str = "", seen: set | None = None, draft: str | None = None) -> None:
    """Raise :class:`SchemaError` (``kind="invalid"``, with keyword and pointer) for the first keyword of ``schema``
    or of any of its subschemas whose value has a form no draft allows.

    Parameters
    ----------
    schema : dict or bool
        The schema (keywords its draft does not define already removed).
    pointer : str
        Where ``schema`` is (for the messages).
    seen : set, optional
        ``id``s of schema objects already checked (shared across calls: a resolved ``$ref`` target is checked once).
    draft : str, optional
        The declared draft (:func:`~corral.compile.json_schema.refs.schema_draft`): its own forms where they are
        narrower than the union (draft-04's boolean ``exclusiveMinimum``, 2020-12's single-schema ``items``).
    """
    seen = set() if seen is None else seen
    stack = [(schema, pointer, 0)]
    while stack:
        node, at, depth = stack.pop()
        if isinstance(node, dict):
            if id(node) in seen:
                continue
            seen.add(id(node))
        check_node(node, at, draft)
        if depth >= MAX_DEPTH and isinstance(node, dict) and next(_children(node, at), None) is not None:
            raise SchemaError(f"the schema nests subschemas more than {MAX_DEPTH} levels deep", pointer=at,
                              kind="too_complex")
        if isinstance(node, dict):
            stack.extend((sub, where, depth + 1) for sub, where in _children(node, at))
