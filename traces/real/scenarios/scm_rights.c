/* scm_rights.c - a dma-buf fd passed to another process over a unix socket (SCM_RIGHTS), the way
 * a Wayland client hands a buffer to the compositor:
 *   the parent exports a vgem BO and sends the fd; while the message is in flight the socket
 *   buffer holds a reference on the dma-buf's file; the child (forked before the export, so it
 *   inherits nothing) receives a new fd, opens its own vgem file, imports the BO, maps it, and
 *   exits with everything open. The parent closes its side after the child has gone.
 * The rig traces only the parent's syscalls. */
#include "gemtrace.h"
#include <sys/socket.h>
#include <sys/wait.h>

static int send_fd(int sock, int fd)
{
	char c = 'x';
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	cm->cmsg_level = SOL_SOCKET; cm->cmsg_type = SCM_RIGHTS; cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof fd);
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char c;
	struct iovec iov = { .iov_base = &c, .iov_len = 1 };
	union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	if (recvmsg(sock, &m, 0) != 1) return -1;
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	if (!cm || cm->cmsg_type != SCM_RIGHTS) return -1;
	int fd; memcpy(&fd, CMSG_DATA(cm), sizeof fd);
	return fd;
}

int main(void)
{
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) return 1;
	pid_t child = fork();
	if (child == 0) {
		close(sv[0]);
		int db = recv_fd(sv[1]);  /* blocks until the parent has sent it */
		gt_mark("child: received dmabuf_fd=%d", db);
		int fd = gt_open_driver("vgem");
		uint32_t h = 0;
		if (fd >= 0 && db >= 0 && gt_import(fd, db, &h) == 0) {
			void *p = mmap(NULL, 16384, PROT_READ, MAP_SHARED, db, 0);
			gt_mark("child: mmap(dmabuf_fd=%d) -> %p", db, p);
		}
		gt_mark("child: exit with its vgem file, the import, the fd and the mapping open");
		_exit(0);
	}
	close(sv[1]);
	int fd = gt_open_driver("vgem");
	if (fd < 0) return 1;
	uint32_t h, pitch; uint64_t sz;
	if (gt_create_dumb(fd, 64, 64, 32, &h, &pitch, &sz)) return 1;
	int db = gt_export(fd, h);
	gt_mark("parent: send dmabuf_fd=%d over the socket", db);
	GT_CHECK(send_fd(sv[0], db));
	gt_close(db, "dmabuf (sent)");
	int status = 0;
	waitpid(child, &status, 0);
	gt_mark("parent: child %d exited (status %d)", (int)child, status);
	gt_gem_close(fd, h);
	gt_close(sv[0], "socket");
	gt_close(fd, "vgem fd");
	gt_mark("done");
	return 0;
}
