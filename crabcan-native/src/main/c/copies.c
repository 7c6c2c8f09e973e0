/*
 * Files copied into the sandbox before its command starts (T_COPY_IN) and out of it once the
 * command has ended (T_COPY_OUT), through descriptors the JVM sent: a file it holds (an in-memory
 * one with the caller's bytes, or a host file it opened) to copy from, an in-memory file to copy
 * into. Only init does the copying, inside the sandbox's mount namespace; no host path is involved.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

/* Copies at most max bytes of in (from its start) to the end of out; -1 with errno on failure. */
static ssize_t copy_bytes(int out, int in, uint64_t max)
{
    off_t from = 0;
    uint64_t done = 0;
    while (done < max) {
        size_t chunk = max - done < (1u << 30) ? (size_t)(max - done) : (1u << 30);
        ssize_t n = sendfile(out, in, &from, chunk);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (uint64_t)n;
    }
    return (ssize_t)done;
}

/*
 * In init, once the new root is entered and while it still holds its capabilities: each file is
 * created (with any missing parent directory) as the command's ids, so the command owns it. A
 * read-only one is then bound read-only onto itself: the command can neither write, chmod nor
 * remove it. The tmpfs it lies in is fresh, so no path on the way is the command's to change.
 */
void copy_in_files(void)
{
    for (size_t i = 0; i < plan.n_copy_in; i++) {
        const char *path = plan.copy_in[i].path;
        struct stat st;
        if (fstat(plan.copy_in[i].fd, &st) < 0)
            fail(S_COPY_IN, errno, "%s: the source the JVM sent", path);
        if (!S_ISREG(st.st_mode))
            fail(S_COPY_IN, EINVAL, "%s: the source is not a regular file", path);
        char parent[PATH_MAX];
        const char *slash = strrchr(path, '/');
        size_t plen = (size_t)(slash - path);
        if (plen >= sizeof parent)
            fail(S_COPY_IN, ENAMETOOLONG, "%s", path);
        memcpy(parent, path, plen);
        parent[plen] = '\0';
        int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
        int dir = root < 0 ? -1 : make_mount_point(root, plen ? parent : "/", 0);
        if (dir < 0)
            fail(S_COPY_IN, errno, "%s: its directory", path);
        close(root);
        int fd = openat(dir, slash + 1, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0)
            fail(S_COPY_IN, errno, "create %s", path);
        if (copy_bytes(fd, plan.copy_in[i].fd, (uint64_t)st.st_size) != (ssize_t)st.st_size)
            fail(S_COPY_IN, errno == 0 ? EIO : errno, "write %s (%lld bytes%s)", path, (long long)st.st_size,
                 errno == ENOSPC ? ": more than its tmpfs's size leaves room for" : "");
        if (fchmod(fd, (mode_t)plan.copy_in[i].mode) < 0)
            fail(S_COPY_IN, errno, "chmod %o %s", plan.copy_in[i].mode, path);
        close(fd);
        close(plan.copy_in[i].fd);
        logd("Copied %lld bytes into %s", (long long)st.st_size, path);
        if (!(plan.copy_in[i].flags & MF_RDONLY)) {
            close(dir);
            continue;
        }
        int src = open_tree(dir, slash + 1, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                                  .propagation = MS_PRIVATE};
        if (src < 0 || mount_setattr(src, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            fail(S_COPY_IN, errno, "make %s read-only", path);
        int target = openat(dir, slash + 1, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (target < 0 || move_mount(src, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            fail(S_COPY_IN, errno, "bind %s read-only onto itself", path);
        close(target);
        close(src);
        close(dir);
    }
}

/*
 * In init, once the command has ended: everything it left is killed and reaped first, so that
 * nothing changes the files while they are read. Each is opened as the command (init holds its
 * ids and capabilities by now) without following any link, and must be a regular file; COPIED
 * says how each went.
 */
void copy_out_files(void)
{
    if (plan.n_copy_out == 0)
        return;
    kill(-1, SIGKILL); /* every process of the sandbox but init */
    for (;;) {
        pid_t w = waitpid(-1, NULL, 0);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            break; /* ECHILD: none is left */
    }
    for (size_t i = 0; i < plan.n_copy_out; i++) {
        int err = 0;
        long long size = 0;
        struct stat st;
        int fd = open_without_links(plan.copy_out[i].path, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
        if (fd < 0)
            err = errno;
        else if (fstat(fd, &st) < 0)
            err = errno;
        else if (!S_ISREG(st.st_mode))
            err = EINVAL;
        else if (copy_bytes(plan.copy_out[i].fd, fd, plan.copy_out[i].max) < 0)
            err = errno;
        else
            size = (long long)st.st_size;
        if (fd >= 0)
            close(fd);
        close(plan.copy_out[i].fd);
        emit(R_COPIED, (int)i, (long)size, err);
    }
}
