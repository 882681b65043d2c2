"""Vectorised parsing of tracefs lines: fixed-offset slicing in polars.

tracefs prints its context columns at fixed widths (``trace_print_context``: ``"%16s-%-7d "``,
``"(%7d) "`` with record-tgid, ``"[%03d] "``, the irq-info flags, ``" %5lu.%06lu: "``), and a
comm is at most 15 characters (``TASK_COMM_LEN``), so the ``-`` before the pid is always at offset
16. A :class:`Layout` records where the optional columns put the rest; it is read off a line the
Lark grammar has parsed. Every row is then cut with ``str.slice`` and checked against the grammar's
shape; rows that fail the check (an unusual width, a syscall line, an event name the grammar would
not take) are returned unparsed for the Lark path. ``tests/test_ingest_differential.py`` checks that
this module and :func:`tracekit.ingest.grammar.parse_ftrace` agree on every line this module takes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

from tracekit.accel import compiled_available
from tracekit.schema import FormatDtype, TsUnitDtype

_EVENT_NAME = r"^[A-Za-z_][\w.\-]*$"
_DIGITS = r"^\d+$"
# grammars/ftrace.lark SYSCALL_ENTER / SYSCALL_EXIT (the body after the context columns)
_SYS_ENTER = r"^sys_\w+\(.*\)$"
_SYS_EXIT = r"^sys_\w+ -> \S+$"


@dataclass(frozen=True, slots=True)
class Layout:
    """Where the optional tracefs columns put the timestamp."""

    tgid: bool
    flags: int  # 0 (irq-info off), 4 (kernels before ~5.13) or 5

    @property
    def cpu_at(self) -> int:
        return 35 if self.tgid else 25

    @property
    def ts_at(self) -> int:
        # "[%03d] ", the flags, then " %5lu.%06lu": the timestamp field starts after that space
        # (a wide value - tai seconds, tsc ticks - fills the field from its first column)
        return self.cpu_at + 6 + self.flags + 1


def layout_of(text: str) -> Layout | None:
    """The layout of a tracefs context line, or None if it has none of the known ones.

    >>> layout_of("            bash-4619    [000] ...1.   245.824125: tracing_mark_write: x")
    Layout(tgid=False, flags=5)
    >>> layout_of("            bash-4619    (   4619) [000] ...1.   246.054672: tracing_mark_write: x")
    Layout(tgid=True, flags=5)
    """
    if len(text) < 40 or text[16] != "-":
        return None
    tgid = text[25] == "("
    cpu_at = 35 if tgid else 25
    if text[cpu_at] != "[" or text[cpu_at + 4 : cpu_at + 6] != "] ":
        return None
    rest = text[cpu_at + 6 :]
    head = rest.split(" ", 1)[0]
    if head and not head[0].isdigit() and len(head) in (4, 5):
        return Layout(tgid, len(head))
    return Layout(tgid, 0)


CUT_FROM = 100_000
"""Frames of at least this many lines (a parse block of 32 MB holds some 200,000) are cut by the
compiled loop first (:mod:`tracekit.ingest.compiled`). It saves about 1.4 us a line, and loading
it from numba's cache costs about 0.6 s (compiling it, the first time on a machine, about 20 s):
below this, the polars path alone is as fast."""

Engine = Literal["auto", "polars", "compiled"]


def parse_ftrace_frame(
    lines: pl.DataFrame, layout: Layout, *, engine: Engine = "auto"
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse ``(line, text)`` rows in tracefs ``layout``.

    Returns ``(events, rest)``: the rows taken, as RAW_EVENTS columns (less ``source``), and the
    ``(line, text)`` rows left for the Lark path, both in line order. With ``engine="compiled"``
    (``auto``: for large frames, when numba is installed) the compiled loop cuts the lines it
    can and this function the others: the same tables either way.
    """
    if engine == "compiled" or (
        engine == "auto" and lines.height >= CUT_FROM and compiled_available()
    ):
        from tracekit.ingest import compiled

        cut, lines = compiled.cut(lines, layout)
        if lines.height == 0:
            return cut, lines
        events, rest = _parse_ftrace_polars(lines, layout)
        if cut.height == 0:
            return events, rest
        return pl.concat([cut, events]).sort("line"), rest
    return _parse_ftrace_polars(lines, layout)


