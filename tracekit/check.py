"""``tracekit check``: captures in, findings out (text or JSON), exit code for CI.

Inputs may be files or directories; a directory stands for the capture files under it (by
suffix, see :data:`CAPTURE_SUFFIXES`), in sorted order, so ``tracekit check traces/`` reads the
same files in the same order on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracekit.errors import InputError
from tracekit.replay import Replayed, replay_paths
from tracekit.rules import Rule, evaluate, load_rules

CAPTURE_SUFFIXES = (".txt", ".log", ".trace", ".report", ".perf", ".eml", ".mbox", ".patch")
COMPRESSED = (".gz", ".xz", ".zst", ".bz2")


def expand_inputs(names: list[str]) -> list[str]:
    """Files as given; directories replaced by their capture files (recursively, sorted)."""
    out: list[str] = []
    for name in names:
        p = Path(name)
        if name != "-" and p.is_dir():
            found = sorted(str(f) for f in p.rglob("*") if f.is_file() and _is_capture(f.name))
            if not found:
                raise InputError(name, f"no capture files ({', '.join(CAPTURE_SUFFIXES)})")
            out += found
        else:
            out.append(name)
    return out


def _is_capture(filename: str) -> bool:
    name = filename
    for z in COMPRESSED:
        if name.endswith(z):
            name = name[: -len(z)]
    return name.endswith(CAPTURE_SUFFIXES)


@dataclass(frozen=True)
class CheckResult:
    files: list[str]
    rules: list[Rule]
    replayed: Replayed
    findings: pl.DataFrame

    def counts(self) -> dict[str, int]:
        by = dict(self.findings.group_by("verdict").len().iter_rows())
        return {v: int(by.get(v, 0)) for v in ("error", "warning", "inconclusive")}

    def summary(self) -> dict[str, Any]:
        s = self.replayed.parsed.summary
        return {
            "files": len(self.files),
            "lines": s.lines,
            "events": s.events,
            "rejected": s.rejected,
            "ops": self.replayed.ops.height,
            "rules": len(self.rules),
            "findings": self.findings.height,
            **self.counts(),
        }


def run_check(
    names: list[str], rule_dirs: list[str] | None = None, profile_dirs: list[str] | None = None
) -> CheckResult:
    rules = load_rules(rule_dirs)
    files = expand_inputs(names)
    rep = replay_paths(files, profile_dirs)
    return CheckResult(files, rules, rep, evaluate(rep.states, rules))


def finding_dicts(findings: pl.DataFrame) -> list[dict[str, Any]]:
    """The findings as ``--format json`` prints them (pointers as 0x... text)."""
    out = []
    for row in findings.iter_rows(named=True):
        out.append(
            {
                "rule": row["rule"],
                "name": row["name"],
                "severity": row["severity"],
                "verdict": row["verdict"],
                "object": None if row["object"] is None else f"0x{row['object']:x}",
                "generation": row["generation"],
                "dmabuf": None if row["dmabuf"] is None else f"0x{row['dmabuf']:x}",
                "file": row["source"],
                "line": row["line"],
                "op": row["op"],
                "message": row["message"],
            }
        )
    return out


def _quoted(events: pl.DataFrame, findings: pl.DataFrame) -> dict[tuple[str, int], str]:
    """The event line of each finding, rebuilt from its columns, by ``(source, line)``."""
    keys = findings.select("source", "line").unique()
    out = {}
    for e in events.join(keys, on=["source", "line"], how="semi").iter_rows(named=True):
        ctx = f"{e['comm']}-{e['pid']}" if e["comm"] is not None else ""
        cpu = f" [{e['cpu']:03d}]" if e["cpu"] is not None else ""
        ts = f" {e['ts'] / 1e9:.6f}:" if e["ts"] is not None and e["ts_unit"] == "ns" else ""
        out[(e["source"], e["line"])] = f"{ctx}{cpu}{ts} {e['event']}: {e['payload'] or ''}".strip()
    return out


def _histories(
    states: pl.DataFrame, findings: pl.DataFrame, limit: int = 8
) -> dict[int, list[str]]:
    """For the finding in row ``k``: its object's last ``limit`` ops up to the finding."""
    key = ["source", "object", "generation"]
    wanted = findings.with_row_index("_k").filter(pl.col("object").is_not_null())
    hist = (
        states.with_row_index("_r")
        .join(wanted.select("_k", *key, pl.col("seq").alias("_at")), on=key)
        .filter(pl.col("seq") <= pl.col("_at"))
        .sort("_k", "_r")  # state order, implicit rows after their op
        .group_by("_k", maintain_order=True)
        .tail(limit)
    )
    out: dict[int, list[str]] = {}
    for r in hist.iter_rows(named=True):
        out.setdefault(r["_k"], []).append(
            f"line {r['line']:>6} {r['op']:<15} refs={r['refs']} handles={r['handles']} "
            f"pages={r['pages']} vmaps={r['vmaps']} kmaps={r['kmaps']} pins={r['pins']} "
            f"jobs={r['jobs']} alive={r['alive']}"
        )
    return out


