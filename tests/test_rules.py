"""Rules and ``tracekit check``: every rule's examples, silence on real clean captures, verdicts,
rule-file validation, the JSON/CLI contract, golden findings and determinism."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.conftest import ONLY_A_SYSCALL_SAYS, ROOT, TRACES, tampered
from tests.test_model_differential import _ops, op_rows
from tracekit.check import run_check
from tracekit.cli import app
from tracekit.errors import ExitCode, GrammarError
from tracekit.model.engine import replay
from tracekit.model.reference import replay_reference
from tracekit.replay import replay_paths
from tracekit.rules import (
    DERIVED,
    _end_rows,
    _with_derived,
    evaluate,
    example_problems,
    expected_findings,
    load_rule,
    load_rules,
)

RULES = load_rules()
runner = CliRunner()
GOLDEN = ROOT / "tests" / "golden" / "check-examples.json"

# The names are part of the interface: CI configurations and suppressions refer to them.
SHIPPED = {
    "TK001": "leaked-reference",
    "TK002": "unbalanced-kmap",
    "TK003": "mapped-at-free",
    "TK004": "vunmap-wrong-address",
    "TK005": "userptr-over-limit",
    "TK006": "free-with-live-job",
    "TK007": "use-after-free",
    "TK008": "refcount-underflow",
    "TK009": "userptr-partial-pin",
    "TK010": "pages-leaked-at-free",
    "TK011": "unbalanced-pin",
    "TK012": "mapping-outlives-object",
    "TK013": "purge-unpurgeable",
    "TK014": "error-path-leak",
}


def test_shipped_rule_ids_and_names() -> None:
    assert {r.id: r.name for r in RULES} == SHIPPED


@pytest.mark.parametrize("rule", RULES, ids=lambda r: f"{r.id}-{r.name}")
def test_rule_examples_fire_exactly_where_annotated(rule) -> None:
    """The violating example is flagged at its '# expect:' lines and nowhere else (by any rule);
    the clean one gives no finding at all."""
    assert example_problems(rule, RULES) == []


def test_expected_findings_reads_annotations() -> None:
    text = (
        "# tracer: nop\n# expect: TK003 TK010\n# another comment\n  x-1 [000] ..... 1.0: e: a=1\n"
    )
    assert expected_findings(text) == {("TK003", 4), ("TK010", 4)}


REAL = sorted(TRACES.glob("real/**/*.txt"))
# the ring buffer overrun captures lost most of their events on purpose (traces/real/README.md)
CLEAN = [p for p in REAL if p.name != "lost_events.txt"]
# framebuffers removed out of order, none named: which BO a destroy put is a guess
GUESSED = TRACES / "real/linux-6.1.0-57-default-probes/random2_s25.txt"
CLEAN.remove(GUESSED)


def test_no_finding_at_all_on_real_clean_captures() -> None:
    """Every bundled real capture is of correct kernel behaviour: not one finding, of any
    verdict (file closes releasing handles, the kernel's teardown order, vgem fences in a
    reservation object at free, forks, threads, failing ioctls are all normal)."""
    rep = replay_paths([str(p) for p in CLEAN])
    findings = evaluate(rep.states, RULES)
    assert len(CLEAN) >= 33
    assert findings.height == 0, findings.to_dicts()


def test_an_overrun_capture_gives_only_inconclusive_findings() -> None:
    """What the overrun hid (an object's creation) makes a verdict inconclusive, not wrong."""
    lossy = [p for p in REAL if p.name == "lost_events.txt"]
    rep = replay_paths([str(p) for p in lossy])
    findings = evaluate(rep.states, RULES)
    # 6.1 (two builds, one with the rig's own probes), 6.12 (and its PREEMPT_RT build), 6.16,
    # 6.17, 6.18, 7.3
    assert len(lossy) == 8
    assert set(findings["verdict"].to_list()) == {"inconclusive"}


def test_a_guessed_framebuffer_destroy_makes_a_verdict_inconclusive_not_wrong() -> None:
    """random2_s25 (6.1, the rig's probes) removes the second of three framebuffers first, and
    nothing names what any destroy puts (no vmap, no 6.12 handle put). The model puts the
    task's oldest lookup, the first framebuffer's BO, so the second's BO keeps a reference the
    kernel dropped, and the dma-buf release's put later drives it below zero. Those BOs are
    uncertain from the guess on: the underflow is inconclusive, and no error fails the run."""
    rep = replay_paths([str(GUESSED)])
    findings = evaluate(rep.states, RULES)
    assert findings.select("rule", "line", "verdict").rows() == [("TK008", 846, "inconclusive")]
    guessed = rep.states.filter(pl.col("uncertain")).select("object").unique()
    assert guessed.height == 3  # the three framebuffers' BOs
    assert rep.disagreements.height == 0
    aside = rep.verified.filter(pl.col("why") == "framebuffer destroy guessed")
    assert aside.select("line", "counter", "kernel", "model").rows() == [(645, "refcount", 2, 3)]


def test_a_difference_no_guessed_destroy_explains_is_a_disagreement(tmp_path: Path) -> None:
    """The reason reads the values: one guessed destroy explains one reference, not two."""
    rep = replay_paths([tampered(tmp_path, GUESSED, 645, "refcount=2 ", "refcount=1 ")])
    assert (645, "refcount", 1) in rep.disagreements.select("line", "counter", "kernel").rows()


def test_no_finding_on_real_captures_without_syscall_tracepoints(tmp_path: Path) -> None:
    copies = []
    for path in CLEAN:
        if path in ONLY_A_SYSCALL_SAYS:
            continue
        out = tmp_path / f"{path.parent.name}-{path.name}"
        out.write_text("".join(x for x in path.read_text().splitlines(True) if ": sys_" not in x))
        copies.append(str(out))
    findings = evaluate(replay_paths(copies).states, RULES)
    assert findings.height == 0, findings.to_dicts()


def _example(rule_id: str, kind: str = "violating") -> str:
    return next(r for r in RULES if r.id == rule_id).examples[kind]


def test_object_seen_mid_life_gives_inconclusive_not_error(tmp_path: Path) -> None:
    """Without its create the object's counts are not known: the same bug is inconclusive and
    the exit code does not fail CI."""
    text = "".join(
        line for line in _example("TK003").splitlines(True) if "drm_gem_object_init" not in line
    )
    path = tmp_path / "midlife.txt"
    path.write_text(text)
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    doc = json.loads(result.stdout)
    assert {f["verdict"] for f in doc["findings"]} == {"inconclusive"}
    assert doc["summary"]["error"] == 0 and doc["summary"]["inconclusive"] >= 1


def test_a_capture_cut_inside_a_release_is_inconclusive(tmp_path: Path) -> None:
    """TK001's own ``inconclusive``: a capture that ends right after ``dma_buf_release`` (the
    task did nothing after it) cannot show the exporter's put that comes next in that call. The
    same leak is an error once the task goes on to its next syscall, and stays one when the
    release met a live vmap (BUG_ON(vmapping_counter) stops the task before the put: seed 002)."""
    lines = _example("TK001").splitlines(True)
    release = next(i for i, x in enumerate(lines) if "dma_buf_release:" in x)
    verdicts = {}
    for name, text in (
        ("went-on", "".join(lines)),
        ("cut", "".join(lines[: release + 1])),
        ("bug-on", (TRACES / "seeds" / "002-dmabuf-released-vmapped.txt").read_text()),
    ):
        path = tmp_path / f"{name}.txt"
        path.write_text(text)
        doc = json.loads(runner.invoke(app, ["check", str(path), "--format", "json"]).stdout)
        verdicts[name] = [
            (f["rule"], f["verdict"]) for f in doc["findings"] if f["rule"] == "TK001"
        ]
    assert verdicts == {
        "went-on": [("TK001", "error")],
        "cut": [("TK001", "inconclusive")],
        "bug-on": [("TK001", "error")],
    }


def test_check_names_where_the_clock_went_back(tmp_path: Path) -> None:
    """A real capture whose clock was reset mid-run: no finding, and check says where the clock
    went back; the same capture pasted twice (nothing alive at the jump) says nothing of it."""
    from tests.test_normalize import _header_and_body, _pasted

    head, body = _header_and_body(TRACES / "real" / "linux-6.12" / "vgem_basic.txt")
    mid = len(body) // 2
    reset = tmp_path / "reset.txt"
    reset.write_text("".join(head + body[:mid] + _pasted(body[mid:], 10)))
    twice = tmp_path / "twice.txt"
    twice.write_text("".join(head + body + body))
    for path, said in ((reset, f"the clock went back (line {len(head) + mid + 1})"), (twice, None)):
        result = runner.invoke(app, ["check", str(path)])
        assert result.exit_code == ExitCode.OK, result.output
        assert "0 error(s), 0 warning(s), 0 inconclusive" in result.stdout
        assert (said in result.stdout) if said else ("clock went back" not in result.stdout)


CUT_CAPTURES = [
    TRACES / "real" / "linux-6.12" / "cirrus_prime.txt",
    TRACES / "real" / "linux-6.12" / "vgem_dmabuf_mmap.txt",
    TRACES / "real" / "linux-7.3" / "vgem_basic.txt",
]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CUT_CAPTURES), st.integers(1, 800))
@example(CUT_CAPTURES[0], 144)
def test_a_clean_capture_cut_anywhere_gives_no_error(
    tmp_path_factory: pytest.TempPathFactory, path: Path, k: int
) -> None:
    """A capture stopped at any line (the buffer filled, the user stopped it, a mail cut it
    short) is no bug: what the cut leaves unfinished may make verdicts inconclusive, never an
    error or a warning. (The example: an importer's vunmap whose dma_buf_vunmap the cut
    removed; found by cutting twelve real captures at every line.)"""
    lines = path.read_text().splitlines(True)
    cut = tmp_path_factory.mktemp("cut") / path.name
    cut.write_text("".join(lines[: min(k, len(lines))]))
    found = run_check([str(cut)]).findings
    assert found.filter(pl.col("verdict") != "inconclusive").height == 0, (k, found.to_dicts())


