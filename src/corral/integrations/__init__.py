"""Adapters that plug corral's constraints into other libraries' generation loops.

* :mod:`corral.integrations.transformers`: :class:`~corral.integrations.transformers.LogitsProcessor` for Hugging
  Face ``model.generate(..., logits_processor=[...])`` (greedy, sampling and beam search, batched).

Each adapter is its own module, imported explicitly (``from corral.integrations.transformers import
LogitsProcessor``), so that importing this package pulls in no third-party library. Nothing else in corral imports
this package.
"""
