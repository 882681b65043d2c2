"""Column names and dtypes of every table tracekit produces: the only place that spells them.

Each stage of the pipeline is a function from one of these tables to the next::

    capture text --ingest--> RAW_EVENTS (+ REJECTS) --normalize--> OPS --replay--> STATES --rules--> FINDINGS

Tables are polars DataFrames (Arrow memory); ``to_arrow()`` gives the pyarrow table.

Raw events (``RAW_EVENTS``)
---------------------------
One row per event: a trace line (tracefs ``trace``/``trace_pipe``, ``trace-cmd report``,
``perf script``) or a kernel log record (a dmesg/journal line, or a whole WARN/BUG/KASAN/refcount_t
splat folded into one row). Lines that belong to an event without being one (stack-trace frames
``=> func``, perf callchain frames, the body of a splat) are folded into that event's ``stack`` /
``splat`` and counted as *attached* lines in the parse summary.

``source``
    The input as named on the command line (``-`` for stdin).
``line``
    1-based line number of the event's first line in ``source``.
``format``
    Line family the event was read as: see ``FORMATS``.
``ts``
    Timestamp. Nanoseconds for the nanosecond trace clocks (local, global, mono, boot, tai, perf,
    mono_raw print ``sec.usec``), raw ticks for ``counter``/``uptime``/``x86-tsc`` (they print a
    bare integer), microseconds relative to the trace start for ``latency-format``; ``ts_unit``
    says which. Null where the line carries no time (``context-info`` off, journal lines).
``ts_unit``
    ``ns`` | ``tick`` | ``rel_us``, null with ``ts``.
``cpu``, ``pid``, ``tgid``, ``comm``, ``flags``
    The context columns of the line, null where the format does not print them. ``flags`` is the
    opaque 4- or 5-character irq-info token (``d..2.``); ``comm`` keeps spaces, dashes and slashes
    (``kworker/1:1``, ``<...>``, ``<idle>``).
``system``
    Event system where the line names it (``perf script`` prints ``sched:sched_switch``).
``event``
    Event name as printed (``drm_gem_object_init``, ``dma_fence_signaled``,
    ``tracing_mark_write``). Syscall tracepoints print ``sys_close(fd: 3)`` / ``sys_ioctl -> 0x0``;
    they are named by their kernel event, ``sys_enter_close`` / ``sys_exit_ioctl``. Stack dumps are
    ``<stack trace>`` / ``<user stack trace>`` when they stand alone. Kernel log records are
    ``printk`` (an ordinary line) or one of ``warn``, ``bug``, ``kasan``, ``refcount`` (a splat).
``payload``
    Everything after the event name (``obj=0xff... size=16384``), untouched: normalisation
    extracts the fields it needs per event name.
``probe_func``, ``probe_offset``, ``probe_module``
    For kprobe/kretprobe events: the probed function, the offset of the probe in it (``+0x0``)
    and the module the kernel printed (``[drm]``). Taken from the probe location
    ``(drm_gem_vmap+0x0/0x40 [drm])`` or, for a return probe, ``(caller+0x6c/0x1d0 <- func)``.
``ret_caller``
    For return probes: the call site the function returned to (``drm_ioctl_kernel+0xc9/0x170``).
    Kernel text prints ``(caller <- func)``; ``trace-cmd`` and ``perf`` print the reverse order
    ``(func <- caller)``; both land here the same way.
``level``
    printk log level 0-7 where the log line says it (``<4>``, ``kern  :warn  :``), else null.
``splat``
    For splat events, the whole splat text (lines joined by ``\\n``), quote prefixes removed.
``stack``
    Call-trace frames attached to the event: ftrace ``=> func`` lines after ``<stack trace>``,
    perf callchain lines, the ``Call Trace:`` of a splat. Null when there is none.

Rejects (``REJECTS``)
---------------------
Every line that is neither an event, nor attached to one, nor ignorable text (a header, a comment,
a blank line, prose in a mail) is reported here with the reason: ``source``, ``line``, ``text``,
``reason``. ``events + rejected + ignored == lines`` for every parse.
"""

from __future__ import annotations

import polars as pl

FORMATS = ("ftrace", "trace_cmd", "perf", "kernel_log")
"""Line families: tracefs ``trace``/``trace_pipe`` text, ``trace-cmd report``, ``perf script``,
kernel logs (dmesg, journal, syslog, mail pastes of them)."""

TS_UNITS = ("ns", "tick", "rel_us")

FormatDtype = pl.Enum(list(FORMATS))
TsUnitDtype = pl.Enum(list(TS_UNITS))

