#!/usr/bin/env python3
"""Generate a large, realistic tracefs ``trace`` capture for the ingest benchmark.

The output is what ``cat /sys/kernel/tracing/trace`` prints on a 64-CPU kernel with the default
options (irq-info on: 5 flag characters; a nanosecond clock: ``%5lu.%06lu``), GEM kprobes placed
as in the real 6.1 captures (``traces/real/linux-6.1/*.kprobe_events``) and the dma_fence,
gpu_scheduler (<= 6.15 names), i915, amdgpu, sched and syscall events enabled. Every line is
built with the kernel's ``trace_print_context`` layout ``"%16s-%-7d [%03d] %s %5lu.%06lu: %s"``.

What is in it (the shares are targets, set in ``MIX``; ``<out>.meta.json`` has what came out):

- GEM kprobe/kretprobe lines in the exact shape of the real 6.1 captures: whole buffer-object
  lifecycles (CREATE_DUMB -> handle -> lookups -> mmap/munmap with get/put_pages -> vmap/vunmap ->
  PRIME export, same-device and cross-device import, dma-buf CPU access -> GEM_CLOSE -> the
  dma-buf release -> free/release) spread over thousands of interleaved objects, with object
  addresses drawn from ``--objects`` distinct slab slots and freed addresses reused (LIFO, like
  SLUB), plus vgem fences and the ``sys_ioctl``/``sys_mmap`` lines of syscall-traced clients;
- dma_fence tracepoints (init/emit/signaled/destroy), gpu_scheduler jobs (``drm_sched_job``,
  ``drm_sched_job_wait_dep``, ``drm_run_job``, ``drm_sched_process_job``) whose fences join the
  dma_fence lines on (context, seqno), amdgpu ``cs_ioctl``/``sched_run_job``;
- i915 and amdgpu buffer-object tracepoints;
- sched_switch/sched_wakeup coherent with which task runs where, and tracing_mark_write markers;
- odd comms (spaces, dashes, slashes, ``<...>``, ``<idle>``, a comm ending in ``-0``), pids up to
  7 digits, CPUs 0..63; optionally ``CPU:N [LOST M EVENTS]`` markers (``--lost-every``).

Timestamps never decrease (the trace iterator merges the per-CPU buffers by time). The same seed
gives the same bytes. Lines are built in batches and written in chunks: memory stays flat.

Usage: ``python bench/gen.py --lines 1000000 --out /tmp/trace.txt [--seed 1] [--lost-every K]``
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

# ------------------------------------------------------------------------------------------------
# parameter table

GEM, FENCE, SCHED, DRIVER, NOISE = range(5)
CATEGORIES = ("gem", "dma_fence", "drm_sched", "i915_amdgpu", "sched_noise")

MIX: dict[int, float] = {  # target share of the trace lines (LOST markers aside) per category
    GEM: 0.55,  # GEM/PRIME/dma-buf kprobes and kretprobes (+ the traced clients' syscalls)
    FENCE: 0.10,  # dma_fence_* tracepoints
    SCHED: 0.08,  # gpu_scheduler tracepoints, <= 6.15 names
    DRIVER: 0.07,  # i915_* and amdgpu_* tracepoints
    NOISE: 0.20,  # sched_switch, sched_wakeup, tracing_mark_write
}
NCPUS = 64  # #P in the header; CPUs 0..63
LANES = 4  # CPUs printing at any moment: their bursts interleave line by line
LANE_STAY = 0.65  # chance the next line comes from the same CPU as the previous one
LIVE_BOS = 2000  # GEM objects in flight at once (the lifecycles interleave over this many)
ADDRESS_REUSE = 0.2  # chance a new object takes the most recently freed address (SLUB is LIFO)
SYSCALL_TRACED = 0.15  # share of DRM clients whose syscalls are traced (sys_ioctl/mmap/close)
SWITCH_OUT = 0.25  # chance a task blocks (sched_switch to idle) at the end of its burst
WAKEUP_BEFORE_SWITCH = 0.4  # chance a switch-in is preceded by the wakeup of the incoming task
JOB_WAIT_DEPS = (0, 11)  # drm_sched_job_wait_dep lines per job (uniform range)
GEM_LOOKUPS = (0, 3)  # ADDFB2 lookups per object (uniform range)
GEM_OPS: dict[str, float] = {  # per object: the chance each operation is in its lifecycle
    "mmap": 0.45,  # map_offset + mmap (get_pages) ... munmap (put_pages)
    "vmap": 0.5,  # scanout vmap ... vunmap, 1-3 pairs
    "export": 0.35,  # PRIME export; then:
    "sync": 0.5,  # DMA_BUF_IOCTL_SYNC
    "import_same": 0.6,  # import into a client of the same device (1-2)
    "import_cross": 0.4,  # import into a client of another device (a new object)
    "fence": 0.3,  # vgem fence attach ... signal (vgem objects)
}
# time between two consecutive lines in microseconds, with weights
DELTA_US = (
    (0, 10),
    (1, 25),
    (2, 18),
    (3, 12),
    (5, 10),
    (8, 8),
    (13, 6),
    (21, 4),
    (40, 3),
    (90, 2),
    (300, 1.2),
    (1500, 0.5),
    (8000, 0.3),
)
START_TS = 12345.0  # seconds; a 10M-line run covers ~100 s, so "%5lu" never overflows by default

HEADER = (
    "# tracer: nop\n"
    "#\n"
    "# entries-in-buffer/entries-written: {entries}/{written}   #P:{ncpus}\n"
    "#\n"
    "#                                _-----=> irqs-off/BH-disabled\n"
    "#                               / _----=> need-resched\n"
    "#                              | / _---=> hardirq/softirq\n"
    "#                              || / _--=> preempt-depth\n"
    "#                              ||| / _-=> migrate-disable\n"
    "#                              |||| /     delay\n"
    "#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n"
    "#              | |         |   |||||     |         |\n"
)
HEADER_LINES = HEADER.count("\n")

# ------------------------------------------------------------------------------------------------
# probe locations, exactly as the 6.1 kernel prints them (sizes and modules from the real captures)

_FUNCS: dict[str, tuple[int, str | None]] = {
    "drm_gem_object_init": (0x40, "drm"),
    "drm_gem_private_object_init": (0xB0, "drm"),
    "drm_gem_object_release": (0x80, "drm"),
    "drm_gem_object_free": (0x30, "drm"),
    "drm_gem_handle_create_tail": (0x1B0, "drm"),
    "drm_gem_handle_delete": (0xA0, "drm"),
    "drm_gem_object_release_handle": (0xA0, "drm"),
    "drm_gem_object_handle_put_unlocked": (0xF0, "drm"),
    "drm_gem_object_lookup": (0x60, "drm"),
    "drm_gem_close_ioctl": (0x30, "drm"),
    "drm_mode_create_dumb_ioctl": (0x90, "drm"),
    "drm_gem_dumb_map_offset": (0x100, "drm"),
    "drm_gem_mmap": (0x200, "drm"),
    "drm_gem_mmap_obj": (0x150, "drm"),
    "drm_gem_vm_close": (0x50, "drm"),
    "drm_gem_vmap": (0x40, "drm"),
    "drm_gem_vunmap": (0x40, "drm"),
    "drm_gem_pin": (0x30, "drm"),
    "drm_gem_unpin": (0x20, "drm"),
    "drm_gem_prime_handle_to_fd": (0x280, "drm"),
    "drm_gem_prime_fd_to_handle": (0x1C0, "drm"),
    "drm_gem_dmabuf_export": (0x90, "drm"),
    "drm_gem_prime_import_dev": (0x140, "drm"),
    "drm_gem_dmabuf_release": (0x50, "drm"),
    "drm_gem_map_attach": (0x20, "drm"),
    "drm_gem_map_detach": (0x20, "drm"),
    "drm_gem_map_dma_buf": (0xB0, "drm"),
    "drm_gem_unmap_dma_buf": (0x40, "drm"),
    "drm_gem_dmabuf_vmap": (0x20, "drm"),
    "drm_gem_dmabuf_vunmap": (0x20, "drm"),
    "drm_gem_dmabuf_mmap": (0x30, "drm"),
    "drm_prime_add_buf_handle": (0x100, "drm"),
    "drm_prime_remove_buf_handle": (0x80, "drm"),
    "drm_prime_gem_destroy": (0x40, "drm"),
    "__drm_gem_shmem_create": (0x1D0, "drm_shmem_helper"),
    "drm_gem_shmem_free": (0xC0, "drm_shmem_helper"),
    "drm_gem_shmem_dumb_create": (0x100, "drm_shmem_helper"),
    "drm_gem_shmem_get_pages_locked": (0x90, "drm_shmem_helper"),
    "drm_gem_shmem_put_pages_locked": (0x80, "drm_shmem_helper"),
    "drm_gem_shmem_vmap": (0x1D0, "drm_shmem_helper"),
    "drm_gem_shmem_vunmap": (0xA0, "drm_shmem_helper"),
    "drm_gem_shmem_mmap": (0x110, "drm_shmem_helper"),
    "drm_gem_shmem_vm_close": (0x40, "drm_shmem_helper"),
    "drm_gem_shmem_prime_import_sg_table": (0x70, "drm_shmem_helper"),
    "drm_gem_fb_vmap": (0x110, "drm_kms_helper"),
    "drm_gem_fb_vunmap": (0x60, "drm_kms_helper"),
    "vgem_gem_create_object": (0x40, "vgem"),
    "vgem_fence_attach_ioctl": (0x240, "vgem"),
    "vgem_fence_signal_ioctl": (0xF0, "vgem"),
    "vgem_fence_release": (0x20, "vgem"),
    "dma_buf_export": (0x2E0, None),
    "dma_buf_fd": (0x40, None),
    "dma_buf_get": (0x50, None),
    "dma_buf_put": (0x20, None),
    "dma_buf_file_release": (0x90, None),
    "dma_buf_release": (0x90, None),
    "dma_buf_dynamic_attach": (0x280, None),
    "dma_buf_detach": (0x110, None),
    "dma_buf_map_attachment": (0xE0, None),
    "dma_buf_unmap_attachment": (0x80, None),
    "dma_buf_vmap": (0x120, None),
    "dma_buf_vunmap": (0x90, None),
    "dma_buf_mmap_internal": (0x50, None),
    "dma_buf_begin_cpu_access": (0x70, None),
}


_FUNCS.update(
    {  # return sites that are not probed themselves
        "drm_ioctl_kernel": (0x170, "drm"),
        "drm_gem_fb_init_with_funcs": (0x370, "drm_kms_helper"),
        "drm_atomic_helper_prepare_planes": (0x160, "drm_kms_helper"),
    }
)


def _site(func: str, offset: int) -> str:
    size, module = _FUNCS[func]
    mod = f" [{module}]" if module else ""
    return f"{func}+0x{offset:x}/0x{size:x}{mod}"


# "<event>: (<func>+0x0/0x<size> [<mod>])": how an entry probe's line starts
PROBE = SimpleNamespace(**{name: f"{name}: ({_site(name, 0)})" for name in _FUNCS})
E_SHMEM_CREATE = f"__drm_gem_shmem_create: ({_site('__drm_gem_shmem_create', 0)})"  # no mangling


def ret(func: str, caller: str, offset: int) -> str:
    """``"<func>_ret: (<caller>+0x<off>/0x<size> [<mod>] <- <func>)"``: a return probe's start."""
    return f"{func}_ret: ({_site(caller, offset)} <- {func})"


