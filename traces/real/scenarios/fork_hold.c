/* fork_hold.c - fork() with a dma-buf fd open: the child's fd table is a copy of the
 * parent's, and copying it takes a reference on every open file (dup_fd: get_file) with no
 * event; the child's exit puts them, again with no event unless it is the last.
 *   child 1 does nothing with DRM: it holds the fds for a while and exits. While it lives the
 *   parent re-exports the BO (the prime cache's dma-buf, f_count sampled at
 *   drm_gem_prime_handle_to_dmabuf's return), polls the dma-buf and drops an import
 *   (dma_buf_put samples f_count); then it waits for the child and does the same again.
 *   child 2 imports the inherited dma-buf fd into the inherited second vgem fd, closes that
 *   handle and exits; the parent waits and closes everything. */
#include "gemtrace.h"
#include <poll.h>
#include <sys/wait.h>

static void sample(int fd, uint32_t h, int db, const char *when)
{
	gt_mark("sample %s: re-export, poll, import+close", when);
	int again = gt_export(fd, h);          /* the cached dma-buf: a new fd and a reference */
	struct pollfd p = { .fd = db, .events = POLLIN };
	poll(&p, 1, 0);
	if (again >= 0) gt_close(again, "re-export");
}

int main(void)
{
	int fd = gt_open_driver("vgem");
	int fd2 = gt_open_driver("vgem");
	if (fd < 0 || fd2 < 0) return 1;
	uint32_t h, pitch; uint64_t sz;
	if (gt_create_dumb(fd, 64, 64, 32, &h, &pitch, &sz)) return 1;
	int db = gt_export(fd, h);
	if (db < 0) return 1;
	uint32_t h2 = 0;
	GT_CHECK(gt_import(fd2, db, &h2));
	sample(fd, h, db, "before fork");

	gt_mark("fork 1: the child holds the fds and does nothing with DRM");
	pid_t c1 = fork();
	if (c1 == 0) { usleep(400000); _exit(0); }
	sample(fd, h, db, "while child 1 lives");
	gt_gem_close(fd2, h2);                  /* the import goes: dma_buf_put samples f_count */
	int st;
	waitpid(c1, &st, 0);
	gt_mark("child 1 (pid %d) exited", c1);
	sample(fd, h, db, "after child 1");
	GT_CHECK(gt_import(fd2, db, &h2));

	gt_mark("fork 2: the child imports the inherited fd into the inherited second file");
	pid_t c2 = fork();
	if (c2 == 0) {
		uint32_t hc = 0;
		gt_import(fd2, db, &hc);
		_exit(0);
	}
	waitpid(c2, &st, 0);
	gt_mark("child 2 (pid %d) exited", c2);
	sample(fd, h, db, "after child 2");
	gt_gem_close(fd2, h2);
	gt_close(db, "dmabuf");
	gt_gem_close(fd, h);
	gt_close(fd2, "vgem 2");
	gt_close(fd, "vgem 1");
	gt_mark("done");
	return 0;
}
