/*
 * One escape attempt per invocation: escape ATTACK [ARG [DIR]]. Prints exactly one line:
 *   BLOCKED <errno name or what stopped it>   the attack failed
 *   KILLED <signal>                           the kernel killed the attempt (seccomp: 31)
 *   ESCAPED <what happened>                   the attack worked: the sandbox is broken
 * Attacks that may kill the process run in a forked child, so the verdict is still printed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/keyctl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <linux/openat2.h>
#include <termios.h>
#include <unistd.h>

static const char *arg2 = "";

/*
 * EHWPOISON: what the tests' tagged policy returns instead of EPERM (and ERFKILL instead of
 * ENOSYS). The kernel never answers these calls so, which tells the filter's refusal from the
 * kernel's own.
 */
#define FILTER_TAG 133

static int verdict(long r, const char *what)
{
    if (r < 0) {
        printf("BLOCKED %s\n", strerrorname_np(errno) ? strerrorname_np(errno) : "?");
        return 0;
    }
    printf("ESCAPED %s\n", what);
    return 1;
}

/* Runs fn in a child; a signal that kills the child is the verdict. */
static int in_child(int (*fn)(const char *), const char *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0)
        _exit(fn(arg));
    int status;
    waitpid(pid, &status, 0);
    if (WIFSIGNALED(status)) {
        printf("KILLED %d\n", WTERMSIG(status));
        return 0;
    }
    return WEXITSTATUS(status);
}

/* DIR/NAME, where DIR is the attack's second argument (a read-write bind), or /tmp. */
static const char *target(const char *name)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/%s", arg2[0] ? arg2 : "/tmp", name);
    return path;
}

/* Whether the file at path got a setuid or setgid bit (a call that succeeded but was stripped is blocked). */
static int has_setid(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID));
}

static int a_chmod_setuid(const char *how)
{
    const char *f = target("escape-suid");
    unlink(f);
    int fd = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (fd < 0)
        return verdict(-1, "");
    long r;
    if (strcmp(how, "chmod") == 0)
        r = chmod(f, 04755);
    else if (strcmp(how, "fchmod") == 0)
        r = fchmod(fd, 04755);
    else if (strcmp(how, "fchmodat") == 0)
        r = syscall(SYS_fchmodat, AT_FDCWD, f, 02755);
    else
        r = syscall(452 /* fchmodat2 */, AT_FDCWD, f, 04755, 0);
    if (r == 0 && !has_setid(f))
        r = -1, errno = EPERM; /* accepted but stripped: still blocked */
    return verdict(r, "setuid/setgid bit set");
}

/* Creates a file with the setuid bit in one system call, chosen by how. */
static int a_create_setuid(const char *how)
{
    const char *f = target("escape-suid2");
    unlink(f);
    long r;
    if (strcmp(how, "open") == 0)
        r = syscall(SYS_open, f, O_WRONLY | O_CREAT, 04755);
    else if (strcmp(how, "creat") == 0)
        r = syscall(SYS_creat, f, 04755);
    else if (strcmp(how, "mknod") == 0)
        r = syscall(SYS_mknod, f, S_IFREG | 04755, 0);
    else if (strcmp(how, "mknodat") == 0)
        r = syscall(SYS_mknodat, AT_FDCWD, f, S_IFREG | 02755, 0);
    else if (strcmp(how, "openat2") == 0) {
        struct open_how oh = {.flags = O_WRONLY | O_CREAT, .mode = 04755};
        r = syscall(SYS_openat2, AT_FDCWD, f, &oh, sizeof oh);
    } else if (strcmp(how, "tmpfile") == 0) {
        /* An unnamed file made setuid at birth, then given a name. */
        r = syscall(SYS_openat, AT_FDCWD, arg2[0] ? arg2 : "/tmp", O_TMPFILE | O_WRONLY, 04755);
        if (r >= 0) {
            char fdpath[64];
            snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%ld", r);
            if (linkat(AT_FDCWD, fdpath, AT_FDCWD, f, AT_SYMLINK_FOLLOW) < 0)
                r = -1;
        }
    } else
        r = syscall(SYS_openat, AT_FDCWD, f, O_WRONLY | O_CREAT, 04755);
    if (r >= 0 && !has_setid(f))
        r = -1, errno = EPERM;
    return verdict(r, "file created with the setuid bit");
}

/*
 * A copy of this program with file capabilities (cap_setuid,cap_setgid+ep) written by one of
 * the setxattr calls: through a root caller's idmapped bind they would be host root's, and
 * "become-root" run from it by any host user would get uid 0.
 */
