"""Reference resolution for the JSON Schema compiler: JSON pointers, ``$id`` scopes, ``$anchor`` and remote URIs."""

from __future__ import annotations

from urllib.parse import unquote, urldefrag, urljoin

from corral.errors import SchemaError
from corral.compile.json_schema.shapes import check_shapes
from corral.compile.json_schema.vocab import ptr

__all__ = ["Resolver", "schema_draft", "DRAFTS", "without_keywords", "KNOWN_METASCHEMAS", "dropped_by_vocabulary", "draft04_bounds",
           "local_unevaluated", "rewrite_schema"]

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_ONE = ("not", "if", "then", "else", "items", "additionalProperties", "contains", "propertyNames",
               "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contentSchema")

# The meta-schemas whose vocabularies the compiler implements (draft 2020-12, 2019-09 and drafts 4 to 7).
KNOWN_METASCHEMAS = frozenset(
    f"{scheme}://json-schema.org/{path}{hash_}"
    for scheme in ("http", "https") for hash_ in ("", "#")
    for path in ("draft/2020-12/schema", "draft/2019-09/schema", "draft-07/schema", "draft-06/schema",
                 "draft-04/schema", "schema"))


def rewrite_schema(node, fn):
    """A copy of the schema ``node`` in which every subschema (values of the applicator keywords, innermost first;
    ``enum``/``const``/``default`` data is left alone) and then ``node`` itself is replaced by ``fn(copy)``."""
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            value = {name: rewrite_schema(sub, fn) for name, sub in value.items()}
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            value = [rewrite_schema(sub, fn) for sub in value]
        elif key in _SCHEMA_ONE:
            value = rewrite_schema(value, fn)
        out[key] = value
    return fn(out)


def without_keywords(node, keywords: frozenset):
    """A copy of the schema ``node`` without ``keywords``, in it and in every subschema."""
    if not keywords:
        return node
    return rewrite_schema(node, lambda d: {k: v for k, v in d.items() if k not in keywords})


def _draft04_node(out: dict) -> dict:
    for ex, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(ex), bool):
            if out.pop(ex) and bound in out:
                out[ex] = out.pop(bound)
    return out


def draft04_bounds(node):
    """A copy of the draft-04 schema ``node`` with boolean ``exclusiveMinimum``/``exclusiveMaximum`` (modifiers of
    ``minimum``/``maximum``) rewritten as the numeric keywords of later drafts, in every subschema."""
    return rewrite_schema(node, _draft04_node)


# Keywords that evaluate properties or items of the instance in place (their annotations reach unevaluated*).
_IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$ref", "$dynamicRef", "$recursiveRef",
             "dependentSchemas", "dependencies", "extends")


def _local_unevaluated_node(out: dict) -> dict:
    if any(k in out for k in _IN_PLACE):
        return out
    if "unevaluatedProperties" in out:
        extra = out.pop("unevaluatedProperties")
        out.setdefault("additionalProperties", extra)
    if "unevaluatedItems" in out:
        extra = out.pop("unevaluatedItems")
        items = out.get("items")
        if isinstance(items, list):  # draft 2019-09 tuple form
            out.setdefault("additionalItems", extra)
        elif "items" not in out and "contains" not in out:
            out["items"] = extra
        elif "items" not in out:  # contains marks the items it matches as evaluated: not local
            out["unevaluatedItems"] = extra
    return out


def local_unevaluated(node):
    """A copy of ``node`` where ``unevaluatedProperties``/``unevaluatedItems`` of every subschema without in-place
    applicators is rewritten exactly: there only the node's own ``properties``/``patternProperties``/
    ``additionalProperties`` (``prefixItems``/``items``/``additionalItems``/``contains``) evaluate, so
    ``unevaluatedProperties: S`` is ``additionalProperties: S`` (nothing, beside ``additionalProperties``), and
    ``unevaluatedItems: S`` is ``items: S`` after ``prefixItems`` (nothing, beside ``items`` or ``contains``)."""
    return rewrite_schema(node, _local_unevaluated_node)


_VOCAB = "https://json-schema.org/draft/2020-12/vocab/"
# Keywords of the 2020-12 vocabularies a custom meta-schema may leave out (then they are annotations).
VOCABULARY_KEYWORDS = {
    _VOCAB + "core": frozenset(),
    _VOCAB + "meta-data": frozenset(),
    _VOCAB + "content": frozenset(),
    _VOCAB + "unevaluated": frozenset({"unevaluatedItems", "unevaluatedProperties"}),
    _VOCAB + "validation": frozenset({
        "type", "enum", "const", "multipleOf", "maximum", "exclusiveMaximum", "minimum", "exclusiveMinimum",
        "maxLength", "minLength", "pattern", "maxItems", "minItems", "uniqueItems", "maxContains", "minContains",
        "maxProperties", "minProperties", "required", "dependentRequired"}),
    _VOCAB + "applicator": frozenset({
        "prefixItems", "items", "contains", "additionalProperties", "properties", "patternProperties",
        "dependentSchemas", "propertyNames", "if", "then", "else", "allOf", "anyOf", "oneOf", "not"}),
    _VOCAB + "format-annotation": frozenset(),
    _VOCAB + "format-assertion": frozenset(),
}


