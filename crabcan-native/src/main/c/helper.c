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
 * The Java side decides everything (ids, mounts, capabilities, seccomp bytes,
 * argv, env); this program only executes the plan in a fixed order and reports
 * each outcome as one text line on the control socket:
 *
 *   PIPES <pid> <fd> <fd> <fd>     the JVM's ends of stdio pipes, to open via /proc (first line)
 *   PID <pid>                      sandbox init's pid on the host
 *   READY                          (plans with OPT_NET_WAIT) the namespaces exist and init
 *                                  waits; the JVM connects the network, then sends 'G'
 *   NETHELPER <pid>                the plan's network helper (T_NET_HELPER) is ready
 *   LOG <text>                     a setup step (debug plans only)
 *   FAIL <step> <errno> <detail>   setup failed; nothing was executed
 *   EXECFAIL <errno> <kind> <path> <interpreter>
 *                                  execve failed; kind: notfound, elf-interpreter,
 *                                  script-interpreter (the file exists, the
 *                                  interpreter it names does not), other
 *   EXECUTED                       the command is running
 *   EXIT <code> <utime_us> <stime_us> <maxrss_kb>
 *   SIGNALED <signal> <utime_us> <stime_us> <maxrss_kb>
 *   END <wait status of init>      always the last line
 *
 * A detached sandbox (OCI create/start; its plan has a T_DETACH record naming a FIFO) reports
 *   CREATED                        set up in full; the command waits just before seccomp and
 *                                  execve until a reader opens the FIFO
 * and then no more: a byte 'D' on the socket makes the helper exit without killing it. Its init
 * then belongs to whoever reaps orphans (an OCI engine's subreaper), forwards the signals it
 * gets to the command, and exits with the command's status (128+N for signal N).
 *
 * Fields are separated by tabs; '\\', tab and newline inside a field are escaped.
 * A byte 'K' received on the socket kills the sandbox; so does the socket closing,
 * which is how the sandbox dies with the JVM. A byte 'P' says the JVM has opened its pipe ends.
 *
 * Process layout: helper (host namespaces) -> init (pid 1 in the new namespaces,
 * does the setup, reaps) -> command (execve). When init exits, the kernel kills
 * every process left in the PID namespace.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <grp.h>
#include <unistd.h>

#define PLAN_MAGIC 0x31425243u /* "CRB1" */
#define PLAN_MAX (8u << 20)
#define MAX_MOUNTS 256
#define MAX_ARGS 32768
#define MAX_ENV 8192
#define MAX_RLIMITS 16
#define MAX_CGROUPS 8
#define MAX_NET_HELPER_ARGS 64

enum tag {
    T_CONFIG = 1, T_UID_MAP, T_GID_MAP, T_IDMAP_UID_MAP, T_IDMAP_GID_MAP, T_HOSTNAME,
    T_STAGING, T_ROOT, T_MOUNT, T_CREDS, T_CAPS, T_SECCOMP, T_RLIMIT, T_ARG, T_ENV,
    T_CWD, T_SEARCH_PATH, T_CGROUP, T_STDIO,
    T_NET = 20, T_NET_HELPER,
    T_PIPE = 60,
};

/* M_INNER_BIND binds a path of the new root (not of the host) at dst, e.g. /dev/null over /proc/kcore. */
enum mount_kind { M_BIND = 1, M_TMPFS = 2, M_PROC = 3, M_SYMLINK = 4, M_INNER_BIND = 6, M_CONTENT = 7 };

/* Records and mount kinds for detached sandboxes and OCI configs. */
enum oci_tag { T_DETACH = 40, T_UMASK = 41 };
/* M_FS: a kernel file system, src "type[:flag,key=value...]"; M_WRITE: write src to the file dst inside. */
enum oci_mount_kind { M_FS = 40, M_WRITE = 41 };

#define MF_RDONLY 1u         /* read-only (recursively for binds) */
#define MF_FILE 2u           /* the mount point is a file, not a directory */
#define MF_IDMAP 4u          /* idmap the bind with the plan's idmap maps */
#define MF_PRECREATE 8u      /* create the mount point in the host rootfs before cloning */
#define MF_OPEN_IN_PARENT 16u /* open the bind source with the helper's host credentials */
#define MF_NOSUID 32u
#define MF_NODEV 64u
#define MF_NOEXEC 128u
#define MF_OPTIONAL 256u /* skip the mount when its target does not exist; never create it */

#define OPT_DEBUG 1u
#define OPT_NO_NEW_PRIVS 2u
#define OPT_SETSID 4u
#define OPT_LOOPBACK_UP 8u
#define OPT_UNSHARE_CGROUP 16u /* a cgroup namespace rooted at the sandbox's cgroup, once init is in it */
#define OPT_NET_WAIT 32u       /* report READY and wait for 'G' before releasing init */

#define ROOT_TMPFS 0u
#define ROOT_BIND 1u

struct mount_op {
    uint32_t kind, flags, mode;
    uint64_t size;
    const char *src, *dst;
    int fd; /* source opened by the parent, or -1 */
};

struct plan {
    uint32_t clone_flags, options;
    const char *uid_map, *gid_map, *idmap_uid_map, *idmap_gid_map;
    const char *hostname, *staging, *cwd, *search_path;
    int staging_fd; /* opened before the id switch: the sandbox's ids may not reach it */
    uint32_t root_kind, root_flags;
    const char *root_path;
    int root_fd;
    uint32_t uid, gid;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    const uint8_t *seccomp;
    uint32_t seccomp_len;
    struct { uint32_t resource; uint64_t cur, max; } rlimits[MAX_RLIMITS];
    size_t n_rlimits;
    struct mount_op mounts[MAX_MOUNTS];
    size_t n_mounts;
    const char *cgroup_procs[MAX_CGROUPS]; /* cgroup.procs files to put init in before it runs */
    size_t n_cgroups;
    /* path NULL and no pipe: keep the zygote's fd; pipe: a pipe whose other end the JVM opens */
    struct { uint32_t flags, mode; const char *path; int pipe; } stdio[3];
    /* An interface the JVM moves into the namespace, to be given an IPv4 address and the default route. */
    struct { const char *ifname; uint32_t addr, netmask, gateway; } net; /* addresses in network byte order */
    /*
     * A user-mode network stack (pasta) run by the helper, as the caller, once the id maps are
     * written: it gets the sandbox's network and user namespaces as fds 3 and 4, and says it is
     * ready by writing its pid to fd 5. It dies with the sandbox, or with the helper.
     */
    char *net_helper[MAX_NET_HELPER_ARGS + 1];
    size_t n_net_helper;
    char *argv[MAX_ARGS + 1];
    size_t argc;
    char *envp[MAX_ENV + 1];
    size_t envc;
    const char *release_fifo; /* detached: the FIFO the command waits on; else NULL */
    int release_fd;           /* that FIFO, opened O_PATH by the helper */
    int has_umask;
    uint32_t umask;
};

/* The plan and its strings live here for the whole life of the process. */
static uint8_t plan_buf[PLAN_MAX];
static struct plan plan;

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
static void set_title(const char *title)
{
    size_t n = strlen(title);
    if (n + 1 >= title_size)
        n = title_size > 1 ? title_size - 2 : 0;
    memset(title_area, 0, title_size);
    memcpy(title_area, title, n);
    if (title_size > 1)
        title_area[title_size - 1] = ' ';
}

/* Where report lines go: the control socket in the helper, a pipe in the sandbox. */
static int report_fd = -1;
static int report_is_socket;

static void write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = report_is_socket ? send(fd, buf, len, MSG_NOSIGNAL) : write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the reader is gone; there is nobody left to tell */
        buf += n;
        len -= (size_t)n;
    }
}

