"""Line-by-line reading: what a source is (:func:`detect`) and the per-line state machine.

:class:`LineReader` handles every line the vectorised fast path (:mod:`tracekit.ingest.fast`)
leaves over: trace lines of formats without a fast path, stack frames and callchains, kernel-log
splats, and documents (mails, bug reports) with quoting, quoted-printable and hard-wrapped lines
undone. Each line it sees becomes an event, a frame, a reject or an ignored line of some kind.
"""

from __future__ import annotations

import contextlib
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracekit.ingest import fast
from tracekit.ingest.grammar import (
    EVENT,
    FRAME,
    HEADER,
    LineError,
    Parsed,
    parse_ftrace,
    parse_ftrace_bare,
    parse_log_prefix,
    parse_perf,
    parse_probe,
    parse_trace_cmd,
)
from tracekit.ingest.logs import SPLAT_STARTS, SplatBuilder, classify
from tracekit.schema import RAW_EVENTS

SAMPLE_LINES = 400
WRAP_MIN = 60
"""Shortest line a mail client could have hard-wrapped (they wrap at 72 to 78 columns)."""

LineParser = Callable[[str], Parsed]
TRACE_PARSERS: dict[str, LineParser] = {
    "ftrace": parse_ftrace,
    "trace_cmd": parse_trace_cmd,
    "perf": parse_perf,
}

# A line that starts like a trace line ("comm-pid [cpu]", "comm pid [cpu] ts:") but did not parse
# is damaged trace text, not prose: reject it even in a document.
_LOOKS_LIKE_TRACE = re.compile(
    r"^\s*\S.*?-\d+\s+(\(\s*[\d-]+\)\s+)?\[\d{3,}\]|^\s*\S+\s+\d+\s+\[\d{3}\]\s+\d"
)
_QUOTE = re.compile(r"^(?:[ \t]*>)+[ \t]?")
# what people put in place of lines they cut from a paste
# the header line of a tracefs capture that counts the events it holds and the events written
_ENTRIES = re.compile(r"^# entries-in-buffer/entries-written: (\d+)/(\d+)")
_ELISION = re.compile(r"^\s*(\.\.\.|\[\.\.\.\]|\[snip\]|<snip>|\[ *\.\.\. *\])\s*$")
_RAW_OPTION = re.compile(r"^\d+ \d+ \d+ (#|type: \d+)|^[0-9a-f]{8} [0-9a-f]{8} [0-9a-f]{16} ")

# ------------------------------------------------------------------------------------------------
# detection


@dataclass(frozen=True)
class Mode:
    """How a source is read: its dominant trace format (None for documents) and tracefs layout."""

    fmt: str | None
    layout: fast.Layout | None = None
    bare: bool = False
    qp: bool = False

    @property
    def name(self) -> str:
        if self.fmt is None:
            return "document"
        return "ftrace (context-info off)" if self.bare else self.fmt


def detect(sample: list[str]) -> Mode:
    """Decide how to read a source from its first lines.

    >>> detect(["# tracer: nop", "  bash-1  [000] ....  1.000001: a: b"]).fmt
    'ftrace'
    >>> detect(["Hello,", "[  1.000000] drm: x"]).fmt is None
    True
    """
    qp = sum("=3D" in s or s.endswith("=") for s in sample) >= 2
    tracer_header = any(s.startswith("# tracer:") for s in sample[:5])
    candidates = [s for s in sample if s.strip() and not s.startswith("#")][:SAMPLE_LINES]
    if not candidates:
        return Mode("ftrace" if tracer_header else None, qp=qp)
    scores: Counter[str] = Counter()
    layout: fast.Layout | None = None
    for n, text in enumerate(candidates):
        # stop once the leader cannot be overtaken by the lines left (nor by the +1 a
        # trace-cmd header gives below): the same answer as scoring them all, in half the time
        if scores and n * 2 >= len(candidates):
            top = scores.most_common(2)
            second = top[1][1] if len(top) > 1 else 0
            if top[0][1] * 2 >= len(candidates) and top[0][1] - second > len(candidates) - n + 1:
                break
        for fmt, parser in TRACE_PARSERS.items():
            try:
                parsed = parser(text)
            except LineError:
                continue
            scores[fmt] += 1
            if fmt == "ftrace" and layout is None and parsed.kind == EVENT:
                layout = fast.layout_of(text)
    # trace-cmd's lines without flags also fit the tracefs grammar (irq-info off); its "cpus=N"
    # header, or a tie, says which tool printed them.
    if any(s.startswith(("cpus=", "version = ")) for s in candidates[:3]):
        scores["trace_cmd"] += 1
    order = {"ftrace": 0, "trace_cmd": 1, "perf": 2}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], order[kv[0]]))
    if ranked and ranked[0][1] * 2 >= len(candidates):
        fmt = ranked[0][0]
        return Mode(fmt, layout if fmt == "ftrace" else None, qp=qp)
    if tracer_header:
        bare = 0
        for text in candidates:
            try:
                parse_ftrace_bare(text)
                bare += 1
            except LineError:
                pass
        if bare * 2 >= len(candidates):
            return Mode("ftrace", None, bare=True, qp=qp)
        # "# tracer:" says tracefs wrote this, whatever the lines became (options/raw, hex, bin):
        # read it as a capture so that what does not parse is rejected with the reason
        return Mode("ftrace", None, qp=qp)
    return Mode(None, qp=qp)


