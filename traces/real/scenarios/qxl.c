/* qxl.c - qxl (QEMU -vga qxl), a TTM driver with its own BOs (qxl_bo) and device-side
 *   releases: three dumb BOs A, B (screen size) and C (64x64). A written through a MAP_DUMB
 *   mapping (TTM's vm_ops), unmapped; B mapped and kept. Framebuffers on A and B; SETCRTC
 *   shows A, an atomic flip to B, a nonblocking one back to A. C exported, its dma-buf
 *   mmapped, imported into vgem (which fails: qxl has no sg table to give) and into qxl
 *   itself. C's handle, fd and mapping go in that order; B's framebuffer and handle go while
 *   it is mapped; the file is closed with A still shown. The same steps as bochs_vram.c and
 *   virtio_gpu.c, on the qxl card. */
#include "gemtrace.h"

#define DRM_IOCTL_MODE_GETFB         DRM_IOWR(0xAD, struct drm_mode_fb_cmd)
#define DRM_IOCTL_MODE_ADDFB         DRM_IOWR(0xAE, struct drm_mode_fb_cmd)
#define DRM_IOCTL_MODE_GETPLANERESOURCES DRM_IOWR(0xB5, struct drm_mode_get_plane_res)
#define DRM_IOCTL_MODE_GETPLANE      DRM_IOWR(0xB6, struct drm_mode_get_plane)
#define DRM_IOCTL_MODE_OBJ_GETPROPERTIES DRM_IOWR(0xB9, struct drm_mode_obj_get_properties)
#define DRM_IOCTL_MODE_GETPROPERTY   DRM_IOWR(0xAA, struct drm_mode_get_property)
#define DRM_IOCTL_MODE_ATOMIC        DRM_IOWR(0xBC, struct drm_mode_atomic)
#define DRM_IOCTL_MODE_CLOSEFB       DRM_IOWR(0xD0, struct drm_mode_closefb)
#define DRM_CLIENT_CAP_UNIVERSAL_PLANES 2
#define DRM_CLIENT_CAP_ATOMIC 3
#define DRM_MODE_OBJECT_PLANE 0xeeeeeeee
#define DRM_MODE_PAGE_FLIP_EVENT 0x01
#define DRM_MODE_ATOMIC_NONBLOCK 0x0200

struct drm_mode_fb_cmd { uint32_t fb_id, width, height, pitch, bpp, depth, handle; };
struct drm_mode_get_plane_res { uint64_t plane_id_ptr; uint32_t count_planes; };
struct drm_mode_get_plane { uint32_t plane_id, crtc_id, fb_id, possible_crtcs, gamma_size,
	count_format_types; uint64_t format_type_ptr; };
struct drm_mode_obj_get_properties { uint64_t props_ptr, prop_values_ptr; uint32_t count_props,
	obj_id, obj_type; };
struct drm_mode_get_property { uint64_t values_ptr, enum_blob_ptr; uint32_t prop_id, flags;
	char name[32]; uint32_t count_values, count_enum_blobs; };
struct drm_mode_atomic { uint32_t flags, count_objs; uint64_t objs_ptr, count_props_ptr, props_ptr,
	prop_values_ptr, reserved, user_data; };
struct drm_mode_closefb { uint32_t fb_id, pad; };

static int find_output(int fd, uint32_t *crtc_id, uint32_t *conn_id, struct drm_mode_modeinfo *mode)
{
	uint32_t crtcs[8], conns[8], encs[8];
	struct drm_mode_card_res res = {0};
	if (gt_ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res)) return -1;
	if (res.count_crtcs > 8 || res.count_connectors > 8 || res.count_encoders > 8) return -1;
	res.count_fbs = 0; res.fb_id_ptr = 0;
	res.crtc_id_ptr = (uintptr_t)crtcs; res.connector_id_ptr = (uintptr_t)conns; res.encoder_id_ptr = (uintptr_t)encs;
	if (gt_ioctl(fd, DRM_IOCTL_MODE_GETRESOURCES, &res)) return -1;
	for (uint32_t i = 0; i < res.count_connectors; i++) {
		struct drm_mode_get_connector c = { .connector_id = conns[i] };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &c)) continue;
		struct drm_mode_modeinfo *modes = calloc(c.count_modes ? c.count_modes : 1, sizeof *modes);
		uint32_t n = c.count_modes;
		struct drm_mode_get_connector c2 = { .connector_id = conns[i], .count_modes = n, .modes_ptr = (uintptr_t)modes };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &c2)) { free(modes); continue; }
		for (uint32_t m = 0; m < c2.count_modes && m < n; m++) {
			if (modes[m].hdisplay == 640 && modes[m].vdisplay == 480) {
				*mode = modes[m]; *crtc_id = crtcs[0]; *conn_id = conns[i];
				free(modes); return 0;
			}
		}
		if (n) { *mode = modes[n - 1]; *crtc_id = crtcs[0]; *conn_id = conns[i]; free(modes); return 0; }
		free(modes);
	}
	return -1;
}

