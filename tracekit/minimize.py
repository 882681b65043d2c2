"""``tracekit minimize``: the smallest sub-capture that still shows a finding (delta debugging).

The capture's lines are cut into units: each event line with the lines attached to it (stack
frames), in order; comment and header lines are always kept. A candidate (a subset of units,
in their original order, written in the original text format) *still shows the finding* when
replaying it gives a finding of the same rule, with the same verdict and the same message (the
same counts: the same reason), at the same original line (for ``at = "end"`` rules, on the same
object address). Validity needs no rules of its own:
a candidate that drops an object's create makes its start unknown and the verdict inconclusive,
one that drops a job's submit loses the job, so neither passes.

First the *cone* of the finding is tried: the lines of the ops on its object (and its dma-bufs),
the calls they were made in, the syscall boundaries of the tasks involved, and the jobs that
used it. Then ddmin (Zeller and Hildebrandt, "Simplifying and Isolating Failure-Inducing
Input", 2002) removes what is left to remove until every single unit is needed (1-minimal).
Deterministic: the same capture and finding give the same result and the same replay count.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tracekit.errors import InputError
from tracekit.ingest import parse_paths
from tracekit.ingest.source import Input
from tracekit.model import engine
from tracekit.normalize import load_profiles, normalize
from tracekit.rules import Rule, evaluate, load_rules


@dataclass(frozen=True)
class Target:
    rule: str
    verdict: str
    line: int
    object: int | None
    at_end: bool
    message: str


@dataclass(frozen=True)
class Minimized:
    text: str
    kept: list[int]  # original line numbers of the kept units' lines
    units_before: int
    units_after: int
    replays: int


class _Oracle:
    """Replays candidates (a set of unit indices) and says whether they still show ``target``."""

    def __init__(
        self,
        header: list[str],
        units: list[list[tuple[int, str]]],
        target: Target,
        rules: list[Rule],
        profile_dirs: list[str] | None,
    ) -> None:
        self.header, self.units, self.target = header, units, target
        self.rules = [r for r in rules if r.id == target.rule]
        self.profiles = load_profiles(profile_dirs)
        self.cache: dict[tuple[int, ...], bool] = {}
        self.replays = 0
        self.tmp = tempfile.TemporaryDirectory(prefix="tracekit-minimize-")

    def __call__(self, keep: list[int]) -> bool:
        key = tuple(keep)
        if key not in self.cache:
            self.cache[key] = self._run(keep)
        return self.cache[key]

    def _run(self, keep: list[int]) -> bool:
        self.replays += 1
        lines = list(self.header)
        origin = [0] * len(lines)
        for u in keep:
            for number, text in self.units[u]:
                lines.append(text)
                origin.append(number)
        path = Path(self.tmp.name) / "candidate.txt"
        path.write_text("\n".join(lines) + "\n")
        parsed = parse_paths([str(path)])
        ops = normalize(parsed.events, self.profiles).ops
        states, _ = engine.replay(ops)
        found = evaluate(states, self.rules)
        t = self.target
        for r in found.iter_rows(named=True):
            if r["verdict"] != t.verdict or r["message"] != t.message:
                continue
            if t.at_end:
                if r["object"] == t.object:
                    return True
            elif origin[r["line"] - 1] == t.line:
                return True
        return False


def ddmin(units: list[int], test: Callable[[list[int]], bool]) -> list[int]:
    """The 1-minimal subset of ``units`` (kept in order) for which ``test`` holds."""
    current = list(units)
    n = 2
    while len(current) >= 2:
        chunk = max(1, len(current) // n)
        subsets = [current[i : i + chunk] for i in range(0, len(current), chunk)]
        reduced = False
        for sub in subsets:
            if test(sub):
                current, n, reduced = sub, 2, True
                break
        if not reduced:
            for sub in subsets:
                rest = [u for u in current if u not in set(sub)]
                if test(rest):
                    current, n, reduced = rest, max(n - 1, 2), True
                    break
        if not reduced:
            if n >= len(current):
                break
            n = min(len(current), n * 2)
    return current


def minimize(
    path: str,
    target: Target,
    *,
    ops: pl.DataFrame,
    rule_dirs: list[str] | None = None,
    profile_dirs: list[str] | None = None,
) -> Minimized:
    """Minimize the capture at ``path`` for ``target`` (a finding of a replay whose ``ops``
    are given, for the cone)."""
    with Input(path).open() as fh:
        data = fh.read()
    # lines as the ingest counts them: split at \n only, a final \n ends the last line
    raw = [b.decode("utf-8", "replace").rstrip("\r") for b in data.split(b"\n")]
    if data.endswith(b"\n"):
        raw.pop()
    event_lines = set(parse_paths([path]).events["line"].to_list())
    header: list[str] = []
    units: list[list[tuple[int, str]]] = []
    for number, text in enumerate(raw, 1):
        if number in event_lines:
            units.append([(number, text)])
        elif units and not text.startswith("#"):
            units[-1].append((number, text))  # attached (a stack frame) or text between events
        else:
            header.append(text) if not units else units.append([(number, text)])
    oracle = _Oracle(header, units, target, load_rules(rule_dirs), profile_dirs)
    everything = list(range(len(units)))
    if not oracle(everything):
        raise InputError(
            path, f"the capture itself does not show {target.rule} at line {target.line}"
        )
    start = everything
    cone = _cone(units, ops, target)
    if cone != everything and oracle(cone):
        start = cone
    kept = ddmin(start, oracle)
    lines = list(header)
    prev = None
    for u in kept:
        first, last = units[u][0][0], units[u][-1][0]
        if prev is None or first != prev + 1:
            lines.append(f"# tracekit minimize: line {first} of {path}")
        lines += [text for _, text in units[u]]
        prev = last
    oracle.tmp.cleanup()
    return Minimized(
        "\n".join(lines) + "\n",
        [n for u in kept for n, _ in units[u]],
        len(units),
        len(kept),
        oracle.replays,
    )


def _cone(units: list[list[tuple[int, str]]], ops: pl.DataFrame, target: Target) -> list[int]:
    """The units of the ops that can matter for the finding's object."""
    if target.object is None:
        return list(range(len(units)))
    mine = ops.filter(pl.col("object") == target.object)
    dmabufs = mine["dmabuf"].drop_nulls().unique().to_list()
    jobs = mine["job"].drop_nulls().unique().to_list()
    related = ops.filter(
        (pl.col("object") == target.object)
        | pl.col("dmabuf").is_in(dmabufs)
        | pl.col("job").is_in(jobs)
    )
    pids = related["pid"].drop_nulls().unique().to_list()
    boundaries = ops.filter(
        pl.col("pid").is_in(pids)
        & pl.col("op").is_in(
            ["syscall_exit", "syscall_enter", "ioctl_exit", "fd_close", "task_exit"]
        )
    )
    lines = set(related["line"].to_list()) | set(boundaries["line"].to_list())
    lines |= set(related["call"].drop_nulls().to_list())  # the calls they were made in
    # a return probe's entry and an entry's return go together
    calls = ops.filter(pl.col("call").is_in(list(lines)) | pl.col("line").is_in(list(lines)))
    lines |= set(calls["call"].drop_nulls().to_list())
    return [i for i, unit in enumerate(units) if any(n in lines for n, _ in unit)]
