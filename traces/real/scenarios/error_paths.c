/* error_paths.c - ioctls that fail, then clean use. Each failing call must leave no state.
 *   GEM_CLOSE of handle 0 and of an unused handle; double GEM_CLOSE
 *   GEM_OPEN of a bogus name; GEM_OPEN of a stale name (object freed after flink)
 *   GEM_FLINK of a bad handle
 *   PRIME_HANDLE_TO_FD of a bad handle
 *   PRIME_FD_TO_HANDLE of /dev/null, of the DRM fd itself, of -1, of a closed dma-buf fd
 *   MAP_DUMB of a bad handle; mmap of a bogus offset; mmap of another file's fake offset
 *   CREATE_DUMB with bpp=0 and with an absurd size
 * Then clean use: create, export, import into a 2nd file, mmap, close all. */
#include "gemtrace.h"

static int flink(int fd, uint32_t handle, uint32_t *name)
{
	struct drm_gem_flink fl = { .handle = handle };
	int r = gt_ioctl(fd, DRM_IOCTL_GEM_FLINK, &fl);
	gt_mark("GEM_FLINK fd=%d handle=%u -> %d %s name=%u", fd, handle, r, r ? strerror(errno) : "", fl.name);
	if (name) *name = fl.name;
	return r;
}
static int gem_open(int fd, uint32_t name, uint32_t *h)
{
	struct drm_gem_open op = { .name = name };
	int r = gt_ioctl(fd, DRM_IOCTL_GEM_OPEN, &op);
	gt_mark("GEM_OPEN fd=%d name=%u -> %d %s handle=%u", fd, name, r, r ? strerror(errno) : "", op.handle);
	if (h) *h = op.handle;
	return r;
}
static void import_expect_fail(int fd, int bad, const char *what)
{
	struct drm_prime_handle p = { .fd = bad };
	int r = gt_ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p);
	gt_mark("PRIME_FD_TO_HANDLE of %s (fd=%d) -> %d %s", what, bad, r, r ? strerror(errno) : "UNEXPECTED SUCCESS");
	if (!r) gt_gem_close(fd, p.handle);
}

int main(void)
{
	int fd = gt_open_driver("vgem"), fd2 = gt_open_driver("vgem");
	if (fd < 0 || fd2 < 0) return 1;
	uint32_t h = 0, h2 = 0, hs = 0, pitch, name = 0;
	uint64_t sz = 0;

	gt_mark("phase1: GEM_CLOSE errors");
	gt_gem_close(fd, 0);
	gt_gem_close(fd, 4242);
	GT_CHECK(gt_create_dumb(fd, 32, 32, 32, &h, &pitch, &sz));
	gt_gem_close(fd, h);
	gt_gem_close(fd, h);          /* double close: -EINVAL */

	gt_mark("phase2: GEM_OPEN / FLINK errors");
	gem_open(fd, 0x7ffff, NULL);  /* bogus name */
	flink(fd, 4242, NULL);        /* bad handle */
	flink(fd, 0, NULL);
	GT_CHECK(gt_create_dumb(fd, 32, 32, 32, &hs, &pitch, &sz));
	flink(fd, hs, &name);
	gt_gem_close(fd, hs);         /* last handle: object freed, name removed */
	gem_open(fd2, name, NULL);    /* stale name: -ENOENT */

	gt_mark("phase3: PRIME errors");
	{
		struct drm_prime_handle p = { .handle = 4242, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
		int r = gt_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);
		gt_mark("PRIME_HANDLE_TO_FD bad handle -> %d %s", r, r ? strerror(errno) : "UNEXPECTED");
	}
	int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
	import_expect_fail(fd, dn, "/dev/null");
	close(dn);
	import_expect_fail(fd, fd, "the DRM fd itself");
	import_expect_fail(fd, -1, "fd -1");
	{
		uint32_t ht = 0;
		GT_CHECK(gt_create_dumb(fd, 16, 16, 32, &ht, &pitch, NULL));
		int db = gt_export(fd, ht);
		gt_close(db, "dmabuf (then import the closed fd number)");
		import_expect_fail(fd2, db, "a closed dma-buf fd");
		gt_gem_close(fd, ht);
	}

	gt_mark("phase4: MAP_DUMB / mmap errors");
	{
		struct drm_mode_map_dumb m = { .handle = 4242 };
		int r = gt_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m);
		gt_mark("MAP_DUMB bad handle -> %d %s", r, r ? strerror(errno) : "UNEXPECTED");
		void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0x100000000ull);
		gt_mark("mmap bogus offset -> %s", p == MAP_FAILED ? strerror(errno) : "UNEXPECTED");
		if (p != MAP_FAILED) munmap(p, 4096);
		uint32_t hx = 0; uint64_t szx = 0;
		GT_CHECK(gt_create_dumb(fd, 32, 32, 32, &hx, &pitch, &szx));
		struct drm_mode_map_dumb mx = { .handle = hx };
		GT_CHECK(gt_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &mx));
		p = mmap(NULL, szx, PROT_READ, MAP_SHARED, fd2, mx.offset);   /* other file: not allowed */
		gt_mark("mmap fd2 with fd's offset 0x%llx -> %s", (unsigned long long)mx.offset, p == MAP_FAILED ? strerror(errno) : "UNEXPECTED");
		if (p != MAP_FAILED) munmap(p, szx);
		gt_gem_close(fd, hx);
	}

	gt_mark("phase5: CREATE_DUMB errors");
	{
		struct drm_mode_create_dumb c = { .height = 32, .width = 32, .bpp = 0 };
		int r = gt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c);
		gt_mark("CREATE_DUMB bpp=0 -> %d %s handle=%u", r, r ? strerror(errno) : "", c.handle);
		if (!r) gt_gem_close(fd, c.handle);
		struct drm_mode_create_dumb c2 = { .height = 65535, .width = 65535, .bpp = 32 };
		r = gt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c2);
		gt_mark("CREATE_DUMB 65535x65535 -> %d %s handle=%u", r, r ? strerror(errno) : "", c2.handle);
		if (!r) gt_gem_close(fd, c2.handle);
	}

	gt_mark("phase6: clean use");
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &h, &pitch, &sz));
	int db = gt_export(fd, h);
	if (db >= 0) {
		GT_CHECK(gt_import(fd2, db, &h2));
		uint8_t *m = gt_map_dumb(fd2, h2, sz);
		if (m) { memset(m, 0x5a, sz); munmap(m, sz); gt_mark("munmap"); }
		gt_gem_close(fd2, h2);
		gt_close(db, "dmabuf");
	}
	gt_gem_close(fd, h);
	gt_close(fd2, "vgem fd2");
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
