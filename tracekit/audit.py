"""``tracekit audit``: many captures checked in parallel, baselined, in formats CI reads.

Each capture is checked on its own (:func:`audit_one`, the same :func:`tracekit.check.run_check`
as ``tracekit check``), by a process pool or by Ray tasks; the results are put back in input
order, so the findings are byte for byte the same whatever the number of jobs or the executor. A
capture that cannot be read, is empty, or holds no trace event is reported as such and the audit
goes on.

A **baseline** is the set of fingerprints of known findings (:func:`tracekit.check.fingerprints`:
rule, offending op, the object's last ops; never addresses, pids, times or line numbers), so a
re-captured trace of a known bug matches its entry and only new findings fail CI.
"""

from __future__ import annotations

import glob
import json
import os
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from tracekit.check import expand_inputs, run_check
from tracekit.errors import ExitCode, InputError, TracekitError

STATUSES = ("ok", "empty", "not-a-trace", "unreadable")
"""A capture's status: checked; no line at all; lines but not one trace event; not readable."""

BASELINE_VERSION = 1


@dataclass(frozen=True)
class CaptureAudit:
    """One capture's audit: its status, its line and op counts, its findings."""

    file: str
    status: str
    error: str | None = None
    summary: dict[str, int] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0


def audit_one(
    file: str, rule_dirs: list[str] | None = None, profile_dirs: list[str] | None = None
) -> CaptureAudit:
    """Check one capture; never raises for a bad capture (its status says what was wrong)."""
    start = time.perf_counter()
    try:
        res = run_check([file], rule_dirs, profile_dirs)
    except TracekitError as exc:
        return CaptureAudit(file, "unreadable", str(exc), seconds=time.perf_counter() - start)
    summary = {k: v for k, v in res.summary().items() if k not in ("files", "rules")}
    status = "ok"
    if summary["lines"] == 0:
        status = "empty"
    elif summary["events"] == 0:
        status = "not-a-trace"
    return CaptureAudit(
        file,
        status,
        None,
        summary,
        res.finding_dicts(snippets=True),
        time.perf_counter() - start,
    )


# ------------------------------------------------------------------------------------------------
# inputs


def expand_patterns(patterns: list[str]) -> list[str]:
    """Files, directories (their captures, sorted) and glob patterns (``'runs/**/*.txt'``,
    expanded here so CI need not rely on a shell), each capture once, in the order given."""
    files: list[str] = []
    for pat in patterns:
        if glob.has_magic(pat):
            hits = sorted(glob.glob(pat, recursive=True))
            if not hits:
                raise InputError(pat, "no file matches this pattern")
            for hit in hits:
                files += expand_inputs([hit]) if os.path.isdir(hit) else [hit]
        else:
            files += expand_inputs([pat]) if os.path.isdir(pat) else [pat]
    return list(dict.fromkeys(files))


# ------------------------------------------------------------------------------------------------
# executors


Progress = Callable[[CaptureAudit], None]


def run_audit(
    files: list[str],
    *,
    jobs: int = 1,
    executor: str = "process",
    address: str | None = None,
    rule_dirs: list[str] | None = None,
    profile_dirs: list[str] | None = None,
    progress: Progress | None = None,
) -> list[CaptureAudit]:
    """Audit ``files``; the results in the order of ``files`` whatever ran them."""
    if executor == "ray":
        return _run_ray(files, address, rule_dirs, profile_dirs, progress)
    if jobs <= 1 or len(files) <= 1:
        results = []
        for f in files:
            results.append(audit_one(f, rule_dirs, profile_dirs))
            if progress is not None:
                progress(results[-1])
        return results
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    # spawn, not fork: polars' thread pool does not survive a fork
    ctx = multiprocessing.get_context("spawn")
    slots: list[CaptureAudit | None] = [None] * len(files)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {
            pool.submit(audit_one, f, rule_dirs, profile_dirs): i for i, f in enumerate(files)
        }
        for fut in as_completed(futures):
            slots[futures[fut]] = fut.result()
            if progress is not None:
                progress(slots[futures[fut]])  # type: ignore[arg-type]
    return [s for s in slots if s is not None]


