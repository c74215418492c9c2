"""OpenAI request bodies checked and translated into corral terms: a :class:`ServeRequest`.

Both endpoints take the OpenAI fields ``model``, ``max_tokens`` (``max_completion_tokens`` for chat), ``temperature``
(``[0, 2]``; 0 is greedy), ``top_p``, ``n``, ``seed``, ``stop``, ``stream`` (with ``stream_options.include_usage``)
and ``response_format``; ``/v1/chat/completions`` takes ``messages``, ``/v1/completions`` takes ``prompt`` (a
string, token ids, or a list of either). corral's extensions are extra body fields: ``grammar`` (Lark text or a
shipped grammar name; the server reads no file), ``regex``, ``choices``, ``method`` (``lcd``, ``awrs``, ``smc``,
``asap``), ``draft`` (``auto``, ``ngram``, ``forced``, ``fastforward``, ``model``; no folder), ``draft_tree`` (``k``
or ``[k1, k2, ...]``, with a ``draft``; ``method`` ``lcd`` or ``awrs``) and ``switching`` (``"entropy"`` or
``{"type": "entropy", "threshold": H, "window": W}``; needs ``draft: "model"``, ``method`` ``lcd``; lossy).

``method: "asap"`` has no ``samples`` field: the request's ``n`` choices *are* the ASAp samples, drawn one after
another in one trie per prompt (choice ``i`` is the ``i``-th draw; the trie is dropped with the request). Neither
independent nor exact: the law of later draws approaches the model conditioned on the constraint.

The constraint is exactly one of ``response_format`` (``json_schema``: its ``schema``, compiled exactly, or
leniently when ``strict`` is ``false``; ``json_object``: the schema ``{"type": "object"}``; ``text``: none),
``grammar``, ``regex`` or ``choices``. ``stop`` is for unconstrained requests only: cutting a constrained output at
a stop string would leave text outside the constraint's language while claiming ``finish_reason: "stop"``.
Known OpenAI fields corral cannot honour (``tools``, penalties, ``logprobs``...) are accepted at their neutral value
and otherwise refused; an unknown field is refused. Every refusal is an :class:`~corral.server.errors.APIError` 400
naming the field in ``param``.
"""

from __future__ import annotations

import numbers
import re
from dataclasses import dataclass, field

from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.options import SchemaOptions
from corral.server.errors import APIError

__all__ = ["ServeRequest", "parse_request", "MAX_N", "MAX_STOP", "METHODS", "DRAFTS"]

MAX_N = 16  #: Most choices (``n``) one request may ask for.
MAX_STOP = 4  #: Most stop strings (as OpenAI).
DRAFTS = ("auto", "ngram", "forced", "fastforward", "model")
METHODS = ("lcd", "awrs", "smc", "asap")
SWITCHING_KEYS = ("type", "threshold", "window")  #: The keys of a ``switching`` object.
_COMMON = {"model", "max_tokens", "temperature", "top_p", "n", "seed", "stop", "stream", "stream_options",
           "response_format", "grammar", "regex", "choices", "method", "draft", "draft_tree", "switching", "user"}
#: corral options of ``generate`` that are not request fields: field -> what to send instead.
_NOT_FIELDS = {"samples": "with method 'asap', ask for n choices: they are the ASAp samples, drawn one after "
                          "another in one trie",
               "trie": "the server keeps no ASAp trie between requests (the n choices of one request share one)"}
#: Fields accepted only at their neutral value: field -> the neutral values.
_NEUTRAL = {"presence_penalty": (0, 0.0), "frequency_penalty": (0, 0.0), "logprobs": (False, 0),
            "top_logprobs": (0,), "logit_bias": ({},), "tools": ([],), "tool_choice": ("none",),
            "functions": ([],), "function_call": ("none",), "parallel_tool_calls": (True, False),
            "echo": (False,), "suffix": ("",), "best_of": (1,), "store": (False,), "metadata": ({},),
            "modalities": (["text"],)}
