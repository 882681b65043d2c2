"""The Lark grammars in ``grammars/`` as line parsers: the reference for every accepted line shape.

Each ``parse_*`` function takes one line (no newline) and returns a :class:`Parsed` record, or
raises :class:`LineError` carrying the column and what the grammar expected there. The vectorised
fast path in :mod:`tracekit.ingest.fast` must agree with these functions on every line it accepts
(``tests/test_ingest_differential.py``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from tracekit.resources import grammar_path

# Kinds of line a parser can report.
EVENT = "event"
FRAME = "frame"
HEADER = "header"


@dataclass(slots=True)
class Parsed:
    """What one line is. ``fields`` holds RAW_EVENTS columns for events, the frame text for frames."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


class LineError(Exception):
    """A line does not match the grammar: ``column`` is 1-based, ``expected`` names terminals."""

    def __init__(self, grammar: str, text: str, column: int, expected: list[str]) -> None:
        self.grammar = grammar
        self.text = text
        self.column = column
        self.expected = sorted(expected)
        want = ", ".join(self.expected[:6]) + (", ..." if len(self.expected) > 6 else "")
        super().__init__(f"{grammar}: column {column}: expected {want or 'end of line'}")

    def context(self) -> str:
        """The line with a caret under the failing column (as lark's ``get_context``)."""
        return f"{self.text}\n{' ' * max(self.column - 1, 0)}^"


@cache
def _lark(name: str, start: str = "start") -> Lark:
    return Lark.open(
        str(grammar_path(name)),
        parser="lalr",
        lexer="contextual",
        start=start,
        maybe_placeholders=False,
        propagate_positions=False,
    )


def _run(name: str, text: str, start: str = "start") -> Tree[Token]:
    try:
        return _lark(name, start).parse(text)
    except UnexpectedInput as exc:
        column = getattr(exc, "column", 0) or 0
        if isinstance(exc, UnexpectedToken):
            expected = list(exc.expected)
        elif isinstance(exc, UnexpectedCharacters):
            expected = list(exc.allowed or ())
        elif isinstance(exc, UnexpectedEOF):
            expected = list(exc.expected)
            column = len(text) + 1
        else:  # pragma: no cover - lark has no other UnexpectedInput subclasses today
            expected = []
        raise LineError(name.removesuffix(".lark"), text, column, expected) from None


def _tokens(tree: Tree[Token]) -> dict[str, str]:
    return {tok.type: str(tok) for tok in tree.children if isinstance(tok, Token)}


# ------------------------------------------------------------------------------------------------
# shared pieces

_TASK_PID = re.compile(r"^(?P<comm>.*)-(?P<pid>\d+)$")


def split_task_pid(task_pid: str) -> tuple[str, int]:
    """Split ``comm-pid`` at the last dash: comms may contain dashes themselves.

    >>> split_task_pid("kworker/u8:1-mm-123")
    ('kworker/u8:1-mm', 123)
    """
    m = _TASK_PID.match(task_pid.strip())
    if m is None:  # pragma: no cover - the TASK_PID terminal guarantees the shape
        raise ValueError(task_pid)
    return m.group("comm"), int(m.group("pid"))


def timestamp(text: str) -> tuple[int, str]:
    """``sec.frac`` as nanoseconds, a bare integer as ticks.

    >>> timestamp("245.824125"), timestamp("605709557460"), timestamp("303.547863240")
    ((245824125000, 'ns'), (605709557460, 'tick'), (303547863240, 'ns'))
    """
    sec, dot, frac = text.partition(".")
    if not dot:
        return int(sec), "tick"
    frac = (frac + "000000000")[:9]
    return int(sec) * 1_000_000_000 + int(frac), "ns"


