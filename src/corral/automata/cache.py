"""A memo of DFAs bounded by bytes as well as entries: ``functools.lru_cache`` counts entries only, and one hostile
pattern (``[a-z]{3000}``) has a DFA of megabytes, so 1,024 of them could hold gigabytes in a long-running server."""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from types import SimpleNamespace

__all__ = ["dfa_cache"]


def _nbytes(dfa) -> int:
    return int(dfa.transitions.nbytes + dfa.accepting.nbytes)


def dfa_cache(max_entries: int, max_bytes: int):
    """Decorate a function returning a :class:`~corral.automata.bytedfa.ByteDFA` (of hashable arguments) with a
    thread-safe LRU memo of at most ``max_entries`` results and ``max_bytes`` bytes of tables (least recently used
    out first; a result larger than ``max_bytes`` alone is returned but not kept). Exceptions are not cached. The
    wrapper has ``cache_clear()``, ``cache_nbytes()`` and ``cache_info()`` (``currsize``, ``nbytes``)."""
    def decorate(fn):
        memo: OrderedDict = OrderedDict()
        lock = threading.Lock()
        total = [0]

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            key = args + tuple(sorted(kwargs.items())) if kwargs else args
            with lock:
                hit = memo.get(key)
                if hit is not None:
                    memo.move_to_end(key)
                    return hit
            dfa = fn(*args, **kwargs)
            size = _nbytes(dfa)
            with lock:
                if key not in memo and size <= max_bytes:
                    memo[key] = dfa
                    total[0] += size
                    while len(memo) > max_entries or total[0] > max_bytes:
                        total[0] -= _nbytes(memo.popitem(last=False)[1])
            return dfa

        def cache_clear() -> None:
            with lock:
                memo.clear()
                total[0] = 0

        wrapper.cache_clear = cache_clear
        wrapper.cache_nbytes = lambda: total[0]
        wrapper.cache_info = lambda: SimpleNamespace(currsize=len(memo), nbytes=total[0])
        return wrapper
    return decorate
