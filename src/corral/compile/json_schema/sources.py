"""Where a JSON Schema comes from: a dict, JSON text, a file, or a pydantic model class."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from corral.errors import SchemaError

__all__ = ["resolve_schema", "validate_instance"]


def resolve_schema(schema) -> tuple[dict | bool, type | None]:
    """Turn the ``schema=`` argument of :func:`corral.generate` into a JSON Schema.

    Parameters
    ----------
    schema : dict, bool, str, os.PathLike or pydantic model class
        A schema object; JSON text; a path to a ``.json`` file; or a pydantic v2 ``BaseModel`` subclass (its
        ``model_json_schema()``, with every model closed: see below).

    Returns
    -------
    (schema, model)
        The schema as a dict (or bool) and the pydantic model class, or None.

    Raises
    ------
    SchemaError
        Unreadable file, text that is not JSON, or an object that is not a schema (kind ``invalid``).

    Notes
    -----
    pydantic emits no ``additionalProperties`` for a model with its default ``extra="ignore"`` (``true`` for
    ``extra="allow"``, ``false`` for ``extra="forbid"``), which would let generated text carry invented (and
    repeated) keys that the parsed model drops. Here every model schema, the root's and those of the nested models
    (in ``$defs``, wherever they are used: fields, lists, ``Optional``, unions, dict values), gets
    ``additionalProperties: false`` unless its config has ``extra="allow"`` or the schema already says otherwise
    (``json_schema_extra``). This is done while pydantic generates the schema (a ``GenerateJsonSchema`` subclass
    whose ``model_schema`` sees each model class and its config), so only model schemas change: ``dict[str, X]``
    fields, ``TypedDict`` classes, dataclasses and ``RootModel`` schemas are left as pydantic writes them.
    """
    if isinstance(schema, (dict, bool)):
        return schema, None
    if isinstance(schema, type) and callable(getattr(schema, "model_json_schema", None)):
        return _model_schema(schema), schema
    is_text = isinstance(schema, str) and (schema.lstrip().startswith("{") or schema.strip() in ("true", "false"))
    if isinstance(schema, os.PathLike) or (isinstance(schema, str) and not is_text):
        path = Path(schema)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaError(f"cannot read schema file {str(path)!r}: {exc}", kind="invalid") from exc
        return _parse(text, str(path)), None
    if isinstance(schema, str):
        return _parse(schema, "schema text"), None
    raise SchemaError(
        f"schema must be a dict, JSON text, a path or a pydantic model class, got {type(schema).__name__}",
        kind="invalid",
    )


def _model_schema(model: type) -> dict:
    """``model.model_json_schema()`` with its models closed (see :func:`resolve_schema`)."""
    try:
        return model.model_json_schema(schema_generator=_closing_generator())
    except (TypeError, ImportError):  # a model_json_schema without schema_generator=, or not from pydantic
        return model.model_json_schema()


@functools.cache
def _closing_generator() -> type:
    """A pydantic ``GenerateJsonSchema`` that adds ``additionalProperties: false`` to the schema of every model
    whose ``extra`` is not ``"allow"``."""
    from pydantic.json_schema import GenerateJsonSchema

    class ClosingGenerateJsonSchema(GenerateJsonSchema):
        def model_schema(self, schema):
            json_schema = super().model_schema(schema)
            extra = schema["cls"].model_config.get("extra")
            if (extra in (None, "ignore") and not schema.get("root_model") and isinstance(json_schema, dict)
                    and json_schema.get("type") == "object"):
                json_schema.setdefault("additionalProperties", False)
            return json_schema

    return ClosingGenerateJsonSchema


def _parse(text: str, where: str):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"{where} is not valid JSON: {exc}", kind="invalid") from exc
    if not isinstance(value, (dict, bool)):
        raise SchemaError(f"{where} is not a JSON Schema (an object or a boolean)", kind="invalid")
    return value


def validate_instance(schema, instance, *, registry=None, formats: str = "assert") -> list[str]:
    """Validate ``instance`` with ``jsonschema`` (the draft of the schema's ``$schema``, default 2020-12); the
    errors' JSON pointers.

    Formats are assertions (``formats="assert"`` or ``"strict"``), checked as the compiler reads them
    (:func:`corral.compile.json_schema.formats.format_checker`; a format it does not know passes, an annotation, as
    the compiler reads it), or annotations (``formats="annotate"``, draft 2020-12's default).
    ``registry`` holds remote documents for ``$ref`` (a mapping URI -> schema, or a ``referencing.Registry``).
    """
    import jsonschema

    from corral.compile.json_schema.formats import format_checker

    kwargs = {}
    if registry is not None:
        import referencing

        if not isinstance(registry, referencing.Registry):
            from referencing.jsonschema import DRAFT202012

            registry = referencing.Registry().with_resources(
                (uri, referencing.Resource.from_contents(doc, default_specification=DRAFT202012))
                for uri, doc in dict(registry).items()
            )
        kwargs["registry"] = registry
    checker = None if formats == "annotate" else format_checker()
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    validator = cls(schema, format_checker=checker, **kwargs)
    return ["/" + "/".join(str(p) for p in e.absolute_path) for e in validator.iter_errors(instance)]
