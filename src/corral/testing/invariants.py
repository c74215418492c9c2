"""Invariant checks for constraint states: one step (:func:`assert_step_invariants`), one random walk
(:func:`random_walk`), or many walks over a grammar or any constraint state (:func:`check_matcher_invariants`).

Every check raises ``AssertionError`` naming the walk, the step, the text so far, the token and what was expected
against what was found. The compiler and the runtime are imported on first use.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from corral.testing.vocab import _as_grammar, synthetic_vocab_for

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.compile.grammar import Grammar
    from corral.protocols import ConstraintState
    from corral.runtime.matcher import CompiledGrammar
    from corral.tokens.vocabulary import Vocabulary


class _Where:
    """Where a walk is, for messages: the walk's name, the step, the text so far (decoded only on failure)."""

    __slots__ = ("label", "step", "vocab", "taken")

    def __init__(self, label: str, step: int | None = None, vocab=None, taken: Sequence[int] = ()) -> None:
        self.label, self.step, self.vocab, self.taken = label, step, vocab, list(taken)

    def __str__(self) -> str:
        parts = [self.label] if self.label else []
        if self.step is not None:
            parts.append(f"step {self.step}")
        if self.vocab is not None:
            parts.append(f"text so far {_text(self.vocab, self.taken, 'replace')!r}")
        elif self.taken:
            parts.append(f"tokens so far {self.taken}")
        return ", ".join(parts) or "matcher"

    def token(self, t: int) -> str:
        """``token 5 (b'ab')``."""
        tb = self.vocab.token_bytes[t] if self.vocab is not None and 0 <= t < len(self.vocab.token_bytes) else None
        return f"token {t}" + (f" ({tb!r})" if tb is not None else "")


def _text(vocab, ids: Sequence[int], errors: str = "strict") -> str:
    """The text ``ids`` spell (EOS and special tokens contribute nothing)."""
    return vocab.decode([int(t) for t in ids]).decode("utf-8", errors=errors)


def _vocab_of(m) -> Vocabulary | None:
    """The vocabulary of a corral matcher (``m.compiled.vocab``) or of an object with ``vocab``."""
    compiled = getattr(m, "compiled", None)
    return getattr(compiled, "vocab", None) or getattr(m, "vocab", None)


def _eos_of(m, vocab, eos_token_ids) -> frozenset[int]:
    if eos_token_ids is not None:
        return frozenset(int(t) for t in eos_token_ids)
    vocab = vocab if vocab is not None else _vocab_of(m)
    if vocab is None:
        raise TypeError(f"cannot tell the EOS ids of {type(m).__name__}: pass vocab= or eos_token_ids=")
    return frozenset(vocab.eos_token_ids)


def _group_ids(group) -> np.ndarray:
    """The ids of a ``check_group`` rejection (a :class:`~corral.runtime.states.Rejection` or an id array)."""
    return np.asarray(group.all_ids() if hasattr(group, "all_ids") else group, dtype=np.int64).ravel()


