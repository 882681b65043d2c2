"""The buffer-object model in one compiled pass: the reference interpreter's steps, over arrays.

:mod:`tracekit.model.reference` says what the model means, op by op, in plain Python;
:mod:`tracekit.model.engine` computes the same tables column-wise in polars. Neither reaches
millions of ops a second: the reference interprets every op, and the engine's joins and windowed
scans materialise dozens of intermediate columns. This module runs the reference's
:meth:`~tracekit.model.reference.Replay.step` as a single loop compiled by numba, over the ops'
Arrow buffers (no copies in), into preallocated output columns (no copies out):

- objects and dma-bufs are rows of two int64 tables, found through open-addressing hash tables
  keyed by (address, generation) and address;
- what a task borrowed, the framebuffer references it looked up, its dma-buf fds, the vmas backed
  by a dma-buf and the objects of each job are linked lists of entries in arrays;
- each step writes the op's row, then the rows of the objects and dma-bufs it changed without
  naming them, in the reference's order, so the output needs no sort.

``tests/test_model_differential.py`` requires the three to produce identical tables on random op
sequences and on every real capture. The loop is compiled once per machine and cached
(``cache=True``); :func:`tracekit.model.engine.replay` uses it for large inputs and the polars
engine for small ones, where compiling or loading the cache would cost more than the replay.

Op kinds, object fields and counter codes below are this module's own numbering: the wrapper maps
the schema's op enum onto it, so a cached compilation never holds a stale copy of the schema.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from tracekit.model import reference
from tracekit.schema import FD_TABLE, OPS, STATE_OP_COLUMNS, STATES, VERIFY

# ------------------------------------------------------------------------------------------------
# kinds of op, as the loop numbers them

KINDS = (
    "other",
    "create",
    "free",
    "get",
    "put",
    "handle_create",
    "handle_get",
    "handle_release",
    "handle_put",
    # plain counter deltas: DELTA_FIELD, DELTA_BY
    "pin",
    "unpin",
    "kmap",
    "kunmap",
    "vmap",
    "vunmap",
    "get_pages",
    "put_pages",
    "gpu_map",
    "gpu_unmap",
    "userptr_pin",
    "userptr_unpin",
    "mmap",
    "munmap",
    # the dma-buf ops (the reference's kind.startswith("dmabuf"))
    "dmabuf_export",
    "dmabuf_fd",
    "dmabuf_import",
    # plain dma-buf counter deltas: DB_DELTA_FIELD, DB_DELTA_BY
    "dmabuf_get",
    "dmabuf_put",
    "dmabuf_vmap",
    "dmabuf_vunmap",
    "dmabuf_attach",
    "dmabuf_detach",
    "dmabuf_map",
    "dmabuf_unmap",
    "dmabuf_release",
    "job_submit",
    "job_done",
    "lost_events",
    "madvise",
    "purge",
    # the task is back in userspace (reference.BOUNDARIES), from here to the end
    "fd_close",
    "task_exit",
    "syscall_exit",
    "syscall_enter",
    "ioctl_exit",
    "ioctl_enter",
)
assert set(KINDS[KINDS.index("fd_close") :]) == reference.BOUNDARIES
K_CREATE = KINDS.index("create")
K_FREE = KINDS.index("free")
K_GET = KINDS.index("get")
K_PUT = KINDS.index("put")
K_HANDLE_CREATE = KINDS.index("handle_create")
K_HANDLE_GET = KINDS.index("handle_get")
K_HANDLE_RELEASE = KINDS.index("handle_release")
K_HANDLE_PUT = KINDS.index("handle_put")
K_PIN = KINDS.index("pin")
K_GPU_UNMAP = KINDS.index("gpu_unmap")
K_USERPTR_PIN = KINDS.index("userptr_pin")
K_USERPTR_UNPIN = KINDS.index("userptr_unpin")
K_MMAP = KINDS.index("mmap")
K_MUNMAP = KINDS.index("munmap")
K_DMABUF_EXPORT = KINDS.index("dmabuf_export")
K_DMABUF_FD = KINDS.index("dmabuf_fd")
K_DMABUF_IMPORT = KINDS.index("dmabuf_import")
K_DMABUF_GET = KINDS.index("dmabuf_get")
K_DMABUF_UNMAP = KINDS.index("dmabuf_unmap")
K_DMABUF_RELEASE = KINDS.index("dmabuf_release")
K_JOB_SUBMIT = KINDS.index("job_submit")
K_JOB_DONE = KINDS.index("job_done")
K_LOST_EVENTS = KINDS.index("lost_events")
K_MADVISE = KINDS.index("madvise")
K_PURGE = KINDS.index("purge")
K_FD_CLOSE = KINDS.index("fd_close")
K_TASK_EXIT = KINDS.index("task_exit")

# owner codes
OWN_CALL = 1
OWN_FB = 2
OWN_JOB = 3
OWN_PRIME = 4
OWNERS = {"call": OWN_CALL, "fb": OWN_FB, "job": OWN_JOB, "prime": OWN_PRIME}

# an object's fields (a row of the object table)
F_ADDR = 0
F_GEN = 1
F_KNOWN = 2
F_REFS = 3
F_HANDLES = 4
F_PINS = 5
F_KMAPS = 6
F_VMAPS = 7
F_PAGES = 8
F_MAPPINGS = 9
F_GPU_MAPS = 10
F_USERPTR = 11
F_JOBS = 12
F_VADDR = 13
F_VADDR_OK = 14
F_MADV = 15
F_MADV_OK = 16
F_PURGED = 17
F_ALIVE = 18
F_UNCERTAIN = 19
F_REFUSED = 20
F_CURRENT = 21
F_STAMP = 22
NF = 23
REFUSED = {F_PINS: "pins", F_KMAPS: "kmaps", F_VMAPS: "vmaps", F_PAGES: "pages"}
"""Codes of ``refused``: the field the op found at 0."""
assert set(REFUSED.values()) == reference.FLOORED

# a dma-buf's fields
D_ADDR = 0
D_KNOWN = 1
D_PENDING = 2
D_OBJ_ADDR = 3
D_OBJ_GEN = 4
D_OBJ_OK = 5
D_F_COUNT = 6
D_VMAPS = 7
D_ATTACHMENTS = 8
D_MAPS = 9
D_ALIVE = 10
D_STAMP = 11
ND = 12

# kind -> (field, delta) of the plain counters, restated here, not derived: the compiled loop
# holds these tables as constants, and its cache only knows when this file changes; a change to
# the reference stops the import instead


def _deltas(
    rows: tuple[tuple[str, int, int], ...], names: dict[int, str], reference_table: dict
) -> tuple[np.ndarray, np.ndarray]:
    """The field and the delta of each kind in ``rows``, checked against the reference's
    ``{kind: (name, delta)}`` (``names``: the field of each name)."""
    field = np.zeros(len(KINDS), np.int64)
    by = np.zeros(len(KINDS), np.int64)
    for kind, f, b in rows:
        field[KINDS.index(kind)] = f
        by[KINDS.index(kind)] = b
    restated = {k: (names[field[n]], int(by[n])) for n, k in enumerate(KINDS) if by[n]}
    assert restated == reference_table, "the reference's deltas changed: update these"
    return field, by


DELTA_FIELD, DELTA_BY = _deltas(
    (
        ("pin", F_PINS, 1),
        ("unpin", F_PINS, -1),
        ("kmap", F_KMAPS, 1),
        ("kunmap", F_KMAPS, -1),
        ("vmap", F_VMAPS, 1),
        ("vunmap", F_VMAPS, -1),
        ("get_pages", F_PAGES, 1),
        ("put_pages", F_PAGES, -1),
        ("gpu_map", F_GPU_MAPS, 1),
        ("gpu_unmap", F_GPU_MAPS, -1),
    ),
    {F_PINS: "pins", F_KMAPS: "kmaps", F_VMAPS: "vmaps", F_PAGES: "pages", F_GPU_MAPS: "gpu_maps"},
    reference._COUNTER_DELTA,
)
DB_DELTA_FIELD, DB_DELTA_BY = _deltas(
    (
        ("dmabuf_get", D_F_COUNT, 1),
        ("dmabuf_put", D_F_COUNT, -1),
        ("dmabuf_vmap", D_VMAPS, 1),
        ("dmabuf_vunmap", D_VMAPS, -1),
        ("dmabuf_attach", D_ATTACHMENTS, 1),
        ("dmabuf_detach", D_ATTACHMENTS, -1),
        ("dmabuf_map", D_MAPS, 1),
        ("dmabuf_unmap", D_MAPS, -1),
    ),
    {D_F_COUNT: "f_count", D_VMAPS: "db_vmaps", D_ATTACHMENTS: "attachments", D_MAPS: "maps"},
    reference._DMABUF_DELTA,
)
# the counters that stop at 0 (the kernel's WARN_ON_ONCE(!count) return)
FLOOR = np.zeros(NF, np.bool_)
for _field in REFUSED:
    FLOOR[_field] = True

# input columns: values (int64) and Arrow validity bitmaps, in this order
IN_COLUMNS = (
    "object",
    "generation",
    "dmabuf",
    "file",
    "address",
    "vma",
    "count",
    # the kernel's counters, in the reference's check order
    "refcount",
    "handle_count",
    "pages_use_count",
    "vmap_use_count",
    "f_count",
    "vmapping_counter",
)
(I_OBJ, I_GEN, I_DB, I_FILE, I_ADDRESS, I_VMA, I_COUNT) = range(7)
I_SAMPLE = 7  # the first of the samples
assert IN_COLUMNS[I_SAMPLE:] == (*reference.CHECKED, *reference.DMABUF_CHECKED)

# output columns, by width: the op each row belongs to; 64-bit addresses; 32-bit counts (the
# kernel's counters are ints: refcount_t, atomic_t, unsigned int); flags
W_ADDRESS = ("object", "vaddr", "dmabuf")
W_COUNT = (
    "generation",
    "refs",
    "handles",
    "file_handles",
    "pins",
    "kmaps",
    "vmaps",
    "pages",
    "mappings",
    "gpu_maps",
    "userptr_pages",
    "jobs",
    "madv",
    "f_count",
    "db_vmaps",
    "attachments",
)
W_FLAG = (
    "implicit",
    "purged",
    "alive",
    "start_known",
    "uncertain",
    "refused",
    "db_alive",
    "db_start_known",
)
_STATE = list(STATES)[list(STATES).index("implicit") :]
assert sorted((*W_ADDRESS, *W_COUNT, *W_FLAG)) == sorted(_STATE), "STATES changed: update these"
A_OBJECT, A_VADDR, A_DMABUF = range(3)
(
    C_GEN,
    C_REFS,
    C_HANDLES,
    C_FILE_HANDLES,
    C_PINS,
    C_KMAPS,
    C_VMAPS,
    C_PAGES,
    C_MAPPINGS,
    C_GPU_MAPS,
    C_USERPTR,
    C_JOBS,
    C_MADV,
    C_F_COUNT,
    C_DB_VMAPS,
    C_ATTACHMENTS,
) = range(len(W_COUNT))
(
    X_IMPLICIT,
    X_PURGED,
    X_ALIVE,
    X_KNOWN,
    X_UNCERTAIN,
    X_REFUSED,
    X_DB_ALIVE,
    X_DB_KNOWN,
) = range(len(W_FLAG))
# validity bitmaps: the object's, the dma-buf's, and the three nullable object columns
B_OBJ, B_DB, B_FILE_HANDLES, B_VADDR, B_MADV = range(5)
NB = 5
VALIDITY = {
    **{c: B_OBJ for c in (*W_ADDRESS, *W_COUNT, *W_FLAG)},
    **{
        c: B_DB
        for c in ("dmabuf", "f_count", "db_vmaps", "attachments", "db_alive", "db_start_known")
    },
    "file_handles": B_FILE_HANDLES,
    "vaddr": B_VADDR,
    "madv": B_MADV,
    "implicit": -1,
    "refused": -1,
}

# check rows: op index, counter (index into IN_COLUMNS[I_SAMPLE:]), object, generation, kernel,
# model
NCHECK = 6

EMPTY = -2  # a hash slot never used; -1 is a key whose value was removed

AHEAD = 64
"""How many ops ahead the loop asks for the input columns it reads now and then."""


def _prefetch_typed(typingctx: Any, array: Any, index: Any) -> Any:
    """Ask the CPU for the cache line of ``array[index]``, without waiting for it: a hint (no
    load, no fault, nothing changes if the index is out of bounds). The loop reads the op's
    sparse columns (a sampled counter every 25 ops or so) where no hardware prefetcher
    follows it, so each such read waited for memory."""
    if not isinstance(array, types.Array) or array.ndim != 1:
        return None
    signature = types.void(array, types.intp)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        data = context.make_array(sig.args[0])(context, builder, args[0]).data
        width = context.get_abi_sizeof(context.get_data_type(sig.args[0].dtype))
        byte = ir.IntType(8).as_pointer()
        at = builder.add(
            builder.ptrtoint(data, ir.IntType(64)),
            builder.mul(args[1], ir.Constant(ir.IntType(64), width)),
        )
        i32 = ir.IntType(32)
        fn = builder.module.declare_intrinsic(
            "llvm.prefetch", [byte], ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32])
        )
        # a read, kept in every cache level, of data
        builder.call(
            fn,
            [
                builder.inttoptr(at, byte),
                ir.Constant(i32, 0),
                ir.Constant(i32, 3),
                ir.Constant(i32, 1),
            ],
        )
        return context.get_dummy_value()

    return signature, codegen


_prefetch: Any = intrinsic(_prefetch_typed)


# ------------------------------------------------------------------------------------------------
# open-addressing hash tables: (k1, k2) -> value >= 0, linear probing; sized by the caller, never
# more than half full (the loop stops and asks for bigger ones)


@njit(cache=True)
def _slot(table: np.ndarray, k1: int, k2: int) -> int:
    mask = table.shape[0] - 1
    h = np.uint64(k1) * np.uint64(0x9E3779B97F4A7C15) ^ np.uint64(k2) * np.uint64(
        0xC2B2AE3D27D4EB4F
    )
    h ^= h >> np.uint64(33)
    h *= np.uint64(0xFF51AFD7ED558CCD)
    h ^= h >> np.uint64(33)
    s = np.int64(h & np.uint64(mask))
    while True:
        v = table[s, 2]
        if v == EMPTY or (table[s, 0] == k1 and table[s, 1] == k2):
            return s
        s = (s + 1) & mask


@njit(cache=True)
def _get(table: np.ndarray, k1: int, k2: int) -> int:
    v = table[_slot(table, k1, k2), 2]
    return v if v >= 0 else -1


@njit(cache=True)
def _put(table: np.ndarray, used: int, k1: int, k2: int, v: int) -> int:
    """Set ``(k1, k2)`` to ``v``; the number of keys now used. The tables never grow (a table
    that changes identity in the loop costs a reference count at every use): the caller sizes
    them, and a table more than half full makes the loop stop and ask for bigger ones."""
    s = _slot(table, k1, k2)
    if table[s, 2] == EMPTY:
        used += 1
        table[s, 0] = k1
        table[s, 1] = k2
    table[s, 2] = v
    return used


@njit(cache=True)
def _valid(bitmap: np.ndarray, offset: int, i: int) -> bool:
    if bitmap.size == 0:
        return True
    j = offset + i
    return (bitmap[j >> 3] >> (j & 7)) & 1 == 1


@njit(cache=True)
def _write_obj(
    addresses: np.ndarray,
    counts: np.ndarray,
    flags: np.ndarray,
    bits: np.ndarray,
    objs: np.ndarray,
    o: int,
    r: int,
) -> None:
    bits[B_OBJ, r >> 3] |= np.uint8(1 << (r & 7))
    addresses[A_OBJECT, r] = objs[o, F_ADDR]
    counts[C_GEN, r] = objs[o, F_GEN]
    counts[C_REFS, r] = objs[o, F_REFS]
    counts[C_HANDLES, r] = objs[o, F_HANDLES]
    counts[C_PINS, r] = objs[o, F_PINS]
    counts[C_KMAPS, r] = objs[o, F_KMAPS]
    counts[C_VMAPS, r] = objs[o, F_VMAPS]
    counts[C_PAGES, r] = objs[o, F_PAGES]
    counts[C_MAPPINGS, r] = objs[o, F_MAPPINGS]
    counts[C_GPU_MAPS, r] = objs[o, F_GPU_MAPS]
    counts[C_USERPTR, r] = objs[o, F_USERPTR]
    counts[C_JOBS, r] = objs[o, F_JOBS]
    flags[X_PURGED, r] = objs[o, F_PURGED]
    flags[X_ALIVE, r] = objs[o, F_ALIVE]
    flags[X_KNOWN, r] = objs[o, F_KNOWN]
    flags[X_UNCERTAIN, r] = objs[o, F_UNCERTAIN]
    # without branches: a function that branches holds references to its arrays
    addresses[A_VADDR, r] = objs[o, F_VADDR]
    bits[B_VADDR, r >> 3] |= np.uint8(objs[o, F_VADDR_OK] << (r & 7))
    counts[C_MADV, r] = objs[o, F_MADV]
    bits[B_MADV, r >> 3] |= np.uint8(objs[o, F_MADV_OK] << (r & 7))


@njit(cache=True)
def _write_db(
    addresses: np.ndarray,
    counts: np.ndarray,
    flags: np.ndarray,
    bits: np.ndarray,
    dbs: np.ndarray,
    d: int,
    r: int,
) -> None:
    bits[B_DB, r >> 3] |= np.uint8(1 << (r & 7))
    addresses[A_DMABUF, r] = dbs[d, D_ADDR]
    counts[C_F_COUNT, r] = dbs[d, D_F_COUNT]
    counts[C_DB_VMAPS, r] = dbs[d, D_VMAPS]
    counts[C_ATTACHMENTS, r] = dbs[d, D_ATTACHMENTS]
    flags[X_DB_ALIVE, r] = dbs[d, D_ALIVE]
    flags[X_DB_KNOWN, r] = dbs[d, D_KNOWN]


@njit(cache=True)
def _sort_by_key(table: np.ndarray, idx: np.ndarray, n: int, k1: int, k2: int) -> None:
    """Order ``idx[:n]`` in place as Python orders (address, generation) keys: unsigned
    addresses. An op changes a few objects it does not name: an insertion sort, unless many."""
    flip = np.int64(-9223372036854775808)
    if n > 32:
        a = np.empty(n, np.int64)
        b = np.empty(n, np.int64)
        for j in range(n):
            a[j] = table[idx[j], k1] ^ flip
            b[j] = table[idx[j], k2] if k2 >= 0 else 0
        order = np.argsort(b, kind="mergesort")
        order = order[np.argsort(a[order], kind="mergesort")]
        idx[:n] = idx[:n][order]
        return
    for j in range(1, n):
        x = idx[j]
        xa = table[x, k1] ^ flip
        xb = table[x, k2] if k2 >= 0 else 0
        m = j - 1
        while m >= 0:
            y = idx[m]
            ya = table[y, k1] ^ flip
            yb = table[y, k2] if k2 >= 0 else 0
            if ya < xa or (ya == xa and yb <= xb):
                break
            idx[m + 1] = y
            m -= 1
        idx[m + 1] = x


@njit(cache=True, nogil=True)
def _number(
    values: np.ndarray, bitmap: np.ndarray, offset: int, new_source: np.ndarray, table: np.ndarray
) -> tuple[np.ndarray, int]:
    """Each valid value's number, dense from 0 in the order first seen and new in each source
    (-1 where null), and how many; ``-1`` for how many if the hash ``table`` (empty) would be
    more than half full (the caller asks again with a bigger one)."""
    n = values.size
    ids = np.empty(n, np.int64)
    size = table.shape[0] // 2
    used = 0
    top = 0
    for i in range(n):
        if new_source[i]:
            table[:, 2] = EMPTY
            used = 0
        if not _valid(bitmap, offset, i):
            ids[i] = -1
            continue
        s = _slot(table, values[i], 0)
        if table[s, 2] == EMPTY:
            used += 1
            if used > size:
                return ids, -1
            table[s, 0] = values[i]
            table[s, 1] = 0
            table[s, 2] = top
            top += 1
        ids[i] = table[s, 2]
    return ids, top


@njit(cache=True)
def _run(
    kind: np.ndarray,
    address_id: np.ndarray,
    new_source: np.ndarray,
    pid: np.ndarray,
    pid_bits: np.ndarray,
    pid_offset: int,
    fd_table: np.ndarray,
    owner: np.ndarray,
    vm_open: np.ndarray,
    job: np.ndarray,
    work: tuple,
    heads: np.ndarray,
    current: np.ndarray,
    job_head: np.ndarray,
    values: tuple,
    bitmaps: tuple,
    offsets: np.ndarray,
    at: np.ndarray,
    addresses: np.ndarray,
    counts: np.ndarray,
    flags: np.ndarray,
    bits: np.ndarray,
    checks: np.ndarray,
) -> tuple[int, int]:
    n = kind.size
    cap = at.size
    obj_v, gen_v, db_v, file_v, addr_v, vma_v, count_v = values[:7]
    obj_b, gen_b, db_b, file_b, addr_b, vma_b, count_b = bitmaps[:7]
    # the samples, as locals: taking an array out of a tuple in the loop costs a reference count
    refcount_v, handle_count_v, pages_v, vmaps_v, f_count_v, vmapping_v = values[7:]
    refcount_b, handle_count_b, pages_b, vmaps_b, f_count_b, vmapping_b = bitmaps[7:]
    # the work arrays (_work says what each holds): views taken here, not in the loop
    objs, dbs, borrow, borrow_db, fb, fds, vmas, members = work[:8]
    by_key_t, db_t, slots_t, files_t, fd_t, vmat_t = work[8:]
    tables = (by_key_t, db_t, slots_t, files_t, fd_t, vmat_t)
    borrow_head = heads[0]
    borrow_db_head = heads[1]
    fb_head = heads[2]
    fb_tail = heads[3]
    fb_rank = heads[4]
    fd_head = heads[5]
    fb_order = heads[6]
    touched = heads[7]
    touched_db = heads[8]
    per_file = heads[9]
    n_objs = 0
    n_dbs = 0
    n_slots = 0
    n_tables = 0
    rows = 0
    n_checks = 0
    u_by_key = u_db = u_slots = u_files = u_fd = u_vma = 0
    n_borrow = n_borrow_db = n_fb = n_fb_slots = n_fds = n_vmas = n_members = n_per_file = 0
    vma_first = -1
    vma_last = -1
    first_obj = 0
    for i in range(n):
        if new_source[i]:
            # a new source replays on its own
            for table in tables:
                table[:, 2] = EMPTY
            u_by_key = u_db = u_slots = u_files = u_fd = u_vma = 0
            n_fb_slots = 0
            vma_first = -1
            vma_last = -1
            job_head[:] = -1
            first_obj = n_objs
        if i & 7 == 0 and i + AHEAD < n:
            # the columns read now and then, a line (8 ops) at a time
            j = i + AHEAD
            _prefetch(refcount_v, j)
            _prefetch(handle_count_v, j)
            _prefetch(pages_v, j)
            _prefetch(vmaps_v, j)
            _prefetch(f_count_v, j)
            _prefetch(vmapping_v, j)
            _prefetch(db_v, j)
            _prefetch(file_v, j)
            _prefetch(addr_v, j)
            _prefetch(vma_v, j)
            _prefetch(count_v, j)
            _prefetch(job, j)
            _prefetch(fd_table, j)
        k = kind[i]
        p = np.int64(pid[i]) if _valid(pid_bits, pid_offset, i) else np.int64(-1)
        has_obj = _valid(obj_b, offsets[I_OBJ], i)
        address = obj_v[i]
        has_gen = _valid(gen_b, offsets[I_GEN], i)
        generation = gen_v[i] if has_gen else 0
        # the task's slot, for the ops that need one
        s = -1
        tasked = k >= K_FD_CLOSE or K_CREATE <= k <= K_PUT or k in (K_DMABUF_FD, K_DMABUF_GET)
        if tasked:
            s = _get(slots_t, p, 0)
        if tasked and s < 0:
            s = n_slots
            n_slots += 1
            borrow_head[s] = -1
            borrow_db_head[s] = -1
            fb_head[s] = -1
            fb_tail[s] = -1
            fb_rank[s] = -1
            u_slots = _put(slots_t, u_slots, p, 0, s)
        # the fd table's slot, for the ops that move fds
        ft = -1
        if k in (K_DMABUF_FD, K_FD_CLOSE, K_TASK_EXIT):
            ft = _get(slots_t, fd_table[i], 1)
            if ft < 0:
                ft = n_tables
                n_tables += 1
                fd_head[ft] = -1
                u_slots = _put(slots_t, u_slots, fd_table[i], 1, ft)
        # the dma-buf, for dma-buf ops and mmaps
        d = -1
        has_db = _valid(db_b, offsets[I_DB], i)
        if has_db and (k == K_MMAP or (K_DMABUF_EXPORT <= k <= K_DMABUF_RELEASE)):
            if k == K_DMABUF_EXPORT or _get(db_t, db_v[i], 0) < 0:
                d = n_dbs
                n_dbs += 1
                dbs[d, :] = 0
                dbs[d, D_ADDR] = db_v[i]
                dbs[d, D_KNOWN] = 1 if k == K_DMABUF_EXPORT else 0
                dbs[d, D_ALIVE] = 1
                dbs[d, D_STAMP] = -1
                u_db = _put(db_t, u_db, db_v[i], 0, d)
            else:
                d = _get(db_t, db_v[i], 0)
        # the object
        o = -1
        if k == K_CREATE and has_obj:
            prev = current[address_id[i]]
            if prev >= 0:
                if objs[prev, F_ALIVE] == 1:
                    objs[prev, F_UNCERTAIN] = 1  # its free was not seen
                objs[prev, F_CURRENT] = 0
            o = n_objs
            n_objs += 1
            _new_object(objs, o, address, generation, 1)
            current[address_id[i]] = o
            u_by_key = _put(by_key_t, u_by_key, address, generation, o)
            n_borrow = _borrow(borrow, borrow_head, s, n_borrow, address, generation)
        elif k == K_MMAP and not has_obj and d >= 0 and dbs[d, D_OBJ_OK] == 1:
            o = _get(by_key_t, dbs[d, D_OBJ_ADDR], dbs[d, D_OBJ_GEN])
        elif has_obj:
            cur = current[address_id[i]]
            if cur >= 0 and (not has_gen or objs[cur, F_GEN] == generation):
                o = cur
            elif has_gen:
                o = _get(by_key_t, address, generation)
            if o < 0:
                # first seen mid-life: its start is unknown
                if cur >= 0:
                    objs[cur, F_CURRENT] = 0
                o = n_objs
                n_objs += 1
                _new_object(objs, o, address, generation, 0)
                current[address_id[i]] = o
                u_by_key = _put(by_key_t, u_by_key, address, generation, o)
        # the kernel's own counters: check the model's value before the op, continue from them
        if o >= 0:
            if _valid(refcount_b, offsets[7], i):
                n_checks = _sample(objs, o, F_REFS, F_GEN, refcount_v, i, 0, checks, n_checks)
            if _valid(handle_count_b, offsets[8], i):
                n_checks = _sample(
                    objs, o, F_HANDLES, F_GEN, handle_count_v, i, 1, checks, n_checks
                )
            if _valid(pages_b, offsets[9], i):
                n_checks = _sample(objs, o, F_PAGES, F_GEN, pages_v, i, 2, checks, n_checks)
            if _valid(vmaps_b, offsets[10], i):
                n_checks = _sample(objs, o, F_VMAPS, F_GEN, vmaps_v, i, 3, checks, n_checks)
        if d >= 0:
            if _valid(f_count_b, offsets[11], i):
                n_checks = _sample(dbs, d, D_F_COUNT, -1, f_count_v, i, 4, checks, n_checks)
            if _valid(vmapping_b, offsets[12], i):
                n_checks = _sample(dbs, d, D_VMAPS, -1, vmapping_v, i, 5, checks, n_checks)
        n_touched = 0
        n_touched_db = 0
        if o >= 0:
            objs[o, F_REFUSED] = 0
        own = owner[i]
        # ---- _apply
        if k >= K_FD_CLOSE:
            # back in userspace: what the task's calls borrowed is gone
            e = borrow_head[s]
            while e >= 0:
                held = _get(by_key_t, borrow[e, 0], borrow[e, 1])
                if held >= 0 and objs[held, F_ALIVE] == 1:
                    objs[held, F_REFS] -= 1
                    n_touched = _touch(objs, F_STAMP, held, i, touched, n_touched)
                e = borrow[e, 2]
            borrow_head[s] = -1
            e = borrow_db_head[s]
            while e >= 0:
                n_touched_db = _fput(dbs, db_t, borrow_db[e, 0], touched_db, n_touched_db, i)
                e = borrow_db[e, 1]
            borrow_db_head[s] = -1
        if (k in (K_GET, K_CREATE)) and o >= 0:
            objs[o, F_REFS] += 1
            if own == OWN_CALL and k == K_GET:
                n_borrow = _borrow(
                    borrow, borrow_head, s, n_borrow, objs[o, F_ADDR], objs[o, F_GEN]
                )
            elif own == OWN_FB:
                if fb_rank[s] < 0:
                    fb_rank[s] = n_fb_slots
                    fb_order[n_fb_slots] = s
                    n_fb_slots += 1
                e = n_fb
                n_fb += 1
                fb[e, 0] = objs[o, F_ADDR]
                fb[e, 1] = objs[o, F_GEN]
                fb[e, 2] = -1
                if fb_tail[s] >= 0:
                    fb[fb_tail[s], 2] = e
                else:
                    fb_head[s] = e
                fb_tail[s] = e
        elif k == K_PUT:
            if own == OWN_FB and o < 0:
                # a framebuffer destroy: the task's oldest pending lookup, else the oldest of
                # the first task that has one
                t = s if fb_head[s] >= 0 else -1
                if t < 0:
                    for r in range(n_fb_slots):
                        if fb_head[fb_order[r]] >= 0:
                            t = fb_order[r]
                            break
                if t >= 0:
                    e = fb_head[t]
                    fb_head[t] = fb[e, 2]
                    if fb_tail[t] == e:
                        fb_tail[t] = -1
                    held = _get(by_key_t, fb[e, 0], fb[e, 1])
                    if held >= 0:
                        objs[held, F_REFS] -= 1
                        n_touched = _touch(objs, F_STAMP, held, i, touched, n_touched)
            elif o >= 0:
                objs[o, F_REFS] -= 1
        elif k in (K_HANDLE_CREATE, K_HANDLE_RELEASE) and o >= 0:
            if k == K_HANDLE_CREATE:
                if objs[o, F_HANDLES] == 0:
                    objs[o, F_REFS] += 1
                objs[o, F_HANDLES] += 1
            # the handles of the op's DRM file
            if _valid(file_b, offsets[I_FILE], i):
                e = _get(files_t, o, file_v[i])
                if e < 0:
                    e = n_per_file
                    n_per_file += 1
                    per_file[e] = 0
                    u_files = _put(files_t, u_files, o, file_v[i], e)
                per_file[e] += 1 if k == K_HANDLE_CREATE else -1
        elif k == K_HANDLE_GET and o >= 0:
            objs[o, F_HANDLES] += 1
        elif k == K_HANDLE_PUT and o >= 0:
            objs[o, F_HANDLES] -= 1
            if objs[o, F_HANDLES] == 0:
                objs[o, F_REFS] -= 1
        elif k == K_FREE and o >= 0:
            objs[o, F_ALIVE] = 0
        elif (k in (K_USERPTR_PIN, K_USERPTR_UNPIN)) and o >= 0:
            # pin_user_pages*() pin what they return (count), unpin_user_pages() its npages
            pages = count_v[i] if _valid(count_b, offsets[I_COUNT], i) else 0
            objs[o, F_USERPTR] += pages if k == K_USERPTR_PIN else -pages
        elif K_PIN <= k <= K_GPU_UNMAP and o >= 0:
            field = DELTA_FIELD[k]
            if FLOOR[field] and objs[o, field] + DELTA_BY[k] < 0:
                # the kernel warns and leaves the count at 0
                objs[o, F_REFUSED] = field
            else:
                objs[o, field] += DELTA_BY[k]
                if field == F_VMAPS:
                    if DELTA_BY[k] > 0 and _valid(addr_b, offsets[I_ADDRESS], i):
                        objs[o, F_VADDR] = addr_v[i]
                        objs[o, F_VADDR_OK] = 1
                    elif DELTA_BY[k] < 0 and objs[o, F_VMAPS] == 0:
                        objs[o, F_VADDR_OK] = 0
        elif k == K_MMAP and o >= 0:
            objs[o, F_REFS] += 1
            objs[o, F_MAPPINGS] += 1
            if _valid(vma_b, offsets[I_VMA], i):
                vma = vma_v[i]
                backing = -1  # a dma-buf address
                found = False
                if d >= 0:
                    dbs[d, D_F_COUNT] += 1  # the vma holds the dma-buf's file
                    backing = dbs[d, D_ADDR]
                    found = True
                elif vm_open[i]:
                    # a split or forked vma of a dma-buf mapping holds the file too
                    e = vma_first
                    while e >= 0:
                        b = _get(db_t, vmas[e, 1], 0)
                        if (
                            b >= 0
                            and dbs[b, D_OBJ_OK] == 1
                            and dbs[b, D_OBJ_ADDR] == objs[o, F_ADDR]
                            and dbs[b, D_OBJ_GEN] == objs[o, F_GEN]
                        ):
                            backing = vmas[e, 1]
                            found = True
                            dbs[b, D_F_COUNT] += 1
                            n_touched_db = _touch(dbs, D_STAMP, b, i, touched_db, n_touched_db)
                            break
                        e = vmas[e, 3]
                if found:
                    e = _get(vmat_t, vma, 0)
                    if e < 0:
                        e = n_vmas
                        n_vmas += 1
                        vmas[e, 0] = vma
                        vmas[e, 2] = vma_last
                        vmas[e, 3] = -1
                        if vma_last >= 0:
                            vmas[vma_last, 3] = e
                        else:
                            vma_first = e
                        vma_last = e
                        u_vma = _put(vmat_t, u_vma, vma, 0, e)
                    vmas[e, 1] = backing
        elif k == K_MUNMAP and o >= 0:
            objs[o, F_REFS] -= 1
            objs[o, F_MAPPINGS] -= 1
            vma = vma_v[i] if _valid(vma_b, offsets[I_VMA], i) and vma_v[i] != 0 else -1
            e = _get(vmat_t, vma, 0)
            if e >= 0:
                # unlink the vma
                if vmas[e, 2] >= 0:
                    vmas[vmas[e, 2], 3] = vmas[e, 3]
                else:
                    vma_first = vmas[e, 3]
                if vmas[e, 3] >= 0:
                    vmas[vmas[e, 3], 2] = vmas[e, 2]
                else:
                    vma_last = vmas[e, 2]
                u_vma = _put(vmat_t, u_vma, vma, 0, -1)
                b = _get(db_t, vmas[e, 1], 0)
                if b >= 0:
                    dbs[b, D_F_COUNT] -= 1
                    n_touched_db = _touch(dbs, D_STAMP, b, i, touched_db, n_touched_db)
        elif k == K_DMABUF_EXPORT and d >= 0:
            dbs[d, D_F_COUNT] += 2 if own == OWN_PRIME else 1
            if o >= 0:
                dbs[d, D_OBJ_ADDR] = objs[o, F_ADDR]
                dbs[d, D_OBJ_GEN] = objs[o, F_GEN]
                dbs[d, D_OBJ_OK] = 1
            dbs[d, D_PENDING] = 1
        elif k == K_DMABUF_FD and d >= 0 and _valid(count_b, offsets[I_COUNT], i):
            # the first fd of a new dma-buf owns the export's reference; a re-export of a
            # cached dma-buf took a new one first
            if dbs[d, D_PENDING] == 0:
                dbs[d, D_F_COUNT] += 1
            dbs[d, D_PENDING] = 0
            fd = count_v[i]
            e = _get(fd_t, fd_table[i], fd)
            if e < 0:
                e = n_fds
                n_fds += 1
                fds[e, 0] = fd
                fds[e, 3] = fd_head[ft]
                fd_head[ft] = e
                u_fd = _put(fd_t, u_fd, fd_table[i], fd, e)
            fds[e, 1] = dbs[d, D_ADDR]
            fds[e, 2] = 1
        elif k == K_FD_CLOSE and _valid(count_b, offsets[I_COUNT], i):
            e = _get(fd_t, fd_table[i], count_v[i])
            if e >= 0:
                fds[e, 2] = 0
                u_fd = _put(fd_t, u_fd, fd_table[i], count_v[i], -1)
                n_touched_db = _fput(dbs, db_t, fds[e, 1], touched_db, n_touched_db, i)
        elif k == K_TASK_EXIT:
            e = fd_head[ft]
            while e >= 0:
                if fds[e, 2] == 1:
                    fds[e, 2] = 0
                    u_fd = _put(fd_t, u_fd, fd_table[i], fds[e, 0], -1)
                    n_touched_db = _fput(dbs, db_t, fds[e, 1], touched_db, n_touched_db, i)
                e = fds[e, 3]
            fd_head[ft] = -1
        elif k == K_DMABUF_IMPORT and d >= 0:
            dbs[d, D_F_COUNT] += 2
        elif K_DMABUF_GET <= k <= K_DMABUF_UNMAP and d >= 0:
            dbs[d, DB_DELTA_FIELD[k]] += DB_DELTA_BY[k]
            if k == K_DMABUF_GET and own == OWN_CALL:
                e = n_borrow_db
                n_borrow_db += 1
                borrow_db[e, 0] = dbs[d, D_ADDR]
                borrow_db[e, 1] = borrow_db_head[s]
                borrow_db_head[s] = e
        elif k == K_DMABUF_RELEASE and d >= 0:
            dbs[d, D_ALIVE] = 0
        elif k == K_JOB_SUBMIT and job[i] >= 0:
            # a job uses every object submitted with it; owner "job": the driver looked the BO
            # up for the job and holds that reference until the job is done
            if o >= 0:
                member = False
                e = job_head[job[i]]
                while e >= 0:
                    if members[e, 0] == objs[o, F_ADDR] and members[e, 1] == objs[o, F_GEN]:
                        member = True
                        break
                    e = members[e, 3]
                if not member:
                    holds = 1 if own == OWN_JOB else 0
                    e = n_members
                    n_members += 1
                    members[e, 0] = objs[o, F_ADDR]
                    members[e, 1] = objs[o, F_GEN]
                    members[e, 2] = holds
                    # appended at the tail keeps the reference's order; the order of a job's
                    # members changes nothing but is kept anyway
                    members[e, 3] = -1
                    if job_head[job[i]] < 0:
                        job_head[job[i]] = e
                    else:
                        last = job_head[job[i]]
                        while members[last, 3] >= 0:
                            last = members[last, 3]
                        members[last, 3] = e
                    objs[o, F_JOBS] += 1
                    objs[o, F_REFS] += holds
        elif k == K_JOB_DONE:
            # its finished fence signalled: the job no longer uses any of its objects
            if job[i] >= 0:
                e = job_head[job[i]]
                while e >= 0:
                    held = _get(by_key_t, members[e, 0], members[e, 1])
                    if held >= 0:
                        objs[held, F_JOBS] -= 1
                        if members[e, 2] == 1 and objs[held, F_ALIVE] == 1:
                            objs[held, F_REFS] -= 1
                        n_touched = _touch(objs, F_STAMP, held, i, touched, n_touched)
                    e = members[e, 3]
                job_head[job[i]] = -1
        elif k == K_LOST_EVENTS:
            for t in range(first_obj, n_objs):
                if objs[t, F_CURRENT] == 1 and objs[t, F_ALIVE] == 1 and objs[t, F_UNCERTAIN] == 0:
                    objs[t, F_UNCERTAIN] = 1
                    n_touched = _touch(objs, F_STAMP, t, i, touched, n_touched)
        elif k == K_MADVISE and o >= 0:
            if _valid(count_b, offsets[I_COUNT], i):
                objs[o, F_MADV] = count_v[i]
                objs[o, F_MADV_OK] = 1
            else:
                objs[o, F_MADV_OK] = 0
        elif k == K_PURGE and o >= 0:
            objs[o, F_PURGED] = 1
        # ---- the op's row, then the rows of what it changed without naming it
        if rows + 1 + n_touched + n_touched_db > cap:
            return -1, n_checks
        if (
            2 * u_by_key > by_key_t.shape[0]
            or 2 * u_db > db_t.shape[0]
            or 2 * u_slots > slots_t.shape[0]
            or 2 * u_files > files_t.shape[0]
            or 2 * u_fd > fd_t.shape[0]
            or 2 * u_vma > vmat_t.shape[0]
        ):
            return -2, n_checks
        r = rows
        rows += 1
        at[r] = i
        flags[X_IMPLICIT, r] = 0
        flags[X_REFUSED, r] = 0
        if o >= 0:
            _write_obj(addresses, counts, flags, bits, objs, o, r)
            flags[X_REFUSED, r] = objs[o, F_REFUSED]
            if _valid(file_b, offsets[I_FILE], i):
                e = _get(files_t, o, file_v[i])
                counts[C_FILE_HANDLES, r] = per_file[e] if e >= 0 else 0
                bits[B_FILE_HANDLES, r >> 3] |= np.uint8(1 << (r & 7))
        if d >= 0:
            _write_db(addresses, counts, flags, bits, dbs, d, r)
        if n_touched > 0:
            _sort_by_key(objs, touched, n_touched, F_ADDR, F_GEN)
            for jj in range(n_touched):
                t = touched[jj]
                if t == o:
                    continue
                r = rows
                rows += 1
                at[r] = i
                flags[X_IMPLICIT, r] = 1
                flags[X_REFUSED, r] = 0
                _write_obj(addresses, counts, flags, bits, objs, t, r)
        if n_touched_db > 0:
            _sort_by_key(dbs, touched_db, n_touched_db, D_ADDR, -1)
            for jj in range(n_touched_db):
                t = touched_db[jj]
                if t == d:
                    continue
                r = rows
                rows += 1
                at[r] = i
                flags[X_IMPLICIT, r] = 1
                flags[X_REFUSED, r] = 0
                _write_db(addresses, counts, flags, bits, dbs, t, r)
    return rows, n_checks


@njit(cache=True)
def _fput(
    dbs: np.ndarray,
    db_t: np.ndarray,
    address: int,
    touched_db: np.ndarray,
    n_touched_db: int,
    i: int,
) -> int:
    """An fd behind which a dma-buf was is closed: its file reference goes, if the model
    counts one (:meth:`tracekit.model.reference.Replay._fput`)."""
    b = _get(db_t, address, 0)
    if b >= 0 and dbs[b, D_ALIVE] == 1:
        if dbs[b, D_F_COUNT] > 0:
            dbs[b, D_F_COUNT] -= 1
        n_touched_db = _touch(dbs, D_STAMP, b, i, touched_db, n_touched_db)
    return n_touched_db


@njit(cache=True)
def _borrow(
    borrow: np.ndarray, head: np.ndarray, s: int, n: int, address: int, generation: int
) -> int:
    """Push (address, generation) on the list of what task slot ``s`` borrowed (entry ``n``);
    the entries now used."""
    borrow[n, 0] = address
    borrow[n, 1] = generation
    borrow[n, 2] = head[s]
    head[s] = n
    return n + 1


@njit(cache=True)
def _new_object(objs: np.ndarray, o: int, address: int, generation: int, known: int) -> None:
    """Row ``o``: an object alive at ``address``, the current one there; ``known`` if its
    create was seen (all counts 0)."""
    objs[o, :] = 0
    objs[o, F_ADDR] = address
    objs[o, F_GEN] = generation
    objs[o, F_KNOWN] = known
    objs[o, F_ALIVE] = 1
    objs[o, F_CURRENT] = 1
    objs[o, F_STAMP] = -1


@njit(cache=True)
def _touch(table: np.ndarray, stamp: int, row: int, i: int, touched: np.ndarray, n: int) -> int:
    """Note that op ``i`` changed ``row`` without naming it (once): it gets a row of its own."""
    if table[row, stamp] != i:
        table[row, stamp] = i
        touched[n] = row
        n += 1
    return n


@njit(cache=True)
def _sample(
    table: np.ndarray,
    row: int,
    field: int,
    gen_field: int,
    values: np.ndarray,
    i: int,
    c: int,
    checks: np.ndarray,
    n_checks: int,
) -> int:
    """A counter the probe sampled: record the model's value next to it, continue from it."""
    checks[0, n_checks] = i
    checks[1, n_checks] = c
    checks[2, n_checks] = table[row, 0]  # F_ADDR, D_ADDR
    checks[3, n_checks] = table[row, gen_field] if gen_field >= 0 else -1
    checks[4, n_checks] = values[i]
    checks[5, n_checks] = table[row, field]
    table[row, field] = values[i]
    return n_checks + 1


