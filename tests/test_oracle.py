"""Which kernel samples the model is held to (tracekit.model.oracle), on real captures.

The captures of traces/real whose scenarios fork, run threads, pass or duplicate fds, lose events
or were made with the rig's default probes on 6.12 hide things from the model; every other
capture shows all it needs, and there every sample must be compared.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tests.conftest import TRACES, rel
from tracekit.check import run_check, text_report
from tracekit.cli import app
from tracekit.ingest import parse_paths
from tracekit.replay import replay_paths

REAL = sorted(TRACES.glob("real/linux-*/*.txt"))
# what each capture hides from the model (traces/real/README.md says how each was made)
HIDDEN = {
    "fork_inherit": {"fds not traced"},  # a forked child's copies of the fds
    "fork_exit": {"fds not traced"},  # a child exits with fds open
    "fork_hold": {"fds not traced"},  # the second child imports an inherited fd
    "threads": {"fds not traced"},  # a thread's syscalls are not traced
    "lost_events": {"first seen mid-life"},  # the ring buffer overran
    "scm_rights": {"fds not traced"},  # the child that receives the fd is not traced
    "dup_fds": {"fd installed unseen"},  # dup, dup2 and fcntl are not traced
    "cirrus_flip": set(),  # no dma-buf: nothing for an untraced fd to hide
    # random walks (random_ops.c): a forked child's copies of the fds, and dup is not traced
    "random_s2": {"fds not traced"},
    "random_s4": {"fd installed unseen", "fds not traced"},
    "random_s10": {"fd installed unseen", "fds not traced"},
    "random2_s3": {"fds not traced"},  # (random_ops2.c) a thread's and a child's fds
    "random_s17": {"fds not traced"},  # three framebuffers, one named by its vmap
    # a forked child imports a dma-buf: its create is known (the child was born in the capture)
    "random_s51": {"fds not traced"},
    # a dup'd fd used later; a child's copied fds
    "random_s58": {"fd installed unseen", "fds not traced"},
    # framebuffers removed out of order with nothing naming their BOs
    "random2_s25": {"fds not traced", "framebuffer destroy guessed"},
    # two dup'd fds, never used, closed by exit_group
    "random2_s22": {"fd installed unseen", "unknown fd closed"},
    # a dup'd fd never used nor closed: only the exit drops its reference
    "random_s48": {"fd installed unseen", "unknown fd closed"},
    # dup2 onto a dma-buf fd and close_range close fds with no close
    "close_range": {"fds closed unseen"},
    # a dup'd dma-buf fd never used: only its close drops its reference
    "random_s5": {"fd installed unseen", "unknown fd closed"},
    "random2_s10": {"fd installed unseen", "unknown fd closed"},
    "fb_order": set(),
}
# on 6.1, CPU 1's buffer starts mid-capture: what it may have lost is not held against the model
OVERRUN_MARKED = {"events lost", "first seen mid-life"}
runner = CliRunner()


def _hidden(path: Path) -> set[str]:
    if path.stem == "lost_events" and path.parent.name == "linux-6.1":
        return OVERRUN_MARKED
    if path.parent.name == "linux-6.18-default-probes":
        return set()  # the rig's template reads no f_count on 6.13+ (f_ref), and fds hide no other
    if path.stem == "vgem_fences" and path.parent.name.endswith("default-probes"):
        return {"poll not traced"}  # it polls dma-bufs with fences pending; no poll probe
    if path.stem == "dup_fds" and path.parent.name == "linux-6.12-default-probes":
        return {"export fd not traced"}  # the export's own fd is not seen either
    if path.stem == "thread_handoff":
        # every task's syscalls traced: with the process known (record-tgid, or the fork
        # probed) every sample is compared; without it, a thread's exit may have closed its fds
        # or not, and the main thread's import of an fd its worker got is an fd unseen
        return {
            "linux-6.1.0-57-default-probes": {"fds not traced"},
            "linux-6.1.0-57-all-syscalls": {"fd installed unseen", "thread exit"},
        }.get(path.parent.name, set())
    if path.stem == "random2_s25" and path.parent.name == "linux-6.1.0-57-extended":
        return {"fds not traced"}  # drm_framebuffer_init names every destroy: nothing guessed
    if path.stem == "close_range_drm":
        # with the rig's probes a close_range of the DRM fd reads as an exec, which closes the
        # close-on-exec dma-buf fd for the model: the task's close of it later is of an fd
        # unknown to the model (the extended template probes the exec: nothing is hidden)
        return {"unknown fd closed"} if path.parent.name.endswith("default-probes") else set()
    if path.stem in HIDDEN:  # (the first reason that applies is the one given)
        return HIDDEN[path.stem]
    # 6.12 installs a PRIME export's fd without dma_buf_fd: only the extended probes see it
    return {"export fd not traced"} if path.parent.name == "linux-6.12-default-probes" else set()


@pytest.mark.parametrize("path", REAL, ids=rel)
def test_every_sample_is_compared_unless_the_capture_hides_it(path: Path) -> None:
    rep = replay_paths([str(path)])
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()
    skipped = rep.verified.filter(~pl.col("comparable"))
    assert set(rep.not_compared) == _hidden(path), rep.not_compared
    if rep.not_compared.keys() <= {"fds not traced", "export fd not traced"}:
        # fds hide only the dma-buf file count: every GEM counter is still compared
        assert set(skipped["counter"].to_list()) <= {"f_count"}


def test_a_wrong_f_count_in_a_capture_that_shows_every_fd_is_a_disagreement(
    tmp_path: Path,
) -> None:
    src = (TRACES / "real/linux-6.1/vgem_multi_file.txt").read_text().splitlines()
    idx = next(i for i, line in enumerate(src) if "dma_buf_put:" in line and "f_count=" in line)
    src[idx] = src[idx].replace("f_count=", "f_count=9")
    bad = tmp_path / "tampered.txt"
    bad.write_text("\n".join(src) + "\n")
    rep = replay_paths([str(bad)])
    bad_rows = rep.disagreements.select("line", "counter").rows()
    # the tampered sample, then the next one (replay took the tampered value)
    assert bad_rows[0] == (idx + 1, "f_count") and {c for _, c in bad_rows} == {"f_count"}


def test_a_wrong_refcount_in_a_threaded_capture_is_still_a_disagreement(tmp_path: Path) -> None:
    """Untraced fds excuse f_count only: a GEM counter the model gets wrong is still reported."""
    src = (TRACES / "real/linux-6.1/threads.txt").read_text().splitlines()
    idx = next(
        i for i, line in enumerate(src) if "drm_gem_object_release_handle:" in line and i > 400
    )
    src[idx] = src[idx].replace("refcount=", "refcount=7")
    bad = tmp_path / "tampered.txt"
    bad.write_text("\n".join(src) + "\n")
    rep = replay_paths([str(bad)])
    assert (idx + 1, "refcount") in rep.disagreements.select("line", "counter").rows()


def test_an_overrun_ring_buffer_is_lost_events() -> None:
    """``cat trace`` after an overrun: the header counts more events written than the capture
    holds, and each CPU's first event follows a ``##### CPU N buffer started ####`` line. Both
    are lost events, not comments: what was alive then is uncertain, and ``check`` says so."""
    path = TRACES / "real/linux-6.1/lost_events.txt"
    text = path.read_text()
    assert "entries-in-buffer/entries-written: 3478/72922" in text
    assert text.count("buffer started ####") == 1
    parsed = parse_paths([str(path)])
    lost = parsed.events.filter(pl.col("event").is_in(["lost_events", "buffer_started"]))
    assert lost.select("event", "payload").rows() == [
        ("lost_events", str(72922 - 3478)),
        ("buffer_started", ""),
    ]
    res = run_check([str(path)])
    ops = res.replayed.ops.filter(pl.col("op") == "lost_events")
    assert ops["count"].to_list() == [72922 - 3478, None]
    # the objects alive at the marker get a row there: uncertain from then on (one whose last
    # events were lost, 0xff44b07901ad6400, has no other row after it)
    marker = ops["seq"][1]
    at = res.replayed.states.filter((pl.col("seq") == marker) & pl.col("implicit"))
    assert 0xFF44B07901AD6400 in at["object"].to_list()
    assert at["uncertain"].all() and at["alive"].all()
    assert any(
        "events were lost (2 marker(s), 69444 events counted)" in ln for ln in text_report(res)
    )
    # no finding on what the lost events hid is more than inconclusive
    assert set(res.findings["verdict"].to_list()) <= {"inconclusive"}


def test_a_full_ring_buffer_without_overrun_is_not_lost_events(tmp_path: Path) -> None:
    src = (TRACES / "real/linux-6.1/vgem_basic.txt").read_text()
    assert "entries-in-buffer/entries-written: " in src
    rep = replay_paths([str(TRACES / "real/linux-6.1/vgem_basic.txt")])
    assert rep.ops.filter(pl.col("op") == "lost_events").height == 0


def test_cli_verify_says_what_it_did_not_compare() -> None:
    result = runner.invoke(app, ["replay", "--verify", str(TRACES / "real/linux-6.12/threads.txt")])
    assert result.exit_code == 0, result.output
    assert "0 disagree with the model; " in result.stdout
    assert "not compared, the model could not know them (fds not traced: " in result.stdout
    js = runner.invoke(
        app, ["replay", "--verify", "--format", "json", str(TRACES / "real/linux-6.12/threads.txt")]
    )
    assert '"not_compared": {' in js.stdout and '"fds not traced"' in js.stdout


def _ops(rows: list[tuple]) -> pl.DataFrame:
    """Minimal ops for the oracle: (seq, op, cpu, object, dmabuf, func)."""
    return pl.DataFrame(
        [
            ("c", s, op, cpu, 10, obj, 1 if obj else None, db, func)
            for s, op, cpu, obj, db, func in rows
        ],
        schema=["source", "seq", "op", "cpu", "pid", "object", "generation", "dmabuf", "func"],
        orient="row",
    )


def _checks(rows: list[tuple]) -> pl.DataFrame:
    """(seq, object, generation, counter)."""
    return pl.DataFrame(
        [("c", *r) for r in rows],
        schema=["source", "seq", "object", "generation", "counter"],
        orient="row",
    )


def test_events_lost_on_a_cpu_count_from_its_previous_event() -> None:
    """CPU 1 lost events somewhere after its op at seq 1 and before its marker at seq 5: a value
    sampled at seq 3 or 4 (on another CPU) may have changed since it was known, whenever that
    was, and so may one sampled at 6 or 7. The sample at 6 told the model the count, not who
    holds it (a handle or an fd made in the lost span, dropped later by a close the model cannot
    tie to the object), so the one at 7 is not compared either; one sampled at seq 1 is."""
    from tracekit.model.oracle import annotate

    ops = _ops(
        [
            (0, "create", 0, 7, None, "f"),
            (1, "get", 1, 7, None, "g"),
            (3, "put", 0, 7, None, "h"),
            (4, "put", 0, 7, None, "h"),
            (5, "lost_events", 1, None, None, "lost_events"),
            (6, "put", 0, 7, None, "h"),
            (7, "put", 0, 7, None, "h"),
        ]
    )
    got = annotate(
        _checks(
            [
                (1, 7, 1, "refcount"),
                (3, 7, 1, "refcount"),
                (4, 7, 1, "refcount"),
                (6, 7, 1, "refcount"),
                (7, 7, 1, "refcount"),
            ]
        ),
        ops,
    )
    assert got["why"].to_list() == [
        None,
        "events lost",
        "events lost",
        "events lost",
        "events lost",
    ]


def test_an_overrun_marker_covers_the_capture_before_it() -> None:
    from tracekit.model.oracle import annotate

    ops = _ops(
        [
            (0, "create", 0, 7, None, "f"),
            (2, "put", 0, 7, None, "h"),
            (3, "lost_events", 1, None, None, "buffer_started"),
            (4, "put", 1, 7, None, "h"),
        ]
    )
    got = annotate(_checks([(2, 7, 1, "refcount"), (4, 7, 1, "refcount")]), ops)
    assert got["why"].to_list() == ["events lost", "events lost"]


def test_a_reused_dma_buf_address_is_another_export() -> None:
    """The first export at an address had its fd seen, the second (after a release) did not:
    only the second's f_count samples are excused."""
    from tracekit.model.oracle import annotate

    ops = _ops(
        [
            (0, "dmabuf_export", 0, None, 9, "f"),
            (1, "dmabuf_fd", 0, None, 9, "f"),
            (3, "dmabuf_release", 0, None, 9, "f"),
            (4, "dmabuf_export", 0, None, 9, "f"),
        ]
    )
    got = annotate(_checks([(2, 9, None, "f_count"), (5, 9, None, "f_count")]), ops)
    assert got["why"].to_list() == [None, "export fd not traced"]


