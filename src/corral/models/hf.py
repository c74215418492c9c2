"""Hugging Face causal language models with a KV cache.

:class:`HFModel` wraps a ``transformers`` causal LM and its tokenizer, together with the byte-level
:class:`~corral.tokens.vocabulary.Vocabulary` that the constraint machinery works on. :meth:`HFModel.start` opens a
:class:`Sequence`, which holds the tokens fed so far and a ``DynamicCache``; each call to
:meth:`Sequence.logprobs` runs one forward pass over the tokens appended since the previous call.
"""

from __future__ import annotations

import copy
import inspect
import os
from pathlib import Path
from collections.abc import Sequence as SequenceABC
from typing import Any

import torch

from corral.errors import GenerationError, ModelError

__all__ = ["HFModel", "Sequence", "default_model_path"]


def default_model_path(which: str = "target") -> Path:
    """Folder of an embedded default model.

    Parameters
    ----------
    which : {"target", "draft"}
        Which of the two shipped models.

    Returns
    -------
    pathlib.Path
        ``src/corral/data/default/<which>`` (it may not exist in a source checkout without the data).
    """
    return Path(__file__).resolve().parent.parent / "data" / "default" / which


def _transformers():
    try:
        import transformers
    except ImportError as exc:  # pragma: no cover - transformers is a hard dependency
        raise ModelError(f"transformers is required to load models: {exc}") from exc
    return transformers


def _dtype_kwarg(dtype) -> dict[str, Any]:
    transformers = _transformers()
    major, minor = (int(x) for x in transformers.__version__.split(".")[:2])
    return {"dtype": dtype} if (major, minor) >= (4, 56) else {"torch_dtype": dtype}


