"""Normalize: RAW_EVENTS in, canonical OPS out, driven by the profiles.

1. Order: events are put in replay order per source: timestamp, then CPU, then line (a capture
   merges per-CPU ring buffers; lines without a time keep their neighbours' place, and a capture
   its printer already merged keeps its line order on a tie).
2. Calls: kprobe entries and kretprobe returns of one task are paired (a return closes the latest
   open entry of its function), so a return probe can read its entry's arguments
   (``entry.KEY``) and the events inside the call (``inner.FUNC.KEY``), and every op knows the
   call it happened in (:func:`~tracekit.normalize.calls.pair_calls`; compiled for large
   captures).
3. Match: each event is matched to profile rules by probed function (kprobes; for trace-cmd/perf
   output, whose probe locations are raw addresses, by event name with ``_ret``/``__exit`` for
   returns) or event name (tracepoints). Fields are read from the payload, pointers in every
   spelling (``0x...``, bare hex, hashed ``%p``) become integers, ``when`` conditions filter.
4. Tidy: an operation seen at two probed levels (``nest``) counts once; consecutive creates and
   frees of one object are one create and one free; ``confirm`` effects whose return failed are
   dropped; every object gets its generation (the creates seen at its address so far: 0 means it
   was already alive when the capture started; an address used again after its free with events
   lost in between starts one too, whose create may be among them); jobs are linked to the
   fences that finish them.
5. Dialects: what a kernel does without an event, inferred from what the capture shows
   (:mod:`tracekit.normalize.dialects`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import polars as pl

from tracekit.condition import columns_of, compile_condition
from tracekit.normalize import dialects
from tracekit.normalize.calls import (
    CLOCK_JUMP,
    caller_func,
    func_and_at,
    order_events,
    pair_calls,
)
from tracekit.normalize.profiles import EventRule, Profile, load_profiles
from tracekit.schema import COUNTERS, OP_CONTEXT_COLUMNS, OPS, conform

POINTER_COLUMNS = ("object", "file", "address", "mapped", "dmabuf", "attachment", "vma", "fb", "cb")
INT_COLUMNS = (
    "handle",
    "size",
    "count",
    "open_flags",
    "ret",
    "fence_context",
    "fence_seqno",
    *COUNTERS,
)
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)  # an event table, eager or as a query


@dataclass(frozen=True)
class Normalized:
    """OPS plus what no profile knew (event name -> count), for ``tracekit ops --unknown``."""

    ops: pl.DataFrame
    unknown: pl.DataFrame


# ------------------------------------------------------------------------------------------------
# value parsing


def parse_pointer(expr: pl.Expr) -> pl.Expr:
    """``0x...``, bare hex and hashed ``%p`` (16 hex digits) as UInt64; ``(null)``/``(fault)`` null."""
    return (
        expr.str.strip_chars()
        .str.strip_prefix("0x")
        .str.to_integer(base=16, dtype=pl.UInt64, strict=False)
    )


def parse_int(expr: pl.Expr) -> pl.Expr:
    """Decimal or ``0x`` hex as Int64; 64-bit hex is read as two's complement (``ret=0xffff...f2``
    is -14)."""
    text = expr.str.strip_chars()
    is_hex = text.str.starts_with("0x") | text.str.starts_with("-0x")
    as_hex = text.str.strip_prefix("0x").str.to_integer(base=16, dtype=pl.UInt64, strict=False)
    signed_hex = (
        pl.when(as_hex >= (1 << 63))
        .then((as_hex.cast(pl.Int128) - (1 << 64)).cast(pl.Int64))
        .otherwise(as_hex.cast(pl.Int64))
    )
    return pl.when(is_hex).then(signed_hex).otherwise(text.str.to_integer(strict=False))


def _key_pattern(key: str) -> str:
    # "key=value" (tracepoints, probe arguments) or "key: value" (syscall tracepoints)
    return rf"(?:^|[\s,(]){re.escape(key)}(?:=|: )([^\s,)]+)"


# ------------------------------------------------------------------------------------------------
# matching


def _rules_table(
    profiles: Iterable[Profile],
) -> tuple[list[EventRule], pl.DataFrame, list[tuple[str, int]]]:
    rules: list[EventRule] = []
    keys: list[dict[str, Any]] = []
    prefixes: list[tuple[str, int]] = []
    for prof in profiles:
        for rule in prof.rules:
            rid = len(rules)
            rules.append(rule)
            if rule.prefix is not None:
                prefixes.append((rule.prefix, rid))
            for name in rule.names:
                keys.append(
                    {
                        "_kind": rule.kind,
                        "_name": name,
                        "_rat": rule.at if rule.kind == "kprobe" else None,
                        "_rule": rid,
                    }
                )
    table = pl.DataFrame(
        keys, schema={"_kind": pl.String, "_name": pl.String, "_rat": pl.String, "_rule": pl.Int64}
    )
    return rules, table, prefixes


def _match(ev: pl.DataFrame, table: pl.DataFrame, prefixes: list[tuple[str, int]]) -> pl.DataFrame:
    """One row per (event, rule) pair that matches."""
    kp = table.filter(pl.col("_kind") == "kprobe").drop("_kind")
    tp = table.filter(pl.col("_kind") == "tracepoint").drop("_kind", "_rat")
    by_probe = ev.filter(pl.col("_func").is_not_null()).join(
        kp, left_on=["_func", "_at"], right_on=["_name", "_rat"], how="inner", maintain_order="none"
    )
    tracepoints = ev.filter(pl.col("_func").is_null())
    by_event = tracepoints.join(
        tp, left_on="event", right_on="_name", how="inner", maintain_order="none"
    )
    parts = [by_probe, by_event]
    # a prefix rule is a fallback: events an exact name matched are not matched again
    if prefixes:
        unnamed = tracepoints.join(
            by_event.select("_row").unique(), on="_row", how="anti", maintain_order="left"
        )
        for prefix, rid in prefixes:
            hit = unnamed.filter(pl.col("event").str.starts_with(prefix))
            parts.append(hit.with_columns(_rule=pl.lit(rid, pl.Int64)))
    return pl.concat([p.select([*ev.columns, "_rule"]) for p in parts])


# ------------------------------------------------------------------------------------------------
# field extraction


def _spec_expr(spec: str, ev_cols: set[str]) -> pl.Expr:
    """A string expression for one value spec (payload key, entry.KEY, payload)."""
    if spec == "payload":
        return pl.col("payload")
    if spec.endswith(":hex"):
        value = _spec_expr(spec[:-4], ev_cols)
        return value.str.strip_prefix("0x").str.to_integer(base=16, strict=False).cast(pl.String)
    index = None
    m = re.match(r"^(.*)\[([01])\]$", spec)
    if m:
        spec, index = m.group(1), int(m.group(2))
    if spec.startswith("entry."):
        base = pl.col("_entry_payload").str.extract(_key_pattern(spec[6:]), 1)
    elif spec.startswith("outer."):
        base = pl.col("_outer_payload").str.extract(_key_pattern(spec[6:]), 1)
    elif spec.startswith("inner."):
        base = pl.col(_inner_col(spec))
    else:
        base = pl.col("payload").str.extract(_key_pattern(spec), 1)
    if index is not None:
        base = base.str.split(":").list.get(index, null_on_oob=True)
    return base


def _int_spec(spec: str, ev_cols: set[str]) -> pl.Expr:
    """An integer value spec; ``:fileref`` reads a file_ref_t as the count it holds."""
    if spec.endswith(":fileref"):
        raw = parse_int(_spec_expr(spec.removesuffix(":fileref"), ev_cols))
        # "return c + 1" below FILE_REF_RELEASED (0xc000...: negative as s64), else 0
        return pl.when(raw >= 0).then(raw + 1).when(raw.is_not_null()).then(0)
    return parse_int(_spec_expr(spec.removesuffix(":dec"), ev_cols))


def _inner_col(spec: str) -> str:
    return "_inner_" + re.sub(r"\W", "_", spec)


def _entry_payloads(
    matched: pl.DataFrame, ev: pl.DataFrame, rules: list[EventRule]
) -> pl.DataFrame:
    """Add ``_entry_payload``: the payload of the entry of each matched return (``entry.KEY``),
    gathered for the rows of the rules that read it."""
    users = [
        rid for rid, rule in enumerate(rules) if any(s.startswith("entry.") for s in rule.sources())
    ]
    need = matched.filter(pl.col("_rule").is_in(users) & pl.col("_entry").is_not_null())
    found = need.select("_mid", _entry_payload=ev["payload"].gather(need["_entry"]))
    return matched.with_columns(_at_rows(matched.height, found["_mid"], found["_entry_payload"]))


def _outer_payloads(
    matched: pl.DataFrame, ev: pl.DataFrame, rules: list[EventRule]
) -> pl.DataFrame:
    """Add ``_outer_payload``: the payload of the entry of the call each matched event's call was
    made from (``outer.KEY``), looked up for the rows of the rules that read it."""
    users = [
        rid for rid, rule in enumerate(rules) if any(s.startswith("outer.") for s in rule.sources())
    ]
    need = matched.filter(pl.col("_rule").is_in(users) & pl.col("_outer").is_not_null()).select(
        "_mid", "source", "_outer"
    )
    if need.height == 0:
        return matched.with_columns(_outer_payload=pl.lit(None, pl.String))
    payloads = (
        ev.select(
            "source", pl.col("line").alias("_outer"), pl.col("payload").alias("_outer_payload")
        )
        .join(
            need.select("source", "_outer").unique(),
            on=["source", "_outer"],
            how="semi",
            maintain_order="left",
        )
        .unique(subset=["source", "_outer"], keep="first", maintain_order=True)
    )
    found = need.join(payloads, on=["source", "_outer"], how="inner", maintain_order="none")
    return matched.with_columns(_at_rows(matched.height, found["_mid"], found["_outer_payload"]))


def _resolve_inner(
    matched: pl.DataFrame, ev: pl.DataFrame, specs: set[str], rules: list[EventRule]
) -> pl.DataFrame:
    """Fill ``inner.FUNC.KEY`` values: the first event of FUNC inside the call (same source and
    task, between the entry and this return) whose payload has KEY. Only the rows of rules that
    use the spec are looked up, with a forward as-of join from the call's entry."""
    for spec in sorted(specs):
        _, func, key = spec.split(".", 2)
        key = re.sub(r"\[[01]\]$", "", key)
        col = _inner_col(spec)
        users = [rid for rid, rule in enumerate(rules) if spec in rule.sources()]
        need = matched.filter(
            pl.col("_rule").is_in(users) & pl.col("_entry_seq").is_not_null()
        ).select("_mid", "source", "pid", "_entry_seq", "seq")
        cands = (
            ev.select("source", "pid", "seq", "payload", "_func", "event")
            .filter((pl.col("_func") == func) | (pl.col("event") == func))
            .select(
                "source",
                "pid",
                pl.col("seq").alias("_iseq"),
                pl.col("payload").str.extract(_key_pattern(key), 1).alias("_ival"),
            )
            .filter(pl.col("_ival").is_not_null())
        )
        found = (
            need.sort("_entry_seq")
            .join_asof(
                cands.sort("_iseq"),
                left_on="_entry_seq",
                right_on="_iseq",
                by=["source", "pid"],
                strategy="forward",
                check_sortedness=False,  # both sides sorted above; polars cannot check with by=
            )
            .filter(pl.col("_iseq") <= pl.col("seq"))
            .select("_mid", pl.col("_ival").alias(col))
        )
        matched = matched.with_columns(_at_rows(matched.height, found["_mid"], found[col]))
    return matched


