"""Benchmark of the buffer-object model: the vectorised engine against the reference interpreter.

    python bench/model.py                      # 1M and 10M ops
    python bench/model.py --ops 1000000        # quick

The ops are real normalisation output: the bench generator's 1M-line capture is parsed and
normalised once (cached in the work directory), then tiled to the requested size with the object,
dma-buf and file addresses of each copy moved apart, so every copy is a separate set of objects
replayed in one source. The engine replays all of it; the reference interpreter replays a prefix
(``--reference-ops``), and both rates are printed side by side, with the engine's peak RSS and
the time the shipped rules take over the engine's states.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tracekit.ingest import parse_paths  # noqa: E402
from tracekit.model import engine, reference  # noqa: E402
from tracekit.normalize import normalize  # noqa: E402
from tracekit.rules import evaluate, load_rules  # noqa: E402
from tracekit.schema import OPS  # noqa: E402

POINTERS = ("object", "dmabuf", "file", "vma", "fb", "cb", "attachment")


def base_ops(workdir: Path) -> pl.DataFrame:
    cached = workdir / "model-base-ops.parquet"
    if cached.exists():
        ops = pl.read_parquet(cached)
        if ops.columns == list(OPS):  # a cache made before the OPS schema changed is remade
            return ops
    capture = workdir / "model-capture-1000000.txt"
    if not capture.exists():
        subprocess.run(
            [
                sys.executable,
                str(HERE / "gen.py"),
                "--lines",
                "1000000",
                "--out",
                str(capture),
                "--seed",
                "7",
            ],
            check=True,
        )
    ops = normalize(parse_paths([str(capture)]).events).ops.with_columns(
        pl.lit("bench").alias("source")
    )
    ops.write_parquet(cached)
    return ops


def tiled(base: pl.DataFrame, n: int) -> pl.DataFrame:
    copies = []
    k = 0
    total = 0
    while total < n:
        shift = k << 36
        copies.append(
            base.with_columns(
                *[(pl.col(c) + shift).alias(c) for c in POINTERS],
                (pl.col("seq") + k * base.height).alias("seq"),
                (pl.col("pid") + k * 100_000).cast(pl.Int32).alias("pid"),
                pl.when(pl.col("job").is_not_null())
                .then(pl.format("{}-{}", pl.lit(k), pl.col("job")))
                .alias("job"),
            )
        )
        total += base.height
        k += 1
    return pl.concat(copies).head(n)


def measure(ops: pl.DataFrame, reference_ops: int, repeat: int) -> dict[str, float]:
    """The engine's best of ``repeat`` runs (the first also warms polars' thread pool up),
    the rules and the reference interpreter once."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        states, checks = engine.replay(ops)
        times.append(time.perf_counter() - t0)
    t_engine = min(times)
    t0 = time.perf_counter()
    findings = evaluate(states, load_rules())
    t_rules = time.perf_counter() - t0
    prefix = ops.head(reference_ops)
    t0 = time.perf_counter()
    reference.replay_reference(prefix)
    t_ref = time.perf_counter() - t0
    return {
        "ops": ops.height,
        "engine_s": t_engine,
        "engine_ops_per_s": ops.height / t_engine,
        "engine_first_s": times[0],
        "reference_ops": prefix.height,
        "reference_s": t_ref,
        "reference_ops_per_s": prefix.height / t_ref,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "states_rows": states.height,
        "rules_s": t_rules,
        "rules_rows_per_s": states.height / t_rules,
        "findings": findings.height,
        "checks": checks.height,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ops", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--reference-ops", type=int, default=200_000)
    ap.add_argument(
        "--repeat", type=int, default=3, help="engine runs per size up to 1M ops (best kept)"
    )
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/tracekit-bench"))
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    base = base_ops(args.workdir)
    print(
        f"base: {base.height} ops from a 1M-line generated capture; op mix: "
        + ", ".join(
            f"{op}={n}"
            for op, n in base.group_by("op").len().sort("len", descending=True).head(8).iter_rows()
        )
    )
    results = []
    print(
        f"{'ops':>12} {'engine s':>9} {'engine ops/s':>13} {'ref ops':>9} {'ref ops/s':>11} {'speed-up':>9} {'peak RSS MB':>12} {'rules s':>8} {'rules rows/s':>13}"
    )
    for n in args.ops:
        r = measure(tiled(base, n), args.reference_ops, args.repeat if n <= 1_000_000 else 1)
        results.append(r)
        print(
            f"{r['ops']:>12,} {r['engine_s']:>9.2f} {r['engine_ops_per_s']:>13,.0f} {r['reference_ops']:>9,} "
            f"{r['reference_ops_per_s']:>11,.0f} {r['engine_ops_per_s'] / r['reference_ops_per_s']:>8.1f}x {r['peak_rss_mb']:>12,.0f} "
            f"{r['rules_s']:>8.2f} {r['rules_rows_per_s']:>13,.0f}"
        )
    out = HERE / "results" / "model-latest.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
