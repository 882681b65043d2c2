"""The ``tracekit`` command: a thin shim over the library.

Every command builds the library objects, calls one function, and turns library errors into exit
codes (:class:`tracekit.errors.ExitCode`). Nothing else in the package prints.
"""

from __future__ import annotations

import json
import os
import sys
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tracekit import __version__
from tracekit.errors import ExitCode, TracekitError
from tracekit.schema import STATE_OBJECT_COLUMNS

app = typer.Typer(
    name="tracekit",
    help="Record-and-replay analyser for DRM/GEM buffer-object reference counting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


ProfilesOption = Annotated[
    list[str] | None,
    typer.Option("--profiles", help="Extra directory of profile files (*.toml)."),
]


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


class CheckFormat(StrEnum):
    text = "text"
    json = "json"
    junit = "junit"
    sarif = "sarif"


class TableFormat(StrEnum):
    table = "table"
    json = "json"
    parquet = "parquet"


def _load(files: list[str], profile_dirs: list[str] | None = None) -> tuple[Any, Any]:
    """Parse and normalize ``files``: the first two stages every analysis command shares."""
    from tracekit.ingest import parse_paths
    from tracekit.normalize import load_profiles, normalize

    parsed = parse_paths(files)
    return parsed, normalize(parsed.events, load_profiles(profile_dirs))


def _hex_columns(df: Any) -> Any:
    """Pointer columns as 0x... text for display and JSON."""
    import polars as pl

    from tracekit.normalize.core import POINTER_COLUMNS

    return df.with_columns(
        [
            pl.col(c).map_elements(lambda v: f"0x{v:x}", return_dtype=pl.String).alias(c)
            for c in POINTER_COLUMNS
            if c in df.columns
        ]
    )


def _fail(exc: TracekitError) -> typer.Exit:
    err.print(f"tracekit: error: {exc}", markup=False)
    return typer.Exit(int(exc.exit_code))


def _version(value: bool) -> None:
    if value:
        out.print(f"tracekit {__version__}")
        raise typer.Exit(int(ExitCode.OK))


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """tracekit: parse, replay and check GEM buffer-object traces."""


@app.command()
def parse(
    files: Annotated[
        list[str],
        typer.Argument(
            help="Captures to read: trace, trace_pipe, trace-cmd report, perf script, "
            "dmesg/journal logs, mails. .gz/.xz/.zst/.bz2 are read as such; - is stdin."
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", help="Write the raw events table to this Parquet file."),
    ] = None,
    rejects: Annotated[
        str | None,
        typer.Option(
            "--rejects",
            help="Where to write rejected lines (Parquet; default <output>.rejects.parquet).",
        ),
    ] = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="Summary format.")
    ] = OutputFormat.text,
    show: Annotated[
        int, typer.Option("--show-rejects", help="How many rejected lines to print.")
    ] = 20,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 if any line was rejected.")
    ] = False,
) -> None:
    """Parse captures into the raw events table; report every line that is not a trace line."""
    from tracekit.ingest import parse_paths, parse_to_parquet

    try:
        if output is not None:
            summary = parse_to_parquet(files, output, rejects)
            rejected_rows = None
        else:
            result = parse_paths(files)
            summary = result.summary
            rejected_rows = result.rejects
    except TracekitError as exc:
        raise _fail(exc) from None
    if fmt is OutputFormat.json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
    else:
        table = Table(title="tracekit parse", show_lines=False)
        for col in ("lines", "events", "rejected", "ignored"):
            table.add_column(col, justify="right")
        table.add_row(
            *(str(summary.as_dict()[c]) for c in ("lines", "events", "rejected", "ignored"))
        )
        out.print(table)
        out.print(
            "read as: " + ", ".join(f"{k} ({v})" for k, v in summary.sources.items()), markup=False
        )
        if summary.by_format:
            out.print(
                "events by format: "
                + ", ".join(f"{k}={v}" for k, v in sorted(summary.by_format.items())),
                markup=False,
            )
        if summary.ignored_by_kind:
            out.print(
                "ignored: "
                + ", ".join(f"{k}={v}" for k, v in sorted(summary.ignored_by_kind.items()) if v),
                markup=False,
            )
        if rejected_rows is not None and rejected_rows.height and show > 0:
            out.print(
                f"rejected lines (first {min(show, rejected_rows.height)} of {rejected_rows.height}):"
            )
            for row in rejected_rows.head(show).iter_rows(named=True):
                out.print(f"  {row['source']}:{row['line']}: {row['reason']}", markup=False)
                out.print(f"    {row['text'][:160]}", markup=False)
        if output is not None:
            out.print(f"wrote {output}", markup=False)
    if strict and summary.rejected:
        raise typer.Exit(int(ExitCode.FINDINGS))


