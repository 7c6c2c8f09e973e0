/*
 * Does process creation scale across cores on this host? The floor under target (5) of the
 * benchmark: a sandbox run creates processes, so it cannot scale better than this does.
 *
 *   gcc -O2 -static -o /tmp/forkscale crabcan-it/bench/forkscale.c && /tmp/forkscale 1000
 *
 * For each kind of work it runs one loop, then two loops at once in two processes, and prints
 * the aggregate rate of the two relative to the one (2.00 = perfect scaling).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void work(int kind, int n)
{
    char *argv[] = {"/bin/true", NULL};
    for (int i = 0; i < n; i++) {
        if (kind == 2) {
            volatile unsigned long x = 0;
            for (unsigned long j = 0; j < 200000; j++)
                x += j;
            continue;
        }
        pid_t p = kind == 0 ? fork() : vfork();
        if (p == 0) {
            if (kind == 1)
                execv(argv[0], argv);
            _exit(0);
        }
        if (p < 0 || waitpid(p, NULL, 0) < 0) {
            perror("fork");
            exit(1);
        }
    }
}

/* The wall time of `loops` processes each doing n iterations of kind at once. */
static double run(int kind, int n, int loops)
{
    double t0 = now_ms();
    for (int l = 0; l < loops; l++) {
        pid_t p = fork();
        if (p == 0) {
            work(kind, n);
            _exit(0);
        }
    }
    while (wait(NULL) > 0)
        ;
    return now_ms() - t0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    const char *names[] = {"fork + exit + wait", "vfork + exec /bin/true + wait", "CPU loop (no system calls)"};
    for (int kind = 0; kind < 3; kind++) {
        double one = run(kind, n, 1), two = run(kind, n, 2);
        printf("%-32s one loop %8.3f ms/iteration, two loops %8.3f ms/iteration each: %.2f x the rate of one\n",
               names[kind], one / n, two / n, 2 * one / two);
    }
    return 0;
}
