/*
 * OCI hooks that run inside the sandbox (T_HOOK): createContainer in init before pivot_root,
 * startContainer in the command's process once start released it. They come from the engine,
 * which runtime-spec trusts; what they get is fixed here: the state on stdin, exactly their argv
 * and environment, no fd of the helper, their timeout. The first that fails ends the setup.
 * And the hooks an OCI runtime runs on the host (host_hook, "crabcan-helper --hook").
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

/* Init's pid on the host, the state's "pid" (what create returned); 0 before note_hook_facts. */
static pid_t state_pid;

/* The file this process executes, the helper's binary, which no hook may run (see open_hook). */
static struct stat helper_exe;

/*
 * In init before pivot_root, while /proc is still the host's: /proc/self names init there, and
 * nothing of the container's can have been mounted over /proc/self/exe yet.
 */
void note_hook_facts(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    if (n <= 0)
        fail(S_HOOK, errno, "find the sandbox's pid on the host for the hooks' state (/proc/self)");
    buf[n] = '\0';
    state_pid = (pid_t)strtol(buf, NULL, 10);
    if (stat("/proc/self/exe", &helper_exe) < 0)
        fail(S_HOOK, errno, "find the helper's own binary (/proc/self/exe), which no hook may run");
}

/*
 * fd moved to 3 or above (the original closed), so that hook_child's dup2s onto 0, 1 and 2 can
 * neither close it nor make it the hook's stdio: where the process has no stdin, say, a new
 * descriptor lands on 0. -1 with errno (fd closed) if it cannot be moved.
 */
static int above_stdio(int fd)
{
    if (fd < 0 || fd > 2)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    int err = errno;
    close(fd);
    errno = err;
    return high;
}

/*
 * The hook's file, opened once and executed through this descriptor (hook_child), so that the file
 * checked is the file that runs. A startContainer hook's path is resolved in the container, whose
 * image may have planted a link there: to /proc/self/exe, or the exe of another process of the
 * container, it would run the helper's own binary inside the container, which could then reach the
 * binary (runc's CVE-2019-5736; runc and crun execute themselves from a sealed copy instead). Refused:
 * the helper's binary, a file of a proc file system, and a file reached through one of /proc's magic
 * links to a file the container's root does not hold (the kernel's name for it, from
 * /proc/self/fd, does not lead back to it). -1 with errno and why set when refused.
 */
static int open_hook(const char *path, const char *name, char *why, size_t size)
{
    int fd = above_stdio(open(path, O_PATH | O_CLOEXEC));
    if (fd < 0) {
        snprintf(why, size, "%s: cannot open it", name);
        return -1;
    }
    struct stat st, named;
    struct statfs fs;
    char link[64], named_path[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, named_path, sizeof named_path - 1);
    const char *refused = NULL;
    int err = EACCES;
    if (fstat(fd, &st) < 0 || fstatfs(fd, &fs) < 0) {
        err = errno;
        refused = "cannot be inspected";
    } else if (st.st_dev == helper_exe.st_dev && st.st_ino == helper_exe.st_ino) {
        refused = "is the runtime's own binary (a link to /proc/self/exe or the like): it may not run in the container";
    } else if (fs.f_type == PROC_SUPER_MAGIC) {
        refused = "is a file of /proc, which no hook may run";
    } else if (n <= 0) {
        err = n < 0 ? errno : EIO;
        refused = "cannot be named through /proc/self/fd (is /proc mounted?), so where it lies cannot be checked";
    } else if ((named_path[n] = '\0', stat(named_path, &named) < 0) || named.st_dev != st.st_dev ||
               named.st_ino != st.st_ino) {
        refused = "lies outside the root it was looked up in (reached through a link into /proc)";
    }
    if (refused) {
        close(fd);
        errno = err;
        snprintf(why, size, "%s %s", name, refused);
        return -1;
    }
    return fd;
}