# ------------------------------------------------------------------------------------------------
# from and to Arrow

_KIND_OF = np.array(
    [KINDS.index(c) if c in KINDS else 0 for c in OPS["op"].categories],  # type: ignore[attr-defined]
    np.int8,
)
_NO_BITS = np.frombuffer(b"", np.uint8)
_NEEDS_STRINGS = np.zeros(len(KINDS), np.bool_)
"""Kinds of op whose owner, func or job the loop reads."""
for _kind in (
    "create",
    "get",
    "put",
    "mmap",
    "dmabuf_export",
    "dmabuf_get",
    "job_submit",
    "job_done",
):
    _NEEDS_STRINGS[KINDS.index(_kind)] = True
_UINT64 = frozenset({"object", "vaddr", "dmabuf"})


def _frozen(a: np.ndarray) -> np.ndarray:
    """A read-only view: numba compiles the loop once per combination of argument types, and
    whether an array is writable is part of its type. Every input is read-only, always."""
    view = a.view()
    view.flags.writeable = False
    return view


def _buffers(series: pl.Series, dtype: type = np.int32) -> tuple[np.ndarray, np.ndarray, int]:
    """An integer column's values as ``dtype`` (no copy if it is that wide; 64-bit unsigned
    values are read as signed) and its Arrow validity bitmap (empty when nothing is null),
    with the bitmap's bit offset."""
    width = np.dtype(dtype).itemsize
    native = (pl.Int64, pl.UInt64) if width == 8 else (pl.Int32, pl.UInt32)
    if series.dtype not in native:
        series = series.cast(native[0])
    arr = series.to_arrow()
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    validity, data = arr.buffers()[:2]
    values: np.ndarray = np.frombuffer(data, dtype, count=len(arr), offset=arr.offset * width)
    if validity is None or arr.null_count == 0:
        return values, _NO_BITS, 0
    return values, np.frombuffer(validity, np.uint8), arr.offset


