"""Rules: data files in ``rules/`` whose conditions run over the replay states.

A rule is one TOML file (``rules/TK003-mapped-at-free.toml``)::

    id = "TK003"
    name = "mapped-at-free"
    severity = "error"              # error | warning
    at = "op"                       # op: every state row | end: each object's last row
    condition = 'op == "free" and (kmaps > 0 or vmaps > 0)'
    message = "freed with {kmaps} kmap(s) and {vmaps} vmap(s) still live"
    inconclusive = '...'            # optional: where the capture cannot settle a hit

    [doc]                           # what / why / kernel / fix, shown by `tracekit rules explain`
    [examples]                      # violating and clean traces, `# expect: TK003` above the event

Conditions are parsed by ``grammars/condition.lark`` and compiled to polars expressions
(:mod:`tracekit.condition`); messages fill ``{column}`` placeholders from the offending row and
nothing else. Nothing in a rule file is ever evaluated as code.

Besides the STATES columns a condition can use the object's previous row: ``was_alive`` (null for
an object's first row) and ``prev_vaddr``; ``ref_jobs``, the jobs not yet done that hold a
reference on the object (``jobs`` less fences that only sit in its reservation object, owner
``resv``, as vgem's); ``failed_ret``/``failed_line``, the error return of the syscall an op
took something in without undoing it, and ``failed_lost``, whether events were lost between the
two (:func:`_failed_calls`); ``task_pinned`` and
``partial_kept`` (:func:`_userptr`); and in ``at = "end"`` rules ``db_owner_alive`` (the dma-buf
the object was exported as is still alive), ``had_handle`` (the object ever had a handle, so it
left the call that created it), ``fb_refs`` (references framebuffers hold on it) and
``task_went_on`` (the task of the object's last op did something after it: that op's call was
not cut off by the end of the capture). Only the derived columns the loaded rules read are
computed.

A rule flags the first offending row of each object generation (or of each dma-buf, for rows
that touch no object). The verdict is the rule's severity, or ``inconclusive`` when the counts it
rests on are not known: the object was first seen mid-life (``start_known`` false) or events were
lost while it was alive or a framebuffer destroy that names nothing may have put it
(``uncertain``), or the dma-buf the row touches was exported before the
capture began; or when the rule's own ``inconclusive`` condition holds on the row (what the
capture cannot tell, such as a release the end of the capture cut short).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracekit.condition import columns_of, compile_condition
from tracekit.errors import GrammarError
from tracekit.model.engine import single_source
from tracekit.normalize.core import LOSS_START
from tracekit.normalize.dialects import TRACED_SYSCALL
from tracekit.resources import data_dir
from tracekit.schema import STATES

SEVERITIES = ("error", "warning")
VERDICTS = ("error", "warning", "inconclusive")
DOC_HEADINGS = {
    "detects": "What it detects",
    "why": "Why it matters",
    "kernel": "Kernel reference",
    "fix": "How to fix",
}
DERIVED = (
    "was_alive",
    "prev_vaddr",
    "ref_jobs",
    "failed_ret",
    "failed_line",
    "failed_lost",
    "task_pinned",
    "partial_kept",
    "db_owner_alive",
    "had_handle",
    "fb_refs",
    "task_went_on",
)
UNDO = {
    "get": "put",
    "handle_create": "handle_release",
    "pin": "unpin",
    "kmap": "kunmap",
    "vmap": "vunmap",
    "get_pages": "put_pages",
    "gpu_map": "gpu_unmap",
}
"""What a task must do to undo what it took, on the same object, before a failing syscall
returns (``failed_ret``)."""
_ID = re.compile(r"^TK\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")

FINDINGS: dict[str, pl.DataType] = {
    "rule": pl.String(),
    "name": pl.String(),
    "severity": pl.String(),
    "verdict": pl.String(),
    "source": pl.String(),
    "line": pl.Int64(),
    "seq": pl.Int64(),
    "op": pl.String(),
    "object": pl.UInt64(),
    "generation": pl.Int32(),
    "dmabuf": pl.UInt64(),
    "message": pl.String(),
}
"""One row per finding, ordered by source, line, rule."""


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    at: str
    condition: str
    message: str
    doc: dict[str, str]
    examples: dict[str, str]
    path: Path
    inconclusive: str | None = None

    @property
    def expr(self) -> pl.Expr:
        return compile_condition(self.condition)

    @property
    def unsettled(self) -> pl.Expr:
        """Where a hit is inconclusive by the rule's own ``inconclusive`` condition."""
        if self.inconclusive is None:
            return pl.lit(False)
        return compile_condition(self.inconclusive).fill_null(False)

    @property
    def columns(self) -> set[str]:
        """The columns the rule reads: its conditions' and its message's."""
        used = columns_of(self.condition) | set(_PLACEHOLDER.findall(self.message))
        return used | (columns_of(self.inconclusive) if self.inconclusive is not None else set())


