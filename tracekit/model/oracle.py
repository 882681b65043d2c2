"""Which of the kernel's sampled counters the model can be held to.

A probe that reads ``obj->refcount`` or a dma-buf's ``f_count`` gives the kernel's value at that
point; replay puts the model's value next to it (:data:`tracekit.schema.VERIFY`) and then takes
the kernel's. A difference is a model error only where the model could have known the value:
where everything that changed the counter since the object or dma-buf was created is in the
capture. A sample tells the model the count (it continues from the kernel's value), but not who
holds what it counts: a handle in a file, an fd in a process, a framebuffer's reference, each
released later by a file close, an exit or a framebuffer destroy that the model can only apply
to what it saw made. So the sample is *not compared* (``comparable`` false, with the reason)
when:

- ``first seen mid-life``: the object or dma-buf was not created (exported) in the capture, or
  in a syscall that began before it, or the dma-buf was exported from an object that was not;
- ``events lost``: events may have been lost after it was created, counting from the start of
  the syscall that created it (``CPU:N [LOST M EVENTS]`` since that CPU's previous event, or
  the start of the syscall its task was in then; a ring buffer overrun since the capture's
  start, up to each CPU's first event). For a dma-buf, after the first export at its address:
  the fds the model ties to the address may be an earlier dma-buf's, whose close or release
  was lost. For a dma-buf exported from an object alive when events were lost, from its export
  on: whether the object still has a handle decides whether importing the dma-buf back takes a
  reference on it;
- ``clock went back``: the same, across a line whose timestamp is below its CPU's previous line
  (two runs pasted into one report, a clock reset): what came around it is in no known order
  (:func:`tracekit.normalize.calls.order_events`);
- ``fds not traced``: an ``f_count`` once a task that makes DRM calls shows no syscalls (the rig
  traces the syscalls of the main task only; threads and forked children share or copy its fds,
  and their ``close``, ``exit`` and ``fork`` are not in the capture), from that task's first event;
- ``export fd not traced``: an ``f_count`` of a dma-buf exported without its fd being seen
  (Linux 6.12 installs a PRIME export's fd without ``dma_buf_fd``): closing that fd drops a
  reference the model cannot tie to it;
- ``thread exit``: an ``f_count`` of a dma-buf that a task had an fd of when it ended with its
  own ``exit`` (``SYS_exit``, how threads end) in a capture that does not say which process the
  task is in (no ``options/record-tgid``, no traced fork). The exit closes the fd table only if
  no other task uses it (``put_files_struct``): a thread's closes nothing, and its fds are its
  process's. The model closes them, as the task's own; from the exit to the dma-buf's release,
  when the kernel dropped those references is unknown;
- ``fd installed unseen``: an ``f_count`` of a dma-buf a task used through an fd the capture
  never showed it get (``dup``, ``fcntl(F_DUPFD)``, ``SCM_RIGHTS``:
  :func:`tracekit.normalize.dialects.hidden_fds` adds its reference where the fd is first used).
  When the fd was made is unknown: from the dma-buf's export up to that use, and at the first
  sample after it (a sample in between may have counted the reference already);
- ``unknown fd closed``: an ``f_count`` that differs from the model's by no more than the closes
  of fds the capture never showed made, in the fd tables the dma-buf had an fd in (a dup's
  source) and by tasks whose syscalls are traced: a ``dup``, ``dup2`` or
  ``fcntl(F_DUPFD)`` of a dma-buf fd takes a file reference, and an fd so made that the task
  never uses is never known to the model (:func:`tracekit.normalize.dialects.hidden_fds` knows
  it at its first use); only its close drops that reference, unseen. A close that shows a DRM
  file's release (``drm_gem_release``) closed that file, not a dma-buf's, and does not count.
  When the kernel counts more, by at most the closes still to come; when it counts fewer (the
  model took the kernel's count at an earlier sample, such fds' references included), by at
  most the closes since the dma-buf's previous sample. A process's ``exit_group`` closes such
  fds too, how many unseen: after it, the kernel may count fewer by at most the references the
  model took from samples set aside with the kernel above it; before it, more, when the first
  sample after the exit reads at least as many fewer (an fd neither used nor closed; where
  events were lost in between, that sample proves nothing, and the reason is the loss). Like
  ``poll not traced``, this reason reads the values: a difference no such close explains is a
  disagreement;
- ``fds closed unseen``: an ``f_count`` that differs from the model's, of a dma-buf whose
  release the capture shows while an fd of it that the capture showed installed was never shown
  closed (by a ``close``, an exec's close-on-exec or an exit), from its export to that
  release: fds of it were closed by calls the capture does not show (``close_range``; a
  ``dup2`` or ``dup3`` onto the fd, which closes what the fd was and makes it another fd of
  the dma-buf it copies, unseen too). Like ``unknown fd closed``, this reason reads the
  values: a sample that agrees is compared. Where the capture never shows the dma-buf released
  and events were lost after the sample, the release that would say may be what was lost: such
  a sample is set aside with the loss's reason;
- ``framebuffer handle unknown``: a ``handle_count`` of an object a framebuffer looked up, from
  the lookup on, in a capture that shows no framebuffer destroy. Whether this kernel's
  framebuffers hold a handle reference (``drm_gem_fb_init_with_funcs`` takes one on 6.12.y and
  from 6.16, with no event) is shown only by what follows a destroy
  (:func:`tracekit.normalize.dialects.framebuffer_objects`);
- ``framebuffer destroy guessed``: a ``refcount`` that differs from the model's by no more
  than the framebuffer destroys since the object's previous ``refcount`` sample that named no
  object while lookups of it and of others were pending
  (:func:`tracekit.model.reference.framebuffer_guesses`). ``drm_gem_fb_destroy`` shows only the
  framebuffer's address; without a vmap or a handle put naming its objects, the model puts the
  task's oldest lookup, and framebuffers removed in another order than they came make that the
  wrong object's. Like ``unknown fd closed``, this reason reads the values;
- ``poll not traced``: an ``f_count`` that differs from the model's by what an unseen
  ``poll()`` can explain, in a capture that shows no ``dma_buf_poll`` (the rig's own probe set
  does not probe it, and no probe set traces the poll syscall). Polling a dma-buf takes a file
  reference for each direction whose fence is not signalled (``get_file`` before
  ``dma_buf_poll_add_cb``; one callback slot per direction, ``cb_in`` and ``cb_out``) and the
  fence's callback puts it when it signals (``dma_buf_poll_cb``: ``fput``). So the kernel may
  count up to two references more than the model, and they can only come or go while a fence on
  the dma-buf's GEM object is pending. A sample is excused when its GEM object had a job in
  flight since the dma-buf's previous ``f_count`` sample (or its export), and the references it
  implies held by polls (those the model took at earlier excused samples, plus this difference)
  stay between 0 and 2. This is the one reason that reads the values: a sample that agrees is
  compared, and one that no poll explains (3 more, 1 fewer than the model took) is a
  disagreement. Where the capture probes the poll, the profiles count those references.

Everything else must agree, and ``tracekit replay --verify`` reports each difference as a
disagreement; the samples not compared are counted, by reason, never hidden.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence

import polars as pl

from tracekit.model.reference import framebuffer_guesses
from tracekit.normalize.calls import CLOCK_JUMP
from tracekit.normalize.core import CALL_STARTS, syscall_begun
from tracekit.normalize.dialects import (
    EXEC_CLOSE,
    EXEC_CLOSE_TRACED,
    KILLED,
    THREAD_EXIT,
    TRACED_SYSCALL,
    UNSEEN_FD,
)
from tracekit.schema import FD_TABLE

CAPTURE_END = 1 << 62
"""The end of a span that lasts to the end of the capture (a seq no op reaches)."""

OBJECT_COUNTERS = ("refcount", "handle_count", "pages_use_count", "vmap_use_count")
DMABUF_COUNTERS = ("f_count", "vmapping_counter")

# ops that show a task's DRM calls (normalize: the entries and returns of *_ioctl handlers);
# its syscalls are dialects.TRACED_SYSCALL
_DRM_CALL_OPS = ("ioctl_enter", "ioctl_exit")


def annotate(checks: pl.DataFrame, ops: pl.DataFrame) -> pl.DataFrame:
    """``checks`` (VERIFY rows, in replay order) with ``comparable`` and ``why`` (null when
    comparable) added."""
    if checks.height == 0:
        return checks.with_columns(comparable=pl.lit(None, pl.Boolean), why=pl.lit(None, pl.String))
    untraced_from = _untraced_fds(ops)
    no_fd = _exports_without_fd(ops)
    unseen = _unseen_fds(ops)
    thread_exits = _thread_exits(ops)
    polled = set(ops.filter(pl.col("func") == "dma_buf_poll")["source"].unique().to_list())
    exports = _exported_objects(ops)
    in_flight = _job_spans(ops)
    fb_lookups = _fb_handles_unknown(ops)
    closes = _unknown_closes(ops)
    closed_unseen = _closed_unseen(ops)
    exits = _group_exits(ops)
    # (source, dma-buf) -> references the model took from the kernel's samples without knowing
    # who held them (a sample set aside with the kernel above the model): what an exit_group
    # may drop unseen
    adopted: dict[tuple[str, int], int] = defaultdict(int)
    # (source, dma-buf) -> its f_count samples, (seq, kernel - model), in order
    f_counts: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    if exits and "kernel" in checks.columns:
        for source, seq, obj, kernel, model in (
            checks.filter((pl.col("counter") == "f_count") & pl.col("kernel").is_not_null())
            .select("source", "seq", "object", "kernel", "model")
            .iter_rows()
        ):
            if model is not None:
                f_counts[(source, obj)].append((seq, kernel - model))
    # (source, object, generation) -> the seqs of the framebuffer destroys that may have put it
    guessed: dict[tuple[str, int, int], list[int]] = defaultdict(list)
    if "owner" in ops.columns:
        for source, seq, obj, gen in framebuffer_guesses(ops).iter_rows():
            guessed[(source, obj, gen)].append(seq)
    last_refcount: dict[tuple[str, int, int], int] = {}
    # the fd tables a dma-buf had an fd in (a dup's source), from the first such fd
    fd_tables: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    if closes or exits:
        for source, db, table, seq in (
            ops.filter(pl.col("op") == "dmabuf_fd")
            .group_by("source", "dmabuf", FD_TABLE.alias("_table"))
            .agg(pl.col("seq").min())
            .sort("seq")
            .iter_rows()
        ):
            fd_tables[(source, db)].append((seq, table))

    def tables_then(source: str, db: int, seq: int) -> list[int]:
        """The fd tables the dma-buf had an fd in by ``seq``."""
        return [table for since, table in fd_tables.get((source, db), ()) if since <= seq]

    def exits_then(source: str, db: int, seq: int) -> list[int]:
        """The seqs of the ``exit_group`` calls of the fd tables the dma-buf had an fd in by
        ``seq``."""
        return [e for table in tables_then(source, db, seq) for e in exits.get((source, table), ())]

    last_f_count: dict[tuple[str, int], int] = {}  # (source, dma-buf) -> seq of its last sample
    windows = _loss_windows(ops)
    events = _made(ops).iter_rows()
    # per source, the ops that make a counter known or forgotten, in seq order
    by_source: dict[str, list[tuple[int, str, int | None, int | None, int | None, int | None]]] = (
        defaultdict(list)
    )
    for source, seq, op, obj, gen, db, begun in events:
        by_source[source].append((seq, op, obj, gen, db, begun))
    # -> the seq its create or export's syscall began at: from there, a loss may hide its holders
    born: dict[tuple[str, int | None, int | None, str], int] = {}
    # a dma-buf address's first export: fds and mappings the model ties to the address may be
    # an earlier dma-buf's, whose close or release a lost span hid
    first_export: dict[tuple[str, int | None], int] = {}
    # a dma-buf exported from an object alive when events were lost: why its object's state,
    # and so its own count, is not known
    inherited: dict[tuple[str, int | None], str] = {}
    cursor: dict[str, int] = defaultdict(int)
    comparable: list[bool] = []
    why: list[str | None] = []
    polls: dict[tuple[str, int], int] = {}  # (source, dma-buf) -> references taken unseen
    if "kernel" not in checks.columns:  # (checks without values: no reason reads them)
        checks = checks.with_columns(kernel=pl.lit(None, pl.Int64), model=pl.lit(None, pl.Int64))
    for source, seq, obj, gen, counter, kernel, model in checks.select(
        "source", "seq", "object", "generation", "counter", "kernel", "model"
    ).iter_rows():
        # the ops up to this sample's op (included: a create or an export happens before the
        # probe's sample is compared, as in the reference interpreter)
        evs = by_source.get(source, [])
        i = cursor[source]
        while i < len(evs) and evs[i][0] <= seq:
            e_seq, op, e_obj, e_gen, e_db, begun = evs[i]
            if op == "create" and begun is not None:
                for c in OBJECT_COUNTERS:
                    born[(source, e_obj, e_gen or 0, c)] = begun
            elif op == "dmabuf_export":
                # of an object first seen mid-life, or alive when events were lost, its count
                # rests on the object's unknown state too: whether it has a handle decides
                # whether an import of it back takes a reference (dialects.reattached_dma_bufs)
                made = born.get((source, e_obj, e_gen or 0, "refcount"))
                if begun is not None and (e_obj is None or made is not None):
                    for c in DMABUF_COUNTERS:
                        born[(source, e_db, None, c)] = begun
                    inherited.pop((source, e_db), None)
                    if made is not None:
                        lost_then = next(
                            (
                                w
                                for a, b, w in windows.get(source, ())
                                if max(made, a) < min(e_seq, b)
                            ),
                            None,
                        )
                        if lost_then is not None:
                            inherited[(source, e_db)] = lost_then
                first_export.setdefault((source, e_db), e_seq if begun is None else begun)
                if e_db is not None:
                    polls.pop((source, e_db), None)
            elif e_seq < seq:  # released: a dma-buf at this address again is another one
                for c in DMABUF_COUNTERS:
                    born.pop((source, e_db, None, c), None)
            i += 1
        cursor[source] = i
        is_db = counter in DMABUF_COUNTERS
        key = (source, obj, None if is_db else (gen or 0), counter)
        reason = None
        if counter == "f_count" and source in untraced_from and seq >= untraced_from[source]:
            reason = "fds not traced"
        elif counter == "f_count" and any(a <= seq < b for a, b in no_fd.get((source, obj), ())):
            reason = "export fd not traced"
        elif counter == "f_count" and any(
            a <= seq < b for a, b in thread_exits.get((source, obj), ())
        ):
            reason = "thread exit"
        elif key not in born:
            reason = "first seen mid-life"
        elif is_db and (source, obj) in inherited:
            reason = inherited[(source, obj)]
        elif counter == "handle_count" and fb_lookups.get((source, obj, gen or 0), seq + 1) <= seq:
            reason = "framebuffer handle unknown"
        elif lost := next(
            (
                why
                for a, b, why in windows.get(source, ())
                if max(first_export[(source, obj)] if is_db else born[key], a) < min(seq, b)
            ),
            None,
        ):
            reason = lost
        elif (
            counter == "refcount"
            and kernel is not None
            and model is not None
            and kernel != model
            and abs(kernel - model)
            <= sum(
                last_refcount.get((source, obj, gen or 0), -1) < g < seq
                for g in guessed.get((source, obj, gen or 0), ())
            )
        ):
            reason = "framebuffer destroy guessed"
        elif counter == "f_count" and any(
            a <= seq < e or (e < seq < b and last_f_count.get((source, obj), -1) < e)
            for a, e, b in unseen.get((source, obj), ())
        ):
            reason = "fd installed unseen"
        elif (
            counter == "f_count"
            and kernel is not None
            and model is not None
            and kernel != model
            and _closes_explain(
                [closes.get((source, table), []) for table in tables_then(source, obj, seq)],
                kernel - model,
                seq,
                last_f_count.get((source, obj), -1),
            )
        ):
            reason = "unknown fd closed"
        elif (
            counter == "f_count"
            and kernel is not None
            and model is not None
            and 0 < model - kernel <= adopted[(source, obj)]
            and any(
                last_f_count.get((source, obj), -1) < e < seq for e in exits_then(source, obj, seq)
            )
        ):
            # the process exited: its fd table closed the fds the capture never showed made too
            reason = "unknown fd closed"
        elif (
            counter == "f_count"
            and kernel is not None
            and model is not None
            and kernel > model
            and (
                dropped := _dropped_at_exit(
                    f_counts.get((source, obj), []),
                    exits_then(source, obj, seq),
                    seq,
                    kernel - model,
                    windows.get(source, ()),
                )
            )
        ):
            # an fd never shown made, nor closed: the exit that comes drops its reference (or
            # would show it, but events were lost before it did)
            reason = dropped
        elif (
            counter == "f_count"
            and kernel is not None
            and kernel != model
            and (
                unseen_closes := _closed_unseen_reason(
                    closed_unseen.get((source, obj), ()), windows.get(source, ()), seq
                )
            )
        ):
            reason = unseen_closes
        elif (
            counter == "f_count" and source not in polled and kernel is not None and kernel != model
        ):
            export = next(
                (e for e in reversed(exports.get((source, obj), ())) if e[0] <= seq), None
            )
            held = polls.get((source, obj), 0) + (kernel or 0) - (model or 0)
            if export is not None and 0 <= held <= 2:
                start, owner = export
                since_sample = max(start, last_f_count.get((source, obj), -1))
                if any(a <= seq and b > since_sample for a, b in in_flight.get(owner, ())):
                    reason = "poll not traced"
                    polls[(source, obj)] = held
        if counter == "f_count":
            last_f_count[(source, obj)] = seq
            if reason is not None and kernel is not None and model is not None:
                adopted[(source, obj)] = max(0, adopted[(source, obj)] + kernel - model)
        elif counter == "refcount":
            last_refcount[(source, obj, gen or 0)] = seq
        comparable.append(reason is None)
        why.append(reason)
    return checks.with_columns(
        comparable=pl.Series(comparable, dtype=pl.Boolean), why=pl.Series(why, dtype=pl.String)
    )


def _loss_windows(ops: pl.DataFrame) -> dict[str, list[tuple[int, int, str]]]:
    """Per source, the spans ``(a, b, why)`` of seqs in which events may have been lost: a value
    known since before ``b`` and sampled after ``a`` may have changed unseen.

    - ``CPU:N [LOST M EVENTS]``: since CPU N's previous op, or the start of the syscall its task
      was in then: what the rest of the call would have shown (a return probe that names the
      call site, say) may decide what the model made of the call's earlier events;
    - ``##### CPU N buffer started ####`` (an overrun): CPU N's events before it may be gone,
      since the capture's start (the marker precedes each CPU's first event once any CPU
      overran, whether this one did or not);
    - a header counting more events written than kept, without markers (``options/annotate``
      off): each CPU's first op ends such a span;
    - a clock that went back (``func`` :data:`~tracekit.normalize.calls.CLOCK_JUMP`): since the
      jumping line's CPU's previous op, as for a marker (``why``: ``clock went back``).
    """
    lost = ops.filter(pl.col("op") == "lost_events").select("source", "seq", "cpu", "func")
    if lost.height == 0:
        return {}
    out: dict[str, list[tuple[int, int, str]]] = defaultdict(list)
    on_cpu = ops.filter(pl.col("op") != "lost_events").select("source", "seq", "cpu", "pid")
    calls = ops.filter(pl.col("op").is_in(CALL_STARTS)).select("source", "seq", "pid")
    markers = set(lost.filter(pl.col("func") == "buffer_started")["source"].to_list())
    for source, seq, cpu, func in lost.iter_rows():
        mine = on_cpu.filter(pl.col("source") == source)
        why = "clock went back" if func == CLOCK_JUMP else "events lost"
        if func == "buffer_started":
            out[source].append((-1, seq, why))
        elif cpu is not None:
            prior = mine.filter((pl.col("cpu") == cpu) & (pl.col("seq") < seq)).tail(1)
            start = -1
            if prior.height:
                start, pid = prior.row(0)[1], prior.row(0)[3]
                begun = calls.filter(
                    (pl.col("source") == source) & (pl.col("pid") == pid) & (pl.col("seq") <= start)
                )["seq"].max()
                if begun is not None:
                    start = int(begun) - 1  # type: ignore[arg-type]
            out[source].append((start, seq, why))
        elif source not in markers:
            firsts = mine.group_by("cpu").agg(pl.col("seq").min())["seq"]
            if firsts.len():
                out[source].append((-1, int(firsts.max()), why))  # type: ignore[arg-type]
    return dict(out)


def _untraced_fds(ops: pl.DataFrame) -> dict[str, int]:
    """Per source, the first event of a task that makes DRM calls but shows no syscalls."""
    per_task = ops.group_by("source", "pid").agg(
        pl.col("seq").min().alias("first"),
        TRACED_SYSCALL.any().alias("syscalls"),
        pl.col("op").is_in(_DRM_CALL_OPS).any().alias("drm"),
    )
    untraced = (
        per_task.filter(pl.col("drm") & ~pl.col("syscalls") & pl.col("pid").is_not_null())
        .group_by("source")
        .agg(pl.col("first").min())
    )
    return dict(untraced.iter_rows())


def _thread_exits(ops: pl.DataFrame) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Per (source, dma-buf address), the spans ``(a, b)`` from the ``exit`` of a task of an
    unknown process that had an fd of it, to its release."""
    exits = (pl.col("op") == "task_exit") & (pl.col("func") == THREAD_EXIT)
    if not ops.select(exits.any()).item():
        return {}
    if "tgid" not in ops.columns:  # (ops made by hand)
        ops = ops.with_columns(tgid=pl.lit(None, pl.Int32))
    if not ops.select((exits & pl.col("tgid").is_null()).any()).item():
        return {}
    rows = (
        ops.filter(pl.col("op").is_in(["dmabuf_fd", "fd_close", "task_exit", "dmabuf_release"]))
        .select(
            "source",
            "seq",
            pl.col("op").cast(pl.String),
            "count",
            "dmabuf",
            FD_TABLE.alias("table"),
            (exits & pl.col("tgid").is_null()).alias("unknown"),
        )
        .iter_rows()
    )
    fds: dict[tuple[str, int | None], dict[int, int]] = defaultdict(dict)
    opened: dict[tuple[str, int], int] = {}  # (source, dma-buf) -> since
    out: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for source, seq, op, fd, db, table, unknown in rows:
        if op == "dmabuf_fd":
            if fd is not None and db is not None:
                fds[(source, table)][fd] = db
        elif op == "fd_close":
            fds[(source, table)].pop(fd, None)
        elif op == "task_exit":
            for closed in fds.pop((source, table), {}).values():
                if unknown:
                    opened.setdefault((source, closed), seq)
        elif db is not None and (source, db) in opened:  # released
            out[(source, db)].append((opened.pop((source, db)), seq))
    for key, since in opened.items():
        out[key].append((since, CAPTURE_END))
    return dict(out)


