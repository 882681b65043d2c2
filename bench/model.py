"""Benchmark of the buffer-object model: both engines against the reference interpreter.

    python bench/model.py                      # 1M and 10M ops (~3 min on 2 cores)
    python bench/model.py --ops 1000000        # quick

The ops are real normalisation output: the bench generator's 1M-line capture is parsed and
normalised once (cached in the work directory), then tiled to the requested size with the object,
dma-buf and file addresses of each copy moved apart, so every copy is a separate set of objects
replayed in one source.

Each measurement runs in a fresh Python process, so its peak RSS is its own and its memory as
fresh as a ``tracekit check`` run's:

- ``compiled``: :func:`tracekit.model.engine.replay` with ``engine="compiled"``, the whole call
  (STATES and VERIFY as Arrow tables) and, within it, the state computation alone: the compiled
  pass that computes every object's and dma-buf's state after every op and compares the sampled
  counters (``pass s``; what runs before it on a second thread, numbering addresses and
  allocating its tables, is in the whole call's time, not in the pass's);
- ``polars``: the same call with ``engine="polars"`` (up to ``--polars-max`` ops: at 10M it takes
  over a minute and 15 GB);
- ``reference``: the step-by-step interpreter on a ``--reference-ops`` prefix;
- ``rules``: the shipped rules over the compiled engine's states (``tracekit check``'s last
  stage).

Both engines' tables are checked against the reference interpreter's on a prefix first (the
differential tests do so on random sequences; this guards the bench's own input). The best of ``--repeat``
runs is kept (2 above 1M ops): all runs of an engine share one process, so the first shows the
cost of memory the process never had, and the best the computation itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tracekit.ingest import parse_paths  # noqa: E402
from tracekit.model import compiled, engine, reference  # noqa: E402
from tracekit.normalize import normalize  # noqa: E402
from tracekit.rules import evaluate, load_rules  # noqa: E402
from tracekit.schema import OPS  # noqa: E402

POINTERS = ("object", "dmabuf", "file", "vma", "fb", "cb", "attachment")


def base_ops(workdir: Path) -> pl.DataFrame:
    cached = workdir / "model-base-ops.parquet"
    if cached.exists():
        ops = pl.read_parquet(cached)
        if ops.schema == pl.Schema(OPS):  # a cache made before the OPS schema changed is remade
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
    span = base["seq"].max() + 1  # each copy's seqs after the last copy's: still in order
    k = 0
    total = 0
    while total < n:
        shift = k << 36
        copies.append(
            base.with_columns(
                *[(pl.col(c) + shift).alias(c) for c in POINTERS],
                (pl.col("seq") + k * span).alias("seq"),
                (pl.col("pid") + k * 100_000).cast(pl.Int32).alias("pid"),
                pl.when(pl.col("job").is_not_null())
                .then(pl.format("{}-{}", pl.lit(k), pl.col("job")))
                .alias("job"),
            )
        )
        total += base.height
        k += 1
    return pl.concat(copies).head(n).rechunk()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(kind: str, n: int, workdir: Path, inner: int = 1) -> dict[str, object]:
    """One measurement, in this (fresh) process."""
    if kind == "prepare":  # make the cached base ops
        return {"kind": kind, "ops": base_ops(workdir).height}
    ops = tiled(base_ops(workdir), n)
    out: dict[str, object] = {"kind": kind, "ops": ops.height}
    if kind == "reference":
        t0 = time.perf_counter()
        reference.replay_reference(ops)
        out["wall_s"] = time.perf_counter() - t0
    elif kind in ("compiled", "polars"):
        run = compiled._run
        loop: list[float] = []
        if kind == "compiled":
            # load (or compile) the loop before timing it, and time the loop within the call
            engine.replay(ops.head(1000), engine="compiled")

            def timed(*args: object) -> tuple[int, int]:
                t = time.perf_counter()
                result = run(*args)
                loop.append(time.perf_counter() - t)
                return result  # type: ignore[no-any-return]

            compiled._run = timed
        walls = []
        for _ in range(inner):
            t0 = time.perf_counter()
            states, checks = engine.replay(ops, engine=kind)  # type: ignore[arg-type]
            walls.append(time.perf_counter() - t0)
            out["states_rows"] = states.height
            out["checks"] = checks.height
            del states, checks
        # the first run touches memory the process never had (costly on a VM whose host takes
        # freed pages back); the next ones reuse it, and show the computation itself
        out["first_s"] = walls[0]
        out["wall_s"] = min(walls)
        out["walls"] = walls
        if loop:
            out["loop_first_s"] = loop[0]
            out["loop_s"] = min(loop)
    elif kind == "rules":
        states, _ = engine.replay(ops, engine="compiled")
        rules = load_rules()
        t0 = time.perf_counter()
        findings = evaluate(states, rules)
        out["wall_s"] = time.perf_counter() - t0
        out["states_rows"] = states.height
        out["findings"] = findings.height
    elif kind == "agree":
        # the engines' tables on this input are the same
        ref = reference.replay_reference(ops)
        for name in ("compiled", "polars"):
            got = engine.replay(ops, engine=name)  # type: ignore[arg-type]
            for a, b in zip(got, ref, strict=True):
                if not a.equals(b):
                    out["ok"] = False
                    out["problem"] = f"{name} engine differs from the reference on {n} ops"
                    return out
        out["ok"] = True
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def run_child(kind: str, n: int, workdir: Path, inner: int = 1) -> dict[str, object]:
    """One measurement in a fresh process (``inner`` runs of an engine: the first and the best)."""
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--one",
            kind,
            str(n),
            "--inner",
            str(inner),
            "--workdir",
            str(workdir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{kind} at {n} ops failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ops", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--reference-ops", type=int, default=200_000)
    ap.add_argument("--polars-max", type=int, default=1_000_000)
    ap.add_argument("--agree-ops", type=int, default=20_000)
    ap.add_argument(
        "--repeat", type=int, default=3, help="engine runs per size in one process (best kept)"
    )
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/tracekit-bench"))
    ap.add_argument("--one", nargs=2, metavar=("KIND", "N"), help=argparse.SUPPRESS)
    ap.add_argument("--inner", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]), args.workdir, args.inner)))
        return 0
    # the normalisation behind the cached ops runs in a child too: a child's peak RSS counts the
    # parent's memory at the time it was started (Linux keeps the high-water mark across exec)
    run_child("prepare", 0, args.workdir)
    base = base_ops(args.workdir)
    print(
        f"base: {base.height} ops from a 1M-line generated capture; op mix: "
        + ", ".join(
            f"{op}={n}"
            for op, n in base.group_by("op").len().sort("len", descending=True).head(8).iter_rows()
        )
    )
    agree = run_child("agree", args.agree_ops, args.workdir)
    if not agree["ok"]:
        print(agree["problem"])
        return 1
    print(f"engines agree with the reference interpreter on the first {args.agree_ops:,} ops")
    reference_run = run_child("reference", args.reference_ops, args.workdir, 1)
    ref_rate = reference_run["ops"] / reference_run["wall_s"]  # type: ignore[operator]
    header = (
        f"{'ops':>12} {'engine':<10} {'first s':>8} {'best s':>8} {'ops/s':>12} {'pass s':>7} "
        f"{'pass ops/s':>11} {'x reference':>12} {'peak RSS MB':>12}"
    )
    print(header)
    print("-" * len(header))
    results: list[dict[str, object]] = [reference_run]
    for n in args.ops:
        repeat = args.repeat if n <= 1_000_000 else 2
        kinds = ["compiled"] + (["polars"] if n <= args.polars_max else [])
        for kind in kinds:
            r = run_child(kind, n, args.workdir, repeat)
            results.append(r)
            rate = r["ops"] / r["wall_s"]  # type: ignore[operator]
            loop = (
                f"{r['loop_s']:>7.2f} {r['ops'] / r['loop_s']:>11,.0f}"  # type: ignore[operator]
                if "loop_s" in r
                else f"{'':>7} {'':>11}"
            )
            print(
                f"{r['ops']:>12,} {kind:<10} {r['first_s']:>8.2f} {r['wall_s']:>8.2f} "
                f"{rate:>12,.0f} {loop} {rate / ref_rate:>11.1f}x {r['peak_rss_mb']:>12,.0f}"
            )
        rules = run_child("rules", n, args.workdir, 1)
        results.append(rules)
        print(
            f"{rules['ops']:>12,} {'(rules)':<10} {'':>8} {rules['wall_s']:>8.2f} "
            f"{rules['states_rows'] / rules['wall_s']:>12,.0f} rows/s over the states"  # type: ignore[operator]
        )
    print(
        f"{reference_run['ops']:>12,} {'reference':<10} {'':>8} {reference_run['wall_s']:>8.2f} "
        f"{ref_rate:>12,.0f} {'':>7} {'':>11} {1:>11.1f}x {reference_run['peak_rss_mb']:>12,.0f}"
    )
    # the target, said plainly: the state computation (the pass) and the whole call
    for r in results:
        if r.get("kind") == "compiled" and r["ops"] >= 10_000_000 and "loop_s" in r:
            pass_rate = r["ops"] / r["loop_s"]  # type: ignore[operator]
            call_rate = r["ops"] / r["wall_s"]  # type: ignore[operator]
            print(
                f"target, state computation of 10M ops at >= 10M ops/s: the pass "
                f"{pass_rate / 1e6:.1f}M ops/s ({'met' if pass_rate >= 10e6 else 'not met'}; "
                f"{pass_rate / ref_rate:.0f}x the reference's {ref_rate / 1e3:.1f}k ops/s); "
                f"the whole call, STATES and VERIFY built, {call_rate / 1e6:.1f}M ops/s"
            )
    out = HERE / "results" / "model-latest.json"
    out.parent.mkdir(exist_ok=True)
    machine = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "loadavg": os.getloadavg(),
    }
    out.write_text(json.dumps({"machine": machine, "runs": results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
