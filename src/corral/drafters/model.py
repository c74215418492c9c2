"""A draft language model that shares the target's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from corral.drafters.base import Drafter
from corral.drafters.lean_batch import LeanSequence, LeanTree, common_prefix
from corral.protocols import Proposal

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from corral.models.hf import HFModel
    from corral.protocols import ConstraintState, LanguageModel

__all__ = ["ModelDrafter"]


class ModelDrafter(Drafter):
    """Draft with a (smaller) language model: each proposal is its next-token distribution.

    The draft model keeps its own sequence (KV cache). Before each proposal the sequence is synchronised with the
    context: tokens that the verifier rejected are cropped, committed and drafted tokens are appended (computed
    lazily in one forward pass). With the lean runner, :meth:`propose_many` evaluates the branches of a draft tree
    together (:class:`~corral.drafters.lean_batch.LeanTree`: one forward per depth), and the next proposal keeps the
    accepted branch's keys and values instead of recomputing them.

    Parameters
    ----------
    model : LanguageModel
        The draft model (an HFModel or a ToyModel); its vocabulary must agree with the target's on every common id.
    cost : float
        Rough cost of one draft forward relative to one target forward (for the adaptive length policy).
    lean : bool
        Run a plain CPU GPT-2 through :class:`LeanGPT2` (same arithmetic, far less per-call overhead).

    Attributes
    ----------
    n_forward : int
        Draft-model passes so far (a batched pass over several branches counts once).
    n_proposed : int
        Proposals so far (one per context).
    """

    def __init__(self, model: LanguageModel, *, cost: float = 0.15, lean: bool = True) -> None:
        self.model = LeanGPT2(model) if lean and LeanGPT2.supports(model) else model
        self.cost = float(cost)
        self.seq = None
        self.tree: LeanTree | None = None
        self.n_forward = 0
        self.n_proposed = 0

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Open the draft sequence on the same context as the target."""
        self.seq = self.model.start(list(prompt_ids))
        self.tree = None

    def _sync(self, ctx: list[int]) -> None:
        """Make the draft sequence hold ``ctx``: crop what differs, append what is new (computed lazily)."""
        seq = self.seq
        toks = seq.tokens
        n = len(toks)
        if n <= len(ctx) and toks == ctx[:n]:
            if n < len(ctx):
                seq.extend(ctx[n:])
            return
        k = 0
        m = min(n, len(ctx))
        while k < m and toks[k] == ctx[k]:
            k += 1
        if k == 0:  # nothing in common (a new prompt): reopen
            self.seq = self.model.start(list(ctx))
            return
        seq.crop(n - k)
        seq.extend(ctx[k:])

    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """The draft model's log-probabilities after ``ctx`` (``None`` past its context length)."""
        if self.seq is None:
            self.begin(ctx)
        limit = self.model.max_length
        if limit is not None and len(ctx) > limit:
            return None
        self._settle(ctx)
        self._sync(ctx)
        self.n_forward += 1
        self.n_proposed += 1
        lp = self.seq.logprobs()
        return Proposal("model", logprobs=lp)

    def propose_many(self, ctxs: Sequence[list[int]], matchers: Sequence[ConstraintState | None],
                     masks: Sequence[np.ndarray | None]) -> list[Proposal | None]:
        """The draft model's log-probabilities after each context: with the lean runner, branches that share a
        prefix in one batched forward (their prefix's cache is shared); otherwise one :meth:`propose` each."""
        tree = self._tree_for(ctxs)
        if tree is None:
            return super().propose_many(ctxs, matchers, masks)
        before = tree.n_forward
        lps = tree.logprobs(ctxs)
        self.n_forward += tree.n_forward - before
        self.n_proposed += len(ctxs)
        return [Proposal("model", logprobs=lp) for lp in lps]

    def _tree_for(self, ctxs: Sequence[list[int]]) -> LeanTree | None:
        """The tree that evaluates ``ctxs`` together (the current one when it holds their common prefix, else a new
        one on it), or ``None``: one at a time (a single context, not the lean runner, no common prefix, too long)."""
        if len(ctxs) < 2 or not isinstance(self.model, LeanGPT2) or max(map(len, ctxs)) > self.model.max_length:
            return None
        tree = self.tree
        if tree is None or tree.seq is not self.seq or not all(len(c) > tree.base and tree.covers(c) for c in ctxs):
            base = common_prefix(ctxs)
            if base == 0 or any(len(c) == base for c in ctxs):
                return None
            self._prepare(list(ctxs[0][:base]))
            tree = self.tree = LeanTree(self.seq)
        return tree if tree.new_slots(ctxs) <= tree.room else None

    def _prepare(self, ctx: list[int]) -> None:
        """Make the sequence hold ``ctx`` with every token cached (the base of a new tree)."""
        if self.seq is None:
            self.begin(ctx)
        self._settle(ctx)
        self._sync(ctx)
        if not self.seq.ready:
            self.n_forward += 1
            self.seq.logprobs()

    def _settle(self, ctx: list[int]) -> None:
        """Before the sequence changes: keep the tree's nodes that ``ctx`` follows (their keys and values move into
        the sequence), then drop the tree."""
        tree, self.tree = self.tree, None
        if tree is not None and tree.seq is self.seq and tree.covers(ctx):
            tree.adopt(ctx)

    def __repr__(self) -> str:
        return f"ModelDrafter({self.model!r})"