def _looks_like_path(name: str) -> bool:
    """True when ``name`` cannot be a hub id (``name`` or ``org/name``) and must be a local path."""
    return (
        os.path.isabs(name)
        or name.startswith((".", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith("/")
    )


def _load_tokenizer(tokenizer, *, where: str):
    if tokenizer is None:
        raise ModelError(f"a tokenizer is required with {where}: pass tokenizer= (an object or a folder)")
    if isinstance(tokenizer, (str, os.PathLike)):
        path = Path(tokenizer).expanduser()
        if not path.exists():
            raise ModelError(f"tokenizer folder {str(tokenizer)!r} does not exist")
        try:
            return _transformers().AutoTokenizer.from_pretrained(str(path), local_files_only=True)
        except Exception as exc:
            raise ModelError(f"cannot load a tokenizer from {str(path)!r}: {exc}") from exc
    return tokenizer


class _quiet_loading:
    """Hide transformers' per-load progress bar (restoring the caller's setting afterwards)."""

    def __enter__(self):
        from transformers.utils import logging as hf_logging

        self._was = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()

    def __exit__(self, *exc):
        from transformers.utils import logging as hf_logging

        if self._was:
            hf_logging.enable_progress_bar()


def _load_folder(path: Path, dtype):
    if not (path / "config.json").is_file():
        raise ModelError(f"{str(path)!r} is a folder but has no config.json: not a Hugging Face model folder")
    transformers = _transformers()
    try:
        with _quiet_loading():
            model = transformers.AutoModelForCausalLM.from_pretrained(
                str(path), local_files_only=True, **_dtype_kwarg(dtype)
            )
    except Exception as exc:
        raise ModelError(f"cannot load a causal language model from {str(path)!r}: {exc}") from exc
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load the tokenizer of {str(path)!r}: {exc}") from exc
    return model, tokenizer


def _hub_reachable(timeout: float = 1.5) -> bool:
    """Whether the Hugging Face hub (``HF_ENDPOINT``, default huggingface.co) accepts a TCP connection within
    ``timeout`` seconds (name resolution included: it runs in a daemon thread that is abandoned on time-out)."""
    import socket
    import threading
    from urllib.parse import urlparse

    url = urlparse(os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    host, port = url.hostname, url.port or (80 if url.scheme == "http" else 443)
    if not host:
        return False
    ok: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    worker = threading.Thread(target=probe, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(ok)


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip() not in ("", "0", "false", "False")


def _load_hub(name: str, dtype):
    """A hub model: from the local Hugging Face cache, else online when the hub answers (checked within ~2 s)."""
    transformers = _transformers()
    last: Exception | None = None
    for local_only in (True, False):
        if not local_only and (_hub_offline() or not _hub_reachable()):
            where = Path(name).expanduser().resolve()
            raise ModelError(
                f"model {name!r} is not a local folder (no folder {str(where)!r}) nor in the Hugging Face cache, "
                "and the hub is not reachable" + (" (HF_HUB_OFFLINE is set)" if _hub_offline() else "")
            ) from last
        try:
            with _quiet_loading():
                model = transformers.AutoModelForCausalLM.from_pretrained(
                    name, local_files_only=local_only, **_dtype_kwarg(dtype)
                )
            tokenizer = transformers.AutoTokenizer.from_pretrained(name, local_files_only=local_only)
            return model, tokenizer
        except Exception as exc:  # OSError, HFValidationError, connection errors, ...
            last = exc
    raise ModelError(f"model {name!r} is neither a local folder nor loadable from the Hugging Face hub ({last})") \
        from last


def _as_int_set(value) -> set[int]:
    if value is None:
        return set()
    if isinstance(value, int):
        return {value}
    try:
        return {int(v) for v in value if v is not None}
    except TypeError:
        return set()


class HFModel:
    """A Hugging Face causal LM, its tokenizer, and the byte-level vocabulary of its output layer.

    Build one with :meth:`load`. It implements :class:`corral.protocols.LanguageModel`.

    Attributes
    ----------
    model : transformers.PreTrainedModel
        The network, in eval mode.
    tokenizer
        The tokenizer (a ``transformers`` tokenizer, or a ``tokenizers.Tokenizer``).
    vocab : corral.tokens.vocabulary.Vocabulary
        Token id -> bytes for every id of the output layer; ``vocab.size`` equals the output size.
    eos_token_ids : frozenset of int
        End-of-sequence ids (tokenizer, model config and generation config together).
    device : torch.device
        Where the model lives.
    max_length : int or None
        The model's context length (``n_positions`` / ``max_position_embeddings``), if it declares one.
    """

    def __init__(self, model, tokenizer, *, device=None, dtype=None) -> None:
        from corral.tokens.vocabulary import Vocabulary

        if device is None:
            param = next(iter(model.parameters()), None)
            device = param.device if param is not None else "cpu"
        self.device = torch.device(device)
        try:
            model = model.to(device=self.device) if dtype is None else model.to(device=self.device, dtype=dtype)
        except Exception as exc:
            raise ModelError(f"cannot move the model to {self.device} / {dtype}: {exc}") from exc
        model.eval()
        self.model = model
        self.tokenizer = tokenizer
        config = model.config

        out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
        weight = getattr(out, "weight", None)
        size = int(weight.shape[0]) if weight is not None else int(config.vocab_size)

        eos = _as_int_set(getattr(tokenizer, "eos_token_id", None))
        eos |= _as_int_set(getattr(config, "eos_token_id", None))
        gen = getattr(model, "generation_config", None)
        eos |= _as_int_set(getattr(gen, "eos_token_id", None))
        eos = {e for e in eos if 0 <= e < size}
        if not eos:
            raise ModelError("the model and tokenizer declare no end-of-sequence token id")
        self.eos_token_ids = frozenset(eos)
        self.vocab = Vocabulary.from_huggingface(tokenizer, eos_token_ids=sorted(eos), size=size)

        self.max_length = None
        for attr in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
            value = getattr(config, attr, None)
            if isinstance(value, int) and value > 0:
                self.max_length = value
                break

        bos = getattr(tokenizer, "bos_token_id", None)
        if bos is None:
            bos = getattr(config, "bos_token_id", None)
        self.bos_token_id = bos if isinstance(bos, int) else min(eos)

        params = inspect.signature(model.forward).parameters
        self._cache_kw = "cache" if "cache" in params else "past_key_values"
        self._logits_to_keep = "logits_to_keep" in params

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, model=None, tokenizer=None, *, device=None, dtype=None) -> "HFModel":
        """Load a model and its tokenizer.

        Parameters
        ----------
        model : None, str, os.PathLike, transformers.PreTrainedModel or tuple, optional
            ``None``: the embedded default target model. A local folder (loaded with ``local_files_only=True``).
            A loaded ``PreTrainedModel`` (``tokenizer`` is then required). A tuple ``(model, tokenizer)``. Otherwise a
            hub name: tried from the local Hugging Face cache first, then online unless ``HF_HUB_OFFLINE`` is set.
        tokenizer : object, str or os.PathLike, optional
            A tokenizer object or a folder; overrides the tokenizer found next to the model.
        device : str or torch.device, optional
            Where to run the model. Default: ``"cpu"`` for a model loaded here, the model's own device for a loaded
            model object.
        dtype : torch.dtype, optional
            Parameter dtype. Default: ``torch.float32`` for a model loaded here, unchanged for a model object.

        Returns
        -------
        HFModel

        Raises
        ------
        ModelError
            The model or tokenizer cannot be found or loaded.
        """
        if isinstance(model, HFModel):
            return model
        if isinstance(model, tuple):
            if len(model) != 2:
                raise ModelError("a model tuple must be (model, tokenizer)")
            model, tokenizer = model
            if tokenizer is None:
                raise ModelError("the tokenizer of a (model, tokenizer) tuple is None")
        if model is None or isinstance(model, (str, os.PathLike)):  # loaded here: CPU float32 unless told
            device = "cpu" if device is None else device
            dtype = torch.float32 if dtype is None else dtype
        if model is None:
            path = default_model_path("target")
            if not path.is_dir():
                raise ModelError(f"the embedded default model is missing (expected at {path})")
            net, tok = _load_folder(path, dtype)
        elif isinstance(model, (str, os.PathLike)):
            name = os.fspath(model)
            path = Path(name).expanduser()
            if path.is_dir():
                net, tok = _load_folder(path, dtype)
            elif path.exists():
                raise ModelError(f"{name!r} is a file, not a model folder")
            elif _looks_like_path(name) or isinstance(model, os.PathLike):
                raise ModelError(f"model folder {name!r} does not exist")
            else:
                net, tok = _load_hub(name, dtype)
        else:
            if not hasattr(model, "config") or not callable(getattr(model, "forward", None)):
                raise ModelError(f"unsupported model object of type {type(model).__name__}")
            net, tok = model, None
            if tokenizer is None:
                raise ModelError("a tokenizer is required with a loaded model: pass tokenizer= (an object or a folder)")
        if tokenizer is not None:
            tok = _load_tokenizer(tokenizer, where="a loaded model")
        return cls(net, tok, device=device, dtype=dtype)

    # ------------------------------------------------------------------ text
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, with the tokenizer's default special tokens.

        Parameters
        ----------
        text : str

        Returns
        -------
        list of int
        """
        enc = self.tokenizer.encode(text)
        ids = getattr(enc, "ids", enc)  # tokenizers.Tokenizer returns an Encoding
        return [int(i) for i in ids]

    def start(self, prompt_ids: SequenceABC[int]) -> Sequence:
        """Open a sequence on a prompt.

        Parameters
        ----------
        prompt_ids : sequence of int
            The prompt. An empty prompt starts from the BOS token (or the first EOS id when there is no BOS).

        Returns
        -------
        Sequence
            Nothing is computed until :meth:`Sequence.logprobs` is called.

        Raises
        ------
        GenerationError
            The prompt is longer than the model's context.
        """
        ids = [int(t) for t in prompt_ids]
        if not ids:
            ids = [int(self.bos_token_id)]
        if self.max_length is not None and len(ids) > self.max_length:
            raise GenerationError(
                f"the prompt has {len(ids)} tokens but the model's context holds {self.max_length} tokens"
            )
        return Sequence(self, ids)

    # ------------------------------------------------------------------ forward
    def _forward(self, ids: list[int], cache, keep: int = 1):
        """Feed ``ids`` after the cached tokens; the logits of the last ``keep`` positions (``[keep, V]``, or
        ``[V]`` when ``keep == 1``)."""
        kwargs = {self._cache_kw: cache, "use_cache": True}
        if self._logits_to_keep:
            kwargs["logits_to_keep"] = keep
        input_ids = torch.tensor([ids], dtype=torch.long, device=self.device)
        # No padding ever: an all-ones mask, passed so transformers does not warn when pad == eos.
        past = int(cache.get_seq_length()) if hasattr(cache, "get_seq_length") else 0
        kwargs["attention_mask"] = torch.ones((1, past + len(ids)), dtype=torch.long, device=self.device)
        out = self.model(input_ids=input_ids, **kwargs)
        return out.logits[0, -1] if keep == 1 else out.logits[0, -keep:]

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return f"HFModel({name!r}, vocab={self.vocab.size}, device={self.device})"


class Sequence:
    """One token sequence being extended, with its KV cache (a :class:`corral.protocols.ModelSequence`).

    Attributes
    ----------
    model : HFModel
    tokens : list of int
        Every token of the sequence (prompt included). Do not mutate; use :meth:`append` and :meth:`crop`.
    prompt_length : int
        Number of prompt tokens at the start of ``tokens``.
    """

    def __init__(self, model: HFModel, tokens: list[int]) -> None:
        self.model = model
        self.tokens = list(tokens)
        self.prompt_length = len(self.tokens)
        from transformers import DynamicCache

        self._cache = DynamicCache()
        self._n_cached = 0  # tokens[:_n_cached] are in the KV cache
        self._logprobs: torch.Tensor | None = None  # next-token law, valid when _n_cached == len(tokens)

    @property
    def max_length(self) -> int | None:
        """The model's context length (``None`` if it declares none)."""
        return self.model.max_length

    def __len__(self) -> int:
        return len(self.tokens)

    def logprobs(self) -> torch.Tensor:
        """Log-probabilities of the next token.

        Feeds every token appended since the previous call in one forward pass.

        Returns
        -------
        torch.Tensor
            float32 ``[vocab.size]`` log-softmax over the model's full output vocabulary, on the model's device.

        Raises
        ------
        GenerationError
            The sequence is empty or longer than the model's context.
        """
        if self._logprobs is not None and self._n_cached == len(self.tokens):
            return self._logprobs
        if not self.tokens:
            raise GenerationError("cannot compute next-token log-probabilities of an empty sequence")
        limit = self.model.max_length
        if limit is not None and len(self.tokens) > limit:
            raise GenerationError(
                f"the sequence has {len(self.tokens)} tokens but the model's context holds {limit} tokens"
            )
        if self._n_cached >= len(self.tokens):
            # Everything is cached but the logits were dropped (after a crop): refeed the last token.
            self._crop_cache(self._n_cached - (len(self.tokens) - 1))
        pending = self.tokens[self._n_cached :]
        with torch.inference_mode():
            logits = self.model._forward(pending, self._cache)
            self._logprobs = torch.log_softmax(logits.float(), dim=-1)
        self._n_cached = len(self.tokens)
        return self._logprobs

    def append(self, token: int) -> None:
        """Append one token (computed lazily, at the next :meth:`logprobs`).

        Parameters
        ----------
        token : int
        """
        self.tokens.append(int(token))
        self._logprobs = None

    def extend(self, tokens: SequenceABC[int]) -> None:
        """Append several tokens (computed lazily, in one forward pass at the next :meth:`logprobs`).

        Parameters
        ----------
        tokens : iterable of int
        """
        for t in tokens:
            self.append(t)

    def extend_scored(self, tokens: SequenceABC[int]) -> torch.Tensor:
        """Append ``tokens`` and return the next-token log-probabilities at each of the ``len(tokens) + 1`` positions.

        Row ``i`` is the law of the token after ``tokens[:i]`` (row 0: after the sequence as it was), all from one
        forward pass (speculative verification). Afterwards :meth:`logprobs` returns the last row without a forward.

        Parameters
        ----------
        tokens : sequence of int

        Returns
        -------
        torch.Tensor
            float32 ``[len(tokens) + 1, vocab.size]``.

        Raises
        ------
        GenerationError
            The sequence is empty or would exceed the model's context.
        """
        new = [int(t) for t in tokens]
        if not self.tokens:
            raise GenerationError("cannot score tokens after an empty sequence")
        limit = self.model.max_length
        if limit is not None and len(self.tokens) + len(new) > limit:
            raise GenerationError(
                f"the sequence would have {len(self.tokens) + len(new)} tokens but the model's context holds "
                f"{limit} tokens"
            )
        if not new:
            return self.logprobs().unsqueeze(0)
        if self._n_cached >= len(self.tokens):  # the row after the current last token must be recomputed
            self._crop_cache(self._n_cached - (len(self.tokens) - 1))
        pending = self.tokens[self._n_cached:] + new
        with torch.inference_mode():
            logits = self.model._forward(pending, self._cache, keep=len(new) + 1)
            if logits.dim() == 1:
                logits = logits.unsqueeze(0)
            rows = torch.log_softmax(logits.float(), dim=-1)
        self.tokens.extend(new)
        self._n_cached = len(self.tokens)
        self._logprobs = rows[-1]
        return rows

    def extend_tree(self, tokens: SequenceABC[int], parents: SequenceABC[int]) -> torch.Tensor:
        """Score a draft tree: node ``i`` holds ``tokens[i]`` after node ``parents[i]`` (``-1``: after the sequence).

        One forward pass with a tree attention mask and position ids (:mod:`corral.models.tree_attention`; one pass
        per branch when the model does not take a custom 4D mask). Row 0 is the law after the sequence, row
        ``i + 1`` the law after node ``i``. The tokens are unchanged until :meth:`keep_tree_path`.

        Returns
        -------
        torch.Tensor
            float32 ``[len(tokens) + 1, vocab.size]``.
        """
        from corral.models.tree_attention import extend_tree, tree_depths

        limit = self.model.max_length
        deepest = max(tree_depths(parents), default=-1) + 1
        if limit is not None and len(self.tokens) + deepest > limit:
            raise GenerationError(f"a draft tree of depth {deepest} after {len(self.tokens)} tokens exceeds the "
                                  f"model's context of {limit} tokens")
        return extend_tree(self, tokens, parents)

    def keep_tree_path(self, nodes: SequenceABC[int]) -> None:
        """After :meth:`extend_tree`, append the tokens of ``nodes`` (a path down from a root child), keeping their
        KV cache entries and dropping the other branches'."""
        from corral.models.tree_attention import keep_tree_path

        keep_tree_path(self, nodes)

    def _crop_cache(self, n: int) -> None:
        if n <= 0:
            return
        keep = self._n_cached - n
        if keep <= 0:
            from transformers import DynamicCache

            self._cache = DynamicCache()
            self._n_cached = 0
        else:
            # A negative argument removes that many positions (transformers 4.x and 5.x agree on this form).
            self._cache.crop(-n)
            self._n_cached = keep

    def crop(self, n: int) -> None:
        """Drop the last ``n`` tokens (and their KV cache entries).

        Parameters
        ----------
        n : int
            Number of tokens to drop, ``0 <= n <= len(tokens)``.
        """
        n = int(n)
        if n < 0 or n > len(self.tokens):
            raise ValueError(f"cannot crop {n} tokens from a sequence of {len(self.tokens)}")
        if n == 0:
            return
        del self.tokens[len(self.tokens) - n :]
        self.prompt_length = min(self.prompt_length, len(self.tokens))
        self._logprobs = None
        if self._n_cached > len(self.tokens):
            self._crop_cache(self._n_cached - len(self.tokens))

    def fork(self) -> "Sequence":
        """An independent copy (tokens and KV cache), for branching.

        Returns
        -------
        Sequence
        """
        other = Sequence.__new__(Sequence)
        other.model = self.model
        other.tokens = list(self.tokens)
        other.prompt_length = self.prompt_length
        other._cache = copy.deepcopy(self._cache)
        other._n_cached = self._n_cached
        other._logprobs = self._logprobs  # never mutated in place
        return other

    def __repr__(self) -> str:
        return f"Sequence(len={len(self.tokens)}, prompt={self.prompt_length}, cached={self._n_cached})"
