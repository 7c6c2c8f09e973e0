/*
 * crabcan-helper: carries out sandbox plans prepared by the Java side.
 *
 * One helper per JVM runs as a zygote ("crabcan-helper --zygote SOCKET"): it connects to the
 * JVM's socket, says "ZYGOTE", and reads requests: a u32 token, then a plan. For each it opens
 * a new connection to the same socket, says "SANDBOX <token>" on it and forks a sandbox helper,
 * which already holds the plan and that channel and carries the plan out. Forking the zygote
 * is much cheaper than the JVM starting a process, and the sandbox helper never waits for the
 * JVM.
 *
 * The Java side decides everything (ids, mounts, capabilities, seccomp bytes, argv, env); this
 * program only executes the plan in a fixed order and reports each outcome as one text line on
 * the control socket. The plan's records, the report lines (R_*) and the bytes the JVM sends
 * back (C_*) are defined in crabcan-native/contract/contract.def, from which contract.h and the
 * Java side are generated. The socket closing kills the sandbox, which is how it dies with the JVM.
 *
 * A detached sandbox (OCI create/start; its plan has a T_DETACH record naming a FIFO) reports
 * CREATED and then no more: C_DETACH makes the helper exit without killing it. Its init then
 * belongs to whoever reaps orphans (an OCI engine's subreaper), forwards the signals it gets to
 * the command, and exits with the command's status (128+N for signal N).
 *
 * Process layout: helper (host namespaces) -> init (pid 1 in the new namespaces,
 * does the setup, reaps) -> command (execve). When init exits, the kernel kills
 * every process left in the PID namespace.
 *
 * Run as "crabcan-oci", the program is the OCI runtime's native front end (oci_front.c and
 * oci_service.c), the zygote of its own request to a long-lived JVM.
 * Run as "crabcan-helper --hook", it runs one OCI hook on the host for the runtime (hooks.c).
 *
 * The files: main.c (the zygote and each sandbox's helper), plan.h and plan.c (the plan and its
 * parser), report.c (report lines), paths.c and mounts.c (namespaces and the new root), net.c,
 * init.c (pid 1), exec.c (the command), join.c (OCI exec: a command in a running sandbox) and
 * tty.c (the command's terminal). helper.h declares what they share.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#include "helper.h"

/*
 * Every sandbox's init is a fork of the zygote and shows the zygote's argument area as its
 * /proc/1/cmdline, which the JVM filled with host details (the control socket's path, under the
 * caller's cache or home, with the JVM's pid in it). The zygote keeps the path here and
 * overwrites that area with a title (see set_title).
 */
static char control_path[sizeof ((struct sockaddr_un *)0)->sun_path];
static char *title_area;
static size_t title_size;

/*
 * Replaces the whole argument area (what /proc/PID/cmdline shows). Its last byte is left
 * non-NUL: the kernel then shows only the first string, as for setproctitle, so not even the
 * length of what was there can be read.
 */
void set_title(const char *title)
{
    size_t n = strlen(title);
    if (n + 1 >= title_size)
        n = title_size > 1 ? title_size - 2 : 0;
    memset(title_area, 0, title_size);
    memcpy(title_area, title, n);
    if (title_size > 1)
        title_area[title_size - 1] = ' ';
}
/* Reads len bytes; false at end of file or on error. */
int read_exact(int fd, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = read(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        p += n;
        len -= (size_t)n;
    }
    return 1;
}

/* ---- the helper --------------------------------------------------------- */

/*
 * The socket must be our JVM's (our parent's, which bound and listens on it): the path lies in a
 * directory that, in a user namespace, other host users may own the way to, and whoever listened
 * there instead would be sent plans to run as this user.
 */
