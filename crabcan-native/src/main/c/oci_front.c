/*
 * crabcan-oci, the OCI runtime's native front end (the helper binary run by that name).
 *
 * A JVM per call costs 150-300 ms; a warm one starts a sandbox in about 12 ms. So the front end
 * hands its command line and directory to a long-lived JVM of its user and state root, the
 * service (see oci_service.c), which runs the command (OciRuntime) and sends back, as frames,
 * what it prints, the exit status, and each sandbox helper it needs: this process is the zygote
 * of its own request. It forks the helper itself, so the container's init descends from the
 * caller (an engine's subreaper reaps only its descendants) with the caller's stdio, and once
 * create returns the container depends on no JVM. The service never gets the caller's fds.
 *
 * Frames from the service: a type byte, a little-endian u32 length, the payload.
 *   'A'  the request is taken (before it, a closed socket means a service that was going away)
 *   'O' / 'E'  bytes for our stdout / stderr
 *   'P'  u32 token, then a plan as the zygote reads it: fork a sandbox helper on it, whose
 *        channel (to the same service) first says SANDBOX <token>
 *   'X'  u32: our exit status
 *
 * When no service can be started or trusted, or CRABCAN_OCI_SERVICE=0, the front end executes
 * the JVM-per-call path instead: java -cp crabcan.jar dev.crabcan.examples.OciRuntime.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/magic.h>

#include "helper.h"

#define REQUEST_MAX (4u << 20) /* what the service accepts: argv is at most 2 MiB (ARG_MAX) */
#define FRAME_CHUNK 65536

extern char **environ;

__attribute__((noreturn)) static void exec_jvm(int argc, char **argv)
{
    const char *java = oci_java();
    char jar[PATH_MAX];
    if (oci_jar(jar, sizeof jar) < 0) {
        dprintf(2, "crabcan-oci: cannot tell where crabcan.jar is (beside this program); set CRABCAN_JAR\n");
        _exit(1);
    }
    char **args = calloc((size_t)argc + 8, sizeof *args);
    if (!args) {
        dprintf(2, "crabcan-oci: out of memory\n");
        _exit(1);
    }
    const char *fixed[] = {java, "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData", "-Xshare:auto",
                           "-cp", jar, "dev.crabcan.examples.OciRuntime"};
    size_t n = 0;
    for (; n < sizeof fixed / sizeof *fixed; n++)
        args[n] = (char *)fixed[n];
    for (int i = 1; i < argc; i++)
        args[n++] = argv[i];
    execvp(java, args);
    dprintf(2, "crabcan-oci: cannot execute %s: %s (set JAVA to the java launcher)\n", java, strerror(errno));
    _exit(1);
}

