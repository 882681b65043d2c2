"""Every real capture and log under tests/fixtures parses, and every line is accounted for.

The fixtures are copies of ../shared/formats/live (captured on Linux 6.18.44, trace-cmd 3.1.6,
perf 6.1) and ../shared/formats/samples (gpuvis amdgpu 4.11 capture, syzbot reports, journal and
dmesg excerpts, a dri-devel mail); their provenance is in the PROVENANCE.md files beside them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import ROOT, count_lines, fixture_files, rel
from tracekit.ingest import parse_paths, parse_to_parquet

GOLDEN = ROOT / "tests" / "golden" / "ingest_summaries.json"

# The only fixture lines that are rejected, and why: they are not trace lines, on purpose.
KNOWN_REJECTS = {
    # options/raw prints "pid cpu ts # ip text": numbers, not the text format
    "tests/fixtures/live/trace_raw.txt": 108,
    # options/hex prints hex words per record
    "tests/fixtures/live/trace_hex.txt": 54,
    # options/fields cannot print trace_marker records: "UNKNOWN TYPE 5"
    "tests/fixtures/live/trace_fields.txt": 3,
}


@pytest.mark.parametrize("path", fixture_files(), ids=rel)
def test_fixture_parses_with_only_known_rejects(path: Path) -> None:
    result = parse_paths([str(path)])
    s = result.summary
    assert s.events + s.rejected + s.ignored == s.lines
    assert s.lines == count_lines(path.read_bytes())
    assert s.rejected == KNOWN_REJECTS.get(rel(path), 0), result.rejects.head(5).rows()
    assert result.events.height == s.events
    assert result.rejects.height == s.rejected
    # every event points at a real line of its source
    lines = path.read_text(errors="replace").splitlines()
    assert result.events["line"].is_between(1, len(lines)).all()


def _summaries() -> dict[str, dict]:
    out = {}
    for path in fixture_files():
        s = parse_paths([str(path)]).summary.as_dict()
        s.pop("sources")
        s["read_as"] = parse_paths([str(path)]).summary.sources[str(path)]
        out[rel(path)] = s
    return out


def test_golden_summaries() -> None:
    """The per-fixture line accounting matches the reviewed golden file.

    Regenerate after an intended change with ``TRACEKIT_REGEN=1 pytest tests/test_ingest_fixtures.py``
    and review the diff.
    """
    got = _summaries()
    if os.environ.get("TRACEKIT_REGEN"):
        GOLDEN.write_text(json.dumps(got, indent=1, sort_keys=True) + "\n")
    want = json.loads(GOLDEN.read_text())
    assert got == want


def _events(path: str) -> pl.DataFrame:
    return parse_paths([str(ROOT / path)]).events


def test_tracefs_default_fields() -> None:
    ev = _events("tests/fixtures/live/trace_default_local.txt")
    first = ev.row(0, named=True)
    assert first["line"] == 13
    assert (first["comm"], first["pid"], first["cpu"], first["flags"]) == ("bash", 4619, 0, "...1.")
    assert (first["ts"], first["ts_unit"]) == (245_824_125_000, "ns")
    assert first["event"] == "tracing_mark_write"
    assert first["payload"] == "tracekit marker 1 bo=0xffff8881234 op=vmap"
    kworker = ev.filter(pl.col("comm") == "kworker/1:1").row(0, named=True)
    assert kworker["pid"] == 41


@pytest.mark.parametrize(
    ("name", "unit", "first_ts"),
    [
        ("trace_clock_counter.txt", "tick", 2),
        ("trace_clock_uptime.txt", "tick", 24655),
        ("trace_clock_x86-tsc.txt", "tick", 605709557460),
        ("trace_clock_tai.txt", "ns", 1795246528101123000),
        ("trace_clock_mono.txt", "ns", None),
    ],
)
def test_trace_clocks(name: str, unit: str, first_ts: int | None) -> None:
    ev = _events(f"tests/fixtures/live/{name}")
    assert set(ev["ts_unit"].to_list()) == {unit}
    if first_ts is not None:
        assert ev["ts"][0] == first_ts


def test_record_tgid_and_noirqinfo() -> None:
    tg = _events("tests/fixtures/live/trace_record_tgid.txt")
    assert tg["tgid"].null_count() < tg.height
    assert tg.filter(pl.col("comm") == "bash")["tgid"][0] == 4619
    noirq = _events("tests/fixtures/live/trace_noirqinfo.txt")
    assert noirq["flags"].null_count() == noirq.height
    assert set(noirq["format"].to_list()) == {"ftrace"}


def test_latency_format_relative_time() -> None:
    ev = _events("tests/fixtures/live/trace_latency_format.txt")
    assert set(ev["ts_unit"].to_list()) == {"rel_us"}
    row = ev.row(0, named=True)
    assert (row["comm"], row["pid"], row["cpu"], row["flags"], row["ts"]) == (
        "bash",
        4619,
        0,
        "...1.",
        16476,
    )


def test_context_info_off() -> None:
    ev = _events("tests/fixtures/live/trace_nocontextinfo.txt")
    assert ev["comm"].null_count() == ev.height
    assert ev["event"][0] == "tracing_mark_write"


def test_uprobe_and_uretprobe_locations() -> None:
    ev = _events("tests/fixtures/live/uprobe_uretprobe_trace.txt")
    ret = ev.filter(pl.col("event") == "r_malloc_ret").row(0, named=True)
    # kernel text prints (return address <- probed function)
    assert ret["probe_func"].startswith("0x7f") and ret["ret_caller"].startswith("0x")
    assert ret["payload"].startswith("ret=0x")
    entry = ev.filter(pl.col("event") == "free_entry").row(0, named=True)
    assert entry["probe_func"].startswith("0x7f") and entry["payload"].startswith("ptr=")


def test_trace_cmd_reversed_arrow() -> None:
    ev = _events("tests/fixtures/live/trace-cmd/report.txt")
    ret = ev.filter(pl.col("event") == "malloc_ret").row(0, named=True)
    # trace-cmd prints (probed function <- return address)
    assert ret["probe_func"] == "0x7fba081da930"
    assert ret["ret_caller"] == "0x55a6e4f45c8e"
    assert set(ev["format"].to_list()) == {"trace_cmd"}


def test_trace_cmd_dropped_events_marker() -> None:
    ev = _events("tests/fixtures/live/trace-cmd/report_events_dropped_line.txt")
    lost = ev.filter(pl.col("event") == "lost_events").row(0, named=True)
    assert (lost["cpu"], lost["payload"]) == (1, "22449")


def test_stacktrace_frames_attach_to_their_event() -> None:
    ev = _events("tests/fixtures/live/trace_stacktrace_trigger.txt")
    # no free-standing "<stack trace>" rows: each is folded into the sched_switch it follows
    assert ev.filter(pl.col("event") == "<stack trace>").height == 0
    with_stack = ev.filter(pl.col("stack").is_not_null())
    assert with_stack.height > 0
    assert set(with_stack["event"].to_list()) == {"sched_switch"}
    assert with_stack["stack"][0][0] == "trace_event_raw_event_sched_switch"


def test_perf_callchain_frames() -> None:
    ev = _events("tests/fixtures/live/perf/perf_script_callchain.txt")
    assert ev.height == 4
    first = ev.row(0, named=True)
    assert (first["system"], first["event"], first["pid"]) == ("sched", "sched_switch", 8398)
    assert first["stack"][0] == "ffffffff821f8298 __schedule+0x618 ([kernel.kallsyms])"


def test_gpuvis_amdgpu_capture() -> None:
    ev = _events("tests/fixtures/samples/gpuvis-amdgpu-linux4.11/amdgpu_trace.gpu_events_only.txt")
    counts = dict(ev.group_by("event").len().iter_rows())
    assert counts["dma_fence_signaled"] == 1976
    assert counts["amdgpu_cs_ioctl"] == 755
    cs = ev.filter(pl.col("event") == "amdgpu_cs_ioctl").row(0, named=True)
    assert cs["payload"].startswith("sched_job=3489726, timeline=gfx, context=4929, seqno=3200")
    assert cs["comm"] == "RenderThread"


def test_kasan_report_is_one_event() -> None:
    ev = _events(
        "tests/fixtures/samples/syzbot-drm-gem/syzbot_6a195db6dbcc80732ab9_KASAN_uaf_drm_gem_handle_delete.txt"
    )
    kasan = ev.filter(pl.col("event") == "kasan")
    assert kasan.height == 1
    row = kasan.row(0, named=True)
    assert row["payload"].startswith("BUG: KASAN: use-after-free in drm_gem_object_release_handle")
    assert "drm_gem_handle_delete+0x149/0x160 drivers/gpu/drm/drm_gem.c:273" in row["stack"]
    assert "Freed by task" in row["splat"]


def test_quoted_warn_splat_in_mail() -> None:
    ev = _events(
        "tests/fixtures/samples/dmesg-drm-warn/panthor_rk3588_drm_WARN_ON_pages_use_count_drm_gem_shmem_free.txt"
    )
    warn = ev.filter(pl.col("event") == "warn").row(0, named=True)
    assert "drm_WARN_ON(shmem->pages_use_count)" in warn["payload"]
    assert warn["stack"][0] == "drm_gem_shmem_free+0x144/0x14c [drm_shmem_helper]"
    assert warn["ts"] == 37743_040737_000


def test_journal_lines_and_warn() -> None:
    ev = _events(
        "tests/fixtures/samples/journalctl-amdgpu-ring-timeout/"
        "journalctl_amdgpu_ring_timeout_gpu_reset_warn_drm_framebuffer_remove.txt"
    )
    assert ev.filter(pl.col("event") == "warn").height == 1
    user = ev.filter(pl.col("event") == "syslog").row(0, named=True)
    assert (user["comm"], user["pid"]) == ("/usr/lib/gdm-wayland-session", 4553)


def test_quoted_printable_mail_lines_are_joined() -> None:
    ev = _events("tests/fixtures/samples/dmesg-drm-debug/drm_debug_excerpts.txt")
    payloads = ev["payload"].to_list()
    assert "[drm:drm_mode_object_put.part.0] OBJ ID: 159 (2)" in payloads
    assert any("pid=584, dev=0xe200" in p for p in payloads)


def test_hard_wrapped_mail_lines_rejoin_their_log_line() -> None:
    """The bugzilla mail wrapped journal lines at ~70 columns; each continuation joins the line
    above. The author's notes between pasted lines stay prose."""
    payloads = _events("tests/fixtures/samples/dmesg-drm-debug/drm_debug_excerpts.txt")[
        "payload"
    ].to_list()
    assert (
        "[drm:drm_calc_timestamping_constants] crtc 64: hwmode: htotal 2200, vtotal 1125, vdisplay 1080"
        in payloads
    )
    assert "[drm:drm_vblank_enable] enabling vblank on crtc 3, ret: 0" in payloads
    assert "[drm:drm_ioctl] pid=584, dev=0xe200, auth=1, DRM_IOCTL_MODE_CURSOR2" in payloads
    journal = _events(
        "tests/fixtures/samples/journalctl-amdgpu-ring-timeout/"
        "journalctl_amdgpu_ring_timeout_gpu_reset_warn_drm_framebuffer_remove.txt"
    )["payload"].to_list()
    assert not any("above message repeats" in p for p in journal)