def _body(tree: Tree[Token], fields: dict[str, Any]) -> None:
    """Fill event/payload from an ftrace or trace-cmd ``body`` subtree."""
    tok = _tokens(tree)
    kind = tree.data
    if kind == "tracepoint":
        fields["event"] = tok["EVENT_NAME"]
        fields["payload"] = tok.get("PAYLOAD", "").rstrip()
    elif kind == "sys_enter":
        call = tok["SYSCALL_ENTER"].rstrip()
        name, _, args = call.partition("(")
        fields["event"] = "sys_enter_" + name.removeprefix("sys_")
        fields["payload"] = args[:-1] if args.endswith(")") else args
    elif kind == "sys_exit":
        name, _, ret = tok["SYSCALL_EXIT"].partition(" -> ")
        fields["event"] = "sys_exit_" + name.removeprefix("sys_")
        fields["payload"] = ret.strip()
    elif kind == "stack_trace":
        fields["event"] = tok["STACK_TRACE"]
        fields["payload"] = ""
    elif kind == "function_call":
        func, _, parent = tok["FUNCTION_CALL"].partition(" <-")
        fields["event"] = "function"
        fields["payload"] = f"{func} <-{parent}"
        fields["probe_func"] = func
    elif kind == "unknown_type":
        raise LineError("ftrace", tok["UNKNOWN_TYPE"], 1, ["EVENT_NAME"])
    else:  # pragma: no cover
        raise AssertionError(kind)


def _body_tree(tree: Tree[Token]) -> Tree[Token]:
    for child in tree.children:
        if isinstance(child, Tree):
            return child
    raise AssertionError("line without a body")  # pragma: no cover


# ------------------------------------------------------------------------------------------------
# tracefs


def parse_ftrace(text: str) -> Parsed:
    """One tracefs ``trace``/``trace_pipe`` line.

    >>> p = parse_ftrace("     kworker/1:1-41      [001] d..2.   245.825354: sched_switch: prev_comm=x")
    >>> p.fields["comm"], p.fields["pid"], p.fields["cpu"], p.fields["ts"], p.fields["event"]
    ('kworker/1:1', 41, 1, 245825354000, 'sched_switch')
    """
    tree = _run("ftrace.lark", text)
    return _context_tree(tree, "ftrace")


def parse_ftrace_bare(text: str) -> Parsed:
    """A line of a capture made with ``options/context-info`` off: the event text alone."""
    tree = _run("ftrace.lark", text, start="bare")
    fields: dict[str, Any] = {"format": "ftrace"}
    _body(_body_tree(tree), fields)
    return Parsed(EVENT, fields)


def _context_tree(tree: Tree[Token], fmt: str) -> Parsed:
    tok = _tokens(tree)
    kind = tree.data
    if kind == "frame":
        return Parsed(FRAME, {"frame": tok["FRAME"].removeprefix("=>").strip()})
    if kind == "header":
        return Parsed(HEADER)
    if kind == "lost_events":
        ints = [str(c) for c in tree.children if isinstance(c, Token) and c.type == "INT"]
        return Parsed(
            EVENT,
            {"format": fmt, "cpu": int(ints[0]), "event": "lost_events", "payload": ints[1]},
        )
    if kind == "buffer_started":
        ints = [str(c) for c in tree.children if isinstance(c, Token) and c.type == "INT"]
        return Parsed(
            EVENT, {"format": fmt, "cpu": int(ints[0]), "event": "buffer_started", "payload": ""}
        )
    fields: dict[str, Any] = {"format": fmt}
    comm, pid = split_task_pid(tok["TASK_PID"])
    fields["comm"], fields["pid"] = comm, pid
    if kind == "context_line":
        fields["cpu"] = int(tok["CPU"][1:-1])
        if "TGID" in tok:
            tgid = tok["TGID"][1:-1].strip()
            fields["tgid"] = int(tgid) if tgid.isdigit() else None
        if "FLAGS" in tok:
            fields["flags"] = tok["FLAGS"]
        fields["ts"], fields["ts_unit"] = timestamp(tok["TIMESTAMP"])
    elif kind == "latency_line":
        cpu_flags = tok["LAT_CPU_FLAGS"]
        digits = len(cpu_flags) - len(cpu_flags.lstrip("0123456789"))
        fields["cpu"] = int(cpu_flags[:digits])
        fields["flags"] = cpu_flags[digits:]
        if "LAT_TIME" in tok:  # tracefs latency-format: relative microseconds
            fields["ts"] = int(tok["LAT_TIME"].split("us")[0])
            fields["ts_unit"] = "rel_us"
        else:  # trace-cmd -l keeps the absolute timestamp
            fields["ts"], fields["ts_unit"] = timestamp(tok["TIMESTAMP"])
    else:  # pragma: no cover
        raise AssertionError(kind)
    _body(_body_tree(tree), fields)
    return Parsed(EVENT, fields)


