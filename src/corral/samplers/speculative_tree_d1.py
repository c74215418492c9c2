"""D1 tree rounds: multi-draft masked speculative sampling (exact law of masked decoding).

A round grows a draft tree (:class:`~corral.samplers.speculative_tree.DraftTree`) breadth first (the open nodes of a
depth are proposed in one :meth:`~corral.drafters.base.Drafter.propose_many` call): at each node the mask is computed
once (on the node's matcher fork) and shared by the drafter, the node's candidates and the target's row;
a single allowed token is a free forced child; a point-mass proposal gives one child; a distribution gives the
node's ``b`` candidates, drawn without replacement from the drafter's constrained law ``q_c`` (same mask,
temperature, top-k, top-p as the target), or its top ``b`` tokens under greedy decoding (deterministic candidates).
The target scores the tree in one pass; verification walks down from the root with recursive rejection sampling at
each node (:mod:`corral.samplers.speculative_tree_rrs`), so every emitted token has law ``p_c`` and the stream has
exactly the law of :func:`corral.samplers.masking.sample_sequence`. With ``draft_tree=1`` the round makes the same
random draws as :func:`~corral.samplers.speculative_d1.d1_round` and emits the same tokens.

The round's log-weight increment is ``Σ log Z_p`` over the emitted positions (exact), as for single drafts.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.drafters.base import propose_batch
from corral.errors import GenerationError
from corral.samplers.masking import _as_numpy, checked_logprobs, constrained_law, sample_token
from corral.samplers.speculative_d1 import _log_z, _mask_count_one, _target_law, _uniform
from corral.samplers.speculative_round import RoundResult, SpecStats, fit_logprobs
from corral.samplers.speculative_tree import DraftTree, grow_tree, keep_path, score_tree
from corral.samplers.speculative_tree_rrs import Candidate, draw_without_replacement, select_child, top_candidates
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import ConstraintState, Drafter, ModelSequence

__all__ = ["d1_tree_round"]


def d1_tree_round(seq: ModelSequence, matcher: ConstraintState, drafter: Drafter | None,
                  policy: FixedPolicy | AdaptivePolicy, *, shape: tuple[int, ...], max_drafts: int,
                  temperature: float | None = 1.0, top_k: int | None = None, top_p: float | None = None,
                  generator: torch.Generator | None = None, eos: Collection[int] = frozenset(),
                  stats: SpecStats | None = None) -> RoundResult:
    """One D1 round over a draft tree: draft, score every node in one target pass, walk down with RRS, keep the path.

    Parameters
    ----------
    seq, matcher, drafter, policy, temperature, top_k, top_p, generator, eos, stats
        As in :func:`~corral.samplers.speculative_d1.d1_round` (``matcher`` is forked per node, then advanced by
        the emitted tokens).
    shape : tuple of int
        Candidates per node at each depth (:func:`~corral.samplers.speculative_tree.parse_tree_shape`).
    max_drafts : int
        Deepest branch allowed (token budget and context).

    Returns
    -------
    RoundResult
        ``n_drafted`` counts every node of the tree; ``n_accepted`` the accepted path.
    """
    stats = SpecStats() if stats is None else stats
    size = matcher.vocab_size if hasattr(matcher, "vocab_size") else len(matcher.mask())
    law = (temperature, top_k, top_p)
    tree = DraftTree(list(seq.tokens), matcher, shape)
    grow_tree(tree, drafter, policy, max_drafts, eos,
              lambda nodes: _depth_candidates(drafter, tree, nodes, size, law, generator, stats), stats)
    tv = time.perf_counter()
    rows = checked_logprobs(score_tree(seq, tree))
    stats.target_forwards += 1
    stats.rounds += 1
    res, path, extra = _verify(rows, tree, policy, size, law, generator, eos, stats)
    _commit(seq, matcher, tree, res, path, extra, eos, stats)
    stats.verify_s += time.perf_counter() - tv
    return res


def _depth_candidates(drafter, tree, nodes, size, law, generator, stats):
    """One depth's open ``nodes`` (:func:`~corral.samplers.speculative_tree.grow_tree`): their masks, then their
    candidates from one batched proposal (:func:`_candidates`)."""
    tm = time.perf_counter()
    for node in nodes:
        tree.nodes[node].mask = tree.nodes[node].matcher.mask()
    td = time.perf_counter()
    stats.mask_s += td - tm
    cands = _candidates(drafter, tree, nodes, size, law, generator)
    stats.draft_s += time.perf_counter() - td
    return cands


def _candidates(drafter, tree, nodes, size, law, generator):
    """Each node's candidates (a list per node, see :func:`_node_candidates`): forced tokens need no drafter, the
    other nodes are proposed in one :meth:`~corral.drafters.base.Drafter.propose_many` call."""
    out = [None] * len(nodes)
    asked = []
    for i, node in enumerate(nodes):
        forced = _mask_count_one(tree.nodes[node].mask)
        if forced is not None:
            out[i] = [(forced, "forced", 1.0, Candidate(forced))]
        else:
            asked.append(i)
    if asked:
        nds = [tree.nodes[nodes[i]] for i in asked]
        props = propose_batch(drafter, [tree.context(nodes[i]) for i in asked], [nd.matcher for nd in nds],
                              [nd.mask for nd in nds])
        for i, nd, prop in zip(asked, nds, props):
            out[i] = _node_candidates(prop, nd.mask, tree.branching(nodes[i]), size, law, generator)
    return out


def _node_candidates(prop, mask, n, size, law, generator):
    """One node's candidates from its proposal as ``(token, kind, feature, Candidate)``: a point mass, or ``n``
    draws from the drafter's constrained law (its top ``n`` when greedy); ``[]`` to stop drafting here."""
    if prop is None:
        return []
    if prop.token is not None:
        tok = int(prop.token)
        ok = 0 <= tok < size and mask[tok]
        return [(tok, prop.kind, prop.feature, Candidate(tok))] if ok else []
    temperature, top_k, top_p = law
    lq = fit_logprobs(_as_numpy(prop.logprobs), size)
    try:
        if not temperature:  # greedy: any candidate law is exact; the draft's top n, deterministic
            ids, logp = constrained_law(lq, mask, temperature=1.0)
            cands = top_candidates(ids, logp, n)
        else:
            ids, logp = constrained_law(lq, mask, temperature=temperature, top_k=top_k, top_p=top_p)
            cands = draw_without_replacement(ids, logp, n, generator)
    except GenerationError:  # the draft gives every allowed token probability 0
        return []
    return [(c.token, prop.kind, math.exp(float(logp[int(np.searchsorted(ids, c.token))])), c) for c in cands]