def text_report(res: CheckResult) -> list[str]:
    """Plain lines: each finding, the offending line quoted, the object's recent history."""
    lines: list[str] = []
    quoted = _quoted(res.replayed.parsed.events, res.findings)
    histories = _histories(res.replayed.states, res.findings)
    for k, row in enumerate(res.findings.iter_rows(named=True)):
        where = f"{row['source']}:{row['line']}"
        obj = (
            f" object 0x{row['object']:x} gen {row['generation']}"
            if row["object"] is not None
            else ""
        )
        if row["object"] is None and row["dmabuf"] is not None:
            obj = f" dma-buf 0x{row['dmabuf']:x}"
        lines.append(
            f"{where}: {row['verdict']}: {row['rule']} {row['name']}:{obj}: {row['message']}"
        )
        text = quoted.get((row["source"], row["line"]))
        if text is not None:
            lines.append(f"  {row['line']:>6} | {text}")
        lines += [f"    {h}" for h in histories.get(k, [])]
    c = res.counts()
    s = res.summary()
    lines.append(
        f"{s['files']} file(s), {s['lines']} lines, {s['ops']} ops, {s['rules']} rules: "
        f"{c['error']} error(s), {c['warning']} warning(s), {c['inconclusive']} inconclusive"
    )
    return lines


def junit_xml(res: CheckResult) -> str:
    """JUnit XML: one test suite per input file, one test case per rule; a rule's error
    findings in that file are its failure, warnings and inconclusive findings go to system-out.
    Every file is reported, so a CI dashboard shows clean captures as passing."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="tracekit check")
    by_file: dict[str, list[dict[str, Any]]] = {f: [] for f in res.files}
    for f in finding_dicts(res.findings):
        by_file.setdefault(f["file"], []).append(f)
    total_failures = 0
    for name, findings in by_file.items():
        suite = ET.SubElement(suites, "testsuite", name=name, tests=str(len(res.rules)))
        failures = 0
        for rule in res.rules:
            case = ET.SubElement(suite, "testcase", classname=name, name=f"{rule.id} {rule.name}")
            mine = [f for f in findings if f["rule"] == rule.id]
            errors = [f for f in mine if f["verdict"] == "error"]
            if errors:
                failures += 1
                failure = ET.SubElement(
                    case,
                    "failure",
                    type=rule.id,
                    message=f"{len(errors)} finding(s); first at line {errors[0]['line']}",
                )
                failure.text = "\n".join(
                    f"{name}:{f['line']}: {f['object'] or f['dmabuf']}: {f['message']}"
                    for f in errors
                )
            others = [f for f in mine if f["verdict"] != "error"]
            if others:
                ET.SubElement(case, "system-out").text = "\n".join(
                    f"{name}:{f['line']}: {f['verdict']}: {f['message']}" for f in others
                )
        suite.set("failures", str(failures))
        total_failures += failures
    suites.set("tests", str(len(by_file) * len(res.rules)))
    suites.set("failures", str(total_failures))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
