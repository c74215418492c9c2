"""JSON Schema front end: :func:`schema_to_grammar` compiles a schema to an exact :class:`~corral.compile.grammar.Grammar`.

Modules, in the order a schema flows through them:

* ``compiler``: :func:`schema_to_grammar`, its warnings, and (module docstring) the exact language compiled;
* ``builder``: :class:`~corral.compile.json_schema.builder.Builder`, the state of one compilation, passed to every
  function below (how to add a keyword: its module docstring);
* ``refs``: ``$ref`` resolution and the rewrites for older drafts; ``checks``: known keywords and keyword values;
* ``logic``: applicators to a union of conjunctions and negation (one handler per keyword); ``oneof``: ``oneOf``;
* ``merge``: one conjunction into one schema (one merger per keyword);
* ``atoms``: an applicator-free schema, one function per type: ``literals`` (null, boolean, enum/const),
  ``numbers`` (number, integer, multipleOf), ``strings``, ``arrays``, ``objects``;
* helpers: ``layout`` (whitespace), ``scalars`` (string automata), ``regexes``, ``formats``, ``oracle``
  (a validator with the compiler's semantics), ``dnf``, ``vocab``; ``sources``: where a schema comes from.
"""

from corral.compile.json_schema.compiler import (FormatAnnotationWarning, SchemaKeywordWarning, SchemaNarrowedWarning,
                                                 SchemaRelaxedWarning, schema_to_grammar)
from corral.compile.json_schema.sources import resolve_schema, validate_instance

__all__ = ["schema_to_grammar", "SchemaKeywordWarning", "SchemaNarrowedWarning", "SchemaRelaxedWarning",
           "FormatAnnotationWarning",
           "resolve_schema", "validate_instance"]