@app.command()
def ops(
    files: Annotated[list[str], typer.Argument(help="Captures to read (as for parse).")],
    fmt: Annotated[
        TableFormat, typer.Option("--format", help="Output format.")
    ] = TableFormat.table,
    output: Annotated[
        str | None, typer.Option("-o", "--output", help="File for --format parquet (or json).")
    ] = None,
    unknown: Annotated[
        bool, typer.Option("--unknown", help="List the events no profile knows, with counts.")
    ] = False,
    calls: Annotated[
        bool, typer.Option("--calls", help="Include call_enter/call_exit ops in the table.")
    ] = False,
    profiles: ProfilesOption = None,
) -> None:
    """The canonical buffer-object operations of captures, as the driver profiles read them."""
    import polars as pl

    try:
        _, norm = _load(files, profiles)
    except TracekitError as exc:
        raise _fail(exc) from None
    if unknown:
        if fmt is TableFormat.json:
            sys.stdout.write(json.dumps(norm.unknown.to_dicts(), indent=2) + "\n")
            return
        if norm.unknown.height == 0:
            out.print("every event is known to a profile")
            return
        table = Table(title="events no profile knows (normal: they are not buffer-object events)")
        for col in ("event", "probe", "count", "first_line"):
            table.add_column(col)
        for row in norm.unknown.iter_rows(named=True):
            table.add_row(
                row["event"],
                row["probe"] or "tracepoint",
                str(row["count"]),
                str(row["first_line"]),
            )
        out.print(table)
        return
    frame = norm.ops
    if not calls:
        frame = frame.filter(~pl.col("op").is_in(["call_enter", "call_exit"]))
    if fmt is TableFormat.parquet:
        if output is None:
            err.print("tracekit: error: --format parquet needs -o FILE")
            raise typer.Exit(int(ExitCode.USAGE))
        frame.write_parquet(output)
        out.print(f"wrote {frame.height} ops to {output}", markup=False)
        return
    shown = _hex_columns(frame)
    if fmt is TableFormat.json:
        text = json.dumps(shown.drop("seq").to_dicts(), indent=1, default=str) + "\n"
        if output:
            with open(output, "w") as fh:
                fh.write(text)
        else:
            sys.stdout.write(text)
        return
    from tracekit.report.text import plain_table

    cols = [
        "line",
        "op",
        "func",
        "owner",
        "object",
        "generation",
        "file",
        "handle",
        "dmabuf",
        "job",
        "refcount",
        "handle_count",
        "pages_use_count",
        "vmap_use_count",
        "vmapping_counter",
        "f_count",
    ]
    sys.stdout.write(plain_table(shown, cols) + "\n")


