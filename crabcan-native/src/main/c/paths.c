/*
 * Paths inside the new root, resolved so that neither symlinks nor ".." can leave it: the root
 * filesystem may belong to the caller or to an image, and anything in it may be a planted link.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

/* ---- paths inside the new root ------------------------------------------ */

/*
 * Opens a host path the JVM resolved (no link in it) and checked, following no link, not even a
 * magic one: whoever may write a directory on the way (a sandbox given it read-write) cannot turn
 * it into a link to elsewhere between that check and this open. A link there fails with ELOOP.
 */
int open_without_links(const char *path, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, AT_FDCWD, path, &how, sizeof how);
}

/* Opens a relative path below dirfd, following no link and no "..": it cannot name anything else. */
int open_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

/* Resolves path as if rootfd were "/": symlinks and ".." cannot leave it. */
int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/*
 * Returns an O_PATH fd for path inside rootfd, creating missing directories (and
 * an empty file for the last component when is_file). Every component is looked
 * up with open_in_root, and created only in the directory that lookup returned,
 * so nothing outside the root can be created or reached.
 */
int make_mount_point(int rootfd, const char *path, int is_file)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    int dirfd = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
    char *p = buf + strspn(buf, "/");
    if (dirfd < 0 || *p == '\0')
        return dirfd;
    for (;;) {
        char *end = p + strcspn(p, "/");
        int last = end[strspn(end, "/")] == '\0';
        char saved = *end;
        *end = '\0';
        int fd = open_in_root(rootfd, buf, O_PATH);
        if (fd < 0 && errno == ENOENT) {
            int r;
            if (last && is_file) {
                r = openat(dirfd, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0)
                    close(r);
            } else {
                r = mkdirat(dirfd, p, 0755);
            }
            if (r < 0 && errno != EEXIST) {
                int e = errno;
                close(dirfd);
                errno = e;
                return -1;
            }
            fd = open_in_root(rootfd, buf, O_PATH);
        }
        int e = errno;
        close(dirfd);
        errno = e;
        if (fd < 0 || last)
            return fd;
        *end = saved;
        dirfd = fd;
        p = end + strspn(end, "/");
    }
}
