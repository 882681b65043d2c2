/* close_range.c - fds closed without close(): dup2 over a dma-buf fd, and close_range():
 *   vgem BOs A and B exported (dbA, dbB); dbA dup'd (dbA2); dup2(dbB, dbA) closes dbA's fd
 *   implicitly and makes it a second fd of B's dma-buf; A's handle closed (dbA2 still holds
 *   A); close_range(dbA2, dbA2) closes A's last fd: A destroyed; B's handle closed. Then the
 *   second file: BO C exported (dbC), mapped through its fd, and close_range(3, ~0) closes
 *   the DRM file, dbB's two fds and dbC at once, with C's mapping left; it is unmapped last. */
#include "gemtrace.h"
#include <sys/syscall.h>

static int do_close_range(unsigned first, unsigned last)
{
	int r = (int)syscall(SYS_close_range, first, last, 0);
	gt_mark("close_range(%u, %u) -> %d", first, last, r);
	return r;
}

int main(void)
{
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	uint32_t a, b;
	if (gt_create_dumb(fd, 64, 64, 32, &a, NULL, NULL) || gt_create_dumb(fd, 64, 64, 32, &b, NULL, NULL))
		return 1;
	int dba = gt_export(fd, a), dbb = gt_export(fd, b);
	if (dba < 0 || dbb < 0) return 1;
	int dba2 = dup(dba);
	gt_mark("dup(dbA fd=%d) -> %d", dba, dba2);
	int r = dup2(dbb, dba);
	gt_mark("dup2(dbB fd=%d, dbA fd=%d) -> %d: dbA's fd now B's", dbb, dba, r);
	gt_gem_close(fd, a);
	do_close_range((unsigned)dba2, (unsigned)dba2);
	gt_gem_close(fd, b);
	gt_mark("second part");
	uint32_t c;
	if (gt_create_dumb(fd, 64, 64, 32, &c, NULL, NULL)) return 1;
	int dbc = gt_export(fd, c);
	void *m = dbc >= 0 ? mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_SHARED, dbc, 0) : MAP_FAILED;
	gt_mark("mmap dbC fd=%d -> %p", dbc, m);
	if (m != MAP_FAILED) ((volatile char *)m)[0] = 1;
	gt_gem_close(fd, c);
	do_close_range(3, ~0U);
	if (m != MAP_FAILED) { r = munmap(m, 16384); gt_mark("munmap dbC -> %d", r); }
	gt_mark("done");
	return 0;
}
