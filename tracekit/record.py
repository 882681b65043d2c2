"""``tracekit record``: set tracefs up for the profiles, capture, and put tracefs back.

A :class:`Plan` is what would be written where: a tracefs instance of its own
(``instances/tracekit-<pid>``, so other users of tracefs are not disturbed) with its buffer size
and clock, the profiles' tracepoints that this kernel has, the kprobes of the probe template
(``tracekit/probes/gem.tmpl``) for the functions the profiles read and this kernel has (in
``available_filter_functions``), with the struct offsets of their fetch arguments resolved from
BTF (``pahole``) or an offsets file. :func:`plan` only reads tracefs; :func:`Recorder` applies
the plan, copies the instance's ``trace_pipe`` to the output with a live count of events and
lost events, and undoes every change it made; :func:`shell_script` writes the same set-up as a
POSIX shell script (busybox ``sh`` is enough) for targets without Python.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tracekit.errors import InputError, TracekitError
from tracekit.normalize import load_profiles

GROUP = "tracekit"
TEMPLATE = "gem.tmpl"
SYSCALL_EVENTS = (
    "sys_enter_ioctl",
    "sys_exit_ioctl",
    "sys_enter_mmap",
    "sys_exit_mmap",
    "sys_enter_munmap",
    "sys_enter_close",
    "sys_enter_exit_group",
)
GATE = 'g() { until read _ < "$0"; do [ -p "$0" ] || exit 125; done; }; g; g; exec "$@"'
"""The command's wrapper: held at a gate (a FIFO) until its syscall filters are set, then at a
second one. A gate opens on a line read, not on an end of file: the wrapper can open the FIFO
again while the first gate's writer still holds it, and would read nothing and run on (a FIFO
gone means ``record`` is gone: exit 125). The kernel prints a task's comm and process at read
time from maps it fills at a sched_switch after the CPU committed an event: the first gate's
close is traced, the wait at the second is that switch, and ``record`` reads trace_pipe only
from then on, so every line says ``python3-1234 ( 1234)``, not ``<...>-1234 (-------)``. (The
emitted script's ``cat`` reads trace_pipe live from the start, and waits for the command less
precisely: lines it reads before that switch may still say the latter; normalisation fills
their process from the task's other lines.)"""
TGID_OPTION = "record-tgid"
"""Each line says its task's process (``comm-pid (tgid)``): threads share their process's fds,
and replay keys dma-buf fds by process where the lines say it."""
_FIELD = re.compile(r"@([A-Za-z0-9_]+)\.([A-Za-z0-9_]+)@")


class RecordError(TracekitError):
    """tracefs cannot be used for recording (not mounted, not writable)."""


@dataclass
class Plan:
    tracefs: str
    instance: str
    buffer_kb: int
    clock: str
    tracepoints: list[str] = field(default_factory=list)  # "system/event"
    missing: list[str] = field(default_factory=list)  # tracepoints the profiles name, absent here
    kprobes: list[str] = field(default_factory=list)  # kprobe_events lines, offsets resolved
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (probe, why)
    kprobes_supported: bool = True
    syscalls: list[str] = field(default_factory=list)  # syscall events (filtered to CMD's pid)

    @property
    def dir(self) -> str:
        return f"{self.tracefs}/instances/{self.instance}"

    def writes(self, pid: str | None = None) -> list[tuple[str, str]]:
        """The set-up, in order: (path, value) appended to the file (``mkdir`` for a dir)."""
        out: list[tuple[str, str]] = [(self.dir, "mkdir")]
        out += [(f"{self.dir}/buffer_size_kb", str(self.buffer_kb))]
        out += [(f"{self.dir}/trace_clock", self.clock)]
        out += [(f"{self.dir}/options/{TGID_OPTION}", "1")]
        out += [(f"{self.tracefs}/kprobe_events", line) for line in self.kprobes]
        for tp in self.tracepoints:
            out.append((f"{self.dir}/events/{tp}/enable", "1"))
        for name in self._probe_names():
            out.append((f"{self.dir}/events/{GROUP}/{name}/enable", "1"))
        for sc in self.syscalls:
            if pid is not None:
                out.append((f"{self.dir}/events/syscalls/{sc}/filter", f"common_pid == {pid}"))
            out.append((f"{self.dir}/events/syscalls/{sc}/enable", "1"))
        out.append((f"{self.dir}/tracing_on", "1"))
        return out

    def undo(self) -> list[tuple[str, str]]:
        """What puts tracefs back: the instance removed, then our kprobes."""
        out = [(f"{self.dir}/tracing_on", "0"), (self.dir, "rmdir")]
        out += [(f"{self.tracefs}/kprobe_events", f"-:{GROUP}/{n}") for n in self._probe_names()]
        return out

    def _probe_names(self) -> list[str]:
        return [line.split()[0].split("/", 1)[1] for line in self.kprobes]


# ------------------------------------------------------------------------------------------------
# planning


def template_lines(path: str | None = None) -> list[str]:
    """The probe template: kprobe_events lines with ``@struct.field@`` offsets."""
    text = (
        Path(path).read_text()
        if path
        else resources.files("tracekit").joinpath("probes", TEMPLATE).read_text()
    )
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def plan(
    tracefs: str = "/sys/kernel/tracing",
    *,
    profiles: list[str] | None = None,
    profile_dirs: list[str] | None = None,
    buffer_kb: int = 16384,
    clock: str = "mono",
    syscalls: bool = True,
    offsets: Callable[[str, str], int | None] | None = None,
    template: str | None = None,
    instance: str | None = None,
    target: bool = False,
) -> Plan:
    """What to enable and probe on the kernel whose tracefs is at ``tracefs``; with
    ``target`` true, for another machine: nothing is read here, every tracepoint and probe of
    the profiles is planned, and the script checks on the target what its kernel has."""
    profs = _select(load_profiles(profile_dirs), profiles)
    root: Path | None = None if target else Path(tracefs)
    if root is not None:
        if not (root / "events").is_dir():
            raise RecordError(
                f"{tracefs}: no tracefs here (mount it: mount -t tracefs nodev {tracefs})"
            )
        clocks = (root / "trace_clock").read_text().replace("[", "").replace("]", "").split()
        if clock not in clocks:
            raise RecordError(
                f"trace_clock {clock!r} not offered here (this kernel has: {' '.join(clocks)})"
            )

    def has(event: str) -> bool:  # a tracepoint this kernel has (on a target: ask it there)
        return root is None or (root / "events" / event).is_dir()

    name = "tracekit-$$" if target else instance or f"tracekit-{os.getpid()}"
    p = Plan(tracefs, name, buffer_kb, clock)
    # tracepoints: every event name of the tracepoint profiles that this kernel has
    for prof in profs:
        if prof.kind != "tracepoint" or not prof.system:
            continue
        for rule in prof.rules:
            for event in rule.names:
                tp = f"{prof.system}/{event}"
                if tp in p.tracepoints or tp in p.missing:
                    continue
                (p.tracepoints if has(tp) else p.missing).append(tp)
            if rule.prefix and root is not None:
                for d in sorted((root / "events" / prof.system).glob(f"{rule.prefix}*")):
                    tp = f"{prof.system}/{d.name}"
                    if d.is_dir() and tp not in p.tracepoints:
                        p.tracepoints.append(tp)
    if syscalls:
        p.syscalls = [s for s in SYSCALL_EVENTS if has(f"syscalls/{s}")]
    # kprobes: the template's probes on functions the kprobe profiles read; a target's offsets
    # come from its own BTF (--btf) or --offsets, never from this machine's
    wanted = {n for prof in profs if prof.kind == "kprobe" for r in prof.rules for n in r.names}
    p.kprobes_supported = root is None or (root / "kprobe_events").exists()
    functions = _available_functions(root) if root is not None else None
    if offsets is not None:
        resolve = offsets
    else:
        resolve = _pahole_offsets() if root is not None else (lambda s, f: None)
    where = "BTF: pahole, or --offsets" if root is not None else "--btf or --offsets"
    for line in template_lines(template):
        kind, symbol = line.split()[0], line.split()[1]
        probe = kind.split("/", 1)[1]
        if symbol not in wanted:
            continue
        if not p.kprobes_supported:
            p.skipped.append((probe, "this kernel has no kprobe_events (CONFIG_KPROBE_EVENTS)"))
            continue
        if functions is not None and symbol not in functions:
            p.skipped.append(
                (probe, f"{symbol} is not in this kernel (available_filter_functions)")
            )
            continue
        resolved, missing = _resolve(line, resolve)
        if missing:
            p.skipped.append((probe, f"no offset for {', '.join(missing)} ({where})"))
            continue
        p.kprobes.append(f"{kind[0]}:{GROUP}/{probe} {resolved.split(None, 1)[1]}")
    return p


def _select(profs: tuple[Any, ...], names: list[str] | None) -> tuple[Any, ...]:
    if not names:
        return profs
    unknown = sorted(set(names) - {p.name for p in profs})
    if unknown:
        raise RecordError(f"unknown profile(s) {', '.join(unknown)} (see tracekit profiles list)")
    return tuple(p for p in profs if p.name in names)


def btf_offsets(objects: list[str]) -> Callable[[str, str], int | None]:
    """Offsets from the BTF of the given ELF files (the target's vmlinux first, then its
    modules: drm.ko, drm_shmem_helper.ko ...) with pahole, as capture.sh reads them."""
    pahole = shutil.which("pahole")
    if pahole is None:
        raise RecordError("--btf needs pahole (Debian: apt-get install dwarves)")
    for obj in objects:
        if not Path(obj).is_file():
            raise InputError(obj, "no such file")
    return _pahole_lookup(pahole, objects[0], objects)


def _available_functions(root: Path) -> set[str] | None:
    path = root / "available_filter_functions"
    try:
        with path.open() as fh:
            return {ln.split()[0] for ln in fh if ln.strip()}
    except OSError:
        return None


def _resolve(line: str, resolve: Callable[[str, str], int | None]) -> tuple[str, list[str]]:
    missing: list[str] = []

    def sub(m: re.Match[str]) -> str:
        off = resolve(m.group(1), m.group(2))
        if off is None:
            missing.append(f"{m.group(1)}.{m.group(2)}")
            return m.group(0)
        return str(off)

    return _FIELD.sub(sub, line), missing


def offsets_file(path: str) -> Callable[[str, str], int | None]:
    """Offsets from a file: ``pahole -C STRUCT`` output (``struct dma_buf { ... /* 40 4 */``,
    several structs one after the other), or ``struct.field offset`` lines (``#`` comments
    allowed), the fields ``tracekit record --list-offsets`` names."""
    table: dict[str, int] = {}
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InputError(path, exc.strerror or "cannot read") from None
    if re.search(r"^struct \w+ \{", text, re.M):
        return _pahole_text(text)
    for n, ln in enumerate(text.splitlines(), 1):
        ln = ln.split("#", 1)[0].strip()
        if not ln:
            continue
        parts = ln.split()
        if len(parts) != 2 or "." not in parts[0] or not parts[1].isdigit():
            raise InputError(path, f"line {n}: expected 'struct.field offset', got {ln!r}")
        table[parts[0]] = int(parts[1])
    return lambda s, f: table.get(f"{s}.{f}")


def _pahole_text(text: str) -> Callable[[str, str], int | None]:
    """Offsets from pahole's struct layouts: each member's ``/* offset size */`` comment; the
    members of an anonymous union or struct are the enclosing struct's (as C names them)."""
    table: dict[str, int] = {}
    struct: str | None = None
    depth = 0
    member = re.compile(r"\b(\w+)(?:\[\w*\])*(?::\s*\d+)?;\s+/\*\s+(\d+)")
    for line in text.splitlines():
        head = re.match(r"^struct (\w+) \{", line)
        if head:
            struct, depth = head.group(1), 1
            continue
        if struct is None:
            continue
        depth += line.count("{") - line.count("}")
        if depth <= 0:
            struct = None
            continue
        m = member.search(line)
        if m and not line.lstrip().startswith("}"):
            table.setdefault(f"{struct}.{m.group(1)}", int(m.group(2)))
    return lambda s, f: table.get(f"{s}.{f}")


def needed_offsets(template: str | None = None) -> list[str]:
    """Every ``struct.field`` the probe template reads."""
    seen: list[str] = []
    for line in template_lines(template):
        for m in _FIELD.finditer(line):
            key = f"{m.group(1)}.{m.group(2)}"
            if key not in seen:
                seen.append(key)
    return seen


def _pahole_offsets() -> Callable[[str, str], int | None]:
    """Offsets from this kernel's BTF (``/sys/kernel/btf``) with pahole, when both are here."""
    btf = Path("/sys/kernel/btf")
    pahole = shutil.which("pahole")
    if pahole is None or not (btf / "vmlinux").exists():
        return lambda s, f: None
    mods = [str(o) for o in sorted(btf.iterdir()) if o.name != "vmlinux"]
    return _pahole_lookup(pahole, str(btf / "vmlinux"), [str(btf / "vmlinux"), *mods])


def _pahole_lookup(pahole: str, base: str, objects: list[str]) -> Callable[[str, str], int | None]:
    cache: dict[str, dict[str, int]] = {}

    def lookup(struct: str, fld: str) -> int | None:
        if struct not in cache:
            cache[struct] = {}
            for obj in objects:
                args = [pahole, "-C", struct, obj]
                if obj != base:
                    args[1:1] = ["--btf_base", base]
                try:
                    text = subprocess.run(
                        args, capture_output=True, text=True, timeout=60, check=False
                    ).stdout
                except (OSError, subprocess.TimeoutExpired):
                    continue
                for m in re.finditer(r"\s(\w+)(?:\[\d*\])?;\s+/\*\s+(\d+)", text):
                    cache[struct].setdefault(m.group(1), int(m.group(2)))
                if cache[struct]:
                    break
        return cache[struct].get(fld)

    return lookup


# ------------------------------------------------------------------------------------------------
# the shell script


def shell_script(p: Plan, output: str = "/tmp/gem-trace.txt") -> str:
    """The plan as a POSIX shell script: set up, run the command given as its arguments (or
    record until Ctrl-C), copy trace_pipe to ``$OUT``, undo. Busybox sh, cat, mkdir and rmdir are
    all it needs."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# Written by tracekit record --emit-script: record DRM/GEM buffer-object traces here.",
        "# Usage: sh THIS_SCRIPT [COMMAND ARGS...]   (as root; OUT=file to change the output)",
        '# Without a command it records until Ctrl-C. Then: tracekit check "$OUT" on any machine.',
        "set -u",
        f"T=${{TRACEFS:-{q(p.tracefs)}}}",
        'I="$T/instances/tracekit-$$"',
        f"OUT=${{OUT:-{q(output)}}}",
        '[ -d "$T/events" ] || mount -t tracefs nodev "$T" 2>/dev/null',
        '[ -d "$T/events" ] || { echo "no tracefs at $T" >&2; exit 3; }',
        "w() { # write a value to a tracefs file, say so when the kernel refuses it",
        '  printf "%s\\n" "$2" > "$1" 2>/dev/null || { echo "refused: $2 > $1" >&2; return 1; }',
        "}",
        "k() { # append to kprobe_events: a plain write would delete every other user's probes",
        '  printf "%s\\n" "$1" >> "$T/kprobe_events" 2>/dev/null',
        "}",
        "cleanup() {",
        '  w "$I/tracing_on" 0',
        # the reader must be gone before the instance goes: rmdir fails while trace_pipe is open
        '  [ -n "${CAT:-}" ] && { kill "$CAT" 2>/dev/null; wait "$CAT" 2>/dev/null; }',
        '  rmdir "$I" 2>/dev/null',
    ]
    for name in p._probe_names():
        lines.append(f"  k {q(f'-:{GROUP}/{name}')}")
    lines += [
        "}",
        "trap 'cleanup; exit 130' INT TERM",
        'mkdir "$I" || exit 3',
        f'w "$I/buffer_size_kb" {p.buffer_kb}',
        f'w "$I/trace_clock" {q(p.clock)}',
        f'[ -e "$I/options/{TGID_OPTION}" ] && w "$I/options/{TGID_OPTION}" 1',
        "bad=0",
    ]
    if p.kprobes:
        lines.append('if [ -e "$T/kprobe_events" ]; then')
        for line in p.kprobes:
            lines.append(
                f"  k {q(line)} || {{ bad=$((bad+1)); echo {q('refused: ' + line)} >&2; }}"
            )
        lines += [
            '  [ "$bad" -gt 0 ] && { echo "$bad probe(s) refused; tracing/error_log:" >&2; cat "$T/error_log" >&2; }',
            "else",
            '  echo "no kprobe_events on this kernel: recording tracepoints only" >&2',
            "fi",
        ]
        for name in p._probe_names():
            path = f"$I/events/{GROUP}/{name}/enable"
            lines.append(f'[ -e "{path}" ] && w "{path}" 1')
    for tp in p.tracepoints:
        lines.append(f'[ -e "$I/events/{tp}/enable" ] && w "$I/events/{tp}/enable" 1')
    lines += [
        '{ echo "# tracer: nop"; echo "# tracekit record (shell): $(uname -r) clock '
        + p.clock
        + '"; } > "$OUT"',
        'cat "$I/trace_pipe" >> "$OUT" &',
        "CAT=$!",
        'w "$I/tracing_on" 1',
        'if [ "$#" -gt 0 ]; then',
        '  rm -f "$OUT.go"; mkfifo "$OUT.go" || exit 3',
        "  # held at a gate until its syscall filters are set, then at a second one (GATE)",
        f'  sh -c \'{GATE}\' "$OUT.go" "$@" &',
        "  CMD=$!",
    ]
    for sc in p.syscalls:
        lines.append(
            f'  [ -e "$I/events/syscalls/{sc}/enable" ] && '
            f'w "$I/events/syscalls/{sc}/filter" "common_pid == $CMD" && w "$I/events/syscalls/{sc}/enable" 1'
        )
    lines += [
        # a child that exits (SIGCHLD) can interrupt the open of the gate: busybox sh does not
        # retry it, so try again (a bounded number of times)
        '  n=0; until echo go 2>/dev/null > "$OUT.go"; do n=$((n+1)); [ "$n" -gt 50 ] && break; done',
        "  # until it sleeps at the second gate (running: R in /proc/PID/stat); on a loaded",
        "  # machine it may not run for a while: spin, then look every 0.1 s, 10 s at most",
        '  n=0; while [ "$n" -lt 2100 ] && read -r st < "/proc/$CMD/stat"; do',
        '    st=${st##*) }; [ "${st%% *}" = R ] || break; n=$((n+1))',
        '    [ "$n" -gt 2000 ] && sleep 0.1',
        "  done",
        '  n=0; until echo go 2>/dev/null > "$OUT.go"; do n=$((n+1)); [ "$n" -gt 50 ] && break; done',
        '  wait "$CMD"; rc=$?',
        '  rm -f "$OUT.go"',
        "else",
        '  echo "recording to $OUT: Ctrl-C to stop" >&2',
        '  wait "$CAT"; rc=0',
        "fi",
        "sleep 1",
        "cleanup",
        'echo "wrote $OUT ($(wc -l < "$OUT") lines)" >&2',
        'exit "$rc"',
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------
# recording


@dataclass
class Recorded:
    output: str
    lines: int = 0
    lost: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (probe, error_log reason)
    returncode: int | None = None


class Recorder:
    """Applies a :class:`Plan`, copies ``trace_pipe`` to the output, and undoes the plan."""

    def __init__(
        self,
        p: Plan,
        output: str,
        command: list[str] | None = None,
        progress: Callable[[Recorded], None] | None = None,
    ) -> None:
        self.plan, self.output, self.command, self.progress = p, output, command, progress
        self.result = Recorded(output)
        self._made_instance = False
        self._probes: list[str] = []

    def run(self) -> Recorded:
        import select

        p = self.plan
        try:
            os.mkdir(p.dir)
        except FileExistsError:
            raise RecordError(f"{p.dir} exists: another recording? (rmdir it if not)") from None
        except OSError as exc:
            raise RecordError(f"{p.dir}: {exc.strerror} (recording needs root)") from None
        self._made_instance = True
        try:
            self._write(f"{p.dir}/buffer_size_kb", str(p.buffer_kb))
            self._write(f"{p.dir}/trace_clock", p.clock)
            if os.path.exists(f"{p.dir}/options/{TGID_OPTION}"):  # since Linux 4.14
                self._write(f"{p.dir}/options/{TGID_OPTION}", "1")
            for line in p.kprobes:
                name = line.split()[0].split("/", 1)[1]
                try:
                    self._write(f"{p.tracefs}/kprobe_events", line)
                    self._probes.append(name)
                except OSError:
                    self.result.refused.append((name, _error_log(p.tracefs)))
            for tp in p.tracepoints:
                self._write(f"{p.dir}/events/{tp}/enable", "1")
            for name in self._probes:
                self._write(f"{p.dir}/events/{GROUP}/{name}/enable", "1")
            fd = os.open(f"{p.dir}/trace_pipe", os.O_RDONLY | os.O_NONBLOCK)
            with open(self.output, "w") as out:
                out.write("# tracer: nop\n")
                out.write(
                    f"# tracekit record: {os.uname().release}, clock {p.clock}, "
                    f"{len(p.tracepoints)} tracepoints, {len(self._probes)} kprobes\n"
                )
                proc = self._start()
                self._write(f"{p.dir}/tracing_on", "1")
                if proc is not None:
                    self._gate_open(proc)
                poller = select.poll()
                poller.register(fd, select.POLLIN)
                stop = False
                try:
                    while not stop:
                        with contextlib.suppress(InterruptedError):
                            poller.poll(200)
                        self._drain(fd, out)
                        if proc is not None and proc.poll() is not None:
                            self.result.returncode = proc.returncode
                            stop = True
                except KeyboardInterrupt:
                    if proc is not None:
                        proc.terminate()
                        self.result.returncode = proc.wait()
                self._write(f"{p.dir}/tracing_on", "0")
                self._drain(fd, out, final=True)
            os.close(fd)
        finally:
            self.undo()
        return self.result

    def _start(self) -> subprocess.Popen[bytes] | None:
        """Start the command held at a gate (a FIFO it reads before it execs), so its syscall
        filters are set before it runs."""
        import tempfile

        if not self.command:
            return None
        self._gatedir = tempfile.mkdtemp(prefix="tracekit-record-")
        fifo = os.path.join(self._gatedir, "gate")
        os.mkfifo(fifo)
        wrapper = ["/bin/sh", "-c", GATE, fifo, *self.command]
        try:
            return subprocess.Popen(wrapper)
        except OSError as exc:
            raise RecordError(f"cannot run {self.command[0]}: {exc.strerror}") from None

    def _gate_open(self, proc: subprocess.Popen[bytes]) -> None:
        p = self.plan
        for sc in p.syscalls:
            self._write(f"{p.dir}/events/syscalls/{sc}/filter", f"common_pid == {proc.pid}")
            self._write(f"{p.dir}/events/syscalls/{sc}/enable", "1")
        fifo = os.path.join(self._gatedir, "gate")
        for step in range(2):
            if step:
                _wait_blocked(proc.pid)
            fd = _open_gate(fifo, proc)
            if fd < 0:
                break  # the command is gone: its status says why
            os.write(fd, b"go\n")
            os.close(fd)
        shutil.rmtree(self._gatedir, ignore_errors=True)

    def _drain(self, fd: int, out: object, *, final: bool = False) -> None:
        import time

        deadline = time.monotonic() + 1.0
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                if not final or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
                continue
            if not chunk:
                break
            text = chunk.decode("utf-8", "replace")
            out.write(text)  # type: ignore[attr-defined]
            self.result.lines += text.count("\n")
            for m in re.finditer(r"\[LOST (\d+) EVENTS\]", text):
                self.result.lost += int(m.group(1))
            if self.progress is not None:
                self.progress(self.result)

    def _write(self, path: str, value: str) -> None:
        """Write a tracefs control file; kprobe_events is appended to (a plain write would
        delete every other user's probes)."""
        mode = "a" if path.endswith("/kprobe_events") else "w"
        try:
            with open(path, mode) as fh:
                fh.write(value + "\n")
        except OSError as exc:
            if path.endswith("/kprobe_events"):
                raise
            raise RecordError(f"{path}: {exc.strerror} (writing {value!r})") from None

    def undo(self) -> None:
        """Put tracefs back: the instance removed, then the kprobes this recording added."""
        p = self.plan
        if self._made_instance:
            with contextlib.suppress(OSError):
                self._write(f"{p.dir}/tracing_on", "0")
            with contextlib.suppress(OSError):
                os.rmdir(p.dir)
            self._made_instance = False
        for name in self._probes:
            with contextlib.suppress(OSError):
                self._write(f"{p.tracefs}/kprobe_events", f"-:{GROUP}/{name}")
        self._probes = []


def _open_gate(fifo: str, proc: subprocess.Popen[bytes]) -> int:
    """The gate's FIFO opened for writing once the command waits at its other end, or -1 if the
    command exited first. Never a blocking open: with nobody to read it, that waits forever."""
    import errno
    import time

    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            if exc.errno != errno.ENXIO:  # ENXIO: no reader yet
                raise
        if proc.poll() is not None:
            return -1
        time.sleep(0.0005)


def _wait_blocked(pid: int, timeout: float = 10.0) -> None:
    """Wait until task PID sleeps in the second gate's open: ``wait_for_partner`` in
    /proc/PID/wchan (where the kernel hides wchan, ``S`` in /proc/PID/stat). Not merely "not
    running": a task waiting for a page to be read in is asleep too (``D``), before the gate."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/wchan") as fh:
                wchan = fh.read().strip()
            if wchan == "wait_for_partner":
                return
            if wchan in ("0", ""):
                with open(f"/proc/{pid}/stat") as fh:
                    if fh.read().rpartition(")")[2].split()[0] == "S":
                        return
        except (OSError, IndexError):
            return
        time.sleep(0.0005)


def _error_log(tracefs: str) -> str:
    try:
        lines = Path(tracefs, "error_log").read_text().strip().splitlines()
    except OSError:
        return "refused (no error_log)"
    return " ".join(ln.strip() for ln in lines[-3:]) or "refused"