def _closed_unseen(ops: pl.DataFrame) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Per (source, dma-buf address), the spans ``(a, b)`` from a dma-buf's export to its
    release, of each dma-buf released while an fd of it that the capture showed installed was
    never shown closed (by a ``close``, an exec's close-on-exec or its process's exit): its fds
    were closed by calls the capture does not show (``close_range``, a ``dup2`` or ``dup3``
    onto the fd), which may have closed, and made, others of it too. A dma-buf the capture
    never shows released has a span from its export to :data:`CAPTURE_END`: whether its
    release would show that is unknown (it matters where events were lost before the end)."""
    if not {"count", "tgid", "pid", "dmabuf"} <= set(ops.columns):  # (ops made by hand)
        return {}
    rows = (
        ops.filter(
            pl.col("op").is_in(
                ["dmabuf_export", "dmabuf_fd", "fd_close", "task_exit", "dmabuf_release"]
            )
        )
        .select(
            "source", "seq", pl.col("op").cast(pl.String), "count", "dmabuf", FD_TABLE.alias("t")
        )
        .iter_rows()
    )
    fds: dict[tuple[str, int | None], dict[int, int]] = defaultdict(dict)
    since: dict[tuple[str, int], int] = {}  # (source, dma-buf) -> its export
    out: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    for source, seq, op, fd, db, table in rows:
        if op == "fd_close":
            fds[(source, table)].pop(fd, None)
        elif op == "task_exit":  # as the model does: a task's exit closes its table's fds
            fds.pop((source, table), None)
        elif db is None:
            continue
        elif op == "dmabuf_export":
            since.setdefault((source, db), seq)
        elif op == "dmabuf_fd":
            if fd is not None:
                fds[(source, table)][fd] = db
            since.setdefault((source, db), seq)
        else:  # released: the fds that still named it are gone with it
            still_open = False
            for (src, _), table_fds in fds.items():
                if src == source:
                    gone = [f for f, d in table_fds.items() if d == db]
                    still_open = still_open or bool(gone)
                    for f in gone:
                        del table_fds[f]
            start = since.pop((source, db), None)
            if still_open and start is not None:
                out[(source, db)].append((start, seq))
    # the dma-bufs the capture never shows released: whether it would is not known
    for key, start in since.items():
        out[key].append((start, CAPTURE_END))
    return dict(out)


def _closed_unseen_reason(
    spans: Sequence[tuple[int, int]], windows: Sequence[tuple[int, int, str]], seq: int
) -> str | None:
    """Why an ``f_count`` at ``seq`` that differs from the model's is not compared, by the
    dma-buf's :func:`_closed_unseen` spans: ``fds closed unseen`` in a span that ends in a
    release, or, in the span of a dma-buf never shown released, the reason of a loss after
    the sample (the release the loss hid may have shown fds closed unseen). ``None`` if
    neither."""
    span = next(((a, b) for a, b in spans if a <= seq <= b), None)
    if span is None:
        return None
    if span[1] < CAPTURE_END:
        return "fds closed unseen"
    return next((why for _, b, why in windows if b > seq), None)


def _unknown_closes(ops: pl.DataFrame) -> dict[tuple[str, int | None], list[int]]:
    """Per (source, fd table), the seqs (ascending) of the traced closes of fds the capture did not show
    made (no ``dmabuf_fd`` installed them in that fd table since its last close, or its
    process's ``exit_group``; a thread's own exit closes nothing) that closed no DRM file: the
    task's next op among its syscalls and DRM file releases is not a release. The closes
    normalisation adds where it infers an exec (or a fatal signal) close fds for the model as
    a traced close does: a traced close of such an fd later is of an fd the model does not
    know (a ``close_range`` of a DRM fd reads as an exec with the rig's probes, and its
    close-on-exec dma-buf fds stay open)."""
    if not {"count", "tgid", "pid", "func"} <= set(ops.columns):
        return {}
    added = pl.col("func").is_in([EXEC_CLOSE, EXEC_CLOSE_TRACED, KILLED])
    rows = (
        ops.filter(pl.col("op").is_in(["dmabuf_fd", "file_close"]) | TRACED_SYSCALL | added)
        .select(
            "source",
            "seq",
            "pid",
            pl.col("op").cast(pl.String),
            "func",
            "count",
            FD_TABLE.alias("_table"),
        )
        .iter_rows()
    )
    known: set[tuple[str, int | None, int | None]] = set()
    # (source, task) -> (its fd table, seq) of an unknown close not yet shown to close a DRM file
    pending: dict[tuple[str, int | None], tuple[int | None, int]] = {}
    out: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for source, seq, pid, op, func, fd, table in rows:
        task = (source, pid)
        if op == "file_close":
            pending.pop(task, None)  # it closed a DRM file
            continue
        if task in pending:
            closed_in, at = pending.pop(task)
            out[(source, closed_in)].append(at)
        if op == "dmabuf_fd":
            known.add((source, table, fd))
        elif op == "fd_close":
            if (source, table, fd) in known:
                known.discard((source, table, fd))
            elif func not in (EXEC_CLOSE, EXEC_CLOSE_TRACED):
                pending[task] = (table, seq)
        elif op == "task_exit" and func in ("sys_enter_exit_group", KILLED):
            known = {k for k in known if k[:2] != (source, table)}
    for (source, _), (table, seq) in pending.items():
        out[(source, table)].append(seq)
    return {key: sorted(seqs) for key, seqs in out.items()}


def _group_exits(ops: pl.DataFrame) -> dict[tuple[str, int | None], list[int]]:
    """Per (source, fd table), the seqs of the traced ``exit_group`` calls that closed it."""
    if not {"tgid", "pid", "func"} <= set(ops.columns):
        return {}
    out: dict[tuple[str, int | None], list[int]] = defaultdict(list)
    for source, table, seq in (
        ops.filter((pl.col("op") == "task_exit") & (pl.col("func") == "sys_enter_exit_group"))
        .select("source", FD_TABLE.alias("_table"), "seq")
        .iter_rows()
    ):
        out[(source, table)].append(seq)
    return out


def _dropped_at_exit(
    samples: Sequence[tuple[int, int]],
    exits: Sequence[int],
    seq: int,
    diff: int,
    windows: Sequence[tuple[int, int, str]],
) -> str | None:
    """Why the kernel's ``diff`` references more than the model at an ``f_count`` sample at
    ``seq`` are not the model's error, if the next ``exit_group`` (of ``exits``, in the fd
    tables the dma-buf had an fd in) drops them: ``unknown fd closed`` when the dma-buf's first
    sample after that exit reads at least as many fewer than the model (a ``dup`` of a dma-buf
    fd that is never used nor closed is seen only so), or the reason of a loss (``windows``,
    :func:`_loss_windows`) between the sample and that one, which took the evidence with it.
    ``None`` when neither applies: the difference is a disagreement."""
    at = min((e for e in exits if e > seq), default=None)
    if at is None:
        return None
    after = next(((s, d) for s, d in samples if s > at), None)
    if after is None:
        return None
    lost = next((why for a, b, why in windows if a < after[0] and b > seq), None)
    if lost is not None:
        return lost
    return "unknown fd closed" if -after[1] >= diff else None


def _closes_explain(closes: Sequence[Sequence[int]], diff: int, seq: int, previous: int) -> bool:
    """Whether ``diff`` (kernel - model) at an ``f_count`` sample at ``seq`` is within what the
    ``closes`` of unknown fds (per fd table the dma-buf had an fd in) can explain: one
    reference each, still held at the sample when the kernel counts more (closes after it),
    dropped since the dma-buf's ``previous`` sample when it counts fewer."""
    if diff > 0:
        return diff <= sum(len(c) - bisect_right(c, seq) for c in closes)
    return -diff <= sum(bisect_right(c, seq) - bisect_right(c, previous) for c in closes)


