"""How a ``model=`` string is read: an existing folder is a path (with or without ``./``); any other name is a hub
name, which fails fast and clearly when the hub cannot be reached."""

from __future__ import annotations

import shutil
import time

import pytest

import corral
from corral.errors import ModelError
from corral.generate import clear_caches, load_model
from corral.models.hf import default_model_path


def test_bare_folder_name_is_a_path(tmp_path, monkeypatch):
    shutil.copytree(default_model_path("target"), tmp_path / "mymodel")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # a hub lookup would fail: the folder must be used
    clear_caches()
    lm = load_model("mymodel")
    assert lm.vocab.size > 0
    assert corral.generate("x", model="mymodel", max_tokens=2, seed=0).status in ("complete", "length")


def test_unknown_name_without_a_hub_fails_fast(tmp_path, monkeypatch):
    import transformers  # noqa: F401  (imported before the clock starts: the budget is for the lookup itself)

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens there: the hub is unreachable
    for name in ("mymodl", "org/mymodl"):
        start = time.perf_counter()
        with pytest.raises(ModelError, match="not reachable") as info:
            load_model(name)
        assert time.perf_counter() - start < 2.0
        assert repr(name) in str(info.value)
