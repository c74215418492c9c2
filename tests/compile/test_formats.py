"""format: hostname, uri, uri-reference, iri, iri-reference, uri-template, json-pointer, relative-json-pointer.

Each grammar is compared with an oracle written independently of the compiler's regexes (procedural checks) and with
the JSON-Schema-Test-Suite's optional format files."""

from __future__ import annotations

import json
import re

import pytest
from strategies import mutated
from hypothesis import HealthCheck, given, settings, strategies as st

from corral.compile.json_schema import schema_to_grammar
from corral.errors import SchemaError
from corral.runtime.matcher import CompiledGrammar
from corral.tokens.vocabulary import Vocabulary

from conftest import DATA_DIR, shared_path

VOCAB = Vocabulary.from_token_bytes([None] + [bytes([b]) for b in range(32, 127)]
                                    + [c.encode() for c in "éƒøßå∂πîü😀\u00a0\ue000\U000f0000\n\t"],
                                    eos_token_ids=[0])
NEW = ["hostname", "uri", "uri-reference", "iri", "iri-reference", "uri-template", "json-pointer",
       "relative-json-pointer"]
_CG: dict[str, CompiledGrammar] = {}


def accepts(name: str, s: str) -> bool:
    if name not in _CG:
        _CG[name] = CompiledGrammar(schema_to_grammar({"type": "string", "format": name}), VOCAB)
    return _CG[name].accepts(json.dumps(s, ensure_ascii=False).encode())


# ------------------------------------------------------------------ independent oracles

_LDH = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


def hostname_rfc1123(s: str) -> bool:
    labels = s.split(".")
    return 0 < len(s) <= 253 and all(
        0 < len(x) <= 63 and set(x) <= _LDH and x[0] != "-" and x[-1] != "-" for x in labels)


def hostname_generated(s: str) -> bool:
    """The compiler's documented subset: RFC 1123, no R-LDH label (``--`` at 3-4), the label-count tiers."""
    if not hostname_rfc1123(s):
        return False
    labels = s.split(".")
    if any(x[2:4] == "--" for x in labels):
        return False
    k, m = len(labels), max(map(len, labels))
    if k <= 4:
        return True
    return any(lo <= k <= hi and m <= cap for lo, hi, cap in ((5, 8, 30), (9, 16, 14), (17, 32, 6), (33, 64, 2),
                                                               (65, 127, 1)))


def json_pointer_ok(s: str) -> bool:
    if s and not s.startswith("/"):
        return False
    for token in s.split("/")[1:]:
        i = 0
        while i < len(token):
            if token[i] == "~":
                if i + 1 >= len(token) or token[i + 1] not in "01":
                    return False
                i += 2
            else:
                i += 1
    return True


def relative_json_pointer_ok(s: str) -> bool:
    i = 0
    while i < len(s) and s[i] in "0123456789":
        i += 1
    digits, rest = s[:i], s[i:]
    if not digits or (len(digits) > 1 and digits[0] == "0"):
        return False
    return rest == "#" or json_pointer_ok(rest)


_HEX = set("0123456789abcdefABCDEF")


def _ut_literal_char(c: str) -> bool:
    o = ord(c)
    return (o in (0x21, 0x23, 0x24, 0x26, 0x27, 0x3D, 0x5D, 0x5F, 0x7E) or 0x28 <= o <= 0x3B
            or 0x3F <= o <= 0x5B or 0x61 <= o <= 0x7A
            or 0xA0 <= o <= 0xD7FF or 0xF900 <= o <= 0xFDCF or 0xFDF0 <= o <= 0xFFEF
            or (0x10000 <= o <= 0xEFFFD and (o & 0xFFFF) <= 0xFFFD and not 0xE0000 <= o < 0xE1000)
            or 0xE000 <= o <= 0xF8FF or 0xF0000 <= o <= 0xFFFFD or 0x100000 <= o <= 0x10FFFD)


