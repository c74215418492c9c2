"""The trie of ASAp (grammar-aligned decoding, Park et al. 2024; ALGORITHMS.md §3): :class:`AsapTrie`.

A node is a prefix ``x`` (the tokens generated after the prompt). Once *expanded* (visited by a sample), it holds,
over the tokens ``y`` the constraint allows after ``x`` (EOS included) that the model gives a positive probability:
their ids, ``p(y | x)`` under the (tempered) model, and ``θ(x·y)``, the estimate of the expected future
grammaticality ``EFG(x·y) = Σ_w p(w | x·y) 1[x·y·w ∈ L]``. A child's ``θ`` is 1 until it is expanded; the EOS child
keeps ``θ = 1`` (``x`` is then a complete text); a dead end (no allowed token within ``max_tokens``) gets 0.

Every expanded node keeps ``θ(x) = Σ_y p(y | x) θ(x·y)``: after one visit this is the allowed mass ``Z_p(x)``. Each
expansion updates ``θ`` from the new node up to the root (one multiply-add per ancestor). ``θ`` only falls and stays
``>= EFG``, so ``θ(root)`` is an upper bound on ``Z = Σ_{y ∈ L} p(y)`` that reaches ``Z`` once every text of the
language (within ``max_tokens``) has been drawn. Memory: about 24 bytes per allowed token of every expanded prefix.

The trie is also an SMC twist (``smc(..., twist=trie)``): ``trie(tokens)`` is ``log θ`` of a prefix (ALGORITHMS.md
§4.5, "Twists").
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from corral.errors import ConfigurationError

__all__ = ["AsapTrie", "TWIST_FLOOR"]

#: The smallest ``ψ`` the twist returns: a positive twist everywhere keeps SMC consistent whatever the trie learned.
TWIST_FLOOR = 1e-300
_RECOMPUTE_BELOW = 1e-6  # an updated θ this small is recomputed exactly (a dead node is exactly 0, not a rounding)


class _Node:
    """One prefix: ``value`` is its ``θ``; once expanded, ``ids``, ``p`` and ``theta`` describe its children."""

    __slots__ = ("parent", "index", "value", "ids", "p", "theta", "kids", "log_norm", "n_allowed")

    def __init__(self, parent: _Node | None, index: int) -> None:
        self.parent, self.index, self.value = parent, index, 1.0
        self.ids: np.ndarray | None = None  # int64 allowed token ids (increasing), None until expanded
        self.p: np.ndarray | None = None  # float64 p(y | x) of those ids under the tempered model
        self.theta: np.ndarray | None = None  # float64 θ of each child
        self.kids: dict[int, _Node] = {}  # index in ids -> child node (children that were drawn)
        self.log_norm = 0.0  # logsumexp(logprobs / T): the raw log-probability is T·(log p + log_norm)
        self.n_allowed = 0  # tokens the constraint allowed (before the max_tokens cut and the p > 0 filter)

    @property
    def expanded(self) -> bool:
        """Whether a sample has visited this prefix (its children are known)."""
        return self.ids is not None

    def child(self, i: int) -> _Node:
        """The node of child ``i`` (created on first use)."""
        kid = self.kids.get(i)
        if kid is None:
            kid = self.kids[i] = _Node(self, i)
        return kid

    def find(self, token: int) -> int | None:
        """Index of ``token`` among the children, ``None`` if it is not one."""
        i = int(np.searchsorted(self.ids, token))
        return i if i < self.ids.size and self.ids[i] == token else None


class AsapTrie:
    """The prefixes ASAp has visited for one prompt and constraint, with their ``θ`` (EFG estimates).

    Create one empty (``AsapTrie()``) and pass it to every call that should learn in it (``generate(...,
    method="asap", trie=trie)``); it is updated in place. A trie belongs to one (prompt, constraint, max_tokens,
    temperature): the first call binds it and a call with another prompt, ``max_tokens`` or temperature is a
    ``ConfigurationError`` (the constraint cannot be checked: do not share a trie across constraints). Not
    thread-safe.

    Called on a prefix, it is a twist for SMC: ``trie(tokens) = log max(θ(tokens), TWIST_FLOOR)``.

    Attributes
    ----------
    n_samples : int
        Samples drawn in it so far.
    n_expanded : int
        Prefixes expanded (visited).
    n_children : int
        Children listed over the expanded prefixes (the memory footprint: 24 bytes each).
    n_dead_ends : int
        Expanded prefixes with no allowed token (within ``max_tokens``).
    """

    def __init__(self) -> None:
        self.root = _Node(None, -1)
        self.n_samples = self.n_expanded = self.n_children = self.n_dead_ends = 0
        self._key: tuple | None = None

    @property
    def theta(self) -> float:
        """``θ(root)``: an upper bound on ``Z`` (the model's probability of the language) that falls to ``Z``."""
        return self.root.value

    def bind(self, key: tuple) -> None:
        """Bind the trie to ``key`` ``(prompt ids, max_tokens horizon, temperature, eos ids)`` on first use;
        ``ConfigurationError`` when a later call brings another key."""
        if self._key is None:
            self._key = key
        elif self._key != key:
            raise ConfigurationError("this AsapTrie was learned with another prompt, max_tokens (or context) or "
                                     "temperature; its θ estimates do not apply here: use a new AsapTrie()")

    def expand(self, node: _Node, ids: np.ndarray, p: np.ndarray, log_norm: float, n_allowed: int) -> None:
        """Record the children of ``node`` (every ``θ`` 1), set ``θ(node) = Σ p`` and update its ancestors."""
        node.ids, node.p, node.theta = ids, p, np.ones(ids.size)
        node.log_norm, node.n_allowed = float(log_norm), int(n_allowed)
        self.n_expanded += 1
        self.n_children += int(ids.size)
        self.n_dead_ends += int(ids.size == 0)
        self.set_theta(node, float(p.sum()))

    def set_theta(self, node: _Node, value: float) -> None:
        """Set ``θ(node)`` and propagate ``θ(x) = Σ_y p(y | x) θ(x·y)`` up to the root."""
        while node.parent is not None:
            parent, old = node.parent, node.value
            node.value = value
            parent.theta[node.index] = value
            value = parent.value + float(parent.p[node.index]) * (value - old)
            if value < _RECOMPUTE_BELOW:
                value = float(parent.p @ parent.theta)
            node = parent
        node.value = value

    def theta_of(self, tokens: Sequence[int]) -> float:
        """``θ`` of a prefix: 1 where the trie has not been (or only up to an unvisited child), 0 for a token it
        knows is not allowed (or has probability 0)."""
        node = self.root
        for t in tokens:
            if not node.expanded:
                return 1.0
            i = node.find(int(t))
            if i is None:
                return 0.0
            if i not in node.kids:
                return float(node.theta[i])
            node = node.kids[i]
        return node.value

    def __call__(self, tokens: Sequence[int]) -> float:
        """The twist ``log ψ(tokens) = log max(θ(tokens), TWIST_FLOOR)`` (positive everywhere, as SMC needs)."""
        return math.log(max(self.theta_of(tokens), TWIST_FLOOR))

    def stats(self) -> dict:
        """``root_theta``, ``trie_samples``, ``trie_nodes`` (expanded prefixes), ``trie_children``,
        ``trie_dead_ends``."""
        return {"root_theta": self.theta, "trie_samples": self.n_samples, "trie_nodes": self.n_expanded,
                "trie_children": self.n_children, "trie_dead_ends": self.n_dead_ends}

    def __len__(self) -> int:
        return self.n_expanded

    def __repr__(self) -> str:
        return f"AsapTrie(samples={self.n_samples}, nodes={self.n_expanded}, root_theta={self.theta:.6g})"
