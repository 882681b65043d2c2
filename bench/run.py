#!/usr/bin/env python3
"""Ingest throughput: tracekit side by side with a polars ``read_csv`` floor, on generated captures.

For each size, :mod:`gen` writes a realistic tracefs capture (cached in the work directory), then
each measurement runs in a fresh Python process, so that its peak RSS is its own:

- ``baseline``: polars ``read_csv`` of the file as one string column (how tracekit splits lines:
  the floor for any ingest built on it);
- ``parse_to_parquet``: ``tracekit.ingest.parse_to_parquet([file], out)``, the streaming ingest;
- ``parse_paths``: ``tracekit.ingest.parse_paths([file])``, in memory (small sizes only);
- ``ops``: ``parse_paths`` then ``tracekit.normalize.normalize`` (the operations ``tracekit ops``
  prints and replay runs on), in memory (small sizes only); the JSON has the normalisation's own
  time (``normalize_s``) and the ops made.

The wall time is that of the call alone (interpreter start-up and imports excluded; the process
total is in the JSON). Each measurement is repeated (``--repeat``; 3 up to 1M lines, else 1) and
the best wall time is reported with the highest peak RSS of the repeats (the floor, which takes
seconds, always runs 3 times). tracekit's line
accounting is checked: ``lines`` must equal the file's line count and ``rejected`` must be 0,
otherwise the exit status is 1. Timings are never asserted.

Usage: ``python bench/run.py [--sizes 1000000 10000000] [--keep] [--workdir DIR]``
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
GEN = BENCH / "gen.py"
RESULTS = BENCH / "results" / "latest.json"
DEFAULT_WORKDIR = Path("/tmp/tracekit-bench")
TOOLS = ("baseline", "parse_to_parquet", "parse_paths", "ops")
IN_MEMORY = ("parse_paths", "ops")
LABELS = {
    "baseline": "polars read_csv (floor)",
    "parse_to_parquet": "tracekit parse_to_parquet",
    "parse_paths": "tracekit parse_paths",
    "ops": "tracekit parse + normalize",
}


# ------------------------------------------------------------------------------------------------
# the child: one measurement in a fresh process


def child(tool: str, path: str, out: str) -> dict[str, Any]:
    """Run one measurement in this (fresh) process and return what it saw."""
    t_start = time.perf_counter()
    result: dict[str, Any]
    if tool == "baseline":
        import polars as pl

        t0 = time.perf_counter()
        from tracekit.ingest.source import LINE_READER

        # exactly the call tracekit splits lines with, on the whole file
        df = pl.read_csv(path, **LINE_READER)
        wall = time.perf_counter() - t0
        result = {"lines": df.height}
    elif tool == "parse_to_parquet":
        from tracekit.ingest import parse_to_parquet

        t0 = time.perf_counter()
        summary = parse_to_parquet([path], out)
        wall = time.perf_counter() - t0
        result = summary.as_dict()
    elif tool == "parse_paths":
        from tracekit.ingest import parse_paths

        t0 = time.perf_counter()
        parsed = parse_paths([path])
        wall = time.perf_counter() - t0
        result = parsed.summary.as_dict()
        result["event_rows"] = parsed.events.height
    elif tool == "ops":
        from tracekit.ingest import parse_paths
        from tracekit.normalize import normalize

        t0 = time.perf_counter()
        parsed = parse_paths([path])
        t1 = time.perf_counter()
        ops = normalize(parsed.events).ops
        wall = time.perf_counter() - t0
        result = parsed.summary.as_dict()
        result["normalize_s"] = time.perf_counter() - t1
        result["ops"] = ops.height
    else:
        raise SystemExit(f"unknown tool {tool!r}")
    result.pop("sources", None)
    return {
        "tool": tool,
        "wall_s": wall,
        "import_s": t0 - t_start,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,  # KiB on Linux
        "result": result,
    }


# ------------------------------------------------------------------------------------------------
# the parent: captures, runs, checks, report


def _gen_hash() -> str:
    return hashlib.sha256(GEN.read_bytes()).hexdigest()[:10]


def ensure_capture(
    workdir: Path, size: int, seed: int, lost_every: int, objects: int
) -> tuple[Path, dict[str, Any]]:
    """The generated capture for ``size`` lines: from the cache, or generated now."""
    stem = f"trace-{size}-seed{seed}-lost{lost_every}-obj{objects}"
    path = workdir / f"{stem}-{_gen_hash()}.txt"
    meta_path = path.with_name(path.name + ".meta.json")
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("bytes") == path.stat().st_size and meta.get("lines") == size:
            print(f"[{size:,}] using cached {path}", flush=True)
            return path, meta
    for stale in workdir.glob(f"{stem}-*.txt*"):  # made by another version of gen.py
        stale.unlink()
    tmp = path.with_name(path.name + ".tmp")
    print(f"[{size:,}] generating {path} ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            str(GEN),
            "--lines",
            str(size),
            "--out",
            str(tmp),
            "--seed",
            str(seed),
            "--lost-every",
            str(lost_every),
            "--objects",
            str(objects),
        ],
        check=True,
    )
    tmp.with_name(tmp.name + ".meta.json").replace(meta_path)
    tmp.replace(path)
    return path, json.loads(meta_path.read_text())


def warm(path: Path) -> None:
    """Read the file once so that every measurement starts from a warm page cache."""
    with path.open("rb") as fh:
        while fh.read(64 << 20):
            pass


def run_child(tool: str, path: Path, out: Path) -> dict[str, Any]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", tool, str(path), str(out)],
        capture_output=True,
        text=True,
    )
    process_s = time.perf_counter() - t0
    if proc.returncode != 0:
        return {
            "tool": tool,
            "error": proc.stderr.strip()[-2000:] or f"exit {proc.returncode}",
            "process_s": process_s,
        }
    run = json.loads(proc.stdout.strip().splitlines()[-1])
    run["process_s"] = process_s
    return run


def check(tool: str, run: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    """tracekit's line accounting against what the generator wrote."""
    if "error" in run:
        return [f"{tool} failed: {run['error'].splitlines()[-1] if run['error'] else ''}"]
    res = run["result"]
    problems: list[str] = []
    if tool == "baseline":
        return problems  # the floor: its row count is reported, not checked
    if res["lines"] != meta["file_lines"]:
        problems.append(f"{tool}: lines={res['lines']} but the file has {meta['file_lines']}")
    if res["rejected"]:
        problems.append(f"{tool}: {res['rejected']} lines rejected")
    if tool == "ops" and not res["ops"]:
        problems.append("ops: normalisation made no ops")
    return problems


