"""Lost events and captures that start mid-life make verdicts inconclusive, never wrong.

Each case takes a bundled real capture (traces/real; provenance in traces/real/README.md) and
damages it the way the kernel does: a ring buffer that overflows drops a run of one CPU's events
and prints ``CPU:N [LOST M EVENTS]`` before that CPU's next one (``trace_find_next_entry_inc``:
``iter->lost_events``); a capture started late has no head. The damaged capture must still
agree with every kernel counter the model is held to, and give no error: what the lost span
may have changed is uncertain (``replay --verify`` does not compare it, rules call it
inconclusive).

The cases are the ones a random search over such cuts found wrong before the model and the
oracle learnt them (each comment says what went wrong):
"""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import TRACES
from tracekit.check import run_check

_CPU = re.compile(r"^\s*\S.*?-\d+\s+(?:\(\s*[\d-]+\)\s+)?\[(\d{3})\]")


def overrun(text: str, cpu: int, first: int, last: int) -> str:
    """``text`` without CPU ``cpu``'s lines from line ``first`` to ``last`` (1-based), and the
    kernel's marker where ftrace prints it: before that CPU's next line."""
    lines = text.split("\n")
    mine = [i for i, line in enumerate(lines) if (m := _CPU.match(line)) and int(m[1]) == cpu]
    gone = [i for i in mine if first - 1 <= i <= last - 1]
    after = [i for i in mine if i > last - 1]
    assert gone and after, "the cut must drop lines of the CPU and leave one after them"
    out = []
    for i, line in enumerate(lines):
        if i in gone:
            continue
        if i == after[0]:
            out.append(f"CPU:{cpu} [LOST {len(gone)} EVENTS]")
        out.append(line)
    return "\n".join(out)


OVERRUNS = [
    # the object was freed, and its address used by another object whose create was lost: a
    # use-after-free and a handle count below zero (TK007, TK008)
    ("linux-7.3/error_paths.txt", 1, 85, 104),
    ("linux-6.18/reuse_stress.txt", 0, 3507, 3522),
    # an attachment and its detach: the attach was lost, the dma-buf's count went below zero
    ("linux-6.12-rt/cirrus_prime.txt", 0, 92, 123),
    # a failing ioctl's undo was lost: "not undone before it returned" (TK014)
    ("linux-6.12-default-probes/error_paths.txt", 0, 94, 141),
    # a dma-buf released and exported again at its address in the lost span: its old fds
    ("linux-6.16/vgem_basic.txt", 0, 214, 268),
    # a dma-buf exported in the lost span: the exec closed a close-on-exec fd the model never saw
    ("linux-7.3/exec_cloexec.txt", 1, 21, 55),
    # a framebuffer created in the lost span: a sample after it told the model the count, not
    # that the framebuffer's destroy would drop one
    ("linux-6.1-default-probes/cirrus_flip.txt", 1, 81, 137),
]

LATE_STARTS = [
    # started after the fds, exports and imports were made: a sample tells the count, not who
    # holds it (an exec's close, a thread's fd)
    ("linux-6.12.118-all-syscalls/thread_handoff.txt", 222),
    ("linux-7.3/fork_inherit.txt", 115),
    ("linux-6.1-default-probes/exec_cloexec.txt", 49),
]


def _check(path: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, int]]:
    res = run_check([str(path)])
    return res.replayed.disagreements, res.findings, res.replayed.not_compared


@pytest.mark.parametrize(("capture", "cpu", "first", "last"), OVERRUNS)
def test_lost_events_are_inconclusive_not_wrong(
    tmp_path: Path, capture: str, cpu: int, first: int, last: int
) -> None:
    path = tmp_path / "overrun.txt"
    path.write_text(overrun((TRACES / "real" / capture).read_text(), cpu, first, last))
    disagree, findings, skipped = _check(path)
    assert disagree.height == 0, disagree
    assert findings.filter(pl.col("verdict") == "error").height == 0, findings
    # not vacuous: the loss is seen, and something rests on it
    assert skipped.get("events lost", 0) + findings.height > 0


@pytest.mark.parametrize(("capture", "cut"), LATE_STARTS)
def test_a_late_start_is_inconclusive_not_wrong(tmp_path: Path, capture: str, cut: int) -> None:
    path = tmp_path / "late.txt"
    text = (TRACES / "real" / capture).read_text()
    path.write_text("\n".join(text.split("\n")[cut:]))
    disagree, findings, skipped = _check(path)
    assert disagree.height == 0, disagree
    assert findings.filter(pl.col("verdict") == "error").height == 0, findings
    assert skipped.get("first seen mid-life", 0) > 0


def test_an_address_used_again_after_a_loss_is_another_object(tmp_path: Path) -> None:
    """The object freed before the loss keeps its history; the one at its address after it is a
    new generation whose start is unknown (its create was lost), not a use after free."""
    path = tmp_path / "overrun.txt"
    text = (TRACES / "real" / "linux-7.3/error_paths.txt").read_text()
    path.write_text(overrun(text, 1, 85, 104))
    res = run_check([str(path)])
    obj = 0xFF12BA2301924800
    rows = res.replayed.states.filter(pl.col("object") == obj, pl.col("line").is_between(55, 95))
    by_gen = dict(
        rows.group_by("generation").agg(pl.col("start_known").first()).sort("generation").rows()
    )
    assert by_gen == {1: True, 2: False}
    freed_then_used = rows.filter(pl.col("generation") == 1)["alive"].to_list()
    assert freed_then_used[-1] is False
