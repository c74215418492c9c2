"""Mask-computation benchmark: corral against llguidance and xgrammar on one tokenizer, grammar and sample set.

For every engine this measures, on the same tokenizer, grammar and token sequences:

* tokenizer preparation (once per process): turning an already loaded Hugging Face tokenizer into the engine's
  vocabulary object (corral ``Vocabulary``, llguidance ``LLTokenizer``, xgrammar ``TokenizerInfo`` +
  ``GrammarCompiler``);
* time to first mask (TTFM): grammar text -> compiled grammar -> matcher -> first mask, done afresh for every
  sample run (corral: a new ``CompiledGrammar``, so its mask cache and lazily built token tables start empty;
  xgrammar: a compiler with its cache disabled; llguidance: a new ``LLMatcher``).  "cold" is the first compile in
  the process (corral's regex->DFA cache is still empty then), "warm" the median over the later ones;
* per-token mask time while forcing each sample's tokens one by one (mask, then advance), each engine computing
  its mask in the packed int32 layout serving engines consume: corral ``Matcher.mask_packed()`` (``--corral-bool``:
  ``Matcher.mask()``, bool [V]), llguidance
  ``llguidance.numpy.fill_next_token_bitmask`` and xgrammar ``GrammarMatcher.fill_next_token_bitmask`` (int32
  bitmasks).  The mask after the last token (which must allow EOS) is timed too.

Every engine must accept every sample token: a token missing from the mask, or refused by advance, is counted as a
rejection (the run of that sample stops at a refused advance), and a text whose final mask does not allow EOS is
counted as incomplete.  One thread per engine.

Usage (from the repository root)::

    python benchmarks/grammar_masks.py [--tokenizer PATH] [--grammar src/corral/grammars/json.lark] [--samples FILE ...]
                                    [--engines corral,llguidance,xgrammar,xgrammar-lark] [--json OUT] [--quick]

See benchmarks/README.md for the columns.
"""

from __future__ import annotations

import os

# One thread each; set before the engines (and torch, numpy's BLAS) are imported.
for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
DEFAULT_TOKENIZER = SHARED_DIR / "tokenizers" / "llama3"
DEFAULT_GRAMMAR = REPO_ROOT / "src" / "corral" / "grammars" / "json.lark"
DEFAULT_SAMPLE_DIR = SHARED_DIR / "data" / "grammars" / "outlines" / "tests" / "cfg_samples" / "json"
ALL_ENGINES = ("corral", "llguidance", "xgrammar", "xgrammar-lark")

now = time.perf_counter_ns


# ------------------------------------------------------------------------------------------------------------------
# generated JSON samples


class _Num:
    """A JSON number with its exact literal text (so exponents, ``-0``, ``E+`` etc. appear as written)."""

    def __init__(self, text: str) -> None:
        self.text = text


_WORDS = ["alpha", "beta", "gamma", "delta", "id", "name", "value", "items", "meta", "x", "type", "data", "user",
          "created_at", "tags", "enabled", "score", "path", "children", "config",
          "https://example.com/a/b?q=1", "src/main.py"]
_UNICODE = ["é", "ü", "ñ", "ß", "Ωμέγα", "Привет", "中文字符", "日本語テキスト", "한국어", "مرحبا", "שלום", "😀",
            "🚀🔥", "𝄞", "e\u0301", "\u00a0", "\u2028", "👩‍💻", "ﬁ", "∑∫√"]
_ESCAPES = ['"', "\\", "/", "\n", "\t", "\r", "\b", "\f", "\x01", "\x1f", "\u007f"]


def _rand_number(rng: random.Random) -> _Num:
    kind = rng.randrange(9)
    if kind == 0:
        return _Num(str(rng.randrange(10)))
    if kind == 1:
        return _Num(str(rng.randrange(-10**6, 10**6)))
    if kind == 2:
        return _Num(str(rng.randrange(10**15, 10**19)))
    if kind == 3:
        return _Num(f"{rng.uniform(-1000, 1000):.{rng.randrange(1, 8)}f}")
    if kind == 4:
        return _Num(f"{rng.choice(['', '-'])}{rng.randrange(1, 10)}.{rng.randrange(10**6)}"
                    f"{rng.choice('eE')}{rng.choice(['', '+', '-'])}{rng.randrange(0, 310)}")
    if kind == 5:
        return _Num(f"{rng.randrange(1, 1000)}{rng.choice('eE')}{rng.randrange(0, 30)}")
    if kind == 6:
        return _Num(rng.choice(["0", "-0", "0.0", "-0.0", "0e0", "1E-7"]))
    if kind == 7:
        return _Num(repr(rng.random()))
    return _Num(str(rng.randrange(-100, 100)))


