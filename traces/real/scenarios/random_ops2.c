/* random_ops2.c - random_ops.c with threads, page flips and PRIME scanout: vgem BOs are
 * sometimes made the screen's size so that an import into cirrus can be a framebuffer,
 * scanned out (the modeset vmaps the whole PRIME chain) and flipped to; a step may run on a
 * second thread (it shares the fds); a dma-buf may be synced for CPU access.
 *
 * From random_ops.c: a random walk of a well-behaved DRM client, drawn from SEED (a -DSEED or the
 * #define below): STEPS steps, each one of: create a dumb BO (vgem or cirrus), GEM_CLOSE,
 * MAP_DUMB+mmap, munmap, PRIME export (with or without O_CLOEXEC), PRIME import into any file,
 * close or dup a dma-buf fd, mmap a dma-buf, flink+GEM_OPEN, vgem fence attach/signal, ADDFB2,
 * RMFB, SETCRTC, close and reopen a vgem file, fork a child that does a few steps of its own on
 * the inherited fds and exits. At the end it either cleans up or just exits (the kernel's
 * cleanup, not a leak). Nothing in it is a kernel bug: every verdict should be clean, and every
 * counter the probes sample should agree with replay. */
#include "gemtrace.h"
#include <sys/wait.h>
#include <pthread.h>

#ifndef SEED
#define SEED 1
#endif
#ifndef STEPS
#define STEPS 140
#endif

static uint32_t rs;
static uint32_t rnd(uint32_t n) { rs ^= rs << 13; rs ^= rs >> 17; rs ^= rs << 5; return n ? rs % n : 0; }

#define NF 4          /* files: 0, 1, 3 vgem; 2 cirrus */
#define MAXH 48
#define MAXD 24
#define MAXM 24
#define MAXFB 6
#define MAXFE 12
struct handle { int f; uint32_t h; uint64_t size; uint32_t pitch, w, hgt; };
static struct handle hs[MAXH]; static int nh;
static int dfd[NF] = { -1, -1, -1, -1 };
static struct dbuf { int fd; uint64_t size; uint32_t pitch, w, hgt; } ds[MAXD]; static int nd;
static struct mapping { void *p; size_t sz; } ms[MAXM]; static int nm;
static uint32_t fbs[MAXFB]; static int nfb;
static struct fence { int f; uint32_t id; } fe[MAXFE]; static int nfe;
struct drm_mode_crtc_page_flip { uint32_t crtc_id, fb_id, flags, reserved; uint64_t user_data; };
#define DRM_IOCTL_MODE_PAGE_FLIP DRM_IOWR(0xB0, struct drm_mode_crtc_page_flip)
static int lit;
static uint32_t crtc, conn, W = 640, H = 480; static struct drm_mode_modeinfo mode; static int have_output;

static int find_output(int fd)
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
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &c) || !c.count_modes) continue;
		struct drm_mode_modeinfo *modes = calloc(c.count_modes, sizeof *modes);
		struct drm_mode_get_connector c2 = { .connector_id = conns[i], .count_modes = c.count_modes, .modes_ptr = (uintptr_t)modes };
		if (gt_ioctl(fd, DRM_IOCTL_MODE_GETCONNECTOR, &c2)) { free(modes); continue; }
		mode = modes[0];
		for (uint32_t m = 0; m < c2.count_modes && m < c.count_modes; m++)
			if (modes[m].hdisplay == 640 && modes[m].vdisplay == 480) mode = modes[m];
		crtc = crtcs[0]; conn = conns[i]; W = mode.hdisplay; H = mode.vdisplay;
		free(modes);
		return 0;
	}
	return -1;
}

static void add_handle(int f, uint32_t h, uint64_t size, uint32_t pitch, uint32_t w, uint32_t hgt, int dedupe)
{
	if (dedupe)
		for (int i = 0; i < nh; i++)
			if (hs[i].f == f && hs[i].h == h) return;  /* an import of a BO the file has: its handle again */
	if (nh < MAXH) hs[nh++] = (struct handle){ f, h, size, pitch, w, hgt };
}

