/* lost_events.c - thousands of create/mmap/close cycles with a tiny ftrace buffer (BUFKB=64):
 * the ring buffer overruns, the trace loses events. The program itself is correct. */
#include "gemtrace.h"
int main(void)
{
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	int errors = 0;
	for (int i = 0; i < 3000; i++) {
		if (i % 500 == 0) gt_mark("cycle %d", i);
		struct drm_mode_create_dumb c = { .height = 16, .width = 16 + (i % 4) * 16, .bpp = 32 };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c)) { errors++; continue; }
		if (i % 10 == 0) {
			struct drm_mode_map_dumb md = { .handle = c.handle };
			if (gt_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0) {
				uint8_t *p = mmap(NULL, c.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, md.offset);
				if (p != MAP_FAILED) { p[0] = i; munmap(p, c.size); }
			}
		}
		struct drm_gem_close cl = { .handle = c.handle };
		if (gt_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &cl)) errors++;
	}
	gt_mark("done, errors=%d", errors);
	gt_close(fd, "vgem fd");
	return 0;
}
