"""One import namespace: every module imports the project as `peerqa.*`, never as the bare
top-level folder names, so a user's own `app/` or `index.py` cannot shadow it and no module is
ever loaded twice under two names."""

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[1]
FOLDERS = ("app", "index", "ingest", "eval", "prompts")


def _python_files() -> list[Path]:
    files = [p for folder in (*FOLDERS, "peerqa", "tests", "scripts") for p in (REPO / folder).rglob("*.py")]
    return [p for p in files if ".venv" not in p.parts]


def test_no_module_imports_a_bare_top_level_folder() -> None:
    offenders = []
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            offenders += [f"{path.relative_to(REPO)}:{node.lineno} {n}" for n in names
                          if n.split(".")[0] in FOLDERS]
    assert offenders == []


def test_the_package_folders_are_the_card_folders() -> None:
    for folder in FOLDERS:
        assert (REPO / "peerqa" / folder).resolve() == (REPO / folder).resolve()
