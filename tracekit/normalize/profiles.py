"""Driver profiles: data files that map raw events to canonical buffer-object operations.

A profile is one TOML file per driver or layer in ``tracekit/profiles/`` (or a directory given
with ``--profiles``). Each ``[[event]]`` entry says:

``match`` / ``match_prefix``
    The probed function of a kprobe/kretprobe (``kind = "kprobe"``: whatever the event is named,
    the function in its probe location decides) or the tracepoint's event name
    (``kind = "tracepoint"``). A list matches any of its names.
``at``
    ``entry`` (default) or ``return`` (kretprobes).
``op``
    A name from :data:`tracekit.schema.OP_NAMES`, or ``ignore`` for events that are known and
    have no buffer-object effect.
``fields`` / ``counters``
    Canonical column = where its value comes from: a payload key (``obj``; ``file_priv|file``
    takes the first present), ``entry.KEY`` (a return probe's own entry), ``outer.KEY`` (the
    entry of the call this call was made from: dma_buf_poll_add_cb inside dma_buf_poll),
    ``inner.FUNC.KEY``
    (the first event of ``FUNC`` inside this call, by the same task), ``KEY[0]`` / ``KEY[1]``
    (the halves of ``ctx:seqno``), or ``payload`` (the whole text). ``KEY:hex`` reads a bare hex
    number (syscall tracepoints print ``sys_close(fd: a)``), ``KEY:dec`` a decimal identity where
    pointers are expected (a dma-buf's ``ino``), ``KEY:fileref`` a ``file_ref_t`` (Linux 6.13+
    ``file->f_ref``: the count minus one, or a released value) as the count it holds;
    ``KEY: value`` pairs are read like ``KEY=value``.
``when``
    A condition (``grammars/condition.lark``) over those names; the op is emitted where it holds.
    ``caller`` is the function the call returned to (from the return probe's location), so an
    entry can be told apart by who called it: ``caller == "drm_gem_open_ioctl"``. Values are
    numbers; an address printed as a symbol (``qproc=__pollwait+0x0/0x120``) counts as 1.
``owner`` / ``owner_by_caller``
    Who holds the reference a get/put moves; by the call site of a return probe.
``nest``
    The function is probed at two levels that count once (``get_pages`` and
    ``get_pages_locked``): an op equal to the task's previous one is merged into it.
``confirm``
    The effect only stands if the function's return probe, when captured, returned 0.

Adding a driver is adding one file here and one captured fixture (docs/profiles.md).
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from tracekit.condition import columns_of, compile_condition
from tracekit.errors import GrammarError
from tracekit.schema import COUNTERS, OP_CONTEXT_COLUMNS, OP_NAMES, OPS

FIELD_COLUMNS = frozenset(OPS) - {
    *OP_CONTEXT_COLUMNS,
    "op",
    "func",
    "caller",
    "owner",
    "generation",
    "call",
    "profile",
    *COUNTERS,
}
"""The OPS columns a profile may fill from an event's payload."""
_SPEC = re.compile(
    r"^(?:payload|(?:entry\.|outer\.|inner\.[A-Za-z_][\w.]*\.)?[A-Za-z_][\w$]*(?:\[[01]\])?(?::hex|:dec|:fileref)?)$"
)
_KEYS = {
    "match",
    "match_prefix",
    "at",
    "op",
    "fields",
    "counters",
    "when",
    "owner",
    "owner_by_caller",
    "nest",
    "confirm",
}


@dataclass(frozen=True)
class EventRule:
    """One ``[[event]]`` of a profile."""

    profile: str
    kind: str
    names: tuple[str, ...]
    prefix: str | None
    at: str
    op: str
    fields: dict[str, tuple[str, ...]]
    counters: dict[str, tuple[str, ...]]
    when: str | None
    owner: str | None
    owner_by_caller: dict[str, str] = field(default_factory=dict)
    nest: bool = False
    confirm: bool = False

    def sources(self) -> set[str]:
        """Every value spec this rule reads (for extraction)."""
        out = {alt for alts in (*self.fields.values(), *self.counters.values()) for alt in alts}
        if self.when:
            out |= columns_of(self.when) - {"caller"}
        return out


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    reference: str
    kind: str
    system: str | None
    path: str
    rules: tuple[EventRule, ...]


