/* gemtrace.h - tiny self-contained helper for DRM/GEM trace scenarios.
 * No libdrm needed: the few uapi structs/ioctls are restated here (Linux uapi,
 * include/uapi/drm/{drm.h,drm_mode.h,vgem_drm.h}, identical in 6.1 and 6.12).
 * Build: gcc -static -O2 -o scenario scenario.c   (scenario.c includes this). */
#ifndef GEMTRACE_H
#define GEMTRACE_H
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <stdarg.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/dma-buf.h>

struct drm_version { int version_major, version_minor, version_patchlevel;
	size_t name_len; char *name; size_t date_len; char *date; size_t desc_len; char *desc; };
struct drm_gem_close { uint32_t handle, pad; };
struct drm_gem_flink { uint32_t handle, name; };
struct drm_gem_open { uint32_t name, handle; uint64_t size; };
struct drm_get_cap { uint64_t capability, value; };
struct drm_set_client_cap { uint64_t capability, value; };
struct drm_prime_handle { uint32_t handle, flags; int32_t fd; };
struct drm_mode_create_dumb { uint32_t height, width, bpp, flags, handle, pitch; uint64_t size; };
struct drm_mode_map_dumb { uint32_t handle, pad; uint64_t offset; };
struct drm_mode_destroy_dumb { uint32_t handle; };
struct drm_mode_modeinfo { uint32_t clock; uint16_t hdisplay, hsync_start, hsync_end, htotal, hskew,
	vdisplay, vsync_start, vsync_end, vtotal, vscan; uint32_t vrefresh, flags, type; char name[32]; };
struct drm_mode_card_res { uint64_t fb_id_ptr, crtc_id_ptr, connector_id_ptr, encoder_id_ptr;
	uint32_t count_fbs, count_crtcs, count_connectors, count_encoders,
	min_width, max_width, min_height, max_height; };
struct drm_mode_crtc { uint64_t set_connectors_ptr; uint32_t count_connectors, crtc_id, fb_id, x, y,
	gamma_size, mode_valid; struct drm_mode_modeinfo mode; };
struct drm_mode_get_connector { uint64_t encoders_ptr, modes_ptr, props_ptr, prop_values_ptr;
	uint32_t count_modes, count_props, count_encoders, encoder_id, connector_id, connector_type,
	connector_type_id, connection, mm_width, mm_height, subpixel, pad; };
struct drm_mode_fb_cmd2 { uint32_t fb_id, width, height, pixel_format, flags;
	uint32_t handles[4], pitches[4], offsets[4]; uint64_t modifier[4]; };
struct drm_mode_fb_dirty_cmd { uint32_t fb_id, flags, color, num_clips; uint64_t clips_ptr; };
struct drm_vgem_fence_attach { uint32_t handle, flags, out_fence, pad; };
struct drm_vgem_fence_signal { uint32_t fence, flags; };

