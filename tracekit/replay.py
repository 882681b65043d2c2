"""Replay: captures in, the buffer-object model's state after every op out.

>>> r = replay_paths(["traces/real/linux-6.1/vgem_basic.txt"])
>>> r.checks.height, r.disagreements.height
(55, 0)
>>> state_at(r.states).select("refs", "handles", "alive").unique().rows()
[(0, 0, False)]

Ordering is deterministic: per source, events are replayed by timestamp, then CPU, then line,
and a source already merged by its printer keeps its line order on a tie
(:func:`tracekit.normalize.calls.order_events`), so the same capture replays to the same states
on any machine, whichever engine computes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import polars as pl

from tracekit.ingest import ParseResult, parse_paths
from tracekit.model import engine, oracle, reference
from tracekit.normalize import Normalized, load_profiles, normalize

STATE_FIELDS = (
    "refs",
    "handles",
    "pins",
    "kmaps",
    "vmaps",
    "vaddr",
    "pages",
    "mappings",
    "jobs",
    "alive",
)
"""The fields of ``tracekit replay --format json`` (and the columns of the state tables)."""


@dataclass(frozen=True)
class Replayed:
    """Everything a replay computed: the parse, the ops, the states and the kernel checks."""

    parsed: ParseResult
    normalized: Normalized
    states: pl.DataFrame
    checks: pl.DataFrame  # VERIFY

    @property
    def ops(self) -> pl.DataFrame:
        return self.normalized.ops

    @cached_property
    def verified(self) -> pl.DataFrame:
        """``checks`` with ``comparable`` and ``why``: whether the model could know each sampled
        value (:func:`tracekit.model.oracle.annotate`; computed when asked, as ``check`` never
        needs it)."""
        return oracle.annotate(self.checks, self.normalized.ops)

    @property
    def disagreements(self) -> pl.DataFrame:
        """Kernel counters the model disagrees with where it could know them (empty when the
        model is right); see :mod:`tracekit.model.oracle`."""
        return self.verified.filter(pl.col("comparable") & (pl.col("kernel") != pl.col("model")))

    @property
    def not_compared(self) -> dict[str, int]:
        """Samples the model could not know, by reason (:mod:`tracekit.model.oracle`)."""
        skipped = self.verified.filter(~pl.col("comparable"))
        return dict(skipped.group_by("why").len().sort("why").iter_rows())


def replay_paths(
    files: list[str],
    profile_dirs: list[str] | None = None,
    *,
    engine_name: Literal["vector", "compiled", "polars", "reference"] = "vector",
) -> Replayed:
    """Parse, normalise and replay ``files``: ``vector`` lets :func:`tracekit.model.engine.replay`
    pick its engine by size; the others name one."""
    parsed = parse_paths(files)
    norm = normalize(parsed.events, load_profiles(profile_dirs))
    if engine_name == "reference":
        states, checks = reference.replay_reference(norm.ops)
    else:
        states, checks = engine.replay(
            norm.ops, engine="auto" if engine_name == "vector" else engine_name
        )
    return Replayed(parsed, norm, states, checks)


def position(
    states: pl.DataFrame,
    *,
    line: int | None = None,
    time_ns: int | None = None,
    ops: pl.DataFrame | None = None,
) -> int | None:
    """The replay position (``seq``) that stands "after line L" or "at time T": the last op
    whose line is at most L (or whose timestamp is at most T)."""
    if line is not None:
        hit = states.filter(pl.col("line") <= line)
        return int(hit["seq"].max()) if hit.height else None  # type: ignore[arg-type]
    if time_ns is not None and ops is not None:
        hit = ops.filter(pl.col("ts") <= time_ns)
        return int(hit["seq"].max()) if hit.height else None  # type: ignore[arg-type]
    return None


def state_at(
    states: pl.DataFrame, *, seq: int | None = None, object: int | None = None
) -> pl.DataFrame:
    """The latest state of every object (or one) at replay position ``seq`` (the end if None):
    one row per object generation, in order of first appearance."""
    rows = states.filter(pl.col("object").is_not_null())
    if seq is not None:
        rows = rows.filter(pl.col("seq") <= seq)
    if object is not None:
        rows = rows.filter(pl.col("object") == object)
    first = rows.group_by(["source", "object", "generation"]).agg(
        pl.col("seq").min().alias("_first")
    )
    last = (
        rows.sort("seq", maintain_order=True)
        .group_by(["source", "object", "generation"], maintain_order=True)
        .last()
    )
    return (
        last.join(first, on=["source", "object", "generation"], maintain_order="left")
        .sort(["source", "_first"])
        .drop("_first")
    )


def history(states: pl.DataFrame, object: int, generation: int | None = None) -> pl.DataFrame:
    """Every op on one object (all its generations, or one), with the state after each."""
    rows = states.filter(pl.col("object") == object)
    if generation is not None:
        rows = rows.filter(pl.col("generation") == generation)
    return rows.sort(["source", "seq"])


def state_json(row: dict[str, object], line: int | None) -> dict[str, object]:
    """One object's state in the ``tracekit replay --format json`` shape."""
    state = {k: row.get(k) for k in STATE_FIELDS}
    if state["vaddr"] is not None:
        state["vaddr"] = f"0x{state['vaddr']:x}"
    return {
        "object": f"0x{row['object']:x}",
        "generation": row["generation"],
        "line": line if line is not None else row["line"],
        "state": state,
    }