def test_lost_events_make_the_verdict_inconclusive(tmp_path: Path) -> None:
    lines = _example("TK003").splitlines(True)
    at = next(i for i, x in enumerate(lines) if "drm_gem_shmem_vmap:" in x)
    lines.insert(at, "CPU:1 [LOST 37 EVENTS]\n")
    path = tmp_path / "lost.txt"
    path.write_text("".join(lines))
    doc = json.loads(runner.invoke(app, ["check", str(path), "--format", "json"]).stdout)
    # the object alive across the loss is inconclusive; the one created after it is not
    assert {(f["rule"], f["object"], f["verdict"]) for f in doc["findings"]} == {
        ("TK003", "0xff2fca2fc2046200", "inconclusive"),
        ("TK010", "0xff2fca2fc2046200", "inconclusive"),
        ("TK003", "0xff2fca2fc2047400", "error"),
    }


def test_check_json_contract_and_exit_code(tmp_path: Path) -> None:
    path = tmp_path / "bug.txt"
    path.write_text(_example("TK003"))
    result = runner.invoke(app, ["check", str(path), "--format", "json"])
    assert result.exit_code == ExitCode.FINDINGS
    doc = json.loads(result.stdout)
    first = doc["findings"][0]
    fingerprint = first.pop("fingerprint")
    assert len(fingerprint) == 32 and int(fingerprint, 16) >= 0
    assert first == {
        "rule": "TK003",
        "name": "mapped-at-free",
        "severity": "error",
        "verdict": "error",
        "object": "0xff2fca2fc2046200",
        "generation": 1,
        "dmabuf": None,
        "file": str(path),
        "line": 9,
        "op": "free",
        "message": "free with live kernel mappings: kmaps=0 vmaps=1 dma-buf vmapping_counter=-",
    }
    assert doc["summary"]["error"] == 3 and doc["summary"]["rejected"] == 0