def _at_rows(n: int, at: pl.Series, values: pl.Series) -> pl.Series:
    """A column of ``n`` rows: ``values`` at the row indices ``at``, null elsewhere (a lookup by
    row index, where a join would hash)."""
    return pl.repeat(None, n, dtype=values.dtype, eager=True).scatter(at, values).alias(values.name)


def _marked(n: int, rows: Iterable[pl.Series]) -> pl.Series:
    """A boolean column of ``n`` rows: true at the row indices in ``rows``."""
    mask = np.zeros(n, np.bool_)
    for at in rows:
        mask[at.to_numpy()] = True
    return pl.Series(mask)


def normalize(raw: pl.DataFrame, profiles: Iterable[Profile] | None = None) -> Normalized:
    """RAW_EVENTS to OPS (see the module doc for the steps)."""
    profs = tuple(profiles) if profiles is not None else load_profiles()
    rules, table, prefixes = _rules_table(profs)
    ev = order_events(raw)
    # ``_row`` is the event's row from here on: what rows name (a return's ``_entry``) is gathered
    ev = func_and_at(ev).with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    ev = pair_calls(ev)
    entry = pl.col("_entry")
    ev = ev.with_columns(
        _entry_seq=pl.col("seq").gather(entry),
        _entry_line=pl.col("line").gather(entry),
        # the call a call was made from: an entry's enclosing call, a return's entry's
        _outer=pl.when(pl.col("_at") == "return")
        .then(pl.col("_call").gather(entry))
        .otherwise(pl.col("_call")),
    )
    # (the payloads of a return's entry, for entry.KEY, and of its caller's, for outer.KEY, are
    # read after matching: only a few rules use them)
    # an entry learns its call site from its return probe: (caller+0x.. <- func)
    returns = ev.filter(entry.is_not_null()).select(
        "_entry", caller_func(pl.col("ret_caller")).alias("_ret_site")
    )
    ret_site = _at_rows(ev.height, returns["_entry"], returns["_ret_site"])
    ev = ev.with_columns(_site=pl.coalesce(caller_func(pl.col("ret_caller")), ret_site))

    matched = _match(ev, table, prefixes).with_row_index("_mid")
    matched = _outer_payloads(_entry_payloads(matched, ev, rules), ev, rules)
    # known: matched by a rule, or the other end (entry/return) of a probed function a rule knows
    known_funcs = table.filter(pl.col("_kind") == "kprobe")["_name"].unique().implode()
    by_func = pl.col("_func").is_in(known_funcs).fill_null(False)
    known = _marked(ev.height, [matched["_row"]]) | by_func
    unknown = (
        ev.filter(~known & ~pl.col("event").is_in(["lost_events", "buffer_started"]))
        .with_columns(_name=pl.coalesce(pl.col("_func"), pl.col("event")))
        .group_by("_name", "_at")
        .agg(pl.len().alias("count"), pl.col("line").min().alias("first_line"))
        .rename({"_name": "event", "_at": "probe"})
        .sort(["count", "event"], descending=[True, False])
    )

    inner_specs = {
        alt
        for r in rules
        for alts in (*r.fields.values(), *r.counters.values())
        for alt in alts
        if alt.startswith("inner.")
    }
    if inner_specs:
        matched = _resolve_inner(matched, ev, inner_specs, rules)

    by_rule = {key[0]: frame for key, frame in matched.partition_by("_rule", as_dict=True).items()}
    queries = [_rule_ops(by_rule[rid], rules[rid], rid) for rid in sorted(by_rule)]
    parts = [p for p in pl.collect_all([q for q in queries if q is not None]) if p.height]

    # every kretprobe that no rule consumed is still a call exit with its return code (a
    # return an "ignore" rule names is consumed: it leaves no row, as its entry does not)
    ignored = [
        frame["_row"]
        for rid, frame in by_rule.items()
        if rules[rid].op == "ignore" and rules[rid].at == "return"
    ]
    consumed = _marked(ev.height, [*(p["_row"] for p in parts), *ignored])
    exits = ev.filter((pl.col("_at") == "return") & ~consumed)
    if exits.height:
        ret = parse_int(pl.col("payload").str.extract(r"(?:^|\s)(?:ret|\$retval|arg1)=(\S+)", 1))
        parts.append(
            _base(exits, ret.alias("ret"), op=pl.lit("call_exit"), call=pl.col("_entry_line"))
        )
    # every DRM ioctl handler returns to drm_ioctl_kernel, and what it borrowed (its lookups, a
    # new object's creator reference) is put before it returns: a boundary for the task even in
    # captures without syscall tracepoints; ranked after whatever else its return event did
    ioctl_returns = ev.filter((pl.col("_at") == "return") & (pl.col("_site") == "drm_ioctl_kernel"))
    if ioctl_returns.height:
        parts.append(
            _base(
                ioctl_returns,
                op=pl.lit("ioctl_exit"),
                _rank=pl.lit(1 << 30, pl.Int64),
                call=pl.col("_entry_line"),
            )
        )
    # and entering a DRM ioctl handler (by convention *_ioctl) that is not inside another probed
    # call means the task's previous syscall returned; ranked before what its entry does
    ioctl_entries = ev.filter(
        (pl.col("_at") == "entry")
        & pl.col("_func").str.ends_with("_ioctl")
        & pl.col("_call").is_null()
    )
    if ioctl_entries.height:
        parts.append(
            _base(ioctl_entries).with_columns(op=pl.lit("ioctl_enter"), _rank=pl.lit(-1, pl.Int64))
        )
    # "CPU:N [LOST M EVENTS]", an overrun's "##### CPU N buffer started ####", a header that
    # counts more events written than the capture holds
    lost = ev.filter(pl.col("event").is_in(["lost_events", "buffer_started"]))
    if lost.height:
        parts.append(
            _base(lost, parse_int(pl.col("payload")).alias("count")).with_columns(
                op=pl.lit("lost_events")
            )
        )
        starts = _loss_starts(ev, lost)
        if starts.height:
            parts.append(
                _base(starts, pl.lit(None, pl.Int64).alias("count")).with_columns(
                    op=pl.lit("lost_events"), func=pl.lit(LOSS_START), _rank=pl.lit(-2, pl.Int64)
                )
            )
    # the clock went back (order_events): what came around the jump is in no known order, so
    # what was alive then may have changed unseen; before the jumping event's own ops
    jumps = ev.filter("_clock_jump")
    if jumps.height:
        parts.append(
            _base(jumps, pl.lit(None, pl.Int64).alias("count")).with_columns(
                op=pl.lit("lost_events"), func=pl.lit(CLOCK_JUMP), _rank=pl.lit(-2, pl.Int64)
            )
        )
    # the events and their matches are done with: free them before the ops are tidied (at 1M
    # events they hold about a gigabyte, and tidying needs as much again)
    del ev, matched, by_rule, exits, ioctl_returns, ioctl_entries, lost, jumps
    if not parts:
        return Normalized(conform(pl.DataFrame(), OPS), unknown)
    extra: dict[str, pl.DataType] = {
        "_row": pl.Int64(),
        "_nest": pl.Boolean(),
        "_confirm": pl.Boolean(),
        "_rank": pl.Int64(),
    }
    ops = pl.concat([conform(p, OPS | extra) for p in parts])
    del parts
    # by source and seq, as the events' rows are; then the rules' order within an event
    ops = ops.sort(["_row", "_rank"], nulls_last=True).with_row_index("_oid")
    ops = _tidy(ops.with_columns(pl.col("_oid").cast(pl.Int64)))
    ops = dialects.apply_all(conform(ops, OPS))
    return Normalized(conform(ops, OPS), unknown)