def _rand_string(rng: random.Random, escapes: float) -> str:
    parts = []
    for _ in range(rng.randrange(0, 8)):
        r = rng.random()
        if r < escapes:
            parts.append(rng.choice(_ESCAPES))
        elif r < escapes + 0.25:
            parts.append(rng.choice(_UNICODE))
        else:
            parts.append(rng.choice(_WORDS) + rng.choice(["", " ", "-", "_", ". ", ", "]))
    return "".join(parts)


def _rand_value(rng: random.Random, depth: int, escapes: float):
    r = rng.random()
    if depth > 0 and r < 0.35:
        return {_rand_key(rng, escapes): _rand_value(rng, depth - 1, escapes) for _ in range(rng.randrange(0, 6))}
    if depth > 0 and r < 0.55:
        return [_rand_value(rng, depth - 1, escapes) for _ in range(rng.randrange(0, 6))]
    r = rng.random()
    if r < 0.45:
        return _rand_string(rng, escapes)
    if r < 0.8:
        return _rand_number(rng)
    return rng.choice([True, False, None])


def _rand_key(rng: random.Random, escapes: float) -> str:
    if rng.random() < 0.7:
        return rng.choice(_WORDS) + (str(rng.randrange(100)) if rng.random() < 0.3 else "")
    return _rand_string(rng, escapes) or "k"


def _dump(value, *, indent, ensure_ascii: bool, slash_escape: bool, newline: str = "\n", level: int = 0,
          item_sep: str = ", ", key_sep: str = ": ") -> str:
    """JSON text with full control of layout (json.dumps cannot write exponents as given, ``\\/`` or CRLF)."""

    def s(x: str) -> str:
        out = json.dumps(x, ensure_ascii=ensure_ascii)
        return out.replace("/", "\\/") if slash_escape else out

    if isinstance(value, _Num):
        return value.text
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return s(value)
    kw = dict(indent=indent, ensure_ascii=ensure_ascii, slash_escape=slash_escape, newline=newline,
              item_sep=item_sep, key_sep=key_sep)
    if isinstance(value, dict):
        items = [(s(k), v) for k, v in value.items()]
        open_, close = "{", "}"
        render = [k + key_sep + _dump(v, level=level + 1, **kw) for k, v in items]
    else:
        open_, close = "[", "]"
        render = [_dump(v, level=level + 1, **kw) for v in value]
    if not render:
        return open_ + close
    if indent is None:
        return open_ + item_sep.join(render) + close
    pad = indent if isinstance(indent, str) else " " * indent
    inner = newline + pad * (level + 1)
    return open_ + inner + ("," + inner).join(render) + newline + pad * level + close


def generated_samples(n: int, seed: int = 1234, max_chars: int = 4000) -> list[tuple[str, str]]:
    """``n`` seeded JSON documents (200 to ``max_chars`` characters, except the occasional scalar document),
    cycling through layouts: compact, one-line, indented (2, 4, tab, CRLF)."""
    rng = random.Random(seed)
    layouts = [
        ("compact", dict(indent=None, item_sep=",", key_sep=":")),
        ("indent2", dict(indent=2)),
        ("oneline", dict(indent=None)),
        ("indent4", dict(indent=4)),
        ("tabs", dict(indent="\t")),
        ("crlf", dict(indent=2, newline="\r\n")),
    ]
    docs = []
    for i in range(n):
        name, layout = layouts[i % len(layouts)]
        depth = rng.choice([2, 3, 4, 5, 7])
        escapes = rng.choice([0.0, 0.1, 0.3])
        ensure_ascii = i % 3 == 1
        slash = i % 4 == 3
        while True:
            if i % 10 == 9:  # now and then a scalar document (any JSON value is a JSON text)
                value = _rand_string(rng, 0.3) if i % 20 == 9 else _rand_number(rng)
            else:
                top = rng.random() < 0.7
                value = ({_rand_key(rng, escapes): _rand_value(rng, depth, escapes)
                          for _ in range(rng.randrange(2, 8))}
                         if top else [_rand_value(rng, depth, escapes) for _ in range(rng.randrange(2, 8))])
            text = _dump(value, ensure_ascii=ensure_ascii, slash_escape=slash, **layout)
            if 200 <= len(text) <= max_chars or i % 10 == 9:
                break
        if i % 10 == 9:  # whitespace around the value (RFC 8259: JSON-text = ws value ws), on the tiny documents
            text = rng.choice([" ", "\n", "\n  "]) + text + rng.choice(["\n", " ", "\n "])
        json.loads(text)  # well-formed by construction; fail loudly otherwise
        tag = f"{name}{'-ascii' if ensure_ascii else ''}{'-slash' if slash else ''}"
        docs.append((f"gen{i:02d}-{tag}", text))
    return docs


