"""Masked (locally constrained) sampling.

At each step the model's next-token law is restricted to the tokens the constraint allows (the matcher's mask),
renormalized, tempered, truncated by top-k and top-p, and sampled. Every sampled token is allowed by the mask, so
the output is always valid when generation reaches EOS. The law is *locally* constrained: it is not the model's law
conditioned on the constraint (that is what the SMC samplers are for), which is why each step also reports the
token's log-probability under the raw model.

All arithmetic on the allowed set is done on the CPU with numpy in float64, over the allowed ids only; the only
randomness is one uniform draw per token from a ``torch.Generator``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch

from corral.errors import ConfigurationError, GenerationError
from corral.samplers.steps import Step

if TYPE_CHECKING:  # pragma: no cover - typing only
    from numpy.typing import ArrayLike

    from corral.protocols import ConstraintState, ModelSequence

__all__ = [
    "SampleOutput",
    "constrained_law",
    "constrained_logprobs",
    "sample_sequence",
    "sample_token",
    "validate_sampling",
]

DEAD_END = "no allowed token: the constraint has a dead end"


def checked_logprobs(logprobs):
    """``logprobs`` when it holds no NaN and no ``+inf`` (``-inf``, a zero probability, is fine); else a
    ``GenerationError``: the model's output is broken (an overflow, bad weights), and sampling from it is undefined.

    Every sampler passes the model's next-token log-probabilities (rows of a block or a batch too) through this.
    """
    if not bool((logprobs < float("inf")).all()):
        raise GenerationError("the model returned NaN or +inf log-probabilities (broken weights or an overflow "
                              "in its forward pass); nothing can be sampled from them")
    return logprobs


def validate_sampling(temperature: float | None = 1.0, top_k: int | None = None, top_p: float | None = None) -> None:
    """Check sampling parameters.

    Parameters
    ----------
    temperature : float or None
        ``>= 0``; 0 or ``None`` means greedy.
    top_k : int or None
        ``>= 1`` when given.
    top_p : float or None
        In ``(0, 1]`` when given.

    Raises
    ------
    ValueError
        A parameter is out of range.
    """
    if temperature is not None and (not np.isfinite(temperature) or temperature < 0):
        raise ConfigurationError(f"temperature must be a finite number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) != top_k or top_k < 1):
        raise ConfigurationError(f"top_k must be an integer >= 1, got {top_k!r}")
    if top_p is not None and not (0 < top_p <= 1):
        raise ConfigurationError(f"top_p must be in (0, 1], got {top_p!r}")


_TOP_P_CANDIDATES = (1024, 8192)  # top-p first sorts only the most likely tokens (then falls back to a full sort)


def _mask_array(mask: ArrayLike, size: int) -> np.ndarray:
    """``mask`` as a bool vector of ``size`` entries (trimmed, or padded with ``False``)."""
    m = np.asarray(mask, dtype=bool).reshape(-1)
    if m.size > size:
        m = m[:size]
    elif m.size < size:
        m = np.concatenate([m, np.zeros(size - m.size, dtype=bool)])
    return m


def _as_numpy(logprobs: torch.Tensor | ArrayLike) -> np.ndarray:
    """Log-probabilities (torch tensor or array) as a float32 numpy vector."""
    if isinstance(logprobs, torch.Tensor):
        return logprobs.detach().reshape(-1).to("cpu", torch.float32).numpy()
    return np.asarray(logprobs, dtype=np.float32).reshape(-1)


def _log_normalize(x: np.ndarray) -> np.ndarray:
    """``x`` shifted to a normalised log law (``logsumexp == 0``)."""
    x = x - x.max()
    return x - np.log(np.exp(x).sum())


def _top_p_keep(logp: np.ndarray, top_p: float) -> np.ndarray:
    """Bool mask of the tokens kept by nucleus truncation (decreasing probability, ties by increasing index)."""
    n = logp.size
    p = np.exp(logp)
    keep = np.zeros(n, dtype=bool)
    for m in _TOP_P_CANDIDATES:
        if m >= n:
            break
        cand = np.sort(np.argpartition(-p, m - 1)[:m])
        order = cand[np.argsort(-p[cand], kind="stable")]
        ps = p[order]
        before = np.cumsum(ps) - ps
        n_keep = int(np.count_nonzero(before < top_p))
        # Valid when the cut falls inside the candidates and strictly above their smallest value: every token
        # outside the candidates is then less likely than every kept one.
        if n_keep < m and ps[n_keep - 1] > ps[-1]:
            keep[order[:n_keep]] = True
            return keep
    order = np.argsort(-p, kind="stable")
    ps = p[order]
    before = np.cumsum(ps) - ps
    keep_sorted = before < top_p
    keep_sorted[0] = True
    keep[order] = keep_sorted
    return keep


def constrained_law(logprobs: torch.Tensor | np.ndarray, mask: np.ndarray | None, *, temperature: float | None = 1.0,
                    top_k: int | None = None, top_p: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The law that :func:`sample_token` samples from, on its support.

    Parameters
    ----------
    logprobs : torch.Tensor or numpy.ndarray
        float ``[V]`` next-token log-probabilities of the model.
    mask : numpy.ndarray or None
        bool; ``True`` = allowed. Trimmed or padded with ``False`` to ``V``. ``None`` allows every token.
    temperature : float or None
        0 or ``None``: greedy (a point mass on the allowed token of highest log-probability, lowest id on ties).
    top_k : int or None
        Keep the allowed tokens whose tempered log-probability is at least the k-th largest (ties at the boundary
        are all kept).
    top_p : float or None
        Then keep the smallest prefix, in decreasing probability order (ties by increasing id), whose mass reaches
        ``top_p``: a token is kept when the mass strictly before it is ``< top_p``.

    Returns
    -------
    ids : numpy.ndarray
        int64 token ids of the support, increasing.
    logp : numpy.ndarray
        float64 log-probabilities of those ids; ``exp(logp).sum() == 1``.

    Raises
    ------
    GenerationError
        No token is allowed, or every allowed token has probability zero under the model.
    """
    validate_sampling(temperature, top_k, top_p)
    lp = _as_numpy(logprobs)
    if mask is None:
        ids = np.arange(lp.size)
    else:
        ids = np.flatnonzero(_mask_array(mask, lp.size))
    if ids.size == 0:
        raise GenerationError(DEAD_END)
    vals = lp[ids].astype(np.float64)
    finite = vals > -np.inf  # also drops NaN
    if not finite.all():
        if not finite.any():
            raise GenerationError("every allowed token has probability zero under the model")
        ids, vals = ids[finite], vals[finite]
    if not temperature:  # 0 or None: greedy
        best = int(np.argmax(vals))
        return ids[best : best + 1], np.zeros(1)
    logp = _log_normalize(vals / float(temperature))
    if top_k is not None and int(top_k) < logp.size:
        k = int(top_k)
        kth = np.partition(logp, logp.size - k)[logp.size - k]
        keep = logp >= kth
        ids, logp = ids[keep], _log_normalize(logp[keep])
    if top_p is not None and top_p < 1 and logp.size > 1:
        keep = _top_p_keep(logp, float(top_p))
        ids, logp = ids[keep], _log_normalize(logp[keep])
    return ids, logp