/* The state on a memfd at offset 0: a hook need not read it, and no write can block or SIGPIPE us. */
static int state_fd(const char *status)
{
    int fd = above_stdio(memfd_create("oci-state", MFD_CLOEXEC));
    if (fd < 0)
        return -1;
    const char *rest = plan.hook_state + 1; /* after its '{' */
    char head[96];
    int n = snprintf(head, sizeof head, "{\"status\":\"%s\",\"pid\":%d%s", status, (int)state_pid,
                     *rest == '}' ? "" : ",");
    if (write(fd, head, (size_t)n) != n || write(fd, rest, strlen(rest)) != (ssize_t)strlen(rest) ||
        lseek(fd, 0, SEEK_SET) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000L + t.tv_nsec / 1000000L;
}

/*
 * Up to size - 1 bytes of a hook's output into why, on one line and with nothing a terminal or a
 * log reader acts on: controls (C0, DEL, and C1 in UTF-8) become '?', line ends spaces.
 */
static void append_output(char *why, size_t size, const char *out, size_t len)
{
    while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == '\r' || out[len - 1] == ' '))
        len--;
    size_t at = strlen(why);
    /* A long path may have filled why already: then not even ": " fits (snprintf's count would pass its end). */
    if (len == 0 || at + 3 >= size)
        return;
    why[at++] = ':';
    why[at++] = ' ';
    for (size_t i = 0; i < len && at + 1 < size; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == 0xc2 && i + 1 < len && (unsigned char)out[i + 1] >= 0x80 && (unsigned char)out[i + 1] <= 0x9f) {
            why[at++] = '?';
            i++;
        } else if (c == '\n' || c == '\t' || c == '\r') {
            why[at++] = ' ';
        } else {
            why[at++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
        }
    }
    why[at] = '\0';
}

