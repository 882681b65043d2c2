"""Plain, aligned text tables: what goes into a terminal, a CI log or a mail unchanged."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def plain_table(
    df: pl.DataFrame, columns: Sequence[str] | None = None, *, drop_empty: bool = True
) -> str:
    """``df`` as left-aligned columns separated by two spaces, with a header line.

    Columns that are null everywhere are left out when ``drop_empty``.

    >>> print(plain_table(pl.DataFrame({"line": [3, 12], "op": ["create", "free"], "x": [None, None]})))
    line  op
    3     create
    12    free
    """
    cols = [c for c in (columns or df.columns) if c in df.columns]
    if drop_empty:
        cols = [c for c in cols if df[c].null_count() < df.height]
    cells = [[c for c in cols]]
    for row in df.select(cols).iter_rows():
        cells.append(["" if v is None else str(v) for v in row])
    widths = [max(len(r[i]) for r in cells) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)