R_OBJ_INIT = ret("drm_gem_object_init", "__drm_gem_shmem_create", 0x6C)
R_SHMEM_CREATE = ret("__drm_gem_shmem_create", "drm_gem_shmem_dumb_create", 0x51)
R_SHMEM_CREATE_IMPORT = ret("__drm_gem_shmem_create", "drm_gem_shmem_prime_import_sg_table", 0x2D)
R_HANDLE_DUMB = ret("drm_gem_handle_create_tail", "drm_gem_shmem_dumb_create", 0x6A)
R_HANDLE_PRIME = ret("drm_gem_handle_create_tail", "drm_gem_prime_fd_to_handle", 0xFC)
R_CREATE_DUMB = ret("drm_mode_create_dumb_ioctl", "drm_ioctl_kernel", 0xC9)
R_LOOKUP_PRIME = ret("drm_gem_object_lookup", "drm_gem_prime_handle_to_fd", 0x4C)
R_LOOKUP_FB = ret("drm_gem_object_lookup", "drm_gem_fb_init_with_funcs", 0xBE)
R_LOOKUP_FENCE = ret("drm_gem_object_lookup", "vgem_fence_attach_ioctl", 0x3C)
R_EXPORT = ret("dma_buf_export", "drm_gem_dmabuf_export", 0x18)
R_FD = ret("dma_buf_fd", "drm_gem_prime_handle_to_fd", 0xA5)
R_HANDLE_TO_FD = ret("drm_gem_prime_handle_to_fd", "drm_ioctl_kernel", 0xC9)
R_GET = ret("dma_buf_get", "drm_gem_prime_fd_to_handle", 0x23)
R_IMPORT_DEV = ret("drm_gem_prime_import_dev", "drm_gem_prime_fd_to_handle", 0x18D)
R_FD_TO_HANDLE = ret("drm_gem_prime_fd_to_handle", "drm_ioctl_kernel", 0xC9)
R_DELETE = ret("drm_gem_handle_delete", "drm_ioctl_kernel", 0xC9)
R_SHMEM_VMAP = ret("drm_gem_shmem_vmap", "drm_gem_vmap", 0x1E)
R_VMAP_FB = ret("drm_gem_vmap", "drm_gem_fb_vmap", 0x3D)
R_VMAP_DMABUF = ret("drm_gem_vmap", "dma_buf_vmap", 0x93)
R_FB_VMAP = ret("drm_gem_fb_vmap", "drm_atomic_helper_prepare_planes", 0x74)
R_DMABUF_VMAP = ret("dma_buf_vmap", "drm_gem_shmem_vmap", 0x6D)
R_PIN = ret("drm_gem_pin", "dma_buf_dynamic_attach", 0x90)
R_ATTACH = ret("dma_buf_dynamic_attach", "drm_gem_prime_import_dev", 0x40)
R_MAP_ATTACH = ret("dma_buf_map_attachment", "drm_gem_prime_import_dev", 0x5E)
R_FENCE_ATTACH = ret("vgem_fence_attach_ioctl", "drm_ioctl_kernel", 0xC9)
R_FENCE_SIGNAL = ret("vgem_fence_signal_ioctl", "drm_ioctl_kernel", 0xC9)

# x86-64 DRM ioctl numbers, as sys_ioctl prints them
IOCTL_CREATE_DUMB, IOCTL_MAP_DUMB = "c02064b2", "c01064b3"
IOCTL_HANDLE_TO_FD, IOCTL_FD_TO_HANDLE = "c00c642d", "c00c642e"
IOCTL_GEM_CLOSE, IOCTL_ADDFB2, IOCTL_SETCRTC = "40086409", "c06864b8", "c06864a2"
IOCTL_FENCE_ATTACH, IOCTL_FENCE_SIGNAL, IOCTL_SYNC = "c0106441", "40086442", "40086200"

FL_PROBE, FL_SYSCALL, FL_SWITCH = ".....", "...1.", "d..2."
WAKEUP_FLAGS = ("dN.4.", "d..4.", "d.s3.", "dNs4.", "dN.5.", "d.s5.", "dNh2.", "d..3.")
IRQ_FLAGS = ("d.h2.", "d.h1.", "dNh2.", "d.h3.")
MARKER_SPANS = ("DrawFrame", "Composite", "vkQueueSubmit", "eglSwapBuffers", "phase2: mmap A")
DUMB_SIZES = (
    (64, 64),
    (256, 256),
    (1024, 768),
    (32, 32),
    (800, 600),
    (1920, 1080),
    (128, 128),
    (3840, 2160),
    (640, 480),
    (4096, 16),
    (1280, 720),
    (512, 512),
)


# ------------------------------------------------------------------------------------------------
# the world: tasks, devices, clients, objects


@dataclass(eq=False, slots=True)
class Task:
    comm: str  # task->comm, as sched_switch prints it
    pid: int
    shown: str = ""  # what the context column prints: comm, "<...>" or "<idle>"
    prio: int = 120
    last_cpu: int = -1
    busy: bool = False
    stack: int = 0  # a kernel stack address (handlep=, exp_info=)
    traced: bool = False  # are its syscalls traced?
    user: bool = False  # a user-space task (writes trace markers)

    def __post_init__(self) -> None:
        self.shown = self.shown or self.comm


@dataclass(eq=False, slots=True)
class Device:
    name: str
    addr: str
    attach_dev: str
    vgem: bool
    next_pgoff: int = 0x100000


@dataclass(eq=False, slots=True)
class Client:
    """A process with an open DRM file."""

    task: Task
    dev: Device
    file: str
    filp: str
    prime_fpriv: str
    argp: int
    handles: list[int] = field(default_factory=list)  # free handle numbers (a min-heap)
    next_handle: int = 1
    fds: list[int] = field(default_factory=list)
    next_fd: int = 5

    def new_handle(self) -> int:
        if self.handles:
            return heapq.heappop(self.handles)
        self.next_handle += 1
        return self.next_handle - 1

    def new_fd(self) -> int:
        if self.fds:
            return heapq.heappop(self.fds)
        self.next_fd += 1
        return self.next_fd - 1


@dataclass(eq=False, slots=True)
class DmaBuf:
    s: str
    obj: Bo
    size: int
    f_count: int
    fd: int  # the exporter's fd, -1 once closed
    owner: Client
    file: str
    inode: str
    dentry: str
    entries: set[int] = field(default_factory=set)  # id() of clients with a prime entry
    export_ref: bool = True  # obj->dma_buf, dropped when the last handle goes
    vmapping: int = 0


@dataclass(eq=False, slots=True)
class Bo:
    addr: int
    s: str
    size: int
    dev: Device
    owner: Client
    handle: int = 0
    hc: int = 0  # handle_count
    plan: list[str] = field(default_factory=list)
    step: int = 0
    live_at: int = -1
    pages: int = 0  # pages_use_count
    vmaps: int = 0  # vmap_use_count
    vaddr: str = "0x0"
    pgoff: int = 0
    mmaps: list[tuple[str, int, int]] = field(default_factory=list)  # (vma, start, len)
    dmabuf: DmaBuf | None = None
    imports: list[tuple[Client, int]] = field(default_factory=list)  # same-device handles
    exporter: Bo | None = None  # set on an object created by a cross-device import
    import_buf: DmaBuf | None = None
    attach: str = "0x0"
    sgt: str = "0x0"
    fences: list[tuple[int, int, str]] = field(default_factory=list)  # (fence id, ctx, ptr)
    freed: bool = False
    busy: bool = False  # a burst that changes it is not printed to its end yet


class Burst:
    """Lines one task prints in a row on one CPU (``task`` None: whatever runs there, in irq).

    Bursts on other CPUs print line by line in between, so what a burst changes stays its own
    until its last line is printed:

    - ``frees``: the object addresses it frees, given back to their pools only then (an address
      reused as soon as the burst was built would show a new object at it before the old one's
      free);
    - ``holds``: the GEM objects it changes, busy until then (another task's burst on the same
      object, built later but printed in between, would print counters the kernel could not
      show, a handle put after the object's free), and ``driver_holds`` the addresses of the
      i915 and amdgpu objects it changes (a bind printed after the object's destroy)."""

    __slots__ = ("counts", "driver_holds", "frees", "holds", "items", "task")

    def __init__(self, task: Task | None) -> None:
        self.task = task
        self.items: list[tuple[str, str]] = []
        self.counts = [0, 0, 0, 0, 0]
        self.frees: list[tuple[AddressPool, int]] = []
        self.holds: list[Bo] = []
        self.driver_holds: list[int] = []

    def add(self, cat: int, flags: str, text: str) -> None:
        self.items.append((flags, text))
        self.counts[cat] += 1

    def printed(self, driver_busy: set[int]) -> None:
        """Its last line is out: give back what it freed, and what it held."""
        for pool, addr in self.frees:
            pool.free(addr)
        for bo in self.holds:
            bo.busy = False
        driver_busy.difference_update(self.driver_holds)


