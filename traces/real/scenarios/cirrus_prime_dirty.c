/* cirrus_prime_dirty.c - a vgem BO imported into cirrus (KMS, GEM shmem + shadow plane),
 * scanned out and flushed with DIRTYFB several times, then torn down with the framebuffer
 * as the last owner of the whole PRIME chain.
 *
 *   1. vgem BO V (mode size, XRGB8888), CPU-filled through a vgem mmap, exported (dmabuf),
 *      imported into cirrus (handle I on the cirrus fd): dma_buf_attach + map_attachment,
 *      drm_gem_shmem_prime_import_sg_table creates the importer GEM object.
 *   2. ADDFB2 on I, SETCRTC: the modeset vmaps the imported object
 *      (drm_gem_fb_vmap -> drm_gem_shmem_vmap(import) -> dma_buf_vmap -> drm_gem_dmabuf_vmap
 *       -> drm_gem_vmap -> drm_gem_shmem_vmap(V)).
 *   3. DIRTYFB x4 (full frame, one clip, two clips, full frame after a CPU write to V):
 *      each is an atomic commit whose shadow-plane prepare/cleanup vmaps and vunmaps the fb.
 *   4. Teardown, framebuffer last: GEM_CLOSE(I), close(dmabuf), GEM_CLOSE(V) while the fb is
 *      still scanned out (the fb's object reference keeps I, and I's attachment keeps the
 *      dma-buf and V, alive); one more DIRTYFB on the now handle-less fb; SETCRTC off;
 *      RMFB -> drm_gem_fb_destroy drops I -> detach / dma-buf release -> V destroyed.
 * Deterministic, single-threaded. */
#include "gemtrace.h"

struct drm_clip_rect { unsigned short x1, y1, x2, y2; };

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
		uint32_t n = c.count_modes;
		struct drm_mode_modeinfo *modes = calloc(n ? n : 1, sizeof *modes);
		struct drm_mode_get_connector c2 = { .connector_id = conns[i], .count_modes = n, .modes_ptr = (uintptr_t)modes };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &c2)) { free(modes); continue; }
		for (uint32_t m = 0; m < c2.count_modes && m < n; m++) {
			if (modes[m].hdisplay == 640 && modes[m].vdisplay == 480) {   /* small: fast under TCG */
				*mode = modes[m]; *crtc_id = crtcs[0]; *conn_id = conns[i];
				free(modes); return 0;
			}
		}
		if (n) { *mode = modes[n - 1]; *crtc_id = crtcs[0]; *conn_id = conns[i]; free(modes); return 0; }
		free(modes);
	}
	return -1;
}

static int set_crtc(int fd, uint32_t crtc, uint32_t conn, uint32_t fb, struct drm_mode_modeinfo *mode)
{
	struct drm_mode_crtc c = { .crtc_id = crtc, .fb_id = fb };
	if (fb) { c.set_connectors_ptr = (uintptr_t)&conn; c.count_connectors = 1; c.mode_valid = 1; c.mode = *mode; }
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_SETCRTC, &c);
	gt_mark("SETCRTC crtc=%u fb=%u mode=%s -> %d%s%s", crtc, fb, fb ? mode->name : "off", r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

static int dirtyfb(int fd, uint32_t fb, struct drm_clip_rect *clips, uint32_t n, const char *what)
{
	struct drm_mode_fb_dirty_cmd d = { .fb_id = fb, .num_clips = n, .clips_ptr = (uintptr_t)clips };
	int r = gt_ioctl(fd, DRM_IOCTL_MODE_DIRTYFB, &d);
	gt_mark("DIRTYFB fb=%u clips=%u (%s) -> %d%s%s", fb, n, what, r, r ? " " : "", r ? strerror(errno) : "");
	return r;
}

int main(void)
{
	int vg = gt_open_driver("vgem");
	int cr = gt_open_driver("cirrus");
	if (cr < 0) /* its name on newer kernels (6.18: tiny/cirrus-qemu.c) */
		cr = gt_open_driver("cirrus-qemu");
	if (vg < 0 || cr < 0) return 1;
	GT_CHECK(gt_ioctl(cr, DRM_IOCTL_SET_MASTER, NULL));

	uint32_t crtc = 0, conn = 0; struct drm_mode_modeinfo mode;
	if (find_output(cr, &crtc, &conn, &mode)) { gt_mark("no cirrus output found"); return 1; }
	uint32_t W = mode.hdisplay, H = mode.vdisplay;
	gt_mark("cirrus output crtc=%u connector=%u mode=%s %ux%u", crtc, conn, mode.name, W, H);

	gt_mark("step1: vgem BO V %ux%u, CPU fill via vgem mmap, export, import into cirrus as I", W, H);
	uint32_t hv, pv; uint64_t sv;
	if (gt_create_dumb(vg, W, H, 32, &hv, &pv, &sv)) return 1;
	uint32_t *px = gt_map_dumb(vg, hv, sv);
	if (px) { for (uint64_t i = 0; i < sv / 4; i++) px[i] = 0x00336699; }
	int dmabuf = gt_export(vg, hv);
	uint32_t hi;
	if (dmabuf < 0 || gt_import(cr, dmabuf, &hi)) return 1;

	gt_mark("step2: ADDFB2 on I + SETCRTC (scanout vmaps the PRIME chain)");
	struct drm_mode_fb_cmd2 f = { .width = W, .height = H, .pixel_format = DRM_FORMAT_XRGB8888 };
	f.handles[0] = hi; f.pitches[0] = pv;
	int r = gt_ioctl(cr, DRM_IOCTL_MODE_ADDFB2, &f);
	gt_mark("ADDFB2 fd=%d handle=%u %ux%u pitch=%u -> %d fb_id=%u", cr, hi, W, H, pv, r, f.fb_id);
	if (r) return 1;
	uint32_t fb = f.fb_id;
	set_crtc(cr, crtc, conn, fb, &mode);

	gt_mark("step3: four DIRTYFB calls (each: atomic commit, shadow-plane vmap + vunmap)");
	dirtyfb(cr, fb, NULL, 0, "full frame");
	struct drm_clip_rect one[1] = { { 0, 0, 64, 64 } };
	dirtyfb(cr, fb, one, 1, "64x64 at 0,0");
	struct drm_clip_rect two[2] = { { 100, 100, 200, 150 }, { 300, 200, 320, 240 } };
	dirtyfb(cr, fb, two, 2, "two clips");
	if (px) { for (uint64_t i = 0; i < sv / 4; i++) px[i] = 0x00cc3300; gt_mark("CPU rewrite of V through the vgem mapping"); }
	dirtyfb(cr, fb, NULL, 0, "full frame after CPU write");
	if (px) { munmap(px, sv); gt_mark("munmap V (vgem mapping)"); }

	gt_mark("step4: drop every userspace reference while the fb still scans out I");
	gt_gem_close(cr, hi);
	gt_close(dmabuf, "dmabuf V");
	gt_gem_close(vg, hv);
	dirtyfb(cr, fb, NULL, 0, "fb whose BO has no handle left");

	gt_mark("step5: SETCRTC off, RMFB (fb is the last owner of I -> dma-buf -> V)");
	set_crtc(cr, crtc, conn, 0, &mode);
	r = gt_ioctl(cr, DRM_IOCTL_MODE_RMFB, &fb);
	gt_mark("RMFB fb=%u -> %d", fb, r);
	gt_close(cr, "cirrus fd");
	gt_close(vg, "vgem fd");
	gt_mark("done");
	return 0;
}
