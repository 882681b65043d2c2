/* vgem_fences.c - vgem fences (dma_fence in the BO's dma_resv) vs. BO and file lifetime.
 *
 * BOs (all 16 KiB, one vgem file fd):
 *   F1: write fence w1; a read fence on F1 is then refused (-EBUSY: a read fence must not
 *       overtake an unsignaled write fence). Exported as dbF1; poll(dbF1) before w1 is
 *       signaled (nothing ready) and after (POLLIN|POLLOUT ready).
 *   F2: two read fences r2a, r2b (allowed together); a write fence is refused (-EBUSY).
 *       r2a signaled, r2a signaled again (-ENOENT: the id was consumed), r2b signaled.
 *   F3: read fence r3; GEM_CLOSE(F3) while r3 is still unsignaled: the BO is destroyed
 *       (dma_resv_fini drops the resv's fence reference) but the fence lives on in vgem's
 *       per-file fence idr, unsignaled, until the file is closed.
 *   F4: write fence w4 left unsignaled. Exported as dbF4; poll(dbF4, 50 ms) times out.
 *       dbF4 is closed, the F4 handle is kept: at close(fd) drm_gem_release drops F4,
 *       then vgem_postclose signals and releases w4 and r3.
 * vgem also arms a 10 s timeout per fence (vgem_fence_timeout); the scenario finishes well
 * before that, so no fence is signaled by the timer. Deterministic, single-threaded. */
#include "gemtrace.h"
#include <poll.h>

static void poll_dmabuf(int dbfd, const char *tag, int timeout_ms)
{
	struct pollfd p = { .fd = dbfd, .events = POLLIN | POLLOUT };
	int r = poll(&p, 1, timeout_ms);
	gt_mark("poll(%s dmabuf_fd=%d, %d ms) -> %d revents=0x%x%s%s", tag, dbfd, timeout_ms, r, p.revents,
	        (p.revents & POLLIN) ? " POLLIN" : "", (p.revents & POLLOUT) ? " POLLOUT" : "");
}

int main(void)
{
	uint32_t h1 = 0, h2 = 0, h3 = 0, h4 = 0, pitch;
	uint64_t sz;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;

	gt_mark("phase1: create F1..F4, export F1 and F4");
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h1, &pitch, &sz));
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h2, &pitch, &sz));
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h3, &pitch, &sz));
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h4, &pitch, &sz));
	int db1 = gt_export(fd, h1);
	int db4 = gt_export(fd, h4);

	gt_mark("phase2: attach fences: F1 write (+ refused read), F2 two reads (+ refused write), F3 read, F4 write");
	int w1 = gt_vgem_fence_attach(fd, h1, 1);
	int bad1 = gt_vgem_fence_attach(fd, h1, 0);     /* expect -EBUSY */
	int r2a = gt_vgem_fence_attach(fd, h2, 0);
	int r2b = gt_vgem_fence_attach(fd, h2, 0);
	int bad2 = gt_vgem_fence_attach(fd, h2, 1);     /* expect -EBUSY */
	int r3 = gt_vgem_fence_attach(fd, h3, 0);
	int w4 = gt_vgem_fence_attach(fd, h4, 1);
	gt_mark("fence ids: w1=%d r2a=%d r2b=%d r3=%d w4=%d (refused: %d %d)", w1, r2a, r2b, r3, w4, bad1, bad2);

	gt_mark("phase3: poll dbF1 before and after signaling w1");
	if (db1 >= 0) poll_dmabuf(db1, "F1 unsignaled", 0);
	if (w1 > 0) gt_vgem_fence_signal(fd, w1);
	if (db1 >= 0) poll_dmabuf(db1, "F1 signaled", 100);

	gt_mark("phase4: signal r2a, r2a again (-ENOENT), r2b");
	if (r2a > 0) { gt_vgem_fence_signal(fd, r2a); gt_vgem_fence_signal(fd, r2a); }
	if (r2b > 0) gt_vgem_fence_signal(fd, r2b);

	gt_mark("phase5: GEM_CLOSE F3 while its read fence r3 is unsignaled");
	gt_gem_close(fd, h3);

	gt_mark("phase6: poll dbF4 (write fence w4 unsignaled) with a 50 ms timeout, then close dbF4");
	if (db4 >= 0) { poll_dmabuf(db4, "F4 unsignaled", 50); gt_close(db4, "dmabuf F4"); }

	gt_mark("phase7: orderly teardown of F1 and F2");
	if (db1 >= 0) gt_close(db1, "dmabuf F1");
	gt_gem_close(fd, h1);
	gt_gem_close(fd, h2);

	gt_mark("phase8: close vgem fd with F4 handle open and fences r3, w4 unsignaled (kernel signals them in vgem_postclose)");
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
