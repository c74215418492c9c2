"""Token id -> bytes for Hugging Face tokenizers.

A :class:`Vocabulary` records, for every token id, the bytes the token contributes to the decoded text when it is
*not* the first token of a sequence. Position-dependent decoder quirks are deliberately ignored: sentencepiece's
dummy prefix (Llama 2's ``Strip`` / ``Metaspace`` removes the leading space of the *whole* text) means that ``▁Hello``
is ``b" Hello"`` here, even though ``tokenizer.decode([id])`` returns ``"Hello"``. Callers that constrain text from
the very first generated token of a sentencepiece model must account for that leading space themselves.

Special tokens, added tokens, EOS tokens and unused ids (up to the model's embedding size) are ``None``: they are not
part of the constrained vocabulary. Tokens that would contribute no bytes at all are also ``None``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from functools import cached_property
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

from corral.errors import VocabularyError

__all__ = ["Vocabulary", "eos_token_ids_from_config", "gpt2_byte_decoder"]

_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")
# tokenizers' WordPiece ``cleanup`` (applied to each token string separately, after the space is prepended)
_WORDPIECE_CLEANUP = (
    (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
    (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
)


def gpt2_byte_decoder() -> dict[str, int]:
    """Return the inverse of GPT-2's ``bytes_to_unicode``: each of the 256 byte-level characters -> its byte."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), 256)]
    others = [b for b in range(256) if b not in printable]
    return {chr(b): b for b in printable} | {chr(256 + n): b for n, b in enumerate(others)}


def _byte_level_table(byte_decoder: Mapping[str, int]) -> dict[int, int]:
    """``str.translate`` table: alphabet characters -> their byte; other latin-1 characters -> U+FFFF (unmappable)."""
    table = {o: 0xFFFF for o in range(256)}
    table.update({ord(c): b for c, b in byte_decoder.items()})
    return table


def eos_token_ids_from_config(config) -> frozenset[int]:
    """Read the EOS ids (``eos_token_id``, an int or a list) of a model or generation config.

    Parameters
    ----------
    config : int, iterable of int, mapping, object with ``eos_token_id``, str or os.PathLike
        Ids; a dict (``config.json`` contents); a transformers ``PretrainedConfig`` / ``GenerationConfig``; or a
        path to a JSON file, or to a folder whose ``generation_config.json`` and ``config.json`` are both read.

    Returns
    -------
    frozenset of int
        The ids found (empty when there are none).
    """
    if config is None:
        return frozenset()
    if isinstance(config, (str, os.PathLike)):
        path = Path(config)
        files = [path / "generation_config.json", path / "config.json"] if path.is_dir() else [path]
        found: set[int] = set()
        for file in files:
            if file.is_file():
                found |= eos_token_ids_from_config(json.loads(file.read_text(encoding="utf-8")))
        return frozenset(found)
    if isinstance(config, Mapping):
        value = config.get("eos_token_id")
    elif isinstance(config, (int, np.integer)) or isinstance(config, Iterable):
        value = config
    else:
        value = getattr(config, "eos_token_id", None)
    if value is None:
        return frozenset()
    if isinstance(value, (int, np.integer)):
        return frozenset([int(value)])
    return frozenset(int(v) for v in value)


