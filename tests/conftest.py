"""Shared test fixtures: where the real captures are.

Every capture used here is a copy kept in the repository (tests/fixtures/, traces/), with its
provenance next to it; no test reads ../shared at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tracekit.ingest.lines import Mode, detect
from tracekit.ingest.source import lines_frame

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
TRACES = ROOT / "traces"


def fixture_files() -> list[Path]:
    """Every trace or log fixture (PROVENANCE.md files are not captures)."""
    return sorted(p for p in FIXTURES.rglob("*.txt") if p.is_file())


def detected_mode(path: Path) -> Mode:
    """The format and layout tracekit detects in a capture's first lines."""
    return detect(lines_frame(path.read_bytes()[: 1 << 20], 1).head(800)["text"].to_list())


def captures_read_as(keep: Callable[[Mode], bool]) -> list[Path]:
    """The fixtures and bundled traces (not their READMEs or probe lists) whose detected mode
    ``keep`` accepts."""
    real = sorted(TRACES.rglob("*.txt")) if TRACES.exists() else []
    files = [p for p in fixture_files() + real if "README" not in p.name and "probes" not in p.name]
    return [p for p in files if keep(detected_mode(p))]


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


@pytest.fixture
def tmp_capture(tmp_path: Path):
    def write(text: str, name: str = "capture.txt") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def tampered(tmp_path: Path, capture: Path, line: int, old: str, new: str) -> str:
    """A copy of ``capture`` with ``old`` replaced by ``new`` in its line ``line`` (1-based),
    which must hold ``old``: a sampled counter set to a value the model must not accept."""
    lines = capture.read_text().splitlines()
    assert old in lines[line - 1], lines[line - 1]
    lines[line - 1] = lines[line - 1].replace(old, new)
    out = tmp_path / "tampered.txt"
    out.write_text("\n".join(lines) + "\n")
    return str(out)


def count_lines(data: bytes) -> int:
    """Lines as tracekit counts them: ``\\n``-terminated, a last line without one counts too
    (``bytes.splitlines`` would also split at a lone ``\\r``, which kernel text never means)."""
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


ONLY_A_SYSCALL_SAYS = {TRACES / "real/linux-6.1.0-57-extended/qxl.txt"}
"""Captures whose story only a syscall's return tells: 6.1 refuses a qxl dma-buf mmap
(-ENOSYS, the driver has no gem_prime_mmap) after drm_gem_dmabuf_mmap ran, which only
sys_exit_mmap shows (dialects.failed_mmaps); without it the mapping is taken as made."""
