"""Open capture inputs (files, compressed files, stdin) and cut them into line batches.

A batch is a polars frame of ``(line, text)``: the 1-based line number in its source and the line
without its end-of-line. Batches are cut at line boundaries, never before a line that continues
the one above it (a `` => frame`` of a stack trace, a perf callchain line), so an event and its
frames always land in one batch. The bytes are split into lines by polars' CSV reader reading a
single column (the same work as the benchmark baseline), so splitting costs what reading costs.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import polars as pl
import zstandard

from tracekit.errors import InputError

BLOCK_BYTES = 32 << 20

LINE_READER = {
    "has_header": False,
    "separator": "\x00",
    "quote_char": None,
    "new_columns": ["text"],
    "infer_schema": False,
    "encoding": "utf8-lossy",
}
"""How lines are split: polars' CSV reader reading one string column (NUL bytes, which would
split a line, are replaced before). bench/run.py measures this exact call as its baseline."""
"""Target size of one batch. Bounded batches keep memory flat on multi-GB captures."""

_MAGIC = {
    b"\x1f\x8b\x08": "gzip",  # RFC 1952 id + deflate
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}
_BZIP2 = re.compile(rb"^BZh[1-9]1AY&SY")  # "BZh", block size, block magic 0x314159265359


_READER_MAGIC = (
    b"\x1f\x8b",
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"\x28\xb5\x2f\xfd",
)
"""Prefixes polars.read_csv takes for compressed input (gzip, zlib, zstd)."""


def compression_of(head: bytes) -> str | None:
    """The compression the first bytes announce, or None for plain text.

    >>> compression_of(b"\\x1f\\x8b\\x08\\x00"), compression_of(b"BZh91AY&SY"), compression_of(b"BZh is text")
    ('gzip', 'bzip2', None)
    """
    if _BZIP2.match(head):
        return "bzip2"
    return next((k for magic, k in _MAGIC.items() if head.startswith(magic)), None)


@dataclass(frozen=True, slots=True)
class Input:
    """One named input: a path, or ``-`` for standard input."""

    name: str

    def open(self) -> BinaryIO:
        """A binary stream of the (decompressed) content; :class:`InputError` when unreadable."""
        if self.name == "-":
            raw: BinaryIO = sys.stdin.buffer
        else:
            path = Path(self.name)
            if path.is_dir():
                raise InputError(self.name, "is a directory (name capture files, or use audit)")
            try:
                raw = path.open("rb")
            except FileNotFoundError:
                raise InputError(self.name, "no such file") from None
            except PermissionError:
                raise InputError(self.name, "permission denied") from None
            except OSError as exc:
                raise InputError(self.name, exc.strerror or str(exc)) from None
        head = raw.peek(10)[:10] if isinstance(raw, io.BufferedReader) else b""
        if self.name == "-" and not head:
            data = raw.read()
            head, raw = data[:10], io.BytesIO(data)
        kind = compression_of(head)
        if kind == "gzip":
            return gzip.GzipFile(fileobj=raw)  # type: ignore[return-value]
        if kind == "xz":
            return lzma.LZMAFile(raw)  # type: ignore[return-value]
        if kind == "bzip2":
            return bz2.BZ2File(raw)  # type: ignore[return-value]
        if kind == "zstd":
            return zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
        return raw

    @property
    def compression(self) -> str | None:
        """``gzip``, ``xz``, ``bzip2``, ``zstd`` or None, from the magic bytes."""
        if self.name == "-":
            return None
        try:
            with Path(self.name).open("rb") as fh:
                head = fh.read(10)
        except OSError:
            return None
        return compression_of(head)

    def blocks(self, block_bytes: int = BLOCK_BYTES) -> Generator[bytes, None, None]:
        """The content in blocks of about ``block_bytes`` that end at a batch boundary.

        A block never ends before a line that continues the one above it, so an event and its
        stack frames always travel together.
        """
        stream = self.open()
        carry = b""
        try:
            while True:
                try:
                    data = stream.read(block_bytes)
                except (OSError, EOFError, lzma.LZMAError, zstandard.ZstdError, ValueError) as exc:
                    kind = self.compression or "input"
                    raise InputError(self.name, f"corrupt {kind} data: {exc}") from None
                if not data:
                    break
                buf = carry + data if carry else data
                cut = last_boundary(buf)
                if cut <= 0:
                    carry = buf
                    continue
                carry = buf[cut:]
                yield buf[:cut]
        finally:
            if stream is not sys.stdin.buffer:
                stream.close()
        if carry:
            yield carry


def _is_continuation(head: bytes) -> bool:
    """Does a line starting with ``head`` belong to the line above it?"""
    return head.startswith((b" =>", b"\t", b"=>")) or head[:1] in (b"\n", b"")


def last_boundary(buf: bytes) -> int:
    """Offset just after the last newline in ``buf`` that is followed by a non-continuation line.

    Returns 0 when there is none (the caller reads more before cutting).

    >>> last_boundary(b"a\\n => f\\nb\\nc")
    10
    >>> last_boundary(b"a\\n => f")
    0
    """
    end = len(buf)
    nl = buf.rfind(b"\n", 0, end)
    while nl != -1:
        nxt = buf[nl + 1 : nl + 5]
        if nxt and not _is_continuation(nxt):
            return nl + 1
        nl = buf.rfind(b"\n", 0, nl)
    return 0


def lines_frame(chunk: bytes, first_line: int) -> pl.DataFrame:
    """``chunk`` as a ``(line, text)`` frame, numbering from ``first_line``.

    Invalid UTF-8 is replaced (U+FFFD), never dropped; a NUL byte is replaced the same way.

    >>> lines_frame(b"a\\n\\nb\\r\\n", 7).rows()
    [(7, 'a'), (8, ''), (9, 'b')]
    """
    if not chunk:
        return pl.DataFrame(schema={"line": pl.Int64, "text": pl.String})
    # the CSV reader takes a final "\n" as a terminator, as str.splitlines does
    expected = chunk.count(b"\n") + (0 if chunk.endswith(b"\n") else 1)
    if b"\x00" in chunk:
        chunk = chunk.replace(b"\x00", "\ufffd".encode())
    # the CSV reader decompresses input that starts with a gzip, zlib or zstd magic number: text
    # that happens to start so ("x\x01...") is shielded by a leading empty line, dropped below
    shield = chunk.startswith(_READER_MAGIC)
    if shield:
        chunk = b"\n" + chunk
    df = pl.read_csv(chunk, raise_if_empty=False, **LINE_READER)  # type: ignore[arg-type]
    if shield:
        df = df.slice(1)
    if df.width == 0:
        df = pl.DataFrame({"text": [""] * expected})
    if df.height != expected:  # pragma: no cover - a reader change would lose lines: refuse to
        raise AssertionError(f"line split found {df.height} lines, expected {expected}")
    text = pl.col("text").fill_null("")
    if b"\r" in chunk:
        text = text.str.strip_chars_end("\r")
    return df.select(
        pl.int_range(first_line, first_line + df.height, dtype=pl.Int64).alias("line"),
        text.alias("text"),
    )