static int connect_control(const char *path, char *address, size_t size)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path); /* main checked its length */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ucred peer;
    socklen_t len = sizeof peer;
    if (s < 0)
        _exit(2); /* no channel to report on; the JVM sees the zygote gone */
    /*
     * A sandbox's channel gets a unique abstract name (the kernel's autobind): the JVM finds its
     * own end among its fds by that peer name when it passes descriptors (T_PASS_FD).
     */
    if (address) {
        struct sockaddr_un own = {.sun_family = AF_UNIX};
        socklen_t own_len = sizeof own;
        if (bind(s, (struct sockaddr *)&own, sizeof own.sun_family) < 0
            || getsockname(s, (struct sockaddr *)&own, &own_len) < 0 || own_len <= sizeof own.sun_family + 1
            || own.sun_path[0] != '\0' || own_len - sizeof own.sun_family - 1 >= size)
            _exit(2);
        memcpy(address, own.sun_path + 1, own_len - sizeof own.sun_family - 1);
        address[own_len - sizeof own.sun_family - 1] = '\0';
    }
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0
        || getsockopt(s, SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0 || peer.pid != getppid())
        _exit(2);
    return s;
}

/*
 * The sandbox's stdin, stdout and stderr: pipes to the JVM, files, descriptors the JVM passed
 * (ends of pipes between sandboxes), or ours; stderr may be a copy of stdout
 * (OPT_STDERR_TO_STDOUT). For each pipe the JVM is told (PIPES <our pid> <fd for 0> <fd for 1> <fd for 2>, -1 where none) which of our
 * fds to open through /proc/<our pid>/fd/N as its end. Both ends stay in held until the JVM
 * says it has its own (C_PIPES_OPENED, sent once the command runs): until then neither its open can block
 * nor can the command see an end of file or a broken pipe. Returns how many fds are held.
 */
static size_t open_stdio(int held[6])
{
    size_t n_held = 0;
    int jvm_end[3] = {-1, -1, -1};
    for (int fd = 0; fd <= 2; fd++) {
        if (!plan.stdio[fd].pipe)
            continue;
        int p[2];
        if (pipe2(p, O_CLOEXEC) < 0)
            fail(S_STDIO, errno, "pipe for fd %d", fd);
        if (dup2(fd == 0 ? p[0] : p[1], fd) < 0)
            fail(S_STDIO, errno, "dup2 onto fd %d", fd);
        jvm_end[fd] = fd == 0 ? p[1] : p[0];
        held[n_held++] = p[0];
        held[n_held++] = p[1];
    }
    if (n_held > 0)
        emit(R_PIPES, (int)getpid(), jvm_end[0], jvm_end[1], jvm_end[2]);
    for (int fd = 0; fd <= 2; fd++) {
        if (!plan.stdio[fd].path)
            continue;
        int flags = (int)plan.stdio[fd].flags;
        int f = open_without_links(plan.stdio[fd].path, flags, (mode_t)plan.stdio[fd].mode);
        if (f < 0 && errno == ENXIO && (flags & O_ACCMODE) == O_WRONLY)
            fail(S_STDIO, errno, "open %s for fd %d: it is a FIFO that nobody has open for reading (stdio files are "
                 "opened without blocking); to connect two sandboxes use a SandboxPipe (Stdio.to(pipe), "
                 "Stdio.from(pipe))", plan.stdio[fd].path, fd);
        if (f < 0)
            fail(S_STDIO, errno, "open %s for fd %d", plan.stdio[fd].path, fd);
        /* O_NONBLOCK only kept a planted FIFO from hanging the open; the command gets a blocking fd. */
        if ((flags & O_NONBLOCK) && fcntl(f, F_SETFL, flags & O_APPEND) < 0)
            fail(S_STDIO, errno, "make %s blocking", plan.stdio[fd].path);
        if (dup2(f, fd) < 0)
            fail(S_STDIO, errno, "dup2 onto fd %d", fd);
        close(f);
    }
    for (size_t i = 0; i < plan.n_passed; i++)
        if (plan.passed[i].target <= 2 && dup2(plan.passed[i].fd, (int)plan.passed[i].target) < 0)
            fail(S_STDIO, errno, "dup2 the passed fd onto fd %u", plan.passed[i].target);
    if ((plan.options & OPT_STDERR_TO_STDOUT) && dup2(1, 2) < 0)
        fail(S_STDIO, errno, "dup2 fd 1 onto fd 2");
    return n_held;
}

