"""Multi-draft (tree) speculative decoding: the draft tree, its shape, and scoring it with one target pass.

``draft_tree=k`` drafts ``k`` candidate children at the root (distinct tokens: drawn without replacement from the
drafter's constrained law, or its top ``k`` under greedy decoding), then continues each child as a chain; a tuple
``(b_0, b_1, ...)`` gives ``b_d`` children to every node at depth ``d`` (1 past the tuple: chains). Chains stop as
single drafts do (the draft-length policy, EOS, the token budget). The children of a node are distinct tokens; a
point-mass proposal (n-gram, fast-forward) or a forced token gives a single child. Each node holds a fork of the
matcher (O(1) for :class:`~corral.runtime.matcher.Matcher`) and, for D1, its mask, computed once and shared by the
drafter, every child and the target's row there.

The target scores every node in one forward pass (:func:`score_tree`: ``Sequence.extend_tree`` builds a tree
attention mask and position ids for Hugging Face models, :class:`~corral.models.toy.ToySequence` enumerates), and
verification walks from the root:

* D1 (:mod:`corral.samplers.speculative_tree_d1`): at each node, recursive rejection sampling over the node's
  candidates (:mod:`corral.samplers.speculative_tree_rrs`) emits a token with masked decoding's law ``p_c``
  exactly; an accepted candidate continues into its subtree, otherwise the round ends with the residual draw.
* D2 (:mod:`corral.samplers.speculative_tree_d2`): at each node the target's token is the AWRS token of the shared
  Gumbel keys; the round continues while it is one of the node's children. The output equals plain AWRS for the
  stream, token for token; more candidates only raise the chance of a match.

Afterwards the KV cache keeps the accepted path only (``Sequence.keep_tree_path``). The exact law holds because the
candidates at a node are drawn from the node's context alone, before the target's uniforms at that node are used,
so the induction of :mod:`corral.samplers.speculative_tree_rrs` applies node by node.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from corral.errors import ConfigurationError
from corral.samplers.speculative_round import FREE_KINDS

__all__ = ["DraftNode", "DraftTree", "MAX_TREE_LEAVES", "add_children", "grow_tree", "keep_path", "open_frontier",
           "parse_tree_shape", "score_tree"]

#: Most leaves a tree shape may have (the product of its branching factors).
MAX_TREE_LEAVES = 64


def parse_tree_shape(draft_tree: Any) -> tuple[int, ...]:
    """``draft_tree`` -> branching factors per depth (``k`` -> ``(k,)``; a ``"2,2"`` string -> ``(2, 2)``).

    Raises
    ------
    ConfigurationError
        Not a positive integer or a non-empty sequence of them, or more than :data:`MAX_TREE_LEAVES` leaves.
    """
    if isinstance(draft_tree, str):
        parts = [p.strip() for p in draft_tree.split(",")]
        if not all(p.isdigit() for p in parts):
            raise ConfigurationError(f"draft_tree must be K or K1,K2,... (positive integers), got {draft_tree!r}")
        draft_tree = tuple(int(p) for p in parts)
    shape = (draft_tree,) if isinstance(draft_tree, numbers.Integral) else draft_tree
    if not isinstance(shape, (tuple, list)) or not shape or any(
            isinstance(b, bool) or not isinstance(b, numbers.Integral) or b < 1 for b in shape):
        raise ConfigurationError(
            f"draft_tree must be an integer k >= 1 (k candidates at the root, then chains) or a non-empty sequence "
            f"of them (children per node at each depth), got {draft_tree!r}")
    leaves = 1
    for b in shape:
        leaves *= int(b)
    if leaves > MAX_TREE_LEAVES:
        raise ConfigurationError(f"draft_tree {draft_tree!r} has {leaves} leaves; at most {MAX_TREE_LEAVES}")
    return tuple(int(b) for b in shape)


@dataclass
class DraftNode:
    """One node of a draft tree (the root is the committed context and has ``token = -1``).

    Attributes
    ----------
    token, parent, depth : int
        ``depth`` 0 for the root's children.
    kind : str or None
        The drafter's kind (``"model"``, ``"ngram"``, ``"ff"``, ``"forced"``).
    feature : float
        The policy's feature of the draft (``q_c(t)`` for a model draft).
    candidate : Any
        What the verifier needs about the draw (D1: a :class:`~corral.samplers.speculative_tree_rrs.Candidate`).
    matcher : ConstraintState
        The constraint state after this node's token.
    mask : numpy.ndarray or None
        The mask after this node's token, once computed (D1).
    children : list of int
        Indices of the children, in candidate order.
    """

    token: int
    parent: int
    depth: int
    kind: str | None = None
    feature: float = 1.0
    candidate: Any = None
    matcher: Any = None
    mask: Any = None
    children: list[int] = field(default_factory=list)


class DraftTree:
    """A draft tree over the committed context ``prefix`` (node 0 is the root).

    Parameters
    ----------
    prefix : list of int
        The target sequence's tokens.
    matcher : ConstraintState
        The constraint at ``prefix``; the tree forks it (the caller's matcher is never advanced).
    shape : tuple of int
        Branching factors per depth (:func:`parse_tree_shape`).
    """

    def __init__(self, prefix: list[int], matcher, shape: tuple[int, ...]) -> None:
        self.prefix = list(prefix)
        self.shape = tuple(shape)
        self.nodes = [DraftNode(-1, -1, -1, matcher=matcher)]
        self.as_chain = False  # set by score_tree: scored as a single chain

    def branching(self, node: int) -> int:
        """How many candidates ``node``'s children get (1 past the shape: chains)."""
        d = self.nodes[node].depth + 1
        return self.shape[d] if d < len(self.shape) else 1

    def add(self, parent: int, token: int, kind: str | None, feature: float, candidate: Any = None) -> int:
        """Add a child of ``parent`` (its matcher a fork advanced by ``token``); its index."""
        p = self.nodes[parent]
        m = p.matcher.fork()
        m.advance(token)
        self.nodes.append(DraftNode(int(token), parent, p.depth + 1, kind, feature, candidate, m))
        p.children.append(len(self.nodes) - 1)
        return len(self.nodes) - 1

    def context(self, node: int) -> list[int]:
        """``prefix`` followed by the tokens from the root to ``node``."""
        return self.prefix + self.path_tokens(self.path(node))

    def path(self, node: int) -> list[int]:
        """Node indices from the root's child down to ``node`` (empty for the root)."""
        out = []
        while node > 0:
            out.append(node)
            node = self.nodes[node].parent
        return out[::-1]

    def path_tokens(self, path: Sequence[int]) -> list[int]:
        """The tokens of the nodes of ``path``."""
        return [self.nodes[i].token for i in path]

    def flat(self) -> tuple[list[int], list[int]]:
        """Tokens and parents of the drafted nodes in index order (``parents[i] = -1``: a root child); row ``i + 1``
        of :func:`score_tree` is the target's law after node ``i + 1``."""
        nodes = self.nodes[1:]
        return [n.token for n in nodes], [n.parent - 1 for n in nodes]

    @property
    def n_drafted(self) -> int:
        """Drafted nodes (the root excluded)."""
        return len(self.nodes) - 1

    @property
    def max_depth(self) -> int:
        """Depth of the deepest node plus one (the longest branch, in tokens)."""
        return max((n.depth + 1 for n in self.nodes[1:]), default=0)


Frontier = list[tuple[int, float, float]]  # (node, survival, cost of its next draft), one depth of the tree


def open_frontier(tree: DraftTree, policy, max_depth: int, eos, frontier: Frontier) -> Frontier:
    """The nodes of ``frontier`` that get children: below ``max_depth``, not EOS, and the policy's
    ``keep_going(tokens before the next draft, survival, cost)`` (asked once per node, in order)."""
    out = []
    for node, survival, cost in frontier:
        nd = tree.nodes[node]
        n_before = nd.depth + 1
        if n_before < max_depth and not (node and nd.token in eos) and policy.keep_going(n_before, survival, cost):
            out.append((node, survival, cost))
    return out


def add_children(tree: DraftTree, drafter, policy, frontier: Frontier, cands: list[list[tuple]]) -> Frontier:
    """Add each frontier node's candidates ``(token, kind, feature[, candidate])`` as its children, in order; the next
    depth's frontier (a child's survival is its parent's times the policy's ``predict(kind, feature)``)."""
    cost = getattr(drafter, "cost", 0.0)
    nxt = []
    for (node, survival, _), node_cands in zip(frontier, cands):
        for tok, kind, feature, *rest in node_cands:
            child = tree.add(node, tok, kind, feature, *rest)
            nxt.append((child, survival * policy.predict(kind, feature), 0.0 if kind in FREE_KINDS else cost))
    return nxt


def grow_tree(tree: DraftTree, drafter, policy, max_depth: int, eos,
              candidates: Callable[[list[int]], list[list[tuple]]], stats=None) -> None:
    """Draft ``tree`` breadth first: each depth's open nodes (:func:`open_frontier`) get the children that
    ``candidates(nodes)`` lists for them (one list of ``(token, kind, feature[, candidate])`` per node, see
    :func:`add_children`); nothing without a drafter. With ``stats``, forking and advancing the children's matchers
    counts in ``stats.mask_s``."""
    if drafter is None:
        return
    frontier = [(0, 1.0, getattr(drafter, "cost", 0.0))]  # (node, survival, cost of the next draft)
    while frontier:
        frontier = open_frontier(tree, policy, max_depth, eos, frontier)
        if not frontier:
            return
        cands = candidates([f[0] for f in frontier])
        tm = time.perf_counter()
        frontier = add_children(tree, drafter, policy, frontier, cands)
        if stats is not None:
            stats.mask_s += time.perf_counter() - tm


def score_tree(seq, tree: DraftTree) -> torch.Tensor:
    """The target's next-token log-probabilities at the root and after every node: ``[n_drafted + 1, V]``.

    One forward pass when the sequence has ``extend_tree`` (Hugging Face and toy sequences); otherwise one
    ``extend_scored`` pass per leaf on a fork (a fallback for other :class:`~corral.protocols.ModelSequence` types).
    Follow with :func:`keep_path`.
    """
    tokens, parents = tree.flat()
    tree.as_chain = parents == list(range(-1, len(parents) - 1))
    if tree.as_chain:  # no branching (k = 1, forced or point-mass drafts): the single-draft pass
        return seq.extend_scored(tokens)
    if hasattr(seq, "extend_tree"):
        return seq.extend_tree(tokens, parents)
    rows: list = [None] * (len(tokens) + 1)
    leaves = [i for i, n in enumerate(tree.nodes) if not n.children]
    for leaf in leaves:
        path = tree.path(leaf)
        got = seq.fork().extend_scored(tree.path_tokens(path))
        for j, node in enumerate([0, *path]):
            rows[node] = got[j]
    return torch.stack(rows)


def keep_path(seq, tree: DraftTree, path: Sequence[int]) -> None:
    """Make ``seq`` hold ``prefix`` followed by the nodes of ``path`` (a root-down path), after :func:`score_tree`."""
    if tree.as_chain:
        seq.crop(tree.n_drafted - len(path))
    elif hasattr(seq, "keep_tree_path"):
        seq.keep_tree_path([i - 1 for i in path])
    else:
        seq.extend(tree.path_tokens(path))