_LATER_THAN_2019 = frozenset({"prefixItems"})
_LATER_THAN_07 = _LATER_THAN_2019 | {"dependentRequired", "dependentSchemas", "minContains", "maxContains",
                                     "unevaluatedItems", "unevaluatedProperties"}
_LATER_THAN_06 = _LATER_THAN_07 | {"if", "then", "else"}
_LATER_THAN_04 = _LATER_THAN_06 | {"const", "contains", "propertyNames"}
# Keywords that a draft does not define: under that draft's $schema they are unknown, hence annotations (as for
# python-jsonschema's validator class of that draft: Draft201909Validator ignores ``dependencies``,
# Draft202012Validator also ``additionalItems`` and the 2019-09 ``$recursiveRef``).
UNKNOWN_IN_DRAFT = {"draft-04": _LATER_THAN_04, "draft-06": _LATER_THAN_06, "draft-07": _LATER_THAN_07,
                    "2019-09": _LATER_THAN_2019 | {"dependencies", "$dynamicRef", "$dynamicAnchor"},
                    "2020-12": frozenset({"dependencies", "additionalItems", "$recursiveRef", "$recursiveAnchor"})}
DRAFTS = ("draft-04", "draft-06", "draft-07", "2019-09", "2020-12")


def schema_draft(root) -> str | None:
    """The draft a root schema declares with a standard ``$schema`` (one of :data:`DRAFTS`; ``draft-03`` for
    draft 3), or None (no ``$schema``, the unversioned ``.../schema``, or a custom meta-schema)."""
    uri = root.get("$schema") if isinstance(root, dict) else None
    if not isinstance(uri, str) or uri not in KNOWN_METASCHEMAS and "draft-03/" not in uri:
        return None
    return next((d for d in DRAFTS + ("draft-03",) if d + "/" in uri), None)


def dropped_by_vocabulary(root, registry) -> frozenset:
    """Keywords that the root's ``$schema`` makes annotations: for a standard meta-schema, the keywords its draft
    does not define (``if``/``then``/``else`` under draft-04 and draft-06, ``dependentRequired`` under draft-07,
    ...: :data:`UNKNOWN_IN_DRAFT`); for a custom meta-schema found in ``registry``, the keywords of the standard
    vocabularies its ``$vocabulary`` leaves out.

    Raises SchemaError (unsupported) for an unknown meta-schema, or one requiring a vocabulary not listed above."""
    uri = root.get("$schema", "") if isinstance(root, dict) else ""
    if not isinstance(uri, str):
        raise SchemaError(f"$schema must be a string, not {type(uri).__name__}", pointer="/$schema",
                          keyword="$schema")
    if not uri:
        return frozenset()
    if uri in KNOWN_METASCHEMAS:
        return UNKNOWN_IN_DRAFT.get(schema_draft(root), frozenset())
    meta = None
    if isinstance(uri, str) and registry is not None:
        for key in (uri, uri.rstrip("#")):
            try:
                found = registry[key]
            except Exception:  # noqa: BLE001 - a mapping or a referencing.Registry
                continue
            meta = getattr(found, "contents", found)
            break
    vocab = meta.get("$vocabulary") if isinstance(meta, dict) else None
    if not isinstance(vocab, dict):
        raise SchemaError(f"$schema {uri!r} is not a meta-schema the compiler knows (draft 2020-12, 2019-09, 4 to "
                          "7) and no $vocabulary for it was found in registry=", pointer="/$schema",
                          keyword="$schema", kind="unsupported")
    unknown = [v for v, required in vocab.items() if required and v not in VOCABULARY_KEYWORDS]
    if unknown:
        raise SchemaError(f"$schema {uri!r} requires the vocabulary {unknown[0]!r}, which the compiler does not "
                          "implement", pointer="/$schema", keyword="$schema", kind="unsupported")
    dropped = set().union(*(kws for v, kws in VOCABULARY_KEYWORDS.items() if v not in vocab))
    if _VOCAB + "format-assertion" not in vocab:
        dropped.add("format")
    return frozenset(dropped)


def _join(base: str, ref: str, pointer: str, keyword: str) -> str:
    """``urljoin(base, ref)``; SchemaError (invalid) for a reference that is not a URI (``http://[``)."""
    try:
        return urljoin(base, ref)
    except ValueError as exc:
        raise SchemaError(f"{keyword} {ref!r} is not a valid URI reference: {exc}", pointer=pointer,
                          keyword=keyword) from None