# ------------------------------------------------------------------------------------------------------------------
# engines: each builds its compiled grammar + matcher from the grammar text, and computes masks natively


def _bit(bitmask_row, tok: int) -> bool:
    return bool((int(bitmask_row[tok >> 5]) >> (tok & 31)) & 1)


class CorralEngine:
    name = "corral"
    note = ("Matcher.mask_packed() -> int32 bitmask (--corral-bool: Matcher.mask() -> bool[V]); "
            "CompiledGrammar(Grammar.from_lark(text), vocab); token tables built lazily, masks cached per matcher "
            "state")
    packed = True

    def prepare(self, hf_tok, vocab_size: int):
        from corral.tokens.vocabulary import Vocabulary

        self.vocab = Vocabulary.from_huggingface(hf_tok)
        assert self.vocab.size == vocab_size, (self.vocab.size, vocab_size)

    def load_grammar(self, text: str, is_json: bool) -> None:
        self.text = text

    def start(self):
        from corral.compile.grammar import Grammar
        from corral.runtime.matcher import CompiledGrammar

        if self.reuse and getattr(self, "_cg", None) is not None:
            return self._cg.matcher()
        self._cg = CompiledGrammar(Grammar.from_lark(self.text), self.vocab)
        return self._cg.matcher()

    def mask(self, m):
        return m.mask_packed() if self.packed else m.mask()

    def allows(self, mask, tok: int) -> bool:
        return _bit(mask, tok) if self.packed else bool(mask[tok])

    def advance(self, m, tok: int) -> bool:
        try:
            m.advance(tok)
            return True
        except ValueError:
            return False


class LLGuidanceEngine:
    name = "llguidance"
    note = "LLMatcher(grammar_from_lark(text)) + llguidance.numpy.fill_next_token_bitmask -> int32 bitmask"

    def prepare(self, hf_tok, vocab_size: int):
        import llguidance
        import llguidance.hf
        import llguidance.numpy

        self.llg = llguidance
        self.fill = llguidance.numpy.fill_next_token_bitmask
        self.tok = llguidance.hf.from_tokenizer(hf_tok, n_vocab=vocab_size)
        self.bitmask = llguidance.numpy.allocate_token_bitmask(1, vocab_size)

    def load_grammar(self, text: str, is_json: bool) -> None:
        self.text = text
        g = self.llg.LLMatcher.grammar_from_lark(text)
        err = self.llg.LLMatcher.validate_grammar(g, self.tok)
        if err and not err.startswith("WARNING"):
            raise RuntimeError(f"llguidance rejects the grammar: {err}")

    def start(self):
        if self.reuse and getattr(self, "_pristine", None) is not None:
            return self._pristine.deep_copy()
        m = self.llg.LLMatcher(self.tok, self.llg.LLMatcher.grammar_from_lark(self.text), log_level=0)
        if m.is_error():
            raise RuntimeError(m.get_error())
        if self.reuse:
            self._pristine = m.deep_copy()
        return m

    def mask(self, m):
        self.fill(m, self.bitmask)
        return self.bitmask

    def allows(self, mask, tok: int) -> bool:
        return _bit(mask[0], tok)

    def advance(self, m, tok: int) -> bool:
        return m.consume_token(tok) and not m.is_error()