class _Source:
    """A tokenizer reduced to what the vocabulary needs (id -> token string, excluded ids, decoder description)."""

    def __init__(self, tokens, excluded, decoder, pre_tokenizer=None, byte_fallback=False, byte_decoder=None):
        self.tokens: list[str | None] = tokens  # id -> token string as the model stores it
        self.excluded: dict[int, str] = excluded  # special / added token ids -> their content
        self.decoder, self.pre_tokenizer = decoder, pre_tokenizer  # tokenizer.json sections (dicts) or None
        self.byte_fallback, self.byte_decoder = byte_fallback, byte_decoder  # byte_decoder: slow tokenizers' table

    def id_of(self, token: str) -> int | None:
        ids = [i for i, t in self.excluded.items() if t == token]
        return ids[0] if ids else next((i for i, t in enumerate(self.tokens) if t == token), None)

    @classmethod
    def from_json(cls, spec: dict) -> _Source:
        model = spec.get("model") or {}
        vocab = model.get("vocab") or {}
        vocab = {p[0]: i for i, p in enumerate(vocab)} if isinstance(vocab, list) else vocab  # Unigram: a list
        pairs = [(i, t) for t, i in vocab.items()]
        added = {int(a["id"]): a["content"] for a in spec.get("added_tokens") or []}
        return cls(_fill(pairs, added), added, spec.get("decoder"), spec.get("pre_tokenizer"),
                   bool(model.get("byte_fallback")))

    @classmethod
    def from_tokenizer(cls, tok) -> _Source:
        state = (lambda part: json.loads(part.__getstate__()) if part is not None else None)
        added = {int(i): a.content for i, a in tok.get_added_tokens_decoder().items()}
        pairs = [(i, t) for t, i in tok.get_vocab(with_added_tokens=False).items()]
        return cls(_fill(pairs, added), added, state(tok.decoder), state(tok.pre_tokenizer),
                   bool(getattr(tok.model, "byte_fallback", False)))

    @classmethod
    def from_slow(cls, tok) -> _Source:
        n = len(tok)
        tokens = list(tok.convert_ids_to_tokens(list(range(n))))
        excluded = {int(i): tokens[i] for i in getattr(tok, "all_special_ids", []) if 0 <= i < n}
        for i, a in dict(getattr(tok, "added_tokens_decoder", {}) or {}).items():
            excluded[int(i)] = str(getattr(a, "content", a))
        byte_decoder = getattr(tok, "byte_decoder", None)
        if byte_decoder:
            return cls(tokens, excluded, {"type": "ByteLevel"}, byte_decoder=byte_decoder)
        if getattr(tok, "sp_model", None) is not None or str(getattr(tok, "vocab_file", "")).endswith(".model"):
            decoder = {"type": "Sequence", "decoders": [{"type": "Metaspace", "replacement": "▁"}, {"type": "Fuse"}]}
            return cls(tokens, excluded, decoder, byte_fallback=True)
        raise VocabularyError(f"cannot tell how the tokens of slow tokenizer {type(tok).__name__} map to bytes "
                              "(neither byte-level nor sentencepiece); use its fast version or from_token_bytes")


_WS = re.compile(r"[ \t\n\r]*")


def _read_spec(text: str) -> dict:
    """Parse tokenizer.json, without decoding the (large, unused) BPE merges when they come last in the file."""
    dec = json.JSONDecoder()

    def walk(i: int, in_model: bool):
        out: dict = {}
        i = _WS.match(text, i).end()
        if text[i] != "{":
            raise ValueError(f"expected an object at offset {i}")
        i = _WS.match(text, i + 1).end()
        while text[i] != "}":
            key, i = dec.raw_decode(text, i)
            i = _WS.match(text, i).end()
            i = _WS.match(text, i + 1).end()  # past ":"
            if key == "model" and not in_model:
                out[key], i = walk(i, True)
                if i is None:
                    return out, None
            elif key == "merges" and in_model:
                return out, None  # stop here: whatever follows is left out
            else:
                out[key], i = dec.raw_decode(text, i)
            i = _WS.match(text, i).end()
            if text[i] == ",":
                i = _WS.match(text, i + 1).end()
        return out, i + 1

    spec, _ = walk(0, False)
    if not {"added_tokens", "decoder", "pre_tokenizer"} <= spec.keys() or "vocab" not in spec.get("model", {}):
        spec = json.loads(text)  # unusual key order: parse everything
    return spec


def _fill(pairs, added) -> list[str | None]:
    n = 1 + max([i for i, _ in pairs] + list(added), default=-1)
    tokens: list[str | None] = [None] * n
    for i, t in pairs:
        tokens[i] = t
    return tokens


def _has_byte_level(part) -> bool:
    """Whether a decoder / pre-tokenizer description is or contains ``ByteLevel``."""
    if not isinstance(part, dict):
        return False
    children = part.get("decoders") or part.get("pretokenizers") or []
    return part.get("type") == "ByteLevel" or any(_has_byte_level(c) for c in children)


