"""SMC proposal built on speculative rounds: one D1/D2 round per live particle per step (ALGORITHMS.md 4.5)."""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING

import torch

from corral.drafters.policy import make_policy
from corral.samplers.awrs import DEFAULT_MAX_REJECTS, awrs_step, eos_only, gumbel_keys, matcher_hooks, tempered
from corral.samplers.masking import _as_numpy, checked_logprobs
from corral.samplers.smc import Extension
from corral.samplers.speculative_d1 import d1_round
from corral.samplers.speculative_d2 import d2_round
from corral.samplers.speculative_round import SpecStats

if TYPE_CHECKING:  # pragma: no cover - typing only
    from corral.drafters.policy import AdaptivePolicy, FixedPolicy
    from corral.protocols import Drafter, LanguageModel
    from corral.samplers.particles import Particle

__all__ = ["SpeculativeProposal"]


class SpeculativeProposal:
    """SMC proposal (``corral.samplers.smc.Proposal``): one speculative round per live particle per step.

    Each particle's step is a block of tokens from :func:`~corral.samplers.speculative_d2.d2_round` (default) or
    :func:`~corral.samplers.speculative_d1.d1_round`; the block's ``delta_logw`` (``Σ log Ẑ`` for D2, ``Σ log Z_p``
    for D1) is its weight increment, so ``(block, weight)`` is properly weighted for ``Π p·c`` over the block
    (ALGORITHMS.md §4.5) and the SMC target is unchanged. D2 keys come from the particle's Gumbel stream at its
    position, as in the default AWRS proposal. At budget 1 only EOS is proposed, weighted by its probability (the
    truncated target's correction), as the AWRS proposal does.

    Rows are separate sequences (one target forward per particle per step; not batched across particles).

    Parameters
    ----------
    drafter_factory : callable or None
        ``() -> Drafter``; one drafter per row (a draft model sequence holds a KV cache). ``None``: no drafts.
    verify : {"d2", "d1"}
    draft_length : "adaptive", int or policy
        One policy shared by the rows (it only learns acceptance statistics).
    temperature : float
        ``> 0``.
    max_rejects : int, None or "default"
        AWRS fallback threshold.
    seed : int, optional
        Seeds D1's torch generator.
    eos_token_ids : collection of int, optional
    """

    def __init__(self, drafter_factory: Callable[[], Drafter] | None = None, *, verify: str = "d2",
                 draft_length: str | int | FixedPolicy | AdaptivePolicy | None = "adaptive",
                 temperature: float = 1.0, max_rejects: int | str | None = "default", seed: int | None = None,
                 eos_token_ids: Collection[int] | None = None) -> None:
        if verify not in ("d1", "d2"):
            raise ValueError(f"verify must be 'd1' or 'd2', got {verify!r}")
        if not (temperature and temperature > 0 and math.isfinite(temperature)):
            raise ValueError(f"SMC proposals need a finite temperature > 0, got {temperature!r}")
        self.drafter_factory = drafter_factory
        self.verify = verify
        self.policy = make_policy(draft_length)
        self.temperature = float(temperature)
        self.max_rejects = DEFAULT_MAX_REJECTS if max_rejects == "default" else max_rejects
        self.generator = torch.Generator()
        if seed is None:
            self.generator.seed()
        else:
            self.generator.manual_seed(int(seed) % (2**63))
        self.eos_token_ids = eos_token_ids
        self.stats = SpecStats()
        self.rows: list[list] = []  # [target sequence, drafter] per row

    def _drafter(self, tokens: Sequence[int]) -> Drafter | None:
        """A fresh drafter begun on ``tokens`` (``None`` without a factory)."""
        if self.drafter_factory is None:
            return None
        d = self.drafter_factory()
        d.begin(list(tokens))
        return d

    def start(self, model: LanguageModel, prompt_ids: Sequence[int], n: int) -> None:
        """Open ``n`` target sequences on the prompt."""
        if self.eos_token_ids is None:
            self.eos_token_ids = frozenset(model.eos_token_ids)
        self.eos = frozenset(self.eos_token_ids)
        self._eos_list = sorted(self.eos)
        seq = model.start(list(prompt_ids))
        self.rows = [[seq if i == 0 else seq.fork(), self._drafter(seq.tokens)] for i in range(n)]

    def extend(self, particles: list[Particle], budgets: list[int]) -> list[Extension]:
        """One speculative round per particle (or the forced-EOS step at budget 1)."""
        out = []
        for (seq, drafter), p, budget in zip(self.rows, particles, budgets):
            if budget <= 1:
                lp = checked_logprobs(seq.logprobs())
                full = tempered(lp, self.temperature)
                logw = eos_only(full, self._eos_list)
                st = awrs_step(logw, p.matcher.check, keys=logw + gumbel_keys(p.stream, len(p.tokens), logw.size),
                               **matcher_hooks(p.matcher))
                if st.token is None:
                    out.append(Extension([], -math.inf, 0.0, st.n_checks, st.n_rejects))
                    continue
                p.matcher.advance(st.token)
                out.append(Extension([st.token], st.log_z, float(_as_numpy(lp)[st.token]), st.n_checks,
                                     st.n_rejects))
                continue
            room = budget - 1
            if seq.max_length is not None:
                room = min(room, seq.max_length - len(seq.tokens))
            before = (self.stats.drafted, self.stats.accepted, self.stats.target_forwards)
            if self.verify == "d2":
                r = d2_round(seq, p.matcher, drafter, self.policy, max_drafts=max(room, 0), position=len(p.tokens),
                             stream=p.stream, temperature=self.temperature, eos=self.eos,
                             max_rejects=self.max_rejects, stats=self.stats)
            else:
                r = d1_round(seq, p.matcher, drafter, self.policy, max_drafts=max(room, 0),
                             temperature=self.temperature, generator=self.generator, eos=self.eos,
                             stats=self.stats)
            if drafter is not None:
                drafter.observe(seq.tokens)
            stats = {"drafted": self.stats.drafted - before[0], "accepted": self.stats.accepted - before[1],
                     "target_forwards": self.stats.target_forwards - before[2]}
            if r.dead:
                out.append(Extension([], -math.inf, 0.0, stats=stats))
                continue
            out.append(Extension(list(r.tokens), r.delta_logw, r.raw_logprob, stats=stats, steps=list(r.steps)))
        return out

    def select(self, rows: list[int]) -> None:
        """Keep/copy rows (a repeated row gets a forked sequence and a fresh drafter)."""
        used: set = set()
        new = []
        for r in rows:
            seq, drafter = self.rows[r]
            if r in used:
                seq = seq.fork()
                drafter = self._drafter(seq.tokens)
            used.add(r)
            new.append([seq, drafter])
        self.rows = new

    @property
    def n_forward(self) -> int:
        """Target forward passes for verification so far."""
        return self.stats.target_forwards