def _verify(rows, tree, policy, size, law, generator, eos, stats):
    """Walk down from the root: RRS over each node's candidates; the round, the accepted path and the extra token."""
    temperature, top_k, top_p = law
    res = RoundResult([], n_drafted=tree.n_drafted)
    node, path = 0, []
    while True:
        nd = tree.nodes[node]
        if node and nd.token in eos:
            return res, path, None
        mask = _node_mask(nd, stats)
        lp = _as_numpy(rows[node])
        n_allowed = int(np.count_nonzero(mask))
        logz = _log_z(lp, mask, temperature)
        if not nd.children:  # a leaf: the bonus token, as masked decoding samples it
            extra, lpe, mlp = sample_token(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p,
                                           generator=generator)
            _emit(res, extra, lpe, mlp, logz, Step(extra, mlp, n_allowed))
            return res, path, extra
        ids, logp = _target_law(lp, mask, temperature, top_k, top_p)
        cands = [tree.nodes[c].candidate for c in nd.children]
        idx, r_law, n_rej = select_child((ids, logp), cands, size, lambda: _uniform(generator))
        _learn(policy, stats, tree, nd.children, n_rej, idx)
        if idx is None:  # every candidate rejected: sample the last residual
            extra = _draw(r_law, generator)
            lpe = float(logp[int(np.searchsorted(ids, extra))])
            _emit(res, extra, lpe, float(lp[extra]), logz, Step(extra, float(lp[extra]), n_allowed, 0, 0, None, n_rej))
            return res, path, extra
        node = nd.children[idx]
        tok = tree.nodes[node].token
        path.append(node)
        res.n_accepted += 1
        lpt = float(logp[int(np.searchsorted(ids, tok))])
        _emit(res, tok, lpt, float(lp[tok]), logz,
              Step(tok, float(lp[tok]), n_allowed, 0, 0, tree.nodes[node].kind, n_rej))


def _node_mask(nd, stats):
    """The node's mask (computed while drafting, or now for a leaf)."""
    if nd.mask is None:
        tm = time.perf_counter()
        nd.mask = nd.matcher.mask()
        stats.mask_s += time.perf_counter() - tm
    return nd.mask


def _learn(policy, stats, tree, children, n_rej, idx):
    """Tell the counters the outcome of every candidate tested at a node (as single-draft D1 counts the drafts it
    verifies: untested nodes are not counted), and the policy that of the first one only: it predicts a node's first
    draft, the one a chain would have (a sibling is tested against the residual law, other odds)."""
    tested = children[:n_rej] + ([children[idx]] if idx is not None else [])
    for j, child in enumerate(tested):
        c = tree.nodes[child]
        if j == 0:
            policy.update(c.kind, c.feature, j == n_rej)
        stats.count_draft(c.kind, j == n_rej)


def _draw(law, generator):
    """One draw from ``(ids, logp)`` by inverse CDF (the residual scheme of single-draft D1)."""
    ids, logp = law
    cdf = np.cumsum(np.exp(logp))
    j = min(int(np.searchsorted(cdf, _uniform(generator) * cdf[-1], side="right")), ids.size - 1)
    return int(ids[j])


def _emit(res, tok, logprob, model_logprob, logz, step):
    """Append one emitted token to the round."""
    res.tokens.append(int(tok))
    res.logprob += logprob
    res.model_logprob += model_logprob
    res.delta_logw += logz
    res.steps.append(step)


def _commit(seq, matcher, tree, res, path, extra, eos, stats):
    """Keep the accepted path in ``seq`` (EOS excluded), append the extra token, advance ``matcher``."""
    res.raw_logprob = res.model_logprob
    keep = path[:-1] if path and tree.nodes[path[-1]].token in eos else path
    keep_path(seq, tree, keep)
    if extra is not None and extra not in eos:
        seq.append(extra)
    tm = time.perf_counter()
    for t in res.tokens:
        matcher.advance(t)
    stats.mask_s += time.perf_counter() - tm
    stats.emitted += len(res.tokens)
