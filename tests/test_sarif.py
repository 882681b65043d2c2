"""`tracekit check --format sarif`: valid SARIF 2.1.0 (validated against the vendored OASIS
schema), with the findings where `--format json` puts them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
from typer.testing import CliRunner

from tests.conftest import ROOT, TRACES
from tracekit.cli import app
from tracekit.errors import ExitCode

SCHEMA = json.loads((ROOT / "tests" / "schemas" / "sarif-2.1.0-rtm.5.json").read_text())
runner = CliRunner()


def _run(*args: str) -> tuple[int, dict]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, json.loads(result.stdout)


def test_sarif_of_the_seed_bugs_is_valid_and_matches_json() -> None:
    code, doc = _run(str(TRACES / "seeds"), "--format", "sarif")
    assert code == ExitCode.FINDINGS
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    assert doc["version"] == "2.1.0"
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted(r["id"] for r in rules)
    _, js = _run(str(TRACES / "seeds"), "--format", "json")
    want = [
        (f["rule"], Path(f["file"]).as_uri(), f["line"], f["fingerprint"], f["verdict"])
        for f in js["findings"]
    ]
    got = [
        (
            r["ruleId"],
            r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            r["locations"][0]["physicalLocation"]["region"]["startLine"],
            r["partialFingerprints"]["tracekit/v1"],
            r["properties"]["verdict"],
        )
        for r in run["results"]
    ]
    assert got == want
    assert all(rules[r["ruleIndex"]]["id"] == r["ruleId"] for r in run["results"])
    # the offending line is quoted as the region's snippet
    tk004 = next(r for r in run["results"] if r["ruleId"] == "TK004")
    assert (
        "dma_buf_vunmap: dmabuf=0xff3db51701f89300"
        in (tk004["locations"][0]["physicalLocation"]["region"]["snippet"]["text"])
    )


def test_sarif_of_clean_captures_has_no_results_and_is_valid() -> None:
    clean = sorted(
        str(p)
        for p in (TRACES / "real" / "linux-6.12").glob("*.txt")
        if p.name != "lost_events.txt"
    )
    code, doc = _run(*clean, "--format", "sarif")
    assert code == ExitCode.OK
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    run = doc["runs"][0]
    assert run["results"] == []
    summary = run["invocations"][0]["properties"]["summary"]
    assert len(run["artifacts"]) == summary["files"] >= 7


def test_sarif_levels_follow_verdicts(tmp_path: Path) -> None:
    """An inconclusive finding (object first seen mid-life) is a `note`: code scanning shows
    it without failing on it."""
    seed = (TRACES / "seeds" / "000-vram-vmap-counting.txt").read_text().splitlines()
    # drop the creation of the BOs: the capture starts mid-life
    midlife = [ln for ln in seed if "drm_gem_object_init" not in ln and "vram_create" not in ln]
    path = tmp_path / "midlife.txt"
    path.write_text("\n".join(midlife) + "\n")
    _, doc = _run(str(path), "--format", "sarif")
    jsonschema.Draft4Validator(SCHEMA).validate(doc)
    levels = {r["properties"]["verdict"]: r["level"] for r in doc["runs"][0]["results"]}
    assert levels and set(levels) == {"inconclusive"}
    assert levels["inconclusive"] == "note"


def test_schema_rejects_a_broken_document() -> None:
    """The validation can fail: a result without a message is not SARIF."""
    _, doc = _run(str(TRACES / "seeds"), "--format", "sarif")
    del doc["runs"][0]["results"][0]["message"]
    try:
        jsonschema.Draft4Validator(SCHEMA).validate(doc)
    except jsonschema.ValidationError:
        return
    raise AssertionError("a result without a message passed the SARIF schema")
