"""Errors of the HTTP server in the OpenAI error format: ``{"error": {"message", "type", "param", "code"}}``.

:class:`APIError` is what every part of the server raises for a request it refuses; :func:`from_exception` turns
corral's own errors into one (a :class:`~corral.errors.SchemaError` keeps its JSON pointer and keyword: both are in
the message, the pointer is in ``param`` and both are extra fields of the body), and anything unexpected into a
500 whose message names the exception type only (never a traceback: the traceback goes to the server's log).
"""

from __future__ import annotations

from corral.errors import (ConfigurationError, CorralError, GenerationError, GrammarError, ModelError, RegexError,
                           SchemaError)

__all__ = ["APIError", "from_exception"]

_TYPES = {400: "invalid_request_error", 404: "not_found_error", 405: "invalid_request_error",
          408: "timeout_error", 413: "invalid_request_error", 429: "rate_limit_error", 500: "server_error",
          503: "server_error", 504: "timeout_error"}


class APIError(Exception):
    """A refused request, with what the OpenAI error body says about it.

    Parameters
    ----------
    status : int
        The HTTP status (400 bad request, 404 unknown route or model, 429 queue full, 504 timed out, 500 bug).
    message : str
        What went wrong, for a person.
    param : str, optional
        The request field at fault (dotted, e.g. ``"response_format.json_schema.schema/properties/age/minimum"``).
    code : str, optional
        A machine-readable code (``"schema_invalid"``, ``"queue_full"``, ``"context_length_exceeded"``...).
    type : str, optional
        The OpenAI error type; by default from the status (``invalid_request_error``, ``rate_limit_error``...).
    extra : dict, optional
        More fields of the error object (``pointer`` and ``keyword`` for a schema error).
    """

    def __init__(self, status: int, message: str, *, param: str | None = None, code: str | None = None,
                 type: str | None = None, extra: dict | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.param = param
        self.code = code
        self.type = type or _TYPES.get(self.status, "invalid_request_error" if self.status < 500 else "server_error")
        self.extra = dict(extra or {})

    def body(self) -> dict:
        """The JSON body: ``{"error": {"message", "type", "param", "code", ...extra}}``."""
        error = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        error.update(self.extra)
        return {"error": error}


def from_exception(exc: BaseException, *, param: str | None = None, prompt_param: str = "prompt") -> APIError:
    """The :class:`APIError` for an exception raised while serving a request.

    Parameters
    ----------
    exc : BaseException
        What was raised: an :class:`APIError` (returned as it is), a corral error (a 400, except a
        :class:`~corral.errors.GenerationError` that is not about the prompt: a 500), or anything else (a 500
        naming the exception type).
    param : str, optional
        The request field the constraint came from (``"response_format.json_schema.schema"``, ``"grammar"``,
        ``"regex"``...): a schema error's pointer is appended to it.
    prompt_param : str
        The field holding the prompt (``"messages"`` for chat): the ``param`` of a prompt that is too long.

    Returns
    -------
    APIError
    """
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, SchemaError):
        return APIError(400, str(exc), param=f"{param or 'schema'}{exc.pointer}", code=f"schema_{exc.kind}",
                        extra={"pointer": exc.pointer, "keyword": exc.keyword})
    if isinstance(exc, (GrammarError, RegexError)):
        code = "too_complex" if getattr(exc, "kind", None) == "too_complex" else None
        return APIError(400, str(exc), param=param, code=code or ("grammar_invalid" if isinstance(exc, GrammarError)
                                                                   else "regex_invalid"))
    if isinstance(exc, GenerationError):
        text = str(exc)
        if "prompt" in text or "context" in text:
            return APIError(400, text, param=prompt_param, code="context_length_exceeded")
        return APIError(500, f"generation failed: {text}", code="generation_error")
    if isinstance(exc, (ConfigurationError, ModelError)):
        return APIError(400, str(exc), param=param)
    if isinstance(exc, CorralError):
        return APIError(400, str(exc), param=param)
    return APIError(500, f"internal server error ({type(exc).__name__}); see the server log", code="internal_error")
