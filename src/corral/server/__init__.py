"""An OpenAI-compatible HTTP server for corral (the ``server`` extra: fastapi and uvicorn).

``corral serve --model PATH [--host 127.0.0.1 --port 8000 --max-batch 16 --max-queue 64 --request-timeout 60
--no-continuous]`` runs it; :func:`create_app` builds the ASGI application for your own uvicorn (or
:class:`corral.server.thread.ServerThread` runs one in a background thread). Any OpenAI client works::

    client = openai.OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.chat.completions.create(model="corral-default", messages=[...],
                                   response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": s}})
    client.completions.create(model="corral-default", prompt="Date: ", extra_body={"regex": "[0-9]{4}-[0-9]{2}"})

What it serves, and the choices made:

* Routes: ``POST /v1/chat/completions`` (the prompt rendered with the tokenizer's chat template,
  :func:`corral.chat.render_messages`), ``POST /v1/completions``, ``GET /v1/models`` (the served model, named after
  its folder; ``corral-default`` for the embedded one), ``GET /health`` (live and queued rows, engine counters).
* Constraints, exactly one per request: ``response_format`` ``json_schema`` (compiled exactly; ``strict: false``
  compiles leniently, dropping unsupported keywords), ``json_object`` (the schema ``{"type": "object"}``: an object,
  not just any JSON value), ``text`` (none); or corral's extra body fields ``grammar`` (Lark text or a shipped name;
  no file is read), ``regex``, ``choices``. Compiled constraints are cached across requests (the
  :class:`~corral.generator.Generator`'s cache).
* Decoding (extra body fields, as :func:`corral.generate`'s options): ``method`` (``lcd``, ``awrs``, ``smc``,
  ``asap``), ``draft`` (``auto``, ``ngram``, ``forced``, ``fastforward``, ``model``: keywords only, no folder),
  ``draft_tree`` (``k`` or ``[k1, k2, ...]``: multi-draft speculation, with a ``draft``, ``method`` ``lcd`` or
  ``awrs``; same output law) and ``switching`` (``"entropy"`` or ``{"type": "entropy", "threshold": H, "window":
  W}``, with ``draft: "model"`` and ``method`` ``lcd``). ``switching`` is **lossy** (the output law is not the
  target's): each choice then carries ``corral.switching`` (``lossy: true``, ``small_tokens``, ``large_tokens``,
  ``share_small``, ``share_large``...), on the stream's last chunk of the choice too. ``method: "asap"`` takes no ``samples``: the
  ``n`` choices of a prompt are its ASAp samples, drawn one after another in one trie (choice ``i`` is the
  ``i``-th draw, ``corral.asap`` the trie after it; neither independent nor exact, later draws approach the model
  conditioned on the constraint); the trie is dropped with the request.
* ``n``: one row per choice; with ``seed``, row ``i`` is seeded ``seed + i`` (reproducible, and the choices differ).
* ``stop``: for unconstrained requests only (a 400 otherwise: a constrained output ends where its constraint says,
  and a cut one would not be valid). The text ends before the first stop string, ``finish_reason`` is ``"stop"``,
  and the row stops generating.
* ``finish_reason``: ``"stop"`` for a complete output (or a stop string), ``"length"`` when ``max_tokens`` or the
  context ran out (the text is then an unfinished prefix). ``usage`` counts prompt tokens once per prompt and every
  generated token, EOS included.
* ``stream: true``: server-sent events, one chunk per token as it is sampled (chat: a first chunk with the role),
  a last chunk per choice with its ``finish_reason``, a ``usage`` chunk with ``stream_options.include_usage``, then
  ``data: [DONE]``. The chunks join into exactly the text of the same request without streaming.
* Batching: masked-decoding rows (``method="lcd"``, no ``draft``) run on a
  :class:`~corral.batching.engine.BatchEngine`: one forward pass per step for every live row; with continuous
  batching a new request joins the running batch at the next step. Other methods run one at a time beside it.
* Limits: a request that does not fit in the queue gets a 429 (``Retry-After: 1``); one past its deadline a 504
  (or, once streaming, an ``{"error": ...}`` event); a client that disconnects cancels its rows (a stream at once, a
  plain request within 0.25 s).
* Errors: always the OpenAI body ``{"error": {"message", "type", "param", "code"}}``; a schema error is a 400 whose
  message names the keyword and JSON pointer, with ``param`` = ``response_format.json_schema.schema`` + the pointer
  (and ``pointer``/``keyword`` fields); unknown fields and unsupported values of known ones (``tools``, penalties,
  ``logprobs``...) are 400s naming the field; a bug is a 500 without a traceback (that goes to the log).

Modules: :mod:`~corral.server.app` (routes), :mod:`~corral.server.protocol` (request fields to corral terms),
:mod:`~corral.server.service` (rows, responses, streaming), :mod:`~corral.server.backend` (the batch engine or the
serial fallback), :mod:`~corral.server.sse` (response objects and events), :mod:`~corral.server.text`
(incremental text, stop strings), :mod:`~corral.server.errors` (the error format), :mod:`~corral.server.thread`
(a server in a thread) and :mod:`~corral.server.command` (``corral serve``). Importing this package imports neither
fastapi nor uvicorn.
"""

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """Build the application: :func:`corral.server.app.create_app` (same arguments; imports fastapi)."""
    from corral.server.app import create_app as build

    return build(*args, **kwargs)