def _parse_ftrace_polars(lines: pl.DataFrame, layout: Layout) -> tuple[pl.DataFrame, pl.DataFrame]:
    t = pl.col("text")
    cpu_at, ts_at = layout.cpu_at, layout.ts_at
    tail = t.str.slice(ts_at)
    colon = tail.str.find(": ", literal=True)
    body = tail.str.slice(colon + 2)
    name_end = body.str.find(": ", literal=True)
    df = lines.lazy().select(
        "line",
        "text",
        comm=t.str.slice(0, 16).str.strip_chars_start(),
        dash=t.str.slice(16, 1),
        pid_text=t.str.slice(17, 7).str.strip_chars_end(),
        tgid_text=(
            t.str.slice(26, 7).str.strip_chars_start() if layout.tgid else pl.lit(None, pl.String)
        ),
        cpu_text=t.str.slice(cpu_at, 6),
        flags=(t.str.slice(cpu_at + 6, layout.flags) if layout.flags else pl.lit(None, pl.String)),
        sep=t.str.slice(cpu_at + 6 + layout.flags, 1),
        ts_text=tail.str.slice(0, colon).str.strip_chars_start(),
        raw_name=body.str.slice(0, name_end.fill_null(body.str.len_bytes())),
        payload=body.str.slice(name_end + 2),
        body_text=body,
    )
    ts_text = pl.col("ts_text")
    dot = ts_text.str.find(".", literal=True)
    # nanoseconds: digits past the ninth are dropped, as grammar.timestamp does
    frac_len = pl.min_horizontal(ts_text.str.len_bytes() - dot - 1, 9)
    secs = pl.when(dot.is_null()).then(ts_text).otherwise(ts_text.str.slice(0, dot))
    frac = ts_text.str.slice(dot + 1, 9)
    raw_name = pl.col("raw_name")
    body_col = pl.col("body_text")
    trailing_colon = body_col.str.ends_with(":") & name_end_is_null(body_col)
    df = df.with_columns(
        pid=pl.col("pid_text").str.to_integer(strict=False).cast(pl.Int32),
        tgid=pl.col("tgid_text").str.to_integer(strict=False).cast(pl.Int32),
        cpu=pl.col("cpu_text").str.slice(1, 3).str.to_integer(strict=False).cast(pl.Int32),
        ts=pl.when(dot.is_null())
        .then(secs.str.to_integer(strict=False))
        .otherwise(
            secs.str.to_integer(strict=False) * 1_000_000_000
            + frac.str.to_integer(strict=False) * pl.lit(10, pl.Int64).pow(9 - frac_len)
        ),
        ts_unit=pl.when(dot.is_null()).then(pl.lit("tick")).otherwise(pl.lit("ns")),
        # "name:" at the very end of a line is an event with an empty payload
        event=pl.when(trailing_colon)
        .then(body_col.str.slice(0, body_col.str.len_bytes() - 1))
        .otherwise(raw_name),
        payload=pl.when(trailing_colon).then(pl.lit("")).otherwise(pl.col("payload")),
    )
    # syscall tracepoints: "sys_close(fd: 3)" is sys_enter_close, "sys_ioctl -> 0x0" sys_exit_ioctl
    df = df.with_columns(_body_r=body_col.str.strip_chars_end())
    body_r = pl.col("_body_r")
    df = df.with_columns(
        _sysp=body_col.str.starts_with("sys_"),
        _paren=body_r.str.find("(", literal=True),
        _arrow=body_r.str.find(" -> ", literal=True),
    )
    paren, arrow, sysp = pl.col("_paren"), pl.col("_arrow"), pl.col("_sysp")
    sys_name = pl.when(sysp).then(body_r.str.slice(4, pl.coalesce(paren, arrow) - 4))
    df = df.with_columns(_sysname_ok=sys_name.str.contains(r"^\w+$").fill_null(False))
    ok_name = pl.col("_sysname_ok")
    # SYSCALL_ENTER /sys_\w+\(.*\)\s*$/ and SYSCALL_EXIT /sys_\w+ -> \S+/ of grammars/ftrace.lark
    is_enter = (
        sysp
        & ok_name
        & paren.is_not_null()
        & body_r.str.ends_with(")")
        & (arrow.is_null() | (paren < arrow))
    )
    tail_ret = body_r.str.slice(arrow + 4)
    is_exit = (
        sysp
        & ok_name
        & arrow.is_not_null()
        & ~is_enter
        & (tail_ret.str.len_bytes() > 0)
        & ~tail_ret.str.contains(" ", literal=True)
    )
    df = df.with_columns(
        _sys=is_enter | is_exit,
        event=pl.when(is_enter)
        .then(pl.lit("sys_enter_") + body_r.str.slice(4, paren - 4))
        .when(is_exit)
        .then(pl.lit("sys_exit_") + body_r.str.slice(4, arrow - 4))
        .otherwise(pl.col("event")),
        payload=pl.when(is_enter)
        .then(body_r.str.slice(paren + 1, body_r.str.len_bytes() - paren - 2))
        .when(is_exit)
        .then(body_r.str.slice(arrow + 4).str.strip_chars())
        .otherwise(pl.col("payload")),
    )
    ok = (
        (pl.col("dash") == "-")
        & pl.col("pid_text").str.contains(_DIGITS)
        & pl.col("cpu_text").str.contains(r"^\[\d{3}\] $")
        & (pl.col("sep") == " ")
        & pl.col("ts_text").str.contains(r"^\d+(\.\d+)?$")
        & (pl.col("_sys") | pl.col("event").str.contains(_EVENT_NAME))
        & pl.col("comm").str.len_bytes().gt(0)
        & pl.col("ts").is_not_null()
    )
    if layout.tgid:
        ok = (
            ok
            & (pl.col("tgid_text").str.contains(_DIGITS) | t.str.slice(25, 10).eq("(-------) "))
            & t.str.slice(25, 1).eq("(")
        )
    if layout.flags:
        ok = ok & pl.col("flags").str.contains(r"^[^\s\[\]():]+$")
    parsed = df.with_columns(_ok=ok.fill_null(False))
    events = parsed.filter(pl.col("_ok")).select(
        "line",
        pl.lit("ftrace", FormatDtype).alias("format"),
        "ts",
        pl.col("ts_unit").cast(TsUnitDtype),
        "cpu",
        "pid",
        "tgid",
        "comm",
        "flags",
        "event",
        pl.col("payload").str.strip_chars_end(),
    )
    events_df, rest = pl.collect_all(
        [
            split_probe_fields_lazy(events, "ftrace"),
            parsed.filter(~pl.col("_ok")).select("line", "text"),
        ]
    )
    return events_df, rest