RAW_EVENTS: dict[str, pl.DataType] = {
    "source": pl.String(),
    "line": pl.Int64(),
    "format": FormatDtype,
    "ts": pl.Int64(),
    "ts_unit": TsUnitDtype,
    "cpu": pl.Int32(),
    "pid": pl.Int32(),
    "tgid": pl.Int32(),
    "comm": pl.String(),
    "flags": pl.String(),
    "system": pl.String(),
    "event": pl.String(),
    "payload": pl.String(),
    "probe_func": pl.String(),
    "probe_offset": pl.Int64(),
    "probe_module": pl.String(),
    "ret_caller": pl.String(),
    "level": pl.Int8(),
    "splat": pl.String(),
    "stack": pl.List(pl.String()),
}

REJECTS: dict[str, pl.DataType] = {
    "source": pl.String(),
    "line": pl.Int64(),
    "text": pl.String(),
    "reason": pl.String(),
}

IGNORED_KINDS = ("blank", "comment", "header", "attached", "text")
"""Why a line that is not an event was not rejected either: ``blank``; ``comment`` (``#`` lines of
a tracefs header, trace-cmd notes); ``header`` (``cpus=2``, ``CPU 0 is empty``, the latency-format
banner, QP/mail headers); ``attached`` (folded into the preceding event: stack frames, callchains,
splat bodies); ``text`` (prose around a pasted trace or log in a mail or bug report)."""


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """An empty table with ``schema``.

    >>> empty(REJECTS).columns
    ['source', 'line', 'text', 'reason']
    """
    return pl.DataFrame(schema=schema)


