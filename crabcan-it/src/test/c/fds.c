/* Prints every open file descriptor of this process, one per line. */
#include <fcntl.h>
#include <stdio.h>
int main(void)
{
    for (int fd = 0; fd < 65536; fd++)
        if (fcntl(fd, F_GETFD) >= 0)
            printf("%d\n", fd);
    return 0;
}
