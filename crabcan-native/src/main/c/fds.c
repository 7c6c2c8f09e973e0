/*
 * Descriptors the JVM passes into a sandbox (T_PASS_FD; socket activation; ends of pipes between
 * sandboxes): received by the helper on its channel before init exists, inherited by init, given
 * to the command at their target numbers, and closed in init once the command has them. Those
 * at 0, 1 and 2 are the sandbox's stdio, placed by the helper (open_stdio) like its other stdio.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

/*
 * The JVM's first byte on the channel is C_FDS, carrying every passed descriptor in record order.
 * Anything else (C_KILL, the channel closing) ends the sandbox before it exists.
 */
void receive_passed_fds(int sock)
{
    size_t total = plan.n_passed - plan.n_inherited + plan.n_copy_in + plan.n_copy_out;
    if (total == 0)
        return;
    char byte;
    struct iovec iov = {.iov_base = &byte, .iov_len = 1};
    union {
        char buf[CMSG_SPACE(sizeof(int) * (MAX_PASSED_FDS + 2 * MAX_COPIES))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = (socklen_t)CMSG_SPACE(sizeof(int) * total)};
    ssize_t n;
    while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (n < 0)
        fail(S_PASS_FDS, errno, "receive %zu fds from the JVM", total);
    if (n == 0 || byte != C_FDS)
        _exit(1); /* the JVM gave up on this sandbox (C_KILL, or it went away) */
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    size_t got = 0;
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
        got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    if ((msg.msg_flags & MSG_CTRUNC) || got != total)
        fail(S_PASS_FDS, EBADMSG, "the JVM sent %zu fds, the plan names %zu", got, total);
    /* In record order: the passed fds, then the files to copy in, then those to copy out. */
    int *fds[MAX_PASSED_FDS + 2 * MAX_COPIES];
    size_t k = 0;
    for (size_t i = 0; i < plan.n_passed; i++)
        if (!plan.passed[i].inherited)
            fds[k++] = &plan.passed[i].fd;
    for (size_t i = 0; i < plan.n_copy_in; i++)
        fds[k++] = &plan.copy_in[i].fd;
    for (size_t i = 0; i < plan.n_copy_out; i++)
        fds[k++] = &plan.copy_out[i].fd;
    for (size_t i = 0; i < total; i++)
        memcpy(fds[i], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
}

/*
 * In the command's process, after every other fd got close-on-exec: each passed fd at its target.
 * They are first moved above every target, so that placing one cannot overwrite another still
 * to be placed. LISTEN_PID needs the command's own pid, known only here; the slot after the
 * plan's environment is ours (parse_plan keeps it free). Under vfork init's memory is ours
 * until execve: init never reads the environment again, and plan.passed stays init's.
 */
/* The lowest fd number above every target. */
static uint32_t above_targets(void)
{
    uint32_t above = 3;
    for (size_t i = 0; i < plan.n_passed; i++)
        if (plan.passed[i].target >= above)
            above = plan.passed[i].target + 1;
    return above;
}

/*
 * In init, before the command's process starts: one of init's fds that the command's process
 * still writes to after it placed the passed fds (the exec pipe, the report pipe, the release
 * FIFO) moves above every target, or a target could replace it and a failure before execve
 * would be written into the caller's file or socket while init heard nothing.
 */
int above_passed_targets(int fd)
{
    uint32_t above = above_targets();
    if (plan.n_passed == 0 || fd < 0 || (uint32_t)fd >= above)
        return fd;
    int high = fcntl(fd, F_DUPFD_CLOEXEC, (int)above);
    if (high < 0) {
        struct rlimit rl = {0, 0};
        getrlimit(RLIMIT_NOFILE, &rl);
        fail(S_PASS_FDS, errno, "passed fd target %u: targets must be below the command's RLIMIT_NOFILE (%llu)",
             above - 1, (unsigned long long)rl.rlim_cur);
    }
    close(fd);
    return high;
}

int give_passed_fds(char *listen_pid, size_t size)
{
    uint32_t above = above_targets();
    int high[MAX_PASSED_FDS]; /* not in plan: init closes plan.passed's fds, which are its own */
    for (size_t i = 0; i < plan.n_passed; i++)
        if (plan.passed[i].target > 2 && (high[i] = fcntl(plan.passed[i].fd, F_DUPFD_CLOEXEC, (int)above)) < 0)
            return -1;
    for (size_t i = 0; i < plan.n_passed; i++)
        if (plan.passed[i].target > 2 && dup2(high[i], (int)plan.passed[i].target) < 0)
            return -1;
    if (plan.options & OPT_LISTEN_PID) {
        snprintf(listen_pid, size, "LISTEN_PID=%d", (int)getpid());
        plan.envp[plan.envc] = listen_pid;
        plan.envp[plan.envc + 1] = NULL;
    }
    return 0;
}

/* In init, once the command has its copies: the sandbox's pid 1 keeps none of them. */
void close_passed_fds(void)
{
    for (size_t i = 0; i < plan.n_passed; i++)
        close(plan.passed[i].fd);
}

/* In the helper, once init has them: the files to copy in and out are init's. */
void close_copy_fds(void)
{
    for (size_t i = 0; i < plan.n_copy_in; i++)
        close(plan.copy_in[i].fd);
    for (size_t i = 0; i < plan.n_copy_out; i++)
        close(plan.copy_out[i].fd);
}
