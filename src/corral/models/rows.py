"""Rows of *different* prompts advanced together: one forward pass per step for every live row.

:mod:`corral.models.batch` batches rows that share one prompt and one length (SMC particles). Here every row has its
own prompt and length, and rows join and leave between steps (a batch engine, continuous batching). Interface of
both implementations (a *row set*):

* ``add(prompt_ids) -> row`` opens a row (an ``int`` key) on a prompt; ``remove(row)`` drops it.
* ``append(row, token)`` appends the token sampled for a row (fed at the next :meth:`~HFRows.logprobs`).
* ``logprobs() -> {row: tensor}``: the next-token log-probabilities of every row (float32 ``[V]`` on the CPU).
  Between two calls, each row that was already scored must get exactly one token.
* ``rows``, ``tokens(row)``, ``length(row)``, ``max_length``, ``n_forward``.

:class:`HFRows` (a :class:`~corral.models.hf.HFModel` whose cache is a plain ``DynamicCache``) keeps one KV cache
for all rows, **right-aligned**: every row ends at the same cache column and shorter rows are left-padded; the
attention mask hides the padding and each row's position ids count its own tokens only, so a row's law equals the
single-sequence path (:meth:`corral.models.hf.Sequence.logprobs`) up to float rounding. A new row is prefilled alone
(batch size 1: the same forward as the single path) and merged into the batch at its next step, padding the shorter
side on the left; a removed row is dropped with an ``index_select`` along the batch dimension, and the padding
column(s) that every remaining row has on the left are cut off then. :class:`SequenceRows` is the fallback for any
other model (a :class:`~corral.models.toy.ToyModel`, sliding-window attention): one sequence per row, scored with
``model.logprobs_batch`` when the model has it, else one forward per row. :func:`make_rows` picks one.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence as SequenceT
from typing import TYPE_CHECKING

import torch

from corral.errors import GenerationError

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from corral.models.hf import HFModel
    from corral.protocols import LanguageModel

__all__ = ["HFRows", "SequenceRows", "make_rows", "supports_rows"]

_SUPPORT: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # HFModel -> whether HFRows works on it


def _layers(cache) -> list | None:
    """The per-layer key/value holders of a cache HFRows can edit: ``[(get, set)]``, or ``None``.

    transformers >= 4.56 keeps ``cache.layers[i].keys/.values`` (plain ``DynamicLayer`` only: sliding-window and
    quantized layers are not supported); older versions keep ``cache.key_cache[i]`` / ``cache.value_cache[i]``.
    """
    layers = getattr(cache, "layers", None)
    if layers is not None:
        if not layers or any(type(layer).__name__ != "DynamicLayer" for layer in layers):
            return None
        return [(lambda L=layer: (L.keys, L.values), lambda k, v, L=layer: _set_layer(L, k, v)) for layer in layers]
    keys, values = getattr(cache, "key_cache", None), getattr(cache, "value_cache", None)
    if isinstance(keys, list) and isinstance(values, list) and keys:
        return [(lambda i=i: (keys[i], values[i]), lambda k, v, i=i: _set_list(keys, values, i, k, v))
                for i in range(len(keys))]
    return None


def _set_layer(layer, k, v) -> None:
    layer.keys, layer.values = k, v


def _set_list(keys, values, i, k, v) -> None:
    keys[i], values[i] = k, v


def _pad_left(x: torch.Tensor, n: int) -> torch.Tensor:
    """``x`` (``[B, H, L, D]``) with ``n`` zero columns before the sequence dimension's start."""
    if n <= 0:
        return x
    return torch.cat([x.new_zeros(x.shape[0], x.shape[1], n, x.shape[3]), x], dim=2)


def supports_rows(model) -> bool:
    """Whether :class:`HFRows` can batch rows of ``model`` (checked once per model).

    The check: full attention (no sliding window), a ``position_ids`` argument, a plain ``DynamicCache``, and a
    probe (two rows of different lengths, two steps) whose laws match the single-sequence path's.

    Parameters
    ----------
    model : LanguageModel

    Returns
    -------
    bool
        ``True`` for an :class:`~corral.models.hf.HFModel` that passes; ``False`` otherwise (other models too).
    """
    if not (hasattr(model, "_cache_kw") and hasattr(model, "model")):
        return False
    hit = _SUPPORT.get(model)
    if hit is None:
        import inspect

        config = model.model.config
        sliding = getattr(config, "sliding_window", None) or any(
            "sliding" in str(t) for t in (getattr(config, "layer_types", None) or ()))
        positions = "position_ids" in inspect.signature(model.model.forward).parameters
        hit = False
        if not sliding and positions:
            try:
                hit = _probe(model)
            except Exception:
                hit = False
        _SUPPORT[model] = hit
    return hit


