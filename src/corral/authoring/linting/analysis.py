"""Grammar analyses on BNF rules (``(lhs, rhs)`` pairs): nullable and reachable symbols, cycles (strongly
connected components), FIRST and FOLLOW sets, and the sets of terminals that may come next in one state of the
LR(0) automaton (where two terminals compete for the same text)."""

from __future__ import annotations

__all__ = ["MAX_LR_STATES", "nullable_symbols", "reachable_symbols", "cycles", "lr0_contexts"]

MAX_LR_STATES = 20_000  # above this, collisions are checked between all terminals


def nullable_symbols(rules) -> set[str]:
    """The nonterminals that derive the empty string."""
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            if lhs not in nullable and all(s in nullable for s in rhs):
                nullable.add(lhs)
                changed = True
    return nullable


def reachable_symbols(rules, start: str) -> set[str]:
    """The symbols reachable from ``start``."""
    by_lhs: dict[str, list] = {}
    for lhs, rhs in rules:
        by_lhs.setdefault(lhs, []).append(rhs)
    seen, stack = {start}, [start]
    while stack:
        for rhs in by_lhs.get(stack.pop(), ()):
            for s in rhs:
                if s not in seen:
                    seen.add(s)
                    stack.append(s)
    return seen


def _sccs(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of a graph (iterative Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is not None:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.get(nxt, ())))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    v = stack.pop()
                    on_stack.discard(v)
                    comp.append(v)
                    if v == node:
                        break
                out.append(comp)
    return out


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The components of a graph that hold a cycle (more than one node, or a self-loop)."""
    return [c for c in _sccs(edges) if len(c) > 1 or c[0] in edges.get(c[0], ())]


def _first_follow(rules, start: str, is_term) -> tuple[dict, dict]:
    """FIRST and FOLLOW sets of the nonterminals (FOLLOW of the start holds ``"$END"``)."""
    nullable = nullable_symbols(rules)
    first: dict[str, set] = {lhs: set() for lhs, _ in rules}
    follow: dict[str, set] = {lhs: set() for lhs, _ in rules}
    follow.setdefault(start, set()).add("$END")

    def first_of(sym):
        return {sym} if is_term(sym) else first.get(sym, set())

    changed = True
    while changed:
        changed = False
        for lhs, rhs in rules:
            for s in rhs:
                new = first_of(s) - first[lhs]
                if new:
                    first[lhs] |= new
                    changed = True
                if s not in nullable:
                    break
            trailer = set(follow[lhs])
            for s in reversed(rhs):
                if not is_term(s):
                    new = trailer - follow.setdefault(s, set())
                    if new:
                        follow[s] |= new
                        changed = True
                trailer = (trailer | first_of(s)) if s in nullable else set(first_of(s))
    return first, follow


def lr0_contexts(rules, start: str, is_term, max_states: int = MAX_LR_STATES) -> set[frozenset] | None:
    """The sets of terminals that may come next in one state of the LR(0) automaton (SLR lookaheads), or None
    when the automaton has more than ``max_states`` states."""
    _first, follow = _first_follow(rules, start, is_term)
    prods = list(rules) + [("$S", (start,))]
    by_lhs: dict[str, list[int]] = {}
    for i, (lhs, _rhs) in enumerate(prods):
        by_lhs.setdefault(lhs, []).append(i)
    left = _left_closure(prods, by_lhs, is_term)
    accept, entry = {}, {}
    for n, members in left.items():
        accept[n], entry[n] = _entry(prods, by_lhs, members, follow, is_term)
    initial = frozenset({(len(prods) - 1, 0)})
    seen, todo, out = {initial}, [initial], set()
    while todo:
        if len(seen) > max_states:
            return None
        state = todo.pop()
        acc, moves = _state_moves(state, prods, follow, accept, entry, is_term)
        out.add(frozenset(acc - {"$END"}))
        for kernel in moves.values():
            kernel = frozenset(kernel)
            if kernel not in seen:
                seen.add(kernel)
                todo.append(kernel)
    return out


def _left_closure(prods, by_lhs, is_term) -> dict[str, set[str]]:
    """For each nonterminal N, the nonterminals M with N =>* M... by leftmost symbols (N included)."""
    direct = {n: {prods[i][1][0] for i in idx if prods[i][1] and not is_term(prods[i][1][0])}
              for n, idx in by_lhs.items()}
    out = {}
    for n in direct:
        seen, stack = {n}, [n]
        while stack:
            for m in direct.get(stack.pop(), ()):
                if m not in seen:
                    seen.add(m)
                    stack.append(m)
        out[n] = seen
    return out


def _entry(prods, by_lhs, members, follow, is_term) -> tuple[set, dict]:
    """What the closure of a nonterminal adds to a state: the terminals it accepts, and its moves by symbol."""
    acc: set = set()
    moves: dict[str, set] = {}
    for m in members:
        for i in by_lhs.get(m, ()):
            rhs = prods[i][1]
            if not rhs:
                acc |= follow.get(m, set())
                continue
            if is_term(rhs[0]):
                acc.add(rhs[0])
            moves.setdefault(rhs[0], set()).add((i, 1))
    return acc, moves


def _state_moves(state, prods, follow, accept, entry, is_term) -> tuple[set, dict]:
    """The terminals a state accepts and its successor kernels by symbol."""
    acc: set = set()
    moves: dict[str, set] = {}
    for i, dot in state:
        lhs, rhs = prods[i]
        if dot == len(rhs):
            acc |= follow.get(lhs, set())
            continue
        sym = rhs[dot]
        moves.setdefault(sym, set()).add((i, dot + 1))
        if is_term(sym):
            acc.add(sym)
            continue
        acc |= accept.get(sym, set())
        for x, items in entry.get(sym, {}).items():
            moves.setdefault(x, set()).update(items)
    return acc, moves
