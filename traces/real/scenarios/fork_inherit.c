/* fork_inherit.c - several processes share one DRM file and dma-buf fds through fork().
 *
 * The parent opens vgem (fd, one struct drm_file), creates A, B, C, D and exports B (dbB).
 * child1 (fork #1) inherits fd and dbB: they are the SAME struct file objects as the parent's,
 *   so handles are per-file, not per-process. child1:
 *     - GEM_CLOSEs A in the shared file (the parent's handle A is gone as well: A destroyed),
 *     - creates E in the shared file (the parent closes it later),
 *     - MAP_DUMB+mmap C, writes, munmaps,
 *     - imports dbB into the shared file (prime cache hit: returns B's existing handle),
 *     - opens its own vgem file, imports dbB there (new handle), GEM_CLOSEs it, closes its file,
 *     - closes its copies of fd and dbB (no release: the parent still holds the files), exits.
 * child2 (fork #2) inherits dbB, mmaps it and tells the parent (pipe). The parent then closes its
 *   dbB fd and GEM_CLOSEs B: B lives on through child2's dbB fd and its mapping. child2 writes
 *   through the mapping, munmaps, and exits WITHOUT closing dbB: the exit's fd-table teardown drops
 *   the last dma-buf file reference, so B is destroyed in child2's exit (clean: no handle involved).
 * Parent: waits for both, GEM_CLOSEs C, D, E, closes fd. Nothing left at exit.
 * Deterministic order through waitpid and pipes. */
#include "gemtrace.h"
#include <sys/wait.h>

int main(void)
{
	uint32_t hA = 0, hB = 0, hC = 0, hD = 0, pitch;
	uint64_t szC = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	gt_mark("phase1: parent pid=%d creates A B C D, exports B", getpid());
	GT_CHECK(gt_create_dumb(fd, 32, 32, 32, &hA, &pitch, NULL));
	GT_CHECK(gt_create_dumb(fd, 64, 32, 32, &hB, &pitch, NULL));
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &hC, &pitch, &szC));
	GT_CHECK(gt_create_dumb(fd, 16, 16, 32, &hD, &pitch, NULL));
	int dbB = gt_export(fd, hB);
	if (dbB < 0) return 1;

	gt_mark("phase2: fork child1 (inherits fd=%d and dbB=%d)", fd, dbB);
	int pw[2]; /* child1 -> parent: handle of E */
	if (pipe(pw)) return 1;
	pid_t c1 = fork();
	if (c1 == 0) {
		uint32_t hE = 0, hBself = 0, hBown = 0;
		close(pw[0]);
		gt_mark("child1 pid=%d: GEM_CLOSE A in the shared file", getpid());
		gt_gem_close(fd, hA);
		GT_CHECK(gt_create_dumb(fd, 32, 64, 32, &hE, &pitch, NULL));
		uint8_t *m = gt_map_dumb(fd, hC, szC);
		if (m) { memset(m, 0xc1, szC); int r = munmap(m, szC); gt_mark("child1 munmap C -> %d", r); }
		GT_CHECK(gt_import(fd, dbB, &hBself));
		gt_mark("child1: self-import of dbB into the shared file returned handle=%u (B=%u)", hBself, hB);
		int own = gt_open_driver("vgem");
		if (own >= 0) {
			GT_CHECK(gt_import(own, dbB, &hBown));
			gt_gem_close(own, hBown);
			gt_close(own, "child1's own vgem file");
		}
		ssize_t w = write(pw[1], &hE, sizeof hE); (void)w;
		close(pw[1]);
		gt_close(dbB, "child1's copy of dbB (file still held by parent)");
		gt_close(fd, "child1's copy of the vgem fd (file still held by parent)");
		gt_mark("child1 exit");
		_exit(0);
	}
	close(pw[1]);
	uint32_t hE = 0;
	if (read(pw[0], &hE, sizeof hE) != sizeof hE) gt_mark("FAIL read hE");
	close(pw[0]);
	int st = 0;
	waitpid(c1, &st, 0);
	gt_mark("phase3: parent: child1 exited status=%d, E=%u", st, hE);
	/* NB: no stale GEM_CLOSE(hA) here: child1 closed A and E then got the same handle number
	 * (idr reuses the lowest free id), so closing hA again would close E (a real user bug). */

	gt_mark("phase4: fork child2 (inherits dbB, mmaps it)");
	int p1[2], p2[2];
	if (pipe(p1) || pipe(p2)) return 1;
	pid_t c2 = fork();
	if (c2 == 0) {
		char ch = 'x';
		close(p1[0]); close(p2[1]);
		gt_close(fd, "child2's copy of the vgem fd");
		size_t sz = 64 * 32 * 4;
		uint8_t *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, dbB, 0);
		gt_mark("child2 pid=%d: mmap dbB -> %p", getpid(), m == MAP_FAILED ? NULL : m);
		ssize_t w = write(p1[1], &ch, 1); (void)w;
		ssize_t r = read(p2[0], &ch, 1); (void)r;   /* wait until parent dropped its refs */
		if (m != MAP_FAILED) {
			memset(m, 0xc2, sz);
			int u = munmap(m, sz);
			gt_mark("child2 munmap dbB mapping -> %d", u);
		}
		gt_mark("child2 exit without closing dbB: exit drops the last dma-buf reference");
		_exit(0);
	}
	close(p1[1]); close(p2[0]);
	char ch;
	if (read(p1[0], &ch, 1) != 1) gt_mark("FAIL read p1");
	gt_close(dbB, "parent's dbB (child2 still holds it)");
	gt_gem_close(fd, hB);
	{ ssize_t w = write(p2[1], &ch, 1); (void)w; }
	waitpid(c2, &st, 0);
	gt_mark("phase5: parent: child2 exited status=%d; close C D E and the file", st);
	gt_gem_close(fd, hC);
	gt_gem_close(fd, hD);
	gt_gem_close(fd, hE);
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