/* Copies s into out with '\\', tab and newline escaped, so that it fits one field. */
static const char *esc(const char *s, char *out, size_t n)
{
    size_t o = 0;
    for (; s && *s && o + 3 < n; s++) {
        char c = *s;
        if (c == '\\' || c == '\t' || c == '\n') {
            out[o++] = '\\';
            c = c == '\t' ? 't' : c == '\n' ? 'n' : '\\';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return out;
}

/* One report line; a single write keeps lines from different processes whole. */
__attribute__((format(printf, 1, 2))) static void emit(const char *fmt, ...)
{
    char line[PIPE_BUF];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n > sizeof line - 2)
        n = (int)(sizeof line - 2);
    line[n++] = '\n';
    write_all(report_fd, line, (size_t)n);
}

__attribute__((format(printf, 1, 2))) static void logd(const char *fmt, ...)
{
    if (!(plan.options & OPT_DEBUG))
        return;
    char text[1024], escaped[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    emit("LOG\t%s", esc(text, escaped, sizeof escaped));
}

__attribute__((noreturn, format(printf, 3, 4))) static void fail(const char *step, int err, const char *fmt, ...)
{
    char detail[2048], escaped[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    emit("FAIL\t%s\t%d\t%s", step, err, esc(detail, escaped, sizeof escaped));
    _exit(1);
}

/* ---- the plan ---------------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A string field must be NUL-terminated and contain no other NUL. */
static char *get_str(uint8_t *p, uint32_t len, uint32_t tag)
{
    if (len == 0 || p[len - 1] != '\0' || strlen((char *)p) != len - 1)
        fail("plan", EINVAL, "field %u is not a string", tag);
    return (char *)p;
}

static void parse_plan(uint32_t total)
{
    uint32_t off = 0;
    while (off < total) {
        if (total - off < 8)
            fail("plan", EINVAL, "truncated record at %u", off);
        uint32_t tag = get32(plan_buf + off), len = get32(plan_buf + off + 4);
        off += 8;
        if (len > total - off)
            fail("plan", EINVAL, "record %u overruns the plan", tag);
        uint8_t *p = plan_buf + off;
        off += len;
        switch (tag) {
        case T_CONFIG:
            if (len != 8)
                fail("plan", EINVAL, "bad config record");
            plan.clone_flags = get32(p);
            plan.options = get32(p + 4);
            break;
        case T_UID_MAP: plan.uid_map = get_str(p, len, tag); break;
        case T_GID_MAP: plan.gid_map = get_str(p, len, tag); break;
        case T_IDMAP_UID_MAP: plan.idmap_uid_map = get_str(p, len, tag); break;
        case T_IDMAP_GID_MAP: plan.idmap_gid_map = get_str(p, len, tag); break;
        case T_HOSTNAME: plan.hostname = get_str(p, len, tag); break;
        case T_STAGING: plan.staging = get_str(p, len, tag); break;
        case T_CWD: plan.cwd = get_str(p, len, tag); break;
        case T_SEARCH_PATH: plan.search_path = get_str(p, len, tag); break;
        case T_ROOT:
            if (len < 9)
                fail("plan", EINVAL, "bad root record");
            plan.root_kind = get32(p);
            plan.root_flags = get32(p + 4);
            plan.root_path = get_str(p + 8, len - 8, tag);
            break;
        case T_MOUNT: {
            if (len < 26 || plan.n_mounts == MAX_MOUNTS)
                fail("plan", EINVAL, "bad or too many mount records (at most %d)", MAX_MOUNTS);
            struct mount_op *m = &plan.mounts[plan.n_mounts++];
            m->kind = get32(p);
            m->flags = get32(p + 4);
            m->mode = get32(p + 8);
            m->size = get64(p + 16);
            m->fd = -1;
            char *strs = (char *)p + 24;
            size_t room = len - 24, src_len = strnlen(strs, room);
            if (src_len + 2 > room)
                fail("plan", EINVAL, "bad mount record");
            m->src = strs;
            m->dst = get_str((uint8_t *)strs + src_len + 1, (uint32_t)(room - src_len - 1), tag);
            break;
        }
        case T_CREDS:
            if (len != 8)
                fail("plan", EINVAL, "bad credentials record");
            plan.uid = get32(p);
            plan.gid = get32(p + 4);
            break;
        case T_CAPS:
            if (len != 40)
                fail("plan", EINVAL, "bad capabilities record");
            plan.cap_bounding = get64(p);
            plan.cap_effective = get64(p + 8);
            plan.cap_permitted = get64(p + 16);
            plan.cap_inheritable = get64(p + 24);
            plan.cap_ambient = get64(p + 32);
            break;
        case T_SECCOMP:
            if (len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
                fail("plan", EINVAL, "bad seccomp program of %u bytes", len);
            plan.seccomp = p;
            plan.seccomp_len = len;
            break;
        case T_RLIMIT:
            if (len != 24 || plan.n_rlimits == MAX_RLIMITS)
                fail("plan", EINVAL, "bad or too many rlimit records");
            plan.rlimits[plan.n_rlimits].resource = get32(p);
            plan.rlimits[plan.n_rlimits].cur = get64(p + 8);
            plan.rlimits[plan.n_rlimits].max = get64(p + 16);
            plan.n_rlimits++;
            break;
        case T_CGROUP:
            if (plan.n_cgroups == MAX_CGROUPS)
                fail("plan", E2BIG, "more than %d cgroups", MAX_CGROUPS);
            plan.cgroup_procs[plan.n_cgroups++] = get_str(p, len, tag);
            break;
        case T_STDIO: {
            if (len < 13 || get32(p) > 2)
                fail("plan", EINVAL, "bad stdio record");
            uint32_t fd = get32(p);
            plan.stdio[fd].flags = get32(p + 4);
            plan.stdio[fd].mode = get32(p + 8);
            plan.stdio[fd].path = get_str(p + 12, len - 12, tag);
            break;
        }
        case T_NET:
            if (len < 14)
                fail("plan", EINVAL, "bad network record");
            memcpy(&plan.net.addr, p, 4);
            memcpy(&plan.net.netmask, p + 4, 4);
            memcpy(&plan.net.gateway, p + 8, 4);
            plan.net.ifname = get_str(p + 12, len - 12, tag);
            if (strlen(plan.net.ifname) >= IFNAMSIZ)
                fail("plan", EINVAL, "interface name %s too long", plan.net.ifname);
            break;
        case T_NET_HELPER:
            if (plan.n_net_helper == MAX_NET_HELPER_ARGS)
                fail("plan", E2BIG, "more than %d network helper arguments", MAX_NET_HELPER_ARGS);
            plan.net_helper[plan.n_net_helper++] = get_str(p, len, tag);
            break;
        case T_PIPE:
            if (len != 4 || get32(p) > 2)
                fail("plan", EINVAL, "bad pipe record");
            plan.stdio[get32(p)].pipe = 1;
            break;
        case T_ARG:
            if (plan.argc == MAX_ARGS)
                fail("plan", E2BIG, "more than %d arguments", MAX_ARGS);
            plan.argv[plan.argc++] = get_str(p, len, tag);
            break;
        case T_ENV:
            if (plan.envc == MAX_ENV)
                fail("plan", E2BIG, "more than %d environment entries", MAX_ENV);
            plan.envp[plan.envc++] = get_str(p, len, tag);
            break;
        case T_DETACH: plan.release_fifo = get_str(p, len, tag); break;
        case T_UMASK:
            if (len != 4 || get32(p) > 0777)
                fail("plan", EINVAL, "bad umask record");
            plan.has_umask = 1;
            plan.umask = get32(p);
            break;
        default:
            fail("plan", EINVAL, "unknown record %u", tag);
        }
    }
    if (plan.argc == 0 || !plan.uid_map || !plan.gid_map || !plan.staging || !plan.root_path)
        fail("plan", EINVAL, "incomplete plan");
}

/* Reads len bytes; false at end of file or on error. */
static int read_exact(int fd, void *buf, size_t len)
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

/* ---- paths inside the new root ------------------------------------------ */

/* Resolves path as if rootfd were "/": symlinks and ".." cannot leave it. */
static int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC),
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/*
 * Returns an O_PATH fd for path inside rootfd, creating missing directories (and
 * an empty file for the last component when is_file). Every component is looked
 * up with open_in_root, and created only in the directory that lookup returned,
 * so nothing outside the root can be created or reached.
 */
static int make_mount_point(int rootfd, const char *path, int is_file)
{
    char buf[PATH_MAX];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    strcpy(buf, path);
    int dirfd = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY);
    char *p = buf + strspn(buf, "/");
    if (dirfd < 0 || *p == '\0')
        return dirfd;
    for (;;) {
        char *end = p + strcspn(p, "/");
        int last = end[strspn(end, "/")] == '\0';
        char saved = *end;
        *end = '\0';
        int fd = open_in_root(rootfd, buf, O_PATH);
        if (fd < 0 && errno == ENOENT) {
            int r;
            if (last && is_file) {
                r = openat(dirfd, p, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (r >= 0)
                    close(r);
            } else {
                r = mkdirat(dirfd, p, 0755);
            }
            if (r < 0 && errno != EEXIST) {
                int e = errno;
                close(dirfd);
                errno = e;
                return -1;
            }
            fd = open_in_root(rootfd, buf, O_PATH);
        }
        int e = errno;
        close(dirfd);
        errno = e;
        if (fd < 0 || last)
            return fd;
        *end = saved;
        dirfd = fd;
        p = end + strspn(end, "/");
    }
}

/* ---- namespaces and mounts ---------------------------------------------- */

static void write_proc(pid_t pid, const char *file, const char *data)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail("id map", errno, "open %s", path);
    ssize_t n = write(fd, data, strlen(data));
    if (n != (ssize_t)strlen(data))
        fail("id map", n < 0 ? errno : EIO, "write '%s' to %s", data, path);
    close(fd);
}

static void write_id_maps(pid_t pid, const char *uid_map, const char *gid_map)
{
    write_proc(pid, "uid_map", uid_map);
    write_proc(pid, "setgroups", "deny");
    write_proc(pid, "gid_map", gid_map);
}

static pid_t clone_raw(unsigned long flags)
{
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* A user namespace whose maps say how an idmapped bind shows host ids inside. */
static int make_idmap_userns(void)
{
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0)
        fail("idmap", errno, "pipe");
    pid_t pid = clone_raw(CLONE_NEWUSER);
    if (pid < 0)
        fail("idmap", errno, "clone a user namespace for idmapped binds");
    if (pid == 0) {
        char c;
        close(sync[1]);
        while (read(sync[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(sync[0]);
    write_id_maps(pid, plan.idmap_uid_map, plan.idmap_gid_map);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("idmap", errno, "open %s", path);
    close(sync[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd;
}

static int clone_tree(const char *src)
{
    return open_tree(AT_FDCWD, src, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
}

static void set_attr(int fd, uint64_t set, uint64_t propagation, int userns, const char *step, const char *what)
{
    struct mount_attr attr = {.attr_set = set, .propagation = propagation};
    if (userns >= 0)
        attr.userns_fd = (uint64_t)userns;
    if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        fail(step, errno, "%s", what);
}

/* Work that needs the caller's host credentials, done before any namespace exists. */
static void prepare_in_parent(void)
{
    int userns = -1;
    for (size_t i = 0; i < plan.n_mounts; i++)
        if (plan.mounts[i].flags & MF_IDMAP)
            userns = userns >= 0 ? userns : make_idmap_userns();
    if (plan.root_flags & MF_IDMAP && userns < 0)
        userns = make_idmap_userns();

    if (plan.root_kind == ROOT_BIND) {
        int rootfd = open(plan.root_path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (rootfd < 0)
            fail("rootfs", errno, "%s", plan.root_path);
        for (size_t i = 0; i < plan.n_mounts; i++) {
            struct mount_op *m = &plan.mounts[i];
            if (!(m->flags & MF_PRECREATE))
                continue;
            int fd = make_mount_point(rootfd, m->dst, (m->flags & MF_FILE) != 0);
            if (fd < 0)
                fail("mount point", errno, "create %s in the root filesystem %s", m->dst, plan.root_path);
            close(fd);
        }
        close(rootfd);
        if (plan.root_flags & MF_OPEN_IN_PARENT) {
            plan.root_fd = clone_tree(plan.root_path);
            if (plan.root_fd < 0)
                fail("rootfs", errno, "%s", plan.root_path);
            if (plan.root_flags & MF_IDMAP)
                set_attr(plan.root_fd, MOUNT_ATTR_IDMAP, 0, userns, "idmap", plan.root_path);
        }
    }
    for (size_t i = 0; i < plan.n_mounts; i++) {
        struct mount_op *m = &plan.mounts[i];
        if (m->kind != M_BIND || !(m->flags & MF_OPEN_IN_PARENT))
            continue;
        m->fd = clone_tree(m->src);
        if (m->fd < 0)
            fail("bind", errno, "%s -> %s", m->src, m->dst);
        if (m->flags & MF_IDMAP)
            set_attr(m->fd, MOUNT_ATTR_IDMAP, 0, userns, "idmap", m->src);
    }
    if (userns >= 0)
        close(userns);
}

/* The configured file system context fs as a detached mount with attrs. */
static int create_mount(int fs, const char *type, uint64_t attrs, const char *what)
{
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        fail(type, errno, "create %s", what);
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned int)attrs);
    if (mnt < 0)
        fail(type, errno, "mount %s", what);
    close(fs);
    return mnt;
}

static int new_fs(const char *type, const struct mount_op *m, uint64_t attrs, const char *what)
{
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0)
        fail(type, errno, "fsopen for %s", what);
    if (m && m->mode) {
        char mode[16];
        snprintf(mode, sizeof mode, "%o", m->mode);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0)
            fail(type, errno, "mode %s for %s", mode, what);
    }
    if (m && m->size) {
        char size[32];
        snprintf(size, sizeof size, "%llu", (unsigned long long)m->size);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0)
            fail(type, errno, "size %s for %s", size, what);
    }
    return create_mount(fs, type, attrs, what);
}

/* A kernel file system from "type[:flag,key=value,...]": each option is one fsconfig call. */
static int new_fs_with_options(const char *spec, uint64_t attrs, const char *what)
{
    char type[32], options[256];
    size_t tlen = strcspn(spec, ":");
    if (tlen >= sizeof type || strlen(spec) - tlen >= sizeof options)
        fail("mount", EINVAL, "file system %s for %s", spec, what);
    memcpy(type, spec, tlen);
    type[tlen] = '\0';
    strcpy(options, spec[tlen] ? spec + tlen + 1 : "");
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0)
        fail(type, errno, "fsopen for %s", what);
    for (char *save = NULL, *opt = strtok_r(options, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = '\0';
        int r = eq ? fsconfig(fs, FSCONFIG_SET_STRING, opt, eq + 1, 0) : fsconfig(fs, FSCONFIG_SET_FLAG, opt, NULL, 0);
        if (r < 0)
            fail(type, errno, "option %s for %s", opt, what);
    }
    return create_mount(fs, type, attrs, what);
}

/* Writes a value into a file of the new root, such as a sysctl of the sandbox's namespaces. */
static void write_in_root(int rootfd, const struct mount_op *m)
{
    logd("Writing '%s' to %s", m->src, m->dst);
    int fd = open_in_root(rootfd, m->dst, O_WRONLY);
    if (fd < 0)
        fail("write", errno, "open %s", m->dst);
    ssize_t n = write(fd, m->src, strlen(m->src));
    if (n != (ssize_t)strlen(m->src))
        fail("write", n < 0 ? errno : EIO, "write '%s' to %s", m->src, m->dst);
    close(fd);
}

/*
 * Moves the detached mount src to its mount point and closes both. target is an optional
 * mount's, looked up before the mount was made; any other mount point is made only here, once
 * the mount exists, so that a mount that fails leaves none behind.
 */
static void attach(int src, int target, int rootfd, const struct mount_op *m, const char *step)
{
    if (target < 0)
        target = make_mount_point(rootfd, m->dst, (m->flags & MF_FILE) != 0);
    if (target < 0)
        fail(step, errno, "mount point %s", m->dst);
    if (move_mount(src, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        fail(step, errno, "attach %s", m->dst);
    close(target);
    close(src);
}

/*
 * A file with the plan's text (src) at dst, such as a private network's resolv.conf. It is
 * written to the sandbox's own /dev tmpfs (always mounted before), bound from there and then
 * unlinked: the sandbox's mountinfo names that tmpfs, where a bind of a file the JVM wrote would
 * name its host path (the caller's cache directory, with the JVM's pid).
 */
static void mount_content(int rootfd, const struct mount_op *m, int target, uint64_t attrs)
{
    static const char name[] = ".crabcan-content";
    int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        fail("content", errno, "/dev for %s", m->dst);
    int fd = openat(dev, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0)
        fail("content", errno, "create /dev/%s for %s", name, m->dst);
    size_t len = strlen(m->src);
    ssize_t n = write(fd, m->src, len);
    if (n != (ssize_t)len)
        fail("content", n < 0 ? errno : EIO, "write %s", m->dst);
    close(fd);
    int src = open_tree(dev, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (src < 0)
        fail("content", errno, "bind /dev/%s for %s", name, m->dst);
    set_attr(src, attrs, MS_PRIVATE, -1, "content", m->dst);
    attach(src, target, rootfd, m, "content");
    /* Only once attached: a mount whose source is already unlinked cannot be attached. */
    if (unlinkat(dev, name, 0) < 0)
        fail("content", errno, "unlink /dev/%s", name);
    close(dev);
}

static uint64_t mount_attrs(uint32_t flags)
{
    return ((flags & MF_RDONLY) ? MOUNT_ATTR_RDONLY : 0) | ((flags & MF_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
           ((flags & MF_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & MF_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0);
}

static void do_mount(int rootfd, struct mount_op *m)
{
    uint64_t attrs = mount_attrs(m->flags);
    /*
     * An optional mount whose target is missing is skipped before it is made: closing a detached
     * mount unused costs an expedited RCU grace period (0.1 to 0.5 ms here), and the default
     * /proc masks name several files that kernels often lack.
     */
    int target = -1;
    if ((m->flags & MF_OPTIONAL) && m->kind != M_WRITE && m->kind != M_SYMLINK) {
        target = open_in_root(rootfd, m->dst, O_PATH);
        if (target < 0 && errno == ENOENT) {
            if (m->fd >= 0)
                close(m->fd);
            return;
        }
        if (target < 0)
            fail("mount point", errno, "%s", m->dst);
    }
    switch (m->kind) {
    case M_BIND: {
        logd("Binding %s at %s (%s)", m->src, m->dst, (m->flags & MF_RDONLY) ? "read-only" : "read-write");
        int src = m->fd >= 0 ? m->fd : clone_tree(m->src);
        if (src < 0)
            fail("bind", errno, "%s -> %s", m->src, m->dst);
        set_attr(src, attrs, MS_PRIVATE, -1, "bind", m->dst);
        attach(src, target, rootfd, m, "bind");
        return;
    }
    case M_INNER_BIND: {
        logd("Binding %s at %s inside the new root (%s)", m->src, m->dst,
             (m->flags & MF_RDONLY) ? "read-only" : "read-write");
        int path = open_in_root(rootfd, m->src, O_PATH);
        if (path < 0 && errno == ENOENT && (m->flags & MF_OPTIONAL)) {
            close(target);
            return;
        }
        if (path < 0)
            fail("bind", errno, "%s -> %s inside the new root", m->src, m->dst);
        int src = open_tree(path, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (src < 0)
            fail("bind", errno, "%s -> %s inside the new root", m->src, m->dst);
        close(path);
        set_attr(src, attrs, MS_PRIVATE, -1, "bind", m->dst);
        attach(src, target, rootfd, m, "bind");
        return;
    }
    case M_CONTENT:
        logd("Writing %s", m->dst);
        mount_content(rootfd, m, target, attrs);
        return;
    case M_TMPFS:
        logd("Mounting tmpfs at %s", m->dst);
        attach(new_fs("tmpfs", m, attrs, m->dst), target, rootfd, m, "tmpfs");
        return;
    case M_PROC:
        logd("Mounting proc at %s", m->dst);
        attach(new_fs("proc", NULL, attrs, m->dst), target, rootfd, m, "proc");
        return;
    case M_FS:
        logd("Mounting %s at %s", m->src, m->dst);
        attach(new_fs_with_options(m->src, attrs, m->dst), target, rootfd, m, "mount");
        return;
    case M_WRITE:
        write_in_root(rootfd, m);
        return;
    case M_SYMLINK: {
        char parent[PATH_MAX];
        const char *slash = strrchr(m->dst, '/');
        size_t plen = slash ? (size_t)(slash - m->dst) : 0;
        if (!slash || plen >= sizeof parent)
            fail("symlink", EINVAL, "%s", m->dst);
        memcpy(parent, m->dst, plen);
        parent[plen] = '\0';
        logd("Linking %s -> %s", m->dst, m->src);
        int dir = make_mount_point(rootfd, plen ? parent : "/", 0);
        if (dir < 0 || symlinkat(m->src, dir, slash + 1) < 0)
            fail("symlink", errno, "%s -> %s", m->dst, m->src);
        close(dir);
        return;
    }
    default:
        fail("plan", EINVAL, "unknown mount kind %u", m->kind);
    }
}

/* Builds the new root at the staging directory, mounts everything, pivots into it. */
static void enter_root(void)
{
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail("mount", errno, "make / private");
    int root;
    if (plan.root_kind == ROOT_BIND) {
        logd("Mounting root filesystem %s", plan.root_path);
        root = plan.root_fd >= 0 ? plan.root_fd : clone_tree(plan.root_path);
        if (root < 0)
            fail("rootfs", errno, "%s", plan.root_path);
        /* Read-only down to whatever is mounted below it; the plan's mount points already exist. */
        set_attr(root, mount_attrs(plan.root_flags), MS_PRIVATE, -1, "rootfs", plan.root_path);
    } else {
        logd("Mounting an empty tmpfs as the root filesystem");
        struct mount_op root_mode = {.mode = 0755};
        root = new_fs("tmpfs", &root_mode, mount_attrs(plan.root_flags & ~MF_RDONLY), "/");
    }
    if (move_mount(root, "", plan.staging_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        fail("rootfs", errno, "attach the root filesystem at %s", plan.staging);
    close(plan.staging_fd);

    for (size_t i = 0; i < plan.n_mounts; i++)
        do_mount(root, &plan.mounts[i]);

    /* The tmpfs root becomes read-only only now, its own mounts made (and not recursively). */
    if (plan.root_kind == ROOT_TMPFS && (plan.root_flags & MF_RDONLY)) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(root, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            fail("rootfs", errno, "make the root filesystem read-only");
    }

    logd("Pivoting root");
    if (fchdir(root) < 0)
        fail("pivot_root", errno, "enter the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail("pivot_root", errno, "pivot to the new root");
    logd("Unmounting old root");
    if (umount2(".", MNT_DETACH) < 0)
        fail("pivot_root", errno, "detach the old root");
    if (chdir("/") < 0)
        fail("pivot_root", errno, "chdir /");
    close(root);
}

static void loopback_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail("network", errno, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        fail("network", errno, "read flags of lo");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        fail("network", errno, "bring lo up");
    close(s);
}

static void set_inet(int s, struct ifreq *ifr, unsigned long request, uint32_t addr, const char *what)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr->ifr_addr;
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = addr;
    if (ioctl(s, request, ifr) < 0)
        fail("network", errno, "set the %s of %s", what, plan.net.ifname);
}

/* The interface the JVM moved in: address, up, default route through the host's end. */
static void interface_up(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail("network", errno, "socket");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, plan.net.ifname);
    set_inet(s, &ifr, SIOCSIFADDR, plan.net.addr, "address");
    set_inet(s, &ifr, SIOCSIFNETMASK, plan.net.netmask, "netmask");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0)
        fail("network", errno, "read flags of %s", plan.net.ifname);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0)
        fail("network", errno, "bring %s up", plan.net.ifname);
    struct rtentry route;
    memset(&route, 0, sizeof route);
    struct sockaddr_in *gw = (struct sockaddr_in *)&route.rt_gateway, *dst = (struct sockaddr_in *)&route.rt_dst,
                       *mask = (struct sockaddr_in *)&route.rt_genmask;
    gw->sin_family = dst->sin_family = mask->sin_family = AF_INET;
    gw->sin_addr.s_addr = plan.net.gateway;
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = (char *)plan.net.ifname;
    if (ioctl(s, SIOCADDRT, &route) < 0)
        fail("network", errno, "add the default route via %s", plan.net.ifname);
    close(s);
    logd("Interface %s is up", plan.net.ifname);
}

static void set_capabilities(void)
{
    for (unsigned long c = 0; c < 64; c++) {
        if (plan.cap_bounding & (1ULL << c))
            continue;
        if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
            if (errno == EINVAL)
                break; /* past the kernel's last capability */
            fail("capabilities", errno, "drop capability %lu from the bounding set", c);
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        fail("capabilities", errno, "clear the ambient set");
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {(uint32_t)plan.cap_effective, (uint32_t)plan.cap_permitted, (uint32_t)plan.cap_inheritable},
        {(uint32_t)(plan.cap_effective >> 32), (uint32_t)(plan.cap_permitted >> 32),
         (uint32_t)(plan.cap_inheritable >> 32)},
    };
    if (syscall(SYS_capset, &header, data) < 0)
        fail("capabilities", errno, "capset");
    for (unsigned long c = 0; c < 64; c++)
        if ((plan.cap_ambient & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
            fail("capabilities", errno, "raise ambient capability %lu", c);
}

/* ---- the command -------------------------------------------------------- */

enum interp_kind { INTERP_NONE, INTERP_SCRIPT, INTERP_ELF };

/* The interpreter a file asks for: its "#!" line or its ELF PT_INTERP. */
static enum interp_kind find_interpreter(const char *path, char *out, size_t n)
{
    enum interp_kind kind = INTERP_NONE;
    out[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return kind;
    unsigned char head[256];
    ssize_t len = pread(fd, head, sizeof head - 1, 0);
    if (len >= 2 && head[0] == '#' && head[1] == '!') {
        head[len] = '\0';
        char *s = (char *)head + 2;
        s += strspn(s, " \t");
        size_t l = strcspn(s, " \t\n");
        if (l < n) {
            memcpy(out, s, l);
            out[l] = '\0';
            kind = INTERP_SCRIPT;
        }
    } else if (len >= (ssize_t)sizeof(Elf64_Ehdr) && memcmp(head, ELFMAG, SELFMAG) == 0) {
        int is64 = head[EI_CLASS] == ELFCLASS64;
        uint64_t phoff;
        uint16_t phnum, phentsize;
        if (is64) {
            Elf64_Ehdr eh;
            memcpy(&eh, head, sizeof eh);
            phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
        } else {
            Elf32_Ehdr eh;
            memcpy(&eh, head, sizeof eh);
            phoff = eh.e_phoff, phnum = eh.e_phnum, phentsize = eh.e_phentsize;
        }
        for (uint16_t i = 0; i < phnum && i < 256; i++) {
            union { Elf64_Phdr p64; Elf32_Phdr p32; } ph;
            if (pread(fd, &ph, phentsize < sizeof ph ? phentsize : sizeof ph, (off_t)(phoff + (uint64_t)i * phentsize)) <= 0)
                break;
            uint32_t type = is64 ? ph.p64.p_type : ph.p32.p_type;
            if (type != PT_INTERP)
                continue;
            uint64_t off = is64 ? ph.p64.p_offset : ph.p32.p_offset;
            uint64_t size = is64 ? ph.p64.p_filesz : ph.p32.p_filesz;
            if (size == 0 || size >= n)
                break;
            ssize_t got = pread(fd, out, (size_t)size, (off_t)off);
            out[got > 0 ? (size_t)got : 0] = '\0';
            out[size - 1] = '\0';
            kind = INTERP_ELF;
            break;
        }
    }
    close(fd);
    return kind;
}

/* A failure in the command's process before execve: init must hear 'F', or it would report EXECUTED. */
__attribute__((noreturn, format(printf, 4, 5))) static void fail_before_exec(int err, int exec_wr, const char *step,
                                                                           const char *fmt, ...)
{
    char detail[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    while (write(exec_wr, "F", 1) < 0 && errno == EINTR)
        ;
    fail(step, err, "%s", detail);
}

/* Says why execve failed, in facts the Java side turns into a message. */
__attribute__((noreturn)) static void exec_failed(int err, const char *path, int exec_wr)
{
    char interp[PATH_MAX] = "", e1[PATH_MAX * 2], e2[PATH_MAX * 2];
    const char *kind = "other";
    if (err == ENOENT) {
        struct stat st;
        if (stat(path, &st) < 0) {
            kind = "notfound";
        } else {
            enum interp_kind ik = find_interpreter(path, interp, sizeof interp);
            if (ik != INTERP_NONE && stat(interp, &st) < 0)
                kind = ik == INTERP_ELF ? "elf-interpreter" : "script-interpreter";
        }
    }
    emit("EXECFAIL\t%d\t%s\t%s\t%s", err, kind, esc(path, e1, sizeof e1), esc(interp, e2, sizeof e2));
    while (write(exec_wr, "F", 1) < 0 && errno == EINTR)
        ;
    _exit(err == ENOENT && strcmp(kind, "notfound") == 0 ? 127 : 126);
}

/* execve, searching the plan's PATH for a bare name the way execvp does. */
__attribute__((noreturn)) static void exec_command(int exec_wr)
{
    const char *name = plan.argv[0];
    if (strchr(name, '/') || !plan.search_path) {
        execve(name, plan.argv, plan.envp);
        exec_failed(errno, name, exec_wr);
    }
    char candidate[PATH_MAX], first[PATH_MAX] = "";
    int err = ENOENT;
    for (const char *dir = plan.search_path;; dir++) {
        size_t dlen = strcspn(dir, ":");
        if (dlen + strlen(name) + 2 <= sizeof candidate) {
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)dlen, dlen ? dir : ".", name);
            execve(candidate, plan.argv, plan.envp);
            struct stat st;
            if (errno == ENOENT && stat(candidate, &st) == 0)
                exec_failed(ENOENT, candidate, exec_wr); /* it exists: its interpreter does not */
            if (errno != ENOENT && errno != ENOTDIR && err == ENOENT) {
                err = errno;
                strcpy(first, candidate);
            }
        }
        dir += dlen;
        if (*dir == '\0')
            break;
    }
    exec_failed(err, first[0] ? first : name, exec_wr);
}

/*
 * Detached sandboxes: the command tells init it is ready ('W' on the exec pipe), then blocks
 * opening the FIFO for writing until OCI start opens it for reading. From here on nobody reads
 * reports, so a failure goes to the command's stderr, where the engine's log shows it.
 */
static void await_release(int exec_wr)
{
    char path[64];
    close(report_fd);
    report_fd = 2;
    while (write(exec_wr, "W", 1) < 0 && errno == EINTR)
        ;
    snprintf(path, sizeof path, "/proc/self/fd/%d", plan.release_fd);
    int fd;
    while ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
        ;
    if (fd < 0 || write(fd, "0", 1) != 1)
        fail_before_exec(errno, exec_wr, "release", "open the release FIFO %s", plan.release_fifo);
    close(fd);
    close(plan.release_fd);
}

__attribute__((noreturn)) static void run_command(int exec_rd, int exec_wr)
{
    close(exec_rd);
    /* The JVM's blocked and ignored signals (SIGQUIT, SIGINT in the background) are not the command's. */
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        fail_before_exec(errno, exec_wr, "signals", "unblock signals");
    /* The raw call, since libc refuses to touch the real-time signals it reserves for itself. */
    struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    if (plan.cwd && chdir(plan.cwd) < 0)
        fail_before_exec(errno, exec_wr, "chdir", "working directory %s", plan.cwd);
    /* Only 0, 1 and 2 may reach the command, whatever the plan or libc opened. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        fail_before_exec(errno, exec_wr, "close fds", "close_range");
    if (plan.has_umask)
        umask((mode_t)plan.umask);
    if (plan.release_fifo)
        await_release(exec_wr);
    if (plan.seccomp_len) {
        struct sock_fprog prog = {
            .len = (unsigned short)(plan.seccomp_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)(uintptr_t)plan.seccomp,
        };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            fail_before_exec(errno, exec_wr, "seccomp", "install the filter");
    }
    exec_command(exec_wr);
}

/* The command's pid, for forward_signal in a detached sandbox's init; 0 before it exists. */
static volatile pid_t forward_to;

static void forward_signal(int sig)
{
    if (forward_to > 0)
        kill(forward_to, sig);
}

/*
 * Detached init: waits until the command is ready, says CREATED, and from then on lives without
 * the helper: no parent-death signal, no reports, and the signals OCI kill sends it (a PID
 * namespace's init gets only those it handles) go on to the command. False if the command failed
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
    forward_to = cmd;
    struct sigaction sa = {.sa_handler = forward_signal, .sa_flags = SA_RESTART};
    sigemptyset(&sa.sa_mask);
    for (int sig = 1; sig < 32; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && sig != SIGCHLD && sigaction(sig, &sa, NULL) < 0)
            fail("signals", errno, "forward signal %d", sig);
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        fail("signals", errno, "unblock signals");
    if (prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0) < 0)
        fail("prctl", errno, "clear PR_SET_PDEATHSIG");
    emit("CREATED");
    close(report_fd);
    report_fd = -1;
    return 1;
}

static long micros(struct timeval tv)
{
    return tv.tv_sec * 1000000L + tv.tv_usec;
}

/* pid 1 of the sandbox: finishes the setup, starts the command, reaps, reports. */
__attribute__((noreturn)) static void sandbox_init(int sync_rd)
{
    char c;
    ssize_t n;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail("prctl", errno, "PR_SET_PDEATHSIG");
    /* The command's ps shows this process as pid 1: it must name nothing of the host. */
    set_title("crabcan-init");
    if (prctl(PR_SET_NAME, "crabcan-init", 0, 0, 0) < 0)
        fail("prctl", errno, "PR_SET_NAME crabcan-init");
    while ((n = read(sync_rd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1)
        _exit(1); /* the helper died before our id maps were written */
    logd("User namespaces set up");

    /* Still the caller's host ids here, which can reach the caller's private directories. */
    plan.staging_fd = open(plan.staging, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (plan.staging_fd < 0)
        fail("rootfs", errno, "staging directory %s", plan.staging);
    logd("Switching to uid %u / gid %u", plan.uid, plan.gid);
    if (setresgid(plan.gid, plan.gid, plan.gid) < 0)
        fail("credentials", errno, "setresgid %u", plan.gid);
    if (setresuid(plan.uid, plan.uid, plan.uid) < 0)
        fail("credentials", errno, "setresuid %u", plan.uid);
    /*
     * A change of host ids (a root caller's sandbox becomes the host id allocated to it) clears the parent-death
     * signal: arm it again, then make sure the helper did not die in between. The helper keeps
     * its end of the sync pipe open for as long as it lives, so a hang-up means it is gone.
     */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
        fail("prctl", errno, "PR_SET_PDEATHSIG");
    struct pollfd lifeline = {.fd = sync_rd, .events = POLLIN};
    if (poll(&lifeline, 1, 0) != 0)
        _exit(1);
    close(sync_rd);

    if ((plan.options & OPT_UNSHARE_CGROUP) && unshare(CLONE_NEWCGROUP) < 0)
        fail("cgroup", errno, "new cgroup namespace");
    if (plan.hostname) {
        if (sethostname(plan.hostname, strlen(plan.hostname)) < 0)
            fail("hostname", errno, "%s", plan.hostname);
        logd("Container hostname is now %s", plan.hostname);
    }
    logd("Setting mount points ...");
    enter_root();
    if (plan.options & OPT_LOOPBACK_UP)
        loopback_up();
    if (plan.net.ifname)
        interface_up();
    for (size_t i = 0; i < plan.n_rlimits; i++) {
        struct rlimit rl = {plan.rlimits[i].cur, plan.rlimits[i].max};
        if (setrlimit((int)plan.rlimits[i].resource, &rl) < 0)
            fail("rlimit", errno, "resource %u", plan.rlimits[i].resource);
    }
    if ((plan.options & OPT_SETSID) && setsid() < 0)
        fail("setsid", errno, "new session");
    logd("Clearing unwanted capabilities ...");
    set_capabilities();
    if ((plan.options & OPT_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        fail("no_new_privs", errno, "PR_SET_NO_NEW_PRIVS");
    /* Keeps the command out of /proc/1 (exe, fd, mem): this process runs the helper's binary. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        fail("prctl", errno, "PR_SET_DUMPABLE");
    logd("Container set up successfully");
    logd("Starting container with command %s", plan.argv[0]);

    int exec_pipe[2];
    if (pipe2(exec_pipe, O_CLOEXEC) < 0)
        fail("pipe", errno, "exec status pipe");
    /*
     * The command borrows our memory until its execve (vfork), which spares copying an address
     * space only to throw it away. Until then it writes nothing but its stack and its own fds,
     * and we have no signal handlers that could run on that stack. A detached command waits for
     * its release before execve while we go on, so it needs a copy of its own.
     */
    pid_t cmd = plan.release_fifo ? fork() : vfork();
    if (cmd < 0)
        fail("fork", errno, "start the command");
    if (cmd == 0)
        run_command(exec_pipe[0], exec_pipe[1]);
    close(exec_pipe[1]);
    if (plan.release_fifo && !wait_created(exec_pipe[0], cmd))
        n = 1; /* the command failed before it was ready */
    else
        while ((n = read(exec_pipe[0], &c, 1)) < 0 && errno == EINTR)
            ;
    close(exec_pipe[0]);
    if (n == 0)
        emit("EXECUTED");

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
        if (WIFSIGNALED(status))
            emit("SIGNALED\t%d\t%ld\t%ld\t%ld", WTERMSIG(status), micros(ru.ru_utime), micros(ru.ru_stime),
                 ru.ru_maxrss);
        else
            emit("EXIT\t%d\t%ld\t%ld\t%ld", WEXITSTATUS(status), micros(ru.ru_utime), micros(ru.ru_stime),
                 ru.ru_maxrss);
        _exit(0);
    }
}

/* ---- the helper --------------------------------------------------------- */

static int connect_control(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, path); /* main checked its length */
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0)
        _exit(2); /* no channel to report on; the JVM sees the zygote gone */
    return s;
}

/*
 * The sandbox's stdin, stdout and stderr: pipes to the JVM, files, or ours. For each pipe the
 * JVM is told (PIPES <our pid> <fd for 0> <fd for 1> <fd for 2>, -1 where none) which of our
 * fds to open through /proc/<our pid>/fd/N as its end. Both ends stay in held until the JVM
 * says it has its own ('P', sent once the command runs): until then neither its open can block
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
            fail("stdio", errno, "pipe for fd %d", fd);
        if (dup2(fd == 0 ? p[0] : p[1], fd) < 0)
            fail("stdio", errno, "dup2 onto fd %d", fd);
        jvm_end[fd] = fd == 0 ? p[1] : p[0];
        held[n_held++] = p[0];
        held[n_held++] = p[1];
    }
    if (n_held > 0)
        emit("PIPES\t%d\t%d\t%d\t%d", (int)getpid(), jvm_end[0], jvm_end[1], jvm_end[2]);
    for (int fd = 0; fd <= 2; fd++) {
        if (!plan.stdio[fd].path)
            continue;
        int flags = (int)plan.stdio[fd].flags;
        /* The JVM checked that the path names no link: one found now was planted since (by a sandbox?). */
        struct open_how how = {
            .flags = (uint64_t)(flags | O_CLOEXEC),
            .mode = (flags & O_CREAT) ? plan.stdio[fd].mode : 0,
            .resolve = RESOLVE_NO_SYMLINKS,
        };
        int f = (int)syscall(SYS_openat2, AT_FDCWD, plan.stdio[fd].path, &how, sizeof how);
        if (f < 0)
            fail("stdio", errno, "open %s for fd %d", plan.stdio[fd].path, fd);
        /* O_NONBLOCK only kept a planted FIFO from hanging the open; the command gets a blocking fd. */
        if ((flags & O_NONBLOCK) && fcntl(f, F_SETFL, flags & O_APPEND) < 0)
            fail("stdio", errno, "make %s blocking", plan.stdio[fd].path);
        if (dup2(f, fd) < 0)
            fail("stdio", errno, "dup2 onto fd %d", fd);
        close(f);
    }
    return n_held;
}

#define SUPERVISE_DETACHED (-2) /* a detached sandbox was let go ('D') */

/*
 * Forwards the sandbox's reports until init is gone; kills it on request or when the JVM goes
 * away; closes the held stdio pipe ends once the JVM has its own ('P'). A detached sandbox's init
 * stops reporting once created; then only 'D' (let it go), 'K' or the socket closing end this.
 */
static int supervise(int sock, int report_rd, pid_t init, int held[6], size_t *n_held)
{
    struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = report_rd, .events = POLLIN}};
    char buf[PIPE_BUF];
    for (;;) {
        if (fds[0].fd < 0 && fds[1].fd < 0)
            break; /* a detached sandbox's init stopped reporting, and the JVM is gone */
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            kill(init, SIGKILL);
            break;
        }
        if (fds[0].revents) {
            ssize_t n = read(sock, buf, sizeof buf);
            if (n < 0 && errno == EINTR)
                continue;
            if (n > 0 && memchr(buf, 'P', (size_t)n)) {
                for (; *n_held > 0; (*n_held)--)
                    close(held[*n_held - 1]);
            }
            if (n > 0 && plan.release_fifo && memchr(buf, 'D', (size_t)n))
                return SUPERVISE_DETACHED;
            if (n <= 0 || memchr(buf, 'K', (size_t)n)) {
                kill(init, SIGKILL); /* the kernel then kills the whole PID namespace */
                if (n <= 0)
                    fds[0].fd = -1;
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
    int status;
    while (waitpid(init, &status, 0) < 0) {
        if (errno != EINTR) {
            status = -1;
            break;
        }
    }
    return status;
}

/* Asked to kill (or the JVM is gone) before init was released: the sandbox ends there. */
__attribute__((noreturn)) static void give_up(pid_t init)
{
    kill(init, SIGKILL);
    int status = -1;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR)
        ;
    emit("END\t%d", status);
    _exit(0);
}

/* The JVM connects the new network namespace to the host; anything but 'G' means give up. */
static void await_network(int sock, pid_t init)
{
    emit("READY");
    char c = 0;
    ssize_t n;
    while ((n = read(sock, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n == 1 && c == 'G')
        return;
    give_up(init);
}

/* The copy at target survives the exec (dup2 leaves O_CLOEXEC off). */
static void place_fd(int fd, int target)
{
    if (dup2(fd, target) < 0)
        _exit(127);
}

__attribute__((noreturn)) static void exec_net_helper(int ns_net, int ns_user, int ready_wr, int err_wr)
{
    /* Above the fds they are going to, so that no dup2 overwrites one still needed. */
    int fds[4] = {ns_net, ns_user, ready_wr, err_wr};
    for (int i = 0; i < 4; i++)
        if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(127);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        _exit(127);
    /* Never the sandbox's stdio: holding its pipes open would keep the JVM from seeing their end. */
    place_fd(devnull, 0);
    place_fd(devnull, 1);
    place_fd(fds[3], 2);
    place_fd(fds[0], 3);
    place_fd(fds[1], 4);
    place_fd(fds[2], 5);
    if (close_range(6, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        _exit(127);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(plan.net_helper[0], plan.net_helper, (char *[]){NULL});
    dprintf(2, "cannot execute %s: %s\n", plan.net_helper[0], strerror(errno));
    _exit(127);
}

static int open_ns(pid_t pid, const char *ns)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail("network", errno, "open %s", path);
    return fd;
}

/* The last line of text that is not pasta's complaint that it has no syslog to write to. */
static const char *last_line(char *text)
{
    const char *last = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(line, "to syslog"))
            last = line;
    return last;
}

/*
 * Starts the network helper and waits until it says it is ready; on failure reports its stderr.
 * A kill request or the JVM going away ends the wait, and so does a helper that hangs.
 */
#define NET_HELPER_READY_MS 20000
static pid_t start_net_helper(int sock, pid_t init)
{
    int ns_net = open_ns(init, "net"), ns_user = open_ns(init, "user");
    int ready[2], err[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        fail("pipe", errno, "network helper pipes");
    logd("Starting the network helper %s", plan.net_helper[0]);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail("fork", errno, "start the network helper");
    if (pid == 0) {
        /* If we died before the death signal was armed, nobody would ever end it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
            _exit(127);
        exec_net_helper(ns_net, ns_user, ready[1], err[1]);
    }
    close(ns_net);
    close(ns_user);
    close(ready[1]);
    close(err[1]);
    char buf[64];
    ssize_t n = -1;
    struct pollfd fds[2] = {{.fd = ready[0], .events = POLLIN}, {.fd = sock, .events = POLLIN}};
    int ready_now;
    while ((ready_now = poll(fds, 2, NET_HELPER_READY_MS)) < 0 && errno == EINTR)
        ;
    if (ready_now > 0 && fds[1].revents) {
        kill(pid, SIGKILL);
        give_up(init);
    }
    if (ready_now == 0) {
        kill(pid, SIGKILL);
        kill(init, SIGKILL);
        fail("network", ETIMEDOUT, "%s was not ready within %d ms", plan.net_helper[0], NET_HELPER_READY_MS);
    }
    while ((n = read(ready[0], buf, sizeof buf)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (n <= 0) {
        char why[1024];
        ssize_t m, got = 0;
        while (got < (ssize_t)sizeof why - 1 && (m = read(err[0], why + got, sizeof why - 1 - (size_t)got)) != 0) {
            if (m < 0 && errno == EINTR)
                continue;
            if (m < 0)
                break;
            got += m;
        }
        why[got] = '\0';
        kill(pid, SIGKILL);
        kill(init, SIGKILL);
        fail("network", 0, "%s exited before the network was ready: %s", plan.net_helper[0], last_line(why));
    }
    close(err[0]);
    emit("NETHELPER\t%d", (int)pid);
    return pid;
}

/* One sandbox: carry out the plan the zygote read on the channel it opened, report until it is gone. */
static int sandbox_helper(int sock, uint32_t plan_len)
{
    report_fd = sock;
    report_is_socket = 1;
    plan.root_fd = -1;
    parse_plan(plan_len);
    int held[6];
    size_t n_held = open_stdio(held);

    /* Root's supplementary groups would otherwise follow it into the sandbox. */
    if (geteuid() == 0 && setgroups(0, NULL) < 0)
        fail("credentials", errno, "drop supplementary groups");
    prepare_in_parent();
    if (plan.release_fifo) {
        plan.release_fd = open(plan.release_fifo, O_PATH | O_CLOEXEC);
        if (plan.release_fd < 0)
            fail("release", errno, "open the release FIFO %s", plan.release_fifo);
    }

    int sync[2], report[2];
    if (pipe2(sync, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
        fail("pipe", errno, "sandbox pipes");
    logd("Creating namespaces");
    pid_t init = clone_raw(plan.clone_flags);
    if (init < 0)
        fail("clone", errno, "create namespaces (flags 0x%x)", plan.clone_flags);
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
    emit("PID\t%d", (int)init);
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)init);
    for (size_t i = 0; i < plan.n_cgroups; i++) {
        logd("Joining cgroup %s", plan.cgroup_procs[i]);
        int fd = open(plan.cgroup_procs[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0 || write(fd, pid, strlen(pid)) < 0)
            fail("cgroup", errno, "put the sandbox into %s", plan.cgroup_procs[i]);
        close(fd);
    }
    logd("Setting up user namespace: uid map '%.*s', gid map '%.*s'", (int)strcspn(plan.uid_map, "\n"), plan.uid_map,
         (int)strcspn(plan.gid_map, "\n"), plan.gid_map);
    write_id_maps(init, plan.uid_map, plan.gid_map);
    if (plan.options & OPT_NET_WAIT)
        await_network(sock, init);
    pid_t net_helper = plan.n_net_helper > 0 ? start_net_helper(sock, init) : 0;
    if (write(sync[1], "1", 1) != 1)
        fail("sync", errno, "release the sandbox");
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

    int status = supervise(sock, report[0], init, held, &n_held);
    if (status == SUPERVISE_DETACHED)
        return 0;
    if (net_helper > 0) {
        kill(net_helper, SIGKILL);
        while (waitpid(net_helper, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    emit("END\t%d", status);
    /* A quick command can end before the JVM opened its pipe ends: they must outlive us until it has. */
    while (n_held > 0) {
        char buf[64];
        ssize_t n = read(sock, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || memchr(buf, 'P', (size_t)n))
            break;
    }
    return 0;
}

/* The JVM's long-lived helper: a sandbox helper for each request, until the JVM goes away. */
static int zygote(const char *path)
{
    int sock = connect_control(path);
    report_fd = sock;
    report_is_socket = 1;
    emit("ZYGOTE");
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
        int channel = connect_control(path);
        report_fd = channel;
        emit("SANDBOX\t%u", request[0]);
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

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "--zygote") != 0 || strlen(argv[2]) >= sizeof control_path)
        return 2;
    strcpy(control_path, argv[2]);
    /* The kernel lays the argument strings out back to back: argv[0] up to the last one's NUL. */
    title_area = argv[0];
    title_size = (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
    set_title("crabcan-zygote");
    return zygote(control_path);
}
