/* dup_fds.c - a dma-buf fd duplicated the ways userspace does (Mesa, compositors):
 *   dup(), dup2(), fcntl(F_DUPFD_CLOEXEC). Each new fd shares the dma-buf's struct file and
 *   takes no file reference (fds share the file; the fd table holds one reference per
 *   installed fd: dup* does get_file()). The duplicates are then used (import into a second DRM
 *   file, mmap, DMA_BUF_IOCTL_SYNC) and closed in an order unrelated to how they were made; one
 *   is left open at exit (exit closes it).
 * None of dup/dup2/fcntl is traced by the rig (its syscall list: ioctl, mmap, munmap, close,
 * exit_group), so the dma-buf's f_count moves with no event. */
#include "gemtrace.h"

int main(void)
{
	int fd = gt_open_driver("vgem");
	int fd2 = gt_open_driver("vgem");
	if (fd < 0 || fd2 < 0) return 1;
	uint32_t h, pitch; uint64_t sz;
	if (gt_create_dumb(fd, 64, 64, 32, &h, &pitch, &sz)) return 1;
	int db = gt_export(fd, h);
	if (db < 0) return 1;

	int d1 = dup(db);
	gt_mark("dup(dmabuf_fd=%d) -> %d", db, d1);
	int d2 = dup2(db, 100);
	gt_mark("dup2(dmabuf_fd=%d, 100) -> %d", db, d2);
	int d3 = fcntl(db, F_DUPFD_CLOEXEC, 200);
	gt_mark("fcntl(dmabuf_fd=%d, F_DUPFD_CLOEXEC, 200) -> %d", db, d3);

	gt_mark("import through the dup into the second file");
	uint32_t h2 = 0;
	GT_CHECK(gt_import(fd2, d1, &h2));
	gt_mark("mmap the dma-buf through dup2's fd");
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, d2, 0);
	gt_mark("mmap(dmabuf_fd=%d) -> %p", d2, p);
	gt_dmabuf_sync(d3, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
	if (p != MAP_FAILED) memset(p, 0x5a, sz);
	gt_dmabuf_sync(d3, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);

	gt_mark("close the original fd first, then the exporter's handle");
	gt_close(db, "dmabuf (original)");
	gt_gem_close(fd, h);
	if (p != MAP_FAILED) { munmap(p, sz); gt_mark("munmap(%p)", p); }
	gt_close(d1, "dmabuf (dup)");
	gt_mark("re-export from the importer: the same dma-buf (obj->dma_buf is cached)");
	int db2 = gt_export(fd2, h2);
	gt_close(d2, "dmabuf (dup2)");
	if (db2 >= 0) gt_close(db2, "dmabuf (re-export)");
	gt_gem_close(fd2, h2);
	gt_close(fd, "vgem fd");
	gt_mark("exit with the F_DUPFD fd=%d and the second vgem fd still open", d3);
	return 0;
}
