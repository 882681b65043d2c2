/* file_pinned.c - a DRM file outlives its fds: a dup'd fd, then a GEM mapping, keep it open.
 *
 * What the trace should show (trace_marker labels):
 *   fdA = vgem; X created in fdA, mapped (MAP_DUMB + mmap: the vma's vm_file is fdA's file) and
 *   exported (dbX). fdA2 = dup(fdA): the same struct file and drm_file.
 *   close(fdA): nothing is released (fdA2 holds the file).
 *   GEM_CLOSE X via fdA2: X's last handle goes; the dma-buf export and the mapping hold X.
 *   close(fdA2): still nothing released: the mapping's vm_file holds the DRM file.
 *   fdC = cirrus; dbX imported into cirrus (a cross-device attach), its handle closed, fdC closed.
 *   munmap(X): drm_gem_vm_close puts X's mapping reference, and the fput of the vm_file is the
 *   DRM file's last: drm_release -> drm_gem_release runs in the munmap (no handles left).
 *   close(dbX): the dma-buf's release puts its reference on X: X is freed.
 * Clean: nothing is left. */
#include "gemtrace.h"

int main(void)
{
	uint32_t hX = 0, pitch = 0, hC = 0;
	uint64_t sz = 0;
	int fdA = gt_open_driver("vgem");
	if (fdA < 0) return 1;
	GT_CHECK(gt_create_dumb(fdA, 64, 64, 32, &hX, &pitch, &sz));
	uint8_t *m = gt_map_dumb(fdA, hX, sz);
	if (m) memset(m, 0x5a, sz);
	int dbX = gt_export(fdA, hX);
	int fdA2 = dup(fdA);
	gt_mark("dup(vgem fd=%d) -> fd=%d", fdA, fdA2);
	gt_close(fdA, "vgem fdA (its dup stays open)");
	gt_gem_close(fdA2, hX);
	gt_close(fdA2, "vgem fdA2 (the mapping still holds the file)");
	int fdC = gt_open_driver("cirrus");
	if (fdC >= 0 && dbX >= 0) {
		if (gt_import(fdC, dbX, &hC) == 0) gt_gem_close(fdC, hC);
		gt_close(fdC, "cirrus fdC");
	}
	if (m) {
		gt_mark("munmap X %p: the vma's file was the DRM file's last reference", m);
		munmap(m, sz);
	}
	if (dbX >= 0) gt_close(dbX, "dmabuf X (last reference on X)");
	gt_mark("done");
	return 0;
}
