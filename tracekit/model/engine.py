"""The buffer-object model at scale: :func:`replay` computes STATES and VERIFY for a capture.

Two engines compute the same tables as :mod:`tracekit.model.reference`
(``tests/test_model_differential.py`` drives all three with random op sequences and requires
identical tables): the compiled pass of :mod:`tracekit.model.compiled`, one loop over the ops
for large inputs, and the polars engine of this module for small ones, which computes them
column-wise:

1. Ownership that depends on order but concerns few ops (framebuffer destroys, dma-buf-backed
   vmas, a task's fd table, which dma-buf fd owns the export's reference) is resolved by a
   short pass over just those ops into explicit reference deltas.
2. References borrowed by a task (creates, lookups) are released at the task's next
   ``syscall_exit`` (a forward as-of join) unless the object was freed first; a ``job_done``
   decrements the object of the latest unmatched ``job_submit`` of its job (a backward as-of join).
3. Each counter is a running sum of per-op deltas over its object generation. Where a probe
   sampled the kernel's value (before the op), the model continues from it: with
   ``cs`` the exclusive running sum and ``k`` the last sampled op at or before ``i``,
   ``before_i = sample_k + cs_i - cs_k``; the value reported next to a sample is the same
   formula with the previous sample. Handle counts come first, because an op's effect on the
   kref depends on them (the first handle takes a reference, the last one drops it).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import polars as pl

from tracekit.accel import compiled_available
from tracekit.model import reference
from tracekit.model.scan import delta, g_cumsum, g_ffill, resynced, with_groups
from tracekit.schema import (
    FD_TABLE,
    STATE_DMABUF_COLUMNS,
    STATE_OBJECT_COLUMNS,
    STATE_OP_COLUMNS,
    STATES,
    VERIFY,
)

OBJ_DELTAS: dict[str, dict[str, int]] = {
    "create": {"refs": 1},
    "get": {"refs": 1},
    "put": {"refs": -1},
    "mmap": {"refs": 1, "mappings": 1},
    "munmap": {"refs": -1, "mappings": -1},
    "handle_create": {"handles": 1},
    "handle_get": {"handles": 1},
    "handle_put": {"handles": -1},
    "pin": {"pins": 1},
    "unpin": {"pins": -1},
    "kmap": {"kmaps": 1},
    "kunmap": {"kmaps": -1},
    "vmap": {"vmaps": 1},
    "vunmap": {"vmaps": -1},
    "get_pages": {"pages": 1},
    "put_pages": {"pages": -1},
    "gpu_map": {"gpu_maps": 1},
    "gpu_unmap": {"gpu_maps": -1},
}
DB_DELTAS: dict[str, dict[str, int]] = {
    "dmabuf_get": {"f_count": 1},
    "dmabuf_put": {"f_count": -1},
    "dmabuf_import": {"f_count": 2},
    "dmabuf_vmap": {"db_vmaps": 1},
    "dmabuf_vunmap": {"db_vmaps": -1},
    "dmabuf_attach": {"attachments": 1},
    "dmabuf_detach": {"attachments": -1},
    "dmabuf_map": {"maps": 1},
    "dmabuf_unmap": {"maps": -1},
}
OBJ_COUNTERS = (
    "refs",
    "handles",
    "pins",
    "kmaps",
    "vmaps",
    "pages",
    "mappings",
    "gpu_maps",
    "userptr_pages",
    "jobs",
)
DB_COUNTERS = ("f_count", "db_vmaps", "attachments", "maps")
# the kernel's definitions are the reference interpreter's: which ops end a borrow, which sampled
# counter checks which state column, and in what order
BOUNDARIES = sorted(reference.BOUNDARIES)
SAMPLED = {state: counter for counter, state in reference.CHECKED.items()}
DB_SAMPLED = {state: f"_s_{counter}" for counter, state in reference.DMABUF_CHECKED.items()}
CHECK_ORDER = {c: n for n, c in enumerate([*reference.CHECKED, *reference.DMABUF_CHECKED])}


# ------------------------------------------------------------------------------------------------
# 1. sequential ownership of the rare ops


def _resolve_rare(ops: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Object refs deltas for framebuffer destroys, and dma-buf file deltas for vmas and fds.

    Returns ``(obj_extra, db_extra)``: rows ``(_i, object, generation, refs)`` and
    ``(_i, dmabuf, f_count)`` to add at op index ``_i``.
    """
    op = pl.col("op")
    borrowing = ops.select(((op == "dmabuf_get") & (pl.col("owner") == "call")).any()).item()
    # only the ops whose effect depends on what came before: framebuffer references, vmas,
    # the dma-buf lifetime and fd table, and task boundaries when a dma-buf reference is borrowed
    needed = (
        (op.is_in(["get", "put"]) & (pl.col("owner") == "fb"))
        | (op.is_in(["mmap", "munmap"]) & pl.col("vma").is_not_null())
        | op.is_in(["dmabuf_export", "dmabuf_release", "dmabuf_fd", "fd_close", "task_exit"])
        | ((op == "dmabuf_get") & (pl.col("owner") == "call"))
    )
    if borrowing:
        needed = needed | op.is_in(BOUNDARIES)
    rare = ops.filter(needed).select(
        "source",
        "op",
        "_i",
        "object",
        "generation",
        "pid",
        FD_TABLE.alias("_table"),
        "owner",
        "dmabuf",
        "count",
        "vma",
        "_obj",
        "_gen",
        "func",
        "fb",
    )
    borrowed_db: dict[tuple[str, int], list[int]] = defaultdict(list)
    fb_pending: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    vma_db: dict[tuple[str, int], int] = {}
    fds: dict[tuple[str, int], dict[int, int]] = defaultdict(dict)
    export_obj: dict[tuple[str, int], tuple[int, int] | None] = {}
    export_pending: dict[tuple[str, int], bool] = {}
    db_alive: dict[tuple[str, int], bool] = {}
    obj_rows: list[tuple[int, int, int, int]] = []
    # (op, dma-buf, delta, an fput: a reference that goes only where the model counts one)
    db_rows: list[tuple[int, int, int, bool]] = []
    for r in rare.iter_rows(named=True):  # a few ops per syscall: not the hot path
        src, kind, i = r["source"], r["op"], r["_i"]
        key = (r["object"], r["generation"]) if r["object"] is not None else None
        if kind in BOUNDARIES:
            for d in borrowed_db.pop((src, r["pid"]), []):
                if db_alive.get((src, d), True):
                    db_rows.append((i, d, -1, True))
        if kind == "dmabuf_get" and r["owner"] == "call" and r["dmabuf"] is not None:
            borrowed_db[(src, r["pid"])].append(r["dmabuf"])
        if kind == "get" and r["owner"] == "fb" and key is not None:
            if r["fb"] is None:  # no named destroy claims it (dialects._claim_lookups)
                fb_pending[(src, r["pid"])].append(key)
        elif kind == "put" and r["owner"] == "fb":
            if key is None:
                pending = fb_pending.get((src, r["pid"])) or next(
                    (p for (s, _), p in fb_pending.items() if s == src and p), []
                )
                if pending:
                    held = pending.pop(0)
                    obj_rows.append((i, held[0], held[1], -1))
        elif kind == "dmabuf_export":
            export_obj[(src, r["dmabuf"])] = key
            export_pending[(src, r["dmabuf"])] = True
            db_alive[(src, r["dmabuf"])] = True
        elif kind == "dmabuf_release" and r["dmabuf"] is not None:
            db_alive[(src, r["dmabuf"])] = False
        elif kind == "dmabuf_fd" and r["dmabuf"] is not None and r["count"] is not None:
            if not export_pending.get((src, r["dmabuf"]), False):
                db_rows.append((i, r["dmabuf"], 1, False))
            export_pending[(src, r["dmabuf"])] = False
            fds[(src, r["_table"])][r["count"]] = r["dmabuf"]
        elif kind in ("fd_close", "task_exit"):
            closing = (
                [fds[(src, r["_table"])].pop(r["count"], None)]
                if kind == "fd_close"
                else list(fds.pop((src, r["_table"]), {}).values())
            )
            for closed in closing:
                if closed is not None and db_alive.get((src, closed), True):
                    db_rows.append((i, closed, -1, True))
        elif kind == "mmap" and r["_obj"] is not None and r["vma"] is not None:
            if r["dmabuf"] is not None:
                db_rows.append((i, r["dmabuf"], 1, False))
                vma_db[(src, r["vma"])] = r["dmabuf"]
            elif r["func"] == "drm_gem_vm_open":
                okey = (r["_obj"], r["_gen"])
                backing = next(
                    (
                        d
                        for (s, _), d in vma_db.items()
                        if s == src and export_obj.get((src, d)) == okey
                    ),
                    None,
                )
                if backing is not None:
                    db_rows.append((i, backing, 1, False))
                    vma_db[(src, r["vma"])] = backing
        elif kind == "munmap" and r["_obj"] is not None:
            backing = vma_db.pop((src, r["vma"]), None) if r["vma"] is not None else None
            if backing is not None:
                db_rows.append((i, backing, -1, False))
    obj_extra = pl.DataFrame(
        obj_rows,
        schema={"_i": pl.Int64, "object": pl.UInt64, "generation": pl.Int32, "refs": pl.Int64},
        orient="row",
    )
    db_extra = pl.DataFrame(
        db_rows,
        schema={"_i": pl.Int64, "dmabuf": pl.UInt64, "f_count": pl.Int64, "fput": pl.Boolean},
        orient="row",
    )
    return obj_extra, db_extra