LOSS_START = "lost_events (since the CPU's previous event)"
"""``func`` of the ``lost_events`` op that opens a ``CPU:N [LOST M EVENTS]`` span: the marker is
printed before the CPU's next event, but the events were lost after its previous one, while
the other CPUs went on. This op, before the first event of any CPU after that one, makes what
was alive then uncertain from there; the marker's own op, what was made in between."""


def _loss_starts(ev: pl.DataFrame, lost: pl.DataFrame) -> pl.DataFrame:
    """For each ``CPU:N [LOST M EVENTS]`` marker, the event right after CPU N's previous one (in
    replay order), when it is not the marker itself: its place, with the marker's CPU and no
    task (what was lost is no task's)."""
    markers = lost.filter((pl.col("event") == "lost_events") & pl.col("cpu").is_not_null())
    if markers.height == 0:
        return ev.head(0)
    on_cpu = ev.filter(~pl.col("event").is_in(["lost_events", "buffer_started"])).select(
        "source", "cpu", pl.col("seq").alias("_prev")
    )
    prev = (
        markers.select("source", "cpu", "seq")
        .sort("seq")
        .join_asof(
            on_cpu.sort("_prev"),
            left_on="seq",
            right_on="_prev",
            by=["source", "cpu"],
            strategy="backward",
            check_sortedness=False,
        )
        # the first event after it (seqs number each source's events in replay order)
        .filter(pl.col("_prev").is_not_null() & (pl.col("_prev") + 1 < pl.col("seq")))
        .select("source", pl.col("_prev") + 1, pl.col("cpu").alias("_marker_cpu"))
        .rename({"_prev": "seq"})
        .unique(["source", "seq"], keep="first", maintain_order=True)
    )
    return (
        ev.join(prev, on=["source", "seq"], how="inner", maintain_order="left")
        .with_columns(
            cpu=pl.col("_marker_cpu").cast(ev.schema["cpu"]),
            **{c: pl.lit(None, ev.schema[c]) for c in ("pid", "tgid", "comm") if c in ev.schema},
        )
        .drop("_marker_cpu")
    )


