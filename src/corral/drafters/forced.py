"""Grammar fast-forward as a drafter: byte strings the grammar forces, tokenized with boundary back-off.

A token is *forced* when the mask has one element; the speculative round drafts those itself (``q = δ``, predicted
acceptance 1). This module handles the more common case where the grammar forces *bytes* but several tokens are
allowed (``"`` ``"e`` ``"email`` when the text must continue with ``"email":``): the forced string is tokenized
with the target's tokenizer, the trailing tokens that a longer vocabulary token could span are dropped (back-off,
so that canonical tokenizations across the boundary stay reachable), and the rest are proposed as point-mass
drafts. They are never committed unverified: D1 accepts each with probability ``p_c(token)``, D2 iff the target's
Gumbel argmax agrees, so a non-canonical tokenization costs speed, never exactness.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from corral.drafters.base import Drafter
from corral.protocols import Proposal

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.protocols import ConstraintState
    from corral.tokens.vocabulary import Vocabulary

__all__ = ["FastForwardDrafter", "forced_bytes"]


def _allowed_ids(vocab: Vocabulary, mask: np.ndarray) -> np.ndarray:
    """The allowed tokens of ``mask`` that have bytes (EOS excluded)."""
    ids = np.flatnonzero(mask[: vocab.size])
    return ids[vocab.lengths[ids] > 0]


def forced_bytes(matcher: ConstraintState, mask: np.ndarray | None = None, *, limit: int = 64) -> bytes:
    """The longest byte string (up to ``limit``) that every token-realisable continuation starts with.

    Parameters
    ----------
    matcher : ConstraintState
        Read only. Only a :class:`~corral.runtime.matcher.Matcher` (a grammar state) forces bytes; any other state
        gives ``b""``.
    mask : numpy.ndarray, optional
        The matcher's current mask, if already computed.
    limit : int
        Most bytes returned.

    Returns
    -------
    bytes
        Empty when the text may end here (EOS allowed) or the next byte is not forced.
    """
    compiled = getattr(matcher, "compiled", None)
    state = getattr(matcher, "_state", None)
    if compiled is None or state is None:
        return b""
    vocab = compiled.vocab
    eos = np.array(sorted(vocab.eos_token_ids), dtype=np.int64)
    m = matcher.mask() if mask is None else mask
    out = bytearray()
    while len(out) < limit:
        if eos.size and m[eos].any():
            break
        ids = _allowed_ids(vocab, m)
        if ids.size == 0:
            break
        rows = vocab.byte_matrix[ids]
        first = rows[:, 0]
        if (first != first[0]).any():
            break
        n = int(vocab.lengths[ids].min())
        same = (rows[:, :n] == rows[0, :n]).all(axis=0)
        k = n if same.all() else int(np.argmin(same))
        piece = bytes(rows[0, :k])
        piece = piece[: limit - len(out)]
        state = compiled._feed(state, piece)
        if not state.viable:  # cannot happen for a consistent mask; be safe
            break
        out += piece
        m = compiled._mask(state)
    return bytes(out)


_TABLES: dict = {}  # vocabulary fingerprint -> (by_bytes, max_len, prefixes), shared by every drafter of it
_MAX_TABLES = 8


def _byte_tables(vocab: Vocabulary) -> tuple[dict, int, frozenset]:
    """``(bytes -> first token id, longest token, proper prefixes of tokens)`` of ``vocab``, built once per
    vocabulary (a drafter is made per request; the tables cost milliseconds)."""
    key = getattr(vocab, "fingerprint", None)
    hit = _TABLES.get(key) if key is not None else None
    if hit is not None:
        return hit
    by_bytes: dict[bytes, int] = {}
    for t, b in enumerate(vocab.token_bytes):
        if b and b not in by_bytes:
            by_bytes[b] = t
    prefixes = frozenset(b[:j] for b in by_bytes for j in range(1, len(b)))
    tables = (by_bytes, max((len(b) for b in by_bytes), default=1), prefixes)
    if key is not None:
        if len(_TABLES) >= _MAX_TABLES:
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[key] = tables
    return tables


class _Tokenizer:
    """Tokenize bytes with the target's tokenizer when it round-trips, else greedy longest match."""

    def __init__(self, vocab: Vocabulary, tokenizer: Any = None) -> None:
        self.vocab = vocab
        self.tokenizer = tokenizer
        self.by_bytes, self.max_len, self.prefixes = _byte_tables(vocab)

    def greedy(self, data: bytes) -> list[int]:
        """Greedy longest-match tokenization of ``data`` (stops at an untokenizable byte)."""
        out, i = [], 0
        while i < len(data):
            for n in range(min(self.max_len, len(data) - i), 0, -1):
                t = self.by_bytes.get(data[i : i + n])
                if t is not None:
                    out.append(t)
                    i += n
                    break
            else:
                return out  # an untokenizable byte: stop there
        return out

    def __call__(self, data: bytes) -> list[int]:
        """The tokenizer's ids of ``data`` when they spell it exactly, else :meth:`greedy`'s."""
        tok = self.tokenizer
        if tok is not None:
            try:
                text = data.decode("utf-8")
                enc = tok.encode(text, add_special_tokens=False)
                ids = [int(i) for i in getattr(enc, "ids", enc)]
                if b"".join(self.vocab.token_bytes[i] or b"\x00\xff" for i in ids) == data:
                    return ids
            except Exception:  # partial UTF-8, odd tokenizer: fall back
                pass
        return self.greedy(data)

    def back_off(self, data: bytes, ids: list[int], max_drop: int = 4) -> list[int]:
        """Drop the trailing tokens from the first one (among the last ``max_drop``) that a longer token could
        extend past the end of ``data``."""
        offsets, o = [], 0
        for t in ids:
            offsets.append(o)
            o += len(self.vocab.token_bytes[t])
        cut = len(ids)
        for j in range(len(ids) - 1, max(-1, len(ids) - 1 - max_drop), -1):
            if data[offsets[j]:] in self.prefixes:
                cut = j
        return ids[:cut]