def _run_ray(
    files: list[str],
    address: str | None,
    rule_dirs: list[str] | None,
    profile_dirs: list[str] | None,
    progress: Progress | None,
) -> list[CaptureAudit]:
    try:
        import ray
    except ImportError:
        raise TracekitError("the ray executor needs Ray: pip install 'tracekit[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        remote: Any = ray.remote(audit_one)
        refs = [remote.remote(f, rule_dirs, profile_dirs) for f in files]
        index = {ref: i for i, ref in enumerate(refs)}
        slots: list[CaptureAudit | None] = [None] * len(files)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                slots[index[ref]] = ray.get(ref)
                if progress is not None:
                    progress(slots[index[ref]])  # type: ignore[arg-type]
        return [s for s in slots if s is not None]
    finally:
        if started:
            ray.shutdown()


# ------------------------------------------------------------------------------------------------
# baselines


def read_baseline(path: str) -> set[str]:
    """The fingerprints of a baseline file written by :func:`baseline_document`."""
    try:
        doc = json.loads(Path(path).read_text())
    except OSError as exc:
        raise InputError(path, exc.strerror or "cannot read") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"not a tracekit baseline (bad JSON: {exc.msg})") from None
    if not isinstance(doc, dict) or doc.get("version") != BASELINE_VERSION:
        raise InputError(path, f"not a tracekit baseline (version {BASELINE_VERSION} expected)")
    return {e["fingerprint"] for e in doc.get("findings", [])}


def baseline_document(results: list[CaptureAudit]) -> dict[str, Any]:
    """Every finding's fingerprint once, with its rule and where it was first seen: the file to
    commit next to the CI configuration."""
    entries: dict[str, dict[str, Any]] = {}
    for r in results:
        for f in r.findings:
            e = entries.setdefault(
                f["fingerprint"],
                {
                    "fingerprint": f["fingerprint"],
                    "rule": f["rule"],
                    "name": f["name"],
                    "first_seen": f"{f['file']}:{f['line']}",
                    "message": f["message"],
                    "count": 0,
                },
            )
            e["count"] += 1
    return {
        "version": BASELINE_VERSION,
        "tool": "tracekit",
        "findings": sorted(entries.values(), key=lambda e: (e["rule"], e["fingerprint"])),
    }


def mark_new(results: list[CaptureAudit], known: set[str] | None) -> list[dict[str, Any]]:
    """All findings in input order, each with ``new`` (its fingerprint is not in the baseline;
    every finding is new without one) and ``capture`` (its capture's index)."""
    out = []
    for i, r in enumerate(results):
        for f in r.findings:
            out.append({**f, "capture": i, "new": known is None or f["fingerprint"] not in known})
    return out


# ------------------------------------------------------------------------------------------------
# reports


def totals(results: list[CaptureAudit], findings: list[dict[str, Any]]) -> dict[str, Any]:
    status = {s: sum(r.status == s for r in results) for s in STATUSES}
    by_verdict = {
        v: sum(f["verdict"] == v for f in findings) for v in ("error", "warning", "inconclusive")
    }
    return {
        "captures": len(results),
        **status,
        "lines": sum(r.summary.get("lines", 0) for r in results),
        "events": sum(r.summary.get("events", 0) for r in results),
        "rejected": sum(r.summary.get("rejected", 0) for r in results),
        "ops": sum(r.summary.get("ops", 0) for r in results),
        "findings": len(findings),
        **by_verdict,
        "new": sum(f["new"] for f in findings),
        "new_errors": sum(f["new"] and f["verdict"] == "error" for f in findings),
    }


def exit_code(summary: dict[str, Any]) -> ExitCode:
    """1 if there is a new error finding; else 3 if a capture could not be read; else 0."""
    if summary["new_errors"]:
        return ExitCode.FINDINGS
    if summary["unreadable"]:
        return ExitCode.UNREADABLE
    return ExitCode.OK


def json_document(results: list[CaptureAudit], findings: list[dict[str, Any]]) -> dict[str, Any]:
    captures = []
    for r in results:
        d = asdict(r)
        d.pop("findings")
        d.pop("seconds")  # not deterministic
        captures.append(d)
    return {
        "captures": captures,
        "findings": [{k: v for k, v in f.items() if k != "snippet"} for f in findings],
        "summary": totals(results, findings),
    }


