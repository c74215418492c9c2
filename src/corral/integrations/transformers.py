"""corral constraints inside Hugging Face ``model.generate``: :class:`LogitsProcessor`.

The processor masks, at every step and for every row of the batch (every beam), the tokens the constraint does not
allow to ``-inf``: a token is allowed iff the text so far plus its bytes can still be completed into a string of the
language, and EOS only once the text is complete. It works with greedy decoding, sampling (``temperature``,
``top_k``, ``top_p``: Hugging Face applies those warpers after the processors, and a ``-inf`` stays ``-inf``) and
beam search, and with batches of left-padded prompts. A row that has ended (an EOS token) may then only take EOS or
the pad token, so ``generate`` pads it.

Example
-------
::

    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList
    from corral.integrations.transformers import LogitsProcessor

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    schema = {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"],
              "additionalProperties": False}
    inputs = tok(["A person as JSON: "], return_tensors="pt")
    processor = LogitsProcessor(schema=schema, tokenizer=tok)
    out = model.generate(**inputs, logits_processor=LogitsProcessorList([processor]), max_new_tokens=64)
    text = tok.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)

The constraint is given as to :func:`corral.generate` (``grammar=``, ``regex=``, ``choices=`` or ``schema=`` with
the same schema options, and the same default JSON layout, ``"spaced"``) and compiled by the same code
(:meth:`corral.generator.Generator.compile`), so greedy decoding with the processor picks the same tokens as
``corral.generate(..., temperature=0)`` on the same model and prompt ids.

How rows are followed
---------------------
Hugging Face passes ``input_ids`` ``[batch * beams, length]`` (prompt and generated tokens) and the next-token
scores ``[batch * beams, width]``. Beam search reorders and duplicates rows between steps, so the processor does not
assume a row is the same sequence from one step to the next: it keeps a cache from each row's *generated suffix*
(``input_ids[row, prompt_length:]``, a tuple) to its constraint state; a new suffix is the state of the suffix
without its last token (cached at the previous step), forked and advanced by that token. After each step the cache
keeps the current suffixes only.

The prompt length is ``input_ids.shape[1]`` at the first call of a generation (Hugging Face left-pads a batch, so
it is the same for every row), unless ``prompt_length=`` is given. A call starts a new generation when
:meth:`LogitsProcessor.reset` was called, or when it does not continue the previous call: another number of rows,
a length other than the previous length plus one, or other prompt tokens. One processor can therefore serve several
``generate`` calls one after the other; call ``reset()`` between two calls where the next prompt is the previous
output (that one call would otherwise look like the next step of the previous generation). A processor follows one
``generate`` call at a time (not assisted generation, which rewinds, nor continuous batching).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch
import transformers

from corral.constraint import Constraint
from corral.errors import ConfigurationError
from corral.generator import Generator, LRUCache
from corral.options import SchemaOptions
from corral.protocols import CompiledConstraint
from corral.runtime.matcher import Matcher
from corral.runtime.packed import fill_packed_masks
from corral.tokens.vocabulary import Vocabulary, eos_token_ids_from_config

__all__ = ["LogitsProcessor"]


class _Ended:
    """A row's state once it can only take EOS or the pad token (a singleton per reason)."""

    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return f"<{self.reason}>"


#: The row took an allowed EOS: the text is complete, the row is padded from here on.
_FINISHED = _Ended("finished")
#: The row took a token the constraint does not allow (a ``-inf`` candidate that beam search kept, or a token the
#: caller forced); its score is ``-inf`` already, it is padded from here on.
_OFF = _Ended("off-constraint")
#: The row's constraint state allows no token at all (impossible for corral's exact matchers; defensive).
_DEAD = _Ended("dead")

_SCHEMA_OPTIONS = tuple(f.name for f in dataclasses.fields(SchemaOptions))


