"""D2 tree rounds: Gumbel-coupled multi-draft verification with AWRS (output = plain AWRS for the stream).

Draft and target share the Gumbel keys ``G(stream, position)``. At a node of depth ``d`` the drafter's candidates
are its first ``b`` valid tokens in decreasing order of ``log q + G(stream, position + d)`` (the Gumbel-top-k trick:
a draw without replacement from the draft's law ``q``; greedy: its ``b`` most probable valid tokens). Verification
walks down from the root: at each node the emitted token is the AWRS token of the target row with the same keys
(:func:`corral.samplers.awrs.awrs_step`), exactly what non-speculative AWRS emits there; the round continues into the
child holding that token, and stops at the first node where no child does (that token is the round's last).
The tokens and weights therefore do not depend on the drafter, the tree shape or the policy: several candidates only
raise the chance that one of them is the coupled token. No masks are needed (constraint checks only).
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

import numpy as np

from corral.drafters.base import propose_batch
from corral.samplers.awrs import as_float64, logsumexp
from corral.samplers.awrs_visit import visit_order
from corral.samplers.masking import checked_logprobs
from corral.samplers.speculative_d2 import _keys, awrs_emitter
from corral.samplers.speculative_round import RoundResult, SpecStats, fit_logprobs
from corral.samplers.speculative_tree import DraftTree, grow_tree, keep_path, score_tree

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import ConstraintState, Drafter, ModelSequence

__all__ = ["d2_tree_round"]


def d2_tree_round(seq: ModelSequence, matcher: ConstraintState, drafter: Drafter | None,
                  policy: FixedPolicy | AdaptivePolicy, *, shape: tuple[int, ...], max_drafts: int, position: int,
                  stream: int, temperature: float | None = 1.0, eos: Collection[int] = frozenset(),
                  max_rejects: int | None = None, stats: SpecStats | None = None) -> RoundResult:
    """One D2 round over a draft tree (see the module docstring).

    Parameters
    ----------
    seq, matcher, drafter, policy, position, stream, temperature, eos, max_rejects, stats
        As in :func:`~corral.samplers.speculative_d2.d2_round` (``matcher`` is forked per node while drafting,
        then advanced by the emitted tokens).
    shape : tuple of int
        Candidates per node at each depth.
    max_drafts : int
        Deepest branch allowed.

    Returns
    -------
    RoundResult
    """
    stats = SpecStats() if stats is None else stats
    tree = DraftTree(list(seq.tokens), matcher, shape)
    grow_tree(tree, drafter, policy, max_drafts, eos,
              lambda nodes: _depth_candidates(drafter, tree, nodes, position, stream, temperature, stats))
    tv = time.perf_counter()
    rows = checked_logprobs(score_tree(seq, tree))
    stats.target_forwards += 1
    stats.rounds += 1
    res, path = _verify(rows, tree, matcher, policy, position, stream, temperature, eos, max_rejects, stats)
    _commit(seq, tree, res, path, eos, stats)
    stats.verify_s += time.perf_counter() - tv
    return res


def _depth_candidates(drafter, tree, nodes, position, stream, temperature, stats):
    """One depth's open ``nodes`` (:func:`~corral.samplers.speculative_tree.grow_tree`), proposed in one batched
    call: their candidates (:func:`_candidates`)."""
    td = time.perf_counter()
    props = propose_batch(drafter, [tree.context(n) for n in nodes], [tree.nodes[n].matcher for n in nodes],
                          [None] * len(nodes))
    n_before = tree.nodes[nodes[0]].depth + 1
    cands = [_candidates(p, tree.nodes[n].matcher, tree.branching(n), position + n_before, stream, temperature)
             for n, p in zip(nodes, props)]
    stats.draft_s += time.perf_counter() - td
    return cands


def _candidates(prop, matcher, n, position, stream, temperature):
    """``(token, kind, feature)`` candidates at one node from its proposal: a valid point mass, or the draft's first
    ``n`` valid tokens under the shared keys at ``position``."""
    if prop is None:
        return []
    if prop.token is not None:
        tok = int(prop.token)
        return [(tok, prop.kind, prop.feature)] if matcher.check(tok) else []
    greedy = not temperature
    lq = as_float64(prop.logprobs)
    lq = lq if greedy else lq / float(temperature)
    lq = fit_logprobs(lq, matcher.vocab_size) if hasattr(matcher, "vocab_size") else lq
    toks = _top_valid(_keys(lq, stream, position, greedy), matcher.check, n)
    z = logsumexp(lq[lq > -np.inf]) if toks else 0.0
    return [(t, prop.kind, math.exp(float(lq[t]) - z)) for t in toks]


def _top_valid(keys: np.ndarray, check, n: int) -> list[int]:
    """The ``n`` valid tokens with the largest keys (ties by id), visited lazily in decreasing key order."""
    work = np.array(keys, dtype=np.float64)
    out: list[int] = []
    for t in visit_order(work, int(np.count_nonzero(work > -np.inf))):
        if check(t):
            out.append(int(t))
            if len(out) == n:
                break
    return out


def _verify(rows, tree, matcher, policy, position, stream, temperature, eos, max_rejects, stats):
    """AWRS at each node on the path with the shared keys, while the emitted token is a child; ``matcher`` (at the
    committed context) is advanced over the emitted tokens."""
    res = RoundResult([], n_drafted=tree.n_drafted)
    emit = awrs_emitter(matcher, stream=stream, temperature=temperature, max_rejects=max_rejects)
    node, path = 0, []
    while True:
        nd = tree.nodes[node]
        step = emit(res, rows[node], position + len(path))
        if step is None:
            break
        y = step.token
        match = next((c for c in nd.children if tree.nodes[c].token == y), None)
        for j, c in enumerate(nd.children):
            if j == 0:  # the policy predicts a node's first draft, the one a chain would have (siblings: other odds)
                policy.update(tree.nodes[c].kind, tree.nodes[c].feature, c == match)
            stats.count_draft(tree.nodes[c].kind, c == match)
        n_rej = len(nd.children) - (match is not None)
        kind = tree.nodes[match].kind if match is not None else None
        res.steps.append(step._replace(draft=kind, rejected_drafts=n_rej))
        if match is None:
            break
        path.append(match)
        res.n_accepted += 1
        node = match
        if y in eos:
            break
    res.logprob = res.model_logprob - res.delta_logw if not res.dead else -math.inf
    return res, path


def _commit(seq, tree, res, path, eos, stats):
    """Keep the accepted path in ``seq`` (EOS excluded) and append the last token when it is not a draft."""
    keep = path[:-1] if path and tree.nodes[path[-1]].token in eos else path
    keep_path(seq, tree, keep)
    if len(res.tokens) > len(path) and res.tokens[-1] not in eos:
        seq.append(res.tokens[-1])
    stats.emitted += len(res.tokens)
