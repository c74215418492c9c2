"""Look at tokens: which tokens a matcher state allows next (:func:`allowed_tokens`), and how a result's tokens were
produced (:func:`token_view`: forced, sampled, accepted drafts, the model's probability of each, AWRS checks and
rejected drafts).

Both return small objects with a plain text form (``str``), a short ``repr`` and a notebook form (``_repr_html_``).
The HTML is a well-formed fragment with inline styles only: user text is escaped with :func:`html.escape`, and
control characters are written as ``\\xNN``. This module imports nothing from ``corral`` (results and matchers are
read by attribute), so :class:`corral.result.Result` can use it for its own display without an import cycle.
"""

from __future__ import annotations

import html
import re
import textwrap
from collections import Counter
from dataclasses import dataclass

import numpy as np

__all__ = ["AllowedTokens", "TokenView", "allowed_tokens", "result_html", "token_view"]

_MAX_SPANS = 2000  # tokens a TokenView shows in HTML
#: The token view's colour of each step source ("r,g,b"; spans use it with an opacity that grows with the probability).
SOURCE_RGB = {"sampled": "66,133,244", "forced": "128,128,128", "draft": "46,160,67", "eos": "229,57,53"}
_LEGEND = {"sampled": "sampled", "forced": "forced (only allowed token)", "draft": "accepted draft", "eos": "EOS"}
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")  # not allowed in XML 1.0, or \r
_FONT = "font-family:monospace"


def _escape(text) -> str:
    """``html.escape`` (quotes too), with control characters and lone surrogates written as ``\\xNN``/``\\uNNNN``."""
    return _UNSAFE.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}",
                       html.escape(str(text), quote=True))


def _label(data: bytes) -> str:
    """A token's bytes as text: UTF-8 when valid, else with ``\\xNN`` escapes for the bytes that are not."""
    return data.decode("utf-8", errors="backslashreplace")


def _visible(text: str) -> str:
    """Whitespace made visible: space, newline, tab, carriage return as symbols."""
    return text.replace(" ", "\u2423").replace("\n", "\u21b5").replace("\t", "\u21e5").replace("\r", "\u240d")


def _chip(text: str, title: str, style: str = "") -> str:
    """A small boxed token."""
    return (f'<span style="{_FONT};display:inline-block;white-space:pre;border:1px solid rgba(127,127,127,0.45);'
            f'border-radius:3px;padding:0 3px;margin:1px 2px;{style}" title="{_escape(title)}">{_escape(text)}</span>')


# ----------------------------------------------------------------------------------------------------------------
# allowed tokens


