"""The ``tracekit`` command line: exit codes, summaries, outputs, compressed input and stdin."""

from __future__ import annotations

import gzip
import json
import lzma
from pathlib import Path

import polars as pl
import zstandard
from typer.testing import CliRunner

from tests.conftest import FIXTURES
from tracekit.cli import app
from tracekit.errors import ExitCode

runner = CliRunner()
CAPTURE = FIXTURES / "live" / "trace_default_local.txt"


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "tracekit" in result.output


def test_parse_json_summary_adds_up() -> None:
    result = runner.invoke(app, ["parse", str(CAPTURE), "--format", "json"])
    assert result.exit_code == ExitCode.OK
    summary = json.loads(result.stdout)
    assert summary["lines"] == 120
    assert summary["events"] + summary["rejected"] + summary["ignored"] == summary["lines"]
    assert summary["by_format"] == {"ftrace": 108}


def test_parse_text_lists_rejects_with_file_and_line() -> None:
    result = runner.invoke(app, ["parse", str(FIXTURES / "live" / "trace_fields.txt")])
    assert result.exit_code == ExitCode.OK
    assert "trace_fields.txt:13: event printed as UNKNOWN TYPE" in result.stdout


def test_strict_exits_1_on_rejects() -> None:
    result = runner.invoke(app, ["parse", str(FIXTURES / "live" / "trace_fields.txt"), "--strict"])
    assert result.exit_code == ExitCode.FINDINGS


def test_missing_file_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(tmp_path / "nope.txt")])
    assert result.exit_code == ExitCode.UNREADABLE
    assert "no such file" in result.stderr


def test_directory_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["parse", str(tmp_path)])
    assert result.exit_code == ExitCode.UNREADABLE
    assert "is a directory" in result.stderr


def test_corrupt_gzip_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "cut.txt.gz"
    bad.write_bytes(gzip.compress(CAPTURE.read_bytes())[:200])
    result = runner.invoke(app, ["parse", str(bad)])
    assert result.exit_code == ExitCode.UNREADABLE
    assert "corrupt gzip data" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_error_exits_2() -> None:
    result = runner.invoke(app, ["parse", str(CAPTURE), "--format", "yaml"])
    assert result.exit_code == ExitCode.USAGE


def test_compressed_inputs_parse_like_plain(tmp_path: Path) -> None:
    raw = CAPTURE.read_bytes()
    variants = {
        "c.gz": gzip.compress(raw),
        "c.xz": lzma.compress(raw),
        "c.zst": zstandard.ZstdCompressor().compress(raw),
    }
    for name, blob in variants.items():
        path = tmp_path / name
        path.write_bytes(blob)
        result = runner.invoke(app, ["parse", str(path), "--format", "json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["events"] == 108, name


def test_stdin() -> None:
    result = runner.invoke(app, ["parse", "-", "--format", "json"], input=CAPTURE.read_text())
    assert result.exit_code == 0
    assert json.loads(result.stdout)["events"] == 108


def test_parquet_outputs(tmp_path: Path) -> None:
    out = tmp_path / "events.parquet"
    result = runner.invoke(
        app, ["parse", str(CAPTURE), str(FIXTURES / "live" / "trace_fields.txt"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    events = pl.read_parquet(out)
    rejects = pl.read_parquet(tmp_path / "events.rejects.parquet")
    assert events.height == 108 + 105
    assert rejects.columns == ["source", "line", "text", "reason"]
    assert rejects.height == 3
    assert events["source"].unique().len() == 2


def test_profiles_list_names_every_builtin_profile() -> None:
    result = runner.invoke(app, ["profiles", "list"])
    assert result.exit_code == 0
    for name in ("gem_core", "gem_shmem", "prime", "dma_buf", "drm_sched", "amdgpu", "i915"):
        assert name in result.stdout


def test_profiles_check_accepts_good_and_explains_bad(tmp_path: Path) -> None:
    good = tmp_path / "mydrv.toml"
    good.write_text(
        'name = "mydrv"\nkind = "tracepoint"\n[[event]]\nmatch = "mydrv_bo_create"\nop = "create"\nfields = { object = "bo" }\n'
    )
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nkind = "kprobe"\n[[event]]\nmatch = "f"\nop = "frobnicate"\n')
    ok = runner.invoke(app, ["profiles", "check", str(good)])
    assert ok.exit_code == 0 and "ok (mydrv, tracepoint, 1 rules)" in ok.stdout
    refused = runner.invoke(app, ["profiles", "check", str(good), str(bad)])
    assert refused.exit_code == ExitCode.USAGE
    assert "unknown op 'frobnicate'" in refused.stderr
    missing = runner.invoke(app, ["profiles", "check", str(tmp_path / "none.toml")])
    assert missing.exit_code == ExitCode.UNREADABLE


def test_every_command_is_documented_in_the_readme() -> None:
    readme = (FIXTURES.parent.parent / "README.md").read_text()
    commands = [c.name or c.callback.__name__ for c in app.registered_commands if c.callback]
    commands += [g.name for g in app.registered_groups if g.name]
    assert commands
    for name in commands:
        assert f"`tracekit {name}" in readme, name
