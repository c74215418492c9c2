"""Batches: many requests at once, the model batched (one forward pass per step for every live row).

* :func:`generate_batch` / :func:`iter_batch`: prompts (strings, token ids, chat messages or request dicts with their
  own constraint and options) in, one :class:`BatchResult` per row out, in input order / as rows finish.
* :class:`BatchEngine`: the engine under them, for servers: :meth:`BatchEngine.submit` a :class:`Request` from any
  thread, get a :class:`RowHandle` (wait, cancel, stream with ``on_token``); rows join the running batch at the next
  step (continuous batching).
* ``corral generate --input requests.jsonl --output results.jsonl``: the batch command (:mod:`corral.batching.jobs`),
  resumable.

The batched KV cache is :mod:`corral.models.rows`.
"""

from corral.batching.api import generate_batch, iter_batch
from corral.batching.engine import BatchEngine
from corral.batching.request import STATUSES, BatchResult, QueueFull, Request, RowHandle

__all__ = ["generate_batch", "iter_batch", "BatchEngine", "Request", "RowHandle", "BatchResult", "QueueFull",
           "STATUSES"]
