"""The ``tracekit`` command: a thin shim over the library.

Every command builds the library objects, calls one function, and turns library errors into exit
codes (:class:`tracekit.errors.ExitCode`). Nothing else in the package prints.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tracekit import __version__
from tracekit.errors import ExitCode, TracekitError

app = typer.Typer(
    name="tracekit",
    help="Record-and-replay analyser for DRM/GEM buffer-object reference counting.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class OutputFormat(StrEnum):
    text = "text"
    json = "json"


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


def main() -> None:
    """Console-script entry point."""
    app()
