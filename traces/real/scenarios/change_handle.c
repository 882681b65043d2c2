/* change_handle.c - a handle renumbered, a dma-buf named, its fences exported as a sync_file:
 *   vgem BO A is exported (dbA) and named (DMA_BUF_SET_NAME); a fence is attached to A and
 *   exported from dbA as a sync_file (DMA_BUF_IOCTL_EXPORT_SYNC_FILE: the sync_file holds the
 *   fence, not the BO), the fence is signalled and the sync_file closed.
 *   GEM_CHANGE_HANDLE (6.18+, used by CRIU; older kernels refuse it) moves A from its handle to
 *   handle 100; dbA imported into the same file gives back the handle A has now; A is exported
 *   again through the new handle (the cached dma-buf), then closed through it.
 *   BO B is created, renumbered to 200 and left open: the file's close releases it. */
#include "gemtrace.h"

#define DRM_IOCTL_GEM_CHANGE_HANDLE DRM_IOWR(0xD2, struct drm_gem_change_handle)
struct drm_gem_change_handle { uint32_t handle, new_handle; };

static uint32_t change_handle(int fd, uint32_t handle, uint32_t new_handle)
{
	struct drm_gem_change_handle c = { .handle = handle, .new_handle = new_handle };
	int r = gt_ioctl(fd, DRM_IOCTL_GEM_CHANGE_HANDLE, &c);
	gt_mark("GEM_CHANGE_HANDLE fd=%d handle=%u -> %u: %d%s%s", fd, handle, new_handle, r,
		r ? " " : "", r ? strerror(errno) : "");
	return r ? handle : new_handle;
}

int main(void)
{
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	uint32_t a, b;
	if (gt_create_dumb(fd, 64, 64, 32, &a, NULL, NULL) || gt_create_dumb(fd, 64, 64, 32, &b, NULL, NULL))
		return 1;
	int db = gt_export(fd, a);
	if (db < 0) return 1;
	int r = ioctl(db, DMA_BUF_SET_NAME, "tracekit-a");
	gt_mark("DMA_BUF_SET_NAME dmabuf_fd=%d -> %d", db, r);
	int fence = gt_vgem_fence_attach(fd, a, 1);
#ifdef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
	struct dma_buf_export_sync_file es = { .flags = DMA_BUF_SYNC_RW, .fd = -1 };
	r = gt_ioctl(db, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, &es);
	gt_mark("EXPORT_SYNC_FILE dmabuf_fd=%d -> %d sync_fd=%d", db, r, es.fd);
#endif
	if (fence >= 0) gt_vgem_fence_signal(fd, (uint32_t)fence);
#ifdef DMA_BUF_IOCTL_EXPORT_SYNC_FILE
	if (es.fd >= 0) gt_close(es.fd, "sync_file");
#endif
	a = change_handle(fd, a, 100);
	uint32_t again;
	if (gt_import(fd, db, &again) == 0) gt_mark("import into the same file -> handle=%u (A is %u)", again, a);
	int db2 = gt_export(fd, a);
	if (db2 >= 0) gt_close(db2, "dmabuf again");
	gt_close(db, "dmabuf");
	gt_gem_close(fd, a);
	b = change_handle(fd, b, 200);
	gt_mark("close the file with B (handle %u) open", b);
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
