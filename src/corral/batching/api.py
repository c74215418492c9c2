"""Many prompts at once: :func:`generate_batch` (results in input order) and :func:`iter_batch` (results as rows
finish), both on a :class:`~corral.batching.engine.BatchEngine` that runs one forward pass per step for every live
row, each row with its own constraint state, seed and status.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping

from corral.constraint import Constraint
from corral.errors import ConfigurationError, CorralError

__all__ = ["generate_batch", "iter_batch"]


def _check_prompts(prompts) -> list:
    if isinstance(prompts, (str, bytes, Mapping)) or not isinstance(prompts, Iterable):
        raise ConfigurationError("prompts must be a list of prompts (strings, token id lists, chat message lists "
                                 f"or request dicts), got {type(prompts).__name__}")
    return list(prompts)


def _check_batch_size(batch_size) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigurationError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def iter_batch(items, *, model=None, grammar=None, regex=None, choices=None, schema=None, system=None,
               batch_size: int = 16, continuous: bool = True, tags=None, **options) -> Iterator:
    """Generate for every item, yielding ``(index, BatchResult)`` as rows finish (not in input order).

    Takes the arguments of :func:`generate_batch` (but ``progress``), plus:

    Parameters
    ----------
    items : iterable
        Read lazily: rows are prepared (prompt encoded, constraint compiled) as the engine has room for them.
    continuous : bool
        Continuous (default) or static batching (:class:`~corral.batching.engine.BatchEngine`).
    tags : callable, optional
        ``tags(index, item) -> tag`` for each row's :attr:`~corral.batching.request.BatchResult.tag` (default: a
        request dict's ``"id"``, else the index).

    Returns
    -------
    iterator of (int, BatchResult)
        The item's index and its result. A row that cannot be prepared (a bad request dict, prompt or constraint)
        gives at once a result with status ``"error"``.

    Raises
    ------
    CorralError
        Bad shared arguments (options, the shared constraint, the model): raised by this call, before any row
        runs (the model is loaded and the shared constraint compiled here).
    """
    from corral.batching.engine import BatchEngine
    from corral.batching.prepare import RowPreparer
    from corral.generator import default_generator

    batch_size = _check_batch_size(batch_size)
    if isinstance(items, (str, bytes, Mapping)) or not isinstance(items, Iterable):
        raise ConfigurationError(f"prompts must be a list of prompts, got {type(items).__name__}")
    constraint = Constraint(grammar=grammar, regex=regex, choices=choices, schema=schema)
    generator = default_generator(model)
    generator.model  # load it first (ModelError here), outside any compile budget
    preparer = RowPreparer(generator, constraint, options, system=system)
    if constraint.kind is not None:  # the shared constraint's errors are the call's, before any row
        preparer.compiled(constraint, preparer.options_for(constraint, {}))
    engine = BatchEngine(generator.model, max_batch=batch_size, continuous=continuous)
    return _drive(engine, preparer, enumerate(items), tags, window=2 * batch_size)


def _drive(engine, preparer, source, tags, *, window: int) -> Iterator:
    """Feed prepared rows to ``engine`` (``window`` ahead of it), step it, and yield ``(index, result)`` as rows
    finish."""
    from corral.batching.request import BatchResult

    finished: deque = deque()
    exhausted = False
    while True:
        while not exhausted and engine.n_queued < window:
            index, item = next(source, (None, None))
            if index is None:
                exhausted = True
                break
            tag = tags(index, item) if tags is not None else index
            try:
                handle = engine.submit(preparer.request(item, tag=tag))
            except (CorralError, ValueError, OSError) as exc:
                if isinstance(item, Mapping) and "id" in item:
                    tag = item["id"]
                yield index, BatchResult(text="", token_ids=[], status="error", logprob=0.0, error=str(exc), tag=tag)
                continue
            handle.add_done_callback(lambda h, i=index: finished.append((i, h.result())))
        if engine.idle() and exhausted:
            break
        engine.step()
        while finished:
            yield finished.popleft()
    while finished:
        yield finished.popleft()


def generate_batch(prompts, *, model=None, grammar=None, regex=None, choices=None, schema=None, system=None,
                   batch_size: int = 16, progress: bool = False, **options) -> list:
    """Generate for many prompts at once: the model runs one forward pass per step for every live row.

    Each row has its own constraint state, random generator (seeded from ``seed=`` as :func:`corral.generate`
    seeds it) and status; rows join the running batch as others finish (continuous batching). Sampling is masked
    decoding (``method="lcd"``): a row's law is :func:`corral.generate`'s, and for a seed its tokens are the
    single call's wherever the batched forward pass rounds like the single one (greedy rows: always, up to exact
    ties; batched and single log-probabilities agree to about 1e-5 in float32).

    Parameters
    ----------
    prompts : list
        Each a prompt string, a list of token ids, a list of chat messages (``[{"role": ..., "content": ...}]``,
        rendered with the tokenizer's chat template), or a request dict ``{"prompt": ... | "messages": [...],
        "system"?, "id"?, "schema" | "grammar" | "regex" | "choices"?, option=value...}`` with its own
        constraint and options (they override the arguments below).
    model : None, str, os.PathLike, HFModel or tuple, optional
        As in :func:`corral.generate`.
    grammar, regex, choices, schema
        At most one: the constraint of every row without its own (compiled once).
    system : str, optional
        A system message for every prompt string or message list (each becomes a chat; a request dict's own
        ``"system"`` wins).
    batch_size : int
        Most rows generated at once.
    progress : bool
        Show a ``tqdm`` progress bar on stderr.
    **options
        The options of :func:`corral.generate` (``max_tokens``, ``temperature``, ``top_k``, ``top_p``, ``seed``,
        schema and compile options); ``method`` must be ``"lcd"`` and ``draft`` is not supported.

    Returns
    -------
    list of BatchResult
        In input order: :class:`~corral.result.Result` objects with ``error`` and ``tag`` added. ``status`` is
        ``"complete"``, ``"length"``, ``"invalid"`` (lenient schemas) or ``"error"`` (this row could not be run:
        ``error`` says why; the other rows are unaffected). ``value`` holds the parsed, validated output of
        complete schema rows.

    Raises
    ------
    ConfigurationError, SchemaError, GrammarError, RegexError, ModelError
        Bad shared arguments: options, the shared constraint, the model, ``prompts`` not a list, ``batch_size``.
    """
    prompts = _check_prompts(prompts)
    _check_batch_size(batch_size)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:  # pragma: no cover - tqdm comes with transformers
            tqdm = None
        if tqdm is not None:
            import sys

            bar = tqdm(total=len(prompts), file=sys.stderr, unit="row", desc="corral")
    results: list = [None] * len(prompts)
    try:
        for index, result in iter_batch(prompts, model=model, grammar=grammar, regex=regex, choices=choices,
                                        schema=schema, system=system, batch_size=batch_size, **options):
            results[index] = result
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return results