def conform(df: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast ``df`` to exactly ``schema``: missing columns become nulls.

    >>> conform(pl.DataFrame({"line": [1], "extra": [2]}), REJECTS).columns
    ['source', 'line', 'text', 'reason']
    >>> conform(pl.DataFrame(), REJECTS).height  # not one row of nulls
    0
    """
    if df.height == 0:
        return pl.DataFrame(schema=schema)
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)


# ------------------------------------------------------------------------------------------------
# Canonical buffer-object operations (``OPS``), the output of normalisation.

OP_NAMES: dict[str, str] = {
    # lifetime
    "create": "a GEM object is initialised (kref_init: one reference, owned by its creator)",
    "free": "the object is destroyed (its last reference went; free callback / release)",
    "get": "a reference is taken (owner says by whom: call, vma, dmabuf, fb, job, mapping)",
    "put": "a reference is dropped",
    # handles and files
    "handle_create": "a handle to the object is added to a DRM file",
    "handle_release": "a handle is removed from a DRM file (idr entry, before the handle put)",
    "handle_put": "the object's handle count drops (the last one drops the handles' reference)",
    "handle_get": "the handle count goes up with no new handle (a framebuffer's internal handle reference, 6.12.y)",
    "file_open": "a DRM file is opened",
    "file_close": "a DRM file is closed: the kernel releases its handles (drm_gem_release)",
    # pins and CPU mappings
    "pin": "the backing storage is pinned",
    "unpin": "a pin is dropped",
    "kmap": "a kernel mapping is taken (TTM/VRAM kmap)",
    "kunmap": "a kernel mapping is dropped",
    "vmap": "a vmap is taken (address = the mapped kernel address when known)",
    "vunmap": "a vmap is dropped (address = the address unmapped)",
    "get_pages": "the backing pages' use count goes up",
    "put_pages": "the backing pages' use count goes down",
    "mmap": "a userspace mapping (vma) of the object is created or duplicated",
    "munmap": "a userspace mapping of the object is closed",
    "gpu_map": "a GPU mapping is created (owns a pages and an object reference)",
    "gpu_unmap": "a GPU mapping is destroyed",
    # dma-buf
    "dmabuf_export": "the object is exported as a dma-buf (the dma-buf holds an object reference)",
    "dmabuf_import": "a dma-buf is imported as a GEM object",
    "dmabuf_attach": "a device attaches to the dma-buf",
    "dmabuf_detach": "an attachment is removed",
    "dmabuf_map": "an attachment's sg table is mapped",
    "dmabuf_unmap": "an attachment's sg table is unmapped",
    "dmabuf_get": "a reference on the dma-buf file is taken (fd lookup, cached export)",
    "dmabuf_put": "a reference on the dma-buf file is dropped",
    "dmabuf_release": "the dma-buf is released (its file's last reference went)",
    "dmabuf_fd": "an fd is installed for the dma-buf (count = the fd): it owns a file reference",
    "fd_close": "a task closes an fd (count = the fd): a dma-buf behind it loses that reference",
    "task_exit": "a task exits: its fds are closed (exit_files), its dma-bufs lose those references",
    "dmabuf_vmap": "dma_buf_vmap: the dma-buf's own vmapping_counter goes up",
    "dmabuf_vunmap": "dma_buf_vunmap: the dma-buf's vmapping_counter goes down",
    # memory management
    "madvise": "madvise: count is the madv asked for (drm_gem_shmem: >0 DONTNEED, 0 WILLNEED; <0 purged)",
    "purge": "the shrinker purges the object's pages",
    "evict": "the object is evicted from its placement",
    "move": "the object moves between placements (TTM)",
    "userptr_pin": "user pages are pinned for a userptr object (count = pages pinned, size = asked)",
    "userptr_unpin": "pinned user pages are released (count = pages)",
    # GPU work
    "job_submit": "a job that uses the object is queued (fence = its finished fence)",
    "job_done": "the job's finished fence signalled",
    "fence_init": "a dma_fence is initialised",
    "fence_signal": "a dma_fence signalled",
    "fence_destroy": "a dma_fence is freed",
    # calls and capture meta-events
    "call_enter": "a probed function was entered (no buffer-object effect of its own)",
    "call_exit": "a probed function returned (ret = its return code)",
    "syscall_exit": "a task returned to userspace: references borrowed by its calls are gone",
    "syscall_enter": "a task entered a syscall: so its previous one had returned (as syscall_exit)",
    "ioctl_exit": "a DRM ioctl handler returned to drm_ioctl_kernel: what it borrowed is released",
    "ioctl_enter": "a task entered a DRM ioctl handler (*_ioctl, not inside another probed call): its previous syscall had returned",
    "lost_events": "the capture lost events on a CPU (count = how many; an op with no count "
    "opens the span, after that CPU's previous event), or its clock went back (func clock_jump): "
    "what follows is uncertain",
    "sample": "an event that only carries kernel counters",
}

OpDtype = pl.Enum(list(OP_NAMES))

COUNTERS = (
    "refcount",
    "handle_count",
    "vmap_use_count",
    "pages_use_count",
    "vmapping_counter",
    "f_count",
)
"""Kernel counters a probe can sample (struct fields read at the probe point, before the
function body runs): drm_gem_object.refcount / handle_count, drm_gem_shmem_object.vmap_use_count /
pages_use_count, dma_buf.vmapping_counter and the dma-buf file's f_count."""

OP_CONTEXT_COLUMNS = ("source", "line", "seq", "ts", "cpu", "pid", "tgid", "comm")
"""Where and by whom an op happened: copied from its raw event."""

OPS: dict[str, pl.DataType] = {
    "source": pl.String(),
    "line": pl.Int64(),
    "seq": pl.Int64(),
    "ts": pl.Int64(),
    "cpu": pl.Int32(),
    "pid": pl.Int32(),
    "tgid": pl.Int32(),
    "comm": pl.String(),
    "op": OpDtype,
    "func": pl.String(),
    "caller": pl.String(),
    "owner": pl.String(),
    "object": pl.UInt64(),
    "generation": pl.Int32(),
    "file": pl.UInt64(),
    "handle": pl.Int64(),
    "address": pl.UInt64(),
    "mapped": pl.UInt64(),
    "size": pl.Int64(),
    "dmabuf": pl.UInt64(),
    "attachment": pl.UInt64(),
    "vma": pl.UInt64(),
    "fb": pl.UInt64(),
    "cb": pl.UInt64(),
    "job": pl.String(),
    "fence_context": pl.Int64(),
    "fence_seqno": pl.Int64(),
    "count": pl.Int64(),
    "open_flags": pl.Int64(),
    "ret": pl.Int64(),
    "call": pl.Int64(),
    "refcount": pl.Int64(),
    "handle_count": pl.Int64(),
    "vmap_use_count": pl.Int64(),
    "pages_use_count": pl.Int64(),
    "vmapping_counter": pl.Int64(),
    "f_count": pl.Int64(),
    "profile": pl.String(),
}
"""Canonical operations, one row per buffer-object effect of a raw event.

``seq`` is the replay order (see :mod:`tracekit.normalize`: timestamp, then cpu, then line);
``line`` the source line of the raw event. ``tgid`` is the task's process (thread group) where the
capture says it: the line's own column (``options/record-tgid``, perf's ``pid/tid``), or a traced
fork (a task woken with its parent's fd table shares the parent's process; a copy starts its
own). Threads share their process's fd table, so the model keys dma-buf fds by ``tgid``, and by
``pid`` where it is null. ``object`` is the GEM object's address as an integer
and ``generation`` counts its lives at that address (a create at an address that was freed starts
a new object). ``owner`` names who holds a reference a get/put moves. ``call`` is the line of the
entry probe of the call the op happened in (for return probes: their own entry). ``address`` is a
mapping address an op names (a vmap's result, the map a vunmap is given); ``mapped`` the
mapping the kernel has cached for the object or dma-buf (``dmabuf->vmap_ptr``, ``gbo->map``,
``shmem->vaddr``), sampled by the probe, which a vunmap must be given back. ``job`` is the
scheduler job key ``"context:seqno"`` of its finished fence. ``open_flags`` are the flags of the
fd an op installs (``dmabuf_fd``: ``O_CLOEXEC`` is ``0x80000``), where the probe shows them.
Counter columns carry the kernel's own values sampled by the probe, as read *before* the probed
function ran (kprobes fire at entry).
"""

FD_TABLE = pl.coalesce(pl.col("tgid"), pl.col("pid"))
"""Whose fd table an op's fds are in: its process's where the op says which process its task is
in (threads share it), else the task's own. (:mod:`tracekit.model.reference` says the same in
Python.)"""


# ------------------------------------------------------------------------------------------------
# Replay output: the state of the object (and dma-buf) an op touched, as it stands after the op.

STATES: dict[str, pl.DataType] = {
    "source": pl.String(),
    "seq": pl.Int64(),
    "line": pl.Int64(),
    "op": OPS["op"],
    "pid": pl.Int32(),
    "func": pl.String(),
    "owner": pl.String(),
    "file": pl.UInt64(),
    "handle": pl.Int64(),
    "address": pl.UInt64(),
    "mapped": pl.UInt64(),
    "size": pl.Int64(),
    "count": pl.Int64(),
    "job": pl.String(),
    "ret": pl.Int64(),
    "call": pl.Int64(),
    "implicit": pl.Boolean(),
    "object": pl.UInt64(),
    "generation": pl.Int32(),
    "refs": pl.Int32(),
    "handles": pl.Int32(),
    "file_handles": pl.Int32(),
    "pins": pl.Int32(),
    "kmaps": pl.Int32(),
    "vmaps": pl.Int32(),
    "vaddr": pl.UInt64(),
    "pages": pl.Int32(),
    "mappings": pl.Int32(),
    "gpu_maps": pl.Int32(),
    "userptr_pages": pl.Int32(),
    "jobs": pl.Int32(),
    "madv": pl.Int32(),
    "purged": pl.Boolean(),
    "alive": pl.Boolean(),
    "start_known": pl.Boolean(),
    "uncertain": pl.Boolean(),
    "refused": pl.String(),
    "dmabuf": pl.UInt64(),
    "f_count": pl.Int32(),
    "db_vmaps": pl.Int32(),
    "attachments": pl.Int32(),
    "db_alive": pl.Boolean(),
    "db_start_known": pl.Boolean(),
}
"""One row per op: the op's own columns, then the state after it of the object it touched
(``object`` .. ``uncertain``; null when it touched none) and of the dma-buf (``dmabuf`` ..).
An op that changes objects or dma-bufs it does not name (a task returning to userspace releases
what it borrowed, a framebuffer destroy, a job done, an fd closed) is followed by one
``implicit`` row for each of them, objects by address then dma-bufs by address.
``refs`` is the GEM kref, ``handles`` handle_count, ``file_handles`` the handles the op's DRM
file holds, ``pages``/``vmaps`` the shmem use counts, ``mappings`` userspace vmas,
``userptr_pages`` the user pages pinned for a userptr object, ``jobs`` jobs not yet done;
``refused`` names the counter (``pins``, ``kmaps``, ``vmaps``, ``pages``) an op found at 0 and
left there, as the kernel does after its warning (``WARN_ON_ONCE(!count) return``);
``start_known`` is false for objects first seen mid-life and ``uncertain`` true
after lost events."""

STATE_OP_COLUMNS = (
    "source",
    "seq",
    "line",
    "op",
    "pid",
    "func",
    "owner",
    "file",
    "handle",
    "address",
    "mapped",
    "size",
    "count",
    "job",
    "ret",
    "call",
)
"""The op's own columns at the head of every STATES row."""

STATE_OBJECT_COLUMNS = (
    "refs",
    "handles",
    "file_handles",
    "pins",
    "kmaps",
    "vmaps",
    "vaddr",
    "pages",
    "mappings",
    "gpu_maps",
    "userptr_pages",
    "jobs",
    "madv",
    "purged",
    "alive",
    "start_known",
    "uncertain",
    "refused",
)
"""The object's state columns of a STATES row (after ``object`` and ``generation``)."""

STATE_DMABUF_COLUMNS = ("f_count", "db_vmaps", "attachments", "db_alive", "db_start_known")
"""The dma-buf's state columns of a STATES row (after ``dmabuf``)."""

VERIFY: dict[str, pl.DataType] = {
    "source": pl.String(),
    "line": pl.Int64(),
    "seq": pl.Int64(),
    "func": pl.String(),
    "object": pl.UInt64(),
    "generation": pl.Int32(),
    "counter": pl.String(),
    "kernel": pl.Int64(),
    "model": pl.Int64(),
}
"""Each kernel counter a probe sampled, next to the model's value at the same point (both *before*
the probed function ran). ``object`` is the dma-buf for f_count and vmapping_counter."""
