"""GEM VRAM helper and TTM buffer objects, on real captures of bochs (QEMU -vga std).

traces/real/scenarios/bochs_vram.c ran on 6.1.0-57 and 6.12.118, where bochs uses the VRAM
helper on TTM, and on 6.18.15, where it uses shmem (provenance: traces/real/README.md, "Twelfth
set"). What the VRAM/TTM captures showed, each held to the kernel's counters here:

- a userspace mapping of a TTM BO holds TTM's kref, not a GEM reference (drm_gem_ttm_mmap gives
  the GEM one back at once) and closes through TTM's vm_ops:
  :func:`tracekit.normalize.dialects.ttm_mmaps`;
- a pin is seen at two levels (drm_gem_vram_pin, then its ttm_bo_pin after a validation that
  has a return probe): one pin;
- the GEM free of a BO still mapped comes at its last GEM reference, its TTM destroy's
  drm_gem_object_release at the munmap: one free;
- a vgem import of a VRAM BO fails (no get_sg_table): its ERR_PTR is no object.

And qxl (QEMU -vga qxl, traces/real/scenarios/qxl.c), TTM-based, on 6.1.0-57, 6.12.118 and
6.18.15: by 6.18 a TTM vma holds a GEM reference instead of TTM's kref; a failed dma-buf mmap
and an import that fails after its attach.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TRACES
from tracekit.check import run_check
from tracekit.ingest import parse_paths
from tracekit.normalize import normalize
from tracekit.normalize.dialects import TTM_VMA_FILE
from tracekit.replay import replay_paths

TTM = {"linux-6.1.0-57-extended": "6.1.0-57", "linux-6.12.118": "6.12.118"}
BOCHS = [TRACES / "real" / d / "bochs_vram.txt" for d in (*TTM, "linux-6.18")]


def _ops(path: Path) -> pl.DataFrame:
    return normalize(parse_paths([str(path)]).events).ops


def _lines(path: Path, needle: str) -> list[int]:
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]


@pytest.mark.parametrize("path", BOCHS, ids=lambda p: p.parent.name)
def test_bochs_agrees_with_the_kernel_and_is_clean(path: Path) -> None:
    rep = replay_paths([str(path)])
    assert rep.checks.height >= 28  # refcount, handle_count, f_count (6.18: pages, vmaps too)
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()
    assert rep.verified.filter(~pl.col("comparable")).height == 0
    res = run_check([str(path)])
    assert res.findings.height == 0, res.findings.to_dicts()


@pytest.mark.parametrize("kernel", TTM)
def test_a_ttm_mapping_holds_no_gem_reference(kernel: str) -> None:
    path = TRACES / "real" / kernel / "bochs_vram.txt"
    ops = _ops(path)
    takeovers = ops.filter((pl.col("op") == "call_enter") & (pl.col("func") == "ttm_bo_mmap_obj"))
    # A's and B's MAP_DUMB mmaps (one vma address, A's freed first), and C's dma-buf on 6.12
    assert takeovers.height == len(_lines(path, ": ttm_bo_mmap_obj:")) >= 2
    # no GEM mapping of those vmas is left in the model
    mapped = takeovers["vma"].implode()
    assert ops.filter(
        pl.col("op").is_in(["mmap", "munmap"]) & pl.col("vma").is_in(mapped)
    ).is_empty()


def test_a_ttm_dma_buf_mapping_keeps_the_file_it_maps() -> None:
    """6.12 exports C and mmaps the dma-buf: the vma holds the dma-buf's file (not C), from the
    mmap to the vma's close."""
    ops = _ops(TRACES / "real/linux-6.12.118/bochs_vram.txt")
    files = ops.filter(pl.col("owner") == "vma").select("op", "func", "dmabuf", "object")
    assert files.rows() == [
        ("dmabuf_get", "drm_gem_dmabuf_mmap", files["dmabuf"][0], None),
        ("dmabuf_put", TTM_VMA_FILE, files["dmabuf"][0], None),
    ]