# ------------------------------------------------------------------------------------------------


COMPILED_FROM = 200_000
"""Inputs of at least this many ops replay in the compiled pass (:mod:`tracekit.model.compiled`);
smaller ones in polars here, where loading the compiled code (about 1 s with numba's import)
would cost more than the replay itself."""

Engine = Literal["auto", "polars", "compiled"]


def replay(ops: pl.DataFrame, *, engine: Engine = "auto") -> tuple[pl.DataFrame, pl.DataFrame]:
    """STATES and VERIFY for ``ops`` (one or more sources), by either engine: identical tables.

    ``auto`` picks the compiled pass for large inputs when numba is installed."""
    if ops.height == 0:
        return pl.DataFrame(schema=STATES), pl.DataFrame(schema=VERIFY)
    ops = in_order(ops)
    if engine == "compiled" or (
        engine == "auto" and ops.height >= COMPILED_FROM and compiled_available()
    ):
        from tracekit.model import compiled

        states, checks = compiled.replay(ops)
    else:
        states, checks = replay_polars(ops)
    # what a framebuffer destroy that names nothing put is a guess: marked, in every engine
    return reference.mark_guessed(states, ops), checks


def in_order(ops: pl.DataFrame) -> pl.DataFrame:
    """``ops`` by source, then seq: as normalize leaves them, which is checked in one pass
    instead of paying for a sort of every column."""
    if ops["seq"].is_sorted() and single_source(ops["source"]):
        return ops
    return ops.sort(["source", "seq"], maintain_order=True)