def summarise(tool: str, runs: list[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    ok_runs = [r for r in runs if "error" not in r]
    if not ok_runs:
        return {"tool": tool, "error": runs[-1]["error"], "runs": runs}
    best = min(ok_runs, key=lambda r: r["wall_s"])
    wall = best["wall_s"]
    res = best["result"]
    events = res.get("events")
    return {
        "tool": tool,
        "wall_s": round(wall, 4),
        "lines_per_s": round(res["lines"] / wall),
        "events_per_s": round(events / wall) if events is not None else None,
        "mb_per_s": round(meta["bytes"] / 1e6 / wall, 1),
        "peak_rss_mb": round(max(r["peak_rss_mb"] for r in ok_runs), 1),
        "lines": res["lines"],
        "events": events,
        # the generator's count; tracekit reports LOST markers as events too
        "events_expected": (
            meta["event_lines"] + meta["lost_markers"] if events is not None else None
        ),
        "rejected": res.get("rejected"),
        "ignored": res.get("ignored"),
        "runs": runs,
    }


def machine() -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "nproc_available": len(os.sched_getaffinity(0)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "polars": version("polars"),
        "pyarrow": version("pyarrow"),
        "tracekit": version("tracekit"),
        "loadavg_start": os.getloadavg(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        info["cpu"] = next(
            (
                ln.split(":", 1)[1].strip()
                for ln in cpuinfo.splitlines()
                if ln.startswith("model name")
            ),
            None,
        )
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["mem_gb"] = round(int(mem[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def _rate(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def print_table(rows: list[dict[str, Any]]) -> None:
    head = (
        f"{'size':>12}  {'tool':<27} {'wall s':>8} {'lines/s':>9} {'events/s':>9} "
        f"{'MB/s':>7} {'peak RSS MB':>12} {'x baseline':>11}"
    )
    print()
    print(head)
    print("-" * len(head))
    for r in rows:
        s = r["summary"]
        label = LABELS[s["tool"]]
        if "error" in s:
            print(f"{r['size']:>12,}  {label:<27} FAILED: {s['error'].splitlines()[-1][:60]}")
            continue
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else "-"
        print(
            f"{r['size']:>12,}  {label:<27} {s['wall_s']:>8.2f} {_rate(s['lines_per_s']):>9} "
            f"{_rate(s['events_per_s']):>9} {s['mb_per_s']:>7.1f} {s['peak_rss_mb']:>12.0f} "
            f"{ratio:>11}"
        )
    print()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1_000_000, 10_000_000],
        help="capture sizes in trace lines (default: 1000000 10000000)",
    )
    ap.add_argument(
        "--workdir",
        type=Path,
        default=DEFAULT_WORKDIR,
        help=f"captures (cached) and outputs go here (default {DEFAULT_WORKDIR})",
    )
    ap.add_argument(
        "--keep",
        action="store_true",
        help="keep the Parquet outputs (captures are always kept as a cache)",
    )
    ap.add_argument("--clean", action="store_true", help="delete the cached captures at the end")
    ap.add_argument(
        "--repeat",
        type=int,
        default=0,
        help="runs per measurement (default: 3 up to 1M lines, else 1)",
    )
    ap.add_argument(
        "--in-memory-max",
        type=int,
        default=1_000_000,
        help="largest size that also runs parse_paths and ops (in memory)",
    )
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--lost-every",
        type=int,
        default=250_000,
        help="a CPU:N [LOST M EVENTS] line about every K lines (0: none)",
    )
    ap.add_argument("--objects", type=int, default=100_000, help="distinct GEM object addresses")
    ap.add_argument("--results", type=Path, default=RESULTS, help="JSON results file")
    ap.add_argument("--child", nargs=3, metavar=("TOOL", "FILE", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child:
        print(json.dumps(child(*args.child)))
        return 0

    args.workdir.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(
        f"tracekit {info['tracekit']}, polars {info['polars']}, python {info['python']}, "
        f"{info['nproc']} CPUs, load {info['loadavg_start'][0]:.2f}",
        flush=True,
    )
    rows: list[dict[str, Any]] = []
    sizes_out: list[dict[str, Any]] = []
    problems: list[str] = []
    captures: list[Path] = []
    for size in args.sizes:
        path, meta = ensure_capture(args.workdir, size, args.seed, args.lost_every, args.objects)
        captures.append(path)
        warm(path)
        repeats = args.repeat or (3 if size <= 1_000_000 else 1)
        tools = [t for t in TOOLS if t not in IN_MEMORY or size <= args.in_memory_max]
        # the floor takes seconds where tracekit takes a minute: always give it 3 tries
        n_runs = {t: max(repeats, 3) if t == "baseline" else repeats for t in tools}
        runs: dict[str, list[dict[str, Any]]] = {t: [] for t in tools}
        for i in range(max(n_runs.values())):  # round robin: noise hits every tool alike
            for tool in tools:
                if i >= n_runs[tool]:
                    continue
                out = args.workdir / f"out-{size}-{tool}-{i}.parquet"
                print(f"[{size:,}] {tool} run {i + 1}/{n_runs[tool]} ...", end=" ", flush=True)
                run = run_child(tool, path, out)
                runs[tool].append(run)
                print(f"{run['wall_s']:.2f}s" if "error" not in run else "FAILED", flush=True)
                problems += [f"[{size:,}] {p}" for p in check(tool, run, meta)]
                if not args.keep:
                    for f in (out, out.with_name(out.stem + ".rejects.parquet")):
                        f.unlink(missing_ok=True)
        base = summarise("baseline", runs["baseline"], meta)
        entry: dict[str, Any] = {
            "size": size,
            "file": str(path),
            "bytes": meta["bytes"],
            "file_lines": meta["file_lines"],
            "generator": meta,
            "tools": {},
        }
        for tool in tools:
            s = summarise(tool, runs[tool], meta)
            ratio = None
            if "error" not in s and "error" not in base:
                ratio = round(s["wall_s"] / base["wall_s"], 2)
                s["ratio_vs_baseline"] = ratio
            entry["tools"][tool] = s
            rows.append({"size": size, "summary": s, "ratio": ratio})
        sizes_out.append(entry)

    print_table(rows)
    info["loadavg_end"] = os.getloadavg()
    report = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "params": {
            "seed": args.seed,
            "lost_every": args.lost_every,
            "objects": args.objects,
            "repeat": args.repeat or "3 up to 1M lines, else 1 (the floor: 3)",
            "wall": "best of the repeats, call only (no start-up/imports)",
            "peak_rss": "highest ru_maxrss of the repeats (each a fresh process)",
        },
        "sizes": sizes_out,
        "ok": not problems,
        "problems": problems,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {args.results}")
    if args.clean:
        for p in captures:
            p.unlink(missing_ok=True)
            p.with_name(p.name + ".meta.json").unlink(missing_ok=True)
    if problems:
        print("LINE ACCOUNTING FAILED:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    print("line accounting: ok (lines match the file, 0 rejected)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