def test_check_text_quotes_the_line_and_the_history(tmp_path: Path) -> None:
    path = tmp_path / "bug.txt"
    path.write_text(_example("TK002"))
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == ExitCode.FINDINGS
    assert (
        f"{path}:10: error: TK002 unbalanced-kmap: object 0xff2fca2fc2046200 gen 1" in result.stdout
    )
    assert "drm_gem_shmem_vunmap: shmem=0xff2fca2fc2046200" in result.stdout
    # the kernel warns and leaves vmap_use_count at 0; the history says it refused
    assert "vunmap          refs=1 handles=0 pages=1 vmaps=0" in result.stdout
    assert "alive=True refused=vmaps" in result.stdout


def test_check_clean_directory_exits_zero() -> None:
    """Correct kernels: no error, no warning; the overrun captures' five inconclusive findings
    and the guessed framebuffer destroy's one do not fail the run."""
    result = runner.invoke(app, ["check", str(TRACES / "real")])
    assert result.exit_code == ExitCode.OK, result.output
    assert "0 error(s), 0 warning(s), 6 inconclusive" in result.stdout


def test_check_missing_input_is_unreadable() -> None:
    result = runner.invoke(app, ["check", "/nonexistent/capture.txt"])
    assert result.exit_code == ExitCode.UNREADABLE