def name_end_is_null(body: pl.Expr) -> pl.Expr:
    return body.str.find(": ", literal=True).is_null()


# One side of a probe location, as grammars/probe.lark accepts it (tokens may be separated by
# spaces: the grammar ignores them): a run of 6+ hex digits (an address: uprobes, trace-cmd and
# perf) or SYMBOL [+0xOFF[/0xSIZE]] [[module]].
_SIDE = r"(?:(?:0x)?[0-9a-fA-F]{6,}|[A-Za-z_.$][\w.$]* *(?:\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?)? *(?:\[[\w\-]+\])?)"
_LOCATION_OK = rf"^ *{_SIDE} *(?:<- *{_SIDE} *)?$"
_ADDRESS = r"^(?:0x)?[0-9a-fA-F]{6,}$"


def _side_columns(df: pl.LazyFrame, side: str) -> pl.LazyFrame:
    """Symbol or address, offset and module of one side (``_a``/``_b``) of a location, as
    columns ``{side}_func``, ``{side}_site``, ``{side}_off``, ``{side}_mod``, ``{side}_is_site``."""
    t = pl.col(side)
    df = df.with_columns(t.str.strip_chars(" ").alias(side))
    df = df.with_columns(
        pl.col(side).str.contains(_ADDRESS).alias(f"{side}_addr"),
        pl.col(side).str.find("+", literal=True).alias(f"{side}_plus"),
        pl.col(side).str.find("[", literal=True).alias(f"{side}_br"),
        pl.col(side).str.len_bytes().alias(f"{side}_len"),
    )
    t, plus, br, n = (
        pl.col(side),
        pl.col(f"{side}_plus"),
        pl.col(f"{side}_br"),
        pl.col(f"{side}_len"),
    )
    is_addr = pl.col(f"{side}_addr")
    df = df.with_columns(
        t.str.slice(0, pl.coalesce(plus, br, n)).str.strip_chars_end(" ").alias(f"{side}_sym"),
        pl.when(plus.is_not_null())
        .then(t.str.slice(plus, pl.coalesce(br, n) - plus).str.strip_chars_end(" "))
        .alias(f"{side}_off"),
        pl.when(br.is_not_null() & ~is_addr)
        .then(t.str.slice(br + 1, t.str.find("]", literal=True) - br - 1))
        .alias(f"{side}_mod"),
        (pl.lit("0x") + t.str.to_lowercase().str.strip_prefix("0x")).alias(f"{side}_hex"),
    )
    off, sym, hexa = pl.col(f"{side}_off"), pl.col(f"{side}_sym"), pl.col(f"{side}_hex")
    return df.with_columns(
        pl.when(is_addr).then(hexa).otherwise(sym).alias(f"{side}_func"),
        pl.when(is_addr).then(hexa).otherwise(sym + off.fill_null("")).alias(f"{side}_site"),
        (~is_addr & off.is_not_null()).alias(f"{side}_is_site"),
    )