_CHAT = _COMMON | {"messages", "max_completion_tokens"}
_COMPLETION = _COMMON | {"prompt"}


@dataclass
class ServeRequest:
    """One checked request in corral terms.

    Attributes
    ----------
    endpoint : str
        ``"chat"`` or ``"completion"``.
    prompts : list
        Chat: one list of messages (plain ``{"role", "content"}`` dicts, text parts joined). Completion: one entry
        per prompt, each a string or a list of token ids.
    n : int
        Choices per prompt (one row each).
    constraint : Constraint
        The constraint (``Constraint()`` when unconstrained).
    constraint_param : str or None
        The request field it came from (``"response_format.json_schema.schema"``, ``"grammar"``...), for errors.
    schema_options : SchemaOptions
        ``lenient=True`` for a ``json_schema`` with ``strict: false``.
    options : dict
        Keyword options of :meth:`GenerateOptions.from_kwargs` except ``seed`` (``max_tokens``, ``temperature``,
        ``top_p``, ``method``, ``draft``, ``draft_tree``, ``switching``, ``switch_threshold``, ``switch_window``).
        With ``method="asap"`` the service gives the rows of one prompt one shared ``trie``.
    seed : int or None
        The first row's seed; row ``i`` gets ``seed + i`` (reproducible and distinct choices).
    stop : tuple of str
        Stop strings (unconstrained requests only).
    stream, include_usage : bool
        Server-sent events; a last chunk with ``usage`` (``stream_options.include_usage``).
    model : str or None
        The model the request names.
    """

    endpoint: str
    prompts: list
    n: int = 1
    constraint: Constraint = field(default_factory=Constraint)
    constraint_param: str | None = None
    schema_options: SchemaOptions = field(default_factory=SchemaOptions)
    options: dict = field(default_factory=dict)
    seed: int | None = None
    stop: tuple = ()
    stream: bool = False
    include_usage: bool = False
    model: str | None = None

    @property
    def prompt_param(self) -> str:
        """The field holding the prompt: ``"messages"`` or ``"prompt"``."""
        return "messages" if self.endpoint == "chat" else "prompt"


def _bad(message: str, param: str | None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _number(body: dict, name: str, low: float, high: float, *, low_open: bool = False):
    value = body.get(name)
    if value is None:
        return None
    if not _is_number(value) or value != value or not (low < value if low_open else low <= value) or value > high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}]"
        raise _bad(f"{name} must be a number in {interval}, got {value!r}", name)
    return float(value)


def _integer(body: dict, name: str, low: int, high: int | None = None):
    value = body.get(name)
    if value is None:
        return None
    if not _is_int(value) or value < low or (high is not None and value > high):
        limit = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise _bad(f"{name} must be an integer {limit}, got {value!r}", name)
    return int(value)


def _check_fields(body: dict, allowed: set) -> None:
    for name, value in body.items():
        if name in allowed or value is None:
            continue
        if name in _NEUTRAL:
            if any((value is v) if isinstance(v, bool) or isinstance(value, bool) else value == v
                   for v in _NEUTRAL[name]):
                continue
            raise _bad(f"{name}={value!r} is not supported by this server (corral serves constrained sampling "
                       f"without it)", name, "unsupported_parameter")
        hint = f" ({_NOT_FIELDS[name]})" if name in _NOT_FIELDS else ""
        raise _bad(f"unrecognized request argument supplied: {name}{hint}", name, "unknown_parameter")