class AddressPool:
    """Slab-like object addresses: ``count`` distinct slots, freed ones reused LIFO."""

    def __init__(self, rng: random.Random, base: int, slot: int, count: int) -> None:
        self.rng, self.base, self.slot = rng, base, slot
        span = max(count * 8, 1 << 16)
        self.fresh = [base + i * slot for i in rng.sample(range(span), count)]
        self.span = span
        self.freed: list[int] = []
        self.count = count
        self.reused = 0

    def alloc(self) -> int:
        if self.freed and (not self.fresh or self.rng.random() < ADDRESS_REUSE):
            self.reused += 1
            return self.freed.pop()
        if self.fresh:
            return self.fresh.pop()
        self.count += 1  # every slot is in use: grow the slab
        return self.base + (self.span + self.count) * self.slot

    def free(self, addr: int) -> None:
        self.freed.append(addr)

    @property
    def distinct(self) -> int:
        return self.count - len(self.fresh)


@dataclass(eq=False, slots=True)
class Ring:
    name: str
    kthread: Task
    hw_ctx: int
    hw_seq: int = 0
    running: int = 0


@dataclass(eq=False, slots=True)
class Entity:
    ptr: str
    ctx: int  # scheduled fence context; finished is ctx + 1
    ring: Ring
    task: Task
    seq: int = 0
    queued: int = 0


@dataclass(eq=False, slots=True)
class Job:
    id: int
    entity: Entity
    seq: int
    fence: str
    hw_seq: int = 0


# ------------------------------------------------------------------------------------------------