def _unseen_fds(ops: pl.DataFrame) -> dict[tuple[str, int], list[tuple[int, int, int]]]:
    """Per (source, dma-buf address), ``(a, e, b)`` for each fd installed unseen: its first use
    ``e``, the start ``a`` of the dma-buf's life then (its export, else the last release at that
    address, else the capture's start) and its end ``b`` (the next release)."""
    rows = (
        ops.filter(
            pl.col("op").is_in(["dmabuf_export", "dmabuf_release"])
            | (pl.col("op") == "dmabuf_fd") & pl.col("func").str.ends_with(UNSEEN_FD)
        )
        .select("source", "dmabuf", "seq", pl.col("op").cast(pl.String))
        .iter_rows()
    )
    life: dict[tuple[str, int], int] = {}
    open_uses: dict[tuple[str, int], list[tuple[int, int]]] = defaultdict(list)
    out: dict[tuple[str, int], list[tuple[int, int, int]]] = defaultdict(list)
    for source, db, seq, op in rows:
        key = (source, db)
        if op == "dmabuf_fd":
            open_uses[key].append((life.get(key, -1), seq))
            continue
        # an export or a release ends the dma-buf at this address that was before
        out[key].extend((a, e, seq) for a, e in open_uses.pop(key, ()))
        life[key] = seq
    for key, uses in open_uses.items():
        out[key].extend((a, e, CAPTURE_END) for a, e in uses)
    return dict(out)