def _probe(model) -> bool:
    """Two rows of different lengths, two steps: do the batched laws match the single path's?"""
    from transformers import DynamicCache

    cache = DynamicCache()
    with torch.inference_mode():
        model._forward([int(model.bos_token_id)], cache)
    if _layers(cache) is None:
        return False
    size = model.vocab.size
    prompts = [[int(model.bos_token_id)] + [t % size for t in (11, 12, 13, 14)], [int(model.bos_token_id)]]
    rows = HFRows(model)
    keys = [rows.add(p) for p in prompts]
    seqs = [model.start(p) for p in prompts]
    tol = 1e-3 if next(model.model.parameters()).dtype == torch.float32 else 0.1
    for step in range(3):
        laws = rows.logprobs()
        for k, seq in zip(keys, seqs):
            if not torch.allclose(laws[k], seq.logprobs().to("cpu").float(), atol=tol):
                return False
            token = (21 + step) % size
            rows.append(k, token)
            seq.append(token)
    return True


def make_rows(model: LanguageModel, *, per_row: bool = False) -> HFRows | SequenceRows:
    """An empty row set for ``model``.

    Parameters
    ----------
    model : LanguageModel
    per_row : bool
        Force :class:`SequenceRows` (one forward per row) even where :class:`HFRows` works.

    Returns
    -------
    HFRows or SequenceRows
    """
    if not per_row and supports_rows(model):
        return HFRows(model)
    return SequenceRows(model)


class _RowSet:
    """What both row sets share: row keys, tokens, lengths."""

    def __init__(self, model) -> None:
        self.model = model
        self._tokens: dict[int, list[int]] = {}
        self._next = 0
        self.n_forward = 0

    @property
    def rows(self) -> list[int]:
        """The live rows' keys, in the order they were added."""
        return list(self._tokens)

    @property
    def max_length(self) -> int | None:
        """The model's context length (``None`` if it declares none)."""
        return self.model.max_length

    def __len__(self) -> int:
        return len(self._tokens)

    def tokens(self, row: int) -> list[int]:
        """Every token of a row (prompt included). Do not mutate."""
        return self._tokens[row]

    def length(self, row: int) -> int:
        """Number of tokens of a row."""
        return len(self._tokens[row])

    def _new_row(self, prompt_ids: SequenceT[int]) -> tuple[int, list[int]]:
        ids = [int(t) for t in prompt_ids] or [int(self.model.bos_token_id)]
        limit = self.model.max_length
        if limit is not None and len(ids) > limit:
            raise GenerationError(f"the prompt has {len(ids)} tokens but the model's context holds {limit} tokens")
        row, self._next = self._next, self._next + 1
        self._tokens[row] = ids
        return row, ids


class SequenceRows(_RowSet):
    """One model sequence per row (any :class:`~corral.protocols.LanguageModel`).

    Rows are scored with ``model.logprobs_batch(seqs)`` when the model has it (the toy model counts that as one
    forward), else one ``seq.logprobs()`` per row.

    Parameters
    ----------
    model : LanguageModel
    """

    def __init__(self, model: LanguageModel) -> None:
        super().__init__(model)
        self._seqs: dict[int, object] = {}

    def add(self, prompt_ids: SequenceT[int]) -> int:
        """Open a row on a prompt (empty: the BOS token); ``GenerationError`` past the context."""
        seq = self.model.start(list(prompt_ids))
        row, _ = self._new_row(seq.tokens)
        self._tokens[row] = seq.tokens  # the sequence's own list: append() below keeps both in step
        self._seqs[row] = seq
        return row

    def remove(self, row: int) -> None:
        """Drop a row."""
        del self._tokens[row], self._seqs[row]

    def append(self, row: int, token: int) -> None:
        """Append the token sampled for ``row``."""
        self._seqs[row].append(int(token))

    def logprobs(self) -> dict[int, torch.Tensor]:
        """``{row: float [V] tensor}`` next-token log-probabilities of every row."""
        rows = self.rows
        if not rows:
            return {}
        seqs = [self._seqs[r] for r in rows]
        batch = getattr(self.model, "logprobs_batch", None)
        self.n_forward += 1 if batch is not None else len(rows)
        out = batch(seqs) if batch is not None else torch.stack([s.logprobs() for s in seqs])
        out = out.detach().to("cpu")
        return {r: out[i] for i, r in enumerate(rows)}


