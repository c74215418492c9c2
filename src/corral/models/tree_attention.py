"""Score a draft tree in one forward pass of a Hugging Face model (tree attention), then keep one path of it.

:func:`extend_tree` feeds the sequence's pending tokens and every tree node at once, with

* a 4D additive attention mask ``[1, 1, queries, keys]``: pending tokens are causal; a node sees the cache, the
  pending tokens, its ancestors and itself (nothing of the other branches);
* position ids ``len(sequence) + depth(node)``, so every node sits where it would in a chain.

``transformers`` passes a 4D mask through unchanged (``masking_utils``: "already prepared, or custom") for the
models built on ``create_causal_mask`` (GPT-2, Llama, Qwen, Mistral, ...). :func:`tree_supported` checks once per
model that tree rows equal chain rows (a model that ignored the mask would silently score the wrong contexts), and
:meth:`corral.models.hf.Sequence.extend_tree` falls back to one ``extend_scored`` pass per branch when it does not.
:func:`keep_tree_path` gathers the KV entries of the accepted path (``DynamicCache`` layers); for other cache types
it drops the tree's entries and the path is recomputed with the next forward.
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC

import torch

__all__ = ["extend_tree", "keep_tree_path", "tree_attention_mask", "tree_depths", "tree_supported"]


def tree_depths(parents: SequenceABC[int]) -> list[int]:
    """Depth of every node (0 for the root's children); ``parents[i] < i``."""
    depth: list[int] = []
    for i, p in enumerate(parents):
        if p >= i:
            raise ValueError(f"node {i} has parent {p}: parents must come first")
        depth.append(0 if p < 0 else depth[p] + 1)
    return depth


def tree_attention_mask(n_past: int, n_pending: int, parents: SequenceABC[int], dtype: torch.dtype,
                        device) -> torch.Tensor:
    """The additive mask ``[1, 1, n_pending + N, n_past + n_pending + N]`` (0 = attend, dtype min = blocked)."""
    n = len(parents)
    q, k = n_pending + n, n_past + n_pending + n
    allow = torch.zeros(q, k, dtype=torch.bool)
    allow[:, : n_past + n_pending] = True
    allow[:n_pending, n_past:] = torch.ones(n_pending, n_pending + n, dtype=torch.bool).tril()
    for i, p in enumerate(parents):
        row, col = n_pending + i, n_past + n_pending
        allow[row, col + i] = True
        if p >= 0:
            allow[row, col:] |= allow[n_pending + p, col:]
    mask = torch.zeros(q, k, dtype=dtype)
    mask.masked_fill_(~allow, torch.finfo(dtype).min)
    return mask.to(device)[None, None]


def _forward_tree(model, ids, cache, n_past, n_pending, parents, keep):
    """One forward over ``ids`` (pending tokens then nodes) with the tree mask; the last ``keep`` logits rows."""
    depth = tree_depths(parents)
    base = n_past + n_pending
    pos = list(range(n_past, base)) + [base + d for d in depth]
    dtype = next(model.model.parameters()).dtype
    kwargs = {model._cache_kw: cache, "use_cache": True,
              "attention_mask": tree_attention_mask(n_past, n_pending, parents, dtype, model.device),
              "position_ids": torch.tensor([pos], dtype=torch.long, device=model.device)}
    if model._logits_to_keep:
        kwargs["logits_to_keep"] = keep
    input_ids = torch.tensor([ids], dtype=torch.long, device=model.device)
    return model.model(input_ids=input_ids, **kwargs).logits[0, -keep:]


def extend_tree(seq, tokens: SequenceABC[int], parents: SequenceABC[int]) -> torch.Tensor:
    """Rows ``[len(tokens) + 1, V]``: the law after the sequence, then after each node.

    One forward pass when the model takes the tree mask (:func:`tree_supported`), else one ``extend_scored`` pass
    per branch on forks. ``seq`` (a :class:`corral.models.hf.Sequence`) keeps its tokens; its cache holds the tree
    until :func:`keep_tree_path`.
    """
    new, parents = [int(t) for t in tokens], [int(p) for p in parents]
    depth = tree_depths(parents)
    if not new:
        rows = seq.logprobs().unsqueeze(0)
    elif tree_supported(seq.model):
        rows = _one_pass(seq, new, parents)
    else:
        rows = _by_branches(seq, new, parents, depth)
        seq._tree = (new, parents, rows, False)
        return rows
    seq._tree = (new, parents, rows, True)
    return rows


def _one_pass(seq, new, parents):
    """The tree's rows from one forward pass; the cache then holds the tree after the sequence."""
    if seq._n_cached >= len(seq.tokens):  # recompute the row after the last token (as extend_scored does)
        seq._crop_cache(seq._n_cached - (len(seq.tokens) - 1))
    pending = seq.tokens[seq._n_cached:]
    n_past = seq._n_cached
    with torch.inference_mode():
        logits = _forward_tree(seq.model, pending + new, seq._cache, n_past, len(pending), parents, len(new) + 1)
        rows = torch.log_softmax(logits.float(), dim=-1)
    seq._n_cached = len(seq.tokens)  # the tree's entries follow, until keep_tree_path
    return rows


def _by_branches(seq, new, parents, depth):
    """The fallback: one ``extend_scored`` pass per leaf's branch, each on a fork of ``seq``."""
    rows: list = [None] * (len(new) + 1)
    leaves = set(range(len(new))) - set(parents)
    for leaf in sorted(leaves):
        path = [leaf]
        while parents[path[-1]] >= 0:
            path.append(parents[path[-1]])
        path.reverse()
        got = seq.fork().extend_scored([new[i] for i in path])
        for j, node in enumerate([-1, *path]):
            rows[node + 1] = got[j]
    return torch.stack(rows)


def keep_tree_path(seq, nodes: SequenceABC[int]) -> None:
    """After :func:`extend_tree`, make ``seq`` hold its tokens followed by the nodes of ``nodes`` (a root-down path),
    with their KV entries and no others."""
    new, parents, rows, cached = seq._tree
    seq._tree = None
    nodes = [int(i) for i in nodes]
    for prev, i in zip([-1, *nodes], nodes):
        if parents[i] != prev:
            raise ValueError(f"nodes {nodes} are not a path from the root")
    if not cached or not new:  # nothing of the tree is in the cache: append lazily
        seq.extend(new[i] for i in nodes)
        return
    base = seq._n_cached
    keep = torch.cat([torch.arange(base), base + torch.tensor(nodes, dtype=torch.long)])
    seq.tokens.extend(new[i] for i in nodes)
    if _gather_cache(seq._cache, keep):
        seq._n_cached = len(seq.tokens)
        seq._logprobs = rows[nodes[-1] + 1] if nodes else rows[0]
    else:  # drop the whole tree; the path is fed again with the next forward
        seq._cache.crop(-len(new))
        seq._logprobs = None if nodes else rows[0]


def _gather_cache(cache, keep: torch.Tensor) -> bool:
    """Keep the positions ``keep`` of every layer of a ``DynamicCache``; False when the cache is of another kind."""
    layers = getattr(cache, "layers", None)
    if layers is not None and all(type(layer).__name__ == "DynamicLayer" for layer in layers):
        for layer in layers:
            if getattr(layer, "keys", None) is None:
                continue
            idx = keep.to(layer.keys.device)
            layer.keys = layer.keys.index_select(-2, idx)
            layer.values = layer.values.index_select(-2, idx)
        return True
    if layers is None and hasattr(cache, "key_cache"):  # transformers 4.x DynamicCache
        for i in range(len(cache.key_cache)):
            idx = keep.to(cache.key_cache[i].device)
            cache.key_cache[i] = cache.key_cache[i].index_select(-2, idx)
            cache.value_cache[i] = cache.value_cache[i].index_select(-2, idx)
        return True
    return False


def tree_supported(model) -> bool:
    """Whether ``model`` (an :class:`~corral.models.hf.HFModel`) scores trees correctly: rows of a small two-branch
    tree against the rows of each branch as a chain (checked once, remembered on the model)."""
    ok = getattr(model, "_tree_ok", None)
    if ok is not None:
        return ok
    try:
        ok = _check_tree(model)
    except Exception:  # noqa: BLE001 - any failure of the custom mask means: not supported
        ok = False
    model._tree_ok = ok
    return ok


def _check_tree(model) -> bool:
    """Compare tree scoring with chain scoring on a short fixed context."""
    v = model.vocab.size
    prefix = [int(model.bos_token_id), 1 % v, 2 % v]
    tokens, parents = [3 % v, 4 % v, 5 % v, 6 % v], [-1, 0, -1, 2]
    rows = _one_pass(model.start(prefix), tokens, parents)
    tol = 1e-3 if next(model.model.parameters()).dtype == torch.float32 else 5e-2
    for branch in ([0, 1], [2, 3]):
        chain = model.start(prefix).extend_scored([tokens[i] for i in branch])
        got = rows[[0] + [i + 1 for i in branch]]
        if not torch.allclose(got.float(), chain.float(), atol=tol, rtol=0):
            return False
    return True