def _message_text(content, i: int):
    """A message's content as one string (OpenAI text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise _bad(f"messages[{i}].content[{j}] must be a text part {{'type': 'text', 'text': ...}} (this "
                           "server takes text only)", f"messages[{i}].content")
            parts.append(part["text"])
        return "".join(parts)
    raise _bad(f"messages[{i}].content must be a string or a list of text parts", f"messages[{i}].content")


def _messages(body: dict) -> list:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages must be a non-empty list of {'role', 'content'} objects", "messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise _bad(f"messages[{i}] must be an object with 'role' and 'content'", f"messages[{i}]")
        role = message.get("role")
        role = "system" if role == "developer" else role
        if role not in ("system", "user", "assistant", "tool"):
            raise _bad(f"messages[{i}].role must be system, developer, user, assistant or tool; got {role!r}",
                       f"messages[{i}].role")
        item = {"role": role, "content": _message_text(message.get("content"), i)}
        if isinstance(message.get("name"), str):
            item["name"] = message["name"]
        out.append(item)
    return out


def _prompts(body: dict) -> list:
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return [prompt]
    if isinstance(prompt, list) and prompt:
        if all(_is_int(t) for t in prompt):
            return [[int(t) for t in prompt]]
        if all(isinstance(p, str) for p in prompt):
            return list(prompt)
        if all(isinstance(p, list) and p and all(_is_int(t) for t in p) for p in prompt):
            return [[int(t) for t in p] for p in prompt]
    raise _bad("prompt must be a string, a list of token ids, or a non-empty list of either", "prompt")


def _response_format(fmt):
    """``(constraint keyword args, param, lenient)`` of ``response_format``."""
    if not isinstance(fmt, dict) or fmt.get("type") not in ("text", "json_object", "json_schema"):
        raise _bad("response_format must be {'type': 'text' | 'json_object' | 'json_schema', ...}",
                   "response_format")
    if fmt["type"] == "text":
        return {}, None, False
    if fmt["type"] == "json_object":
        return {"schema": {"type": "object"}}, "response_format", False
    spec = fmt.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("response_format.json_schema must be an object {'name', 'schema', 'strict'}",
                   "response_format.json_schema")
    schema, strict = spec.get("schema"), spec.get("strict")
    if not isinstance(schema, (dict, bool)):
        raise _bad("response_format.json_schema.schema must be a JSON Schema (an object)",
                   "response_format.json_schema.schema")
    if strict is not None and not isinstance(strict, bool):
        raise _bad("response_format.json_schema.strict must be a boolean", "response_format.json_schema.strict")
    return {"schema": schema}, "response_format.json_schema.schema", strict is False


_RELATIVE_IMPORT = re.compile(r"^[ \t]*%import[ \t]+\.", re.MULTILINE)


def _grammar(value):
    from corral.compile.grammar import list_shipped_grammars

    if not isinstance(value, str) or not value.strip():
        raise _bad("grammar must be Lark text or the name of a shipped grammar", "grammar")
    text = value.strip()
    if "\n" not in text and ":" not in text:
        shipped = list_shipped_grammars()
        if text not in shipped or not re.fullmatch(r"[A-Za-z0-9_\-]+", text):
            raise _bad(f"grammar {text!r} is neither Lark text nor a shipped grammar ({', '.join(shipped)}); the "
                       "server reads no grammar file", "grammar")
    if "\n" not in text and text.endswith(".lark"):
        raise _bad("grammar looks like a file path; the server reads no grammar file (send the Lark text)", "grammar")
    if _RELATIVE_IMPORT.search(value):
        raise _bad("grammar: relative %import reads .lark files next to the server's working directory; the server "
                   "allows only lark's bundled grammars (%import common.NUMBER)", "grammar")
    return value


def _constraint(body: dict):
    """``(Constraint, param, lenient)``: exactly one of response_format, grammar, regex, choices."""
    given = [name for name in ("response_format", "grammar", "regex", "choices") if body.get(name) is not None]
    kwargs, param, lenient = {}, None, False
    if "response_format" in given:
        kwargs, param, lenient = _response_format(body["response_format"])
        if not kwargs:
            given.remove("response_format")
    if len(given) > 1:
        raise _bad(f"give at most one constraint: response_format, grammar, regex or choices (got "
                   f"{', '.join(given)})", given[1])
    if body.get("grammar") is not None:
        kwargs, param = {"grammar": _grammar(body["grammar"])}, "grammar"
    elif body.get("regex") is not None:
        if not isinstance(body["regex"], str):
            raise _bad("regex must be a string", "regex")
        kwargs, param = {"regex": body["regex"]}, "regex"
    elif body.get("choices") is not None:
        choices = body["choices"]
        if not isinstance(choices, list) or not choices or not all(isinstance(c, str) for c in choices):
            raise _bad("choices must be a non-empty list of strings", "choices")
        kwargs, param = {"choices": choices}, "choices"
    try:
        return Constraint(**kwargs), param, lenient
    except ConfigurationError as exc:
        raise _bad(str(exc), param) from None


def _stop(body: dict) -> tuple:
    stop = body.get("stop")
    if stop is None:
        return ()
    stops = [stop] if isinstance(stop, str) else stop
    if not isinstance(stops, list) or not all(isinstance(s, str) and s for s in stops) or len(stops) > MAX_STOP:
        raise _bad(f"stop must be a non-empty string or a list of at most {MAX_STOP} of them", "stop")
    return tuple(stops)


def _sampling(body: dict, endpoint: str) -> dict:
    """The generation options of a request: lengths and law, method and speculation (checked together)."""
    options = _law(body, endpoint)
    options.update(_method_and_draft(body))
    options.update(_draft_tree(body.get("draft_tree")))
    options.update(_switching(body.get("switching")))
    _check_combination(options)
    return options


def _law(body: dict, endpoint: str) -> dict:
    """``max_tokens`` (or chat's ``max_completion_tokens``), ``temperature`` and ``top_p``."""
    options = {}
    max_tokens = _integer(body, "max_tokens", 1)
    if endpoint == "chat" and body.get("max_completion_tokens") is not None:
        if max_tokens is not None:
            raise _bad("give max_tokens or max_completion_tokens, not both", "max_completion_tokens")
        max_tokens = _integer(body, "max_completion_tokens", 1)
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    temperature = _number(body, "temperature", 0.0, 2.0)
    if temperature is not None:
        options["temperature"] = temperature
    top_p = _number(body, "top_p", 0.0, 1.0, low_open=True)
    if top_p is not None and top_p < 1.0:
        options["top_p"] = top_p
    return options


def _method_and_draft(body: dict) -> dict:
    """``method`` and ``draft`` (keywords only: the server loads no draft folder)."""
    options = {}
    method = body.get("method")
    if method is not None:
        if method not in METHODS:
            raise _bad(f"method must be one of {', '.join(METHODS)}, got {method!r}", "method")
        options["method"] = method
    draft = body.get("draft")
    if draft is not None:
        if draft not in DRAFTS:
            raise _bad(f"draft must be one of {', '.join(DRAFTS)} (the server loads no draft folder), got "
                       f"{draft!r}", "draft")
        options["draft"] = draft
    return options


def _draft_tree(value) -> dict:
    """``draft_tree``: ``k >= 1`` or a non-empty list of them (``generate``'s ``draft_tree=``, a tuple)."""
    if value is None:
        return {}
    if _is_int(value) and value >= 1:
        return {"draft_tree": int(value)}
    if isinstance(value, list) and value and all(_is_int(b) and b >= 1 for b in value):
        return {"draft_tree": tuple(int(b) for b in value)}
    raise _bad(f"draft_tree must be an integer k >= 1 (k candidates at the root, then chains) or a non-empty list "
               f"of them (children per node at each depth), got {value!r}", "draft_tree")


def _switching(value) -> dict:
    """``switching``: ``"entropy"`` or ``{"type": "entropy", "threshold": H, "window": W}`` -> ``switching``,
    ``switch_threshold``, ``switch_window``."""
    if value is None:
        return {}
    if isinstance(value, str) and value == "entropy":
        return {"switching": "entropy"}
    if not isinstance(value, dict):
        raise _bad(f"switching must be 'entropy' or {{'type': 'entropy', 'threshold': H, 'window': W}}, got "
                   f"{value!r}", "switching")
    unknown = sorted(set(value) - set(SWITCHING_KEYS))
    if unknown:
        raise _bad(f"switching takes the keys {', '.join(SWITCHING_KEYS)}; got {unknown[0]!r}",
                   f"switching.{unknown[0]}")
    if value.get("type") != "entropy":
        raise _bad(f"switching.type must be 'entropy', got {value.get('type')!r}", "switching.type")
    options = {"switching": "entropy"}
    threshold, window = value.get("threshold"), value.get("window")
    if threshold is not None:
        if not _is_number(threshold) or threshold != threshold:
            raise _bad(f"switching.threshold must be a number of nats (the target writes while the mean entropy is "
                       f"above it), got {threshold!r}", "switching.threshold")
        options["switch_threshold"] = float(threshold)
    if window is not None:
        if not _is_int(window) or window < 1:
            raise _bad(f"switching.window must be an integer >= 1 (entropies averaged), got {window!r}",
                       "switching.window")
        options["switch_window"] = int(window)
    return options


def _check_combination(options: dict) -> None:
    """The rules across ``method``, ``draft``, ``draft_tree``, ``switching`` and ``temperature``, each refusal
    naming the field to change."""
    method, draft = options.get("method", "lcd"), options.get("draft")
    if "draft_tree" in options:
        if draft is None:
            raise _bad("draft_tree needs a draft (what drafts the tree), e.g. draft: 'model'", "draft_tree")
        if method not in ("lcd", "awrs") or "switching" in options:
            raise _bad(f"draft_tree is for exact speculative decoding with method 'lcd' or 'awrs', without switching "
                       f"(got method {method!r})", "draft_tree")
    if "switching" in options:
        if method != "lcd":
            raise _bad(f"switching is lossy (its output law is not the target's), so it takes method 'lcd' only; got "
                       f"method {method!r}", "switching")
        if draft != "model":
            raise _bad(f"switching needs draft: 'model' (the small model that writes while it is sure; the server "
                       f"loads no other draft model), got draft {draft!r}", "switching")
    if method == "asap":
        if draft is not None:
            raise _bad("method 'asap' takes no draft", "draft")
        if options.get("temperature") == 0:
            raise _bad("method 'asap' needs temperature > 0", "temperature")


def parse_request(body, endpoint: str) -> ServeRequest:
    """Check a request body and translate it.

    Parameters
    ----------
    body : object
        The decoded JSON body.
    endpoint : str
        ``"chat"`` (``/v1/chat/completions``) or ``"completion"`` (``/v1/completions``).

    Returns
    -------
    ServeRequest

    Raises
    ------
    APIError
        400 naming the field at fault (``param``) for any field that is missing, malformed, unknown or
        unsupported, and for ``stop`` with a constraint.
    """
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object", None)
    _check_fields(body, _CHAT if endpoint == "chat" else _COMPLETION)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("model must be a string", "model")
    prompts = [_messages(body)] if endpoint == "chat" else _prompts(body)
    constraint, param, lenient = _constraint(body)
    stop = _stop(body)
    if stop and constraint.kind is not None:
        raise _bad("stop applies to unconstrained requests only: a constrained output ends where its constraint "
                   "says (a cut output would not be valid)", "stop")
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise _bad("stream must be a boolean", "stream")
    stream_options = body.get("stream_options")
    if stream_options is not None and (not isinstance(stream_options, dict)
                                       or set(stream_options) - {"include_usage"}):
        raise _bad("stream_options must be {'include_usage': bool}", "stream_options")
    if stream_options is not None and not stream:
        raise _bad("stream_options needs stream: true", "stream_options")
    n = _integer(body, "n", 1, MAX_N) or 1
    seed = _integer(body, "seed", -(2**63), 2**63 - 1)
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise _bad("user must be a string", "user")
    return ServeRequest(endpoint=endpoint, prompts=prompts, n=n, constraint=constraint, constraint_param=param,
                        schema_options=SchemaOptions(lenient=True) if lenient else SchemaOptions(),
                        options=_sampling(body, endpoint), seed=seed, stop=stop, stream=bool(stream),
                        include_usage=bool((stream_options or {}).get("include_usage")), model=model)
