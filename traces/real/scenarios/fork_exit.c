/* fork_exit.c - inherited GEM/dma-buf mappings across fork() and kernel cleanup at a CHILD's exit.
 * Parent: opens vgem, creates P (dumb, MAP_DUMB+mmap mP) and Q (exported as dbQ, mmap of dbQ = mQ).
 * fork(): dup_mmap copies mP and mQ into the child (vm_ops->open: drm_gem_vm_open / shmem vm_open
 *   in the child's pid: one more object reference and pages_use_count per copied VMA).
 * child (pid != main pid, so its syscalls are not in the trace):
 *   - writes through the inherited mP and mQ, munmaps its copy of mP,
 *   - opens its own vgem file, creates R (mmaps it) and S (exports it, keeps dbS),
 *   - exits WITHOUT any cleanup: exit_mmap closes its mQ copy and mR (vm_close), then exit_files
 *     closes dbS (S's dma-buf released) and its own DRM file (drm_gem_release drops R's and S's
 *     handles: R and S destroyed). Kernel cleanup at exit, not a leak.
 * Parent, after waitpid: checks the child's writes, GEM_CLOSEs P and Q while still mapped,
 *   munmaps mP (P destroyed) and mQ, closes dbQ (Q destroyed), closes the file. */
#include "gemtrace.h"
#include <sys/wait.h>

int main(void)
{
	uint32_t hP = 0, hQ = 0, pitch;
	uint64_t szP = 0, szQ = 0;
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	gt_mark("phase1: parent pid=%d: P (dumb mmap) and Q (dma-buf mmap)", getpid());
	GT_CHECK(gt_create_dumb(fd, 64, 32, 32, &hP, &pitch, &szP));
	uint8_t *mP = gt_map_dumb(fd, hP, szP);
	GT_CHECK(gt_create_dumb(fd, 64, 64, 32, &hQ, &pitch, &szQ));
	int dbQ = gt_export(fd, hQ);
	uint8_t *mQ = dbQ >= 0 ? mmap(NULL, szQ, PROT_READ | PROT_WRITE, MAP_SHARED, dbQ, 0) : MAP_FAILED;
	gt_mark("mmap dbQ -> %p", mQ == MAP_FAILED ? NULL : mQ);
	if (!mP || mQ == MAP_FAILED) return 1;
	memset(mP, 0x01, szP); memset(mQ, 0x02, szQ);

	gt_mark("phase2: fork (the child inherits fd, dbQ and the mappings mP, mQ)");
	pid_t c = fork();
	if (c == 0) {
		uint32_t hR = 0, hS = 0; uint64_t szR = 0;
		gt_mark("child pid=%d: write through inherited mappings", getpid());
		memset(mP, 0xc1, szP); memset(mQ, 0xc2, szQ);
		gt_mark("child munmap its copy of mP -> %d", munmap(mP, szP));
		int own = gt_open_driver("vgem");
		if (own >= 0) {
			GT_CHECK(gt_create_dumb(own, 32, 32, 32, &hR, &pitch, &szR));
			uint8_t *mR = gt_map_dumb(own, hR, szR);
			if (mR) memset(mR, 0xc3, szR);
			GT_CHECK(gt_create_dumb(own, 16, 16, 32, &hS, &pitch, NULL));
			int dbS = gt_export(own, hS);
			gt_mark("child exits with: mQ copy mapped, R mapped (handle %u), S handle %u + dbS=%d, own file fd=%d open", hR, hS, dbS, own);
		}
		_exit(0);
	}
	int st = 0;
	waitpid(c, &st, 0);
	gt_mark("phase3: parent: child exited status=%d; P[0]=0x%02x Q[0]=0x%02x (child wrote c1 c2)", st, mP[0], mQ[0]);
	gt_gem_close(fd, hP);
	gt_gem_close(fd, hQ);
	gt_mark("munmap mP (P destroyed here) -> %d", munmap(mP, szP));
	gt_mark("munmap mQ -> %d", munmap(mQ, szQ));
	gt_close(dbQ, "dmabuf Q (last ref: Q destroyed)");
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
