/*
 * The sandbox's own session keyring (T_SESSION_KEYRING), as runc gives each container: keyrings
 * are not namespaced, so without one the command would hold the caller's session keyring and
 * could read, link or clear its keys (and those of every other container started from it).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/keyctl.h>
#include <sched.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

/* The kernel's key permission bits (include/linux/key.h; linux/keyctl.h has none). */
#define KEY_POS_ALL 0x3f000000u
#define KEY_USR_VIEW 0x00010000u
#define KEY_USR_SEARCH 0x00080000u
#define KEY_OTH_SEARCH 0x00000008u

/*
 * In init, as the command's ids, so that the keyring is theirs (and charged to their quota), and
 * before any hook or the command runs; or in a process joining the sandbox (T_JOIN), as its ids.
 * Joining by name takes a keyring of that name the sandbox's user namespace already has, if it may
 * search it (init made it so); else the kernel makes a new one. No name (an empty one): a new
 * anonymous keyring, for a sandbox whose filter may let it use keyctl.
 */
void join_session_keyring(void)
{
    if (!plan.session_keyring)
        return;
    const char *name = *plan.session_keyring ? plan.session_keyring : NULL;
    long id = syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name, 0, 0, 0);
    if (id < 0 && !name && (errno == EPERM || errno == EACCES || errno == ENOSYS)) {
        /* A filter around us denies keyctl, and the command inherits it: the keyring is out of its reach. */
        logd("keyctl is denied around the sandbox (%s): the caller's session keyring stays out of its reach",
             strerror(errno));
        return;
    }
    if (id < 0 && errno == ENOSYS) {
        /*
         * runc's choice: only a seccomp profile around us (LXC's says ENOSYS) gives this, and a
         * profile that wanted to fool us could as well say success. Any other refusal fails.
         */
        logd("keyctl is not available (ENOSYS): the sandbox keeps the caller's session keyring");
        return;
    }
    if (id < 0 && errno == EDQUOT)
        fail(S_KEYRING, errno, "join a new session keyring %s: the owner's quota of keys is full (raise the sysctl "
             "kernel.keys.maxkeys%s)", name ? name : "(anonymous)",
             name ? "" : ", or keep the default seccomp policy, which denies keyctl and needs no keyring");
    if (id < 0)
        fail(S_KEYRING, errno, "join a new session keyring %s", name ? name : "(anonymous)");
    if (plan.join.pid || !name) { /* init's keyring, which only its owner may change; or nobody's to join */
        logd("Joined session keyring %s (%ld)", name ? name : "(anonymous)", id);
        return;
    }
    /*
     * Searchable, so that a process joining the sandbox later (OCI exec) can join it by name: by
     * "other" ids within a user namespace of the sandbox's own (the kernel looks names up in the
     * caller's user namespace, where only the sandbox's ids are), and by the owner's ("user"), as an
     * exec as the owner, its root, joins it too. Nothing more for the owner's ids than seeing and
     * searching it: a rootless caller's containers all run as the caller's uid on the host, and the
     * default read and link bits let one container link another's keyring (or the caller's) by its
     * serial and read its keys (an attack review did). Its holders have it all as possessors.
     */
    unsigned long perm = KEY_POS_ALL | KEY_USR_VIEW | KEY_USR_SEARCH
                         | ((plan.clone_flags & CLONE_NEWUSER) ? KEY_OTH_SEARCH : 0);
    if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, perm, 0, 0) < 0)
        fail(S_KEYRING, errno, "make the session keyring %s searchable", name);
    logd("Joined session keyring %s (%ld)", name, id);
}
