#!/usr/bin/env python3
"""Record inside a real kernel with tracekit's own emitted script (issue "Record", done-when).

Boots a Debian kernel under QEMU with vgem and cirrus through the project's VM rig
(``tests/vm/capture.sh``, a copy of shared/vm/capture.sh), where a static scenario writes the
script ``tracekit record --emit-script`` made for that kernel (struct offsets from the kernel's
BTF with ``--btf``), runs it as root with busybox sh around a workload that leaves a GEM handle
and a dma-buf fd open at exit, and sends the capture back over the second serial port. Prints
the capture's path. Used by ``tests/test_record_vm.py`` (opt-in: ``pytest -m vm``).

Usage: ``python tests/vm/record_in_vm.py OUT_DIR`` (env: VMRIG, KPKG as for capture.sh)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CAPTURE = HERE / "capture.sh"
SCENARIOS = HERE.parent.parent / "traces" / "real" / "scenarios"
KPKG = os.environ.get("KPKG", "linux-image-6.12.117+deb12-amd64")

WORKLOAD = r"""
static int workload(void)
{
	/* what vgem_leak_at_exit's K1 does: exported, handle and dma-buf fd open at exit */
	uint32_t h = 0, pitch; uint64_t sz = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h, &pitch, &sz));
	int db = gt_export(fd, h);
	gt_mark("exiting with handle %u and dma-buf fd %d open", h, db);
	return 0;
}
"""

MAIN = r"""
int main(int argc, char **argv)
{
	if (argc > 1) return workload();
	/* the applets the script uses that the rig's initramfs does not link */
	const char *applets[] = {"mkfifo", "rm", "rmdir", "kill", "printf", "sh", NULL};
	for (int i = 0; applets[i]; i++) {
		char p[64]; snprintf(p, sizeof p, "/bin/%s", applets[i]);
		if (access(p, X_OK) != 0) symlink("/bin/busybox", p);
	}
	FILE *f = fopen("/tmp/record.sh", "w");
	if (!f) return 1;
	fputs(SCRIPT, f); fclose(f);
	int rc = system("OUT=/tmp/gem.txt /bin/sh /tmp/record.sh /scenario workload > /tmp/record.log 2>&1");
	FILE *o = fopen("/dev/ttyS1", "w"), *in;
	if (!o) return 1;
	fprintf(o, "===TRACEKIT-LOG-BEGIN===\n");
	if ((in = fopen("/tmp/record.log", "r"))) { int c; while ((c = fgetc(in)) != EOF) fputc(c, o); fclose(in); }
	fprintf(o, "===TRACEKIT-LOG-END===\nrc=%d\n===TRACEKIT-BEGIN===\n", rc);
	if ((in = fopen("/tmp/gem.txt", "r"))) { int c; while ((c = fgetc(in)) != EOF) fputc(c, o); fclose(in); }
	fprintf(o, "===TRACEKIT-END===\n");
	fclose(o);
	return rc;
}
"""


def c_string(text: str) -> str:
    out = []
    for line in text.splitlines(True):
        esc = line.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        out.append(f'"{esc}"')
    return "\n".join(out)


def main(argv: list[str]) -> int:
    out = Path(argv[1]).resolve()
    out.mkdir(parents=True, exist_ok=True)
    rig = Path(os.environ.get("VMRIG", Path.home() / ".cache" / "tracekit-vmrig"))
    env = {**os.environ, "VMRIG": str(rig), "KPKG": KPKG, "TIMEOUT": "600"}
    kdir = rig / f"kernel-{KPKG}"
    if not (kdir / "vmlinux").exists():  # a first boot fetches and unpacks the kernel
        subprocess.run(
            ["bash", str(CAPTURE), str(SCENARIOS / "vgem_basic.c"), "bootstrap"],
            env=env,
            check=True,
        )
    mods = rig / "build" / "initramfs" / "lib" / "modules" / "kernel" / "drivers" / "gpu" / "drm"
    btf = [
        kdir / "vmlinux",
        mods / "drm.ko",
        mods / "drm_shmem_helper.ko",
        mods / "drm_kms_helper.ko",
    ]
    script = out / "record.sh"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "tracekit",
            "record",
            "--emit-script",
            str(script),
            "-o",
            "/tmp/gem.txt",
            *[a for b in btf for a in ("--btf", str(b))],
        ],
        check=True,
    )
    scen = out / "record_in_vm.c"
    scen.write_text(
        '#include "gemtrace.h"\n#include <unistd.h>\n\nstatic const char SCRIPT[] =\n'
        + c_string(script.read_text())
        + ";\n"
        + WORKLOAD
        + MAIN
    )
    (out / "gemtrace.h").write_text((SCENARIOS / "gemtrace.h").read_text())
    subprocess.run(["bash", str(CAPTURE), str(scen), "record_in_vm"], env=env, check=True)
    raw = (rig / "build" / "record_in_vm.ttyS1.raw").read_bytes().decode("utf-8", "replace")
    raw = raw.replace("\r", "")
    log = re.search(r"===TRACEKIT-LOG-BEGIN===\n(.*?)===TRACEKIT-LOG-END===", raw, re.S)
    body = re.search(r"===TRACEKIT-BEGIN===\n(.*?)===TRACEKIT-END===", raw, re.S)
    if body is None:
        print(
            "no capture came back; see", rig / "out" / "record_in_vm.console.txt", file=sys.stderr
        )
        return 1
    (out / "record.log").write_text(log.group(1) if log else "")
    capture = out / "record_in_vm.txt"
    capture.write_text(body.group(1))
    print(capture)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
