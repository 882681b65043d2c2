"""tracefs lines cut in one compiled pass: :func:`tracekit.ingest.fast.parse_ftrace_frame`, byte
by byte.

The polars fast path cuts each line with some forty string expressions, each a pass over every
row that allocates a column; at a million lines that is most of the parse. This module makes
the same cuts in a single loop compiled by numba, over the Arrow buffer of the lines, and returns
the string columns as Arrow string views into that same buffer: no field is copied.

It takes a line only when it is sure to cut it as the polars path does, and hands every other
line to the polars path unchanged. It declines:

- a line with a byte outside printable ASCII (polars slices by characters, this loop by bytes,
  and only in ASCII are they the same; and only there is a space the one whitespace to strip);
- anything the polars path would not take either (it then goes on to the Lark grammar as before);
- a return probe's call site written with spaces inside (``sym +0x4``: the column is the
  symbol and offset without them), a probe offset or a timestamp that could overflow.

The few strings that are no slice of a line (a syscall line's event name, ``sys_enter_`` and its
name; an address side of a probe location, ``0x`` and lower-case hex) go to a second buffer.

A large block is cut in one range of lines per CPU, in threads (the loop holds no GIL), each
range writing its rows from its first line's index and its new strings to a buffer of its own;
the rows are then moved together. The rows are the same whatever the number of ranges.

``tests/test_ingest_differential.py`` requires both paths to give identical tables on every
tracefs capture of the test fixtures and ``traces/``, and on random lines (hypothesis).
"""

from __future__ import annotations

import itertools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
import pyarrow as pa
from numba import njit

from tracekit.ingest.fast import Layout
from tracekit.schema import FormatDtype, TsUnitDtype

# the string columns, in the order of the views array
STRINGS = ("comm", "flags", "event", "payload", "probe_func", "probe_module", "ret_caller")
S_COMM, S_FLAGS, S_EVENT, S_PAYLOAD, S_FUNC, S_MODULE, S_CALLER = range(len(STRINGS))
# the integer columns
INTS = ("pid", "tgid", "cpu")
I_PID, I_TGID, I_CPU = range(len(INTS))
NO_VALUE = -(1 << 62)  # an integer column's null (tgid "-------", no probe offset)

_SYS_ENTER = np.frombuffer(b"sys_enter_", np.uint8)
_SYS_EXIT = np.frombuffer(b"sys_exit_", np.uint8)
MAX_BUFFER = (1 << 31) - 1  # a string view's offset is an int32

_EMPTY = pl.DataFrame(
    schema={
        "line": pl.Int64,
        "format": FormatDtype,
        "ts": pl.Int64,
        "ts_unit": TsUnitDtype,
        "cpu": pl.Int32,
        "pid": pl.Int32,
        "tgid": pl.Int32,
        "comm": pl.String,
        "flags": pl.String,
        "event": pl.String,
        "payload": pl.String,
        "probe_func": pl.String,
        "probe_offset": pl.Int64,
        "probe_module": pl.String,
        "ret_caller": pl.String,
    }
)


# ------------------------------------------------------------------------------------------------
# character classes (the line is printable ASCII by then)


@njit(cache=True, inline="always")
def _digit(c: int) -> bool:
    return 48 <= c <= 57


@njit(cache=True, inline="always")
def _hex(c: int) -> bool:
    return 48 <= c <= 57 or 97 <= c <= 102 or 65 <= c <= 70


@njit(cache=True, inline="always")
def _alpha(c: int) -> bool:
    return 97 <= c <= 122 or 65 <= c <= 90


@njit(cache=True, inline="always")
def _word(c: int) -> bool:  # \w
    return _alpha(c) or _digit(c) or c == 95


@njit(cache=True)
def _find(data: np.ndarray, start: int, end: int, a: int, b: int) -> int:
    """Position of the first ``a`` (followed by ``b`` if ``b >= 0``) in ``data[start:end]``, or -1."""
    last = end - 1 if b >= 0 else end
    for j in range(start, last):
        if data[j] == a and (b < 0 or data[j + 1] == b):
            return j
    return -1


@njit(cache=True)
def _digits(data: np.ndarray, start: int, end: int) -> bool:
    """``^\\d+$``"""
    j = start
    while j < end and _digit(data[j]):
        j += 1
    return end > start and j == end


