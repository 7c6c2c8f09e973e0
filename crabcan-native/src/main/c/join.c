/*
 * OCI exec (T_JOIN): the command runs in a sandbox that is already running, instead of a new one.
 * The helper joins the sandbox's cgroups and connects the console socket while it is still the
 * caller on the host, makes itself non-dumpable, enters all the sandbox's namespaces at once
 * through a pidfd (the kernel joins the user namespace first and checks each against it), and
 * forks the command's process, which is then in the sandbox's PID namespace. That process takes
 * the plan's ids, terminal, rlimits, capabilities, no_new_privs and seccomp filter as init gives
 * them to a sandbox's command, and execs. The helper stays outside the sandbox's PID namespace
 * (nothing inside can see or signal it), reports, waits and forwards signals, or (OPT_DETACHED)
 * exits and leaves the command to the nearest subreaper.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

/*
 * When pid started (clock ticks after boot, field 22 of /proc/PID/stat), into *start; -1 (errno
 * ESRCH) if there is no such process. Read of a child not yet reaped, it is that child's.
 */
int read_start_time(uint32_t pid, uint64_t *start)
{
    char path[32], buf[1024];
    snprintf(path, sizeof path, "/proc/%u/stat", pid);
    int stat = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = stat < 0 ? -1 : read(stat, buf, sizeof buf - 1);
    if (stat >= 0)
        close(stat);
    if (n <= 0) {
        errno = ESRCH;
        return -1;
    }
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p) {
        errno = ESRCH;
        return -1;
    }
    *start = strtoull(p + 1, NULL, 10);
    return 0;
}

/*
 * A pidfd for pid, if it is still the process that started at start_time (clock ticks after
 * boot, field 22 of /proc/PID/stat): the pid a state file names may have been reused since. The
 * pidfd, taken first, keeps meaning that process whatever happens to the pid later.
 */
int open_process(uint32_t pid, uint64_t start_time)
{
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0)
        return -1;
    uint64_t start;
    if (read_start_time(pid, &start) < 0 || start != start_time) {
        close(fd);
        errno = ESRCH;
        return -1;
    }
    return fd;
}

/* Enters the namespaces of init, or of the command where the caller may not enter init's. */
static void enter_namespaces(void)
{
    int target = open_process(plan.join.pid, plan.join.start_time);
    if (target < 0)
        fail(S_JOIN, errno, "the sandbox's init (pid %u) is gone", plan.join.pid);
    if (setns(target, (int)plan.clone_flags) == 0) {
        close(target);
        return;
    }
    int err = errno;
    close(target);
    if (err != EPERM || !plan.join.cmd_pid)
        fail(S_JOIN, err, "enter the namespaces (0x%x) of the sandbox's init (pid %u)", plan.clone_flags,
             plan.join.pid);
    logd("Init (pid %u) is not ours to enter; entering its command's namespaces", plan.join.pid);
    target = open_process(plan.join.cmd_pid, plan.join.cmd_start_time);
    if (target < 0)
        fail(S_JOIN, errno, "the sandbox's command (pid %u) is gone", plan.join.cmd_pid);
    if (setns(target, (int)plan.clone_flags) < 0)
        fail(S_JOIN, errno, "enter the namespaces (0x%x) of the sandbox's command (pid %u; init's refused: "
             "not dumpable, and the caller has no CAP_SYS_PTRACE over it): the command must be running and dumpable",
             plan.clone_flags, plan.join.cmd_pid);
    close(target);
}

