/* mmap_lifetime.c - CPU mappings that outlive handles, dma-buf fds and even the DRM file.
 *   P: MAP_DUMB+mmap on the DRM fd, GEM_CLOSE(P) while mapped, write, munmap -> P freed at munmap.
 *   Q: mmap through an exported dma-buf, close(dbQ), GEM_CLOSE(Q), write, munmap -> Q freed at munmap.
 *   R: MAP_DUMB+mmap (8 pages), partial munmap of the middle 2 pages (VMA split -> vm_open),
 *      GEM_CLOSE(R), munmap the two remaining pieces -> R freed at the last munmap.
 *   S: in a second file fdS: MAP_DUMB+mmap, close(fdS) with the handle still open and the
 *      mapping alive: the VMA pins the DRM file, so drm_release/drm_gem_release (S's handle
 *      dropped) happen at munmap time; S freed there too.
 * Deterministic, single-threaded. */
#include "gemtrace.h"
#define PG 4096u

int main(void)
{
	uint32_t hP = 0, hQ = 0, hR = 0, hS = 0, pitch;
	uint64_t szP = 0, szQ = 0, szR = 0, szS = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;

	gt_mark("phase1: P: dumb mmap, GEM_CLOSE while mapped, munmap frees");
	GT_CHECK(gt_create_dumb(fd, 64, 32, 32, &hP, &pitch, &szP));
	uint8_t *mP = gt_map_dumb(fd, hP, szP);
	gt_gem_close(fd, hP);
	if (mP) { memset(mP, 0x50, szP); gt_mark("wrote P after GEM_CLOSE: %02x", mP[szP - 1]); }
	if (mP) gt_mark("munmap P -> %d", munmap(mP, szP));

	gt_mark("phase2: Q: dma-buf mmap, close dma-buf fd, GEM_CLOSE, munmap frees");
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &hQ, &pitch, &szQ));
	int dbQ = gt_export(fd, hQ);
	uint8_t *mQ = dbQ >= 0 ? mmap(NULL, szQ, PROT_READ | PROT_WRITE, MAP_SHARED, dbQ, 0) : MAP_FAILED;
	gt_mark("mmap dbQ -> %p", mQ == MAP_FAILED ? NULL : mQ);
	gt_close(dbQ, "dmabuf Q (mapping still alive)");
	gt_gem_close(fd, hQ);
	if (mQ != MAP_FAILED) { memset(mQ, 0x51, szQ); gt_mark("wrote Q: %02x", mQ[0]); gt_mark("munmap Q -> %d", munmap(mQ, szQ)); }

	gt_mark("phase3: R: dumb mmap of 8 pages, split by a partial munmap, GEM_CLOSE, munmap rest");
	GT_CHECK(gt_create_dumb(fd, 128, 64, 32, &hR, &pitch, &szR));   /* 32 KiB = 8 pages */
	uint8_t *mR = gt_map_dumb(fd, hR, szR);
	if (mR) {
		memset(mR, 0x52, szR);
		gt_mark("munmap R pages 3..4 (split) -> %d", munmap(mR + 3 * PG, 2 * PG));
	}
	gt_gem_close(fd, hR);
	if (mR) {
		mR[0] = 1; mR[7 * PG] = 2;
		gt_mark("munmap R pages 0..2 -> %d", munmap(mR, 3 * PG));
		gt_mark("munmap R pages 5..7 -> %d", munmap(mR + 5 * PG, 3 * PG));
	}

	gt_mark("phase4: S: second file, mmap, close the DRM fd with the handle open and the mapping alive");
	int fdS = gt_open_driver("vgem");
	if (fdS >= 0) {
		GT_CHECK(gt_create_dumb(fdS, 32, 32, 32, &hS, &pitch, &szS));
		uint8_t *mS = gt_map_dumb(fdS, hS, szS);
		gt_close(fdS, "vgem fdS (handle S open, mapping alive)");
		if (mS) { memset(mS, 0x53, szS); gt_mark("munmap S (last file ref) -> %d", munmap(mS, szS)); }
	}
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