class World:
    """The state machines behind the lines; :meth:`burst` returns the next burst to print."""

    def __init__(self, rng: random.Random, objects: int) -> None:
        self.rng = rng
        # a 5-level-paging direct map like the real 6.1 captures (0xff2f0c50..., 0xff1929c6...)
        self.kbase = (
            0xFF00000000000000 | (rng.randrange(0x11, 0x40) << 48) | (rng.getrandbits(16) << 32)
        )
        self.vmbase = 0xFF60000000000000 | (rng.getrandbits(40) << 12)  # vmalloc: stacks, vaddrs
        self.bo_pool = AddressPool(rng, self.kbase + 0x40000000, 0x200, objects)
        self.i915_pool = AddressPool(rng, self.kbase + 0x140000000, 0x300, max(objects // 5, 1000))
        self.amd_pool = AddressPool(rng, self.kbase + 0x180000000, 0x400, max(objects // 5, 1000))
        # dma-bufs come from a slab too: an address is not reused while its dma-buf lives
        self.dmabuf_pool = AddressPool(
            rng, self.kbase + 0x1A0000000, 0x200, max(objects // 10, 1000)
        )
        self.pids: set[int] = {0}
        self.counts = [0, 0, 0, 0, 0]
        self.bos_created = 0
        self.next_fence_ctx = 100
        self.idle = [Task(f"swapper/{c}", 0, shown="<idle>") for c in range(NCPUS)]
        self._make_tasks()
        self.live: list[Bo] = []
        self.queued: deque[Job] = deque()
        self.running: deque[Job] = deque()
        self.done: deque[Job] = deque()
        self.next_job = 1
        self.i915_live: list[tuple[int, int, int]] = []  # (addr, size, state)
        self.driver_busy: set[int] = set()  # i915 and amdgpu objects a burst in flight changes
        self.amd_live: list[tuple[int, int, int]] = []
        self.marker_no = 0

    # --- setup ------------------------------------------------------------------------------
    def _pid(self, lo: int, hi: int) -> int:
        while True:
            pid = self.rng.randrange(lo, hi)
            if pid not in self.pids:
                self.pids.add(pid)
                return pid

    def _task(self, comm: str, lo: int = 1000, hi: int = 60000) -> Task:
        return Task(comm, self._pid(lo, hi), stack=self.vmbase + (self.rng.getrandbits(28) << 14))

    def _kptr(self) -> int:
        """Some other slab object (files, vmas, attachments, fences)."""
        return self.kbase + 0x200000000 + (self.rng.getrandbits(26) << 6)

    def _make_tasks(self) -> None:
        rng = self.rng
        self.vgem, self.cirrus = (
            Device(
                name,
                f"0x{self._kptr() & ~0xFFF:016x}",
                f"0x{self._kptr() | 0x10:016x}",
                vgem=name == "vgem",
            )
            for name in ("vgem", "cirrus")
        )
        gem_comms = [
            "Xorg",
            "gnome-shell",
            "Web Content",
            "GPU Process",
            "kwin_wayland",
            "weston",
            "vkcube",
            "glmark2",
            "mpv/vo",
            "Isolated Web Co",
            "chrome",
            "VizCompositorTh",
            "Renderer",
            "llvmpipe-0",
            "Web Content",
            "Web Content",
            "gst-launch-1.0",
            "Xwayland",
            "scenario",
            "obs",
            "kodi.bin",
            "QSGRenderThread",
        ]
        self.clients: list[Client] = []
        for i, comm in enumerate(gem_comms):
            big = rng.random() < 0.25
            task = self._task(comm, 1_000_000 if big else 1000, 4_194_304 if big else 99_999)
            task.traced = rng.random() < SYSCALL_TRACED or comm == "scenario"
            if big and rng.random() < 0.3:
                task.shown = "<...>"
            dev = self.vgem if i % 3 else self.cirrus
            file = self._kptr() & ~0x3FF
            self.clients.append(
                Client(
                    task,
                    dev,
                    f"0x{file:016x}",
                    f"0x{self._kptr() & ~0xFF:016x}",
                    f"0x{file + 0x130:016x}",
                    0x7FF000000000 | (rng.getrandbits(32) << 4),
                )
            )
        self.by_dev = {
            d.name: [c for c in self.clients if c.dev is d] for d in (self.vgem, self.cirrus)
        }
        # GPU job submitters and the scheduler's kthreads (named after their rings)
        self.rings = []
        for name in ("gfx", "gfx_0.0.0", "sdma0", "comp_1.0.0", "sdma1"):
            kt = self._task(name, 150, 900)
            self.rings.append(Ring(name, kt, self._fence_ctx()))
        self.entities: list[Entity] = []
        for c in self.clients[:12]:
            for ring in rng.sample(self.rings, 2):
                ent = Entity(f"{self._kptr():016x}", self._fence_ctx(2), ring, c.task)
                self.entities.append(ent)
        # background: kernel threads and shells, and odd comms
        self.kworkers = [
            self._task(f"kworker/{c}:{rng.randrange(0, 3)}", 20, 900) for c in range(0, NCPUS, 2)
        ]
        self.kworkers += [
            self._task(n, 20, 900)
            for n in ("kworker/u8:1-mm", "kworker/u129:3", "kworker/7:1H", "kworker/u8:0")
        ]
        kthreads = [self._task(f"ksoftirqd/{c}", 10, 600) for c in range(0, NCPUS, 4)]
        kthreads += [
            self._task(n, 10, 600)
            for n in ("rcu_preempt", "migration/3", "irq/45-amdgpu", "jbd2/vda1-8")
        ]
        users: list[Task] = []
        for comm in (
            "bash",
            "dpkg-deb",
            "apt-get",
            "Web Content",
            "sshd",
            "systemd-journal",
            "gdbus",
            "pool-0",
            "Chrome_ChildIOT",
            "pipewire",
            "DOM Worker",
            "rm",
            "ls",
            "python3",
            "kwin_x11",
            "Timer",
            "Socket Thread",
        ):
            big = rng.random() < 0.2
            t = self._task(comm, 1_000_000 if big else 300, 4_194_304 if big else 70_000)
            if rng.random() < 0.1:
                t.shown = "<...>"  # not in saved_cmdlines any more
            users.append(t)
        self.users = users + [c.task for c in self.clients]  # these write trace markers too
        for t in self.users:
            t.user = True
        self.noise = kthreads + self.kworkers + self.users

    def _fence_ctx(self, n: int = 1) -> int:
        self.next_fence_ctx += n
        return self.next_fence_ctx - n

    # --- choosing what comes next -------------------------------------------------------------
    def burst(self) -> Burst:
        """The next burst: from the category furthest behind its target share."""
        total = sum(self.counts) + 1
        order = sorted(range(5), key=lambda c: self.counts[c] - MIX[c] * total)
        for cat in order:
            b = (
                self.gem_burst,
                self.fence_burst,
                self.sched_burst,
                self.driver_burst,
                self.noise_burst,
            )[cat]()
            if b is not None and b.items:
                return b
        return self.noise_burst()

    def count(self, b: Burst) -> None:
        for i, n in enumerate(b.counts):
            self.counts[i] += n

    # --- sched noise and markers --------------------------------------------------------------
    def switch_line(self, prev: Task, nxt: Task) -> str:
        if prev.pid == 0:
            state = "R"
        else:
            state = self.rng.choices(("S", "R", "R+", "D", "I"), (50, 20, 8, 8, 6))[0]
        return (
            f"sched_switch: prev_comm={prev.comm} prev_pid={prev.pid} prev_prio={prev.prio} "
            f"prev_state={state} ==> next_comm={nxt.comm} next_pid={nxt.pid} "
            f"next_prio={nxt.prio}"
        )

    def wakeup_line(self, t: Task, cpu: int) -> str:
        return f"sched_wakeup: comm={t.comm} pid={t.pid} prio={t.prio} target_cpu={cpu:03d}"

    def noise_burst(self) -> Burst:
        rng = self.rng
        for _ in range(8):
            task = rng.choice(self.noise)
            if not task.busy:
                break
        else:  # everyone is busy: a wakeup from an interrupt on whatever runs
            b = Burst(None)
            b.add(NOISE, "dNh2.", self.wakeup_line(task, max(task.last_cpu, 0)))
            return b
        b = Burst(task)
        user = task.user
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            if not user or rng.random() < 0.55:
                other = rng.choice(self.noise)
                cpu = other.last_cpu if other.last_cpu >= 0 else rng.randrange(NCPUS)
                b.add(NOISE, rng.choice(WAKEUP_FLAGS), self.wakeup_line(other, cpu))
            else:
                b.add(NOISE, FL_PROBE, f"tracing_mark_write: {self._marker(task)}")
        return b

    def _marker(self, task: Task) -> str:
        """What user space writes to trace_marker: atrace-style spans and counters, or notes."""
        self.marker_no += 1
        n, rng = self.marker_no, self.rng
        kind = n % 5
        if kind == 0:
            return f"tracekit marker {n} bo=0x{self.kbase + (n << 9):x} op=vmap"
        if kind in (1, 2):
            return f"B|{task.pid}|{rng.choice(MARKER_SPANS)}"
        if kind == 3:
            return f"E|{task.pid}"
        return f"C|{task.pid}|gpu_mem|{rng.randrange(1, 1 << 30)}"

    # --- GEM ----------------------------------------------------------------------------------
    def gem_burst(self) -> Burst | None:
        rng = self.rng
        if len(self.live) < LIVE_BOS or rng.random() < 0.01:
            client = rng.choice(self.clients)
            if client.task.busy:
                return None
            return self.op_create(client)
        for _ in range(6):
            bo = self.live[rng.randrange(len(self.live))]
            related = self._related(bo)
            if any(x.busy for x in related):
                continue
            op = bo.plan[bo.step]
            actor = self._actor(bo, op)
            if actor is None or actor.task.busy:
                continue
            bo.step += 1
            if bo.step >= len(bo.plan):
                self._unlive(bo)
            if bo.freed:
                continue
            b = getattr(self, "op_" + op)(bo, actor)
            if b is not None and b.items:
                self._hold(b, *related)
                return b
        return None

    @staticmethod
    def _related(bo: Bo) -> tuple[Bo, ...]:
        """``bo`` and the object whose dma-buf it imported across devices: an op on one can put
        the dma-buf's last reference, and so free the other."""
        return (bo,) if bo.exporter is None else (bo, bo.exporter)

    @staticmethod
    def _hold(b: Burst, *bos: Bo) -> None:
        for bo in bos:
            bo.busy = True
            b.holds.append(bo)

    def _actor(self, bo: Bo, op: str) -> Client | None:
        if op == "import_same":
            same = self.by_dev[bo.dev.name]
            return self.rng.choice(same)
        if op == "import_cross":
            other = "cirrus" if bo.dev.name == "vgem" else "vgem"
            return self.rng.choice(self.by_dev[other])
        if op == "close_import":
            return bo.imports[0][0] if bo.imports else bo.owner
        return bo.owner

    def _unlive(self, bo: Bo) -> None:
        i = bo.live_at
        last = self.live.pop()
        if last is not bo:
            self.live[i] = last
            last.live_at = i
        bo.live_at = -1

    def _add_live(self, bo: Bo) -> None:
        bo.live_at = len(self.live)
        self.live.append(bo)

    def _plan(self, bo: Bo, imported: bool) -> None:
        """The operations ``bo`` will go through, in order (``op_<name>`` methods)."""
        rng = self.rng
        main = ["lookup"] * rng.randint(*GEM_LOOKUPS)
        pairs: list[tuple[str, str]] = []
        if not imported and rng.random() < GEM_OPS["mmap"]:
            pairs.append(("mmap", "munmap"))
        if rng.random() < GEM_OPS["vmap"]:
            pairs += [("vmap", "vunmap")] * rng.choice((1, 1, 2, 3))
        if not imported and bo.dev.vgem and rng.random() < GEM_OPS["fence"]:
            pairs.append(("fence", "fence_signal"))
        for a, z in pairs:  # the opening op somewhere, its closing op somewhere after it
            i = rng.randint(0, len(main))
            main.insert(i, a)
            main.insert(rng.randint(i + 1, len(main)), z)
        tail = ["close"]
        if not imported and rng.random() < GEM_OPS["export"]:
            chain = ["export"]
            if rng.random() < GEM_OPS["sync"]:
                chain.append("sync")
            n_same = rng.choice((1, 1, 2)) if rng.random() < GEM_OPS["import_same"] else 0
            chain += ["import_same"] * n_same
            if rng.random() < GEM_OPS["import_cross"]:
                chain.append("import_cross")
            main = _merge(rng, main, chain)
            tail += ["close_fd"] + ["close_import"] * n_same
            rng.shuffle(tail)
        bo.plan = main + tail

    def _ioctl(self, b: Burst, c: Client, fd: int, cmd: str) -> None:
        if c.task.traced:
            b.add(GEM, FL_SYSCALL, f"sys_ioctl(fd: {fd:x}, cmd: {cmd}, arg: {c.argp + 0x40:x})")

    def _ioctl_ret(self, b: Burst, c: Client, ret: str = "0x0") -> None:
        if c.task.traced:
            b.add(GEM, FL_SYSCALL, f"sys_ioctl -> {ret}")

    def _stack(self, c: Client) -> str:
        return f"0x{c.task.stack + 0x3C00 + (self.rng.getrandbits(5) << 3):016x}"

    def _new_bo(self, client: Client, size: int) -> Bo:
        addr = self.bo_pool.alloc()
        self.bos_created += 1
        return Bo(addr, f"0x{addr:016x}", size, client.dev, client)

    def op_create(self, c: Client) -> Burst:
        rng = self.rng
        w, h = rng.choice(DUMB_SIZES)
        bpp = rng.choice((32, 32, 32, 16, 8))
        size = -(-(w * h * bpp // 8) // 4096) * 4096
        bo = self._new_bo(c, size)
        bo.handle = c.new_handle()
        dev, o, f = c.dev.addr, bo.s, c.file
        b = Burst(c.task)
        self._ioctl(b, c, 3, IOCTL_CREATE_DUMB)
        add = b.add
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_mode_create_dumb_ioctl} dev={dev} width={w} height={h} bpp={bpp} file={f}",
        )
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_dumb_create} file={f} dev={dev} width={w} height={h} bpp={bpp}",
        )
        add(GEM, FL_PROBE, f"{E_SHMEM_CREATE} dev={dev} size={size} private=0")
        if c.dev.vgem:
            add(GEM, FL_PROBE, f"{PROBE.vgem_gem_create_object} dev={dev} size={size}")
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_object_init} dev={dev} obj={o} size={size}")
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_private_object_init} dev={dev} obj={o} size={size}")
        add(GEM, FL_PROBE, f"{R_OBJ_INIT} ret=0")
        add(GEM, FL_PROBE, f"{R_SHMEM_CREATE} shmem={o}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_handle_create_tail} file={f} obj={o} "
            f"handlep={self._stack(c)} size={size} refcount=1 handle_count=0",
        )
        add(GEM, FL_PROBE, f"{R_HANDLE_DUMB} ret=0")
        add(GEM, FL_PROBE, f"{R_CREATE_DUMB} ret=0")
        self._ioctl_ret(b, c)
        bo.hc = 1
        self._plan(bo, imported=False)
        self._add_live(bo)
        self._hold(b, bo)
        return b

    def _refs(self, bo: Bo) -> int:
        return bo.hc + (1 if bo.dmabuf is not None else 0)

    def _handle_of(self, bo: Bo, c: Client) -> int:
        if c is bo.owner:
            return bo.handle
        for cl, h in bo.imports:
            if cl is c:
                return h
        return bo.handle

    def op_lookup(self, bo: Bo, c: Client) -> Burst:
        b = Burst(c.task)
        h = self._handle_of(bo, c)
        self._ioctl(b, c, 3, IOCTL_ADDFB2)
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_object_lookup} file={c.file} handle={h}")
        b.add(GEM, FL_PROBE, f"{R_LOOKUP_FB} obj={bo.s}")
        self._ioctl_ret(b, c)
        return b

    def op_fence(self, bo: Bo, c: Client) -> Burst:
        b = Burst(c.task)
        ctx = self._fence_ctx()
        flags = self.rng.choice((0, 1))
        self._ioctl(b, c, 3, IOCTL_FENCE_ATTACH)
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.vgem_fence_attach_ioctl} dev={c.dev.addr} handle={bo.handle} "
            f"flags=0x{flags:x} file={c.file}",
        )
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_object_lookup} file={c.file} handle={bo.handle}")
        b.add(GEM, FL_PROBE, f"{R_LOOKUP_FENCE} obj={bo.s}")
        b.add(FENCE, FL_PROBE, f"dma_fence_init: {self._fence('vgem', 'unbound', ctx, 1)}")
        b.add(GEM, FL_PROBE, f"{R_FENCE_ATTACH} ret=0")
        self._ioctl_ret(b, c)
        bo.fences.append((len(bo.fences) + 1, ctx, f"0x{self._kptr():016x}"))
        return b

    def op_fence_signal(self, bo: Bo, c: Client) -> Burst | None:
        if not bo.fences:
            return None
        fid, ctx, ptr = bo.fences.pop(0)
        b = Burst(c.task)
        self._ioctl(b, c, 3, IOCTL_FENCE_SIGNAL)
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.vgem_fence_signal_ioctl} dev={c.dev.addr} fence_id={fid} file={c.file}",
        )
        fence = self._fence("vgem", "unbound", ctx, 1)
        b.add(FENCE, "d..1.", f"dma_fence_signaled: {fence}")
        b.add(GEM, FL_PROBE, f"{R_FENCE_SIGNAL} ret=0")
        self._ioctl_ret(b, c)
        b.add(FENCE, FL_PROBE, f"dma_fence_destroy: {fence}")
        b.add(GEM, FL_PROBE, f"{PROBE.vgem_fence_release} fence={ptr}")
        return b

    def op_mmap(self, bo: Bo, c: Client) -> Burst:
        rng = self.rng
        b = Burst(c.task)
        length = bo.size
        npages = length >> 12
        if not bo.pgoff:
            bo.pgoff = bo.dev.next_pgoff
            bo.dev.next_pgoff += npages
        vma = f"0x{self._kptr() | 0x38:016x}"
        start = 0x7F0000000000 | (rng.getrandbits(28) << 12)
        use_dmabuf = bo.dmabuf is not None and bo.dmabuf.fd >= 0 and rng.random() < 0.5
        if use_dmabuf and bo.dmabuf is not None:
            buf = bo.dmabuf
            if c.task.traced:
                b.add(
                    GEM,
                    FL_SYSCALL,
                    f"sys_mmap(addr: 0, len: {length:x}, prot: 3, flags: 1, "
                    f"fd: {buf.fd:x}, off: 0)",
                )
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.dma_buf_mmap_internal} file={buf.file} vma={vma} dmabuf={buf.s}",
            )
            b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_dmabuf_mmap} dma_buf={buf.s} vma={vma}")
        else:
            self._ioctl(b, c, 3, IOCTL_MAP_DUMB)
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.drm_gem_dumb_map_offset} file={c.file} dev={c.dev.addr} "
                f"handle={bo.handle}",
            )
            self._ioctl_ret(b, c)
            if c.task.traced:
                b.add(
                    GEM,
                    FL_SYSCALL,
                    f"sys_mmap(addr: 0, len: {length:x}, prot: 3, flags: 1, "
                    f"fd: 3, off: {bo.pgoff << 12:x})",
                )
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.drm_gem_mmap} filp={c.filp} vma={vma} "
                f"vm_start=0x{start:x} vm_end=0x{start + length:x} "
                f"vm_pgoff=0x{bo.pgoff:x}",
            )
            b.add(
                GEM, FL_PROBE, f"{PROBE.drm_gem_mmap_obj} obj={bo.s} obj_size={bo.size} vma={vma}"
            )
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_shmem_mmap} shmem={bo.s} vma={vma}")
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_get_pages_locked} shmem={bo.s} pages_use_count={bo.pages}",
        )
        bo.pages += 1
        if c.task.traced:
            b.add(GEM, FL_SYSCALL, f"sys_mmap -> 0x{start:x}")
        bo.mmaps.append((vma, start, length))
        return b

    def op_munmap(self, bo: Bo, c: Client) -> Burst | None:
        if not bo.mmaps:
            return None
        vma, start, length = bo.mmaps.pop()
        b = Burst(c.task)
        if c.task.traced:
            b.add(GEM, FL_SYSCALL, f"sys_munmap(addr: {start:x}, len: {length:x})")
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_shmem_vm_close} vma={vma} obj={bo.s}")
        self._put_pages(b, bo)
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_vm_close} vma={vma} obj={bo.s}")
        return b

    def _get_pages(self, b: Burst, bo: Bo) -> None:
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_get_pages_locked} shmem={bo.s} pages_use_count={bo.pages}",
        )
        bo.pages += 1

    def _put_pages(self, b: Burst, bo: Bo) -> None:
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_put_pages_locked} shmem={bo.s} pages_use_count={bo.pages}",
        )
        bo.pages = max(bo.pages - 1, 0)

    def _shmem_vmap(self, b: Burst, bo: Bo, map_: str) -> None:
        """drm_gem_vmap -> drm_gem_shmem_vmap on ``bo`` (through the exporter if imported)."""
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_vmap} shmem={bo.s} map={map_} "
            f"vmap_use_count={bo.vmaps} vaddr={bo.vaddr} "
            f"import_attach={bo.attach}",
        )
        if bo.vmaps == 0:
            exp, buf = bo.exporter, bo.import_buf
            if exp is not None and buf is not None:
                emap = self._stack(bo.owner)
                b.add(
                    GEM,
                    FL_PROBE,
                    f"{PROBE.dma_buf_vmap} dmabuf={buf.s} map={map_} "
                    f"vmapping_counter={buf.vmapping}",
                )
                b.add(
                    GEM,
                    FL_PROBE,
                    f"{PROBE.drm_gem_dmabuf_vmap} dma_buf={buf.s} map={emap} obj={exp.s}",
                )
                b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_vmap} obj={exp.s} map={emap}")
                self._shmem_vmap(b, exp, emap)
                b.add(GEM, FL_PROBE, f"{R_VMAP_DMABUF} ret=0")
                b.add(GEM, FL_PROBE, f"{R_DMABUF_VMAP} ret=0")
                buf.vmapping += 1
                bo.vaddr = exp.vaddr
            else:
                self._get_pages(b, bo)
                bo.vaddr = f"0x{self.vmbase + 0x100000 + (self.rng.getrandbits(24) << 12):016x}"
        bo.vmaps += 1
        b.add(GEM, FL_PROBE, f"{R_SHMEM_VMAP} ret=0")

    def _shmem_vunmap(self, b: Burst, bo: Bo, map_: str) -> None:
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_vunmap} shmem={bo.s} map={map_} "
            f"vmap_use_count={bo.vmaps} vaddr={bo.vaddr}",
        )
        bo.vmaps = max(bo.vmaps - 1, 0)
        if bo.vmaps == 0:
            exp, buf = bo.exporter, bo.import_buf
            if exp is not None and buf is not None:
                b.add(
                    GEM,
                    FL_PROBE,
                    f"{PROBE.dma_buf_vunmap} dmabuf={buf.s} map={map_} "
                    f"vmapping_counter={buf.vmapping}",
                )
                b.add(
                    GEM,
                    FL_PROBE,
                    f"{PROBE.drm_gem_dmabuf_vunmap} dma_buf={buf.s} map={map_} obj={exp.s}",
                )
                b.add(
                    GEM,
                    FL_PROBE,
                    f"{PROBE.drm_gem_vunmap} obj={exp.s} map={map_} vaddr={exp.vaddr}",
                )
                buf.vmapping = max(buf.vmapping - 1, 0)
                self._shmem_vunmap(b, exp, map_)
            else:
                self._put_pages(b, bo)
            bo.vaddr = "0x0"

    def op_vmap(self, bo: Bo, c: Client) -> Burst:
        b = Burst(c.task)
        fb = f"0x{self._kptr() & ~0xFF:016x}"
        map_ = f"0x{self._kptr() | 0x98:016x}"
        self._ioctl(b, c, 3, IOCTL_SETCRTC)
        data = f"0x{int(map_, 16) + 0x40:016x}"
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_fb_vmap} fb={fb} map={map_} data={data}")
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_vmap} obj={bo.s} map={map_}")
        self._shmem_vmap(b, bo, map_)
        b.add(GEM, FL_PROBE, f"{R_VMAP_FB} ret=0")
        b.add(GEM, FL_PROBE, f"{R_FB_VMAP} ret=0")
        self._ioctl_ret(b, c)
        return b

    def op_vunmap(self, bo: Bo, c: Client) -> Burst | None:
        if bo.vmaps == 0:
            return None
        b = Burst(c.task)
        fb = f"0x{self._kptr() & ~0xFF:016x}"
        map_ = f"0x{self._kptr() | 0x98:016x}"
        self._ioctl(b, c, 3, IOCTL_SETCRTC)
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_fb_vunmap} fb={fb} map={map_}")
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_vunmap} obj={bo.s} map={map_} vaddr={bo.vaddr}")
        self._shmem_vunmap(b, bo, map_)
        self._ioctl_ret(b, c)
        return b

    def op_export(self, bo: Bo, c: Client) -> Burst:
        b = Burst(c.task)
        add = b.add
        exp_info = self._stack(c)
        fd = c.new_fd()
        addr = self.dmabuf_pool.alloc()
        buf = DmaBuf(
            f"0x{addr:016x}",
            bo,
            bo.size,
            3,
            fd,
            c,
            f"0x{self._kptr() & ~0xFF:016x}",
            f"0x{self._kptr() & ~0x7F:016x}",
            f"0x{self._kptr() | 0xC0:016x}",
        )
        self._ioctl(b, c, 3, IOCTL_HANDLE_TO_FD)
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_prime_handle_to_fd} dev={c.dev.addr} file={c.file} "
            f"handle={bo.handle} flags=0x80002",
        )
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_object_lookup} file={c.file} handle={bo.handle}")
        add(GEM, FL_PROBE, f"{R_LOOKUP_PRIME} obj={bo.s}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_dmabuf_export} dev={c.dev.addr} exp_info={exp_info} priv={bo.s}",
        )
        add(
            GEM,
            FL_PROBE,
            f'{PROBE.dma_buf_export} exp_info={exp_info} exp_name="drm" size={bo.size} priv={bo.s}',
        )
        add(GEM, FL_PROBE, f"{R_EXPORT} dmabuf={buf.s}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_prime_add_buf_handle} prime_fpriv={c.prime_fpriv} "
            f"dma_buf={buf.s} handle={bo.handle}",
        )
        add(GEM, FL_PROBE, f"{PROBE.dma_buf_fd} dmabuf={buf.s} flags=0x80002")
        add(GEM, FL_PROBE, f"{R_FD} fd={fd}")
        add(GEM, FL_PROBE, f"{R_HANDLE_TO_FD} ret=0")
        self._ioctl_ret(b, c)
        buf.entries.add(id(c))
        bo.dmabuf = buf
        return b

    def op_sync(self, bo: Bo, c: Client) -> Burst | None:
        buf = bo.dmabuf
        if buf is None or buf.fd < 0:
            return None
        b = Burst(c.task)
        self._ioctl(b, c, buf.fd, IOCTL_SYNC)
        direction = self.rng.choice((0, 1))
        b.add(GEM, FL_PROBE, f"{PROBE.dma_buf_begin_cpu_access} dmabuf={buf.s} dir={direction}")
        self._ioctl_ret(b, c)
        return b

    def _fd_to_handle_start(self, b: Burst, c: Client, buf: DmaBuf, fd: int) -> None:
        self._ioctl(b, c, 3, IOCTL_FD_TO_HANDLE)
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_prime_fd_to_handle} dev={c.dev.addr} file={c.file} prime_fd={fd}",
        )
        b.add(GEM, FL_PROBE, f"{PROBE.dma_buf_get} fd={fd}")
        b.add(GEM, FL_PROBE, f"{R_GET} dmabuf={buf.s}")
        buf.f_count += 1

    def _dma_buf_put(self, b: Burst, buf: DmaBuf) -> bool:
        """A dma_buf_put; True when that was the last reference (the caller releases)."""
        b.add(GEM, FL_PROBE, f"{PROBE.dma_buf_put} dmabuf={buf.s} f_count={buf.f_count}")
        buf.f_count -= 1
        return buf.f_count <= 0

    def op_import_same(self, bo: Bo, c: Client) -> Burst | None:
        buf = bo.dmabuf
        if buf is None or buf.fd < 0 or bo.hc == 0:
            return None
        b = Burst(c.task)
        fd = buf.fd if c is buf.owner else c.new_fd()
        self._fd_to_handle_start(b, c, buf, fd)
        if id(c) in buf.entries:  # the prime cache hit: same handle again
            self._dma_buf_put(b, buf)
            b.add(GEM, FL_PROBE, f"{R_FD_TO_HANDLE} ret=0")
            self._ioctl_ret(b, c)
            return b
        h = c.new_handle()
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_prime_import_dev} dev={c.dev.addr} dma_buf={buf.s} "
            f"attach_dev={c.dev.attach_dev} exporter_priv={bo.s}",
        )
        b.add(GEM, FL_PROBE, f"{R_IMPORT_DEV} obj={bo.s}")
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_handle_create_tail} file={c.file} obj={bo.s} "
            f"handlep={self._stack(c)} size={bo.size} "
            f"refcount={self._refs(bo) + 1} handle_count={bo.hc}",
        )
        b.add(GEM, FL_PROBE, f"{R_HANDLE_PRIME} ret=0")
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_prime_add_buf_handle} prime_fpriv={c.prime_fpriv} "
            f"dma_buf={buf.s} handle={h}",
        )
        buf.f_count += 1
        buf.entries.add(id(c))
        bo.hc += 1
        bo.imports.append((c, h))
        self._dma_buf_put(b, buf)
        b.add(GEM, FL_PROBE, f"{R_FD_TO_HANDLE} ret=0")
        self._ioctl_ret(b, c)
        if c is not buf.owner:
            heapq.heappush(c.fds, fd)  # the received fd is closed right away
        return b

    def op_import_cross(self, bo: Bo, c: Client) -> Burst | None:
        buf = bo.dmabuf
        if buf is None or buf.fd < 0 or bo.hc == 0 or id(c) in buf.entries:
            return None
        b = Burst(c.task)
        add = b.add
        fd = c.new_fd()
        self._fd_to_handle_start(b, c, buf, fd)
        attach = f"0x{self._kptr() | 0xE0:016x}"
        sgt = f"0x{self._kptr() | 0x190:016x}"
        imp = self._new_bo(c, bo.size)
        imp.exporter, imp.import_buf, imp.attach, imp.sgt = bo, buf, attach, sgt
        imp.handle = c.new_handle()
        dev = c.dev.addr
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_prime_import_dev} dev={dev} dma_buf={buf.s} "
            f"attach_dev={c.dev.attach_dev} exporter_priv={bo.s}",
        )
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.dma_buf_dynamic_attach} dmabuf={buf.s} dev={c.dev.attach_dev} "
            f"importer_ops=0x0 importer_priv=0x0",
        )
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_map_attach} dma_buf={buf.s} attach={attach} obj={bo.s}")
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_pin} obj={bo.s}")
        self._get_pages(b, bo)
        add(GEM, FL_PROBE, f"{R_PIN} ret=0")
        add(GEM, FL_PROBE, f"{R_ATTACH} attach={attach}")
        add(GEM, FL_PROBE, f"{PROBE.dma_buf_map_attachment} attach={attach} dir=0 dmabuf={buf.s}")
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_map_dma_buf} attach={attach} dir=0")
        add(GEM, FL_PROBE, f"{R_MAP_ATTACH} sgt={sgt}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_prime_import_sg_table} dev={dev} attach={attach} sgt={sgt}",
        )
        add(GEM, FL_PROBE, f"{E_SHMEM_CREATE} dev={dev} size={bo.size} private=1")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_private_object_init} dev={dev} obj={imp.s} size={bo.size}",
        )
        add(GEM, FL_PROBE, f"{R_SHMEM_CREATE_IMPORT} shmem={imp.s}")
        add(GEM, FL_PROBE, f"{R_IMPORT_DEV} obj={imp.s}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_handle_create_tail} file={c.file} obj={imp.s} "
            f"handlep={self._stack(c)} size={bo.size} refcount=1 handle_count=0",
        )
        add(GEM, FL_PROBE, f"{R_HANDLE_PRIME} ret=0")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_prime_add_buf_handle} prime_fpriv={c.prime_fpriv} "
            f"dma_buf={buf.s} handle={imp.handle}",
        )
        # the attachment and obj->dma_buf of the new object hold one reference each, the prime
        # entry another; fd_to_handle drops the one dma_buf_get took
        buf.f_count += 3
        buf.entries.add(id(c))
        self._dma_buf_put(b, buf)
        add(GEM, FL_PROBE, f"{R_FD_TO_HANDLE} ret=0")
        self._ioctl_ret(b, c)
        heapq.heappush(c.fds, fd)
        imp.hc = 1
        self._plan(imp, imported=True)
        self._add_live(imp)
        self._hold(b, imp)
        return b

    def op_close_fd(self, bo: Bo, c: Client) -> Burst | None:
        buf = bo.dmabuf
        if buf is None or buf.fd < 0:
            return None
        b = Burst(c.task)
        if c.task.traced:
            b.add(GEM, FL_SYSCALL, f"sys_close(fd: {buf.fd:x})")
        heapq.heappush(c.fds, buf.fd)
        buf.fd = -1
        buf.f_count -= 1  # fput: no dma_buf_put on this path
        if buf.f_count <= 0:
            self._release_dmabuf(b, buf)
        return b

    def _release_dmabuf(self, b: Burst, buf: DmaBuf) -> None:
        """The last file reference went: release the dma-buf and the object reference it holds."""
        obj = buf.obj
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.dma_buf_file_release} inode={buf.inode} file={buf.file} dmabuf={buf.s}",
        )
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.dma_buf_release} dentry={buf.dentry} dmabuf={buf.s} "
            f'size={buf.size} exp_name="drm" priv={obj.s}',
        )
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_dmabuf_release} dma_buf={buf.s} obj={obj.s}")
        b.frees.append((self.dmabuf_pool, int(buf.s, 16)))
        obj.dmabuf = None
        if obj.hc == 0 and not obj.freed:
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.drm_gem_object_free} obj={obj.s} size={obj.size} "
                f"handle_count=0 dma_buf=0x0 import_attach=0x0",
            )
            self._free(b, obj)

    def _free(self, b: Burst, bo: Bo) -> None:
        b.add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_shmem_free} shmem={bo.s} pages_use_count={bo.pages} "
            f"vmap_use_count={bo.vmaps} sgt={bo.sgt} import_attach={bo.attach}",
        )
        exp, buf = bo.exporter, bo.import_buf
        release_buf = False
        if exp is not None and buf is not None:
            b.add(GEM, FL_PROBE, f"{PROBE.drm_prime_gem_destroy} obj={bo.s} sgt={bo.sgt}")
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.dma_buf_unmap_attachment} attach={bo.attach} sgt={bo.sgt} dir=0",
            )
            b.add(GEM, FL_PROBE, f"{PROBE.dma_buf_detach} dmabuf={buf.s} attach={bo.attach}")
            b.add(
                GEM,
                FL_PROBE,
                f"{PROBE.drm_gem_unmap_dma_buf} attach={bo.attach} sgt={bo.sgt} dir=0",
            )
            b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_map_detach} dma_buf={buf.s} attach={bo.attach}")
            b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_unpin} obj={exp.s}")
            self._put_pages(b, exp)
            release_buf = self._dma_buf_put(b, buf)
        b.add(GEM, FL_PROBE, f"{PROBE.drm_gem_object_release} obj={bo.s} size={bo.size}")
        bo.freed = True
        b.frees.append((self.bo_pool, bo.addr))
        if release_buf and buf is not None:
            self._release_dmabuf(b, buf)

    def _close_handle(self, bo: Bo, c: Client, h: int) -> Burst:
        b = Burst(c.task)
        add = b.add
        self._ioctl(b, c, 3, IOCTL_GEM_CLOSE)
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_close_ioctl} dev={c.dev.addr} handle={h} file={c.file}")
        add(GEM, FL_PROBE, f"{PROBE.drm_gem_handle_delete} file={c.file} handle={h}")
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_object_release_handle} handle={h} obj={bo.s} "
            f"file={c.file} refcount={self._refs(bo)} handle_count={bo.hc}",
        )
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_prime_remove_buf_handle} prime_fpriv={c.prime_fpriv} handle={h}",
        )
        heapq.heappush(c.handles, h)
        buf = bo.dmabuf or bo.import_buf
        released: DmaBuf | None = None
        if buf is not None and id(c) in buf.entries:
            buf.entries.discard(id(c))
            if self._dma_buf_put(b, buf):
                released = buf
        add(
            GEM,
            FL_PROBE,
            f"{PROBE.drm_gem_object_handle_put_unlocked} obj={bo.s} handle_count={bo.hc}",
        )
        bo.hc -= 1
        if bo.hc == 0:
            # the last handle drops obj->dma_buf (exported or imported object alike)
            own = bo.dmabuf
            if own is not None and own.export_ref:
                own.export_ref = False
                if self._dma_buf_put(b, own):
                    released = own
            elif bo.import_buf is not None:
                self._dma_buf_put(b, bo.import_buf)  # the attachment still holds one
            if bo.dmabuf is None:
                self._free(b, bo)
            # else: the exported dma-buf holds the last reference; its release frees the object
        add(GEM, FL_PROBE, f"{R_DELETE} ret=0")
        self._ioctl_ret(b, c)
        if released is not None:  # the final fput runs on the way back to user space
            self._release_dmabuf(b, released)
        return b

    def op_close(self, bo: Bo, c: Client) -> Burst | None:
        if bo.hc == 0 or bo.handle == 0:
            return None
        h, bo.handle = bo.handle, 0
        return self._close_handle(bo, bo.owner, h)

    def op_close_import(self, bo: Bo, c: Client) -> Burst | None:
        if not bo.imports:
            return None
        cl, h = bo.imports.pop(0)
        return self._close_handle(bo, cl, h)

    # --- GPU jobs: gpu_scheduler, dma_fence, amdgpu ---------------------------------------------
    def sched_burst(self) -> Burst | None:
        rng = self.rng
        actions = []
        if len(self.queued) + len(self.running) < 48:
            actions.append(self.job_submit)
        if self.queued:
            actions.append(self.job_run)
        if self.running:
            actions.append(self.job_done)
        if self.done and (len(self.done) > 16 or rng.random() < 0.3):
            actions.append(self.job_free)
        return rng.choice(actions)()

    def _fence(self, driver: str, timeline: str, ctx: int, seq: int) -> str:
        return f"driver={driver} timeline={timeline} context={ctx} seqno={seq}"

    def job_submit(self) -> Burst | None:
        rng = self.rng
        ent = rng.choice(self.entities)
        if ent.task.busy:
            return None
        ent.seq += 1
        job = Job(self.next_job, ent, ent.seq, f"{self._kptr():016x}")
        self.next_job += 1
        b = Burst(ent.task)
        tl = ent.ring.name
        for ctx in (ent.ctx, ent.ctx + 1):  # the scheduled and the finished fence
            b.add(FENCE, FL_PROBE, f"dma_fence_init: {self._fence('drm_sched', tl, ctx, job.seq)}")
        b.add(
            DRIVER,
            FL_PROBE,
            f"amdgpu_cs_ioctl: sched_job={job.id}, timeline={tl}, "
            f"context={ent.ctx + 1}, seqno={job.seq}, ring_name={tl}, "
            f"num_ibs={rng.choice((1, 1, 2))}",
        )
        ent.queued += 1
        b.add(
            SCHED,
            FL_PROBE,
            f"drm_sched_job: entity={ent.ptr}, id={job.id}, fence={job.fence}, "
            f"ring={tl}, job count:{ent.queued}, "
            f"hw job count:{ent.ring.running}",
        )
        self.queued.append(job)
        return b

    def job_run(self) -> Burst | None:
        rng = self.rng
        job = self.queued[0]
        ent, ring = job.entity, job.entity.ring
        if ring.kthread.busy:
            return None
        self.queued.popleft()
        b = Burst(ring.kthread)
        tl = ring.name
        for _ in range(rng.randint(*JOB_WAIT_DEPS)):
            dep = rng.choice(self.entities)
            b.add(
                SCHED,
                FL_PROBE,
                f"drm_sched_job_wait_dep: job ring={tl}, id={job.id}, "
                f"depends fence={self._kptr():016x}, context={dep.ctx + 1}, "
                f"seq={max(dep.seq - rng.randrange(3), 1)}",
            )
        ent.queued = max(ent.queued - 1, 0)
        b.add(
            SCHED,
            FL_PROBE,
            f"drm_run_job: entity={ent.ptr}, id={job.id}, fence={job.fence}, "
            f"ring={tl}, job count:{ent.queued}, hw job count:{ring.running}",
        )
        b.add(
            DRIVER,
            FL_PROBE,
            f"amdgpu_sched_run_job: sched_job={job.id}, timeline={tl}, "
            f"context={ent.ctx + 1}, seqno={job.seq}, ring_name={tl}, "
            f"num_ibs=1",
        )
        ring.hw_seq += 1
        job.hw_seq = ring.hw_seq
        hw = self._fence("amdgpu", tl, ring.hw_ctx, ring.hw_seq)
        b.add(FENCE, FL_PROBE, f"dma_fence_init: {hw}")
        b.add(FENCE, FL_PROBE, f"dma_fence_emit: {hw}")
        scheduled = self._fence("drm_sched", tl, ent.ctx, job.seq)
        b.add(FENCE, "d..1.", f"dma_fence_signaled: {scheduled}")
        ring.running += 1
        self.running.append(job)
        return b

    def job_done(self) -> Burst:
        job = self.running.popleft()
        ent, ring = job.entity, job.entity.ring
        ring.running = max(ring.running - 1, 0)
        b = Burst(None)  # the fence interrupt lands on whatever runs there
        fl = self.rng.choice(IRQ_FLAGS)
        hw = self._fence("amdgpu", ring.name, ring.hw_ctx, job.hw_seq)
        b.add(FENCE, fl, f"dma_fence_signaled: {hw}")
        b.add(SCHED, fl, f"drm_sched_process_job: fence={job.fence} signaled")
        b.add(
            FENCE,
            fl,
            f"dma_fence_signaled: {self._fence('drm_sched', ring.name, ent.ctx + 1, job.seq)}",
        )
        self.done.append(job)
        return b

    def job_free(self) -> Burst | None:
        worker = self.rng.choice(self.kworkers)
        if worker.busy:
            return None
        job = self.done.popleft()
        ent, ring = job.entity, job.entity.ring
        b = Burst(worker)
        for fence in (
            self._fence("amdgpu", ring.name, ring.hw_ctx, job.hw_seq),
            self._fence("drm_sched", ring.name, ent.ctx, job.seq),
            self._fence("drm_sched", ring.name, ent.ctx + 1, job.seq),
        ):
            b.add(FENCE, FL_PROBE, f"dma_fence_destroy: {fence}")
        return b

    # --- standalone fences: i915 requests -------------------------------------------------------
    def fence_burst(self) -> Burst | None:
        rng = self.rng
        c = rng.choice(self.clients)
        if c.task.busy:
            return None
        b = Burst(c.task)
        ctx = self._fence_ctx()
        tl = f"{c.task.comm}[{c.task.pid}]"
        seq = rng.randrange(1, 5000)
        fence = self._fence("i915", tl, ctx, seq)
        b.add(FENCE, FL_PROBE, f"dma_fence_init: {fence}")
        b.add(
            DRIVER,
            FL_PROBE,
            f"i915_request_add: dev=0, engine=0:0, ctx={ctx}, seqno={seq}, "
            f"tail={rng.randrange(0, 4096, 8)}",
        )
        b.add(FENCE, rng.choice(IRQ_FLAGS), f"dma_fence_signaled: {fence}")
        b.add(FENCE, FL_PROBE, f"dma_fence_destroy: {fence}")
        return b

    # --- i915 / amdgpu buffer objects -----------------------------------------------------------
    def driver_burst(self) -> Burst | None:
        rng = self.rng
        c = rng.choice(self.clients)
        if c.task.busy:
            return None
        b = Burst(c.task)
        if rng.random() < 0.5:
            self._i915(b)
        else:
            self._amdgpu(b)
        return b

    def _hold_driver(self, b: Burst, addr: int) -> None:
        self.driver_busy.add(addr)
        b.driver_holds.append(addr)

    def _i915(self, b: Burst) -> None:
        rng, live = self.rng, self.i915_live
        if len(live) < 300 or rng.random() < 0.3:
            addr = self.i915_pool.alloc()
            size = rng.choice((0x1000, 0x2000, 0x10000, 0x100000, 0x7E9000, 0x800000))
            live.append((addr, size, 0))
            b.add(DRIVER, FL_PROBE, f"i915_gem_object_create: obj={addr:016x}, size=0x{size:x}")
            self._hold_driver(b, addr)
            return
        i = rng.randrange(len(live))
        addr, size, state = live[i]
        if addr in self.driver_busy:
            return
        self._hold_driver(b, addr)
        vm = f"{self.kbase + 0x1C0000000 + ((addr >> 9) & 0xFF) * 0x1000:016x}"
        offset = (addr >> 3) & 0xFFFFF000
        if state == 0:
            mappable = ", mappable" if rng.random() < 0.3 else ""
            b.add(
                DRIVER,
                FL_PROBE,
                f"i915_vma_bind: obj={addr:016x}, offset=0x{offset:016x} "
                f"size=0x{size:x}{mappable} vm={vm}",
            )
            live[i] = (addr, size, 1)
        elif state == 1 and rng.random() < 0.6:
            r = rng.random()
            if r < 0.5:
                b.add(
                    DRIVER,
                    FL_PROBE,
                    f"i915_gem_object_pwrite: obj={addr:016x}, offset=0x0, len=0x{size:x}",
                )
            else:
                writable = ", writable" if r < 0.75 else ""
                b.add(
                    DRIVER,
                    FL_PROBE,
                    f"i915_gem_object_fault: obj={addr:016x}, GTT "
                    f"index={rng.randrange(size >> 12)} {writable}",
                )
        else:
            b.add(
                DRIVER,
                FL_PROBE,
                f"i915_vma_unbind: obj={addr:016x}, offset=0x{offset:016x} size=0x{size:x} vm={vm}",
            )
            b.add(DRIVER, FL_PROBE, f"i915_gem_object_destroy: obj={addr:016x}")
            live[i] = live[-1]
            live.pop()
            b.frees.append((self.i915_pool, addr))

    def _amdgpu(self, b: Burst) -> None:
        rng, live = self.rng, self.amd_live
        if len(live) < 300 or rng.random() < 0.3:
            addr = self.amd_pool.alloc()
            pages = rng.choice((1, 2, 16, 256, 1024, 2025))
            dom = rng.choice((2, 4, 6))
            live.append((addr, pages, 0))
            b.add(
                DRIVER,
                FL_PROBE,
                f"amdgpu_bo_create: bo={addr:016x}, pages={pages}, "
                f"type={1 if dom == 2 else 2}, preferred={dom}, "
                f"allowed={dom | 2}, visible={rng.choice((0, 1, 0x10))}",
            )
            self._hold_driver(b, addr)
            return
        i = rng.randrange(len(live))
        addr, pages, state = live[i]
        if addr in self.driver_busy:
            return
        self._hold_driver(b, addr)
        start = (addr >> 12) & 0xFFFFF
        if state == 0:
            b.add(
                DRIVER,
                FL_PROBE,
                f"amdgpu_vm_bo_map: bo={addr:016x}, start={start:x}, "
                f"last={start + pages - 1:x}, offset=0000000000, flags=e",
            )
            live[i] = (addr, pages, 1)
        elif state == 1 and rng.random() < 0.5:
            frm, to = rng.choice(((2, 1), (1, 2), (0, 1)))
            b.add(
                DRIVER,
                FL_PROBE,
                f"amdgpu_bo_move: bo={addr:016x}, from={frm}, to={to}, size={pages * 4096}",
            )
        else:
            b.add(
                DRIVER,
                FL_PROBE,
                f"amdgpu_vm_bo_unmap: bo={addr:016x}, start={start:x}, "
                f"last={start + pages - 1:x}, offset=0000000000, flags=e",
            )
            live[i] = live[-1]
            live.pop()
            b.frees.append((self.amd_pool, addr))


