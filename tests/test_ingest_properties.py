"""Property tests: well-formed lines round-trip through both parsers; garbage never raises and
the line accounting always adds up."""

from __future__ import annotations

import string
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from tests.conftest import count_lines
from tracekit.ingest import fast, parse_paths
from tracekit.ingest.grammar import parse_ftrace, parse_probe, parse_trace_cmd
from tracekit.ingest.source import compression_of

# comm: at most 15 characters (TASK_COMM_LEN), printable, may hold spaces, dashes, slashes
comm_chars = string.ascii_letters + string.digits + " -/:._<>"
comms = st.text(comm_chars, min_size=1, max_size=15).filter(
    lambda c: c.strip() == c and not c.startswith(("#", "=>", ">", "-")) and c[-1] != "-"
)
event_names = st.from_regex(r"[a-z_][a-z0-9_]{0,30}", fullmatch=True)
payloads = st.text(string.ascii_letters + string.digits + " =,._:/()[]-x", max_size=80).map(
    str.strip
)
flags = st.text("dDbXNnpHhsSzZ.0123456789abcdef", min_size=5, max_size=5).filter(
    lambda f: not f[0].isdigit()
)


@st.composite
def ftrace_lines(draw: st.DrawFn) -> tuple[str, dict]:
    comm = draw(comms)
    pid = draw(st.integers(0, 4_194_304))
    cpu = draw(st.integers(0, 255))
    fl = draw(flags)
    secs = draw(st.integers(0, 99_999))
    usec = draw(st.integers(0, 999_999))
    name = draw(event_names)
    payload = draw(payloads)
    text = f"{comm:>16}-{pid:<7d} [{cpu:03d}] {fl} {secs:5d}.{usec:06d}: {name}: {payload}"
    want = {
        "comm": comm,
        "pid": pid,
        "cpu": cpu,
        "flags": fl,
        "event": name,
        "ts": secs * 1_000_000_000 + usec * 1000,
        "payload": payload,
    }
    return text, want


@given(ftrace_lines())
@settings(max_examples=300, deadline=None)
def test_ftrace_line_round_trips_through_lark(case: tuple[str, dict]) -> None:
    text, want = case
    got = parse_ftrace(text).fields
    assert {k: got.get(k) for k in want} == want


_PROBE_LIKE = "               0-0       [000] D0000     0.000000: _: (A)"


@given(st.lists(ftrace_lines(), min_size=1, max_size=40))
@settings(max_examples=100, deadline=None)
@example(
    [
        (
            _PROBE_LIKE,
            {
                "comm": "0",
                "pid": 0,
                "cpu": 0,
                "flags": "D0000",
                "event": "_",
                "ts": 0,
                "payload": "(A)",
            },
        )
    ]
)
def test_fast_path_agrees_with_lark(cases: list[tuple[str, dict]]) -> None:
    frame = pl.DataFrame({"line": list(range(1, len(cases) + 1)), "text": [t for t, _ in cases]})
    events, rest = fast.parse_ftrace_frame(frame, fast.Layout(tgid=False, flags=5))
    assert events.height + rest.height == len(cases)
    for row in events.iter_rows(named=True):
        _, want = cases[row["line"] - 1]
        if row["probe_func"] is not None:
            # a payload that is a probe location ("(A) x=1") is split into probe fields, as the
            # Lark path does after parse_ftrace (found by this test)
            probe = parse_probe(want["payload"], "ftrace")
            want = {**want, "payload": probe["payload"]}
            assert row["probe_func"] == probe["probe_func"]
        assert {k: row[k] for k in want} == want


@given(comms, st.integers(0, 99_999), st.integers(0, 3), event_names, payloads)
def test_trace_cmd_line_round_trips(comm: str, pid: int, cpu: int, name: str, payload: str) -> None:
    text = f"{comm:>16}-{pid:<5d} [{cpu:03d}]   303.547863: {name + ':':<20s} {payload}"
    got = parse_trace_cmd(text).fields
    assert (got["comm"], got["pid"], got["cpu"], got["event"]) == (comm, pid, cpu, name)
    assert got["payload"] == payload


@given(st.binary(max_size=3000))
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# text that starts with a zlib, gzip or zstd magic number, which the line splitter's CSV reader
# would otherwise decompress (found by this test)
@example(data=b"x\x01\x00")
@example(data=b"x\x9c trace line\nsecond\n")
@example(data=b"\x28\xb5\x2f\xfd not zstd\n")
def test_random_bytes_never_raise_and_always_add_up(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "random.bin"
    path.write_bytes(data)
    if compression_of(data[:10]) is not None:
        return  # compressed-looking garbage is a corrupt file: exit 3, tested in test_cli
    result = parse_paths([str(path)])
    s = result.summary
    assert s.events + s.rejected + s.ignored == s.lines
    assert s.lines == count_lines(data)


trace_ish = st.lists(
    st.one_of(
        ftrace_lines().map(lambda c: c[0]),
        st.sampled_from(
            [
                "CPU:1 [LOST 12 EVENTS]",
                "##### CPU 2 buffer started ####",
                " => __schedule",
                "# tracer: nop",
                "",
                "[  1.000000] drm: hello",
                "------------[ cut here ]------------",
                "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2",
                "Call Trace:",
                " f+0x1/0x2",
                "---[ end trace 0000000000000000 ]---",
                "> quoted",
                "random prose",
            ]
        ),
        st.text(max_size=60),
    ),
    max_size=60,
)


@given(trace_ish)
@example(  # a mail-wrap continuation after an event that was folded away: an IndexError once
    [
        "0",
        "0",
        "0",
        "               0-0       [000] D0000     0.000000: _: ",
        "0\n0",
        "               0-0       [000] D0000     0.000000: _000000: ",
        "Call Trace:",
    ]
)
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_mixed_text_always_adds_up(tmp_path: Path, lines: list[str]) -> None:
    text = "\n".join(lines)
    path = tmp_path / "mixed.txt"
    path.write_text(text, errors="replace")
    s = parse_paths([str(path)]).summary
    assert s.events + s.rejected + s.ignored == s.lines
    assert s.lines == count_lines(path.read_bytes())


@given(
    st.lists(
        st.tuples(comms, st.integers(0, 9_999_999), st.integers(0, 63), event_names, payloads),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=150, deadline=None)
def test_trace_cmd_regex_path_agrees_with_lark(cases: list[tuple[str, int, int, str, str]]) -> None:
    texts = [
        f"{c:>16}-{p:<5d} [{cpu:03d}]   303.547863: {n + ':':<20s} {pl_}"
        for c, p, cpu, n, pl_ in cases
    ]
    frame = pl.DataFrame({"line": list(range(1, len(texts) + 1)), "text": texts})
    events, rest = fast.parse_regex_frame(frame, "trace_cmd")
    assert events.height + rest.height == len(texts)
    for row in events.iter_rows(named=True):
        want = parse_trace_cmd(texts[row["line"] - 1]).fields
        assert (row["comm"], row["pid"], row["cpu"], row["event"], row["ts"]) == (
            want["comm"],
            want["pid"],
            want["cpu"],
            want["event"],
            want["ts"],
        )
        if not want["payload"].startswith("("):
            assert row["payload"] == want["payload"]
