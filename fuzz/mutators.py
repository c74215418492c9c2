"""Structure-aware mutation of JSON Schemas (the ``schema`` target's custom mutator) and JSON-level reduction.

:func:`mutate_schema` parses the input, applies one to three schema-level edits (a keyword added with a value that
stresses it, a value replaced, a subtree deleted, wrapped in ``anyOf``/``not``/``allOf``, spliced from elsewhere
in the document, a ``$ref`` pointed back into the document, a number pushed to an edge), and prints it again. A
fifth of the time, and whenever the input is not JSON, it leaves the mutation to libFuzzer's byte mutator, so
syntax errors and odd spellings (``NaN``, duplicate keys, deep nesting) are still explored.
"""

from __future__ import annotations

import copy
import json
import random

BIG = 10 ** 30

#: Values that stress each keyword (valid ones, edge cases and a few of the wrong type).
KEYWORD_VALUES: dict[str, list] = {
    "type": ["string", "integer", "number", "object", "array", "boolean", "null", ["string", "null"],
             ["integer", "string"], [], "foo", ["number", "integer"]],
    "enum": [[1, "a", None], [], [{"a": 1}], [[1]], [1, 1.0], [True, 1], ["", "a\u0000", "\ud800"], [BIG]],
    "const": [1, "a", None, {"a": [1]}, 1.0, -0.0, [], {}, BIG, 1e308, "\\u0000"],
    "minimum": [0, -1, 1.5, 1e-7, BIG, -BIG, 2 ** 53 + 1, 0.1, 1e308, -1e-300, "1", True],
    "maximum": [0, -1, 1.5, 1e-7, BIG, -BIG, 2 ** 53 + 1, 0.1, 1e308, -1e-300, None],
    "exclusiveMinimum": [0, -1, 1.5, 1e-7, BIG, 0.30000000000000004, True],
    "exclusiveMaximum": [0, 1, 1.5, 1e-7, -BIG, 1e-320, False],
    "multipleOf": [0.1, 3, 0.5, 1e-9, 7, 0, -1, BIG, 1e-320, 0.3333333333333333, 1e308],
    "minLength": [0, 1, 2, 5, 100, 10 ** 6, -1, 1.5, 2 ** 63, 1.0],
    "maxLength": [0, 1, 2, 5, 100, 10 ** 6, -1, 1.5, 2 ** 63],
    "minItems": [0, 1, 3, 50, 10 ** 6, -1, 2.0],
    "maxItems": [0, 1, 3, 50, 10 ** 6, -1],
    "minProperties": [0, 1, 3, 20, 10 ** 6, -1],
    "maxProperties": [0, 1, 3, 20, -1],
    "minContains": [0, 1, 2, 10 ** 6],
    "maxContains": [0, 1, 2, 10 ** 6],
    "uniqueItems": [True, False],
    "pattern": ["^a+$", "[0-9]{2,4}", "(?:ab)*", "\\d+", "^(\\w+\\s?)*$", "[^]", "\\p{L}", "a{1000}",
                "((a{2}){3}){4}", "(a|b|c){10,20}", ".*", "^$", "(", "\\", "[a-", "(?<n>a)\\k<n>", "\\u{1F600}",
                "a{2,1}", "[\\d-z]", "\\cA", "(?=a)", "\\bx", "[\\s\\S]", "a|", "^.{3}$", "x*?", "\ud800"],
    "format": ["date-time", "date", "time", "duration", "email", "hostname", "ipv4", "ipv6", "uuid", "uri",
               "uri-reference", "iri", "iri-reference", "uri-template", "json-pointer", "relative-json-pointer",
               "regex", "idn-email", "foo", 3],
    "properties": [{"a": {}}, {"a": {"type": "integer"}, "b": False}, {"": True, "\\": {"const": 1}}, {}],
    "required": [["a"], ["a", "a"], [], ["x", "y"], "a"],
    "additionalProperties": [False, True, {"type": "integer"}, {"not": {}}],
    "patternProperties": [{"^a": {"type": "string"}}, {"[0-9]+": False}, {"(": {}}, {"": {"type": "null"}}],
    "propertyNames": [{"pattern": "^[a-z]+$"}, {"maxLength": 2}, {"enum": ["a", "b"]}, False, {"format": "email"}],
    "dependentRequired": [{"a": ["b"]}, {"a": ["a"]}, {"a": []}],
    "dependentSchemas": [{"a": {"required": ["b"]}}, {"a": False}],
    "dependencies": [{"a": ["b"]}, {"a": {"properties": {"b": {"type": "string"}}}}],
    "items": [{}, {"type": "integer"}, False, [{}], [{"type": "string"}, {"type": "integer"}], True],
    "prefixItems": [[{"const": 1}, {"type": "string"}], [], [False]],
    "additionalItems": [False, {"type": "string"}],
    "contains": [{"type": "integer"}, False, {}, {"const": "a"}],
    "anyOf": [[{"type": "integer"}, {"type": "string"}], [], [False], [{"minimum": 1}, {"maximum": 0}]],
    "oneOf": [[{"type": "integer"}, {"type": "number"}], [{"const": 1}, {"const": 2}], [{}], []],
    "allOf": [[{"type": "integer"}, {"minimum": 2}], [], [{"$ref": "#"}], [{"type": "string"}, {"type": "integer"}]],
    "not": [{}, {"type": "null"}, True, {"not": {}}, {"enum": [1]}],
    "if": [{"type": "integer"}, True, {"properties": {"a": {"const": 1}}}],
    "then": [{"minimum": 0}, False],
    "else": [{"type": "string"}, False],
    "$ref": ["#", "#/$defs/a", "#/definitions/a", "http://example.com/x", "#a", "#/properties/a", "#/$defs/%25",
             "#/items/0", "#/$defs/a/$ref", "other.json", "#/allOf/0", "#/$defs/b", "#//", "#/a~2b"],
    "$defs": [{"a": {"type": "integer"}}, {"a": {"$ref": "#/$defs/a"}}, {"b": {"$ref": "#/$defs/a"},
                                                                         "a": {"$ref": "#/$defs/b"}}],
    "definitions": [{"a": {"type": "string"}}, {"a": {"$ref": "#"}}],
    "$id": ["http://example.com/root.json", "#foo", "urn:x", "sub/", "", "http://[::1"],
    "$anchor": ["a", "", "1bad"],
    "$schema": ["http://json-schema.org/draft-07/schema#", "https://json-schema.org/draft/2020-12/schema",
                "http://example.com/custom", "http://json-schema.org/draft-04/schema#"],
    "$dynamicRef": ["#meta", "#"], "$dynamicAnchor": ["meta"], "$recursiveRef": ["#"],
    "unevaluatedProperties": [False, {"type": "integer"}], "unevaluatedItems": [False],
    "contentEncoding": ["base64"], "contentMediaType": ["application/json"],
    "default": [1, None], "title": ["t"], "description": [""], "examples": [[1]], "propertis": [{}],
}

