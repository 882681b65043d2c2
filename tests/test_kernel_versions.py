"""What the newer kernels hide, and how normalisation recovers it (tracekit/normalize/dialects.py).

Real captures of Debian's 6.16.12, 6.17.13, 6.18.15 and 7.3.4 (traces/real/linux-*; provenance
in traces/real/README.md). Against 6.1 and 6.12 they show three differences no event states:

- drm_gem_shmem_vunmap_locked is inlined into the object's vunmap callback: only the dispatcher
  (drm_gem_vunmap, drm_gem_dmabuf_vunmap) shows a vunmap;
- drm_gem_unpin is inlined into drm_gem_map_detach (from 6.17), while the attach's pin shows;
- a vmap pins (drm_gem_shmem_pin_locked inside drm_gem_shmem_vmap_locked), and only an object's
  first pin takes a pages reference (pages_pin_count). On 6.12 every pin still takes one.

Debian's PREEMPT_RT build of 6.12.117 (traces/real/linux-6.12-rt) shows none of them: the same
kernel code, printed in other lines, normalises to the same ops as the non-RT build.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TRACES
from tracekit.check import run_check
from tracekit.ingest import parse_paths
from tracekit.normalize import normalize
from tracekit.replay import replay_paths

NEW = ("linux-6.16", "linux-6.17", "linux-6.18", "linux-7.3")


def _ops(path: Path) -> pl.DataFrame:
    return normalize(parse_paths([str(path)]).events).ops


@pytest.mark.parametrize("kernel", NEW)
def test_an_inlined_vunmap_is_recovered_from_its_dispatcher(kernel: str) -> None:
    ops = _ops(TRACES / "real" / kernel / "cirrus_prime.txt")
    added = ops.filter(pl.col("func").str.ends_with("(vunmap, the helper inlined)"))
    # the exporter's (through its dma-buf) and the cirrus-native BO's (through its framebuffer)
    assert set(added["func"]) == {
        "drm_gem_dmabuf_vunmap (vunmap, the helper inlined)",
        "drm_gem_vunmap (vunmap, the helper inlined)",
    }
    # every vmap of a native object has its vunmap: the state ends with no vmaps
    rep = replay_paths([str(TRACES / "real" / kernel / "cirrus_prime.txt")])
    last = rep.states.filter(pl.col("object").is_not_null()).group_by("object").last()
    assert last["vmaps"].to_list() == [0] * last.height


def test_kernels_that_show_the_helper_get_nothing_added() -> None:
    for kernel in ("linux-6.1", "linux-6.12"):
        ops = _ops(TRACES / "real" / kernel / "cirrus_prime.txt")
        assert ops.filter(pl.col("func").str.contains("inlined")).height == 0


@pytest.mark.parametrize("kernel", NEW)
def test_a_detach_unpins_what_its_attach_pinned(kernel: str) -> None:
    ops = _ops(TRACES / "real" / kernel / "cirrus_prime.txt")
    added = ops.filter(pl.col("func") == "drm_gem_map_detach (unpin, inlined)")
    # 6.16 still calls drm_gem_unpin out of line: its unpin shows, and nothing is added
    assert added.height == (0 if kernel == "linux-6.16" else 1)
    exporter = ops.filter(pl.col("op") == "pin")["object"][0]
    pins = ops.filter(pl.col("op").is_in(["pin", "unpin"]) & (pl.col("object") == exporter))
    # the attach's pin, the vmap's pin, the vunmap's unpin, the detach's unpin
    assert pins["op"].to_list() == ["pin", "pin", "unpin", "unpin"]


@pytest.mark.parametrize("kernel", NEW)
def test_only_the_first_pin_takes_pages(kernel: str) -> None:
    """The vmap's pin finds the attach's pin: pages_pin_count 1 -> 2, no pages reference (the
    kernel's pages_use_count, sampled at the next unpin, says 1, not 2)."""
    ops = _ops(TRACES / "real" / kernel / "cirrus_prime.txt")
    assert ops.filter(pl.col("func").str.contains("pages reference, no event")).height == 0
    rep = replay_paths([str(TRACES / "real" / kernel / "cirrus_prime.txt")])
    unpin = rep.verified.filter(
        pl.col("func").str.starts_with("drm_gem_shmem_unpin")
        & (pl.col("counter") == "pages_use_count")
    )
    assert unpin.height >= 1 and (unpin["kernel"] == unpin["model"]).all()


def test_on_6_12_the_first_pin_still_takes_the_inlined_pages_reference() -> None:
    """6.12 inlines the get_pages of drm_gem_shmem_pin_locked (its put_pages, at each unpin, is
    probed): the attach's pin, the object's first, gets the pages reference added."""
    ops = _ops(TRACES / "real" / "linux-6.12" / "cirrus_prime.txt")
    added = ops.filter(pl.col("func").str.contains("pages reference, no event"))
    assert added["op"].to_list() == ["get_pages"]
    first_pin = ops.filter((pl.col("op") == "pin") & (pl.col("object") == added["object"][0]))
    assert added["seq"][0] == first_pin["seq"][0]


def test_on_6_12_every_pin_takes_the_inlined_pages_reference() -> None:
    """6.12 has no pages_pin_count yet: a BO attached to two importing files is pinned twice,
    and the kernel's pages_use_count (sampled by the dma-buf mmap's get_pages that follows) is
    2. No pin of the capture shows its get_pages, so each gets one added; in 6.1 and 6.16+
    captures pins show theirs, and a second pin there adds none."""
    path = TRACES / "real" / "linux-6.12.118" / "random_s2.txt"
    ops = _ops(path)
    added = ops.filter(pl.col("func").str.contains("pages reference, no event"))
    pins = ops.filter(pl.col("op") == "pin")
    assert pins.height >= 4 and added.height == pins.height
    assert added.select("object", "seq").rows() == pins.select("object", "seq").rows()
    rep = replay_paths([str(path)])
    assert rep.disagreements.height == 0
    after_two = rep.verified.filter(pl.col("line") == 226)
    assert after_two.select("counter", "kernel", "model").rows() == [("pages_use_count", 2, 2)]


@pytest.mark.parametrize("kernel", (*NEW, "linux-6.12-rt"))
def test_clean_captures_of_the_new_kernels_give_no_finding(kernel: str) -> None:
    paths = sorted(
        str(p) for p in (TRACES / "real" / kernel).glob("*.txt") if p.stem != "lost_events"
    )
    assert len(paths) >= 12
    result = run_check(paths)
    assert result.findings.height == 0, result.findings.select("rule", "line", "message").rows()


def test_a_refcount_sampled_inside_the_call_that_made_the_object_is_not_trusted() -> None:
    """The 6.18 overrun capture starts inside CREATE_DUMB: the first refcount (1) includes the
    creator's reference, which the ioctl's return puts unseen, so the model's next value (2)
    cannot be held against the kernel's (1). That sample is not compared; every sample of an
    object created in the capture is."""
    rep = replay_paths([str(TRACES / "real" / "linux-6.18" / "lost_events.txt")])
    assert rep.disagreements.height == 0
    at = rep.verified.filter((pl.col("line") == 21) & (pl.col("counter") == "refcount"))
    assert at.select("counter", "kernel", "model", "comparable", "why").rows() == [
        ("refcount", 1, 2, False, "first seen mid-life")
    ]
    skipped = rep.verified.filter(~pl.col("comparable"))
    assert (skipped["generation"] == 0).all()
    assert rep.verified.filter(pl.col("generation") > 0)["comparable"].all()


@pytest.mark.parametrize("kernel", NEW)
def test_the_dma_buf_file_count_is_read_from_f_ref(kernel: str) -> None:
    """Since 6.13 struct file counts its references in f_ref (file_ref_t: the count minus one);
    the probe templates read it where f_count has no offset, and every sample agrees."""
    path = TRACES / "real" / kernel / "vgem_basic.txt"
    assert "f_ref=" in path.read_text() and "f_count=" not in path.read_text()
    rep = replay_paths([str(path)])
    f_count = rep.verified.filter(pl.col("counter") == "f_count")
    assert f_count.height >= 5 and f_count["comparable"].all()
    assert (f_count["kernel"] == f_count["model"]).all()


def test_file_ref_values(tmp_capture) -> None:
    line = "  s-1 [000] ..... 1.%06d: dma_buf_put: (dma_buf_put+0x4/0x50) dmabuf=0xff01 f_ref=%s"
    # refcnt 1: two references; a released file_ref (0xc000000000000000 as s64): none
    path = tmp_capture(
        "\n".join(line % (i, v) for i, v in enumerate(("1", "0", "-4611686018427387904")))
    )
    ops = _ops(path)
    assert ops["f_count"].to_list() == [2, 1, 0]


RECORDED_7_3 = TRACES / "real" / "linux-7.3" / "tracekit_record_leak_at_exit.txt"


def test_dma_buf_tracepoints_next_to_the_kprobes_are_one_view() -> None:
    """7.3 traces each dma-buf operation by pointer (kprobes) and by inode (its tracepoints):
    the kprobe view is kept, so the dma-buf is one, and nothing is counted twice."""
    text = RECORDED_7_3.read_text()
    assert "dma_buf_put: exp_name=drm" in text and "dma_buf_put: (dma_buf_put" in text
    ops = _ops(RECORDED_7_3)
    assert ops.filter(pl.col("profile") == "dma_buf_events").height == 0
    assert ops.filter(pl.col("op") == "dmabuf_put")["dmabuf"].n_unique() == 1
    result = run_check([str(RECORDED_7_3)])
    assert result.findings.height == 0
    assert result.replayed.disagreements.height == 0


def test_dma_buf_tracepoints_alone_do_not_drive_the_file_count(tmp_path: Path) -> None:
    """With the tracepoints only, a PRIME export shows one reference (dma_buf_export) and two
    puts at file close (the handle cache's get_dma_buf and obj->dma_buf's have no event): the
    count they show is not the file's, and is not followed."""
    text = RECORDED_7_3.read_text().splitlines(True)
    only = tmp_path / "tracepoints.txt"
    only.write_text("".join(x for x in text if ": (" not in x))  # no kprobe lines left
    ops = _ops(only)
    assert set(ops.filter(pl.col("dmabuf").is_not_null())["op"]) == {"dmabuf_export", "sample"}
    result = run_check([str(only)])
    assert result.findings.height == 0, result.findings.select("rule", "message").rows()


def test_no_vunmap_is_added_where_the_capture_shows_no_vmap() -> None:
    """The rig's built-in template on 6.18 has no drm_gem_shmem_vmap_locked: no vmap is seen, so
    the dispatchers' vunmaps are not recovered either (they would be vunmaps of nothing mapped,
    a false TK002, as they were before this was checked)."""
    path = TRACES / "real" / "linux-6.18-default-probes" / "cirrus_prime.txt"
    ops = _ops(path)
    assert ops.filter(pl.col("func").is_in(["drm_gem_vunmap", "drm_gem_dmabuf_vunmap"])).height
    assert ops.filter(pl.col("op") == "vmap").height == 0
    assert ops.filter(pl.col("func").str.contains("the helper inlined")).height == 0
    result = run_check([str(path)])
    assert result.findings.height == 0 and result.replayed.disagreements.height == 0


# the scenarios whose ops do not depend on timing (cirrus_flip waits for vblanks; fork_inherit and
# threads interleave two tasks)
UNTIMED = (
    "cirrus_prime",
    "cirrus_prime_dirty",
    "dup_fds",
    "error_paths",
    "exec_cloexec",
    "fb_order",
    "fork_exit",
    "lost_events",
    "mmap_lifetime",
    "reimport",
    "scm_rights",
    "vgem_basic",
    "vgem_dmabuf_mmap",
    "vgem_fences",
    "vgem_leak_at_exit",
    "vgem_multi_file",
    "vma_split",
)


@pytest.mark.parametrize("scenario", UNTIMED)
def test_a_preempt_rt_build_shows_the_same_ops(scenario: str) -> None:
    """Debian's PREEMPT_RT build of 6.12.117 prints other lines (the preempt-depth column, other
    addresses and times) for the same kernel code: each scenario normalises to the same ops."""
    rt = TRACES / "real" / "linux-6.12-rt" / f"{scenario}.txt"
    assert "PREEMPT_RT" in rt.with_suffix(".console.log").read_text()
    plain = _ops(TRACES / "real" / "linux-6.12" / f"{scenario}.txt")
    assert _ops(rt).select("op", "func").rows() == plain.select("op", "func").rows()
