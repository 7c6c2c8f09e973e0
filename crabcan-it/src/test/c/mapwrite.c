/*
 * A build step changing a file through a shared mapping, which the kernel does not treat as a
 * write(2): the file's setuid and setgid bits stay. Writes "#!" over its first two bytes.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mapwrite FILE\n");
        return 2;
    }
    int fd = open(argv[1], O_RDWR);
    if (fd < 0) {
        perror(argv[1]);
        return 1;
    }
    char *m = mmap(NULL, 2, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    memcpy(m, "#!", 2);
    if (msync(m, 2, MS_SYNC) < 0) {
        perror("msync");
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0) {
        perror("fstat");
        return 1;
    }
    printf("mode %o\n", (unsigned)(st.st_mode & 07777));
    return 0;
}