/* The command's process, in the sandbox's PID namespace, up to run_command. */
__attribute__((noreturn)) static void joined_command(int exec_rd, int exec_wr)
{
    exec_status_fd = exec_wr;
    if (setresgid(plan.gid, plan.gid, plan.gid) < 0)
        fail(S_CREDENTIALS, errno, "setresgid %u in the sandbox", plan.gid);
    set_groups();
    if (setresuid(plan.uid, plan.uid, plan.uid) < 0)
        fail(S_CREDENTIALS, errno, "setresuid %u in the sandbox", plan.uid);
    /*
     * The id change made the kernel set dumpability from fs.suid_dumpable: until execve nothing in
     * the sandbox, though it now has our ids, may trace this process or open its /proc files
     * (exe, fd, mem, cwd), which are the helper's and the host's.
     */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_DUMPABLE");
    join_session_keyring();
    if (plan.console_socket)
        open_terminal();
    else if ((plan.options & OPT_SETSID) && setsid() < 0)
        fail(S_SETSID, errno, "new session");
    for (size_t i = 0; i < plan.n_rlimits; i++) {
        struct rlimit rl = {plan.rlimits[i].cur, plan.rlimits[i].max};
        if (setrlimit((int)plan.rlimits[i].resource, &rl) < 0)
            fail(S_RLIMIT, errno, "resource %u", plan.rlimits[i].resource);
    }
    set_capabilities();
    if ((plan.options & OPT_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(S_NO_NEW_PRIVS, errno, "PR_SET_NO_NEW_PRIVS");
    run_command(exec_rd, exec_wr);
}

/*
 * OPT_DETACHED: the command is left to the engine, which reaps it (a subreaper, such as conmon or
 * a containerd shim, that waits for the pid it was given) and must see its exit status even if it
 * has already ended. While the zygote lives it is the nearest subreaper, and it reaps what it
 * adopts at once; so the command stays our child (a zombie, if it ends) until the zygote has gone
 * with its JVM, and only then do we go and the engine inherits it. Until then the JVM hears
 * nothing more: it has what it needs.
 */
static int leave_to_subreaper(int zygote)
{
    struct pollfd gone = {.fd = zygote, .events = POLLIN};
    while (zygote >= 0 && poll(&gone, 1, -1) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Reports how the command ended once it has; kills it if the JVM goes away first. */
static int supervise_joined(int sock, pid_t cmd, int executed, long exec_us)
{
    int pidfd = (int)syscall(SYS_pidfd_open, cmd, 0);
    if (pidfd < 0) {
        kill(cmd, SIGKILL);
        fail(S_JOIN, errno, "watch the command (pid %d)", (int)cmd);
    }
    struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = pidfd, .events = POLLIN}};
    while (!fds[1].revents) {
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            kill(cmd, SIGKILL);
            break;
        }
        if (!fds[0].revents)
            continue;
        unsigned char buf[64];
        ssize_t n = read(sock, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            kill(cmd, SIGKILL); /* the JVM is gone before it let the command go */
            fds[0].fd = -1;
        }
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == C_KILL || buf[i] == C_LIMIT_KILL)
                kill(cmd, SIGKILL);
            else if (buf[i] > C_SIGNAL_BASE && buf[i] < C_SIGNAL_BASE + 32)
                kill(cmd, (int)(buf[i] - C_SIGNAL_BASE));
        }
    }
    int status;
    struct rusage ru = {0};
    while (wait4(cmd, &status, 0, &ru) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    long wall = executed ? monotonic_us() - exec_us : -1;
    long utime = ru.ru_utime.tv_sec * 1000000L + ru.ru_utime.tv_usec;
    long stime = ru.ru_stime.tv_sec * 1000000L + ru.ru_stime.tv_usec;
    if (executed && status != -1 && WIFSIGNALED(status))
        emit(R_SIGNALED, WTERMSIG(status), utime, stime, ru.ru_maxrss, wall);
    else if (executed && status != -1)
        emit(R_EXIT, WEXITSTATUS(status), utime, stime, ru.ru_maxrss, wall);
    emit(R_END, status);
    return 0;
}

int join_sandbox(int sock)
{
    /* Our parent, the zygote, while it lives; pids are ours to name until we leave for the sandbox's namespaces. */
    int zygote = (int)syscall(SYS_pidfd_open, getppid(), 0); /* close-on-exec, as every pidfd */
    enter_cgroups(getpid());
    if (plan.console_socket)
        connect_console();
    /* Inherited by the command's process: nothing inside may trace it before its execve. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_DUMPABLE");
    logd("Joining the sandbox of init %u", plan.join.pid);
    enter_namespaces();

    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) < 0)
        fail(S_PIPE, errno, "exec status pipe");
    pid_t cmd = fork();
    if (cmd < 0)
        fail(S_FORK, errno, "start the command in the sandbox");
    if (cmd == 0)
        joined_command(exec_pipe[0], exec_pipe[1]);
    close(exec_pipe[1]);
    if (plan.console_fd >= 0)
        close(plan.console_fd);
    /* No start time: /proc is the sandbox's now, and nothing joins an exec's command by its pid. */
    emit(R_PID, (int)cmd, 0L);
    char c;
    ssize_t n;
    while ((n = read(exec_pipe[0], &c, 1)) < 0 && errno == EINTR)
        ;
    long exec_us = monotonic_us();
    close(exec_pipe[0]);
    if (n == 0)
        emit(R_EXECUTED);
    if (n == 0 && (plan.options & OPT_DETACHED))
        return leave_to_subreaper(zygote);
    return supervise_joined(sock, cmd, n == 0, exec_us);
}
