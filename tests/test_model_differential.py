"""Both engines and the reference interpreter compute identical states and checks.

Random op sequences (every op kind, a few objects, tasks, dma-bufs, files, fds, framebuffers,
jobs, sampled kernel counters right or wrong) are replayed by all three; so are the real
captures, and so are several captures replayed at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from tests.conftest import TRACES, rel
from tracekit.ingest import parse_paths
from tracekit.model import compiled
from tracekit.model.engine import replay
from tracekit.model.reference import replay_reference
from tracekit.normalize import normalize
from tracekit.schema import COUNTERS, OPS, conform

OBJECT_OPS = [
    "create",
    "free",
    "get",
    "put",
    "handle_create",
    "handle_get",
    "handle_release",
    "handle_put",
    "pin",
    "unpin",
    "kmap",
    "kunmap",
    "vmap",
    "vunmap",
    "get_pages",
    "put_pages",
    "mmap",
    "munmap",
    "gpu_map",
    "gpu_unmap",
    "userptr_pin",
    "userptr_unpin",
    "madvise",
    "purge",
    "job_submit",
    "sample",
    "call_enter",
]
DMABUF_OPS = [
    "dmabuf_export",
    "dmabuf_import",
    "dmabuf_get",
    "dmabuf_put",
    "dmabuf_release",
    "dmabuf_attach",
    "dmabuf_detach",
    "dmabuf_map",
    "dmabuf_unmap",
    "dmabuf_vmap",
    "dmabuf_vunmap",
    "dmabuf_fd",
]
TASK_OPS = [
    "syscall_exit",
    "syscall_enter",
    "fd_close",
    "task_exit",
    "lost_events",
    "job_done",
    "file_close",
]

OBJS = [0x1000, 0x2000, 0x3000]
DMABUFS = [0xD000, 0xE000]
maybe = st.one_of(st.none(), st.integers(0, 3))


@st.composite
def op_rows(draw: st.DrawFn) -> dict:
    kind = draw(st.sampled_from(OBJECT_OPS + DMABUF_OPS + TASK_OPS))
    row: dict = {"op": kind, "pid": draw(st.sampled_from([10, 11])), "func": "f"}
    # 11 is sometimes a thread of 10: the two share 10's fds
    row["tgid"] = draw(st.sampled_from([None, 10]))
    if kind in OBJECT_OPS or kind in ("dmabuf_export", "dmabuf_import") or draw(st.booleans()):
        row["object"] = draw(st.sampled_from(OBJS))
    if kind in DMABUF_OPS or (kind == "mmap" and draw(st.booleans())):
        row["dmabuf"] = draw(st.sampled_from(DMABUFS))
        if kind == "mmap" and draw(st.booleans()):
            row.pop("object", None)  # a dma-buf mmap names the dma-buf only
    if kind in ("get", "put"):
        row["owner"] = draw(st.sampled_from([None, "call", "fb", "dmabuf"]))
        if row["owner"] == "fb" and draw(st.booleans()):
            row["fb"] = draw(st.sampled_from([0xF0, 0xF1]))
            if kind == "put":  # a destroy that names nothing
                row.pop("object", None)
            # else a lookup a named destroy claims
    if kind == "dmabuf_export":
        row["owner"] = draw(st.sampled_from([None, "prime"]))
    if kind == "dmabuf_get":
        row["owner"] = draw(st.sampled_from([None, "call", "poll_cb"]))
    if kind in ("handle_create", "handle_release", "file_close"):
        row["file"] = draw(st.sampled_from([0xA0, 0xA1]))
    if kind in ("mmap", "munmap"):
        row["vma"] = draw(st.sampled_from([0x70, 0x71]))
        if draw(st.booleans()):
            row["func"] = "drm_gem_vm_open"
    if kind in ("vmap", "vunmap"):
        row["address"] = draw(st.one_of(st.none(), st.sampled_from([0x500, 0x600])))
    if kind in ("dmabuf_fd", "fd_close"):
        row["count"] = draw(st.integers(3, 5))
    if kind in ("userptr_pin", "userptr_unpin"):
        row["count"] = draw(st.one_of(st.none(), st.integers(0, 300)))
    if kind == "madvise":
        row["count"] = draw(st.integers(0, 1))
    if kind in ("job_submit", "job_done"):
        row["job"] = draw(st.sampled_from(["1:1", "1:2"]))
    if kind == "job_submit":
        row["owner"] = draw(st.sampled_from([None, "job", "resv"]))
    for counter in COUNTERS:
        if draw(st.integers(0, 5)) == 0:
            row[counter] = draw(st.integers(0, 3))
    return row


def _ops(rows: list[dict]) -> pl.DataFrame:
    df = pl.DataFrame(
        [{**r, "source": "s", "line": i + 1, "seq": i} for i, r in enumerate(rows)],
        schema_overrides={k: v for k, v in OPS.items() if k != "op"},
        infer_schema_length=None,
    )
    ops = conform(df.with_columns(pl.col("op").cast(OPS["op"])), OPS)
    # generations as normalize numbers them: creates seen at the address so far
    return ops.with_columns(
        generation=pl.when(pl.col("object").is_not_null()).then(
            (pl.col("op") == "create").cast(pl.Int32).cum_sum().over("object")
        )
    )


ENGINES = ("polars", "compiled")


def _assert_engines_agree(ops: pl.DataFrame) -> None:
    ref_states, ref_checks = replay_reference(ops)
    for engine in ENGINES:
        states, checks = replay(ops, engine=engine)
        assert_frame_equal(states, ref_states)
        assert_frame_equal(checks, ref_checks)


@given(st.lists(op_rows(), min_size=1, max_size=60))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_engines_equal_reference_on_random_ops(rows: list[dict]) -> None:
    _assert_engines_agree(_ops(rows))


REAL = sorted(p for p in TRACES.glob("real/linux-*/*.txt"))


@pytest.mark.parametrize("path", REAL, ids=rel)
def test_engines_equal_reference_on_real_captures(path: Path) -> None:
    _assert_engines_agree(normalize(parse_paths([str(path)]).events).ops)


def test_engines_replay_each_source_on_its_own() -> None:
    # the same addresses in three captures: each replays from scratch
    paths = [str(p) for p in REAL[:3]] + [str(TRACES / "seeds/000-vram-vmap-counting.txt")]
    ops = normalize(parse_paths(paths).events).ops
    assert ops["source"].n_unique() == 4
    _assert_engines_agree(ops)


def test_compiled_pass_asks_again_when_its_tables_or_rows_are_too_small(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The loop stops when a hash table fills past half or the rows outgrow their room; the
    wrapper doubles them and runs it again, to the same tables."""
    ops = normalize(parse_paths([str(REAL[0])]).events).ops
    expected = replay(ops, engine="compiled")
    calls = []
    run = compiled._run

    def counting(*args: object) -> tuple[int, int]:
        rows, n_checks = run(*args)
        calls.append(rows)
        return rows, n_checks

    monkeypatch.setattr(compiled, "_run", counting)
    monkeypatch.setattr(compiled, "_rows_capacity", lambda n: n)
    monkeypatch.setattr(
        compiled, "_table_sizes", lambda ops, kind: (compiled.np.ones(6, "int64"), 1)
    )
    states, checks = replay(ops, engine="compiled")
    assert -1 in calls and -2 in calls and calls[-1] == states.height
    assert_frame_equal(states, expected[0])
    assert_frame_equal(checks, expected[1])