def test_parse_to_parquet_writes_what_parse_paths_returns(tmp_path: Path) -> None:
    """Batches of 16 KiB (each written while the next is parsed): the events and rejects of
    the in-memory parse, in the same order, and the same summary."""
    files = [
        str(ROOT / "traces" / "real" / "linux-6.12" / "threads.txt"),
        str(ROOT / "tests" / "fixtures" / "live" / "trace_fields.txt"),  # 3 rejects
    ]
    want = parse_paths(files)
    out = tmp_path / "events.parquet"
    summary = parse_to_parquet(files, str(out), block_bytes=1 << 14)
    assert pl.read_parquet(out).equals(want.events)
    assert pl.read_parquet(tmp_path / "events.rejects.parquet").equals(want.rejects)
    assert (summary.lines, summary.events, summary.rejected) == (
        want.summary.lines,
        want.summary.events,
        want.summary.rejected,
    )
    assert summary.rejected == 3


def test_parse_to_parquet_stops_at_a_failed_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyarrow.parquet as pq

    def full(self: object, table: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full)
    with pytest.raises(OSError, match="No space left"):
        parse_to_parquet(
            [str(ROOT / "tests" / "fixtures" / "live" / "trace_fields.txt")],
            str(tmp_path / "e.parquet"),
        )


def test_a_read_error_mid_input_reaches_the_caller_after_the_batches_before_it(
    tmp_path: Path,
) -> None:
    """The next block is read in a thread while this one is parsed: an error in it is raised
    where the block would have come, after the batches before it."""
    import gzip

    from tracekit.errors import InputError
    from tracekit.ingest.core import parse_source

    text = (ROOT / "traces" / "real" / "linux-6.12" / "threads.txt").read_bytes()
    packed = gzip.compress(text)
    cut = tmp_path / "threads.txt.gz"
    cut.write_bytes(packed[: len(packed) // 2])
    batches = 0
    with pytest.raises(InputError, match="corrupt gzip data"):
        for _ in parse_source(str(cut), block_bytes=1 << 14):
            batches += 1
    assert batches > 3
