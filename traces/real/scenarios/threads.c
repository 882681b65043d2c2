/* threads.c - two threads pinned to CPU0 and CPU1 doing concurrent BO work on vgem.
 * Both threads use the SAME drm_file (fdS) and each also has its own file (fdT[i]).
 * Each iteration: CREATE_DUMB in fdS, MAP_DUMB+mmap, write, munmap; every 4th iteration
 * export it and import into the thread's own file, close that handle and the dma-buf fd;
 * every 3rd iteration create a BO in its own file and destroy it with MODE_DESTROY_DUMB;
 * finally GEM_CLOSE the fdS handle. Clean: nothing left open.
 * The per-CPU ring buffers interleave in the trace (merged by timestamp). */
#include "gemtrace.h"
#include <pthread.h>
#include <sched.h>

#define ITERS 40
static int fdS;
static int fdT[2];
static pthread_barrier_t bar;

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	cpu_set_t set; CPU_ZERO(&set); CPU_SET(id, &set);
	int pr = sched_setaffinity(0, sizeof set, &set);
	gt_mark("thread%d tid=%d pinned to cpu%d -> %d", id, gettid(), id, pr);
	pthread_barrier_wait(&bar);
	for (int i = 0; i < ITERS; i++) {
		uint32_t h = 0, pitch; uint64_t sz = 0;
		if (gt_create_dumb(fdS, 32 + 16 * id, 16 + (i % 4) * 16, 32, &h, &pitch, &sz)) continue;
		uint8_t *m = gt_map_dumb(fdS, h, sz);
		if (m) { memset(m, id + i, sz); munmap(m, sz); }
		if (i % 4 == 0) {
			int db = gt_export(fdS, h);
			uint32_t hi = 0;
			if (db >= 0) {
				if (gt_import(fdT[id], db, &hi) == 0) gt_gem_close(fdT[id], hi);
				gt_close(db, "dmabuf");
			}
		}
		if (i % 3 == 0) {
			uint32_t ho = 0;
			if (gt_create_dumb(fdT[id], 16, 16, 32, &ho, &pitch, NULL) == 0) {
				struct drm_mode_destroy_dumb dd = { .handle = ho };
				int r = gt_ioctl(fdT[id], DRM_IOCTL_MODE_DESTROY_DUMB, &dd);
				gt_mark("thread%d MODE_DESTROY_DUMB fd=%d handle=%u -> %d", id, fdT[id], ho, r);
			}
		}
		gt_gem_close(fdS, h);
	}
	gt_mark("thread%d done", id);
	return NULL;
}

int main(void)
{
	gt_mark("phase1: open shared vgem file and one per thread");
	fdS = gt_open_driver("vgem");
	fdT[0] = gt_open_driver("vgem");
	fdT[1] = gt_open_driver("vgem");
	if (fdS < 0 || fdT[0] < 0 || fdT[1] < 0) return 1;
	pthread_barrier_init(&bar, NULL, 2);
	pthread_t t[2];
	gt_mark("phase2: start 2 threads");
	for (int i = 0; i < 2; i++) pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
	gt_mark("phase3: threads joined; close files");
	gt_close(fdT[0], "vgem T0");
	gt_close(fdT[1], "vgem T1");
	gt_close(fdS, "vgem shared");
	gt_mark("done");
	return 0;
}