#define DRM_IOCTL_BASE 'd'
#define DRM_IO(nr)          _IO(DRM_IOCTL_BASE, nr)
#define DRM_IOW(nr, t)      _IOW(DRM_IOCTL_BASE, nr, t)
#define DRM_IOWR(nr, t)     _IOWR(DRM_IOCTL_BASE, nr, t)
#define DRM_IOCTL_VERSION            DRM_IOWR(0x00, struct drm_version)
#define DRM_IOCTL_GEM_CLOSE          DRM_IOW(0x09, struct drm_gem_close)
#define DRM_IOCTL_GEM_FLINK          DRM_IOWR(0x0a, struct drm_gem_flink)
#define DRM_IOCTL_GEM_OPEN           DRM_IOWR(0x0b, struct drm_gem_open)
#define DRM_IOCTL_GET_CAP            DRM_IOWR(0x0c, struct drm_get_cap)
#define DRM_IOCTL_SET_CLIENT_CAP     DRM_IOW(0x0d, struct drm_set_client_cap)
#define DRM_IOCTL_SET_MASTER         DRM_IO(0x1e)
#define DRM_IOCTL_PRIME_HANDLE_TO_FD DRM_IOWR(0x2d, struct drm_prime_handle)
#define DRM_IOCTL_PRIME_FD_TO_HANDLE DRM_IOWR(0x2e, struct drm_prime_handle)
#define DRM_IOCTL_MODE_GETRESOURCES  DRM_IOWR(0xA0, struct drm_mode_card_res)
#define DRM_IOCTL_MODE_SETCRTC       DRM_IOWR(0xA2, struct drm_mode_crtc)
#define DRM_IOCTL_MODE_GETCONNECTOR  DRM_IOWR(0xA7, struct drm_mode_get_connector)
#define DRM_IOCTL_MODE_RMFB          DRM_IOWR(0xAF, unsigned int)
#define DRM_IOCTL_MODE_DIRTYFB       DRM_IOWR(0xB1, struct drm_mode_fb_dirty_cmd)
#define DRM_IOCTL_MODE_CREATE_DUMB   DRM_IOWR(0xB2, struct drm_mode_create_dumb)
#define DRM_IOCTL_MODE_MAP_DUMB      DRM_IOWR(0xB3, struct drm_mode_map_dumb)
#define DRM_IOCTL_MODE_DESTROY_DUMB  DRM_IOWR(0xB4, struct drm_mode_destroy_dumb)
#define DRM_IOCTL_MODE_ADDFB2        DRM_IOWR(0xB8, struct drm_mode_fb_cmd2)
#define DRM_COMMAND_BASE 0x40
#define DRM_IOCTL_VGEM_FENCE_ATTACH  DRM_IOWR(DRM_COMMAND_BASE + 1, struct drm_vgem_fence_attach)
#define DRM_IOCTL_VGEM_FENCE_SIGNAL  DRM_IOW(DRM_COMMAND_BASE + 2, struct drm_vgem_fence_signal)
#define DRM_CLOEXEC O_CLOEXEC
#define DRM_RDWR    O_RDWR
#define VGEM_FENCE_WRITE 0x1
#define DRM_MODE_CONNECTED 1
#define DRM_FORMAT_XRGB8888 0x34325258u /* fourcc 'XR24' */

/* ---- annotations: every gt_* call writes a line to the ftrace buffer ---- */
static __attribute__((unused)) int gt_marker_fd = -2;
static void gt_mark(const char *fmt, ...)
{
	char buf[512]; va_list ap; int n;
	if (gt_marker_fd == -2)
		gt_marker_fd = open("/sys/kernel/tracing/trace_marker", O_WRONLY | O_CLOEXEC);
	va_start(ap, fmt); n = vsnprintf(buf, sizeof buf, fmt, ap); va_end(ap);
	if (n < 0) return;
	if (n > (int)sizeof buf - 1) n = sizeof buf - 1;
	if (gt_marker_fd >= 0) { ssize_t r = write(gt_marker_fd, buf, n); (void)r; }
	printf("[scenario] %s\n", buf); fflush(stdout);
}
#define GT_CHECK(expr) do { if ((expr) < 0) { gt_mark("FAIL %s: %s (line %d)", #expr, strerror(errno), __LINE__); } } while (0)

static __attribute__((unused)) int gt_ioctl(int fd, unsigned long req, void *arg)
{
	int r;
	do { r = ioctl(fd, req, arg); } while (r == -1 && (errno == EINTR || errno == EAGAIN));
	return r;
}

/* open the first /dev/dri/cardN whose driver name equals `driver` (e.g. "vgem", "cirrus") */
static __attribute__((unused)) int gt_open_driver(const char *driver)
{
	for (int i = 0; i < 16; i++) {
		char path[64], name[64] = {0};
		snprintf(path, sizeof path, "/dev/dri/card%d", i);
		int fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0) continue;
		struct drm_version v = { .name_len = sizeof name - 1, .name = name };
		if (gt_ioctl(fd, DRM_IOCTL_VERSION, &v) == 0 && strcmp(name, driver) == 0) {
			gt_mark("open %s -> fd=%d driver=%s", path, fd, name);
			return fd;
		}
		close(fd);
	}
	gt_mark("open driver %s: not found", driver);
	return -1;
}

static __attribute__((unused)) int gt_create_dumb(int fd, uint32_t w, uint32_t h, uint32_t bpp, uint32_t *handle, uint32_t *pitch, uint64_t *size)
{
	struct drm_mode_create_dumb c = { .height = h, .width = w, .bpp = bpp };
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_CREATE_DUMB, &c);
	if (r) { gt_mark("CREATE_DUMB fd=%d %ux%ux%u failed: %s", fd, w, h, bpp, strerror(errno)); return -1; }
	*handle = c.handle; if (pitch) *pitch = c.pitch; if (size) *size = c.size;
	gt_mark("CREATE_DUMB fd=%d %ux%ux%u -> handle=%u pitch=%u size=%llu", fd, w, h, bpp, c.handle, c.pitch, (unsigned long long)c.size);
	return 0;
}

