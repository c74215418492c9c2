"""Packed token masks for serving engines: int32 words, bit ``t % 32`` of word ``t // 32`` (the xgrammar / vLLM
layout), a batch of matchers' masks into one ``[B, ceil(V / 32)]`` array, and an in-place apply to logits.

``Matcher.mask_packed()`` returns a cached, read-only packed mask per state; :func:`fill_packed_masks` fills a
batch of them into one array (the masks not cached yet are computed by the compiled engine in one call with the GIL
released, so a caller can overlap them with the model's forward pass on another thread); :func:`apply_packed_mask_`
sets the logits of disallowed tokens to ``-inf`` in place.
"""

from __future__ import annotations

import numpy as np

__all__ = ["pack_mask", "unpack_mask", "packed_width", "fill_packed_masks", "apply_packed_mask_"]


def packed_width(vocab_size: int) -> int:
    """Words per packed mask: ``ceil(vocab_size / 32)``."""
    return (int(vocab_size) + 31) // 32


def pack_mask(mask: np.ndarray) -> np.ndarray:
    """bool ``[V]`` -> int32 ``[ceil(V / 32)]``, bit ``t % 32`` of word ``t // 32`` set iff ``mask[t]``.

    Parameters
    ----------
    mask : numpy.ndarray
        bool ``[V]``.

    Returns
    -------
    numpy.ndarray
        int32 ``[ceil(V / 32)]`` (a new array).
    """
    mask = np.asarray(mask, dtype=bool)
    words = packed_width(len(mask))
    padded = np.zeros(words * 32, dtype=bool)
    padded[: len(mask)] = mask
    return np.packbits(padded, bitorder="little").view("<i4").astype(np.int32, copy=False).copy()


def unpack_mask(packed: np.ndarray, vocab_size: int) -> np.ndarray:
    """The inverse of :func:`pack_mask`: int32 ``[..., W]`` -> bool ``[..., vocab_size]``."""
    packed = np.ascontiguousarray(packed, dtype=np.int32)
    bits = np.unpackbits(packed.view(np.uint8), axis=-1, bitorder="little").astype(bool)
    return bits[..., : int(vocab_size)]


def fill_packed_masks(matchers, out: np.ndarray | None = None) -> np.ndarray:
    """The packed masks of a batch of matchers, one row each, in one call.

    Masks cached for a matcher's state are copied; the others are computed by the compiled engine in one call per
    compiled grammar with the GIL released (:meth:`CompiledGrammar.fill_packed`), so a serving loop can overlap
    them with the model's forward pass on another thread. They are cached like ``Matcher.mask_packed()``'s.

    Parameters
    ----------
    matchers : sequence of Matcher
        Rows in order; all over vocabularies of the same size.
    out : numpy.ndarray, optional
        int32 ``[>= len(matchers), ceil(V / 32)]`` to fill (rows past ``len(matchers)`` are left as they are).

    Returns
    -------
    numpy.ndarray
        ``out`` (or a new int32 ``[len(matchers), ceil(V / 32)]``).
    """
    width = packed_width(matchers[0].vocab_size) if len(matchers) else 0
    if any(packed_width(m.vocab_size) != width for m in matchers):
        raise ValueError("fill_packed_masks: the matchers' vocabularies differ in size")
    if out is None:
        out = np.empty((len(matchers), width), dtype=np.int32)
    if out.dtype != np.int32 or out.ndim != 2 or out.shape[0] < len(matchers) or (len(matchers) and out.shape[1] != width):
        raise ValueError(f"out must be int32 [>= {len(matchers)}, {width}], got {out.dtype} {out.shape}")
    groups: dict = {}
    for row, m in enumerate(matchers):
        groups.setdefault(id(m.compiled), (m.compiled, [], []))
        _, states, rows = groups[id(m.compiled)]
        states.append(m._state)
        rows.append(row)
    for compiled, states, rows in groups.values():
        compiled.fill_packed(states, out, rows)
    return out


def apply_packed_mask_(logits, packed) -> None:
    """Set ``logits[..., t] = -inf`` for every token ``t`` whose bit is clear in ``packed``, in place.

    Parameters
    ----------
    logits : torch.Tensor or numpy.ndarray
        float ``[V]`` or ``[B, V]`` (``V`` may be smaller than ``32 * W``: the padding bits are ignored; logits
        past the packed width are masked too).
    packed : torch.Tensor or numpy.ndarray
        int32 ``[W]`` or ``[B, W]``, as :func:`fill_packed_masks` returns.
    """
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(logits, torch.Tensor):
        p = torch.as_tensor(packed, device=logits.device).to(torch.int32)
        shifts = torch.arange(32, device=logits.device, dtype=torch.int32)
        bits = ((p.unsqueeze(-1) >> shifts) & 1).reshape(*p.shape[:-1], -1).bool()
        v = logits.shape[-1]
        if bits.shape[-1] < v:
            bits = torch.nn.functional.pad(bits, (0, v - bits.shape[-1]), value=False)
        logits.masked_fill_(~bits[..., :v], float("-inf"))
        return
    arr = np.asarray(logits)
    allowed = unpack_mask(np.asarray(packed), arr.shape[-1])
    if allowed.shape[-1] < arr.shape[-1]:
        allowed = np.concatenate([allowed, np.zeros(allowed.shape[:-1] + (arr.shape[-1] - allowed.shape[-1],),
                                                    dtype=bool)], axis=-1)
    arr[~allowed] = -np.inf
