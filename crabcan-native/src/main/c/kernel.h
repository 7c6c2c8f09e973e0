/*
 * The kernel's mount API (open_tree, move_mount, fsopen, fsconfig, fsmount, mount_setattr) and
 * close_range, called directly: the helper is linked statically against musl, which has no
 * wrappers for them, and the constants come from the kernel's own headers.
 */
#ifndef CRABCAN_KERNEL_H
#define CRABCAN_KERNEL_H

#include <linux/close_range.h>
#include <linux/mount.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int open_tree(int dfd, const char *path, unsigned int flags)
{
    return (int)syscall(SYS_open_tree, dfd, path, flags);
}

static inline int move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned int flags)
{
    return (int)syscall(SYS_move_mount, from_dfd, from, to_dfd, to, flags);
}

static inline int fsopen(const char *fs, unsigned int flags)
{
    return (int)syscall(SYS_fsopen, fs, flags);
}

static inline int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}

static inline int fsmount(int fd, unsigned int flags, unsigned int attrs)
{
    return (int)syscall(SYS_fsmount, fd, flags, attrs);
}

static inline int mount_setattr(int dfd, const char *path, unsigned int flags, struct mount_attr *attr, size_t size)
{
    return (int)syscall(SYS_mount_setattr, dfd, path, flags, attr, size);
}

static inline int close_range(unsigned int first, unsigned int last, unsigned int flags)
{
    return (int)syscall(SYS_close_range, first, last, flags);
}

#endif
