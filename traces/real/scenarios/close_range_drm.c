/* close_range_drm.c - close_range() of the DRM fd alone, with close-on-exec dma-buf fds open:
 *   vgem BO A exported (dbA, close-on-exec) and mapped through dbA; close_range(fd, fd) closes
 *   only the DRM file (A's handle goes with it; the export keeps A); dbA is then used (a sync)
 *   and closed, and the mapping unmapped last. Read as an exec, the DRM file's release would
 *   close dbA with it. */
#include "gemtrace.h"
#include <sys/syscall.h>

int main(void)
{
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	uint32_t a;
	if (gt_create_dumb(fd, 64, 64, 32, &a, NULL, NULL)) return 1;
	int db = gt_export(fd, a);
	if (db < 0) return 1;
	void *m = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, db, 0);
	gt_mark("mmap dbA fd=%d -> %p", db, m);
	int r = (int)syscall(SYS_close_range, (unsigned)fd, (unsigned)fd, 0);
	gt_mark("close_range(%d, %d) -> %d", fd, fd, r);
	gt_dmabuf_sync(db, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	gt_dmabuf_sync(db, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	gt_close(db, "dmabuf A");
	if (m != MAP_FAILED) { r = munmap(m, 16384); gt_mark("munmap dbA -> %d", r); }
	gt_mark("done");
	return 0;
}