def _token_converter(src: _Source):
    """Return ``f(token_string) -> bytes`` for the source's decoder, or raise :class:`VocabularyError`."""
    dec = src.decoder
    steps = dec.get("decoders", []) if isinstance(dec, dict) and dec.get("type") == "Sequence" else [dec]
    if dec is None:
        if not _has_byte_level(src.pre_tokenizer):
            raise VocabularyError("tokenizer has no decoder, so how its tokens join into text is undefined "
                                  "(tokenizers joins them with spaces); set one, e.g. decoders.Fuse() for "
                                  "a character-level vocabulary")
        steps = [{"type": "ByteLevel"}]
    if any(s.get("type") == "ByteLevel" for s in steps):
        if any(s.get("type") not in ("ByteLevel", "Fuse") for s in steps):
            raise VocabularyError(f"unsupported decoder: ByteLevel combined with other steps ({dec})")
        table = _byte_level_table(src.byte_decoder or gpt2_byte_decoder())
        return lambda s: s.translate(table).encode("latin-1")
    ops: list[tuple] = []
    fused = False
    if src.byte_fallback and not any(s.get("type") == "ByteFallback" for s in steps):
        ops.append(("bytes",))
    for step in steps:
        kind = step.get("type")
        if kind == "Replace" and "String" in step.get("pattern", {}):
            ops.append(("replace", step["pattern"]["String"], step["content"]))
        elif kind == "Metaspace":
            ops.append(("replace", step.get("replacement", "▁"), " "))   # dummy-prefix removal is first-token only
        elif kind == "ByteFallback":
            ops.append(("bytes",))
        elif kind == "Fuse":
            fused = True
        elif kind == "Strip":
            if not fused:  # before Fuse it applies to every token; after, only to the text's ends
                ops.append(("strip", step["content"], int(step["start"]), int(step["stop"])))
        elif kind == "WordPiece":
            ops.append(("wordpiece", step.get("prefix", "##"), bool(step.get("cleanup", True))))
        else:
            detail = "Replace with a regex pattern" if kind == "Replace" else repr(kind)
            raise VocabularyError(f"unsupported tokenizer decoder type {detail}: cannot map its tokens to bytes")

    def convert(s: str) -> bytes:
        for op in ops:
            if op[0] == "replace":
                s = s.replace(op[1], op[2])
            elif op[0] == "bytes":
                m = _BYTE_TOKEN.fullmatch(s)
                if m:
                    return bytes([int(m.group(1), 16)])
            elif op[0] == "strip":
                _, ch, start, stop = op
                s = s[min(start, len(s) - len(s.lstrip(ch))):]
                s = s[: len(s) - min(stop, len(s) - len(s.rstrip(ch)))]
            else:  # wordpiece
                s = s[len(op[1]):] if s.startswith(op[1]) else " " + s
                if op[2]:
                    for a, b in _WORDPIECE_CLEANUP:
                        s = s.replace(a, b)
        return s.encode("utf-8")

    return convert


def _eos_from_folder(folder: Path, src: _Source) -> set[int]:
    """EOS ids named by the tokenizer / generation / model configs in a tokenizer folder."""
    found: set[int] = set()
    for name in ("tokenizer_config.json", "special_tokens_map.json"):
        path = folder / name
        token = json.loads(path.read_text(encoding="utf-8")).get("eos_token") if path.is_file() else None
        token = token.get("content") if isinstance(token, dict) else token
        if token:
            tid = src.id_of(token)
            if tid is None:
                raise VocabularyError(f"{path} names eos_token {token!r}, which is not in the vocabulary")
            found.add(tid)
    return found | set(eos_token_ids_from_config(folder))