static int send_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* REQUEST <length>, then our directory and our arguments (with --root first if we chose it), each NUL-terminated. */
static int send_request(int sock, int argc, char **argv, const char *root, int root_given)
{
    static char buf[REQUEST_MAX];
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return -1;
    size_t len = 0;
    const char *chosen[] = {cwd, "--root", root};
    for (size_t i = 0; i < (root_given ? 1u : 3u); i++) {
        size_t n = strlen(chosen[i]) + 1;
        if (len + n > REQUEST_MAX)
            return -1;
        memcpy(buf + len, chosen[i], n);
        len += n;
    }
    for (int i = 1; i < argc; i++) {
        size_t n = strlen(argv[i]) + 1;
        if (len + n > REQUEST_MAX)
            return -1;
        memcpy(buf + len, argv[i], n);
        len += n;
    }
    char header[32];
    int n = snprintf(header, sizeof header, "REQUEST\t%zu\n", len);
    struct iovec iov[2] = {{.iov_base = header, .iov_len = (size_t)n}, {.iov_base = buf, .iov_len = len}};
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t sent;
    while ((sent = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
        ;
    if (sent < 0)
        return -1;
    /* A short send of a large request: the rest goes as a plain stream. */
    size_t done = (size_t)sent;
    if (done < (size_t)n)
        return send_all(sock, header + done, (size_t)n - done) < 0 ? -1 : send_all(sock, buf, len);
    return send_all(sock, buf + (done - (size_t)n), len - (done - (size_t)n));
}

static int read_frame_header(int sock, uint8_t *type, uint32_t *len)
{
    uint8_t h[5];
    if (!read_exact(sock, h, sizeof h))
        return -1;
    *type = h[0];
    memcpy(len, h + 1, sizeof *len);
    return 0;
}

/* Copies len bytes of the frame to fd; a reader of ours that went away loses them, the request goes on. */
static int copy_frame(int sock, int fd, uint32_t len)
{
    static char buf[FRAME_CHUNK];
    while (len > 0) {
        size_t n = len < sizeof buf ? len : sizeof buf;
        if (!read_exact(sock, buf, n))
            return -1;
        write_all(fd, buf, n);
        len -= (uint32_t)n;
    }
    return 0;
}

/*
 * Our environment block is the caller's (an engine's variables), which /proc/PID/environ would
 * show of the sandbox helper and of init: wiped, as the zygote wipes its secret.
 */
static void wipe_environment(void)
{
    for (char **e = environ; e && *e; e++)
        explicit_bzero(*e, strlen(*e));
    clearenv();
}

/*
 * One sandbox helper, as the zygote forks it: its channel is opened to the service we talk to
 * (the same process, checked) and named before the fork, so the service sees it close if the
 * helper dies at any point. The helper keeps none of our other fds.
 */
static void fork_helper(int sock, int rootfd, const char *path, pid_t service, uint32_t token, uint32_t plan_len)
{
    pid_t peer = service;
    int channel = service_connect_path(path, &peer);
    if (channel < 0)
        return; /* the launch fails in the service when no helper connects */
    char hello[32];
    int n = snprintf(hello, sizeof hello, R_SANDBOX "\n", token, "-"); /* no address: nothing is passed on it */
    if (send_all(channel, hello, (size_t)n) == 0) {
        pid_t pid = fork();
        if (pid == 0) {
            close(sock);
            close(rootfd);
            wipe_environment();
            _exit(sandbox_helper(channel, plan_len));
        }
    }
    close(channel);
}

/* Carries out the service's frames until it says our exit status; -1 if it went away first. */
static int relay(int sock, int rootfd, pid_t service)
{
    struct sockaddr_un addr;
    socklen_t addr_len = sizeof addr;
    memset(&addr, 0, sizeof addr);
    if (getpeername(sock, (struct sockaddr *)&addr, &addr_len) < 0 || addr.sun_path[0] != '/')
        return -1;
    addr.sun_path[sizeof addr.sun_path - 1] = '\0';
    for (;;) {
        uint8_t type;
        uint32_t len;
        if (read_frame_header(sock, &type, &len) < 0)
            return -1;
        if (type == 'O' || type == 'E') {
            if (copy_frame(sock, type == 'O' ? STDOUT_FILENO : STDERR_FILENO, len) < 0)
                return -1;
        } else if (type == 'P') {
            uint32_t request[3]; /* token, plan magic, plan length */
            if (len < sizeof request || !read_exact(sock, request, sizeof request) || request[1] != PLAN_MAGIC
                || request[2] > PLAN_MAX || request[2] != len - sizeof request
                || !read_exact(sock, plan_buf, request[2]))
                return -1;
            fork_helper(sock, rootfd, addr.sun_path, service, request[0], request[2]);
        } else if (type == 'X' && len == sizeof(uint32_t)) {
            uint32_t status;
            if (!read_exact(sock, &status, sizeof status))
                return -1;
            return (int)(status & 0xff);
        } else {
            return -1;
        }
    }
}

/* Whether the service took the request: its first frame. */
static int accepted(int sock)
{
    uint8_t type;
    uint32_t len;
    return read_frame_header(sock, &type, &len) == 0 && type == 'A' && len == 0;
}

/* Options of create, run and exec that take a value (the container id is the first word after them). */
static int takes_value(const char *a)
{
    static const char *const options[] = {"--bundle", "-b", "--pid-file", "--console-socket", "--process", "-p",
                                          "--cwd", "--user", "-u", "--env", "-e", "--cap", "-c",
                                          "--additional-gids", "-g", "--apparmor", "--process-label", NULL};
    for (size_t i = 0; options[i]; i++)
        if (strcmp(a, options[i]) == 0)
            return 1;
    return 0;
}

/*
 * runc's --preserve-fds N of create, run and exec: how many of the caller's fds from 3 on the
 * command gets. 0 when not given or not a number (OciRuntime then says what is wrong).
 */
static unsigned preserved_fds(int argc, char **argv)
{
    int i = 1;
    while (i < argc && argv[i][0] == '-')
        i += oci_global_takes_value(argv[i]) ? 2 : 1;
    if (i >= argc || (strcmp(argv[i], "create") != 0 && strcmp(argv[i], "run") != 0 && strcmp(argv[i], "exec") != 0))
        return 0;
    for (i++; i < argc && argv[i][0] == '-' && strcmp(argv[i], "--") != 0; i++) {
        const char *value = NULL;
        if (strcmp(argv[i], "--preserve-fds") == 0 && i + 1 < argc)
            value = argv[++i];
        else if (strncmp(argv[i], "--preserve-fds=", 15) == 0)
            value = argv[i] + 15;
        else if (takes_value(argv[i]) && strchr(argv[i], '=') == NULL)
            i++;
        if (value) {
            char *end;
            errno = 0;
            unsigned long n = strtoul(value, &end, 10);
            return *value && !*end && errno == 0 && n <= MAX_PASSED_FDS ? (unsigned)n : 0;
        }
    }
    return 0;
}

/*
 * The front end forks every sandbox helper, so a container whose paths lead to /proc/self/exe (a
 * hook's, its command's, an exec'd program's, a script's interpreter) gets this binary run
 * inside it, where another of its processes can reach the file through /proc/PID/exe; in a
 * rootless container, whose root is the file's owner, and write it (CVE-2019-5736). So the
 * front end runs from a sealed copy in memory, as runc and crun do: what a container reaches is
 * that copy, which nobody can change, never the file on disk. Where the copy cannot be made, it
 * does not run at all.
 *
 * No copy is needed where no container could write the file anyway, and one costs a copy and a
 * second exec on every call: a file of host root's (uid 0 seen from the initial user namespace)
 * that only its owner may write, on a local file system that checks permissions itself, as a
 * root-owned install is. No sandbox ever runs as host root (host root's run as ids of Crabcan's
 * range, anyone else's as the caller), nor holds a capability in the initial user namespace, so
 * none can write it, nor change its mode or owner. What a container can do with such a file
 * (THREAT-MODEL.md): read its path, watch it with inotify, touch its ctime, and keep it busy, so
 * that it can be replaced by a rename but not written over while the container lives.
 */
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)
/* nsfs shows the initial user namespace, and no other, with this inode (PROC_USER_INIT_INO). */
#define INITIAL_USER_NS_INO 0xEFFFFFFDu

static int in_initial_user_namespace(void)
{
    struct stat st;
    struct statfs fs;
    int fd = open("/proc/self/ns/user", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int initial = fstat(fd, &st) == 0 && fstatfs(fd, &fs) == 0 && fs.f_type == NSFS_MAGIC
                  && st.st_ino == INITIAL_USER_NS_INO;
    close(fd);
    return initial;
}

static int out_of_every_containers_reach(int exe)
{
    struct stat st;
    struct statfs fs;
    if (fstat(exe, &st) < 0 || fstatfs(exe, &fs) < 0)
        return 0;
    /* An ACL's mask is the group bits: no write there, no named user or group may write either. */
    if (!S_ISREG(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022) != 0 || !in_initial_user_namespace())
        return 0;
    /* Not FUSE or a network file system, whose server, not this kernel, may decide who writes. */
    switch ((unsigned long)fs.f_type) {
    case EXT4_SUPER_MAGIC:
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:
    case SQUASHFS_MAGIC:
        return 1;
    default:
        return 0;
    }
}

static void run_from_sealed_copy(char **argv)
{
    int src = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    /* Already the copy: only it has these seals (a file on disk has none to get). */
    if (src >= 0 && (fcntl(src, F_GET_SEALS) == SEALS || out_of_every_containers_reach(src))) {
        close(src);
        return;
    }
    int mem = memfd_create("crabcan-oci", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (src < 0 || mem < 0) {
        dprintf(2, "crabcan-oci: cannot make a sealed copy of itself to run from: %s\n", strerror(errno));
        _exit(1);
    }
    ssize_t got;
    while ((got = sendfile(mem, src, NULL, 1 << 20)) != 0) {
        if (got < 0 && errno != EINTR) {
            dprintf(2, "crabcan-oci: cannot copy itself to a sealed copy: %s\n", strerror(errno));
            _exit(1);
        }
    }
    close(src);
    if (fcntl(mem, F_ADD_SEALS, SEALS) < 0) {
        dprintf(2, "crabcan-oci: cannot seal its copy: %s\n", strerror(errno));
        _exit(1);
    }
    /* The copy is nowhere on disk: where crabcan.jar is (beside this file) must be said now. */
    char jar[PATH_MAX];
    if (oci_jar(jar, sizeof jar) < 0 || setenv("CRABCAN_JAR", jar, 0) < 0) {
        dprintf(2, "crabcan-oci: cannot tell where crabcan.jar is (beside this program); set CRABCAN_JAR\n");
        _exit(1);
    }
    fexecve(mem, argv, environ);
    dprintf(2, "crabcan-oci: cannot run its sealed copy: %s\n", strerror(errno));
    _exit(1);
}

int oci_front(int argc, char **argv)
{
    run_from_sealed_copy(argv);
    /*
     * Whatever the caller left open (an engine's pipes) must reach neither the service nor a
     * sandbox helper, as none reached the JVM path's zygote (ProcessBuilder closes them), but for
     * the fds it asked to preserve: kept where they are for the helpers this process forks (a
     * T_INHERIT_FD record names each), close-on-exec so that no JVM gets them.
     */
    unsigned preserved = preserved_fds(argc, argv);
    for (unsigned fd = 3; fd < 3 + preserved; fd++) {
        int flags = fcntl((int)fd, F_GETFD);
        if (flags < 0 || fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) < 0) {
            dprintf(2, "crabcan-oci: --preserve-fds %u: fd %u is not open in this process (%s)\n", preserved, fd,
                    strerror(errno));
            return 1;
        }
    }
    if (syscall(SYS_close_range, 3u + preserved, ~0u, 0u) < 0)
        exec_jvm(argc, argv);
    const char *mode = getenv("CRABCAN_OCI_SERVICE");
    char root[PATH_MAX];
    int root_given;
    if ((mode && strcmp(mode, "0") == 0) || oci_root(argc, argv, root, sizeof root, &root_given) < 0)
        exec_jvm(argc, argv);
    int rootfd = oci_open_root(root);
    if (rootfd < 0)
        exec_jvm(argc, argv);
    /* A second try: the first service may have been exiting, idle, as we connected. */
    for (int attempt = 0; attempt < 2; attempt++) {
        pid_t service = 0;
        int sock = service_connect(rootfd, &service);
        if (sock < 0)
            sock = service_start(rootfd, root, &service);
        if (sock < 0)
            break;
        if (send_request(sock, argc, argv, root, root_given) == 0 && accepted(sock)) {
            int status = relay(sock, rootfd, service);
            if (status < 0) {
                dprintf(2, "crabcan-oci: the service (pid %d) went away during the request\n", (int)service);
                return 1;
            }
            return status;
        }
        close(sock);
    }
    close(rootfd);
    exec_jvm(argc, argv);
}
