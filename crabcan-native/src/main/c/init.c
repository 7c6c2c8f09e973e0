/*
 * pid 1 of the sandbox: waits for its id maps, takes the plan's credentials, builds the root,
 * sets hostname, network, rlimits and capabilities, starts the command and reaps. A detached
 * sandbox's init also forwards signals to the command.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <grp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"

void set_capabilities(void)
{
    for (unsigned long c = 0; c < 64; c++) {
        if (plan.cap_bounding & (1ULL << c))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            fail(S_CAPABILITIES, errno, "drop capability %lu from the bounding set", c);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail(S_CAPABILITIES, errno, "clear the ambient set");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)plan.cap_effective, (uint32_t)plan.cap_permitted, (uint32_t)plan.cap_inheritable},
        {(uint32_t)(plan.cap_effective >> 32), (uint32_t)(plan.cap_permitted >> 32),
         (uint32_t)(plan.cap_inheritable >> 32)},
    };
    if (syscall(SYS_capset, &header, data) < 0)
        fail(S_CAPABILITIES, errno, "capset");
    for (unsigned long c = 0; c < 64; c++)
        if ((plan.cap_ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
            fail(S_CAPABILITIES, errno, "raise ambient capability %lu", c);
}

/* The command's pid, for forward_signal; 0 before it exists. */
/* The plan's supplementary groups (OPT_SETGROUPS), once the gid is set and while CAP_SETGID is held. */
void set_groups(void)
{
    if (!(plan.options & OPT_SETGROUPS))
        return;
    gid_t *groups = calloc(plan.n_groups ? plan.n_groups : 1, sizeof *groups);
    if (!groups)
        fail(S_CREDENTIALS, ENOMEM, "supplementary groups");
    for (size_t i = 0; i < plan.n_groups; i++) {
        const uint8_t *g = plan.groups + 4 * i;
        groups[i] = (gid_t)g[0] | (gid_t)g[1] << 8 | (gid_t)g[2] << 16 | (gid_t)g[3] << 24;
    }
    logd("Setting %zu supplementary groups", plan.n_groups);
    if (setgroups(plan.n_groups, groups) < 0)
        fail(S_CREDENTIALS, errno, "setgroups (%zu groups; the sandbox's user namespace allows it only if it was "
             "created with supplementary groups)", plan.n_groups);
    free(groups);
}

static volatile pid_t forward_to;

/*
 * Signals sent to init with kill(2) from outside the sandbox (si_pid is 0 for a sender in an
 * ancestor PID namespace: the helper for destroy() and signal(), OCI kill) are the command's.
 * Others are dropped, as a namespace's init always did: those sent from inside (kill(0, sig)
 * reaches the command on its own) and those the kernel raises, a terminal's ^C or a SIGPIPE.
 * A real fault in init itself must still end it, not spin on the faulting instruction.
 */
static void forward_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    int saved = errno;
    if (forward_to > 0 && info->si_code == SI_USER && info->si_pid == 0)
        kill(forward_to, sig);
    else if (info->si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL))
        signal(sig, SIG_DFL);
    errno = saved;
}

/*
 * The helper's SIG_LIMIT_KILL (a limit was reached): every other process of the sandbox dies, so
 * that the reaping below sees the command's end and reports its accounting. Sent from inside, it
 * is ignored, as every signal a namespace's init has no business with.
 */
static void limit_kill(int sig, siginfo_t *info, void *context)
{
    (void)sig;
    (void)context;
    int saved = errno;
    if (info->si_code == SI_USER && info->si_pid == 0)
        kill(-1, SIGKILL);
    errno = saved;
}

/*
 * From now on init forwards signals to cmd. A PID namespace's init gets only the signals it has a
 * handler for, so without these a signal to init would be dropped.
 */
