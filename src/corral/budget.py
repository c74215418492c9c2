"""Compile budgets: a time and size limit on turning a schema, grammar or regex into token masks.

A hostile or merely huge input (a ``pattern`` whose automaton explodes, ``maxLength: 100000``, a 20-digit
``multipleOf``, thousands of ``enum`` values, a long ``$ref`` chain) must fail fast with a clear error instead of
running for minutes. Compilation runs inside :func:`budget_scope`; the long loops of the compiler call
:func:`checkpoint`, which raises :class:`BudgetExceeded` once the scope's deadline has passed. The front ends turn
it into the error their callers expect: a :class:`~corral.errors.SchemaError` or
:class:`~corral.errors.GrammarError` of kind ``"too_complex"`` naming the JSON pointer and keyword (or the grammar
terminal and line) being compiled. Nothing half-built is cached, so the memory it took is freed with the exception.

Scopes nest: an inner scope (``CompiledGrammar`` inside ``generate``) keeps the outer deadline, so one budget covers
the whole of a call's compilation (schema to grammar, grammar to automata and token index, and the first mask).
"""

from __future__ import annotations

import contextlib
import contextvars
import math
import time
from dataclasses import dataclass

__all__ = ["CompileBudget", "BudgetExceeded", "budget_scope", "checkpoint", "current_budget", "DEFAULT_BUDGET",
           "is_size_limit", "seconds_left"]


@dataclass(frozen=True)
class CompileBudget:
    """How much one compilation may take.

    Attributes
    ----------
    seconds : float
        Wall-clock time from the start of compilation to the first mask (default 4 s, so that a call that runs out
        reports it within 5 s). ``math.inf``: no time limit.
    states : int
        The most states of one automaton (a DFA of a terminal, a ``pattern``, a string language); larger ones are
        refused as too complex before they are built in full (default 50,000).
    """

    seconds: float = 4.0
    states: int = 50_000

    def __post_init__(self) -> None:
        if isinstance(self.seconds, bool) or not isinstance(self.seconds, (int, float)) or not self.seconds > 0:
            raise ValueError(f"compile_budget seconds must be a number > 0, not {self.seconds!r}")
        if isinstance(self.states, bool) or not isinstance(self.states, int) or self.states < 1:
            raise ValueError(f"compile_budget states must be an integer >= 1, not {self.states!r}")

    @classmethod
    def of(cls, value) -> "CompileBudget":
        """A budget from what a caller passes as ``compile_budget=``: None (the default budget), a number of seconds,
        a mapping of the fields (``{"seconds": 10, "states": 200000}``), ``"unlimited"`` (no limit on either), or a
        :class:`CompileBudget`. ValueError for anything else."""
        if value is None:
            return DEFAULT_BUDGET
        if isinstance(value, CompileBudget):
            return value
        if value == "unlimited":
            return cls(math.inf, 2 ** 62)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return cls(seconds=value)
        if isinstance(value, dict):
            unknown = set(value) - {"seconds", "states"}
            if unknown:
                raise ValueError(f"compile_budget: unknown fields {sorted(unknown)} (use 'seconds', 'states')")
            return cls(**value)
        raise ValueError(f"compile_budget must be None, seconds, a dict, 'unlimited' or a CompileBudget, not "
                         f"{value!r}")


DEFAULT_BUDGET = CompileBudget()


class BudgetExceeded(Exception):
    """Raised by :func:`checkpoint` past the deadline (or by a size check past ``states``); the front ends turn it
    into a ``too_complex`` error with a location. Not a :class:`~corral.errors.CorralError`: it never reaches a
    caller of the public API.

    Attributes
    ----------
    what : str
        What ran out ("time" or "states") and where, for the message.
    keyword : str or None
        The schema keyword being compiled, where the checkpoint knows it.
    """

    def __init__(self, what: str, keyword: str | None = None) -> None:
        self.what = what
        self.keyword = keyword
        super().__init__(what)


_SCOPE: contextvars.ContextVar = contextvars.ContextVar("corral_compile_budget", default=None)


@contextlib.contextmanager
def budget_scope(budget=None, *, spent: float = 0.0, error=None):
    """Run the body under ``budget`` (anything :meth:`CompileBudget.of` takes), of which ``spent`` seconds are
    already used (a compilation done in two parts). Inside an active scope, the outer scope's deadline and budget
    stay in force (one budget per call).

    A :class:`BudgetExceeded` that leaves the body becomes ``error(exc)`` (default: a
    :class:`~corral.errors.GrammarError` of kind ``"too_complex"``), so it never reaches a caller of the public API.
    """
    outer = _SCOPE.get()
    token = None
    if outer is None:
        b = CompileBudget.of(budget)
        now = time.perf_counter()
        token = _SCOPE.set((now + b.seconds - spent, b, now - spent))
    try:
        yield current_budget()
    except BudgetExceeded as exc:
        raise (error or _grammar_error)(exc) from None
    finally:
        if token is not None:
            _SCOPE.reset(token)


def _grammar_error(exc: BudgetExceeded):
    from corral.errors import GrammarError

    return GrammarError(exc.what, kind="too_complex")


def current_budget() -> CompileBudget:
    """The budget in force (the default budget outside any scope)."""
    scope = _SCOPE.get()
    return DEFAULT_BUDGET if scope is None else scope[1]


def seconds_left() -> float:
    """Seconds until the active scope's deadline (``inf`` outside any scope): for native loops that check the
    clock themselves."""
    scope = _SCOPE.get()
    return math.inf if scope is None else max(0.0, scope[0] - time.perf_counter())


def checkpoint(keyword: str | None = None) -> None:
    """Raise :class:`BudgetExceeded` if the active scope's deadline has passed (a no-op outside any scope)."""
    scope = _SCOPE.get()
    if scope is not None and time.perf_counter() > scope[0]:
        spent = time.perf_counter() - scope[2]
        raise BudgetExceeded(f"compilation ran out of its time budget ({scope[1].seconds:g} s; {spent:.1f} s spent)",
                             keyword)


def is_size_limit(exc: BaseException) -> bool:
    """Whether ``exc`` is an automaton's size limit (not a malformed input): a regex whose DFA is over the state
    limit (:class:`~corral.errors.RegexError` with ``construct="size"``), a product automaton over its limit, or a
    ``MemoryError``."""
    from corral.errors import RegexError

    if isinstance(exc, MemoryError):
        return True
    if isinstance(exc, RegexError):
        return exc.construct == "size"
    return isinstance(exc, ValueError) and "automaton has more than" in str(exc)
