"""The Matcher: one sequence's constraint state at token level (:class:`corral.protocols.GroupedConstraintState`),
over the immutable states of a :class:`~corral.runtime.matcher.CompiledGrammar` (which makes matchers: its
:meth:`~corral.runtime.matcher.CompiledGrammar.matcher`; both are importable from :mod:`corral.runtime.matcher`).

A matcher holds its compiled grammar and its current state; states are shared, so :meth:`Matcher.fork` is O(1) and
:meth:`Matcher.rollback` steps back along the state's parent chain.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from corral.runtime.states import Rejection, _State

__all__ = ["Matcher"]


class Matcher:
    """One sequence's constraint state: which tokens may come next.

    Methods that change state say so; the others do not. A token is allowed iff the text so far plus the token's
    bytes can still be completed into a string of the language; EOS is allowed iff the text is in the language.
    It implements :class:`corral.protocols.GroupedConstraintState` (``corral.testing.check_matcher_invariants``
    checks the invariants on random walks).
    """

    __slots__ = ("compiled", "_state", "_eos")

    def __init__(self, compiled, state: _State) -> None:
        """A matcher of the :class:`~corral.runtime.matcher.CompiledGrammar` ``compiled`` at its ``state``."""
        self.compiled = compiled
        self._state = state
        self._eos = compiled.vocab.eos_token_ids

    @property
    def vocab_size(self) -> int:
        """Length of the mask (the vocabulary size, padded to the model's output size where given)."""
        return self.compiled.size

    def _next_state(self, token: int) -> _State | None:
        st = self._state
        if st.terminated:
            return None
        if token in self._eos:
            if not st.complete:
                return None
            return self.compiled._terminate(st, token)
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        if not tb:
            return None
        nxt = self.compiled._feed(st, tb, st, token)
        return nxt if nxt.viable else None

    def check(self, token: int) -> bool:
        """Whether ``token`` is allowed now. Does not change the state."""
        token = int(token)
        st = self._state
        if st.terminated or token in self._eos:
            return self._next_state(token) is not None
        if self.compiled.native:
            return 0 <= token < self.compiled.size and st.engine.feed(st.pid, token) >= 0
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        return bool(tb) and self.compiled._viable(st, tb)

    def check_group(self, token: int) -> "Rejection | None":
        """Like :meth:`check` (one feed of the token's bytes), but on rejection also the tokens it proves invalid.

        Returns ``None`` if ``token`` is allowed; otherwise a :class:`Rejection`: ``token`` and every token that
        shares a prefix of its bytes and then takes a byte no lexeme thread can take there are not allowed now
        either (AWRS drops them without checking them; see :func:`corral.samplers.awrs.awrs_step`). No state
        change.
        """
        token = int(token)
        st = self._state
        tb = self.compiled.vocab.token_bytes[token] if 0 <= token < self.compiled.size else None
        if token in self._eos or not tb or st.terminated:
            return None if self._next_state(token) is not None else Rejection(np.array([token], dtype=np.int64))
        return self.compiled.invalid_group(st, tb)

    def implied(self, valid_token: int, other: int) -> bool:
        """``True`` if ``other`` is allowed whenever ``valid_token`` is: its bytes are a non-empty prefix of
        ``valid_token``'s (a text that can be completed after the longer bytes can be after the shorter), neither
        being EOS. ``False`` means "unknown". No state change."""
        if valid_token in self._eos or other in self._eos:
            return False
        tb = self.compiled.vocab.token_bytes
        size = self.compiled.size
        if not (0 <= valid_token < size and 0 <= other < size):
            return False
        a, b = tb[valid_token], tb[other]
        return bool(a) and bool(b) and a.startswith(b)

    def mask(self) -> np.ndarray:
        """bool [vocab_size]: ``mask()[t] == check(t)`` for every token. Read-only array; no state change."""
        return self.compiled._mask(self._state)

    def mask_packed(self) -> np.ndarray:
        """The mask as int32 words, bit ``t % 32`` of word ``t // 32`` (the xgrammar/vLLM layout). Read-only
        array, cached with the mask (packed once per state); no state change."""
        return self.compiled._packed(self._state)

    def advance(self, token: int) -> None:
        """Consume ``token``. Changes the state. Raises ValueError if the token is not allowed."""
        nxt = self._next_state(int(token))
        if nxt is None:
            raise ValueError(f"token {token} is not allowed here")
        self._state = nxt

    def advance_many(self, tokens: Iterable[int]) -> None:
        """Consume several tokens (all or nothing: on a disallowed token the state is left unchanged)."""
        start = self._state
        try:
            for t in tokens:
                self.advance(t)
        except ValueError:
            self._state = start
            raise

    def fork(self) -> "Matcher":
        """An independent matcher in the same state (O(1): states are immutable and shared)."""
        return Matcher(self.compiled, self._state)

    def rollback(self, n: int = 1) -> None:
        """Undo the last ``n`` advances. Changes the state. Raises ValueError if fewer than n were made."""
        st = self._state
        for _ in range(n):
            if st.parent is None:
                raise ValueError(f"cannot roll back {n} tokens")
            st = st.parent
        self._state = st

    @property
    def num_tokens(self) -> int:
        """How many tokens have been advanced (the rollback depth available)."""
        n, st = 0, self._state
        while st.parent is not None:
            n, st = n + 1, st.parent
        return n

    def is_complete(self) -> bool:
        """Whether the text so far is in the language (EOS allowed). No state change."""
        return not self._state.terminated and self._state.complete

    def is_terminated(self) -> bool:
        """Whether EOS has been advanced."""
        return self._state.terminated

    def forced_tokens(self, limit: int = 16) -> list[int]:
        """The tokens forced from here in sequence (each the only allowed token), at most ``limit``. No state change."""
        out: list[int] = []
        m = self.fork()
        while len(out) < limit and not m.is_terminated():
            allowed = np.flatnonzero(m.mask())
            if len(allowed) != 1:
                break
            tok = int(allowed[0])
            out.append(tok)
            m.advance(tok)
        return out

    def accepts_bytes(self, data: bytes) -> bool:
        """Whether the text so far followed by ``data`` can still be completed. No state change."""
        return self.compiled._feed(self._state, data).viable

    def state_key(self):
        """A hashable key of the current state (equal keys allow the same continuations)."""
        return self._state.key

    def __repr__(self) -> str:
        from corral.authoring.html import matcher_repr
        return matcher_repr(self)

    def _repr_html_(self) -> str:
        from corral.authoring.html import matcher_html
        return matcher_html(self)
