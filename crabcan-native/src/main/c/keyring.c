/*
 * The sandbox's own session keyring (T_SESSION_KEYRING), as runc gives each container: keyrings
 * are not namespaced, so without one the command would hold the caller's session keyring and
 * could read, link or clear its keys (and those of every other container started from it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

/* The kernel's key permission bits (include/linux/key.h; linux/keyctl.h has none). */
#define KEY_USR_SEARCH 0x00080000u
#define KEY_OTH_SEARCH 0x00000008u

/*
 * In init, as the command's ids, so that the keyring is theirs (and charged to their quota), and
 * before any hook or the command runs; or in a process joining the sandbox (T_JOIN), as its ids.
 * Joining by name takes a keyring of that name the sandbox's user namespace already has, if it may
 * search it (init made it so); else the kernel makes a new one.
 */
void join_session_keyring(void)
{
    if (!plan.session_keyring)
        return;
    long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, plan.session_keyring, 0, 0, 0);
    if (id < 0 && errno == ENOSYS) {
        /*
         * runc's choice: only a seccomp profile around us (LXC's says ENOSYS) gives this, and a
         * profile that wanted to fool us could as well say success. Any other refusal fails.
         */
        logd("keyctl is not available (ENOSYS): the sandbox keeps the caller's session keyring");
        return;
    }
    if (id < 0)
        fail(S_KEYRING, errno, "join a new session keyring %s", plan.session_keyring);
    if (plan.join.pid) { /* init's keyring, which only its owner may change */
        logd("Joined session keyring %s (%ld)", plan.session_keyring, id);
        return;
    }
    /*
     * Searchable, so that a process joining the sandbox later (OCI exec) can join it by name: as
     * runc makes it, by "other" ids within a user namespace of the sandbox's own (the kernel looks
     * names up in the caller's user namespace, where only the sandbox's ids are), else by the
     * owner's ("user"). And by the owner's in both: runc leaves them out with a user namespace, so
     * that an exec as the owner, its root, gets a new keyring of the same name instead.
     */
    char desc[2048];
    long n = syscall(SYS_keyctl, KEYCTL_DESCRIBE, id, desc, sizeof desc, 0);
    if (n < 0)
        fail(S_KEYRING, errno, "describe the session keyring %s", plan.session_keyring);
    if ((size_t)n > sizeof desc)
        fail(S_KEYRING, ENAMETOOLONG, "describe the session keyring %s", plan.session_keyring);
    /* type;uid;gid;perm;description, perm in hex */
    const char *field = desc;
    for (int i = 0; i < 3 && field; i++)
        field = strchr(field, ';') ? strchr(field, ';') + 1 : NULL;
    char *end = NULL;
    unsigned long perm = field ? strtoul(field, &end, 16) : 0;
    if (!field || end == field || *end != ';')
        fail(S_KEYRING, EINVAL, "read the permissions of the session keyring %s", plan.session_keyring);
    perm |= KEY_USR_SEARCH | ((plan.clone_flags & CLONE_NEWUSER) ? KEY_OTH_SEARCH : 0);
    if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm, 0, 0) < 0)
        fail(S_KEYRING, errno, "make the session keyring %s searchable", plan.session_keyring);
    logd("Joined session keyring %s (%ld)", plan.session_keyring, id);
}
