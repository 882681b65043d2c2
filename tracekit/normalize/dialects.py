"""Counts that move without an event, inferred from what a capture shows.

Some counts move differently between kernel versions without any event saying so; others move
on every kernel in code no probe can see (an inline ``get_dma_buf``, a ``dup`` of an fd). Each
function here looks for the evidence of one such change in the capture's ops and rewrites the
ops so that the model counts as the kernel did. They run at the end of normalisation, in order
(:func:`apply_all`).

- :func:`imported_vmaps`: drm_gem_shmem_vmap of an imported object. Linux 6.1 counts it in the
  importer's vmap_use_count and calls dma_buf_vmap for the first one only
  ("if (shmem->vmap_use_count++ > 0) return 0; if (obj->import_attach) dma_buf_vmap(...)");
  6.12 hands every vmap to dma_buf_vmap and leaves vmap_use_count alone.
- :func:`one_dmabuf_view`: Linux 6.19+ has dma-buf tracepoints (keyed by the file's inode
  number) next to the dma-buf kprobes (keyed by the struct dma_buf pointer): a capture with both
  sees each operation twice, under two keys. The kprobe view is kept.
- :func:`hidden_fds`: an fd of a dma-buf that a task uses (an import's ``dma_buf_get(fd)``, an
  ``mmap(fd)`` of the dma-buf) but was never seen to get: ``dup``, ``fcntl(F_DUPFD)`` and
  ``SCM_RIGHTS`` take a file reference with no event on every kernel; so does 6.12's inlined PRIME
  export (no ``dma_buf_fd``).
- :func:`exec_closed_fds`: the close-on-exec dma-buf fds an ``execve`` closes, with no
  ``close``; the exec shows where it also released a close-on-exec DRM file.
- :func:`hidden_self_imports`: the reference a PRIME import of the device's own dma-buf takes.
  Up to 6.16 it shows as drm_gem_prime_import_dev; from 6.17 the shmem helpers import with
  drm_gem_shmem_prime_import_no_map, which the rig's built-in probe set does not probe.
- :func:`reattached_dma_bufs`: the dma-buf reference a self-import takes when its object has no
  handle left (obj->dma_buf was cleared with the last handle and is set again), on every kernel.
- :func:`hidden_vunmaps`: a vunmap of a shmem object that only its dispatcher shows. From 6.16
  drm_gem_shmem_vunmap_locked is inlined into the object's vunmap callback, so drm_gem_vunmap
  and drm_gem_dmabuf_vunmap are all a capture shows of it; 6.1 and 6.12 show the helper.
- :func:`hidden_detach_unpins`: the unpin of a PRIME detach that only drm_gem_map_detach shows.
  6.17 and later show no drm_gem_unpin or drm_gem_shmem_unpin_locked there, while the attach's pin
  still shows (drm_gem_shmem_pin_locked).
- :func:`pin_pages`: a shmem pin takes a pages reference. On 6.1 every drm_gem_shmem_pin calls
  drm_gem_shmem_get_pages, which is probed. 6.12 still takes one at every pin, but inlines the
  get_pages into drm_gem_shmem_pin_locked, so no pin shows it: the kernel's own
  pages_use_count is 2 after two PRIME attaches of one object (one per importing file). Later
  kernels count pins in pages_pin_count, and only the first pin takes pages (and the last unpin
  puts them): "if (refcount_inc_not_zero(&shmem->pages_pin_count)) return 0; ret =
  drm_gem_shmem_get_pages_locked(shmem);"; that get_pages_locked shows. So in a capture where
  no pin shows its get_pages, every pin takes one; where some do, a first pin that does not
  (its event lost) takes one.
- :func:`framebuffer_objects`: which objects a framebuffer's destroy puts. The framebuffer's
  vmaps name them (drm_gem_fb_vmap -> drm_gem_vmap(obj)); on kernels where a framebuffer also
  holds a handle reference (6.12.y: drm_gem_fb_init_with_funcs takes
  drm_gem_object_handle_get_if_exists_unlocked, no event), the handle put that follows
  drm_gem_fb_destroy names the object, and the handle reference is added at the lookup. Each
  named destroy claims its lookup (``fb`` set on it): the engines' fallback for a destroy that
  names nothing takes only the lookups no named destroy claims.
- :func:`ttm_mmaps`: a userspace mapping of a TTM BO holds TTM's kref, not the GEM reference
  drm_gem_mmap_obj took (drm_gem_ttm_mmap gives it back), and closes through TTM's vm_ops.
- :func:`freed_with_their_pages`: a shmem object whose drm_gem_shmem_free puts the pages its
  sg table held is freed at its release, after that put (virtio-gpu, in the host's reply).
- :func:`failed_mmaps`: the mmaps of an mmap syscall that returned an error were undone.
- :func:`failed_imports`: an import that attached and then failed took a dma-buf reference
  (get_dma_buf after the attach) that its error path puts.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import polars as pl

from tracekit.normalize.calls import caller_func
from tracekit.schema import COUNTERS as COUNTER_COLUMNS
from tracekit.schema import FD_TABLE, OPS

CALLS = ("call_enter", "call_exit")


_NO_OBJECT = ("object", "generation", *COUNTER_COLUMNS)
"""What an added op does not take from the op it is copied from: the object it named and the
counters its probe sampled."""


def _cleared(*columns: str) -> dict[str, pl.Expr]:
    """Nulls, of their OPS types, for ``columns`` of an added op (:func:`_next_op_at`)."""
    return {c: pl.lit(None, OPS[c]) for c in columns}


def _next_op_at(ops: pl.DataFrame, at: pl.DataFrame, op: str, **extra: pl.Expr) -> pl.DataFrame:
    """Rows of ``at`` (source, seq, ...) copied as ``op`` ops, to be placed just after each row,
    or just before it (:func:`with_added`)."""
    return at.with_columns(op=pl.lit(op).cast(ops.schema["op"]), **extra).select(ops.columns)


_FEW = 4096
"""Up to this many added rows are spliced in; more are placed with one gather of every row."""


def with_added(ops: pl.DataFrame, *added: pl.DataFrame, before: bool = False) -> pl.DataFrame:
    """``ops`` (sorted by source and seq) with the ``added`` rows after the last op of their
    source and seq, in the order given: what ``pl.concat([ops, *added]).sort(["source", "seq"],
    maintain_order=True)`` gives (each added row has the source and seq of an op), without
    sorting. With ``before``, before the first op of their source and seq instead: what
    ``pl.concat([*added, ops]).sort(...)`` gives. A few rows are spliced in between slices;
    many, with one gather of every row. (A capture's dialect rewrites add a handful; sorting a
    million ops takes 0.2-0.4 s.)"""
    extra = pl.concat([a for a in added if a.height]) if any(a.height for a in added) else None
    if extra is None:
        return ops
    # one integer key per row: the source's rank in sort order, then seq
    sources = sorted(set(ops["source"].unique().to_list()) | set(extra["source"].to_list()))
    rank = pl.DataFrame({"source": sources, "_rank": range(len(sources))})

    def keys(df: pl.DataFrame) -> np.ndarray:
        return (
            df.select("source", "seq")
            .join(rank, on="source", how="left", maintain_order="left")
            .select(pl.col("_rank").cast(pl.Int64) * (1 << 42) + pl.col("seq"))
            .to_series()
            .to_numpy()
        )

    at = np.searchsorted(keys(ops), keys(extra), side="left" if before else "right")
    order = np.argsort(at, kind="stable")
    if extra.height > _FEW:
        # many: one gather of every row, the added ones inserted at their places
        take = np.insert(np.arange(ops.height), at[order], ops.height + order)
        return pl.concat([ops, extra])[take]
    parts: list[pl.DataFrame] = []
    start = 0
    for j in order:
        parts.append(ops.slice(start, int(at[j]) - start))
        parts.append(extra.slice(int(j), 1))
        start = int(at[j])
    parts.append(ops.slice(start))
    return pl.concat(parts, rechunk=True)


def imported_vmaps(ops: pl.DataFrame) -> pl.DataFrame:
    """Drop importer vmaps/vunmaps that a 6.12-style kernel does not count."""
    imported = ops.filter(pl.col("op") == "dmabuf_import").select("source", "object").unique()
    if imported.height == 0:
        return ops
    vm = ops.filter(pl.col("op").is_in(["vmap", "vunmap"])).join(
        imported, on=["source", "object"], how="semi", maintain_order="left"
    )
    if vm.height == 0:
        return ops
    # handed to the dma-buf: the task's next op is that dma-buf's own vmap/vunmap; or none at
    # all, when the capture ends inside the call, or none known, when events were lost before
    # it (what it would have been, this kernel's other importer vmaps say)
    task = ["source", "pid"]
    nxt = (
        ops.select("source", "seq", "pid", "op")
        .filter(~pl.col("op").is_in(CALLS))
        .sort(["source", "seq"])
        .with_columns(_losses=(pl.col("op") == "lost_events").cum_sum().over("source"))
        .with_columns(
            _next=pl.col("op").shift(-1).over(task),
            _lost=pl.col("_losses").shift(-1).over(task) > pl.col("_losses"),
        )
    )
    delegated = nxt.filter(
        ((pl.col("op") == "vmap") & (pl.col("_next") == "dmabuf_vmap"))
        | ((pl.col("op") == "vunmap") & (pl.col("_next") == "dmabuf_vunmap"))
        | (pl.col("op").is_in(["vmap", "vunmap"]) & pl.col("_next").is_null())
        | (pl.col("op").is_in(["vmap", "vunmap"]) & pl.col("_lost").fill_null(False))
    ).select("source", "seq", pl.lit(True).alias("_delegated"))
    vm = vm.join(delegated, on=["source", "seq"], how="left", maintain_order="left").with_columns(
        pl.col("_delegated").fill_null(False)
    )
    counted = vm.group_by("source").agg(
        ((~pl.col("_delegated")).any() | (pl.col("vmap_use_count").fill_null(0) > 0).any()).alias(
            "_counted"
        )
    )
    drop = vm.join(counted, on="source", maintain_order="left").filter(
        pl.col("_delegated") & ~pl.col("_counted")
    )
    if drop.height == 0:
        return ops
    keys = drop.select("source", "seq", "op", "object").with_columns(_drop=pl.lit(True))
    return (
        ops.join(keys, on=["source", "seq", "op", "object"], how="left", maintain_order="left")
        .with_columns(
            # still a sample of the importer's vmap_use_count, with no effect on it
            op=pl.when(pl.col("_drop").fill_null(False))
            .then(pl.lit("sample").cast(ops.schema["op"]))
            .otherwise(pl.col("op")),
        )
        .drop("_drop")
    )


def one_dmabuf_view(ops: pl.DataFrame) -> pl.DataFrame:
    """Drop the dma-buf tracepoint ops of the captures that have the dma-buf kprobes too."""
    tracepoints = (pl.col("profile") == "dma_buf_events").fill_null(False)
    both = (
        ops.filter((pl.col("profile") == "dma_buf") & pl.col("dmabuf").is_not_null())
        .select("source")
        .unique()
    )
    if both.height == 0 or ops.filter(tracepoints).height == 0:
        return ops
    return ops.filter(
        ~(tracepoints & pl.col("source").is_in(both["source"].implode())).fill_null(True)
    )


def failed_mmaps(ops: pl.DataFrame) -> pl.DataFrame:
    """Drop the mmaps of an mmap syscall that failed. The vma an mmap callback sets up
    (drm_gem_mmap_obj's reference, a dma-buf's file) is undone when the driver's mmap fails:
    "drm_gem_object_put(obj)" in drm_gem_mmap_obj's error path, and the vma is never
    inserted. Where the capture shows the syscall's return (``sys_exit_mmap``), an error there
    undoes the task's mmaps since its entry (qxl on 6.1.0-57 refuses a dma-buf mmap with
    ``-ENOSYS`` after ``drm_gem_dmabuf_mmap``; taken as made, its reference and mapping outlived
    the object: TK012 and a refcount one above the kernel's)."""
    maps = ops.with_row_index("_i").filter(pl.col("op") == "mmap")
    exit_mmap = (pl.col("op") == "syscall_exit") & (pl.col("func") == "sys_exit_mmap")
    if maps.height == 0 or ops.filter(exit_mmap & (pl.col("ret") < 0)).height == 0:
        return ops
    # the task's next syscall boundary after the mmap: the exit of the mmap it is in, or else
    # an entry (its exit was not traced) or another syscall's exit
    boundaries = ops.filter(pl.col("op").is_in(["syscall_enter", "syscall_exit"])).select(
        "source",
        "pid",
        pl.col("seq").alias("_next"),
        _failed=(exit_mmap & (pl.col("ret") < 0)).fill_null(False),
    )
    failed = (
        maps.select("_i", "source", "pid", "seq")
        .sort("seq")
        .join_asof(
            boundaries.sort("_next"),
            left_on="seq",
            right_on="_next",
            by=["source", "pid"],
            strategy="forward",
            check_sortedness=False,
        )
        .filter(pl.col("_failed").fill_null(False))
    )
    if failed.height == 0:
        return ops
    return ops.filter(
        ~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(failed["_i"].cast(pl.UInt32).implode())
    )


