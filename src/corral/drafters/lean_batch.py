"""Sequences of the lean GPT-2 runner (:class:`~corral.drafters.model.LeanGPT2`): a chain (:class:`LeanSequence`) and
the branches of a draft tree over it (:class:`LeanTree`, one batched forward per depth).

A :class:`LeanTree` sits on a sequence whose tokens (the *base*, e.g. the committed context) are all in its KV cache.
Every drafted node gets a *slot*: cache row ``base + slot`` (past the base; GPT-2 adds its position embedding to the
input, so a key or value does not depend on the row that holds it). A node's token is fed at position
``base + depth`` and attends to the base and to the slots of its ancestors and itself, so its log-probabilities are
those of the chain ``base + path`` (up to float rounding). :meth:`LeanTree.logprobs` feeds every new node of several
contexts (one per branch) in a single forward; :meth:`LeanTree.adopt` moves the slots of an accepted path into the
base (a copy of their keys and values), so the next round does not recompute them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = ["LeanSequence", "LeanTree", "common_prefix"]


def common_prefix(ctxs: Sequence[Sequence[int]]) -> int:
    """Length of the longest common prefix of ``ctxs`` (at least one)."""
    first = ctxs[0]
    n = min(len(c) for c in ctxs)
    for c in ctxs[1:]:
        k = 0
        while k < n and c[k] == first[k]:
            k += 1
        n = k
    return n


class LeanSequence:
    """A token sequence of :class:`~corral.drafters.model.LeanGPT2` (``tokens``, ``logprobs``, ``append``, ``extend``,
    ``crop``) with a preallocated KV cache of the model's context length.

    Parameters
    ----------
    model : LeanGPT2
        The runner (its ``_forward`` fills the cache).
    tokens : list of int
        The prompt.
    """

    def __init__(self, model: Any, tokens: list[int]) -> None:
        import torch

        self.model = model
        self.tokens = list(tokens)
        self.prompt_length = len(self.tokens)
        L, nh, hd = model.max_length, model.n_head, model.head_dim
        self._k = [torch.zeros(nh, L, hd) for _ in model.blocks]
        self._v = [torch.zeros(nh, L, hd) for _ in model.blocks]
        self._n = 0
        self._lp = None

    @property
    def max_length(self) -> int:
        """The model's context length."""
        return self.model.max_length

    @property
    def ready(self) -> bool:
        """Whether every token is cached and the log-probabilities after the last one are known."""
        return self._lp is not None and self._n == len(self.tokens)

    def logprobs(self) -> torch.Tensor:
        """float32 ``[V]`` next-token log-probabilities (one forward over the tokens not yet cached)."""
        if self._lp is not None and self._n == len(self.tokens):
            return self._lp
        if self._n >= len(self.tokens):
            self._n = len(self.tokens) - 1
        pending = self.tokens[self._n:]
        self._lp = self.model._forward(self, pending)
        self._n = len(self.tokens)
        return self._lp

    def append(self, token: int) -> None:
        """Append one token (lazy)."""
        self.tokens.append(int(token))
        self._lp = None

    def extend(self, tokens: Sequence[int]) -> None:
        """Append several tokens (lazy, one forward at the next :meth:`logprobs`)."""
        for t in tokens:
            self.append(t)

    def crop(self, n: int) -> None:
        """Drop the last ``n`` tokens."""
        if n <= 0:
            return
        del self.tokens[len(self.tokens) - n:]
        self._lp = None
        self._n = min(self._n, len(self.tokens))