def constrained_logprobs(logprobs: torch.Tensor | np.ndarray, mask: np.ndarray | None, *,
                         temperature: float | None = 1.0, top_k: int | None = None,
                         top_p: float | None = None) -> np.ndarray:
    """The sampling law of :func:`sample_token` as a dense vector.

    Parameters
    ----------
    logprobs, mask, temperature, top_k, top_p
        As in :func:`constrained_law`.

    Returns
    -------
    numpy.ndarray
        float64 ``[V]``, ``-inf`` outside the support.
    """
    lp = _as_numpy(logprobs)
    ids, logp = constrained_law(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p)
    out = np.full(lp.size, -np.inf)
    out[ids] = logp
    return out


def sample_token(logprobs: torch.Tensor | np.ndarray, mask: np.ndarray | None, *, temperature: float | None = 1.0,
                 top_k: int | None = None, top_p: float | None = None,
                 generator: torch.Generator | None = None) -> tuple[int, float, float]:
    """Sample one token under a mask.

    Parameters
    ----------
    logprobs : torch.Tensor or numpy.ndarray
        float ``[V]`` next-token log-probabilities of the model.
    mask : numpy.ndarray or None
        bool allowed tokens (see :func:`constrained_law`).
    temperature, top_k, top_p
        See :func:`constrained_law`.
    generator : torch.Generator or None
        CPU generator (one uniform draw per sampled token); ``None`` uses torch's global generator.

    Returns
    -------
    token : int
        An allowed token.
    logprob : float
        Its log-probability under the constrained, tempered and truncated law it was drawn from (0 when greedy).
    model_logprob : float
        Its log-probability under the raw model (``logprobs[token]``).

    Raises
    ------
    GenerationError
        No token is allowed.
    """
    lp = _as_numpy(logprobs)
    ids, logp = constrained_law(lp, mask, temperature=temperature, top_k=top_k, top_p=top_p)
    if ids.size == 1:
        i = 0
    else:
        cdf = np.cumsum(np.exp(logp))
        u = float(torch.rand(1, generator=generator, dtype=torch.float64)) * cdf[-1]
        i = min(int(np.searchsorted(cdf, u, side="right")), ids.size - 1)
    token = int(ids[i])
    return token, float(logp[i]), float(lp[token])