def per_rule(findings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = {}
    for f in findings:
        row = rows.setdefault(
            f["rule"],
            {
                "rule": f["rule"],
                "name": f["name"],
                "error": 0,
                "warning": 0,
                "inconclusive": 0,
                "new": 0,
                "captures": set(),
            },
        )
        row[f["verdict"]] += 1
        row["new"] += f["new"]
        row["captures"].add(f["capture"])
    out = []
    for rule in sorted(rows):
        row = rows[rule]
        out.append({**row, "captures": len(row["captures"])})
    return out


def by_capture(
    results: list[CaptureAudit], findings: list[dict[str, Any]]
) -> list[list[dict[str, Any]]]:
    """The findings of each capture, in the order of ``results``."""
    out: list[list[dict[str, Any]]] = [[] for _ in results]
    for f in findings:
        out[f["capture"]].append(f)
    return out


def junit_document(
    results: list[CaptureAudit], findings: list[dict[str, Any]], rules: Iterable[Any]
) -> str:
    """JUnit XML: a suite per capture, a case per rule; new error findings fail their case,
    baselined ones, warnings and inconclusive ones go to system-out; an unreadable capture is
    one errored case."""
    import xml.etree.ElementTree as ET

    rules = list(rules)
    suites = ET.Element("testsuites", name="tracekit audit")
    total = fails = errors = 0
    for r, mine in zip(results, by_capture(results, findings), strict=True):
        suite = ET.SubElement(suites, "testsuite", name=r.file)
        if r.status == "unreadable":
            case = ET.SubElement(suite, "testcase", classname=r.file, name="read capture")
            ET.SubElement(case, "error", type="unreadable", message=r.error or "").text = r.error
            suite.set("tests", "1")
            suite.set("errors", "1")
            suite.set("failures", "0")
            total, errors = total + 1, errors + 1
            continue
        n_fail = 0
        for rule in rules:
            case = ET.SubElement(suite, "testcase", classname=r.file, name=f"{rule.id} {rule.name}")
            hits = [f for f in mine if f["rule"] == rule.id]
            failing = [f for f in hits if f["new"] and f["verdict"] == "error"]
            others = [f for f in hits if not (f["new"] and f["verdict"] == "error")]
            if failing:
                n_fail += 1
                ET.SubElement(
                    case,
                    "failure",
                    type=rule.id,
                    message=f"{len(failing)} new finding(s); first at line {failing[0]['line']}",
                ).text = "\n".join(f"{r.file}:{f['line']}: {f['message']}" for f in failing)
            if others:
                ET.SubElement(case, "system-out").text = "\n".join(
                    f"{r.file}:{f['line']}: {f['verdict']}{'' if f['new'] else ' (baselined)'}: "
                    f"{f['message']}"
                    for f in others
                )
        suite.set("tests", str(len(rules)))
        suite.set("failures", str(n_fail))
        suite.set("errors", "0")
        total += len(rules)
        fails += n_fail
    suites.set("tests", str(total))
    suites.set("failures", str(fails))
    suites.set("errors", str(errors))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def write_dataset(out: str, results: list[CaptureAudit], findings: list[dict[str, Any]]) -> None:
    """``OUT/findings`` and ``OUT/captures``: Parquet datasets partitioned by capture (hive
    style, ``capture=<name>``), for DuckDB (``read_parquet('OUT/findings/**/*.parquet',
    hive_partitioning = true)``), Spark or polars (``pl.scan_parquet(..., hive_partitioning=
    True)``). The partition name is the capture's path with every character that is not a
    letter, digit, ``.``, ``-`` or ``_`` replaced by ``_``; ``file`` keeps the path itself."""
    import shutil

    names = _partition_names([r.file for r in results])
    root = Path(out)
    for sub in ("findings", "captures"):
        if (root / sub).exists():
            shutil.rmtree(root / sub)
    caps = pl.DataFrame(
        [
            {
                "capture": names[i],
                "file": r.file,
                "status": r.status,
                "error": r.error,
                **{k: r.summary.get(k) for k in _SUMMARY_KEYS},
                "seconds": r.seconds,
            }
            for i, r in enumerate(results)
        ],
        schema={
            "capture": pl.String,
            "file": pl.String,
            "status": pl.String,
            "error": pl.String,
            **{k: pl.Int64 for k in _SUMMARY_KEYS},
            "seconds": pl.Float64,
        },
    )
    caps.write_parquet(root / "captures", partition_by="capture")
    rows = [
        {**{k: f.get(k) for k in _FINDING_KEYS}, "capture": names[f["capture"]]} for f in findings
    ]
    schema = {k: _FINDING_TYPES.get(k, pl.String) for k in _FINDING_KEYS} | {"capture": pl.String}
    table = pl.DataFrame(rows, schema=schema)
    if table.height:
        table.write_parquet(root / "findings", partition_by="capture")
    else:
        (root / "findings").mkdir(parents=True, exist_ok=True)


_SUMMARY_KEYS = (
    "lines",
    "events",
    "rejected",
    "ops",
    "findings",
    "error",
    "warning",
    "inconclusive",
)
_FINDING_KEYS = (
    "rule",
    "name",
    "severity",
    "verdict",
    "object",
    "generation",
    "dmabuf",
    "file",
    "line",
    "op",
    "message",
    "fingerprint",
    "new",
)

_FINDING_TYPES: dict[str, Any] = {"generation": pl.Int32, "line": pl.Int64, "new": pl.Boolean}


def _partition_names(files: list[str]) -> list[str]:
    names: list[str] = []
    used: set[str] = set()
    for f in files:
        base = re.sub(r"[^A-Za-z0-9._-]", "_", f.lstrip("./")) or "capture"
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}_{n}"
        used.add(name)
        names.append(name)
    return names
