#!/usr/bin/env python3
"""Build the seed bug captures in this directory (``python traces/seeds/build.py``).

Each capture replays the bug of one seed thread (shared/seeds, see README.md here) as a kernel
with that bug would have traced it: the same kprobe and tracepoint line shapes as the real
captures in ../real (their probes, with the struct fields of probes-extended.tmpl), the kernel
functions the seed names, realistic tasks, CPUs and addresses, and correct traffic around the
bug. They are reconstructions, not recordings: no kernel shipped these bugs for the rig to run.
The output is deterministic; tests check that the committed files equal what this script writes
and that ``tracekit check`` flags each bug with the rule and at the line listed in expected.toml.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent

HEADER = """\
# tracer: nop
#
# entries-in-buffer/entries-written: {n}/{n}   #P:{cpus}
#
#                                _-----=> irqs-off/BH-disabled
#                               / _----=> need-resched
#                              | / _---=> hardirq/softirq
#                              || / _--=> preempt-depth
#                              ||| / _-=> migrate-disable
#                              |||| /     delay
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION
#              | |         |   |||||     |         |
"""


@dataclass(frozen=True)
class Task:
    comm: str
    pid: int
    cpu: int


@dataclass
class Capture:
    """An ftrace text capture written line by line with a monotonic clock (microseconds)."""

    cpus: int
    us: int
    lines: list[str] = field(default_factory=list)

    def emit(self, task: Task, body: str, *, flags: str = ".....", gap: int = 7) -> int:
        self.us += gap
        sec, usec = divmod(self.us, 1_000_000)
        self.lines.append(
            f"{task.comm:>16}-{task.pid:<7d} [{task.cpu:03d}] {flags} {sec:5d}.{usec:06d}: {body}"
        )
        return len(self.lines) + HEADER.count("\n")  # the line number of what was just written

    def wait(self, us: int) -> None:
        self.us += us

    def probe(self, task: Task, func: str, where: str, args: str, *, name: str = "") -> int:
        return self.emit(task, f"{name or func}: ({func}+{where}) {args}")

    def ret(self, task: Task, func: str, caller: str, args: str, *, name: str = "") -> int:
        return self.emit(task, f"{name or func + '_ret'}: ({caller} <- {func}) {args}")

    def sys(self, task: Task, call: str, args: str) -> int:
        return self.emit(task, f"sys_{call}({args})", flags="...1.")

    def sysret(self, task: Task, call: str, value: str = "0x0") -> int:
        return self.emit(task, f"sys_{call} -> {value}", flags="...1.")

    def mark(self, task: Task, text: str) -> int:
        return self.emit(task, f"tracing_mark_write: {text}")

    def text(self) -> str:
        return HEADER.format(n=len(self.lines), cpus=self.cpus) + "\n".join(self.lines) + "\n"


def hexa(value: int) -> str:
    return f"0x{value:x}"


# ------------------------------------------------------------------------------------------------
# 000: drm_gem_vram_helper kmap/kunmap counting (shared/seeds/000). Kernel 6.12 names: the
# seed's kmap/kunmap are drm_gem_vram_vmap/vunmap (kmap_use_count became vmap_use_count).
# A hibmc BMC console (arm64): Xorg's shadow-plane commits vmap and vunmap the scanout BO. The
# buggy driver ends CPU access twice on a failed commit (second vunmap with nothing mapped:
# "WARN_ON_ONCE(!gbo->vmap_use_count)") and, on the last commit, skips the vunmap: the BO is
# destroyed with a live mapping ("WARN_ON(gbo->vmap_use_count)" in drm_gem_vram_destroy()).


def seed_000() -> tuple[Capture, list[tuple[str, int]]]:
    cap = Capture(cpus=4, us=412_903_117)
    xorg = Task("Xorg", 1302, 2)
    drm = "[drm]"
    vram = "[drm_vram_helper]"
    dev, file = 0xFFFF0000C1A3C000, 0xFFFF0000C6F1A400
    bos = [0xFFFF0000C70B2800, 0xFFFF0000C70B3C00]
    expected: list[tuple[str, int]] = []
    for gbo in bos:
        size = 3145728
        cap.sys(xorg, "ioctl", "fd: e, cmd: c02064b2, arg: ffffd3a2b1e0")
        cap.probe(
            xorg,
            "drm_mode_create_dumb_ioctl",
            "0x4/0x90 [drm]",
            f"dev={hexa(dev)} width=1024 height=768 bpp=32 file={hexa(file)}",
        )
        cap.probe(xorg, "drm_gem_vram_create", f"0x0/0x1f0 {vram}", f"dev={hexa(dev)} size={size}")
        cap.probe(
            xorg,
            "drm_gem_object_init",
            f"0x4/0x40 {drm}",
            f"dev={hexa(dev)} obj={hexa(gbo)} size={size}",
        )
        cap.ret(
            xorg,
            "drm_gem_object_init",
            f"drm_gem_vram_create+0xdc/0x1f0 {vram}",
            "ret=0",
        )
        cap.ret(
            xorg,
            "drm_gem_vram_create",
            f"drm_gem_vram_fill_create_dumb+0x9c/0x158 {vram}",
            f"gbo={hexa(gbo)}",
        )
        cap.probe(
            xorg,
            "drm_gem_handle_create_tail",
            f"0x4/0x170 {drm}",
            f"file={hexa(file)} obj={hexa(gbo)} handlep=0xffff80008b3fbc9c size={size} "
            "refcount=1 handle_count=0",
        )
        cap.ret(
            xorg,
            "drm_gem_handle_create_tail",
            f"drm_gem_vram_fill_create_dumb+0xbc/0x158 {vram}",
            "ret=0",
        )
        cap.ret(
            xorg,
            "drm_mode_create_dumb_ioctl",
            f"drm_ioctl_kernel+0xc4/0x128 {drm}",
            "ret=0",
        )
        cap.sysret(xorg, "ioctl")
        cap.wait(180)

    def commit(gbo: int, *, vunmaps: int) -> list[int]:
        """One atomic commit of the shadow plane: pin, vmap, blit, vunmap(s), unpin."""
        cap.sys(xorg, "ioctl", "fd: e, cmd: c03864bc, arg: ffffd3a2b3a8")
        cap.probe(xorg, "drm_gem_vram_pin", f"0x4/0x90 {vram}", f"gbo={hexa(gbo)} pl_flag=4")
        cap.probe(
            xorg, "drm_gem_vmap", f"0x4/0x70 {drm}", f"obj={hexa(gbo)} map=0xffff80008b3fbb20"
        )
        cap.probe(
            xorg,
            "drm_gem_vram_vmap",
            f"0x4/0x158 {vram}",
            f"gbo={hexa(gbo)} map=0xffff80008b3fbb20",
        )
        cap.ret(xorg, "drm_gem_vmap", "drm_gem_fb_vmap+0x8c/0x1a8 [drm_kms_helper]", "ret=0")
        cap.wait(2100)  # the damage blit
        lines = []
        for _ in range(vunmaps):
            cap.probe(
                xorg,
                "drm_gem_vunmap",
                f"0x4/0x60 {drm}",
                f"obj={hexa(gbo)} map=0xffff80008b3fbb20 vaddr=0xffff800089c00000",
            )
            lines.append(
                cap.probe(
                    xorg,
                    "drm_gem_vram_vunmap",
                    f"0x4/0xd0 {vram}",
                    f"gbo={hexa(gbo)} map=0xffff80008b3fbb20 vaddr=0xffff800089c00000",
                )
            )
        cap.probe(xorg, "drm_gem_vram_unpin", f"0x4/0x80 {vram}", f"gbo={hexa(gbo)}")
        cap.sysret(xorg, "ioctl")
        cap.wait(16_400)
        return lines

    for _ in range(3):
        commit(bos[0], vunmaps=1)
        commit(bos[1], vunmaps=1)
    # a commit that fails after the blit ends CPU access twice
    second = commit(bos[0], vunmaps=2)[1]
    expected.append(("TK002", second))
    for _ in range(2):
        commit(bos[1], vunmaps=1)
    # the last frame's vunmap is skipped: the mapping outlives the BO
    commit(bos[1], vunmaps=0)
    # Xorg exits: the file's handles go, both BOs are destroyed
    cap.sys(xorg, "exit_group", "error_code: 0")
    cap.probe(xorg, "drm_gem_release", f"0x4/0x30 {drm}", f"dev={hexa(dev)} file={hexa(file)}")
    for handle, gbo in enumerate(bos, start=1):
        cap.probe(
            xorg,
            "drm_gem_object_release_handle",
            f"0x4/0xb0 {drm}",
            f"handle={handle} obj={hexa(gbo)} file={hexa(file)} refcount=1 handle_count=1",
        )
        cap.probe(
            xorg,
            "drm_gem_object_handle_put_unlocked",
            f"0x4/0x120 {drm}",
            f"obj={hexa(gbo)} handle_count=1",
        )
        free = cap.probe(
            xorg,
            "drm_gem_object_free",
            f"0x4/0x30 {drm}",
            f"obj={hexa(gbo)} size=3145728 handle_count=0 dma_buf=0x0 import_attach=0x0",
        )
        cap.probe(xorg, "drm_gem_vram_put", f"0x4/0x28 {vram}", f"gbo={hexa(gbo)}")
        cap.probe(
            xorg, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(gbo)} size=3145728"
        )
        if gbo == bos[1]:
            expected.append(("TK003", free))
    return cap, expected


# ------------------------------------------------------------------------------------------------
# 001: the vc4 binner BO (shared/seeds/001), a kernel with v5 of the patch: DRM files share
# vc4->bin_bo_kref and the last close frees the binner BO, but jobs take no reference of their
# own ("we could have jobs still being executed after the close"). A Raspberry Pi 3 (arm64):
# kmscube starts the V3D first and exits after waiting for its frames; glmark2 exits with a frame
# still rendering, and its close frees the binner BO under the running job.


def seed_001() -> tuple[Capture, list[tuple[str, int]]]:
    cap = Capture(cpus=4, us=96_204_551)
    kmscube = Task("kmscube", 702, 1)
    glmark = Task("glmark2-es2-drm", 731, 3)
    irq = Task("<idle>", 0, 0)
    worker = Task("kworker/0:2", 58, 0)
    drm, vc4, dma = "[drm]", "[vc4]", "[drm_dma_helper]"
    dev = 0xFFFF000003E58000
    files = {kmscube: 0xFFFF00000A4C1C00, glmark: 0xFFFF00000A4C3800}
    bin_bo = 0xFFFF000004D6E000
    expected: list[tuple[str, int]] = []
    seqno = 0
    next_obj = iter(range(0xFFFF00000B170000, 0xFFFF00000B180000, 0x400))
    handles = {kmscube: [], glmark: []}

    def create_bo(task: Task, size: int, *, first_v3d_user: bool) -> int:
        obj = next(next_obj)
        cap.sys(task, "ioctl", "fd: 4, cmd: c0106443, arg: ffffe6f6a1d8")
        cap.probe(
            task,
            "vc4_create_bo_ioctl",
            f"0x4/0xd8 {vc4}",
            f"dev={hexa(dev)} file={hexa(files[task])} size={size}",
        )
        cap.probe(task, "vc4_v3d_bin_bo_get", f"0x4/0x110 {vc4}", f"vc4={hexa(dev)}")
        if first_v3d_user:
            cap.probe(task, "vc4_v3d_bin_bo_alloc", f"0x4/0x2a8 {vc4}", f"vc4={hexa(dev)}")
            cap.probe(
                task,
                "drm_gem_object_init",
                f"0x4/0x40 {drm}",
                f"dev={hexa(dev)} obj={hexa(bin_bo)} size=524288",
            )
            cap.ret(task, "drm_gem_object_init", f"__drm_gem_dma_create+0x9c/0x1b8 {dma}", "ret=0")
            cap.ret(
                task,
                "vc4_v3d_bin_bo_alloc",
                f"vc4_v3d_bin_bo_get+0xa4/0x110 {vc4}",
                f"ret=0 bin_bo={hexa(bin_bo)}",
            )
        cap.probe(
            task,
            "drm_gem_object_init",
            f"0x4/0x40 {drm}",
            f"dev={hexa(dev)} obj={hexa(obj)} size={size}",
        )
        cap.ret(task, "drm_gem_object_init", f"__drm_gem_dma_create+0x9c/0x1b8 {dma}", "ret=0")
        cap.probe(
            task,
            "drm_gem_handle_create_tail",
            f"0x4/0x170 {drm}",
            f"file={hexa(files[task])} obj={hexa(obj)} handlep=0xffff80008a3ebc9c size={size} "
            "refcount=1 handle_count=0",
        )
        cap.ret(task, "drm_gem_handle_create_tail", f"vc4_create_bo_ioctl+0x84/0xd8 {vc4}", "ret=0")
        cap.sysret(task, "ioctl")
        handles[task].append(obj)
        return obj

    def submit(task: Task) -> int:
        nonlocal seqno
        seqno += 1
        cap.sys(task, "ioctl", "fd: 4, cmd: c0b06440, arg: ffffe6f6a2e0")
        cap.emit(
            task, "vc4_submit_cl_ioctl: dev=0, bin_cl_size=3312, shader_rec_size=512, bo_count=4"
        )
        cap.probe(
            task, "vc4_queue_submit", f"0x4/0x2e0 {vc4}", f"dev={hexa(dev)} exec=0xffff00000c9a0000"
        )
        cap.emit(
            task, f"vc4_submit_cl: dev=0, BCL, seqno={seqno}, 0x3ec20000..0x3ec20cf0", flags="d..1."
        )
        cap.ret(
            task,
            "vc4_queue_submit",
            f"vc4_submit_cl_ioctl+0x6b4/0x8a0 {vc4}",
            f"ret=0 seqno={seqno} bin_slots=0x{1 << (seqno % 8):x} bin_bo={hexa(bin_bo)}",
        )
        cap.sysret(task, "ioctl")
        return seqno

    def done(job: int) -> None:
        cap.emit(irq, f"vc4_bcl_end_irq: dev=0, seqno={job}", flags="d.h1.")
        cap.emit(
            irq,
            f"vc4_submit_cl: dev=0, RCL, seqno={job}, 0x3ec40000..0x3ec40100",
            flags="d.h1.",
            gap=3,
        )
        cap.wait(6200)
        cap.emit(irq, f"vc4_rcl_end_irq: dev=0, seqno={job}", flags="d.h1.")

    def close(task: Task, *, last: bool, inflight: list[int]) -> int:
        cap.sys(task, "exit_group", "error_code: 0")
        cap.probe(
            task, "drm_gem_release", f"0x4/0x30 {drm}", f"dev={hexa(dev)} file={hexa(files[task])}"
        )
        for handle, obj in enumerate(handles[task], start=1):
            refs = 2 if inflight else 1  # the job's BO list (vc4_cl_lookup_bos) holds one more
            cap.probe(
                task,
                "drm_gem_object_release_handle",
                f"0x4/0xb0 {drm}",
                f"handle={handle} obj={hexa(obj)} file={hexa(files[task])} refcount={refs} handle_count=1",
            )
            cap.probe(
                task,
                "drm_gem_object_handle_put_unlocked",
                f"0x4/0x120 {drm}",
                f"obj={hexa(obj)} handle_count=1",
            )
            if not inflight:
                cap.probe(
                    task,
                    "drm_gem_object_free",
                    f"0x4/0x30 {drm}",
                    f"obj={hexa(obj)} size=65536 handle_count=0 dma_buf=0x0 import_attach=0x0",
                )
                cap.probe(
                    task, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(obj)} size=65536"
                )
        free_line = 0
        if last:
            cap.probe(task, "vc4_close_bin_bo_release", f"0x4/0x30 {vc4}", "ref=0xffff000003e5a3e8")
            cap.probe(
                task,
                "vc4_v3d_bin_bo_free",
                f"0x4/0x40 {vc4}",
                f"vc4={hexa(dev)} bin_bo={hexa(bin_bo)}",
            )
            free_line = cap.probe(
                task,
                "drm_gem_object_free",
                f"0x4/0x30 {drm}",
                f"obj={hexa(bin_bo)} size=524288 handle_count=0 dma_buf=0x0 import_attach=0x0",
            )
            cap.probe(
                task, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(bin_bo)} size=524288"
            )
        return free_line

    # kmscube: the first V3D user allocates the binner BO
    for size in (65536, 65536):
        create_bo(kmscube, size, first_v3d_user=not handles[kmscube])
    cap.wait(30_000)
    for size in (65536, 65536):
        create_bo(glmark, size, first_v3d_user=False)
    jobs: list[int] = []
    for _ in range(4):
        jobs.append(submit(kmscube))
        cap.wait(900)
        jobs.append(submit(glmark))
        done(jobs[-2])
        done(jobs[-1])
        cap.wait(16_000)
    # kmscube waits for its last frame and exits: glmark2 still uses the binner BO
    cap.emit(
        kmscube, f"vc4_wait_for_seqno_begin: dev=0, seqno={jobs[-2]}, timeout=18446744073709551615"
    )
    cap.emit(kmscube, f"vc4_wait_for_seqno_end: dev=0, seqno={jobs[-2]}")
    close(kmscube, last=False, inflight=[])
    cap.wait(40_000)
    # glmark2 queues one more frame and exits at once
    last_job = submit(glmark)
    cap.wait(350)
    free = close(glmark, last=True, inflight=[last_job])
    expected.append(("TK006", free))
    done(last_job)
    # vc4_job_done_work completes the exec: its BO list references go, the BOs are freed
    for obj in handles[glmark]:
        cap.probe(
            worker,
            "drm_gem_object_free",
            f"0x4/0x30 {drm}",
            f"obj={hexa(obj)} size=65536 handle_count=0 dma_buf=0x0 import_attach=0x0",
        )
        cap.probe(
            worker, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(obj)} size=65536"
        )
    return cap, expected


# ------------------------------------------------------------------------------------------------
# 002: the dma-buf's reference-counted vmap (shared/seeds/002). Both captures are the real Linux
# 6.12 cirrus_prime capture (../real/linux-6.12/cirrus_prime.txt: cirrus scans out a vgem BO it
# imported through PRIME, and its shadow-plane commits dma_buf_vmap it) with dma_buf_vunmap
# probed as the extended template does (the map it is given, vaddr=+0(%si), and
# dmabuf->vmap_ptr), edited into the kernel with the bug, and cut where that kernel stops at
# its BUG_ON.

REAL = HERE.parent / "real" / "linux-6.12" / "cirrus_prime.txt"
EXPORTER_VADDR = "0xff59a4b68041d000"  # the vgem BO's vmap, read by drm_gem_vunmap below


def _real_002() -> list[str]:
    lines = REAL.read_text().splitlines()
    out = []
    for line in lines:
        if ": dma_buf_vunmap: " in line:
            line += f" vaddr={EXPORTER_VADDR} vmap_ptr={EXPORTER_VADDR}"
        out.append(line)
    return out


def _ts(line: str) -> str:
    return line.split(": ", 1)[0].rsplit(None, 1)[-1]


def _finish(lines: list[str]) -> Capture:
    body = [line for line in lines if not line.startswith("#")]
    cap = Capture(cpus=2, us=0, lines=body)
    return cap


def _line_of(cap: Capture, ts: str) -> int:
    return next(i for i, line in enumerate(cap.lines) if _ts(line) == ts) + 1 + HEADER.count("\n")


def seed_002_released() -> tuple[Capture, list[tuple[str, int]]]:
    """The plane switched away from the imported fb without its cleanup_fb vunmap: the dma-buf
    is released with vmapping_counter 1 ("BUG_ON(dmabuf->vmapping_counter)")."""
    out = []
    for line in _real_002():
        ts = _ts(line) if not line.startswith("#") else ""
        if "13.142261" <= ts <= "13.142402" and ts:
            continue  # the old plane's drm_gem_fb_vunmap, not done
        if ts == "13.146520":
            line = line.replace("pages_use_count=1", "pages_use_count=2")  # the vmap's pages
        out.append(line)
        if ts == "13.151329":
            break  # dma_buf_release: kernel BUG at drivers/dma-buf/dma-buf.c
    cap = _finish(out)
    release = _line_of(cap, "13.151329")
    # the BUG stops the release before drm_gem_dmabuf_release drops the dma-buf's reference on
    # the vgem BO: that reference is left with no owner (TK001, reported at the BO's last op)
    return cap, [("TK003", release), ("TK001", release)]


def seed_002_wrong_map() -> tuple[Capture, list[tuple[str, int]]]:
    """A DIRTYFB commit ends CPU access with a stale copy of an earlier map: dma_buf_vunmap is
    given an address that is not dmabuf->vmap_ptr ("BUG_ON(!iosys_map_is_equal(...))")."""
    stale = "0xff59a4b680421000"
    out = []
    for line in _real_002():
        ts = _ts(line) if not line.startswith("#") else ""
        if ts == "13.111961":
            line = line.replace(f"vaddr={EXPORTER_VADDR}", f"vaddr={stale}")
        if ts == "13.112190":
            line = line.replace(f"vaddr={EXPORTER_VADDR} vmap_ptr", f"vaddr={stale} vmap_ptr")
        out.append(line)
        if ts == "13.112190":
            break  # kernel BUG at drivers/dma-buf/dma-buf.c
    cap = _finish(out)
    return cap, [("TK004", _line_of(cap, "13.112190"))]


# ------------------------------------------------------------------------------------------------
# 004: panfrost GPU mappings own a pages reference (shared/seeds/004), a kernel with v19 of the
# series but without the is_purgeable check it adds to panfrost_gem_purge(). An RK3399 board
# (arm64): a Wayland client's BO is marked DONTNEED and its handle closed while its last job is
# still on the GPU; the job's end releases the mapping and with it the pages, the BO lives on in
# the job's BO array until the job is freed, and the shrinker purges it: pages already released.


def seed_004() -> tuple[Capture, list[tuple[str, int]]]:
    cap = Capture(cpus=6, us=2_301_774_410)
    app = Task("weston-simple-e", 1488, 4)
    kswapd = Task("kswapd0", 61, 2)
    sched = Task("pan_js", 212, 5)
    worker = Task("kworker/u12:3", 187, 5)
    drm, shm, pan, gs = "[drm]", "[drm_shmem_helper]", "[panfrost]", "[gpu_sched]"
    dev, file = 0xFFFF000001D40000, 0xFFFF00000A9F2C00
    bos = [0xFFFF0000093A1000, 0xFFFF0000093A2400, 0xFFFF0000093A3800]
    expected: list[tuple[str, int]] = []
    pages = {bo: 0 for bo in bos}

    for handle, bo in enumerate(bos, start=1):
        size = 1048576
        cap.sys(app, "ioctl", "fd: 9, cmd: c0186441, arg: ffffc2e1e7a8")
        cap.probe(
            app, "panfrost_gem_create", f"0x4/0x90 {pan}", f"dev={hexa(dev)} size={size} flags=0"
        )
        cap.probe(
            app,
            "drm_gem_object_init",
            f"0x4/0x40 {drm}",
            f"dev={hexa(dev)} obj={hexa(bo)} size={size}",
        )
        cap.ret(app, "drm_gem_object_init", f"__drm_gem_shmem_create+0x64/0x160 {shm}", "ret=0")
        cap.ret(
            app,
            "panfrost_gem_create",
            f"panfrost_ioctl_create_bo+0x5c/0x170 {pan}",
            f"bo={hexa(bo)}",
        )
        cap.probe(
            app,
            "drm_gem_handle_create_tail",
            f"0x4/0x170 {drm}",
            f"file={hexa(file)} obj={hexa(bo)} handlep=0xffff80008c4dbc1c size={size} "
            "refcount=1 handle_count=0",
        )
        # the .open callback makes the file's GPU mapping: it owns a pages reference
        cap.probe(
            app, "panfrost_gem_open", f"0x4/0x2a0 {pan}", f"obj={hexa(bo)} file_priv={hexa(file)}"
        )
        cap.probe(
            app,
            "drm_gem_shmem_get_pages",
            f"0x4/0xa0 {shm}",
            f"shmem={hexa(bo)} pages_use_count={pages[bo]}",
        )
        pages[bo] += 1
        cap.probe(
            app,
            "panfrost_mmu_map",
            f"0x4/0x150 {pan}",
            f"mapping=0xffff00000c5d{handle:02x}00 obj={hexa(bo)}",
        )
        cap.ret(app, "panfrost_gem_open", f"drm_gem_handle_create_tail+0xe0/0x170 {drm}", "ret=0")
        cap.ret(
            app, "drm_gem_handle_create_tail", f"panfrost_ioctl_create_bo+0x94/0x170 {pan}", "ret=0"
        )
        cap.sysret(app, "ioctl")
        cap.wait(400)

    fseq = 4410

    def submit(used: list[int]) -> tuple[int, str]:
        nonlocal fseq
        fseq += 1
        job = f"0xffff00000e1{fseq % 4096:03x}00"
        cap.sys(app, "ioctl", "fd: 9, cmd: c0286440, arg: ffffc2e1e6f0")
        cap.probe(app, "drm_sched_job_arm", f"0x0/0x88 {gs}", f"job={job}", name="sched_job_arm")
        for bo in used:
            cap.probe(
                app,
                "drm_sched_job_add_implicit_dependencies",
                f"0x0/0x48 {gs}",
                f"job={job} obj={hexa(bo)} write=1 fctx=9 fseq={fseq}",
                name="sched_job_bo",
            )
        cap.emit(
            app,
            f"drm_sched_job: entity=0xffff00000a9f3d08, id={fseq}, fence=0xffff00000d61{fseq % 4096:03x}80, ring=fragment, job count:1, hw job count:0",
        )
        cap.sysret(app, "ioctl")
        return fseq, job

    def finish(seq: int) -> None:
        cap.emit(
            sched,
            f"drm_run_job: entity=0xffff00000a9f3d08, id={seq}, fence=0xffff00000d61{seq % 4096:03x}80, ring=fragment, job count:0, hw job count:1",
        )
        cap.wait(8_000)
        idle = Task("<idle>", 0, 0)
        cap.emit(
            idle,
            f"dma_fence_signaled: driver=panfrost timeline=fragment context=7 seqno={seq - 4000}",
            flags="d.h2.",
        )
        cap.emit(
            idle,
            f"dma_fence_signaled: driver=drm_sched timeline=fragment context=9 seqno={seq}",
            flags="d.h2.",
            gap=2,
        )
        cap.emit(
            idle,
            f"drm_sched_process_job: fence=0xffff00000d61{seq % 4096:03x}80 signaled",
            flags="d.h2.",
            gap=1,
        )

    for _ in range(5):
        seq, _job = submit(bos)
        finish(seq)
        cap.wait(16_600)
    # the last frame: BO 3 goes on the GPU, then the client is done with it
    seq, _job = submit([bos[2]])
    cap.sys(app, "ioctl", "fd: 9, cmd: c00c6448, arg: ffffc2e1e7b0")  # MADVISE(DONTNEED)
    cap.probe(app, "drm_gem_object_lookup", f"0x4/0x70 {drm}", f"file={hexa(file)} handle=3")
    cap.ret(
        app,
        "drm_gem_object_lookup",
        f"panfrost_ioctl_madvise+0x58/0x1c0 {pan}",
        f"obj={hexa(bos[2])}",
    )
    cap.probe(
        app, "drm_gem_shmem_madvise_locked", f"0x4/0x70 {shm}", f"shmem={hexa(bos[2])} madv=1"
    )
    cap.sysret(app, "ioctl")
    cap.sys(app, "ioctl", "fd: 9, cmd: 40086409, arg: ffffc2e1e7c8")  # GEM_CLOSE
    cap.probe(app, "drm_gem_handle_delete", f"0x4/0xa0 {drm}", f"file={hexa(file)} handle=3")
    cap.probe(
        app,
        "drm_gem_object_release_handle",
        f"0x4/0xb0 {drm}",
        f"handle=3 obj={hexa(bos[2])} file={hexa(file)} refcount=3 handle_count=1",
    )
    cap.probe(
        app, "panfrost_gem_close", f"0x4/0x160 {pan}", f"obj={hexa(bos[2])} file_priv={hexa(file)}"
    )
    cap.probe(
        app,
        "drm_gem_object_handle_put_unlocked",
        f"0x4/0x120 {drm}",
        f"obj={hexa(bos[2])} handle_count=1",
    )
    cap.ret(app, "drm_gem_handle_delete", f"drm_ioctl_kernel+0xc4/0x128 {drm}", "ret=0")
    cap.sysret(app, "ioctl")
    # the job ends; its cleanup drops the last mapping reference: unmap, pages put
    finish(seq)
    cap.probe(
        worker,
        "panfrost_gem_mapping_put",
        f"0x4/0x60 {pan}",
        f"mapping=0xffff00000c5d0300 obj={hexa(bos[2])}",
    )
    cap.probe(
        worker,
        "panfrost_mmu_unmap",
        f"0x4/0x118 {pan}",
        f"mapping=0xffff00000c5d0300 obj={hexa(bos[2])}",
    )
    cap.probe(
        worker,
        "drm_gem_shmem_put_pages",
        f"0x4/0xd0 {shm}",
        f"shmem={hexa(bos[2])} pages_use_count=1",
    )
    cap.probe(
        worker,
        "panfrost_gem_mapping_release",
        f"0x4/0xe8 {pan}",
        f"kref=0xffff00000c5d0310 obj={hexa(bos[2])}",
    )
    cap.wait(1_900)
    # memory pressure: the shrinker finds BO 3 on the DONTNEED list, without pages
    purge = cap.probe(
        kswapd,
        "drm_gem_shmem_purge_locked",
        f"0x4/0x140 {shm}",
        f"shmem={hexa(bos[2])} pages_use_count=0",
    )
    expected.append(("TK013", purge))
    put = cap.probe(
        kswapd,
        "drm_gem_shmem_put_pages_locked",
        f"0x4/0xd0 {shm}",
        f"shmem={hexa(bos[2])} pages_use_count=0",
    )
    expected.append(("TK011", put))
    cap.wait(3_000)
    # the job is freed: its BO reference was the last one
    cap.probe(
        worker,
        "drm_gem_object_free",
        f"0x4/0x30 {drm}",
        f"obj={hexa(bos[2])} size=1048576 handle_count=0 dma_buf=0x0 import_attach=0x0",
    )
    cap.probe(
        worker,
        "drm_gem_shmem_free",
        f"0x4/0x130 {shm}",
        f"shmem={hexa(bos[2])} pages_use_count=0 vmap_use_count=0 sgt=0x0 import_attach=0x0",
    )
    cap.probe(
        worker, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(bos[2])} size=1048576"
    )
    return cap, expected


# ------------------------------------------------------------------------------------------------
# 003: exynos userptr (shared/seeds/003), the patch as reviewed, ported to a 6.12 kernel on an
# Odroid-XU4 (Exynos 5422, 32-bit ARM): get_user_pages() pins the user buffer, nothing charges
# the pages to RLIMIT_MEMLOCK, and a short pin only prints "failed to get user_pages." and goes
# on. A camera pipeline imports its capture buffers: the third import takes the process over
# 8 MiB pinned, and one import of a buffer whose tail was unmapped keeps a partial pin.


def seed_003() -> tuple[Capture, list[tuple[str, int]]]:
    cap = Capture(cpus=8, us=1_884_302_117)
    gst = Task("gst-launch-1.0", 2207, 5)
    drm, exy = "[drm]", "[exynosdrm]"
    dev, file = 0xC2A4C000, 0xC5F31C00
    expected: list[tuple[str, int]] = []
    objs = iter(range(0xC4D21400, 0xC4D40000, 0x400))
    pagevecs = iter(range(0xF0A00000, 0xF1000000, 0x2000))
    user = iter(range(0xB3A00000, 0xB6000000, 0x400000))
    held: list[tuple[int, int, int]] = []  # object, page array, pages pinned

    def userptr(npages: int, got: int) -> int:
        obj, vec, addr = next(objs), next(pagevecs), next(user)
        size = npages * 4096
        cap.sys(gst, "ioctl", "fd: 9, cmd: c0186448, arg: be9a31d8")
        cap.probe(
            gst,
            "exynos_drm_gem_userptr_ioctl",
            f"0x4/0x2a8 {exy}",
            f"dev={hexa(dev)} data=0xef3d1e48 file_priv={hexa(file)} size={size}",
        )
        cap.probe(
            gst,
            "drm_gem_object_init",
            f"0x4/0x40 {drm}",
            f"dev={hexa(dev)} obj={hexa(obj)} size={size}",
        )
        cap.ret(gst, "drm_gem_object_init", f"exynos_drm_gem_init+0x5c/0x110 {exy}", "ret=0")
        cap.probe(
            gst,
            "exynos_drm_get_userptr",
            f"0x4/0x2c0 {exy}",
            f"dev={hexa(dev)} exynos_gem={hexa(obj)} userptr={hexa(addr)} write=1",
        )
        cap.probe(
            gst,
            "get_user_pages",
            "0x4/0x90",
            f"start={hexa(addr)} nr_pages={npages} gup_flags=0x1 pages={hexa(vec)}",
        )
        cap.wait(180 * npages // 64)
        pinned = cap.ret(
            gst, "get_user_pages", f"exynos_drm_get_userptr+0x1d8/0x2c0 {exy}", f"ret={got}"
        )
        cap.ret(
            gst,
            "exynos_drm_get_userptr",
            f"exynos_drm_gem_userptr_ioctl+0x150/0x2a8 {exy}",
            f"ret={got}",
        )
        cap.probe(
            gst,
            "drm_gem_handle_create_tail",
            f"0x4/0x170 {drm}",
            f"file={hexa(file)} obj={hexa(obj)} handlep=0xef3d1e50 size={size} refcount=1 handle_count=0",
        )
        cap.ret(
            gst,
            "drm_gem_handle_create_tail",
            f"exynos_drm_gem_userptr_ioctl+0x1a4/0x2a8 {exy}",
            "ret=0",
        )
        cap.ret(gst, "exynos_drm_gem_userptr_ioctl", f"drm_ioctl_kernel+0xb8/0x110 {drm}", "ret=0")
        cap.sysret(gst, "ioctl")
        held.append((obj, vec, got))
        cap.wait(33_000)
        return pinned

    def close(handle: int) -> None:
        obj, vec, got = held[handle - 1]
        cap.sys(gst, "ioctl", "fd: 9, cmd: 40086409, arg: be9a3268")
        cap.probe(
            gst, "drm_gem_handle_delete", f"0x4/0xa0 {drm}", f"file={hexa(file)} handle={handle}"
        )
        cap.probe(
            gst,
            "drm_gem_object_release_handle",
            f"0x4/0xb0 {drm}",
            f"handle={handle} obj={hexa(obj)} file={hexa(file)} refcount=1 handle_count=1",
        )
        cap.probe(
            gst,
            "drm_gem_object_handle_put_unlocked",
            f"0x4/0x120 {drm}",
            f"obj={hexa(obj)} handle_count=1",
        )
        cap.probe(
            gst,
            "drm_gem_object_free",
            f"0x4/0x30 {drm}",
            f"obj={hexa(obj)} size={got * 4096} handle_count=0 dma_buf=0x0 import_attach=0x0",
        )
        cap.probe(gst, "exynos_drm_put_userptr", f"0x4/0x150 {exy}", f"exynos_gem={hexa(obj)}")
        cap.probe(gst, "unpin_user_pages", "0x4/0x1a0", f"pages={hexa(vec)} npages={got}")
        cap.ret(gst, "exynos_drm_put_userptr", f"exynos_drm_gem_destroy+0x9c/0x130 {exy}", "ret=0")
        cap.probe(
            gst, "drm_gem_object_release", f"0x4/0x80 {drm}", f"obj={hexa(obj)} size={got * 4096}"
        )
        cap.ret(gst, "drm_gem_handle_delete", f"drm_ioctl_kernel+0xb8/0x110 {drm}", "ret=0")
        cap.sysret(gst, "ioctl")

    # a 1280x720 NV12 pipeline: three capture buffers of 3 MiB (768 pages) imported in turn
    userptr(768, 768)
    userptr(768, 768)
    over = userptr(768, 768)  # 2304 pages pinned by the process: over 8 MiB
    expected.append(("TK005", over))
    close(1)
    close(2)
    # the pipeline renegotiates: a buffer whose tail the allocator already unmapped
    short = userptr(768, 512)
    expected.append(("TK009", short))
    return cap, expected


SEEDS = {
    "000-vram-vmap-counting": seed_000,
    "001-vc4-binner-job": seed_001,
    "002-dmabuf-released-vmapped": seed_002_released,
    "002-dmabuf-vunmap-wrong-map": seed_002_wrong_map,
    "003-exynos-userptr-pins": seed_003,
    "004-panfrost-purge-without-pages": seed_004,
}


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE
    lines = ["# Generated by build.py: the rule each seed capture must raise, at which line.", ""]
    for name, build in SEEDS.items():
        cap, expected = build()
        (out / f"{name}.txt").write_text(cap.text())
        lines.append(f'["{name}.txt"]')
        lines.append(
            "findings = [" + ", ".join(f'["{rule}", {line}]' for rule, line in expected) + "]"
        )
        lines.append("")
    (out / "expected.toml").write_text("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
