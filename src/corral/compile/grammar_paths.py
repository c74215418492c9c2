"""Where grammars are found by name: the folder of the grammars shipped inside the package and their names, and
the file a one-line grammar source names (a shipped grammar or a path), for
:func:`corral.compile.grammar.grammar_from_source`.
"""

from __future__ import annotations

import re
from pathlib import Path

from corral.errors import GrammarError

__all__ = ["shipped_grammars_dir", "list_shipped_grammars", "names_a_file", "grammar_file", "safe_is_file"]


def shipped_grammars_dir() -> Path | None:
    """The folder of the grammars shipped inside the package (``corral/grammars``), or ``None`` if it is missing.

    Read through :mod:`importlib.resources`, so it is found in an installed wheel as in a source checkout.

    Returns
    -------
    Path or None
    """
    from importlib import resources

    try:
        folder = resources.files("corral") / "grammars"
    except (ModuleNotFoundError, TypeError):  # pragma: no cover - corral is always importable here
        return None
    path = Path(str(folder))
    return path if path.is_dir() else None


def list_shipped_grammars() -> list[str]:
    """Names of the shipped grammars (``"json"``, ``"sql"``, ...).

    Returns
    -------
    list of str
    """
    folder = shipped_grammars_dir()
    return sorted(p.stem for p in folder.glob("*.lark")) if folder else []


def safe_is_file(path: Path) -> bool:
    """``path.is_file()``, ``False`` for a name no file can have (a NUL byte, an over-long name)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def names_a_file(text: str) -> bool:
    """Whether a (stripped) grammar source names a file rather than holding Lark text: one line, without ``:`` in
    its last path component."""
    return "\n" not in text and ":" not in text.replace("\\", "/").split("/")[-1]


def grammar_file(text: str) -> Path:
    """The file a one-line grammar source names: the shipped grammar of that name, else the path.

    Raises
    ------
    GrammarError
        If neither exists (the message lists what was tried and the shipped grammars).
    """
    tried = []
    if re.fullmatch(r"[A-Za-z0-9_\-]+", text):
        folder = shipped_grammars_dir()
        if folder is not None and (folder / f"{text}.lark").is_file():
            return folder / f"{text}.lark"
        tried.append(f"shipped grammar {text!r}")
    path = Path(text).expanduser()
    if safe_is_file(path):
        return path
    tried.append("no file (the text holds a NUL byte)" if "\0" in text else f"file {path.resolve()}")
    names = ", ".join(list_shipped_grammars()) or "none found"
    raise GrammarError(f"cannot find grammar {text!r}; tried {'; '.join(tried)} (shipped grammars: {names})")
