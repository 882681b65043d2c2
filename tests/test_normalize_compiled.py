"""The compiled call pairing (tracekit.normalize.compiled) pairs exactly as the Python loop does.

Both engines of :func:`tracekit.normalize.calls.pair_calls` run on every capture in the
repository at once (one frame of many sources, as ``tracekit check DIR`` normalises them), and on
event sequences hypothesis builds: tasks of two sources interleaved, entries and returns of a
few functions with missing, extra and out-of-order halves, tracepoints in between.
"""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import captures_read_as
from tracekit.ingest import parse_paths
from tracekit.normalize.calls import func_and_at, order_events, pair_calls


def _both(ev: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    got = pair_calls(ev, engine="compiled").select("_entry", "_call")
    want = pair_calls(ev, engine="python").select("_entry", "_call")
    return got, want


def _prepared(raw: pl.DataFrame) -> pl.DataFrame:
    ev = func_and_at(order_events(raw)).with_row_index("_row")
    return ev.with_columns(pl.col("_row").cast(pl.Int64))


def test_compiled_pairing_equals_python_on_every_capture() -> None:
    paths = captures_read_as(lambda mode: mode.layout is not None)
    ev = _prepared(parse_paths([str(p) for p in paths]).events)
    got, want = _both(ev)
    assert got.equals(want)
    # the captures do pair: most returns find their entry, and calls nest
    returns = ev["_at"] == "return"
    assert got.filter(returns)["_entry"].null_count() < 0.05 * returns.sum()
    assert got.filter(~returns)["_call"].drop_nulls().len() > 10_000


_FUNCS = ["f", "g", "h", None]
_event = st.tuples(
    st.sampled_from(["a", "b"]),  # source
    st.integers(1, 3),  # pid
    st.sampled_from(_FUNCS),
    st.sampled_from([None, "entry", "return"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_event, max_size=60))
def test_compiled_pairing_equals_python_on_random_sequences(
    events: list[tuple[str, int, str | None, str | None]],
) -> None:
    ev = pl.DataFrame(
        {
            "source": [e[0] for e in events],
            "pid": [e[1] for e in events],
            "line": list(range(1, len(events) + 1)),
            "_func": [e[2] if e[3] else None for e in events],  # tracepoints have no function
            "_at": [e[3] for e in events],
        },
        schema={
            "source": pl.String,
            "pid": pl.Int32,
            "line": pl.Int64,
            "_func": pl.String,
            "_at": pl.String,
        },
    )
    ev = ev.with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64) * 3)
    got, want = _both(ev)
    assert got.equals(want)


def test_pairing_by_example() -> None:
    """f opens, g opens inside it, an event, f returns (closing g's entry too), g's late return
    finds nothing; another task's stack is its own."""
    ev = pl.DataFrame(
        {
            "source": ["s"] * 6,
            "pid": [1, 1, 1, 2, 1, 1],
            "line": [10, 11, 12, 13, 14, 15],
            "_func": ["f", "g", None, "f", "f", "g"],
            "_at": ["entry", "entry", None, "return", "return", "return"],
        },
        schema_overrides={"pid": pl.Int32},
    ).with_row_index("_row")
    ev = ev.with_columns(pl.col("_row").cast(pl.Int64))
    for engine in ("python", "compiled"):
        out = pair_calls(ev, engine=engine)  # type: ignore[arg-type]
        assert out["_entry"].to_list() == [None, None, None, None, 0, None], engine
        assert out["_call"].to_list() == [None, 10, 11, None, 10, None], engine
