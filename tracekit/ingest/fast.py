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

import polars as pl

from tracekit.schema import FormatDtype, TsUnitDtype

_EVENT_NAME = r"^[A-Za-z_][\w.\-]*$"
_DIGITS = r"^\d+$"


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


def parse_ftrace_frame(lines: pl.DataFrame, layout: Layout) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Parse ``(line, text)`` rows in tracefs ``layout``.

    Returns ``(events, rest)``: the rows taken, as RAW_EVENTS columns (less ``source``), and the
    ``(line, text)`` rows left for the Lark path.
    """
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
    frac_len = ts_text.str.len_bytes() - dot - 1
    secs = pl.when(dot.is_null()).then(ts_text).otherwise(ts_text.str.slice(0, dot))
    frac = ts_text.str.slice(dot + 1)
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
    ok = (
        (pl.col("dash") == "-")
        & pl.col("pid_text").str.contains(_DIGITS)
        & pl.col("cpu_text").str.contains(r"^\[\d{3}\] $")
        & (pl.col("sep") == " ")
        & pl.col("ts_text").str.contains(r"^\d+(\.\d+)?$")
        & pl.col("event").str.contains(_EVENT_NAME)
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
    parsed = df.with_columns(_ok=ok.fill_null(False)).collect()
    taken = parsed.filter(pl.col("_ok"))
    rest = parsed.filter(~pl.col("_ok")).select("line", "text")
    events = taken.select(
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
    return split_probe_fields(events, "ftrace"), rest


def name_end_is_null(body: pl.Expr) -> pl.Expr:
    return body.str.find(": ", literal=True).is_null()


_LOCATION = (
    r"^\((?:(?P<a_addr>(?:0x)?[0-9a-fA-F]{6,})|(?P<a_sym>[A-Za-z_.$][\w.$]*)"
    r"(?P<a_off>\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?)?(?: \[(?P<a_mod>[\w\-]+)\])?)"
    r"(?: <- (?:(?P<b_addr>(?:0x)?[0-9a-fA-F]{6,})|(?P<b_sym>[A-Za-z_.$][\w.$]*)"
    r"(?P<b_off>\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?)?(?: \[(?P<b_mod>[\w\-]+)\])?))?\)"
    r"(?: +(?P<args>.*))?$"
)


def split_probe_fields(events: pl.DataFrame, fmt: str) -> pl.DataFrame:
    """Add probe_func/probe_offset/probe_module/ret_caller from ``(location)`` payloads.

    Mirrors :func:`tracekit.ingest.grammar.parse_probe`; payloads whose location that function
    would reject keep their payload and get no probe fields, as in the Lark path.
    """
    is_probe = pl.col("payload").str.starts_with("(")
    if not events.select(is_probe.any()).item():
        return events.with_columns(
            probe_func=pl.lit(None, pl.String),
            probe_offset=pl.lit(None, pl.Int64),
            probe_module=pl.lit(None, pl.String),
            ret_caller=pl.lit(None, pl.String),
        )
    g = pl.col("_loc")
    with_loc = events.with_columns(
        _loc=pl.when(is_probe).then(pl.col("payload").str.extract_groups(_LOCATION))
    ).unnest("_loc")
    has = pl.col("a_sym").is_not_null() | pl.col("a_addr").is_not_null()
    is_ret = pl.col("b_sym").is_not_null() | pl.col("b_addr").is_not_null()
    a_site = pl.col("a_off").is_not_null() & pl.col("a_sym").is_not_null()
    b_site = pl.col("b_off").is_not_null() & pl.col("b_sym").is_not_null()
    # kernel text prints (caller <- func); trace-cmd and perf print (func <- caller)
    a_is_caller = a_site | (~b_site & pl.lit(fmt == "ftrace"))

    def loc_text(side: str) -> pl.Expr:
        return (
            pl.when(pl.col(f"{side}_sym").is_not_null())
            .then(pl.col(f"{side}_sym") + pl.col(f"{side}_off").fill_null(""))
            .otherwise(
                pl.lit("0x") + pl.col(f"{side}_addr").str.to_lowercase().str.strip_prefix("0x")
            )
        )

    def func_text(side: str) -> pl.Expr:
        return (
            pl.when(pl.col(f"{side}_sym").is_not_null())
            .then(pl.col(f"{side}_sym"))
            .otherwise(
                pl.lit("0x") + pl.col(f"{side}_addr").str.to_lowercase().str.strip_prefix("0x")
            )
        )

    def hex_offset(side: str) -> pl.Expr:
        off = pl.col(f"{side}_off").str.slice(3).str.split("/").list.first()
        return off.str.to_integer(base=16, strict=False)

    del g
    out = with_loc.with_columns(
        probe_func=pl.when(~has)
        .then(None)
        .when(~is_ret)
        .then(func_text("a"))
        .when(a_is_caller)
        .then(func_text("b"))
        .otherwise(func_text("a")),
        probe_offset=pl.when(has & ~is_ret).then(hex_offset("a")),
        probe_module=pl.when(~has)
        .then(None)
        .when(~is_ret)
        .then(pl.col("a_mod"))
        .when(a_is_caller)
        .then(pl.col("b_mod"))
        .otherwise(pl.col("a_mod")),
        ret_caller=pl.when(has & is_ret).then(
            pl.when(a_is_caller).then(loc_text("a")).otherwise(loc_text("b"))
        ),
        payload=pl.when(has)
        .then(pl.col("args").fill_null("").str.strip_chars_end())
        .otherwise(pl.col("payload")),
    )
    return out.drop(
        "a_sym", "a_off", "a_mod", "a_addr", "b_sym", "b_off", "b_mod", "b_addr", "args"
    )