def split_probe_fields(events: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """Eager wrapper of :func:`split_probe_fields_lazy`."""
    return split_probe_fields_lazy(events.lazy(), fmt).collect()


def split_probe_fields_lazy(events: pl.LazyFrame, fmt: str) -> pl.LazyFrame:
    """Add probe_func/probe_offset/probe_module/ret_caller from ``(location)`` payloads.

    Mirrors :func:`tracekit.ingest.grammar.parse_probe`; a payload whose location that function
    would reject keeps its payload and gets no probe fields, as in the Lark path. Computed in
    stages of materialised columns: nested expressions would recompute shared parts.
    """
    payload = pl.col("payload")
    df = events.with_columns(
        _close=payload.str.find(")", literal=True), _open=payload.str.starts_with("(")
    )
    df = df.with_columns(
        _loc=pl.when(pl.col("_open") & pl.col("_close").is_not_null()).then(
            payload.str.slice(1, pl.col("_close") - 1)
        )
    )
    df = df.with_columns(
        _valid=pl.col("_loc").str.contains(_LOCATION_OK).fill_null(False),
        _arrow=pl.col("_loc").str.find("<-", literal=True),
    )
    arrow = pl.col("_arrow")
    df = df.with_columns(
        _a=pl.when(arrow.is_not_null())
        .then(pl.col("_loc").str.slice(0, arrow))
        .otherwise(pl.col("_loc")),
        _b=pl.when(arrow.is_not_null()).then(pl.col("_loc").str.slice(arrow + 2)),
    )
    df = _side_columns(_side_columns(df, "_a"), "_b")
    valid, is_ret = pl.col("_valid"), arrow.is_not_null()
    # kernel text prints (caller <- func); trace-cmd and perf print (func <- caller); a side with
    # an offset is the call site whichever the order
    a_is_caller = pl.col("_a_is_site") | (
        ~pl.col("_b_is_site").fill_null(False) & pl.lit(fmt == "ftrace")
    )
    hex_off = (
        pl.col("_a_off")
        .str.slice(3)
        .str.split("/")
        .list.first()
        .str.to_integer(base=16, strict=False)
    )
    out = df.with_columns(_caller_a=a_is_caller).with_columns(
        probe_func=pl.when(~valid)
        .then(None)
        .when(~is_ret)
        .then(pl.col("_a_func"))
        .when(pl.col("_caller_a"))
        .then(pl.col("_b_func"))
        .otherwise(pl.col("_a_func")),
        probe_offset=pl.when(valid & ~is_ret).then(hex_off),
        probe_module=pl.when(~valid)
        .then(None)
        .when(~is_ret)
        .then(pl.col("_a_mod"))
        .when(pl.col("_caller_a"))
        .then(pl.col("_b_mod"))
        .otherwise(pl.col("_a_mod")),
        ret_caller=pl.when(valid & is_ret).then(
            pl.when(pl.col("_caller_a")).then(pl.col("_a_site")).otherwise(pl.col("_b_site"))
        ),
        payload=pl.when(valid)
        .then(payload.str.slice(pl.col("_close") + 1).str.strip_chars())
        .otherwise(payload),
    )
    names = events.collect_schema().names()
    return out.select(
        names
        + [
            c
            for c in ("probe_func", "probe_offset", "probe_module", "ret_caller")
            if c not in names
        ]
    )


# ------------------------------------------------------------------------------------------------
# trace-cmd report and perf script: one anchored regex per format, derived from the grammar


# grammars/trace_cmd.lark context_line: TASK_PID CPU TIMESTAMP ":" TS_DIFF? EVENT_NAME ":" PAYLOAD?
_TRACE_CMD = (
    r"^\s*(?P<task>\S.*?)-(?P<pid>\d+)\s+\[(?P<cpu>\d+)\]\s+(?P<ts>\d+(?:\.\d+)?):\s*"
    r"(?:\(\+\d+\)\s*)?(?P<event>[A-Za-z_][\w.\-]*):(?:\s+(?P<payload>\S.*?))?\s*$"
)
# common.lark TASK_PID: the shortest "comm-pid" followed by what may follow it
_TRACE_CMD_TASK = r"^\s*(\S.*?)-\d+\s+(?:\(|\[\d|\d)"
# grammars/perf.lark context_line: TASK PID_TID CPU? TIMESTAMP ":" SYS_EVENT ":" PAYLOAD?
_PERF = (
    r"^\s*(?P<task>\S.*?)\s+(?P<pid>\d+)(?:/(?P<tid>\d+))?\s+(?:\[(?P<cpu>\d+)\]\s+)?"
    r"(?P<ts>\d+\.\d+):\s*(?P<system>[\w\-]+):(?P<event>[\w.\-]+):(?:\s+(?P<payload>\S.*?))?\s*$"
)
_PERF_TASK = r"^\s*(\S.*?)\s+\d+(?:/\d+)?\s+(?:\[\d+\]\s+)?\d+\.\d+:"


def parse_regex_frame(lines: pl.DataFrame, fmt: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse ``(line, text)`` rows of a ``trace-cmd report`` or ``perf script`` capture.

    Returns ``(events, rest)`` like :func:`parse_ftrace_frame`. A row is taken only where the
    regex matches and its comm is the one the grammar's lexer would cut (the shortest prefix its
    look-ahead accepts); the rest (stack frames, callchains, ``-l`` latency lines, headers, odd
    comms) is left for the Lark path.
    """
    pattern, task_pattern = (
        (_TRACE_CMD, _TRACE_CMD_TASK) if fmt == "trace_cmd" else (_PERF, _PERF_TASK)
    )
    t = pl.col("text")
    lazy = (
        lines.lazy()
        .with_columns(_m=t.str.extract_groups(pattern), _task=t.str.extract(task_pattern, 1))
        .unnest("_m")
    )
    ts_text = pl.col("ts")
    dot = ts_text.str.find(".", literal=True)
    # nanoseconds: digits past the ninth are dropped, as grammar.timestamp does
    frac_len = pl.min_horizontal(ts_text.str.len_bytes() - dot - 1, 9)
    secs = pl.when(dot.is_null()).then(ts_text).otherwise(ts_text.str.slice(0, dot))
    frac = ts_text.str.slice(dot + 1, 9)
    ts = (
        pl.when(dot.is_null())
        .then(secs.str.to_integer(strict=False))
        .otherwise(
            secs.str.to_integer(strict=False) * 1_000_000_000
            + frac.str.to_integer(strict=False) * pl.lit(10, pl.Int64).pow(9 - frac_len)
        )
    )
    ok = pl.col("event").is_not_null() & (pl.col("task") == pl.col("_task")) & ts.is_not_null()
    tgid: pl.Expr
    if fmt == "perf":
        # perf prints the thread as "pid" unless -F pid,tid asks for both ("pid/tid")
        pid = pl.coalesce(pl.col("tid"), pl.col("pid")).str.to_integer(strict=False)
        tgid = pl.when(pl.col("tid").is_not_null()).then(pl.col("pid").str.to_integer(strict=False))
        system = pl.col("system")
    else:
        pid = pl.col("pid").str.to_integer(strict=False)
        tgid = pl.lit(None, pl.Int64)
        system = pl.lit(None, pl.String)
    parsed = lazy.with_columns(_ok=ok.fill_null(False))
    events = parsed.filter(pl.col("_ok")).select(
        "line",
        pl.lit(fmt, FormatDtype).alias("format"),
        ts.alias("ts"),
        pl.when(dot.is_null())
        .then(pl.lit("tick"))
        .otherwise(pl.lit("ns"))
        .cast(TsUnitDtype)
        .alias("ts_unit"),
        pl.col("cpu").str.to_integer(strict=False).cast(pl.Int32).alias("cpu"),
        pid.cast(pl.Int32).alias("pid"),
        tgid.cast(pl.Int32).alias("tgid"),
        pl.col("task").alias("comm"),
        pl.lit(None, pl.String).alias("flags"),
        system.alias("system"),
        "event",
        pl.col("payload").fill_null(""),
    )
    events_df, rest = pl.collect_all(
        [split_probe_fields_lazy(events, fmt), parsed.filter(~pl.col("_ok")).select("line", "text")]
    )
    return events_df, rest
