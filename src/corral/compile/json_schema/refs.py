"""Reference resolution for the JSON Schema compiler: JSON pointers, ``$id`` scopes, ``$anchor`` and remote URIs."""

from __future__ import annotations

from urllib.parse import unquote, urldefrag, urljoin

from corral.errors import SchemaError
from corral.compile.json_schema.vocab import ptr

__all__ = ["RefsMixin"]

_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf", "prefixItems", "items")
_SCHEMA_ONE = ("not", "if", "then", "else", "items", "additionalProperties", "contains", "propertyNames",
               "additionalItems", "unevaluatedItems", "unevaluatedProperties", "contentSchema")


class RefsMixin:
    """Indexes the resources (``$id``) and anchors of the root schema and of remote documents, and resolves refs."""

    def _init_refs(self, root, registry) -> None:
        self._registry = registry
        self._resources: dict[str, tuple[object, str]] = {}
        self._anchors: dict[str, tuple[object, str]] = {}
        self._bases: dict[str, str] = {}
        self._docs: set[str] = set()
        self._index(root, "", "")
        self._resources.setdefault("", (root, ""))
        schema_uri = root.get("$schema", "") if isinstance(root, dict) else ""
        self._old_draft = isinstance(schema_uri, str) and any(
            f"draft-0{n}" in schema_uri for n in (3, 4, 6, 7))

    def _ignores_ref_siblings(self) -> bool:
        """Before draft 2019-09, keywords beside ``$ref`` are ignored."""
        return self._old_draft

    def _index(self, node, pointer: str, base: str) -> None:
        if not isinstance(node, dict):
            return
        ident = node.get("$id")
        if isinstance(ident, str):
            if ident.startswith("#") and len(ident) > 1 and not ident.startswith("#/"):
                self._anchors.setdefault(base + ident, (node, pointer))  # draft-07 location-independent id
            else:
                base = urldefrag(urljoin(base, ident))[0]
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
        target = urljoin(self.base_for(node_pointer), ref)
        uri, frag = urldefrag(target)
        node, tptr = self._remote(uri, pointer, ref)
        if frag and not frag.startswith("/"):
            found = self._anchors.get(uri + "#" + frag)
            if found is None:
                raise SchemaError(f"$ref {ref!r}: no anchor {frag!r}", pointer=pointer, keyword="$ref")
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
        return node, tptr
