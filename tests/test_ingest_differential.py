"""The vectorised fast path agrees with the Lark grammar on every line it takes.

For every tracefs capture among the fixtures and the real GEM captures, each line the fast path
parses is parsed again by :func:`tracekit.ingest.grammar.parse_ftrace` (+ ``parse_probe``) and
the two rows must be identical, column by column.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.conftest import captures_read_as, detected_mode, rel
from tracekit.ingest import fast
from tracekit.ingest.grammar import (
    LineError,
    parse_ftrace,
    parse_perf,
    parse_probe,
    parse_trace_cmd,
)
from tracekit.ingest.source import lines_frame

COLUMNS = [
    "ts",
    "ts_unit",
    "cpu",
    "pid",
    "tgid",
    "comm",
    "flags",
    "event",
    "payload",
    "probe_func",
    "probe_offset",
    "probe_module",
    "ret_caller",
]


def _lark_row(text: str) -> dict[str, Any] | None:
    try:
        parsed = parse_ftrace(text)
    except LineError:
        return None
    fields = dict(parsed.fields)
    if fields.get("payload", "").startswith("("):
        with contextlib.suppress(LineError):
            fields.update(parse_probe(fields["payload"], "ftrace"))
    return {c: fields.get(c) for c in COLUMNS}


@pytest.mark.parametrize(  # the tracefs captures: the fast path's input
    "path", captures_read_as(lambda mode: mode.layout is not None), ids=rel
)
def test_fast_path_equals_lark(path: Path) -> None:
    data = path.read_bytes()
    lines = lines_frame(data, 1)
    mode = detected_mode(path)
    assert mode.layout is not None
    events, rest = fast.parse_ftrace_frame(lines, mode.layout)
    assert events.height + rest.height == lines.height
    by_line = dict(lines.iter_rows())
    checked = 0
    for row in events.select("line", *COLUMNS).iter_rows(named=True):
        want = _lark_row(by_line[row.pop("line")])
        assert want is not None, "fast path took a line the grammar rejects"
        got = {k: (str(v) if k == "ts_unit" and v is not None else v) for k, v in row.items()}
        assert got == want
        checked += 1
    # and the grammar takes no more of the remaining lines than the fast path leaves on purpose
    # (stack frames, markers and the rare shapes it does not slice)
    for text in rest["text"].to_list():
        if text.startswith("#") or not text.strip():
            continue
        row = _lark_row(text)
        if row is not None and row["event"] not in (None, "lost_events", "buffer_started"):
            assert row["event"].startswith(("sys_", "<", "function")) or len(text) <= 40, text
    assert checked > 0


def test_fast_path_refuses_odd_widths() -> None:
    layout = fast.Layout(tgid=False, flags=5)
    odd = pl.DataFrame(
        {
            "line": [1, 2],
            "text": [
                "  a-very-long-comm-name-123 [000] ....  1.000000: x: y",  # comm wider than 16
                "            bash-4619    [000] ...1.   245.824125 tracing_mark_write: no colon",
            ],
        }
    )
    events, rest = fast.parse_ftrace_frame(odd, layout)
    assert events.height == 0 and rest.height == 2


def _lark_tool_row(text: str, fmt: str) -> dict[str, Any] | None:
    parser = parse_trace_cmd if fmt == "trace_cmd" else parse_perf
    try:
        parsed = parser(text)
    except LineError:
        return None
    if parsed.kind != "event":
        return None
    fields = dict(parsed.fields)
    if fields.get("payload", "").startswith("("):
        with contextlib.suppress(LineError):
            fields.update(parse_probe(fields["payload"], fmt))
    return {c: fields.get(c) for c in [*COLUMNS, "system"]}


@pytest.mark.parametrize(  # trace-cmd and perf captures
    "path", captures_read_as(lambda mode: mode.fmt in ("trace_cmd", "perf")), ids=rel
)
def test_regex_path_equals_lark(path: Path) -> None:
    lines = lines_frame(path.read_bytes(), 1)
    fmt = detected_mode(path).fmt
    assert fmt is not None
    events, rest = fast.parse_regex_frame(lines, fmt)
    assert events.height + rest.height == lines.height
    by_line = dict(lines.iter_rows())
    for row in events.select("line", *COLUMNS, "system").iter_rows(named=True):
        want = _lark_tool_row(by_line[row.pop("line")], fmt)
        assert want is not None, "regex path took a line the grammar rejects"
        got = {k: (str(v) if k == "ts_unit" and v is not None else v) for k, v in row.items()}
        assert got == want
    # trace-cmd -l glues the cpu to latency flags: that layout is left to the Lark path
    assert (events.height > 0) == (path.name != "report_l.txt")


def test_fast_path_keeps_nanoseconds_of_a_long_fraction() -> None:
    """A timestamp with more than nine fractional digits: nanoseconds, the rest dropped, as the
    grammar reads it (the fast path once multiplied by 10 ** -1 and lost the fraction)."""
    text = "            bash-4619    [000] d..1. 245.8241250019: foo: x"
    lines = pl.DataFrame({"line": [1], "text": [text]})
    for engine in ("polars", "compiled"):
        events, _ = fast.parse_ftrace_frame(lines, fast.Layout(False, 5), engine=engine)
        assert events["ts"].to_list() == [parse_ftrace(text).fields["ts"]] == [245824125001]