def _merge(rng: random.Random, a: list[str], b: list[str]) -> list[str]:
    """Interleave two op sequences at random, keeping the order within each."""
    out: list[str] = []
    i = j = 0
    while i < len(a) or j < len(b):
        if j >= len(b) or (i < len(a) and rng.random() * (len(a) - i + len(b) - j) < len(a) - i):
            out.append(a[i])
            i += 1
        else:
            out.append(b[j])
            j += 1
    return out


# ------------------------------------------------------------------------------------------------
# printing: CPUs, context columns, timestamps


class Printer:
    """Puts bursts on CPUs (with the sched_switch lines that takes) and interleaves them."""

    def __init__(self, world: World) -> None:
        self.w = world
        self.rng = world.rng
        self.current: list[Task] = list(world.idle)
        self.owned = [False] * NCPUS
        self.heads: dict[tuple[int, int], str] = {}
        self.lane_cpu = [-1] * LANES
        self.lane_task: list[Task | None] = [None] * LANES
        self.lane_items: list[list[tuple[str, str, str]]] = [[] for _ in range(LANES)]
        self.lane_pos = [0] * LANES
        self.lane_burst: list[Burst | None] = [None] * LANES

    def head(self, t: Task, cpu: int) -> str:
        key = (t.pid, cpu)
        h = self.heads.get(key)
        if h is None:
            h = f"{t.shown:>16}-{t.pid:<7} [{cpu:03d}] "
            self.heads[key] = h
        return h

    def _pick_cpu(self, t: Task | None) -> int:
        rng = self.rng
        if t is not None and t.last_cpu >= 0 and not self.owned[t.last_cpu] and rng.random() < 0.85:
            return t.last_cpu
        while True:
            cpu = rng.randrange(NCPUS)
            if not self.owned[cpu]:
                return cpu

    def refill(self, lane: int) -> None:
        w, rng = self.w, self.rng
        old_cpu, old_task = self.lane_cpu[lane], self.lane_task[lane]
        done = self.lane_burst[lane]
        if done is not None:  # the lane's last burst is printed
            done.printed(w.driver_busy)
        if old_task is not None:
            old_task.busy = False
        if old_cpu >= 0:
            self.owned[old_cpu] = False
        b = w.burst()
        cpu = self._pick_cpu(b.task)
        self.owned[cpu] = True
        items: list[tuple[str, str, str]] = []
        task = b.task
        cur = self.current[cpu]
        noise = 0
        if task is None:  # irq context: printed as whatever runs on that CPU
            task = cur
        elif cur is not task:
            if task.last_cpu >= 0 and self.current[task.last_cpu] is task:
                self.current[task.last_cpu] = w.idle[task.last_cpu]  # it left that CPU unseen
            ph = self.head(cur, cpu)
            if rng.random() < WAKEUP_BEFORE_SWITCH:
                items.append((ph, rng.choice(WAKEUP_FLAGS), w.wakeup_line(task, cpu)))
                noise += 1
            items.append((ph, FL_SWITCH, w.switch_line(cur, task)))
            noise += 1
            self.current[cpu] = task
        h = self.head(task, cpu)
        items += [(h, f, t) for f, t in b.items]
        if task.pid != 0 and b.task is not None and rng.random() < SWITCH_OUT:
            items.append((h, FL_SWITCH, w.switch_line(task, w.idle[cpu])))
            noise += 1
            self.current[cpu] = w.idle[cpu]
        b.counts[NOISE] += noise
        w.count(b)
        if b.task is not None:
            task.busy = True
        task.last_cpu = cpu if task.pid else task.last_cpu
        self.lane_cpu[lane], self.lane_task[lane] = cpu, (task if b.task is not None else None)
        self.lane_items[lane] = items
        self.lane_pos[lane] = 0
        self.lane_burst[lane] = b


