"""Replay order and call pairing: the first steps of normalisation.

Events of one capture are put in replay order (timestamp, then CPU, then line; a capture its
printer already merged keeps its line order on a tie, see :func:`order_events`); kprobe entries
and kretprobe returns of one task are paired, so a return knows its entry and every event knows
the call it happened in.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import polars as pl

from tracekit.accel import compiled_available

_RET_SUFFIXES = ("_ret", "__exit", "_exit")
CLOCK_JUMP = "clock_jump"
"""``func`` of the ``lost_events`` op made where the clock went back (:func:`order_events`)."""


def caller_func(expr: pl.Expr) -> pl.Expr:
    """The function a return probe returned to, from its ``caller+0x6e/0xf0`` location."""
    return expr.str.extract(r"^([A-Za-z_.$][\w.$]*)", 1)


def order_events(raw: pl.DataFrame) -> pl.DataFrame:
    """Replay order per source: timestamp, then cpu, then line; ``seq`` numbers it.

    ``raw`` holds each source's events in line order. Lines without a timestamp
    (``CPU:1 [LOST ...]`` markers) take the timestamp of the line that follows them, so they stay
    where the kernel printed them.

    A source whose timestamps never go back from one line to the next was merged by whatever
    printed it: the kernel's trace reader, ``trace-cmd report`` and ``perf script`` all merge
    the per-CPU buffers by the full-resolution clock. Its lines are already in the order the
    events happened, and two that share a printed timestamp (microseconds, where the clock
    counts nanoseconds) are in their true order, which may be the higher CPU first. Such a
    source keeps its line order: the CPU breaks ties only in a source that is not merged (per-CPU
    dumps one after the other, a trace pasted out of order).

    A CPU writes its buffer in order, so a timestamp below the one before it on the same CPU
    means the clock went back (a clock reset, two captures pasted one after the other). What
    follows such a line is ordered after what came before it, as a segment of its own, and
    the first event of each later segment is marked ``_clock_jump`` (normalisation makes it a
    ``lost_events`` op: what was alive then may have changed unseen).

    >>> df = pl.DataFrame({"source": ["a"] * 3, "line": [1, 2, 3], "ts": [20, None, 10],
    ...                    "cpu": [1, 0, 0]})
    >>> order_events(df)["line"].to_list()
    [2, 3, 1]
    >>> merged = pl.DataFrame({"source": ["m"] * 3, "line": [1, 2, 3], "ts": [10, 10, 11],
    ...                        "cpu": [3, 1, 0]})
    >>> order_events(merged)["line"].to_list()
    [1, 2, 3]
    >>> jumped = pl.DataFrame({"source": ["j"] * 4, "line": [1, 2, 3, 4], "ts": [10, 12, 5, 11],
    ...                        "cpu": [0, 1, 0, 1]})
    >>> order_events(jumped).select("line", "_clock_jump").rows()
    [(1, False), (2, False), (3, True), (4, False)]
    >>> order_events(jumped.with_columns(ts=pl.Series([10, 12, 5, 13])))["line"].to_list()
    [1, 2, 3, 4]
    """
    # (sources may interleave in ``raw``: the line before is the one before in the source)
    went_back = (pl.col("_ots") < pl.col("_ots").shift(1).over("_src")).fill_null(False)
    ev = raw.with_columns(
        _ots=pl.col("ts")
        .fill_null(strategy="backward")
        .fill_null(strategy="forward")
        .over("source"),
        _src=pl.col("source").rank("dense").cast(pl.Int64) if raw.height else pl.lit(0, pl.Int64),
    )
    if raw.height and ev.select(went_back.any()).item():
        ev = ev.with_columns(_seg=_segments(ev))
    else:
        ev = ev.with_columns(_seg=pl.lit(0, pl.Int64))
        # every source merged (the usual capture): its line order is the order, and sources one
        # after the other in name order need no sort at all
        step = pl.col("_src").diff()
        if ev.select(((step > 0) | ((step == 0) & (pl.col("line").diff() > 0))).all()).item():
            return ev.with_columns(
                seq=pl.int_range(pl.len(), dtype=pl.Int64).over("source"),
                _clock_jump=pl.lit(False),
            ).drop("_ots", "_src", "_seg")
    back = pl.col("_ots") < pl.col("_ots").shift(1).over("_src", "_seg")
    # sorted, a source's rows are together: the row before is the source's
    same_source = pl.col("_src") == pl.col("_src").shift(1)
    new_segment = same_source & (pl.col("_seg") != pl.col("_seg").shift(1))
    return (
        ev.with_columns(_tie=pl.when(back.fill_null(False).any().over("_src", "_seg")).then("cpu"))
        .sort(["_src", "_seg", "_ots", "_tie", "line"], nulls_last=False)
        .with_columns(
            seq=pl.int_range(pl.len(), dtype=pl.Int64).over("source"),
            _clock_jump=new_segment.fill_null(False),
        )
        .drop("_ots", "_src", "_tie", "_seg")
    )


def _segments(ev: pl.DataFrame) -> pl.Series:
    """Per row of ``ev`` (line order, with ``_src`` and ``_ots``): how many times the clock went
    back before it in its source. A line starts a new segment when it is below the previous line
    of its CPU and that line is in the current segment (after a clock reset, each CPU's first
    line is below its last one; only the first of them is the jump)."""
    prev_on_cpu = pl.col("_i").shift(1).over("_src", "cpu")
    below = (pl.col("_ots") < pl.col("_ots").shift(1).over("_src", "cpu")).fill_null(False)
    candidates = (
        ev.select("_src", pl.int_range(pl.len(), dtype=pl.Int64).alias("_i"), "_ots", "cpu")
        .with_columns(_prev=prev_on_cpu, _below=below)
        .filter("_below")
        .select("_src", "_i", "_prev")
    )
    starts = np.zeros(ev.height, np.int64)
    segment_start: dict[int, int] = {}  # per source, the row its current segment starts at
    for src, i, prev in candidates.iter_rows():  # few: one per jump and CPU
        if prev >= segment_start.get(src, 0):
            starts[i] = 1
            segment_start[src] = i
    return (
        ev.select("_src")
        .with_columns(_start=pl.Series(starts))
        .select(pl.col("_start").cum_sum().over("_src").alias("_seg"))
        .to_series()
    )


def func_and_at(raw: pl.DataFrame) -> pl.DataFrame:
    """Probed function and entry/return of each event (None for tracepoints)."""
    symbolic = pl.col("probe_func").is_not_null() & ~pl.col("probe_func").str.starts_with("0x")
    is_ret_event = pl.col("ret_caller").is_not_null()
    # trace-cmd/perf print raw addresses for kprobes: fall back to the event's own name, which by
    # the probe template's convention is the function (+ "_ret" for the return probe)
    by_name = pl.col("event")
    for suffix in _RET_SUFFIXES:
        by_name = (
            pl.when(pl.col("event").str.ends_with(suffix))
            .then(pl.col("event").str.strip_suffix(suffix))
            .otherwise(by_name)
        )
    name_is_ret = pl.col("event").str.contains(r"(_ret|__exit)$")
    return raw.with_columns(
        _func=pl.when(symbolic)
        .then(pl.col("probe_func"))
        .when(pl.col("probe_func").is_not_null())
        .then(by_name),
        _at=pl.when(pl.col("probe_func").is_null())
        .then(None)
        .when(symbolic & is_ret_event)
        .then(pl.lit("return"))
        .when(symbolic)
        .then(pl.lit("entry"))
        .when(is_ret_event | name_is_ret)
        .then(pl.lit("return"))
        .otherwise(pl.lit("entry")),
    )


PAIR_FROM = 100_000
"""Captures of at least this many events are paired by the compiled loop
(:mod:`tracekit.normalize.compiled`): about 0.1 s at a million events, against 1.5 s for the
Python loop, which stays for smaller ones (loading the compiled loop costs more than it saves)."""

Engine = Literal["auto", "python", "compiled"]


def pair_calls(ev: pl.DataFrame, *, engine: Engine = "auto") -> pl.DataFrame:
    """Add ``_entry`` (row of a return's entry), ``_call`` (line of the innermost open call that
    has a return probe in this capture) to kprobe events, in seq order per source and task.

    ``engine="compiled"`` (``auto``: from :data:`PAIR_FROM` events, when numba is installed)
    runs the same loop compiled: the same columns either way."""
    # which functions have a return probe is a property of each capture's probe set; only
    # their entries open a call, so a task's innermost open call is the top of its stack
    returned = (
        ev.filter((pl.col("_at") == "return") & pl.col("_func").is_not_null())
        .select("source", "_func")
        .unique()
        .with_columns(_opens=pl.lit(True))
    )
    has_return = ev.select("source", "_func").join(
        returned, on=["source", "_func"], how="left", maintain_order="left"
    )["_opens"]
    # tasks numbered: (source, pid), as one integer
    task_key = pl.col("source").cast(pl.Categorical).to_physical().cast(pl.Int64) * (1 << 32) + (
        pl.col("pid").cast(pl.Int64).fill_null(-1) + 1
    )
    cols = ev.select(
        "_row",
        "line",
        "_func",
        "_at",
        _task=task_key.rank("dense").cast(pl.Int64) - 1,
        _opens=((pl.col("_at") == "entry") & has_return).fill_null(False),
    )
    if engine == "compiled" or (
        engine == "auto" and ev.height >= PAIR_FROM and compiled_available()
    ):
        entry_of, call_of = _pair_compiled(cols)
    else:
        entry_of, call_of = _pair_python(cols)
    return ev.with_columns(_entry=entry_of, _call=call_of)


def _pair_python(cols: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    idx = cols["_row"].to_list()
    task = cols["_task"].to_list()
    func = cols["_func"].to_list()
    at = cols["_at"].to_list()
    line = cols["line"].to_list()
    opens = cols["_opens"].to_list()
    stacks: list[list[tuple[str, int, int]]] = [[] for _ in range((max(task) + 1) if task else 0)]
    entry_of: list[int | None] = [None] * len(idx)
    call_of: list[int | None] = [None] * len(idx)
    for i in range(len(idx)):
        stack = stacks[task[i]]
        if at[i] != "return":  # an event or an entry: inside the innermost open call
            if stack:
                call_of[i] = stack[-1][1]
            if opens[i]:
                stack.append((func[i], line[i], idx[i]))
            continue
        # a return closes the latest open entry of its function; entries above it have returned
        for depth in range(len(stack) - 1, -1, -1):
            if stack[depth][0] == func[i]:
                _, ln, row = stack[depth]
                entry_of[i] = row
                call_of[i] = ln
                del stack[depth:]
                break
    return pl.Series(entry_of, dtype=pl.Int64), pl.Series(call_of, dtype=pl.Int64)


def _pair_compiled(cols: pl.DataFrame) -> tuple[pl.Series, pl.Series]:
    from tracekit.normalize import compiled

    arrays = cols.select(
        pl.col("_task"),
        # equal codes for equal names (a return whose function is unknown matches nothing)
        pl.col("_func").cast(pl.Categorical).to_physical().cast(pl.Int64).fill_null(-1),
        pl.col("_at")
        .replace_strict(
            {"entry": compiled.AT_ENTRY, "return": compiled.AT_RETURN},
            default=compiled.AT_EVENT,
            return_dtype=pl.Int8,
        )
        .fill_null(compiled.AT_EVENT),
        pl.col("_opens"),
        pl.col("line").cast(pl.Int64),
        pl.col("_row").cast(pl.Int64),
    )
    task, func, at, opens, line, row = (arrays[c].to_numpy() for c in arrays.columns)
    n_tasks = int(task.max()) + 1 if task.size else 0
    entry, call = compiled.pair(task, func, at, opens, line, row, n_tasks)
    out = pl.DataFrame({"entry": entry, "call": call}).select(
        pl.when(pl.col(c) >= 0).then(pl.col(c)).alias(c) for c in ("entry", "call")
    )
    return out["entry"], out["call"]
