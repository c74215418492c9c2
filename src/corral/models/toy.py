"""Tiny explicit language models for exact tests and benchmarks.

A :class:`ToyModel` has the same interface as :class:`corral.models.hf.HFModel` (``vocab``, ``eos_token_ids``,
``max_length``, ``start``) and its :class:`ToySequence` the same as :class:`corral.models.hf.Sequence`
(``tokens``, ``logprobs``, ``append``, ``extend``, ``extend_scored``, ``crop``, ``fork``), so samplers run on it
unchanged. Its next-token law is an explicit function of the context, so the distribution of whole sequences can be
enumerated exactly, and it returns float64 log-probabilities (exact tests compare to 1e-12).

Two ways to define the law:

* ``ToyModel.random(token_bytes, seed=..., scale=...)``: logits drawn from a normal distribution seeded by a hash of
  ``(seed, context)``: every context gets its own fixed, reproducible law ("hash-seeded logits").
* ``ToyModel(token_bytes, logits_fn)``: any function ``context tuple -> logits`` (a table, a bigram model, ...).

EOS is an extra token appended after ``token_bytes`` (its id is ``len(token_bytes)``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence as SequenceABC

import numpy as np
import torch

from corral.errors import GenerationError
from corral.tokens.vocabulary import Vocabulary

__all__ = ["ToyModel", "ToySequence"]


class ToyModel:
    """A language model given by an explicit function of the context (a :class:`corral.protocols.LanguageModel`).

    Parameters
    ----------
    token_bytes : sequence of str or bytes
        The ordinary tokens; EOS is added after them with id ``len(token_bytes)``.
    logits_fn : callable
        ``logits_fn(context: tuple[int, ...]) -> array of len(token_bytes) + 1`` unnormalised log-weights over the
        vocabulary, EOS last. ``context`` holds every token of the sequence so far, prompt included. ``-inf`` is
        allowed (a token the model never emits).
    max_length : int, optional
        Context length; ``None`` for unlimited.

    Attributes
    ----------
    vocab : Vocabulary
    eos_token_ids : frozenset of int
    eos_token_id : int
    bos_token_id : int
        Used for an empty prompt (the EOS id, as GPT-2 does).
    max_length : int or None
    n_forward : int
        Number of forward passes so far (one per :meth:`ToySequence.logprobs` that computes, or per
        :meth:`ToySequence.extend_scored` / :meth:`ToyModel.logprobs_batch` call), for tests of batching.
    """

    def __init__(self, token_bytes, logits_fn: Callable[[tuple], np.ndarray], *, max_length: int | None = None):
        toks = [t.encode("utf-8") if isinstance(t, str) else bytes(t) for t in token_bytes]
        self.eos_token_id = len(toks)
        self.vocab = Vocabulary.from_token_bytes([*toks, None], [self.eos_token_id])
        self.eos_token_ids = frozenset({self.eos_token_id})
        self.bos_token_id = self.eos_token_id
        self.max_length = max_length
        self._logits_fn = logits_fn
        self.n_forward = 0
        self._memo: dict[tuple, torch.Tensor] = {}

    @classmethod
    def random(cls, token_bytes, *, seed: int = 0, scale: float = 1.0, eos_bias: float = 0.0,
               max_length: int | None = None) -> "ToyModel":
        """A model whose logits are ``scale * N(0, 1)`` draws seeded by a hash of ``(seed, context)``.

        Parameters
        ----------
        token_bytes : sequence of str or bytes
        seed : int
        scale : float
            Standard deviation of the logits (larger: peakier laws).
        eos_bias : float
            Added to the EOS logit.
        max_length : int, optional
        """
        n = len(token_bytes) + 1

        def logits(ctx: tuple) -> np.ndarray:
            digest = hashlib.sha256(repr((seed, ctx)).encode()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            out = scale * rng.standard_normal(n)
            out[-1] += eos_bias
            return out

        return cls(token_bytes, logits, max_length=max_length)

    def logprobs_of(self, context) -> torch.Tensor:
        """float64 log-softmax of the next token after ``context`` (a sequence of token ids); memoised."""
        key = tuple(int(t) for t in context)
        hit = self._memo.get(key)
        if hit is None:
            logits = torch.as_tensor(np.asarray(self._logits_fn(key), dtype=np.float64))
            if logits.shape != (self.vocab.size,):
                raise ValueError(f"logits_fn returned shape {tuple(logits.shape)}, expected ({self.vocab.size},)")
            hit = torch.log_softmax(logits, dim=-1)
            self._memo[key] = hit
        return hit

    def start(self, prompt_ids: SequenceABC[int] = ()) -> ToySequence:
        """Open a sequence on a prompt (an empty prompt starts from ``bos_token_id``)."""
        ids = [int(t) for t in prompt_ids] or [self.bos_token_id]
        if self.max_length is not None and len(ids) > self.max_length:
            raise GenerationError(f"the prompt has {len(ids)} tokens but the context holds {self.max_length}")
        return ToySequence(self, ids)

    def logprobs_batch(self, seqs: SequenceABC["ToySequence"]) -> torch.Tensor:
        """Next-token log-probabilities of several sequences in one (counted) forward pass: ``[len(seqs), V]``."""
        self.n_forward += 1
        return torch.stack([self.logprobs_of(s.tokens) for s in seqs])

    def encode(self, text: str) -> list[int]:
        """Greedy longest-match tokenization of ``text`` (for prompts in tests)."""
        data = text.encode("utf-8")
        ids, i = [], 0
        by_len = sorted(((b, t) for t, b in enumerate(self.vocab.token_bytes) if b), key=lambda x: -len(x[0]))
        while i < len(data):
            for b, t in by_len:
                if data.startswith(b, i):
                    ids.append(t)
                    i += len(b)
                    break
            else:
                raise ValueError(f"cannot tokenize {text!r} at byte {i}")
        return ids

    def __repr__(self) -> str:
        return f"ToyModel(vocab={self.vocab.size})"


class ToySequence:
    """A token sequence of a :class:`ToyModel` (a :class:`corral.protocols.ModelSequence`, like
    :class:`corral.models.hf.Sequence`)."""

    def __init__(self, model: ToyModel, tokens: list[int]) -> None:
        self.model = model
        self.tokens = list(tokens)
        self.prompt_length = len(self.tokens)

    @property
    def max_length(self) -> int | None:
        """The model's context length."""
        return self.model.max_length

    def __len__(self) -> int:
        return len(self.tokens)

    def logprobs(self) -> torch.Tensor:
        """float64 ``[V]`` log-probabilities of the next token (counts one forward pass)."""
        if self.max_length is not None and len(self.tokens) > self.max_length:
            raise GenerationError(f"the sequence has {len(self.tokens)} tokens but the context holds {self.max_length}")
        self.model.n_forward += 1
        return self.model.logprobs_of(self.tokens)

    def append(self, token: int) -> None:
        """Append one token."""
        self.tokens.append(int(token))

    def extend(self, tokens: SequenceABC[int]) -> None:
        """Append several tokens."""
        self.tokens.extend(int(t) for t in tokens)

    def extend_scored(self, tokens: SequenceABC[int]) -> torch.Tensor:
        """Append ``tokens`` and return the next-token log-probabilities at each of the ``len(tokens) + 1`` positions.

        Row ``i`` is the law of the token after ``tokens[:i]`` (row 0: after the sequence as it was). One forward
        pass, as in speculative verification.
        """
        tokens = [int(t) for t in tokens]
        self.model.n_forward += 1
        rows = [self.model.logprobs_of(self.tokens + tokens[:i]) for i in range(len(tokens) + 1)]
        self.tokens.extend(tokens)
        return torch.stack(rows)

    def extend_tree(self, tokens: SequenceABC[int], parents: SequenceABC[int]) -> torch.Tensor:
        """Score a draft tree in one (counted) forward pass, as :meth:`corral.models.hf.Sequence.extend_tree`.

        Node ``i`` holds ``tokens[i]`` after node ``parents[i]`` (``-1``: after the sequence; parents come first).
        Row 0 is the law after the sequence, row ``i + 1`` the law after node ``i``. The tokens are unchanged
        until :meth:`keep_tree_path`.
        """
        ctx: list[list[int]] = []
        for t, p in zip(tokens, parents):
            ctx.append((self.tokens if p < 0 else ctx[p]) + [int(t)])
        self.model.n_forward += 1
        self._tree = (list(tokens), list(parents))
        return torch.stack([self.model.logprobs_of(c) for c in [self.tokens, *ctx]])

    def keep_tree_path(self, nodes: SequenceABC[int]) -> None:
        """After :meth:`extend_tree`, append the tokens of ``nodes`` (a path down from a root child)."""
        tokens, parents = self._tree
        for prev, i in zip([-1, *nodes], nodes):
            if parents[i] != prev:
                raise ValueError(f"nodes {list(nodes)} are not a path from the root")
        self.extend(tokens[i] for i in nodes)

    def crop(self, n: int) -> None:
        """Drop the last ``n`` tokens."""
        n = int(n)
        if n < 0 or n > len(self.tokens):
            raise ValueError(f"cannot crop {n} tokens from a sequence of {len(self.tokens)}")
        if n:
            del self.tokens[len(self.tokens) - n:]
            self.prompt_length = min(self.prompt_length, len(self.tokens))

    def fork(self) -> "ToySequence":
        """An independent copy."""
        other = ToySequence(self.model, self.tokens)
        other.prompt_length = self.prompt_length
        return other

    def __repr__(self) -> str:
        return f"ToySequence(len={len(self.tokens)}, prompt={self.prompt_length})"
