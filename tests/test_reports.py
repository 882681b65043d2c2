"""Reports on a finding: `tracekit explain` (the object's story), `tracekit export --format
perfetto` (a Chrome JSON trace, its structure validated), and `tracekit check --html` (one
self-contained file, rendered in headless Chromium when the machine has it)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ROOT, TRACES
from tracekit.cli import app
from tracekit.errors import ExitCode

runner = CliRunner()
SEEDS = TRACES / "seeds"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_explain_tells_the_binner_bo_story() -> None:
    result = runner.invoke(
        app, ["explain", str(SEEDS / "001-vc4-binner-job.txt"), "--rule", "TK006"]
    )
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert text.startswith("TK006 free-with-live-job (error) in ")
    steps = [
        "created by kmscube-702 in drm_gem_object_init: refs 1",
        "vc4_v3d_bin_bo_alloc took a reference for kmscube-702 (owner device): refs 2",
        "kmscube-702 returned to userspace (sys_exit_ioctl): what it borrowed went: refs 1",
        "job 9 submitted by glmark2-es2-drm-731 uses it (vc4_queue_submit): jobs 1",
        "vc4_v3d_bin_bo_free dropped a reference (owner device): refs 0",
        "=> line    147  freed by glmark2-es2-drm-731 in drm_gem_object_free",
        "job 9 done (vc4_rcl_end_irq): it no longer uses the object",
    ]
    at = [text.index(s) for s in steps]
    assert at == sorted(at)  # in the order they happened
    # each op quotes its source line
    assert (
        "| glmark2-es2-drm-731 [003] 96.393014: drm_gem_object_free: obj=0xffff000004d6e000" in text
    )


def test_explain_selects_by_number_and_fingerprint() -> None:
    path = str(SEEDS / "004-panfrost-purge-without-pages.txt")
    listed = json.loads(runner.invoke(app, ["check", path, "--format", "json"]).stdout)["findings"]
    second = runner.invoke(app, ["explain", path, "--finding", "2"])
    assert second.stdout.startswith(f"{listed[1]['rule']} ")
    by_print = runner.invoke(app, ["explain", path, "--finding", listed[1]["fingerprint"][:10]])
    assert by_print.stdout == second.stdout
    missing = runner.invoke(app, ["explain", path, "--finding", "9"])
    assert missing.exit_code == ExitCode.USAGE
    assert "1: TK013 line 129, 2: TK011 line 130" in missing.output


def test_explain_of_a_clean_capture_says_so() -> None:
    result = runner.invoke(app, ["explain", str(TRACES / "real" / "linux-6.12" / "vgem_basic.txt")])
    assert result.exit_code == ExitCode.USAGE
    assert "no finding" in result.output


ALLOWED_PH = {"M", "C", "X", "i"}


def _perfetto(path: Path, tmp_path: Path) -> dict:
    out = tmp_path / "trace.json"
    result = runner.invoke(app, ["export", str(path), "--format", "perfetto", "-o", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def test_perfetto_export_structure(tmp_path: Path) -> None:
    doc = _perfetto(SEEDS / "004-panfrost-purge-without-pages.txt", tmp_path)
    events = doc["traceEvents"]
    assert events and {e["ph"] for e in events} <= ALLOWED_PH
    named = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
    procs = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
    timed = [e for e in events if e["ph"] != "M"]
    for e in timed:
        assert isinstance(e["ts"], float | int) and e["pid"] in procs
        if e["ph"] == "C":
            assert (e["pid"], e["tid"]) in named
            assert set(e["args"]) == {"refs", "handles", "pins", "vmaps", "kmaps", "pages"}
            assert all(isinstance(v, int) for v in e["args"].values())
        if e["ph"] == "X":
            assert e["dur"] >= 0 and (e["pid"], e["tid"]) in named
        if e["ph"] == "i":
            assert e["s"] in ("t", "g")
    assert [e["ts"] for e in timed] == sorted(e["ts"] for e in timed)
    # the findings sit on their object's track, at the time of the offending op
    found = [e for e in timed if e["ph"] == "i" and e["name"].startswith("TK")]
    assert {e["name"] for e in found} == {"TK013 purge-unpurgeable", "TK011 unbalanced-pin"}
    purge = next(e for e in found if e["name"].startswith("TK013"))
    track = [e for e in timed if e["ph"] == "C" and e["tid"] == purge["tid"]]
    at = [e for e in track if e["ts"] <= purge["ts"]][-1]
    assert at["args"]["pages"] == 0
    # the jobs that used the BOs are slices with their objects
    jobs = [e for e in timed if e["ph"] == "X" and e["args"]["objects"]]
    assert len(jobs) == 6 and all(e["args"]["done"] for e in jobs)


def test_perfetto_export_is_deterministic(tmp_path: Path) -> None:
    a = _perfetto(SEEDS / "000-vram-vmap-counting.txt", tmp_path)
    b = _perfetto(SEEDS / "000-vram-vmap-counting.txt", tmp_path)
    assert a == b


def test_html_report_is_self_contained_and_deterministic(tmp_path: Path) -> None:
    one, two = tmp_path / "a.html", tmp_path / "b.html"
    for out in (one, two):
        result = runner.invoke(app, ["check", str(SEEDS), "--html", str(out)])
        assert result.exit_code == ExitCode.FINDINGS
    text = one.read_text()
    assert text == two.read_text()
    assert "<script" not in text and "http://" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert "https://" not in text
    for i in range(1, 11):
        assert f'id="f{i}"' in text
    assert text.count("<svg") >= 9
    assert "TK009 userptr-partial-pin" in text


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")
def test_html_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    runner.invoke(app, ["check", str(SEEDS), "--html", str(report)])
    shot = tmp_path / "report.png"
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--enable-logging=stderr",
        "--v=0",
        "--window-size=1200,1600",
    ]
    proc = subprocess.run(
        [CHROMIUM, *flags, f"--screenshot={shot}", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert shot.exists() and shot.stat().st_size > 20_000
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    console = [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln or "Uncaught" in ln]
    assert console == []
    dom = subprocess.run(
        [CHROMIUM, *flags, "--dump-dom", report.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    ).stdout
    assert "tracekit check report" in dom and dom.count("<svg") >= 9
    keep = ROOT / "docs" / "images"
    if keep.is_dir():
        shutil.copy(
            shot, tmp_path / "kept.png"
        )  # the README's screenshot is made by docs/images/make.sh


@pytest.mark.parametrize(
    ("name", "rule"),
    [("001-vc4-binner-job.txt", "TK006"), ("004-panfrost-purge-without-pages.txt", "TK013")],
)
def test_minimize_keeps_the_bug_in_a_few_lines(name: str, rule: str, tmp_path: Path) -> None:
    out = tmp_path / "min.txt"
    result = runner.invoke(app, ["minimize", str(SEEDS / name), "--rule", rule, "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "replays" in result.stderr
    text = out.read_text()
    events = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert 1 <= len(events) <= 24
    # original line numbers are kept as comments, and each kept line is the original's
    original = (SEEDS / name).read_text().splitlines()
    for ln in text.splitlines():
        if ln.startswith("# tracekit minimize: line "):
            number = int(ln.split()[4])
            following = text.splitlines()[text.splitlines().index(ln) + 1]
            assert original[number - 1] == following
    # the sub-capture still shows the same finding, in the same words
    again = json.loads(runner.invoke(app, ["check", str(out), "--format", "json"]).stdout)
    first = json.loads(runner.invoke(app, ["check", str(SEEDS / name), "--format", "json"]).stdout)
    want = next(f for f in first["findings"] if f["rule"] == rule)
    got = [f for f in again["findings"] if f["rule"] == rule]
    assert [(f["verdict"], f["object"], f["message"]) for f in got] == [
        (want["verdict"], want["object"], want["message"])
    ]


def test_minimize_is_deterministic(tmp_path: Path) -> None:
    path = str(SEEDS / "002-dmabuf-vunmap-wrong-map.txt")
    a = runner.invoke(app, ["minimize", path, "--finding", "1"])
    b = runner.invoke(app, ["minimize", path, "--finding", "1"])
    assert a.exit_code == b.exit_code == 0
    assert a.stdout == b.stdout and a.stderr == b.stderr
    assert "133 event lines -> 2 in 23 replays" in a.stderr
