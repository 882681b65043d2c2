/* vgem_multi_file.c - one GEM device, three DRM files (struct drm_file), BOs shared between them.
 *
 * What the trace should show (names below are the trace_marker labels):
 *   fdA, fdB, fdC : three open()s of the vgem card -> three distinct file= pointers.
 *   A1, A2        : created in fdA.   B1 : created in fdB.   C1, C2 : created in fdC.
 *   A1 is shared by global name: GEM_FLINK on fdA, GEM_OPEN on fdB and on fdC
 *      (same obj=, handle_count grows 1 -> 3, no dma-buf involved).
 *   B1 is shared by PRIME: exported from fdB (dma-buf fd dbB1), imported into fdA and fdC
 *      (vgem -> vgem import on the same device returns the *same* GEM object, no attachment),
 *      and re-imported into fdB itself (prime lookup cache hit: same handle, no new handle).
 *   Mixed-order handle closes: the creator's handle of A1 is closed first (object survives through
 *      fdB/fdC handles), B1's exporter handle is closed while importers still hold it, etc.
 *   fdC is closed while it still holds C1, C2, A1 (GEM_OPEN) and B1 (import): the kernel's
 *      drm_gem_release() walks fdC's handle idr and drops them (cleanup, not a leak).
 *      C1/C2 are only referenced by fdC, so they are destroyed inside that close.
 *   Everything else is closed in order (A2 via MODE_DESTROY_DUMB); at exit nothing is left open.
 * Deterministic: single-threaded, no timers, no waits. */
#include "gemtrace.h"

static uint32_t flink(int fd, uint32_t handle)
{
	struct drm_gem_flink fl = { .handle = handle };
	if (gt_ioctl(fd, DRM_IOCTL_GEM_FLINK, &fl)) { gt_mark("GEM_FLINK fd=%d handle=%u failed: %s", fd, handle, strerror(errno)); return 0; }
	gt_mark("GEM_FLINK fd=%d handle=%u -> name=%u", fd, handle, fl.name);
	return fl.name;
}

static uint32_t gem_open(int fd, uint32_t name)
{
	struct drm_gem_open op = { .name = name };
	if (gt_ioctl(fd, DRM_IOCTL_GEM_OPEN, &op)) { gt_mark("GEM_OPEN fd=%d name=%u failed: %s", fd, name, strerror(errno)); return 0; }
	gt_mark("GEM_OPEN fd=%d name=%u -> handle=%u size=%llu", fd, name, op.handle, (unsigned long long)op.size);
	return op.handle;
}

int main(void)
{
	uint32_t pitch;
	uint64_t sz;
	uint32_t hA1 = 0, hA2 = 0, hB1 = 0, hC1 = 0, hC2 = 0;

	gt_mark("phase1: open vgem three times (fdA, fdB, fdC)");
	int fdA = gt_open_driver("vgem");
	int fdB = gt_open_driver("vgem");
	int fdC = gt_open_driver("vgem");
	if (fdA < 0 || fdB < 0 || fdC < 0) return 1;

	gt_mark("phase2: create BOs: A1 A2 in fdA, B1 in fdB, C1 C2 in fdC");
	GT_CHECK(gt_create_dumb(fdA, 64, 64, 32, &hA1, &pitch, &sz));    /* A1: 16 KiB */
	GT_CHECK(gt_create_dumb(fdA, 32, 32, 32, &hA2, &pitch, &sz));    /* A2: 4 KiB  */
	GT_CHECK(gt_create_dumb(fdB, 128, 64, 32, &hB1, &pitch, &sz));   /* B1: 32 KiB */
	GT_CHECK(gt_create_dumb(fdC, 32, 64, 32, &hC1, &pitch, &sz));    /* C1: 8 KiB  */
	GT_CHECK(gt_create_dumb(fdC, 64, 32, 32, &hC2, &pitch, &sz));    /* C2: 8 KiB  */

	gt_mark("phase3: share A1 by flink name: GEM_FLINK on fdA, GEM_OPEN on fdB and fdC");
	uint32_t nameA1 = flink(fdA, hA1);
	uint32_t hA1_B = nameA1 ? gem_open(fdB, nameA1) : 0;
	uint32_t hA1_C = nameA1 ? gem_open(fdC, nameA1) : 0;
	/* a second GEM_OPEN of the same name on the same file gives a second handle */
	uint32_t hA1_C2 = nameA1 ? gem_open(fdC, nameA1) : 0;

	gt_mark("phase4: share B1 by PRIME: export from fdB, import into fdA, fdC and back into fdB");
	int dbB1 = gt_export(fdB, hB1);
	uint32_t hB1_A = 0, hB1_C = 0, hB1_B = 0;
	if (dbB1 >= 0) {
		GT_CHECK(gt_import(fdA, dbB1, &hB1_A));
		GT_CHECK(gt_import(fdC, dbB1, &hB1_C));
		GT_CHECK(gt_import(fdB, dbB1, &hB1_B));   /* self-import: cached, same handle as hB1 */
		gt_mark("self-import on fdB returned handle=%u (exporter handle=%u)", hB1_B, hB1);
	}

	gt_mark("phase5: mixed-order handle closes");
	gt_gem_close(fdA, hA1);     /* creator's handle of A1 first: A1 lives on via fdB and fdC */
	gt_gem_close(fdB, hB1);     /* exporter's handle of B1 while importers and dbB1 still hold it */
	gt_gem_close(fdC, hA1_C2);  /* one of fdC's two handles to A1 */
	gt_gem_close(fdA, hB1_A);   /* importer fdA drops B1 */
	gt_gem_close(fdC, hC2);     /* C2 only referenced by fdC: destroyed here */
	gt_gem_close(fdA, hA1);     /* already closed: expect -EINVAL, nothing changes */

	gt_mark("phase6: close fdC while it still holds C1, A1 (GEM_OPEN) and B1 (import): drm_gem_release cleans up");
	gt_mark("fdC still holds handles C1=%u A1=%u B1=%u", hC1, hA1_C, hB1_C);
	gt_close(fdC, "vgem fdC (with open handles)");

	gt_mark("phase7: orderly teardown of the rest");
	gt_close(dbB1, "dmabuf B1");      /* B1 has no handle left (fdC was its last holder); the dma-buf
	                                    * file was its last reference: closing it destroys B1 */
	gt_gem_close(fdB, hA1_B);         /* last handle of A1: A1 destroyed */
	{	/* A2 is released with MODE_DESTROY_DUMB instead of GEM_CLOSE (same effect: handle deleted,
		 * A2 destroyed); drm_mode_destroy_dumb is inlined into its ioctl in these builds */
		struct drm_mode_destroy_dumb dd = { .handle = hA2 };
		int r = gt_ioctl(fdA, DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
		gt_mark("MODE_DESTROY_DUMB fd=%d handle=%u -> %d%s%s", fdA, hA2, r, r ? " " : "", r ? strerror(errno) : "");
	}
	gt_close(fdA, "vgem fdA");
	gt_close(fdB, "vgem fdB");
	gt_mark("done: all files closed");
	return 0;
}
