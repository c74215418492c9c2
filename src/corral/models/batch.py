"""Batched model states for particle methods: one forward pass per step for every live particle.

A *batch state* holds ``n`` rows (particles), each a token sequence that starts with the same prompt, and computes
the next-token law of every row at once. SMC resampling maps onto :meth:`select`: new row ``i`` continues old row
``rows[i]`` (rows may repeat or disappear), like beam search.

Two implementations, same interface (``n_rows``, ``tokens(row)``, ``logprobs()``, ``append(tokens)``,
``select(rows)``):

* :class:`HFBatch` for :class:`corral.models.hf.HFModel`: one ``DynamicCache`` with batch dimension = rows. All rows
  have the same length (SMC with one token per step guarantees it), so a step is one ``[n, 1]`` forward with no
  padding; the prompt is prefilled once at batch size 1 and repeated; :meth:`HFBatch.select` is an ``index_select``
  of the cache along the batch dimension.
* :class:`SequenceBatch` over per-row sequences (``ToySequence``, ``Sequence`` or anything with ``tokens``,
  ``logprobs``, ``append`` and ``fork``): uses ``model.logprobs_batch`` when the model has it (the toy model counts it
  as one forward), else one forward per row. Rows may have different lengths, so it also serves proposals that
  extend particles by blocks of tokens (speculative rounds), through :meth:`SequenceBatch.sequence`.

:func:`make_batch` picks the right one.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceT
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.errors import GenerationError

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from corral.models.hf import HFModel
    from corral.protocols import LanguageModel, ModelSequence

__all__ = ["HFBatch", "SequenceBatch", "make_batch"]


def _to_numpy64(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


def make_batch(model: LanguageModel, prompt_ids: SequenceT[int], n: int, *,
               per_row: bool = False) -> HFBatch | SequenceBatch:
    """A batch state of ``n`` rows on a prompt (a :class:`corral.protocols.ModelBatch`).

    Parameters
    ----------
    model : LanguageModel
        An :class:`~corral.models.hf.HFModel` (batched KV cache), a :class:`~corral.models.toy.ToyModel` or any
        :class:`corral.protocols.LanguageModel`.
    prompt_ids : sequence of int
        The prompt (empty: the model's BOS, as ``model.start`` does).
    n : int
        Number of rows, ``>= 1``.
    per_row : bool
        Force a :class:`SequenceBatch` (per-row sequences of possibly different lengths) even for an HF model.

    Returns
    -------
    HFBatch or SequenceBatch
    """
    if int(n) != n or n < 1:
        raise ValueError(f"the number of rows must be an integer >= 1, got {n!r}")
    if not per_row and hasattr(model, "_cache_kw") and hasattr(model, "model"):
        return HFBatch(model, prompt_ids, int(n))
    return SequenceBatch.start(model, prompt_ids, int(n))


class SequenceBatch:
    """Rows backed by independent sequence objects (a :class:`corral.protocols.ModelBatch`).

    Parameters
    ----------
    seqs : list of ModelSequence
        One sequence per row.
    model : LanguageModel, optional
        The rows' model; its ``logprobs_batch(seqs)``, when it has one, scores every row in one call. Default:
        the first sequence's ``model`` attribute, if any.
    """

    def __init__(self, seqs: list[ModelSequence], model: LanguageModel | None = None) -> None:
        self._seqs = list(seqs)
        self.model = model if model is not None else getattr(self._seqs[0], "model", None) if self._seqs else None

    @classmethod
    def start(cls, model: LanguageModel, prompt_ids: SequenceT[int], n: int) -> SequenceBatch:
        """``n`` rows on a prompt (the first row's sequence forked ``n - 1`` times)."""
        first = model.start(prompt_ids)
        return cls([first] + [first.fork() for _ in range(n - 1)], model)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self._seqs)

    def tokens(self, row: int) -> list[int]:
        """The tokens of a row (prompt included). Do not mutate."""
        return self._seqs[row].tokens

    def sequence(self, row: int) -> ModelSequence:
        """The sequence object of a row (for proposals that feed blocks of tokens, crop, or score)."""
        return self._seqs[row]

    def logprobs(self) -> np.ndarray:
        """float64 ``[n_rows, V]`` next-token log-probabilities of every row."""
        if not self._seqs:
            raise GenerationError("no rows left")
        batch = getattr(self.model, "logprobs_batch", None)
        if batch is not None:
            return _to_numpy64(batch(self._seqs))
        return np.stack([_to_numpy64(s.logprobs()) for s in self._seqs])

    def append(self, tokens: SequenceT[int]) -> None:
        """Append one token to each row (``len(tokens) == n_rows``; computed lazily)."""
        if len(tokens) != len(self._seqs):
            raise ValueError(f"{len(tokens)} tokens for {len(self._seqs)} rows")
        for s, t in zip(self._seqs, tokens):
            s.append(int(t))

    def select(self, rows: SequenceT[int]) -> None:
        """New row ``i`` continues old row ``rows[i]`` (repeats are forked, missing rows dropped)."""
        used: set[int] = set()
        out = []
        for r in rows:
            r = int(r)
            if r in used:
                out.append(self._seqs[r].fork())
            else:
                used.add(r)
                out.append(self._seqs[r])
        # a row used twice must not share its object with an earlier copy that is mutated later: forks above
        # copy the state as it is now, before any later append.
        self._seqs = out


class HFBatch:
    """Rows of one Hugging Face model sharing a batched KV cache (batch dimension = rows); a
    :class:`corral.protocols.ModelBatch`.

    Parameters
    ----------
    model : corral.models.hf.HFModel
        The batch runs its network directly (``model.model``), so a plain :class:`~corral.protocols.LanguageModel`
        will not do.
    prompt_ids : sequence of int
        The prompt (empty: the BOS token).
    n : int
        Number of rows.

    Notes
    -----
    All rows must have the same length when :meth:`logprobs` runs (append one token to every row per step). The
    prompt is run once at batch size 1 and its cache repeated ``n`` times.
    """

    def __init__(self, model: HFModel, prompt_ids: SequenceT[int], n: int) -> None:
        ids = [int(t) for t in prompt_ids] or [int(model.bos_token_id)]
        if model.max_length is not None and len(ids) > model.max_length:
            raise GenerationError(
                f"the prompt has {len(ids)} tokens but the model's context holds {model.max_length} tokens"
            )
        self.model = model
        self.prompt_length = len(ids)
        self._rows = [list(ids) for _ in range(int(n))]
        self._cache = None
        self._n_cached = 0
        self._logprobs: np.ndarray | None = None
        self.n_forward = 0

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self._rows)

    @property
    def max_length(self) -> int | None:
        """The model's context length."""
        return self.model.max_length

    def tokens(self, row: int) -> list[int]:
        """The tokens of a row (prompt included). Do not mutate."""
        return self._rows[row]

    def _run(self, input_ids: torch.Tensor) -> torch.Tensor:
        lm = self.model
        kwargs = {lm._cache_kw: self._cache, "use_cache": True}
        if lm._logits_to_keep:
            kwargs["logits_to_keep"] = 1
        self.n_forward += 1
        # Rows have equal lengths (no padding): an all-ones mask, passed so transformers does not warn.
        past = int(self._cache.get_seq_length()) if hasattr(self._cache, "get_seq_length") else 0
        kwargs["attention_mask"] = torch.ones((input_ids.shape[0], past + input_ids.shape[1]), dtype=torch.long,
                                              device=lm.device)
        out = lm.model(input_ids=input_ids.to(lm.device), **kwargs)
        return out.logits[:, -1, :]

    def logprobs(self) -> np.ndarray:
        """float64 ``[n_rows, V]`` next-token log-probabilities of every row (one batched forward pass).

        Raises
        ------
        GenerationError
            Rows have different lengths, none is left, or the context is exceeded.
        """
        if self._logprobs is not None:
            return self._logprobs
        if not self._rows:
            raise GenerationError("no rows left")
        length = len(self._rows[0])
        if any(len(r) != length for r in self._rows):
            raise GenerationError("HFBatch rows must all have the same length at a forward pass")
        limit = self.model.max_length
        if limit is not None and length > limit:
            raise GenerationError(f"the sequences have {length} tokens but the model's context holds {limit}")
        from transformers import DynamicCache

        n = len(self._rows)
        with torch.inference_mode():
            if self._cache is None:
                self._cache = DynamicCache()
                p = self.prompt_length
                logits = self._run(torch.tensor([self._rows[0][:p]], dtype=torch.long))
                if n > 1:
                    self._cache.batch_repeat_interleave(n)
                logits = logits.expand(n, -1)
                self._n_cached = p
            if self._n_cached < length:
                pending = torch.tensor([r[self._n_cached:] for r in self._rows], dtype=torch.long)
                logits = self._run(pending)
                self._n_cached = length
            lp = torch.log_softmax(logits.float(), dim=-1)
        self._logprobs = lp.to("cpu", torch.float64).numpy()
        return self._logprobs

    def append(self, tokens: SequenceT[int]) -> None:
        """Append one token to each row (``len(tokens) == n_rows``; fed at the next :meth:`logprobs`)."""
        if len(tokens) != len(self._rows):
            raise ValueError(f"{len(tokens)} tokens for {len(self._rows)} rows")
        for r, t in zip(self._rows, tokens):
            r.append(int(t))
        self._logprobs = None

    def select(self, rows: SequenceT[int]) -> None:
        """New row ``i`` continues old row ``rows[i]``: an ``index_select`` of the cache along the batch dimension."""
        rows = [int(r) for r in rows]
        self._rows = [list(self._rows[r]) for r in rows]
        if not rows:
            self._cache = None
            self._logprobs = None
            return
        if self._cache is not None and self._n_cached > 0:
            idx = torch.tensor(rows, dtype=torch.long, device=self.model.device)
            self._cache.reorder_cache(idx)
        if self._logprobs is not None:
            self._logprobs = self._logprobs[rows]