static int a_setxattr_cap(const char *how)
{
    const char *f = target("escape-fcap");
    unlink(f);
    int in = open("/proc/self/exe", O_RDONLY), out = open(f, O_WRONLY | O_CREAT | O_TRUNC, 0755);
    if (in < 0 || out < 0)
        return verdict(-1, "");
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            return verdict(-1, "");
    close(in);
    struct { uint32_t magic_etc; struct { uint32_t permitted, inheritable; } data[2]; } cap = {
        .magic_etc = 0x02000000 /* VFS_CAP_REVISION_2 */ | 1 /* VFS_CAP_FLAGS_EFFECTIVE */,
        .data = {{(1u << 6) | (1u << 7), 0}, {0, 0}},
    };
    long r;
    if (strcmp(how, "fsetxattr") == 0)
        r = fsetxattr(out, "security.capability", &cap, sizeof cap, 0);
    else if (strcmp(how, "lsetxattr") == 0)
        r = lsetxattr(f, "security.capability", &cap, sizeof cap, 0);
    else
        r = setxattr(f, "security.capability", &cap, sizeof cap, 0);
    close(out);
    if (r == 0 && getxattr(f, "security.capability", buf, sizeof buf) <= 0)
        r = -1, errno = EPERM;
    return verdict(r, "file capabilities written");
}

/* The same from a new user namespace, which would hold every capability again, SETFCAP included. */
static int a_userns_fcap(const char *how)
{
    if (unshare(CLONE_NEWUSER) < 0)
        return verdict(-1, "");
    const char *maps[][2] = {{"/proc/self/setgroups", "deny"}, {"/proc/self/uid_map", "0 0 1"},
                             {"/proc/self/gid_map", "0 0 1"}};
    for (size_t i = 0; i < 3; i++) {
        int fd = open(maps[i][0], O_WRONLY);
        if (fd < 0 || write(fd, maps[i][1], strlen(maps[i][1])) < 0) {
            printf("BLOCKED %s (new user namespace, but %s)\n", strerrorname_np(errno), maps[i][0]);
            return 0;
        }
        close(fd);
    }
    return a_setxattr_cap(how);
}

/*
 * An overlay whose lower layer (a read-only bind) holds a setuid-root file and whose upper layer
 * is in the read-write bind: opening the file for writing copies it up with its mode, by the
 * kernel's own hand, where no chmod rule can see it.
 */
static int a_overlay_copyup(const char *lower)
{
    char up[4096], work[4096], opts[16384], copied[4200];
    snprintf(up, sizeof up, "%s/up", arg2);
    snprintf(work, sizeof work, "%s/work", arg2);
    snprintf(copied, sizeof copied, "%s/victim", up);
    mkdir(up, 0755);
    mkdir(work, 0755);
    mkdir("/tmp/merged", 0755);
    snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", lower, up, work);
    if (mount("overlay", "/tmp/merged", "overlay", 0, opts) < 0)
        return verdict(-1, "");
    int fd = open("/tmp/merged/victim", O_RDWR);
    if (fd < 0)
        return verdict(-1, "");
    return verdict(has_setid(copied) ? 0 : (errno = EPERM, -1), "copied a setuid file up into the bind");
}

/* Not an attack: run on the host, it describes a file an attack made: its mode and whether it has file capabilities. */
static int a_inspect(const char *path)
{
    struct stat st;
    char buf[64];
    if (lstat(path, &st) < 0) {
        printf("MISSING\n");
        return 0;
    }
    printf("MODE %o FCAP %s\n", st.st_mode & 07777, lgetxattr(path, "security.capability", buf, sizeof buf) > 0 ? "yes" : "no");
    return 0;
}

/* Not an attack: run on the host from a file an attack made, it says whether that file gives root. */
static int a_become_root(const char *unused)
{
    (void)unused;
    int r = setresuid(0, 0, 0);
    printf("%s uid=%d euid=%d\n", r == 0 || geteuid() == 0 ? "ROOT" : "NOT-ROOT", (int)getuid(), (int)geteuid());
    return 0;
}

static int a_userns(const char *how)
{
    if (strcmp(how, "unshare") == 0)
        return verdict(unshare(CLONE_NEWUSER), "unshare(CLONE_NEWUSER)");
    long r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0)
        _exit(0);
    if (r > 0)
        waitpid((pid_t)r, NULL, 0);
    return verdict(r, "clone(CLONE_NEWUSER)");
}

