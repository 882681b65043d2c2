"""The compiled line cutter (tracekit.ingest.compiled) and the polars fast path give the same tables.

``parse_ftrace_frame(engine="compiled")`` cuts what the compiled loop takes and leaves the rest
to the polars path, so any difference between the two engines is a line the loop cut wrongly.
They are compared on every tracefs capture in the repository, and on lines that hypothesis
builds from real ones by editing them at the places the loop decides on (the fixed-width
columns, the timestamp, syscall bodies, probe locations) and at random.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import captures_read_as, detected_mode, rel
from tracekit.ingest import compiled, fast
from tracekit.ingest.source import lines_frame


@contextmanager
def _split(threads: int, chunk_min: int = 1) -> Iterator[None]:
    """The loop cuts in up to ``threads`` ranges (of at least ``chunk_min`` lines), whatever
    this machine has."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(compiled, "CHUNK_MIN", chunk_min)
        mp.setattr(compiled, "_threads", lambda: threads)
        yield


def _same(lines: pl.DataFrame, layout: fast.Layout) -> int:
    """Both engines on ``lines``: identical events and rest, with the loop cutting in one range
    and in three (threads). Returns how many lines the loop cut."""
    want = fast.parse_ftrace_frame(lines, layout, engine="polars")
    got = fast.parse_ftrace_frame(lines, layout, engine="compiled")
    with _split(3):
        split = fast.parse_ftrace_frame(lines, layout, engine="compiled")
    for a, b, what in (
        (got[0], want[0], "events"),
        (got[1], want[1], "rest"),
        (split[0], want[0], "events cut in three ranges"),
        (split[1], want[1], "rest cut in three ranges"),
    ):
        assert a.schema == b.schema, what
        if not a.equals(b):
            diff = (
                a.with_row_index("_r")
                .join(b.with_row_index("_r"), on="_r", how="full", suffix="_polars")
                .filter(
                    pl.any_horizontal(
                        pl.col(c).ne_missing(pl.col(f"{c}_polars")) for c in a.columns
                    )
                )
            )
            raise AssertionError(f"{what} differ:\n{diff.head(5)}")
    return compiled.cut(lines, layout)[0].height


@pytest.mark.parametrize("path", captures_read_as(lambda mode: mode.layout is not None), ids=rel)
def test_compiled_cut_equals_polars_on_captures(path: Path) -> None:
    lines = lines_frame(path.read_bytes(), 1)
    layout = detected_mode(path).layout
    assert layout is not None
    cut = _same(lines, layout)
    events = fast.parse_ftrace_frame(lines, layout, engine="polars")[0].height
    # the loop declines only what it must (non-ASCII lines, spaced call sites)
    assert cut > 0 and cut >= events * 0.9, (cut, events)


# ------------------------------------------------------------------------------------------------
# lines made from real ones, edited where the loop decides

_REAL = (
    "        scenario-153     [001] .....    13.555579: drm_mode_create_dumb_ioctl: (drm_mode_create_dumb_ioctl+0x4/0x90 [drm]) dev=0xff2fca2fc20dc000 width=64",
    "        scenario-153     [001] .....    13.561946: drm_gem_object_init_ret: (__drm_gem_shmem_create+0x64/0x160 [drm_shmem_helper] <- drm_gem_object_init) ret=0",
    "        scenario-153     [001] ...1.    13.543730: sys_ioctl(fd: 1, cmd: 5401, arg: 7ffee60c3ac0)",
    "        scenario-153     [001] ...1.    13.543762: sys_ioctl -> 0x0",
    "        scenario-153     [001] .....    13.543036: tracing_mark_write: open /dev/dri/card0 -> fd=3",
    "          <idle>-0       [054] d..2. 12345.000439: sched_switch: prev_comm=swapper/54 prev_pid=0 ==> next_comm=kodi.bin",
    "            bash-4619    (   4619) [000] ...1.   246.054672: tracing_mark_write: x",
    "     kworker/0:1-12      (-------) [003] d..1.    99.000001: dma_fence_signaled: driver=vgem",
    "            Xorg-1302    [002] .... 413.017158: drm_gem_vram_vunmap: gbo=0xffff0000c70b2800",
    "            bash-4619    [000]  245824125: probe: (0xffffffffc0a01234 <- ffffffffc0a05678) arg=1",
    "            bash-4619    [000] d..1. 245.824125001: foo.bar-baz: (sym +0x4/0x10 [m-1]) x",
    "            bash-4619    [000] d..1. 245.824125: sys_enter_openat: dfd: 0xffffff9c",
    "            bash-4619    [000] d..1. 245.824125: empty:",
)
# the bytes the loop looks for, and some it must refuse
_ALPHABET = " -()[]<>:._+/$x0123456789abcdefABCDEFsy_\t\u00e9\x7f"
_PIECES = (
    " ",
    "-",
    ": ",
    "(",
    ")",
    "<-",
    " -> ",
    "[",
    "]",
    "+0x",
    "/0x",
    "sys_",
    "0x",
    "ffffff",
    "deadbeef",
    ".",
    "..",
    "123456789012",
    "0001",
    "\u00e9",
    "(-------) ",
    "[drm]",
    " <- ",
)


@st.composite
def _edited(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_REAL))
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(("insert", "delete", "replace", "piece")))
        if kind == "insert":
            text = text[:at] + draw(st.sampled_from(_ALPHABET)) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 3)) :]
        elif kind == "replace":
            text = text[:at] + draw(st.sampled_from(_ALPHABET)) + text[at + 1 :]
        else:
            text = text[:at] + draw(st.sampled_from(_PIECES)) + text[at:]
    return text


_LAYOUTS = [fast.Layout(tgid, flags) for tgid in (False, True) for flags in (0, 4, 5)]


@given(st.lists(_edited(), min_size=1, max_size=30), st.sampled_from(_LAYOUTS))
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_compiled_cut_equals_polars_on_edited_lines(texts: list[str], layout: fast.Layout) -> None:
    _same(pl.DataFrame({"line": range(1, len(texts) + 1), "text": texts}), layout)


def test_compiled_cut_takes_the_usual_lines() -> None:
    """Not a loop that declines everything: each unedited example line is cut by it."""
    layouts = {
        fast.Layout(False, 5): [t for t in _REAL if "(   " not in t and "(---" not in t],
        fast.Layout(True, 5): [t for t in _REAL if "(   " in t or "(---" in t],
    }
    for layout, texts in layouts.items():
        lines = pl.DataFrame({"line": range(1, len(texts) + 1), "text": texts})
        cut = _same(lines, layout)
        taken = fast.parse_ftrace_frame(lines, layout, engine="polars")[0]
        assert cut == taken.height


@given(st.integers(0, 400_000), st.integers(1, 8))
def test_ranges_cover_every_line_once(n: int, threads: int) -> None:
    with _split(threads, compiled.CHUNK_MIN):
        ranges = compiled._chunks(n)
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))
    assert len(ranges) == max(1, min(threads, n // compiled.CHUNK_MIN))
    if len(ranges) > 1:  # a thread is worth its start
        assert all(hi - lo >= compiled.CHUNK_MIN for lo, hi in ranges)
