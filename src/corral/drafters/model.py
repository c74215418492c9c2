"""A draft language model that shares the target's tokenizer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from corral.drafters.base import Drafter
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
    lazily in one forward pass).

    Parameters
    ----------
    model : LanguageModel
        The draft model (an HFModel or a ToyModel); its vocabulary must agree with the target's on every common id.
    cost : float
        Rough cost of one draft forward relative to one target forward (for the adaptive length policy).
    lean : bool
        Run a plain CPU GPT-2 through :class:`LeanGPT2` (same arithmetic, far less per-call overhead).
    """

    def __init__(self, model: LanguageModel, *, cost: float = 0.15, lean: bool = True) -> None:
        self.model = LeanGPT2(model) if lean and LeanGPT2.supports(model) else model
        self.cost = float(cost)
        self.seq = None
        self.n_forward = 0

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Open the draft sequence on the same context as the target."""
        self.seq = self.model.start(list(prompt_ids))

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
        self._sync(ctx)
        self.n_forward += 1
        lp = self.seq.logprobs()
        return Proposal("model", logprobs=lp)

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
        import torch.nn.functional as F

        p = seq._n
        n = len(ids)
        nh, hd = self.n_head, self.head_dim
        with torch.inference_mode():
            x = self.wte[ids] + self.wpe[p:p + n]
            if n > 1:
                mask = torch.ones(n, p + n, dtype=torch.bool).tril(diagonal=p)
            for li, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb) in enumerate(self.blocks):
                a = F.layer_norm(x, (self.n_embd,), l1w, l1b, self.eps)
                qkv = torch.addmm(ab, a, aw)
                q, k, v = qkv.split(self.n_embd, dim=1)
                kc, vc = seq._k[li], seq._v[li]
                kc[:, p:p + n] = k.view(n, nh, hd).transpose(0, 1)
                vc[:, p:p + n] = v.view(n, nh, hd).transpose(0, 1)
                qh = q.view(n, nh, hd).transpose(0, 1)
                att = F.scaled_dot_product_attention(
                    qh, kc[:, :p + n], vc[:, :p + n], attn_mask=mask if n > 1 else None)
                o = att.transpose(0, 1).reshape(n, self.n_embd)
                x = x + torch.addmm(pb, o, pw)
                m = F.layer_norm(x, (self.n_embd,), l2w, l2b, self.eps)
                m = F.gelu(torch.addmm(fb, m, fw), approximate="tanh")
                x = x + torch.addmm(mb, m, mw)
            h = F.layer_norm(x[-1:], (self.n_embd,), self.ln_f[0], self.ln_f[1], self.eps)
            logits = (h @ self.lm_head.T)[0]
            return torch.log_softmax(logits, dim=-1)

    def __repr__(self) -> str:
        return f"LeanGPT2(layers={len(self.blocks)}, n_embd={self.n_embd})"


class LeanSequence:
    """A token sequence of :class:`LeanGPT2` (``tokens``, ``logprobs``, ``append``, ``extend``, ``crop``)."""

    def __init__(self, model: LeanGPT2, tokens: list[int]) -> None:
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