def _fail(path: Path, why: str) -> GrammarError:
    return GrammarError(f"{path}: {why}")


def load_rule(path: Path) -> Rule:
    """Read and validate one rule file; :class:`GrammarError` says what is wrong with it."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _fail(path, f"cannot read rule: {exc}") from None
    for key in ("id", "name", "severity", "condition", "message", "doc"):
        if key not in data:
            raise _fail(path, f"missing key {key!r}")
    if not _ID.match(str(data["id"])):
        raise _fail(path, f"id {data['id']!r} is not TKnnn")
    if not _NAME.match(str(data["name"])):
        raise _fail(path, f"name {data['name']!r} is not kebab-case")
    if data["severity"] not in SEVERITIES:
        raise _fail(path, f"severity must be one of {', '.join(SEVERITIES)}")
    at = data.get("at", "op")
    if at not in ("op", "end"):
        raise _fail(path, "at must be op or end")
    known = set(STATES) | set(DERIVED)
    inconclusive = data.get("inconclusive")
    if inconclusive is not None and not isinstance(inconclusive, str):
        raise _fail(path, "inconclusive must be a condition (a string)")
    conditions = {"condition": str(data["condition"])}
    if inconclusive is not None:
        conditions["inconclusive"] = inconclusive
    for key, text in conditions.items():
        try:
            unknown = columns_of(text) - known
        except GrammarError as exc:
            raise _fail(path, f"{key}: {exc}") from None
        if unknown:
            raise _fail(path, f"{key} uses unknown column(s) {', '.join(sorted(unknown))}")
    bad = set(_PLACEHOLDER.findall(data["message"])) - known
    if bad:
        raise _fail(path, f"message uses unknown column(s) {', '.join(sorted(bad))}")
    doc = data["doc"]
    missing = [k for k in DOC_HEADINGS if not str(doc.get(k, "")).strip()]
    if missing:
        raise _fail(path, f"doc is missing {', '.join(missing)}")
    examples = data.get("examples", {})
    return Rule(
        id=data["id"],
        name=data["name"],
        severity=data["severity"],
        at=at,
        condition=data["condition"],
        message=data["message"],
        doc={k: str(doc[k]).strip() for k in DOC_HEADINGS},
        examples={k: str(v) for k, v in examples.items()},
        path=path,
        inconclusive=inconclusive,
    )


def load_rules(dirs: list[str] | None = None) -> list[Rule]:
    """The shipped rules plus every ``*.toml`` in ``dirs``, ordered by id; ids must be unique."""
    paths = sorted(data_dir("rules").glob("*.toml"))
    for d in dirs or []:
        p = Path(d)
        if not p.is_dir():
            raise GrammarError(f"{d}: not a rules directory")
        paths += sorted(p.glob("*.toml"))
    rules: dict[str, Rule] = {}
    for path in paths:
        rule = load_rule(path)
        if rule.id in rules:
            raise _fail(path, f"id {rule.id} already used by {rules[rule.id].path}")
        rules[rule.id] = rule
    return [rules[k] for k in sorted(rules)]


_KEY = ["source", "object", "generation"]
_ROW = ["source", "seq", "object", "generation", "op"]
"""What names an op's own STATES row on an object (one event can be several ops on one)."""


