"""What a new user meets first, on the embedded default model: the defaults (JSON layout, closed pydantic models,
regexes matching the empty string), the command line's flags and records, and clear errors for bad arguments."""

from __future__ import annotations

import json
import warnings

import pytest

import corral
from corral.cli import main
from corral.compile.json_schema import SchemaKeywordWarning
from conftest import REPO_ROOT

PERSON = str(REPO_ROOT / "schemas" / "person.json")


def _strict_json(text: str):
    """Parse strict JSON: NaN / Infinity are refused."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def test_schema_output_defaults_to_the_json_dumps_layout():
    r = corral.generate("A person as JSON:\n", schema=PERSON, seed=0, max_tokens=120)
    assert r.status == "complete"
    assert r.text == json.dumps(r.value, ensure_ascii=False)


def test_pydantic_output_text_agrees_with_value():
    """A pydantic model without extra="allow" is a closed object: no invented or repeated keys, so the parsed
    text is exactly the model's dump."""
    from pydantic import BaseModel

    class Pet(BaseModel):
        name: str
        height_cm: float

    for seed in range(4):
        r = corral.generate("A pet as JSON:\n", schema=Pet, seed=seed, max_tokens=80)
        if r.status == "complete":
            assert json.loads(r.text) == r.value.model_dump()
            assert set(json.loads(r.text)) == {"name", "height_cm"}


def test_regex_matching_the_empty_string_can_give_the_empty_output():
    outputs = {corral.generate("Say:", regex="(ab)?", seed=s, max_tokens=4).text for s in range(8)}
    assert outputs <= {"", "ab"} and "" in outputs


@pytest.mark.parametrize("seed", ["abc", 1.5, True, [1]])
def test_bad_seed_is_a_clear_error(seed):
    with pytest.raises(ValueError, match="seed must be an integer or None"):
        corral.generate("x", seed=seed)


def test_schema_keyword_typo_warns_at_the_callers_line():
    schema = {"type": "object", "propertis": {"a": {"type": "integer"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        corral.generate("x", schema=schema, seed=0, max_tokens=2)
    typo = [w for w in caught if issubclass(w.category, SchemaKeywordWarning)]
    assert len(typo) == 1 and "did you mean 'properties'" in str(typo[0].message)
    assert typo[0].filename == __file__
    with pytest.raises(corral.SchemaError) as info:
        corral.generate("x", schema=schema, strict_keywords=True)
    assert info.value.keyword == "propertis" and info.value.pointer == "/propertis"


# ----------------------------------------------------------------------------- command line


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"corral {corral.__version__}"


def test_json_record_is_strict_json_with_value(capsys):
    """--json never prints NaN (an undefined acceptance rate is null) and carries the parsed value."""
    code = main(["generate", "Answer:", "--regex", "[0-9]{1,2}", "--draft", "ngram", "--seed", "0", "--json",
                 "--max-tokens", "6"])
    record = _strict_json(capsys.readouterr().out)
    assert code in (0, 3) and "stats" in record
    code = main(["generate", "A person as JSON:\n", "--schema", PERSON, "--seed", "0", "--json",
                 "--max-tokens", "120"])
    record = _strict_json(capsys.readouterr().out)
    assert code == 0 and record["value"] == json.loads(record["text"])


def test_warnings_are_one_line_on_the_command_line(capsys):
    schema = json.dumps({"type": "object", "propertis": {}})
    main(["generate", "x", "--schema", schema, "--max-tokens", "2", "--seed", "0"])
    err = capsys.readouterr().err
    assert "corral: warning: unknown keyword 'propertis'" in err and "sys.exit" not in err
    code = main(["generate", "x", "--schema", schema, "--strict-keywords"])
    assert code == 2 and "propertis" in capsys.readouterr().err