#define SUPERVISE_DETACHED (-2) /* a detached sandbox was let go (C_DETACH) */

/*
 * Forwards the sandbox's reports until init is gone; kills it on request or when the JVM goes
 * away, signals the command on request; closes the held stdio pipe ends once the JVM has its own
 * (C_PIPES_OPENED); lets a paused init go on (C_RESUME, through the sync pipe's resume_w); adds the
 * host's new addresses to a filter that refuses them (hosts_watch, -1: none). A detached sandbox's
 * init stops reporting once created, so its report pipe's end says nothing; then C_DETACH (let it
 * go), C_KILL, init's exit (its pidfd: killed, as while the runtime's hooks run) or the socket
 * closing end this.
 */
static int supervise(int sock, int report_rd, int resume_w, pid_t init, int held[6], size_t *n_held,
                     int hosts_watch)
{
    int init_fd = plan.release_fifo ? (int)syscall(SYS_pidfd_open, init, 0) : -1;
    if (plan.release_fifo && init_fd < 0) {
        kill(init, SIGKILL);
        fail(S_CLONE, errno, "pidfd_open of sandbox init %d", (int)init);
    }
    struct pollfd fds[4] = {{.fd = sock, .events = POLLIN}, {.fd = report_rd, .events = POLLIN},
                            {.fd = hosts_watch, .events = POLLIN}, {.fd = init_fd, .events = POLLIN}};
    char buf[PIPE_BUF];
    int init_gone = 0;
    for (;;) {
        if (fds[0].fd < 0 && fds[1].fd < 0)
            break; /* a detached sandbox's init stopped reporting, and the JVM is gone */
        if (init_gone && fds[1].fd < 0)
            break; /* a detached sandbox's init is gone before it was let go; all it reported was read */
        if (poll(fds, 4, -1) < 0) {
            if (errno == EINTR)
                continue;
            kill(init, SIGKILL);
            break;
        }
        if (fds[2].revents && refuse_new_host_addresses(fds[2].fd, init) < 0)
            fds[2].fd = -1;
        if (fds[3].revents) {
            init_gone = 1;
            fds[3].fd = -1; /* stays readable: polled again, it would spin while the report pipe drains */
        }
        if (fds[0].revents) {
            ssize_t n = read(sock, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                kill(init, SIGKILL); /* the JVM is gone; the kernel then kills the whole PID namespace */
                fds[0].fd = -1;
            }
            for (ssize_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char)buf[i];
                if (c == C_PIPES_OPENED) {
                    for (; *n_held > 0; (*n_held)--)
                        close(held[*n_held - 1]);
                } else if (c == C_DETACH && plan.release_fifo) {
                    close(init_fd);
                    return SUPERVISE_DETACHED;
                } else if (c == C_RESUME && (plan.options & OPT_RUNTIME_HOOKS)) {
                    if (write(resume_w, "G", 1) != 1)
                        kill(init, SIGKILL); /* it would wait for ever */
                } else if (c == C_KILL) {
                    kill(init, SIGKILL);
                } else if (c == C_LIMIT_KILL) {
                    kill(init, SIG_LIMIT_KILL);
                } else if (c > C_SIGNAL_BASE && c < C_SIGNAL_BASE + 32) {
                    kill(init, (int)(c - C_SIGNAL_BASE)); /* init forwards it to the command */
                }
            }
        }
        if (fds[1].revents) {
            ssize_t n = read(report_rd, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 && plan.release_fifo) {
                fds[1].fd = -1;
                continue;
            }
            if (n <= 0)
                break;
            write_all(sock, buf, (size_t)n);
        }
    }
    if (init_fd >= 0)
        close(init_fd);
    int status;
    while (waitpid(init, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    return status;
}

/*
 * Work on the host's limits before init exists, which init and the command inherit: from inside its
 * user namespace init can neither raise a hard rlimit nor lower oom_score_adj, which both need
 * CAP_SYS_RESOURCE on the host (root usually has it; a caller without it gets a FAIL naming why).
 */
static void set_host_limits(void)
{
    for (size_t i = 0; i < plan.n_rlimits; i++) {
        int resource = (int)plan.rlimits[i].resource;
        struct rlimit rl;
        if (getrlimit(resource, &rl) < 0)
            fail(S_RLIMIT, errno, "read resource %d", resource);
        if (plan.rlimits[i].max <= rl.rlim_max)
            continue;
        unsigned long long own = rl.rlim_max;
        rl.rlim_max = plan.rlimits[i].max;
        /* getrlimit(2)'s names, which OCI configs use too (process.rlimits[].type). */
        static const char *const names[] = {"CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE",
                                            "MEMLOCK", "AS", "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO",
                                            "RTTIME"};
        if (setrlimit(resource, &rl) < 0)
            fail(S_RLIMIT, errno, "raise the hard limit of RLIMIT_%s to %llu, above the caller's %llu: that needs "
                 "root with CAP_SYS_RESOURCE, and RLIMIT_NOFILE at most fs.nr_open",
                 resource < (int)(sizeof names / sizeof *names) ? names[resource] : "?",
                 (unsigned long long)plan.rlimits[i].max, own);
    }
    if (plan.has_oom_score_adj) {
        char value[16];
        snprintf(value, sizeof value, "%d", (int)plan.oom_score_adj);
        int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, value, strlen(value)) < 0)
            fail(S_OOM_SCORE_ADJ, errno, "set oom_score_adj %s (lowering it below the caller's needs root, "
                 "CAP_SYS_RESOURCE)", value);
        close(fd);
    }
}