# ------------------------------------------------------------------------------------------------
# the line-by-line path


@dataclass
class LineReader:
    """Line-by-line state for one source: what is open (a splat, a perf sample) across lines."""

    source: str
    mode: Mode
    events: list[dict[str, Any]] = field(default_factory=list)
    frames: list[tuple[int, str]] = field(default_factory=list)
    rejects: list[tuple[int, str, str]] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)
    splat: SplatBuilder | None = None
    qp_carry: tuple[int, str] | None = None
    wrappable: tuple[int, int] | None = None  # (line, length) of the last single-line event

    # --- entry point --------------------------------------------------------------------------
    def feed(self, line: int, text: str) -> None:
        if self.mode.qp:
            self._feed_qp(line, text)
        else:
            self._line(line, text)

    def finish(self) -> None:
        if self.qp_carry is not None:
            line, text = self.qp_carry
            self.qp_carry = None
            self._line(line, text)
        self._close_splat()

    def _feed_qp(self, line: int, text: str) -> None:
        """Undo quoted-printable (RFC 2045): a trailing ``=`` is a soft break that joins the next
        physical line to this one; ``=3D`` is ``=`` and ``=20`` a space."""
        if self.qp_carry is not None:
            first, head = self.qp_carry
            self.qp_carry = None
            self.ignored["attached"] += 1  # this physical line continues line ``first``
            line, text = first, head + text
        if text.endswith("=") and not text.endswith("=="):
            self.qp_carry = (line, text[:-1])
            return
        self._line(line, text.replace("=3D", "=").replace("=20", " "))

    # --- one logical line ---------------------------------------------------------------------
    def _line(self, line: int, text: str) -> None:
        if not text.strip():
            if self.splat is not None and self.mode.fmt is None:
                if self.splat.kasan_rules and not self.splat.done:
                    # KASAN reports have blank lines between their sections; they end at a rule
                    self.splat.add("", None)
                    self.ignored["attached"] += 1
                    return
                self._close_splat()
            self.ignored["blank"] += 1
            return
        if text.startswith("#"):
            if self.mode.fmt == "ftrace" and self._annotation(line, text):
                return
            self.ignored["comment"] += 1
            return
        if _ELISION.match(text):
            self.ignored["text"] += 1
            return
        if self.mode.fmt is not None and self._trace_line(line, text, self.mode.fmt):
            return
        if self.mode.fmt is None:
            self._document_line(line, text)
            return
        # a capture: what is not a trace line is an error, with the grammar's reason
        self._reject(line, text, self.mode.fmt)

    def _annotation(self, line: int, text: str) -> bool:
        """The two ``#`` lines of a tracefs capture that say events were lost.

        ``##### CPU N buffer started ####`` is printed before the first event of each CPU (but
        the trace's first) once any CPU's ring buffer overran (``test_cpu_buff_start``): that
        CPU's earlier events may have been overwritten. The header's ``entries-in-buffer/
        entries-written: E/W`` with E < W says W - E events were overwritten before the capture
        was read. Both become ``lost_events`` events (the header's with the count, at the start;
        a marker's at the CPU's first event): the model makes what is alive there uncertain, and
        :mod:`tracekit.model.oracle` does not hold it to samples the loss may have changed. Other
        ``#`` lines are comments."""
        if text.startswith("##### CPU"):
            return self._trace_line(line, text, "ftrace")
        m = _ENTRIES.match(text)
        if m is None or int(m[1]) >= int(m[2]):
            return False
        self.events.append(
            {
                "format": "ftrace",
                "cpu": None,
                "event": "lost_events",
                "payload": str(int(m[2]) - int(m[1])),
                "line": line,
            }
        )
        return True

    def _trace_line(self, line: int, text: str, fmt: str) -> bool:
        try:
            parsed = (parse_ftrace_bare if self.mode.bare else TRACE_PARSERS[fmt])(text)
        except LineError:
            if self.mode.bare:
                try:
                    parsed = parse_ftrace(text)
                except LineError:
                    return False
            else:
                return False
        self._take(line, parsed, fmt)
        return True

    def _take(self, line: int, parsed: Parsed, fmt: str) -> None:
        if parsed.kind == FRAME:
            self.frames.append((line, parsed.fields["frame"]))
            self.ignored["attached"] += 1
        elif parsed.kind == HEADER:
            self.ignored["header"] += 1
        else:
            fields = dict(parsed.fields)
            if fields.get("payload", "").startswith("("):
                with contextlib.suppress(LineError):
                    fields.update(parse_probe(fields["payload"], fields["format"]))
            fields["line"] = line
            self.events.append(fields)

    def _reject(self, line: int, text: str, fmt: str) -> None:
        if _RAW_OPTION.match(text):
            reason = (
                "binary-style record (options/raw, hex or bin): re-capture with those options off"
            )
        elif "UNKNOWN TYPE" in text:
            reason = "event printed as UNKNOWN TYPE (options/fields or raw): re-capture with default options"
        else:
            try:
                (parse_ftrace_bare if self.mode.bare else TRACE_PARSERS[fmt])(text)
                reason = "not a trace line"  # pragma: no cover - it parsed after all
            except LineError as exc:
                reason = f"not a {fmt} line: {exc}"
        self.rejects.append((line, text, reason))

    # --- documents: logs, mails, bug reports --------------------------------------------------
    def _document_line(self, line: int, text: str) -> None:
        unquoted = _QUOTE.sub("", text) if text.lstrip().startswith(">") else text
        if unquoted is not text and not unquoted.strip():
            self.ignored["blank"] += 1
            return
        # an open splat takes its own lines first: register dumps and frames look like nothing else
        log = self._log_fields(unquoted)
        message = log["message"] if log is not None else unquoted
        kind = (
            classify(message)
            if self.splat is not None or log is not None or _maybe_splat(message)
            else None
        )
        if self.splat is not None:
            if not self.splat.accepts(message, kind):
                self._close_splat()
            else:
                self.splat.add(message, kind)
                self.ignored["attached"] += 1
                if self.splat.done:
                    self._close_splat()
                return
        if kind in SPLAT_STARTS or kind == "kasan_rule":
            base = {k: v for k, v in (log or {"format": "kernel_log"}).items() if k in RAW_EVENTS}
            self.splat = SplatBuilder(line, base)
            self.splat.add(message, kind)
            return
        if log is not None:
            if "continuation" in log:
                self.ignored["attached"] += 1  # /dev/kmsg " KEY=value" dictionary lines
                return
            row = {k: v for k, v in log.items() if k in RAW_EVENTS}
            row.update(
                line=line,
                event="printk" if log.get("journal_ident", "kernel") == "kernel" else "syslog",
                payload=message,
                comm=log.get("journal_ident"),
            )
            if row["comm"] == "kernel":
                row["comm"] = None
            self.events.append(row)
            self.wrappable = (line, len(unquoted))
            return
        for fmt in TRACE_PARSERS:
            try:
                parsed = TRACE_PARSERS[fmt](unquoted.rstrip())
            except LineError:
                continue
            if parsed.kind == FRAME and not self.events:
                break  # a lone "=> x" in prose
            n = len(self.events)
            self._take(line, parsed, fmt)
            if len(self.events) > n:
                self.wrappable = (line, len(unquoted))
            return
        if _LOOKS_LIKE_TRACE.match(unquoted) or _RAW_OPTION.match(unquoted):
            self._reject(line, unquoted, "ftrace")
            return
        if self._wrapped(line, unquoted):
            # a mail client hard-wrapped the log or trace line above: it continues here
            last = self.events[-1]
            last["payload"] = f"{last.get('payload') or ''} {unquoted.strip()}".strip()
            self.wrappable = (line, len(unquoted))
            self.ignored["attached"] += 1
            return
        self.ignored["text"] += 1

    def _wrapped(self, line: int, text: str) -> bool:
        """Is ``text`` the hard-wrapped rest of the single-line event on the line above?

        Only right after an event whose line was long enough to have been wrapped (mail clients
        wrap at 72 to 78 columns), and not for what people write between pasted lines (comments,
        rules, elisions).
        """
        if self.wrappable is None or self.wrappable[0] != line - 1 or self.wrappable[1] < WRAP_MIN:
            return False
        if not self.events or self.events[-1].get("line") != self.wrappable[0]:
            # the event above was already handed on (a batch ended between the two lines): the
            # rest is counted as text rather than joined
            return False
        stripped = text.strip()
        return bool(stripped) and not stripped.startswith(("//", "--", "==", "[...]", "...", "#"))

    def _log_fields(self, text: str) -> dict[str, Any] | None:
        try:
            return parse_log_prefix(text.rstrip())
        except LineError:
            return None

    def _close_splat(self) -> None:
        if self.splat is None:
            return
        splat, self.splat = self.splat, None
        if splat.event is None and splat.headline is None and len(splat.lines) <= 1:
            # a lone "cut here" or "====" rule with nothing after it: prose
            self.ignored["text"] += 1
            return
        row = splat.row()
        row["line"] = splat.line
        self.events.append(row)


def _maybe_splat(message: str) -> bool:
    s = message.lstrip()
    return s.startswith(("---", "WARNING", "BUG", "kernel BUG", "refcount_t", "====", "Call"))
