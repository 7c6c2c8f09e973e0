/* loops getppid N | loops cpu N: runs the loop and prints its duration in nanoseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long long now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[2]);
    volatile unsigned long x = 1;
    long long t0 = now();
    if (strcmp(argv[1], "getppid") == 0) {
        for (long i = 0; i < n; i++)
            syscall(SYS_getppid);
    } else {
        for (long i = 0; i < n; i++)
            x = x * 6364136223846793005UL + 1442695040888963407UL;
    }
    printf("%lld\n", now() - t0);
    return 0;
}