class _VocabularyModel:
    """A :class:`~corral.protocols.LanguageModel` that has only a vocabulary: what a
    :class:`~corral.generator.Generator` needs to compile constraints (it cannot generate)."""

    max_length = None

    def __init__(self, vocab: Vocabulary) -> None:
        self.vocab = vocab
        self.eos_token_ids = vocab.eos_token_ids

    def start(self, prompt_ids):
        raise ConfigurationError("this model only holds a vocabulary, for compiling constraints")

    def encode(self, text: str) -> list[int]:
        raise ConfigurationError("this model only holds a vocabulary, for compiling constraints")


#: Generators (and so their compiled-constraint caches) by vocabulary fingerprint.
_GENERATORS = LRUCache(4)
#: Vocabularies by (tokenizer object, its length, the extra EOS ids); the tokenizer itself is kept to check identity.
_VOCABS = LRUCache(4)


def _generator(vocab: Vocabulary) -> Generator:
    """The cached :class:`~corral.generator.Generator` compiling constraints for ``vocab``."""
    hit = _GENERATORS.get(vocab.fingerprint)
    if hit is None:
        hit = Generator(_VocabularyModel(vocab))
        _GENERATORS.put(vocab.fingerprint, hit)
    return hit


def _vocabulary(tokenizer, extra_eos: frozenset[int]) -> Vocabulary:
    """The byte-level vocabulary of ``tokenizer`` (its EOS ids and ``extra_eos``), cached by tokenizer object."""
    try:
        length = len(tokenizer)
    except TypeError:
        length = None
    key = (id(tokenizer), length, tuple(sorted(extra_eos)))
    hit = _VOCABS.get(key)
    if hit is not None and hit[0] is tokenizer:
        return hit[1]
    vocab = Vocabulary.from_huggingface(tokenizer, model_config=sorted(extra_eos) or None)
    _VOCABS.put(key, (tokenizer, vocab))
    return vocab


def _as_constraint(constraint, grammar, regex, choices, schema) -> Constraint:
    """The :class:`~corral.constraint.Constraint` of the arguments (the positional one or one keyword)."""
    keywords = Constraint(grammar=grammar, regex=regex, choices=choices, schema=schema)
    if constraint is None:
        if keywords.kind is None:
            raise ConfigurationError("give a constraint: grammar=, regex=, choices= or schema= (or a positional "
                                     "Constraint, Grammar, grammar source or CompiledGrammar)")
        return keywords
    if keywords.kind is not None:
        raise ConfigurationError(f"pass the constraint once: positionally or as {keywords.kind}=, not both")
    if isinstance(constraint, Constraint):
        if constraint.kind is None:
            raise ConfigurationError("the Constraint is empty: give grammar=, regex=, choices= or schema=")
        return constraint
    return Constraint(grammar=constraint)