def test_golden_findings_of_every_violating_example(tmp_path: Path) -> None:
    """All violating examples checked together (file names only, so the golden file does not
    depend on where the test runs). Regenerate: TRACEKIT_REGEN=1 pytest tests/test_rules.py."""
    import os

    for r in RULES:
        (tmp_path / f"{r.id}-{r.name}.txt").write_text(r.examples["violating"])
    result = runner.invoke(app, ["check", str(tmp_path), "--format", "json"])
    doc = json.loads(result.stdout)
    for f in doc["findings"]:
        f["file"] = Path(f["file"]).name
    text = json.dumps(doc, indent=2, sort_keys=True) + "\n"
    if os.environ.get("TRACEKIT_REGEN"):
        GOLDEN.write_text(text)
    assert text == GOLDEN.read_text()


def test_findings_do_not_depend_on_input_order(tmp_path: Path) -> None:
    paths = []
    for r in RULES:
        p = tmp_path / f"{r.id}.txt"
        p.write_text(r.examples["violating"])
        paths.append(str(p))
    forward = evaluate(replay_paths(paths).states, RULES)
    backward = evaluate(replay_paths(paths[::-1]).states, RULES)
    assert forward.equals(backward)


def _bundled_states() -> pl.DataFrame:
    return replay_paths(sorted(str(p) for p in TRACES.rglob("*.txt"))).states


def test_derived_columns_follow_each_object_row_by_row() -> None:
    states = _bundled_states()
    rows = _with_derived(states)
    # no row added, lost or moved (the derived columns are joined on, never the table)
    assert rows.select(states.columns).equals(states)
    # the sources in another order come back in replay order, with the same values
    sources = states["source"].unique(maintain_order=True).to_list()
    shuffled = pl.concat([states.filter(pl.col("source") == s) for s in reversed(sources)])
    assert _with_derived(shuffled).equals(rows)
    # an object's previous row, read one row at a time
    last: dict[tuple, dict] = {}
    for row in rows.iter_rows(named=True):
        key = (row["source"], row["object"], row["generation"])
        before = last.get(key)
        assert row["was_alive"] == (before["alive"] if before else None)
        assert row["prev_vaddr"] == (before["vaddr"] if before else None)
        last[key] = row


def test_only_the_derived_columns_the_rules_read_are_computed() -> None:
    states = _bundled_states()
    end_rows = {"db_owner_alive", "had_handle", "fb_refs", "task_went_on"}
    per_row = set(DERIVED) - end_rows
    assert end_rows <= set(_end_rows(_with_derived(states)).columns)
    assert per_row <= set(_with_derived(states).columns)
    some = _with_derived(states, {"ref_jobs"})
    assert "ref_jobs" in some.columns and not {"was_alive", "failed_ret"} & set(some.columns)
    everything = evaluate(states, RULES)
    assert everything.height > 0
    for rule in RULES:
        alone = evaluate(states, [rule])
        assert alone.equals(everything.filter(pl.col("rule") == rule.id)), rule.id