def pad_logprobs(lp: np.ndarray, size: int) -> np.ndarray:
    """Trim or pad (with -inf) a log-probability vector to ``size`` entries."""
    if lp.size == size:
        return lp
    if lp.size > size:
        return lp[:size]
    return np.concatenate([lp, np.full(size - lp.size, -np.inf)])


class LeanGPT2:
    """A minimal incremental GPT-2 forward (pure torch, preallocated KV cache) for cheap drafting on CPU.

    Hugging Face's generic forward costs a few milliseconds of Python overhead per call, which dominates tiny draft
    models; this runner does the same arithmetic as ``GPT2LMHeadModel`` (pre-LN blocks, ``gelu_new``, tied
    embeddings) in about twenty tensor operations per layer. It is only a drafter's engine: the target is always
    the Hugging Face model, so a numerical difference could change speed, never the output law.

    Parameters
    ----------
    hf_model : HFModel
        An :class:`~corral.models.hf.HFModel` wrapping a ``GPT2LMHeadModel``.
    """

    def __init__(self, hf_model: HFModel) -> None:
        import torch

        net = hf_model.model
        cfg = net.config
        self.vocab = hf_model.vocab
        self.eos_token_ids = hf_model.eos_token_ids
        self.bos_token_id = hf_model.bos_token_id
        self.max_length = hf_model.max_length or int(cfg.n_positions)
        self.n_head = int(cfg.n_head)
        self.eps = float(cfg.layer_norm_epsilon)
        tr = net.transformer
        with torch.no_grad():
            self.wte = tr.wte.weight.detach().float()
            self.wpe = tr.wpe.weight.detach().float()
            self.lm_head = net.lm_head.weight.detach().float()
            self.blocks = []
            for b in tr.h:
                self.blocks.append(tuple(t.detach().float() for t in (
                    b.ln_1.weight, b.ln_1.bias, b.attn.c_attn.weight, b.attn.c_attn.bias, b.attn.c_proj.weight,
                    b.attn.c_proj.bias, b.ln_2.weight, b.ln_2.bias, b.mlp.c_fc.weight, b.mlp.c_fc.bias,
                    b.mlp.c_proj.weight, b.mlp.c_proj.bias)))
            self.ln_f = (tr.ln_f.weight.detach().float(), tr.ln_f.bias.detach().float())
        self.n_embd = self.wte.shape[1]
        self.head_dim = self.n_embd // self.n_head

    @staticmethod
    def supports(hf_model: LanguageModel) -> bool:
        """Whether ``hf_model`` is a plain CPU GPT-2 this runner reproduces."""
        net = getattr(hf_model, "model", None)
        cfg = getattr(net, "config", None)
        return (
            cfg is not None
            and getattr(cfg, "model_type", None) == "gpt2"
            and getattr(cfg, "activation_function", None) in ("gelu_new", "gelu_pytorch_tanh")
            and not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
            and not getattr(cfg, "reorder_and_upcast_attn", False)
            and getattr(cfg, "scale_attn_weights", True)
            and str(getattr(hf_model, "device", "cpu")) == "cpu"
            and hasattr(net, "transformer") and hasattr(net, "lm_head")
        )

    def start(self, prompt_ids: Sequence[int]) -> LeanSequence:
        """Open a sequence (an empty prompt starts from BOS)."""
        return LeanSequence(self, [int(t) for t in prompt_ids] or [int(self.bos_token_id)])

    def _forward(self, seq: LeanSequence, ids: list[int]) -> torch.Tensor:
        """Feed ``ids`` after the sequence's cached positions; the log-probabilities after the last one."""
        import torch

        p, n = seq._n, len(ids)
        with torch.inference_mode():
            x = self.wte[ids] + self.wpe[p:p + n]
            mask = torch.ones(n, p + n, dtype=torch.bool).tril(diagonal=p) if n > 1 else None
            return self._head(self._blocks(seq, x, p, mask)[-1:])[0]

    def forward_rows(self, seq: LeanSequence, ids: list[int], positions: list[int], at: int,
                     mask: torch.Tensor) -> torch.Tensor:
        """Feed ``ids`` at ``positions`` into cache rows ``at, at + 1, ...`` of ``seq``, row ``i`` attending to the
        cache rows ``j < at + len(ids)`` with ``mask[i, j]`` (a tree of branches:
        :class:`~corral.drafters.lean_batch.LeanTree`); float32 ``[len(ids), V]`` log-probabilities after each."""
        import torch

        with torch.inference_mode():
            x = self.wte[ids] + self.wpe[positions]
            return self._head(self._blocks(seq, x, at, mask))

    def _blocks(self, seq: LeanSequence, x: torch.Tensor, at: int, mask: torch.Tensor | None) -> torch.Tensor:
        """The transformer blocks on input rows ``x`` (their keys and values written to cache rows ``at`` on,
        attention over the rows before ``at + len(x)``)."""
        import torch
        import torch.nn.functional as F

        n = x.shape[0]
        nh, hd = self.n_head, self.head_dim
        for li, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb) in enumerate(self.blocks):
            a = F.layer_norm(x, (self.n_embd,), l1w, l1b, self.eps)
            q, k, v = torch.addmm(ab, a, aw).split(self.n_embd, dim=1)
            kc, vc = seq._k[li], seq._v[li]
            kc[:, at:at + n] = k.view(n, nh, hd).transpose(0, 1)
            vc[:, at:at + n] = v.view(n, nh, hd).transpose(0, 1)
            qh = q.view(n, nh, hd).transpose(0, 1)
            att = F.scaled_dot_product_attention(qh, kc[:, :at + n], vc[:, :at + n], attn_mask=mask)
            x = x + torch.addmm(pb, att.transpose(0, 1).reshape(n, self.n_embd), pw)
            m = F.layer_norm(x, (self.n_embd,), l2w, l2b, self.eps)
            x = x + torch.addmm(mb, F.gelu(torch.addmm(fb, m, fw), approximate="tanh"), mw)
        return x

    def _head(self, h: torch.Tensor) -> torch.Tensor:
        """Final layer norm, tied output embedding and log-softmax of hidden rows ``h``."""
        import torch
        import torch.nn.functional as F

        h = F.layer_norm(h, (self.n_embd,), self.ln_f[0], self.ln_f[1], self.eps)
        return torch.log_softmax(h @ self.lm_head.T, dim=-1)

    def __repr__(self) -> str:
        return f"LeanGPT2(layers={len(self.blocks)}, n_embd={self.n_embd})"