static int a_clone3(const char *unused)
{
    (void)unused;
    uint64_t args[11] = {0};
    args[0] = CLONE_NEWUSER;
    args[4] = SIGCHLD; /* exit_signal */
    long r = syscall(435 /* clone3 */, args, sizeof args);
    if (r == 0)
        _exit(0);
    if (r < 0 && errno == ENOSYS) {
        printf("BLOCKED ENOSYS\n");
        return 0;
    }
    return verdict(r < 0 ? r : 0, "clone3 ran");
}

static int a_tiocsti(const char *variant)
{
    char c = 'x';
    unsigned long req = TIOCSTI;
    if (strcmp(variant, "high") == 0)
        req |= 0xffffffff00000000UL;
    int fd = open("/dev/tty", O_RDWR);
    if (fd < 0)
        fd = 0;
    long r = syscall(SYS_ioctl, fd, req, &c);
    if (r < 0 && (errno == ENOTTY || errno == EBADF || errno == EIO)) {
        /* The kernel reached the tty layer: the filter let it through. */
        printf("ESCAPED ioctl reached the terminal layer (%s)\n", strerrorname_np(errno));
        return 1;
    }
    return verdict(r, "TIOCSTI injected a character");
}

static int a_syscall(const char *name)
{
    struct { const char *name; long nr; } table[] = {
        {"keyctl", SYS_keyctl}, {"add_key", SYS_add_key}, {"request_key", SYS_request_key},
        {"mbind", SYS_mbind}, {"migrate_pages", SYS_migrate_pages}, {"move_pages", SYS_move_pages},
        {"set_mempolicy", SYS_set_mempolicy}, {"userfaultfd", SYS_userfaultfd},
        {"perf_event_open", SYS_perf_event_open}, {"io_uring_setup", 425}, {"io_uring_enter", 426},
        {"io_uring_register", 427}, {"ptrace", SYS_ptrace}, {"kexec_load", SYS_kexec_load},
        {"kexec_file_load", SYS_kexec_file_load}, {"init_module", SYS_init_module},
        {"finit_module", SYS_finit_module}, {"delete_module", SYS_delete_module}, {"bpf", SYS_bpf},
        {"open_tree", 428}, {"open_tree_attr", 467}, {"quotactl_fd", 443}, {"move_mount", 429}, {"fsopen", 430}, {"fsmount", 432},
        {"pivot_root", SYS_pivot_root}, {"swapon", SYS_swapon}, {"swapoff", SYS_swapoff},
        {"reboot", SYS_reboot}, {"acct", SYS_acct}, {"settimeofday", SYS_settimeofday},
        {"clock_settime", SYS_clock_settime}, {"mount", SYS_mount}, {"umount2", SYS_umount2},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (strcmp(table[i].name, name) != 0)
            continue;
        long r;
        if (strcmp(name, "ptrace") == 0)
            r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
        else if (strcmp(name, "fsopen") == 0)
            r = syscall(table[i].nr, "tmpfs", 0);
        else if (strcmp(name, "open_tree") == 0 || strcmp(name, "open_tree_attr") == 0)
            r = syscall(table[i].nr, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
        else if (strcmp(name, "finit_module") == 0)
            r = syscall(table[i].nr, open("/dev/null", O_RDONLY), "", 0);
        else if (strcmp(name, "userfaultfd") == 0 || strcmp(name, "io_uring_setup") == 0)
            r = strcmp(name, "userfaultfd") == 0 ? syscall(table[i].nr, 0)
                                                   : syscall(table[i].nr, 1, calloc(1, 120));
        else if (strcmp(name, "keyctl") == 0)
            r = syscall(table[i].nr, KEYCTL_JOIN_SESSION_KEYRING, 0);
        else if (strcmp(name, "perf_event_open") == 0)
            r = syscall(table[i].nr, calloc(1, 128), 0, -1, -1, 0);
        else
            r = syscall(table[i].nr, 0, 0, 0, 0, 0, 0);
        if (r < 0 && (errno == EPERM || errno == FILTER_TAG)) {
            printf("BLOCKED %s\n", strerrorname_np(errno));
            return 0;
        }
        /* Anything but EPERM (or the tag) means the call reached the kernel's own checks. */
        printf("ESCAPED %s reached the kernel (%s)\n", name, r < 0 ? strerrorname_np(errno) : "succeeded");
        return 1;
    }
    printf("UNKNOWN %s\n", name);
    return 2;
}

static int a_i386(const char *unused)
{
    (void)unused;
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(20 /* i386 getpid */) : "memory");
    printf("ESCAPED int 0x80 returned %ld\n", r);
    return 1;
}