def _ref_jobs(states: pl.DataFrame) -> pl.Series:
    """Per object row: jobs submitted with a reference on it (owner not ``resv``) not yet done."""
    jobs = states.filter(
        pl.col("object").is_not_null(),
        pl.col("job").is_not_null(),
        pl.col("op").is_in(["job_submit", "job_done"]),
    )
    submitted = (
        jobs.filter(pl.col("op") == "job_submit", pl.col("owner").fill_null("") != "resv")
        .group_by(*_KEY, "job")
        .agg(pl.col("seq").min().alias("start"))
    )
    done = (
        jobs.filter(pl.col("op") == "job_done")
        .group_by(*_KEY, "job")
        .agg(pl.col("seq").max().alias("end"))
    )
    spans = submitted.join(done, on=[*_KEY, "job"], how="left", maintain_order="left")
    deltas = pl.concat(
        [
            spans.select(*_KEY, pl.col("start").alias("seq"), pl.lit(1).alias("d")),
            spans.filter(pl.col("end") > pl.col("start")).select(
                *_KEY, pl.col("end").alias("seq"), pl.lit(-1).alias("d")
            ),
        ]
    )
    running = (
        deltas.group_by(*_KEY, "seq")
        .agg(pl.col("d").sum())
        .sort("seq")
        .with_columns(ref_jobs=pl.col("d").cum_sum().over(_KEY))
        .drop("d")
    )
    # the key columns alone: in replay order, so in seq order within each object
    keyed = states.select(*_KEY, "seq").join_asof(
        running, on="seq", by=_KEY, strategy="backward", check_sortedness=False
    )
    return keyed.select(
        ref_jobs=pl.when(pl.col("object").is_not_null()).then(pl.col("ref_jobs").fill_null(0))
    ).to_series()


def _failed_calls(states: pl.DataFrame, exits: pl.DataFrame) -> pl.DataFrame:
    """``failed_ret``/``failed_line``, by :data:`_ROW`, for each op that took something
    (:data:`UNDO`; not a borrowed lookup, which the model releases at the task's return) inside
    a syscall that then returned an error, when the same task did not undo it on the same object
    before the return. Ioctls are all or nothing: an error return must leave nothing behind.
    ``failed_lost``: events were lost (or the clock went back) between the take and the return,
    so the undo may be among them."""
    own = states.filter(~pl.col("implicit"), pl.col("object").is_not_null())
    takes = own.filter(
        pl.col("op").is_in(list(UNDO)),
        ~((pl.col("op") == "get") & pl.col("owner").fill_null("").is_in(["call"])),
    ).select("source", "pid", *_KEY[1:], "seq", "op")
    exits = exits.rename({"_xline": "failed_line", "_xret": "failed_ret"})
    if takes.height == 0 or exits.height == 0:
        return _none(
            states, failed_ret=pl.Int64(), failed_line=pl.Int64(), failed_lost=pl.Boolean()
        )
    in_failed = (
        _in_syscall(_until_return(takes, exits), states)
        .filter(pl.col("failed_ret") < 0)
        .with_columns(_undo=pl.col("op").replace_strict(UNDO, return_dtype=pl.String))
    )
    undos = own.filter(pl.col("op").is_in(list(UNDO.values()))).select(
        "source",
        "pid",
        *_KEY[1:],
        pl.col("seq").alias("_useq"),
        pl.col("op").cast(pl.String).alias("_undo"),
    )
    window = ["source", "pid", *_KEY[1:], "_xseq", "_undo"]
    undone = (
        in_failed.select(*window, "seq")
        .join(undos, on=["source", "pid", *_KEY[1:], "_undo"], maintain_order="left")
        .filter((pl.col("_useq") > pl.col("seq")) & (pl.col("_useq") < pl.col("_xseq")))
        .unique(subset=[*window, "_useq"])
        .group_by(window)
        .len("_undone")
    )
    return (
        in_failed.join(undone, on=window, how="left", maintain_order="left")
        .with_columns(
            _rank=pl.col("seq").rank("ordinal").over(window),
            _undone=pl.col("_undone").fill_null(0),
        )
        # the earliest takes are the ones undone (counts, not identities, are known)
        .filter(pl.col("_rank") > pl.col("_undone"))
        .pipe(_last_loss, states, "_xseq")
        .with_columns(failed_lost=(pl.col("_loss") > pl.col("seq")).fill_null(False))
        .select(*_ROW, "failed_ret", "failed_line", "failed_lost")
    )