def _base(df: Frame, *extra: pl.Expr, call: pl.Expr | None = None, **named: pl.Expr) -> Frame:
    """An event's columns every op of it has, then ``extra`` and ``named``; ``call``: the line
    of the call it happened in (by default the innermost open call's)."""
    return df.select(
        "_row",
        *OP_CONTEXT_COLUMNS,
        pl.coalesce(pl.col("_func"), pl.col("event")).alias("func"),
        pl.col("ret_caller").alias("caller"),
        (pl.col("_call") if call is None else call).alias("call"),
        *extra,
        **named,
    )


def _rule_ops(m: pl.DataFrame, rule: EventRule, rank: int) -> pl.LazyFrame | None:
    """The ops of one rule's matched events, as a query (the rules' queries run together)."""
    if m.height == 0 or rule.op == "ignore":  # known, no effect: counted as known, no op
        return None
    cols = set(m.columns)
    out = m.lazy()
    if rule.when:
        names = columns_of(rule.when)
        tmp = {}
        for name in names:
            flat = "_w_" + name.replace(".", "_")
            tmp[name] = flat
            if name == "caller":  # the function the call returned to (from the return probe)
                out = out.with_columns(pl.col("_site").alias(flat))
                continue
            raw = _spec_expr(name, cols)
            out = out.with_columns(
                pl.when(raw.str.contains(r"^(0x)?[0-9a-fA-F]{9,}$") | raw.str.starts_with("0x"))
                .then(parse_pointer(raw).cast(pl.Int128))
                # an address the kernel printed as a symbol is not 0
                .when(raw.str.contains(r"^[A-Za-z_.]"))
                .then(pl.lit(1, pl.Int128))
                .otherwise(raw.str.to_integer(strict=False).cast(pl.Int128))
                .alias(flat)
            )
        cond = compile_condition(rule.when, lambda n: pl.col(tmp[n]))
        out = out.filter(cond)
    values: dict[str, pl.Expr] = {}
    for col, alts in (*rule.fields.items(), *rule.counters.items()):
        text = pl.coalesce([_spec_expr(a.removesuffix(":dec"), cols) for a in alts])
        if col in POINTER_COLUMNS:
            # identities printed in decimal (a dma-buf's inode number) are read as such
            values[col] = pl.coalesce(
                [
                    _spec_expr(a.removesuffix(":dec"), cols).str.to_integer(
                        base=10, dtype=pl.UInt64, strict=False
                    )
                    if a.endswith(":dec")
                    else parse_pointer(_spec_expr(a, cols))
                    for a in alts
                ]
            )
        elif col in INT_COLUMNS:
            values[col] = pl.coalesce([_int_spec(a, cols) for a in alts])
        else:
            values[col] = text
    owner: pl.Expr = pl.lit(rule.owner, pl.String)
    if rule.owner_by_caller:
        caller = pl.col("_site")
        for func, who in rule.owner_by_caller.items():
            owner = pl.when(caller == func).then(pl.lit(who)).otherwise(owner)
    return _base(
        out,
        op=pl.lit(rule.op),
        owner=owner,
        profile=pl.lit(rule.profile),
        _nest=pl.lit(rule.nest),
        _confirm=pl.lit(rule.confirm),
        _rank=pl.lit(rank, pl.Int64),
        **values,
        # a return probe happened in its own call
        call=pl.col("_entry_line") if rule.at == "return" else pl.col("_call"),
    )