static void forward_signals(pid_t cmd)
{
    forward_to = cmd;
    struct sigaction sa = {.sa_sigaction = forward_signal, .sa_flags = SA_RESTART | SA_SIGINFO};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sigaction(sig, &sa, NULL) < 0)
            fail(S_SIGNALS, errno, "forward signal %d", sig);
    struct sigaction kill_all = {.sa_sigaction = limit_kill, .sa_flags = SA_RESTART | SA_SIGINFO};
    sigemptyset(&kill_all.sa_mask);
    if (sigaction(SIG_LIMIT_KILL, &kill_all, NULL) < 0)
        fail(S_SIGNALS, errno, "limit kill signal");
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        fail(S_SIGNALS, errno, "unblock signals");
}

/*
 * Detached init: waits until the command is ready, says CREATED, and from then on lives without
 * the helper: no parent-death signal, no reports, and the signals OCI kill sends it go on to the
 * command. False if the command failed
 * before it was ready (it reported why).
 */
static int wait_created(int exec_rd, pid_t cmd)
{
    char c;
    ssize_t n;
    while ((n = read(exec_rd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1 || c != 'W')
        return 0;
    forward_signals(cmd);
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "clear PR_SET_PDEATHSIG");
    emit(R_CREATED);
    close(report_fd);
    report_fd = -1;
    return 1;
}

static long micros(struct timeval tv)
{
    return tv.tv_sec * 1000000L + tv.tv_usec;
}

/* pid 1 of the sandbox: finishes the setup, starts the command, reaps, reports. */
__attribute__((noreturn)) void sandbox_init(int sync_rd)
{
    char c;
    ssize_t n;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_PDEATHSIG");
    /* The command's ps shows this process as pid 1: it must name nothing of the host. */
    set_title("crabcan-init");
    if (prctl(PR_SET_NAME, "crabcan-init", 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_NAME crabcan-init");
    while ((n = read(sync_rd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(1); /* the helper died before our id maps were written */
    logd("User namespaces set up");

    /* Still the caller's host ids here, which can reach the caller's private directories. */
    plan.staging_fd = open(root_attach_point(), O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (plan.staging_fd < 0)
        fail(S_ROOTFS, errno, "the directory the root is attached at, %s", root_attach_point());
    logd("Switching to uid %u / gid %u", plan.uid, plan.gid);
    if (setresgid(plan.gid, plan.gid, plan.gid) < 0)
        fail(S_CREDENTIALS, errno, "setresgid %u", plan.gid);
    set_groups();
    if (setresuid(plan.uid, plan.uid, plan.uid) < 0)
        fail(S_CREDENTIALS, errno, "setresuid %u", plan.uid);
    /*
     * A change of host ids (a root caller's sandbox becomes the host id allocated to it) clears the parent-death
     * signal: arm it again, then make sure the helper did not die in between. The helper keeps
     * its end of the sync pipe open for as long as it lives, so a hang-up means it is gone.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_PDEATHSIG");
    struct pollfd lifeline = {.fd = sync_rd, .events = POLLIN};
    if (poll(&lifeline, 1, 0) != 0)
        _exit(1);
    if (plan.options & OPT_RUNTIME_HOOKS)
        plan.resume_fd = sync_rd; /* the helper writes on it once the runtime's hooks are done */
    else
        close(sync_rd);
    join_session_keyring();

    if ((plan.options & OPT_UNSHARE_CGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        fail(S_CGROUP, errno, "new cgroup namespace");
    if (plan.hostname) {
        if (sethostname(plan.hostname, strlen(plan.hostname)) < 0)
            fail(S_HOSTNAME, errno, "%s", plan.hostname);
        logd("Container hostname is now %s", plan.hostname);
    }
    if (plan.domainname && setdomainname(plan.domainname, strlen(plan.domainname)) < 0)
        fail(S_HOSTNAME, errno, "domain name %s", plan.domainname);
    if (plan.n_hooks)
        note_hook_facts();
    logd("Setting mount points ...");
    enter_root();
    copy_in_files();
    if (plan.console_socket)
        open_terminal(); /* in the sandbox's own devpts, as the command's user: the terminal is the command's */
    if (plan.options & OPT_LOOPBACK_UP)
        loopback_up();
    if (plan.net.ifname)
        interface_up();
    for (size_t i = 0; i < plan.n_rlimits; i++) {
        struct rlimit rl = {plan.rlimits[i].cur, plan.rlimits[i].max};
        if (setrlimit((int)plan.rlimits[i].resource, &rl) < 0)
            fail(S_RLIMIT, errno, "resource %u", plan.rlimits[i].resource);
    }
    if ((plan.options & OPT_SETSID) && setsid() < 0)
        fail(S_SETSID, errno, "new session");
    logd("Clearing unwanted capabilities ...");
    set_capabilities();
    if ((plan.options & OPT_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail(S_NO_NEW_PRIVS, errno, "PR_SET_NO_NEW_PRIVS");
    /* Keeps the command out of /proc/1 (exe, fd, mem): this process runs the helper's binary. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail(S_PRCTL, errno, "PR_SET_DUMPABLE");
    logd("Container set up successfully");
    logd("Starting container with command %s", plan.argv[0]);

    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) < 0)
        fail(S_PIPE, errno, "exec status pipe");
    exec_pipe[1] = above_passed_targets(exec_pipe[1]);
    report_fd = above_passed_targets(report_fd);
    if (plan.release_fifo)
        plan.release_fd = above_passed_targets(plan.release_fd);
    /*
     * The command borrows our memory until its execve (vfork), which spares copying an address
     * space only to throw it away. Until then it writes nothing but its stack, its own fds and
     * exec_started_us, and we have no signal handlers that could run on that stack. A detached command waits for
     * its release before execve while we go on, so it needs a copy of its own.
     */
    pid_t cmd = plan.release_fifo ? fork() : vfork();
    if (cmd < 0)
        fail(S_FORK, errno, "start the command");
    if (cmd == 0)
        run_command(exec_pipe[0], exec_pipe[1]);
    close(exec_pipe[1]);
    close_passed_fds();
    drop_terminal();
    /*
     * With a terminal the command's stdio is the pty, and the stdio init came with (the caller's)
     * is nobody's to keep open: containerd's shim reads what the runtime writes to it until every
     * copy is closed, and waited for init's end before it took the terminal's master.
     */
    if (plan.console_socket)
        for (int fd = 0; fd <= 2; fd++)
            close(fd);
    if (!plan.release_fifo)
        forward_signals(cmd); /* a vfork'ed command has exec'ed or failed: no handler can run on its stack */
    if (plan.release_fifo && !wait_created(exec_pipe[0], cmd))
        n = 1; /* the command failed before it was ready */
    else
        while ((n = read(exec_pipe[0], &c, 1)) < 0 && errno == EINTR)
            ;
    /* A fork'ed (detached) command's time is its own, and a detached sandbox reports none. */
    long exec_us = exec_started_us ? exec_started_us : monotonic_us();
    close(exec_pipe[0]);
    if (n == 0)
        emit(R_EXECUTED);

    for (;;) {
        int status;
        struct rusage ru;
        pid_t w = wait4(-1, &status, 0, &ru);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            _exit(1);
        if (w != cmd)
            continue; /* an orphan that the command left behind */
        if (plan.release_fifo)
            _exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
        if (n != 0)
            _exit(1); /* exec failed and was reported */
        long wall = monotonic_us() - exec_us;
        copy_out_files(); /* after the program's wall time: the copies are not the program's */
        if (WIFSIGNALED(status))
            emit(R_SIGNALED, WTERMSIG(status), micros(ru.ru_utime), micros(ru.ru_stime),
                 ru.ru_maxrss, wall);
        else
            emit(R_EXIT, WEXITSTATUS(status), micros(ru.ru_utime), micros(ru.ru_stime),
                 ru.ru_maxrss, wall);
        _exit(0);
    }
}
