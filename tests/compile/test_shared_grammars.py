"""Random-walk invariants over the Lark grammars in the shared data that the front end supports.

Each grammar gets a synthetic vocabulary made of its literal strings, single characters and character pairs from
an alphabet drawn from the grammar, so walks can reach deep into the language. At every step
``mask()[t] == check(t)`` for every token, fork/rollback is the identity, EOS iff complete, and the text so far is
complete iff lark's own Earley parser (``lexer="dynamic_complete"``) accepts it (the checks of
:func:`corral.testing.random_walk`). Grammars with an indentation post-lexer (``%declare _INDENT _DEDENT``: the
Python grammars, the indented tree) are checked against lark's ``Indenter`` and Earley parser over the splits of the
text (:func:`corral.testing.indent_oracle.indent_oracle`, which ``lark_oracle`` picks for them).
"""

from __future__ import annotations

import json
import random
import string
import zlib

import pytest

from corral.compile.grammar import load_lark_file
from corral.errors import GrammarError
from corral.runtime.matcher import CompiledGrammar
from corral.testing import SYNTHETIC_EOS as EOS
from corral.testing import lark_oracle, random_walk
from corral.tokens.vocabulary import Vocabulary

from conftest import DATA_DIR

FOLDERS = ["lark", "outlines", "syncode", "genlm-eval", "control-iclr-2025"]

# Grammars without a ``start`` rule, by the end of their path: the start rule lark's examples use.
STARTS = {
    "lark/grammars/python.lark": "file_input",
    "examples/advanced/python2.lark": "file_input",
    "examples__advanced__py3to2__TEMPLATED_PYTHON.lark": "template_start",
}


def _grammar_files():
    root = DATA_DIR / "grammars"
    if not root.exists():
        return []
    files = []
    for folder in FOLDERS:
        files += sorted((root / folder).rglob("*.lark"))
    return files


FILES = _grammar_files()


def _vocab_for(grammar, seed: int) -> Vocabulary:
    rng = random.Random(seed)
    literals = [t.literal for t in grammar.terminals.values() if t.literal]
    chars = set("".join(literals)) | set("ab01 _\n\"'.")
    chars |= set(rng.sample(string.ascii_letters + string.digits + string.punctuation, 12))
    alphabet = sorted(chars)
    toks = {c.encode() for c in alphabet} | {lit.encode() for lit in literals}
    toks |= {(lit + " ").encode() for lit in literals[:40]}
    toks |= {(a + b).encode() for a in alphabet for b in rng.sample(alphabet, min(8, len(alphabet)))}
    return Vocabulary.from_token_bytes([None] + sorted(toks), eos_token_ids=[EOS])


@pytest.mark.skipif(not FILES, reason=f"shared grammars not found under {DATA_DIR} (set CORRAL_SHARED_DIR)")
@pytest.mark.parametrize("path", FILES, ids=[f"{p.parent.name}/{p.name}" for p in FILES])
def test_shared_grammar_walks(path):
    start = next((s for end, s in STARTS.items() if path.as_posix().endswith(end)), None)
    try:
        grammar = load_lark_file(path, start=start)
    except GrammarError as exc:
        pytest.skip(f"front end does not support this grammar: {exc}")
    seed = zlib.crc32(path.name.encode())
    vocab = _vocab_for(grammar, seed)
    cg = CompiledGrammar(grammar, vocab)
    oracle = lark_oracle(grammar)
    completed = 0
    for walk in range(4):
        rng = random.Random(seed + walk)
        m = cg.matcher()
        toks = random_walk(m, rng, steps=10, all_tokens=len(vocab.token_bytes) <= 2500, p_eos=0.6, oracle=oracle)
        if toks and toks[-1] == EOS:
            text = vocab.decode(toks[:-1]).decode()
            assert oracle(text), f"matcher completed {text!r} but lark rejects it"
            completed += 1
    # Record, for the report, how far walks got (not an assertion: some languages have no short strings).
    print(json.dumps({"grammar": path.name, "completed_walks": completed}))
