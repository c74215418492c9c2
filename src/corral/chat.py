"""Chat prompts: ``generate(messages=[...], system=...)`` rendered with the tokenizer's own chat template.

A chat prompt is a list of messages ``{"role": "system" | "user" | "assistant" | "tool", "content": str}`` (other
keys, such as ``name`` or ``tool_call_id``, pass through to the template). :func:`render_messages` turns it into
prompt token ids with the Hugging Face tokenizer's ``apply_chat_template(messages, add_generation_prompt=True,
tokenize=True)``: the template decides every marker and special token, so the ids are exactly what the model was
trained on, ending with the opening of the assistant's turn.

``system=`` prepends a system message. With a plain prompt string instead of ``messages=`` it makes the call a chat
too: the prompt becomes the user message (``generate("Hi", system="Be brief")`` is ``generate(messages=[system,
user "Hi"])``). A tokenizer without a chat template is a :class:`~corral.errors.ConfigurationError` that says how to
give it one; the embedded default model has a small plain-text template of its own (:data:`DEFAULT_CHAT_TEMPLATE`),
so chat prompts work offline (that model was not trained on chats: it only shows the mechanism).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from corral.errors import ConfigurationError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import LanguageModel

__all__ = ["ROLES", "DEFAULT_CHAT_TEMPLATE", "ChatPrompt", "check_messages", "make_prompt", "render_messages"]

#: The roles a message may have.
ROLES = ("system", "user", "assistant", "tool")

#: The chat template of the embedded default models (``tokenizer_config.json``, written by
#: ``scripts/train_default_models.py``): plain-text markers, one turn per message, then ``<|assistant|>`` and a
#: newline when a generation prompt is asked for. Usable for any tokenizer that lacks one
#: (``tokenizer.chat_template = corral.chat.DEFAULT_CHAT_TEMPLATE``).
DEFAULT_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>\\n' + message['content'] + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


def check_messages(messages, *, system=None) -> list[dict]:
    """Checked chat messages, with ``system`` prepended as a system message.

    Parameters
    ----------
    messages : list of dict
        Each a mapping with ``"role"`` (one of :data:`ROLES`) and ``"content"`` (a string); other keys are kept.
    system : str, optional
        A system message to put first (``messages`` must then not start with one).

    Returns
    -------
    list of dict
        Copies of the messages (plain dicts), the system message first when given.

    Raises
    ------
    ConfigurationError
        ``messages`` is not a non-empty list of such mappings (the message names the bad index), or ``system`` is
        not a string, or is given when the first message is already a system message.
    """
    if isinstance(messages, (str, bytes, Mapping)) or not isinstance(messages, (list, tuple)):
        raise ConfigurationError("messages must be a list of {'role': ..., 'content': ...} dicts, got "
                                 f"{type(messages).__name__}")
    if not messages:
        raise ConfigurationError("messages is empty: give at least one message")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise ConfigurationError(f"messages[{i}] must be a dict with 'role' and 'content', got "
                                     f"{type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            raise ConfigurationError(f"messages[{i}]['role'] must be one of {', '.join(map(repr, ROLES))}, got "
                                     f"{role!r}")
        if not isinstance(content, str):
            raise ConfigurationError(f"messages[{i}]['content'] must be a string, got "
                                     f"{'nothing' if 'content' not in message else type(content).__name__}")
        out.append(dict(message))
    if system is not None:
        if not isinstance(system, str):
            raise ConfigurationError(f"system must be a string, got {type(system).__name__}")
        if out[0]["role"] == "system":
            raise ConfigurationError("system= and a first message with role 'system': give the system prompt once")
        out.insert(0, {"role": "system", "content": system})
    return out


@dataclass(frozen=True)
class ChatPrompt:
    """A checked chat prompt, rendered to token ids once the model is known (:meth:`ids`).

    ``Generator.run`` accepts one wherever it accepts a prompt string or token ids.

    Attributes
    ----------
    messages : tuple of dict
        The checked messages (:func:`check_messages`), the system message included.
    """

    messages: tuple

    def ids(self, lm: LanguageModel) -> list[int]:
        """The prompt token ids for ``lm`` (:func:`render_messages`)."""
        return render_messages(lm, list(self.messages))


def make_prompt(prompt=None, *, messages=None, system=None):
    """The prompt of one call from ``generate``'s ``prompt``, ``messages`` and ``system`` arguments.

    Parameters
    ----------
    prompt : str or list of int, optional
        A prompt string or token ids.
    messages : list of dict, optional
        Chat messages (exactly one of ``prompt`` and ``messages``).
    system : str, optional
        A system message: prepended to ``messages``; with a prompt string, the prompt becomes the user message of
        a chat. Not with token ids.

    Returns
    -------
    str, list of int or ChatPrompt
        ``prompt`` unchanged when there is neither ``messages`` nor ``system``; else a :class:`ChatPrompt`.

    Raises
    ------
    ConfigurationError
        Both or neither of ``prompt`` and ``messages``, bad messages, or ``system`` with token ids.
    """
    if messages is not None and prompt is not None:
        raise ConfigurationError("give a prompt or messages=, not both")
    if messages is None:
        if prompt is None:
            raise ConfigurationError("give a prompt (a string or token ids) or messages=")
        if system is None:
            return prompt
        if not isinstance(prompt, str):
            raise ConfigurationError("system= needs a prompt string (it becomes the user message) or messages=; "
                                     "it cannot be combined with prompt token ids")
        messages = [{"role": "user", "content": prompt}]
    return ChatPrompt(tuple(check_messages(messages, system=system)))


def render_messages(lm: LanguageModel, messages, *, system=None) -> list[int]:
    """Prompt token ids of chat ``messages`` for ``lm``, from its tokenizer's chat template.

    Calls ``lm.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)``, so the ids end
    with the opening of the assistant's turn; the template adds whatever special tokens it names (nothing else is
    added).

    Parameters
    ----------
    lm : LanguageModel
        A model with a Hugging Face tokenizer (an :class:`~corral.models.hf.HFModel`).
    messages : list of dict
        Chat messages (checked by :func:`check_messages`).
    system : str, optional
        A system message to prepend.

    Returns
    -------
    list of int

    Raises
    ------
    ConfigurationError
        Bad messages; a model without a Hugging Face tokenizer, or a tokenizer without a chat template (the
        message says how to give it one); a template that fails on these messages (e.g. one that refuses a system
        role); or token ids outside the model's vocabulary.
    """
    messages = check_messages(messages, system=system)
    tokenizer = getattr(lm, "tokenizer", None)
    apply = getattr(tokenizer, "apply_chat_template", None)
    if tokenizer is None or not callable(apply):
        kind = type(lm).__name__ if tokenizer is None else f"{type(lm).__name__} (tokenizer {type(tokenizer).__name__})"
        raise ConfigurationError(f"messages= needs a model with a Hugging Face tokenizer that has a chat template; "
                                 f"{kind} has none: pass a prompt string or token ids instead")
    if not getattr(tokenizer, "chat_template", None):
        raise ConfigurationError(
            "the model's tokenizer has no chat template, so messages= cannot be rendered: pass a prompt string "
            "instead, or give the tokenizer a template (tokenizer.chat_template = '...', e.g. "
            "corral.chat.DEFAULT_CHAT_TEMPLATE, or a 'chat_template' entry in its tokenizer_config.json)")
    try:
        encoded = apply(messages, add_generation_prompt=True, tokenize=True)
    except Exception as exc:  # jinja errors, raise_exception() in the template, a template missing a variable
        raise ConfigurationError(f"the tokenizer's chat template failed on these messages: "
                                 f"{type(exc).__name__}: {exc}") from exc
    return _as_ids(encoded, lm)


def _as_ids(encoded, lm: LanguageModel) -> list[int]:
    """Token ids from what ``apply_chat_template`` returned (a list, or a ``BatchEncoding`` in transformers 5)."""
    if isinstance(encoded, Mapping) or hasattr(encoded, "input_ids"):
        encoded = encoded["input_ids"]
    if hasattr(encoded, "tolist"):
        encoded = encoded.tolist()
    if isinstance(encoded, (list, tuple)) and len(encoded) == 1 and isinstance(encoded[0], (list, tuple)):
        encoded = encoded[0]
    ids = [int(t) for t in encoded]
    size = lm.vocab.size
    bad = [t for t in ids if not 0 <= t < size]
    if bad:
        raise ConfigurationError(f"the chat template produced token ids outside the model's vocabulary: {bad[:5]}")
    return ids