def assert_step_invariants(m: ConstraintState, all_tokens: bool = True, rng: random.Random | None = None, *,
                           eos_token_ids: Collection[int] | None = None, vocab: Vocabulary | None = None,
                           where: object = "") -> np.ndarray:
    """Check one state of a constraint: mask against check, EOS against completeness, and the AWRS hooks.

    Checks, without changing the state:

    * ``mask()`` is a 1-d bool array and ``mask()[t] == check(t)`` for every token (or, with ``all_tokens=False``,
      for the first 300 allowed tokens and 300 random ones);
    * every EOS id is allowed iff ``is_complete()``;
    * where the state has them (:class:`~corral.protocols.GroupedConstraintState`): ``check_group(t)`` is ``None``
      iff ``t`` is allowed, otherwise a group that holds ``t`` and only disallowed tokens; ``implied(a, b)`` is
      never ``True`` for an allowed ``a`` and a disallowed ``b``;
    * for corral's :class:`~corral.runtime.matcher.Matcher`: ``check``'s fast path agrees with the full
      byte-level feed (``_next_state``).

    Parameters
    ----------
    m : ConstraintState
    all_tokens : bool, default: True
        Check every token; otherwise a sample (for large vocabularies).
    rng : random.Random, optional
        Draws the sample when ``all_tokens`` is false.
    eos_token_ids : collection of int, optional
        Default: the vocabulary's.
    vocab : Vocabulary, optional
        For the EOS ids and for messages; default: ``m.compiled.vocab`` or ``m.vocab``.
    where : object, default: ""
        Prefix of failure messages (e.g. ``"walk 2, step 5"``).

    Returns
    -------
    numpy.ndarray
        The mask.

    Raises
    ------
    AssertionError
        An invariant does not hold; the message names the token and what was expected against what was found.
    """
    vocab = vocab if vocab is not None else _vocab_of(m)
    eos = _eos_of(m, vocab, eos_token_ids)
    at = where if isinstance(where, _Where) else _Where(str(where), vocab=vocab)
    mask = np.asarray(m.mask())
    if mask.dtype != bool or mask.ndim != 1:
        raise AssertionError(f"{at}: mask() must be a 1-d bool array, got {mask.dtype} {mask.shape}")
    size = mask.shape[0]
    if all_tokens:
        ids = list(range(size))
    else:
        rng = rng or random.Random(0)
        ids = np.flatnonzero(mask)[:300].tolist() + rng.sample(range(size), min(300, size))
    for t in ids:
        got = bool(m.check(int(t)))
        if got != bool(mask[t]):
            raise AssertionError(f"{at}: mask and check disagree on {at.token(t)}: mask()[{t}] is {bool(mask[t])} "
                                 f"but check({t}) is {got}")
    if hasattr(m, "_next_state"):  # corral's Matcher: check's fast path against the full byte-level feed
        for t in ids[:: max(1, len(ids) // 80)]:
            full = m._next_state(int(t)) is not None
            if m.check(int(t)) != full:
                raise AssertionError(f"{at}: check and the byte-level feed disagree on {at.token(t)}: check is "
                                     f"{m.check(int(t))}, the feed says {full}")
    _check_groups(m, mask, ids, all_tokens, at)
    complete = bool(m.is_complete())
    for e in sorted(eos):
        if e < size and bool(mask[e]) != complete:
            raise AssertionError(f"{at}: EOS {e} {'is' if mask[e] else 'is not'} allowed but is_complete() is "
                                 f"{complete}")
    return mask


def _check_groups(m, mask: np.ndarray, ids: Sequence[int], all_tokens: bool, at: _Where) -> None:
    """The AWRS hooks, where the state has them: ``check_group`` rejects exactly the disallowed tokens with groups
    of disallowed tokens only, and ``implied(a, b)`` never links an allowed ``a`` to a disallowed ``b``."""
    size = mask.shape[0]
    if callable(getattr(m, "check_group", None)):
        for t in ids[:: max(1, len(ids) // 60)]:
            g = m.check_group(int(t))
            if mask[t]:
                if g is not None:
                    raise AssertionError(f"{at}: check_group rejects the allowed {at.token(t)}")
                continue
            if g is None:
                raise AssertionError(f"{at}: check_group returns None for the disallowed {at.token(t)}")
            group = _group_ids(g)
            if int(t) not in group.tolist():
                raise AssertionError(f"{at}: check_group({t}) returns a group without {t}: {group[:10].tolist()}")
            bad = group[mask[group]]
            if bad.size:
                raise AssertionError(f"{at}: check_group({t}) returns a group holding the allowed "
                                     f"{at.token(int(bad[0]))}")
    if callable(getattr(m, "implied", None)):
        allowed = np.flatnonzero(mask)
        others = range(size) if all_tokens else ids
        for a in allowed[:: max(1, len(allowed) // 20)].tolist():
            for b in others:
                if not mask[b] and m.implied(a, b):
                    raise AssertionError(f"{at}: implied({a}, {b}) is True but {at.token(a)} is allowed and "
                                         f"{at.token(int(b))} is not")


def random_walk(m: ConstraintState, rng: random.Random, steps: int, all_tokens: bool = True, p_eos: float = 0.3, *,
                eos_token_ids: Collection[int] | None = None, vocab: Vocabulary | None = None,
                oracle: Callable[[str], bool] | None = None, advance_checks: int = 32,
                where: str = "") -> list[int]:
    """Walk random allowed tokens from ``m``'s state, checking the invariants at every step.

    At every step: :func:`assert_step_invariants`; some token is allowed (no dead end); up to ``advance_checks``
    allowed tokens (spread over the allowed set) can each be advanced on a fork and rolled back to the same mask,
    and a few disallowed ones make ``advance`` raise ``ValueError``; with ``oracle``, ``is_complete()`` equals
    ``oracle(text so far)`` (skipped while the bytes so far are not valid UTF-8). Then one allowed token is taken:
    EOS with probability ``p_eos`` when allowed (or when nothing else is), which ends the walk (nothing may be
    allowed after it), otherwise a random non-EOS token, checking on the way that advance-then-rollback restores
    the state and that a fork advanced alone leaves ``m`` unchanged.

    Parameters
    ----------
    m : ConstraintState
        Advanced in place along the walk.
    rng : random.Random
    steps : int
        Most tokens to take.
    all_tokens : bool, default: True
        Passed to :func:`assert_step_invariants`.
    p_eos : float, default: 0.3
    eos_token_ids : collection of int, optional
        Default: the vocabulary's.
    vocab : Vocabulary, optional
        Default: ``m.compiled.vocab`` or ``m.vocab``. Needed with ``oracle`` (to spell the text).
    oracle : callable, optional
        ``oracle(text) -> bool``: membership in the language.
    advance_checks : int, default: 32
        Allowed tokens advanced on a fork at each step.
    where : str, default: ""
        Prefix of failure messages.

    Returns
    -------
    list of int
        The tokens taken (ends with an EOS id when the walk chose EOS).

    Raises
    ------
    AssertionError
        An invariant does not hold (the message names the step, the text so far and the token).
    """
    vocab = vocab if vocab is not None else _vocab_of(m)
    eos = _eos_of(m, vocab, eos_token_ids)
    if oracle is not None and vocab is None:
        raise TypeError("random_walk: an oracle needs vocab= to spell the text")
    key_of = getattr(m, "state_key", None)
    taken: list[int] = []
    for step in range(steps):
        at = _Where(where, step, vocab, taken)
        mask = assert_step_invariants(m, all_tokens, rng, eos_token_ids=eos, vocab=vocab, where=at)
        if oracle is not None:
            _check_oracle(m, oracle, vocab, taken, at)
        allowed = np.flatnonzero(mask)
        if not allowed.size:
            raise AssertionError(f"{at}: dead end: no token is allowed (is_complete() is {m.is_complete()})")
        _check_advances(m, mask, allowed, advance_checks, at)
        eos_allowed = [int(t) for t in allowed if int(t) in eos]
        others = [int(t) for t in allowed if int(t) not in eos]
        if eos_allowed and (rng.random() < p_eos or not others):
            m.advance(eos_allowed[0])
            taken.append(eos_allowed[0])
            after = np.asarray(m.mask())
            if after.any():
                raise AssertionError(f"{at}: after EOS {at.token(int(np.flatnonzero(after)[0]))} is allowed")
            break
        tok = int(rng.choice(others))
        key = key_of() if key_of is not None else None
        f = m.fork()
        m.advance(tok)
        m.rollback(1)
        if not np.array_equal(m.mask(), mask) or (key_of is not None and key_of() != key):
            raise AssertionError(f"{at}: advance({tok}) then rollback(1) does not restore the state "
                                 f"({at.token(tok)})")
        f.advance(tok)
        if not np.array_equal(m.mask(), mask) or (key_of is not None and key_of() != key):
            raise AssertionError(f"{at}: advancing a fork by {at.token(tok)} changed the original (fork shares "
                                 f"state)")
        m.advance(tok)
        if not np.array_equal(m.mask(), f.mask()) or (key_of is not None and key_of() != f.state_key()):
            raise AssertionError(f"{at}: a fork and the original advanced by the same {at.token(tok)} differ")
        taken.append(tok)
    return taken


def _check_advances(m, mask: np.ndarray, allowed: np.ndarray, n: int, at: _Where) -> None:
    """Allowed tokens advance (and roll back to the same mask) on a fork; disallowed ones raise ValueError."""
    for t in allowed[:: max(1, -(-allowed.size // n))].tolist() if n > 0 else []:
        f = m.fork()
        try:
            f.advance(t)
        except ValueError as exc:
            raise AssertionError(f"{at}: the allowed {at.token(t)} cannot be advanced: {exc}") from exc
        f.rollback(1)
        if not np.array_equal(f.mask(), mask):
            raise AssertionError(f"{at}: advance({t}) then rollback(1) on a fork does not restore the mask "
                                 f"({at.token(t)})")
    banned = np.flatnonzero(~mask)  # a spread, not a draw: the walk's own random choices stay as they were
    for t in banned[:: max(1, -(-banned.size // 4))].tolist():
        f = m.fork()
        try:
            f.advance(t)
        except ValueError:
            continue
        raise AssertionError(f"{at}: advance({t}) accepts the disallowed {at.token(t)} (expected ValueError)")


def _check_oracle(m, oracle: Callable[[str], bool], vocab, taken: Sequence[int], at: _Where) -> None:
    try:
        text = _text(vocab, taken)
    except UnicodeDecodeError:
        return  # inside a multi-byte character: not a text yet
    want, got = bool(oracle(text)), bool(m.is_complete())
    if want != got:
        raise AssertionError(f"{at}: is_complete() is {got} but the oracle {'accepts' if want else 'rejects'} "
                             f"{text!r}")


def _matcher_factory(target, vocab) -> tuple[Callable[[], Any], Any]:
    """``(make, vocab)``: a function returning a fresh constraint state at the start, and the vocabulary."""
    from corral.compile.grammar import Grammar
    from corral.runtime.matcher import CompiledGrammar

    if isinstance(target, (str, Grammar)):
        grammar = _as_grammar(target)
        compiled = CompiledGrammar(grammar, vocab if vocab is not None else synthetic_vocab_for(grammar))
        return compiled.matcher, compiled.vocab
    if isinstance(target, CompiledGrammar):
        return target.matcher, target.vocab if vocab is None else vocab
    if callable(getattr(target, "fork", None)) and callable(getattr(target, "mask", None)):
        return target.fork, vocab if vocab is not None else _vocab_of(target)
    if callable(target):
        return target, vocab if vocab is not None else _vocab_of(target())
    raise TypeError(f"check_matcher_invariants: expected a grammar, Lark text, CompiledGrammar, constraint state "
                    f"or a function returning one, got {type(target).__name__}")


def check_matcher_invariants(target: Grammar | str | CompiledGrammar | ConstraintState | Callable[[], ConstraintState],
                             vocab: Vocabulary | None = None, *, walks: int = 8, steps: int = 20, seed: int = 0,
                             oracle: Callable[[str], bool] | None = None, all_tokens: bool | None = None,
                             p_eos: float = 0.3, advance_checks: int = 32) -> list[list[int]]:
    """Run random walks over a constraint and check its invariants at every step (see :func:`random_walk`).

    Parameters
    ----------
    target : Grammar, str, CompiledGrammar, ConstraintState or callable
        A grammar or Lark text (compiled with ``vocab``, by default :func:`synthetic_vocab_for` the grammar), a
        compiled grammar (each walk starts from ``target.matcher()``), a constraint state (each walk starts from
        ``target.fork()``; it is not advanced), or a function returning a fresh constraint state.
    vocab : Vocabulary, optional
        The vocabulary (for a grammar: to compile with; otherwise for the EOS ids and the text). Default: the
        target's (``.compiled.vocab`` or ``.vocab``).
    walks : int, default: 8
        Number of walks, each from the start state.
    steps : int, default: 20
        Most tokens per walk.
    seed : int, default: 0
        Walk ``w`` uses ``random.Random(f"{seed}:{w}")``: reproducible.
    oracle : callable, optional
        ``oracle(text) -> bool``, membership in the language (e.g. :func:`lark_oracle`): checked against
        ``is_complete()`` at every step.
    all_tokens : bool, optional
        Check every token at every step; default: when the vocabulary has at most 4096 tokens.
    p_eos : float, default: 0.3
        Probability of ending a walk with EOS where it is allowed.
    advance_checks : int, default: 32
        Allowed tokens advanced and rolled back on a fork at each step.

    Returns
    -------
    list of list of int
        The tokens of every walk (a walk that chose EOS ends with it).

    Raises
    ------
    AssertionError
        An invariant does not hold; the message names the walk, the step, the text so far, the token, and what
        was expected against what was found.
    TypeError
        ``target`` is none of the above, or the EOS ids cannot be found (pass ``vocab``).
    """
    make, vocab = _matcher_factory(target, vocab)
    if vocab is None:
        raise TypeError("check_matcher_invariants: cannot find the vocabulary of the target: pass vocab=")
    if all_tokens is None:
        all_tokens = vocab.size <= 4096
    out = []
    for w in range(walks):
        rng = random.Random(f"{seed}:{w}")
        out.append(random_walk(make(), rng, steps, all_tokens, p_eos, vocab=vocab, oracle=oracle,
                               advance_checks=advance_checks, where=f"walk {w}"))
    return out
