/* thread_handoff.c - dma-buf fds made by one thread and used, closed or left open by another.
 * A process's threads share one fd table (pthread_create passes CLONE_FILES): an fd a worker
 * thread gets from PRIME_HANDLE_TO_FD is the main thread's fd too, a thread's exit closes
 * nothing, and the table is closed when the process's last thread is gone.
 *   A: the worker exports object A; main imports the fd into file B, then closes it.
 *   B: main exports object B; the worker imports the fd into file B and closes it.
 *   C: the worker exports object C and exits (pthread_exit: SYS_exit, not exit_group); main
 *      then imports the fd, which is still open, and closes it.
 *   E: as C, but main only uses the fd for DMA_BUF_IOCTL_SYNC (which does not say which fd)
 *      before it closes it.
 *   F: as C, but main closes the object's handle (the dma-buf's prime reference goes) before
 *      it closes the fd.
 *   D: the worker exports object D and waits forever; main closes its handles and files and
 *      returns: exit_group ends the worker, and the process's last exit closes D's fd.
 * Clean: nothing is left once the process is gone. */
#include "gemtrace.h"
#include <pthread.h>

static int fdA;
static uint32_t handle;
static int dmabuf = -1;

static void *export_it(void *arg)
{
	(void)arg;
	dmabuf = gt_export(fdA, handle);
	gt_mark("worker tid=%d exported handle=%u -> dmabuf_fd=%d", gettid(), handle, dmabuf);
	return NULL;
}

static void *import_and_close(void *arg)
{
	int fdB = (int)(intptr_t)arg;
	uint32_t h = 0;
	if (gt_import(fdB, dmabuf, &h) == 0) gt_gem_close(fdB, h);
	gt_close(dmabuf, "dmabuf in worker");
	return NULL;
}

static void *export_and_exit(void *arg)
{
	(void)arg;
	dmabuf = gt_export(fdA, handle);
	gt_mark("worker tid=%d exported handle=%u -> dmabuf_fd=%d, exits", gettid(), handle, dmabuf);
	pthread_exit(NULL);
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t exported = PTHREAD_COND_INITIALIZER;

static void *export_and_wait(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lock);
	dmabuf = gt_export(fdA, handle);
	gt_mark("worker tid=%d exported handle=%u -> dmabuf_fd=%d, waits", gettid(), handle, dmabuf);
	pthread_cond_signal(&exported);
	pthread_mutex_unlock(&lock);
	for (;;) pause();
}

static uint32_t create(void)
{
	uint32_t h = 0, pitch;
	uint64_t size;
	if (gt_create_dumb(fdA, 64, 64, 32, &h, &pitch, &size)) return 0;
	return h;
}

int main(void)
{
	fdA = gt_open_driver("vgem");
	int fdB = gt_open_driver("vgem");
	if (fdA < 0 || fdB < 0) return 1;
	pthread_t t;
	uint32_t h = 0;

	gt_mark("A: worker exports, main imports and closes");
	handle = create();
	pthread_create(&t, NULL, export_it, NULL);
	pthread_join(t, NULL);
	if (dmabuf >= 0 && gt_import(fdB, dmabuf, &h) == 0) gt_gem_close(fdB, h);
	gt_close(dmabuf, "dmabuf A in main");
	gt_gem_close(fdA, handle);

	gt_mark("B: main exports, worker imports and closes");
	handle = create();
	dmabuf = gt_export(fdA, handle);
	pthread_create(&t, NULL, import_and_close, (void *)(intptr_t)fdB);
	pthread_join(t, NULL);
	gt_gem_close(fdA, handle);

	gt_mark("C: worker exports and exits, main imports and closes");
	handle = create();
	pthread_create(&t, NULL, export_and_exit, NULL);
	pthread_join(t, NULL);
	if (dmabuf >= 0 && gt_import(fdB, dmabuf, &h) == 0) gt_gem_close(fdB, h);
	gt_close(dmabuf, "dmabuf C in main");
	gt_gem_close(fdA, handle);

	gt_mark("E: worker exports and exits, main syncs and closes");
	handle = create();
	pthread_create(&t, NULL, export_and_exit, NULL);
	pthread_join(t, NULL);
	gt_dmabuf_sync(dmabuf, DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE);
	gt_dmabuf_sync(dmabuf, DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE);
	gt_close(dmabuf, "dmabuf E in main");
	gt_gem_close(fdA, handle);

	gt_mark("F: worker exports and exits, main closes the handle, then the fd");
	handle = create();
	pthread_create(&t, NULL, export_and_exit, NULL);
	pthread_join(t, NULL);
	gt_gem_close(fdA, handle);
	gt_close(dmabuf, "dmabuf F in main");

	gt_mark("D: worker exports and waits, main returns");
	handle = create();
	pthread_mutex_lock(&lock);
	dmabuf = -1;
	pthread_create(&t, NULL, export_and_wait, NULL);
	while (dmabuf < 0) pthread_cond_wait(&exported, &lock);
	pthread_mutex_unlock(&lock);
	gt_gem_close(fdA, handle);
	gt_close(fdB, "vgem B");
	gt_close(fdA, "vgem A");
	gt_mark("done: the worker's dmabuf_fd=%d is closed by the process's exit", dmabuf);
	return 0;
}