def _in_syscall(rows: pl.DataFrame, states: pl.DataFrame) -> pl.DataFrame:
    """The ``rows`` (each with its task's next syscall exit, ``_xseq``) made inside the syscall
    that exit ends: after the syscall's entry. One made before it, after the task's previous
    exit, was made in a syscall the capture does not trace (a fork copying the vmas of a
    mapping, say). Entries are the syscall tracepoints' (a ``tracing_mark_write`` is a write
    whose exit is not traced, an ioctl handler's entry comes after its syscall's). Where the
    capture shows no entry before the exit, it began in the syscall."""
    entries = states.filter(
        TRACED_SYSCALL, pl.col("op") != "syscall_exit", ~pl.col("implicit")
    ).select("source", "pid", pl.col("seq").alias("_entry"))
    entered = (
        rows.select("source", "pid", "_xseq")
        .unique()
        .sort("_xseq")
        .join_asof(
            entries.sort("_entry"),
            left_on="_xseq",
            right_on="_entry",
            by=["source", "pid"],
            strategy="backward",
            check_sortedness=False,
        )
    )
    return (
        rows.join(entered, on=["source", "pid", "_xseq"], how="left", maintain_order="left")
        .filter(pl.col("_entry").is_null() | (pl.col("_entry") < pl.col("seq")))
        .drop("_entry")
    )


def _last_loss(frame: pl.DataFrame, states: pl.DataFrame, at: str) -> pl.DataFrame:
    """``frame`` (in its order) with ``_loss``: the seq of the last ``lost_events`` op (events
    lost, the clock went back) of its source at or before its column ``at``, if any; and
    ``_opens``, whether that op opens a CPU's loss span
    (:data:`~tracekit.normalize.core.LOSS_START`), whose marker is still to come."""
    losses = (
        states.filter(pl.col("op") == "lost_events")
        .select("source", pl.col("seq").alias("_loss"), _opens=pl.col("func") == LOSS_START)
        .unique(["source", "_loss"], keep="first", maintain_order=True)
        .sort("_loss")
    )
    return (
        frame.with_row_index("_order")
        .sort(at)
        .join_asof(
            losses,
            left_on=at,
            right_on="_loss",
            by="source",
            strategy="backward",
            check_sortedness=False,
        )
        .sort("_order")
        .drop("_order")
    )


def _userptr(states: pl.DataFrame, exits: pl.DataFrame) -> pl.DataFrame:
    """For userptr pin and unpin rows, by :data:`_ROW`: ``task_pinned``, the user pages the
    process that pinned the object holds pinned for all its userptr objects after the op (what
    RLIMIT_MEMLOCK bounds); and on a pin that came up short (``count < size``),
    ``partial_kept``, the pages the object still holds when the task's syscall returns, if that
    is fewer than the first pin of the syscall asked for and more than none (a partial pin
    neither completed nor unwound)."""
    up = states.filter(
        ~pl.col("implicit"),
        pl.col("object").is_not_null(),
        pl.col("op").is_in(["userptr_pin", "userptr_unpin"]),
    ).select("source", "seq", "pid", *_KEY[1:], "op", "count", "size")
    if up.height == 0:
        return _none(states, task_pinned=pl.Int64(), partial_kept=pl.Int64())
    pin = pl.col("op") == "userptr_pin"
    pinner = (
        up.filter(pin)
        .sort("seq")
        .group_by(_KEY, maintain_order=True)
        .agg(pl.col("pid").first().alias("_pinner"))
    )
    running = (
        up.join(pinner, on=_KEY, how="left", maintain_order="left")
        .with_columns(
            _pinner=pl.col("_pinner").fill_null(pl.col("pid")),
            _d=pl.when(pin).then(pl.col("count")).otherwise(-pl.col("count")).fill_null(0),
        )
        .sort("seq")
        .with_columns(task_pinned=pl.col("_d").cum_sum().over(["source", "_pinner"]))
    )
    windows = _until_return(running, exits.select("source", "pid", "_xseq"))
    win = ["source", "pid", *_KEY[1:], "_xseq"]
    kept = (
        windows.filter(pl.col("_xseq").is_not_null())
        .group_by(win)
        .agg(
            _asked=pl.col("size").filter(pin).sort_by(pl.col("seq").filter(pin)).first(),
            _kept=pl.col("_d").sum(),
            _short=pl.col("seq").filter(pin & (pl.col("count") < pl.col("size"))).min(),
        )
        .filter(
            pl.col("_short").is_not_null()
            & (pl.col("_kept") > 0)
            & (pl.col("_kept") < pl.col("_asked"))
        )
        .select(
            "source",
            pl.col("_short").alias("seq"),
            *_KEY[1:],
            pl.lit("userptr_pin").cast(up.schema["op"]).alias("op"),
            pl.col("_kept").alias("partial_kept"),
        )
    )
    return running.select(*_ROW, "task_pinned").join(
        kept, on=_ROW, how="left", maintain_order="left"
    )


