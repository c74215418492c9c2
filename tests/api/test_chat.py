"""Chat prompts: ``generate(messages=..., system=...)`` renders the tokenizer's own chat template (the embedded model
has one, so this works offline), with clear errors for bad messages and for tokenizers without a template; the CLI's
``--messages FILE`` and ``--system``."""

from __future__ import annotations

import io
import json
import re
import shutil
import sys
from pathlib import Path

import pytest

import corral
from corral.chat import DEFAULT_CHAT_TEMPLATE, check_messages, make_prompt, render_messages
from corral.cli import main
from corral.errors import ConfigurationError
from corral.generator import Generator, default_generator
from corral.models.hf import HFModel
from corral.models.toy import ToyModel

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DIR = ROOT / "src" / "corral" / "data" / "default"
MESSAGES = [{"role": "user", "content": "Write a date:"}]
SETTINGS = {"regex": r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "seed": 0, "max_tokens": 16}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="module")
def lm():
    return default_generator().model


def _same(a, b):
    assert (a.text, a.token_ids, a.status) == (b.text, b.token_ids, b.status)


def test_embedded_template_renders_plain_markers(lm):
    ids = render_messages(lm, MESSAGES, system="Be brief.")
    assert lm.vocab.decode(ids) == b"<|system|>\nBe brief.\n<|user|>\nWrite a date:\n<|assistant|>\n"


def test_shipped_and_trained_templates_are_the_constant():
    """Both embedded tokenizers carry corral.chat.DEFAULT_CHAT_TEMPLATE, and the training script writes it."""
    for name in ("target", "draft"):
        config = json.loads((DEFAULT_DIR / name / "tokenizer_config.json").read_text(encoding="utf-8"))
        assert config["chat_template"] == DEFAULT_CHAT_TEMPLATE, name
    script = (ROOT / "scripts" / "train_default_models.py").read_text(encoding="utf-8")
    assert "from corral.chat import DEFAULT_CHAT_TEMPLATE as CHAT_TEMPLATE" in script
    assert '"chat_template": CHAT_TEMPLATE' in script


def test_messages_are_the_rendered_prompt(lm):
    """messages= is generate() on the template's ids, and on the template's text (this tokenizer adds nothing)."""
    via_messages = corral.generate(messages=MESSAGES, **SETTINGS)
    _same(via_messages, corral.generate(render_messages(lm, MESSAGES), **SETTINGS))
    text = lm.tokenizer.apply_chat_template(MESSAGES, add_generation_prompt=True, tokenize=False)
    assert text.endswith("<|assistant|>\n")
    _same(via_messages, corral.generate(text, **SETTINGS))
    _same(via_messages, Generator().generate(messages=MESSAGES, **SETTINGS))


def test_system_prepends_a_system_message():
    with_system = corral.generate(messages=MESSAGES, system="Be brief.", **SETTINGS)
    _same(with_system, corral.generate(messages=[{"role": "system", "content": "Be brief."}, *MESSAGES], **SETTINGS))


def test_system_with_a_prompt_string_makes_it_the_user_message():
    _same(corral.generate("Write a date:", system="Be brief.", **SETTINGS),
          corral.generate(messages=[{"role": "system", "content": "Be brief."}, *MESSAGES], **SETTINGS))
    # without system= a prompt string stays plain text (no template)
    assert make_prompt("Write a date:") == "Write a date:"


def test_messages_keep_extra_keys_and_are_copied():
    messages = [{"role": "tool", "content": "42", "tool_call_id": "t1"}]
    checked = check_messages(messages, system="s")
    assert checked == [{"role": "system", "content": "s"}, {"role": "tool", "content": "42", "tool_call_id": "t1"}]
    assert checked[1] is not messages[0]


@pytest.mark.parametrize("kwargs, needle", [
    ({"messages": "hello"}, "messages must be a list"),
    ({"messages": {"role": "user", "content": "a"}}, "messages must be a list"),
    ({"messages": []}, "empty"),
    ({"messages": [{"role": "user", "content": "a"}, "b"]}, r"messages\[1\] must be a dict"),
    ({"messages": [{"role": "user", "content": "a"}, {"role": "robot", "content": "b"}]}, r"messages\[1\]\['role'\]"),
    ({"messages": [{"content": "a"}]}, r"messages\[0\]\['role'\]"),
    ({"messages": [{"role": "user"}]}, r"messages\[0\]\['content'\] must be a string, got nothing"),
    ({"messages": [{"role": "user", "content": None}]}, r"messages\[0\]\['content'\]"),
    ({"messages": [{"role": "system", "content": "a"}], "system": "b"}, "system prompt once"),
    ({"messages": MESSAGES, "system": 3}, "system must be a string"),
    ({"prompt": "a", "messages": MESSAGES}, "not both"),
    ({}, "give a prompt"),
    ({"prompt": [1, 2], "system": "b"}, "token ids"),
])
def test_bad_messages_fail_before_the_model_loads(kwargs, needle, monkeypatch):
    def no_load(*args, **kw):
        raise AssertionError("the model was loaded before the arguments were checked")

    monkeypatch.setattr(HFModel, "load", no_load)
    with pytest.raises(ConfigurationError, match=needle):
        Generator().generate(**kwargs)


