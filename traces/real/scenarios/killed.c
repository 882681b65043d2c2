/* killed.c - a process killed by SIGKILL while it holds everything: no exit_group is traced.
 * A fatal signal ends the task in do_exit without a syscall of its own: exit_mm unmaps every
 * vma, then exit_files closes every fd, and the kernel releases what they referenced. None of it
 * is a leak, and a capture that traces the process's syscalls sees no exit for it.
 *
 *   K1 (16 KiB): mmap()ed through file A, exported as db1, imported into file B; all kept.
 *   K2 (8 KiB):  a vgem write fence attached and never signalled (vgem signals it itself after
 *                its 10 s timeout, after the capture ends): in flight at the end, not a leak.
 *   K3 (8 KiB):  exported as db3, mmap()ed through db3, then db3 closed and GEM_CLOSE(K3): only
 *                the vma keeps it.
 * Then kill(getpid(), SIGKILL). Deterministic, single-threaded. */
#include "gemtrace.h"
#include <signal.h>

int main(void)
{
	uint32_t h1 = 0, h2 = 0, h3 = 0, hb = 0, pitch;
	uint64_t sz1 = 0, sz2 = 0, sz3 = 0;
	int fdA = gt_open_driver("vgem");
	int fdB = gt_open_driver("vgem");
	if (fdA < 0 || fdB < 0) return 1;

	gt_mark("K1: map through file A, export, import into file B");
	GT_CHECK(gt_create_dumb(fdA, 64, 64, 32, &h1, &pitch, &sz1));
	uint8_t *m1 = gt_map_dumb(fdA, h1, sz1);
	if (m1) memset(m1, 0x11, sz1);
	int db1 = gt_export(fdA, h1);
	if (db1 >= 0) GT_CHECK(gt_import(fdB, db1, &hb));

	gt_mark("K2: a write fence left unsignalled");
	GT_CHECK(gt_create_dumb(fdA, 64, 32, 32, &h2, &pitch, &sz2));
	int fence = gt_vgem_fence_attach(fdA, h2, 1);

	gt_mark("K3: export, mmap the dma-buf, close its fd and the handle");
	GT_CHECK(gt_create_dumb(fdA, 32, 64, 32, &h3, &pitch, &sz3));
	int db3 = gt_export(fdA, h3);
	if (db3 >= 0) {
		uint8_t *m3 = mmap(NULL, sz3, PROT_READ | PROT_WRITE, MAP_SHARED, db3, 0);
		if (m3 == MAP_FAILED) gt_mark("mmap db3 failed: %s", strerror(errno));
		else { memset(m3, 0x33, sz3); gt_mark("mmap db3 -> %p, written", (void *)m3); }
		gt_close(db3, "dmabuf K3");
	}
	gt_gem_close(fdA, h3);

	gt_mark("SIGKILL, holding: files A=%d B=%d, handles K1=%u K2=%u in A and %u in B, db1=%d, "
	        "fence %d on K2, the K1 and K3 mappings", fdA, fdB, h1, h2, hb, db1, fence);
	kill(getpid(), SIGKILL);
	return 0;
}