def _syscall_exits(states: pl.DataFrame) -> pl.DataFrame:
    """Every task's syscall returns: ``_xseq``, ``_xline``, ``_xret``, in replay order."""
    return (
        states.filter(pl.col("op") == "syscall_exit", ~pl.col("implicit"))
        .select(
            "source",
            "pid",
            pl.col("seq").alias("_xseq"),
            pl.col("line").alias("_xline"),
            pl.col("ret").alias("_xret"),
        )
        .sort("_xseq")
    )


def _until_return(rows: pl.DataFrame, exits: pl.DataFrame) -> pl.DataFrame:
    """Each row with the task's next syscall exit after it (``_xseq`` and the exit's columns)."""
    return rows.sort("seq").join_asof(
        exits,
        left_on="seq",
        right_on="_xseq",
        by=["source", "pid"],
        strategy="forward",
        check_sortedness=False,
    )


def _with_derived(states: pl.DataFrame, needed: Collection[str] = DERIVED) -> pl.DataFrame:
    """STATES, in replay order, with the :data:`DERIVED` columns in ``needed`` on every row.

    Each derived column is computed from the few columns it needs and added to the table as
    it is: at 10M rows, a join or a sort of the whole table moves gigabytes, and an
    object's previous row (``was_alive``, ``prev_vaddr``) costs a second a column."""
    needed = set(needed)
    states = _in_replay_order(states)
    exits = _syscall_exits(states)
    derived = _none(states)
    if needed & {"failed_ret", "failed_line", "failed_lost"}:
        derived = _failed_calls(states, exits)
    if needed & {"task_pinned", "partial_kept"}:
        derived = derived.join(_userptr(states, exits), on=_ROW, how="full", coalesce=True)
    keyed = states.select(*_ROW, "implicit")
    if derived.height:
        # at most one row per op (an event can make two identical ops; they share the values)
        derived = derived.unique(_ROW, keep="first", maintain_order=True)
        keyed = keyed.join(
            derived.with_columns(implicit=pl.lit(False)),
            on=[*_ROW, "implicit"],
            how="left",
            maintain_order="left",
        )
    else:
        keyed = keyed.with_columns(
            pl.lit(None, c.dtype).alias(c.name) for c in derived if c.name not in _ROW
        )
    columns: list[pl.Series | pl.Expr] = [keyed[c] for c in derived.columns if c not in _ROW]
    if "ref_jobs" in needed:
        columns.append(_ref_jobs(states))
    # rows in replay order: an object's previous row is the one before it in the table
    previous = {"was_alive": "alive", "prev_vaddr": "vaddr"}
    columns += [pl.col(c).shift(1).over(_KEY).alias(n) for n, c in previous.items() if n in needed]
    return states.with_columns(columns)


def _in_replay_order(states: pl.DataFrame) -> pl.DataFrame:
    """``states`` by source, then seq, rows of one seq in the order replay wrote them. Replay
    leaves them so; for one capture, a scan says so and the sort is skipped."""
    if states["seq"].is_sorted() and single_source(states["source"]):
        return states
    return states.sort("source", "seq", maintain_order=True)


def _none(states: pl.DataFrame, **columns: pl.DataType) -> pl.DataFrame:
    """No derived values: an empty frame of :data:`_ROW` and ``columns``."""
    return pl.DataFrame(schema={**{c: states.schema[c] for c in _ROW}, **columns})