def _address(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        return int(text, 16)  # "0x..." or bare hex, as traces print them
    except ValueError:
        raise typer.BadParameter(
            f"not an address: {text!r} (give it as 0x... or bare hex)"
        ) from None


# what the replay tables show: the op, the object, its counters (file_handles, madv and the
# dma-buf columns are in --format json and the Parquet outputs)
STATE_COLUMNS = [
    "line",
    "op",
    "func",
    "object",
    "generation",
    *(c for c in STATE_OBJECT_COLUMNS if c not in ("file_handles", "gpu_maps", "madv", "purged")),
]


@app.command()
def replay(
    files: Annotated[list[str], typer.Argument(help="Captures to replay (as for parse).")],
    at: Annotated[int | None, typer.Option("--at", help="Stand after this source line.")] = None,
    at_time: Annotated[
        float | None,
        typer.Option("--at-time", help="Stand at this trace time (seconds, as printed)."),
    ] = None,
    obj: Annotated[
        str | None, typer.Option("--object", help="One object (address, 0x...).")
    ] = None,
    show_history: Annotated[
        bool, typer.Option("--history", help="Every op on the object, with its state.")
    ] = False,
    step: Annotated[
        bool,
        typer.Option(
            "--step", help="Go op by op (Enter: next, q: quit; all at once if not a terminal)."
        ),
    ] = False,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify", help="Compare the model with every kernel counter the capture sampled."
        ),
    ] = False,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.text,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="vector (default: compiled for large captures, polars for small ones), "
            "compiled, polars, or reference (the step-by-step interpreter).",
        ),
    ] = "vector",
    profiles: ProfilesOption = None,
) -> None:
    """Replay captures against the buffer-object model: state at a point, history, stepping, verify."""
    import polars as pl

    from tracekit.replay import history, position, replay_paths, state_at, state_json
    from tracekit.report.text import plain_table

    if engine not in ("vector", "compiled", "polars", "reference"):
        raise typer.BadParameter("--engine is vector, compiled, polars or reference")
    address = _address(obj)
    try:
        rep = replay_paths(files, profiles, engine_name=engine)  # type: ignore[arg-type]
    except TracekitError as exc:
        raise _fail(exc) from None
    states = rep.states
    if verify:
        bad = rep.disagreements
        if fmt is OutputFormat.json:
            payload = {
                "checks": rep.checks.height,
                "not_compared": rep.not_compared,
                "by_source": {
                    src: {"checks": n, "not_compared": k, "disagree": d}
                    for src, n, k, d in _verify_by_source(rep.verified).iter_rows()
                },
                "disagreements": _hex_columns(bad).to_dicts(),
            }
            sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
        else:
            per_source = _verify_by_source(rep.verified)
            if per_source.height > 1:
                sys.stdout.write(plain_table(per_source, drop_empty=False) + "\n")
            skipped = rep.not_compared
            unknown = (
                f"; {sum(skipped.values())} not compared, the model could not know them ("
                + ", ".join(f"{why}: {n}" for why, n in skipped.items())
                + ")"
                if skipped
                else ""
            )
            out.print(
                f"{rep.checks.height} kernel counters sampled, {bad.height} disagree with the "
                f"model{unknown}",
                markup=False,
            )
            if bad.height:
                shown = _hex_columns(bad)
                sys.stdout.write(
                    plain_table(
                        shown, ["source", "line", "func", "object", "counter", "kernel", "model"]
                    )
                    + "\n"
                )
        if bad.height:
            raise typer.Exit(int(ExitCode.FINDINGS))
        return
    if show_history or step:
        if address is None and show_history:
            raise typer.BadParameter("--history needs --object")
        rows = history(states, address) if address is not None else states
        if step:
            rows = (
                rows.filter(pl.col("seq") <= position(states, line=at)) if at is not None else rows
            )
            _step(rows, fmt)
            return
        if fmt is OutputFormat.json:
            sys.stdout.write(
                json.dumps(
                    [
                        state_json(r, None) | {"op": r["op"], "func": r["func"]}
                        for r in rows.iter_rows(named=True)
                    ],
                    indent=1,
                )
                + "\n"
            )
        else:
            sys.stdout.write(plain_table(_hex_columns(rows), STATE_COLUMNS) + "\n")
        return
    at_ns = round(at_time * 1e9) if at_time is not None else None
    seq = (
        position(states, line=at, time_ns=at_ns, ops=rep.ops)
        if (at is not None or at_ns is not None)
        else None
    )
    if (at is not None or at_ns is not None) and seq is None:
        err.print("tracekit: error: nothing happened before that point")
        raise typer.Exit(int(ExitCode.USAGE))
    current = state_at(states, seq=seq, object=address)
    if address is not None and current.height == 0:
        err.print(f"tracekit: error: no object {obj} in the capture (before that point)")
        raise typer.Exit(int(ExitCode.USAGE))
    if fmt is OutputFormat.json:
        rows_json = [state_json(r, at) for r in current.iter_rows(named=True)]
        if address is not None:
            sys.stdout.write(json.dumps(rows_json[-1], indent=2) + "\n")
        else:
            sys.stdout.write(json.dumps(rows_json, indent=1) + "\n")
        return
    where = (
        f"after line {at}"
        if at is not None
        else (f"at {at_time}s" if at_time is not None else "at the end")
    )
    out.print(f"{current.height} objects {where}", markup=False)
    sys.stdout.write(plain_table(_hex_columns(current), STATE_COLUMNS) + "\n")


