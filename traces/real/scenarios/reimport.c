/* reimport.c - a BO whose every handle is gone, brought back from its dma-buf:
 *   create, export (the dma-buf holds the object), GEM_CLOSE the only handle (handle_count 0:
 *   the export's cached dma-buf is put, the fd keeps it), then PRIME_FD_TO_HANDLE on the same file:
 *   a self-import makes a new handle on the same object. Named by GEM_FLINK, opened by name in a
 *   second file, exported again from there (the same dma-buf), imported back into the first file
 *   (the prime cache: no new handle); then the handles go in the order they came, the fd last. */
#include "gemtrace.h"

int main(void)
{
	int a = gt_open_driver("vgem");
	int b = gt_open_driver("vgem");
	if (a < 0 || b < 0) return 1;
	uint32_t h, pitch; uint64_t sz;
	if (gt_create_dumb(a, 64, 64, 32, &h, &pitch, &sz)) return 1;
	int db = gt_export(a, h);
	if (db < 0) return 1;
	gt_gem_close(a, h);
	uint32_t h1 = 0;
	GT_CHECK(gt_import(a, db, &h1));
	gt_mark("re-imported: handle %u (was %u)", h1, h);
	struct drm_gem_flink fl = { .handle = h1 };
	int r = gt_ioctl(a, DRM_IOCTL_GEM_FLINK, &fl);
	gt_mark("GEM_FLINK handle=%u -> %d name=%u", h1, r, fl.name);
	struct drm_gem_open op = { .name = fl.name };
	r = gt_ioctl(b, DRM_IOCTL_GEM_OPEN, &op);
	gt_mark("GEM_OPEN fd=%d name=%u -> %d handle=%u", b, fl.name, r, op.handle);
	int db2 = gt_export(b, op.handle);
	uint32_t h2 = 0;
	if (db2 >= 0) GT_CHECK(gt_import(a, db2, &h2));
	gt_mark("import of the second export into the first file -> handle %u", h2);
	gt_gem_close(a, h1);
	if (h2 && h2 != h1) gt_gem_close(a, h2);
	gt_gem_close(b, op.handle);
	if (db2 >= 0) gt_close(db2, "dmabuf (second export)");
	gt_close(db, "dmabuf");
	gt_close(a, "vgem fd a");
	gt_close(b, "vgem fd b");
	gt_mark("done");
	return 0;
}