def _folder_without_template(tmp_path) -> Path:
    """A copy of the embedded target folder (model files linked) whose tokenizer has no chat template."""
    folder = tmp_path / "no_template"
    folder.mkdir()
    for f in (DEFAULT_DIR / "target").iterdir():
        if f.name == "tokenizer_config.json":
            config = json.loads(f.read_text(encoding="utf-8"))
            del config["chat_template"]
            (folder / f.name).write_text(json.dumps(config), encoding="utf-8")
        elif f.name.startswith("tokenizer") or f.name.startswith("special"):
            shutil.copy(f, folder / f.name)
        else:
            (folder / f.name).symlink_to(f)
    return folder


def test_tokenizer_without_a_template_is_a_clear_error(tmp_path):
    lm = HFModel.load(_folder_without_template(tmp_path))
    gen = Generator(lm)
    with pytest.raises(ConfigurationError, match="has no chat template") as info:
        gen.generate(messages=MESSAGES, max_tokens=2)
    assert "chat_template" in str(info.value)  # says how to give it one
    assert gen.generate("a", max_tokens=2, seed=0).status in ("complete", "length")  # prompts still work
    lm.tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE  # the fix the message suggests
    _same(gen.generate(messages=MESSAGES, **SETTINGS), corral.generate(messages=MESSAGES, **SETTINGS))


def test_model_tokenizer_pair_without_a_template(tmp_path, lm):
    tokenizer = HFModel.load(_folder_without_template(tmp_path)).tokenizer
    with pytest.raises(ConfigurationError, match="no chat template"):
        corral.generate(messages=MESSAGES, model=(lm.model, tokenizer), max_tokens=2)


def test_a_template_that_raises_is_a_configuration_error(tmp_path):
    lm = HFModel.load(_folder_without_template(tmp_path))
    lm.tokenizer.chat_template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}"
                                  "{% endif %}{{ messages[0]['content'] }}")
    with pytest.raises(ConfigurationError, match="no system role"):
        render_messages(lm, MESSAGES, system="s")
    assert lm.vocab.decode(render_messages(lm, MESSAGES)) == b"Write a date:"


def test_model_without_a_tokenizer_is_a_clear_error():
    gen = Generator(ToyModel.random(["a", "b"], seed=0))
    with pytest.raises(ConfigurationError, match="Hugging Face tokenizer.*ToyModel"):
        gen.generate(messages=MESSAGES, max_tokens=2)


def _cli(argv, capsys, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_messages_file_and_stdin(tmp_path, capsys, monkeypatch):
    path = tmp_path / "chat.json"
    path.write_text(json.dumps(MESSAGES), encoding="utf-8")
    flags = ["--regex", SETTINGS["regex"], "--seed", "0", "--max-tokens", "16"]
    expected = corral.generate(messages=MESSAGES, **SETTINGS).text + "\n"
    assert _cli(["generate", "--messages", str(path), *flags], capsys) == (0, expected, "")
    assert _cli(["generate", "--messages", "-", *flags], capsys, json.dumps(MESSAGES), monkeypatch) == \
        (0, expected, "")
    with_system = corral.generate(messages=MESSAGES, system="Be brief.", **SETTINGS).text + "\n"
    assert _cli(["generate", "--messages", str(path), "--system", "Be brief.", *flags], capsys)[1] == with_system


def test_cli_system_with_a_prompt(capsys):
    flags = ["--regex", SETTINGS["regex"], "--seed", "0", "--max-tokens", "16"]
    expected = corral.generate("Write a date:", system="Be brief.", **SETTINGS).text + "\n"
    assert _cli(["generate", "Write a date:", "--system", "Be brief.", *flags], capsys) == (0, expected, "")


@pytest.mark.parametrize("argv, content, needle", [
    (["generate"], None, "give a PROMPT"),
    (["generate", "a", "--messages", "{path}"], "[]", "not both"),
    (["generate", "--messages", "{tmp}/missing.json"], None, "cannot read"),
    (["generate", "--messages", "{path}"], "{not json", "is not JSON"),
    (["generate", "--messages", "{path}"], '{"role": "user", "content": "a"}', "JSON list"),
    (["generate", "--messages", "{path}"], '[{"role": "user", "content": 3}]', r"messages\[0\]\['content'\]"),
    (["generate", "--messages", "{path}"], "[]", "empty"),
    (["generate", "--messages", "{path}", "--system", "s"], '[{"role": "system", "content": "a"}]', "once"),
])
def test_cli_chat_errors_are_clean(argv, content, needle, tmp_path, capsys):
    path = tmp_path / "chat.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out, err = _cli([a.format(path=path, tmp=tmp_path) for a in argv], capsys)
    assert code == 2 and out == "" and err.startswith("corral: error:") and "Traceback" not in err, err
    assert re.search(needle, err), err