def _end_rows(states: pl.DataFrame, needed: Collection[str] = DERIVED) -> pl.DataFrame:
    """Each object generation's last row, with whether the dma-buf it was exported as lives on
    and (if ``needed``) whether the task of that row did anything after it."""
    fb = pl.col("owner").fill_null("") == "fb"
    # aggregated over the few columns needed; then the last rows, and only they, gathered
    per = (
        states.select(*_KEY, "handles", "op", "owner")
        .with_row_index("_r")
        .filter(pl.col("object").is_not_null())
        .group_by(_KEY)
        .agg(
            pl.col("_r").last(),  # rows are in replay order, and so is each group
            had_handle=(pl.col("handles") > 0).any(),
            fb_refs=((pl.col("op") == "get") & fb).sum().cast(pl.Int64)
            - ((pl.col("op") == "put") & fb).sum().cast(pl.Int64),
        )
        .sort("_r")  # the last rows in replay order
    )
    last = states[per["_r"]].with_columns(per["had_handle"], per["fb_refs"])
    exports = (
        states.filter(pl.col("op") == "dmabuf_export", pl.col("object").is_not_null())
        .group_by(_KEY)
        .agg(pl.col("dmabuf").last().alias("_export"))
    )
    db_end = (
        states.select("source", "dmabuf", "db_alive")
        .filter(pl.col("dmabuf").is_not_null())
        .group_by("source", "dmabuf")
        .agg(pl.col("db_alive").last().alias("db_owner_alive"))
    )
    end = (
        last.join(exports, on=_KEY, how="left", maintain_order="left")
        .join(
            db_end,
            left_on=["source", "_export"],
            right_on=["source", "dmabuf"],
            how="left",
            maintain_order="left",
        )
        .with_columns(pl.col("db_owner_alive").fill_null(False))
        .drop("_export")
    )
    if "task_went_on" in needed:
        # every op of a task is a row (syscall exits too): a later row is a later op; a row
        # with no task stays null (unknown)
        tasks = (
            states.select("source", "pid", "seq")
            .filter(pl.col("pid").is_not_null())
            .group_by("source", "pid")
            .agg(pl.col("seq").max().alias("_task_last"))
        )
        end = (
            end.join(tasks, on=["source", "pid"], how="left", maintain_order="left")
            .with_columns(task_went_on=pl.col("_task_last") > pl.col("seq"))
            .drop("_task_last")
        )
    return end


def _message(template: str, row: dict[str, Any]) -> str:
    def fill(m: re.Match[str]) -> str:
        v = row.get(m.group(1))
        if isinstance(v, int) and m.group(1) in (
            "object",
            "dmabuf",
            "vaddr",
            "prev_vaddr",
            "address",
            "mapped",
        ):
            return f"{v:#x}"
        return "-" if v is None else str(v)

    return _PLACEHOLDER.sub(fill, template)


def _dmabuf_uncertain(states: pl.DataFrame, hits: pl.DataFrame) -> pl.Series:
    """Per hit, whether events were lost (or the clock went back) while a dma-buf at the
    address it touches was alive: between the first export there and the hit. A dma-buf's
    references are held by fds, mappings and importers, any of which the lost span may have
    made or dropped, and the fds and mappings replay ties to the address may be an earlier
    dma-buf's whose close or release was lost (an object's ``uncertain`` says the same of the
    object)."""
    if not hits["dmabuf"].is_not_null().any():
        return pl.repeat(False, hits.height, dtype=pl.Boolean, eager=True)
    exports = (
        states.filter((pl.col("op") == "dmabuf_export") & pl.col("dmabuf").is_not_null())
        .group_by("source", "dmabuf")
        .agg(pl.col("seq").min().alias("_export"))
    )
    at = (
        hits.select("source", "seq", "dmabuf")
        .join(exports, on=["source", "dmabuf"], how="left", maintain_order="left")
        .pipe(_last_loss, states, "seq")
    )
    return at.select((pl.col("_loss") > pl.col("_export")).fill_null(False)).to_series()


def _in_loss_span(states: pl.DataFrame, hits: pl.DataFrame) -> pl.Series:
    """Per hit, whether it lies in a span where a CPU was losing events: after the op that opens
    it (:data:`~tracekit.normalize.core.LOSS_START`, right after that CPU's previous event) and
    before the marker. What the lost events did to any object then, one made in the span
    included, may come before the hit."""
    return (
        _last_loss(hits.select("source", "seq"), states, "seq")
        .select(pl.col("_opens").fill_null(False))
        .to_series()
    )