profiles_app = typer.Typer(help="Driver profiles: list them, check new ones.", no_args_is_help=True)
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("list")
def profiles_list(
    profiles: ProfilesOption = None,
) -> None:
    """Every profile: name, kind, rule count, what it maps."""
    from tracekit.normalize import load_profiles

    try:
        profs = load_profiles(profiles)
    except TracekitError as exc:
        raise _fail(exc) from None
    for prof in profs:
        names = sorted(
            {n for r in prof.rules for n in r.names}
            | {f"{r.prefix}*" for r in prof.rules if r.prefix}
        )
        out.print(
            f"{prof.name:18s} {prof.kind:10s} {len(prof.rules):3d} rules  {prof.description}",
            markup=False,
        )
        out.print(
            f"{'':18s} {'':10s} {len(names):3d} events {', '.join(names[:6])}{', ...' if len(names) > 6 else ''}",
            markup=False,
        )


@profiles_app.command("check")
def profiles_check(
    files: Annotated[list[str], typer.Argument(help="Profile files (*.toml) to validate.")],
) -> None:
    """Validate profile files: every key, op, column, value spec and condition (exit 2 if not)."""
    from tracekit.normalize.profiles import load_profile

    failed = False
    for name in files:
        try:
            prof = load_profile(name)
        except FileNotFoundError:
            err.print(f"tracekit: error: {name}: no such file", markup=False)
            raise typer.Exit(int(ExitCode.UNREADABLE)) from None
        except TracekitError as exc:
            err.print(f"tracekit: error: {exc}", markup=False)
            failed = True
            continue
        out.print(f"{name}: ok ({prof.name}, {prof.kind}, {len(prof.rules)} rules)", markup=False)
    if failed:
        raise typer.Exit(int(ExitCode.USAGE))


def _verify_by_source(checks: Any) -> Any:
    """Per capture: how many kernel counters were sampled, how many disagree."""
    import polars as pl

    return (
        checks.group_by("source", maintain_order=True)
        .agg(
            pl.len().alias("checks"),
            (~pl.col("comparable")).sum().alias("not_compared"),
            (pl.col("comparable") & (pl.col("kernel") != pl.col("model"))).sum().alias("disagree"),
        )
        .sort("source")
    )


def _step(rows: Any, fmt: OutputFormat) -> None:
    """Print ops one by one; on a terminal wait for Enter (q quits)."""
    interactive = sys.stdin.isatty() and sys.stdout.isatty() and fmt is OutputFormat.text
    cols = [
        c
        for c in (
            "line",
            "op",
            "func",
            "object",
            "refs",
            "handles",
            "pins",
            "vmaps",
            "pages",
            "mappings",
            "jobs",
            "alive",
        )
        if c in rows.columns
    ]
    for row in _hex_columns(rows).select(cols).iter_rows(named=True):
        if fmt is OutputFormat.json:
            sys.stdout.write(json.dumps(row, default=str) + "\n")
            continue
        sys.stdout.write("  ".join(f"{k}={v}" for k, v in row.items() if v is not None) + "\n")
        if interactive and input().strip().lower() == "q":
            return


def main() -> None:
    """Console-script entry point."""
    app()


RulesOption = Annotated[
    list[str] | None, typer.Option("--rules", help="Extra directory of rule files (*.toml).")
]


def _rules(dirs: list[str] | None) -> list[Any]:
    from tracekit.rules import load_rules

    try:
        return load_rules(dirs)
    except TracekitError as exc:
        raise _fail(exc) from None


def _rule(name: str, dirs: list[str] | None) -> Any:
    hit = [r for r in _rules(dirs) if name in (r.id, r.name)]
    if not hit:
        err.print(f"tracekit: error: no rule {name!r} (see tracekit rules list)", markup=False)
        raise typer.Exit(int(ExitCode.USAGE))
    return hit[0]


