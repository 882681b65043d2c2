/* export_again.c - one object, two handles in its own file, exported again from an importer.
 *
 * What the trace should show (trace_marker labels):
 *   fdA, fdB = vgem. X created in fdA (hX1); GEM_FLINK + GEM_OPEN in fdA itself: a second handle
 *   hX2 on X in the same file (handle_count 2).
 *   X exported through hX2 (dbX); imported into fdB (hB: the same object, no attachment), and
 *   back into fdA (the prime cache returns hX2).
 *   GEM_CLOSE hX1: X keeps hX2 and hB.
 *   fdB exports X again through hB: obj->dma_buf is set, the same dma-buf comes back in a new
 *   fd (dbX2, one more file reference).
 *   close(dbX); GEM_CLOSE hB; close(fdA) with hX2 still open: drm_gem_release drops X's last
 *   handle, and with it the export's handle reference.
 *   dbX2 is mapped (dma-buf mmap), touched, unmapped and closed: the dma-buf's last reference
 *   goes, and X is freed. close(fdB).
 * Clean: nothing is left. */
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
	gt_mark("GEM_OPEN fd=%d name=%u -> handle=%u", fd, name, op.handle);
	return op.handle;
}

int main(void)
{
	uint32_t hX1 = 0, hX2 = 0, hB = 0, hBack = 0, pitch = 0;
	uint64_t sz = 0;
	int fdA = gt_open_driver("vgem");
	int fdB = gt_open_driver("vgem");
	if (fdA < 0 || fdB < 0) return 1;
	GT_CHECK(gt_create_dumb(fdA, 64, 32, 32, &hX1, &pitch, &sz));
	uint32_t name = flink(fdA, hX1);
	hX2 = name ? gem_open(fdA, name) : 0;
	int dbX = gt_export(fdA, hX2);
	if (dbX >= 0) {
		GT_CHECK(gt_import(fdB, dbX, &hB));
		GT_CHECK(gt_import(fdA, dbX, &hBack));
		gt_mark("import back into fdA returned handle=%u (exported through %u)", hBack, hX2);
	}
	gt_gem_close(fdA, hX1);
	int dbX2 = hB ? gt_export(fdB, hB) : -1;
	if (dbX >= 0) gt_close(dbX, "dmabuf X (first fd)");
	gt_gem_close(fdB, hB);
	gt_close(fdA, "vgem fdA (hX2 still open)");
	if (dbX2 >= 0) {
		uint8_t *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, dbX2, 0);
		if (m == MAP_FAILED) {
			gt_mark("mmap dmabuf fd=%d failed: %s", dbX2, strerror(errno));
		} else {
			gt_mark("mmap dmabuf fd=%d -> %p", dbX2, m);
			gt_dmabuf_sync(dbX2, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
			memset(m, 0xa5, sz);
			gt_dmabuf_sync(dbX2, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
			munmap(m, sz);
			gt_mark("munmap dmabuf mapping %p", m);
		}
		gt_close(dbX2, "dmabuf X (second fd, the last reference)");
	}
	gt_close(fdB, "vgem fdB");
	gt_mark("done");
	return 0;
}
