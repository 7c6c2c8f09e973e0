/*
 * keyring: prints the serial number and the description of this process's session keyring (one
 * line, "SERIAL NAME"), or "keyctl: ERROR" if it cannot be read.
 * keyring join NAME PROGRAM [ARG...]: joins a session keyring of that name, then executes PROGRAM
 * (a caller with a session keyring of its own, as an engine's).
 */
#include <errno.h>
#include <linux/keyctl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc >= 4 && strcmp(argv[1], "join") == 0) {
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, argv[2], 0, 0, 0) < 0) {
            perror("join");
            return 1;
        }
        execv(argv[3], argv + 3);
        perror(argv[3]);
        return 127;
    }
    long id = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0, 0, 0);
    char desc[4096];
    long n = id < 0 ? -1 : syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc, 0);
    if (n < 0 || (size_t)n > sizeof desc) {
        printf("keyctl: %s\n", strerror(n < 0 ? errno : ENAMETOOLONG));
        return 1;
    }
    const char *name = strrchr(desc, ';');
    printf("%ld %s\n", id, name ? name + 1 : desc);
    return 0;
}
