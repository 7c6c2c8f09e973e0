/*
 * The container's side of the exec attacks (runc CVE-2019-5736 and kin): watches its PID
 * namespace for new processes, stops each at once (SIGSTOP, which the container may send to its
 * own ids) and, if it has not yet exec'd its command (its comm is not ARG), attacks it while it
 * still runs the runtime's code: writes and reads its /proc/PID/exe (the runtime's binary), opens
 * its mem, fds (and where they lead), cwd and root, takes its fds with pidfd_getfd, and attaches
 * with ptrace. (Listing the fd numbers alone is not tried: where the container's root is the
 * caller's own id, as in a user namespace an ordinary user made, the kernel lets the owner list them.) Then lets
 * it go. execwatch COMM SECONDS prints, one line each:
 *   CAUGHT <pid> <comm>         a process stopped before its execve
 *   ESCAPED <pid> <what>        an attack on it worked
 *   BLOCKED <pid> <what> <errno name>
 * and DONE at the end.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char seen[1 << 16];

static int read_file(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t r = read(fd, buf, n - 1);
    close(fd);
    if (r < 0)
        return -1;
    buf[r] = '\0';
    return 0;
}

/* Waits until pid is stopped (state T), at most about a second. */
static int await_stop(int pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    for (int i = 0; i < 1000; i++) {
        if (read_file(path, buf, sizeof buf) < 0)
            return -1;
        char *p = strrchr(buf, ')');
        if (p && p[2] == 'T')
            return 0;
        usleep(1000);
    }
    return -1;
}

static void result(int pid, const char *what, int ok)
{
    if (ok)
        printf("ESCAPED %d %s\n", pid, what);
    else
        printf("BLOCKED %d %s %s\n", pid, what, strerrorname_np(errno));
}

static void attack(int pid)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/%d/exe", pid);
    int fd = open(path, O_WRONLY);
    result(pid, "open-exe-for-writing", fd >= 0);
    fd = open(path, O_RDONLY);
    result(pid, "open-exe", fd >= 0);
    snprintf(path, sizeof path, "/proc/%d/mem", pid);
    fd = open(path, O_RDWR);
    result(pid, "open-mem", fd >= 0);
    snprintf(path, sizeof path, "/proc/%d/cwd/.", pid);
    fd = open(path, O_RDONLY | O_DIRECTORY);
    result(pid, "open-cwd", fd >= 0);
    snprintf(path, sizeof path, "/proc/%d/root/.", pid);
    fd = open(path, O_RDONLY | O_DIRECTORY);
    result(pid, "open-root", fd >= 0);
    char target[256];
    for (int n = 0; n < 16; n++) {
        char what[32];
        snprintf(path, sizeof path, "/proc/%d/fd/%d", pid, n);
        fd = open(path, O_RDONLY);
        if (fd >= 0 || errno != ENOENT) {
            snprintf(what, sizeof what, "open-fd-%d", n);
            result(pid, what, fd >= 0);
        }
        /* Where the fd leads names host paths the container must not learn. */
        if (readlink(path, target, sizeof target) >= 0 || errno != ENOENT) {
            snprintf(what, sizeof what, "readlink-fd-%d", n);
            result(pid, what, readlink(path, target, sizeof target) >= 0);
        }
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd >= 0) {
        for (int n = 0; n < 16; n++) {
            fd = (int)syscall(SYS_pidfd_getfd, pidfd, n, 0);
            if (fd >= 0 || errno != EBADF) {
                char what[32];
                snprintf(what, sizeof what, "pidfd-getfd-%d", n);
                result(pid, what, fd >= 0);
            }
        }
        close(pidfd);
    }
    long r = ptrace(PTRACE_SEIZE, pid, 0, 0);
    result(pid, "ptrace-seize", r == 0);
    if (r == 0)
        ptrace(PTRACE_DETACH, pid, 0, 0);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    const char *comm = argv[1];
    time_t end = time(NULL) + atoi(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    seen[getpid()] = 1;
    seen[1] = 1;
    while (time(NULL) < end) {
        DIR *d = opendir("/proc");
        if (!d)
            return 1;
        struct dirent *e;
        while ((e = readdir(d))) {
            int pid = atoi(e->d_name);
            if (pid <= 0 || pid >= (int)sizeof seen || seen[pid])
                continue;
            seen[pid] = 1;
            if (kill(pid, SIGSTOP) < 0)
                continue;
            char path[64], name[64] = "";
            snprintf(path, sizeof path, "/proc/%d/comm", pid);
            if (await_stop(pid) == 0 && read_file(path, name, sizeof name) == 0) {
                name[strcspn(name, "\n")] = '\0';
                if (strcmp(name, comm) != 0) {
                    printf("CAUGHT %d %s\n", pid, name);
                    attack(pid);
                }
            }
            kill(pid, SIGCONT);
        }
        closedir(d);
    }
    printf("DONE\n");
    return 0;
}
