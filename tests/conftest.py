"""Shared test fixtures: where the shared data lives, and skips with reasons when it is absent."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DIR = Path(os.environ.get("CORRAL_SHARED_DIR", REPO_ROOT.parent / "shared"))
TOKENIZERS_DIR = Path(os.environ.get("CORRAL_TOKENIZERS_DIR", SHARED_DIR / "tokenizers"))
DATA_DIR = Path(os.environ.get("CORRAL_DATA_DIR", SHARED_DIR / "data"))
GRAMMARS_DIR = REPO_ROOT / "src" / "corral" / "grammars"


def shared_path(*parts: str, base: Path = SHARED_DIR) -> Path:
    """Return a path under the shared folder, skipping the calling test with a reason when it is absent."""
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found at {path} (set CORRAL_SHARED_DIR to the shared folder)")
    return path


def tokenizer_path(name: str) -> Path:
    """Folder of one of the shared real tokenizers (gpt2, llama2, llama3, qwen3), or skip with a reason."""
    return shared_path(name, base=TOKENIZERS_DIR)


def load_script(relative: str, name: str):
    """Import a script of ``scripts/`` or ``benchmarks/`` (not packages) by its path under the repository, its
    folder on ``sys.path`` while it loads (for its sibling imports)."""
    path = REPO_ROOT / relative
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module
