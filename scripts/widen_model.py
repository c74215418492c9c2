"""Widen a GPT-2 checkpoint by an integer factor without changing what it computes.

A cost proxy for speculative decoding: ``python scripts/widen_model.py src/corral/data/default/target
/tmp/wide/target --factor 4`` writes a GPT-2 whose hidden and MLP widths are four times the embedded target's (16x
the parameters: 3.8M -> 55M, 220 MB in float32) and whose next-token law is the embedded target's up to float
rounding. The embedded draft model agrees with it exactly as much as with the embedded target, so
``benchmarks/speculative.py --target /tmp/wide/target`` measures what speculation gains when only the target's cost
changes, with the acceptance rates held fixed. It is not a better model (the same function at 16x the cost);
``benchmarks/gpu_speculative.sh`` trains a genuinely larger target where a GPU makes that affordable.

What it showed on the 2-core CPU of this project (benchmarks/README.md, speculative section): a pass over a 5-token
block of the widened target costs 2.6-2.9x a one-token pass (the thin matrix products of a short block are compute
bound there, one thread), where speculative decoding's premise (and the GPU's regime) is a block costing about
one pass; so a larger target does not bring this CPU closer to that regime.

The construction (Net2Net-style, every unit copied ``factor`` times in place, ``repeat_interleave``): with ``R`` the
``[d, f d]`` copy matrix (``R R^T = f I``), embeddings become ``E R``, LayerNorm parameters ``w R`` (a vector whose
entries each appear ``f`` times has the same mean and variance, so LayerNorm commutes with the copy), and every linear
map ``W`` (``y = x W``) becomes ``R^T W R / f``. The heads keep their number, so each new head is an old head's units
copied: its query/key dot product grows by ``f`` while the ``1 / sqrt(head_dim)`` scale shrinks by ``sqrt(f)``, so the
query block is divided by ``sqrt(f)`` more. The output head is untied (``E R / f``), since the input embedding keeps
the copies at full scale.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
from pathlib import Path

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json")


def _copy(t, dims: tuple[int, ...], factor: int, divide_rows: bool):
    """``t`` with each unit along ``dims`` copied ``factor`` times in place; rows (dim 0) divided by ``factor`` when
    they are the input side of a linear map."""
    for dim in dims:
        t = t.repeat_interleave(factor, dim=dim)
    return t / factor if divide_rows else t


def _widen_attention(w, b, d: int, factor: int):
    """``c_attn`` (``[d, 3d]`` = query, key, value blocks): each block copied, the query scaled by ``1/sqrt(f)``."""
    import torch

    scale = (1.0 / math.sqrt(factor), 1.0, 1.0)
    ws = [_copy(w[:, i * d:(i + 1) * d], (0, 1), factor, True) * s for i, s in enumerate(scale)]
    bs = [_copy(b[i * d:(i + 1) * d], (0,), factor, False) * s for i, s in enumerate(scale)]
    return torch.cat(ws, dim=1), torch.cat(bs)


def widen_state(state: dict, n_embd: int, factor: int) -> dict:
    """The widened parameters of a ``GPT2LMHeadModel`` state dict (hidden width ``n_embd``); the result has an
    untied ``lm_head.weight``."""
    out = {}
    for name, t in state.items():
        if name.endswith("attn.c_attn.weight"):
            bias = state[name[:-len("weight")] + "bias"]
            out[name], out[name[:-len("weight")] + "bias"] = _widen_attention(t, bias, n_embd, factor)
        elif name.endswith("attn.c_attn.bias") or name.endswith(".attn.bias") or name.endswith("masked_bias"):
            continue
        elif t.dim() == 2 and name.startswith("transformer.w"):  # wte, wpe: [rows, d]
            out[name] = _copy(t, (1,), factor, False)
        elif t.dim() == 2:  # Conv1D weights [in, out]
            out[name] = _copy(t, (0, 1), factor, True)
        elif t.dim() == 1:  # LayerNorm weight/bias, Conv1D bias
            out[name] = _copy(t, (0,), factor, False)
        else:
            raise ValueError(f"unexpected parameter {name} of shape {tuple(t.shape)}")
    out["lm_head.weight"] = _copy(state["transformer.wte.weight"], (1,), factor, False) / factor
    return out


def widen(src: Path, out: Path, factor: int):
    """Write the widened checkpoint of ``src`` (a GPT-2 folder) to ``out``, tokenizer files copied; returns the
    widened ``GPT2LMHeadModel``."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    if factor < 1:
        raise ValueError(f"--factor must be >= 1, got {factor}")
    model = GPT2LMHeadModel.from_pretrained(src, dtype=torch.float32)
    cfg = model.config
    inner = cfg.n_inner or 4 * cfg.n_embd
    wide_cfg = GPT2Config(**{**cfg.to_dict(), "n_embd": cfg.n_embd * factor, "n_inner": inner * factor,
                             "tie_word_embeddings": False})
    wide = GPT2LMHeadModel(wide_cfg)
    state = {k: v for k, v in model.state_dict().items() if k != "lm_head.weight"}
    missing, unexpected = wide.load_state_dict(widen_state(state, cfg.n_embd, factor), strict=False)
    if unexpected or [m for m in missing if not m.endswith(("attn.bias", "masked_bias"))]:
        raise RuntimeError(f"widening left parameters unset: missing {missing}, unexpected {unexpected}")
    out.mkdir(parents=True, exist_ok=True)
    wide.save_pretrained(out)
    for name in TOKENIZER_FILES:
        if (src / name).exists():
            shutil.copyfile(src / name, out / name)
    return wide


def main(argv=None) -> int:
    """Command line: ``widen_model.py SRC OUT [--factor F]``."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("src", type=Path, help="a GPT-2 checkpoint folder (e.g. src/corral/data/default/target)")
    ap.add_argument("out", type=Path, help="where to write the widened checkpoint")
    ap.add_argument("--factor", type=int, default=4, help="width multiplier (default 4: 16x the parameters)")
    args = ap.parse_args(argv)
    wide = widen(args.src, args.out, args.factor)
    n = sum(p.numel() for p in wide.parameters())
    print(f"{args.out}: n_embd {wide.config.n_embd}, n_inner {wide.config.n_inner}, {n:,} parameters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
