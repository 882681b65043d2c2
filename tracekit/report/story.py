"""A finding told as a story (``tracekit explain``) and a capture as a Perfetto timeline
(``tracekit export --format perfetto``).

Both read a :class:`tracekit.check.CheckResult`: the replay states (one row per op, the object's
state after it), the ops (for timestamps and tasks) and the findings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from tracekit.check import CheckResult, _quoted
from tracekit.errors import TracekitError


class FindingError(TracekitError):
    """``--finding``/``--rule`` names no finding of the capture."""


@dataclass(frozen=True)
class Selected:
    index: int  # 1-based, as listed by tracekit check
    finding: dict[str, Any]
    row: dict[str, Any]


def select_finding(res: CheckResult, finding: str | None, rule: str | None) -> Selected:
    """The finding ``--finding`` names (its number in ``tracekit check``'s listing, 1-based, or
    a prefix of its fingerprint), or the first of ``--rule`` (id or name)."""
    dicts = res.finding_dicts(snippets=True)
    rows = res.findings.to_dicts()
    if not dicts:
        raise FindingError("the capture has no finding")
    pick: int | None = None
    if finding is not None:
        if finding.isdigit() and 1 <= int(finding) <= len(dicts):
            pick = int(finding) - 1
        else:
            hits = [i for i, f in enumerate(dicts) if f["fingerprint"].startswith(finding.lower())]
            if len(hits) == 1 or (
                len(hits) > 1 and len({dicts[i]["fingerprint"] for i in hits}) == 1
            ):
                pick = hits[0]
    elif rule is not None:
        pick = next(
            (i for i, f in enumerate(dicts) if rule in (f["rule"], f["name"])),
            None,
        )
    else:
        pick = 0
    if pick is None:
        what = f"--finding {finding}" if finding is not None else f"--rule {rule}"
        listing = ", ".join(f"{i + 1}: {f['rule']} line {f['line']}" for i, f in enumerate(dicts))
        raise FindingError(f"{what} names no finding (the capture has {listing})")
    return Selected(pick + 1, dicts[pick], rows[pick])


# ------------------------------------------------------------------------------------------------
# explain


_SAY = {
    "create": "created by {who} in {func}: refs {refs} (the creator's reference)",
    "get": "{func} took a reference for {who}{owned}: refs {refs}",
    "put": "{func} dropped a reference{owned}: refs {refs}",
    "handle_create": "{who} got handle {handle} for it in {func}: handles {handles}, refs {refs}",
    "handle_get": "{func} took a handle reference: handles {handles}",
    "handle_release": "handle {handle} released by {who} in {func}",
    "handle_put": "{func} dropped a handle reference: handles {handles}, refs {refs}",
    "pin": "pinned by {func}: pins {pins}",
    "unpin": "unpinned by {func}: pins {pins}",
    "kmap": "kmapped by {func}: kmaps {kmaps}",
    "kunmap": "kunmapped by {func}: kmaps {kmaps}",
    "vmap": "vmapped by {func} for {who}: vmaps {vmaps}",
    "vunmap": "vunmapped by {func}: vmaps {vmaps}",
    "get_pages": "{func} took a pages reference: pages_use_count {pages}",
    "put_pages": "{func} dropped a pages reference: pages_use_count {pages}",
    "mmap": "mapped into {who}'s address space ({func}): mappings {mappings}, refs {refs}",
    "munmap": "a userspace mapping went ({func}): mappings {mappings}, refs {refs}",
    "gpu_map": "mapped on the GPU by {func}: GPU mappings {gpu_maps}",
    "gpu_unmap": "unmapped from the GPU by {func}: GPU mappings {gpu_maps}",
    "userptr_pin": "{func} pinned {count} of {size} user pages: {userptr_pages} pinned",
    "userptr_unpin": "{func} unpinned {count} user pages: {userptr_pages} pinned",
    "job_submit": "job {job} submitted by {who} uses it ({func}): jobs {jobs}",
    "job_done": "job {job} done: jobs {jobs}, refs {refs}",
    "madvise": "{who} marked it madv={madv} ({func})",
    "purge": "purged by {who} ({func})",
    "free": "freed by {who} in {func}",
    "dmabuf_export": "exported as dma-buf {dmabuf} by {func}",
    "dmabuf_import": "imported from dma-buf {dmabuf} by {func}",
    "dmabuf_release": "its dma-buf {dmabuf} was released ({func})",
    "dmabuf_vmap": "dma-buf vmapped ({func}): vmapping_counter {db_vmaps}",
    "dmabuf_vunmap": "dma-buf vunmapped ({func}): vmapping_counter {db_vmaps}",
}
_BOUNDARY = "{who} returned to userspace ({func}): what it borrowed went: refs {refs}"
_IMPLICIT = "{op} by {who} ({func}) changed it: refs {refs}, jobs {jobs}"
_IMPLICIT_SAY = {
    "job_done": "job {job} done ({func}): it no longer uses the object: jobs {jobs}, refs {refs}",
    "put": "a framebuffer holding it was destroyed ({func}): refs {refs}",
    "fd_close": "{who} closed a file holding it ({func}): refs {refs}",
    "task_exit": "{who} exited: its files went: refs {refs}",
    "dmabuf_release": "the dma-buf exported from it was released ({func}): refs {refs}",
}


def story(res: CheckResult, sel: Selected, *, context: int = 2) -> list[str]:
    """The object's (or dma-buf's) life up to a little past the finding, one line per op that
    changed or used it, each with its source line quoted."""
    f, row = sel.finding, sel.row
    states = res.replayed.states
    if row["object"] is not None:
        mine = states.filter(
            (pl.col("source") == row["source"])
            & (pl.col("object") == row["object"])
            & (pl.col("generation") == row["generation"])
        )
        subject = f"object {f['object']} (generation {f['generation']})"
    else:
        mine = states.filter(
            (pl.col("source") == row["source"])
            & (pl.col("dmabuf") == row["dmabuf"])
            & pl.col("object").is_null()
        )
        subject = f"dma-buf {f['dmabuf']}"
    ops = res.replayed.ops.select("source", "seq", "comm", "pid", "ts").unique(["source", "seq"])
    mine = mine.join(
        ops, on=["source", "seq"], how="left", maintain_order="left", suffix="_op"
    ).sort("seq")
    mine = mine.filter(pl.col("op") != "call_enter")
    after = mine.filter(pl.col("seq") > row["seq"]).head(context)
    upto = mine.filter(pl.col("seq") <= row["seq"])
    quoted = _quoted(res.replayed.parsed.events, pl.concat([upto, after]).select("source", "line"))
    lines = [
        f"{f['rule']} {f['name']} ({f['verdict']}) in {f['file']}, line {f['line']}:",
        f"  {f['message']}",
        "",
        f"The life of {subject}:",
    ]
    for r in [*upto.iter_rows(named=True), *after.iter_rows(named=True)]:
        mark = "=>" if r["seq"] == row["seq"] and r["line"] == row["line"] else "  "
        lines.append(f"{mark} line {r['line']:>6}  {_sentence(r)}")
        text = quoted.get((r["source"], r["line"]))
        if text is not None and not r["implicit"]:
            lines.append(f"{'':>16}| {text}")
        if mark == "=>":
            lines.append(f"{'':>16}^ {f['rule']} {f['name']}: {f['message']}")
    if after.height:
        lines.append(f"   ({after.height} op(s) after the finding shown)")
    return lines


def _sentence(r: dict[str, Any]) -> str:
    who = f"{r['comm']}-{r['pid']}" if r.get("comm") else f"pid {r['pid']}"
    owned = f" (owner {r['owner']})" if r.get("owner") else ""
    values = {k: ("-" if v is None else v) for k, v in r.items()}
    values.update(who=who, owned=owned, func=r["func"] or r["op"])
    if r["implicit"]:
        tpl = (
            _BOUNDARY
            if r["op"] in ("syscall_exit", "syscall_enter", "ioctl_exit")
            else _IMPLICIT_SAY.get(r["op"], _IMPLICIT)
        )
    else:
        tpl = _SAY.get(r["op"], "{op} ({func})")
    if isinstance(values.get("dmabuf"), int):
        values["dmabuf"] = f"{values['dmabuf']:#x}"
    text = tpl.format(**values)
    if r.get("refused"):
        text += f" (refused: {r['refused']} was already 0; the kernel warns)"
    if r.get("uncertain"):
        text += " [uncertain: events were lost]"
    return text


# ------------------------------------------------------------------------------------------------
# Perfetto (Chrome JSON trace format)

COUNTERS = ("refs", "handles", "pins", "vmaps", "kmaps", "pages")
_OBJECTS_PID, _JOBS_PID, _FENCES_PID = 1, 2, 3


def perfetto(res: CheckResult) -> dict[str, Any]:
    """A Chrome JSON trace (https://ui.perfetto.dev opens it): a counter track per object
    (refs, handles, pins, vmaps, kmaps, pages after each op), a slice per job on its fence
    context (submit to done), fences as instant events on their context, and each finding as
    an instant event on its object's track. Times are the capture's, in microseconds; captures
    without timestamps (logs) use line numbers."""
    states = res.replayed.states
    ops = res.replayed.ops
    times = ops.select(
        "source",
        "seq",
        pl.when(pl.col("ts").is_not_null())
        .then(pl.col("ts") / 1000.0)
        .otherwise(pl.col("line").cast(pl.Float64))
        .alias("_us"),
    ).unique(["source", "seq"])
    multi = len(res.files) > 1
    events: list[dict[str, Any]] = []
    meta = [
        _meta("process_name", _OBJECTS_PID, 0, "buffer objects"),
        _meta("process_name", _JOBS_PID, 0, "GPU jobs"),
        _meta("process_name", _FENCES_PID, 0, "dma-fences"),
    ]
    objs = (
        states.filter(pl.col("object").is_not_null())
        .join(times, on=["source", "seq"], how="left", maintain_order="left")
        .sort("source", "object", "generation", "seq")
    )
    tids: dict[tuple[str, int, int], int] = {}
    for r in objs.iter_rows(named=True):
        key = (r["source"], r["object"], r["generation"])
        if key not in tids:
            tids[key] = len(tids) + 1
            label = f"obj {r['object']:#x} gen {r['generation']}"
            if multi:
                label = f"{r['source']}: {label}"
            meta.append(_meta("thread_name", _OBJECTS_PID, tids[key], label))
        name = f"obj {r['object']:#x} gen {r['generation']}" + (
            f" ({r['source']})" if multi else ""
        )
        events.append(
            {
                "name": name,
                "ph": "C",
                "ts": r["_us"],
                "pid": _OBJECTS_PID,
                "tid": tids[key],
                "args": {c: r[c] or 0 for c in COUNTERS},
            }
        )
    # jobs: from their first submit to their done, one track per fence context
    jobs = (
        ops.filter(pl.col("op").is_in(["job_submit", "job_done"]) & pl.col("job").is_not_null())
        .join(times, on=["source", "seq"], how="left", maintain_order="left")
        .group_by("source", "job")
        .agg(
            start=pl.col("_us").filter(pl.col("op") == "job_submit").min(),
            end=pl.col("_us").filter(pl.col("op") == "job_done").max(),
            objects=pl.col("object").filter(pl.col("object").is_not_null()).unique().sort(),
            comm=pl.col("comm").filter(pl.col("op") == "job_submit").first(),
        )
        .filter(pl.col("start").is_not_null())
        .sort("source", "start", "job")
    )
    rings: dict[tuple[str, str], int] = {}
    for r in jobs.iter_rows(named=True):
        ring = r["job"].split(":")[0] if ":" in r["job"] else "jobs"
        if (r["source"], ring) not in rings:
            rings[(r["source"], ring)] = len(rings) + 1
            label = f"fence context {ring}" if ring != "jobs" else "jobs"
            meta.append(
                _meta("thread_name", _JOBS_PID, rings[(r["source"], ring)], _src(r, label, multi))
            )
        end = r["end"] if r["end"] is not None and r["end"] >= r["start"] else None
        events.append(
            {
                "name": f"job {r['job']}",
                "ph": "X",
                "ts": r["start"],
                "dur": (end - r["start"]) if end is not None else 0.0,
                "pid": _JOBS_PID,
                "tid": rings[(r["source"], ring)],
                "args": {
                    "submitted by": r["comm"],
                    "objects": [f"{o:#x}" for o in r["objects"]],
                    "done": end is not None,
                },
            }
        )
    fences = (
        ops.filter(
            pl.col("op").is_in(["fence_init", "fence_signal"])
            & pl.col("fence_context").is_not_null()
        )
        .join(times, on=["source", "seq"], how="left", maintain_order="left")
        .sort("source", "seq")
    )
    ctx_tids: dict[tuple[str, int], int] = {}
    for r in fences.iter_rows(named=True):
        key2 = (r["source"], r["fence_context"])
        if key2 not in ctx_tids:
            ctx_tids[key2] = len(ctx_tids) + 1
            meta.append(
                _meta(
                    "thread_name",
                    _FENCES_PID,
                    ctx_tids[key2],
                    _src(r, f"context {r['fence_context']}", multi),
                )
            )
        events.append(
            {
                "name": f"{r['op'].removeprefix('fence_')} {r['fence_context']}:{r['fence_seqno']}",
                "ph": "i",
                "s": "t",
                "ts": r["_us"],
                "pid": _FENCES_PID,
                "tid": ctx_tids[key2],
            }
        )
    # findings: instant events on the object's track
    found = res.findings.join(times, on=["source", "seq"], how="left", maintain_order="left")
    for f, r in zip(res.finding_dicts(), found.iter_rows(named=True), strict=True):
        key = (r["source"], r["object"], r["generation"])
        events.append(
            {
                "name": f"{f['rule']} {f['name']}",
                "ph": "i",
                "s": "t" if key in tids else "g",
                "ts": r["_us"],
                "pid": _OBJECTS_PID,
                "tid": tids.get(key, 0),
                "args": {
                    "verdict": f["verdict"],
                    "message": f["message"],
                    "line": f["line"],
                    "file": f["file"],
                },
            }
        )
    events.sort(key=lambda e: (e["ts"], e["pid"], e["tid"]))
    return {"traceEvents": meta + events, "displayTimeUnit": "ns"}


def _meta(kind: str, pid: int, tid: int, name: str) -> dict[str, Any]:
    return {"name": kind, "ph": "M", "pid": pid, "tid": tid, "args": {"name": name}}


def _src(r: dict[str, Any], label: str, multi: bool) -> str:
    return f"{r['source']}: {label}" if multi else label