# ------------------------------------------------------------------------------------------------
# trace-cmd report and perf script


def parse_trace_cmd(text: str) -> Parsed:
    """One ``trace-cmd report`` line.

    >>> p = parse_trace_cmd("            bash-6565  [000]   303.547863: malloc_entry:         (7fba081da930) size=2")
    >>> p.fields["comm"], p.fields["pid"], p.fields["event"], p.fields["payload"]
    ('bash', 6565, 'malloc_entry', '(7fba081da930) size=2')
    """
    return _context_tree(_run("trace_cmd.lark", text), "trace_cmd")


def parse_perf(text: str) -> Parsed:
    """One ``perf script`` line.

    >>> p = parse_perf("            perf  7902 [001]   332.865447:    tracekit:malloc_entry: (7f1c954b6930) size=64")
    >>> p.fields["system"], p.fields["event"], p.fields["cpu"], p.fields["pid"]
    ('tracekit', 'malloc_entry', 1, 7902)
    """
    tree = _run("perf.lark", text)
    tok = _tokens(tree)
    if tree.data == "frame":
        return Parsed(FRAME, {"frame": tok["CALLCHAIN_FRAME"].strip()})
    pid, _, tid = tok["PID_TID"].partition("/")
    fields: dict[str, Any] = {"format": "perf", "comm": tok["TASK"].strip()}
    # perf prints the thread id as "pid" unless -F pid,tid asks for both ("7902/7902": pid/tid).
    fields["pid"] = int(tid or pid)
    if tid:
        fields["tgid"] = int(pid)
    if "CPU" in tok:
        fields["cpu"] = int(tok["CPU"][1:-1])
    fields["ts"], fields["ts_unit"] = timestamp(tok["TIMESTAMP"])
    if tree.data == "perf_record":
        fields["event"] = tok["PERF_RECORD"]
    else:
        fields["system"], _, fields["event"] = tok["SYS_EVENT"].partition(":")
    fields["payload"] = tok.get("PAYLOAD", "").rstrip()
    return Parsed(EVENT, fields)


# ------------------------------------------------------------------------------------------------
# probe locations


def parse_probe(payload: str, fmt: str) -> dict[str, Any]:
    """Probe function, offset, module and return site from a k/u/kretprobe payload.

    ``fmt`` decides the arrow order of a return probe that prints raw addresses: the kernel
    prints ``(caller <- func)``, trace-cmd and perf ``(func <- caller)``. With symbols the shape
    decides: the side with ``+0x../0x..`` is the call site.

    >>> parse_probe("(drm_gem_vmap+0x0/0x40 [drm]) obj=0x1", "ftrace")["probe_func"]
    'drm_gem_vmap'
    >>> r = parse_probe("(drm_ioctl_kernel+0xc9/0x170 [drm] <- drm_gem_handle_delete) ret=0", "ftrace")
    >>> r["probe_func"], r["ret_caller"], r["payload"]
    ('drm_gem_handle_delete', 'drm_ioctl_kernel+0xc9/0x170', 'ret=0')
    """
    tree = _run("probe.lark", payload)
    locs = [c for c in tree.children if isinstance(c, Tree)]
    args = next((str(c) for c in tree.children if isinstance(c, Token) and c.type == "ARGS"), "")
    out: dict[str, Any] = {"payload": args.rstrip()}
    if tree.data == "entry_probe":
        out.update(_location(locs[0], with_offset=True))
        return out
    first, second = locs
    if _is_call_site(first) or (not _is_call_site(second) and fmt == "ftrace"):
        caller, func = first, second
    else:
        func, caller = first, second
    out.update(_location(func, with_offset=False))
    out["ret_caller"] = _location_text(caller)
    return out