def _arrow(values: np.ndarray, bits: np.ndarray | None, dtype: pa.DataType) -> pa.Array:
    rows = values.size
    valid = None if bits is None else pa.py_buffer(bits[: (rows + 7) // 8])
    if dtype == pa.bool_():
        values = np.packbits(values.view(np.bool_), bitorder="little")
    return pa.Array.from_buffers(dtype, rows, [valid, pa.py_buffer(values)])


@njit(cache=True, nogil=True)
def _fault_in(memory: np.ndarray) -> None:
    """Write one byte of every page of ``memory`` (bytes): the kernel backs it now, in this
    thread, instead of in the pass at its first write there."""
    for j in range(0, memory.size, 4096):
        memory[j] = 0


def _outputs(capacity: int, expected: int) -> tuple[np.ndarray, ...]:
    """The pass's output columns for ``capacity`` rows (at, addresses, counts, flags, validity),
    faulted in for the ``expected`` first (the room beyond is for implicit rows, if many)."""
    arrays = (
        np.empty(capacity, np.int64),
        np.empty((len(W_ADDRESS), capacity), np.int64),
        np.empty((len(W_COUNT), capacity), np.int32),
        np.empty((len(W_FLAG), capacity), np.uint8),
        np.zeros((NB, capacity // 8 + 1), np.uint8),  # or-ed into
    )
    for a in arrays[:4]:
        for column in a.reshape(-1, capacity):
            _fault_in(column[: min(expected, capacity)].view(np.uint8))
    return arrays


def _hash_table(capacity: int) -> np.ndarray:
    """An empty hash table for ``capacity`` keys, never more than half full. Allocated by numpy,
    not in the loop: large arrays get transparent huge pages (numpy asks for them), and the
    loop's random reads of its tables and rows miss the TLB less."""
    size = 2
    while size < 2 * capacity:
        size *= 2
    table = np.empty((size, 3), np.int64)
    table[:, 2] = EMPTY
    return table


def _work(n: int, sizes: np.ndarray) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The loop's working arrays for ``n`` ops, as numpy allocates them (see
    :func:`_hash_table`); room for a row or an entry per op, committed only where written.

    - objects and dma-bufs: one row each, in the order first seen;
    - linked entries: what tasks borrowed (address, generation, next) and the dma-bufs they
      hold (address, next), framebuffer lookups pending (address, generation, next), dma-buf
      fds (fd, dma-buf address, live, next in the fd table's list), vmas backed by a dma-buf
      (vma, dma-buf address, prev, next: live ones, in order), jobs' members (address,
      generation, holds, next);
    - hash tables: objects by (address, generation), dma-bufs by address, task slots (key
      (pid, 0)) and fd tables (key (table, 1)), handles by (object, file), fds by (table, fd),
      vmas;
    - ``heads``, per task slot: its borrowed objects' list, its dma-bufs', its pending lookups
      (head, tail, and when it first looked one up); per fd table its fds; the slots in order of
      their first lookup; the objects and dma-bufs an op touched; per (object, file) its
      handles."""
    work = (
        np.empty((n + 1, NF), np.int64),
        np.empty((n + 1, ND), np.int64),
        np.empty((n + 1, 3), np.int64),
        np.empty((n + 1, 2), np.int64),
        np.empty((n + 1, 3), np.int64),
        np.empty((n + 1, 4), np.int64),
        np.empty((n + 1, 4), np.int64),
        np.empty((n + 1, 4), np.int64),
        *(_hash_table(int(size)) for size in sizes),
    )
    return work, np.empty((10, n + 1), np.int64)


class _Background:
    """``fn(*args)`` on a thread of its own (numba's loops marked ``nogil`` and polars release the
    GIL, so it runs on the other core); :meth:`result` waits for it and raises what it raised."""

    def __init__(self, fn: Callable[..., Any], *args: Any) -> None:
        self._fn = fn
        self._args = args
        self._result: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._call, daemon=True)
        self._thread.start()

    def _call(self) -> None:
        try:
            self._result = self._fn(*self._args)
        except BaseException as e:  # raised again in the caller's thread
            self._error = e

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


@dataclass
class _Prepared:
    """What the pass needs that the input's coding does not (:func:`_prepare`)."""

    sizes: np.ndarray
    address_id: np.ndarray
    current: np.ndarray
    work: tuple[np.ndarray, ...]
    heads: np.ndarray
    checks: np.ndarray
    outputs: tuple[np.ndarray, ...]


def _prepare(
    ops: pl.DataFrame, kind: np.ndarray, new_source: np.ndarray, capacity: int
) -> _Prepared:
    """The objects' addresses numbered, the hash tables sized and the working arrays allocated,
    and the output columns allocated and faulted in (a 10M-op replay writes about 1 GB of rows,
    and on a VM memory a process never had costs up to a second a GB): made in the background
    while the caller codes the ops' columns."""
    sizes, addresses = _table_sizes(ops, kind)
    values, bitmap, offset = _buffers(ops["object"], np.int64)
    size = addresses
    while True:
        size += size // 4 + 16
        table = _hash_table(size)
        ids, top = _number(_frozen(values), _frozen(bitmap), offset, _frozen(new_source), table)
        if top >= 0:
            break
    work, heads = _work(ops.height, sizes)
    n_samples = sum(ops.height - ops[c].null_count() for c in IN_COLUMNS[I_SAMPLE:])
    checks = np.empty((NCHECK, max(n_samples, 1)), np.int64)
    _fault_in(checks.reshape(-1).view(np.uint8))
    return _Prepared(
        sizes=sizes,
        address_id=ids,
        current=np.full(max(top, 1), -1, np.int64),  # the current object at each address
        work=work,
        heads=heads,
        checks=checks,
        outputs=_outputs(capacity, ops.height),
    )


def replay(ops: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """STATES and VERIFY for ``ops``, which are sorted by source and seq."""
    n = ops.height
    if n == 0:
        return pl.DataFrame(schema=STATES), pl.DataFrame(schema=VERIFY)
    new_source = (
        ops.select(pl.col("source").ne_missing(pl.col("source").shift(1)).fill_null(True))
        .to_series()
        .to_numpy()
    )
    kind = _KIND_OF[ops["op"].to_physical().to_numpy()]
    capacity = _rows_capacity(n)
    ahead = _Background(_prepare, ops, kind, new_source, capacity)
    # the string columns matter to a few kinds of op: coded for those rows only
    few = np.flatnonzero(_NEEDS_STRINGS[kind])
    op, owner = pl.col("op"), pl.col("owner")
    coded = ops.select("op", "owner", "func", "job", "fb")[few].select(
        owner=pl.when(owner == "call")
        .then(OWN_CALL)
        # a lookup a named destroy claims (dialects._claim_lookups) is a plain reference
        .when((owner == "fb") & ((op != "get") | pl.col("fb").is_null()))
        .then(OWN_FB)
        .when(owner == "job")
        .then(OWN_JOB)
        .when(owner == "prime")
        .then(OWN_PRIME)
        .otherwise(0)
        .cast(pl.Int8),
        vm_open=(pl.col("func") == "drm_gem_vm_open").fill_null(False),
        # jobs numbered densely; a done that names no job ends the job "" (the reference's
        # ``jobs.pop(op.get("job") or "")``)
        job=pl.when(op == "job_done")
        .then(pl.col("job").fill_null(""))
        .when(op == "job_submit")
        .then(pl.col("job"))
        .rank("dense")
        .cast(pl.Int64)
        .fill_null(0)
        - 1,
    )
    owners = np.zeros(n, np.int8)
    owners[few] = coded["owner"].to_numpy()
    vm_open = np.zeros(n, np.bool_)
    vm_open[few] = coded["vm_open"].to_numpy()
    job = np.full(n, -1, np.int64)
    job[few] = coded["job"].to_numpy()
    pid, pid_bits, pid_offset = _buffers(ops["pid"])
    # threads share their process's fds: the table is the process's where the op says it
    fd_table = ops.select(FD_TABLE.fill_null(-1).cast(pl.Int64)).to_series().to_numpy()
    values, bitmaps, offsets = [], [], []
    for c in IN_COLUMNS:
        v, b, off = _buffers(ops[c], np.int64)
        values.append(v)
        bitmaps.append(b)
        offsets.append(off)
    prepared: _Prepared = ahead.result()
    checks = prepared.checks
    at, addresses, counts, flags, bits = prepared.outputs
    work, heads, current, sizes = prepared.work, prepared.heads, prepared.current, prepared.sizes
    while True:
        rows, n_checks = _run(
            _frozen(kind),
            _frozen(prepared.address_id),
            _frozen(new_source),
            _frozen(pid),
            _frozen(pid_bits),
            pid_offset,
            _frozen(fd_table),
            _frozen(owners),
            _frozen(vm_open),
            _frozen(job),
            work,
            heads,
            current,
            np.full(int(job.max()) + 1, -1, np.int64),  # each job's first member
            tuple(_frozen(v) for v in values),
            tuple(_frozen(b) for b in bitmaps),
            _frozen(np.array(offsets, np.int64)),
            at,
            addresses,
            counts,
            flags,
            bits,
            checks,
        )
        if rows >= 0:
            break
        if rows == -1:
            capacity *= 2  # more implicit rows than room for them: rare, and bounded
        else:
            sizes *= 2  # more keys than the estimates
        # again from the start, on fresh arrays
        at, addresses, counts, flags, bits = _outputs(capacity, n)
        work, heads = _work(n, sizes)
        current[:] = -1
    one_source = int(new_source.sum()) == 1  # the ops are by source: each starts once
    verifying = _Background(_verify, ops, checks, n_checks)  # while STATES is built
    states = _states(
        ops, one_source, at[:rows], addresses[:, :rows], counts[:, :rows], flags[:, :rows], bits
    )
    return states, verifying.result()


def _rows_capacity(n: int) -> int:
    """Room for the rows of ``n`` ops: their own, and about one in four more for the objects
    and dma-bufs they change without naming them (when more, the loop stops and asks again)."""
    return n + n // 4 + 64


def _table_sizes(ops: pl.DataFrame, kind: np.ndarray) -> tuple[np.ndarray, int]:
    """How many keys each hash table of the loop will hold, at most or about: distinct values
    estimated (HyperLogLog) or bounded by the number of ops that add keys; and the estimate of
    distinct object addresses."""
    per_kind = np.bincount(kind, minlength=len(KINDS))
    objects, dmabufs, pids = ops.select(
        pl.col("object").approx_n_unique(),
        pl.col("dmabuf").approx_n_unique(),
        pl.col("pid").approx_n_unique(),
    ).row(0)
    estimates = [
        objects + per_kind[K_CREATE],  # (address, generation)
        dmabufs + per_kind[K_DMABUF_EXPORT],
        2 * pids,  # a task's slot, and its fd table's
        per_kind[K_HANDLE_CREATE] + per_kind[K_HANDLE_RELEASE],  # (object, file)
        per_kind[K_DMABUF_FD],  # (task, fd)
        per_kind[K_MMAP],  # vma
    ]
    return np.array([e + e // 4 + 16 for e in estimates], np.int64), int(objects)


_ARROW = {
    pl.Boolean: pa.bool_(),
    pl.Int32: pa.int32(),
    pl.UInt64: pa.uint64(),
    pl.Int64: pa.int64(),
}


def _states(
    ops: pl.DataFrame,
    one_source: bool,
    at: np.ndarray,
    addresses: np.ndarray,
    counts: np.ndarray,
    flags: np.ndarray,
    bits: np.ndarray,
) -> pl.DataFrame:
    head = ops.select(STATE_OP_COLUMNS)
    if at.size != ops.height:
        # implicit rows repeat their op's columns: one gather of the frame (a gather per column
        # converts the indices once per column); one source is one value, not a gather
        if one_source:
            head = head.drop("source")[at].select(
                pl.lit(ops["source"].first(), pl.String).alias("source"), pl.all()
            )
        else:
            head = head[at]
    columns: dict[str, pa.Array] = {}
    for names, table in ((W_ADDRESS, addresses), (W_COUNT, counts), (W_FLAG, flags)):
        for j, name in enumerate(names):
            if name == "refused":
                continue
            bitmap = bits[VALIDITY[name]] if VALIDITY[name] >= 0 else None
            columns[name] = _arrow(
                np.ascontiguousarray(table[j]), bitmap, _ARROW[STATES[name].base_type()]
            )
    state = pl.from_arrow(pa.table(columns))
    assert isinstance(state, pl.DataFrame)
    # a refusal is rare: a column of nulls with the few names put in place (a when/then chain
    # over every row costs half a second at 10M rows)
    codes = flags[W_FLAG.index("refused")]
    at_refused = np.flatnonzero(codes)
    refused = pl.repeat(None, codes.size, dtype=pl.String, eager=True).scatter(
        at_refused, pl.Series([REFUSED[int(c)] for c in codes[at_refused]], dtype=pl.String)
    )
    state = state.with_columns(refused.alias("refused"))
    return pl.concat([head, state], how="horizontal").select(list(STATES))


def _verify(ops: pl.DataFrame, checks: np.ndarray, n: int) -> pl.DataFrame:
    if n == 0:
        return pl.DataFrame(schema=VERIFY)
    c = checks[:, :n]
    at = pl.Series(c[0])
    return (
        pl.DataFrame(
            {
                "source": ops["source"].gather(at),
                "line": ops["line"].gather(at),
                "seq": ops["seq"].gather(at),
                "func": ops["func"].gather(at),
                "object": pl.Series(c[2]).cast(pl.UInt64, wrap_numerical=True),
                "generation": c[3],
                "counter": pl.Series(IN_COLUMNS[I_SAMPLE:]).gather(pl.Series(c[1])),
                "kernel": c[4],
                "model": c[5],
            }
        )
        # a dma-buf's counters have no generation
        .with_columns(generation=pl.when(pl.col("generation") >= 0).then(pl.col("generation")))
        .cast(VERIFY)
    )
