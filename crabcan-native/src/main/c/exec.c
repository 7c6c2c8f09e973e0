/*
 * The command's process, from fork to execve: signals, working directory, fds, umask, the
 * release of a detached sandbox, seccomp, the PATH search, and the facts that explain an execve
 * that failed (EXECFAIL).
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

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
    const char *kind = EXEC_OTHER;
    if (err == ENOENT) {
        struct stat st;
        if (stat(path, &st) < 0) {
            kind = EXEC_NOT_FOUND;
        } else {
            enum interp_kind ik = find_interpreter(path, interp, sizeof interp);
            if (ik != INTERP_NONE && stat(interp, &st) < 0)
                kind = ik == INTERP_ELF ? EXEC_ELF_INTERPRETER : EXEC_SCRIPT_INTERPRETER;
        }
    }
    emit(R_EXECFAIL, err, kind, esc(path, e1, sizeof e1), esc(interp, e2, sizeof e2));
    while (write(exec_wr, "F", 1) < 0 && errno == EINTR)
        ;
    _exit(err == ENOENT && strcmp(kind, EXEC_NOT_FOUND) == 0 ? 127 : 126);
}

/*
 * When the command's last execve began. A vfork'ed command shares init's memory, so init reads
 * it once the command has exec'ed: taken there, after the wakeup, a loaded machine's scheduling
 * delay would be missing from the program's wall time.
 */
volatile long exec_started_us;

/* execve, searching the plan's PATH for a bare name the way execvp does. */
__attribute__((noreturn)) static void exec_command(int exec_wr)
{
    const char *name = plan.argv[0];
    if (strchr(name, '/') || !plan.search_path) {
        exec_started_us = monotonic_us();
        execve(name, plan.argv, plan.envp);
        exec_failed(errno, name, exec_wr);
    }
    char candidate[PATH_MAX], first[PATH_MAX] = "";
    int err = ENOENT;
    for (const char *dir = plan.search_path;; dir++) {
        size_t dlen = strcspn(dir, ":");
        if (dlen + strlen(name) + 2 <= sizeof candidate) {
            snprintf(candidate, sizeof candidate, "%.*s/%s", (int)dlen, dlen ? dir : ".", name);
            exec_started_us = monotonic_us();
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
    if (fd < 0)
        fail_before_exec(errno, exec_wr, S_RELEASE, "open the release FIFO %s", plan.release_fifo);
    /* start waits for the verdict of the startContainer hooks: '0', or 'H' and why they failed. */
    char verdict[2048] = "H";
    if (run_hooks(HOOK_START_CONTAINER, "created", verdict + 1, sizeof verdict - 1) < 0) {
        int err = errno;
        /* At most PIPE_BUF bytes: one write, whole, or none if start is gone. */
        ssize_t ignored = write(fd, verdict, strlen(verdict));
        (void)ignored;
        fail_before_exec(err, exec_wr, S_HOOK, "%s", verdict + 1);
    }
    if (write(fd, "0", 1) != 1)
        fail_before_exec(errno, exec_wr, S_RELEASE, "write to the release FIFO %s", plan.release_fifo);
    close(fd);
    close(plan.release_fd);
}

/*
 * The JVM's blocked and ignored signals (SIGQUIT, SIGINT in the background, SIGPIPE) are not those
 * of a program the helper starts: every signal unblocked, and at its default action.
 */
int default_signals(void)
{
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) < 0)
        return -1;
    /* The raw call, since libc refuses to touch the real-time signals it reserves for itself. */
    struct { void (*handler)(int); unsigned long flags; void (*restorer)(void); uint64_t mask; } dfl = {SIG_DFL, 0, NULL, 0};
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            syscall(SYS_rt_sigaction, sig, &dfl, NULL, sizeof dfl.mask);
    return 0;
}

__attribute__((noreturn)) void run_command(int exec_rd, int exec_wr)
{
    close(exec_rd);
    if (default_signals() < 0)
        fail_before_exec(errno, exec_wr, S_SIGNALS, "unblock signals");
    if (take_terminal() < 0)
        fail_before_exec(errno, exec_wr, S_CONSOLE, "make the terminal the command's stdio and controlling terminal");
    if (plan.cwd && chdir(plan.cwd) < 0)
        fail_before_exec(errno, exec_wr, S_CHDIR, "working directory %s", plan.cwd);
    /*
     * A working directory outside the root (a link to /proc/self/fd/N of a host directory, as in
     * runc's CVE-2024-21626) is one the kernel cannot name from the root: getcwd says
     * "(unreachable)" or fails.
     */
    char cwd[PATH_MAX];
    long got = syscall(SYS_getcwd, cwd, sizeof cwd);
    if (got <= 0 || cwd[0] != '/')
        fail_before_exec(got < 0 ? errno : ENOENT, exec_wr, S_CHDIR, "working directory %s lies outside the root",
                         plan.cwd ? plan.cwd : "(kept)");
    /* Only 0, 1, 2 and the passed fds may reach the command, whatever the plan or libc opened. */
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        fail_before_exec(errno, exec_wr, S_CLOSE_FDS, "close_range");
    char listen_pid[32];
    if (give_passed_fds(listen_pid, sizeof listen_pid) < 0)
        fail_before_exec(errno, exec_wr, S_PASS_FDS, "place the passed fds");
    if (plan.has_umask)
        umask((mode_t)plan.umask);
    /* Before the release, as runc does: a startContainer hook, and whatever it leaves behind, is no less confined than the command. */
    if (plan.seccomp_len) {
        struct sock_fprog prog = {
            .len = (unsigned short)(plan.seccomp_len / sizeof(struct sock_filter)),
            .filter = (struct sock_filter *)(uintptr_t)plan.seccomp,
        };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0)
            fail_before_exec(errno, exec_wr, S_SECCOMP, "install the filter");
    }
    if (plan.release_fifo)
        await_release(exec_wr);
    exec_command(exec_wr);
}