@njit(cache=True)
def _hexes(data: np.ndarray, start: int, end: int) -> bool:
    """``^[0-9a-fA-F]+$``"""
    j = start
    while j < end and _hex(data[j]):
        j += 1
    return end > start and j == end


@njit(cache=True)
def _number(data: np.ndarray, start: int, end: int) -> int:
    v = 0
    for j in range(start, end):
        v = v * 10 + (data[j] - 48)
    return v


@njit(cache=True)
def _address(data: np.ndarray, start: int, end: int) -> bool:
    """``^(?:0x)?[0-9a-fA-F]{6,}$``: grammars/probe.lark's address."""
    prefixed = end - start >= 8 and data[start] == 48 and data[start + 1] == 120
    if prefixed and _hexes(data, start + 2, end):
        return True
    return end - start >= 6 and _hexes(data, start, end)


@njit(cache=True)
def _side(data: np.ndarray, start: int, end: int, out: np.ndarray) -> bool:
    """Whether ``data[start:end]`` (stripped of spaces) is one side of a probe location as the
    fast path's ``_SIDE`` takes it, and its parts when it is a symbol: ``out`` gets the symbol's
    end, the offset's start and end (``+0x../0x..``; -1 if none), the module's start and end
    (-1 if none), and whether it is an address (1) or a symbol (0)."""
    if end <= start:
        return False
    if _address(data, start, end):
        out[5] = 1
        return True
    out[5] = 0
    c = data[start]
    if not (_alpha(c) or c == 95 or c == 46 or c == 36):  # [A-Za-z_.$]
        return False
    j = start + 1
    while j < end and (_word(data[j]) or data[j] == 46 or data[j] == 36):
        j += 1
    out[0] = j
    out[1] = -1
    out[2] = -1
    out[3] = -1
    out[4] = -1
    while j < end and data[j] == 32:
        j += 1
    if j < end and data[j] == 43:  # +0xHEX[/0xHEX]
        out[1] = j
        if j + 2 >= end or data[j + 1] != 48 or data[j + 2] != 120:
            return False
        j += 3
        h = j
        while j < end and _hex(data[j]):
            j += 1
        if j == h:
            return False
        if j < end and data[j] == 47:
            if j + 2 >= end or data[j + 1] != 48 or data[j + 2] != 120:
                return False
            j += 3
            h = j
            while j < end and _hex(data[j]):
                j += 1
            if j == h:
                return False
        out[2] = j
        while j < end and data[j] == 32:
            j += 1
    if j < end and data[j] == 91:  # [module]
        j += 1
        m = j
        while j < end and (_word(data[j]) or data[j] == 45):
            j += 1
        if j == m or j >= end or data[j] != 93:
            return False
        out[3] = m
        out[4] = j
        j += 1
    return j == end


@njit(cache=True)
def _view(
    views: np.ndarray,
    valid: np.ndarray,
    row: int,
    col: int,
    source: np.ndarray,
    buffer: int,
    start: int,
    end: int,
) -> None:
    """Arrow string view ``col`` of ``row``: ``source[start:end]``, inline up to 12 bytes, else
    its first four bytes, the buffer's index and the offset."""
    n = end - start
    # indexed in full: a view of the row would be reference-counted on every call
    views[col, row, 0] = n & 0xFF
    views[col, row, 1] = (n >> 8) & 0xFF
    views[col, row, 2] = (n >> 16) & 0xFF
    views[col, row, 3] = (n >> 24) & 0xFF
    if n <= 12:
        for j in range(n):
            views[col, row, 4 + j] = source[start + j]
        for j in range(n, 12):
            views[col, row, 4 + j] = 0
    else:
        for j in range(4):
            views[col, row, 4 + j] = source[start + j]
            views[col, row, 8 + j] = (buffer >> (8 * j)) & 0xFF
            views[col, row, 12 + j] = (start >> (8 * j)) & 0xFF
    valid[col, row] = 1


@njit(cache=True)
def _strip_start(data: np.ndarray, start: int, end: int) -> int:
    while start < end and data[start] == 32:
        start += 1
    return start


@njit(cache=True)
def _strip_end(data: np.ndarray, start: int, end: int) -> int:
    while end > start and data[end - 1] == 32:
        end -= 1
    return end


