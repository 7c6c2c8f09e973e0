/*
 * Report lines: every outcome the helper, init and the command's process tell the JVM, one
 * line each, on report_fd (see main.c for the lines), and how a failed step ends its process.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helper.h"

/* Where report lines go: the control socket in the helper, a pipe in the sandbox. */
int report_fd = -1;
int report_is_socket;
/* A process whose parent waits on a pipe for its execve: fail() writes 'F' there first (see join.c). */
int exec_status_fd = -1;

void write_all(int fd, const char *buf, size_t len)
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
const char *esc(const char *s, char *out, size_t n)
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
__attribute__((format(printf, 1, 2))) void emit(const char *fmt, ...)
{
    _Static_assert(REPORT_MAX <= PIPE_BUF, "a report line must be written in one piece");
    char line[REPORT_MAX];
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

__attribute__((format(printf, 1, 2))) void logd(const char *fmt, ...)
{
    if (!(plan.options & OPT_DEBUG))
        return;
    char text[1024], escaped[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    emit(R_LOG, esc(text, escaped, sizeof escaped));
}

__attribute__((noreturn, format(printf, 3, 4))) void fail(const char *step, int err, const char *fmt, ...)
{
    char detail[2048], escaped[3072];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof detail, fmt, ap);
    va_end(ap);
    emit(R_FAIL, step, err, esc(detail, escaped, sizeof escaped));
    while (exec_status_fd >= 0 && write(exec_status_fd, "F", 1) < 0 && errno == EINTR)
        ;
    _exit(1);
}

/* CLOCK_MONOTONIC in microseconds: cannot fail for a valid clock, so no error to report. */
long monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000L + ts.tv_nsec / 1000;
}