@app.command()
def check(
    files: Annotated[
        list[str],
        typer.Argument(help="Captures or directories of captures (as for parse)."),
    ],
    fmt: Annotated[
        CheckFormat,
        typer.Option(
            "--format",
            help="Output format (junit: JUnit XML for CI; sarif: SARIF 2.1.0 for code scanning).",
        ),
    ] = CheckFormat.text,
    rules: RulesOption = None,
    profiles: ProfilesOption = None,
    html: Annotated[
        str | None,
        typer.Option("--html", help="Also write a self-contained HTML report to this file."),
    ] = None,
) -> None:
    """Run the rules over captures: findings with file, line and evidence (exit 1 on errors)."""
    from tracekit.check import junit_xml, run_check, sarif, text_report

    try:
        res = run_check(files, rules, profiles)
    except TracekitError as exc:
        raise _fail(exc) from None
    if html:
        from tracekit.report.html import html_report

        with open(html, "w") as fh:
            fh.write(html_report(res))
    if fmt is CheckFormat.json:
        doc = {"findings": res.finding_dicts(), "summary": res.summary()}
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    elif fmt is CheckFormat.sarif:
        sys.stdout.write(json.dumps(sarif(res), indent=2) + "\n")
    elif fmt is CheckFormat.junit:
        sys.stdout.write(junit_xml(res))
    else:
        for line in text_report(res):
            out.print(line, markup=False)
    if res.counts()["error"]:
        raise typer.Exit(int(ExitCode.FINDINGS))


FindingOption = Annotated[
    str | None,
    typer.Option(
        "--finding",
        help="The finding: its number in `tracekit check`'s listing (1-based) or a fingerprint prefix.",
    ),
]
RuleNameOption = Annotated[
    str | None, typer.Option("--rule", help="The first finding of this rule (id or name).")
]


@app.command()
def explain(
    files: Annotated[list[str], typer.Argument(help="The capture (as for check).")],
    finding: FindingOption = None,
    rule: RuleNameOption = None,
    rules: RulesOption = None,
    profiles: ProfilesOption = None,
) -> None:
    """A finding as a story: the object's life (who created it, each reference taken and
    dropped, by which function and task, the jobs that used it) up to where the rule fired."""
    from tracekit.check import run_check
    from tracekit.report.story import select_finding, story

    try:
        res = run_check(files, rules, profiles)
        sel = select_finding(res, finding, rule)
    except TracekitError as exc:
        raise _fail(exc) from None
    for line in story(res, sel):
        out.print(line, markup=False)


@app.command()
def minimize(
    file: Annotated[str, typer.Argument(help="The capture.")],
    finding: FindingOption = None,
    rule: RuleNameOption = None,
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Write the sub-capture here (default: stdout)."),
    ] = None,
    rules: RulesOption = None,
    profiles: ProfilesOption = None,
) -> None:
    """The smallest sub-capture that still shows a finding (delta debugging over its lines),
    in the original format, original line numbers kept as comments."""
    from tracekit.check import run_check
    from tracekit.minimize import Target
    from tracekit.minimize import minimize as run_minimize
    from tracekit.report.story import select_finding

    try:
        res = run_check([file], rules, profiles)
        sel = select_finding(res, finding, rule)
        at_end = next(r.at == "end" for r in res.rules if r.id == sel.finding["rule"])
        target = Target(
            sel.finding["rule"],
            sel.finding["verdict"],
            sel.finding["line"],
            sel.row["object"],
            at_end,
            sel.finding["message"],
        )
        result = run_minimize(
            file, target, ops=res.replayed.ops, rule_dirs=rules, profile_dirs=profiles
        )
    except TracekitError as exc:
        raise _fail(exc) from None
    if output:
        with open(output, "w") as fh:
            fh.write(result.text)
    else:
        sys.stdout.write(result.text)
    err.print(
        f"{file}: {sel.finding['rule']} {sel.finding['name']} at line {sel.finding['line']}: "
        f"{result.units_before} event lines -> {result.units_after} in {result.replays} replays",
        markup=False,
    )


class ExportFormat(StrEnum):
    perfetto = "perfetto"


@app.command()
def export(
    files: Annotated[list[str], typer.Argument(help="Captures (as for check).")],
    output: Annotated[str, typer.Option("--output", "-o", help="Where to write the trace.")],
    fmt: Annotated[
        ExportFormat,
        typer.Option("--format", help="perfetto: Chrome JSON trace for ui.perfetto.dev."),
    ] = ExportFormat.perfetto,
    rules: RulesOption = None,
    profiles: ProfilesOption = None,
) -> None:
    """A timeline for Perfetto: a counter track per object, job slices, fences, findings."""
    from tracekit.check import run_check
    from tracekit.report.story import perfetto

    try:
        res = run_check(files, rules, profiles)
    except TracekitError as exc:
        raise _fail(exc) from None
    doc = perfetto(res)
    with open(output, "w") as fh:
        json.dump(doc, fh, separators=(",", ":"))
        fh.write("\n")
    n = len(doc["traceEvents"])
    err.print(
        f"{output}: {n} events ({fmt.value}); open it in https://ui.perfetto.dev", markup=False
    )