POLLED = TRACES / "real/linux-6.1.0-57-default-probes/vgem_fences.txt"  # the rig's own probes


def test_a_poll_the_capture_does_not_show_makes_f_count_unknown_while_a_fence_pends() -> None:
    """vgem_fences.c polls F4's dma-buf while its write fence is pending: the kernel holds a file
    reference per polled direction until the fence signals (dma_buf_poll, dma_buf_poll_cb). The
    rig's probes show neither: the sample that counts them is not compared; every other sample
    is, and agrees."""
    rep = replay_paths([str(POLLED)])
    assert rep.disagreements.height == 0
    assert rep.not_compared == {"poll not traced": 1}
    f_count = rep.verified.filter(pl.col("counter") == "f_count")
    # the file closed with the fence still pending: its release's dma_buf_put reads 2 more
    # references than the model has, the two polled directions'
    excused = f_count.filter(~pl.col("comparable"))
    assert excused.select("func", "kernel", "model", "why").rows() == [
        ("dma_buf_put", 4, 2, "poll not traced")
    ]
    assert f_count.filter(pl.col("comparable")).height == 3
    # the same scenario with the poll probed (the extended template): every sample compared
    probed = replay_paths([str(TRACES / "real/linux-6.1/vgem_fences.txt")])
    assert probed.disagreements.height == 0 and "poll not traced" not in probed.not_compared


@pytest.mark.parametrize(
    ("line", "value"),
    [
        # F1's dma-buf, its fence signalled before its previous sample (line 221): no poll can
        # have come or gone since, so one reference more is a disagreement
        (223, 2),
        # F4's, its fence pending: two polled directions explain 4 where the model has 2, and
        # nothing explains 5
        (256, 5),
    ],
)
def test_what_no_unseen_poll_explains_is_still_a_disagreement(
    tmp_path: Path, line: int, value: int
) -> None:
    src = POLLED.read_text().splitlines()
    assert "dma_buf_put:" in src[line - 1]
    src[line - 1] = re.sub(r"f_count=\d+", f"f_count={value}", src[line - 1])
    bad = tmp_path / "tampered.txt"
    bad.write_text("\n".join(src) + "\n")
    got = replay_paths([str(bad)]).disagreements
    assert got.select("line", "counter", "kernel").rows()[0] == (line, "f_count", value)