class HFRows(_RowSet):
    """Rows of one :class:`~corral.models.hf.HFModel` in one right-aligned, left-padded KV cache.

    Parameters
    ----------
    model : HFModel
        Full attention and a plain ``DynamicCache`` (:func:`supports_rows`).

    Notes
    -----
    Each row is prefilled alone when added (its first law is the single path's exactly), and merged into the
    shared cache when its next token is scored. A step is then one ``[n_rows, 1]`` forward with an attention mask
    over the padding and per-row position ids. ``n_forward`` counts every forward (prefills included);
    ``n_batched`` counts the batched steps only.
    """

    def __init__(self, model: HFModel) -> None:
        super().__init__(model)
        self._fed: dict[int, int] = {}  # row -> tokens of the row in a cache
        self._last: dict[int, torch.Tensor] = {}  # row -> law after its fed tokens
        self._staged: dict[int, object] = {}  # row -> its own batch-1 cache, until merged
        self._order: list[int] = []  # batch index -> row, in the shared cache
        self._pads: list[int] = []  # batch index -> left padding columns
        self._cache = None
        self._width = 0
        self.n_batched = 0

    # ------------------------------------------------------------------ rows
    def add(self, prompt_ids: SequenceT[int]) -> int:
        """Open a row on a prompt (empty: the BOS token) and prefill it alone.

        Raises
        ------
        GenerationError
            The prompt is longer than the model's context.
        """
        from transformers import DynamicCache

        row, ids = self._new_row(prompt_ids)
        try:
            cache = DynamicCache()
            with torch.inference_mode():
                logits = self.model._forward(ids, cache)
                self._last[row] = torch.log_softmax(logits.float(), dim=-1).to("cpu")
        except BaseException:
            del self._tokens[row]
            raise
        self.n_forward += 1
        self._staged[row] = cache
        self._fed[row] = len(ids)
        return row

    def remove(self, row: int) -> None:
        """Drop a row (an ``index_select`` of the shared cache; common left padding is cut off)."""
        del self._tokens[row]
        self._fed.pop(row, None)
        self._last.pop(row, None)
        if self._staged.pop(row, None) is not None:
            return
        i = self._order.index(row)
        del self._order[i], self._pads[i]
        if not self._order:
            self._cache, self._width = None, 0
            return
        keep = torch.tensor([j for j in range(len(self._order) + 1) if j != i], dtype=torch.long,
                            device=self.model.device)
        cut = min(self._pads)
        for get, put in _layers(self._cache):
            k, v = get()
            put(k.index_select(0, keep)[:, :, cut:], v.index_select(0, keep)[:, :, cut:])
        if cut:
            self._pads = [p - cut for p in self._pads]
            self._width -= cut

    def append(self, row: int, token: int) -> None:
        """Append the token sampled for ``row`` (fed at the next :meth:`logprobs`)."""
        self._tokens[row].append(int(token))

    # ------------------------------------------------------------------ forward
    def _merge(self, row: int) -> None:
        """Move a staged row (its cache holds every token but the last) into the shared cache."""
        cache = self._staged.pop(row)
        width = self._fed[row]
        if self._cache is None:
            self._cache, self._width = cache, width
            self._order, self._pads = [row], [0]
            return
        grow = max(width - self._width, 0)
        for (get, put), (nget, _) in zip(_layers(self._cache), _layers(cache)):
            k, v = get()
            nk, nv = nget()
            pad = self._width + grow - width
            put(torch.cat([_pad_left(k, grow), _pad_left(nk, pad)]), torch.cat([_pad_left(v, grow), _pad_left(nv, pad)]))
        self._pads = [p + grow for p in self._pads] + [self._width + grow - width]
        self._width += grow
        self._order.append(row)

    def _catch_up(self, row: int) -> None:
        """Feed a staged row's pending tokens but the last, alone (several tokens appended before a step)."""
        ids = self._tokens[row][self._fed[row]:-1]
        with torch.inference_mode():
            self.model._forward(ids, self._staged[row])
        self.n_forward += 1
        self._fed[row] += len(ids)

    def logprobs(self) -> dict[int, torch.Tensor]:
        """``{row: float32 [V] CPU tensor}`` next-token log-probabilities of every row (one batched forward).

        Raises
        ------
        GenerationError
            A row of the shared cache was not given exactly one token since the last call.
        """
        for row in list(self._staged):
            pending = len(self._tokens[row]) - self._fed[row]
            if pending > 1:
                self._catch_up(row)
            if pending >= 1:
                self._merge(row)
        pending = [len(self._tokens[r]) - self._fed[r] for r in self._order]
        if any(pending):
            if any(p != 1 for p in pending):
                raise GenerationError("every row of the batch must get exactly one token between two steps")
            self._step()
        return {r: self._last[r] for r in self._tokens}

    def _step(self) -> None:
        lm, dev = self.model, self.model.device
        ids = torch.tensor([[self._tokens[r][-1]] for r in self._order], dtype=torch.long, device=dev)
        cols = torch.arange(self._width + 1, device=dev)
        mask = (cols.unsqueeze(0) >= torch.tensor(self._pads, device=dev).unsqueeze(1)).long()
        positions = torch.tensor([[self._fed[r]] for r in self._order], dtype=torch.long, device=dev)
        kwargs = {lm._cache_kw: self._cache, "use_cache": True, "attention_mask": mask, "position_ids": positions}
        if lm._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        with torch.inference_mode():
            out = lm.model(input_ids=ids, **kwargs)
            lp = torch.log_softmax(out.logits[:, -1, :].float(), dim=-1).to("cpu")
        self.n_forward += 1
        self.n_batched += 1
        self._width += 1
        for i, r in enumerate(self._order):
            self._fed[r] += 1
            self._last[r] = lp[i]

    def padding(self) -> int:
        """Padding columns in the shared cache (summed over rows), a measure of wasted attention."""
        return sum(self._pads)
