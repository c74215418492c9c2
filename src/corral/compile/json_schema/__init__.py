"""JSON Schema front end: :func:`schema_to_grammar` compiles a schema to an exact :class:`~corral.compile.grammar.Grammar`."""

from corral.compile.json_schema.compiler import (SchemaKeywordWarning, SchemaNarrowedWarning, SchemaRelaxedWarning,
                                                 schema_to_grammar)
from corral.compile.json_schema.sources import resolve_schema, validate_instance

__all__ = ["schema_to_grammar", "SchemaKeywordWarning", "SchemaNarrowedWarning", "SchemaRelaxedWarning",
           "resolve_schema", "validate_instance"]