static int a_x32(const char *unused)
{
    (void)unused;
    long r = syscall(39 | 0x40000000 /* x32 getpid */);
    printf("ESCAPED x32 syscall returned %ld\n", r);
    return 1;
}

static int a_remount_rw(const char *dir)
{
    long r = mount(NULL, dir, NULL, MS_REMOUNT | MS_BIND, NULL);
    if (r == 0) {
        int fd = open(strcat(strcpy(malloc(strlen(dir) + 16), dir), "/escaped"), O_WRONLY | O_CREAT, 0644);
        r = fd;
    }
    return verdict(r, "remounted a read-only bind read-write and wrote to it");
}

static int a_mount_tmpfs(const char *dir)
{
    return verdict(mount("none", dir, "tmpfs", 0, NULL), "mounted a tmpfs");
}

static int a_write(const char *file)
{
    int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0 && write(fd, "pwned\n", 6) == 6)
        return verdict(0, "wrote the file");
    return verdict(-1, "");
}

static int a_load_module(const char *unused)
{
    (void)unused;
    return verdict(syscall(SYS_init_module, "", 0, ""), "init_module");
}

static int a_kill_host(const char *pid)
{
    return verdict(kill((pid_t)atoi(pid), 0), "could signal the host process");
}

static int a_read_host_proc(const char *pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/cmdline", pid);
    return verdict(open(path, O_RDONLY), "read a host process's /proc entry");
}

static int a_connect(const char *port)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return verdict(connect(s, (struct sockaddr *)&a, sizeof a), "connected to the host's loopback listener");
}

/* runc CVE-2019-5736: reach the runtime's binary through /proc and write it. */
static int a_proc_exe(const char *pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/exe", pid);
    int fd = open(path, O_WRONLY);
    if (fd >= 0 && write(fd, "pwned", 5) == 5)
        return verdict(0, "wrote the helper binary through /proc/PID/exe");
    int ro = open(path, O_PATH);
    if (ro >= 0) {
        char again[64];
        snprintf(again, sizeof again, "/proc/self/fd/%d", ro);
        chmod(again, 0755);
        fd = open(again, O_WRONLY);
        if (fd >= 0 && write(fd, "pwned", 5) == 5)
            return verdict(0, "wrote the helper binary through an O_PATH handle");
        printf("BLOCKED %s (opened O_PATH only)\n", strerrorname_np(errno));
        return 0;
    }
    return verdict(-1, "");
}

static int a_read(const char *file)
{
    char buf[64];
    int fd = open(file, O_RDONLY);
    if (fd < 0)
        return verdict(-1, "");
    ssize_t n = read(fd, buf, sizeof buf);
    if (n > 0)
        return verdict(0, "read data");
    printf("BLOCKED empty\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    const char *a = argv[1], *arg = argc > 2 ? argv[2] : "";
    arg2 = argc > 3 ? argv[3] : "";
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(a, "chmod-setuid")) return a_chmod_setuid(arg);
    if (!strcmp(a, "create-setuid")) return a_create_setuid(arg);
    if (!strcmp(a, "setxattr-cap")) return a_setxattr_cap(arg);
    if (!strcmp(a, "userns-fcap")) return a_userns_fcap(arg);
    if (!strcmp(a, "become-root")) return a_become_root(arg);
    if (!strcmp(a, "inspect")) return a_inspect(arg);
    if (!strcmp(a, "overlay-copyup")) return a_overlay_copyup(arg);
    if (!strcmp(a, "userns")) return a_userns(arg);
    if (!strcmp(a, "clone3")) return a_clone3(arg);
    if (!strcmp(a, "tiocsti")) return a_tiocsti(arg);
    if (!strcmp(a, "syscall")) return a_syscall(arg);
    if (!strcmp(a, "i386")) return in_child(a_i386, arg);
    if (!strcmp(a, "x32")) return in_child(a_x32, arg);
    if (!strcmp(a, "remount-rw")) return a_remount_rw(arg);
    if (!strcmp(a, "mount-tmpfs")) return a_mount_tmpfs(arg);
    if (!strcmp(a, "write")) return a_write(arg);
    if (!strcmp(a, "load-module")) return a_load_module(arg);
    if (!strcmp(a, "kill-host")) return a_kill_host(arg);
    if (!strcmp(a, "read-host-proc")) return a_read_host_proc(arg);
    if (!strcmp(a, "connect")) return a_connect(arg);
    if (!strcmp(a, "proc-exe")) return a_proc_exe(arg);
    if (!strcmp(a, "read")) return a_read(arg);
    printf("UNKNOWN %s\n", a);
    return 2;
}
