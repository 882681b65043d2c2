"""Kernel-version differences, inferred from what a capture shows.

Some counts move differently between kernel versions without any event saying so. Each function
here looks for the evidence of one such difference in the capture's ops and rewrites the ops so
that the model counts as that kernel did. They run at the end of normalisation, in order.

- :func:`imported_vmaps`: drm_gem_shmem_vmap of an imported object. Linux 6.1 counts it in the
  importer's vmap_use_count and calls dma_buf_vmap for the first one only
  ("if (shmem->vmap_use_count++ > 0) return 0; if (obj->import_attach) dma_buf_vmap(...)");
  6.12 hands every vmap to dma_buf_vmap and leaves vmap_use_count alone.
- :func:`pin_pages`: drm_gem_pin of a shmem object takes a pages reference. On 6.1 the
  drm_gem_shmem_get_pages_locked it calls is probed; on 6.12 it is static and inlined into
  drm_gem_shmem_pin_locked, so the reference is taken without an event.
- :func:`framebuffer_objects`: which objects a framebuffer's destroy puts. The framebuffer's
  vmaps name them (drm_gem_fb_vmap -> drm_gem_vmap(obj)); on kernels where a framebuffer also
  holds a handle reference (6.12.y: drm_gem_fb_init_with_funcs takes
  drm_gem_object_handle_get_if_exists_unlocked, no event), the handle put that follows
  drm_gem_fb_destroy names the object, and the handle reference is added at the lookup.
"""

from __future__ import annotations

import polars as pl

CALLS = ("call_enter", "call_exit")


def _next_op_at(ops: pl.DataFrame, at: pl.DataFrame, op: str, **extra: pl.Expr) -> pl.DataFrame:
    """Rows of ``at`` (source, seq, ...) copied as ``op`` ops placed just after each row."""
    return at.with_columns(op=pl.lit(op).cast(ops.schema["op"]), **extra).select(ops.columns)


def imported_vmaps(ops: pl.DataFrame) -> pl.DataFrame:
    """Drop importer vmaps/vunmaps that a 6.12-style kernel does not count."""
    imported = ops.filter(pl.col("op") == "dmabuf_import").select("source", "object").unique()
    if imported.height == 0:
        return ops
    vm = ops.filter(pl.col("op").is_in(["vmap", "vunmap"])).join(
        imported, on=["source", "object"], how="semi"
    )
    if vm.height == 0:
        return ops
    # handed to the dma-buf: the task's next op is that dma-buf's own vmap/vunmap
    nxt = (
        ops.filter(~pl.col("op").is_in(CALLS))
        .sort(["source", "seq"])
        .with_columns(_next=pl.col("op").shift(-1).over(["source", "pid"]))
    )
    delegated = nxt.filter(
        ((pl.col("op") == "vmap") & (pl.col("_next") == "dmabuf_vmap"))
        | ((pl.col("op") == "vunmap") & (pl.col("_next") == "dmabuf_vunmap"))
    ).select("source", "seq", pl.lit(True).alias("_delegated"))
    vm = vm.join(delegated, on=["source", "seq"], how="left").with_columns(
        pl.col("_delegated").fill_null(False)
    )
    counted = vm.group_by("source").agg(
        ((~pl.col("_delegated")).any() | (pl.col("vmap_use_count").fill_null(0) > 0).any()).alias(
            "_counted"
        )
    )
    drop = vm.join(counted, on="source").filter(pl.col("_delegated") & ~pl.col("_counted"))
    if drop.height == 0:
        return ops
    keys = drop.select("source", "seq", "op", "object").with_columns(_drop=pl.lit(True))
    return (
        ops.join(keys, on=["source", "seq", "op", "object"], how="left")
        .with_columns(
            # still a sample of the importer's vmap_use_count, with no effect on it
            op=pl.when(pl.col("_drop").fill_null(False))
            .then(pl.lit("sample").cast(ops.schema["op"]))
            .otherwise(pl.col("op")),
        )
        .drop("_drop")
    )


def pin_pages(ops: pl.DataFrame) -> pl.DataFrame:
    """Add the pages reference a shmem pin takes when no get_pages event shows it (and the
    put for an unpin the same way)."""
    shmem = ops.filter(pl.col("profile") == "gem_shmem").select("source", "object").unique()
    out = [ops]
    for pin, pages in (("pin", "get_pages"), ("unpin", "put_pages")):
        pins = ops.filter(pl.col("op") == pin).join(shmem, on=["source", "object"], how="semi")
        if pins.height == 0:
            continue
        # the pages op the pin made, if probed, is the task's next op on that object
        nxt = (
            ops.filter(~pl.col("op").is_in(CALLS) & pl.col("object").is_not_null())
            .sort(["source", "seq"])
            .with_columns(_next=pl.col("op").shift(-1).over(["source", "pid", "object"]))
        )
        shown = nxt.filter((pl.col("op") == pin) & (pl.col("_next") == pages)).select(
            "source", "seq"
        )
        missing = pins.join(shown, on=["source", "seq"], how="anti")
        if missing.height:
            out.append(
                _next_op_at(
                    ops,
                    missing,
                    pages,
                    func=pl.format("{} (pages reference, no event)", pl.col("func")),
                    pages_use_count=pl.lit(None, pl.Int64),
                )
            )
    return pl.concat(out).sort(["source", "seq"], maintain_order=True) if len(out) > 1 else ops


def framebuffer_objects(ops: pl.DataFrame) -> pl.DataFrame:
    """Name the objects a framebuffer destroy puts, and add 6.12.y framebuffer handle refs."""
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
    by_vmap = (
        fb_calls.join(inner, on=["source", "line"]).select("source", "fb", "_obj", "_gen").unique()
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
        "source", "fb", pl.col("_next_obj").alias("_obj"), pl.col("_next_gen").alias("_gen")
    )
    links = pl.concat([by_vmap, by_handle]).unique(maintain_order=True)
    named = (
        destroys.drop("object", "generation")
        .join(links, on=["source", "fb"], how="inner")
        .with_columns(object=pl.col("_obj"), generation=pl.col("_gen"))
        .drop("_obj", "_gen")
        .select(ops.columns)
    )
    rest = ops.join(named.select("source", "seq").unique(), on=["source", "seq"], how="anti")
    ops = pl.concat([rest, named]).sort(["source", "seq"], maintain_order=True)
    if fb_handle_sources.height:
        lookups = ops.filter((pl.col("op") == "get") & (pl.col("owner") == "fb")).join(
            fb_handle_sources, on="source", how="semi"
        )
        ops = pl.concat(
            [
                ops,
                _next_op_at(
                    ops,
                    lookups,
                    "handle_get",
                    func=pl.lit("drm_gem_fb_init_with_funcs (handle reference, no event)"),
                ),
            ]
        ).sort(["source", "seq"], maintain_order=True)
    return ops


def apply_all(ops: pl.DataFrame) -> pl.DataFrame:
    """Every dialect rewrite, in order."""
    for rewrite in (imported_vmaps, pin_pages, framebuffer_objects):
        ops = rewrite(ops)
    return ops