CALL_STARTS = ("syscall_enter", "ioctl_enter", "fd_close", "task_exit")
"""Ops that start a task's syscall (profiles/syscalls.toml; a DRM ioctl handler's entry)."""
CALL_BOUNDARIES = (*CALL_STARTS, "syscall_exit", "ioctl_exit")


def syscall_begun(rows: pl.DataFrame, ops: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (with ``source``, ``pid`` and ``seq``; returned in seq order) with ``_begun``:
    the seq at which the syscall each is in began, as ``ops`` show it (its task's last
    :data:`CALL_STARTS` op at or before it, or the fork that made the task, profiles/tasks.toml:
    nothing it did before is missing). Null where the capture shows none before it: for a task
    whose syscalls it shows (``_calls``), the syscall began before the capture; for one whose
    syscalls it does not show, nothing is known."""
    starts = ops.filter(pl.col("op").is_in(CALL_STARTS)).select(
        "source", "pid", pl.col("seq").alias("_begun")
    )
    born = (pl.col("op") == "call_enter") & (pl.col("func") == "wake_up_new_task")
    if "count" in ops.columns and ops.select(born.any()).item():
        starts = pl.concat(
            [
                starts,
                ops.filter(born & pl.col("count").is_not_null()).select(
                    "source",
                    pl.col("count").cast(starts.schema["pid"]).alias("pid"),
                    pl.col("seq").alias("_begun"),
                ),
            ]
        )
    tasks = (
        ops.filter(pl.col("op").is_in(CALL_BOUNDARIES) & pl.col("pid").is_not_null())
        .select("source", "pid")
        .unique()
        .with_columns(_calls=pl.lit(True))
    )
    return (
        rows.sort("seq")
        .join_asof(
            starts.sort("_begun"),
            left_on="seq",
            right_on="_begun",
            by=["source", "pid"],
            strategy="backward",
            check_sortedness=False,
        )
        .join(tasks, on=["source", "pid"], how="left", maintain_order="left")
        .with_columns(pl.col("_calls").fill_null(False))
    )


def _drop_creates_begun_unseen(ops: pl.DataFrame) -> pl.DataFrame:
    """Drop the creates of a syscall whose start the capture does not fully show: those of a
    task whose syscalls the capture shows, before the first one it shows start (the syscall
    began before the capture), or after events were lost since its syscall started. What the
    call did before them is not all in the capture (that the object is an import, say: a
    capture that starts inside PRIME_FD_TO_HANDLE shows drm_gem_private_object_init, not the
    import around it), so the object is first seen mid-life, with what it is still unknown."""
    creates = ops.filter(pl.col("op") == "create").select("_oid", "source", "pid", "seq")
    if creates.height == 0:
        return ops
    # lost, not a clock that went back: what came around a jump is all in the capture
    losses = ops.filter(
        (pl.col("op") == "lost_events") & pl.col("func").ne_missing(CLOCK_JUMP)
    ).select("source", pl.col("seq").alias("_loss"))
    unseen = (
        syscall_begun(creates, ops)
        .filter("_calls")
        .join_asof(
            losses.sort("_loss"),
            left_on="seq",
            right_on="_loss",
            by="source",
            strategy="backward",
            check_sortedness=False,
        )
        .filter(pl.col("_begun").is_null() | (pl.col("_loss") >= pl.col("_begun")).fill_null(False))
    )
    if unseen.height == 0:
        return ops
    return ops.filter(~pl.col("_oid").is_in(unseen["_oid"].implode()))


def _in_oid_order(ops: pl.DataFrame) -> pl.DataFrame:
    """``ops`` by source, seq and ``_oid``: the order ``_oid`` was numbered in (before any op
    is added), so a frame whose ``_oid`` is sorted is in it and need not be sorted again."""
    return ops if ops["_oid"].is_sorted() else ops.sort("_oid")


def _tidy(ops: pl.DataFrame) -> pl.DataFrame:
    """Merge nested/duplicate views of one operation, drop failed confirmations, number
    generations and link jobs to fences."""
    if ops.height == 0:
        return ops
    ops = _in_oid_order(ops)
    # confirm: an entry op whose call returned an error did not happen
    confirming = ops.select("_oid", "source", "pid", "line", "_confirm").filter(
        pl.col("_confirm").fill_null(False)
    )
    if confirming.height:
        rets = (
            ops.select("source", "pid", "op", pl.col("call").alias("_cline"), "ret")
            .filter(pl.col("op") == "call_exit")
            .unique(subset=["source", "pid", "_cline"], keep="first")
        )
        failed = confirming.join(
            rets,
            left_on=["source", "pid", "line"],
            right_on=["source", "pid", "_cline"],
            how="inner",
            maintain_order="none",
        ).filter(pl.col("ret") < 0)["_oid"]
        if failed.len():
            ops = ops.with_columns(
                op=pl.when(pl.col("_oid").is_in(failed.implode()))
                .then(pl.lit("call_enter"))
                .otherwise(pl.col("op"))
            )

    counters = list(COUNTERS)
    task = ["source", "pid"]
    # nest: the same operation seen at two probed levels by one task, back to back; compared
    # on the rows of nesting rules only, with the task's previous row gathered for them
    compared = ["op", "object", "dmabuf", "func", *counters]
    nest = (
        ops.select(*task, *compared, _nest=pl.col("_nest").fill_null(False))
        .with_row_index("_i")
        .with_columns(pl.col("_i").cast(pl.Int64))
        .with_columns(_prev=pl.col("_i").shift(1).over(task))
        .filter(pl.col("_nest") & pl.col("_prev").is_not_null())
        .drop("_nest", *task)
    )
    if nest.height:
        prev = ops.select(compared)[nest["_prev"]]
        nest = nest.with_columns(prev.select(pl.all().name.prefix("_p_")))
        p = {c: pl.col(f"_p_{c}") for c in compared}
        same_as_prev = (
            (pl.col("op") == p["op"])
            & pl.col("object").eq_missing(p["object"])
            & pl.col("dmabuf").eq_missing(p["dmabuf"])
            & (pl.col("func") != p["func"])
        )
        for c in counters:
            same_as_prev = same_as_prev & (
                pl.col(c).is_null() | p[c].is_null() | (pl.col(c) == p[c])
            )
        merged = nest.filter(same_as_prev.fill_null(False))["_i"]
        if merged.len():
            ops = ops.filter(~pl.int_range(pl.len(), dtype=pl.Int64).is_in(merged.implode()))

    # consecutive creates / frees of one object (drm_gem_object_init + private_object_init;
    # drm_gem_object_free + drm_gem_shmem_free + drm_gem_object_release): one op each, keeping
    # every counter any of them sampled
    creates_frees = pl.col("object").is_not_null() & pl.col("op").is_in(["create", "free"])
    if ops.select(creates_frees.any()).item():
        # an object's ops in order (the ops are in _oid order, and a window keeps it): a run
        # starts where the op differs from the object's previous one
        new_run = (pl.col("op") != pl.col("op").shift(1)).fill_null(True)
        obj_seq = (
            ops.select("source", "object", "_oid", "op")
            # a call's entry naming the object (drm_prime_gem_destroy inside an import's
            # drm_gem_shmem_free, before its drm_gem_object_release) does not split a run
            .filter(
                pl.col("object").is_not_null() & ~pl.col("op").is_in(["call_enter", "call_exit"])
            )
            .with_columns(_grp=new_run.cast(pl.Int64).cum_sum().over(["source", "object"]))
        )
        dup = (
            ops.select("_oid", "op", "object", *counters, "size")
            .filter(creates_frees)
            .join(
                obj_seq.select("_oid", "source", "_grp"),
                on="_oid",
                how="inner",
                maintain_order="none",
            )
            .sort("_oid")  # a run's counters: the first sampled, in op order
        )
        # the runs of more than one op: the first keeps every counter any of them sampled
        runs = (
            dup.group_by(["source", "object", "_grp"])
            .agg(
                pl.len().alias("_ops"),
                pl.col("_oid").min().alias("_keep"),
                *[pl.col(c).drop_nulls().first() for c in (*counters, "size")],
            )
            .filter(pl.col("_ops") > 1)
        )
        if runs.height:
            # the others go (the ops are in _oid order, so each kept op is found by a binary
            # search, and only the counters' columns are written)
            drop_oids = dup.join(
                runs, on=["source", "object", "_grp"], how="semi", maintain_order="left"
            ).filter(~pl.col("_oid").is_in(runs["_keep"].implode()))
            ops = ops.filter(~pl.col("_oid").is_in(drop_oids["_oid"].implode()))
            keep = runs.sort("_keep")
            at = pl.Series(np.searchsorted(ops["_oid"].to_numpy(), keep["_keep"].to_numpy()))
            ops = ops.with_columns(
                ops[c].scatter(at, ops[c].gather(at).fill_null(keep[c]))
                for c in (*counters, "size")
            )

    ops = _drop_creates_begun_unseen(ops)
    # generations: the creates seen at an object's address so far (0: alive before the capture),
    # and the lives that began unseen: an address used again after its object's free, with
    # events lost in between, is another object whose create was lost (first seen mid-life)
    ops = _in_oid_order(ops)
    op = pl.col("op")
    if ops.select((op == "lost_events").any()).item():
        by_object = ["source", "object"]
        ops = ops.with_columns(_losses=(op == "lost_events").cum_sum().over("source"))
        alive = (
            pl.when(op == "create").then(True).when(op == "free").then(False).forward_fill()
        ).over(by_object)
        reborn = (
            (op != "create")
            & ~alive.shift(1).over(by_object).fill_null(True)
            & (pl.col("_losses") > pl.col("_losses").shift(1).over(by_object))
        )
        ops = ops.with_columns(
            generation=pl.when(pl.col("object").is_not_null()).then(
                ((op == "create") | reborn).cast(pl.Int32).cum_sum().over(by_object)
            )
        ).drop("_losses")
    else:
        ops = ops.with_columns(
            generation=pl.when(pl.col("object").is_not_null()).then(
                (op == "create").cast(pl.Int32).cum_sum().over(["source", "object"])
            )
        )

    # dma-buf poll callbacks: dma_buf_poll_cb names the callback (struct dma_buf_poll_cb_t, in the
    # dma-buf) that dma_buf_poll_add_cb queued; the dma-buf is the one it was queued for
    cbs = (
        ops.filter(pl.col("cb").is_not_null() & pl.col("dmabuf").is_not_null())
        .select("source", "cb", "seq", pl.col("dmabuf").alias("_cbdb"))
        .sort("seq")
    )
    if cbs.height:
        ops = ops.sort("seq").join_asof(
            cbs, on="seq", by=["source", "cb"], strategy="backward", check_sortedness=False
        )
        ops = ops.with_columns(dmabuf=pl.coalesce(pl.col("dmabuf"), pl.col("_cbdb"))).drop("_cbdb")
        ops = ops.sort(["source", "seq", "_oid"])
    # jobs: the key is the finished fence; a fence_signal of a submitted job's fence is its done
    ops = ops.with_columns(
        job=pl.when(
            pl.col("job").is_null()
            & pl.col("fence_context").is_not_null()
            & pl.col("op").is_in(["job_submit", "job_done"])
        )
        .then(pl.format("{}:{}", pl.col("fence_context"), pl.col("fence_seqno")))
        .otherwise(pl.col("job"))
    )
    submits = (
        ops.filter((pl.col("op") == "job_submit") & pl.col("fence_context").is_not_null())
        .select(
            "source",
            "fence_context",
            "fence_seqno",
            pl.col("job").alias("_job"),
            pl.col("object").alias("_jobj"),
            pl.col("generation").alias("_jgen"),
            pl.col("owner").alias("_jowner"),
        )
        .unique(subset=["source", "fence_context", "fence_seqno"], keep="first")
    )
    explicit_done = ops.filter(pl.col("op") == "job_done").select("source", "job").unique()
    signals = (
        ops.filter(pl.col("op") == "fence_signal")
        .join(
            submits,
            on=["source", "fence_context", "fence_seqno"],
            how="inner",
            maintain_order="none",
        )
        .join(
            explicit_done,
            left_on=["source", "_job"],
            right_on=["source", "job"],
            how="anti",
            maintain_order="left",
        )
    )
    if signals.height:
        done = signals.with_columns(
            op=pl.lit("job_done").cast(ops.schema["op"]),
            job=pl.col("_job"),
            object=pl.col("_jobj"),
            generation=pl.col("_jgen"),
            owner=pl.col("_jowner"),
            _oid=pl.col("_oid") + (1 << 40),
        ).drop("_job", "_jobj", "_jgen", "_jowner")
        # after their signal's event, in _oid order: what sorting by (source, seq, _oid) gives
        ops = dialects.with_added(_in_oid_order(ops), done.select(ops.columns).sort("_oid"))
    return ops.drop("_row", "_oid", "_nest", "_confirm", "_rank", strict=False)