static void drop_handle(int i) { hs[i] = hs[--nh]; }

static void *thread_steps(void *arg);

static void step(int child)
{
	int a = rnd(100);
	if (a < 14) {                                   /* create */
		int f = rnd(3) == 0 && dfd[2] >= 0 ? 2 : (rnd(2) ? 0 : 1);
		if (dfd[f] < 0 || nh >= MAXH) return;
		int screen = f == 2 || rnd(3) == 0;
		uint32_t w = screen ? W : 16 << rnd(4), hgt = screen ? H : 8 << rnd(3), h, pitch; uint64_t size;
		if (gt_create_dumb(dfd[f], w, hgt, 32, &h, &pitch, &size) == 0) add_handle(f, h, size, pitch, w, hgt, 0);
	} else if (a < 24) {                            /* GEM_CLOSE */
		if (!nh) return;
		int i = rnd(nh);
		gt_gem_close(dfd[hs[i].f], hs[i].h);
		drop_handle(i);
	} else if (a < 32) {                            /* MAP_DUMB + mmap */
		if (!nh || nm >= MAXM) return;
		int i = rnd(nh);
		void *p = gt_map_dumb(dfd[hs[i].f], hs[i].h, hs[i].size);
		if (p) { memset(p, a, 64); ms[nm++] = (struct mapping){ p, hs[i].size }; }
	} else if (a < 38) {                            /* munmap */
		if (!nm) return;
		int i = rnd(nm);
		gt_mark("munmap %p", ms[i].p);
		munmap(ms[i].p, ms[i].sz);
		ms[i] = ms[--nm];
	} else if (a < 48) {                            /* PRIME export */
		if (!nh || nd >= MAXD) return;
		int i = rnd(nh);
		struct drm_prime_handle p = { .handle = hs[i].h, .flags = (rnd(2) ? DRM_CLOEXEC : 0) | DRM_RDWR, .fd = -1 };
		int r = gt_ioctl(dfd[hs[i].f], DRM_IOCTL_PRIME_HANDLE_TO_FD, &p);
		gt_mark("PRIME_HANDLE_TO_FD file=%d handle=%u -> %d dmabuf_fd=%d", hs[i].f, hs[i].h, r, p.fd);
		if (r == 0) ds[nd++] = (struct dbuf){ p.fd, hs[i].size, hs[i].pitch, hs[i].w, hs[i].hgt };
	} else if (a < 58) {                            /* PRIME import */
		if (!nd) return;
		int i = rnd(nd), f = rnd(NF);
		uint32_t h;
		if (dfd[f] >= 0 && gt_import(dfd[f], ds[i].fd, &h) == 0) add_handle(f, h, ds[i].size, ds[i].pitch, ds[i].w, ds[i].hgt, 1);
	} else if (a < 65) {                            /* close a dma-buf fd */
		if (!nd) return;
		int i = rnd(nd);
		gt_close(ds[i].fd, "dma-buf");
		ds[i] = ds[--nd];
	} else if (a < 68) {                            /* dup a dma-buf fd */
		if (!nd || nd >= MAXD) return;
		int i = rnd(nd), fd = dup(ds[i].fd);
		gt_mark("dup(%d) -> %d", ds[i].fd, fd);
		if (fd >= 0) { ds[nd] = ds[i]; ds[nd++].fd = fd; }
	} else if (a < 73) {                            /* mmap a dma-buf */
		if (!nd || nm >= MAXM) return;
		int i = rnd(nd);
		void *p = mmap(NULL, ds[i].size, PROT_READ | PROT_WRITE, MAP_SHARED, ds[i].fd, 0);
		gt_mark("mmap dmabuf_fd=%d -> %p", ds[i].fd, p);
		if (p != MAP_FAILED) { ((volatile char *)p)[0] = 1; ms[nm++] = (struct mapping){ p, ds[i].size }; }
	} else if (a < 78) {                            /* flink + GEM_OPEN */
		if (!nh) return;
		int i = rnd(nh), f = rnd(NF);
		if (dfd[f] < 0) return;
		struct drm_gem_flink fl = { .handle = hs[i].h };
		if (gt_ioctl(dfd[hs[i].f], DRM_IOCTL_GEM_FLINK, &fl)) return;
		struct drm_gem_open op = { .name = fl.name };
		int r = gt_ioctl(dfd[f], DRM_IOCTL_GEM_OPEN, &op);
		gt_mark("FLINK file=%d handle=%u name=%u, GEM_OPEN file=%d -> %d handle=%u", hs[i].f, hs[i].h, fl.name, f, r, op.handle);
		if (r == 0) add_handle(f, op.handle, hs[i].size, hs[i].pitch, hs[i].w, hs[i].hgt, 0);
	} else if (a < 83) {                            /* vgem fence attach */
		if (!nh || nfe >= MAXFE) return;
		int i = rnd(nh);
		if (hs[i].f == 2) return;
		int id = gt_vgem_fence_attach(dfd[hs[i].f], hs[i].h, rnd(2));
		if (id >= 0) fe[nfe++] = (struct fence){ hs[i].f, (uint32_t)id };
	} else if (a < 87) {                            /* vgem fence signal */
		if (!nfe) return;
		int i = rnd(nfe);
		if (dfd[fe[i].f] >= 0) gt_vgem_fence_signal(dfd[fe[i].f], fe[i].id);
		fe[i] = fe[--nfe];
	} else if (a < 91) {                            /* ADDFB2 on a cirrus handle */
		if (!nh || nfb >= MAXFB || dfd[2] < 0) return;
		int i = rnd(nh);
		if (hs[i].f != 2 || !hs[i].pitch || hs[i].w != W || hs[i].hgt != H) return;
		struct drm_mode_fb_cmd2 f = { .width = hs[i].w, .height = hs[i].hgt, .pixel_format = DRM_FORMAT_XRGB8888 };
		f.handles[0] = hs[i].h; f.pitches[0] = hs[i].pitch;
		int r = gt_ioctl(dfd[2], DRM_IOCTL_MODE_ADDFB2, &f);
		gt_mark("ADDFB2 handle=%u -> %d fb_id=%u", hs[i].h, r, f.fb_id);
		if (r == 0) fbs[nfb++] = f.fb_id;
	} else if (a < 94) {                            /* RMFB */
		if (!nfb) return;
		int i = rnd(nfb);
		int r = gt_ioctl(dfd[2], DRM_IOCTL_MODE_RMFB, &fbs[i]);
		gt_mark("RMFB fb=%u -> %d", fbs[i], r);
		fbs[i] = fbs[--nfb];
	} else if (a < 96) {                            /* SETCRTC: scan a framebuffer out, or off */
		if (!have_output || child) return;
		uint32_t fb = nfb && rnd(3) ? fbs[rnd(nfb)] : 0;
		struct drm_mode_crtc c = { .crtc_id = crtc, .fb_id = fb };
		if (fb) { c.set_connectors_ptr = (uintptr_t)&conn; c.count_connectors = 1; c.mode_valid = 1; c.mode = mode; }
		int r;
		if (fb && lit && rnd(2)) {
			struct drm_mode_crtc_page_flip pf = { .crtc_id = crtc, .fb_id = fb };
			for (int t = 0; t < 100; t++) { r = ioctl(dfd[2], DRM_IOCTL_MODE_PAGE_FLIP, &pf); if (r == 0 || errno != EBUSY) break; usleep(5000); }
			gt_mark("PAGE_FLIP fb=%u -> %d", fb, r);
		} else {
			r = gt_ioctl(dfd[2], DRM_IOCTL_MODE_SETCRTC, &c);
			gt_mark("SETCRTC fb=%u -> %d", fb, r);
			if (r == 0) lit = fb != 0;
		}
	} else if (a < 97) {                            /* close a vgem file and open it again */
		int f = rnd(2) ? 1 : 3;
		if (dfd[f] < 0) return;
		gt_close(dfd[f], "vgem");
		for (int i = nh - 1; i >= 0; i--)
			if (hs[i].f == f) drop_handle(i);
		for (int i = nfe - 1; i >= 0; i--)
			if (fe[i].f == f) fe[i] = fe[--nfe];
		dfd[f] = gt_open_driver("vgem");
	} else if (a < 99 && nd) {                      /* CPU access to a dma-buf */
		int i = rnd(nd);
		gt_dmabuf_sync(ds[i].fd, DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW);
		gt_dmabuf_sync(ds[i].fd, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW);
	} else if (!child && rnd(2)) {                  /* a thread takes a few steps, main waits */
		pthread_t t;
		gt_mark("thread");
		if (pthread_create(&t, NULL, thread_steps, NULL) == 0) pthread_join(t, NULL);
	} else if (!child) {                            /* fork: the child steps on its own copies */
		gt_mark("fork");
		pid_t pid = fork();
		if (pid == 0) {
			int n = 2 + rnd(8);
			for (int i = 0; i < n; i++) step(1);
			gt_mark("child exits");
			_exit(0);
		}
		if (pid > 0) waitpid(pid, NULL, 0);
		rnd(7);  /* the parent's stream moves on differently from the child's */
	}
}