@pytest.mark.parametrize("kernel", TTM)
def test_without_the_takeover_the_mappings_are_disagreements(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The GEM mmap's reference kept for as long as the vma lasts: the kernel's refcount is one
    lower wherever a TTM mapping is open."""
    from tracekit.normalize import dialects

    monkeypatch.setattr(dialects, "ttm_mmaps", lambda ops: ops)
    rep = replay_paths([str(TRACES / "real" / kernel / "bochs_vram.txt")])
    wrong = rep.disagreements
    assert wrong.height >= 2
    assert set(wrong["counter"].to_list()) <= {"refcount", "f_count"}
    assert (wrong["model"] > wrong["kernel"]).all()


@pytest.mark.parametrize("kernel", TTM)
def test_a_pin_seen_at_two_levels_is_one_pin(kernel: str) -> None:
    """drm_gem_vram_pin validates (a move, with its own events) and then calls ttm_bo_pin: one
    pin per drm_gem_vram_pin, one unpin per drm_gem_vram_unpin, none left at the end."""
    path = TRACES / "real" / kernel / "bochs_vram.txt"
    ops = _ops(path)
    assert ops.filter(pl.col("op") == "pin").height == len(_lines(path, ": drm_gem_vram_pin:"))
    assert ops.filter(pl.col("op") == "unpin").height == len(_lines(path, ": drm_gem_vram_unpin:"))
    assert len(_lines(path, ": ttm_bo_pin:")) == len(_lines(path, ": drm_gem_vram_pin:"))
    # the validation's return probe leaves no row between the two levels
    assert ops.filter(pl.col("func") == "ttm_bo_validate").is_empty()
    states = replay_paths([str(path)]).states.filter(pl.col("object").is_not_null())
    end = states.group_by("object", "generation", maintain_order=True).last()
    assert end.height == 3 and (end["pins"] == 0).all()


@pytest.mark.parametrize("kernel", TTM)
def test_a_bo_freed_while_mapped_is_freed_once(kernel: str) -> None:
    """B's handle goes while it is mapped: its GEM free (drm_gem_vram_object_free) comes at the
    GEM_CLOSE, the TTM destroy's drm_gem_object_release at the munmap; one free, at the
    first."""
    path = TRACES / "real" / kernel / "bochs_vram.txt"
    ops = _ops(path)
    frees = ops.filter(pl.col("op") == "free")
    assert frees.group_by("object").len()["len"].to_list() == [1] * frees.height
    assert frees.height == 3
    b = ops.filter(pl.col("op") == "create")["object"][1]  # A, B, C in that order
    b_free = frees.filter(pl.col("object") == b).row(0, named=True)
    rmfb, munmap_b = _lines(path, "RMFB fb=")[0], _lines(path, "munmap B")[0]
    assert rmfb < b_free["line"] < munmap_b
    assert b_free["func"] == "drm_gem_vram_object_free"
    assert _lines(path, "drm_gem_object_release: ")[1] < munmap_b  # B's, after the GEM_CLOSE


def test_a_failed_import_makes_no_object() -> None:
    """vgem cannot import a VRAM BO on 6.12 (drm_gem_map_attach: no get_sg_table, -ENOSYS):
    drm_gem_prime_import_dev returns an ERR_PTR, not an object."""
    path = TRACES / "real/linux-6.12.118/bochs_vram.txt"
    assert _lines(path, "drm_gem_prime_import_dev_ret") and _lines(path, "obj=0xffffffffffffffda")
    ops = _ops(path)
    objects = ops["object"].drop_nulls()
    assert (objects < 0xFFFFFFFFFFFFF000).all()


# qxl (QEMU -vga qxl): a TTM driver of its own, the same scenario (traces/real/scenarios/qxl.c)
QXL = ("linux-6.1.0-57-extended", "linux-6.12.118", "linux-6.18")


@pytest.mark.parametrize("kernel", QXL)
def test_qxl_agrees_with_the_kernel_and_is_clean(kernel: str) -> None:
    path = TRACES / "real" / kernel / "qxl.txt"
    rep = replay_paths([str(path)])
    assert rep.checks.height >= 23
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()
    assert rep.verified.filter(~pl.col("comparable")).height == 0
    assert run_check([str(path)]).findings.height == 0


@pytest.mark.parametrize(
    ("kernel", "held"),
    [
        ("linux-6.1.0-57-extended", "kref"),
        ("linux-6.12.118", "kref"),
        ("linux-6.18", "gem"),
        ("linux-6.12.118/bochs_vram", "kref"),
    ],
)
def test_what_a_ttm_vma_holds_is_read_from_its_close(kernel: str, held: str) -> None:
    """Up to 6.12 ttm_bo_vm_close calls ttm_bo_put (the vma held TTM's kref); on 6.18 it puts a
    GEM reference: the GEM mmap stands and ttm_bo_vm_close is its munmap."""
    path = TRACES / "real" / f"{kernel if '/' in kernel else kernel + '/qxl'}.txt"
    ops = _ops(path)
    closes = ops.filter(pl.col("func") == "ttm_bo_vm_close")
    munmaps = closes.filter(pl.col("op") == "munmap")
    assert closes.filter(pl.col("op") == "call_enter").height >= 2
    if held == "gem":
        assert munmaps.height == closes.filter(pl.col("op") == "call_enter").height
        assert ops.filter(pl.col("op") == "mmap").height == munmaps.height
    else:
        assert munmaps.is_empty()
        assert ops.filter(pl.col("op") == "mmap").is_empty()


def test_a_failed_dma_buf_mmap_maps_nothing() -> None:
    """qxl on 6.1 refuses to mmap its dma-buf (-ENOSYS) after drm_gem_dmabuf_mmap: the mmap
    syscall's error undoes it (failed_mmaps)."""
    path = TRACES / "real/linux-6.1.0-57-extended/qxl.txt"
    assert _lines(path, "mmap dmabuf_fd=6 -> (nil) Function not implemented")
    ops = _ops(path)
    assert ops.filter(pl.col("func") == "drm_gem_dmabuf_mmap").is_empty()


def test_an_import_that_failed_after_its_attach_took_a_reference(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """vgem's import of a qxl dma-buf on 6.12 attaches, takes get_dma_buf, fails to map (no sg
    table) and puts it: the get has no event (failed_imports adds it); without it the
    dma-buf's f_count reads one above the model. (6.18 imports without mapping: no failure.)"""
    from tracekit.normalize import dialects
    from tracekit.normalize.dialects import FAILED_IMPORT

    path = TRACES / "real/linux-6.12.118/qxl.txt"
    added = _ops(path).filter(pl.col("func") == FAILED_IMPORT)
    assert added.height == 1 and added["op"].to_list() == ["dmabuf_get"]
    monkeypatch.setattr(dialects, "failed_imports", lambda ops: ops)
    wrong = replay_paths([str(path)]).disagreements
    assert wrong.select("counter", "kernel", "model").rows() == [("f_count", 6, 5)]