def _made(ops: pl.DataFrame) -> pl.DataFrame:
    """The creates, exports and releases, in seq order, with ``begun``: where what they make
    starts to be known, the start of the syscall they are in (the rest of that call, before
    them, may have set up what they make: a capture that loses its start, or begins after it,
    may not show that an object is an import). Null when the task's syscall began before the
    capture (it shows the task's syscalls, but none before this op); the op itself when the
    capture shows none of the task's syscalls."""
    made = ops.filter(pl.col("op").is_in(["create", "dmabuf_export", "dmabuf_release"])).select(
        "source", "seq", pl.col("op").cast(pl.String), "object", "generation", "dmabuf", "pid"
    )
    return (
        syscall_begun(made, ops)
        .select(
            "source",
            "seq",
            "op",
            "object",
            "generation",
            "dmabuf",
            begun=pl.when(pl.col("_begun").is_not_null() | pl.col("_calls"))
            .then(pl.col("_begun"))
            .otherwise(pl.col("seq")),
        )
        .sort("source", "seq", maintain_order=True)
    )


def _fb_handles_unknown(ops: pl.DataFrame) -> dict[tuple[str, int, int], int]:
    """Per (source, object, generation), its first framebuffer lookup, in the sources that show
    framebuffer lookups and no framebuffer destroy."""
    if "owner" not in ops.columns:  # (a frame of the ops that count, without their owners)
        return {}
    fb = pl.col("owner") == "fb"
    lookups = ops.filter((pl.col("op") == "get") & fb & pl.col("object").is_not_null()).join(
        ops.filter((pl.col("op") == "put") & fb).select("source").unique(),
        on="source",
        how="anti",
        maintain_order="none",
    )
    first = lookups.group_by("source", "object", "generation").agg(pl.col("seq").min())
    return {
        (source, obj, gen or 0): seq
        for source, obj, gen, seq in first.select(
            "source", "object", "generation", "seq"
        ).iter_rows()
    }