class XGrammarEngine:
    name = "xgrammar"
    note = ("GrammarCompiler(max_threads=1, cache off) + GrammarMatcher.fill_next_token_bitmask into "
            "xgr.allocate_token_bitmask")
    builtin_json = True

    def prepare(self, hf_tok, vocab_size: int):
        import xgrammar as xgr

        self.xgr = xgr
        eos = hf_tok.eos_token_id
        info = xgr.TokenizerInfo.from_huggingface(hf_tok, vocab_size=vocab_size, stop_token_ids=[eos])
        self.compiler = xgr.GrammarCompiler(info, max_threads=1, cache_enabled=False)
        self.bitmask = xgr.allocate_token_bitmask(1, vocab_size)

    def load_grammar(self, text: str, is_json: bool) -> None:
        self.text = text
        self.use_builtin = self.builtin_json and is_json
        if self.use_builtin:
            self.note += "; grammar: Grammar.builtin_json_grammar() (json.lark not used)"
        else:
            self.note += "; grammar: compile_lark(text)"

    def start(self):
        if self.reuse and getattr(self, "_cg", None) is not None:
            return self.xgr.GrammarMatcher(self._cg)
        if self.use_builtin:
            self._cg = self.compiler.compile_builtin_json_grammar()
        else:
            self._cg = self.compiler.compile_lark(self.text)
        return self.xgr.GrammarMatcher(self._cg)

    def mask(self, m):
        m.fill_next_token_bitmask(self.bitmask)
        return self.bitmask

    def allows(self, mask, tok: int) -> bool:
        return _bit(mask[0], tok)

    def advance(self, m, tok: int) -> bool:
        return m.accept_token(tok)


class XGrammarLarkEngine(XGrammarEngine):
    name = "xgrammar-lark"
    builtin_json = False


ENGINE_CLASSES = {c.name: c for c in (CorralEngine, LLGuidanceEngine, XGrammarEngine, XGrammarLarkEngine)}


# ------------------------------------------------------------------------------------------------------------------
# measurement


def run_sample(engine, ids: list[int], eos: int) -> dict:
    """Compile afresh, then mask/advance through ``ids``; returns timings (ns) and correctness counts."""
    gc.collect()
    t0 = now()
    m = engine.start()
    mask = engine.mask(m)
    ttfm = now() - t0
    times = []
    advance_times = []
    mask_missing = []  # positions whose mask lacked the sample token
    refused = None  # position where advance refused the token (the run stops there)
    first = True
    for pos, tok in enumerate(ids):
        if not first:
            t = now()
            mask = engine.mask(m)
            times.append(now() - t)
        first = False
        if not engine.allows(mask, tok):
            mask_missing.append(pos)
        t = now()
        ok = engine.advance(m, tok)
        advance_times.append(now() - t)
        if not ok:
            refused = pos
            break
    eos_ok = False
    if refused is None:
        t = now()
        mask = engine.mask(m)
        times.append(now() - t)
        eos_ok = engine.allows(mask, eos)
    return {"ttfm_ns": ttfm, "mask_ns": times, "advance_ns": advance_times, "mask_missing": mask_missing,
            "refused": refused, "eos_ok": eos_ok, "forced": len(advance_times) - (refused is not None)}


def pct(values, q):
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def summarize(name: str, prep_s: float, runs: list[tuple[str, dict]]) -> dict:
    masks = [t for _, r in runs for t in r["mask_ns"]]
    adv = [t for _, r in runs for t in r["advance_ns"]]
    ttfm = [r["ttfm_ns"] for _, r in runs]
    us = 1e-3
    return {
        "engine": name,
        "prep_s": prep_s,
        "ttfm_cold_ms": ttfm[0] * 1e-6,
        "ttfm_warm_ms": statistics.median(ttfm[1:]) * 1e-6 if len(ttfm) > 1 else float("nan"),
        "mask_p50_us": pct(masks, 50) * us,
        "mask_p90_us": pct(masks, 90) * us,
        "mask_p99_us": pct(masks, 99) * us,
        "mask_max_us": (max(masks) if masks else float("nan")) * us,
        "mask_mean_us": (statistics.fmean(masks) if masks else float("nan")) * us,
        "advance_mean_us": (statistics.fmean(adv) if adv else float("nan")) * us,
        "tokens": sum(r["forced"] for _, r in runs),
        "masks": len(masks) + len(runs),  # + the first mask of each run, counted in TTFM
        "rejected": sum(len(r["mask_missing"]) + (r["refused"] is not None) for _, r in runs),
        "incomplete": sum(1 for _, r in runs if r["refused"] is None and not r["eos_ok"]),
    }


def fmt(x, nd=1):
    if isinstance(x, str):
        return x
    if x != x:  # nan
        return "-"
    return f"{x:,.{nd}f}"