@njit(cache=True)
def _name(
    data: np.ndarray,
    start: int,
    end: int,
    parts: np.ndarray,
    site: bool,
    views: np.ndarray,
    valid: np.ndarray,
    row: int,
    col: int,
    side: np.ndarray,
    side_index: int,
    used: int,
) -> int:
    """One side of a probe location as column ``col``: its symbol, or with ``site`` its symbol
    and offset (``sym+0x4/0x90``); an address as ``0x`` and lower-case hex, written to the side
    buffer (Arrow buffer ``side_index`` of the column). Returns the side buffer's new length."""
    if parts[5] == 1:
        begin = used
        side[used] = 48
        side[used + 1] = 120
        used += 2
        if end - start >= 2 and data[start] == 48 and data[start + 1] == 120:
            start += 2
        for j in range(start, end):
            c = data[j]
            side[used] = c + 32 if 65 <= c <= 90 else c
            used += 1
        _view(views, valid, row, col, side, side_index, begin, used)
    elif site and parts[1] >= 0:
        _view(views, valid, row, col, data, 0, start, parts[2])
    else:
        _view(views, valid, row, col, data, 0, start, parts[0])
    return used


@njit(cache=True, nogil=True)
def _cut(
    data: np.ndarray,
    offsets: np.ndarray,
    lo: int,
    hi: int,
    tgid_column: bool,
    n_flags: int,
    cpu_at: int,
    ts_at: int,
    taken: np.ndarray,
    views: np.ndarray,
    valid: np.ndarray,
    ints: np.ndarray,
    ts: np.ndarray,
    tick: np.ndarray,
    probe_offset: np.ndarray,
    side: np.ndarray,
    side_index: int,
) -> tuple[int, int]:
    """Cut every line of ``lo:hi`` it can: ``taken[i]`` says whether line ``i`` was, and the
    taken lines' columns fill the outputs from row ``lo`` in line order. Returns (rows taken,
    side bytes used): the side buffer (the string columns' buffer ``side_index``) holds the
    strings that are no slice of a line. Ranges that do not overlap can be cut at once, in
    threads (no GIL), each with its own side buffer."""
    k = lo
    used = 0
    a_parts = np.empty(6, np.int64)
    b_parts = np.empty(6, np.int64)
    for i in range(lo, hi):
        s = offsets[i]
        e = offsets[i + 1]
        taken[i] = 0
        if e - s <= ts_at + 1:
            continue
        printable = True
        for j in range(s, e):
            c = data[j]
            if c < 32 or c > 126:
                printable = False
                break
        if not printable:
            continue
        # comm, "-", pid: "%16s-%-7d "
        comm = _strip_start(data, s, s + 16)
        if comm == s + 16 or data[s + 16] != 45:
            continue
        pid_end = _strip_end(data, s + 17, s + 24)
        if not _digits(data, s + 17, pid_end):
            continue
        tgid = NO_VALUE
        if tgid_column:
            if data[s + 25] != 40:
                continue
            t0 = _strip_start(data, s + 26, s + 33)
            if _digits(data, t0, s + 33):
                tgid = _number(data, t0, s + 33)
            else:
                dashes = data[s + 33] == 41 and data[s + 34] == 32
                for j in range(s + 26, s + 33):
                    if data[j] != 45:
                        dashes = False
                if not dashes:
                    continue
        # "[%03d] ", the flags, " "
        c0 = s + cpu_at
        if not (
            data[c0] == 91
            and _digit(data[c0 + 1])
            and _digit(data[c0 + 2])
            and _digit(data[c0 + 3])
            and data[c0 + 4] == 93
            and data[c0 + 5] == 32
        ):
            continue
        flags_ok = True
        for j in range(c0 + 6, c0 + 6 + n_flags):
            c = data[j]
            if c == 32 or c == 91 or c == 93 or c == 40 or c == 41 or c == 58:
                flags_ok = False
        if not flags_ok or data[c0 + 6 + n_flags] != 32:
            continue
        # the timestamp, up to the first ": "
        tail = s + ts_at
        colon = _find(data, tail, e, 58, 32)
        if colon < 0:
            continue
        t0 = _strip_start(data, tail, colon)
        dot = _find(data, t0, colon, 46, -1)
        if dot < 0:
            if not _digits(data, t0, colon) or colon - t0 > 18:
                continue
            stamp = _number(data, t0, colon)
            is_tick = True
        else:
            if not _digits(data, t0, dot) or not _digits(data, dot + 1, colon):
                continue
            if dot - t0 > 10:
                continue
            secs = _number(data, t0, dot)
            if secs > 9_000_000_000:
                continue
            # nanoseconds: digits past the ninth are dropped (grammar.timestamp)
            f1 = min(colon, dot + 10)
            frac = _number(data, dot + 1, f1)
            for _ in range(9 - (f1 - dot - 1)):
                frac *= 10
            stamp = secs * 1_000_000_000 + frac
            is_tick = False
        # the event name and payload; "name:" at the very end is an event with an empty payload
        b0 = colon + 2
        name_end = _find(data, b0, e, 58, 32)
        ev0 = b0
        if name_end < 0:
            if e > b0 and data[e - 1] == 58:
                ev1 = e - 1
                p0 = e
                p1 = e
            else:
                ev1 = e
                p0 = -1  # no payload
                p1 = -1
        else:
            ev1 = name_end
            p0 = name_end + 2
            p1 = e
        # syscall tracepoints: "sys_close(fd: 3)" is sys_enter_close, "sys_close -> 0x0" its exit
        syscall = 0  # 1 enter, 2 exit
        r1 = _strip_end(data, b0, e)
        if (
            r1 - b0 >= 4
            and data[b0] == 115
            and data[b0 + 1] == 121
            and data[b0 + 2] == 115
            and data[b0 + 3] == 95
        ):
            paren = _find(data, b0, r1, 40, -1)
            arrow = -1
            for j in range(b0, r1 - 3):
                if data[j] == 32 and data[j + 1] == 45 and data[j + 2] == 62 and data[j + 3] == 32:
                    arrow = j
                    break
            name_stop = paren if paren >= 0 else arrow
            if name_stop >= 0:
                name_ok = name_stop > b0 + 4
                for j in range(b0 + 4, name_stop):
                    if not _word(data[j]):
                        name_ok = False
                if name_ok and paren >= 0 and data[r1 - 1] == 41 and (arrow < 0 or paren < arrow):
                    syscall = 1
                    p0 = paren + 1
                    p1 = r1 - 1
                elif name_ok and arrow >= 0 and arrow + 4 < r1:
                    no_space = True
                    for j in range(arrow + 4, r1):
                        if data[j] == 32:
                            no_space = False
                    if no_space:
                        syscall = 2
                        p0 = arrow + 4
                        p1 = r1
                if syscall:
                    ev0 = b0 + 4
                    ev1 = paren if syscall == 1 else arrow
        if not syscall:
            # ^[A-Za-z_][\w.\-]*$
            if ev1 <= ev0:
                continue
            c = data[ev0]
            if not (_alpha(c) or c == 95):
                continue
            name_ok = True
            for j in range(ev0 + 1, ev1):
                c = data[j]
                if not (_word(c) or c == 46 or c == 45):
                    name_ok = False
                    break
            if not name_ok:
                continue
        if p0 >= 0:
            p1 = _strip_end(data, p0, p1)
        # a probe's location: "(sym+0x4/0x90 [mod]) ..." or "(caller+0x6e/0xf0 [mod] <- func) ..."
        located = False
        is_ret = False
        caller_a = False
        close = -1
        a0 = a1 = b0 = b1 = -1
        if p0 >= 0 and p1 > p0 and data[p0] == 40:
            close = _find(data, p0, p1, 41, -1)
            if close >= 0:
                arrow = _find(data, p0 + 1, close, 60, 45)
                a0 = _strip_start(data, p0 + 1, close if arrow < 0 else arrow)
                a1 = _strip_end(data, a0, close if arrow < 0 else arrow)
                located = _side(data, a0, a1, a_parts)
                if located and arrow >= 0:
                    b0 = _strip_start(data, arrow + 2, close)
                    b1 = _strip_end(data, b0, close)
                    located = _side(data, b0, b1, b_parts)
                if located:
                    is_ret = arrow >= 0
                    a_site = a_parts[5] == 0 and a_parts[1] >= 0
                    b_site = is_ret and b_parts[5] == 0 and b_parts[1] >= 0
                    caller_a = a_site or not b_site  # kernel text prints (caller <- func)
                    if is_ret:
                        # the call site is "sym+off" as written: no spaces between
                        parts = a_parts if caller_a else b_parts
                        if parts[5] == 0 and parts[1] >= 0 and parts[1] != parts[0]:
                            continue
                    elif a_site:
                        h = a_parts[1] + 3
                        while h < a_parts[2] and data[h] != 47:
                            h += 1
                        if h - a_parts[1] - 3 > 15:  # an offset past int64
                            continue
        # taken: write the row
        taken[i] = 1
        _view(views, valid, k, S_COMM, data, 0, comm, s + 16)
        if n_flags:
            _view(views, valid, k, S_FLAGS, data, 0, c0 + 6, c0 + 6 + n_flags)
        if syscall:
            start = used
            for ch in _SYS_ENTER if syscall == 1 else _SYS_EXIT:
                side[used] = ch
                used += 1
            for j in range(ev0, ev1):
                side[used] = data[j]
                used += 1
            _view(views, valid, k, S_EVENT, side, side_index, start, used)
        else:
            _view(views, valid, k, S_EVENT, data, 0, ev0, ev1)
        ints[I_PID, k] = _number(data, s + 17, pid_end)
        ints[I_TGID, k] = tgid
        ints[I_CPU, k] = _number(data, c0 + 1, c0 + 4)
        ts[k] = stamp
        tick[k] = is_tick
        probe_offset[k] = NO_VALUE
        if located:
            _view(views, valid, k, S_PAYLOAD, data, 0, _strip_start(data, close + 1, p1), p1)
            # the probed function: the only side, or the callee of a return probe
            if not is_ret or not caller_a:
                used = _name(
                    data, a0, a1, a_parts, False, views, valid, k, S_FUNC, side, side_index, used
                )
                if a_parts[5] == 0 and a_parts[3] >= 0:
                    _view(views, valid, k, S_MODULE, data, 0, a_parts[3], a_parts[4])
            else:
                used = _name(
                    data, b0, b1, b_parts, False, views, valid, k, S_FUNC, side, side_index, used
                )
                if b_parts[5] == 0 and b_parts[3] >= 0:
                    _view(views, valid, k, S_MODULE, data, 0, b_parts[3], b_parts[4])
            if not is_ret:
                if a_parts[5] == 0 and a_parts[1] >= 0:
                    v = 0
                    h = a_parts[1] + 3
                    while h < a_parts[2] and data[h] != 47:
                        c = data[h]
                        v = v * 16 + (c - 48 if c <= 57 else (c - 87 if c >= 97 else c - 55))
                        h += 1
                    probe_offset[k] = v
            elif caller_a:
                used = _name(
                    data, a0, a1, a_parts, True, views, valid, k, S_CALLER, side, side_index, used
                )
            else:
                used = _name(
                    data, b0, b1, b_parts, True, views, valid, k, S_CALLER, side, side_index, used
                )
        elif p0 >= 0:
            _view(views, valid, k, S_PAYLOAD, data, 0, p0, p1)
        k += 1
    return k - lo, used


