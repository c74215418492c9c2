"""Token tables: the class-grouped build equals running the DFA over every token."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import tokenizer_path
from corral.automata.regex import compile_regex
from corral.tokens.index import TokenIndex
from corral.tokens.vocabulary import Vocabulary

PATTERNS = [
    r'"(?:[^"\\\x00-\x1f]|\\["\\\/bfnrt]|\\u[0-9a-fA-F]{4}){0,12}"',
    r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?",
    r'"name"',
    r"[ \t]{1,8}|\r?\n[ \t]{0,8}",
    r"(?:[^\n]|\n)*x",
    r"[\x00-\xff]+",
    r"[a-z]+(?: [a-z]+)*",
]


@pytest.mark.parametrize("tokenizer", ["gpt2", "llama3"])
@pytest.mark.parametrize("build", ["native", "grouped", "direct"])
def test_tables_match_direct_runs(build, tokenizer):
    """For every terminal and its first DFA states: same inside set, same (token, offset) lexeme ends, whether the
    table comes from the native trie walk or from the numpy build (grouped by byte class, or direct)."""
    from corral.tokens import native

    if build == "native" and not native.NATIVE:
        pytest.fail("the native module is not built (pip install -e . builds it)")
    vocab = Vocabulary.from_huggingface(str(tokenizer_path(tokenizer)))
    dfas = [compile_regex(p) for p in PATTERNS]
    index = TokenIndex(dfas, vocab.byte_matrix, vocab.lengths, fingerprint=vocab.fingerprint)
    index._GROUP_MIN = 0 if build == "grouped" else 10**9  # 0: always grouped by byte class; huge: always direct
    for t, dfa in enumerate(dfas):
        for state in range(min(dfa.n_states, 5)):
            tab = index._build(t, state) if build == "native" else index._build_py(t, state)
            inside = np.zeros(index.size, dtype=bool)
            ids = index.candidates
            e_ids, e_offs = index._run(index._trans[t], index._acc[t], ids, np.zeros(len(ids), np.int64), state,
                                       inside_out=inside)
            assert np.array_equal(inside, tab.inside), (PATTERNS[t], state)
            want = sorted(zip(e_ids.tolist(), e_offs.tolist()))
            got = sorted(zip(tab.end_ids.tolist(), tab.end_offsets.tolist()))
            assert got == want, (PATTERNS[t], state)