# --- rule files ----------------------------------------------------------------------------------

GOOD = """
id = "TK900"
name = "any-vmap"
severity = "warning"
condition = 'op == "vmap"'
message = "vmap at {vaddr}"
[doc]
detects = "x"
why = "x"
kernel = "x"
fix = "x"
"""


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (("TK900", "TK9"), "is not TKnnn"),
        (("any-vmap", "Any_Vmap"), "kebab-case"),
        (('"warning"', '"fatal"'), "severity"),
        (("op == ", "op === "), "bad condition"),
        (('op == "vmap"', "colour == 1"), "unknown column(s) colour"),
        (("{vaddr}", "{__class__}"), "unknown column"),
        (
            ("[doc]", 'inconclusive = "colour == 1"\n[doc]'),
            "inconclusive uses unknown column(s) colour",
        ),
        (("[doc]", 'inconclusive = "op =="\n[doc]'), "inconclusive: "),
        (("[doc]", "inconclusive = 3\n[doc]"), "inconclusive must be a condition"),
        (('fix = "x"', ""), "doc is missing fix"),
    ],
)
def test_bad_rule_files_are_refused_with_the_reason(tmp_path: Path, change, why) -> None:
    path = tmp_path / "TK900.toml"
    path.write_text(GOOD.replace(*change))
    with pytest.raises(GrammarError, match=why.replace("(", r"\(").replace(")", r"\)")):
        load_rule(path)


def test_user_rules_directory_adds_a_rule(tmp_path: Path) -> None:
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "TK900-any-vmap.toml").write_text(GOOD)
    bug = tmp_path / "bug.txt"
    bug.write_text(_example("TK003", "clean"))
    result = runner.invoke(app, ["check", str(bug), "--rules", str(rules_dir), "--format", "json"])
    assert result.exit_code == ExitCode.OK  # a warning does not fail CI
    doc = json.loads(result.stdout)
    assert [(f["rule"], f["verdict"], f["line"]) for f in doc["findings"]] == [
        ("TK900", "warning", 5)
    ]
    (rules_dir / "dup.toml").write_text(GOOD.replace("any-vmap", "again"))
    result = runner.invoke(app, ["check", str(bug), "--rules", str(rules_dir)])
    assert result.exit_code == ExitCode.USAGE and "already used" in result.stderr


def test_rules_list_explain_example_test() -> None:
    listing = runner.invoke(app, ["rules", "list"])
    assert listing.exit_code == 0 and len(listing.stdout.splitlines()) == len(RULES)
    explain = runner.invoke(app, ["rules", "explain", "mapped-at-free"])
    assert explain.exit_code == 0
    for heading in ("What it detects", "Why it matters", "Kernel reference", "How to fix"):
        assert heading in explain.stdout
    assert runner.invoke(app, ["rules", "explain", "TK999"]).exit_code == ExitCode.USAGE
    example = runner.invoke(app, ["rules", "example", "TK003"])
    assert "# expect: TK003" in example.stdout
    assert runner.invoke(app, ["rules", "test"]).exit_code == 0


# --- properties ----------------------------------------------------------------------------------


