"""The seed bug captures (traces/seeds): each flags its seed's bug with the right rule at the
right line, and the committed files are what traces/seeds/build.py writes."""

from __future__ import annotations

import importlib.util
import json
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import TRACES
from tracekit.check import run_check
from tracekit.cli import app
from tracekit.errors import ExitCode

SEEDS = TRACES / "seeds"
EXPECTED = tomllib.loads((SEEDS / "expected.toml").read_text())
runner = CliRunner()


def _build_module():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("seed_build", SEEDS / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["seed_build"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_captures_are_what_build_writes(tmp_path: Path) -> None:
    build = _build_module()
    assert build.main(["build.py", str(tmp_path)]) == 0
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(p.name for p in SEEDS.iterdir() if p.suffix in (".txt", ".toml"))
    for name in written:
        assert (tmp_path / name).read_text() == (SEEDS / name).read_text(), name


def test_every_seed_has_a_capture() -> None:
    seeds = {name.split("-", 1)[0] for name in EXPECTED}
    assert seeds == {"000", "001", "002", "003", "004"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_capture_is_flagged_where_the_bug_is(name: str) -> None:
    res = run_check([str(SEEDS / name)])
    got = sorted((r["rule"], r["line"]) for r in res.findings.to_dicts())
    want = sorted((rule, line) for rule, line in EXPECTED[name]["findings"])
    assert got == want
    # each at its rule's severity: the counts it rests on are all known
    severity = {r.id: r.severity for r in res.rules}
    assert all(r["verdict"] == severity[r["rule"]] for r in res.findings.to_dicts())


def test_check_of_the_bundled_traces_shows_the_seed_bugs() -> None:
    """README command 1: `tracekit check traces/` finds exactly the seed bugs (and nothing in
    the real clean captures) and exits 1. The ring buffer overrun captures' findings on objects
    first seen after the overrun are inconclusive, never errors or warnings; so is the underflow
    a guessed framebuffer destroy leads to (random2_s25: framebuffers removed out of order)."""
    result = runner.invoke(app, ["check", str(TRACES), "--format", "json"])
    assert result.exit_code == ExitCode.FINDINGS, result.output
    doc = json.loads(result.stdout)
    sure = [f for f in doc["findings"] if f["verdict"] != "inconclusive"]
    flagged = {(Path(f["file"]).name, f["rule"], f["line"]) for f in sure}
    want = {(name, rule, line) for name, exp in EXPECTED.items() for rule, line in exp["findings"]}
    assert flagged == want
    assert all("/seeds/" in f["file"] for f in sure)
    unsure = {(Path(f["file"]).name, f["rule"]) for f in doc["findings"] if f not in sure}
    assert unsure == {("lost_events.txt", "TK008"), ("random2_s25.txt", "TK008")}


def test_fingerprints_survive_a_recapture(tmp_path: Path) -> None:
    """The same bug captured again (another boot: other addresses, pids and timestamps) has the
    same fingerprints; another bug has others."""
    text = (SEEDS / "000-vram-vmap-counting.txt").read_text()
    again = (
        text.replace("0xffff0000c70b", "0xffff0000d13a")
        .replace("0xffff0000c6f1a400", "0xffff0000c6e08800")
        .replace("Xorg-1302 ", "Xorg-2211 ")
        .replace("   413.", "   977.")
        .replace("   412.", "   976.")
    )
    assert again != text
    path = tmp_path / "again.txt"
    path.write_text(again)
    first = run_check([str(SEEDS / "000-vram-vmap-counting.txt")])
    second = run_check([str(path)])
    assert second.findings["object"].to_list() != first.findings["object"].to_list()
    assert second.fingerprints() == first.fingerprints()
    assert len(set(first.fingerprints())) == first.findings.height == 2
    other = run_check([str(SEEDS / "004-panfrost-purge-without-pages.txt")])
    assert not set(other.fingerprints()) & set(first.fingerprints())