# ------------------------------------------------------------------------------------------------


def _threads() -> int:
    """The CPUs this process may run on (at most 8)."""
    try:
        return max(1, min(8, len(os.sched_getaffinity(0))))
    except AttributeError:  # not Linux
        return max(1, min(8, os.cpu_count() or 1))


CHUNK_MIN = 50_000
"""A range has at least this many lines (some 50 ms of work): a smaller block is cut in one."""


def _chunks(n: int) -> list[tuple[int, int]]:
    """Ranges of lines, one per thread: the same rows come out whatever the number."""
    parts = max(1, min(_threads(), n // CHUNK_MIN))
    edges = [n * c // parts for c in range(parts + 1)]
    return list(itertools.pairwise(edges))


def cut(lines: pl.DataFrame, layout: Layout) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The ``(line, text)`` rows this loop cuts, as :func:`tracekit.ingest.fast.parse_ftrace_frame`
    returns its events, and the rows it leaves (for the polars path), both in line order."""
    text = lines["text"].to_arrow()
    if isinstance(text, pa.ChunkedArray):
        text = text.combine_chunks()
    if text.type != pa.large_string():
        text = text.cast(pa.large_string())
    n = len(text)
    _, offsets_buf, data_buf = text.buffers()
    if n == 0 or text.null_count or data_buf is None or data_buf.size > MAX_BUFFER:
        return _EMPTY, lines
    offsets = np.frombuffer(offsets_buf, np.int64, count=n + 1, offset=text.offset * 8)
    data = np.frombuffer(data_buf, np.uint8)
    taken = np.empty(n, np.uint8)
    # zeros: a null's view is read too (as an empty inline string), never garbage
    views = np.zeros((len(STRINGS), n, 16), np.uint8)
    valid = np.zeros((len(STRINGS), n), np.uint8)
    ints = np.empty((len(INTS), n), np.int64)
    ts = np.empty(n, np.int64)
    tick = np.empty(n, np.bool_)
    probe_offset = np.empty(n, np.int64)
    bounds = _chunks(n)
    sides: list[np.ndarray] = []
    for lo, hi in bounds:
        # new strings: a syscall's event name, "sys_enter_" + name, is at most 4 bytes longer
        # than its line ("sys_" + name + "()" at least), and an address side at most 2 ("0x")
        size = int(offsets[hi] - offsets[lo])
        sides.append(np.empty(2 * size + 8 * (hi - lo) + 16, np.uint8))

    def run(c: int) -> tuple[int, int]:
        lo, hi = bounds[c]
        return _cut(
            data, offsets, lo, hi, layout.tgid, layout.flags, layout.cpu_at, layout.ts_at,
            taken, views, valid, ints, ts, tick, probe_offset, sides[c], 1 + c,
        )  # fmt: skip

    if len(bounds) == 1:
        done = [run(0)]
    else:
        with ThreadPoolExecutor(max_workers=len(bounds)) as pool:
            done = list(pool.map(run, range(len(bounds))))
    # each range's rows start at its first line: move them up against the previous range's
    rows = 0
    for (lo, _), (k, _) in zip(bounds, done, strict=True):
        if lo != rows and k:
            for table in (views, valid, ints):
                table[:, rows : rows + k] = table[:, lo : lo + k]
            for column in (ts, tick, probe_offset):
                column[rows : rows + k] = column[lo : lo + k]
        rows += k
    if rows == 0:
        return _EMPTY, lines
    buffers = [pa.py_buffer(data)]
    buffers += [
        pa.py_buffer(side[: max(used, 1)]) for side, (_, used) in zip(sides, done, strict=True)
    ]
    strings = {
        name: pa.Array.from_buffers(
            pa.string_view(),
            rows,
            [
                pa.py_buffer(np.packbits(valid[j, :rows], bitorder="little")),
                pa.py_buffer(views[j, :rows]),
                *buffers,
            ],
        )
        for j, name in enumerate(STRINGS)
    }
    cut_strings = pl.from_arrow(pa.table(strings))
    assert isinstance(cut_strings, pl.DataFrame)
    numbers = pl.DataFrame(
        {
            "ts": ts[:rows],
            "_tick": tick[:rows],
            "cpu": ints[I_CPU, :rows].astype(np.int32),
            "pid": ints[I_PID, :rows].astype(np.int32),
            "_tgid": ints[I_TGID, :rows],
            "_offset": probe_offset[:rows],
        }
    )
    mask = pl.Series(taken.view(np.bool_))
    events = pl.concat(
        [lines.select(pl.col("line").filter(mask)), numbers, cut_strings], how="horizontal"
    ).select(
        "line",
        pl.lit("ftrace", FormatDtype).alias("format"),
        "ts",
        pl.when(pl.col("_tick"))
        .then(pl.lit("tick"))
        .otherwise(pl.lit("ns"))
        .cast(TsUnitDtype)
        .alias("ts_unit"),
        "cpu",
        "pid",
        pl.when(pl.col("_tgid") != NO_VALUE).then(pl.col("_tgid")).cast(pl.Int32).alias("tgid"),
        "comm",
        "flags",
        "event",
        "payload",
        "probe_func",
        pl.when(pl.col("_offset") != NO_VALUE).then(pl.col("_offset")).alias("probe_offset"),
        "probe_module",
        "ret_caller",
    )
    return events, lines.filter(~mask)