def render_table(rows: list[dict], ref: dict | None) -> str:
    cols = [("engine", "engine", None), ("prep s", "prep_s", 2), ("TTFM cold ms", "ttfm_cold_ms", 1),
            ("TTFM warm ms", "ttfm_warm_ms", 1), ("p50 us", "mask_p50_us", 1), ("p90 us", "mask_p90_us", 1),
            ("p99 us", "mask_p99_us", 1), ("max us", "mask_max_us", 0), ("mean us", "mask_mean_us", 1),
            ("adv us", "advance_mean_us", 1), ("tokens", "tokens", 0), ("rej", "rejected", 0),
            ("incompl", "incomplete", 0), ("x TTFM", None, None), ("x p50", None, None), ("x mean", None, None)]
    lines = []
    header = [c[0] for c in cols]
    body = []
    for r in rows:
        if "na" in r:
            body.append([r["engine"]] + ["n/a"] * (len(cols) - 1))
            continue
        cells = []
        for title, key, nd in cols:
            if key == "engine":
                cells.append(r["engine"])
            elif key is not None:
                cells.append(fmt(r[key], nd) if nd else fmt(float(r[key]), 0))
        for key in ("ttfm_warm_ms", "mask_p50_us", "mask_mean_us"):
            cells.append(fmt(r[key] / ref[key], 2) + "x" if ref and ref.get(key) else "-")
        body.append(cells)
    widths = [max(len(str(row[i])) for row in [header] + body) for i in range(len(cols))]
    lines.append("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |")
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in body:
        lines.append("| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                        for i, (c, w) in enumerate(zip(row, widths))) + " |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------------------------


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", default=str(DEFAULT_TOKENIZER), help="HF tokenizer folder (default: %(default)s)")
    ap.add_argument("--grammar", default=str(DEFAULT_GRAMMAR), help="Lark grammar file (default: %(default)s)")
    ap.add_argument("--samples", nargs="*", help="sample text files (default: the outlines cfg_samples/json files "
                                                  "plus generated JSON documents; required for non-JSON grammars)")
    ap.add_argument("--generated", type=int, default=None, help="number of generated JSON documents (default 20, "
                                                                "4 with --quick; 0 for none)")
    ap.add_argument("--engines", default=",".join(ALL_ENGINES),
                    help=f"comma separated, from {', '.join(ALL_ENGINES)} (default: all)")
    ap.add_argument("--reuse", action="store_true",
                    help="compile once per engine and reuse it for every sample (a server with a grammar cache); "
                         "TTFM warm is then matcher creation + first mask only")
    ap.add_argument("--corral-bool", action="store_true", help="time corral's bool mask() instead of mask_packed()")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--quick", action="store_true", help="fewer generated samples, for a smoke run")
    ap.add_argument("--json", dest="json_out", help="write the summary and per-sample details here")
    args = ap.parse_args(argv)

    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    for e in engines:
        if e not in ENGINE_CLASSES and e not in ("outlines", "outlines-core"):
            ap.error(f"unknown engine {e!r}; choose from {', '.join(ALL_ENGINES)}")
    grammar_path = Path(args.grammar)
    if not grammar_path.is_absolute() and not grammar_path.exists():
        grammar_path = REPO_ROOT / grammar_path
    grammar_text = grammar_path.read_text(encoding="utf-8")
    is_json = grammar_path.name == "json.lark"
    if not is_json:
        engines = [e for e in engines if e != "xgrammar-lark"]  # the same as "xgrammar" then

    # ---- samples
    samples: list[tuple[str, str]] = []
    if args.samples:
        for f in args.samples:
            samples.append((Path(f).name, Path(f).read_text(encoding="utf-8")))
    elif is_json:
        files = sorted(DEFAULT_SAMPLE_DIR.glob("*.json.test"))
        if not files:
            print(f"warning: no samples under {DEFAULT_SAMPLE_DIR} (set CORRAL_SHARED_DIR)", file=sys.stderr)
        samples += [(f.name.removesuffix(".json.test"), f.read_text(encoding="utf-8")) for f in files]
    else:
        ap.error("--samples is required for a grammar other than json.lark")
    n_gen = args.generated if args.generated is not None else (4 if args.quick else 20)
    if is_json and n_gen and not args.samples:
        samples += generated_samples(n_gen, args.seed)

    # ---- tokenizer (shared) and token ids
    t0 = now()
    import transformers

    hf_tok = transformers.AutoTokenizer.from_pretrained(args.tokenizer)
    hf_load_s = (now() - t0) * 1e-9
    vocab_size = len(hf_tok)
    eos = hf_tok.eos_token_id
    encoded = [(name, text, hf_tok.encode(text, add_special_tokens=False)) for name, text in samples]

    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cpus; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"tokenizer {args.tokenizer} (vocab {vocab_size}, eos {eos}); HF tokenizer load + imports "
          f"{hf_load_s:.2f} s (shared, not counted in prep)")
    print(f"grammar {grammar_path}; {len(encoded)} samples, {sum(len(i) for _, _, i in encoded)} tokens, "
          f"{sum(len(t.encode()) for _, t, _ in encoded)} bytes")

    # ---- engines: preparation
    active = []
    prep = {}
    for e in engines:
        if e not in ENGINE_CLASSES:
            continue
        eng = ENGINE_CLASSES[e]()
        eng.reuse = args.reuse
        if eng.name == "corral":
            eng.packed = not args.corral_bool
        try:
            t0 = now()
            eng.prepare(hf_tok, vocab_size)
            prep[e] = (now() - t0) * 1e-9
            eng.load_grammar(grammar_text, is_json)
        except ImportError as exc:
            print(f"skipping {e}: {exc}", file=sys.stderr)
            continue
        active.append(eng)
    try:  # torch (xgrammar's bitmask) to one thread as well
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    corral = next((e for e in active if e.name == "corral"), None)
    if corral is not None:
        for name, text, ids in encoded:
            if corral.vocab.decode(ids) != text.encode("utf-8"):
                print(f"warning: token ids of {name} do not decode to its text", file=sys.stderr)

    sys.stdout.flush()
    # ---- runs, interleaved sample by sample so that background load hits every engine alike
    runs = {e.name: [] for e in active}
    for name, text, ids in encoded:
        for eng in active:
            r = run_sample(eng, ids, eos)
            runs[eng.name].append((name, r))
        print(f"  {name}: {len(ids)} tokens  " + "  ".join(
            f"{eng.name} {statistics.fmean(runs[eng.name][-1][1]['mask_ns'] or [0]) / 1e3:.0f}us"
            for eng in active), file=sys.stderr, flush=True)

    rows = [summarize(e.name, prep[e.name], runs[e.name]) for e in active]
    ref = next((r for r in rows if r["engine"] == "corral"), None)
    table_rows = list(rows)
    table_rows.append({"engine": "outlines-core (regex only)", "na": True})
    print()
    print(render_table(table_rows, ref))
    print()
    print("notes:")
    if args.reuse:
        print("  --reuse: one compiled grammar per engine for all samples (corral's token tables and mask cache "
              "persist); TTFM cold = compile + first mask, TTFM warm = new matcher + first mask")
    print("  x TTFM / x p50 / x mean: engine / corral (warm TTFM, p50 and mean mask time); < 1 means faster than "
          "corral")
    for e in active:
        print(f"  {e.name}: {e.note}")
    print("  outlines-core: no CFG support (regex/JSON-schema only), so it is not measured")
    problems = []
    for e in active:
        for name, r in runs[e.name]:
            ids = dict((n, i) for n, _, i in encoded)[name]
            for pos in r["mask_missing"]:
                problems.append(f"  {e.name} {name}: token {pos} ({ids[pos]} {hf_tok.decode([ids[pos]])!r}) "
                                "missing from the mask")
            if r["refused"] is not None:
                pos = r["refused"]
                problems.append(f"  {e.name} {name}: advance refused token {pos} ({ids[pos]} "
                                f"{hf_tok.decode([ids[pos]])!r}); {len(ids) - pos} tokens not forced")
            elif not r["eos_ok"]:
                problems.append(f"  {e.name} {name}: EOS not allowed after the whole text")
    if problems:
        print("rejections:")
        print("\n".join(problems[:60]))
        if len(problems) > 60:
            print(f"  ... {len(problems) - 60} more (see --json)")
    else:
        print("rejections: none (every engine accepted every sample token and allowed EOS at the end)")

    if args.json_out:
        detail = {
            "tokenizer": args.tokenizer, "grammar": str(grammar_path), "vocab_size": vocab_size,
            "hf_load_s": hf_load_s, "reuse": args.reuse, "summary": rows, "notes": {e.name: e.note for e in active},
            "samples": [{"name": n, "tokens": len(i), "bytes": len(t.encode())} for n, t, i in encoded],
            "runs": {e: [{"sample": n, "ttfm_ms": r["ttfm_ns"] * 1e-6, "tokens": r["forced"],
                          "mask_mean_us": statistics.fmean(r["mask_ns"]) * 1e-3 if r["mask_ns"] else None,
                          "mask_max_us": max(r["mask_ns"]) * 1e-3 if r["mask_ns"] else None,
                          "mask_missing": r["mask_missing"], "refused": r["refused"], "eos_ok": r["eos_ok"]}
                         for n, r in rs] for e, rs in runs.items()},
        }
        Path(args.json_out).write_text(json.dumps(detail, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