class Vocabulary:
    """Byte content of every token of a language model's vocabulary.

    Parameters
    ----------
    token_bytes : sequence of bytes, str or None
        Index = token id; ``None`` (or ``b""``) = not part of the constrained vocabulary; ``str`` is UTF-8 encoded.
    eos_token_ids : iterable of int
        End-of-sequence ids; their entries are forced to ``None``.
    names : dict of int to str, optional
        Original strings of excluded (special / added) tokens, for :meth:`token_str`.

    Attributes
    ----------
    token_bytes : list of bytes or None
        Do not mutate: ``lengths``, ``byte_matrix`` and ``fingerprint`` derive from it.
    eos_token_ids : frozenset of int
    size : int
        ``len(token_bytes)``, possibly padded to the model's embedding size.
    lengths : numpy.ndarray
        int32 ``[size]``, 0 for ``None`` entries.
    byte_matrix, fingerprint
        See the properties (computed on first use).
    """

    def __init__(self, token_bytes, eos_token_ids, *, names: Mapping[int, str] | None = None) -> None:
        tb: list[bytes | None] = [b or None if type(b) is bytes else _as_bytes(i, b) for i, b in enumerate(token_bytes)]
        eos = frozenset(int(e) for e in eos_token_ids)
        bad = sorted(e for e in eos if not 0 <= e < len(tb))
        if bad:
            raise VocabularyError(f"EOS token ids {bad} are outside the vocabulary of size {len(tb)}")
        for e in eos:
            tb[e] = None
        self.token_bytes, self.eos_token_ids, self.size = tb, eos, len(tb)
        self.lengths = np.fromiter((len(b) if b else 0 for b in tb), dtype=np.int32, count=len(tb))
        self._names = dict(names or {})

    @classmethod
    def from_token_bytes(cls, token_bytes, eos_token_ids, *, size: int | None = None) -> Vocabulary:
        """Build a vocabulary from an explicit list of token bytes (``str`` entries are encoded as UTF-8).

        ``eos_token_ids`` may be empty; their entries become ``None``. ``size`` pads with ``None`` entries.
        """
        return cls(_pad(list(token_bytes), size, eos_token_ids), eos_token_ids)

    @classmethod
    def from_huggingface(cls, tokenizer, *, eos_token_ids=None, size: int | None = None,
                         model_config=None) -> Vocabulary:
        """Build the vocabulary of a Hugging Face tokenizer.

        Parameters
        ----------
        tokenizer : transformers tokenizer, tokenizers.Tokenizer, str or os.PathLike
            A fast (``backend_tokenizer``) or slow transformers tokenizer, a ``tokenizers.Tokenizer``, or a path to
            a ``tokenizer.json`` file or the folder holding it.
        eos_token_ids : int or iterable of int, optional
            Explicit EOS ids. Default: the tokenizer's ``eos_token_id`` (transformers), else the ``eos_token`` of
            ``tokenizer_config.json`` / ``special_tokens_map.json`` and the ``eos_token_id`` of
            ``generation_config.json`` / ``config.json`` found next to the tokenizer (all of them, united).
        size : int, optional
            The model's embedding size: ids past the tokenizer are ``None``.
        model_config : optional
            A model / generation config (anything :func:`eos_token_ids_from_config` accepts) whose EOS ids are
            added to the others.

        Returns
        -------
        Vocabulary

        Raises
        ------
        VocabularyError
            Unknown tokenizer type or decoder, a regular token that cannot be mapped to bytes, no EOS id found,
            or ``size`` smaller than the tokenizer.
        """
        folder: Path | None = None
        eos: set[int] = set()
        if isinstance(tokenizer, (str, os.PathLike)):
            path = Path(tokenizer)
            file = path / "tokenizer.json" if path.is_dir() else path
            if not file.is_file():
                raise VocabularyError(f"no tokenizer.json at {path}")
            try:
                src = _Source.from_json(_read_spec(file.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
                raise VocabularyError(f"cannot read tokenizer file {file}: {exc}") from exc
            folder = file.parent
        elif isinstance(tokenizer, Tokenizer):
            src = _Source.from_tokenizer(tokenizer)
        elif isinstance(getattr(tokenizer, "backend_tokenizer", None), Tokenizer):
            src = _Source.from_tokenizer(tokenizer.backend_tokenizer)
            eos = _transformers_eos(tokenizer)
        elif callable(getattr(tokenizer, "convert_ids_to_tokens", None)) and hasattr(tokenizer, "__len__"):
            src = _Source.from_slow(tokenizer)
            eos = _transformers_eos(tokenizer)
        else:
            raise VocabularyError(f"unsupported tokenizer object of type {type(tokenizer).__module__}."
                                  f"{type(tokenizer).__qualname__}: pass a transformers tokenizer, a "
                                  "tokenizers.Tokenizer, or a path to tokenizer.json or its folder")
        if eos_token_ids is not None:
            eos = set(eos_token_ids_from_config(eos_token_ids))
        else:
            name_dir = getattr(tokenizer, "name_or_path", None)
            if folder is None and name_dir and Path(str(name_dir)).is_dir():
                folder = Path(str(name_dir))
            if folder is not None:
                eos |= _eos_from_folder(folder, src)
        eos |= eos_token_ids_from_config(model_config)
        if not eos and eos_token_ids is None:
            raise VocabularyError("cannot find the tokenizer's EOS token (no eos_token_id, and no eos_token / "
                                  "eos_token_id in tokenizer_config.json, special_tokens_map.json, "
                                  "generation_config.json or config.json); pass eos_token_ids= explicitly")

        convert = _token_converter(src)
        token_bytes: list[bytes | None] = [None] * len(src.tokens)
        for i, s in enumerate(src.tokens):
            try:
                if s is not None and i not in src.excluded:
                    token_bytes[i] = convert(s)
            except UnicodeError:
                raise VocabularyError(f"token {i} ({s!r}) cannot be mapped to bytes (characters outside "
                                      "the byte-level alphabet, or unpaired surrogates)") from None
        return cls(_pad(token_bytes, size, eos), eos, names=src.excluded)

    @property
    def max_len(self) -> int:
        """Length in bytes of the longest token (0 for an empty vocabulary)."""
        return int(self.lengths.max()) if self.size else 0

    @cached_property
    def byte_matrix(self) -> np.ndarray:
        """uint8 ``[size, max_len]``: row ``t`` holds the bytes of token ``t``, zero padded."""
        out = np.zeros((self.size, self.max_len), dtype=np.uint8)
        data = np.frombuffer(b"".join(b for b in self.token_bytes if b), dtype=np.uint8)
        if data.size:
            lengths = self.lengths.astype(np.int64)
            starts = np.cumsum(lengths) - lengths
            rows = np.repeat(np.arange(self.size), lengths)
            out[rows, np.arange(data.size) - np.repeat(starts, lengths)] = data
        return out

    @cached_property
    def free_mask(self) -> np.ndarray:
        """Read-only bool ``[size]``: the tokens unconstrained generation allows (those with bytes, and EOS)."""
        mask = np.array([b is not None for b in self.token_bytes], dtype=bool)
        mask[sorted(self.eos_token_ids)] = True
        mask.flags.writeable = False
        return mask

    @cached_property
    def fingerprint(self) -> str:
        """sha256 hex digest of the size, the token bytes (with their lengths) and the sorted EOS ids."""
        h = hashlib.sha256(b"corral-vocabulary-v1")
        h.update(np.array([self.size], dtype="<i8").tobytes())
        h.update(self.lengths.astype("<i4").tobytes())
        h.update(b"".join(b for b in self.token_bytes if b))
        h.update(np.array(sorted(self.eos_token_ids), dtype="<i8").tobytes())
        return h.hexdigest()

    def decode(self, ids) -> bytes:
        """Concatenate the bytes of token ``ids`` (EOS and ``None`` entries contribute nothing).

        Raises
        ------
        IndexError
            An id outside ``range(size)``.
        """
        tb, n, ids = self.token_bytes, self.size, [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < n]
        if bad:
            raise IndexError(f"token id {bad[0]} outside the vocabulary of size {n}")
        return b"".join([tb[i] for i in ids if tb[i] is not None])

    def token_str(self, token_id: int) -> str:
        """Readable description of one token, for debugging.

        ``repr`` of the token's text (of its bytes when not valid UTF-8); for ``None`` entries, the token's original
        string (``<id N>`` when unknown) tagged ``[eos]``, ``[special]`` or ``[unused]``.
        """
        b = self.token_bytes[token_id]
        if b is not None:
            try:
                return repr(b.decode("utf-8"))
            except UnicodeDecodeError:
                return repr(b)
        tag = "eos" if token_id in self.eos_token_ids else "special" if token_id in self._names else "unused"
        return f"{self._names.get(token_id, f'<id {token_id}>')} [{tag}]"

    def __len__(self) -> int:
        """Number of ids (``size``)."""
        return self.size

    def __repr__(self) -> str:
        """Short summary."""
        n = sum(b is not None for b in self.token_bytes)
        return f"Vocabulary(size={self.size}, tokens={n}, eos={sorted(self.eos_token_ids)}, max_len={self.max_len})"


def _pad(token_bytes: list, size: int | None, eos) -> list:
    """Pad with ``None`` (or trim trailing unused ids) to ``size``."""
    if size is None or size == len(token_bytes):
        return token_bytes
    if size > len(token_bytes):
        return token_bytes + [None] * (size - len(token_bytes))
    eos = eos_token_ids_from_config(eos)
    if any(b is not None for b in token_bytes[size:]) or any(e >= size for e in eos):
        raise VocabularyError(f"size {size} is smaller than the tokenizer's vocabulary ({len(token_bytes)} ids)")
    return token_bytes[:size]


def _as_bytes(i: int, b) -> bytes | None:
    if b is None or isinstance(b, (bytes, bytearray, memoryview)):
        return bytes(b) or None if b is not None else None
    if isinstance(b, str):
        return b.encode("utf-8") or None
    raise VocabularyError(f"token {i}: expected bytes, str or None, got {type(b).__name__}")


def _transformers_eos(tokenizer) -> set[int]:
    eos = getattr(tokenizer, "eos_token_id", None)
    return set(eos_token_ids_from_config(eos)) if eos is not None else set()
