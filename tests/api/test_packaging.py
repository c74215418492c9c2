"""The installed package works outside the repository: build the wheel, install it in a temporary folder, and run
the README's demo and ``generate(grammar="json")`` from elsewhere (the shipped grammars live inside the package)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from conftest import REPO_ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(site folder, wheel path): the wheel built from this checkout, installed with ``pip --target``."""
    root = tmp_path_factory.mktemp("wheel")
    dist, site = root / "dist", root / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist),
         str(REPO_ROOT)], capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    wheel = next(dist.glob("corral-*.whl"))
    inst = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
                           str(wheel)], capture_output=True, text=True, timeout=600)
    assert inst.returncode == 0, inst.stderr[-3000:]
    return site, wheel


def _run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site))
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_wheel_holds_the_shipped_grammars(installed):
    _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    for grammar in ("json", "sql", "arithmetic", "csv", "smiles"):
        assert f"corral/grammars/{grammar}.lark" in names


def test_generate_with_a_shipped_grammar_outside_the_repo(installed, tmp_path):
    site, _ = installed
    code = ("import corral, json; assert corral.__file__.startswith(%r), corral.__file__; "
            "r = corral.generate('x', grammar='json', seed=0, max_tokens=48); "
            "print(json.dumps([r.status, r.text]))") % str(site)
    out = _run(site, tmp_path, "-c", code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "shipped grammars" not in out.stderr


def test_readme_demo_outside_the_repo(installed, tmp_path):
    """The README's demo command, with the grammar named as it ships (the repository's files are not there)."""
    site, _ = installed
    out = _run(site, tmp_path, "-m", "corral", "generate", "Generate a JSON object describing a person:\n",
               "--grammar", "json", "--seed", "0", "--temperature", "0.8")
    assert out.returncode in (0, 3), out.stderr[-3000:]
    assert out.stdout.strip()
