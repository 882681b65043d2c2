"""Forks, execs and exits that move a task's fds, where the capture probes them
(tracekit/profiles/tasks.toml, :func:`tracekit.normalize.dialects.task_fds`).

A fork copies the parent's fd table (``dup_fd``: a file reference per open fd) and the child's
exit puts the copy; an exec closes the close-on-exec fds. No syscall event shows any of it in a
child. The real captures are in traces/real/linux-*-tasks/ (provenance in traces/real/README.md,
"Seventh set"): every scenario that forks, execs or starts a thread, recorded with the extended
template's task probes.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TRACES
from tests.test_unseen_fds import _frame, _op
from tracekit.ingest import parse_paths
from tracekit.normalize import normalize
from tracekit.normalize.dialects import (
    EXEC_CLOSE,
    EXEC_CLOSE_TRACED,
    FORK_COPY,
    KILLED,
    O_CLOEXEC,
    exec_closed_fds,
    task_fds,
)
from tracekit.replay import replay_paths

TASKS = sorted(p.name for p in (TRACES / "real").glob("linux-*-tasks"))
TABLE = 0xFF00_0000_0000_1000  # a files_struct
OTHER_TABLE = 0xFF00_0000_0000_2000


def _ops(path: Path) -> pl.DataFrame:
    return normalize(parse_paths([str(path)]).events).ops


def _fd(seq: int, pid: int, number: int, dmabuf: int, flags: int | None = 2) -> dict:
    return {**_op(seq, "dmabuf_fd", pid, "dma_buf_fd", number, dmabuf), "open_flags": flags}


def _copy(seq: int, pid: int, table: int) -> dict:
    return {**_op(seq, "call_exit", pid, "dup_fd", None, None), "address": table}


def _fork(seq: int, pid: int, child: int, table: int) -> dict:
    return {**_op(seq, "call_enter", pid, "wake_up_new_task", child, None), "address": table}


def _exec(seq: int, pid: int) -> dict:
    return _op(seq, "call_enter", pid, "do_close_on_exec", None, None)


def test_a_fork_copies_the_open_dma_buf_fds_to_the_child() -> None:
    ops = _frame(
        [
            _fd(0, 10, 5, 0xD0, O_CLOEXEC | 2),
            _fd(1, 10, 6, 0xD1),
            _fd(2, 10, 7, 0xD2),
            _op(3, "fd_close", 10, "sys_enter_close", 7, None),  # closed: not copied
            _fd(4, 20, 5, 0xD3),  # another task's: not copied
            _copy(5, 10, TABLE),
            _fork(6, 10, 11, TABLE),
            _fork(7, 10, 12, OTHER_TABLE),  # a thread (CLONE_FILES): the parent's own table
            _copy(8, 11, OTHER_TABLE),
            _fork(9, 11, 13, OTHER_TABLE),  # the child forks in turn: its copies are copied
        ]
    )
    added = task_fds(ops).filter(pl.col("func") == FORK_COPY)
    assert added.select("seq", "op", "pid", "count", "dmabuf", "open_flags").rows() == [
        (6, "dmabuf_fd", 11, 5, 0xD0, O_CLOEXEC | 2),
        (6, "dmabuf_fd", 11, 6, 0xD1, 2),
        (9, "dmabuf_fd", 13, 5, 0xD0, O_CLOEXEC | 2),
        (9, "dmabuf_fd", 13, 6, 0xD1, 2),
    ]
    # each just after its fork
    out = task_fds(ops)
    assert out.filter(pl.col("seq") == 6)["func"].to_list() == [
        "wake_up_new_task",
        FORK_COPY,
        FORK_COPY,
    ]


def test_a_fork_after_a_release_or_exit_copies_nothing_of_it() -> None:
    ops = _frame(
        [
            _fd(0, 10, 5, 0xD0),
            _fd(1, 10, 6, 0xD1),
            _op(2, "dmabuf_release", 10, "dma_buf_release", None, 0xD1),
            _copy(3, 10, TABLE),
            _fork(4, 10, 11, TABLE),
            _op(5, "task_exit", 11, "exit_files", None, None),
            _copy(6, 11, OTHER_TABLE),  # (a pid reused: its new task starts with nothing)
            _fork(7, 11, 12, OTHER_TABLE),
        ]
    )
    added = task_fds(ops).filter(pl.col("func") == FORK_COPY)
    assert added.select("seq", "pid", "count").rows() == [(4, 11, 5)]


def test_a_traced_exec_closes_the_close_on_exec_fds_there() -> None:
    ops = _frame(
        [
            _fd(0, 10, 5, 0xD0, O_CLOEXEC | 2),
            _fd(1, 10, 6, 0xD1),  # not close-on-exec: survives
            _fd(2, 10, 7, 0xD2, None),  # flags unknown: stays open
            _copy(3, 10, TABLE),
            _fork(4, 10, 11, TABLE),
            _exec(5, 11),  # the child execs: its copy of fd 5 closes, the parent's stays
            _exec(6, 10),
            _exec(7, 10),  # a second exec: nothing left to close
        ]
    )
    out = task_fds(ops)
    closed = out.filter(pl.col("func") == EXEC_CLOSE_TRACED)
    assert closed.select("seq", "op", "pid", "count", "dmabuf").rows() == [
        (5, "fd_close", 11, 5, 0xD0),
        (6, "fd_close", 10, 5, 0xD0),
    ]
    # exec_closed_fds infers nothing more for a task whose exec is probed
    release = [
        _op(8, "syscall_exit", 10, "sys_exit_ioctl", None, None),
        _op(9, "file_close", 10, "drm_gem_release", None, None),
    ]
    probed = _frame([*ops.to_dicts(), *release])
    assert exec_closed_fds(probed).filter(pl.col("func") == EXEC_CLOSE).height == 0
    unprobed = probed.filter(pl.col("func") != "do_close_on_exec")
    # the new program's own syscalls tell the exec from a fatal signal
    program = _frame(
        [*unprobed.to_dicts(), _op(10, "syscall_exit", 10, "sys_exit_mmap", None, None)]
    )
    assert exec_closed_fds(program).filter(pl.col("func") == EXEC_CLOSE).height == 1
    assert exec_closed_fds(program).filter(pl.col("func") == KILLED).height == 0
    # with none, the task died there: every fd closes (a task_exit), not the close-on-exec ones
    died = exec_closed_fds(unprobed)
    assert died.filter(pl.col("func") == EXEC_CLOSE).height == 0
    assert died.filter(pl.col("func") == KILLED)["op"].cast(pl.String).to_list() == ["task_exit"]


def test_without_task_probes_nothing_changes() -> None:
    ops = _frame([_fd(0, 10, 5, 0xD0), _copy(1, 10, TABLE)])
    assert task_fds(ops).equals(ops)


def test_the_task_probes_are_in_every_tasks_capture() -> None:
    assert len(TASKS) >= 2, "the seventh set is missing"
    for kernel in TASKS:
        ops = _ops(TRACES / "real" / kernel / "fork_hold.txt")
        funcs = set(ops["func"].unique().to_list())
        assert {"dup_fd", "wake_up_new_task", "exit_files"} <= funcs, kernel


@pytest.mark.parametrize("kernel", TASKS)
def test_a_child_that_only_holds_the_fds_is_counted(kernel: str) -> None:
    """fork_hold.c: the first child holds the parent's fds (an export and its dma-buf fd) for
    0.4 s, makes no DRM call and exits; the parent's f_count samples while it lives count its
    copy, and after it exits do not."""
    path = TRACES / "real" / kernel / "fork_hold.txt"
    ops = _ops(path)
    copies = ops.filter(pl.col("func") == FORK_COPY)
    scenario = ops.filter(pl.col("op") == "dmabuf_export")["pid"][0]
    children = ops.filter((pl.col("func") == "wake_up_new_task") & (pl.col("pid") == scenario))[
        "count"
    ].to_list()
    assert len(children) == 2
    # both children get a copy of the dma-buf fd; each child's exit closes every fd it has
    assert set(copies["pid"].to_list()) == set(children)
    exits = ops.filter((pl.col("op") == "task_exit") & pl.col("pid").is_in(children))
    assert sorted(exits["pid"].to_list()) == sorted(children)
    rep = replay_paths([str(path)])
    assert rep.disagreements.height == 0
    # every f_count sample up to the second fork is compared: before the first fork, while the
    # first child holds its copy, after it exits (the fifth set's captures disagreed there). The
    # second child imports the inherited fd with no syscall traced: from then on, "fds not traced"
    second_fork = ops.filter(
        (pl.col("func") == "wake_up_new_task") & (pl.col("count") == children[1])
    )["line"][0]
    samples = rep.verified.filter(pl.col("counter") == "f_count")
    before = samples.filter(pl.col("line") < second_fork)
    assert before.height == 3
    assert before["comparable"].all()
    after = samples.filter(pl.col("line") > second_fork)
    assert after.height > 0
    assert not after["comparable"].any()


def test_without_it_the_fork_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    from tracekit.normalize import dialects

    monkeypatch.setattr(dialects, "task_fds", lambda ops: ops)
    rep = replay_paths([str(TRACES / "real" / TASKS[0] / "fork_hold.txt")])
    assert rep.disagreements.select("counter", "kernel", "model").rows() == [
        ("f_count", 5, 4),
        ("f_count", 5, 6),
    ]


@pytest.mark.parametrize("kernel", TASKS)
def test_a_thread_copies_nothing_and_only_the_tables_last_user_closes_it(kernel: str) -> None:
    """threads.c: a thread shares its process's table (no dup_fd before it is woken: nothing is
    copied); an exit that leaves the table to others (count > 1) closes nothing, and the exit of
    its last user, the process or a thread (6.1's capture: the process leaves first), does."""
    path = TRACES / "real" / kernel / "threads.txt"
    ops = _ops(path)
    # the two threads make the BOs; the process that woke them is the scenario (the rig's init
    # forks processes too, each with a copy of its table)
    woken = ops.filter(pl.col("func") == "wake_up_new_task")
    workers = ops.filter(pl.col("op") == "create")["pid"].unique().to_list()
    threads = woken.filter(pl.col("count").is_in(workers))
    assert len(workers) == 2
    assert sorted(threads["count"].to_list()) == sorted(workers)
    assert threads["pid"].n_unique() == 1
    assert ops.filter(pl.col("func") == FORK_COPY).height == 0
    # every exit_files of the process's table: a task_exit exactly where count is 1
    text = path.read_text().splitlines()
    table = threads["address"][0]
    leaving = [
        (n, int(line.rsplit("count=", 1)[1]))
        for n, line in enumerate(text, 1)
        if " exit_files:" in line and f"files={table:#x}" in line
    ]
    assert len(leaving) == 3  # the process and its two threads
    exits = set(
        ops.filter((pl.col("op") == "task_exit") & (pl.col("func") == "exit_files"))["line"]
    )
    assert [(n, n in exits) for n, _ in leaving] == [(n, count == 1) for n, count in leaving]
    assert sum(count == 1 for _, count in leaving) == 1
    assert replay_paths([str(TRACES / "real" / kernel / "threads.txt")]).disagreements.height == 0