def _is_call_site(loc: Tree[Token]) -> bool:
    return loc.data == "symbol" and "OFFSET" in _tokens(loc)


def _location_text(loc: Tree[Token]) -> str:
    tok = _tokens(loc)
    if loc.data == "address":
        return _hex(tok["ADDRESS"])
    return tok["SYMBOL"] + tok.get("OFFSET", "")


def _hex(text: str) -> str:
    return "0x" + text.lower().removeprefix("0x")


def _location(loc: Tree[Token], *, with_offset: bool) -> dict[str, Any]:
    tok = _tokens(loc)
    if loc.data == "address":
        return {"probe_func": _hex(tok["ADDRESS"])}
    out: dict[str, Any] = {"probe_func": tok["SYMBOL"]}
    if "MODULE" in tok:
        out["probe_module"] = tok["MODULE"][1:-1]
    if with_offset and "OFFSET" in tok:
        out["probe_offset"] = int(tok["OFFSET"][1:].split("/")[0], 16)
    return out


# ------------------------------------------------------------------------------------------------
# kernel logs


def parse_log_prefix(text: str) -> dict[str, Any]:
    """The prefixes of a kernel log line and the message after them.

    >>> f = parse_log_prefix("<4>[   86.651632][ T7837] WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2")
    >>> f["level"], f["ts"], f["pid"], f["message"]
    (4, 86651632000, 7837, 'WARNING: CPU: 0 PID: 1 at x.c:1 f+0x1/0x2')
    """
    tree = _run("kernel_log.lark", text)
    out: dict[str, Any] = {"format": "kernel_log"}
    message = ""
    for tok in tree.children:
        if not isinstance(tok, Token):  # pragma: no cover - prefixes are inlined terminals
            continue
        value = str(tok)
        kind = tok.type
        if kind == "MESSAGE":
            message = value.rstrip()
        elif kind == "LEVEL":
            out["level"] = int(value[1])
        elif kind == "FACILITY_LEVEL":
            out["level"] = _LEVELS[value.rsplit(":", 2)[-2].strip()]
        elif kind == "MONO_TS":
            out["ts"], out["ts_unit"] = timestamp(value.strip("[] "))
        elif kind == "CALLER":
            who = value.strip("[] ")
            if who[0] == "T":
                out["pid"] = int(who[1:])
            else:
                out["cpu"] = int(who[1:])
        elif kind == "JOURNAL":
            ident = value.rsplit(" ", 1)[-1].rstrip(":")
            name, _, pid = ident.partition("[")
            out["journal_ident"] = name
            if pid:
                out["pid"] = int(pid.rstrip("]"))
        elif kind == "KMSG_RECORD":
            prio, _seq, usec, _flags = value.rstrip(";").split(",", 3)
            out["level"] = int(prio) & 7
            out["ts"], out["ts_unit"] = int(usec) * 1000, "ns"
        elif kind == "KMSG_CONTINUATION":
            out["continuation"] = value.strip()
    out["message"] = message
    return out


_LEVELS = {
    "emerg": 0,
    "alert": 1,
    "crit": 2,
    "err": 3,
    "warn": 4,
    "notice": 5,
    "info": 6,
    "debug": 7,
}


def log_message_kind(message: str) -> str | None:
    """The splat role of a log message (``cut_here``, ``warning_at``, ...), or None.

    >>> log_message_kind("------------[ cut here ]------------"), log_message_kind("hello")
    ('cut_here', None)
    """
    try:
        tree = _run("kernel_log.lark", message, start="message")
    except LineError:
        return None
    return str(tree.data)
