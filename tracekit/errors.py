"""One root exception, and the exit codes the CLI maps errors to.

Only :mod:`tracekit.cli` turns exceptions into exit codes; library code raises.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of every ``tracekit`` command."""

    OK = 0
    """No error findings (or the command succeeded)."""
    FINDINGS = 1
    """At least one error finding."""
    USAGE = 2
    """Bad command line: unknown option, bad value, missing argument."""
    UNREADABLE = 3
    """An input could not be read: missing, a directory, corrupt compression, permission."""


class TracekitError(Exception):
    """Root of every error tracekit raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class InputError(TracekitError):
    """An input file cannot be read at all (as opposed to lines in it that do not parse)."""

    exit_code = ExitCode.UNREADABLE

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class GrammarError(TracekitError):
    """A grammar or rule file shipped with (or given to) tracekit is itself broken."""
