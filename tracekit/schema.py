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
    """
    cols = []
    for name, dtype in schema.items():
        if name in df.columns:
            cols.append(pl.col(name).cast(dtype))
        else:
            cols.append(pl.lit(None, dtype=dtype).alias(name))
    return df.select(cols)
