"""The tokens a rejected check proves invalid (AWRS groups): :func:`invalid_group` feeds a rejected token's bytes once
and selects, at each prefix, the tokens that continue it with a byte no lexeme thread can take there, for both the
compiled engine's states and the Python matcher's (:func:`trace`).
"""

from __future__ import annotations

import bisect
import weakref

import numpy as np

from corral.runtime.states import Rejection

__all__ = ["invalid_group", "prefix_index", "next_bytes", "trace"]

_PREFIX_INDEX: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # vocabulary -> prefix_index(...)


def prefix_index(compiled):
    """Token ids with bytes (EOS ids excluded) sorted by their bytes, the sorted bytes, and ``first_byte``: int16
    ``[size]``, each token's first byte (``-1`` for EOS ids and tokens without bytes). Built once per
    vocabulary object and shared by every grammar compiled against it."""
    if compiled._sorted is None:
        compiled._sorted = _PREFIX_INDEX.get(compiled.vocab)
    if compiled._sorted is None:
        tb = compiled.vocab.token_bytes
        eos = set(int(t) for t in compiled.eos_ids)
        ids = np.array(sorted((i for i in range(compiled.size) if tb[i] and i not in eos), key=lambda i: tb[i]),
                       dtype=np.int64)
        first = np.full(compiled.size, -1, dtype=np.int16)
        first[ids] = compiled.vocab.byte_matrix[ids, 0]
        first.flags.writeable = False
        compiled._sorted = _PREFIX_INDEX[compiled.vocab] = (ids, [tb[i] for i in ids.tolist()], first)
    return compiled._sorted


def next_bytes(compiled, threads) -> np.ndarray:
    """bool ``[256]``: the bytes some of the lexeme ``threads`` can take (any other byte kills every thread)."""
    allowed = np.zeros(256, dtype=bool)
    rows = compiled._rows
    for t, s in threads:
        row = rows.get((t, s))
        if row is None:
            row = rows[(t, s)] = compiled.dfas[t].transitions[s] >= 0
        allowed |= row
    return allowed


def trace(compiled, state, data: bytes):
    """``(n, keys, allowed_at)`` for :func:`invalid_group`: ``n`` is the length of the shortest prefix of
    ``data`` after which no lexeme thread is left (``-1`` if ``data`` is viable), ``keys[i - 1]`` a hashable key
    of the threads after ``data[:i]``, and ``allowed_at(i)`` the bool ``[256]`` of the bytes they can take. A
    compiled grammar with its own ``_trace`` (:class:`corral.runtime.indented.IndentedGrammar`) answers itself."""
    own = getattr(compiled, "_trace", None)
    if own is not None:
        return own(state, data)
    if compiled.native:
        engine, pids, q = compiled._engine, [], state.pid
        for b in data:
            q = engine.feed_bytes(q, bytes([b]))
            pids.append(q)
            if q < 0 or engine.threads(q) == 0:
                break
        if q >= 0 and len(pids) == len(data):
            return -1, None, None
        seq = [state.pid] + pids
        return len(pids), pids, lambda i: engine.next_bytes(seq[i])
    steps: list = []
    nxt, n = compiled._run(state, data, trace=steps)
    if n < 0 or nxt.viable and n == len(data):
        return -1, None, None
    seq = [state.threads] + steps
    return n, [frozenset(t) for t in steps], lambda i: next_bytes(compiled, seq[i])


def invalid_group(compiled, state, data: bytes) -> "Rejection | None":
    """Tokens certainly invalid at ``state`` because ``data`` (a token's bytes) is: ``None`` if ``data`` is viable.

    Feeding ``data`` byte by byte visits states ``S_0 = state, S_1, ...`` until every lexeme thread dies at
    byte ``n - 1``. At each ``S_i`` the live threads allow a set of next bytes (the union of their DFA rows);
    every token that starts with ``data[:i]`` followed by a byte outside that set is invalid, and so is
    ``data``. Depth 0 is returned as the allowed first bytes (the whole vocabulary is concerned); the deeper
    groups, disjoint and small, as ids. One feed of ``data`` (its threads traced) and a vectorised selection.
    """
    n, keys, allowed_at = trace(compiled, state, data)
    if n < 0:
        return None
    ids, keys_sorted, first = prefix_index(compiled)
    lengths, matrix = compiled.vocab.lengths, compiled.vocab.byte_matrix
    parts = []
    first_allowed = allowed_at(0)
    cache = compiled._group_cache
    for i in range(1, n):
        q = data[:i]
        key = (q, keys[i - 1])  # the group depends on q and the threads after it, nothing else
        part = cache.get(key)
        if part is None:
            allowed = allowed_at(i)
            if allowed.all():
                part = ids[:0]
            else:
                lo = bisect.bisect_left(keys_sorted, q)
                end = q.rstrip(b"\xff")
                hi = bisect.bisect_left(keys_sorted, end[:-1] + bytes([end[-1] + 1])) if end else len(keys_sorted)
                cand = ids[lo:hi]
                cand = cand[lengths[cand] > i]
                part = cand[~allowed[matrix[cand, i]]]
            part.flags.writeable = False
            cache[key] = part
            compiled._group_cache_ids += part.size
            while len(cache) > 1 and (len(cache) > 4096 or compiled._group_cache_ids > compiled._GROUP_CACHE_IDS):
                compiled._group_cache_ids -= cache.popitem(last=False)[1].size
        if part.size:
            parts.append(part)
    return Rejection(np.zeros(0, dtype=np.int64), first_allowed, first, tuple(parts))