@app.command()
def record(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="Command to record (after --); without one, record until Ctrl-C."),
    ] = None,
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", "-p", help="Profile(s) whose events to record (default: all)."),
    ] = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="The capture file.")
    ] = "gem-trace.txt",
    tracefs: Annotated[
        str, typer.Option("--tracefs", help="Where tracefs is mounted.")
    ] = "/sys/kernel/tracing",
    buffer_kb: Annotated[
        int, typer.Option("--buffer-kb", min=64, help="Per-CPU buffer size.")
    ] = 16384,
    clock: Annotated[
        str, typer.Option("--clock", help="trace_clock (mono: comparable across CPUs).")
    ] = "mono",
    syscalls: Annotated[
        bool,
        typer.Option("--syscalls/--no-syscalls", help="Record the command's ioctl/mmap/close."),
    ] = True,
    offsets: Annotated[
        str | None,
        typer.Option(
            "--offsets",
            help="struct.field offsets file (when this kernel's BTF or pahole is absent).",
        ),
    ] = None,
    btf: Annotated[
        list[str] | None,
        typer.Option(
            "--btf",
            help="Target's vmlinux, then its modules (.ko): offsets from their BTF (pahole).",
        ),
    ] = None,
    list_offsets: Annotated[
        bool,
        typer.Option("--list-offsets", help="Print the struct fields the probes read, and exit."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written where.")
    ] = False,
    emit_script: Annotated[
        str | None,
        typer.Option(
            "--emit-script",
            help="Write the set-up as a POSIX shell script for a target without Python.",
        ),
    ] = None,
    profiles: ProfilesOption = None,
) -> None:
    """Record a capture: the profiles' tracepoints and kprobes in a tracefs instance of its own,
    trace_pipe to a file with a live count, tracefs put back at the end."""
    from tracekit import record as R

    if list_offsets:
        for key in R.needed_offsets():
            out.print(key, markup=False)
        return
    try:
        resolve = R.offsets_file(offsets) if offsets else R.btf_offsets(btf) if btf else None
        p = R.plan(
            tracefs,
            target=emit_script is not None,
            profiles=profile,
            profile_dirs=profiles,
            buffer_kb=buffer_kb,
            clock=clock,
            syscalls=syscalls,
            offsets=resolve,
        )
    except TracekitError as exc:
        raise _fail(exc) from None
    if not p.kprobes_supported:
        err.print(
            f"{tracefs}: this kernel has no kprobe_events (CONFIG_KPROBE_EVENTS): the GEM core has "
            f"no tracepoints, so only {len(p.tracepoints)} tracepoints will be recorded",
            markup=False,
        )
    for name, why in p.skipped if p.kprobes_supported else []:
        err.print(f"skip probe {name}: {why}", markup=False)
    if p.missing:
        err.print(
            f"{len(p.missing)} tracepoint(s) of the profiles are not in this kernel", markup=False
        )
    if emit_script:
        with open(emit_script, "w") as fh:
            fh.write(R.shell_script(p, output))
        os.chmod(emit_script, 0o755)
        err.print(
            f"{emit_script}: {len(p.kprobes)} kprobes, {len(p.tracepoints)} tracepoints; run it on "
            f"the target as root: sh {emit_script} [COMMAND...]",
            markup=False,
        )
        return
    if dry_run:
        for path, value in p.writes(pid="$PID" if command else None):
            if value in ("mkdir", "rmdir"):
                out.print(f"{value} {path}", markup=False)
            else:
                out.print(f"echo {value!r} >> {path}", markup=False)
        out.print(f"# then: cat {p.dir}/trace_pipe > {output}", markup=False)
        for path, value in p.undo():
            out.print(
                f"{value} {path}" if value == "rmdir" else f"echo {value!r} >> {path}", markup=False
            )
        return
    progress = _record_progress()
    try:
        res = R.Recorder(p, output, command or None, progress).run()
    except TracekitError as exc:
        raise _fail(exc) from None
    for name, why in res.refused:
        err.print(f"probe {name} refused: {why}", markup=False)
    err.print(
        f"{output}: {res.lines} lines, {res.lost} lost events"
        + (f"; command exited {res.returncode}" if res.returncode is not None else ""),
        markup=False,
    )


