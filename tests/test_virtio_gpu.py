"""virtio-gpu (QEMU -vga virtio, 2D), on real captures of 6.1.0-57, 6.12.118 and 6.18.15.

traces/real/scenarios/virtio_gpu.c (provenance: traces/real/README.md, "Twelfth set"). A shmem
driver with its own framebuffers, its own PRIME export and objects freed by a worker once the
host has dropped their resource. As first run, each capture gave false errors and
disagreements; each cause is held to the captures here.
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

KERNELS = ("linux-6.1.0-57-extended", "linux-6.12.118", "linux-6.18")


def _path(kernel: str) -> Path:
    return TRACES / "real" / kernel / "virtio_gpu.txt"


def _ops(path: Path) -> pl.DataFrame:
    return normalize(parse_paths([str(path)]).events).ops


@pytest.mark.parametrize("kernel", KERNELS)
def test_virtio_gpu_agrees_with_the_kernel_and_is_clean(kernel: str) -> None:
    rep = replay_paths([str(_path(kernel))])
    assert rep.checks.height >= 50
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()
    assert rep.verified.filter(~pl.col("comparable")).height == 0
    res = run_check([str(_path(kernel))])
    assert res.findings.height == 0, res.findings.to_dicts()


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_virtio_framebuffer_keeps_its_lookup(kernel: str) -> None:
    """virtio_gpu_user_framebuffer_create looks the BO up for the framebuffer, which keeps the
    reference until drm_gem_fb_destroy (and, on 6.12.y and later, a handle reference)."""
    path = _path(kernel)
    ops = _ops(path)
    lookups = ops.filter((pl.col("op") == "get") & (pl.col("func") == "drm_gem_object_lookup"))
    created = ops.filter(pl.col("op") == "create")["object"].to_list()
    # ADDFB2 of A and B: kept by their framebuffers; the other lookups end with their ioctls
    assert lookups.filter(pl.col("owner") == "fb")["object"].to_list() == created[:2]
    lines = path.read_text().splitlines()
    fb_lines = lookups.filter(pl.col("owner") == "fb")["line"].to_list()
    assert all("virtio_gpu_user_framebuffer_create" in lines[n - 1] for n in fb_lines)


@pytest.mark.parametrize("kernel", KERNELS)
def test_a_virtio_export_holds_its_object_and_is_cached(kernel: str) -> None:
    """virtgpu_gem_prime_export takes the dma-buf's reference on its object itself, after
    dma_buf_export, and export_and_register_object caches the dma-buf in obj->dma_buf."""
    ops = _ops(_path(kernel))
    exported = ops.filter(pl.col("func") == "dma_buf_export")
    assert sorted(exported.select("op", "owner").rows()) == [
        ("dmabuf_export", "prime"),
        ("get", "dmabuf"),
    ]
    assert exported["object"].n_unique() == 1


@pytest.mark.parametrize("kernel", KERNELS)
def test_without_it_the_pages_an_sg_table_held_read_as_leaked(
    kernel: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every dumb BO has an sg table (its host resource's backing), whose pages reference
    drm_gem_shmem_free puts before it releases the object; virtio frees it from the worker that
    reads the host's reply, after the GEM free. Without freed_with_their_pages, each BO is
    "freed with pages_use_count=1" and then has its pages put "after the free"."""
    from tracekit.normalize import dialects

    monkeypatch.setattr(dialects, "freed_with_their_pages", lambda ops: ops)
    rules = sorted(run_check([str(_path(kernel))]).findings["rule"].to_list())
    assert rules == ["TK007"] * 3 + ["TK010"] * 3


def test_the_free_is_where_the_release_is() -> None:
    """6.12: C's GEM free comes in the task that drops its last reference; its pages' put and
    its release in the worker after the host's reply: one free, at the release."""
    path = _path("linux-6.12.118")
    ops = _ops(path)
    frees = ops.filter(pl.col("op") == "free")
    assert frees.height == 4  # A, B, C and vgem's import of C (its drm_prime_gem_destroy inside
    # drm_gem_shmem_free, naming it, does not split its free from its release)
    virtio = frees.filter(pl.col("func") == "drm_gem_object_release")
    assert virtio.height == 3
    # each after its object's last put_pages, in the same task
    for row in virtio.iter_rows(named=True):
        put = ops.filter((pl.col("object") == row["object"]) & (pl.col("op") == "put_pages"))
        assert put["seq"].max() < row["seq"] and put["pid"][-1] == row["pid"]
