/* vgem_leak_at_exit.c - resources that the process still holds when it exits.
 * None of these is a leak: exit closes every fd and unmaps every VMA, and the kernel then
 * releases what they referenced. An analyser must call this "released at exit (cleanup)".
 *
 *   K1 (16 KiB): exported as dbK1; both the handle and dbK1 stay open at exit.
 *   K2 (8 KiB):  exported as dbK2, then GEM_CLOSE(K2): the BO lives on only through dbK2,
 *                which stays open until exit (released by the dma-buf file release).
 *   K3 (4 KiB):  plain handle, never exported, stays open at exit (drm_gem_release).
 *   K4 (8 KiB):  exported as dbK4, mmap()ed through dbK4, then dbK4 closed and GEM_CLOSE(K4):
 *                only the VMA keeps it alive; it is torn down by exit_mmap, which runs in
 *                do_exit before the fds are closed.
 * The scenario returns from main() (exit_group) without closing anything it still holds.
 * Deterministic, single-threaded. */
#include "gemtrace.h"

int main(void)
{
	uint32_t h1 = 0, h2 = 0, h3 = 0, h4 = 0, pitch;
	uint64_t sz1 = 0, sz2 = 0, sz3 = 0, sz4 = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;

	gt_mark("phase1: create K1..K4");
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h1, &pitch, &sz1));   /* 16 KiB */
	GT_CHECK(gt_create_dumb(fd, 64, 32, 32, &h2, &pitch, &sz2));   /* 8 KiB */
	GT_CHECK(gt_create_dumb(fd, 32, 32, 32, &h3, &pitch, &sz3));   /* 4 KiB */
	GT_CHECK(gt_create_dumb(fd, 32, 64, 32, &h4, &pitch, &sz4));   /* 8 KiB */

	gt_mark("phase2: K1: export, keep handle and dma-buf fd open");
	int db1 = gt_export(fd, h1);

	gt_mark("phase3: K2: export, GEM_CLOSE the handle, keep dma-buf fd open");
	int db2 = gt_export(fd, h2);
	gt_gem_close(fd, h2);

	gt_mark("phase4: K4: export, mmap via dma-buf, close dma-buf fd and GEM_CLOSE, keep the mapping");
	int db4 = gt_export(fd, h4);
	uint8_t *m4 = NULL;
	if (db4 >= 0) {
		m4 = mmap(NULL, sz4, PROT_READ | PROT_WRITE, MAP_SHARED, db4, 0);
		if (m4 == MAP_FAILED) { gt_mark("mmap dbK4 failed: %s", strerror(errno)); m4 = NULL; }
		else { memset(m4, 0x44, sz4); gt_mark("mmap dbK4 -> %p, written", m4); }
		gt_close(db4, "dmabuf K4");
	}
	gt_gem_close(fd, h4);

	gt_mark("exit(0) still holding: vgem fd=%d with handles K1=%u K3=%u; dmabuf fds K1=%d K2=%d; K4 mapping %p",
	        fd, h1, h3, db1, db2, (void *)m4);
	return 0;
}
