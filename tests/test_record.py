"""`tracekit record`: planning against a tracefs (a fake one with kprobe_events, and this
machine's real one, which has tracepoints but no kprobes), the dry run, the shell script for
targets without Python (run here under /bin/sh against both), and a real recording."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from tracekit.cli import app
from tracekit.ingest import parse_paths
from tracekit.record import GROUP, needed_offsets, offsets_file, plan, shell_script

runner = CliRunner()
REAL = Path("/sys/kernel/tracing")
IOCTL = (
    "import fcntl, termios, os, array; r, w = os.pipe(); "
    "fcntl.ioctl(r, termios.FIONREAD, array.array('i', [0]))"
)
can_trace = (REAL / "events").is_dir() and os.geteuid() == 0


def _fake(root: Path) -> Path:
    """A tracefs with kprobe_events, dma_fence and syscall events, two GEM functions."""
    t = root / "tracefs"
    for ev in (
        "dma_fence/dma_fence_init",
        "dma_fence/dma_fence_signaled",
        "syscalls/sys_enter_ioctl",
    ):
        (t / "events" / ev).mkdir(parents=True)
        (t / "events" / ev / "enable").write_text("0\n")
    (t / "instances").mkdir()
    (t / "trace_clock").write_text("[local] global counter mono boot\n")
    (t / "available_filter_functions").write_text(
        "drm_gem_object_init [drm]\ndrm_gem_object_free [drm]\ndma_buf_vunmap\n"
    )
    (t / "kprobe_events").write_text("")
    (t / "error_log").write_text("")
    return t


def _offsets(tmp: Path, skip: str = "") -> Path:
    path = tmp / "offsets.txt"
    path.write_text(
        "# from pahole\n"
        + "".join(f"{k} {8 * n}\n" for n, k in enumerate(needed_offsets()) if k != skip)
    )
    return path


def test_plan_on_a_kernel_with_kprobes(tmp_path: Path) -> None:
    t = _fake(tmp_path)
    p = plan(str(t), offsets=offsets_file(str(_offsets(tmp_path, skip="dma_buf.vmap_ptr"))))
    assert "dma_fence/dma_fence_init" in p.tracepoints and "dma_fence/dma_fence_emit" in p.missing
    assert p.syscalls == ["sys_enter_ioctl"]
    names = [line.split()[0] for line in p.kprobes]
    assert names == [
        f"p:{GROUP}/drm_gem_object_init",
        f"r:{GROUP}/drm_gem_object_init_ret",
        f"p:{GROUP}/drm_gem_object_free",
    ]
    assert all("@" not in line for line in p.kprobes)
    skipped = dict(p.skipped)
    assert "not in this kernel" in skipped["drm_gem_handle_create_tail"]
    assert "dma_buf.vmap_ptr" in skipped["dma_buf_vunmap"]  # its offset is unknown
    writes = p.writes(pid="42")
    assert writes[0] == (p.dir, "mkdir")
    assert (f"{t}/kprobe_events", p.kprobes[0]) in writes
    assert (f"{p.dir}/events/syscalls/sys_enter_ioctl/filter", "common_pid == 42") in writes
    # each line says its task's process: threads share their process's fds
    assert (f"{p.dir}/options/record-tgid", "1") in writes
    assert writes[-1] == (f"{p.dir}/tracing_on", "1")
    assert p.undo()[-1] == (f"{t}/kprobe_events", f"-:{GROUP}/drm_gem_object_free")


def test_bad_inputs_are_clear(tmp_path: Path) -> None:
    result = runner.invoke(app, ["record", "--tracefs", str(tmp_path), "--dry-run"])
    assert result.exit_code == 2 and "no tracefs here" in result.output
    t = _fake(tmp_path)
    result = runner.invoke(app, ["record", "--tracefs", str(t), "--clock", "tsc", "--dry-run"])
    assert result.exit_code == 2 and "not offered here" in result.output
    result = runner.invoke(app, ["record", "--tracefs", str(t), "-p", "nope", "--dry-run"])
    assert result.exit_code == 2 and "unknown profile" in result.output
    bad = tmp_path / "bad.txt"
    bad.write_text("drm_gem_object refcount\n")
    result = runner.invoke(app, ["record", "--tracefs", str(t), "--offsets", str(bad), "--dry-run"])
    assert result.exit_code == 3 and "expected 'struct.field offset'" in result.output


def test_dry_run_and_list_offsets(tmp_path: Path) -> None:
    t = _fake(tmp_path)
    offs = _offsets(tmp_path)
    result = runner.invoke(
        app, ["record", "--tracefs", str(t), "--offsets", str(offs), "--dry-run", "--", "glxgears"]
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert f"mkdir {t}/instances/tracekit-" in out
    assert f">> {t}/kprobe_events" in out and "'common_pid == $PID'" in out
    assert f"rmdir {t}/instances/tracekit-" in out
    assert not (t / "kprobe_events").read_text()  # a dry run writes nothing
    listed = runner.invoke(app, ["record", "--list-offsets"]).stdout.split()
    assert "drm_gem_object.handle_count" in listed and listed == needed_offsets()


FAKE_MKDIR = """#!/bin/sh
# mkdir that makes a tracefs instance look like one: its files, events and a trace_pipe
/bin/mkdir "$@" || exit $?
for d in "$@"; do
  case "$d" in */instances/*)
    for f in buffer_size_kb trace_clock tracing_on; do : > "$d/$f"; done
    printf '%s\\n' '  glxgears-77 [000] ..... 1.000001: sys_ioctl(fd: 3, cmd: 0x6442, arg: 0x1)' > "$d/trace_pipe"
    /bin/mkdir -p "$d/events/dma_fence/dma_fence_init" "$d/events/syscalls/sys_enter_ioctl" \\
      "$d/events/tracekit/drm_gem_object_init"
    for e in dma_fence/dma_fence_init syscalls/sys_enter_ioctl tracekit/drm_gem_object_init; do
      : > "$d/events/$e/enable"; done
    : > "$d/events/syscalls/sys_enter_ioctl/filter";;
  esac
done
"""


@pytest.mark.parametrize("shell", ["sh", "busybox"])
def test_emitted_script_sets_up_records_and_undoes(tmp_path: Path, shell: str) -> None:
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    t = _fake(tmp_path)
    script = tmp_path / "record.sh"
    result = runner.invoke(
        app,
        [
            "record",
            "--tracefs",
            str(t),
            "--offsets",
            str(_offsets(tmp_path)),
            "--emit-script",
            str(script),
            "-o",
            str(tmp_path / "out.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    argv = [shell, "sh"] if shell == "busybox" else [shell]
    assert subprocess.run([*argv, "-n", str(script)], check=False).returncode == 0
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mkdir").write_text(FAKE_MKDIR)
    (bindir / "mkdir").chmod(0o755)
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "TRACEFS": str(t)}
    run = subprocess.run(
        [*argv, str(script), "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    out = (tmp_path / "out.txt").read_text()
    assert out.startswith("# tracer: nop\n")
    if shell == "busybox":
        # busybox runs its own mkdir applet, not the fake one: no fake instance, only the
        # set-up and the undo can be checked
        probes = (t / "kprobe_events").read_text().splitlines()
        assert probes and len([p for p in probes if p.startswith("-:")]) * 2 == len(probes)
        return
    assert "sys_ioctl(fd: 3, cmd: 0x6442" in out
    probes = (t / "kprobe_events").read_text().splitlines()
    added = [p for p in probes if not p.startswith("-:")]
    removed = [p for p in probes if p.startswith("-:")]
    assert added and len(removed) == len(added)  # every probe it added, it removed
    instance = next((t / "instances").iterdir())
    assert (
        (instance / "events/syscalls/sys_enter_ioctl/filter")
        .read_text()
        .startswith("common_pid == ")
    )
    assert (instance / "events/tracekit/drm_gem_object_init/enable").read_text() == "1\n"
    assert (instance / "tracing_on").read_text() == "0\n"


@pytest.mark.skipif(not can_trace, reason="needs root and a mounted tracefs")
def test_record_on_this_machine(tmp_path: Path) -> None:
    """This machine's tracefs has tracepoints but no kprobe_events: record says so, records the
    command's syscalls, and leaves no instance behind."""
    out = tmp_path / "capture.txt"
    before = set(os.listdir(REAL / "instances"))
    result = runner.invoke(app, ["record", "-o", str(out), "--", sys.executable, "-c", IOCTL])
    assert result.exit_code == 0, result.output
    if not (REAL / "kprobe_events").exists():
        assert "no kprobe_events" in result.stderr
    assert set(os.listdir(REAL / "instances")) == before
    text = out.read_text()
    assert "sys_ioctl(fd: " in text
    parsed = parse_paths([str(out)])
    assert parsed.summary.rejected == 0 and parsed.summary.events > 0
    # record-tgid: every line says its process. The kernel prints it at read time from a map it
    # fills at a sched_switch after the CPU committed an event; the second gate is that switch,
    # so even the lines trace_pipe hands over before the command first sleeps say it (not
    # "(-------)"), whatever the machine's load.
    calls = parsed.events.filter(pl.col("event").str.starts_with("sys_"))
    assert calls.height
    if (REAL / "options/record-tgid").exists():
        # the command's lines (the syscall events are filtered to its pid)
        unsaved = [
            ln
            for ln in text.splitlines()
            if ": sys_" in ln and ("(-------)" in ln or "<...>" in ln)
        ]
        assert not unsaved, unsaved[:3]
        assert calls["tgid"].null_count() == 0
        assert (calls["tgid"] == calls["pid"]).all()  # a single-threaded command
    ops = runner.invoke(app, ["ops", str(out)]).stdout
    assert "syscall_exit" in ops


@pytest.mark.skipif(not can_trace, reason="needs root and a mounted tracefs")
def test_emitted_script_on_this_machine(tmp_path: Path) -> None:
    script = tmp_path / "record.sh"
    out = tmp_path / "capture.txt"
    runner.invoke(app, ["record", "--emit-script", str(script), "-o", str(out)])
    run = subprocess.run(
        ["sh", str(script), sys.executable, "-c", IOCTL],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    text = out.read_text()
    assert "sys_ioctl(fd: " in text
    if (REAL / "options/record-tgid").exists():
        # every line has the process column; cat reads trace_pipe live, so lines it reads before
        # the command's first switch may say "(-------)" (record's own reader waits for that
        # switch: test_record_on_this_machine); a process shown is the command's: pid == tgid
        calls = [ln for ln in text.splitlines() if ": sys_" in ln]
        shown = re.compile(r"-(\d+) +\((?:-------| *(\d+))\) +\[\d+\] ")
        found = [shown.search(ln) for ln in calls]
        assert calls and all(found), calls[:3]
        assert all(m.group(2) is None or m.group(1) == m.group(2) for m in found if m)
    assert not [d for d in os.listdir(REAL / "instances") if d.startswith("tracekit-")]


def test_offsets_from_a_pahole_dump(tmp_path: Path) -> None:
    """`--offsets` takes pahole's own output (a 6.18.44 kernel's dma-buf structs): the dma-buf
    probes get their offsets, the GEM ones (drm_gem_object is not in the dump) are skipped."""
    dump = Path(__file__).parent / "record" / "btf_6.18.44_dma_structs.pahole"
    resolve = offsets_file(str(dump))
    assert (resolve("dma_buf", "vmapping_counter"), resolve("dma_buf", "vmap_ptr")) == (40, 48)
    assert resolve("dma_fence", "timestamp") == 16  # a member of an anonymous union
    assert resolve("drm_gem_object", "refcount") is None
    p = plan(target=True, offsets=resolve)
    vunmap = next(line for line in p.kprobes if line.startswith(f"p:{GROUP}/dma_buf_vunmap "))
    assert "vmapping_counter=+40(%di):u32" in vunmap and "vmap_ptr=+48(%di):x64" in vunmap
    skipped = dict(p.skipped)
    assert "drm_gem_object." in skipped["drm_gem_handle_create_tail"]
    script = shell_script(p, "/tmp/gem.txt")
    assert 'I="$T/instances/tracekit-$$"' in script and "k 'p:tracekit/dma_buf_vunmap" in script


def test_the_gate_opens_on_a_line_not_on_an_end_of_file(tmp_path: Path) -> None:
    """The wrapper can open the gate's FIFO again while the first gate's writer still holds it
    (a race CI once lost: the wrapper read an end of file, ran its command at once, and
    ``record`` waited forever to open the second gate). It must wait for a second line."""
    import time

    from tracekit import record

    fifo, ran = tmp_path / "gate", tmp_path / "ran"
    os.mkfifo(fifo)
    proc = subprocess.Popen(["/bin/sh", "-c", record.GATE, str(fifo), "touch", str(ran)])
    try:
        fd = record._open_gate(str(fifo), proc)
        os.write(fd, b"go\n")
        time.sleep(0.3)  # the wrapper reads the line and opens the gate again: we still hold it
        os.close(fd)  # so that open sees an end of file
        time.sleep(0.3)
        assert proc.poll() is None and not ran.exists()
        fd = record._open_gate(str(fifo), proc)
        os.write(fd, b"go\n")
        os.close(fd)
        assert proc.wait(timeout=10) == 0 and ran.exists()
    finally:
        proc.kill()


def test_a_gate_whose_command_is_gone_does_not_hang(tmp_path: Path) -> None:
    """A command that exits before it reads its gate (killed, or its shell failed) leaves nobody
    to open the FIFO for: the gate says so instead of waiting forever in open()."""
    from tracekit import record

    fifo = tmp_path / "gate"
    os.mkfifo(fifo)
    proc = subprocess.Popen(["/bin/sh", "-c", "exit 3"])
    assert record._open_gate(str(fifo), proc) == -1
    assert proc.returncode == 3
