#!/usr/bin/env python
"""Train corral's embedded default model pair (a tiny GPT-2 "target" and a tinier "draft") from scratch.

What it produces (under ``--out-dir``, default ``src/corral/data/default``)::

    target/   GPT-2 causal LM, 4 layers, n_embd 256, 4 heads, 512 positions (~3.7M parameters)
    draft/    GPT-2 causal LM, 2 layers, n_embd 128, 2 heads, 512 positions (~0.7M parameters)

Each folder is a self-contained transformers checkpoint: ``config.json`` (``dtype``/``torch_dtype`` float32, so
``from_pretrained`` gives float32 back), ``generation_config.json``, ``model.safetensors`` (weights stored in float16
to keep the package small), and its own copy of the shared byte-level BPE tokenizer (``tokenizer.json``,
``tokenizer_config.json``, ``special_tokens_map.json``; ``<|endoftext|>`` is EOS, BOS and pad; the chat template
is ``corral.chat.DEFAULT_CHAT_TEMPLATE``, plain-text ``<|role|>`` markers).  Both models share
the tokenizer byte for byte, so the draft can be used for speculative decoding of the target.

Data: synthetic text from ``scripts/corpus.py`` (JSON documents, SQL, arithmetic, CSV, SMILES-like strings, English
sentences, small answers), each example ``prompt + text + <|endoftext|>``.  Nothing is downloaded.

How to run (from the repository root, with the project's virtual environment active)::

    nice -n 5 python scripts/train_default_models.py                 # default: ~25 min wall time on 2 CPU cores
    python scripts/train_default_models.py --budget-minutes 2 --out-dir /tmp/m   # a quick smoke run

The committed weights were made in two stages on a shared 2-core CPU (see src/corral/data/default/README.md)::

    nice -n 5 python scripts/train_default_models.py                                  # stage 1, 25 min budget
    nice -n 5 python scripts/train_default_models.py --init-from src/corral/data/default \
        --seed 1 --budget-minutes 18 --threads 1 --target-lr 1.5e-3 --draft-lr 3e-3    # stage 2 (continue)

A larger target for the GPU benchmark of speculative decoding (``benchmarks/speculative.py --target``): fresh weights
of another shape, the embedded pair's tokenizer, so the embedded draft can draft for it::

    python scripts/train_default_models.py --device cuda --only target --target-size 12x768x12 \
        --tokenizer-from src/corral/data/default --out-dir /tmp/larger --budget-minutes 3 --batch-size 64 \
        --target-lr 6e-4

On a CPU shared with other processes, ``--threads 1`` can be faster than 2 (OpenMP threads wait on each other).
``--init-from`` continues from an earlier output (reusing its tokenizer byte for byte) with a fresh schedule.

Training is time-budgeted: the target gets ``--target-share`` of ``--budget-minutes`` and the draft the rest; the
cosine learning-rate schedule follows ``max(step / max_steps, elapsed / budget)``, so a slower machine trains fewer
steps but always completes the schedule.  Pass ``--target-steps``/``--draft-steps`` (and a large budget) for a run
whose step count does not depend on the machine.  Seeds: ``--seed`` seeds ``random``, ``numpy`` and ``torch``; the
training corpus uses ``seed``, the held-out corpus ``seed + 10_000``.  At the end it prints held-out losses,
sample completions, greedy generation speed with KV cache, and the draft/target greedy agreement.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import random
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

EOS = "<|endoftext|>"
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT / "src"))  # corral from this checkout, installed or not
from corral.chat import DEFAULT_CHAT_TEMPLATE as CHAT_TEMPLATE  # noqa: E402  (written to tokenizer_config.json)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, default=REPO_ROOT / "src" / "corral" / "data" / "default")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    p.add_argument("--budget-minutes", type=float, default=25.0, help="training time for both models together")
    p.add_argument("--target-share", type=float, default=0.75, help="fraction of the budget given to the target")
    p.add_argument("--target-steps", type=int, default=100_000, help="max optimizer steps for the target")
    p.add_argument("--draft-steps", type=int, default=100_000, help="max optimizer steps for the draft")
    p.add_argument("--vocab-size", type=int, default=2048)
    p.add_argument("--train-examples", type=int, default=120_000)
    p.add_argument("--eval-examples", type=int, default=1_500)
    p.add_argument("--seq-len", type=int, default=256)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--target-lr", type=float, default=2e-3)
    p.add_argument("--draft-lr", type=float, default=4e-3)
    p.add_argument("--log-every", type=int, default=25)
    p.add_argument("--skip-report", action="store_true", help="skip samples/speed/agreement at the end")
    p.add_argument("--init-from", type=Path, default=None,
                   help="continue training from an earlier output folder (its tokenizer and both models) instead "
                        "of starting from scratch; the schedule (warmup + cosine) restarts")
    p.add_argument("--tokenizer-from", type=Path, default=None,
                   help="reuse the tokenizer of an earlier output folder (byte for byte) but train fresh weights, "
                        "e.g. a larger target that the embedded draft can still draft for")
    p.add_argument("--only", choices=("both", "target", "draft"), default="both", help="which models to train")
    p.add_argument("--target-size", default="4x256x4", metavar="LAYERSxEMBDxHEADS",
                   help="the target's shape (default 4x256x4, the embedded target; 12x768x12 is GPT-2 small)")
    p.add_argument("--device", default="cpu", help="where to train: cpu or cuda (bf16 autocast on cuda)")
    return p.parse_args(argv)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


# ----------------------------------------------------------------------------------------------------------------
# tokenizer


def train_tokenizer(texts: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return tok


def save_tokenizer(tok, folder: Path, model_max_length: int) -> None:
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    hf = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS, unk_token=None,
                                 model_max_length=model_max_length, clean_up_tokenization_spaces=False)
    hf.save_pretrained(str(folder))
    # tokenizer.json written by the `tokenizers` library itself (identical bytes in every folder)
    tok.save(str(folder / "tokenizer.json"))
    stm = folder / "special_tokens_map.json"
    if not stm.exists():  # transformers >= 5 no longer writes it
        stm.write_text(json.dumps({"bos_token": EOS, "eos_token": EOS, "pad_token": EOS}, indent=2) + "\n")
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update({"eos_token": EOS, "bos_token": EOS, "pad_token": EOS, "tokenizer_class": "PreTrainedTokenizerFast",
                "model_max_length": model_max_length, "clean_up_tokenization_spaces": False,
                "chat_template": CHAT_TEMPLATE})  # so that generate(messages=...) works offline
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n")


# ----------------------------------------------------------------------------------------------------------------
# data


class PackedData:
    """All examples concatenated into one token stream; training windows start at example boundaries."""

    def __init__(self, docs: list[list[int]], seq_len: int):
        lengths = np.array([len(d) for d in docs], dtype=np.int64)
        self.stream = torch.from_numpy(np.concatenate([np.asarray(d, dtype=np.int64) for d in docs]))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.starts = starts[starts + seq_len + 1 <= len(self.stream)]
        self.seq_len = seq_len

    def __len__(self) -> int:
        return len(self.stream)

    def batch(self, gen: np.random.Generator, batch_size: int) -> torch.Tensor:
        idx = gen.choice(self.starts, size=batch_size)
        return torch.stack([self.stream[i:i + self.seq_len + 1] for i in idx])

    def fixed_batches(self, n_batches: int, batch_size: int) -> list[torch.Tensor]:
        """Deterministic non-overlapping windows (for evaluation)."""
        out, pos = [], 0
        rows = []
        for s in self.starts:
            if s < pos:
                continue
            rows.append(self.stream[s:s + self.seq_len + 1])
            pos = s + self.seq_len + 1
            if len(rows) == batch_size:
                out.append(torch.stack(rows))
                rows = []
                if len(out) == n_batches:
                    break
        return out


def encode_examples(tok, pairs: list[tuple[str, str]], eos_id: int) -> list[list[int]]:
    encs = tok.encode_batch([p + t for p, t in pairs])
    return [e.ids + [eos_id] for e in encs]


# ----------------------------------------------------------------------------------------------------------------
# models


def parse_size(text: str) -> dict:
    """``"12x768x12"`` -> GPT-2 ``n_layer``, ``n_embd``, ``n_head``."""
    layers, embd, heads = (int(x) for x in text.lower().split("x"))
    if embd % heads:
        raise SystemExit(f"--target-size {text}: n_embd must be a multiple of the heads")
    return dict(n_layer=layers, n_embd=embd, n_head=heads)


def make_config(kind: str, vocab_size: int, eos_id: int, target_size: str = "4x256x4"):
    from transformers import GPT2Config

    sizes = {"target": parse_size(target_size), "draft": dict(n_layer=2, n_embd=128, n_head=2)}[kind]
    return GPT2Config(vocab_size=vocab_size, n_positions=512, bos_token_id=eos_id, eos_token_id=eos_id,
                      pad_token_id=eos_id, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
                      tie_word_embeddings=True, **sizes)


def _autocast(device: torch.device):
    """bf16 autocast on a GPU, nothing on the CPU (the committed models train in float32)."""
    import contextlib

    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


@torch.no_grad()
def evaluate(model, batches: list[torch.Tensor]) -> float:
    model.eval()
    total, n = 0.0, 0
    device = next(model.parameters()).device
    for b in batches:
        b = b.to(device)
        with _autocast(device):
            out = model(input_ids=b[:, :-1])
        loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, out.logits.size(-1)).float(),
                                                 b[:, 1:].reshape(-1), reduction="sum")
        total += loss.item()
        n += b[:, 1:].numel()
    model.train()
    return total / n


def train_model(name: str, model, data: PackedData, eval_batches, *, lr: float, max_steps: int, budget_s: float,
                batch_size: int, seed: int, log_every: int) -> dict:
    gen = np.random.default_rng(seed)
    device = next(model.parameters()).device
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), eps=1e-8)
    warmup = 0.03
    n_params = sum(p.numel() for p in model.parameters())
    print(f"[{name}] {n_params:,} parameters; budget {budget_s / 60:.1f} min, max {max_steps} steps", flush=True)
    model.train()
    t0 = time.time()
    step, tokens, ema = 0, 0, None
    while True:
        elapsed = time.time() - t0
        progress = max(step / max_steps, elapsed / budget_s)
        if progress >= 1.0:
            break
        if progress < warmup:
            cur = lr * max(progress / warmup, 0.02)
        else:
            cur = lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (progress - warmup) / (1 - warmup))))
        for g in opt.param_groups:
            g["lr"] = cur
        b = data.batch(gen, batch_size).to(device)
        with _autocast(device):
            out = model(input_ids=b[:, :-1])
        loss = torch.nn.functional.cross_entropy(out.logits.reshape(-1, out.logits.size(-1)).float(),
                                                 b[:, 1:].reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        tokens += b[:, 1:].numel()
        ema = loss.item() if ema is None else 0.95 * ema + 0.05 * loss.item()
        if step % log_every == 0 or step == 1:
            el = time.time() - t0
            print(f"[{name}] step {step:5d}  loss {loss.item():.4f}  ema {ema:.4f}  lr {cur:.2e}  "
                  f"{tokens / el:,.0f} tok/s  {el / 60:.1f} min", flush=True)
    train_time = time.time() - t0
    eval_loss = evaluate(model, eval_batches)
    print(f"[{name}] done: {step} steps, {tokens:,} tokens, {train_time / 60:.1f} min; final train loss (ema) "
          f"{ema:.4f}; held-out loss {eval_loss:.4f} (ppl {math.exp(eval_loss):.2f})", flush=True)
    return {"steps": step, "tokens": tokens, "train_minutes": round(train_time / 60, 2),
            "final_train_loss_ema": round(ema, 4), "heldout_loss": round(eval_loss, 4), "parameters": n_params}


def save_model(model, tok, folder: Path, eos_id: int, model_max_length: int) -> None:
    from transformers import GenerationConfig

    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    half = model.to(torch.float16)
    kwargs = {}
    if "safe_serialization" in inspect.signature(half.save_pretrained).parameters:
        kwargs["safe_serialization"] = True
    half.save_pretrained(str(folder), **kwargs)
    model.to(torch.float32)
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["dtype"] = "float32"        # load as float32 (the weights are stored in float16 only to save space)
    cfg["torch_dtype"] = "float32"  # same, for transformers < 4.56
    cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")
    GenerationConfig(bos_token_id=eos_id, eos_token_id=eos_id, pad_token_id=eos_id, do_sample=False,
                     max_new_tokens=256).save_pretrained(str(folder))
    save_tokenizer(tok, folder, model_max_length)
    for f in folder.iterdir():  # safetensors metadata etc. that we do not want
        if f.name not in {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                          "tokenizer_config.json", "special_tokens_map.json"}:
            f.unlink()


def folder_size(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


# ----------------------------------------------------------------------------------------------------------------
# report


REPORT_PROMPTS = [
    "Generate a JSON object describing a person:\n",
    "Answer in JSON:\n",
    "Write an SQL query:\n",
    "Write an arithmetic expression:\n",
    "Write a sentence:\n",
    "Write a SMILES string:\n",
]


@torch.no_grad()
def report(out_dir: Path, heldout_pairs: list[tuple[str, str]], seed: int) -> dict:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    res: dict = {}
    tokz = AutoTokenizer.from_pretrained(str(out_dir / "target"))
    models = {k: AutoModelForCausalLM.from_pretrained(str(out_dir / k)).eval() for k in ("target", "draft")}
    for k, m in models.items():
        assert next(m.parameters()).dtype == torch.float32, k
    eos = tokz.eos_token_id
    torch.manual_seed(seed)
    for k, m in models.items():
        print(f"\n===== {k}: samples =====")
        for prompt in REPORT_PROMPTS:
            ids = tokz(prompt, return_tensors="pt").input_ids
            for mode in ("greedy", "t=0.7"):
                kw = dict(do_sample=False) if mode == "greedy" else dict(do_sample=True, temperature=0.7, top_k=0)
                out = m.generate(ids, max_new_tokens=96, eos_token_id=eos, pad_token_id=eos, **kw)
                text = tokz.decode(out[0, ids.shape[1]:], skip_special_tokens=False)
                print(f"--- {prompt.strip()!r} [{mode}]\n{text}")
                res.setdefault(k, {}).setdefault("samples", []).append({"prompt": prompt, "mode": mode, "text": text})
    # greedy speed with KV cache (no EOS stop, 200 new tokens)
    ids = tokz(REPORT_PROMPTS[0], return_tensors="pt").input_ids
    for k, m in models.items():
        m.generate(ids, max_new_tokens=8, do_sample=False, pad_token_id=eos)
        n_new = 200
        t = time.time()
        m.generate(ids, max_new_tokens=n_new, min_new_tokens=n_new, do_sample=False, use_cache=True,
                   eos_token_id=None, pad_token_id=eos)
        tps = n_new / (time.time() - t)
        print(f"[{k}] greedy generation with KV cache: {tps:.0f} tokens/s")
        res.setdefault(k, {})["greedy_tokens_per_s"] = round(tps, 1)
    # draft/target greedy agreement on held-out text (each example on its own, from position 0)
    agree = total = 0
    agree_text = total_text = 0
    for p, t in heldout_pairs[:300]:
        ids = tokz(p + t, return_tensors="pt").input_ids
        ids = torch.cat([ids, torch.tensor([[eos]])], dim=1)[:, :512]
        n_prompt = len(tokz(p).input_ids)
        a = models["target"](input_ids=ids).logits[0].argmax(-1)
        b = models["draft"](input_ids=ids).logits[0].argmax(-1)
        eq = (a == b)[:-1]
        agree += eq.sum().item()
        total += eq.numel()
        agree_text += eq[n_prompt - 1:].sum().item()
        total_text += eq[n_prompt - 1:].numel()
    res["agreement_all_positions"] = round(agree / total, 4)
    res["agreement_completion_positions"] = round(agree_text / total_text, 4)
    print(f"draft/target greedy agreement on held-out text: {agree / total:.3f} of all positions, "
          f"{agree_text / total_text:.3f} of completion positions")
    return res


# ----------------------------------------------------------------------------------------------------------------


def main(argv=None) -> None:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    seed_everything(args.seed)
    t_start = time.time()
    from transformers import GPT2LMHeadModel

    print(f"generating {args.train_examples:,} training and {args.eval_examples:,} held-out examples", flush=True)
    train_pairs = list(corpus.examples(args.seed, args.train_examples))
    heldout_pairs = list(corpus.examples(args.seed + 10_000, args.eval_examples))
    if args.init_from is not None or args.tokenizer_from is not None:
        from tokenizers import Tokenizer

        source = args.init_from if args.init_from is not None else args.tokenizer_from
        tok = Tokenizer.from_file(str(source / "target" / "tokenizer.json"))
        print(f"tokenizer of {source}" + (" (continuing its models)" if args.init_from else ""), flush=True)
    else:
        tok = train_tokenizer([p + t for p, t in train_pairs[:40_000]], args.vocab_size)
    eos_id = tok.token_to_id(EOS)
    vocab_size = tok.get_vocab_size()
    print(f"tokenizer: {vocab_size} tokens, EOS id {eos_id} ({time.time() - t_start:.0f}s)", flush=True)
    train = PackedData(encode_examples(tok, train_pairs, eos_id), args.seq_len)
    held = PackedData(encode_examples(tok, heldout_pairs, eos_id), args.seq_len)
    eval_batches = held.fixed_batches(8, 16)
    n_chars = sum(len(p) + len(t) for p, t in train_pairs)
    print(f"train stream: {len(train):,} tokens ({n_chars / len(train):.2f} chars/token); held-out "
          f"{len(held):,} tokens ({time.time() - t_start:.0f}s)", flush=True)

    budget_s = args.budget_minutes * 60
    stats = {}
    trained = {}
    shares = {"both": (args.target_share, 1 - args.target_share), "target": (1.0, 0.0), "draft": (0.0, 1.0)}[args.only]
    plan = [("target", shares[0], args.target_lr, args.target_steps),
            ("draft", shares[1], args.draft_lr, args.draft_steps)]
    for i, (name, share, lr, steps) in enumerate(plan):
        if share == 0.0:
            continue
        torch.manual_seed(args.seed + i)
        if args.init_from is not None:
            model = GPT2LMHeadModel.from_pretrained(str(args.init_from / name)).float()
            assert model.config.vocab_size == vocab_size
        else:
            model = GPT2LMHeadModel(make_config(name, vocab_size, eos_id, args.target_size))
        model.to(torch.device(args.device))
        stats[name] = train_model(name, model, train, eval_batches, lr=lr, max_steps=steps, budget_s=budget_s * share,
                                  batch_size=args.batch_size, seed=args.seed + 100 + i, log_every=args.log_every)
        save_model(model, tok, args.out_dir / name, eos_id, 512)
        trained[name] = model
        stats[name]["size_bytes"] = folder_size(args.out_dir / name)
    stats["total_size_bytes"] = sum(stats[n]["size_bytes"] for n in ("target", "draft") if n in stats)
    stats["wall_minutes"] = round((time.time() - t_start) / 60, 2)
    print(json.dumps(stats, indent=2))
    if not args.skip_report and args.only == "both":
        stats["report"] = report(args.out_dir, heldout_pairs, args.seed)
    print(f"total wall time {(time.time() - t_start) / 60:.1f} min")
    (Path("/tmp") / "corral_train_stats.json").write_text(json.dumps(stats, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