def _record_progress() -> Any:
    import time

    last = [0.0]

    def show(r: Any) -> None:
        now = time.monotonic()
        if now - last[0] < (0.2 if err.is_terminal else 5.0):
            return
        last[0] = now
        text = f"{r.lines} events, {r.lost} lost"
        if err.is_terminal:
            err.file.write(f"\r{text}")
            err.file.flush()
        else:
            err.print(text, markup=False)

    return show


class Executor(StrEnum):
    process = "process"
    ray = "ray"


@app.command()
def audit(
    paths: Annotated[
        list[str],
        typer.Argument(
            help="Captures, directories of captures, or glob patterns ('runs/**/*.txt')."
        ),
    ],
    jobs: Annotated[
        int,
        typer.Option("--jobs", "-j", min=0, help="Captures audited at once (0: one per CPU)."),
    ] = 0,
    executor: Annotated[
        Executor, typer.Option("--executor", help="process: a local process pool; ray: Ray tasks.")
    ] = Executor.process,
    address: Annotated[
        str | None,
        typer.Option("--address", help="Ray cluster address (default: a local Ray instance)."),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(
            "--baseline", help="Known findings (a --write-baseline file): only new ones fail."
        ),
    ] = None,
    write_baseline: Annotated[
        str | None,
        typer.Option("--write-baseline", help="Write every finding's fingerprint to this file."),
    ] = None,
    fmt: Annotated[
        CheckFormat, typer.Option("--format", help="Output format (text, json, junit, sarif).")
    ] = CheckFormat.text,
    out_dir: Annotated[
        str | None,
        typer.Option(
            "--out", help="Write findings and per-capture summaries as Parquet datasets here."
        ),
    ] = None,
    rules: RulesOption = None,
    profiles: ProfilesOption = None,
) -> None:
    """Audit many captures in parallel for CI: summaries per capture and per rule, baselines
    (exit 1 only on new error findings; 3 if a capture could not be read)."""
    import os

    from tracekit import audit as A
    from tracekit.check import sarif_log
    from tracekit.rules import load_rules

    try:
        files = A.expand_patterns(paths)
        rule_set = load_rules(rules)  # a broken rule file fails here, once
        known = A.read_baseline(baseline) if baseline else None
    except TracekitError as exc:
        raise _fail(exc) from None
    n_jobs = jobs or os.cpu_count() or 1
    try:
        results = A.run_audit(
            files,
            jobs=n_jobs,
            executor=executor.value,
            address=address,
            rule_dirs=rules,
            profile_dirs=profiles,
            progress=_audit_progress(len(files)),
        )
    except TracekitError as exc:
        raise _fail(exc) from None
    findings = A.mark_new(results, known)
    summary = A.totals(results, findings)
    if write_baseline:
        with open(write_baseline, "w") as fh:
            json.dump(A.baseline_document(results), fh, indent=2)
            fh.write("\n")
    if out_dir:
        A.write_dataset(out_dir, results, findings)
    if fmt is CheckFormat.json:
        sys.stdout.write(json.dumps(A.json_document(results, findings), indent=2) + "\n")
    elif fmt is CheckFormat.junit:
        sys.stdout.write(A.junit_document(results, findings, rule_set))
    elif fmt is CheckFormat.sarif:
        doc = sarif_log(rule_set, [r.file for r in results], findings, summary)
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        _audit_text(results, findings, summary)
    code = A.exit_code(summary)
    if code:
        raise typer.Exit(int(code))


def _audit_progress(total: int) -> Any:
    """A rich progress bar on a terminal, a plain line per capture otherwise (both on stderr)."""
    done = 0
    if err.is_terminal:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        task = bar.add_task("auditing", total=total)
        bar.start()

        def tick(r: Any) -> None:
            nonlocal done
            done += 1
            bar.update(task, advance=1, description=r.file[-40:])
            if done == total:
                bar.stop()

        return tick

    def line(r: Any) -> None:
        nonlocal done
        done += 1
        n = len(r.findings)
        what = r.status if r.status != "ok" else f"{n} finding(s)"
        err.print(f"[{done}/{total}] {r.file}: {what}", markup=False)

    return line