def _names(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise GrammarError(f"{where}: match must be a name or a list of names")


def _specs(
    table: Any, where: str, allowed: frozenset[str] | tuple[str, ...]
) -> dict[str, tuple[str, ...]]:
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise GrammarError(f"{where}: expected a table")
    out: dict[str, tuple[str, ...]] = {}
    for col, spec in table.items():
        if col not in allowed:
            raise GrammarError(
                f"{where}: unknown column {col!r} (known: {', '.join(sorted(allowed))})"
            )
        if not isinstance(spec, str):
            raise GrammarError(f"{where}: {col} must be a string")
        alts = tuple(a.strip() for a in spec.split("|"))
        for alt in alts:
            if not _SPEC.match(alt):
                raise GrammarError(f"{where}: {col} = {spec!r}: cannot read {alt!r}")
        out[col] = alts
    return out


def load_profile(path: Path | str, text: str | None = None) -> Profile:
    """Read and validate one profile file."""
    path = Path(path)
    try:
        data = tomllib.loads(text if text is not None else path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise GrammarError(f"{path}: {exc}") from None
    name = data.get("name")
    kind = data.get("kind")
    if not isinstance(name, str) or kind not in ("kprobe", "tracepoint"):
        raise GrammarError(f'{path}: needs name = "..." and kind = "kprobe" | "tracepoint"')
    rules = []
    for i, ev in enumerate(data.get("event", []), 1):
        where = f"{path}: event {i}"
        unknown = set(ev) - _KEYS
        if unknown:
            raise GrammarError(f"{where}: unknown keys {sorted(unknown)}")
        op = ev.get("op")
        if op != "ignore" and op not in OP_NAMES:
            raise GrammarError(f"{where}: unknown op {op!r}")
        if ("match" in ev) == ("match_prefix" in ev):
            raise GrammarError(f"{where}: give exactly one of match, match_prefix")
        at = ev.get("at", "entry")
        if at not in ("entry", "return") or (at == "return" and kind != "kprobe"):
            raise GrammarError(f"{where}: at must be entry or return (return: kprobes only)")
        when = ev.get("when")
        if when is not None:
            compile_condition(when)  # raises GrammarError with a caret on a bad condition
        rules.append(
            EventRule(
                profile=name,
                kind=kind,
                names=_names(ev["match"], where) if "match" in ev else (),
                prefix=ev.get("match_prefix"),
                at=at,
                op=op,
                fields=_specs(ev.get("fields"), where, FIELD_COLUMNS),
                counters=_specs(ev.get("counters"), where, COUNTERS),
                when=when,
                owner=ev.get("owner"),
                owner_by_caller=dict(ev.get("owner_by_caller", {})),
                nest=bool(ev.get("nest", False)),
                confirm=bool(ev.get("confirm", False)),
            )
        )
    if not rules:
        raise GrammarError(f"{path}: no [[event]] entries")
    return Profile(
        name=name,
        description=str(data.get("description", "")),
        reference=str(data.get("reference", "")),
        kind=kind,
        system=data.get("system"),
        path=str(path),
        rules=tuple(rules),
    )


@cache
def builtin_profiles() -> tuple[Profile, ...]:
    """Every profile shipped in ``tracekit/profiles``, sorted by name."""
    root = resources.files("tracekit") / "profiles"
    out = [load_profile(Path(str(p))) for p in root.iterdir() if p.name.endswith(".toml")]
    return tuple(sorted(out, key=lambda p: p.name))


def load_profiles(extra_dirs: list[str] | None = None) -> tuple[Profile, ...]:
    """The built-in profiles plus every ``*.toml`` in ``extra_dirs`` (later names win)."""
    by_name = {p.name: p for p in builtin_profiles()}
    for d in extra_dirs or ():
        for path in sorted(Path(d).glob("*.toml")):
            prof = load_profile(path)
            by_name[prof.name] = prof
    return tuple(by_name[n] for n in sorted(by_name))


def main() -> None:  # pragma: no cover - a developer aid: python -m tracekit.normalize.profiles
    for prof in builtin_profiles():
        print(f"{prof.name:14s} {prof.kind:10s} {len(prof.rules):3d} rules  {prof.description}")


if __name__ == "__main__":  # pragma: no cover
    main()
