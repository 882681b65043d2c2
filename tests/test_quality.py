"""Lint, types and packaging are part of the test suite, so one command checks everything."""

from __future__ import annotations

import ast
import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)


def test_ruff() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "tracekit", "tests", "bench", "traces")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy() -> None:
    result = _run(sys.executable, "-m", "mypy", "--no-error-summary")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_join_says_which_row_order_it_keeps() -> None:
    """polars keeps no row order in a join unless told (``maintain_order`` defaults to "none":
    "the ordering might differ across Polars versions or even between different runs"), and
    tracekit's output must be the same bytes every time. So every join in tracekit says which
    order it keeps: ``"left"``, or ``"none"`` where what follows does not depend on it."""
    unsaid = []
    for path in sorted((ROOT / "tracekit").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            keywords = {k.arg: k.value for k in node.keywords}
            if node.func.attr != "join" or not {"on", "left_on", "how"} & keywords.keys():
                continue  # str.join
            how = keywords.get("how")
            if isinstance(how, ast.Constant) and how.value == "full":
                continue  # (no row order to keep: the rows are matched from both sides)
            if "maintain_order" not in keywords:
                unsaid.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not unsaid, unsaid


@pytest.mark.slow
def test_wheel_ships_grammars_and_rules(tmp_path: Path) -> None:
    """A plain ``pip install .`` must find grammars/ and rules/ outside the checkout."""
    # (hatchling 1.33 has no --version: ask the interpreter whether it can import it)
    if importlib.util.find_spec("hatchling") is None:
        pytest.fail("hatchling (a dev dependency) is not installed")
    result = _run(sys.executable, "-m", "hatchling", "build", "-t", "wheel", "-d", str(tmp_path))
    assert result.returncode == 0, result.stderr
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "tracekit/_data/grammars/ftrace.lark" in names
    assert "tracekit/_data/grammars/kernel_log.lark" in names
    assert any(n.startswith("tracekit/_data/rules/") for n in names)
    assert "tracekit/_data/rules/TK003-mapped-at-free.toml" in names
    assert "tracekit/py.typed" in names
    assert "tracekit/probes/gem.tmpl" in names  # tracekit record's kprobe template
    assert "tracekit/profiles/userptr.toml" in names
