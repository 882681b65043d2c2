"""Ingest: capture text in, RAW_EVENTS and REJECTS tables out, every line accounted for.

For each source the first block is sampled to decide what the source is (:func:`detect`):

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

import contextlib
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from tracekit.ingest import fast
from tracekit.ingest.grammar import (
    EVENT,
    FRAME,
    HEADER,
    LineError,
    Parsed,
    parse_ftrace,
    parse_ftrace_bare,
    parse_log_prefix,
    parse_perf,
    parse_probe,
    parse_trace_cmd,
)
from tracekit.ingest.logs import SPLAT_STARTS, SplatBuilder, classify
from tracekit.ingest.source import BLOCK_BYTES, Input, lines_frame
from tracekit.schema import RAW_EVENTS, REJECTS, conform

SAMPLE_LINES = 400
WRAP_MIN = 60
"""Shortest line a mail client could have hard-wrapped (they wrap at 72 to 78 columns)."""

LineParser = Callable[[str], Parsed]
TRACE_PARSERS: dict[str, LineParser] = {
    "ftrace": parse_ftrace,
    "trace_cmd": parse_trace_cmd,
    "perf": parse_perf,
}

# A line that starts like a trace line ("comm-pid [cpu]", "comm pid [cpu] ts:") but did not parse
# is damaged trace text, not prose: reject it even in a document.
_LOOKS_LIKE_TRACE = re.compile(
    r"^\s*\S.*?-\d+\s+(\(\s*[\d-]+\)\s+)?\[\d{3,}\]|^\s*\S+\s+\d+\s+\[\d{3}\]\s+\d"
)
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
# what people put in place of lines they cut from a paste
_ELISION = re.compile(r"^\s*(\.\.\.|\[\.\.\.\]|\[snip\]|<snip>|\[ *\.\.\. *\])\s*$")
_RAW_OPTION = re.compile(r"^\d+ \d+ \d+ (#|type: \d+)|^[0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{16} ")


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
# detection


@dataclass(frozen=True)
class Mode:
    """How a source is read: its dominant trace format (None for documents) and tracefs layout."""

    fmt: str | None
    layout: fast.Layout | None = None
    bare: bool = False
    qp: bool = False

    @property
    def name(self) -> str:
        if self.fmt is None:
            return "document"
        return "ftrace (context-info off)" if self.bare else self.fmt


def detect(sample: list[str]) -> Mode:
    """Decide how to read a source from its first lines.

    >>> detect(["# tracer: nop", "  bash-1  [000] ....  1.000001: a: b"]).fmt
    'ftrace'
    >>> detect(["Hello,", "[  1.000000] drm: x"]).fmt is None
    True
    """
    qp = sum("=3D" in s or s.endswith("=") for s in sample) >= 2
    tracer_header = any(s.startswith("# tracer:") for s in sample[:5])
    candidates = [s for s in sample if s.strip() and not s.startswith("#")][:SAMPLE_LINES]
    if not candidates:
        return Mode("ftrace" if tracer_header else None, qp=qp)
    scores: Counter[str] = Counter()
    layout: fast.Layout | None = None
    for text in candidates:
        for fmt, parser in TRACE_PARSERS.items():
            try:
                parsed = parser(text)
            except LineError:
                continue
            scores[fmt] += 1
            if fmt == "ftrace" and layout is None and parsed.kind == EVENT:
                layout = fast.layout_of(text)
    # trace-cmd's lines without flags also fit the tracefs grammar (irq-info off); its "cpus=N"
    # header, or a tie, says which tool printed them.
    if any(s.startswith(("cpus=", "version = ")) for s in candidates[:3]):
        scores["trace_cmd"] += 1
    order = {"ftrace": 0, "trace_cmd": 1, "perf": 2}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    if ranked and ranked[0][1] * 2 >= len(candidates):
        fmt = ranked[0][0]
        return Mode(fmt, layout if fmt == "ftrace" else None, qp=qp)
    if tracer_header:
        bare = 0
        for text in candidates:
            try:
                parse_ftrace_bare(text)
                bare += 1
            except LineError:
                pass
        if bare * 2 >= len(candidates):
            return Mode("ftrace", None, bare=True, qp=qp)
        # "# tracer:" says tracefs wrote this, whatever the lines became (options/raw, hex, bin):
        # read it as a capture so that what does not parse is rejected with the reason
        return Mode("ftrace", None, qp=qp)
    return Mode(None, qp=qp)


# ------------------------------------------------------------------------------------------------
# the line-by-line path


@dataclass
class _Slow:
    """Line-by-line state for one source: what is open (a splat, a perf sample) across lines."""

    source: str
    mode: Mode
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[int, str]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    splat: SplatBuilder | None = None
    qp_carry: tuple[int, str] | None = None
    wrappable: tuple[int, int] | None = None  # (line, length) of the last single-line event

    # --- entry point --------------------------------------------------------------------------
    def feed(self, line: int, text: str) -> None:
        if self.mode.qp:
            self._feed_qp(line, text)
        else:
            self._line(line, text)

    def finish(self) -> None:
        if self.qp_carry is not None:
            line, text = self.qp_carry
            self.qp_carry = None
            self._line(line, text)
        self._close_splat()

    def _feed_qp(self, line: int, text: str) -> None:
        """Undo quoted-printable (RFC 2045): a trailing ``=`` is a soft break that joins the next
        physical line to this one; ``=3D`` is ``=`` and ``=20`` a space."""
        if self.qp_carry is not None:
            first, head = self.qp_carry
            self.qp_carry = None
            self.ignored["attached"] += 1  # this physical line continues line ``first``
            line, text = first, head + text
        if text.endswith("=") and not text.endswith("=="):
            self.qp_carry = (line, text[:-1])
            return
        self._line(line, text.replace("=3D", "=").replace("=20", " "))

    # --- one logical line ---------------------------------------------------------------------
    def _line(self, line: int, text: str) -> None:
        if not text.strip():
            if self.splat is not None and self.mode.fmt is None:
                if self.splat.kasan_rules and not self.splat.done:
                    # KASAN reports have blank lines between their sections; they end at a rule
                    self.splat.add("", None)
                    self.ignored["attached"] += 1
                    return
                self._close_splat()
            self.ignored["blank"] += 1
            return
        if text.startswith("#"):
            self.ignored["comment"] += 1
            return
        if _ELISION.match(text):
            self.ignored["text"] += 1
            return
        if self.mode.fmt is not None and self._trace_line(line, text, self.mode.fmt):
            return
        if self.mode.fmt is None:
            self._document_line(line, text)
            return
        # a capture: what is not a trace line is an error, with the grammar's reason
        self._reject(line, text, self.mode.fmt)

    def _trace_line(self, line: int, text: str, fmt: str) -> bool:
        try:
            parsed = (parse_ftrace_bare if self.mode.bare else TRACE_PARSERS[fmt])(text)
        except LineError:
            if self.mode.bare:
                try:
                    parsed = parse_ftrace(text)
                except LineError:
                    return False
            else:
                return False
        self._take(line, parsed, fmt)
        return True

    def _take(self, line: int, parsed: Parsed, fmt: str) -> None:
        if parsed.kind == FRAME:
            self.frames.append((line, parsed.fields["frame"]))
            self.ignored["attached"] += 1
        elif parsed.kind == HEADER:
            self.ignored["header"] += 1
        else:
            fields = dict(parsed.fields)
            if fields.get("payload", "").startswith("("):
                with contextlib.suppress(LineError):
                    fields.update(parse_probe(fields["payload"], fields["format"]))
            fields["line"] = line
            self.events.append(fields)

    def _reject(self, line: int, text: str, fmt: str) -> None:
        if _RAW_OPTION.match(text):
            reason = (
                "binary-style record (options/raw, hex or bin): re-capture with those options off"
            )
        elif "UNKNOWN TYPE" in text:
            reason = "event printed as UNKNOWN TYPE (options/fields or raw): re-capture with default options"
        else:
            try:
                (parse_ftrace_bare if self.mode.bare else TRACE_PARSERS[fmt])(text)
                reason = "not a trace line"  # pragma: no cover - it parsed after all
            except LineError as exc:
                reason = f"not a {fmt} line: {exc}"
        self.rejects.append((line, text, reason))

    # --- documents: logs, mails, bug reports --------------------------------------------------
    def _document_line(self, line: int, text: str) -> None:
        unquoted = _QUOTE.sub("", text) if text.lstrip().startswith(">") else text
        if unquoted is not text and not unquoted.strip():
            self.ignored["blank"] += 1
            return
        # an open splat takes its own lines first: register dumps and frames look like nothing else
        log = self._log_fields(unquoted)
        message = log["message"] if log is not None else unquoted
        kind = (
            classify(message)
            if self.splat is not None or log is not None or _maybe_splat(message)
            else None
        )
        if self.splat is not None:
            if not self.splat.accepts(message, kind):
                self._close_splat()
            else:
                self.splat.add(message, kind)
                self.ignored["attached"] += 1
                if self.splat.done:
                    self._close_splat()
                return
        if kind in SPLAT_STARTS or kind == "kasan_rule":
            base = {k: v for k, v in (log or {"format": "kernel_log"}).items() if k in RAW_EVENTS}
            self.splat = SplatBuilder(line, base)
            self.splat.add(message, kind)
            return
        if log is not None:
            if "continuation" in log:
                self.ignored["attached"] += 1  # /dev/kmsg " KEY=value" dictionary lines
                return
            row = {k: v for k, v in log.items() if k in RAW_EVENTS}
            row.update(
                line=line,
                event="printk" if log.get("journal_ident", "kernel") == "kernel" else "syslog",
                payload=message,
                comm=log.get("journal_ident"),
            )
            if row["comm"] == "kernel":
                row["comm"] = None
            self.events.append(row)
            self.wrappable = (line, len(unquoted))
            return
        for fmt in TRACE_PARSERS:
            try:
                parsed = TRACE_PARSERS[fmt](unquoted.rstrip())
            except LineError:
                continue
            if parsed.kind == FRAME and not self.events:
                break  # a lone "=> x" in prose
            n = len(self.events)
            self._take(line, parsed, fmt)
            if len(self.events) > n:
                self.wrappable = (line, len(unquoted))
            return
        if _LOOKS_LIKE_TRACE.match(unquoted) or _RAW_OPTION.match(unquoted):
            self._reject(line, unquoted, "ftrace")
            return
        if self._wrapped(line, unquoted):
            # a mail client hard-wrapped the log or trace line above: it continues here
            last = self.events[-1]
            last["payload"] = f"{last.get('payload') or ''} {unquoted.strip()}".strip()
            self.wrappable = (line, len(unquoted))
            self.ignored["attached"] += 1
            return
        self.ignored["text"] += 1

    def _wrapped(self, line: int, text: str) -> bool:
        """Is ``text`` the hard-wrapped rest of the single-line event on the line above?

        Only right after an event whose line was long enough to have been wrapped (mail clients
        wrap at 72 to 78 columns), and not for what people write between pasted lines (comments,
        rules, elisions).
        """
        if self.wrappable is None or self.wrappable[0] != line - 1 or self.wrappable[1] < WRAP_MIN:
            return False
        stripped = text.strip()
        return bool(stripped) and not stripped.startswith(("//", "--", "==", "[...]", "...", "#"))

    def _log_fields(self, text: str) -> dict[str, Any] | None:
        try:
            return parse_log_prefix(text.rstrip())
        except LineError:
            return None

    def _close_splat(self) -> None:
        if self.splat is None:
            return
        splat, self.splat = self.splat, None
        if splat.event is None and splat.headline is None and len(splat.lines) <= 1:
            # a lone "cut here" or "====" rule with nothing after it: prose
            self.ignored["text"] += 1
            return
        row = splat.row()
        row["line"] = splat.line
        self.events.append(row)


def _maybe_splat(message: str) -> bool:
    s = message.lstrip()
    return s.startswith(("---", "WARNING", "BUG", "kernel BUG", "refcount_t", "====", "Call"))


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
            events.join(stacks, left_on="line", right_on="anchor", how="left")
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
        events.join(folded, left_on="line", right_on="target", how="left")
        .with_columns(stack=pl.coalesce(pl.col("stack"), pl.col("_st")))
        .drop("_st")
    )
    events = events.filter(~pl.col("line").is_in(linked["line"].implode()))
    return events, linked.height


def parse_source(
    name: str, *, block_bytes: int = BLOCK_BYTES
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame, Summary]]:
    """Parse one input in bounded batches: ``(events, rejects, summary)`` per batch.

    Raises :class:`tracekit.errors.InputError` when the input cannot be read at all.
    """
    src = Input(name)
    mode: Mode | None = None
    slow: _Slow | None = None
    next_line = 1
    for block in src.blocks(block_bytes):
        lines = lines_frame(block, next_line)
        next_line += lines.height
        if mode is None:
            mode = detect(lines.head(SAMPLE_LINES * 2)["text"].to_list())
            slow = _Slow(name, mode)
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
    name: str, slow: _Slow, fast_events: pl.DataFrame | None, summary: Summary
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
    ):
        for name in names:
            per_source = Summary()
            for ev, rj, sm in parse_source(name, block_bytes=block_bytes):
                if ev.height:
                    ev_writer.write_table(ev.to_arrow().cast(ev_schema))
                if rj.height:
                    rj_writer.write_table(rj.cast(REJECTS).to_arrow().cast(rj_schema))  # type: ignore[arg-type]
                per_source.add(sm)
            per_source.check()
            total.add(per_source)
    total.check()
    return total


def _rejects_path(out: str) -> str:
    stem = out[: -len(".parquet")] if out.endswith(".parquet") else out
    return stem + ".rejects.parquet"
