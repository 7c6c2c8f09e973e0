/*
 * OCI hooks that run inside the sandbox (T_HOOK): createContainer in init before pivot_root,
 * startContainer in the command's process once start released it. They come from the engine,
 * which runtime-spec trusts; what they get is fixed here: the state on stdin, exactly their argv
 * and environment, no fd of the helper, their timeout. The first that fails ends the setup.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

/* Init's pid on the host, the state's "pid" (what create returned); 0 before note_hook_pid. */
static pid_t state_pid;

/* In init before pivot_root, while /proc is still the host's: /proc/self names init there. */
void note_hook_pid(void)
{
    char buf[32];
    ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
    if (n <= 0)
        fail(S_HOOK, errno, "find the sandbox's pid on the host for the hooks' state (/proc/self)");
    buf[n] = '\0';
    state_pid = (pid_t)strtol(buf, NULL, 10);
}

/* The state on a memfd at offset 0: a hook need not read it, and no write can block or SIGPIPE us. */
static int state_fd(const char *status)
{
    int fd = memfd_create("oci-state", MFD_CLOEXEC);
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
 * Runs one hook to its end; 0 if it exited 0. Otherwise why says what happened, with the start of
 * what it wrote to stdout and stderr, and errno is set for the FAIL line.
 */
static int run_hook(size_t i, const char *status, char *why, size_t size)
{
    char **argv = plan.hooks[i].argv;
    int state = state_fd(status), out[2];
    if (state < 0 || pipe2(out, O_CLOEXEC) < 0) {
        snprintf(why, size, "%s: its state and output pipe", argv[0]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, size, "%s: fork", argv[0]);
        return -1;
    }
    if (pid == 0) {
        if (dup2(state, 0) < 0 || dup2(out[1], 1) < 0 || dup2(out[1], 2) < 0 ||
            close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
            _exit(126);
        execve(argv[0], argv, plan.hooks[i].envp);
        dprintf(2, "cannot execute: %s", strerror(errno));
        _exit(127);
    }
    close(state);
    close(out[1]);
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0 || fcntl(out[0], F_SETFL, O_NONBLOCK) < 0) {
        int err = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        errno = err;
        snprintf(why, size, "%s: watch it", argv[0]);
        return -1;
    }
    /* Its output, kept up to 1 KiB; its exit, not the end of its output, ends the wait. */
    char output[1024];
    size_t kept = 0;
    long deadline = plan.hooks[i].timeout ? now_ms() + plan.hooks[i].timeout * 1000L : -1;
    int exited = 0;
    while (!exited) {
        struct pollfd fds[2] = {{.fd = pidfd, .events = POLLIN}, {.fd = out[0], .events = POLLIN}};
        int wait = deadline < 0 ? -1 : (int)(deadline - now_ms() > 0 ? deadline - now_ms() : 0);
        int r = poll(fds, out[0] >= 0 ? 2 : 1, wait);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            close(pidfd);
            if (out[0] >= 0)
                close(out[0]);
            errno = ETIMEDOUT;
            snprintf(why, size, "%s did not finish within its timeout of %u s", argv[0], plan.hooks[i].timeout);
            return -1;
        }
        exited = r > 0 && (fds[0].revents & POLLIN);
        for (;;) {
            char buf[512];
            ssize_t n = out[0] >= 0 ? read(out[0], buf, sizeof buf) : -1;
            if (n > 0 && kept < sizeof output) {
                size_t take = (size_t)n < sizeof output - kept ? (size_t)n : sizeof output - kept;
                memcpy(output + kept, buf, take);
                kept += take;
            }
            if (n > 0)
                continue;
            if (n == 0) { /* every writer is gone */
                close(out[0]);
                out[0] = -1;
            }
            break;
        }
    }
    close(pidfd);
    if (out[0] >= 0)
        close(out[0]);
    int st;
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            snprintf(why, size, "%s: wait for it", argv[0]);
            return -1;
        }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    while (kept > 0 && (output[kept - 1] == '\n' || output[kept - 1] == ' '))
        kept--;
    if (WIFSIGNALED(st))
        snprintf(why, size, "%s was killed by signal %d: %.*s", argv[0], WTERMSIG(st), (int)kept, output);
    else
        snprintf(why, size, "%s exited with %d: %.*s", argv[0], WEXITSTATUS(st), (int)kept, output);
    errno = 0;
    return -1;
}

int run_hooks(uint32_t phase, const char *status, char *why, size_t size)
{
    for (size_t i = 0; i < plan.n_hooks; i++) {
        if (plan.hooks[i].phase != phase)
            continue;
        logd("Running hook %s", plan.hooks[i].argv[0]);
        if (run_hook(i, status, why, size) < 0)
            return -1;
    }
    return 0;
}