/* Puts pid into each of the plan's cgroups (T_CGROUP: their cgroup.procs files). */
void enter_cgroups(pid_t pid)
{
    char text[16];
    snprintf(text, sizeof text, "%d", (int)pid);
    for (size_t i = 0; i < plan.n_cgroups; i++) {
        logd("Joining cgroup %s", plan.cgroup_procs[i]);
        int fd = open(plan.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, text, strlen(text)) < 0)
            fail(S_CGROUP, errno, "put pid %d into %s", (int)pid, plan.cgroup_procs[i]);
        close(fd);
    }
}

/* Whether /proc/self/setgroups says "deny": this user namespace may never call setgroups. */
static int setgroups_denied(void)
{
    char buf[8] = "";
    int fd = open("/proc/self/setgroups", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0; /* before Linux 3.19 setgroups is never denied */
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    return n > 0 && strncmp(buf, "deny", 4) == 0;
}

/* One sandbox: carry out the plan the zygote read on the channel it opened, report until it is gone. */
int sandbox_helper(int sock, uint32_t plan_len)
{
    report_fd = sock;
    report_is_socket = 1;
    plan.root_fd = -1;
    plan.console_fd = -1;
    plan.resume_fd = -1;
    parse_plan(plan_len);
    receive_passed_fds(sock);
    int held[6];
    size_t n_held = open_stdio(held);

    /*
     * Root's supplementary groups would otherwise follow it into the sandbox. Where setgroups is
     * denied (root of a user namespace that an ordinary user made), nobody in it can change them:
     * they are the caller's own, which the sandbox keeps, as an ordinary user's sandbox does.
     */
    if (geteuid() == 0 && !setgroups_denied() && setgroups(0, NULL) < 0)
        fail(S_CREDENTIALS, errno, "drop supplementary groups");
    set_host_limits();
    if (plan.join.pid)
        return join_sandbox(sock);
    if (plan.console_socket)
        connect_console();
    join_namespaces();
    prepare_in_parent();
    if (plan.release_fifo) {
        plan.release_fd = open(plan.release_fifo, O_PATH | O_CLOEXEC);
        if (plan.release_fd < 0)
            fail(S_RELEASE, errno, "open the release FIFO %s", plan.release_fifo);
    }

    int sync[2], report[2];
    if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
        fail(S_PIPE, errno, "sandbox pipes");
    logd("Creating namespaces");
    pid_t init = clone_raw(plan.clone_flags);
    if (init < 0)
        fail(S_CLONE, errno, "create namespaces (flags 0x%x)", plan.clone_flags);
    if (init == 0) {
        close(sync[1]);
        close(report[0]);
        close(sock);
        for (size_t i = 0; i < n_held; i++)
            close(held[i]);
        report_fd = report[1];
        report_is_socket = 0;
        sandbox_init(sync[0]);
    }
    close(sync[0]);
    close(report[1]);
    /*
     * A write to a pipe whose reader is gone (nft's stdin, init's sync pipe for C_RESUME once it
     * was killed) then fails with EPIPE instead of killing us; what we exec resets its signals.
     */
    signal(SIGPIPE, SIG_IGN);
    close_passed_fds(); /* init has them */
    close_copy_fds();
    if (plan.console_fd >= 0)
        close(plan.console_fd); /* init's to use */
    /* Read before init can be reaped, so it is init's: what names it once its pid may be another's. */
    uint64_t init_start;
    if (read_start_time((uint32_t)init, &init_start) < 0)
        fail(S_CLONE, errno, "read the start time of sandbox init %d", (int)init);
    emit(R_PID, (int)init, (long)init_start);
    enter_cgroups(init);
    logd("Setting up user namespace: uid map '%.*s', gid map '%.*s'", (int)strcspn(plan.uid_map, "\n"), plan.uid_map,
         (int)strcspn(plan.gid_map, "\n"), plan.gid_map);
    write_id_maps(init, plan.uid_map, plan.gid_map, (plan.options & OPT_SETGROUPS) != 0);
    if (plan.veth.name)
        connect_veth(init);
    int hosts_watch = plan.net_filter_tool ? load_net_filter(init) : -1;
    pid_t net_helper = plan.n_net_helper > 0 ? start_net_helper(sock, init) : 0;
    if (write(sync[1], "1", 1) != 1)
        fail(S_SYNC, errno, "release the sandbox");
    /* sync[1] stays open while we live: the sandbox's init watches it (see sandbox_init). */
    for (size_t i = 0; i < plan.n_mounts; i++)
        if (plan.mounts[i].fd >= 0)
            close(plan.mounts[i].fd);
    if (plan.root_fd >= 0)
        close(plan.root_fd);

    /* The sandbox holds its own stdio; ours must not keep its pipes open. */
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd <= 2 && devnull >= 0; fd++)
        dup2(devnull, fd);

    int status = supervise(sock, report[0], sync[1], init, held, &n_held, hosts_watch);
    if (status == SUPERVISE_DETACHED)
        return 0;
    if (net_helper > 0) {
        kill(net_helper, SIGKILL);
        while (waitpid(net_helper, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    emit(R_END, status);
    /* A quick command can end before the JVM opened its pipe ends: they must outlive us until it has. */
    while (n_held > 0) {
        char buf[64];
        ssize_t n = read(sock, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || memchr(buf, C_PIPES_OPENED, (size_t)n))
            break;
    }
    return 0;
}

/* The JVM's long-lived helper: a sandbox helper for each request, until the JVM goes away. */
static int zygote(const char *path)
{
    /*
     * Said once, then wiped from the environment block, which /proc/PID/environ shows of us and of
     * every sandbox helper and init we fork.
     */
    char secret[128];
    char *env = getenv(E_ZYGOTE_SECRET);
    if (!env || !*env || strlen(env) >= sizeof secret || strpbrk(env, " \t\n"))
        return 2;
    strcpy(secret, env);
    explicit_bzero(env, strlen(env));
    int sock = connect_control(path, NULL, 0);
    report_fd = sock;
    report_is_socket = 1;
    emit(R_ZYGOTE, secret);
    explicit_bzero(secret, sizeof secret);
    /*
     * Sandbox helpers need no reaping by us; they restore SIGCHLD for their own children. As a
     * subreaper we also inherit (and so auto-reap) the init of a sandbox whose helper was killed,
     * instead of leaving it a zombie for the host's init.
     */
    signal(SIGCHLD, SIG_IGN);
    if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
        return 2;
    for (;;) {
        uint32_t request[3]; /* token, plan magic, plan length */
        if (!read_exact(sock, request, sizeof request))
            return 0; /* the JVM is gone */
        if (request[1] != PLAN_MAGIC || request[2] > PLAN_MAX || !read_exact(sock, plan_buf, request[2]))
            return 2; /* not our JVM talking, or a library of another version */
        /*
         * The sandbox's channel is opened and named here, before the fork: should the sandbox
         * helper die at any point, even before its first instruction, the JVM sees that channel
         * close instead of waiting for a connection that never comes.
         */
        char address[sizeof ((struct sockaddr_un *)0)->sun_path], escaped[2 * sizeof address + 1];
        int channel = connect_control(path, address, sizeof address);
        report_fd = channel;
        emit(R_SANDBOX, request[0], esc(address, escaped, sizeof escaped));
        report_fd = sock;
        pid_t pid = fork();
        if (pid == 0) {
            close(sock);
            signal(SIGCHLD, SIG_DFL);
            _exit(sandbox_helper(channel, request[2]));
        }
        close(channel);
        if (pid < 0)
            return 3; /* the JVM sees us gone, fails the launch at once and starts a new zygote */
    }
}

/*
 * crabcan-helper --check-plan: reads one plan from stdin, as the zygote reads it after the token
 * (magic, length, body), parses it with parse_plan and prints what it parsed (dump_plan), or the
 * FAIL line a sandbox would report, and exits 1. It does nothing else: the Java tests use it to
 * read back the plans the JVM writes through the parser that carries them out.
 */
static int check_plan(void)
{
    report_fd = STDOUT_FILENO;
    uint32_t header[2]; /* plan magic, plan length */
    if (!read_exact(STDIN_FILENO, header, sizeof header))
        fail(S_PLAN, EINVAL, "bad plan header: fewer than %zu bytes", sizeof header);
    if (header[0] != PLAN_MAGIC || header[1] > PLAN_MAX)
        fail(S_PLAN, EINVAL, "bad plan header: magic 0x%x, length %u", header[0], header[1]);
    if (!read_exact(STDIN_FILENO, plan_buf, header[1]))
        fail(S_PLAN, EINVAL, "the plan is shorter than its header's %u bytes", header[1]);
    /* The zygote would read what follows as the next request. */
    char more;
    ssize_t n;
    while ((n = read(STDIN_FILENO, &more, 1)) < 0 && errno == EINTR)
        ;
    if (n != 0)
        fail(S_PLAN, n < 0 ? errno : EINVAL, "the plan is longer than its header's %u bytes", header[1]);
    parse_plan(header[1]);
    dump_plan();
    return 0;
}

int main(int argc, char **argv)
{
    const char *name = argc > 0 ? strrchr(argv[0], '/') : NULL;
    if (argc > 0 && strcmp(name ? name + 1 : argv[0], "crabcan-oci") == 0) {
        /* init's title (set_title) replaces the front end's arguments, which name host paths. */
        title_area = argv[0];
        title_size = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
        return oci_front(argc, argv);
    }
    if (argc == 2 && strcmp(argv[1], "--check-plan") == 0)
        return check_plan();
    if (argc >= 2 && strcmp(argv[1], "--hook") == 0)
        return host_hook(argc, argv);
    if (argc != 3 || strcmp(argv[1], "--zygote") != 0 || strlen(argv[2]) >= sizeof control_path)
        return 2;
    strcpy(control_path, argv[2]);
    /* The kernel lays the argument strings out back to back: argv[0] up to the last one's NUL. */
    title_area = argv[0];
    title_size = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
    set_title("crabcan-zygote");
    return zygote(control_path);
}