static __attribute__((unused)) void *gt_map_dumb(int fd, uint32_t handle, size_t size)
{
	struct drm_mode_map_dumb m = { .handle = handle };
	if (gt_ioctl(fd, DRM_IOCTL_MODE_MAP_DUMB, &m)) { gt_mark("MAP_DUMB handle=%u failed: %s", handle, strerror(errno)); return NULL; }
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, m.offset);
	if (p == MAP_FAILED) { gt_mark("mmap handle=%u off=0x%llx failed: %s", handle, (unsigned long long)m.offset, strerror(errno)); return NULL; }
	gt_mark("MAP_DUMB+mmap fd=%d handle=%u offset=0x%llx -> %p", fd, handle, (unsigned long long)m.offset, p);
	return p;
}

static __attribute__((unused)) int gt_export(int fd, uint32_t handle)
{
	struct drm_prime_handle p = { .handle = handle, .flags = DRM_CLOEXEC | DRM_RDWR, .fd = -1 };
	if (gt_ioctl(fd, DRM_IOCTL_PRIME_HANDLE_TO_FD, &p)) { gt_mark("PRIME_HANDLE_TO_FD handle=%u failed: %s", handle, strerror(errno)); return -1; }
	gt_mark("PRIME_HANDLE_TO_FD fd=%d handle=%u -> dmabuf_fd=%d", fd, handle, p.fd);
	return p.fd;
}

static __attribute__((unused)) int gt_import(int fd, int dmabuf_fd, uint32_t *handle)
{
	struct drm_prime_handle p = { .fd = dmabuf_fd };
	if (gt_ioctl(fd, DRM_IOCTL_PRIME_FD_TO_HANDLE, &p)) { gt_mark("PRIME_FD_TO_HANDLE dmabuf_fd=%d failed: %s", dmabuf_fd, strerror(errno)); return -1; }
	*handle = p.handle;
	gt_mark("PRIME_FD_TO_HANDLE fd=%d dmabuf_fd=%d -> handle=%u", fd, dmabuf_fd, p.handle);
	return 0;
}

static __attribute__((unused)) int gt_gem_close(int fd, uint32_t handle)
{
	struct drm_gem_close c = { .handle = handle };
	int r = gt_ioctl(fd, DRM_IOCTL_GEM_CLOSE, &c);
	gt_mark("GEM_CLOSE fd=%d handle=%u -> %d%s%s", fd, handle, r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

static __attribute__((unused)) int gt_close(int fd, const char *what)
{
	gt_mark("close(%s fd=%d)", what, fd);
	return close(fd);
}

/* vgem only: attach an (unsignaled) fence to a BO; returns fence id or -1 */
static __attribute__((unused)) int gt_vgem_fence_attach(int fd, uint32_t handle, int write)
{
	struct drm_vgem_fence_attach a = { .handle = handle, .flags = write ? VGEM_FENCE_WRITE : 0 };
	if (gt_ioctl(fd, DRM_IOCTL_VGEM_FENCE_ATTACH, &a)) { gt_mark("VGEM_FENCE_ATTACH handle=%u failed: %s", handle, strerror(errno)); return -1; }
	gt_mark("VGEM_FENCE_ATTACH handle=%u write=%d -> fence=%u", handle, write, a.out_fence);
	return (int)a.out_fence;
}

static __attribute__((unused)) int gt_vgem_fence_signal(int fd, uint32_t fence)
{
	struct drm_vgem_fence_signal s = { .fence = fence };
	int r = gt_ioctl(fd, DRM_IOCTL_VGEM_FENCE_SIGNAL, &s);
	gt_mark("VGEM_FENCE_SIGNAL fence=%u -> %d%s%s", fence, r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

/* CPU access bracket on a dma-buf fd (DMA_BUF_IOCTL_SYNC) */
static __attribute__((unused)) int gt_dmabuf_sync(int dmabuf_fd, uint64_t flags)
{
	struct dma_buf_sync s = { .flags = flags };
	int r = gt_ioctl(dmabuf_fd, DMA_BUF_IOCTL_SYNC, &s);
	gt_mark("DMA_BUF_IOCTL_SYNC dmabuf_fd=%d flags=0x%llx -> %d", dmabuf_fd, (unsigned long long)flags, r);
	return r;
}
#endif