@dataclass
class Meta:
    lines: int
    header_lines: int
    event_lines: int
    lost_markers: int
    lost_events: int
    bytes: int
    seed: int
    categories: dict[str, int]
    objects_created: int
    object_addresses: int
    object_address_reuses: int
    seconds: float
    start_ts: str
    last_ts: str

    def as_dict(self) -> dict[str, object]:
        d = dict(self.__dict__)
        d["file_lines"] = self.lines + self.header_lines
        return d


def _markers(seed: int, n_lines: int, every: int) -> list[tuple[int, int]]:
    """``(position, lost count)`` of the ``CPU:N [LOST M EVENTS]`` lines, fixed before printing."""
    if every <= 0:
        return []
    rng = random.Random(seed * 7919 + 17)
    out: list[tuple[int, int]] = []
    pos = rng.randint(max(every // 2, 1), max(every * 3 // 2, 1))
    while pos < n_lines:
        out.append((pos, int(rng.lognormvariate(6, 1.8)) + 1))
        pos += rng.randint(max(every // 2, 1), max(every * 3 // 2, 1))
    return out


def generate(
    n_lines: int,
    out: Path,
    seed: int = 1,
    lost_every: int = 0,
    objects: int = 100_000,
    start_ts: float = START_TS,
) -> Meta:
    """Write ``n_lines`` trace lines (after the 12-line header) to ``out``."""
    t0 = time.perf_counter()
    rng = random.Random(seed)
    world = World(rng, objects)
    printer = Printer(world)
    markers = _markers(seed, n_lines, lost_every)
    lost_total = sum(m for _, m in markers)
    events = n_lines - len(markers)
    header = HEADER.format(entries=events, written=events + lost_total, ncpus=NCPUS)
    marker_at = [p for p, _ in markers] + [n_lines + 1]
    marker_i = 0
    deltas, cum = zip(*DELTA_US, strict=True)
    cum_w = [sum(cum[: i + 1]) for i in range(len(cum))]
    stay = round(LANE_STAY / (1 - LANE_STAY) * LANES)
    picks = list(range(LANES)) + [-1] * stay
    t_us = first_us = round(start_ts * 1_000_000)
    written = 0
    lane = 0
    lane_items, lane_pos, lane_cpu = printer.lane_items, printer.lane_pos, printer.lane_cpu
    chunk = 20_000
    with out.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(header)
        while written < n_lines:
            buf: list[str] = []
            k = min(chunk, n_lines - written)
            ds = rng.choices(deltas, cum_weights=cum_w, k=k)
            ps = rng.choices(picks, k=k)
            for d, p in zip(ds, ps, strict=True):
                if p >= 0:
                    lane = p
                pos = lane_pos[lane]
                items = lane_items[lane]
                if pos >= len(items):
                    printer.refill(lane)
                    pos, items = 0, lane_items[lane]
                if written + len(buf) + 1 == marker_at[marker_i]:
                    buf.append(f"CPU:{lane_cpu[lane]} [LOST {markers[marker_i][1]} EVENTS]\n")
                    marker_i += 1
                    continue
                head, flags, text = items[pos]
                lane_pos[lane] = pos + 1
                t_us += d
                sec, usec = divmod(t_us, 1_000_000)
                buf.append(f"{head}{flags} {sec:5d}.{usec:06d}: {text}\n")
            data = "".join(buf)
            fh.write(data)
            written += len(buf)
    cats = {name: world.counts[i] for i, name in enumerate(CATEGORIES)}
    pool = world.bo_pool
    return Meta(
        lines=n_lines,
        header_lines=HEADER_LINES,
        event_lines=events,
        lost_markers=len(markers),
        lost_events=lost_total,
        bytes=out.stat().st_size,
        seed=seed,
        categories=cats,
        objects_created=world.bos_created,
        object_addresses=pool.distinct,
        object_address_reuses=pool.reused,
        seconds=round(time.perf_counter() - t0, 2),
        start_ts=f"{first_us // 1_000_000}.{first_us % 1_000_000:06d}",
        last_ts=f"{t_us // 1_000_000}.{t_us % 1_000_000:06d}",
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--lines", type=int, required=True, help="trace lines to write (after the 12-line header)"
    )
    ap.add_argument("--out", type=Path, required=True, help="output file")
    ap.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    ap.add_argument(
        "--lost-every",
        type=int,
        default=0,
        metavar="K",
        help="insert a 'CPU:N [LOST M EVENTS]' line about every K lines",
    )
    ap.add_argument(
        "--objects",
        type=int,
        default=100_000,
        metavar="M",
        help="distinct GEM object addresses (freed ones are reused)",
    )
    ap.add_argument(
        "--start-ts",
        type=float,
        default=START_TS,
        help="first timestamp in seconds (99999.9 makes the %%5lu column overflow)",
    )
    args = ap.parse_args(argv)
    if args.lines < 0 or args.objects < 1:
        ap.error("--lines must be >= 0 and --objects >= 1")
    meta = generate(args.lines, args.out, args.seed, args.lost_every, args.objects, args.start_ts)
    meta_path = args.out.with_name(args.out.name + ".meta.json")
    meta_path.write_text(json.dumps(meta.as_dict(), indent=2) + "\n")
    total = sum(meta.categories.values()) or 1
    mix = ", ".join(f"{k}={v / total:.1%}" for k, v in meta.categories.items())
    print(
        f"wrote {args.out}: {meta.lines + meta.header_lines} lines, {meta.bytes / 1e6:.1f} MB "
        f"in {meta.seconds:.1f}s ({mix}); {meta.objects_created} GEM objects on "
        f"{meta.object_addresses} addresses ({meta.object_address_reuses} reuses)",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