def uri_template_ok(s: str) -> bool:
    """RFC 6570 level 4 syntax, checked by a hand-written scanner ("'" allowed in literals, as the suite wants)."""
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%":
            if not (i + 2 < len(s) and s[i + 1] in _HEX and s[i + 2] in _HEX):
                return False
            i += 3
        elif c == "{":
            end = s.find("}", i)
            if end < 0:
                return False
            body = s[i + 1:end]
            if body[:1] and body[0] in "+#./;?&=,!@|":
                body = body[1:]
            for spec in body.split(","):
                m = re.fullmatch(r"((?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*)"
                                 r"(:[0-9]+|\*)?", spec, re.ASCII)
                if not m:
                    return False
                if m[2] and m[2] != "*" and (m[2][1] == "0" or len(m[2]) > 5):
                    return False
            i = end + 1
        elif _ut_literal_char(c):
            i += 1
        else:
            return False
    return True


ORACLES = {"hostname": hostname_generated, "json-pointer": json_pointer_ok,
           "relative-json-pointer": relative_json_pointer_ok, "uri-template": uri_template_ok}


# ------------------------------------------------------------------ the official suite

def _suite(name):
    folder = shared_path("json-schema-test-suite", "tests", "draft2020-12", "optional", "format", base=DATA_DIR)
    return json.loads((folder / f"{name}.json").read_text())


@pytest.mark.parametrize("name", NEW)
def test_suite(name):
    n, bad = 0, []
    for group in _suite(name):
        for case in group["tests"]:
            s = case["data"]
            if not isinstance(s, str):
                continue
            n += 1
            got = accepts(name, s)
            expected = case["valid"]
            if name == "hostname" and any(x[2:4] == "--" for x in s.split(".")):
                expected = False  # documented narrowing: R-LDH labels (xn-- A-labels) are not generated
            if got != expected:
                bad.append((case["description"], s))
    assert n >= 7 and not bad, bad


def test_non_strings_are_not_generated_for_typed_schema():
    for name in NEW:
        g = CompiledGrammar(schema_to_grammar({"format": name}), VOCAB)
        assert g.accepts(b"1") and g.accepts(b"null")  # format only constrains strings


# ------------------------------------------------------------------ oracle comparisons

SEEDS = {
    "hostname": ["www.example.com", "a", "a-b", "a--b.com", "ab--c", "xn--abc", "-a", "a-", "a..b", "a.", ".a",
                 "a_b", "1host", "x" * 63, "x" * 64, ".".join(["a" * 63] * 4), ".".join(["a" * 62] * 4),
                 ".".join(["a" * 30] * 8), ".".join(["a" * 31] * 5), ".".join("a" * 127), ".".join("a" * 128)],
    "json-pointer": ["", "/", "/a~0b", "/a~1b", "/~", "/~2", "a", "/a/b/", "/\"\\\n", "/é~01", "#/a"],
    "relative-json-pointer": ["0", "1#", "0/a", "01", "10/a~1", "0##", "#", "1/~", "2/", "-1"],
    "uri-template": ["", "a{b}c", "{+a,b:12}", "{a*}", "{}", "{a,}", "{a..b}", "{v:0}", "{v:9999}", "{v:10000}",
                     "%4g", "%41", "a b", "{a.b}", "}", "{", "{%41}", "{=x}", "é😀", "a'b", "{|a}", "a<b"],
}
_MUT = list("aZ09-._~%{}/#:?@!$&'()*+,;=[]\" \\\né") + ["~0", "~1", "%41", "{a}", "xn--"]


def near(name):
    """Strings near the seeds of a format."""
    return mutated(SEEDS[name], _MUT)


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_seeds_match_oracle(name):
    for s in SEEDS[name]:
        assert accepts(name, s) == ORACLES[name](s), (name, s)


@pytest.mark.parametrize("name", sorted(ORACLES))
@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_random_match_oracle(name, data):
    s = data.draw(near(name))
    assert accepts(name, s) == ORACLES[name](s), (name, s)


