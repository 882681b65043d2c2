"""Ingest: capture text in, RAW_EVENTS and REJECTS tables out, every line accounted for.

For each source the first block is sampled to decide what the source is (:func:`tracekit.ingest.lines.detect`):

- a *capture* in one trace format (tracefs, trace-cmd, perf): tracefs lines go through the
  vectorised fast path (:mod:`tracekit.ingest.fast`), everything else line by line through the Lark
  grammars; a line that is neither a comment nor a trace line is **rejected** with the grammar's
  error;
- a *document* (a kernel log, a mail, a bug report): each line is tried against every grammar,
  with mail quoting (``> ``) and quoted-printable (``=3D``) undone; lines that match nothing are
  prose and **ignored**, unless they look like a trace line that lost its shape (then rejected).

Every line ends up as exactly one of: an event, attached to an event (stack frames, callchains,
splat bodies), ignored (blank, comment, header, prose) or rejected. :class:`Summary` keeps the
counts and ``events + rejected + ignored == lines`` is checked before a result is returned.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from tracekit.ingest import fast
from tracekit.ingest.lines import SAMPLE_LINES, LineReader, Mode, detect
from tracekit.ingest.source import BLOCK_BYTES, Input, lines_frame
from tracekit.schema import RAW_EVENTS, REJECTS, conform

if TYPE_CHECKING:
    import pyarrow as pa


@dataclass
class Summary:
    """Line accounting for one parse; ``events + rejected + ignored == lines``."""

    lines: int = 0
    events: int = 0
    rejected: int = 0
    ignored: int = 0
    by_format: Counter[str] = field(default_factory=Counter)
    ignored_by_kind: Counter[str] = field(default_factory=Counter)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, other: Summary) -> None:
        self.lines += other.lines
        self.events += other.events
        self.rejected += other.rejected
        self.ignored += other.ignored
        self.by_format.update(other.by_format)
        self.ignored_by_kind.update(other.ignored_by_kind)
        self.sources.update(other.sources)

    def check(self) -> None:
        if self.events + self.rejected + self.ignored != self.lines:  # pragma: no cover
            raise AssertionError(f"line accounting broken: {self.as_dict()}")

    def as_dict(self) -> dict[str, Any]:
        """The JSON summary of ``tracekit parse --format json``."""
        return {
            "lines": self.lines,
            "events": self.events,
            "rejected": self.rejected,
            "ignored": self.ignored,
            "by_format": dict(sorted(self.by_format.items())),
            "ignored_by_kind": dict(sorted(self.ignored_by_kind.items())),
            "sources": dict(self.sources),
        }


@dataclass
class ParseResult:
    """RAW_EVENTS, REJECTS and the summary of one or more sources."""

    events: pl.DataFrame
    rejects: pl.DataFrame
    summary: Summary


# ------------------------------------------------------------------------------------------------
# driver


def _events_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    if not rows:
        return conform(pl.DataFrame(schema={"line": pl.Int64}), _NO_SOURCE)
    return conform(pl.from_dicts(rows, infer_schema_length=None), _NO_SOURCE)


_NO_SOURCE = {k: v for k, v in RAW_EVENTS.items() if k != "source"}


def _attach_stacks(events: pl.DataFrame, frames: list[tuple[int, str]]) -> tuple[pl.DataFrame, int]:
    """Fold stack frames into events; ``<stack trace>`` entries into the event they follow.

    A frame belongs to the nearest event above it. A ``<stack trace>`` entry is emitted by the
    kernel right after the event whose trigger asked for it, on the same CPU; with per-CPU buffers
    merged by time another CPU's event may sit in between, so it is folded into the nearest
    preceding event on its CPU and the same task. Returns the events and how many ``<stack
    trace>`` rows were folded (they become attached lines).
    """
    if frames:
        fr = pl.DataFrame(frames, schema={"fline": pl.Int64, "frame": pl.String}, orient="row")
        anchors = events.select(pl.col("line").alias("anchor")).sort("anchor")
        fr = fr.sort("fline").join_asof(
            anchors, left_on="fline", right_on="anchor", strategy="backward"
        )
        stacks = (
            fr.filter(pl.col("anchor").is_not_null())
            .group_by("anchor")
            .agg(pl.col("frame").sort_by("fline").alias("_frames"))
        )
        events = (
            events.join(
                stacks, left_on="line", right_on="anchor", how="left", maintain_order="left"
            )
            .with_columns(stack=pl.coalesce(pl.col("_frames"), pl.col("stack")))
            .drop("_frames")
        )
    is_st = pl.col("event").is_in(["<stack trace>", "<user stack trace>"])
    if not events.select(is_st.any()).item():
        return events, 0
    events = events.sort("line")
    marks = events.filter(is_st & pl.col("stack").is_not_null() & pl.col("cpu").is_not_null())
    others = (
        events.filter(~is_st).select(pl.col("line").alias("target"), "cpu", "pid").sort("target")
    )
    linked = (
        marks.select("line", "cpu", "pid", pl.col("stack").alias("_st"))
        .sort("line")
        .join_asof(
            others,
            left_on="line",
            right_on="target",
            by=["cpu", "pid"],
            strategy="backward",
            check_sortedness=False,  # both sides are sorted by line above; polars cannot check with by=
        )
        .filter(pl.col("target").is_not_null())
    )
    if linked.height == 0:
        return events, 0
    # several <stack trace> entries after one event (a user stack after a kernel stack): the first
    folded = linked.group_by("target").agg(pl.col("_st").sort_by("line").first())
    events = (
        events.join(folded, left_on="line", right_on="target", how="left", maintain_order="left")
        .with_columns(stack=pl.coalesce(pl.col("stack"), pl.col("_st")))
        .drop("_st")
    )
    events = events.filter(~pl.col("line").is_in(linked["line"].implode()))
    return events, linked.height


def _line_frames(src: Input, block_bytes: int) -> Iterator[pl.DataFrame]:
    """The input's blocks as ``(line, text)`` frames, numbered from 1: the next block is read
    and split in a thread while the caller parses this one (the reads and the CSV reader
    release the GIL)."""
    blocks = src.blocks(block_bytes)
    next_line = 1

    def read() -> pl.DataFrame | None:  # in the thread, one call at a time, in order
        nonlocal next_line
        block = next(blocks, None)
        if block is None:
            return None
        lines = lines_frame(block, next_line)
        next_line += lines.height
        return lines

    try:
        with ThreadPoolExecutor(max_workers=1) as reader:
            ahead = reader.submit(read)
            while (lines := ahead.result()) is not None:
                ahead = reader.submit(read)
                yield lines
    finally:
        blocks.close()  # after the thread is done with it


def parse_source(
    name: str, *, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, Summary]]:
    """Parse one input in bounded batches: ``(events, rejects, summary)`` per batch.

    Raises :class:`tracekit.errors.InputError` when the input cannot be read at all.
    """
    mode: Mode | None = None
    slow: LineReader | None = None
    for lines in _line_frames(Input(name), block_bytes):
        if mode is None:
            mode = detect(lines.head(SAMPLE_LINES * 2)["text"].to_list())
            slow = LineReader(name, mode)
        assert slow is not None
        summary = Summary(lines=lines.height)
        summary.sources[name] = mode.name
        fast_events = None
        rest = lines
        if mode.fmt == "ftrace" and mode.layout is not None and not mode.qp:
            is_cand = (pl.col("text").str.len_bytes() > 40) & ~pl.col("text").str.starts_with("#")
            fast_events, leftover = fast.parse_ftrace_frame(lines.filter(is_cand), mode.layout)
            rest = pl.concat([lines.filter(~is_cand), leftover]).sort("line")
        elif mode.fmt in ("trace_cmd", "perf") and not mode.qp:
            is_cand = ~pl.col("text").str.starts_with("#") & (pl.col("text").str.len_bytes() > 20)
            fast_events, leftover = fast.parse_regex_frame(lines.filter(is_cand), mode.fmt)
            rest = pl.concat([lines.filter(~is_cand), leftover]).sort("line")
        for line, text in rest.iter_rows():
            slow.feed(line, text)
        yield _flush(name, slow, fast_events, summary)
    if slow is None:  # empty input
        yield (
            _with_source(conform(pl.DataFrame(schema={"line": pl.Int64}), _NO_SOURCE), name),
            pl.DataFrame(schema=REJECTS),
            Summary(sources={name: "empty"}),
        )
        return
    slow.finish()
    tail = Summary()
    tail.sources[name] = mode.name if mode else "empty"
    if slow.events or slow.rejects or slow.frames or slow.ignored:
        yield _flush(name, slow, None, tail)


def _with_source(df: pl.DataFrame, name: str) -> pl.DataFrame:
    return df.with_columns(pl.lit(name, pl.String).alias("source")).select(list(RAW_EVENTS))


def _flush(
    name: str, slow: LineReader, fast_events: pl.DataFrame | None, summary: Summary
) -> tuple[pl.DataFrame, pl.DataFrame, Summary]:
    parts = [_events_frame(slow.events)]
    if fast_events is not None and fast_events.height:
        parts.append(conform(fast_events, _NO_SOURCE))
    events = pl.concat(parts).sort("line") if len(parts) > 1 else parts[0]
    folded = 0
    if slow.frames or events.height:
        events, folded = _attach_stacks(events, slow.frames)
    rejects = pl.DataFrame(
        slow.rejects,
        schema={"line": pl.Int64, "text": pl.String, "reason": pl.String},
        orient="row",
    ).select(pl.lit(name).alias("source"), "line", "text", "reason")
    summary.events = events.height
    summary.rejected = rejects.height
    slow.ignored["attached"] += folded
    summary.ignored_by_kind.update(slow.ignored)
    summary.ignored = sum(slow.ignored.values())
    if summary.events:
        summary.by_format.update(
            {str(k): int(v) for k, v in events.group_by("format").len().iter_rows()}
        )
    slow.events, slow.frames, slow.rejects = [], [], []
    slow.ignored = Counter()
    return _with_source(events, name), rejects, summary


def parse_paths(names: Iterable[str], *, block_bytes: int = BLOCK_BYTES) -> ParseResult:
    """Parse every input into one :class:`ParseResult` (events ordered by source, then line)."""
    events: list[pl.DataFrame] = []
    rejects: list[pl.DataFrame] = []
    total = Summary()
    for name in names:
        per_source = Summary()
        for ev, rj, sm in parse_source(name, block_bytes=block_bytes):
            events.append(ev)
            rejects.append(rj)
            per_source.add(sm)
        per_source.check()
        total.add(per_source)
    total.check()
    ev_all = pl.concat(events) if events else conform(pl.DataFrame(), RAW_EVENTS)
    rj_all = pl.concat(rejects) if rejects else pl.DataFrame(schema=REJECTS)
    return ParseResult(ev_all, rj_all.cast(REJECTS), total)  # type: ignore[arg-type]


def parse_to_parquet(
    names: Iterable[str],
    out: str,
    rejects_out: str | None = None,
    *,
    block_bytes: int = BLOCK_BYTES,
) -> Summary:
    """Parse ``names`` straight into Parquet files, one batch at a time (bounded memory).

    ``out`` gets RAW_EVENTS; ``rejects_out`` (default ``<out stem>.rejects.parquet``) REJECTS.
    """
    import pyarrow.parquet as pq

    from tracekit.schema import empty

    rejects_out = rejects_out or _rejects_path(out)
    ev_schema = empty(RAW_EVENTS).to_arrow().schema
    rj_schema = empty(REJECTS).to_arrow().schema
    total = Summary()
    with (
        pq.ParquetWriter(out, ev_schema, compression="zstd") as ev_writer,
        pq.ParquetWriter(rejects_out, rj_schema, compression="zstd") as rj_writer,
        # a batch is compressed and written while the next one is parsed (pyarrow releases the
        # GIL); one batch in flight at most, so memory stays bounded
        ThreadPoolExecutor(max_workers=1) as writer,
    ):
        writing: Future[None] | None = None

        def write(ev: pa.Table | None, rj: pa.Table | None) -> None:
            if ev is not None:
                ev_writer.write_table(ev)
            if rj is not None:
                rj_writer.write_table(rj)

        for name in names:
            per_source = Summary()
            for ev, rj, sm in parse_source(name, block_bytes=block_bytes):
                batch = (
                    ev.to_arrow().cast(ev_schema) if ev.height else None,
                    rj.cast(REJECTS).to_arrow().cast(rj_schema) if rj.height else None,  # type: ignore[arg-type]
                )
                if writing is not None:
                    writing.result()  # in order, and a failed write stops the parse
                writing = writer.submit(write, *batch)
                per_source.add(sm)
            per_source.check()
            total.add(per_source)
        if writing is not None:
            writing.result()
    total.check()
    return total


def _rejects_path(out: str) -> str:
    stem = out[: -len(".parquet")] if out.endswith(".parquet") else out
    return stem + ".rejects.parquet"
