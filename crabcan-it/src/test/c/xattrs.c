/*
 * A build step forging an owner mark: tries every system call that writes or removes an
 * extended attribute on the file it is given, and prints one line per call, "NAME ok" or
 * "NAME errno N". Exits 0 either way: the caller judges the lines.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef SYS_setxattrat
#define SYS_setxattrat 463
#endif
#ifndef SYS_removexattrat
#define SYS_removexattrat 466
#endif

static void report(const char *call, long r)
{
    if (r == 0)
        printf("%s ok\n", call);
    else
        printf("%s errno %d\n", call, errno);
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: xattrs FILE NAME VALUE\n");
        return 2;
    }
    const char *file = argv[1], *name = argv[2], *value = argv[3];
    size_t len = strlen(value);
    int fd = open(file, O_RDWR);
    if (fd < 0) {
        perror(file);
        return 2;
    }
    struct { unsigned long long value; unsigned int size, flags; } args = {(unsigned long) value, len, 0};
    report("setxattr", setxattr(file, name, value, len, 0));
    report("lsetxattr", lsetxattr(file, name, value, len, 0));
    report("fsetxattr", fsetxattr(fd, name, value, len, 0));
    report("setxattrat", syscall(SYS_setxattrat, AT_FDCWD, file, 0, name, &args, sizeof args));
    report("removexattr", removexattr(file, name));
    report("lremovexattr", lremovexattr(file, name));
    report("fremovexattr", fremovexattr(fd, name));
    report("removexattrat", syscall(SYS_removexattrat, AT_FDCWD, file, 0, name));
    return 0;
}
