"""Opt-in: `tracekit record --emit-script` run inside a real Debian 6.12 kernel under QEMU
(vgem), around a workload that leaves a GEM handle and a dma-buf fd open at exit. Needs
qemu-system-x86, pahole and a network to Debian the first time (the rig downloads the kernel);
about a minute under TCG. Run: ``TRACEKIT_QEMU=1 python -m pytest -m qemu tests/test_record_vm.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tracekit.check import run_check

pytestmark = [
    pytest.mark.qemu,
    pytest.mark.skipif(
        os.environ.get("TRACEKIT_QEMU") != "1", reason="opt-in: TRACEKIT_QEMU=1 pytest -m qemu"
    ),
]


def test_recorded_by_our_script_in_a_real_kernel(tmp_path: Path) -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "vm" / "record_in_vm.py"), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    capture = Path(run.stdout.strip().splitlines()[-1])
    res = run_check([str(capture)])
    assert res.replayed.parsed.summary.rejected == 0
    assert res.replayed.checks.height > 0 and res.replayed.disagreements.height == 0
    assert res.findings.height == 0  # the handle and the dma-buf fd open at exit are cleanup
    ops = res.replayed.ops
    released = ops.filter(ops["func"].is_in(["drm_gem_object_release_handle", "dma_buf_release"]))
    assert released.height >= 2
    # the probes of functions the kernel does not have: 2 on 6.12, 7-8 on 6.16 - 7.3 (KPKG=...)
    assert (tmp_path / "record.log").read_text().count("refused:") <= 8