def _exported_objects(
    ops: pl.DataFrame,
) -> dict[tuple[str, int], list[tuple[int, tuple[str, int, int]]]]:
    """Per (source, dma-buf address), its exports in seq order: ``(seq, (source, object,
    generation))``, the GEM object whose reservation object the dma-buf shares."""
    out: dict[tuple[str, int], list[tuple[int, tuple[str, int, int]]]] = defaultdict(list)
    rows = (
        ops.filter((pl.col("op") == "dmabuf_export") & pl.col("object").is_not_null())
        .select("source", "dmabuf", "seq", "object", "generation")
        .iter_rows()
    )
    for source, db, seq, obj, gen in rows:
        out[(source, db)].append((seq, (source, obj, gen or 0)))
    return dict(out)


def _job_spans(ops: pl.DataFrame) -> dict[tuple[str, int, int], list[tuple[int, int]]]:
    """Per (source, object, generation), the spans ``(submit, done)`` of seqs in which a job used
    it (its fence not yet signalled), matched as the model matches them: a ``job_done`` ends
    every object submitted with its job; a job never done runs to the end."""
    if "job" not in ops.columns:  # (a frame of the ops that count, without the jobs)
        return {}
    rows = (
        ops.filter(pl.col("op").is_in(["job_submit", "job_done"]))
        .select("source", "seq", pl.col("op").cast(pl.String), "job", "object", "generation")
        .iter_rows()
    )
    running: dict[tuple[str, str], dict[tuple[int, int], int]] = defaultdict(dict)
    out: dict[tuple[str, int, int], list[tuple[int, int]]] = defaultdict(list)
    for source, seq, op, job, obj, gen in rows:
        if op == "job_submit":
            if job is not None and obj is not None:
                running[(source, job)].setdefault((obj, gen or 0), seq)
            continue
        for (o, g), start in running.pop((source, job or ""), {}).items():
            out[(source, o, g)].append((start, seq))
    for (source, _), members in running.items():
        for (o, g), start in members.items():
            out[(source, o, g)].append((start, CAPTURE_END))
    return dict(out)


def _exports_without_fd(ops: pl.DataFrame) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """Per (source, dma-buf address), the spans ``[export, next export)`` of the exports of which
    no fd was seen (a released dma-buf's address is reused by later exports)."""
    rows = (
        ops.filter(
            pl.col("op").is_in(["dmabuf_export", "dmabuf_fd"])
            & ~pl.col("func").str.ends_with(UNSEEN_FD).fill_null(False)
        )
        .select("source", "dmabuf", "seq", pl.col("op").cast(pl.String))
        .iter_rows()
    )
    spans: dict[tuple[str, int], list[list[int]]] = defaultdict(list)  # [start, end, fds]
    for source, db, seq, op in rows:
        mine = spans[(source, db)]
        if op == "dmabuf_export":
            if mine:
                mine[-1][1] = seq
            mine.append([seq, CAPTURE_END, 0])
        elif mine:
            mine[-1][2] += 1
    return {
        key: [(a, b) for a, b, fds in mine if fds == 0]
        for key, mine in spans.items()
        if any(fds == 0 for _, _, fds in mine)
    }