@dataclass
class SampleOutput:
    """What :func:`sample_sequence` returns.

    Attributes
    ----------
    tokens : list of int
        The generated tokens; ends with the EOS token when ``status == "complete"``.
    status : str
        ``"complete"`` (EOS was sampled) or ``"length"`` (``max_tokens`` or the model's context ran out first).
    logprob : float
        Sum of the tokens' log-probabilities under the sampling law.
    model_logprob : float
        Sum of the tokens' log-probabilities under the raw model.
    first_token_s : float
        Seconds until the first token was sampled (prefill, first mask and sampling).
    steps : list of Step
        One :class:`~corral.samplers.steps.Step` per token: its raw model log-probability and the number of tokens
        the mask allowed (``None`` without a matcher).
    """

    tokens: list[int] = field(default_factory=list)
    status: str = "length"
    logprob: float = 0.0
    model_logprob: float = 0.0
    first_token_s: float = 0.0
    steps: list[Step] = field(default_factory=list)


def sample_into(out: SampleOutput, logprobs: torch.Tensor | np.ndarray, mask: np.ndarray | None, t0: float, *,
                temperature: float | None, top_k: int | None, top_p: float | None,
                generator: torch.Generator | None) -> tuple[int, float]:
    """One masked step (:func:`sample_token`) recorded in ``out``: the token appended to ``out.tokens``, its law
    log-probability added to ``out.logprob``, ``out.first_token_s`` (since ``t0``) set on the first token.

    Returns
    -------
    (token, model_logprob)
        The token and its raw model log-probability (``logprobs[token]``).
    """
    token, lp, model_lp = sample_token(logprobs, mask, temperature=temperature, top_k=top_k, top_p=top_p,
                                       generator=generator)
    if not out.tokens:
        out.first_token_s = time.perf_counter() - t0
    out.tokens.append(token)
    out.logprob += lp
    return token, model_lp


def stream_token(out: SampleOutput, token: int, on_tokens: Callable[[list[int]], None] | None,
                 eos: Collection[int]) -> bool:
    """Pass ``[token]`` to ``on_tokens`` (when given); whether ``token`` is EOS (``out.status`` is then
    ``"complete"``)."""
    if on_tokens is not None:
        on_tokens([token])
    if token in eos:
        out.status = "complete"
        return True
    return False


def sample_sequence(
    seq: ModelSequence,
    matcher: ConstraintState | None,
    *,
    max_tokens: int,
    temperature: float | None = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    generator: torch.Generator | None = None,
    eos_token_ids: Collection[int] | None = None,
    on_tokens: Callable[[list[int]], None] | None = None,
) -> SampleOutput:
    """Generate with masked sampling until EOS or ``max_tokens``.

    Each step: ``matcher.mask()`` -> :func:`sample_token` -> ``matcher.advance(token)``. The matcher's mask allows
    EOS exactly when the text so far is complete, so stopping on EOS yields a valid text.

    Parameters
    ----------
    seq : ModelSequence
        Sequence positioned after the prompt; the generated tokens (EOS excluded) are appended to it.
    matcher : ConstraintState or None
        The constraint (``mask()``, ``advance(token)``); ``None`` generates freely.
    max_tokens : int
        Most tokens to generate, EOS included.
    temperature, top_k, top_p
        See :func:`constrained_law`.
    generator : torch.Generator or None
        Source of randomness.
    eos_token_ids : collection of int, optional
        Defaults to ``seq.model.eos_token_ids``.
    on_tokens : callable, optional
        Called with ``[token]`` as each token (EOS included) is sampled, before the next forward pass (streaming,
        :mod:`corral.streaming`); an exception it raises stops generation and propagates.

    Returns
    -------
    SampleOutput
    """
    validate_sampling(temperature, top_k, top_p)
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise ConfigurationError(f"max_tokens must be an integer >= 0, got {max_tokens!r}")
    eos = frozenset(seq.model.eos_token_ids if eos_token_ids is None else eos_token_ids)
    limit = seq.max_length
    out = SampleOutput()
    t0 = time.perf_counter()
    for _ in range(int(max_tokens)):
        if limit is not None and len(seq.tokens) > limit:
            break  # the context is full: the last token cannot be fed
        logprobs = checked_logprobs(seq.logprobs())
        mask = matcher.mask() if matcher is not None else None
        token, model_lp = sample_into(out, logprobs, mask, t0, temperature=temperature, top_k=top_k, top_p=top_p,
                                      generator=generator)
        out.model_logprob += model_lp
        out.steps.append(Step(token, model_lp, None if mask is None else int(np.count_nonzero(mask))))
        if matcher is not None:
            matcher.advance(token)
        if stream_token(out, token, on_tokens, eos):
            break
        seq.append(token)
    return out