ATOMS = [0, -1, 1, 1.5, -0.0, BIG, 1e308, "", "a", "#", True, False, None, [], {}, [{}], {"type": "integer"}]


def _nodes(doc, path=()):
    """Every (path, value) in ``doc``."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, path + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, path + (i,))


def _get(doc, path):
    for p in path:
        doc = doc[p]
    return doc


def _set(doc, path, value):
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _pointer(path) -> str:
    return "#" + "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def mutate_json(doc, rng: random.Random):
    """One schema-level edit of a parsed JSON document (returns the new document)."""
    nodes = list(_nodes(doc))
    path, node = rng.choice(nodes)
    schemas = [(p, n) for p, n in nodes if isinstance(n, dict)]
    r = rng.random()
    if isinstance(node, dict) and r < 0.45:
        key = rng.choice(list(KEYWORD_VALUES))
        node[key] = copy.deepcopy(rng.choice(KEYWORD_VALUES[key]))
        if key == "$ref" and rng.random() < 0.5 and schemas:
            node[key] = _pointer(rng.choice(schemas)[0])
        return doc
    if isinstance(node, dict) and node and r < 0.55:
        del node[rng.choice(list(node))]
        return doc
    if isinstance(node, list) and node and r < 0.55:
        i = rng.randrange(len(node))
        if rng.random() < 0.5:
            del node[i]
        else:
            node.insert(i, copy.deepcopy(node[i]))
        return doc
    if r < 0.62:
        wrapper = rng.choice([
            lambda n: {"anyOf": [n, {"type": "null"}]}, lambda n: {"not": n}, lambda n: {"allOf": [n, n]},
            lambda n: {"oneOf": [n, {"const": 0}]}, lambda n: {"items": n, "type": "array"},
            lambda n: {"properties": {"a": n}, "required": ["a"]}, lambda n: {"if": n, "then": n, "else": False},
            lambda n: {"$defs": {"d": n}, "$ref": "#/$defs/d"}])
        return _set(doc, path, wrapper(copy.deepcopy(node)))
    if r < 0.72 and nodes:
        _, other = rng.choice(nodes)
        return _set(doc, path, copy.deepcopy(other))
    if isinstance(node, (int, float)) and not isinstance(node, bool) and r < 0.85:
        value = rng.choice([node + 1, node - 1, -node, node * 10, node / 3, 0, BIG, 2 ** 64, 1e-9, float(node)])
        return _set(doc, path, value)
    if path and isinstance(_get(doc, path[:-1]), dict) and r < 0.9:
        parent = _get(doc, path[:-1])
        new_key = rng.choice(list(KEYWORD_VALUES))
        if new_key not in parent:
            parent[new_key] = parent.pop(path[-1])
        return doc
    return _set(doc, path, copy.deepcopy(rng.choice(ATOMS)))


def mutate_schema(data: bytes, max_size: int, seed: int) -> bytes:
    """atheris' custom mutator for the ``schema`` target (see the module docstring)."""
    import atheris

    rng = random.Random(seed)
    if rng.random() < 0.2:
        return atheris.Mutate(data, max_size)
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return atheris.Mutate(data, max_size)
    try:
        for _ in range(rng.choice((1, 1, 2, 3))):
            doc = mutate_json(doc, rng)
        out = json.dumps(doc, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")
    except Exception:  # noqa: BLE001 - an edit that overflows or nests too deep: a byte-level mutation instead
        return atheris.Mutate(data, max_size)
    return out if len(out) <= max_size else atheris.Mutate(data, max_size)


def json_reductions(doc):
    """Smaller variants of a parsed JSON document, most aggressive first (for the minimizer)."""
    nodes = list(_nodes(doc))
    for path, node in nodes:  # hoist a child over its parent, drop a member or element, simplify a leaf
        if isinstance(node, dict):
            for k in list(node):
                yield _set(copy.deepcopy(doc), path, copy.deepcopy(node[k]))
            for k in list(node):
                d = copy.deepcopy(doc)
                del _get(d, path)[k]
                yield d
        elif isinstance(node, list):
            for i in range(len(node)):
                d = copy.deepcopy(doc)
                del _get(d, path)[i]
                yield d
    for path, node in nodes:
        if path and node not in ({}, True, 0, ""):
            for simple in ({}, True, 0):
                if type(simple) is not type(node):
                    yield _set(copy.deepcopy(doc), path, simple)
