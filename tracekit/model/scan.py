"""Segmented scans: running sums, forward fills and shifts within groups of a sorted table.

The model's timelines are sorted by their group (an object generation, or a dma-buf) once; then a
running sum within a group is the running sum of the whole column minus its value where the group
starts, and a fill or a shift is masked at group boundaries. Each is one linear pass, where a
windowed expression (``.over(keys)``) would hash-partition the table every time.

>>> df = pl.DataFrame({"k": [1, 1, 2, 2, 2], "d": [1, 1, 5, -1, 1]})
>>> with_groups(df, ["k"]).select(g_cumsum(pl.col("d")).alias("c"))["c"].to_list()
[1, 2, 5, 4, 5]
"""

from __future__ import annotations

import polars as pl

G = pl.col("_g")


def with_groups(df: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Number the groups of ``df`` (already sorted by ``keys``) in ``_g``."""
    changed = pl.lit(False)
    for k in keys:
        changed = changed | pl.col(k).ne_missing(pl.col(k).shift(1))
    return df.with_columns(_g=changed.fill_null(True).cum_sum())


def g_cumsum(e: pl.Expr) -> pl.Expr:
    """Running sum of ``e`` within its group."""
    cs = e.cum_sum()
    start = G.ne_missing(G.shift(1))
    return cs - pl.when(start).then(cs - e).forward_fill()


def g_ffill(e: pl.Expr) -> pl.Expr:
    """Forward fill of ``e`` within its group."""
    src = pl.when(e.is_not_null()).then(G).forward_fill()
    return pl.when(src == G).then(e.forward_fill())


def g_shift1(e: pl.Expr) -> pl.Expr:
    """The previous row's ``e`` within its group."""
    return pl.when(G.shift(1) == G).then(e.shift(1))


def resynced(
    df: pl.DataFrame,
    keys: list[str],
    counter: str,
    sample: str | None,
    *,
    keep_before: bool = False,
    floor: bool = False,
) -> pl.DataFrame:
    """Replace the delta ``_d_{counter}`` by ``{counter}`` (the value after each op), with
    ``_model_{counter}`` (the model's value before a sampled op, unsynced) where ``sample`` is a
    column of kernel samples, and ``_before_{counter}`` if asked for.

    With ``floor`` the counter never goes below 0, as the kernel's WARN-and-return counters do
    (``if (WARN_ON_ONCE(!shmem->vmap_use_count)) return;``): a decrement at 0 changes nothing
    and ``_refused_{counter}`` marks it. The floored walk of a segment that starts at a base
    ``b >= 0`` is its plain running value less the lowest it went below 0 so far (``W - min(0,
    cummin(W))``), one scan per segment."""
    if floor:
        # the floor changes nothing unless the plain walk goes below 0 somewhere: try that first
        # (one cheap pass), and only then pay for the segmented minimum
        plain = resynced(df, keys, counter, sample, keep_before=keep_before)
        if plain.select((pl.col(counter) < 0).any()).item():
            return _floored(df, keys, counter, sample, keep_before=keep_before)
        return plain.with_columns(pl.lit(False).alias(f"_refused_{counter}"))
    d = pl.col(f"_d_{counter}")
    cs = g_cumsum(d) - d  # exclusive running sum
    if sample is None:
        return df.with_columns((cs + d).alias(counter)).drop(f"_d_{counter}")
    s = pl.col(sample)
    df = df.with_columns(cs.alias("_cs"))
    has = s.is_not_null()
    # base of the segment each op is in: the last sample at or before it
    df = df.with_columns(
        _seg_s=g_ffill(pl.when(has).then(s)),
        _seg_cs=g_ffill(pl.when(has).then(pl.col("_cs"))),
    )
    # the segment before: the last sample strictly before the op (the previous row's segment)
    df = df.with_columns(
        _prev_s=g_shift1(pl.col("_seg_s")),
        _prev_cs=g_shift1(pl.col("_seg_cs")),
    )
    before = (
        pl.when(pl.col("_seg_s").is_not_null())
        .then(pl.col("_seg_s") + pl.col("_cs") - pl.col("_seg_cs"))
        .otherwise(pl.col("_cs"))
    )
    model_at_sample = (
        pl.when(pl.col("_prev_s").is_not_null())
        .then(pl.col("_prev_s") + pl.col("_cs") - pl.col("_prev_cs"))
        .otherwise(pl.col("_cs"))
    )
    out = [
        (before + d).alias(counter),
        pl.when(has).then(model_at_sample).alias(f"_model_{counter}"),
    ]
    if keep_before:
        out.append(before.alias(f"_before_{counter}"))
    return df.with_columns(out).drop(
        "_cs", "_seg_s", "_seg_cs", "_prev_s", "_prev_cs", f"_d_{counter}"
    )


def _floored(
    df: pl.DataFrame, keys: list[str], counter: str, sample: str | None, *, keep_before: bool
) -> pl.DataFrame:
    d = pl.col(f"_d_{counter}")
    has = pl.col(sample).is_not_null() if sample is not None else pl.lit(False)
    base = pl.col(sample) if sample is not None else pl.lit(0, pl.Int64)
    # segments: a kernel sample resets the counter to the kernel's value before its op
    df = df.with_columns(_seg=g_cumsum(has.cast(pl.Int64)))
    seg = ["_g", "_seg"]
    start = pl.when(has).then(base).otherwise(0)
    raw = (start + d).cum_sum().over(seg)  # the unfloored value after each op
    df = df.with_columns(
        (raw - pl.min_horizontal(pl.lit(0, pl.Int64), raw.cum_min().over(seg))).alias(counter)
    )
    prev = g_shift1(pl.col(counter)).fill_null(0)
    before = pl.when(has).then(base).otherwise(prev)
    out = [
        (d.lt(0) & (before + d).lt(0)).alias(f"_refused_{counter}"),
        pl.when(has).then(prev).alias(f"_model_{counter}"),
    ]
    if keep_before:
        out.append(before.alias(f"_before_{counter}"))
    return df.with_columns(out).drop("_seg", f"_d_{counter}")


def delta(kinds: dict[str, dict[str, int]], counter: str) -> pl.Expr:
    expr = pl.lit(0, pl.Int64)
    for kind, deltas in kinds.items():
        if counter in deltas:
            expr = (
                pl.when(pl.col("op") == kind)
                .then(pl.lit(deltas[counter], pl.Int64))
                .otherwise(expr)
            )
    return expr