FAILED_IMPORT = "get_dma_buf (an import's, after its attach; the import failed)"
"""The ``func`` of the ``dmabuf_get`` :func:`failed_imports` adds."""


def failed_imports(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the dma-buf reference an import took before it failed. drm_gem_prime_import_dev and
    drm_gem_shmem_prime_import_no_map take "get_dma_buf(dma_buf)" right after a successful
    attach (the model counts it with the import, ``dmabuf_import``) and, when what follows
    fails, detach and "dma_buf_put(dma_buf)" (an event). A failed import returns an ERR_PTR,
    which no rule takes: its return is a ``call_exit``. The attach is the task's last
    ``dmabuf_attach`` in that syscall (vgem importing a qxl BO on 6.12.118: map_dma_buf
    fails, ``-ENOSYS``; without it the dma-buf's ``f_count`` read one above the model)."""
    from tracekit.normalize.core import syscall_begun  # (core imports this module)

    failed = ops.filter((pl.col("op") == "call_exit") & pl.col("func").is_in(IMPORT_CALLS))
    if failed.height == 0:
        return ops
    attaches = (
        ops.with_row_index("_i")
        .filter(pl.col("op") == "dmabuf_attach")
        .select("_i", "source", "pid", "dmabuf", pl.col("seq").alias("_attached"))
        .sort("_attached")
    )
    # (syscall_begun: the failed import's syscall start, in seq order)
    found = (
        syscall_begun(failed.select("source", "pid", "seq"), ops)
        .join_asof(
            attaches,
            left_on="seq",
            right_on="_attached",
            by=["source", "pid"],
            strategy="backward",
            check_sortedness=False,
        )
        .filter(
            pl.col("_i").is_not_null()
            & (pl.col("_begun").is_null() | (pl.col("_attached") > pl.col("_begun")))
        )
        .unique("_i", keep="first", maintain_order=True)
    )
    if found.height == 0:
        return ops
    added = _next_op_at(
        ops,
        ops[found["_i"].to_list()],
        "dmabuf_get",
        func=pl.lit(FAILED_IMPORT),
        owner=pl.lit(None, pl.String),
        **_cleared(*_NO_OBJECT, "attachment"),
    )
    return with_added(ops, added)


def freed_with_their_pages(ops: pl.DataFrame) -> pl.DataFrame:
    """A shmem object's free is where ``drm_gem_shmem_free`` ends, after it put the pages its
    sg table held: "if (shmem->sgt) {...} if (shmem->pages) drm_gem_shmem_put_pages_locked(shmem);
    drm_WARN_ON(obj->dev, shmem->pages_use_count);" then ``drm_gem_object_release``. Where that
    put shows, the free (``drm_gem_shmem_free``'s, or the GEM free before it: virtio-gpu frees its
    objects once the host has dropped the resource, in the worker that reads the host's reply)
    is followed by the put and then the release's free, with nothing else on the object: the
    earlier free becomes a call (its samples are still checked) and the release is the free.
    Otherwise the pages the sg table held read as leaked at the free, and their put as a use
    after free (virtio_gpu on 6.12.118, traces/real)."""
    key = ["source", "object", "generation"]
    twice = (
        ops.filter((pl.col("op") == "free") & pl.col("object").is_not_null())
        .group_by(key)
        .len()
        .filter(pl.col("len") > 1)
        .select(key)
    )
    if twice.height == 0:
        return ops
    candidates = (
        ops.with_row_index("_i")
        .filter(pl.col("object").is_not_null() & ~pl.col("op").is_in(CALLS))
        .select("_i", *key, "seq", "op", "func", "pid")
        .join(twice, on=key, how="semi", maintain_order="left")
        .sort("seq", maintain_order=True)
    )
    early: list[int] = []
    for _, rows in candidates.group_by(key, maintain_order=True):
        ops_, funcs, pids, idx = (rows[c].to_list() for c in ("op", "func", "pid", "_i"))
        for j, op in enumerate(ops_):
            if op != "free":
                continue
            k = j + 1
            while k < len(ops_) and ops_[k] == "put_pages":
                k += 1
            if (
                k > j + 1
                and k < len(ops_)
                and ops_[k] == "free"
                and funcs[k] == "drm_gem_object_release"
                and all(pids[m] == pids[k] for m in range(j + 1, k))
            ):
                early.append(idx[j])
    if not early:
        return ops
    at = pl.int_range(pl.len(), dtype=pl.UInt32).is_in(pl.Series(early, dtype=pl.UInt32).implode())
    return ops.with_columns(
        op=pl.when(at).then(pl.lit("call_enter")).otherwise(pl.col("op")).cast(ops.schema["op"])
    )


TTM_VMA_FILE = "the vma's dma-buf file (TTM's vm_ops)"
"""The ``func`` of the ``dmabuf_put`` :func:`ttm_mmaps` adds at a TTM vma's close."""


def ttm_mmaps(ops: pl.DataFrame) -> pl.DataFrame:
    """Userspace mappings of TTM BOs (profiles/ttm.toml), which close through TTM's vm_ops
    (``ttm_bo_vm_close``), not ``drm_gem_vm_close``. What such a vma holds changed:

    - up to 6.12 at least, TTM's own kref: ``ttm_bo_mmap_obj`` takes it, ``drm_gem_ttm_mmap``
      gives back the GEM reference ``drm_gem_mmap_obj`` (or ``drm_gem_prime_mmap``) took, and
      ``ttm_bo_vm_close`` calls ``ttm_bo_put`` (:func:`_ttm_kref_mappings`);
    - by 6.18, a GEM reference: ``ttm_bo_mmap_obj`` takes one too, and ``ttm_bo_vm_close``
      puts it (``drm_gem_object_put``, no ``ttm_bo_put``): :func:`_ttm_gem_mappings`.

    A capture says which where a ``ttm_bo_vm_close`` shows: followed at once by the task's
    ``ttm_bo_put``, the vma held TTM's kref; otherwise a GEM reference."""
    closes = ops.filter((pl.col("op") == "call_enter") & (pl.col("func") == "ttm_bo_vm_close"))
    takeovers = ops.filter((pl.col("op") == "call_enter") & (pl.col("func") == "ttm_bo_mmap_obj"))
    if takeovers.height == 0 and closes.height == 0:
        return ops
    kref: set[str] = set()
    if closes.height:
        task = ["source", "pid"]
        nxt = (
            ops.select(*task, "op", "func")
            .join(closes.select(task).unique(), on=task, how="semi", maintain_order="left")
            .with_columns(
                _next_op=pl.col("op").shift(-1).over(task),
                _next_func=pl.col("func").shift(-1).over(task),
            )
            .filter((pl.col("op") == "call_enter") & (pl.col("func") == "ttm_bo_vm_close"))
        )
        kref = set(
            nxt.filter(
                (pl.col("_next_op") == "call_enter") & (pl.col("_next_func") == "ttm_bo_put")
            )["source"].to_list()
        )
    in_kref = pl.col("source").is_in(list(kref))
    ops = _ttm_kref_mappings(ops, in_kref)
    return _ttm_gem_mappings(ops, ~in_kref)


def _exports(ops: pl.DataFrame, *, at: str, obj: str, generation: str) -> pl.DataFrame:
    """The dma-buf exports (source, dmabuf, and the seq, object and generation under the names
    given), in seq order: for an as-of join, the object a dma-buf at an address was exported
    from at a point of the capture."""
    return (
        ops.filter((pl.col("op") == "dmabuf_export") & pl.col("object").is_not_null())
        .select(
            "source",
            "dmabuf",
            pl.col("seq").alias(at),
            pl.col("object").alias(obj),
            pl.col("generation").alias(generation),
        )
        .sort(at)
    )


def _ttm_gem_mappings(ops: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    """A TTM vma holding a GEM reference: the GEM mmap stands, and ``ttm_bo_vm_close`` is its
    munmap (the object's reference, the mapping and a dma-buf's file, as drm_gem_vm_close)."""
    closes = (
        ops.with_row_index("_i")
        .filter(
            where
            & (pl.col("op") == "call_enter")
            & (pl.col("func") == "ttm_bo_vm_close")
            & pl.col("vma").is_not_null()
        )
        .select("_i", "source", "vma", pl.col("seq").alias("_closed"))
    )
    if closes.height == 0:
        return ops
    maps = (
        ops.filter(where & pl.col("op").is_in(["mmap", "munmap"]) & pl.col("vma").is_not_null())
        .select(
            "source",
            "vma",
            "seq",
            "dmabuf",
            pl.col("object").alias("_object"),
            pl.col("generation").alias("_generation"),
            _mmap=pl.col("op") == "mmap",
        )
        .sort("seq")
    )
    # a dma-buf's mmap names the dma-buf: its object is the one the dma-buf was exported from
    exports = _exports(ops, at="_exported", obj="_exp_object", generation="_exp_generation")
    if exports.height:
        maps = (
            maps.join_asof(
                exports,
                left_on="seq",
                right_on="_exported",
                by=["source", "dmabuf"],
                strategy="backward",
                check_sortedness=False,
            )
            .with_columns(
                _object=pl.coalesce("_object", "_exp_object"),
                _generation=pl.coalesce("_generation", "_exp_generation"),
            )
            .select("source", "vma", "seq", "_object", "_generation", "_mmap")
        )
    ended = (
        closes.sort("_closed")
        .join_asof(
            maps,
            left_on="_closed",
            right_on="seq",
            by=["source", "vma"],
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_mmap").fill_null(False) & pl.col("_object").is_not_null())
    )
    if ended.height == 0:
        return ops
    rows = ops[ended["_i"].to_list()].with_columns(
        object=ended["_object"], generation=ended["_generation"]
    )
    return with_added(ops, _next_op_at(ops, rows, "munmap"))


def _ttm_kref_mappings(ops: pl.DataFrame, where: pl.Expr) -> pl.DataFrame:
    """A TTM vma holding TTM's kref, not a GEM reference: the GEM mmap is dropped, unless it
    maps a dma-buf: the vma still holds the dma-buf's file, put when it closes (after
    ``ttm_bo_vm_close``, in the same ``remove_vma``): it becomes that ``dmabuf_get`` (owner
    ``vma``), and the vma's close its ``dmabuf_put``. The mmap taken over is the task's last
    mmap or munmap of that vma before its ``ttm_bo_mmap_obj``, when that is an mmap (an
    address a closed vma had is not this one). A fork's or a split's copy of such a vma
    (``ttm_bo_vm_open``) takes the file too, unseen: not followed."""
    takeovers = ops.filter(
        where
        & (pl.col("op") == "call_enter")
        & (pl.col("func") == "ttm_bo_mmap_obj")
        & pl.col("vma").is_not_null()
    ).select("source", "pid", "vma", pl.col("seq").alias("_taken"))
    if takeovers.height == 0:
        return ops
    maps = (
        ops.with_row_index("_i")
        .filter(pl.col("op").is_in(["mmap", "munmap"]) & pl.col("vma").is_not_null())
        .select("_i", "source", "pid", "vma", "seq", "dmabuf", _mmap=pl.col("op") == "mmap")
        .sort("seq")
    )
    taken = (
        takeovers.sort("_taken")
        .join_asof(
            maps,
            left_on="_taken",
            right_on="seq",
            by=["source", "pid", "vma"],
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_mmap").fill_null(False))
        .unique("_i", keep="first", maintain_order=True)
    )
    if taken.height == 0:
        return ops
    files = taken.filter(pl.col("dmabuf").is_not_null())
    ops = ops.filter(
        ~pl.int_range(pl.len(), dtype=pl.UInt32).is_in(
            taken.filter(pl.col("dmabuf").is_null())["_i"].implode()
        )
    )
    if files.height == 0:
        return ops
    # (the rows kept keep their order: find the rewritten ones again by source and seq)
    at = files.select("source", "seq", "vma", _file=pl.lit(True))
    ops = ops.join(at, on=["source", "seq", "vma"], how="left", maintain_order="left")
    rewritten = pl.col("_file").fill_null(False) & (pl.col("op") == "mmap")
    ops = ops.with_columns(
        op=pl.when(rewritten)
        .then(pl.lit("dmabuf_get"))
        .otherwise(pl.col("op"))
        .cast(ops.schema["op"]),
        owner=pl.when(rewritten).then(pl.lit("vma")).otherwise(pl.col("owner")),
        **{c: pl.when(rewritten).then(None).otherwise(pl.col(c)) for c in ("object", "generation")},
    ).drop("_file")
    # each such vma's close: the first ttm_bo_vm_close of it after its mmap, in any task
    closes = (
        ops.with_row_index("_i")
        .filter(
            (pl.col("op") == "call_enter")
            & (pl.col("func") == "ttm_bo_vm_close")
            & pl.col("vma").is_not_null()
        )
        .select("_i", "source", "vma", pl.col("seq").alias("_closed"))
        .sort("_closed")
    )
    ended = (
        files.select("source", "vma", "dmabuf", "seq")
        .sort("seq")
        .join_asof(
            closes,
            left_on="seq",
            right_on="_closed",
            by=["source", "vma"],
            strategy="forward",
            check_sortedness=False,
        )
        .filter(pl.col("_i").is_not_null())
    )
    if ended.height == 0:
        return ops
    rows = ops[ended["_i"].to_list()].with_columns(dmabuf=ended["dmabuf"])
    added = _next_op_at(ops, rows, "dmabuf_put", owner=pl.lit("vma"), func=pl.lit(TTM_VMA_FILE))
    return with_added(ops, added)


def _shmem_objects(ops: pl.DataFrame) -> pl.DataFrame:
    """(source, object) of the objects some shmem helper event names."""
    return ops.filter(pl.col("profile") == "gem_shmem").select("source", "object").unique()


_ON_OBJECT = ("source", "seq", "pid", "object", "generation", "op", "func", "dmabuf")
"""The columns :func:`_on_object` keeps."""


def _on_object(
    ops: pl.DataFrame, objects: pl.DataFrame, calls: tuple[str, ...] = ()
) -> pl.DataFrame:
    """Each task's ops on the ``objects`` (source, object), in order, with the next one's op
    and func: the counting ops, and the call entries of ``calls`` (the dispatchers whose effect
    is in question). Only the columns that say so, and each op's row in ``ops`` (``_i``)."""
    keep = ~pl.col("op").is_in(CALLS) | (
        (pl.col("op") == "call_enter") & pl.col("func").is_in(calls)
    )
    key = ["source", "pid", "object"]
    return (
        ops.select(_ON_OBJECT)
        .with_row_index("_i")
        .filter(keep & pl.col("object").is_not_null())
        .join(objects.unique(), on=["source", "object"], how="semi", maintain_order="left")
        .sort(["source", "seq"], maintain_order=True)
        .with_columns(
            _next=pl.col("op").shift(-1).over(key),
            _next_func=pl.col("func").shift(-1).over(key),
        )
    )


VUNMAP_CALLS = (
    "drm_gem_vunmap",
    "drm_gem_vunmap_locked",
    "drm_gem_vunmap_unlocked",
    "drm_gem_dmabuf_vunmap",
)


def hidden_vunmaps(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the vunmap of a shmem object whose dispatcher call is not followed by the helper's
    own vunmap (the innermost dispatcher of the object decides)."""
    calls = ops.filter((pl.col("op") == "call_enter") & pl.col("func").is_in(VUNMAP_CALLS))
    if calls.height == 0:
        return ops
    objects = calls.select("source", "object").join(
        _shmem_objects(ops), on=["source", "object"], maintain_order="left"
    )
    if objects.height == 0:
        return ops
    seen = _on_object(ops, objects, VUNMAP_CALLS)
    hidden = seen.filter(
        (pl.col("op") == "call_enter")
        & ~pl.col("_next_func").is_in(VUNMAP_CALLS).fill_null(False)
        & pl.col("_next").ne_missing(pl.lit("vunmap"))
    )
    # only where the capture shows the object's vmaps: a probe set without the helper's vmap
    # (the rig's built-in template on 6.16+) shows neither, and a vunmap alone would be a
    # "vunmap with nothing mapped" that never happened
    key = ["source", "object", "generation"]
    first_vmap = (
        ops.filter(pl.col("op") == "vmap").group_by(key).agg(pl.col("seq").min().alias("_vmap"))
    )
    hidden = hidden.join(first_vmap, on=key, how="inner", maintain_order="left").filter(
        pl.col("_vmap") < pl.col("seq")
    )
    if hidden.height == 0:
        return ops
    added = _next_op_at(
        ops,
        ops[hidden["_i"].to_list()],
        "vunmap",
        func=pl.format("{} (vunmap, the helper inlined)", pl.col("func")),
    )
    return with_added(ops, added)


def hidden_detach_unpins(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the unpin of a PRIME detach whose attach pinned the exporter's object but which
    shows no unpin of it."""
    attach_calls = ("drm_gem_map_attach",)
    detaches = ops.filter(
        (pl.col("op") == "call_enter")
        & (pl.col("func") == "drm_gem_map_detach")
        & pl.col("dmabuf").is_not_null()
    )
    if detaches.height == 0:
        return ops
    attaches = ops.filter((pl.col("op") == "call_enter") & pl.col("func").is_in(attach_calls))
    seen = _on_object(ops, attaches.select("source", "object"), attach_calls)
    # the attaches that pinned: the task's next op on the object is a pin
    pinned = (
        seen.filter((pl.col("func") == "drm_gem_map_attach") & (pl.col("_next") == "pin"))
        .filter(pl.col("dmabuf").is_not_null())
        .select(
            "source",
            "dmabuf",
            pl.col("seq").alias("_attach_seq"),
            pl.col("object").alias("_obj"),
            pl.col("generation").alias("_gen"),
        )
        .sort("_attach_seq")
    )
    if pinned.height == 0:
        return ops
    # each detach's exporter object: the one its dma-buf's latest pinning attach pinned
    linked = (
        detaches.sort("seq")
        .join_asof(
            pinned,
            left_on="seq",
            right_on="_attach_seq",
            by=["source", "dmabuf"],
            strategy="backward",
            check_sortedness=False,  # sorted by seq; within each dma-buf too
        )
        .filter(pl.col("_obj").is_not_null())
    )
    if linked.height == 0:
        return ops
    # ... unless the task's next op on that object, after the detach, is its unpin
    pinned_objects = linked.select("source", pl.col("_obj").alias("object")).unique()
    after = (
        ops.select("source", "pid", "object", "seq", "op")
        .filter(~pl.col("op").is_in(CALLS) & pl.col("object").is_not_null())
        .join(pinned_objects, on=["source", "object"], how="semi", maintain_order="left")
        .select(
            "source",
            "pid",
            pl.col("object").alias("_obj"),
            pl.col("seq").alias("_after_seq"),
            pl.col("op").alias("_after_op"),
        )
        .sort("_after_seq")
    )
    linked = (
        linked.with_columns(pl.col("seq").alias("_from"))
        .sort("_from")
        .join_asof(
            after,
            left_on="_from",
            right_on="_after_seq",
            by=["source", "pid", "_obj"],
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .filter(pl.col("_after_op").ne_missing(pl.lit("unpin")))
    )
    if linked.height == 0:
        return ops
    added = _next_op_at(
        ops,
        linked.with_columns(object=pl.col("_obj"), generation=pl.col("_gen")).select(ops.columns),
        "unpin",
        func=pl.lit("drm_gem_map_detach (unpin, inlined)"),
    )
    return with_added(ops, added)


def pin_pages(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the pages reference a shmem pin takes when no get_pages event shows it: every pin's
    in a capture where none shows (6.12), else a first pin's; and the put of a last unpin the
    same way."""
    shmem = _shmem_objects(ops)
    pins = ops.filter(pl.col("op").is_in(["pin", "unpin"])).join(
        shmem, on=["source", "object"], how="semi", maintain_order="left"
    )
    if pins.height == 0:
        return ops
    key = ["source", "object", "generation"]
    # the object's pin count before each pin or unpin (pages_pin_count; 0 before the first)
    delta = pl.when(pl.col("op") == "pin").then(1).otherwise(-1)
    pins = pins.sort(["source", "seq"], maintain_order=True).with_columns(
        _before=(delta.cum_sum() - delta).over(key)
    )
    # the pages op the pin made, if probed, is the task's next op, and on that object: a pages
    # op of a later call (an mmap's) is the next op *on the object* too
    task = ["source", "pid"]
    nxt = (
        ops.select("source", "seq", "pid", "object", "op")
        .filter(~pl.col("op").is_in(CALLS) & pl.col("object").is_not_null())
        .sort(["source", "seq"], maintain_order=True)
        .with_columns(
            _next=pl.col("op").shift(-1).over(task),
            _next_object=pl.col("object").shift(-1).over(task),
        )
        .filter(pl.col("_next_object") == pl.col("object"))
    )
    out = [ops]
    for pin, pages, before in (("pin", "get_pages", 0), ("unpin", "put_pages", 1)):
        shown = nxt.filter((pl.col("op") == pin) & (pl.col("_next") == pages)).select(
            "source", "seq"
        )
        counted = pl.col("_before") == before
        if pin == "pin":
            # a capture none of whose pins shows its get_pages: the kernel inlines it, and
            # has no pages_pin_count yet (6.12): every pin takes pages
            inlined = pl.col("source").is_in(shown["source"].unique().implode()).not_()
            counted = counted | inlined
        missing = pins.filter((pl.col("op") == pin) & counted).join(
            shown, on=["source", "seq"], how="anti", maintain_order="left"
        )
        if missing.height:
            out.append(
                _next_op_at(
                    ops,
                    missing.select(ops.columns),
                    pages,
                    func=pl.format("{} (pages reference, no event)", pl.col("func")),
                    pages_use_count=pl.lit(None, pl.Int64),
                )
            )
    return with_added(*out)


def framebuffer_objects(ops: pl.DataFrame) -> pl.DataFrame:
    """Name the objects a framebuffer destroy puts, claim their lookups, and add 6.12.y
    framebuffer handle refs."""
    destroys = ops.filter((pl.col("op") == "put") & (pl.col("owner") == "fb"))
    if destroys.height == 0:
        return ops
    # (a) objects the framebuffer mapped: drm_gem_fb_vmap(fb) -> drm_gem_vmap(obj) inside it
    fb_calls = ops.filter(
        pl.col("func").is_in(["drm_gem_fb_vmap", "drm_gem_fb_vunmap"]) & pl.col("fb").is_not_null()
    )
    inner = ops.filter(pl.col("object").is_not_null()).select(
        "source",
        pl.col("call").alias("line"),
        pl.col("object").alias("_obj"),
        pl.col("generation").alias("_gen"),
    )
    # a framebuffer's address is used again by a later one: a vmap names the objects of the
    # framebuffer that the next destroy at its address puts, not of every one there
    by_vmap = (
        _next_destroy(
            fb_calls.join(inner, on=["source", "line"], maintain_order="left").select(
                "source", "fb", "seq", "_obj", "_gen"
            ),
            "seq",
            destroys,
        )
        .select("source", "fb", "_dseq", "_obj", "_gen")
        .unique()
    )
    # (b) a handle put right after the destroy, by the same task: the framebuffer's handle
    task_ops = (
        ops.filter(~pl.col("op").is_in(CALLS))
        .sort(["source", "seq"])
        .with_columns(
            _next_op=pl.col("op").shift(-1).over(["source", "pid"]),
            _next_obj=pl.col("object").shift(-1).over(["source", "pid"]),
            _next_gen=pl.col("generation").shift(-1).over(["source", "pid"]),
        )
    )
    handle_after = task_ops.filter(
        (pl.col("op") == "put") & (pl.col("owner") == "fb") & (pl.col("_next_op") == "handle_put")
    )
    # evidence is per capture: a 6.1 capture replayed with a 6.12 one keeps its own semantics
    fb_handle_sources = handle_after.select("source").unique()
    by_handle = handle_after.select(
        "source",
        "fb",
        pl.col("seq").alias("_dseq"),
        pl.col("_next_obj").alias("_obj"),
        pl.col("_next_gen").alias("_gen"),
    )
    by_init = _init_links(ops, destroys)
    links = pl.concat([by_vmap, by_handle, by_init.drop("_lseq")]).unique(maintain_order=True)
    named = (
        destroys.drop("object", "generation")
        .join(
            links,
            left_on=["source", "fb", "seq"],
            right_on=["source", "fb", "_dseq"],
            how="inner",
            maintain_order="left",
        )
        .with_columns(object=pl.col("_obj"), generation=pl.col("_gen"))
        .drop("_obj", "_gen")
        .select(ops.columns)
    )
    rest = ops.join(
        named.select("source", "seq").unique(),
        on=["source", "seq"],
        how="anti",
        maintain_order="left",
    )
    ops = pl.concat([rest, named]).sort(["source", "seq"], maintain_order=True)
    ops = _claim_lookups(ops, by_init.select("source", "_lseq", "_obj", "fb"))
    if fb_handle_sources.height:
        lookups = ops.filter((pl.col("op") == "get") & (pl.col("owner") == "fb")).join(
            fb_handle_sources, on="source", how="semi", maintain_order="left"
        )
        ops = with_added(
            ops,
            _next_op_at(
                ops,
                lookups,
                "handle_get",
                func=pl.lit("drm_gem_fb_init_with_funcs (handle reference, no event)"),
            ),
        )
    return ops


def _next_destroy(rows: pl.DataFrame, at: str, destroys: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with ``source`` and ``fb``) that a destroy at their framebuffer's address
    follows after their seq ``at``, with that destroy's seq (``_dseq``): the next one only, as a
    later framebuffer may have the address again."""
    return (
        rows.sort(at)
        .join_asof(
            destroys.select("source", "fb", pl.col("seq").alias("_dseq")).sort("_dseq"),
            left_on=at,
            right_on="_dseq",
            by=["source", "fb"],
            strategy="forward",
            check_sortedness=False,
        )
        .filter(pl.col("_dseq").is_not_null())
    )


def _init_links(ops: pl.DataFrame, destroys: pl.DataFrame) -> pl.DataFrame:
    """``(source, fb, _dseq, _obj, _gen, _lseq)``: the objects a framebuffer's
    ``drm_framebuffer_init`` names, for the next destroy at its address, and their lookups. ``drm_gem_fb_init_with_funcs`` looks each
    plane's object up, then (``drm_gem_fb_init``) calls ``drm_framebuffer_init(dev, fb, funcs)``:
    the task's lookups for a framebuffer in the ioctl that made it are that framebuffer's. (A
    probe ``tracekit record`` and the extended template have; the rig's own does not.)"""
    empty = pl.DataFrame(
        schema={
            "source": ops.schema["source"],
            "fb": ops.schema["fb"],
            "_dseq": ops.schema["seq"],
            "_obj": ops.schema["object"],
            "_gen": ops.schema["generation"],
            "_lseq": ops.schema["seq"],
        }
    )
    inits = ops.filter((pl.col("func") == "drm_framebuffer_init") & pl.col("fb").is_not_null())
    if inits.height == 0:
        return empty
    lookups = ops.filter(
        (pl.col("op") == "get") & (pl.col("owner") == "fb") & pl.col("object").is_not_null()
    )
    # the lookup's ioctl: the task's next return to userspace must come after the init
    exits = ops.filter(pl.col("op").is_in(["syscall_exit", "ioctl_exit"])).select(
        "source", "pid", pl.col("seq").alias("_xseq")
    )

    def task_next(rows: pl.DataFrame, later: pl.DataFrame, at: str) -> pl.DataFrame:
        """``rows`` with the task's next of ``later`` (its seq: ``at``)."""
        return rows.join_asof(
            later.sort(at),
            left_on="seq",
            right_on=at,
            by=["source", "pid"],
            strategy="forward",
            check_sortedness=False,
        )

    return (
        lookups.select("source", "pid", "seq", "object", "generation")
        .sort("seq")
        .pipe(task_next, inits.select("source", "pid", pl.col("seq").alias("_iseq"), "fb"), "_iseq")
        .pipe(task_next, exits, "_xseq")
        .filter(
            pl.col("_iseq").is_not_null()
            & (pl.col("_xseq").is_null() | (pl.col("_xseq") > pl.col("_iseq")))
        )
        .pipe(_next_destroy, "_iseq", destroys)
        .select(
            "source",
            "fb",
            "_dseq",
            pl.col("object").alias("_obj"),
            pl.col("generation").alias("_gen"),
            pl.col("seq").alias("_lseq"),
        )
        .cast(empty.schema)
    )


def _claim_lookups(ops: pl.DataFrame, known: pl.DataFrame) -> pl.DataFrame:
    """Give each framebuffer lookup that a named destroy takes that framebuffer's address
    (``fb``): the engines keep only the others for the destroys that name nothing.

    ``drm_gem_fb_destroy`` puts the ``obj[]`` that ``drm_gem_fb_init_with_funcs`` looked up,
    and that init ran after the framebuffer was allocated, so after the destroy of the one that
    had its address before. A destroy named by its framebuffer's vmap or handle put takes the
    oldest lookup of its object that is later than that destroy and not taken yet (per source).
    Without the claim, a destroy that names nothing, earlier, takes that lookup as the task's
    oldest (``random_s17`` on 6.1: three framebuffers on one file, only the scanned-out one
    mapped). A lookup ``drm_framebuffer_init`` tied to its framebuffer (``known``: ``source``,
    ``_lseq``, ``_obj``, ``fb``) is that framebuffer's destroy's, and no other's."""
    tied = {(source, seq, obj): address for source, seq, obj, address in known.iter_rows()}
    fb = pl.col("owner") == "fb"
    op = pl.col("op")
    rows = ops.filter(
        fb & (((op == "get") & pl.col("object").is_not_null()) | (op == "put"))
    ).select("source", "seq", "op", "object", "generation", "fb")
    if rows.filter((op == "put") & pl.col("object").is_not_null()).height == 0:
        return ops
    # per (source, object, generation): its lookups not taken yet, (seq, the framebuffer
    # drm_framebuffer_init tied it to)
    pending: dict[tuple[str, int, int | None], list[tuple[int, int | None]]] = defaultdict(list)
    # per (source, framebuffer address): the seq of its last destroy, and of the one before
    last: dict[tuple[str, int], int] = {}
    before: dict[tuple[str, int], int] = {}
    claims: list[tuple[str, int, int, int]] = []
    for source, seq, kind, obj, gen, address in rows.iter_rows():  # a few per framebuffer
        key = (source, obj, gen)
        if kind == "get":
            pending[key].append((seq, tied.get((source, seq, obj))))
            continue
        at = (source, address)
        if address is not None and last.get(at) != seq:  # (one row per object it puts)
            if at in last:
                before[at] = last[at]
            last[at] = seq
        if obj is None:
            continue
        since = before.get(at, -1) if address is not None else -1
        lookup = next((e for e in pending[key] if e[1] == address), None) or next(
            (e for e in pending[key] if e[1] is None and e[0] > since), None
        )
        if lookup is not None:
            pending[key].remove(lookup)
            claims.append((source, lookup[0], obj, address))
    if not claims:
        return ops
    claimed = pl.DataFrame(
        claims,
        schema={
            **{c: ops.schema[c] for c in ("source", "seq", "object")},
            "_fb": ops.schema["fb"],
        },
        orient="row",
    ).with_columns(op=pl.lit("get").cast(ops.schema["op"]))
    # (a lookup is one get of one object at its seq; rows added at that seq are other ops)
    return (
        ops.join(
            claimed,
            on=["source", "seq", "op", "object"],
            how="left",
            maintain_order="left",
        )
        .with_columns(fb=pl.coalesce("_fb", "fb"))
        .drop("_fb")
    )


UNSEEN_FD = "(an fd of the dma-buf installed unseen)"
"""The end of the ``func`` of the ``dmabuf_fd`` ops :func:`hidden_fds` adds."""
SYSCALL_OPS = ("syscall_enter", "syscall_exit", "fd_close", "task_exit")
"""The ops of a task's syscalls (profiles/syscalls.toml)."""
TRACED_SYSCALL = pl.col("op").is_in(SYSCALL_OPS) & pl.col("func").str.starts_with("sys_")
"""A syscall tracepoint's op: a trace_marker write is a syscall_enter too, but says nothing of
whether the task's syscalls (its closes) are traced."""


def _last_syscall(rows: pl.DataFrame, syscalls: pl.DataFrame) -> pl.DataFrame:
    """``rows`` with their task's last traced syscall before each: its seq (``_at``), its
    tracepoint (``_sys``) and its row (``_sys_i``). ``syscalls``: the :data:`TRACED_SYSCALL` rows
    of the ops, numbered (``_i``)."""
    return rows.join_asof(
        syscalls.select(
            "source",
            "pid",
            pl.col("seq").alias("_at"),
            pl.col("func").alias("_sys"),
            pl.col("_i").alias("_sys_i"),
        ).sort("_at"),
        left_on="seq",
        right_on="_at",
        by=["source", "pid"],
        strategy="backward",
        allow_exact_matches=False,  # (no op shares its event, and its seq, with a syscall's)
        check_sortedness=False,
    )


def hidden_fds(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the ``dmabuf_fd`` of an fd a task is seen using on a dma-buf but was never seen to
    get: ``dma_buf_get(fd)`` (an import), or an ``mmap(fd)`` whose dma-buf mmap callback runs
    (``dma_buf_mmap_internal``, the dma-buf file's own ``mmap``).

    ``dup``, ``dup2``, ``fcntl(F_DUPFD)``, ``SCM_RIGHTS`` and ``fork`` install fds that take a
    file reference (``get_file``) with no event, and the rig traces none of those syscalls. The
    added op counts that reference where the fd is first used (the oracle does not compare the
    dma-buf's ``f_count`` from its export to the next sample after it, since when the fd was made
    is unknown) and ties the fd to the dma-buf, so that closing it (or the task's exit) puts it.
    Only for tasks whose syscalls are traced: a task whose closes are unseen could not give the
    reference back. Fds are looked up in the task's process's table where the capture says
    which process it is in (a thread uses the fds its process's other threads got: no reference
    is taken), else in the task's own."""
    is_get = (
        (pl.col("op") == "dmabuf_get")
        & (pl.col("func") == "dma_buf_get")
        & pl.col("count").is_not_null()
    )
    is_mmap = (pl.col("op") == "call_enter") & (pl.col("func") == "dma_buf_mmap_internal")
    indexed = ops.select(
        "source", "pid", "seq", "op", "func", "count", "dmabuf", _table=FD_TABLE
    ).with_row_index("_i")
    syscalls = indexed.filter(TRACED_SYSCALL)
    # an mmap's dma-buf callback: its fd is the task's last syscall's, when that is the mmap
    mmaps = indexed.filter(is_mmap)
    if mmaps.height:
        mmaps = (
            _last_syscall(mmaps.drop("count"), syscalls)
            .filter(pl.col("_sys") == "sys_enter_mmap")
            .join(
                indexed.select(pl.col("_i").alias("_sys_i"), "count"),
                on="_sys_i",
                how="left",
                maintain_order="left",
            )
            .filter(pl.col("count").is_not_null())
        )
    columns = ("_i", "source", "pid", "seq", "count", "dmabuf", "_table")
    uses = pl.concat([indexed.filter(is_get).select(columns), mmaps.select(columns)]).filter(
        pl.col("dmabuf").is_not_null()
    )
    if uses.height == 0:
        return ops
    # of the tasks whose syscalls are traced, and only what moves the fds of their tables
    traced = syscalls.select("source", "pid").unique()
    uses = uses.join(traced, on=["source", "pid"], how="semi", maintain_order="left")
    if uses.height == 0:
        return ops
    tables = uses.select("source", "_table").unique()
    moves = indexed.filter(pl.col("op").is_in(["dmabuf_fd", "fd_close", "task_exit"])).join(
        tables, on=["source", "_table"], how="semi", maintain_order="left"
    )
    releases = indexed.filter(pl.col("op") == "dmabuf_release").join(
        uses.select("source", "dmabuf").unique(),
        on=["source", "dmabuf"],
        how="semi",
        maintain_order="left",
    )
    steps = pl.concat(
        [
            uses.with_columns(op=pl.lit("use")),
            *(f.select(*columns, pl.col("op").cast(pl.String)) for f in (moves, releases)),
        ]
    ).sort("_i")
    fds: dict[tuple[str, int, int], int] = {}  # (source, fd table, fd) -> dma-buf
    added: list[tuple[int, int]] = []  # (row, fd)
    for i, source, table, fd, db, op in steps.select(
        "_i", "source", "_table", "count", "dmabuf", "op"
    ).iter_rows():
        if op == "use":
            if fds.get((source, table, fd)) != db:
                fds[(source, table, fd)] = db
                added.append((i, fd))
        elif op == "dmabuf_fd":
            if fd is not None and db is not None:
                fds[(source, table, fd)] = db
        elif op == "fd_close":
            fds.pop((source, table, fd), None)
        elif op == "task_exit":
            for key in [k for k in fds if k[:2] == (source, table)]:
                del fds[key]
        else:  # released: every fd of it was closed
            for key in [k for k, v in fds.items() if v == db and k[0] == source]:
                del fds[key]
    if not added:
        return ops
    rows, fd_numbers = zip(*added, strict=True)
    at = ops[list(rows)].with_columns(count=pl.Series(fd_numbers, dtype=pl.Int64))
    extra = _next_op_at(
        ops,
        at,
        "dmabuf_fd",
        func=pl.format("{} {}", pl.col("func"), pl.lit(UNSEEN_FD)),
        **_cleared(*_NO_OBJECT, "owner"),
    )
    return with_added(ops, extra)


O_CLOEXEC = 0x80000
FORK_COPY = "dup_fd (the fork's copy of the parent's fd)"
"""The ``func`` of the ``dmabuf_fd`` ops :func:`task_fds` adds for a child."""
EXEC_CLOSE_TRACED = "do_close_on_exec (a close-on-exec fd)"
"""The ``func`` of the ``fd_close`` ops :func:`task_fds` adds at a traced exec."""
_IS_FORK = (pl.col("op") == "call_enter") & (pl.col("func") == "wake_up_new_task")
_IS_EXEC = (pl.col("op") == "call_enter") & (pl.col("func") == "do_close_on_exec")
_IS_COPY = (pl.col("op") == "call_exit") & (pl.col("func") == "dup_fd")


def thread_groups(ops: pl.DataFrame) -> pl.DataFrame:
    """Fill ``tgid`` where the lines do not show it (no ``options/record-tgid``), from the
    forks the capture probes (profiles/tasks.toml).

    A task woken by ``wake_up_new_task`` with the fd table its parent's ``dup_fd`` just returned
    is a new process with a copy of the table; woken with any other table, it shares its
    parent's (``CLONE_FILES``: a thread, which ``pthread_create`` always makes), and is counted
    in its parent's process. Each task keeps what the lines say, where they say it; a line of a
    task the kernel had not recorded yet (``(-------)``) takes what the task's nearest lines say
    (a task's process never changes; a pid reused later may be another process's)."""
    missing = ops["tgid"].null_count()
    if missing == 0:
        return ops
    if missing < ops.height:
        ops = ops.with_columns(
            tgid=pl.col("tgid").forward_fill().backward_fill().over("source", "pid")
        )
    if ops["tgid"].null_count() == 0 or not ops.select(_IS_FORK.any()).item():
        return ops
    steps = ops.select(
        "source", "pid", "tgid", "count", "address", is_fork=_IS_FORK, is_copy=_IS_COPY
    ).filter(pl.col("is_fork") | pl.col("is_copy"))
    group: dict[tuple[str, int], int] = {}  # task -> its process
    copied: dict[tuple[str, int], int] = {}  # task -> the table its last dup_fd returned
    for source, pid, tgid, child, table, is_fork, _ in steps.iter_rows():
        task = (source, pid)
        if not is_fork:
            if table is not None:
                copied[task] = table
            continue
        if child is None or pid is None:
            continue
        parent = tgid if tgid is not None else group.get(task, pid)
        if table is not None and copied.pop(task, None) == table:
            group[(source, child)] = child
        else:
            group.setdefault(task, parent)
            group[(source, child)] = parent
    if not group:
        return ops
    known = pl.DataFrame(
        {
            "source": [k[0] for k in group],
            "pid": [k[1] for k in group],
            "_tgid": list(group.values()),
        },
        schema={"source": pl.String, "pid": pl.Int32, "_tgid": pl.Int32},
    )
    return (
        ops.join(known, on=["source", "pid"], how="left", maintain_order="left")
        .with_columns(tgid=pl.coalesce("tgid", "_tgid"))
        .drop("_tgid")
    )


THREAD_EXIT = "sys_enter_exit"


def thread_exits(ops: pl.DataFrame) -> pl.DataFrame:
    """A task's own ``exit`` (``SYS_exit``, how a thread ends: ``pthread_exit``, or returning
    from its start routine) closes the fd table only when no other task still uses it: do_exit
    -> exit_files -> put_files_struct closes every fd on the last put. Where the capture says
    which process the task is in, an ``exit`` after which another task of that process still
    does something closes nothing: it stays a boundary of the task (what its calls borrowed is
    gone), as a ``syscall_enter``. ``exit_group`` ends every thread, and the table with them."""
    exits = (pl.col("op") == "task_exit") & (pl.col("func") == THREAD_EXIT)
    if not ops.select((exits & pl.col("tgid").is_not_null()).any()).item():
        return ops
    last = (
        ops.filter(pl.col("tgid").is_not_null())
        .group_by("source", "tgid", "pid")
        .agg(pl.col("seq").max().alias("_last"))
    )
    ending = (
        ops.with_row_index("_i")
        .filter(exits & pl.col("tgid").is_not_null())
        .select("_i", "source", "tgid", "pid", "seq")
        .join(last, on=["source", "tgid"], suffix="_other", maintain_order="none")
        .filter((pl.col("pid_other") != pl.col("pid")) & (pl.col("_last") > pl.col("seq")))
    )
    shared = np.zeros(ops.height, np.bool_)
    shared[ending["_i"].unique().to_numpy()] = True
    if not shared.any():
        return ops
    return ops.with_columns(
        op=pl.when(pl.Series(shared)).then(pl.lit("syscall_enter", OPS["op"])).otherwise("op")
    )


def task_fds(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the dma-buf fds a fork copies to its child, and the ``fd_close`` of each
    close-on-exec dma-buf fd an exec closes, where the capture probes them (profiles/tasks.toml).

    A fork copies the parent's fd table unless ``CLONE_FILES`` shares it, and the copy takes a
    reference on every open file (``dup_fd``: ``get_file``); the copy is the ``files_struct``
    ``dup_fd`` returned, and the child is the task ``wake_up_new_task`` then wakes with that
    table (a thread wakes with its parent's own: nothing is copied). Each of the parent's
    dma-buf fds open at the fork is added as a ``dmabuf_fd`` of the child, at the fork's event
    and with the parent's ``open_flags``. The child's exit (``exit_files`` of its last use of the
    table: a ``task_exit``) then closes them, as it does the fds the child opened itself.

    ``do_close_on_exec`` runs in an exec once the task's table is its own: each fd of the task
    whose ``dma_buf_fd`` showed ``O_CLOEXEC`` is closed there (:func:`exec_closed_fds` infers
    the same where no exec is probed). A parent's fd the capture never saw installed is not
    copied: :func:`hidden_fds` adds it where the child uses it."""
    if not ops.select((_IS_FORK | _IS_EXEC).any()).item():
        return ops
    indexed = ops.select(
        "source",
        "pid",
        "seq",
        "op",
        "func",
        "count",
        "dmabuf",
        "open_flags",
        "address",
        _table=FD_TABLE,
    ).with_row_index("_i")
    steps = indexed.filter(
        pl.col("op").is_in(["dmabuf_fd", "fd_close", "task_exit", "dmabuf_release"])
        | _IS_FORK
        | _IS_EXEC
        | _IS_COPY
    ).with_columns(
        kind=pl.when(_IS_FORK)
        .then(pl.lit("fork"))
        .when(_IS_EXEC)
        .then(pl.lit("exec"))
        .when(_IS_COPY)
        .then(pl.lit("copy"))
        .otherwise(pl.col("op").cast(pl.String))
    )
    fds: dict[tuple[str, int], dict[int, tuple[int, int | None]]] = {}  # task -> fd -> (db, flags)
    copied: dict[tuple[str, int], int] = {}  # task -> the table its last dup_fd returned
    opened: list[tuple[int, int, int, int, int | None]] = []  # (row, child, fd, db, flags)
    closed: list[tuple[int, int, int]] = []  # (row, fd, db)
    for i, source, pid, fd, db, flags, table, kind, fd_key in steps.select(
        "_i", "source", "pid", "count", "dmabuf", "open_flags", "address", "kind", "_table"
    ).iter_rows():
        task = (source, pid)
        # the fd table the task uses: its process's where the capture says (thread_groups)
        own_table = (source, fd_key)
        if kind == "copy":
            if table is not None:
                copied[task] = table
        elif kind == "fork":
            # fd: the child's pid; the child's table is the parent's copy, or shared
            if fd is None or table is None or copied.pop(task, None) != table:
                continue
            child = (source, fd)
            fds[child] = dict(fds.get(own_table, {}))
            for number, (dmabuf, how) in sorted(fds[child].items()):
                opened.append((i, fd, number, dmabuf, how))
        elif kind == "exec":
            own = fds.get(own_table, {})
            for number, (dmabuf, how) in sorted(own.items()):
                if how is not None and how & O_CLOEXEC:
                    closed.append((i, number, dmabuf))
                    del own[number]
        elif kind == "dmabuf_fd":
            if fd is not None and db is not None:
                fds.setdefault(own_table, {})[fd] = (db, flags)
        elif kind == "fd_close":
            fds.get(own_table, {}).pop(fd, None)
        elif kind == "task_exit":
            fds.pop(own_table, None)
        else:  # released: every fd of it was closed
            for own in fds.values():
                for number in [n for n, (d, _) in own.items() if d == db]:
                    del own[number]
    none = _cleared(*_NO_OBJECT, "file", "address", "owner")
    added = []
    if opened:
        rows, children, numbers, dmabufs, copied_flags = zip(*opened, strict=True)
        at = ops[list(rows)].with_columns(
            # the child is a process of its own: the copy is its table
            pid=pl.Series(children, dtype=pl.Int32),
            tgid=pl.Series(children, dtype=pl.Int32),
            count=pl.Series(numbers, dtype=pl.Int64),
            dmabuf=pl.Series(dmabufs, dtype=pl.UInt64),
            open_flags=pl.Series(copied_flags, dtype=pl.Int64),
        )
        added.append(_next_op_at(ops, at, "dmabuf_fd", func=pl.lit(FORK_COPY), **none))
    if closed:
        rows, numbers, dmabufs = zip(*closed, strict=True)
        at = ops[list(rows)].with_columns(
            count=pl.Series(numbers, dtype=pl.Int64), dmabuf=pl.Series(dmabufs, dtype=pl.UInt64)
        )
        added.append(
            _next_op_at(
                ops,
                at,
                "fd_close",
                func=pl.lit(EXEC_CLOSE_TRACED),
                **none,
                **_cleared("open_flags"),
            )
        )
    return with_added(ops, *added)


EXEC_CLOSE = "execve (a close-on-exec fd, closed with no close seen)"
"""The ``func`` of the ``fd_close`` ops :func:`exec_closed_fds` adds."""
KILLED = "do_exit (a fatal signal: the task's files released with no exit seen)"
"""The ``func`` of the ``task_exit`` ops :func:`exec_closed_fds` adds for a killed task."""
_QUIET_SYSCALLS = ("sys_enter_ioctl", "sys_exit_ioctl", "sys_enter_mmap", "sys_exit_mmap")
"""Traced syscalls that drop no file reference: a DRM file released after one of them was
released by a later syscall the capture does not show."""
_EXEC_SYSCALLS = ("sys_enter_execve", "sys_exit_execve", "sys_enter_execveat", "sys_exit_execveat")


def exec_closed_fds(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the ``fd_close`` of each close-on-exec dma-buf fd an exec closes.

    ``execve`` closes every fd opened with ``O_CLOEXEC`` (``do_close_on_exec``): no ``close``
    runs, and unless it holds the last reference the dma-buf shows no event. The rig traces no
    ``execve``, but an exec shows where the task also had a close-on-exec DRM fd (libdrm opens
    them so): that file is released (``drm_gem_release``) right after the task's last traced
    syscall was one that drops no file (an ioctl, an mmap), or an ``execve`` where that is traced.
    A ``close``, a ``munmap`` (a GEM mapping holds its DRM file) or an exit before the release
    explains it instead, and nothing is added. A fatal signal (``SIGKILL``) shows the same way:
    the task dies in ``do_exit`` with no syscall of its own, and its files go. It is told from an
    exec by what follows: the program an exec started makes syscalls of its own (at least its
    ``exit_group``), a killed task none. There a ``task_exit`` is added (:data:`KILLED`), which
    closes every fd of the task. A ``dup2`` onto a DRM fd or a ``close_range``, untraced too,
    would be read as an exec: DRM clients rarely do either.

    The closes are added just before the exec's first release, for the task's dma-buf fds whose
    ``dma_buf_fd`` showed ``O_CLOEXEC``: the exec drops each fd's reference at once (``filp_close``
    -> ``fput``) and runs the releases only on its way back to userspace (the deferred
    ``__fput``), so every close comes before any release it shows. A dma-buf fd made unseen
    (:func:`hidden_fds`) has no known flags and stays open."""
    is_cloexec = (
        (pl.col("op") == "dmabuf_fd")
        & pl.col("open_flags").is_not_null()
        & ((pl.col("open_flags") & O_CLOEXEC) != 0)
    )
    tasks = (
        ops.filter(pl.col("op") == "dmabuf_fd")
        .select("source", "pid")
        .unique()
        # where the exec is probed, task_fds closed its fds there
        .join(
            ops.filter(_IS_EXEC).select("source", "pid"),
            on=["source", "pid"],
            how="anti",
            maintain_order="left",
        )
    )
    if tasks.height == 0:
        return ops
    indexed = ops.select(
        "source", "pid", "seq", "op", "func", "count", "dmabuf", "open_flags"
    ).with_row_index("_i")
    own = indexed.join(tasks, on=["source", "pid"], how="semi", maintain_order="left")
    # DRM files released after a syscall that drops no file, or after an execve
    syscalls = own.filter(TRACED_SYSCALL)
    releases = (
        _last_syscall(
            own.filter(pl.col("op") == "file_close").select("_i", "source", "pid", "seq"),
            syscalls,
        )
        .filter(pl.col("_sys").is_in([*_QUIET_SYSCALLS, *_EXEC_SYSCALLS]))
        # the task goes on making syscalls: an exec; or it makes none: a fatal signal
        .join(
            syscalls.group_by("source", "pid").agg(pl.col("seq").max().alias("_last")),
            on=["source", "pid"],
            maintain_order="left",
        )
    )
    deaths = (
        releases.filter(pl.col("_last") < pl.col("seq"))
        .group_by("source", "pid")
        .agg(pl.col("_i").min())
        .sort("_i")
    )
    releases = releases.filter(pl.col("_last") > pl.col("seq")).drop("_last")
    killed = []
    if deaths.height:
        killed.append(
            _next_op_at(
                ops,
                ops[deaths["_i"].to_list()],
                "task_exit",
                func=pl.lit(KILLED),
                **_cleared(*_NO_OBJECT, "file", "owner", "open_flags", "count", "dmabuf"),
            )
        )
    if releases.height == 0:
        return with_added(ops, *killed, before=True)
    # one exec per syscall it followed: its first release
    execs = releases.group_by("source", "pid", "_at").agg(
        pl.col("seq").min().alias("_exec"), pl.col("_i").min()
    )
    # the fds: each fd number's last dma_buf_fd before the exec, if that one was close-on-exec
    closed = (
        own.filter(pl.col("op") == "dmabuf_fd")
        .select("source", "pid", "seq", "count", "dmabuf", _cloexec=is_cloexec)
        .join(execs, on=["source", "pid"], maintain_order="left")
        .filter(pl.col("seq") < pl.col("_exec"))
        .sort("seq")
        .group_by("_i", "_exec", "count")
        .agg(pl.col("dmabuf").last(), pl.col("_cloexec").last())
        .filter(pl.col("_cloexec"))
        .sort("_i", "count")
    )
    if closed.height == 0:
        return with_added(ops, *killed, before=True)
    # each close is the exec's first release's event (its seq and line), placed just before it
    at = ops[closed["_i"].to_list()].with_columns(count=closed["count"], dmabuf=closed["dmabuf"])
    extra = _next_op_at(
        ops,
        at,
        "fd_close",
        func=pl.lit(EXEC_CLOSE),
        **_cleared(*_NO_OBJECT, "file", "owner", "open_flags"),
    )
    return with_added(ops, extra, *killed, before=True)


FD_TO_HANDLE = ("drm_gem_prime_fd_to_handle", "drm_prime_fd_to_handle_ioctl")
SELF_IMPORT = "drm_gem_prime_fd_to_handle (self-import reference, the import not probed)"
"""The ``func`` of the ``get`` ops :func:`hidden_self_imports` adds."""
_IMPORT_OPS = ("get", "dmabuf_import", "create", "handle_create")


def hidden_self_imports(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the reference a PRIME import of a device's own dma-buf takes when the capture does not
    show the import: a handle is made, in a ``PRIME_FD_TO_HANDLE`` call, on the very object the
    dma-buf it looked up exports, with no import op in between.

    The import returns the exporter's object with a reference ("obj = dma_buf->priv;
    drm_gem_object_get(obj); return obj;"), put after the handle is made. Up to 6.16 every
    driver's import goes through drm_gem_prime_import_dev, which the rig's built-in probe set
    shows; from 6.17 the shmem helpers' drm_gem_shmem_prime_import_no_map does it on its own."""
    indexed = ops.select(
        "source", "pid", "seq", "op", "func", "caller", "object", "dmabuf"
    ).with_row_index("_i")
    lookups = indexed.filter(
        (pl.col("op") == "dmabuf_get") & (pl.col("func") == "dma_buf_get")
    ).filter(caller_func(pl.col("caller")).is_in(FD_TO_HANDLE))
    if lookups.height == 0:
        return ops
    exporters = _exports(ops, at="_at", obj="_exporter", generation="_generation")
    # the task's next op that takes a reference, makes a handle or ends the call
    nexts = (
        indexed.filter(pl.col("op").is_in([*_IMPORT_OPS, *SYSCALL_OPS]))
        .join(
            lookups.select("source", "pid").unique(),
            on=["source", "pid"],
            how="semi",
            maintain_order="left",
        )
        .select(
            "source",
            "pid",
            pl.col("seq").alias("_next_at"),
            pl.col("op").alias("_next"),
            pl.col("object").alias("_next_object"),
        )
        .sort("_next_at")
    )
    steps = (
        lookups.sort("seq")
        .join_asof(
            nexts,
            left_on="seq",
            right_on="_next_at",
            by=["source", "pid"],
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .filter(pl.col("_next") == "handle_create")
        .join_asof(
            exporters,
            left_on="seq",
            right_on="_at",
            by=["source", "dmabuf"],
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_exporter") == pl.col("_next_object"))
    )
    if steps.height == 0:
        return ops
    added = _next_op_at(
        ops,
        ops[steps["_i"].to_list()].with_columns(
            object=steps["_exporter"], generation=steps["_generation"]
        ),
        "get",
        func=pl.lit(SELF_IMPORT),
        owner=pl.lit("call"),
        count=pl.lit(None, pl.Int64),
    )
    return with_added(ops, added)


IMPORT_CALLS = ("drm_gem_prime_import_dev", "drm_gem_shmem_prime_import_no_map")
_HANDLES = {"handle_create": 1, "handle_get": 1, "handle_put": -1}


def reattached_dma_bufs(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the dma-buf reference a self-import takes when its object has no handle left.

    drm_gem_prime_fd_to_handle, after the import: "if (obj->dma_buf) WARN_ON(obj->dma_buf !=
    dma_buf); else { obj->dma_buf = dma_buf; get_dma_buf(dma_buf); }". An export sets
    obj->dma_buf (the model counts that reference at the export, owner "prime"), and the object's
    last handle going clears it and puts the reference (drm_gem_object_exported_dma_buf_free, a
    dma_buf_put event). Importing the dma-buf back once the object has no handle sets it again,
    with a reference no event shows. The object's handle count is known for objects created in
    the capture (generation 1 and up)."""
    self_imports = ops.with_row_index("_i").filter(
        (pl.col("op") == "get")
        & (pl.col("owner") == "call")
        & pl.col("dmabuf").is_not_null()
        & (pl.col("generation") >= 1)
        & (pl.col("func").is_in([*IMPORT_CALLS, SELF_IMPORT]))
    )
    if self_imports.height == 0:
        return ops
    key = ["source", "object", "generation"]
    handles = (
        ops.select(*key, "seq", "op")
        .filter(pl.col("op").is_in(list(_HANDLES)))
        .join(self_imports.select(key).unique(), on=key, how="semi", maintain_order="left")
        .select(
            *key,
            "seq",
            pl.col("op")
            .cast(pl.String)
            .replace_strict(_HANDLES, return_dtype=pl.Int64)
            .alias("_d"),
        )
        .with_columns(_handles=pl.col("_d").cum_sum().over(key))
        .sort("seq")
    )
    bare = (
        self_imports.sort("seq")
        .join_asof(
            handles.select(*key, "seq", "_handles"),
            on="seq",
            by=key,
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_handles").fill_null(0) == 0)
    )
    if bare.height == 0:
        return ops
    added = _next_op_at(
        ops,
        ops[bare["_i"].to_list()],
        "dmabuf_get",
        func=pl.lit("drm_gem_prime_fd_to_handle (obj->dma_buf set again: get_dma_buf)"),
        owner=pl.lit("prime"),
        **_cleared(*_NO_OBJECT),
    )
    return with_added(ops, added)


def apply_all(ops: pl.DataFrame) -> pl.DataFrame:
    """Every dialect rewrite, in order."""
    for rewrite in (
        one_dmabuf_view,
        failed_mmaps,
        ttm_mmaps,
        freed_with_their_pages,
        failed_imports,
        thread_groups,
        thread_exits,
        task_fds,
        hidden_fds,
        exec_closed_fds,
        hidden_self_imports,
        hidden_vunmaps,
        imported_vmaps,
        hidden_detach_unpins,
        pin_pages,
        framebuffer_objects,
        # after the handle references framebuffers take (framebuffer_objects): it counts handles
        reattached_dma_bufs,
    ):
        ops = rewrite(ops)
    return ops
