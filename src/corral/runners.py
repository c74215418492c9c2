"""The samplers behind ``method=``, chosen from a table, each turning a :class:`Job` into one :class:`Outcome`.

:data:`SAMPLERS` maps ``"lcd"``, ``"awrs"``, ``"smc"`` and ``"asap"`` to a function ``run(job) -> Outcome``. A new
sampler is one function and one entry here (and its name in :data:`corral.options.METHODS`). With ``draft=``,
``"lcd"`` and ``"awrs"`` verify drafts (D1 and D2) and ``"smc"`` extends its particles with them.

Streaming (:mod:`corral.streaming`): ``Job.on_tokens`` is called with the tokens each sampler that builds one
sequence emits, as they come (masked decoding and AWRS: one token at a time; D1 and D2: each verified round). SMC has
no single sequence until the end: it does not call it (the stream then gives the whole output in one piece); nor
does ASAp, whose output is the last of its samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

from corral.errors import GenerationError

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

    from corral.options import GenerateOptions
    from corral.protocols import CompiledConstraint, ConstraintState, Drafter, LanguageModel, ModelSequence
    from corral.result import TokenStep
    from corral.samplers.steps import Step

__all__ = ["Job", "Outcome", "SAMPLERS", "decode_output", "seed_stream", "token_steps"]


@dataclass
class Job:
    """One generation, set up: the model and its prompt sequence, the compiled constraint and the options.

    Attributes
    ----------
    lm : LanguageModel
    prompt_ids : list of int
    seq : ModelSequence
        The model sequence holding the prompt.
    compiled : CompiledConstraint or None
        ``None``: unconstrained.
    options : GenerateOptions
    generator : torch.Generator
        Seeded from ``options.sampling.seed`` (fresh when it is ``None``).
    make_drafter : callable or None
        A fresh drafter per call (``draft=``), ``None`` without speculation.
    on_tokens : callable or None
        ``on_tokens(token_ids)``, called with the output tokens as they are emitted (see the module docstring);
        ``None``: no streaming.
    """

    lm: LanguageModel
    prompt_ids: list[int]
    seq: ModelSequence
    compiled: CompiledConstraint | None
    options: GenerateOptions
    generator: torch.Generator
    make_drafter: Callable[[], Drafter] | None = None
    on_tokens: Callable[[list[int]], None] | None = None

    def matcher(self) -> ConstraintState:
        """A fresh constraint state (a :class:`~corral.runtime.free.FreeMatcher` when unconstrained)."""
        from corral.runtime.free import FreeMatcher

        if self.compiled is None:
            return FreeMatcher(self.lm.vocab, self.lm.eos_token_ids)
        return self.compiled.matcher()

    def decode(self, tokens, complete: bool) -> str:
        """The text of generated tokens (see :func:`decode_output`)."""
        return decode_output(self.lm, tokens, complete, self.compiled is not None)


@dataclass
class Outcome:
    """What every sampler returns: the output tokens, how they were drawn, and the sampler's extras.

    ``log_z``, ``particles``, ``posterior``, ``stats`` and ``steps`` are passed on to :class:`~corral.result.Result`
    as they are; ``n_generated`` counts every token the sampler generated (over all particles for SMC).
    """

    tokens: list[int]
    status: str
    logprob: float
    model_logprob: float
    first_token_s: float
    n_generated: int
    log_z: float | None = None
    particles: list | None = None
    posterior: dict | None = None
    stats: dict = field(default_factory=dict)
    steps: list[TokenStep] = field(default_factory=list)

    def extras(self) -> dict:
        """The sampler-specific fields of :class:`~corral.result.Result`."""
        return {"log_z": self.log_z, "particles": self.particles, "posterior": self.posterior, "stats": self.stats,
                "steps": self.steps}


def decode_output(lm: LanguageModel, tokens, complete: bool, constrained: bool) -> str:
    """Text of generated tokens (strict UTF-8 for a complete constrained output, which must be valid)."""
    data = lm.vocab.decode(tokens)
    if complete:
        try:
            return data.decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            if constrained:
                raise GenerationError(f"a complete constrained output is not valid UTF-8 ({exc}): {data!r}") from exc
    return data.decode("utf-8", errors="replace")


def token_steps(lm: LanguageModel, steps: list[Step]) -> list[TokenStep]:
    """The :class:`~corral.result.TokenStep` records of a sampler's :class:`~corral.samplers.steps.Step` records.

    Adds each token's bytes and text (decoded incrementally, so that the texts join into the output's text) and
    its ``source``: ``"draft"`` (an accepted draft), else ``"eos"``, else ``"forced"`` (one allowed token), else
    ``"sampled"``.
    """
    from corral.result import TokenStep
    from corral.streaming import TokenText

    eos = lm.eos_token_ids
    texts = TokenText(lm.vocab.token_bytes)
    out = []
    for i, s in enumerate(steps):
        data = texts.bytes_of(s.token)
        text = texts.decode(data, final=i == len(steps) - 1)
        forced = None if s.n_allowed is None else s.n_allowed == 1
        source = ("draft" if s.draft is not None else "eos" if s.token in eos else "forced" if forced
                  else "sampled")
        prob = None if math.isnan(s.model_logprob) else math.exp(s.model_logprob)
        out.append(TokenStep(s.token, text, data, prob, forced, s.n_allowed, s.checks, s.rejects, source,
                             s.rejected_drafts, s.draft))
    return out


def seed_stream(seed: int | None) -> int:
    """A 63-bit Gumbel stream id from the seed (fresh when ``seed`` is None)."""
    import numpy as np

    ss = np.random.SeedSequence(None if seed is None else int(seed) % (2**63))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


def run_lcd(job: Job) -> Outcome:
    """``method="lcd"``: masked decoding (law ℓ); with a drafter, D1 speculative decoding (same law); with
    ``switching="entropy"``, lossy entropy-adaptive decoding (:mod:`corral.samplers.entropy_switch`)."""
    from corral.samplers.masking import sample_sequence

    if job.options.speculation.switching is not None:
        return _run_switching(job)
    if job.make_drafter is not None:
        return _run_speculative(job, "d1")
    s = job.options.sampling
    out = sample_sequence(job.seq, job.matcher(), max_tokens=s.max_tokens, temperature=s.temperature,
                          top_k=s.top_k, top_p=s.top_p, generator=job.generator, eos_token_ids=job.lm.eos_token_ids,
                          on_tokens=job.on_tokens)
    return Outcome(tokens=list(out.tokens), status=out.status, logprob=out.logprob,
                   model_logprob=out.model_logprob, first_token_s=out.first_token_s, n_generated=len(out.tokens),
                   steps=token_steps(job.lm, out.steps))


def _run_switching(job: Job) -> Outcome:
    """``method="lcd"`` with ``switching="entropy"`` (:mod:`corral.samplers.entropy_switch`); ``Result.stats`` gets
    ``{"switching": {...}}``."""
    from corral.drafters.model import ModelDrafter
    from corral.errors import ConfigurationError
    from corral.samplers.entropy_switch import switching_sample_sequence

    s, spec = job.options.sampling, job.options.speculation
    drafter = job.make_drafter()
    if not isinstance(drafter, ModelDrafter):
        raise ConfigurationError(f"switching='entropy' needs a small model as draft=, got {drafter!r}")
    out = switching_sample_sequence(
        job.seq, drafter.model.start(list(job.seq.tokens)), job.matcher(), threshold=spec.switch_threshold,
        window=spec.switch_window, max_tokens=s.max_tokens, temperature=s.temperature, top_k=s.top_k, top_p=s.top_p,
        generator=job.generator, eos_token_ids=job.lm.eos_token_ids, on_tokens=job.on_tokens)
    return Outcome(tokens=list(out.tokens), status=out.status, logprob=out.logprob, model_logprob=out.model_logprob,
                   first_token_s=out.first_token_s, n_generated=len(out.tokens), stats={"switching": out.stats},
                   steps=token_steps(job.lm, out.steps))


def _run_speculative(job: Job, verify: str) -> Outcome:
    """Speculative decoding: D1 for "lcd", D2 (the same tokens as plain AWRS for the seed) for "awrs"."""
    from corral.samplers.speculative import speculative_sample_sequence

    s, spec = job.options.sampling, job.options.speculation
    out = speculative_sample_sequence(
        job.seq, job.matcher(), drafter=job.make_drafter(),
        verify=verify, draft_length=spec.draft_length, max_tokens=s.max_tokens, temperature=s.temperature,
        top_k=s.top_k, top_p=s.top_p, generator=job.generator,
        stream=seed_stream(s.seed) if verify == "d2" else None, eos_token_ids=job.lm.eos_token_ids,
        on_tokens=job.on_tokens, draft_tree=spec.draft_tree,
    )
    # D2 rounds report the tempered model's log-probability as model_logprob; Result wants the raw model's
    return Outcome(tokens=list(out.tokens), status=out.status, logprob=out.logprob,
                   model_logprob=out.raw_logprob, first_token_s=out.first_token_s, n_generated=len(out.tokens),
                   log_z=out.log_weight if verify == "d2" else None, stats=out.stats.as_dict(),
                   steps=token_steps(job.lm, out.steps))


def run_awrs(job: Job) -> Outcome:
    """``method="awrs"``: one AWRS sequence (law ℓ) and its importance weight; with a drafter, D2 verification."""
    from corral.samplers.awrs import DEFAULT_MAX_REJECTS, awrs_sample_sequence

    if job.make_drafter is not None:
        return _run_speculative(job, "d2")
    s = job.options.sampling
    run = awrs_sample_sequence(job.seq, job.matcher(), max_tokens=s.max_tokens, temperature=float(s.temperature or 0.0),
                               stream=seed_stream(s.seed), max_rejects=DEFAULT_MAX_REJECTS,
                               eos_token_ids=job.lm.eos_token_ids, on_tokens=job.on_tokens)
    n_tok = max(len(run.tokens), 1)
    stats = {"checks_per_token": run.n_checks / n_tok, "n_checks": run.n_checks, "n_rejects": run.n_rejects,
             "n_fallbacks": run.n_fallbacks, "n_tokens": len(run.tokens)}
    return Outcome(tokens=list(run.tokens), status="complete" if run.status == "complete" else "length",
                   logprob=0.0 if not s.temperature else run.logprob, model_logprob=run.model_logprob,
                   first_token_s=run.first_token_s, n_generated=len(run.tokens), log_z=run.log_weight, stats=stats,
                   steps=token_steps(job.lm, run.steps))


def run_smc(job: Job) -> Outcome:
    """``method="smc"``: run SMC, then draw the output from the posterior over the particles' texts.

    ``job.on_tokens`` is not called: there is no single sequence before the draw.
    """
    import numpy as np

    from corral.samplers.smc import smc

    s, o = job.options.sampling, job.options.smc
    base = seed_stream(s.seed)
    res = smc(job.lm, job.prompt_ids, job.matcher(), particles=o.n_particles, max_tokens=s.max_tokens,
              temperature=float(s.temperature), ess_threshold=float(o.ess_threshold), resampling=o.resampling,
              critic=o.critic, twist=o.twist, seed=base, proposal=_smc_proposal(job))
    eos = job.lm.eos_token_ids
    texts = [job.decode([t for t in p.tokens if t not in eos] if p.status == "complete" else p.tokens,
                        p.status == "complete") for p in res.particles]
    text_of = {id(p): t for p, t in zip(res.particles, texts)}
    posterior = res.posterior(key=lambda p: text_of[id(p)])
    chosen = res.sample(np.random.default_rng(base ^ 0x5EED))
    if chosen is None:  # every particle died: report the longest unfinished one
        chosen = max(res.particles, key=lambda p: len(p.tokens))
        status, logprob = "length", -math.inf
    else:
        status = "complete" if chosen.status == "complete" else "length"
        logprob = math.log(posterior[text_of[id(chosen)]])
    stats = {
        "checks_per_token": res.checks_per_token, "n_checks": res.n_checks, "n_rejects": res.n_rejects,
        "n_fallbacks": res.n_fallbacks, "n_tokens": res.n_tokens, "ess_trace": list(res.ess_trace),
        "n_resamples": res.n_resamples, "n_steps": res.n_steps, "n_forward": res.n_forward,
    }
    parts = [(t, list(p.tokens), float(p.log_weight), p.status) for p, t in zip(res.particles, texts)]
    return Outcome(tokens=list(chosen.tokens), status=status, logprob=logprob, model_logprob=chosen.model_logprob,
                   first_token_s=0.0, n_generated=res.n_tokens, log_z=res.log_z, particles=parts,
                   posterior=posterior, stats=stats, steps=token_steps(job.lm, chosen.steps))


def _smc_proposal(job: Job):
    """The speculative proposal that extends SMC particles with verified drafts (``None`` without ``draft=``)."""
    if job.make_drafter is None:
        return None
    from corral.samplers.speculative_smc import SpeculativeProposal

    s = job.options.sampling
    return SpeculativeProposal(job.make_drafter, verify="d2", draft_length=job.options.speculation.draft_length,
                               temperature=float(s.temperature), seed=s.seed, eos_token_ids=job.lm.eos_token_ids)


def run_asap(job: Job) -> Outcome:
    """``method="asap"``: ``samples`` ASAp draws in the trie (``trie=`` or a fresh one); the output is the last.

    ``stats["samples"]`` lists every draw as ``[text, token_ids, status]``, beside the trie's statistics
    (:meth:`~corral.samplers.asap_trie.AsapTrie.stats`: ``root_theta``, an upper bound on ``Z`` that falls to it).
    """
    from corral.samplers.asap import AsapTrie, asap_samples

    s, a = job.options.sampling, job.options.asap
    trie = a.trie if a.trie is not None else AsapTrie()
    outs = asap_samples(job.seq, job.matcher(), trie, samples=a.n_samples, max_tokens=s.max_tokens,
                        temperature=float(s.temperature), generator=job.generator, eos_token_ids=job.lm.eos_token_ids)
    last = outs[-1]
    samples = [[job.decode(o.tokens, o.status == "complete"), list(o.tokens), o.status] for o in outs]
    stats = {**trie.stats(), "samples": samples, "n_tokens": sum(len(o.tokens) for o in outs)}
    return Outcome(tokens=list(last.tokens), status=last.status, logprob=last.logprob,
                   model_logprob=last.model_logprob, first_token_s=outs[0].first_token_s,
                   n_generated=stats["n_tokens"], stats=stats, steps=token_steps(job.lm, last.steps))


#: method -> sampler. Every sampler takes a :class:`Job` and returns an :class:`Outcome`.
SAMPLERS: dict[str, Callable[[Job], Outcome]] = {"lcd": run_lcd, "awrs": run_awrs, "smc": run_smc,
                                                 "asap": run_asap}