@dataclass(frozen=True, eq=False)
class AllowedTokens:
    """The tokens a matcher state allows next (what :func:`allowed_tokens` returns).

    Attributes
    ----------
    ids : numpy.ndarray
        int64, increasing: every allowed token id (EOS included when allowed), i.e. ``flatnonzero(mask())``.
    shown : tuple of (int, bytes)
        The first ``limit`` allowed tokens other than EOS, by id, with their bytes.
    eos_allowed : bool
        Whether EOS is allowed (the text so far is complete).
    forced_tokens : tuple of int
        The tokens forced from here in sequence (each the only allowed token at its step).
    forced_prefix : bytes
        Their bytes: every continuation starts with them. Exact, but token-level: the byte-level forced prefix
        may be longer (several tokens can be allowed whose continuations share more bytes).
    forced_eos : bool
        Whether the forced tokens end with EOS (the text is then fully determined).
    """

    ids: np.ndarray
    shown: tuple
    eos_allowed: bool
    forced_tokens: tuple
    forced_prefix: bytes
    forced_eos: bool = False

    @property
    def count(self) -> int:
        """How many tokens are allowed (EOS included)."""
        return int(self.ids.size)

    def _summary(self) -> str:
        eos = "EOS allowed" if self.eos_allowed else "EOS not allowed"
        n = len(self.forced_tokens)
        forced = (f"forced: {self.forced_prefix!r}{' then EOS' if self.forced_eos else ''} "
                  f"({n} token{'s' if n != 1 else ''})" if n else "nothing forced")
        return f"{self.count} allowed token{'s' if self.count != 1 else ''} ({eos}); {forced}"

    def __str__(self) -> str:
        """The summary line, then the shown tokens (``repr(text):id``)."""
        items = ", ".join(f"{_label(b)!r}:{i}" for i, b in self.shown)
        more = self.count - len(self.shown) - int(self.eos_allowed)
        body = textwrap.fill(items + (f", ... {more} more" if more > 0 else ""), 100, initial_indent="  ",
                             subsequent_indent="  ", break_on_hyphens=False)
        return self._summary() + ("\n" + body if self.shown else "")

    def __repr__(self) -> str:
        first = [_label(b) for _, b in self.shown[:5]]
        return (f"AllowedTokens(count={self.count}, eos_allowed={self.eos_allowed}, "
                f"forced_prefix={self.forced_prefix!r}, first={first!r})")

    def _repr_html_(self) -> str:
        """The notebook display: the count, the forced prefix, then the shown tokens as boxes (whitespace visible)."""
        eos = " <b>EOS allowed</b>" if self.eos_allowed else ""
        head = f"<div><b>{self.count}</b> allowed tokens{eos}</div>"
        if self.forced_tokens:
            then = " then EOS" if self.forced_eos else ""
            chip = _chip(_visible(_label(self.forced_prefix)), "bytes every continuation starts with")
            head += f"<div>forced ({len(self.forced_tokens)} tokens): {chip}{then}</div>"
        chips = "".join(_chip(_visible(_label(b)), f"id {i}: {_label(b)!r}") for i, b in self.shown)
        if self.eos_allowed:
            chips += _chip("\u27e8eos\u27e9", "end of text", f"background:rgba({SOURCE_RGB['eos']},0.25)")
        more = self.count - len(self.shown) - int(self.eos_allowed)
        tail = f'<span style="opacity:0.6">\u2026 {more} more</span>' if more > 0 else ""
        return f'<div style="line-height:1.9">{head}<div>{chips}{tail}</div></div>'


def allowed_tokens(matcher, vocab=None, *, limit: int = 50, max_forced: int = 32) -> AllowedTokens:
    """The tokens a matcher state allows next, decoded, with their count and the forced prefix.

    Parameters
    ----------
    matcher : Matcher
        A constraint state (:class:`corral.runtime.matcher.Matcher` or anything with ``mask()`` and ``fork()``);
        it is not changed.
    vocab : Vocabulary, optional
        Default: the matcher's compiled grammar's vocabulary (``matcher.compiled.vocab``).
    limit : int
        Most tokens listed in ``shown`` (by increasing id); ``ids`` always holds all of them.
    max_forced : int
        Most forced tokens followed for the forced prefix.

    Returns
    -------
    AllowedTokens

    Raises
    ------
    ValueError
        No vocabulary given and the matcher has none.
    """
    if vocab is None:
        vocab = getattr(getattr(matcher, "compiled", None), "vocab", None) or getattr(matcher, "vocab", None)
        if vocab is None:
            raise ValueError("this matcher has no vocabulary: pass vocab=")
    mask = np.asarray(matcher.mask(), dtype=bool).reshape(-1)
    ids = np.flatnonzero(mask).astype(np.int64)
    eos_ids = frozenset(vocab.eos_token_ids)
    tb = vocab.token_bytes
    shown = []
    for i in ids[: limit + len(eos_ids)].tolist():
        if len(shown) < limit and i not in eos_ids:
            shown.append((i, (tb[i] if i < len(tb) else None) or b""))
    forced = _forced(matcher, eos_ids, max_forced, ids)
    prefix = b"".join((tb[t] or b"") for t in forced if t not in eos_ids)
    eos_allowed = any(0 <= e < mask.size and bool(mask[e]) for e in eos_ids)
    return AllowedTokens(ids, tuple(shown), eos_allowed, tuple(forced), prefix, bool(forced) and forced[-1] in eos_ids)


