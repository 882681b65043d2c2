"""Ingest: capture text (tracefs, trace-cmd, perf, kernel logs, mail pastes) to Arrow tables."""

from tracekit.ingest.core import ParseResult, Summary, parse_paths, parse_source, parse_to_parquet

__all__ = ["ParseResult", "Summary", "parse_paths", "parse_source", "parse_to_parquet"]
