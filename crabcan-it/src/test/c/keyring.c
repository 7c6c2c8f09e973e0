/*
 * keyring: prints the serial number and the description of this process's session keyring (one
 * line, "SERIAL NAME"), or "keyctl: ERROR" if it cannot be read.
 * keyring perm: prints its permissions instead, as the kernel describes them (hex).
 * keyring join NAME PROGRAM [ARG...]: joins a session keyring of that name, then executes PROGRAM
 * (a caller with a session keyring of its own, as an engine's).
 * keyring deny ERRNO PROGRAM [ARG...]: executes PROGRAM under a seccomp filter that fails keyctl
 * with ERRNO (an outer container's profile), as no_new_privs.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/keyctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
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
    if (argc >= 4 && strcmp(argv[1], "deny") == 0) {
        struct sock_filter filter[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_keyctl, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (atoi(argv[2]) & SECCOMP_RET_DATA)),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof filter / sizeof filter[0], filter};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
            perror("seccomp");
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
    if (argc >= 2 && strcmp(argv[1], "perm") == 0) { /* type;uid;gid;perm;description */
        const char *field = desc;
        for (int i = 0; i < 3 && field; i++)
            field = strchr(field, ';') ? strchr(field, ';') + 1 : NULL;
        if (!field)
            return 1;
        printf("%.*s\n", (int)strcspn(field, ";"), field);
        return 0;
    }
    const char *name = strrchr(desc, ';');
    printf("%ld %s\n", id, name ? name + 1 : desc);
    return 0;
}