def _forced(matcher, eos_ids: frozenset, limit: int, ids: np.ndarray) -> list[int]:
    """The tokens forced from the matcher's state (``matcher.forced_tokens`` when it has it, else on a fork)."""
    if ids.size != 1 or limit < 1:
        return []
    if hasattr(matcher, "forced_tokens"):
        return [int(t) for t in matcher.forced_tokens(limit)]
    out, m = [], matcher.fork()
    while len(out) < limit:
        allowed = np.flatnonzero(np.asarray(m.mask(), dtype=bool))
        if allowed.size != 1:
            break
        out.append(int(allowed[0]))
        if out[-1] in eos_ids:
            break
        m.advance(out[-1])
    return out


# ----------------------------------------------------------------------------------------------------------------
# the tokens of a result


@dataclass(frozen=True)
class TokenView:
    """A result's tokens, one :class:`~corral.result.TokenStep` each (what :func:`token_view` returns).

    ``str()`` is a table (position, token, source, model probability, allowed count, AWRS checks and rejections,
    rejected drafts); the notebook shows the output as coloured spans, one per token (colour = source, opacity =
    the model's probability, details in the tooltip; a red underline where a draft was rejected).

    Attributes
    ----------
    steps : tuple of TokenStep
    """

    steps: tuple

    def __len__(self) -> int:
        """The number of tokens."""
        return len(self.steps)

    def counts(self) -> dict[str, int]:
        """How many tokens came from each source (``"sampled"``, ``"forced"``, ``"draft"``, ``"eos"``)."""
        return dict(Counter(s.source for s in self.steps))

    def __repr__(self) -> str:
        return f"TokenView({len(self.steps)} tokens: {self.counts()})"

    def __str__(self) -> str:
        """A table, one row per token (``-`` where a value is unknown)."""
        rows = [f"{'pos':>4}  {'token':<18} {'source':<8} {'prob':>8} {'allowed':>7} {'checks':>6} {'rejects':>7}  "
                "drafts"]
        for i, s in enumerate(self.steps):
            tok = _token_text(s)
            tok = tok if len(tok) <= 18 else tok[:17] + "\u2026"
            drafts = (f"{s.draft_kind} " if s.draft_kind else "") + (f"x{s.n_rejected_drafts} rejected"
                                                                      if s.n_rejected_drafts else "")
            rows.append(f"{i:>4}  {tok:<18} {s.source:<8} {_num(s.prob, '.3g'):>8} {_num(s.n_allowed):>7} "
                        f"{_num(s.checks):>6} {_num(s.rejects):>7}  {drafts}".rstrip())
        return "\n".join(rows)

    def _repr_html_(self) -> str:
        """The notebook display: a legend, then the output as coloured spans, one per token."""
        spans = "".join(_span(i, s) for i, s in enumerate(self.steps[:_MAX_SPANS]))
        if len(self.steps) > _MAX_SPANS:
            spans += f'<span style="opacity:0.6">\u2026 {len(self.steps) - _MAX_SPANS} more tokens</span>'
        legend = "".join(f'<span style="background:rgba({SOURCE_RGB[k]},0.45);border-radius:3px;padding:0 4px;'
                         f'margin-right:6px">{_escape(v)}</span>' for k, v in _LEGEND.items())
        legend += ('<span style="border-bottom:2px solid #c62828;margin-right:6px">draft rejected here</span>'
                   '<span style="opacity:0.7">opacity: model probability; hover a token for details</span>')
        return (f'<div><div style="font-size:0.85em;margin:2px 0">{legend}</div>'
                f'<div style="{_FONT};white-space:pre-wrap;line-height:1.7;border:1px solid rgba(127,127,127,0.35);'
                f'border-radius:4px;padding:6px 8px">{spans}</div></div>')


