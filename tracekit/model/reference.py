"""The buffer-object model, step by step: the reference for the vectorised engine.

The model's meaning comes from the kernel (Linux 6.1 and 6.12 code paths, shared/seeds):

- ``refs`` is the GEM kref. ``create`` (kref_init) starts it at 1: the creator's reference,
  which the creating task drops before it returns to userspace (drm_gem_shmem_create_with_handle
  and drm_gem_prime_fd_to_handle "drm_gem_object_put" after making the handle) - so it is
  *borrowed* by the task and released at its ``syscall_exit``, as are lookups (owner ``call``).
  All handles together hold one reference (drm_gem_handle_create_tail / handle_put_unlocked);
  a dma-buf export holds one (drm_gem_dmabuf_export / drm_gem_dmabuf_release); each vma holds
  one (drm_gem_mmap_obj, drm_gem_vm_open / drm_gem_vm_close); a framebuffer holds the ones it
  looked up (drm_gem_fb_init_with_funcs / drm_gem_fb_destroy).
- ``handles`` is handle_count, with the handles of each DRM file kept apart: closing a file
  releases them through drm_gem_release (cleanup, not a leak).
- ``pages``, ``vmaps``, ``pins``, ``kmaps``: drm_gem_shmem pages_use_count and vmap_use_count,
  pins, TTM/VRAM kmap counts (shared/seeds/000 and 004).
- A dma-buf keeps its own file reference count (``f_count``) and ``vmapping_counter``
  (shared/seeds/002): export starts it at 1, fd lookups, PRIME caches, imports and dma-buf-backed
  vmas take more.
- ``jobs``: jobs using the object whose finished fence has not signalled. A job uses every object
  submitted with its key until it is done; its queue and run events are one job.

Where a probe sampled the kernel's own counter (values read at function entry, before the
operation), the model checks its value *before* the op against it, records the comparison, and
continues from the kernel's value: a disagreement is evidence of a reference taken or dropped
out of sight.

What is not known is said: an object first seen without its create has ``start_known`` false;
after ``lost_events`` every object alive then is ``uncertain``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracekit.schema import STATE_OP_COLUMNS, STATES, VERIFY

BOUNDARIES = frozenset(
    {"syscall_exit", "syscall_enter", "fd_close", "task_exit", "ioctl_exit", "ioctl_enter"}
)
"""Ops after which a task is known to have returned to userspace from what it was doing."""

CHECKED = {
    "refcount": "refs",
    "handle_count": "handles",
    "pages_use_count": "pages",
    "vmap_use_count": "vmaps",
}
DMABUF_CHECKED = {"f_count": "f_count", "vmapping_counter": "db_vmaps"}
FLOORED = frozenset({"pins", "kmaps", "vmaps", "pages"})
"""Counters the kernel keeps from going below 0: a decrement at 0 warns and changes nothing."""


@dataclass
class Obj:
    object: int
    generation: int
    start_known: bool
    refs: int = 0
    handles: int = 0
    pins: int = 0
    kmaps: int = 0
    vmaps: int = 0
    vaddr: int | None = None
    pages: int = 0
    mappings: int = 0
    gpu_maps: int = 0
    jobs: int = 0
    userptr_pages: int = 0
    madv: int | None = None
    purged: bool = False
    alive: bool = True
    uncertain: bool = False
    refused: str | None = None
    per_file: Counter[int] = field(default_factory=Counter)

    @property
    def key(self) -> tuple[int, int]:
        return (self.object, self.generation)


@dataclass
class DmaBuf:
    dmabuf: int
    start_known: bool
    export_pending: bool = False
    obj: tuple[int, int] | None = None
    f_count: int = 0
    db_vmaps: int = 0
    attachments: int = 0
    maps: int = 0
    alive: bool = True


class Replay:
    """Replays the ops of one source in ``seq`` order; ``rows``/``checks`` collect the output."""

    def __init__(self) -> None:
        self.objs: dict[int, Obj] = {}
        self.gens: Counter[int] = Counter()
        self.dmabufs: dict[int, DmaBuf] = {}
        self.borrowed: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.borrowed_db: dict[int, list[int]] = defaultdict(list)
        self.fb_pending: dict[int, list[tuple[int, int]]] = defaultdict(list)
        self.vma_dmabuf: dict[int, int] = {}
        self.jobs: dict[str, list[tuple[tuple[int, int], bool]]] = {}
        self.closed_files: set[int] = set()
        # fd table (the process where the op says, else the task) -> fd -> dma-buf
        self.fds: dict[int, dict[int, int]] = defaultdict(dict)
        self.rows: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        self.by_key: dict[tuple[int, int], Obj] = {}
        # objects and dma-bufs an op changed without naming them (a task's return releasing what
        # it borrowed, a framebuffer destroy, a job done, an fd closed): each gets a row too
        self.touched: dict[tuple[int, int], Obj] = {}
        self.touched_db: dict[int, DmaBuf] = {}

    # --- lookups ----------------------------------------------------------------------------
    def _obj(self, address: int | None, generation: int | None) -> Obj | None:
        if address is None:
            return None
        cur = self.objs.get(address)
        if cur is not None and (generation is None or cur.generation == generation):
            return cur
        if generation is not None and (address, generation) in self.by_key:
            return self.by_key[(address, generation)]
        # first seen mid-life: its start is unknown
        obj = Obj(address, generation or 0, start_known=False)
        self.objs[address] = obj
        self.by_key[obj.key] = obj
        return obj

    def _dmabuf(self, address: int | None) -> DmaBuf | None:
        if address is None:
            return None
        db = self.dmabufs.get(address)
        if db is None:
            db = DmaBuf(address, start_known=False)
            self.dmabufs[address] = db
        return db

    # --- checks against the kernel's counters -------------------------------------------------
    def _check(self, op: dict[str, Any], obj: Obj | None, db: DmaBuf | None) -> None:
        for counter, attr in CHECKED.items():
            kernel = op.get(counter)
            if kernel is None or obj is None:
                continue
            model = getattr(obj, attr)
            self.checks.append(_check_row(op, obj.object, obj.generation, counter, kernel, model))
            setattr(obj, attr, kernel)
        for counter, attr in DMABUF_CHECKED.items():
            kernel = op.get(counter)
            if kernel is None or db is None:
                continue
            model = getattr(db, attr)
            self.checks.append(_check_row(op, db.dmabuf, None, counter, kernel, model))
            setattr(db, attr, kernel)

    # --- one op -------------------------------------------------------------------------------
    def step(self, op: dict[str, Any]) -> None:
        kind = op["op"]
        address, generation = op.get("object"), op.get("generation")
        db = self._dmabuf(op.get("dmabuf")) if kind.startswith("dmabuf") or kind == "mmap" else None
        if kind == "dmabuf_export":
            # one file reference for the exporter's fd; a PRIME export also caches the dma-buf
            # in obj->dma_buf with a reference of its own (export_and_register_object)
            # (counted in _apply, after the probe's sample)
            db = DmaBuf(op["dmabuf"], start_known=True)
            self.dmabufs[op["dmabuf"]] = db
        obj: Obj | None
        if kind == "create":
            prev = self.objs.get(address) if address is not None else None
            if prev is not None and prev.alive:
                prev.uncertain = True  # its free was not seen
            # kref_init runs in the function body, after any sample the probe took
            obj = Obj(address, generation or 0, start_known=True)  # type: ignore[arg-type]
            self.objs[address] = obj  # type: ignore[index]
            self.by_key[obj.key] = obj
            self.borrowed[op["pid"]].append(obj.key)
        elif kind == "mmap" and address is None and db is not None and db.obj is not None:
            obj = self.by_key.get(db.obj)
        else:
            obj = self._obj(address, generation)
        self._check(op, obj, db)
        self.touched, self.touched_db = {}, {}
        if obj is not None:
            obj.refused = None
        self._apply(kind, op, obj, db)
        self.rows.append(_state_row(op, obj, db))
        for key in sorted(self.touched):
            if obj is None or key != obj.key:
                self.rows.append(_state_row(op, self.touched[key], None, implicit=True))
        for address in sorted(self.touched_db):
            if db is None or address != db.dmabuf:
                self.rows.append(_state_row(op, None, self.touched_db[address], implicit=True))

    def _apply(self, kind: str, op: dict[str, Any], obj: Obj | None, db: DmaBuf | None) -> None:
        pid = op["pid"]
        # threads share their process's fds
        table = op["tgid"] if op.get("tgid") is not None else pid
        owner = op.get("owner")
        if kind in BOUNDARIES:
            # back in userspace: what the task's calls borrowed is gone
            for key in self.borrowed.pop(pid, []):
                held = self.by_key.get(key)
                if held is not None and held.alive:
                    held.refs -= 1
                    self.touched[held.key] = held
            for dmabuf in self.borrowed_db.pop(pid, []):
                self._fput(dmabuf)
        if kind in ("get", "create") and obj is not None:
            obj.refs += 1
            if owner == "call" and kind == "get":
                self.borrowed[pid].append(obj.key)
            elif owner == "fb" and op.get("fb") is None:
                # a lookup no named destroy claims (dialects._claim_lookups): the fallback's
                self.fb_pending[pid].append(obj.key)
        elif kind == "put":
            if owner == "fb" and obj is None:
                for key in self._fb_objects(op):
                    held = self.by_key.get(key)
                    if held is not None:
                        held.refs -= 1
                        self.touched[held.key] = held
            elif obj is not None:
                obj.refs -= 1
        elif kind == "handle_create" and obj is not None:
            if obj.handles == 0:
                obj.refs += 1
            obj.handles += 1
            if op.get("file") is not None:
                obj.per_file[op["file"]] += 1
        elif kind == "handle_get" and obj is not None:
            obj.handles += 1
        elif kind == "handle_release" and obj is not None:
            if op.get("file") is not None:
                obj.per_file[op["file"]] -= 1
        elif kind == "handle_put" and obj is not None:
            obj.handles -= 1
            if obj.handles == 0:
                obj.refs -= 1
        elif kind == "file_close" and op.get("file") is not None:
            self.closed_files.add(op["file"])
        elif kind == "free" and obj is not None:
            obj.alive = False
            for keys in self.borrowed.values():
                keys[:] = [k for k in keys if k != obj.key]
        elif kind in ("userptr_pin", "userptr_unpin") and obj is not None:
            # pin_user_pages*() pin what they return (count), unpin_user_pages() its npages
            pages = op.get("count") or 0
            obj.userptr_pages += pages if kind == "userptr_pin" else -pages
        elif kind in _COUNTER_DELTA and obj is not None:
            attr, delta = _COUNTER_DELTA[kind]
            if attr in FLOORED and getattr(obj, attr) + delta < 0:
                # the kernel warns and leaves the count at 0 (drm_gem_shmem_put_pages_locked:
                # "if (drm_WARN_ON_ONCE(obj->dev, !shmem->pages_use_count)) return;")
                obj.refused = attr
                return
            setattr(obj, attr, getattr(obj, attr) + delta)
            if kind == "vmap" and op.get("address") is not None:
                obj.vaddr = op["address"]
            elif kind == "vunmap" and obj.vmaps == 0:
                obj.vaddr = None
        elif kind == "mmap" and obj is not None:
            obj.refs += 1
            obj.mappings += 1
            vma = op.get("vma")
            if db is not None and vma is not None:
                db.f_count += 1  # the vma holds the dma-buf's file
                self.vma_dmabuf[vma] = db.dmabuf
            elif vma is not None and op.get("func") == "drm_gem_vm_open":
                # a split or forked vma of a dma-buf mapping holds the file too
                backing = next(
                    (d for v, d in self.vma_dmabuf.items() if self._vma_obj(d) == obj.key), None
                )
                if backing is not None:
                    self.dmabufs[backing].f_count += 1
                    self.touched_db[backing] = self.dmabufs[backing]
                    self.vma_dmabuf[vma] = backing
        elif kind == "munmap" and obj is not None:
            obj.refs -= 1
            obj.mappings -= 1
            backing = self.vma_dmabuf.pop(op.get("vma") or -1, None)
            if backing is not None and backing in self.dmabufs:
                self.dmabufs[backing].f_count -= 1
                self.touched_db[backing] = self.dmabufs[backing]
        elif kind == "dmabuf_export" and db is not None:
            db.f_count += 2 if owner == "prime" else 1
            db.obj = obj.key if obj is not None else None
            db.export_pending = True
        elif kind == "dmabuf_fd" and db is not None and op.get("count") is not None:
            # the first fd of a new dma-buf owns the export's reference; a re-export of a cached
            # dma-buf took a new one first (drm_gem_prime_handle_to_fd: "get_dma_buf(dmabuf)")
            if not db.export_pending:
                db.f_count += 1
            db.export_pending = False
            self.fds[table][op["count"]] = db.dmabuf
        elif kind == "fd_close" and op.get("count") is not None:
            self._fput(self.fds[table].pop(op["count"], None))
        elif kind == "task_exit":
            for dmabuf in self.fds.pop(table, {}).values():
                self._fput(dmabuf)
        elif kind == "dmabuf_import" and db is not None:
            # drm_gem_prime_import_dev: "get_dma_buf(dma_buf)" for the attachment, and
            # drm_gem_prime_fd_to_handle caches it in the new object: "obj->dma_buf = dma_buf;
            # get_dma_buf(dma_buf)" (dropped with the object's last handle)
            db.f_count += 2
        elif kind in _DMABUF_DELTA and db is not None:
            attr, delta = _DMABUF_DELTA[kind]
            setattr(db, attr, getattr(db, attr) + delta)
            if kind == "dmabuf_get" and owner == "call":
                self.borrowed_db[pid].append(db.dmabuf)
        elif kind == "dmabuf_release" and db is not None:
            db.alive = False
        elif kind == "job_submit" and op.get("job") is not None:
            # a job uses every object submitted with it (drm_sched_job_add_implicit_dependencies
            # once per BO); queue and run events of one job are the same job
            members = self.jobs.setdefault(op["job"], [])
            if obj is not None and all(key != obj.key for key, _ in members):
                # owner "job": the driver looked the BO up for the job and holds that reference
                # until the job is done (panfrost/lima/v3d drm_gem_objects_lookup)
                holds = owner == "job"
                members.append((obj.key, holds))
                obj.jobs += 1
                obj.refs += holds
        elif kind == "job_done":
            # its finished fence signalled: the job no longer uses any of its objects; a done
            # whose submit was not seen changes nothing
            for key, holds in self.jobs.pop(op.get("job") or "", []):
                held = self.by_key.get(key)
                if held is not None:
                    held.jobs -= 1
                    if holds and held.alive:
                        held.refs -= 1
                    self.touched[held.key] = held
        elif kind == "lost_events":
            # what was alive may have changed unseen: uncertain from here on, a row of its own
            # where that is new (the state after this op is not the state before it)
            for o in self.objs.values():
                if o.alive and not o.uncertain:
                    o.uncertain = True
                    self.touched[o.key] = o
        elif kind == "madvise" and obj is not None:
            obj.madv = op.get("count")
        elif kind == "purge" and obj is not None:
            obj.purged = True

    def _fput(self, dmabuf: int | None) -> None:
        """An fd behind which a dma-buf was is closed (or a reference a call borrowed goes): its
        file reference goes. An fd holds a reference, so where the model counts none, the fd
        was already closed where the capture does not show it (a close of a task whose syscalls
        are not traced): nothing more goes."""
        db = self.dmabufs.get(dmabuf) if dmabuf is not None else None
        if db is not None and db.alive:
            if db.f_count > 0:
                db.f_count -= 1
            self.touched_db[db.dmabuf] = db

    def _vma_obj(self, dmabuf: int) -> tuple[int, int] | None:
        db = self.dmabufs.get(dmabuf)
        return db.obj if db is not None else None

    def _fb_objects(self, op: dict[str, Any]) -> list[tuple[int, int]]:
        """The object a destroyed framebuffer that names none held: the oldest reference the
        task looked up for a framebuffer and no named destroy claims (FIFO), else the oldest of
        the first task that has one."""
        pending = self.fb_pending.get(op["pid"]) or next(
            (p for p in self.fb_pending.values() if p), []
        )
        return [pending.pop(0)] if pending else []


_COUNTER_DELTA = {
    "pin": ("pins", 1),
    "unpin": ("pins", -1),
    "kmap": ("kmaps", 1),
    "kunmap": ("kmaps", -1),
    "vmap": ("vmaps", 1),
    "vunmap": ("vmaps", -1),
    "get_pages": ("pages", 1),
    "put_pages": ("pages", -1),
    "gpu_map": ("gpu_maps", 1),
    "gpu_unmap": ("gpu_maps", -1),
}
_DMABUF_DELTA = {
    "dmabuf_get": ("f_count", 1),
    "dmabuf_put": ("f_count", -1),
    "dmabuf_vmap": ("db_vmaps", 1),
    "dmabuf_vunmap": ("db_vmaps", -1),
    "dmabuf_attach": ("attachments", 1),
    "dmabuf_detach": ("attachments", -1),
    "dmabuf_map": ("maps", 1),
    "dmabuf_unmap": ("maps", -1),
}


def _check_row(
    op: dict[str, Any], key: int, generation: int | None, counter: str, kernel: int, model: int
) -> dict[str, Any]:
    return {
        "source": op["source"],
        "line": op["line"],
        "seq": op["seq"],
        "func": op.get("func"),
        "object": key,
        "generation": generation,
        "counter": counter,
        "kernel": kernel,
        "model": model,
    }


def _state_row(
    op: dict[str, Any], obj: Obj | None, db: DmaBuf | None, *, implicit: bool = False
) -> dict[str, Any]:
    row = {k: op.get(k) for k in STATE_OP_COLUMNS}
    row["implicit"] = implicit
    if obj is not None:
        row.update(
            object=obj.object,
            generation=obj.generation,
            refs=obj.refs,
            handles=obj.handles,
            pins=obj.pins,
            kmaps=obj.kmaps,
            vmaps=obj.vmaps,
            vaddr=obj.vaddr,
            pages=obj.pages,
            mappings=obj.mappings,
            gpu_maps=obj.gpu_maps,
            userptr_pages=obj.userptr_pages,
            jobs=obj.jobs,
            alive=obj.alive,
            start_known=obj.start_known,
            uncertain=obj.uncertain,
            refused=None if implicit else obj.refused,
            madv=obj.madv,
            purged=obj.purged,
            file_handles=obj.per_file.get(op["file"], 0)
            if op.get("file") is not None and not implicit
            else None,
        )
    if db is not None:
        row.update(
            dmabuf=db.dmabuf,
            f_count=db.f_count,
            db_vmaps=db.db_vmaps,
            attachments=db.attachments,
            db_alive=db.alive,
            db_start_known=db.start_known,
        )
    return row


def framebuffer_guesses(ops: pl.DataFrame) -> pl.DataFrame:
    """``(source, seq, object, generation)``: for each framebuffer destroy that names no object
    (:meth:`Replay._fb_objects` guesses which) while the lookups it could have put are of more
    than one object, each of those objects.

    ``drm_gem_fb_destroy`` shows only the framebuffer's address. Where nothing names the objects
    (no vmap, no 6.12 handle put: ``dialects.framebuffer_objects``), the model puts the task's
    oldest lookup, which is right when framebuffers go in the order they came; when they do not,
    one object keeps a reference the kernel dropped and another loses one it kept. Which one is
    not in the capture: from the destroy on, those objects' counts are uncertain
    (:func:`mark_guessed`), and the oracle does not hold such a difference against the model."""
    out: list[tuple[str, int, int, int]] = []
    # most captures have no put that names no object: found without reading a string
    if ops.select(((pl.col("op") == "put") & pl.col("object").is_null()).any()).item():
        fb = pl.col("owner") == "fb"
        rows = ops.filter(fb & pl.col("op").is_in(["get", "put"])).select(
            "source", "seq", "op", "pid", "object", "generation", "fb"
        )
        pending: dict[str, dict[int, list[tuple[int, int]]]] = defaultdict(dict)
        for source, seq, kind, pid, obj, gen, address in rows.iter_rows():
            tasks = pending[source]
            if kind == "get" and obj is not None and address is None:
                tasks.setdefault(pid, []).append((obj, gen or 0))
            elif kind == "put" and obj is None:
                held = {key for lookups in tasks.values() for key in lookups}
                if len(held) > 1:
                    out.extend((source, seq, o, g) for o, g in sorted(held))
                lookups = tasks.get(pid) or next((t for t in tasks.values() if t), [])
                if lookups:
                    lookups.pop(0)
    return pl.DataFrame(
        out,
        schema={
            "source": pl.String,
            "seq": pl.Int64,
            "object": STATES["object"],
            "generation": STATES["generation"],
        },
        orient="row",
    )


def mark_guessed(states: pl.DataFrame, ops: pl.DataFrame) -> pl.DataFrame:
    """``states`` with the objects of :func:`framebuffer_guesses` ``uncertain`` from the first
    destroy that may have put them."""
    guesses = framebuffer_guesses(ops)
    if guesses.height == 0:
        return states
    first = guesses.group_by("source", "object", "generation").agg(
        pl.col("seq").min().alias("_guessed")
    )
    return (
        states.join(first, on=["source", "object", "generation"], how="left", maintain_order="left")
        .with_columns(
            uncertain=pl.col("uncertain") | (pl.col("seq") >= pl.col("_guessed")).fill_null(False)
        )
        .drop("_guessed")
    )


def replay_reference(ops: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """STATES and VERIFY for ``ops`` (one or more sources, each replayed on its own)."""
    states: list[dict[str, Any]] = []
    checks: list[dict[str, Any]] = []
    for _, group in ops.sort(["source", "seq"]).group_by("source", maintain_order=True):
        rep = Replay()
        for op in group.iter_rows(named=True):
            rep.step({**op, "op": str(op["op"])})
        states.extend(rep.rows)
        checks.extend(rep.checks)
    st = pl.from_dicts(states, schema=STATES) if states else pl.DataFrame(schema=STATES)
    ck = pl.from_dicts(checks, schema=VERIFY) if checks else pl.DataFrame(schema=VERIFY)
    return mark_guessed(st, ops), ck
