"""Threads share their process's fd table (``pthread_create`` passes ``CLONE_FILES``).

``traces/real/scenarios/thread_handoff.c`` hands dma-buf fds between a worker thread and the
main thread every way: exported by one and imported, synced or closed by the other, left open by
a thread that exits (``SYS_exit``) or by one that ``exit_group`` ends. Three real captures of it
trace every task's syscalls (provenance in traces/real/README.md, "Ninth set"):

- ``linux-6.1.0-57-record-tgid``: with ``options/record-tgid``, every line says its process;
- ``linux-6.12.118-all-syscalls``: no tgid column, but the task probes show each thread woken
  with its parent's fd table (:func:`tracekit.normalize.dialects.thread_groups`);
- ``linux-6.1.0-57-all-syscalls``: neither: which process a task is in is unknown.
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TRACES
from tracekit.ingest import parse_paths
from tracekit.normalize import dialects, normalize
from tracekit.replay import replay_paths

REAL = TRACES / "real"
TGID = REAL / "linux-6.1.0-57-record-tgid/thread_handoff.txt"
FORKS = REAL / "linux-6.12.118-all-syscalls/thread_handoff.txt"
NEITHER = REAL / "linux-6.1.0-57-all-syscalls/thread_handoff.txt"
MAIN = re.compile(r"scenario-(\d+)")


def _ops(path: Path) -> pl.DataFrame:
    return normalize(parse_paths([str(path)]).events).ops


def _scenario_tasks(ops: pl.DataFrame) -> pl.DataFrame:
    return ops.filter(pl.col("comm") == "scenario").group_by("pid").agg(pl.col("tgid").unique())


@pytest.mark.parametrize("path", [TGID, FORKS], ids=["record-tgid", "fork probes"])
def test_where_the_process_is_known_every_sample_is_compared_and_agrees(path: Path) -> None:
    rep = replay_paths([str(path)])
    assert rep.checks.height == 81
    assert rep.not_compared == {}
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()


@pytest.mark.parametrize("path", [TGID, FORKS], ids=["record-tgid", "fork probes"])
def test_the_workers_are_in_the_main_threads_process(path: Path) -> None:
    tasks = _scenario_tasks(_ops(path))
    main = tasks["pid"].min()  # the process's first task starts the others
    assert tasks.height >= 5  # the main thread and its five workers
    assert all(t == [main] for t in tasks["tgid"].to_list()), tasks.to_dicts()


def test_a_threads_exit_closes_nothing_while_its_process_runs() -> None:
    ops = _ops(TGID)
    exits = ops.filter(pl.col("func") == dialects.THREAD_EXIT)
    # every worker but D's ends with SYS_exit (returning from its start routine, or
    # pthread_exit); D's is ended by the main thread's exit_group
    assert exits.height == 5
    assert set(exits["op"].cast(pl.String)) == {"syscall_enter"}
    # exit_group ends the table
    assert ops.filter(pl.col("func") == "sys_enter_exit_group")["op"].cast(pl.String).to_list()[
        0
    ] == ("task_exit")


def test_a_forked_child_is_a_process_of_its_own() -> None:
    ops = _ops(FORKS)
    children = ops.filter(pl.col("comm").is_in(["cut", "sleep"]))
    assert children.height
    assert (children["tgid"] == children["pid"]).all()


def test_without_the_shared_table_the_model_disagrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the dialects do is what makes the capture agree: a thread's exit that closed the
    process's table would drop the main thread's fds with it."""
    monkeypatch.setattr(dialects, "thread_exits", lambda ops: ops)
    rep = replay_paths([str(TGID)])
    assert rep.disagreements.height > 0
    assert set(rep.disagreements["counter"]) == {"f_count"}


def test_where_the_process_is_unknown_a_threads_exit_is_not_held_against_the_model() -> None:
    rep = replay_paths([str(NEITHER)])
    assert rep.disagreements.height == 0, rep.disagreements.to_dicts()
    assert rep.not_compared.get("thread exit", 0) > 0
    # the one sample the thread's exit put out of the model's reach (phase F: the main thread
    # closes the object's handle while the worker's fd is still open): kernel 3, model 2
    checks = rep.verified.filter(pl.col("why") == "thread exit")
    assert checks.filter((pl.col("kernel") == 3) & (pl.col("model") == 2)).height == 1
    assert set(checks["counter"]) == {"f_count"}


def test_the_lines_tgid_column_alone_gives_the_process(tmp_path: Path) -> None:
    """The record-tgid capture with its column blanked (the kernel's ``(-------)``) is the
    unknown case again; a task whose first lines are blank takes its other lines' process."""
    lines = TGID.read_text().splitlines(keepends=True)
    blank = tmp_path / "blank.txt"
    blank.write_text("".join(re.sub(r"\(\s*\d+\)", "(-------)", x, count=1) for x in lines))
    rep = replay_paths([str(blank)])
    assert rep.disagreements.height == 0
    assert "thread exit" in rep.not_compared
    # only the first line of each task blank: as good as the whole column
    seen: set[str] = set()
    partial = []
    for x in lines:
        m = MAIN.search(x)
        if m and m.group(1) not in seen:
            seen.add(m.group(1))
            x = re.sub(r"\(\s*\d+\)", "(-------)", x, count=1)
        partial.append(x)
    some = tmp_path / "some.txt"
    some.write_text("".join(partial))
    rep = replay_paths([str(some)])
    assert rep.not_compared == {} and rep.disagreements.height == 0