def single_source(source: pl.Series) -> bool:
    """Whether every op comes from one capture (the first and last differ at once if not; a
    comparison with the first is a third of the cost of counting distinct values)."""
    first = source.first()
    return (
        first is not None
        and first == source.last()
        and source.null_count() == 0
        and bool((source == first).all())
    )


def replay_polars(ops: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The polars engine: STATES and VERIFY for ``ops``, sorted by source and seq."""
    ops = ops.with_columns(
        op=pl.col("op").cast(pl.String), _i=pl.int_range(pl.len(), dtype=pl.Int64)
    )
    ops = _resolve_objects(ops)
    obj_extra, db_extra = _resolve_rare(ops)
    objs = _object_states(ops, obj_extra)
    dbs = _dmabuf_states(ops, db_extra)
    states = _assemble(ops, objs, dbs)
    checks = _checks(ops, objs, dbs)
    return states, checks


def _resolve_objects(ops: pl.DataFrame) -> pl.DataFrame:
    """``_obj``/``_gen``: the object generation each op touches (a dma-buf mmap resolves to the
    object its dma-buf exported), and the dma-buf generation (exports seen at its address)."""
    ops = ops.with_columns(
        _dbgen=pl.when(pl.col("dmabuf").is_not_null()).then(
            (pl.col("op") == "dmabuf_export").cast(pl.Int32).cum_sum().over(["source", "dmabuf"])
        )
    )
    exports = ops.filter(pl.col("op") == "dmabuf_export").select(
        "source",
        "dmabuf",
        "_dbgen",
        pl.col("object").alias("_eobj"),
        pl.col("generation").alias("_egen"),
    )
    via_db = (pl.col("op") == "mmap") & pl.col("object").is_null() & pl.col("dmabuf").is_not_null()
    ops = ops.join(exports, on=["source", "dmabuf", "_dbgen"], how="left", maintain_order="left")
    ops = ops.with_columns(
        _obj=pl.when(via_db).then(pl.col("_eobj")).otherwise(pl.col("object")),
        _gen=pl.when(via_db).then(pl.col("_egen")).otherwise(pl.col("generation")),
        _has_obj_via_db=via_db & pl.col("_eobj").is_not_null(),
    ).drop("_eobj", "_egen")
    return ops.sort("_i")


def _object_states(ops: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    keys = ["source", "_obj", "_gen"]
    rows = ops.filter(pl.col("_obj").is_not_null()).select(
        "_i",
        "source",
        "seq",
        "pid",
        "op",
        "owner",
        "file",
        "address",
        "job",
        "_obj",
        "_gen",
        "refcount",
        "handle_count",
        "pages_use_count",
        "vmap_use_count",
        "count",
    )
    # borrowed references: creates and lookups, released at the task's next return to userspace
    borrowed = rows.filter(
        (pl.col("op") == "create") | ((pl.col("op") == "get") & (pl.col("owner") == "call"))
    )
    exits = ops.filter(pl.col("op").is_in(BOUNDARIES)).select(
        "source", "pid", pl.col("_i").alias("_exit_i")
    )
    frees = (
        rows.filter(pl.col("op") == "free").group_by(keys).agg(pl.col("_i").min().alias("_free_i"))
    )
    releases = (
        borrowed.sort("_i")
        .join_asof(
            exits.sort("_exit_i"),
            left_on="_i",
            right_on="_exit_i",
            by=["source", "pid"],
            strategy="forward",
            allow_exact_matches=False,
            check_sortedness=False,
        )
        .filter(pl.col("_exit_i").is_not_null())
        .join(frees, on=keys, how="left", maintain_order="left")
        .filter(pl.col("_free_i").is_null() | (pl.col("_free_i") > pl.col("_exit_i")))
        .select(pl.col("_exit_i").alias("_i"), "_obj", "_gen", pl.lit(-1, pl.Int64).alias("_rel"))
        .group_by(["_i", "_obj", "_gen"])
        .agg(pl.col("_rel").sum())
    )
    fb = extra.rename({"object": "_obj", "generation": "_gen", "refs": "_fb"})
    # jobs: a job uses every object submitted with its key until its done; the epoch of a
    # submit or done is how many dones of that job came before it
    jobops = (
        ops.filter(pl.col("op").is_in(["job_submit", "job_done"]) & pl.col("job").is_not_null())
        .select("_i", "source", "job", "op", "owner", "_obj", "_gen")
        .sort("_i")
        .with_columns(
            _epoch=(
                (pl.col("op") == "job_done").cast(pl.Int64).cum_sum()
                - (pl.col("op") == "job_done").cast(pl.Int64)
            ).over(["source", "job"])
        )
    )
    first_use = jobops.filter((pl.col("op") == "job_submit") & pl.col("_obj").is_not_null()).unique(
        subset=["source", "job", "_epoch", "_obj", "_gen"], keep="first", maintain_order=True
    )
    # owner "job": the job holds a reference on the object until it is done
    holds = (pl.col("owner").fill_null("") == "job").cast(pl.Int64)
    submitted = first_use.select(
        "_i", "_obj", "_gen", pl.lit(1, pl.Int64).alias("_js"), holds.alias("_jsr")
    )
    matched = (
        jobops.filter(pl.col("op") == "job_done")
        .select(pl.col("_i").alias("_done_i"), "source", "job", "_epoch")
        .join(
            first_use.select("source", "job", "_epoch", "_obj", "_gen", holds.alias("_holds")),
            on=["source", "job", "_epoch"],
            maintain_order="left",
        )
        .join(frees, on=keys, how="left", maintain_order="left")
        .select(
            pl.col("_done_i").alias("_i"),
            "_obj",
            "_gen",
            pl.lit(-1, pl.Int64).alias("_jd"),
            # a reference the job held on an object already freed is not counted again
            pl.when(pl.col("_free_i").is_null() | (pl.col("_free_i") > pl.col("_done_i")))
            .then(-pl.col("_holds"))
            .otherwise(0)
            .alias("_jdr"),
        )
    )
    # rows that only carry an implicit effect at another op's index (the exit, the destroy, the
    # done of a job whose own row names no object, the lost events that make it uncertain) join
    # the object's timeline there
    implicit = pl.concat(
        [
            releases.select("_i", "_obj", "_gen"),
            fb.select("_i", "_obj", "_gen"),
            matched.select("_i", "_obj", "_gen"),
            _first_lost(ops, rows, keys).select(pl.col("_lost_i").alias("_i"), "_obj", "_gen"),
        ]
    ).unique()
    implicit = (
        implicit.join(
            rows.select("_i", "_obj", "_gen"),
            on=["_i", "_obj", "_gen"],
            how="anti",
            maintain_order="left",
        )
        .join(
            ops.select("_i", "source", "seq", "pid", "op", "owner", "file", "address", "job"),
            on="_i",
            maintain_order="left",
        )
        .with_columns(_implicit=pl.lit(True))
    )
    tl = pl.concat([rows.with_columns(_implicit=pl.lit(False)), implicit], how="diagonal_relaxed")
    tl = (
        tl.join(releases, on=["_i", "_obj", "_gen"], how="left", maintain_order="left")
        .join(fb, on=["_i", "_obj", "_gen"], how="left", maintain_order="left")
        .join(matched, on=["_i", "_obj", "_gen"], how="left", maintain_order="left")
        .join(submitted, on=["_i", "_obj", "_gen"], how="left", maintain_order="left")
    )
    tl = with_groups(tl.sort(["source", "_obj", "_gen", "_i"]), keys)
    own = ~pl.col("_implicit")
    for counter in OBJ_COUNTERS:
        d = pl.when(own).then(delta(OBJ_DELTAS, counter)).otherwise(0)
        if counter == "refs":
            d = (
                d
                + pl.col("_rel").fill_null(0)
                + pl.col("_fb").fill_null(0)
                + pl.col("_jsr").fill_null(0)
                + pl.col("_jdr").fill_null(0)
            )
        if counter == "jobs":
            d = d + pl.col("_js").fill_null(0) + pl.col("_jd").fill_null(0)
        if counter == "userptr_pages":
            # pin_user_pages*() pin what they return (count), unpin_user_pages() its npages
            pages = pl.col("count").fill_null(0)
            d = (
                pl.when(own & (pl.col("op") == "userptr_pin"))
                .then(pages)
                .when(own & (pl.col("op") == "userptr_unpin"))
                .then(-pages)
                .otherwise(0)
            )
        tl = tl.with_columns(d.alias(f"_d_{counter}"))
    tl = resynced(tl, keys, "handles", "handle_count", keep_before=True)
    # the first handle takes the kref, the last one drops it
    tl = tl.with_columns(
        _d_refs=pl.col("_d_refs")
        + pl.when(own & (pl.col("op") == "handle_create") & (pl.col("_before_handles") == 0))
        .then(1)
        .otherwise(0)
        - pl.when(own & (pl.col("op") == "handle_put") & (pl.col("handles") == 0))
        .then(1)
        .otherwise(0)
    )
    for counter in OBJ_COUNTERS:
        if counter != "handles":
            tl = resynced(
                tl,
                keys,
                counter,
                SAMPLED.get(counter) if counter in SAMPLED else None,
                floor=counter in reference.FLOORED,
            )
    refused = pl.lit(None, pl.String)
    for counter in sorted(reference.FLOORED):
        refused = pl.when(pl.col(f"_refused_{counter}")).then(pl.lit(counter)).otherwise(refused)
    tl = tl.with_columns(refused=refused)
    # per-file handles, vaddr, alive, madvise
    tl = tl.with_columns(
        _dfh=pl.when(own & (pl.col("op") == "handle_create") & pl.col("file").is_not_null())
        .then(1)
        .when(own & (pl.col("op") == "handle_release") & pl.col("file").is_not_null())
        .then(-1)
        .otherwise(0)
    ).with_columns(_fh=pl.col("_dfh").cum_sum().over([*keys, "file"]))
    tl = tl.with_columns(
        file_handles=pl.when(pl.col("file").is_not_null() & own).then(pl.col("_fh")),
        alive=~(g_cumsum((own & (pl.col("op") == "free")).cast(pl.Int64)) > 0),
        # created in the capture (a generation of an address used again after events were lost
        # may have begun unseen: normalize numbers it, but shows no create)
        start_known=(own & (pl.col("op") == "create")).any().over(keys),
        _vaddr_set=pl.when(own & (pl.col("op") == "vmap") & pl.col("address").is_not_null()).then(
            pl.col("address")
        ),
        # a vunmap the kernel refused (vmap_use_count already 0) leaves the address alone
        _vaddr_reset=own
        & (pl.col("op") == "vunmap")
        & (pl.col("vmaps") == 0)
        & ~pl.col("_refused_vmaps").fill_null(False),
        madv=g_ffill(pl.when(own & (pl.col("op") == "madvise")).then(pl.col("count"))),
        purged=g_cumsum((own & (pl.col("op") == "purge")).cast(pl.Int64)) > 0,
    )
    # vaddr: the address of the last vmap that named one, until a vunmap brings vmaps to 0
    tl = tl.with_columns(
        _set_i=g_ffill(pl.when(pl.col("_vaddr_set").is_not_null()).then(pl.col("_i"))),
        _reset_i=g_ffill(pl.when(pl.col("_vaddr_reset")).then(pl.col("_i"))),
        _addr=g_ffill(pl.col("_vaddr_set")),
    ).with_columns(
        vaddr=pl.when(
            pl.col("_set_i").is_not_null()
            & (pl.col("_reset_i").is_null() | (pl.col("_set_i") > pl.col("_reset_i")))
        ).then(pl.col("_addr"))
    )
    # a create at the address of an object still alive: its free was not seen, so what
    # happens to it afterwards (reached through its dma-buf) is uncertain
    creates = ops.filter(pl.col("op") == "create").select(
        "source", "_obj", (pl.col("_gen") - 1).alias("_gen"), pl.col("_i").alias("_recreate_i")
    )
    died = (
        tl.filter(~pl.col("_implicit") & (pl.col("op") == "free"))
        .group_by(keys)
        .agg(pl.col("_i").min().alias("_free_i2"))
    )
    recreated = (
        creates.join(died, on=keys, how="left", maintain_order="left")
        .filter(pl.col("_free_i2").is_null() | (pl.col("_free_i2") > pl.col("_recreate_i")))
        .select(*keys, "_recreate_i")
    )
    tl = tl.join(recreated, on=keys, how="left", maintain_order="left")
    # lost events: objects alive when it happened are uncertain from then on
    first_lost = _first_lost(ops, tl.filter(~pl.col("_implicit")), keys)
    tl = tl.join(first_lost, on=keys, how="left", maintain_order="left").with_columns(
        uncertain=pl.col("_lost_i").is_not_null() & (pl.col("_i") >= pl.col("_lost_i"))
    )
    tl = tl.with_columns(
        uncertain=pl.col("uncertain")
        | (pl.col("_recreate_i").is_not_null() & (pl.col("_i") > pl.col("_recreate_i")))
    )
    return tl


def _first_lost(ops: pl.DataFrame, rows: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per object (``keys``), the first lost-events op while it was alive (``_lost_i``): from
    its first row to its free. ``rows`` are the objects' own rows."""
    lost = ops.filter(pl.col("op") == "lost_events").select("source", pl.col("_i").alias("_lost_i"))
    # an object's life here ends at its free, or where a create at its address replaces it
    replaced = (
        ops.filter(pl.col("op") == "create")
        .group_by("source", "_obj", (pl.col("_gen") - 1).alias("_gen"))
        .agg(pl.col("_i").min().alias("_replaced"))
    )
    span = (
        rows.group_by(keys)
        .agg(
            pl.col("_i").min().alias("_born"),
            pl.col("_i").filter(pl.col("op") == "free").min().alias("_freed"),
        )
        .join(replaced, on=keys, how="left", maintain_order="left")
        .with_columns(_died=pl.min_horizontal("_freed", "_replaced"))
    )
    return (
        span.join(lost, on="source", maintain_order="left")
        .filter(
            (pl.col("_lost_i") >= pl.col("_born"))
            & (pl.col("_died").is_null() | (pl.col("_lost_i") < pl.col("_died")))
        )
        .group_by(keys)
        .agg(pl.col("_lost_i").min())
    )


def _fputs_floored(tl: pl.DataFrame) -> pl.DataFrame:
    """``f_count`` (and ``_model_f_count``) again where a put of an fd's reference met a count
    the model had at 0 (reference.Replay._fput: such an fd was closed where the capture does not
    show it, and nothing more goes). The plain running sum went below 0 at such a row; the
    dma-bufs where it did (rare) are walked op by op."""
    hit = tl.filter((pl.col("_xf").fill_null(0) < 0) & (pl.col("f_count") < 0))
    if hit.height == 0:
        return tl
    at = tl.with_row_index("_row").filter(pl.col("_g").is_in(hit["_g"].unique().implode()))
    values: list[int] = []
    models: list[int | None] = []
    group, value = None, 0
    for g, sample, d0, xf in at.select("_g", "_s_f_count", "_d0", "_xf").iter_rows():
        if g != group:
            group, value = g, 0
        model = None
        if sample is not None:
            model, value = value, sample
        value += d0
        if xf and value > 0:
            value = max(value + xf, 0)
        values.append(value)
        models.append(model)
    fixed = pl.DataFrame(
        {
            "_row": at["_row"],
            "_fc": pl.Series(values, dtype=tl.schema["f_count"]),
            "_mfc": pl.Series(models, dtype=tl.schema["_model_f_count"]),
        }
    )
    walked = pl.col("_fc").is_not_null()  # every row of a walked dma-buf has a value
    return (
        tl.with_row_index("_row")
        .join(fixed, on="_row", how="left", maintain_order="left")
        .with_columns(
            f_count=pl.when(walked).then(pl.col("_fc")).otherwise(pl.col("f_count")),
            _model_f_count=pl.when(walked).then(pl.col("_mfc")).otherwise(pl.col("_model_f_count")),
        )
        .drop("_row", "_fc", "_mfc")
    )


def _dmabuf_states(ops: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    keys = ["source", "dmabuf", "_dbgen"]
    touches = (pl.col("op").str.starts_with("dmabuf") | (pl.col("op") == "mmap")) & pl.col(
        "dmabuf"
    ).is_not_null()
    rows = ops.filter(touches).select(
        "_i",
        "source",
        "op",
        "owner",
        "dmabuf",
        "_dbgen",
        pl.col("f_count").alias("_s_f_count"),
        pl.col("vmapping_counter").alias("_s_vmapping_counter"),
    )
    extra = (
        extra.join(ops.select("_i", "source"), on="_i", maintain_order="left")
        .join_asof(
            ops.filter(pl.col("dmabuf").is_not_null())
            .select("_i", "source", "dmabuf", "_dbgen")
            .sort("_i"),
            on="_i",
            by=["source", "dmabuf"],
            strategy="backward",
            check_sortedness=False,
        )
        .with_columns(pl.col("_dbgen").fill_null(0))
        .group_by(["_i", "source", "dmabuf", "_dbgen"])
        .agg(
            pl.col("f_count").filter(~pl.col("fput")).sum().alias("_x"),
            pl.col("f_count").filter(pl.col("fput")).sum().alias("_xf"),
        )
    )
    implicit = extra.join(
        rows.select("_i", "dmabuf"), on=["_i", "dmabuf"], how="anti", maintain_order="left"
    ).with_columns(_implicit=pl.lit(True), op=pl.lit("_implicit"))
    tl = pl.concat(
        [rows.with_columns(_implicit=pl.lit(False)), implicit.drop("_x", "_xf")],
        how="diagonal_relaxed",
    )
    tl = with_groups(
        tl.join(
            extra.select("_i", "dmabuf", "_x", "_xf"),
            on=["_i", "dmabuf"],
            how="left",
            maintain_order="left",
        ).sort(["source", "dmabuf", "_dbgen", "_i"]),
        keys,
    )
    own = ~pl.col("_implicit")
    export = own & (pl.col("op") == "dmabuf_export")
    for counter in DB_COUNTERS:
        d = pl.when(own).then(delta(DB_DELTAS, counter)).otherwise(0)
        if counter == "f_count":
            d = d + pl.when(export).then(
                pl.when(pl.col("owner") == "prime").then(2).otherwise(1)
            ).otherwise(0)
            d = d + pl.col("_x").fill_null(0)
            # what goes without the fputs, for _fputs_floored
            tl = tl.with_columns(d.alias("_d0"))
            d = d + pl.col("_xf").fill_null(0)
        tl = tl.with_columns(d.alias(f"_d_{counter}"))
    for counter in DB_COUNTERS:
        tl = resynced(tl, keys, counter, DB_SAMPLED.get(counter))
    tl = _fputs_floored(tl).drop("_d0", "_x", "_xf")
    return tl.with_columns(
        db_alive=~(g_cumsum((own & (pl.col("op") == "dmabuf_release")).cast(pl.Int64)) > 0),
        db_start_known=pl.col("_dbgen") > 0,
    )


def _assemble(ops: pl.DataFrame, objs: pl.DataFrame, dbs: pl.DataFrame) -> pl.DataFrame:
    obj_cols = list(STATE_OBJECT_COLUMNS)
    own_obj = objs.filter(~pl.col("_implicit")).select(
        "_i", pl.col("_obj").alias("object"), pl.col("_gen").alias("generation"), *obj_cols
    )
    own_db = dbs.filter(~pl.col("_implicit")).select(
        "_i", pl.col("dmabuf").alias("_db"), *STATE_DMABUF_COLUMNS
    )
    base = ops.select("_i", *STATE_OP_COLUMNS)
    own = (
        base.join(own_obj, on="_i", how="left", maintain_order="left")
        .join(own_db, on="_i", how="left", maintain_order="left")
        .rename({"_db": "dmabuf"})
        .with_columns(implicit=pl.lit(False), _key=pl.col("_i") * 3)
    )
    # objects and dma-bufs an op changed without naming them: a row each, after the op's own
    # (objects by address and generation, then dma-bufs); few, so sorted on their own and
    # merged by one stable integer key
    imp_obj = (
        objs.filter(pl.col("_implicit"))
        .select("_i", pl.col("_obj").alias("object"), pl.col("_gen").alias("generation"), *obj_cols)
        .with_columns(file_handles=pl.lit(None, pl.Int64))
        .sort(["_i", "object", "generation"])
        .join(base, on="_i", how="left", maintain_order="left")
        .with_columns(implicit=pl.lit(True), _key=pl.col("_i") * 3 + 1)
    )
    imp_db = (
        dbs.filter(pl.col("_implicit"))
        .select("_i", "dmabuf", *STATE_DMABUF_COLUMNS)
        .sort(["_i", "dmabuf"])
        .join(base, on="_i", how="left", maintain_order="left")
        .with_columns(implicit=pl.lit(True), _key=pl.col("_i") * 3 + 2)
    )
    parts = [own.select(*STATES, "_key")]
    for imp in (imp_obj, imp_db):
        if imp.height:
            parts.append(imp.select(*[c for c in STATES if c in imp.columns], "_key"))
    out = pl.concat(parts, how="diagonal_relaxed") if len(parts) > 1 else parts[0]
    if len(parts) > 1:
        out = out.sort("_key", maintain_order=True)
    return out.select(list(STATES)).cast(STATES)  # type: ignore[arg-type]


def _checks(ops: pl.DataFrame, objs: pl.DataFrame, dbs: pl.DataFrame) -> pl.DataFrame:
    parts = []
    meta = ops.select("_i", "line", "func")
    for counter, sample in SAMPLED.items():
        part = objs.filter(~pl.col("_implicit") & pl.col(sample).is_not_null()).select(
            "_i",
            "source",
            pl.col("seq"),
            pl.col("_obj").alias("object"),
            pl.col("_gen").alias("generation"),
            pl.lit(sample).alias("counter"),
            pl.col(sample).alias("kernel"),
            pl.col(f"_model_{counter}").alias("model"),
        )
        parts.append(part)
    for counter, sample in DB_SAMPLED.items():
        name = sample.removeprefix("_s_")
        part = (
            dbs.filter(~pl.col("_implicit") & pl.col(sample).is_not_null())
            .join(ops.select("_i", "seq"), on="_i", maintain_order="left")
            .select(
                "_i",
                "source",
                "seq",
                pl.col("dmabuf").alias("object"),
                pl.lit(None, pl.Int32).alias("generation"),
                pl.lit(name).alias("counter"),
                pl.col(sample).alias("kernel"),
                pl.col(f"_model_{counter}").alias("model"),
            )
        )
        parts.append(part)
    out = pl.concat(parts, how="diagonal_relaxed").join(meta, on="_i", maintain_order="left")
    # the reference checks an op's counters in this order: object counters, then dma-buf ones
    out = out.with_columns(
        _o=pl.col("counter").replace_strict(CHECK_ORDER, return_dtype=pl.Int64)
    ).sort(["_i", "_o"])
    return out.select(list(VERIFY)).cast(VERIFY)  # type: ignore[arg-type]