class LogitsProcessor(transformers.LogitsProcessor):
    """Mask the scores of Hugging Face ``generate`` to a corral constraint, row by row (batches and beams).

    Parameters
    ----------
    constraint : Constraint, CompiledGrammar, Grammar, str or os.PathLike, optional
        The constraint, positionally: a :class:`~corral.constraint.Constraint`, or anything ``grammar=`` accepts
        (a :class:`~corral.compile.grammar.Grammar`, Lark text, a ``.lark`` file, a shipped grammar name such as
        ``"json"``, or a compiled constraint such as a :class:`~corral.runtime.matcher.CompiledGrammar`, used as it
        is, with its own vocabulary). Or give one of the keywords instead.
    tokenizer : transformers tokenizer, tokenizers.Tokenizer, str or os.PathLike, optional
        The model's tokenizer (or its folder / ``tokenizer.json``): the byte-level vocabulary and the EOS id(s) come
        from it (:meth:`~corral.tokens.vocabulary.Vocabulary.from_huggingface`). Required unless ``vocab=`` or a
        compiled constraint is given.
    grammar, regex, choices, schema
        At most one (and not with ``constraint``): as in :func:`corral.generate`.
    vocab : Vocabulary, optional
        The vocabulary to compile for, instead of the tokenizer's (e.g. ``HFModel.vocab``).
    prompt_length : int, optional
        The prompt length (the generated suffix of a row is ``input_ids[row, prompt_length:]``). Default: learned
        at the first call of each generation (``input_ids.shape[1]``).
    eos_token_id : int, iterable of int or config, optional
        EOS ids added to the tokenizer's: ids, or a ``GenerationConfig`` / ``PretrainedConfig`` whose
        ``eos_token_id`` is read (pass ``model.generation_config`` when it declares EOS ids the tokenizer does not).
        EOS is allowed exactly when the text is complete. Ignored with a compiled constraint or ``vocab=``.
    compile_budget : float, dict, "unlimited" or CompileBudget, optional
        The compilation budget (:mod:`corral.budget`), as ``corral.generate(compile_budget=)``.
    **schema_options
        With ``schema=`` only: ``whitespace``, ``lenient``, ``registry``, ``property_order``,
        ``integral_floats``, ``formats``, ``strict_keywords``, as in :func:`corral.generate` (the default layout is
        ``"spaced"``, ``json.dumps``' separators).

    Attributes
    ----------
    compiled : CompiledConstraint
        The compiled constraint (shared with other processors of the same constraint and vocabulary).
    vocab : Vocabulary
        Its vocabulary. Score columns past ``vocab.size`` (a model whose embedding matrix is padded past the
        tokenizer) are always masked.
    eos_token_ids : frozenset of int
        The EOS ids (the vocabulary's).
    pad_token_id : int or None
        The tokenizer's pad id, allowed (with EOS) in a row that has ended.
    prompt_length : int or None
        The prompt length of the current generation (``None`` before its first call).
    finished_rows : int
        Generated suffixes of the current generation seen ending with an allowed EOS (a row is seen when it is
        passed back to the processor: in a batch, one that ended before the others; not the row whose EOS ended
        the generation, nor a beam's finished hypothesis, which beam search keeps aside).
    off_constraint_rows : int
        Suffixes that took a token the constraint does not allow: beam search may keep a ``-inf`` candidate as a
        running beam when fewer than ``num_beams`` allowed ones exist (its score stays ``-inf``, it is never
        returned ahead of a finite one), or the caller forced a token. Such a row may only take EOS from there.
    dead_rows : int
        Suffixes whose constraint state allowed no token within the scores' width. Impossible with corral's exact
        matchers (a state that allows nothing is never reached); counted rather than raised, and the row may only
        take EOS.

    Raises
    ------
    ConfigurationError
        No constraint, two constraints, schema options without ``schema=``, an unknown schema option, or no
        tokenizer nor vocabulary.
    GrammarError, RegexError, SchemaError
        The constraint is malformed or unsupported (as in :func:`corral.generate`); raised here, not during
        ``generate``.

    Notes
    -----
    The processor is stateful (one generation at a time); see the module docstring for how it recognises a new
    ``generate`` call, and :meth:`reset`. Masked scores are ``-inf``; allowed ones are left as they are (in beam
    search they are log-probabilities that are not renormalised over the allowed tokens, as with Hugging Face's
    own processors).

    Another processor that masks tokens the constraint needs can leave a row with no allowed token at all (e.g.
    ``min_new_tokens`` masks EOS, which may be the only token the constraint allows once the text is complete):
    Hugging Face then samples from ``-inf`` scores. Bound the language or the length instead.
    """

    supports_continuous_batching = False

    def __init__(self, constraint=None, tokenizer=None, *, grammar=None, regex=None, choices=None, schema=None,
                 vocab: Vocabulary | None = None, prompt_length: int | None = None, eos_token_id=None,
                 compile_budget=None, **schema_options: Any) -> None:
        unknown = sorted(set(schema_options) - set(_SCHEMA_OPTIONS))
        if unknown:
            raise ConfigurationError(f"unknown option(s) {', '.join(unknown)}; the schema options are "
                                     f"{', '.join(_SCHEMA_OPTIONS)}")
        if prompt_length is not None and (isinstance(prompt_length, bool) or not isinstance(prompt_length, int)
                                          or prompt_length < 0):
            raise ConfigurationError(f"prompt_length must be an integer >= 0, got {prompt_length!r}")
        if vocab is not None and not isinstance(vocab, Vocabulary):
            raise ConfigurationError(f"vocab must be a corral Vocabulary, got {type(vocab).__name__}")
        spec = _as_constraint(constraint, grammar, regex, choices, schema)
        options = SchemaOptions(**schema_options)
        if spec.kind != "schema" and not options.is_default():
            raise ConfigurationError("whitespace=, lenient=, registry=, property_order=, integral_floats=, formats= "
                                     "and strict_keywords= apply to schema= only")
        if spec.is_compiled:
            self.compiled = spec.grammar
            if vocab is not None and vocab.fingerprint != self.compiled.vocab.fingerprint:
                raise ConfigurationError("the compiled constraint was compiled for another vocabulary than vocab=")
            self.vocab = self.compiled.vocab
        else:
            if vocab is None:
                if tokenizer is None:
                    raise ConfigurationError("give the model's tokenizer (tokenizer=) or a corral Vocabulary (vocab=)")
                vocab = _vocabulary(tokenizer, eos_token_ids_from_config(eos_token_id))
            self.vocab = vocab
            self.compiled = _generator(vocab).compile(spec, options, compile_budget=compile_budget)
        if not isinstance(self.compiled, CompiledConstraint):  # pragma: no cover - Generator.compile returns one
            raise ConfigurationError(f"not a compiled constraint: {type(self.compiled).__name__}")
        self.eos_token_ids = frozenset(int(e) for e in self.vocab.eos_token_ids)
        pad = getattr(tokenizer, "pad_token_id", None) if tokenizer is not None else None
        self.pad_token_id = int(pad) if isinstance(pad, (int, np.integer)) else None
        self._ended_ids = sorted(self.eos_token_ids | ({self.pad_token_id} if self.pad_token_id is not None else set()))
        self._fixed_prompt_length = prompt_length
        self.reset()

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the current generation: the next call starts a new one (and learns its prompt length unless
        ``prompt_length=`` was given). The counters restart at 0."""
        self.prompt_length: int | None = None
        self._prompt: torch.Tensor | None = None
        self._last_length = -1
        self._cache: dict[tuple, Any] = {}
        self._root = None
        self.finished_rows = 0
        self.off_constraint_rows = 0
        self.dead_rows = 0

    def _continues(self, input_ids: torch.Tensor) -> bool:
        """Whether ``input_ids`` is the next step of the current generation."""
        if self._prompt is None:
            return False
        rows, length = input_ids.shape
        return (rows == self._prompt.shape[0] and length == self._last_length + 1
                and torch.equal(input_ids[:, : self.prompt_length], self._prompt))

    def _start(self, input_ids: torch.Tensor) -> None:
        """Begin a new generation at this call."""
        self.reset()
        length = int(input_ids.shape[1])
        prompt_length = length if self._fixed_prompt_length is None else self._fixed_prompt_length
        if prompt_length > length:
            raise ConfigurationError(f"prompt_length={prompt_length} but the first call has {length} tokens")
        self.prompt_length = prompt_length
        self._prompt = input_ids[:, :prompt_length].clone()
        self._root = self.compiled.matcher()
        self._cache = {(): self._root}

    def _advance(self, state, token: int):
        """The state after ``token`` (``state`` is not changed); counts the rows that end."""
        if isinstance(state, _Ended):
            return state  # pads after EOS, or a row already off the constraint (or dead)
        if token in self.eos_token_ids:
            if state.check(token):
                self.finished_rows += 1
                return _FINISHED
            self.off_constraint_rows += 1
            return _OFF
        nxt = state.fork()
        try:
            nxt.advance(token)
        except ValueError:
            self.off_constraint_rows += 1
            return _OFF
        return nxt

    def _state(self, suffix: tuple):
        """The state of a generated suffix: cached, or its parent's advanced by its last token (or, when the
        parent is not cached either, walked from the start)."""
        hit = self._cache.get(suffix)
        if hit is not None:
            return hit
        parent = self._cache.get(suffix[:-1])
        if parent is not None:
            state = self._advance(parent, suffix[-1])
        else:
            state = self._root
            for token in suffix:
                state = self._advance(state, token)
        self._cache[suffix] = state
        return state

    # ------------------------------------------------------------------ masking
    def _allowed(self, states: list, width: int, device) -> torch.Tensor:
        """bool ``[len(states), width]``: the allowed columns of each row's state."""
        rows = len(states)
        allowed = torch.zeros((rows, width), dtype=torch.bool, device=device)
        live = [i for i, s in enumerate(states) if not isinstance(s, _Ended)]
        cols = min(width, self.vocab.size)
        if live:
            matchers = [states[i] for i in live]
            if all(type(m) is Matcher for m in matchers):
                packed = torch.from_numpy(np.ascontiguousarray(fill_packed_masks(matchers))).to(device)
                shifts = torch.arange(32, device=device, dtype=torch.int32)
                bits = ((packed.unsqueeze(-1) >> shifts) & 1).reshape(len(live), -1).bool()
            else:  # another CompiledConstraint's states: bool masks
                bits = torch.from_numpy(np.stack([np.asarray(m.mask(), dtype=bool) for m in matchers])).to(device)
            index = torch.tensor(live, dtype=torch.long, device=device)
            allowed[index, :cols] = bits[:, :cols]
        ended_ids = [e for e in self._ended_ids if e < width]
        if ended_ids:
            ended_cols = torch.tensor(ended_ids, dtype=torch.long, device=device)
            for i, s in enumerate(states):
                if isinstance(s, _Ended):
                    allowed[i, ended_cols] = True
        return allowed

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """Mask ``scores`` to the constraint.

        Parameters
        ----------
        input_ids : torch.LongTensor
            ``[batch * beams, length]``: the prompt (left-padded) and the tokens generated so far, per row.
        scores : torch.FloatTensor
            ``[batch * beams, width]``: the next-token scores (logits, or log-probabilities in beam search).
            ``width`` may exceed the vocabulary (a padded embedding matrix): those columns are masked.

        Returns
        -------
        torch.FloatTensor
            A new tensor: ``scores`` with ``-inf`` at every token the row's constraint state does not allow. A row
            that has ended (it took EOS), or left the constraint, may only take EOS or the pad token.
        """
        if input_ids.dim() != 2 or scores.dim() != 2 or input_ids.shape[0] != scores.shape[0]:
            raise ValueError(f"expected input_ids [rows, length] and scores [rows, width] with the same rows, got "
                             f"{tuple(input_ids.shape)} and {tuple(scores.shape)}")
        if not self._continues(input_ids):
            self._start(input_ids)
        self._last_length = int(input_ids.shape[1])
        suffixes = [tuple(row) for row in input_ids[:, self.prompt_length:].tolist()]
        states = [self._state(s) for s in suffixes]
        allowed = self._allowed(states, int(scores.shape[1]), scores.device)
        empty = (~allowed.any(dim=1)).nonzero().flatten().tolist()
        if empty:
            for i in empty:
                if not isinstance(states[i], _Ended):
                    self.dead_rows += 1
                states[i] = _DEAD
                self._cache[suffixes[i]] = _DEAD
            allowed = self._allowed(states, int(scores.shape[1]), scores.device)
        self._cache = {s: st for s, st in zip(suffixes, states)}
        self._cache[()] = self._root
        return scores.masked_fill(~allowed, float("-inf"))

    def __repr__(self) -> str:
        return (f"LogitsProcessor(vocab={self.vocab.size}, eos={sorted(self.eos_token_ids)}, "
                f"prompt_length={self.prompt_length})")
