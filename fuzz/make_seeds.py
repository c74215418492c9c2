"""Build the seed corpora ``fuzz/corpus/<target>/seed-*`` from the shared data (deterministic; run once, commit).

``python -m fuzz.make_seeds [--data /work/shared/data]``. Picks small inputs: hand-written hostile cases, the
shipped grammars, samples of the regex benchmarks, the JSON Schema Test Suite and MaskBench (see the shared data's
README for their sources and licences). Existing ``seed-*`` files are replaced; generated (SHA-1 named) inputs are
left alone.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import random
from pathlib import Path

from fuzz.harness import CORPUS_DIR, FUZZ_DIR
from fuzz.targets import MATCHER_GRAMMARS

REPO = FUZZ_DIR.parent

HOSTILE_REGEXES = [
    "", "a", "[a-z]+", "(ab|cd)*x{2,5}", r"\d{3}-\d{4}", "a**", "a{,3}", "a{3,}", "a{2,1}", "a{99999}",
    "(a{100}){100}", "((a|b)*)*c", "(?i)abc", "(?s).+", "(?x) a b # c", "(?i:a)b", "(?-i:a)", "(?P<n>a)(?P=n)",
    r"(a)\1", "(?=a)a", "(?<!b)a", r"\bword\b", "^abc$", "a^b", "a$b", "(?>a+)", "a++", "(?(1)a|b)",
    r"\p{L}+", r"\N{LATIN SMALL LETTER E WITH ACUTE}", r"\u00e9\U0001F600\x41\101\0", r"[\w\s\d]+[^\W\S\D]",
    "[]a]", "[^]", "[a-]", "[z-a]", r"[\]\\\-^]", "(", ")", "[", "\\", "*", "?", "{", "}", "|", "a|", "|a", "()",
    "(?:)", "(?#comment)a", r"[\x00-\x{10FFFF}]", r"[\ud800-\udfff]", ".", r"\Z", r"\A", r"\G", "é+€", "[^a]*",
    r"(\d+\.)*\d+", "[0-9]{1,3}(\\.[0-9]{1,3}){3}", r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
    r"-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?", r"\\u[0-9a-fA-F]{4}", "(?u)\\w", "(?a)\\w+", "(?L)a", "x*?y+?z??",
    "(a|aa)+$", "[[:alpha:]]", r"\cJ", r"\k<n>", "(?<n>a)", r"\/\-", r"[\b]", r"\v\f\t\r\n", "a{1,2}{3}",
]


def _write(folder: Path, items: list[tuple[str, bytes]]) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("seed-*"):
        old.unlink()
    seen, n = set(), 0
    for label, data in items:
        digest = hashlib.sha1(data).hexdigest()
        if digest in seen:
            continue
        seen.add(digest)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:48]
        (folder / f"seed-{safe}-{digest[:8]}").write_bytes(data)
        n += 1
    return n


def _jsts_cases(data: Path):
    root = data / "json-schema-test-suite" / "tests" / "draft2020-12"
    for path in sorted(root.rglob("*.json")):
        for case in json.loads(path.read_text()):
            yield path.relative_to(root).as_posix(), case


def regex_seeds(data: Path) -> list[tuple[str, bytes]]:
    items = [(f"hostile{i}", r.encode("utf-8", "surrogatepass")) for i, r in enumerate(HOSTILE_REGEXES)]
    rng = random.Random(14)
    for src in ("grammars/genlm-eval/assets/pattern_matching/patterns.csv",
                "grammars/awrs-colm-2025/data/pattern_matching/patterns.csv"):
        path = data / src
        if path.is_file():
            rows = [r[0] for r in csv.reader(path.open()) if r and r[0] != "regex" and len(r[0]) <= 200]
            items += [(f"{path.parts[-4]}", r.encode()) for r in rng.sample(rows, min(60, len(rows)))]
    for name, case in _jsts_cases(data):
        if "regex" in name or name in ("pattern.json", "patternProperties.json"):
            schema = case["schema"]
            pats = [schema.get("pattern")] if isinstance(schema, dict) else []
            pats += list(schema.get("patternProperties", {})) if isinstance(schema, dict) else []
            items += [("jsts", p.encode("utf-8", "surrogatepass")) for p in pats if isinstance(p, str)]
    return items


def lark_seeds(data: Path) -> list[tuple[str, bytes]]:
    items = [(p.stem, p.read_bytes()) for p in sorted((REPO / "src" / "corral" / "grammars").glob("*.lark"))]
    g = data / "grammars"
    for folder in (g / "lark", g / "syncode", g / "outlines", g / "control-iclr-2025"):
        for p in sorted(folder.rglob("*.lark")):
            if p.stat().st_size <= 8192:
                items.append((p.stem, p.read_bytes()))
    path = data / "json-schema-engine-tests" / "xgrammar" / "parametrized_cases.jsonl"
    for line in path.open():
        r = json.loads(line)
        args = r.get("args") or {}
        if r["test"].startswith("test_lark") and isinstance(args.get("grammar"), str):
            items.append((r["test"][10:], args["grammar"].encode()))
    path = g / "llama.cpp" / "tests_extracted" / "grammar_llguidance.jsonl"
    for line in path.open():
        r = json.loads(line)
        if r["kind"] == "grammar" and isinstance(r.get("grammar"), str):
            items.append(("llguidance", r["grammar"].encode()))
    items += [
        ("hostile-empty", b""), ("hostile-nostart", b"a: \"x\"\n"),
        ("hostile-leftrec", b"start: start \"a\" | \"a\"\n"),
        ("hostile-emptyterm", b"start: A\nA: /a*/\n"), ("hostile-never", b"start: A\nA: /(?!)/\n"),
        ("hostile-unicode", "start: \"é\" /[\u0100-\uffff]+/ \"\U0001F600\"\n".encode()),
        ("hostile-templates", b"_sep{x, s}: x (s x)*\nstart: _sep{\"a\", \",\"}\n"),
        ("hostile-priority", b"start: A | B\nA.2: /a+/\nB.-1: \"aa\"\n%ignore \" \"\n"),
        ("hostile-import", b"%import common (WORD, NUMBER, WS)\nstart: WORD NUMBER\n%ignore WS\n"),
        ("hostile-declare", b"%declare X\nstart: X\n"), ("hostile-override", b"%override start: \"a\"\n"),
        ("hostile-range", b"start: \"a\"..\"z\"\n"), ("hostile-repeat", b"start: \"a\"~3..5 \"b\"~2\n"),
        ("hostile-flags", b"start: /abc/i \"x\"i\n"), ("hostile-deep", b"start: " + b"(" * 200 + b"\"a\"" + b")" * 200),
        ("hostile-alias", b"start: \"a\" -> x\n    | \"b\" -> y\n"), ("hostile-maybe", b"start: [\"a\"] [\"b\"]\n"),
    ]
    return items


def schema_seeds(data: Path) -> list[tuple[str, bytes]]:
    items = []
    cases = list(_jsts_cases(data))
    rng = random.Random(14)
    for name, case in rng.sample(cases, min(150, len(cases))):
        text = json.dumps(case["schema"], ensure_ascii=False).encode("utf-8", "surrogatepass")
        if len(text) <= 4096:
            items.append((f"jsts-{Path(name).stem}", text))
    mb = data / "jsonschemabench" / "maskbench"
    for path in sorted(mb.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.open()]
        small = [r for r in rows if 100 <= len(json.dumps(r["schema"])) <= 6000]
        for r in rng.sample(small, min(5, len(small))):
            items.append((f"mb-{path.stem}", json.dumps(r["schema"], ensure_ascii=False).encode()))
    path = data / "grammars" / "llama.cpp" / "tests_extracted" / "grammar_llguidance.jsonl"
    for line in path.open():
        r = json.loads(line)
        if r["kind"] == "json_schema" and r.get("json_schema"):
            items.append(("llguidance", r["json_schema"].encode()))
    items += [(f"hostile{i}", s.encode("utf-8", "surrogatepass")) for i, s in enumerate([
        '{"minimum": NaN}', '{"maximum": Infinity, "type": "number"}', '{"type":"integer","multipleOf":1e-320}',
        '{"const": 1e999}', '{"type": "integer", "minimum": 1' + "0" * 400 + '}', '{"a":1,"a":2,"type":"string"}',
        '{"enum": ["\\ud800", "\\udfff\\ud800"]}', '{"properties": {"\\u0000": {}}, "required": ["\\u0000"]}',
        '{"$ref": "#"}', '{"$defs": {"a": {"$ref": "#/$defs/a"}}, "$ref": "#/$defs/a"}', '{"not": {}}',
        '{"allOf": [{"$ref": "#"}]}', '{"anyOf": []}', '{"type": []}', '[]', '1', '"x"', 'null', 'false',
        '{"items": ' * 60 + '{}' + '}' * 60, '{"not": ' * 100 + '{}' + '}' * 100,
        '{"type": "string", "pattern": "((a{10}){10}){10}"}', '{"type": "string", "minLength": 100000}',
        '{"type": "array", "minItems": 100000}', '{"type": "object", "minProperties": 1000}',
        '{"type": "string", "format": "date-time", "maxLength": 3}', '{"$ref": "#/$defs/%"}',
        '{"$id": "http://[::1", "$ref": "x"}', '{"oneOf": [{"type": "number"}, {"type": "integer"}]}',
        '{"propertyNames": {"pattern": "^a$"}, "minProperties": 2}', '{"uniqueItems": true, "type": "array"}',
        '{"dependentSchemas": {"a": {"$ref": "#"}}}', '{"if": {"$ref": "#"}, "then": false}',
        '{"prefixItems": [' + ",".join(['{"type":"integer"}'] * 50) + ']}',
    ])]
    return items


def validate_seeds(data: Path) -> list[tuple[str, bytes]]:
    items = []
    rng = random.Random(14)
    mb = data / "jsonschemabench" / "maskbench"
    for path in sorted(mb.glob("*.jsonl")):
        rows = [json.loads(line) for line in path.open()]
        small = [r for r in rows if len(json.dumps(r)) <= 3000 and r.get("tests")]
        for r in rng.sample(small, min(3, len(small))):
            lines = [json.dumps(r["schema"])] + [json.dumps(t["data"], ensure_ascii=rng.random() < 0.5)
                                                 for t in r["tests"]]
            items.append((f"mb-{path.stem}", "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"))
    deep = b"[" * 5000 + b"]" * 5000
    items += [(f"hostile{i}", s) for i, s in enumerate([
        b'{"type": "integer"}\n1\n"x"\n\xff\n\n[', b"1\n2\n\n  \n", b'{"type":"integer"}\n"\\ud800"\n',
        b"\xef\xbb\xbf{}\n\xef\xbb\xbf1\n", b'true\r\n1\r\n\r\n"a"\r', b"{}\n" + b"9" * 5000 + b"\n",
        b"{}\n" + deep + b"\n", b'{}\nNaN\n-Infinity\n[1e999]\n', b'{}\n{"a":1,"a":2}\n', b'{}\n"\x00"\n\x00\n',
        b'{"type":"string"}\n"\xc3"\n"\xed\xa0\x80"\n', b"\x0b\x0c\x1c\n\xe2\x80\xa8\n", b'{"format":"email"}\n"a@b"\n',
        b'{"$schema":"http://json-schema.org/draft-04/schema#","type":"integer"}\n1\n',
        b'{"$schema":"nope","type":"integer"}\n1\n', b'{"type":"foo"}\n1\n', b'{"pattern":"("}\n"a"\n',
        b'{"$ref":"#/nowhere"}\n1\n', b'{"format":"date-time"}\n"2020-02-30T25:00:00Z"\n',
        b'{"format":"ipv6"}\n"::1"\n"1::2::3"\n', b'{"format":"hostname"}\n"' + b"a" * 300 + b'"\n',
        b'{"minimum":1}\n' + b"1" * 4301 + b"\n", b"[]\n1\n", b"{\n1\n",
    ])]
    return items


def matcher_seeds(data: Path) -> list[tuple[str, bytes]]:
    rng = random.Random(14)
    items = []
    for i, (name, _, _) in enumerate(MATCHER_GRAMMARS):
        for j in range(8):
            ops = bytes(rng.choice([0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7]) | (rng.randrange(32) << 3)
                        for _ in range(rng.randrange(8, 120)))
            items.append((f"{name}{j}", bytes([i]) + ops))
    return items


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = p.parse_args(argv)
    for name, make in [("regex", regex_seeds), ("lark", lark_seeds), ("schema", schema_seeds),
                       ("validate", validate_seeds), ("matcher", matcher_seeds)]:
        n = _write(CORPUS_DIR / name, make(args.data))
        size = sum(f.stat().st_size for f in (CORPUS_DIR / name).glob("seed-*"))
        print(f"{name}: {n} seeds, {size / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