def test_hostname_is_sound_for_rfc1123():
    """Everything generated is an RFC 1123 host name of at most 253 characters."""
    for s in SEEDS["hostname"]:
        if accepts("hostname", s):
            assert hostname_rfc1123(s)
    assert not accepts("hostname", ".".join(["a" * 63] * 4))  # 255 characters
    assert accepts("hostname", ".".join(["a" * 63] * 3 + ["a" * 61]))  # 253


URI_CASES = [
    ("http://a.b/c?d=e#f", True), ("a:", True), ("a:b/c", True), ("A+b-c.d:x", True), ("1a:b", False),
    ("http://[::1]:80/", True), ("http://[v7.a:b]", True), ("http://[V7.a]", True), ("http://[v7.]", False),
    ("http://[1.2.3.4]", False), ("http://[::ffff:01.2.3.4]", False), ("http://u:p@h:/", True),
    ("http://a@b@c", False), ("http://h:8a", False), ("s://h/%41", True), ("s://h/%4", False), ("s:/a//b", True),
    ("s://", True), ("s:?#", True), ("s:a#b#c", False), ("s:a b", False), ("s:a|b", False), ("s:[x]", False),
    ("s:é", False), ("//h/p", False), ("p", False),
]
REF_CASES = [("", True), ("//h", True), ("/a:b", True), ("a:b", True), ("a/b:c", True), ("a@b", True),
             ("./a:b", True), ("?x", True), ("#", True), ("%zz", False), ("[", False), ("a b", False)]


@pytest.mark.parametrize("iri", [False, True])
def test_uri_cases(iri):
    pre = "i" if iri else "u"
    for s, ok in URI_CASES:
        assert accepts(pre + "ri", s) == (ok or (iri and s == "s:é")), s
        assert accepts(pre + "ri-reference", s) == (ok or (iri and s == "s:é") or s in ("//h/p", "p")), s
    for s, ok in REF_CASES:
        assert accepts(pre + "ri-reference", s) == ok, s


def test_iri_extends_uri_exactly_by_ucschar():
    for s in ["http://é.com/é?é#é", "x:\ue000", "x:?\ue000", "x:#\ue000", "x:\u00a0", "x:\U000f0000"]:
        assert not accepts("uri", s)
    assert accepts("iri", "http://é.com/é?é#é") and accepts("iri", "x:?\ue000") and accepts("iri", "x:\u00a0")
    assert not accepts("iri", "x:\ue000") and not accepts("iri", "x:#\ue000")  # iprivate only in the query


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(s=st.text(alphabet="ab:/?#[]@%41!$&'()*+,;= é-._~", max_size=12))
def test_uri_is_the_ascii_part_of_iri(s):
    """On ASCII strings the IRI grammars equal the URI ones; a URI is a URI reference; an IRI is an IRI reference."""
    u, i = accepts("uri", s), accepts("iri", s)
    if s.isascii():
        assert u == i and accepts("uri-reference", s) == accepts("iri-reference", s)
    else:
        assert not u and not accepts("uri-reference", s)
    assert not u or accepts("uri-reference", s)
    assert not i or accepts("iri-reference", s)


@pytest.mark.parametrize("name", ["idn-hostname", "regex", "idn-email"])
def test_unsupported_formats(name):
    with pytest.raises(SchemaError) as info:
        schema_to_grammar({"type": "string", "format": name})
    assert (info.value.kind, info.value.keyword, info.value.pointer) == ("unsupported", "format", "/format")


def test_validator_agrees_with_grammar():
    """corral.validate's format checker accepts every string a format grammar accepts (and the spec's others)."""
    from corral.compile.json_schema.formats import format_checker

    fc = format_checker()
    for name in NEW:
        for s in SEEDS.get(name, []) + [c[0] for c in URI_CASES + REF_CASES]:
            if accepts(name, s):
                assert fc.conforms(s, name), (name, s)
            elif name != "hostname":
                assert not fc.conforms(s, name), (name, s)
    assert fc.conforms("xn--abc.com", "hostname")  # RFC 1123 in full when validating