def test_an_error_in_the_background_reaches_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the compiled engine prepares on its second thread (tables, numbering) and VERIFY,
    built there while STATES is, raise in the caller's thread, not on a thread's stderr."""
    ops = normalize(parse_paths([str(REAL[0])]).events).ops

    def broken(*args: object) -> None:
        raise MemoryError("no room for the tables")

    for name in ("_table_sizes", "_verify"):
        with monkeypatch.context() as m:
            m.setattr(compiled, name, broken)
            with pytest.raises(MemoryError, match="no room"):
                replay(ops, engine="compiled")


def test_addresses_are_numbered_densely_per_source_in_the_order_first_seen() -> None:
    """The pass finds the current object at an address by the address's number: dense from 0,
    in the order first seen, new in each source (so one source's objects are never another's),
    none where the op names no object; a table too small for them says so."""
    values = np.array([7, 9, 7, 0, 9, 7, 5, 9], np.int64)
    nulls = np.packbits(np.array([1, 1, 1, 0, 1, 1, 1, 1], np.bool_), bitorder="little")
    new_source = np.array([1, 0, 0, 0, 0, 1, 0, 0], np.bool_)
    ids, top = compiled._number(values, nulls, 0, new_source, compiled._hash_table(5))
    assert ids.tolist() == [0, 1, 0, -1, 1, 2, 3, 4] and top == 5
    assert compiled._number(values, nulls, 0, new_source, compiled._hash_table(2))[1] == -1


def test_an_fd_closed_unseen_takes_no_reference_twice() -> None:
    """A task whose close is not traced (``--no-syscalls``, a child the rig does not trace)
    closed its dma-buf fd unseen: the kernel's own count says the reference is gone (the put's
    sample reads 1: the export's own handle), and the task's exit later closes the fd the model
    still lists. An fd holds a reference, so at 0 the exit's close takes nothing: no count
    below zero, in every engine."""
    rows = [
        {"op": "dmabuf_export", "pid": 10, "func": "f", "object": 0x1000, "dmabuf": 0xD000},
        {"op": "dmabuf_fd", "pid": 10, "func": "f", "dmabuf": 0xD000, "count": 3},
        {"op": "dmabuf_put", "pid": 10, "func": "f", "dmabuf": 0xD000, "f_count": 1},
        {"op": "task_exit", "pid": 10, "func": "exit_files"},
    ]
    ops = _ops(rows)
    want, checks = replay_reference(ops)
    for name in ("polars", "compiled"):
        got, got_checks = replay(ops, engine=name)  # type: ignore[arg-type]
        assert got.equals(want) and got_checks.equals(checks), name
    # the exit's row for the dma-buf it closed the fd of (the op's own row names none)
    exit_row = want.filter((pl.col("op") == "task_exit") & pl.col("dmabuf").is_not_null())
    assert exit_row["f_count"].to_list() == [0]
    assert want["f_count"].min() == 0