class Resolver:
    """Indexes the resources (``$id``) and anchors of the root schema and of remote documents, and resolves refs.

    Parameters
    ----------
    root : dict or bool
        The (rewritten) root schema.
    registry : mapping or referencing.Registry, optional
        Remote documents by absolute URI.
    drop_keywords : frozenset
        Keywords removed from every remote document (as from the root).
    """

    def __init__(self, root, registry, *, drop_keywords: frozenset = frozenset()) -> None:
        self._registry = registry
        self._drop_keywords = drop_keywords
        # draft-04 (and 3) name a schema's URI with "id", later drafts with "$id"
        self._id = "id" if schema_draft(root) in ("draft-03", "draft-04") else "$id"
        self._resources: dict[str, tuple[object, str]] = {}
        self._anchors: dict[str, tuple[object, str]] = {}
        self._bases: dict[str, str] = {}
        self._docs: set[str] = set()
        self._checked: set[int] = set()  # ids of the schema objects whose shape was checked
        self._index(root, "", "")
        self._resources.setdefault("", (root, ""))
        self._old_draft = schema_draft(root) in ("draft-03", "draft-04", "draft-06", "draft-07")

    def ignores_ref_siblings(self) -> bool:
        """Before draft 2019-09, keywords beside ``$ref`` are ignored."""
        return self._old_draft

    def _index(self, node, pointer: str, base: str) -> None:
        if not isinstance(node, dict):
            return
        ident = node.get(self._id)
        if isinstance(ident, str):
            if ident.startswith("#") and len(ident) > 1 and not ident.startswith("#/"):
                self._anchors.setdefault(base + ident, (node, pointer))  # draft-07 location-independent id
            else:
                base = urldefrag(_join(base, ident, ptr(pointer, self._id), self._id))[0]
                self._resources.setdefault(base, (node, pointer))
        anchor = node.get("$anchor")
        if isinstance(anchor, str):
            self._anchors.setdefault(base + "#" + anchor, (node, pointer))
        self._bases[pointer] = base
        for key, value in node.items():
            if key in _SCHEMA_MAPS and isinstance(value, dict):
                for name, sub in value.items():
                    self._index(sub, ptr(pointer, key, name), base)
            elif key in _SCHEMA_LISTS and isinstance(value, list):
                for i, sub in enumerate(value):
                    self._index(sub, ptr(pointer, key, i), base)
            elif key in _SCHEMA_ONE:
                self._index(value, ptr(pointer, key), base)

    def base_for(self, pointer: str) -> str:
        """The base URI in scope at ``pointer`` (that of the nearest enclosing ``$id``)."""
        p = pointer
        while True:
            if p in self._bases:
                return self._bases[p]
            cut = p.rfind("/")
            if cut < 0:
                return self._bases.get(p, "")
            p = p[:cut]

    def _remote(self, uri: str, pointer: str, ref: str):
        if uri in self._resources:
            return self._resources[uri]
        doc = None
        if self._registry is not None and uri not in self._docs:
            for key in (uri, uri + "#"):
                try:
                    found = self._registry[key]
                except (KeyError, LookupError, TypeError, ValueError):
                    continue
                except Exception:  # noqa: BLE001 - referencing raises its own Unresolvable errors
                    continue
                doc = getattr(found, "contents", found)
                doc = without_keywords(doc, self._drop_keywords)
                check_shapes(doc, uri + "#", self._checked)
                doc = local_unevaluated(doc)
                break
        if doc is None:
            raise SchemaError(f"$ref {ref!r}: unknown resource {uri!r} (pass it in registry=)", pointer=pointer,
                              keyword="$ref", kind="unsupported")
        self._docs.add(uri)
        self._index(doc, uri + "#", uri)
        self._resources.setdefault(uri, (doc, uri + "#"))
        return self._resources[uri]

    def resolve(self, ref, pointer: str, node_pointer: str | None = None):
        """The schema a ``$ref`` at ``pointer`` refers to, and its pointer.

        Parameters
        ----------
        ref : str
            The reference.
        pointer : str
            Pointer of the ``$ref`` keyword (for messages).
        node_pointer : str, optional
            Pointer of the schema holding it (for the base URI; default: ``pointer`` without its last token).

        Returns
        -------
        (schema, str)
        """
        if not isinstance(ref, str):
            raise SchemaError("$ref must be a string", pointer=pointer, keyword="$ref")
        if node_pointer is None:
            node_pointer = pointer.rsplit("/", 1)[0]
        target = _join(self.base_for(node_pointer), ref, pointer, "$ref")
        uri, frag = urldefrag(target)
        node, tptr = self._remote(uri, pointer, ref)
        if frag and not frag.startswith("/"):
            found = self._anchors.get(uri + "#" + frag)
            if found is None:
                raise SchemaError(f"$ref {ref!r}: no anchor {frag!r}", pointer=pointer, keyword="$ref")
            check_shapes(found[0], found[1], self._checked)
            return found
        for raw in (frag[1:].split("/") if frag else []):
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise SchemaError(f"$ref {ref!r} does not resolve", pointer=pointer, keyword="$ref")
            tptr = ptr(tptr, part)
        check_shapes(node, tptr, self._checked)
        return node, tptr
