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
from tracekit.normalize.calls import CLOCK_JUMP
from tracekit.normalize.core import LOSS_START
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

    def fingerprints(self) -> list[str]:
        return fingerprints(self.replayed.states, self.findings)

    def lifecycles(self) -> dict[str, dict[str, int]]:
        """Per file, what became of its buffer objects: see :func:`lifecycles`."""
        return lifecycles(self.replayed.states, self.replayed.ops)

    def finding_dicts(self, *, snippets: bool = False) -> list[dict[str, Any]]:
        """The findings as JSON objects, with fingerprints (and the offending line as
        ``snippet`` if asked)."""
        out = finding_dicts(self.findings, self.fingerprints())
        if snippets:
            quoted = _quoted(self.replayed.parsed.events, self.findings)
            for f in out:
                f["snippet"] = quoted.get((f["file"], f["line"]))
        return out


def run_check(
    names: list[str], rule_dirs: list[str] | None = None, profile_dirs: list[str] | None = None
) -> CheckResult:
    rules = load_rules(rule_dirs)
    files = expand_inputs(names)
    rep = replay_paths(files, profile_dirs)
    return CheckResult(files, rules, rep, evaluate(rep.states, rules))


def lifecycles(states: pl.DataFrame, ops: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Per source: objects seen, created in the capture, freed, freed by the kernel's cleanup
    when their process exited or their file was closed (``drm_gem_release``, the dma-buf's
    file release: not a leak), and still alive at the end (in use, or in flight)."""
    objs = states.filter(pl.col("object").is_not_null())
    if objs.height == 0:
        return {}
    key = ["source", "object", "generation"]
    own_free = (pl.col("op") == "free") & ~pl.col("implicit")
    per = objs.group_by(key).agg(
        created=pl.col("start_known").first(),
        alive=pl.col("alive").sort_by("seq").last(),
        free_seq=pl.col("seq").filter(own_free).min(),
    )
    per = per.join(
        _cleanup_frees(ops),
        left_on=["source", "free_seq"],
        right_on=["source", "seq"],
        how="left",
        maintain_order="left",
    )
    out: dict[str, dict[str, int]] = {}
    for (source,), group in per.group_by("source"):
        freed = group.filter(pl.col("free_seq").is_not_null())
        at_exit = freed.filter(pl.col("_cleanup").fill_null(False))
        out[str(source)] = {
            "objects": group.height,
            "created": int(group["created"].sum()),
            "freed": freed.height,
            "freed_at_exit": at_exit.height,
            "alive_at_end": int(group["alive"].sum()),
        }
    return dict(sorted(out.items()))


def _cleanup_frees(ops: pl.DataFrame) -> pl.DataFrame:
    """``(source, seq, _cleanup)`` of every free: whether it is the kernel's cleanup, a free in
    a task whose last syscall was a ``close`` or its exit, or that released a DRM file since
    (``drm_gem_release``: an exec's close-on-exec, or a release ``fput`` deferred to the task's
    next return to userspace). The file's framebuffers go before ``drm_gem_release`` and a
    dma-buf's object at the dma-buf's release, all in that syscall. A free in a later ioctl of a
    task that closed some other file before is not cleanup (a scenario that opens card0, sees it
    is not the driver it wants and closes it, then frees BOs of card1 with GEM_CLOSE)."""
    # where a task starts to clean up, and where it starts something else (a syscall's exit
    # ends nothing: a deferred fput runs after it)
    starts = ["fd_close", "task_exit", "file_close"]
    others = ["syscall_enter", "ioctl_enter"]
    return (
        ops.filter(pl.col("op").is_in([*starts, *others, "free"]))
        .select("source", "pid", "seq", "op")
        .with_columns(
            _cleanup=pl.when(pl.col("op") != "free")
            .then(pl.col("op").is_in(starts))
            .forward_fill()
            .over("source", "pid", order_by="seq")
            .fill_null(False)
        )
        .filter(pl.col("op") == "free")
        .select("source", "seq", "_cleanup")
    )


def finding_dicts(findings: pl.DataFrame, prints: list[str] | None = None) -> list[dict[str, Any]]:
    """The findings as ``--format json`` prints them (pointers as 0x... text), with their
    fingerprints when given."""
    out = []
    for k, row in enumerate(findings.iter_rows(named=True)):
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
        if prints is not None:
            out[-1]["fingerprint"] = prints[k]
    return out


def _quoted(events: pl.DataFrame, findings: pl.DataFrame) -> dict[tuple[str, int], str]:
    """The event line of each finding, rebuilt from its columns, by ``(source, line)``."""
    keys = findings.select("source", "line").unique()
    out = {}
    for e in events.join(keys, on=["source", "line"], how="semi", maintain_order="left").iter_rows(
        named=True
    ):
        ctx = f"{e['comm']}-{e['pid']}" if e["comm"] is not None else ""
        cpu = f" [{e['cpu']:03d}]" if e["cpu"] is not None else ""
        ts = f" {e['ts'] / 1e9:.6f}:" if e["ts"] is not None and e["ts_unit"] == "ns" else ""
        out[(e["source"], e["line"])] = f"{ctx}{cpu}{ts} {e['event']}: {e['payload'] or ''}".strip()
    return out


def _trails(states: pl.DataFrame, findings: pl.DataFrame, limit: int) -> dict[int, list[dict]]:
    """For the finding in row ``k``: the last ``limit`` state rows of its object (or, for a
    finding on a dma-buf alone, of its dma-buf) up to the finding, in state order."""
    found = findings.with_row_index("_k").with_columns(_at=pl.col("seq"))
    parts = []
    for key, subject in (
        (["source", "object", "generation"], pl.col("object").is_not_null()),
        (["source", "dmabuf"], pl.col("object").is_null() & pl.col("dmabuf").is_not_null()),
    ):
        wanted = found.filter(subject).select("_k", *key, "_at")
        if wanted.height:
            rows = states.filter(pl.col("object").is_null()) if "dmabuf" in key else states
            parts.append(
                rows.with_row_index("_r")
                .join(wanted, on=key, maintain_order="left")
                .filter(pl.col("seq") <= pl.col("_at"))
                .sort("_k", "_r")  # state order, implicit rows after their op
                .group_by("_k", maintain_order=True)
                .tail(limit)
            )
    out: dict[int, list[dict]] = {}
    for part in parts:
        for r in part.iter_rows(named=True):
            out.setdefault(r["_k"], []).append(r)
    return out


def _histories(
    states: pl.DataFrame, findings: pl.DataFrame, limit: int = 8
) -> dict[int, list[str]]:
    """For the finding in row ``k``: its object's last ``limit`` ops up to the finding."""
    out: dict[int, list[str]] = {}
    for k, rows in _trails(states, findings, limit).items():
        for r in rows:
            if r["object"] is None:
                text = (
                    f"line {r['line']:>6} {r['op']:<15} f_count={r['f_count']} "
                    f"vmapping_counter={r['db_vmaps']} attachments={r['attachments']} "
                    f"alive={r['db_alive']}"
                )
            else:
                text = (
                    f"line {r['line']:>6} {r['op']:<15} refs={r['refs']} handles={r['handles']} "
                    f"pages={r['pages']} vmaps={r['vmaps']} kmaps={r['kmaps']} pins={r['pins']} "
                    f"jobs={r['jobs']} alive={r['alive']}"
                    + (f" refused={r['refused']}" if r["refused"] else "")
                )
            out.setdefault(k, []).append(text)
    return out


FINGERPRINT_OPS = 8
"""How many of the object's ops up to a finding its fingerprint covers."""


def fingerprints(states: pl.DataFrame, findings: pl.DataFrame) -> list[str]:
    """A fingerprint per finding that survives re-capturing the same bug: the rule, the
    function of the offending op, and the last :data:`FINGERPRINT_OPS` ops of its object (op
    and function each) up to it; never an address, a pid, a timestamp or a line number, so
    the same bug found again on another boot, with other pointers, matches. ``tracekit/v1``
    in SARIF ``partialFingerprints``; the key of ``tracekit audit`` baselines."""
    import hashlib

    trails = _trails(states, findings, FINGERPRINT_OPS)
    out = []
    for k, row in enumerate(findings.iter_rows(named=True)):
        steps = [f"{r['op']}:{_bare(r['func'])}" for r in trails.get(k, [])]
        text = "\n".join([row["rule"], row["op"] or "", *steps])
        out.append(hashlib.sha256(text.encode()).hexdigest()[:32])
    return out


def _bare(func: str | None) -> str:
    """A function name without what varies between kernel builds (``+0x4/0x30 [drm]``)."""
    return "" if func is None else func.split("+", 1)[0].split(" ", 1)[0]


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
    lives = res.lifecycles()
    if len(lives) > 1:  # one line for all of them: a folder of captures stays readable
        total = {k: sum(life[k] for life in lives.values()) for k in next(iter(lives.values()))}
        lives = {f"{len(lives)} captures": total}
    for source, life in lives.items():
        lines.append(
            f"{source}: {life['objects']} object(s), {life['created']} created in the capture, "
            f"{life['freed']} freed ({life['freed_at_exit']} by the kernel's cleanup when their "
            f"process exited or their file was closed: not leaks), {life['alive_at_end']} alive "
            "at the end (in use or in flight)"
        )
    lost = res.replayed.ops.filter(pl.col("op") == "lost_events")
    markers = (
        lost.filter(~pl.col("func").is_in([CLOCK_JUMP, LOSS_START]).fill_null(False))
        .group_by("source")
        .agg(pl.len().alias("markers"), pl.col("count").sum().alias("events"))
        .sort("source")
    )
    for source, n, events in markers.iter_rows():
        counted = f", {events} events counted" if events else ""
        lines.append(
            f"{source}: events were lost ({n} marker(s){counted}): the state of what was "
            "alive then is uncertain, and verdicts that rest on it are inconclusive"
        )
    # a clock that went back matters where something was alive then (a console log's early
    # boot clock does it before any object exists): the jumps that made objects uncertain
    states = res.replayed.states
    jumps = (
        states.filter(pl.col("op") == "lost_events", pl.col("implicit"))
        .select("source", "seq")
        .join(
            lost.filter(pl.col("func") == CLOCK_JUMP).select("source", "seq", "line"),
            on=["source", "seq"],
            maintain_order="left",
        )
        .group_by("source")
        .agg(pl.col("line").unique().sort())
        .sort("source")
    )
    for source, at in jumps.iter_rows():
        where = ", ".join(str(x) for x in at[:5]) + (", ..." if len(at) > 5 else "")
        lines.append(
            f"{source}: the clock went back (line {where}): what came around it is in no known "
            "order, the state of what was alive then is uncertain, and verdicts that rest on it "
            "are inconclusive"
        )
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
    for f in res.finding_dicts():
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


SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVEL = {"error": "error", "warning": "warning", "inconclusive": "note"}


def sarif(res: CheckResult) -> dict[str, Any]:
    """SARIF 2.1.0 (OASIS) of a check: see :func:`sarif_log`."""
    return sarif_log(res.rules, res.files, res.finding_dicts(snippets=True), res.summary())


def sarif_log(
    rules: list[Rule], files: list[str], findings: list[dict[str, Any]], summary: dict[str, Any]
) -> dict[str, Any]:
    """SARIF 2.1.0 (OASIS): one run, the rules as ``reportingDescriptor``s with their docs, one
    result per finding at its file and line (the offending line as the region's snippet), the
    object as a logical location, the fingerprint in ``partialFingerprints``. Inconclusive
    findings are ``note`` results, so code scanning shows them without failing on them."""
    from tracekit import __version__
    from tracekit.rules import DOC_HEADINGS

    index = {r.id: n for n, r in enumerate(rules)}
    descriptors = []
    for r in rules:
        detects = " ".join(r.doc["detects"].split())
        help_md = "\n\n".join(
            f"**{heading}**\n\n{r.doc[key].strip()}" for key, heading in DOC_HEADINGS.items()
        )
        descriptors.append(
            {
                "id": r.id,
                "name": r.name,
                "shortDescription": {"text": detects},
                "fullDescription": {"text": " ".join(r.doc["why"].split())},
                "help": {"text": " ".join(r.doc["fix"].split()), "markdown": help_md},
                "defaultConfiguration": {"level": r.severity},
                "properties": {
                    "tags": ["drm", "gem", "refcount"],
                    "condition": r.condition,
                    **({"inconclusive": r.inconclusive} if r.inconclusive is not None else {}),
                },
            }
        )
    results = []
    for f in findings:
        region: dict[str, Any] = {"startLine": f["line"]}
        if f.get("snippet") is not None:
            region["snippet"] = {"text": f["snippet"]}
        subject = (
            f"object {f['object']} gen {f['generation']}"
            if f["object"] is not None
            else f"dma-buf {f['dmabuf']}"
        )
        properties: dict[str, Any] = {
            k: f[k] for k in ("verdict", "op", "object", "generation", "dmabuf") if k in f
        }
        if "new" in f:
            properties["new"] = f["new"]
        results.append(
            {
                "ruleId": f["rule"],
                "ruleIndex": index[f["rule"]],
                "level": SARIF_LEVEL[f["verdict"]],
                "message": {"text": f"{subject}: {f['message']}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": _uri(f["file"])},
                            "region": region,
                        },
                        "logicalLocations": [
                            {"name": f["object"] or f["dmabuf"], "kind": "object"}
                        ],
                    }
                ],
                "partialFingerprints": {"tracekit/v1": f["fingerprint"]},
                "properties": properties,
            }
        )
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "tracekit",
                        "version": __version__,
                        "informationUri": "https://github.com/tracekit/tracekit",
                        "rules": descriptors,
                    }
                },
                "artifacts": [{"location": {"uri": _uri(name)}} for name in files],
                "results": results,
                "invocations": [{"executionSuccessful": True, "properties": {"summary": summary}}],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def _uri(name: str) -> str:
    """A file name as a SARIF artifact URI: relative paths stay relative (resolved against the
    checkout by code scanning), absolute ones become ``file://`` URIs, stdin is ``stdin``."""
    from urllib.parse import quote

    if name == "-":
        return "stdin"
    path = Path(name)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix())
