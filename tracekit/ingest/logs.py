"""Kernel log records and splats: WARN, BUG, KASAN and refcount_t reports folded into one event.

A splat spans many lines (``------------[ cut here ]------------`` ... ``---[ end trace ... ]---``,
or a KASAN report between two ``====`` rules). :class:`SplatBuilder` collects those lines, with or
without log prefixes, and turns them into one RAW_EVENTS row whose ``splat`` is the whole text and
whose ``stack`` is the call trace. The line kinds come from ``grammars/kernel_log.lark``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tracekit.ingest.grammar import log_message_kind

# Call Trace entries: x86 " drm_gem_handle_delete+0x149/0x160 [drm]", unreliable " ? func+0x..",
# arm64 " drm_gem_shmem_free+0x144/0x14c [drm_shmem_helper]", syzbot-symbolised
# " drm_gem_handle_delete+0x149/0x160 drivers/gpu/drm/drm_gem.c:273" and inlined
# " drm_gem_object_release_handle drivers/gpu/drm/drm_gem.c:239 [inline]".
_FRAME = re.compile(
    r"^\s*(?:\? )?(?P<frame>[A-Za-z_.$][\w.$]*(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?"
    r"(?: \[[\w\-]+\])?(?: [\w/.\-]+\.[chS]:\d+)?(?: \[inline\])?)\s*$"
)
_STACK_MARK = re.compile(r"^\s*</?(?:TASK|IRQ|NMI|SOFTIRQ|EOI)>\s*$")


def splat_frame(message: str) -> str | None:
    """The frame a Call Trace line names, or None.

    >>> splat_frame(" ? drm_gem_handle_delete+0x149/0x160 [drm]")
    'drm_gem_handle_delete+0x149/0x160 [drm]'
    >>> splat_frame("RIP: 0033:0x7f649b68b5a9") is None
    True
    """
    m = _FRAME.match(message)
    return m.group("frame") if m else None


SPLAT_STARTS = frozenset({"cut_here", "warning_at", "refcount_warn", "kasan_bug", "bug_line"})
_KIND_EVENT = {
    "warning_at": "warn",
    "refcount_warn": "refcount",
    "kasan_bug": "kasan",
    "bug_line": "bug",
}


@dataclass
class SplatBuilder:
    """One splat being assembled, started at ``line``."""

    line: int
    fields: dict[str, Any]
    lines: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    event: str | None = None
    headline: str | None = None
    in_trace: bool = False
    frames_done: bool = False
    kasan_rules: int = 0
    done: bool = False

    def add(self, message: str, kind: str | None) -> None:
        """Add one line (prefixes already removed) classified as ``kind``."""
        self.lines.append(message)
        if kind == "kasan_rule":
            self.kasan_rules += 1
            if self.event == "kasan" or self.kasan_rules >= 2:
                self.done = self.event is not None
            return
        if kind == "end_trace":
            self.done = True
            return
        if kind == "call_trace":
            self.in_trace = True
            return
        if kind in _KIND_EVENT:
            event = _KIND_EVENT[kind]
            # refcount_t:/drm_WARN_ON messages come before the WARNING line: the message names
            # the bug, the WARNING line where it fired; keep the first as the headline.
            if self.event is None or (self.event == "refcount" and event == "warn"):
                self.event = self.event or event
            if self.headline is None:
                self.headline = message.strip()
            elif kind == "warning_at" and self.event == "warn":
                self.headline = f"{self.headline} | {message.strip()}"
            return
        if self.event is None and kind is None and message.strip() and self.headline is None:
            # the optional message line between "cut here" and "WARNING:" (drm_WARN_ON(...))
            self.headline = message.strip()
            return
        if self.in_trace and not self.frames_done:
            # the first call trace is the one that matters; KASAN then prints the allocation and
            # free stacks, which stay in ``splat``
            frame = splat_frame(message)
            if frame is not None:
                self.frames.append(frame)
            elif self.frames and (kind != "stack_mark" or message.strip() == "</TASK>"):
                self.frames_done = True

    def accepts(self, message: str, kind: str | None) -> bool:
        """Whether a prefix-less line belongs to this splat (registers, frames, task info...)."""
        if self.done:
            return False
        if kind in SPLAT_STARTS and self.in_trace:
            # a new report after this one's call trace: this one ended without its end marker
            return False
        return bool(message.strip())

    def row(self) -> dict[str, Any]:
        out = dict(self.fields)
        out["event"] = self.event or "warn"
        out["payload"] = self.headline or ""
        out["splat"] = "\n".join(self.lines)
        out["stack"] = self.frames or None
        return out


def classify(message: str) -> str | None:
    """Splat role of a log message; :func:`tracekit.ingest.grammar.log_message_kind` plus the
    frame markers that grammar leaves to the builder."""
    if _STACK_MARK.match(message):
        return "stack_mark"
    return log_message_kind(message.strip())
