/* reuse_stress.c - 300 create/close cycles of vgem dumb BOs so that the slab reuses object
 * addresses (same obj= for many generations), mixed with PRIME export/import, flink/open,
 * mmap/munmap. Two files fd1, fd2. Every object is released in its own cycle: clean.
 *   cycle i: create X in fd1 (size varies with i%3)
 *     i%5==0: MAP_DUMB+mmap, write, munmap
 *     i%7==0: export X, import into fd2, GEM_CLOSE fd2 handle, close dma-buf fd
 *     i%11==0: export X, mmap the dma-buf, close the dma-buf fd, GEM_CLOSE X, munmap (X freed here)
 *     i%13==0: flink X, GEM_OPEN in fd2, GEM_CLOSE fd2 handle
 *     GEM_CLOSE X (unless done above)
 * Every 50 cycles a marker. */
#include "gemtrace.h"

static int quiet_create(int fd, uint32_t w, uint32_t h, uint32_t *handle, uint64_t *size)
{
	struct drm_mode_create_dumb c = { .height = h, .width = w, .bpp = 32 };
	if (gt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c)) return -1;
	*handle = c.handle; *size = c.size; return 0;
}
static int quiet_close(int fd, uint32_t h)
{
	struct drm_gem_close c = { .handle = h };
	return gt_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
}

int main(void)
{
	int fd1 = gt_open_driver("vgem"), fd2 = gt_open_driver("vgem");
	if (fd1 < 0 || fd2 < 0) return 1;
	int errors = 0;
	for (int i = 0; i < 300; i++) {
		uint32_t h = 0; uint64_t sz = 0; int closed = 0;
		if (i % 50 == 0) gt_mark("cycle %d", i);
		static const uint32_t W[3] = { 32, 64, 16 };
		if (quiet_create(fd1, W[i % 3], 32, &h, &sz)) { errors++; continue; }
		if (i % 5 == 0) {
			struct drm_mode_map_dumb md = { .handle = h };
			if (gt_ioctl(fd1, DRM_IOCTL_MODE_MAP_DUMB, &md) == 0) {
				uint8_t *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd1, md.offset);
				if (p != MAP_FAILED) { memset(p, i, sz); munmap(p, sz); } else errors++;
			} else errors++;
		}
		if (i % 7 == 0) {
			struct drm_prime_handle e = { .handle = h, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
			if (gt_ioctl(fd1, DRM_IOCTL_PRIME_HANDLE_TO_FD, &e) == 0) {
				struct drm_prime_handle im = { .fd = e.fd };
				if (gt_ioctl(fd2, DRM_IOCTL_PRIME_FD_TO_HANDLE, &im) == 0) quiet_close(fd2, im.handle); else errors++;
				close(e.fd);
			} else errors++;
		}
		if (i % 11 == 0) {
			struct drm_prime_handle e = { .handle = h, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
			if (gt_ioctl(fd1, DRM_IOCTL_PRIME_HANDLE_TO_FD, &e) == 0) {
				uint8_t *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, e.fd, 0);
				close(e.fd);
				if (quiet_close(fd1, h)) errors++;
				closed = 1;
				if (p != MAP_FAILED) { memset(p, ~i, sz); munmap(p, sz); } else errors++;
			} else errors++;
		}
		if (!closed && i % 13 == 0) {
			struct drm_gem_flink fl = { .handle = h };
			if (gt_ioctl(fd1, DRM_IOCTL_GEM_FLINK, &fl) == 0) {
				struct drm_gem_open op = { .name = fl.name };
				if (gt_ioctl(fd2, DRM_IOCTL_GEM_OPEN, &op) == 0) quiet_close(fd2, op.handle); else errors++;
			} else errors++;
		}
		if (!closed && quiet_close(fd1, h)) errors++;
	}
	gt_mark("cycles done, errors=%d", errors);
	gt_close(fd2, "vgem fd2");
	gt_close(fd1, "vgem fd1");
	gt_mark("done");
	return errors ? 1 : 0;
}