def _audit_text(
    results: list[Any], findings: list[dict[str, Any]], summary: dict[str, Any]
) -> None:
    from tracekit.audit import by_capture, per_rule

    caps = Table(title="captures", title_justify="left")
    for col in ("capture", "status", "lines", "ops", "errors", "warnings", "inconclusive", "new"):
        caps.add_column(col, justify="left" if col in ("capture", "status") else "right")
    for r, mine in zip(results, by_capture(results, findings), strict=True):
        caps.add_row(
            r.file,
            r.status if r.error is None else f"{r.status}: {r.error}",
            str(r.summary.get("lines", "-")),
            str(r.summary.get("ops", "-")),
            *(
                str(sum(f["verdict"] == v for f in mine))
                for v in ("error", "warning", "inconclusive")
            ),
            str(sum(f["new"] for f in mine)),
        )
    out.print(caps)
    by_rule = per_rule(findings)
    if by_rule:
        table = Table(title="rules", title_justify="left")
        for col in ("rule", "name", "errors", "warnings", "inconclusive", "new", "captures"):
            table.add_column(col, justify="left" if col in ("rule", "name") else "right")
        for row in by_rule:
            table.add_row(
                row["rule"],
                row["name"],
                *(str(row[k]) for k in ("error", "warning", "inconclusive", "new", "captures")),
            )
        out.print(table)
    for f in findings:
        if f["new"] and f["verdict"] == "error":
            out.print(
                f"{f['file']}:{f['line']}: {f['rule']} {f['name']}: {f['message']}", markup=False
            )
    s = summary
    out.print(
        f"{s['captures']} capture(s) ({s['unreadable']} unreadable, {s['empty']} empty, "
        f"{s['not-a-trace']} not a trace), {s['lines']} lines, {s['ops']} ops: "
        f"{s['error']} error(s), {s['warning']} warning(s), {s['inconclusive']} inconclusive; "
        f"{s['new']} new, {s['new_errors']} new error(s)",
        markup=False,
    )


rules_app = typer.Typer(help="The rule set: list the rules, explain one.", no_args_is_help=True)
app.add_typer(rules_app, name="rules")


@rules_app.command("list")
def rules_list(
    rules: RulesOption = None,
) -> None:
    """Every rule: id, name, severity, what it detects."""
    for r in _rules(rules):
        first = r.doc["detects"].split("\n\n")[0].replace("\n", " ")
        out.print(f"{r.id}  {r.name:26s} {r.severity:8s} {first}", markup=False)


@rules_app.command("explain")
def rules_explain(
    rule: Annotated[str, typer.Argument(help="Rule id (TK003) or name (mapped-at-free).")],
    rules: RulesOption = None,
) -> None:
    """A rule's documentation, condition and file."""
    from tracekit.rules import DOC_HEADINGS

    r = _rule(rule, rules)
    out.print(f"{r.id} {r.name} ({r.severity})", markup=False)
    for key, heading in DOC_HEADINGS.items():
        out.print(f"\n{heading}\n{'-' * len(heading)}\n{r.doc[key]}", markup=False)
    out.print(f"\nCondition ({r.at})\n{r.condition}", markup=False)
    if r.inconclusive is not None:
        out.print(f"\nInconclusive where\n{r.inconclusive}", markup=False)
    out.print(f"\nFile: {r.path}", markup=False)


@rules_app.command("test")
def rules_test(
    rules: RulesOption = None,
) -> None:
    """Run every rule's examples: the violating one flags exactly its '# expect:' lines, the clean one nothing."""
    from tracekit.rules import example_problems

    loaded = _rules(rules)
    failed = 0
    for r in loaded:
        problems = example_problems(r, loaded)
        out.print(f"{r.id} {r.name}: {'ok' if not problems else 'FAILED'}", markup=False)
        for p in problems:
            out.print(f"  {p}", markup=False)
        failed += bool(problems)
    out.print(f"{len(loaded) - failed} of {len(loaded)} rules pass their examples", markup=False)
    if failed:
        raise typer.Exit(int(ExitCode.FINDINGS))


@rules_app.command("example")
def rules_example(
    rule: Annotated[str, typer.Argument(help="Rule id (TK003) or name (mapped-at-free).")],
    clean: Annotated[bool, typer.Option("--clean", help="The clean example instead.")] = False,
    rules: RulesOption = None,
) -> None:
    """Print a rule's violating (or clean) example trace: pipe it into 'tracekit check -'."""
    text = _rule(rule, rules).examples.get("clean" if clean else "violating", "")
    sys.stdout.write(text)
