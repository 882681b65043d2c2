/* cirrus_flip.c - scanout with legacy page flips, GETFB2 and removing the framebuffer on screen:
 *   two cirrus dumb BOs, a framebuffer on each; SETCRTC shows A; PAGE_FLIP to B, back to A and
 *   to B again (each flip: an atomic commit that takes the new fb, vmaps its BO through the
 *   shadow plane, and lets go of the old one once the commit is done); GETFB2 on the fb on
 *   screen gives this file a new handle on its BO; RMFB of the fb on screen turns the CRTC off
 *   (drm_framebuffer_remove); the handles are closed; the file is closed with fb A still
 *   existing (drm_fb_release removes it).  */
#include "gemtrace.h"

struct drm_mode_crtc_page_flip { uint32_t crtc_id, fb_id, flags, reserved; uint64_t user_data; };
#define DRM_IOCTL_MODE_PAGE_FLIP DRM_IOWR(0xB0, struct drm_mode_crtc_page_flip)
#define DRM_IOCTL_MODE_GETFB2    DRM_IOWR(0xCE, struct drm_mode_fb_cmd2)

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

static int add_fb(int fd, uint32_t handle, uint32_t w, uint32_t h, uint32_t pitch, uint32_t *fb_id)
{
	struct drm_mode_fb_cmd2 f = { .width = w, .height = h, .pixel_format = DRM_FORMAT_XRGB8888 };
	f.handles[0] = handle; f.pitches[0] = pitch;
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_ADDFB2, &f);
	gt_mark("ADDFB2 fd=%d handle=%u %ux%u pitch=%u -> %d fb_id=%u", fd, handle, w, h, pitch, r, f.fb_id);
	*fb_id = f.fb_id;
	return r;
}

static int set_crtc(int fd, uint32_t crtc, uint32_t conn, uint32_t fb, struct drm_mode_modeinfo *mode)
{
	struct drm_mode_crtc c = { .crtc_id = crtc, .fb_id = fb };
	if (fb) { c.set_connectors_ptr = (uintptr_t)&conn; c.count_connectors = 1; c.mode_valid = 1; c.mode = *mode; }
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &c);
	gt_mark("SETCRTC crtc=%u fb=%u -> %d%s%s", crtc, fb, r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

static int flip(int fd, uint32_t crtc, uint32_t fb)
{
	struct drm_mode_crtc_page_flip f = { .crtc_id = crtc, .fb_id = fb };
	int r;
	/* a flip while the previous commit is still pending fails with EBUSY: retry */
	for (int tries = 0; tries < 200; tries++) {
		r = ioctl(fd, DRM_IOCTL_MODE_PAGE_FLIP, &f);
		if (r == 0 || errno != EBUSY) break;
		usleep(5000);
	}
	gt_mark("PAGE_FLIP crtc=%u fb=%u -> %d%s%s", crtc, fb, r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

int main(void)
{
	int cr = gt_open_driver("cirrus");
	if (cr < 0)
		cr = gt_open_driver("cirrus-qemu");
	if (cr < 0) return 1;
	GT_CHECK(gt_ioctl(cr, DRM_IOCTL_SET_MASTER, NULL));
	uint32_t crtc = 0, conn = 0; struct drm_mode_modeinfo mode;
	if (find_output(cr, &crtc, &conn, &mode)) { gt_mark("no cirrus output found"); return 1; }
	uint32_t W = mode.hdisplay, H = mode.vdisplay;
	gt_mark("cirrus output crtc=%u connector=%u %ux%u", crtc, conn, W, H);

	uint32_t ha, hb, pa, pb; uint64_t sa, sb; uint32_t fa = 0, fb = 0;
	if (gt_create_dumb(cr, W, H, 32, &ha, &pa, &sa) || gt_create_dumb(cr, W, H, 32, &hb, &pb, &sb)) return 1;
	uint32_t *q = gt_map_dumb(cr, ha, sa);
	if (q) { for (uint64_t i = 0; i < sa / 4; i++) q[i] = 0x00204080; munmap(q, sa); }
	if (add_fb(cr, ha, W, H, pa, &fa) || add_fb(cr, hb, W, H, pb, &fb)) return 1;

	set_crtc(cr, crtc, conn, fa, &mode);
	flip(cr, crtc, fb);
	flip(cr, crtc, fa);
	flip(cr, crtc, fb);
	usleep(100000);  /* let the last commit finish */

	gt_mark("GETFB2 on the fb on screen: a new handle on its BO in this file");
	struct drm_mode_fb_cmd2 g = { .fb_id = fb };
	int r = gt_ioctl(cr, DRM_IOCTL_MODE_GETFB2, &g);
	gt_mark("GETFB2 fb=%u -> %d handle=%u", fb, r, g.handles[0]);
	if (r == 0 && g.handles[0]) gt_gem_close(cr, g.handles[0]);

	gt_mark("RMFB of the fb on screen: the CRTC is turned off");
	r = gt_ioctl(cr, DRM_IOCTL_MODE_RMFB, &fb);
	gt_mark("RMFB fb=%u -> %d", fb, r);
	gt_gem_close(cr, hb);
	gt_gem_close(cr, ha);
	gt_mark("close the cirrus file with fb %u still there (drm_fb_release)", fa);
	gt_close(cr, "cirrus fd");
	gt_mark("done");
	return 0;
}