def _is_eos(s) -> bool:
    """Whether a step is the EOS token (its source, or no bytes: every other generated token has bytes)."""
    return s.source == "eos" or not s.data


def _token_text(s) -> str:
    """The repr of a step's token for the table (``<eos>``; the bytes when the text is a partial character)."""
    if _is_eos(s):
        return "<eos>"
    return repr(s.text) if s.text or not s.data else repr(s.data)


def _num(x, fmt: str = "d") -> str:
    """``x`` formatted, ``-`` for ``None``."""
    return "-" if x is None else format(x, fmt)


def _span(i: int, s) -> str:
    """One token as a coloured span (EOS as a marker; a partial character as an empty span with a left border)."""
    alpha = 0.35 if s.prob is None else 0.12 + 0.6 * float(s.prob)
    rgb = SOURCE_RGB.get(s.source, SOURCE_RGB["sampled"])
    style = f"background:rgba({rgb},{alpha:.2f});box-shadow:inset -1px 0 rgba(127,127,127,0.5)"
    if s.n_rejected_drafts:
        style += ";border-bottom:2px solid #c62828"
    tip = [f"#{i}  id {s.token_id}  {_token_text(s)}", f"source: {s.source}"
           + (f" ({s.draft_kind} draft)" if s.draft_kind else ""),
           f"p = {_num(s.prob, '.4g')}  allowed: {_num(s.n_allowed)}"]
    if s.checks or s.rejects:
        tip.append(f"checks: {_num(s.checks)}  rejects: {_num(s.rejects)}")
    if s.n_rejected_drafts:
        tip.append(f"rejected drafts: {s.n_rejected_drafts}")
    if _is_eos(s):
        text, style = "\u27e8eos\u27e9", style + ";font-size:0.8em"
    else:
        text = s.text
        if not text:
            style += ";border-left:2px solid rgba(127,127,127,0.8)"
    return f'<span style="{style}" title="{_escape(chr(10).join(tip))}">{_escape(text)}</span>'


def token_view(result) -> TokenView:
    """A result's tokens, one per :class:`~corral.result.TokenStep`.

    Parameters
    ----------
    result : Result or sequence of TokenStep
        A :class:`corral.result.Result` (its ``steps``) or the steps themselves.

    Returns
    -------
    TokenView
    """
    steps = getattr(result, "steps", result)
    return TokenView(tuple(steps or ()))


def result_html(result) -> str:
    """The notebook display of a :class:`corral.result.Result`: a header (status, tokens, log-probabilities,
    timings), then the token view (or the text when no steps were recorded).

    Parameters
    ----------
    result : Result

    Returns
    -------
    str
        A well-formed HTML fragment.
    """
    status = result.status
    colour = {"complete": "#2e7d32", "length": "#b26a00"}.get(status, "#c62828")
    t = result.timings or {}
    facts = [f"{len(result.token_ids)} tokens", f"logprob {result.logprob:.4g}",
             f"model logprob {result.model_logprob:.4g}"]
    if result.log_z is not None:
        facts.append(f"log Z {result.log_z:.4g}")
    if "total_s" in t:
        facts.append(f"{t['total_s']:.3g} s")
    if t.get("tokens_per_s"):
        facts.append(f"{t['tokens_per_s']:.3g} tokens/s")
    sep = " \u00b7 "
    head = (f'<div style="margin:2px 0"><span style="background:{colour};color:#fff;border-radius:3px;'
            f'padding:1px 6px;font-weight:bold">{_escape(status)}</span> {_escape(sep.join(facts))}</div>')
    if result.steps:
        return f"<div>{head}{token_view(result)._repr_html_()}</div>"
    return f'<div>{head}<pre style="{_FONT};white-space:pre-wrap">{_escape(result.text)}</pre></div>'
