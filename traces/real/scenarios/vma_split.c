/* vma_split.c - one GEM mapping cut into pieces and moved, the way allocators and JITs do:
 *   a 4-page vgem BO is mapped (MAP_DUMB + mmap); mprotect on page 1 splits the vma in three
 *   (each new vma: vm_open, a reference on the object); mremap moves page 3 elsewhere (a new
 *   vma opened, the old one closed); madvise(MADV_DONTFORK) on page 0, then a fork: the child
 *   copies the other vmas (vm_open each) and exits at once; munmap of page 2, then the handle
 *   is closed while pages 0, 1 and 3 are still mapped; the rest is unmapped last.
 * Also: a dma-buf of a second BO mapped through its fd, split the same way. */
#include "gemtrace.h"
#include <sys/wait.h>

int main(void)
{
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	long pg = sysconf(_SC_PAGESIZE);
	uint32_t h, pitch; uint64_t sz;
	if (gt_create_dumb(fd, 1024, 4, 32, &h, &pitch, &sz)) return 1;  /* 16 KiB: 4 pages */
	char *p = gt_map_dumb(fd, h, sz);
	if (!p) return 1;
	memset(p, 1, sz);
	int r = mprotect(p + pg, pg, PROT_READ);
	gt_mark("mprotect(page 1, PROT_READ) -> %d: the vma is split in three", r);
	char *q = mremap(p + 3 * pg, pg, pg, MREMAP_MAYMOVE | MREMAP_FIXED, p + 16 * pg);
	gt_mark("mremap(page 3 -> %p) -> %p", p + 16 * pg, q);
	r = madvise(p, pg, MADV_DONTFORK);
	gt_mark("madvise(page 0, MADV_DONTFORK) -> %d", r);
	pid_t c = fork();
	if (c == 0) _exit(0);
	waitpid(c, NULL, 0);
	gt_mark("child %d exited", (int)c);
	r = munmap(p + 2 * pg, pg);
	gt_mark("munmap(page 2) -> %d", r);
	gt_gem_close(fd, h);

	gt_mark("a dma-buf of a second BO, mapped through its fd and split");
	uint32_t h2; uint64_t sz2;
	if (gt_create_dumb(fd, 1024, 4, 32, &h2, &pitch, &sz2)) return 1;
	int db = gt_export(fd, h2);
	char *d = mmap(NULL, sz2, PROT_READ | PROT_WRITE, MAP_SHARED, db, 0);
	gt_mark("mmap(dmabuf_fd=%d) -> %p", db, d);
	if (d != MAP_FAILED) {
		r = mprotect(d + pg, pg, PROT_READ);
		gt_mark("mprotect(dma-buf page 1) -> %d", r);
	}
	gt_gem_close(fd, h2);
	gt_close(db, "dmabuf");
	if (d != MAP_FAILED) { r = munmap(d, sz2); gt_mark("munmap(dma-buf mapping) -> %d", r); }
	r = munmap(p, 2 * pg);
	gt_mark("munmap(pages 0-1) -> %d", r);
	if (q != MAP_FAILED) { r = munmap(q, pg); gt_mark("munmap(moved page 3) -> %d", r); }
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