class FastForwardDrafter(Drafter):
    """Propose the tokens of the byte string the grammar forces (see the module docstring).

    Parameters
    ----------
    vocab : Vocabulary
        The target's vocabulary.
    tokenizer : optional
        The target's tokenizer (``encode(text, add_special_tokens=False)``); without it, greedy longest match.
    max_bytes : int
        Longest forced string looked at.
    max_drop : int
        Most trailing tokens dropped by the back-off.
    """

    def __init__(self, vocab: Vocabulary, tokenizer: Any = None, *, max_bytes: int = 64, max_drop: int = 4) -> None:
        self.vocab = vocab
        self.tok = _Tokenizer(vocab, tokenizer)
        self.max_bytes = int(max_bytes)
        self.max_drop = int(max_drop)
        self.cost = 0.0
        self._plan: list[int] = []
        self._plan_start = -1
        self._plan_anchor = None
        self._cache: dict = {}

    def begin(self, prompt_ids: Sequence[int]) -> None:
        """Forget the current plan."""
        self._plan, self._plan_start = [], -1

    def plan(self, matcher: ConstraintState, mask: np.ndarray | None) -> list[int]:
        """The back-off tokenization of the forced string at the matcher's state (cached by state)."""
        key = matcher.state_key() if hasattr(matcher, "state_key") else None
        if key is not None:
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        data = forced_bytes(matcher, mask, limit=self.max_bytes)
        ids = self.tok.back_off(data, self.tok(data), self.max_drop) if data else []
        if key is not None:
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[key] = ids
        return ids

    def propose(self, ctx: list[int], matcher: ConstraintState | None, mask: np.ndarray | None) -> Proposal | None:
        """The next token of the current plan, or of a new plan when the next byte is forced."""
        if matcher is None or not hasattr(matcher, "compiled"):
            return None
        n = len(ctx)
        plan, start = self._plan, self._plan_start
        if start >= 0 and start <= n < start + len(plan) and ctx[start - 1] == self._plan_anchor \
                and ctx[start:n] == plan[: n - start]:
            tok = plan[n - start]
            if mask is None or mask[tok]:
                return Proposal("ff", token=int(tok), feature=1.0)
        if mask is not None:
            ids = _allowed_ids(self.vocab, mask)
            if ids.size < 2 or (self.vocab.byte_matrix[ids, 0] != self.vocab.byte_matrix[ids[0], 0]).any():
                return None  # the next byte is not forced (cheap test before any work)
        plan = self.plan(matcher, mask)
        if not plan:
            self._plan, self._plan_start = [], -1
            return None
        self._plan, self._plan_start, self._plan_anchor = plan, n, (ctx[n - 1] if n else None)
        tok = plan[0]
        if mask is not None and not mask[tok]:
            return None
        return Proposal("ff", token=int(tok), feature=1.0)

    def __repr__(self) -> str:
        return "FastForwardDrafter()"