static void *thread_steps(void *arg)
{
	(void)arg;
	int n = 2 + rnd(6);
	for (int i = 0; i < n; i++) step(1);
	gt_mark("thread ends");
	return NULL;
}

int main(void)
{
	rs = (uint32_t)SEED * 2654435761u + 0x9e3779b9u;
	for (int i = 0; i < 5; i++) rnd(2);
	dfd[0] = gt_open_driver("vgem");
	dfd[1] = gt_open_driver("vgem");
	dfd[2] = gt_open_driver("cirrus");
	if (dfd[2] < 0) dfd[2] = gt_open_driver("cirrus-qemu");
	dfd[3] = gt_open_driver("vgem");
	if (dfd[0] < 0) return 1;
	if (dfd[2] >= 0 && gt_ioctl(dfd[2], DRM_IOCTL_SET_MASTER, NULL) == 0 && find_output(dfd[2]) == 0) have_output = 1;
	gt_mark("random_ops2 seed=%d steps=%d output=%d %ux%u", SEED, STEPS, have_output, W, H);
	for (int s = 0; s < STEPS; s++) step(0);
	if (rnd(2)) {
		gt_mark("clean up");
		if (have_output) { struct drm_mode_crtc c = { .crtc_id = crtc }; gt_ioctl(dfd[2], DRM_IOCTL_MODE_SETCRTC, &c); }
		while (nfb) { gt_ioctl(dfd[2], DRM_IOCTL_MODE_RMFB, &fbs[nfb - 1]); nfb--; }
		while (nfe) { gt_vgem_fence_signal(dfd[fe[nfe - 1].f], fe[nfe - 1].id); nfe--; }
		while (nm) { munmap(ms[nm - 1].p, ms[nm - 1].sz); nm--; }
		while (nd) { close(ds[nd - 1].fd); nd--; }
		while (nh) { gt_gem_close(dfd[hs[nh - 1].f], hs[nh - 1].h); nh--; }
		for (int f = 0; f < NF; f++) if (dfd[f] >= 0) close(dfd[f]);
	} else {
		gt_mark("exit with %d handles, %d dma-buf fds, %d mappings, %d fbs, %d fences left", nh, nd, nm, nfb, nfe);
	}
	gt_mark("done");
	return 0;
}
