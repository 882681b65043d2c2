/* exec_cloexec.c - exec with dma-buf and DRM fds open: the close-on-exec ones are closed by the
 * exec itself (no close syscall), the others survive into the new image.
 *   phase 1: vgem fd A (O_CLOEXEC), BO exported as a dma-buf fd (DRM_CLOEXEC), vgem fd B opened
 *   without O_CLOEXEC imports it; exec /proc/self/exe phase2 with B's number.
 *   phase 2: B's handle is closed, then B. */
#include "gemtrace.h"

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "phase2") == 0) {
		int b = atoi(argv[2]);
		gt_mark("phase 2: after exec, fd B=%d survives", b);
		gt_gem_close(b, 1);
		gt_close(b, "vgem fd B");
		gt_mark("done");
		return 0;
	}
	int a = gt_open_driver("vgem");
	if (a < 0) return 1;
	int b = -1;
	for (int i = 0; i < 16 && b < 0; i++) {
		char path[64]; snprintf(path, sizeof path, "/dev/dri/card%d", i);
		int fd = open(path, O_RDWR);  /* no O_CLOEXEC */
		if (fd < 0) continue;
		char name[64] = {0};
		struct drm_version v = { .name_len = sizeof name - 1, .name = name };
		if (gt_ioctl(fd, DRM_IOCTL_VERSION, &v) == 0 && strcmp(name, "vgem") == 0) b = fd; else close(fd);
	}
	gt_mark("vgem fd B=%d without O_CLOEXEC", b);
	uint32_t h, pitch; uint64_t sz;
	if (b < 0 || gt_create_dumb(a, 64, 64, 32, &h, &pitch, &sz)) return 1;
	int db = gt_export(a, h);
	uint32_t hb = 0;
	GT_CHECK(gt_import(b, db, &hb));
	char arg[16]; snprintf(arg, sizeof arg, "%d", b);
	gt_mark("exec: A (fd %d) and the dma-buf fd %d are close-on-exec", a, db);
	execl("/proc/self/exe", argv[0], "phase2", arg, (char *)NULL);
	gt_mark("exec failed: %s", strerror(errno));
	return 1;
}