/* the primary plane on `crtc` (the one the legacy SETCRTC put an fb on) and its FB_ID property */
static int find_plane(int fd, uint32_t *plane, uint32_t *fb_prop)
{
	uint32_t ids[16];
	struct drm_mode_get_plane_res r = { .plane_id_ptr = (uintptr_t)ids, .count_planes = 16 };
	if (gt_ioctl(fd, DRM_IOCTL_MODE_GETPLANERESOURCES, &r)) return -1;
	for (uint32_t i = 0; i < r.count_planes && i < 16; i++) {
		struct drm_mode_get_plane p = { .plane_id = ids[i] };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETPLANE, &p) || !p.fb_id) continue;
		uint32_t props[32]; uint64_t values[32];
		struct drm_mode_obj_get_properties o = { .props_ptr = (uintptr_t)props,
			.prop_values_ptr = (uintptr_t)values, .count_props = 32, .obj_id = ids[i],
			.obj_type = DRM_MODE_OBJECT_PLANE };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_OBJ_GETPROPERTIES, &o)) continue;
		for (uint32_t j = 0; j < o.count_props && j < 32; j++) {
			struct drm_mode_get_property g = { .prop_id = props[j] };
			if (gt_ioctl(fd, DRM_IOCTL_MODE_GETPROPERTY, &g)) continue;
			if (!strcmp(g.name, "FB_ID")) { *plane = ids[i]; *fb_prop = props[j]; return 0; }
		}
	}
	return -1;
}

static int atomic_flip(int fd, uint32_t plane, uint32_t fb_prop, uint32_t fb, uint32_t flags)
{
	uint32_t objs[1] = { plane }, counts[1] = { 1 }, props[1] = { fb_prop };
	uint64_t values[1] = { fb };
	struct drm_mode_atomic a = { .flags = flags, .count_objs = 1, .objs_ptr = (uintptr_t)objs,
		.count_props_ptr = (uintptr_t)counts, .props_ptr = (uintptr_t)props,
		.prop_values_ptr = (uintptr_t)values };
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_ATOMIC, &a);
	gt_mark("ATOMIC plane=%u FB_ID=%u flags=0x%x -> %d%s%s", plane, fb, flags, r, r ? " " : "",
		r ? strerror(errno) : "");
	return r;
}


/* an fd of a dma-buf mapped: dma_buf_mmap -> drm_gem_prime_mmap */
static void *map_dmabuf(int dfd, size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, dfd, 0);
	gt_mark("mmap dmabuf_fd=%d -> %p%s%s", dfd, p == MAP_FAILED ? NULL : p,
		p == MAP_FAILED ? " " : "", p == MAP_FAILED ? strerror(errno) : "");
	return p == MAP_FAILED ? NULL : p;
}