class LeanTree:
    """Draft-tree nodes in the scratch rows of a :class:`LeanSequence` past its cached tokens.

    Parameters
    ----------
    seq : LeanSequence
        The sequence; every token must be cached (call ``seq.logprobs()`` first). Any later change of ``seq``
        (``append``, ``extend``, ``crop``, a forward) invalidates the tree.
    """

    def __init__(self, seq: LeanSequence) -> None:
        self.seq = seq
        self.base = len(seq.tokens)
        self.tokens: list[int] = []
        self.parents: list[int] = []  # parent slot, -1 for a child of the base
        self.depths: list[int] = []
        self.index: dict[tuple[int, int], int] = {}  # (parent slot, token) -> slot
        self.lp: list = []  # slot -> log-probabilities after it
        self.n_forward = 0

    @property
    def room(self) -> int:
        """Slots still free in the sequence's cache."""
        return self.seq.max_length - self.base - len(self.tokens)

    def covers(self, ctx: Sequence[int]) -> bool:
        """Whether ``ctx`` extends the base."""
        toks = self.seq.tokens
        return len(ctx) >= self.base and list(ctx[:self.base]) == toks

    def walk(self, ctx: Sequence[int]) -> list[int]:
        """The slots of ``ctx[base:]`` that exist, from the base down (stops at the first missing node)."""
        out, parent = [], -1
        for t in ctx[self.base:]:
            slot = self.index.get((parent, int(t)))
            if slot is None:
                break
            out.append(slot)
            parent = slot
        return out

    def _add(self, parent: int, token: int) -> int:
        """A new slot for ``token`` below ``parent``."""
        slot = len(self.tokens)
        self.tokens.append(int(token))
        self.parents.append(parent)
        self.depths.append(self.depths[parent] + 1 if parent >= 0 else 0)
        self.index[(parent, int(token))] = slot
        self.lp.append(None)
        return slot

    def _place(self, ctx: Sequence[int]) -> int:
        """Slots for the missing nodes of ``ctx`` (added in path order); the slot of its last token."""
        path = self.walk(ctx)
        parent = path[-1] if path else -1
        for t in ctx[self.base + len(path):]:
            parent = self._add(parent, t)
        return parent

    def new_slots(self, ctxs: Sequence[Sequence[int]]) -> int:
        """How many slots ``ctxs`` (each extending the base by at least one token) still need."""
        need, seen = 0, set()
        for ctx in ctxs:
            known = len(self.walk(ctx))
            rest = tuple(ctx[self.base:])
            for j in range(known, len(rest)):
                if rest[:j + 1] not in seen:
                    seen.add(rest[:j + 1])
                    need += 1
        return need

    def logprobs(self, ctxs: Sequence[Sequence[int]]) -> list[torch.Tensor]:
        """float32 ``[V]`` next-token log-probabilities after each context (each extends the base by at least one
        token and fits :attr:`room`: check :meth:`covers` and :meth:`new_slots`); every node not yet cached is
        computed in one forward pass."""
        start = len(self.tokens)
        ends = [self._place(ctx) for ctx in ctxs]
        if len(self.tokens) > start:
            self._forward(start)
        return [self.lp[s] for s in ends]

    def _mask(self, start: int) -> torch.Tensor:
        """Bool ``[new, base + slots]``: each new slot sees the base, its ancestors and itself."""
        import torch

        end = len(self.tokens)
        rows = []
        for slot in range(start, end):
            row = [False] * end
            while slot >= 0:
                row[slot] = True
                slot = self.parents[slot]
            rows.append(row)
        seen = torch.tensor(rows, dtype=torch.bool)
        return torch.cat([torch.ones(len(rows), self.base, dtype=torch.bool), seen], dim=1)

    def _forward(self, start: int) -> None:
        """Feed the slots from ``start`` on; store their log-probabilities."""
        model = self.seq.model
        ids = self.tokens[start:]
        positions = [self.base + d for d in self.depths[start:]]
        rows = model.forward_rows(self.seq, ids, positions, self.base + start, self._mask(start))
        self.lp[start:] = list(rows)
        self.n_forward += 1

    def adopt(self, ctx: Sequence[int]) -> int:
        """Move the slots of the longest known path of ``ctx`` into the base (``ctx`` must extend the base): copy their
        keys and values to the rows after the base and append their tokens to the sequence. The tree is spent
        afterwards. Returns the number of tokens adopted."""
        path = self.walk(ctx)
        if not path:
            return 0
        seq, b = self.seq, self.base
        src = [b + s for s in path]
        dst = list(range(b, b + len(path)))
        if src != dst:
            for kc, vc in zip(seq._k, seq._v):
                kc[:, dst] = kc[:, src]
                vc[:, dst] = vc[:, src]
        seq.tokens.extend(self.tokens[s] for s in path)
        seq._n = len(seq.tokens)
        seq._lp = self.lp[path[-1]]
        return len(path)