def evaluate(states: pl.DataFrame, rules: list[Rule]) -> pl.DataFrame:
    """Run ``rules`` over replay ``states``: the FINDINGS table."""
    needed = set().union(*(rule.columns for rule in rules))
    rows = _with_derived(states, needed)
    end = _end_rows(rows, needed) if any(rule.at == "end" for rule in rules) else rows.head(0)
    # every condition of a table in one select, which polars runs in parallel
    matches: dict[int, pl.Series] = {}
    for at, table in (("op", rows), ("end", end)):
        mine = [i for i, rule in enumerate(rules) if rule.at == at]
        if mine and table.height:
            # (with_columns, not select: a condition that is a constant is one per row too)
            found = table.with_columns(rules[i].expr.fill_null(False).alias(f"_{i}") for i in mine)
            matches.update({i: found[f"_{i}"] for i in mine})
    out: list[dict[str, Any]] = []
    for i, rule in enumerate(rules):
        table = end if rule.at == "end" else rows
        hits = table.filter(matches[i]) if i in matches else table.head(0)
        # one finding per object generation, or per dma-buf for rows that touch no object
        hits = (
            hits.sort("source", "seq", maintain_order=True)
            .with_columns(_db=pl.when(pl.col("object").is_null()).then(pl.col("dmabuf")))
            .unique(
                subset=["source", "object", "generation", "_db"], keep="first", maintain_order=True
            )
        )
        # counts not known for the object, or for the dma-buf the row touches, or what the
        # rule says the capture cannot settle: inconclusive
        hits = hits.with_columns(
            _inconclusive=(
                pl.col("object").is_not_null()
                & (~pl.col("start_known").fill_null(False) | pl.col("uncertain").fill_null(False))
            )
            | (pl.col("dmabuf").is_not_null() & ~pl.col("db_start_known").fill_null(False))
            | _dmabuf_uncertain(states, hits)
            | _in_loss_span(states, hits)
            | rule.unsettled
        )
        for row in hits.iter_rows(named=True):
            out.append(
                {
                    "rule": rule.id,
                    "name": rule.name,
                    "severity": rule.severity,
                    "verdict": "inconclusive" if row["_inconclusive"] else rule.severity,
                    "source": row["source"],
                    "line": row["line"],
                    "seq": row["seq"],
                    "op": row["op"],
                    "object": row["object"],
                    "generation": row["generation"],
                    "dmabuf": row["dmabuf"],
                    "message": _message(rule.message, row),
                }
            )
    if not out:
        return pl.DataFrame(schema=FINDINGS)
    return pl.from_dicts(out, schema=FINDINGS).sort(
        "source", "line", "rule", "object", nulls_last=True
    )


_EXPECT = re.compile(r"^\s*#\s*expect:\s*(.*)$")


def expected_findings(text: str) -> set[tuple[str, int]]:
    """``(rule id, line)`` for every ``# expect: TKnnn ...`` annotation: the next event line."""
    out: set[tuple[str, int]] = set()
    pending: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        m = _EXPECT.match(line)
        if m:
            pending += m.group(1).split()
        elif line.strip() and not line.lstrip().startswith("#"):
            out |= {(rule_id, number) for rule_id in pending}
            pending = []
    return out


def example_problems(rule: Rule, rules: list[Rule]) -> list[str]:
    """Run ``rule``'s examples through the whole pipeline with every rule in ``rules``.

    The violating example must give exactly the annotated findings (``# expect:``), the clean
    one none at all. Returns what is wrong, empty when the examples hold.
    """
    import tempfile

    from tracekit.replay import replay_paths

    problems = []
    for kind in ("violating", "clean"):
        text = rule.examples.get(kind)
        if not text:
            problems.append(f"{rule.id}: no {kind} example")
            continue
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{rule.id}-{kind}.txt"
            path.write_text(text, encoding="utf-8")
            rep = replay_paths([str(path)])
            findings = evaluate(rep.states, rules)
        got = set(zip(findings["rule"].to_list(), findings["line"].to_list(), strict=True))
        want = expected_findings(text) if kind == "violating" else set()
        if kind == "violating" and not any(r == rule.id for r, _ in want):
            problems.append(f"{rule.id}: violating example has no '# expect: {rule.id}'")
        if rep.parsed.summary.rejected:
            problems.append(
                f"{rule.id}: {kind} example has {rep.parsed.summary.rejected} rejected line(s)"
            )
        for r, line in sorted(want - got):
            problems.append(f"{rule.id}: {kind} example line {line}: expected {r}, not found")
        for r, line in sorted(got - want):
            problems.append(f"{rule.id}: {kind} example line {line}: unexpected {r}")
    return problems