int main(void)
{
	int bo = gt_open_driver("qxl");
	if (bo < 0) return 1;
	int vg = gt_open_driver("vgem");
	GT_CHECK(gt_ioctl(bo, DRM_IOCTL_SET_MASTER, NULL));
	uint32_t crtc = 0, conn = 0; struct drm_mode_modeinfo mode;
	if (find_output(bo, &crtc, &conn, &mode)) { gt_mark("no qxl output found"); return 1; }
	uint32_t W = mode.hdisplay, H = mode.vdisplay;
	uint32_t ha, hb, hc, p; uint64_t s;
	if (gt_create_dumb(bo, W, H, 32, &ha, &p, &s) || gt_create_dumb(bo, W, H, 32, &hb, &p, &s) ||
	    gt_create_dumb(bo, 64, 64, 32, &hc, NULL, NULL)) return 1;
	/* A written through a mapping (TTM's fault handler), the mapping dropped */
	uint32_t *ma = gt_map_dumb(bo, ha, s);
	if (ma) { for (size_t i = 0; i < s / 4; i += 1024) ma[i] = 0x00ff00u; munmap(ma, s); gt_mark("munmap A"); }
	/* B mapped and kept until after its handle and framebuffer are gone */
	uint32_t *mb = gt_map_dumb(bo, hb, s);
	if (mb) mb[0] = 0xff0000u;
	uint32_t fbs[2], hs[2] = { ha, hb };
	int r;
	for (int i = 0; i < 2; i++) {
		struct drm_mode_fb_cmd2 f = { .width = W, .height = H, .pixel_format = DRM_FORMAT_XRGB8888 };
		f.handles[0] = hs[i]; f.pitches[0] = p;
		r = gt_ioctl(bo, DRM_IOCTL_MODE_ADDFB2, &f);
		gt_mark("ADDFB2 handle=%u -> %d fb_id=%u", hs[i], r, f.fb_id);
		fbs[i] = r ? 0 : f.fb_id;
	}
	/* scanout: A's resource attached and flushed to the host */
	struct drm_mode_crtc c = { .crtc_id = crtc, .fb_id = fbs[0], .set_connectors_ptr = (uintptr_t)&conn,
		.count_connectors = 1, .mode_valid = 1, .mode = mode };
	r = gt_ioctl(bo, DRM_IOCTL_MODE_SETCRTC, &c);
	gt_mark("SETCRTC crtc=%u fb=%u -> %d", crtc, fbs[0], r);
	struct drm_set_client_cap cap = { DRM_CLIENT_CAP_UNIVERSAL_PLANES, 1 };
	GT_CHECK(gt_ioctl(bo, DRM_IOCTL_SET_CLIENT_CAP, &cap));
	cap.capability = DRM_CLIENT_CAP_ATOMIC;
	GT_CHECK(gt_ioctl(bo, DRM_IOCTL_SET_CLIENT_CAP, &cap));
	uint32_t plane = 0, fb_prop = 0;
	if (find_plane(bo, &plane, &fb_prop)) gt_mark("no plane with an fb found");
	/* flip to B, then back to A, nonblocking with an event */
	atomic_flip(bo, plane, fb_prop, fbs[1], 0);
	if (atomic_flip(bo, plane, fb_prop, fbs[0], DRM_MODE_ATOMIC_NONBLOCK | DRM_MODE_PAGE_FLIP_EVENT) == 0) {
		char ev[256];
		ssize_t n = read(bo, ev, sizeof ev);
		gt_mark("flip event read -> %zd", n);
	}
	/* C exported; its dma-buf mapped; imported into vgem, then into qxl itself */
	int dc = gt_export(bo, hc);
	void *mc = dc >= 0 ? map_dmabuf(dc, 64 * 64 * 4) : NULL;
	uint32_t hv = 0, hself = 0;
	if (dc >= 0 && vg >= 0 && gt_import(vg, dc, &hv) == 0) {
		int dv = gt_export(vg, hv); /* vgem re-exports the import: the same dma-buf */
		if (dv >= 0) gt_close(dv, "dma-buf fd (vgem re-export)");
		gt_gem_close(vg, hv);
	}
	if (dc >= 0 && gt_import(bo, dc, &hself) == 0) gt_mark("self import handle=%u (C's is %u)", hself, hc);
	/* C's handle closed: the dma-buf keeps it; the fd closed: the mapping keeps it */
	gt_gem_close(bo, hc);
	if (dc >= 0) gt_close(dc, "dma-buf fd C");
	if (mc) { munmap(mc, 64 * 64 * 4); gt_mark("munmap C"); }
	/* B: framebuffer removed and handle closed while mapped; the mapping frees it */
	r = gt_ioctl(bo, DRM_IOCTL_MODE_RMFB, &fbs[1]);
	gt_mark("RMFB fb=%u -> %d", fbs[1], r);
	gt_gem_close(bo, hb);
	if (mb) { munmap(mb, s); gt_mark("munmap B"); }
	/* A stays on the screen: its handle closed, the file closed with the framebuffer shown */
	gt_gem_close(bo, ha);
	gt_mark("close the files with fb %u still shown", fbs[0]);
	if (vg >= 0) gt_close(vg, "vgem fd");
	gt_close(bo, "qxl fd");
	gt_mark("done");
	return 0;
}