/* The hook's whole process group, then the hook itself (its pgid stays taken until it is reaped). */
static int end_hook(pid_t pid, int *status)
{
    kill(-pid, SIGKILL);
    while (waitpid(pid, status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

/*
 * Executes the file open at exe, the one open_hook checked. execveat first, called raw: musl's
 * fexecve, when it hears ENOSYS, executes /proc/self/fd/N unchecked. A startContainer hook runs
 * under the container's seccomp filter (installed before the release, as runc does without
 * noNewPrivileges), which may deny execveat: a config may deny any call, and engines' profiles say
 * EPERM (runtime-spec's default errnoRet) or ENOSYS. On those, execve of the name N in the
 * directory of our descriptors, with no path the container could change meanwhile left to look up
 * but N: a process of the container that may mount can put a tmpfs on /proc at any time, whose
 * self/fd/N would link to another file (the runtime's own binary included), or bind another
 * process's fd directory below /proc, whose N that process could change. So /proc is opened once
 * and shown on that descriptor to be the root of a proc file system; its self/fd, opened from it,
 * is shown to be our own fd table (a pipe made for the probe is there, which no other process
 * holds) and N in it to be this very file; it becomes the working directory (runtime-spec does
 * not say which a hook has), and execve looks up N in it. Returns why nothing ran, with errno set.
 */
static const char *exec_hook(int exe, char **argv, char **envp)
{
    syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
    /*
     * A script's interpreter is given /dev/fd/N to read it from, which a descriptor closed on
     * execve cannot be: the kernel says ENOENT before it commits, and the script keeps it open.
     */
    if (errno == ENOENT && fcntl(exe, F_SETFD, 0) == 0)
        syscall(SYS_execveat, exe, "", argv, envp, AT_EMPTY_PATH);
    int denied = errno;
    if (denied != EPERM && denied != ENOSYS)
        return "cannot execute";
    char name[16], probe_name[16];
    struct stat proc, dir, want, got, probe_st, probe_got;
    struct statfs fs, dir_fs;
    int probe[2] = {-1, -1};
    int proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    int fd_dir = proc_fd < 0 ? -1 : openat(proc_fd, "self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
    snprintf(name, sizeof name, "%d", exe);
    /*
     * 1: the inode number of a proc file system's root, which nothing else in it has. Its self/fd on
     * that very file system: a link mounted on its self entry (an attack review did it from a user
     * namespace) leads elsewhere, to a directory that could pass the probe through links.
     */
    int ok = fd_dir >= 0 && fstat(proc_fd, &proc) == 0 && proc.st_ino == 1 && fstatfs(proc_fd, &fs) == 0 &&
             fs.f_type == PROC_SUPER_MAGIC && fstat(fd_dir, &dir) == 0 && dir.st_dev == proc.st_dev &&
             fstatfs(fd_dir, &dir_fs) == 0 && dir_fs.f_type == PROC_SUPER_MAGIC &&
             pipe2(probe, O_CLOEXEC) == 0 && fstat(probe[0], &probe_st) == 0 &&
             snprintf(probe_name, sizeof probe_name, "%d", probe[0]) > 0 &&
             fstatat(fd_dir, probe_name, &probe_got, 0) == 0 && probe_got.st_dev == probe_st.st_dev &&
             probe_got.st_ino == probe_st.st_ino && fstat(exe, &want) == 0 && fstatat(fd_dir, name, &got, 0) == 0 &&
             got.st_dev == want.st_dev && got.st_ino == want.st_ino;
    if (!ok) {
        errno = denied;
        return "cannot execute it through its descriptor (execveat), nor through /proc/self/fd, which does not lead "
               "to it (is a proc file system mounted on /proc?)";
    }
    /* The interpreter of a script opens that name after execve, relative to the working directory. */
    if (fchdir(fd_dir) == 0 && fcntl(exe, F_SETFD, 0) == 0)
        execve(name, argv, envp);
    return "cannot execute it through /proc/self/fd (execveat is denied)";
}

static void hook_child(size_t i, int exe, int state, int out)
{
    /* Its own process group, so that what it leaves behind is killed with it. */
    if (setpgid(0, 0) < 0 || default_signals() < 0 || dup2(state, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0 ||
        close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        _exit(126);
    const char *why = exec_hook(exe, plan.hooks[i].argv, plan.hooks[i].envp);
    dprintf(2, "%s: %s", why, strerror(errno));
    _exit(127);
}

/* Why await_hook stopped waiting before the hook exited. */
enum cut { CUT_NONE, CUT_TIMEOUT, CUT_RUNTIME_GONE };

/*
 * Waits for the hook (its pidfd) to exit, its timeout (seconds, 0: none) to pass, or the runtime
 * to go away: no reader left on lifeline, the write end of a pipe (-1: none to watch), keeping the
 * first size bytes of what it writes to *out (-1: nothing to read; closed here at its end); 0, or
 * -1 with errno if the wait failed. Its exit, not the end of its output, ends the wait, and at most
 * one read per wakeup keeps the deadline in sight however much it writes.
 */
static int await_hook(int pidfd, int *out, int lifeline, uint32_t timeout, char *output, size_t size, size_t *kept,
                      enum cut *cut)
{
    long deadline = timeout ? now_ms() + timeout * 1000L : 0;
    int exited = 0;
    *cut = CUT_NONE;
    while (!exited) {
        int wait = -1;
        if (timeout) {
            long left = deadline - now_ms();
            if (left <= 0) {
                *cut = CUT_TIMEOUT;
                return 0;
            }
            wait = left > 60000 ? 60000 : (int)left;
        }
        /* poll skips a negative fd; a pipe's write end says POLLERR, asked for or not, once it has no reader. */
        struct pollfd fds[3] = {{.fd = pidfd, .events = POLLIN}, {.fd = *out, .events = POLLIN}, {.fd = lifeline}};
        int r = poll(fds, 3, wait);
        if (r < 0 && errno != EINTR)
            return -1;
        if (r <= 0)
            continue;
        if (fds[2].revents & (POLLERR | POLLHUP)) {
            *cut = CUT_RUNTIME_GONE;
            return 0;
        }
        exited = fds[0].revents & POLLIN;
        if (*out < 0 || !(fds[1].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        char buf[512];
        ssize_t n = read(*out, buf, sizeof buf);
        if (n > 0 && *kept < size) {
            size_t take = (size_t)n < size - *kept ? (size_t)n : size - *kept;
            memcpy(output + *kept, buf, take);
            *kept += take;
        } else if (n == 0) { /* every writer is gone */
            close(*out);
            *out = -1;
        }
    }
    /* What it wrote just before it exited, within bounds: a process it left may write on and on. */
    for (int reads = 0; *out >= 0 && *kept < size && reads < 8; reads++) {
        ssize_t n = read(*out, output + *kept, size - *kept);
        if (n <= 0)
            break;
        *kept += (size_t)n;
    }
    return 0;
}

/*
 * Runs one hook to its end; 0 if it exited 0. Otherwise why says what happened, with the start of
 * what it wrote to stdout and stderr, and errno is set for the FAIL line.
 */
static int run_hook(size_t i, const char *name, const char *status, char *why, size_t size)
{
    uint32_t timeout = plan.hooks[i].timeout;
    int out[2] = {-1, -1}, err;
    int exe = open_hook(plan.hooks[i].path, name, why, size);
    if (exe < 0)
        return -1;
    int state = state_fd(status);
    if (state < 0) {
        err = errno;
        close(exe);
        errno = err;
        snprintf(why, size, "%s: its state", name);
        return -1;
    }
    if (pipe2(out, O_CLOEXEC) < 0 || (out[1] = above_stdio(out[1])) < 0) {
        err = errno;
        if (out[1] < 0 && out[0] >= 0) /* the pipe was made; its write end could not be moved */
            close(out[0]);
        close(exe);
        close(state);
        errno = err;
        snprintf(why, size, "%s: its output pipe", name);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0)
        hook_child(i, exe, state, out[1]);
    err = errno;
    close(exe);
    close(state);
    close(out[1]);
    int pidfd = pid < 0 ? -1 : (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        err = pid < 0 ? err : errno;
        if (pid > 0)
            end_hook(pid, NULL);
        if (pidfd >= 0)
            close(pidfd);
        close(out[0]);
        errno = err;
        snprintf(why, size, "%s: %s", name, pid < 0 ? "fork" : "watch it");
        return -1;
    }
    char output[1024];
    size_t kept = 0;
    enum cut cut;
    int failed = await_hook(pidfd, &out[0], -1, timeout, output, sizeof output, &kept, &cut) < 0;
    err = errno;
    close(pidfd);
    if (out[0] >= 0)
        close(out[0]);
    int st = 0;
    if (end_hook(pid, &st) < 0 && !failed) {
        failed = 1;
        err = errno;
    }
    if (failed) {
        errno = err;
        snprintf(why, size, "%s: wait for it", name);
        return -1;
    }
    if (cut == CUT_TIMEOUT) {
        errno = ETIMEDOUT;
        snprintf(why, size, "%s did not finish within its timeout of %u s", name, timeout);
    } else if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        return 0;
    } else {
        errno = 0;
        if (WIFSIGNALED(st))
            snprintf(why, size, "%s was killed by signal %d", name, WTERMSIG(st));
        else
            snprintf(why, size, "%s exited with %d", name, WEXITSTATUS(st));
    }
    append_output(why, size, output, kept);
    return -1;
}

int run_hooks(uint32_t phase, const char *status, char *why, size_t size)
{
    const char *kind = phase == HOOK_CREATE_CONTAINER ? "createContainer" : "startContainer";
    for (size_t i = 0, k = 0; i < plan.n_hooks; i++) {
        if (plan.hooks[i].phase != phase)
            continue;
        /* The config's name for it, as the runtime names the hooks it runs on the host. */
        char name[PATH_MAX + 64];
        snprintf(name, sizeof name, "hooks.%s[%zu] (%s)", kind, k++, plan.hooks[i].path);
        logd("Running %s", name);
        if (run_hook(i, name, status, why, size) < 0)
            return -1;
    }
    /*
     * In init, with every capability of the user namespace: nothing a hook left running (in a
     * process group of its own or not) may live on beside the command. Init is the namespace's
     * pid 1, so they are all its children by now, and nothing else is yet.
     */
    if (phase == HOOK_CREATE_CONTAINER && getpid() == 1) {
        if (kill(-1, SIGKILL) < 0 && errno != ESRCH) {
            snprintf(why, size, "hooks.createContainer: kill what they left running");
            return -1;
        }
        while (waitpid(-1, NULL, __WALL) >= 0 || errno == EINTR)
            ;
    }
    return 0;
}

/*
 * Every process below this one, a subreaper, killed and reaped: each one killed leaves its children
 * to us, however it detached itself (a session or process group of its own), so the loop ends once
 * no child is left, even while some still fork. Only whole entries of the list are killed (the
 * kernel ends each with a space): a list longer than the buffer is cut, and a cut pid is another
 * process's. -1 with errno if they cannot be listed, or ETIMEDOUT if some are still there after
 * about ten seconds (one this process may not kill, or one the kernel does not let die).
 */
static int end_descendants(void)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
    for (int pass = 0; pass < 10000; pass++) {
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        static char list[65536];
        ssize_t n, len = 0;
        while (len < (ssize_t)sizeof list - 1 && (n = read(fd, list + len, sizeof list - 1 - (size_t)len)) > 0)
            len += n;
        close(fd);
        list[len] = '\0';
        for (char *p = list, *end; *p; p = end) {
            long child = strtol(p, &end, 10);
            if (end == p || *end != ' ')
                break;
            kill((pid_t)child, SIGKILL);
        }
        pid_t reaped;
        while ((reaped = waitpid(-1, NULL, __WALL | WNOHANG)) > 0)
            ;
        if (reaped < 0 && errno == ECHILD)
            return 0;
        struct timespec pause = {0, 1000000};
        nanosleep(&pause, NULL);
    }
    errno = ETIMEDOUT;
    return -1;
}

/*
 * crabcan-helper --hook TIMEOUT PATH ARG0 [ARG...]: one OCI hook that the runtime runs on the host
 * (prestart, createRuntime, poststart, poststop), with runtime-spec's argv as it is, this process's
 * environment and stdin (the state), and its stdout for both its stdout and stderr. This process
 * is a subreaper, so what the hook starts stays below it whatever it does: a hook that outlives its
 * timeout (seconds, 0: none) is killed with all of it. One that exits leaves what it started, as
 * runc and crun do: a hook may start a daemon on purpose, which then goes to our parent's subreaper
 * or init. Exit 0 if the hook exited 0; otherwise one line on stderr ("exit N", "signal N",
 * "timeout", or why it could not run) and exit 1.
 *
 * A stderr that is a pipe is the runtime's lifeline: its read end is the runtime's alone (a JVM's
 * ProcessBuilder gives it to no other process; the hook's stderr is its stdout). Once no reader is
 * left, because the runtime died (a JVM per call or the service killed) or closed it (its caller,
 * the service's front end, was killed, or its container died while its hooks ran), the hook and
 * everything it started are killed at once, not at its timeout, and this process exits 1 saying
 * nothing: nobody is left to read it. What is watched is that pipe, which the hook is not given, never a pid that
 * could be another process's by then.
 */
int host_hook(int argc, char **argv)
{
    extern char **environ;
    char *end = NULL;
    unsigned long timeout = argc >= 5 ? strtoul(argv[2], &end, 10) : 0;
    if (argc < 5 || !end || *end || argv[2][0] == '\0' || timeout > UINT32_MAX || argv[3][0] != '/') {
        dprintf(2, "usage: --hook TIMEOUT PATH ARG0 [ARG...]\n");
        return 1;
    }
    int started[2];
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 || pipe2(started, O_CLOEXEC) < 0) {
        dprintf(2, "cannot watch it: %s\n", strerror(errno));
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int err = default_signals() < 0 || dup2(1, 2) < 0 ? errno : 0;
        if (err == 0) {
            execve(argv[3], argv + 4, environ);
            err = errno;
        }
        ssize_t ignored = write(started[1], &err, sizeof err);
        (void)ignored;
        _exit(127);
    }
    close(started[1]);
    int err = 0;
    ssize_t n = pid < 0 ? 0 : read(started[0], &err, sizeof err);
    if (pid < 0 || n > 0) {
        dprintf(2, "cannot execute it: %s\n", strerror(pid < 0 ? errno : err));
        return 1;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    int none = -1, st = 0;
    struct stat err_st;
    int lifeline = fstat(2, &err_st) == 0 && S_ISFIFO(err_st.st_mode) ? 2 : -1;
    enum cut cut;
    size_t kept = 0;
    if (pidfd < 0 || await_hook(pidfd, &none, lifeline, (uint32_t)timeout, NULL, 0, &kept, &cut) < 0) {
        err = errno;
        end_descendants();
        dprintf(2, "cannot wait for it: %s\n", strerror(err));
        return 1;
    }
    if (cut == CUT_RUNTIME_GONE) {
        end_descendants();
        return 1;
    }
    if (cut == CUT_TIMEOUT) {
        if (end_descendants() < 0) {
            dprintf(2, "cannot kill what it started: %s\n", strerror(errno));
            return 1;
        }
        dprintf(2, "timeout\n");
        return 1;
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            dprintf(2, "cannot wait for it: %s\n", strerror(errno));
            return 1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        dprintf(2, "signal %d\n", WTERMSIG(st));
    else
        dprintf(2, "exit %d\n", WEXITSTATUS(st));
    return 1;
}
