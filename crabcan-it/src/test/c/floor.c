/*
 * The benchmark's floor: the least a fully isolated run of /bin/true costs a warm native process
 * on this host, with no JVM, no seccomp and no capability drop. One run: clone into new user,
 * mount, PID, network, UTS, IPC and cgroup namespaces; the parent writes the id maps (the
 * caller's own uid and gid as root) and releases the child; the child binds ROOT onto itself and
 * /usr read-only into it, mounts /proc, pivots into ROOT, sets the hostname and, as the sandbox's
 * init, vforks and execs /bin/true and reaps it; the parent reaps the init.
 *
 *   floor ROOT    ROOT holds usr, proc and the links bin -> usr/bin, lib -> usr/lib, lib64 -> usr/lib64
 *
 * It stays up so that every run is warm and the benchmark can interleave it with its other cases:
 * for each byte read from stdin it makes one run and prints its duration in nanoseconds, from
 * before the clone to after the init is reaped, on a line of its own. It exits 0 at the end of
 * stdin; on any failure it names the step and the error on stderr and exits 1.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *step, int err)
{
    fprintf(stderr, "floor: %s: %s\n", step, strerror(err));
    _exit(1);
}

static long long now_ns(void)
{
    struct timespec t;
    if (clock_gettime(CLOCK_MONOTONIC, &t))
        fail("clock_gettime", errno);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail(path, errno);
    if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
        fail(path, errno);
    if (close(fd))
        fail(path, errno);
}

static void write_proc(pid_t pid, const char *file, const char *text)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    write_file(path, text);
}

/* In the new namespaces, once the maps are written: the root, then init's work. Never returns. */
static void sandbox(const char *root, int release, int devnull)
{
    char go;
    if (read(release, &go, 1) != 1)
        fail("wait for the id maps", errno);
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
        fail("make / private", errno);
    if (mount(root, root, NULL, MS_BIND, NULL))
        fail("bind the root", errno);
    if (chdir(root))
        fail("chdir to the root", errno);
    if (mount("/usr", "usr", NULL, MS_BIND | MS_REC, NULL))
        fail("bind /usr", errno);
    if (mount(NULL, "usr", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL))
        fail("make /usr read-only", errno);
    if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
        fail("mount /proc", errno);
    if (syscall(SYS_pivot_root, ".", "."))
        fail("pivot_root", errno);
    if (umount2(".", MNT_DETACH))
        fail("detach the old root", errno);
    if (chdir("/"))
        fail("chdir to /", errno);
    if (sethostname("floor", 5))
        fail("sethostname", errno);
    /* The command's stdin and stdout are the benchmark's pipes: give it /dev/null, as the others get. */
    if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0)
        fail("dup2 /dev/null", errno);
    pid_t command = vfork();
    if (command < 0)
        fail("vfork", errno);
    if (command == 0) {
        char *argv[] = {"/bin/true", NULL};
        char *envp[] = {NULL};
        execve(argv[0], argv, envp);
        fail("execve /bin/true", errno);
    }
    int status;
    if (waitpid(command, &status, 0) != command)
        fail("wait for /bin/true", errno);
    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
}

static long long one_run(const char *root, int devnull)
{
    int release[2];
    if (pipe2(release, O_CLOEXEC))
        fail("pipe2", errno);
    long long t0 = now_ns();
    pid_t init = syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWUTS
                         | CLONE_NEWIPC | CLONE_NEWCGROUP | SIGCHLD, NULL, NULL, NULL, NULL);
    if (init < 0)
        fail("clone", errno);
    if (init == 0) {
        close(release[1]);
        sandbox(root, release[0], devnull);
    }
    if (close(release[0]))
        fail("close", errno);
    char map[64];
    write_proc(init, "setgroups", "deny");
    snprintf(map, sizeof map, "0 %u 1", (unsigned)getuid());
    write_proc(init, "uid_map", map);
    snprintf(map, sizeof map, "0 %u 1", (unsigned)getgid());
    write_proc(init, "gid_map", map);
    if (write(release[1], "g", 1) != 1)
        fail("release the init", errno);
    if (close(release[1]))
        fail("close", errno);
    int status;
    if (waitpid(init, &status, 0) != init)
        fail("wait for the init", errno);
    long long t = now_ns() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "floor: the init ended with status 0x%x (its step is above)\n", status);
        _exit(1);
    }
    return t;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: floor ROOT (then one byte on stdin per run)\n");
        return 2;
    }
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        fail("open /dev/null", errno);
    char go;
    ssize_t n;
    while ((n = read(0, &go, 1)) == 1) {
        printf("%lld\n", one_run(argv[1], devnull));
        if (fflush(stdout))
            fail("write the time", errno);
    }
    if (n < 0)
        fail("read stdin", errno);
    return 0;
}
