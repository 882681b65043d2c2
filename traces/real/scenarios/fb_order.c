/* fb_order.c - framebuffers removed in another order than they were made, some never shown:
 *   three cirrus dumb BOs A, B, C; ADDFB2 fa(A), fb(B), fc(C), fd2(A again: two framebuffers on
 *   one BO); SETCRTC shows fc; the handles of B and C are closed (their framebuffers keep them);
 *   RMFB fb (never shown) first, then fd2, then SETCRTC off and RMFB fc, and fa is left for the
 *   file's close (drm_fb_release). Each framebuffer holds a reference on its BO from ADDFB2 to
 *   its removal; which BO a removal puts is only said by the probes of the framebuffer's own
 *   functions. */
#include "gemtrace.h"

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

static uint32_t add_fb(int fd, uint32_t handle, uint32_t w, uint32_t h, uint32_t pitch)
{
	struct drm_mode_fb_cmd2 f = { .width = w, .height = h, .pixel_format = DRM_FORMAT_XRGB8888 };
	f.handles[0] = handle; f.pitches[0] = pitch;
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_ADDFB2, &f);
	gt_mark("ADDFB2 handle=%u -> %d fb_id=%u", handle, r, f.fb_id);
	return r ? 0 : f.fb_id;
}

static void set_crtc(int fd, uint32_t crtc, uint32_t conn, uint32_t fb, struct drm_mode_modeinfo *mode)
{
	struct drm_mode_crtc c = { .crtc_id = crtc, .fb_id = fb };
	if (fb) { c.set_connectors_ptr = (uintptr_t)&conn; c.count_connectors = 1; c.mode_valid = 1; c.mode = *mode; }
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &c);
	gt_mark("SETCRTC crtc=%u fb=%u -> %d", crtc, fb, r);
}

static void rmfb(int fd, uint32_t fb)
{
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_RMFB, &fb);
	gt_mark("RMFB fb=%u -> %d", fb, r);
}

int main(void)
{
	int cr = gt_open_driver("cirrus");
	if (cr < 0) cr = gt_open_driver("cirrus-qemu");
	if (cr < 0) return 1;
	GT_CHECK(gt_ioctl(cr, DRM_IOCTL_SET_MASTER, NULL));
	uint32_t crtc = 0, conn = 0; struct drm_mode_modeinfo mode;
	if (find_output(cr, &crtc, &conn, &mode)) { gt_mark("no cirrus output found"); return 1; }
	uint32_t W = mode.hdisplay, H = mode.vdisplay;
	uint32_t ha, hb, hc, p; uint64_t s;
	if (gt_create_dumb(cr, W, H, 32, &ha, &p, &s) || gt_create_dumb(cr, W, H, 32, &hb, &p, &s) ||
	    gt_create_dumb(cr, W, H, 32, &hc, &p, &s)) return 1;
	uint32_t fa = add_fb(cr, ha, W, H, p), fb = add_fb(cr, hb, W, H, p), fc = add_fb(cr, hc, W, H, p);
	uint32_t fa2 = add_fb(cr, ha, W, H, p);
	set_crtc(cr, crtc, conn, fc, &mode);
	gt_gem_close(cr, hb);
	gt_gem_close(cr, hc);
	gt_mark("remove the framebuffers out of order");
	rmfb(cr, fb);
	rmfb(cr, fa2);
	set_crtc(cr, crtc, conn, 0, &mode);
	rmfb(cr, fc);
	gt_gem_close(cr, ha);
	gt_mark("close the file with fb %u (on A) still there", fa);
	gt_close(cr, "cirrus fd");
	gt_mark("done");
	return 0;
}