@given(st.lists(op_rows(), min_size=1, max_size=60))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_rules_agree_across_engines_and_flag_every_negative_map_count(rows: list[dict]) -> None:
    ops = _ops(rows)
    states, _ = replay(ops)
    assert _with_derived(states).height == states.height
    findings = evaluate(states, RULES)
    assert findings.equals(evaluate(replay_reference(ops)[0], RULES))
    # one finding per rule and object generation (or dma-buf)
    per = findings.group_by("rule", "object", "generation", "dmabuf").len()
    assert per["len"].max() in (None, 1)
    # every kunmap/vunmap that drives a map count below zero is flagged at or before it
    bad = states.filter(
        pl.col("op").is_in(["kunmap", "vunmap"]) & ((pl.col("kmaps") < 0) | (pl.col("vmaps") < 0))
    )
    flagged = findings.filter(pl.col("rule") == "TK002")
    for row in bad.iter_rows(named=True):
        hit = flagged.filter(
            (pl.col("object") == row["object"]) & (pl.col("generation") == row["generation"])
        )
        assert hit.height == 1 and hit["seq"][0] <= row["seq"]


def test_check_junit_has_a_case_per_file_and_rule(tmp_path: Path) -> None:
    import xml.etree.ElementTree as ET

    bug, clean = tmp_path / "bug.txt", tmp_path / "clean.txt"
    bug.write_text(_example("TK003"))
    clean.write_text(_example("TK003", "clean"))
    result = runner.invoke(app, ["check", str(bug), str(clean), "--format", "junit"])
    assert result.exit_code == ExitCode.FINDINGS
    root = ET.fromstring(result.stdout.split("\n", 1)[1])
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {str(bug), str(clean)}
    assert root.get("tests") == str(2 * len(RULES)) and root.get("failures") == "2"
    failed = {
        c.get("name") for c in suites[str(bug)].iter("testcase") if c.find("failure") is not None
    }
    assert failed == {"TK003 mapped-at-free", "TK010 pages-leaked-at-free"}
    tk003 = next(c for c in suites[str(bug)].iter("testcase") if c.get("name").startswith("TK003"))
    assert (
        tk003.find("failure").text.count(f"{bug}:") == 2
    )  # the object free and the dma-buf release
    assert suites[str(clean)].get("failures") == "0"


def test_check_says_what_became_of_the_objects() -> None:
    """A handle and a dma-buf fd left open at exit: no finding, and the report says the kernel
    released them when the process exited (the capture tracekit's own script recorded)."""
    path = TRACES / "real" / "linux-6.12" / "tracekit_record_leak_at_exit.txt"
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == ExitCode.OK
    assert (
        f"{path}: 1 object(s), 1 created in the capture, 1 freed (1 by the kernel's cleanup when "
        "their process exited or their file was closed: not leaks), 0 alive at the end"
    ) in result.stdout
    leak = runner.invoke(
        app, ["check", str(TRACES / "real" / "linux-6.12" / "vgem_leak_at_exit.txt")]
    )
    assert (
        "4 object(s), 4 created in the capture, 4 freed (4 by the kernel's cleanup" in leak.stdout
    )


def test_cleanup_is_what_a_close_or_an_exit_frees() -> None:
    """A free is the kernel's cleanup when the task's last syscall was a close or its exit (or
    it released a DRM file since), not whenever the task closed some file before: the scenario
    opens card0 (vgem), closes it, and frees the cirrus BOs A and B with GEM_CLOSE; C stays on
    the plane past the end (CLOSEFB, 6.12). On 6.1 CLOSEFB is refused, and the file's close
    frees C in the worker that disables the plane: not in the task's cleanup either."""
    for kernel, freed, alive in (("linux-6.12.118", 2, 1), ("linux-6.1.0-57-default-probes", 3, 0)):
        path = TRACES / "real" / kernel / "atomic_closefb.txt"
        result = runner.invoke(app, ["check", str(path)])
        assert result.exit_code == ExitCode.OK
        assert (
            f"{path}: 3 object(s), 3 created in the capture, {freed} freed (0 by the kernel's "
            f"cleanup when their process exited or their file was closed: not leaks), {alive} "
            "alive at the end"
        ) in result.stdout
    # the parent's close of a dma-buf fd frees the object behind it, and the forked child's
    # exit frees the two objects only its fds held: cleanup, all three; the munmap's is not
    path = TRACES / "real" / "linux-6.12" / "fork_exit.txt"
    result = runner.invoke(app, ["check", str(path)])
    assert "4 freed (3 by the kernel's cleanup" in result.stdout
