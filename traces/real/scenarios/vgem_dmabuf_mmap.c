/* vgem_dmabuf_mmap.c - CPU mappings of an exported dma-buf and their effect on BO lifetime.
 *
 * X (64 KiB = 16 pages):
 *   exported as dbX; mmap()ed three times through the dma-buf fd, overlapping:
 *     mX1 = pages 0..15 (whole BO), mX2 = pages 0..7, mX3 = pages 4..11 (pgoff 4)
 *   each dma-buf mmap goes dma_buf_mmap_internal -> drm_gem_dmabuf_mmap -> drm_gem_prime_mmap
 *   (takes an object reference per VMA) -> drm_gem_shmem_mmap (pages_use_count++).
 *   DMA_BUF_IOCTL_SYNC START|WRITE .. END|WRITE brackets the writes, then a READ bracket.
 *   munmap order differs from mmap order: mX2, then the middle 4 pages of mX1 (VMA split:
 *   the kernel calls vm_ops->open on the split-off VMA, then ->close on the removed part),
 *   then mX3, then the two remaining pieces of mX1.
 *   Teardown: close(dbX) BEFORE GEM_CLOSE(X)  -> X is destroyed by the GEM_CLOSE.
 * Y (16 KiB):
 *   exported as dbY, mmap()ed once (mY1), then GEM_CLOSE(Y) while dbY and mY1 still hold it,
 *   written through mY1, mmap()ed again through dbY after the handle is gone (mY2), munmap both,
 *   and close(dbY) AFTER GEM_CLOSE(Y) while mY2 is still mapped: the VMA's vm_file pins the
 *   dma-buf file, so the dma-buf release (and Y's destruction) only happens at munmap(mY2).
 * Deterministic: single-threaded, no timers. */
#include "gemtrace.h"

#define PG 4096u

static void *dmabuf_map(int dbfd, const char *tag, size_t off_pages, size_t npages)
{
	void *p = mmap(NULL, npages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, dbfd, (off_t)(off_pages * PG));
	if (p == MAP_FAILED) { gt_mark("mmap %s dmabuf_fd=%d pages %zu..%zu failed: %s", tag, dbfd, off_pages, off_pages + npages - 1, strerror(errno)); return NULL; }
	gt_mark("mmap %s dmabuf_fd=%d pages %zu..%zu -> %p", tag, dbfd, off_pages, off_pages + npages - 1, p);
	return p;
}

static void unmap(void *p, size_t npages, const char *tag)
{
	if (!p) return;
	int r = munmap(p, npages * PG);
	gt_mark("munmap %s %p (%zu pages) -> %d", tag, p, npages, r);
}

int main(void)
{
	uint32_t hX = 0, hY = 0, pitch;
	uint64_t szX = 0, szY = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;

	gt_mark("phase1: create X (64 KiB) and Y (16 KiB), export both");
	GT_CHECK(gt_create_dumb(fd, 128, 128, 32, &hX, &pitch, &szX));  /* 65536 bytes */
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &hY, &pitch, &szY));    /* 16384 bytes */
	int dbX = gt_export(fd, hX);
	int dbY = gt_export(fd, hY);
	if (dbX < 0 || dbY < 0) return 1;

	gt_mark("phase2: three overlapping mmaps of dbX");
	uint8_t *mX1 = dmabuf_map(dbX, "mX1", 0, 16);
	uint8_t *mX2 = dmabuf_map(dbX, "mX2", 0, 8);
	uint8_t *mX3 = dmabuf_map(dbX, "mX3", 4, 8);

	gt_mark("phase3: SYNC_START|WRITE, write through mX1 and mX3 (aliased pages 4..11), SYNC_END|WRITE");
	gt_dmabuf_sync(dbX, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	if (mX1) memset(mX1, 0x11, 16 * PG);
	if (mX3) memset(mX3, 0x33, 8 * PG);
	gt_dmabuf_sync(dbX, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
	gt_dmabuf_sync(dbX, DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ);
	/* if the pgoff of mX3 is honoured, pages 4..11 are 0x33 and 0..3, 12..15 stay 0x11;
	 * if it is ignored (mX3 aliases pages 0..7), pages 0..7 are 0x33 and 8..15 stay 0x11 */
	if (mX1 && mX2) gt_mark("read back mX1 page0=0x%02x page4=0x%02x page8=0x%02x page11=0x%02x page12=0x%02x, mX2 page0=0x%02x "
	                        "(pgoff honoured: 11 33 33 33 11 11; pgoff ignored: 33 33 11 11 11 33)",
	                        mX1[0], mX1[4 * PG], mX1[8 * PG], mX1[11 * PG], mX1[12 * PG], mX2[0]);
	gt_dmabuf_sync(dbX, DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ);

	gt_mark("phase4: munmap in a different order (mX2, middle of mX1 = VMA split, mX3, rest of mX1)");
	unmap(mX2, 8, "mX2");
	unmap(mX1 ? mX1 + 6 * PG : NULL, 4, "mX1[pages 6..9] (splits mX1)");
	unmap(mX3, 8, "mX3");
	unmap(mX1, 6, "mX1[pages 0..5]");
	unmap(mX1 ? mX1 + 10 * PG : NULL, 6, "mX1[pages 10..15]");

	gt_mark("phase5: X teardown: close dma-buf fd BEFORE GEM_CLOSE (object dies at GEM_CLOSE)");
	gt_close(dbX, "dmabuf X");
	gt_gem_close(fd, hX);

	gt_mark("phase6: Y: map, GEM_CLOSE while mapped and exported, map again via dma-buf, unmap, close dma-buf AFTER");
	uint8_t *mY1 = dmabuf_map(dbY, "mY1", 0, 4);
	gt_gem_close(fd, hY);                 /* handle gone; dbY (and mY1's VMA) keep Y alive */
	gt_dmabuf_sync(dbY, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	if (mY1) memset(mY1, 0x77, 4 * PG);
	gt_dmabuf_sync(dbY, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	uint8_t *mY2 = dmabuf_map(dbY, "mY2 (after GEM_CLOSE)", 1, 2);
	if (mY2) gt_mark("mY2[0]=0x%02x (expect 77)", mY2[0]);
	unmap(mY1, 4, "mY1");
	gt_close(dbY, "dmabuf Y (mY2 still mapped)"); /* the VMA still references Y */
	unmap(mY2, 2, "mY2 (last reference to Y)");

	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
