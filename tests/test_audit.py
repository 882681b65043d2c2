"""`tracekit audit`: a folder of captures (real, seed bugs, generated, broken) audited in
parallel with correct totals, identical findings whatever the jobs or the executor, bad captures
reported and never fatal, the baseline workflow, and the CI output formats."""

from __future__ import annotations

import gzip
import json
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, TRACES
from tracekit.audit import audit_one, expand_patterns, run_audit
from tracekit.check import run_check
from tracekit.cli import app
from tracekit.errors import ExitCode

runner = CliRunner()
SARIF = json.loads((ROOT / "tests" / "schemas" / "sarif-2.1.0-rtm.5.json").read_text())


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Real clean captures, the seed bug captures, generated captures, and broken ones."""
    sys.path.insert(0, str(ROOT / "bench"))
    from gen import generate  # type: ignore[import-not-found]

    root = tmp_path_factory.mktemp("fleet")
    for sub in ("real/linux-6.12", "real/linux-6.1"):
        (root / sub).mkdir(parents=True)
        for p in sorted((TRACES / sub).glob("vgem_*.txt"))[:3]:
            shutil.copy(p, root / sub / p.name)
    shutil.copytree(TRACES / "seeds", root / "seeds", ignore=shutil.ignore_patterns("*.py"))
    (root / "gen").mkdir()
    for seed in range(3):
        generate(3000, root / "gen" / f"run{seed}.txt", seed=seed, objects=200)
    with gzip.open(root / "gen" / "run0-copy.txt.gz", "wb") as fh:
        fh.write((root / "gen" / "run0.txt").read_bytes())
    (root / "broken").mkdir()
    (root / "broken" / "empty.txt").write_text("")
    (root / "broken" / "notes.txt").write_text("this is not a trace\njust notes\n")
    (root / "broken" / "truncated.txt.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    return root


def _json(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["audit", *args, "--format", "json"])
    return result.exit_code, json.loads(result.stdout)


def test_totals_statuses_and_exit_code(folder: Path) -> None:
    code, doc = _json(str(folder), "--jobs", "2")
    files = expand_patterns([str(folder)])
    assert [c["file"] for c in doc["captures"]] == files
    status = {Path(c["file"]).name: c["status"] for c in doc["captures"]}
    assert status["empty.txt"] == "empty"
    assert status["notes.txt"] == "not-a-trace"
    assert status["truncated.txt.gz"] == "unreadable"
    assert status["run0-copy.txt.gz"] == "ok"
    # every readable capture's numbers are what `check` says of it alone
    for c in doc["captures"]:
        if c["status"] == "unreadable":
            assert c["error"] and c["summary"] == {}
            continue
        alone = run_check([c["file"]])
        assert c["summary"]["ops"] == alone.replayed.ops.height
        assert c["summary"]["findings"] == alone.findings.height
    s = doc["summary"]
    assert (
        s["captures"]
        == len(files)
        == sum(s[k] for k in ("ok", "empty", "not-a-trace", "unreadable"))
    )
    assert (
        s["findings"]
        == len(doc["findings"])
        == sum(c["summary"].get("findings", 0) for c in doc["captures"])
    )
    assert s["lines"] == sum(c["summary"].get("lines", 0) for c in doc["captures"])
    # the seed bugs are found; new error findings fail the audit
    seeds = {
        (Path(f["file"]).name, f["rule"], f["line"])
        for f in doc["findings"]
        if "/seeds/" in f["file"]
    }
    assert ("000-vram-vmap-counting.txt", "TK002", 95) in seeds
    assert code == ExitCode.FINDINGS


def test_findings_identical_whatever_the_jobs(folder: Path) -> None:
    one = runner.invoke(app, ["audit", str(folder), "--jobs", "1", "--format", "json"])
    two = runner.invoke(app, ["audit", str(folder), "--jobs", "2", "--format", "json"])
    assert one.stdout == two.stdout
    sarif1 = runner.invoke(app, ["audit", str(folder), "-j", "1", "--format", "sarif"]).stdout
    sarif2 = runner.invoke(app, ["audit", str(folder), "-j", "2", "--format", "sarif"]).stdout
    assert sarif1 == sarif2


def test_ray_gives_the_process_pool_findings(folder: Path) -> None:
    pytest.importorskip("ray")
    files = expand_patterns([str(folder / "seeds"), str(folder / "broken")])
    pool = run_audit(files, jobs=2)
    ray = run_audit(files, executor="ray")
    strip = lambda rs: [(r.file, r.status, r.error, r.summary, r.findings) for r in rs]  # noqa: E731
    assert strip(ray) == strip(pool)
    assert any(r.findings for r in ray)


def test_baseline_matches_a_recaptured_bug_and_flags_a_new_one(
    folder: Path, tmp_path: Path
) -> None:
    base = tmp_path / "baseline.json"
    known = tmp_path / "known"
    known.mkdir()
    shutil.copy(folder / "seeds" / "000-vram-vmap-counting.txt", known)
    result = runner.invoke(app, ["audit", str(known), "--write-baseline", str(base)])
    assert result.exit_code == ExitCode.FINDINGS
    entries = json.loads(base.read_text())["findings"]
    assert {e["rule"] for e in entries} == {"TK002", "TK003"}
    # the same bug captured again: another boot, other addresses, pids and times
    text = (known / "000-vram-vmap-counting.txt").read_text()
    again = tmp_path / "nightly"
    again.mkdir()
    (again / "recaptured.txt").write_text(
        text.replace("0xffff0000c70b", "0xffff0000d13a").replace("Xorg-1302 ", "Xorg-2211 ")
    )
    code, doc = _json(str(again), "--baseline", str(base))
    assert code == ExitCode.OK
    assert {f["rule"] for f in doc["findings"]} == {"TK002", "TK003"}
    assert not any(f["new"] for f in doc["findings"])
    # a new bug next to it fails the audit, and only it is new
    shutil.copy(folder / "seeds" / "001-vc4-binner-job.txt", again)
    code, doc = _json(str(again), "--baseline", str(base))
    assert code == ExitCode.FINDINGS
    assert {(f["rule"], f["new"]) for f in doc["findings"]} == {
        ("TK002", False),
        ("TK003", False),
        ("TK006", True),
    }


def test_bad_baseline_is_an_input_error(tmp_path: Path) -> None:
    bad = tmp_path / "b.json"
    bad.write_text('{"findings": []}')
    result = runner.invoke(app, ["audit", str(TRACES / "seeds"), "--baseline", str(bad)])
    assert result.exit_code == ExitCode.UNREADABLE
    assert "not a tracekit baseline" in result.output


def test_junit_sarif_and_parquet_outputs(folder: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(app, ["audit", str(folder), "--format", "junit", "--out", str(out)])
    root = ET.fromstring(result.stdout)
    suites = root.findall("testsuite")
    files = expand_patterns([str(folder)])
    assert [s.get("name") for s in suites] == files
    unreadable = [s for s in suites if s.get("errors") == "1"]
    assert [s.get("name") for s in unreadable] == [str(folder / "broken" / "truncated.txt.gz")]
    failing = {
        c.get("name")
        for s in suites
        for c in s.findall("testcase")
        if c.find("failure") is not None
    }
    assert "TK013 purge-unpurgeable" in failing
    # the Parquet datasets, partitioned by capture
    caps = pl.scan_parquet(out / "captures" / "**" / "*.parquet", hive_partitioning=True).collect()
    found = pl.scan_parquet(out / "findings" / "**" / "*.parquet", hive_partitioning=True).collect()
    assert caps.height == len(files) and caps["capture"].n_unique() == len(files)
    _, doc = _json(str(folder))
    assert found.height == len(doc["findings"])
    assert sorted(found["fingerprint"].to_list()) == sorted(
        f["fingerprint"] for f in doc["findings"]
    )
    sarif = json.loads(runner.invoke(app, ["audit", str(folder), "--format", "sarif"]).stdout)
    jsonschema.Draft4Validator(SARIF).validate(sarif)
    assert len(sarif["runs"][0]["results"]) == len(doc["findings"])


def test_patterns_and_text_report(folder: Path) -> None:
    pattern = str(folder / "seeds" / "00[01]-*.txt")
    assert [Path(f).name for f in expand_patterns([pattern])] == [
        "000-vram-vmap-counting.txt",
        "001-vc4-binner-job.txt",
    ]
    result = runner.invoke(app, ["audit", pattern, "-j", "1"])
    assert result.exit_code == ExitCode.FINDINGS
    assert "TK006 free-with-live-job" in result.stdout
    assert "2 capture(s) (0 unreadable, 0 empty, 0 not a trace)" in result.stdout
    assert "[2/2]" in result.stderr
    nothing = runner.invoke(app, ["audit", str(folder / "nothing-*.txt")])
    assert nothing.exit_code == ExitCode.UNREADABLE


def test_audit_one_never_raises(tmp_path: Path) -> None:
    missing = audit_one(str(tmp_path / "missing.txt"))
    assert missing.status == "unreadable" and "missing.txt" in (missing.error or "")
    assert sys.modules["tracekit.audit"] is not None
