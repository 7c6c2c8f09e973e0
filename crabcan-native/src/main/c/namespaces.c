/*
 * Namespaces a sandbox shares with others (T_JOIN_NS: OCI linux.namespaces with a path, as a pod's
 * containers share its network, IPC and UTS namespaces). The helper joins them with the caller's
 * credentials before it clones init, which then gets none of those types of its own. The sandbox's
 * user namespace does not own them, so neither init nor the sandbox's root may change them: the
 * helper also writes their sysctls (T_JOINED_SYSCTL) and a joined UTS namespace's hostname and
 * domain name. Runs before prepare_in_parent, whose sysfs and mqueue mounts show the joined ones.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helper.h"

static const char *kind(uint32_t type)
{
    return type == CLONE_NEWNET ? "network" : type == CLONE_NEWIPC ? "IPC" : "UTS";
}

/* Its name in /proc/PID/ns. */
static const char *ns_file(uint32_t type)
{
    return type == CLONE_NEWNET ? "net" : type == CLONE_NEWIPC ? "ipc" : "uts";
}

/*
 * The namespace to join, opened. One named by a process (pid and start time) is opened only while
 * that process holds its pid: once it has ended, another sandbox may take the pid, and its
 * namespaces, whose root it is, would be joined instead.
 */
static int open_namespace(uint32_t type, uint32_t pid, uint64_t start_time, const char *path)
{
    int process = -1;
    if (pid) {
        char expected[48];
        snprintf(expected, sizeof expected, "/proc/%u/ns/%s", pid, ns_file(type));
        if (strcmp(path, expected) != 0)
            fail(S_PLAN, EINVAL, "the %s namespace of pid %u at %s", kind(type), pid, path);
        process = open_process(pid, start_time);
        if (process < 0)
            fail(S_NAMESPACE, errno, "the sandbox whose %s namespace this one joins (pid %u) has ended", kind(type), pid);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(S_NAMESPACE, errno, "open %s namespace %s (%s)", kind(type), path, errno == ENOENT ? "it is gone"
             : "another process's namespaces take the right to trace it; joining one then takes CAP_SYS_ADMIN over it");
    if (process >= 0) {
        /* Still there, so the pid was not reused: fd is that process's namespace. */
        if (syscall(SYS_pidfd_send_signal, process, 0, NULL, 0) < 0)
            fail(S_NAMESPACE, errno, "the sandbox whose %s namespace this one joins (pid %u) has ended", kind(type), pid);
        close(process);
    }
    return fd;
}

static void join_one(uint32_t type, uint32_t pid, uint64_t start_time, const char *path)
{
    logd("Joining %s namespace %s", kind(type), path);
    int fd = open_namespace(type, pid, start_time, path);
    /*
     * The caller's own network is what a sandbox on the host's network gets anyway; its IPC objects
     * and hostname are never a sandbox's to share or change. Checked on the descriptor joined, so a
     * path that changes meaning (a /proc/PID whose pid was reused) cannot lead here unseen; that a
     * path, not a process, leads to the namespace the caller meant, and not to another sandbox's,
     * is the caller's to keep.
     */
    if (type != CLONE_NEWNET) {
        char own[32];
        struct stat joined, ours;
        snprintf(own, sizeof own, "/proc/self/ns/%s", ns_file(type));
        if (fstat(fd, &joined) < 0 || stat(own, &ours) < 0)
            fail(S_NAMESPACE, errno, "compare %s with %s", path, own);
        if (joined.st_dev == ours.st_dev && joined.st_ino == ours.st_ino)
            fail(S_NAMESPACE, EPERM, "%s is the caller's own %s namespace (the host's, as a rule), which a sandbox "
                 "never shares: name the namespace of a container or pod", path, kind(type));
    }
    if (setns(fd, (int)type) < 0)
        fail(S_NAMESPACE, errno, "join %s namespace %s (the path must name a namespace of that type, and joining "
             "takes CAP_SYS_ADMIN over it and in the caller's own user namespace: root, or root of a user namespace "
             "that owns it, as under rootless podman)", kind(type), path);
    close(fd);
}

static void write_sysctls(void)
{
    if (plan.n_joined_sysctls == 0)
        return;
    /* Opened after the joins: /proc/sys shows the namespaces of whoever looks a name up. */
    int dir = open("/proc/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        fail(S_WRITE, errno, "open /proc/sys");
    for (size_t i = 0; i < plan.n_joined_sysctls; i++) {
        const char *name = plan.joined_sysctls[i].name, *value = plan.joined_sysctls[i].value;
        if (name[0] == '/' || strstr(name, ".."))
            fail(S_PLAN, EINVAL, "sysctl path %s", name);
        logd("Writing '%s' to /proc/sys/%s of a joined namespace", value, name);
        int f = openat(dir, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (f < 0)
            fail(S_WRITE, errno, "open /proc/sys/%s", name);
        if (write(f, value, strlen(value)) != (ssize_t)strlen(value))
            fail(S_WRITE, errno, "write '%s' to /proc/sys/%s", value, name);
        close(f);
    }
    close(dir);
}

/*
 * The joined namespaces' file systems (sysfs, mqueue) are made by the helper, which takes
 * CAP_SYS_ADMIN over its mount namespace's owner. Root of a user namespace that is still in a
 * mount namespace of an outer one (unshare --user without --mount) lacks that: the helper then
 * takes a mount namespace of its own, a copy, which init's is copied from in turn.
 */
static void own_mount_namespace(void)
{
    int needed = 0;
    for (size_t i = 0; i < plan.n_mounts; i++)
        needed |= plan.mounts[i].kind == M_FS && (plan.mounts[i].flags & MF_OPEN_IN_PARENT);
    if (!needed)
        return;
    int mnt = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (mnt < 0)
        fail(S_NAMESPACE, errno, "open /proc/self/ns/mnt");
    int owner = ioctl(mnt, NS_GET_USERNS);
    int err = errno;
    close(mnt);
    if (owner >= 0) {
        struct stat theirs, ours;
        if (fstat(owner, &theirs) < 0 || stat("/proc/self/ns/user", &ours) < 0)
            fail(S_NAMESPACE, errno, "compare the mount namespace's owner with /proc/self/ns/user");
        close(owner);
        if (theirs.st_dev == ours.st_dev && theirs.st_ino == ours.st_ino)
            return;
    } else if (err != EPERM) { /* EPERM: the owner is an outer user namespace */
        fail(S_NAMESPACE, err, "the owner of the helper's mount namespace");
    }
    logd("Taking a mount namespace of our own for the joined namespaces' file systems");
    if (unshare(CLONE_NEWNS) < 0)
        fail(S_NAMESPACE, errno, "a mount namespace of the helper's own for the joined namespaces' file systems");
}

void join_namespaces(void)
{
    int uts = 0;
    for (size_t i = 0; i < plan.n_join_ns; i++) {
        join_one(plan.join_ns[i].type, plan.join_ns[i].pid, plan.join_ns[i].start_time, plan.join_ns[i].path);
        uts |= plan.join_ns[i].type == CLONE_NEWUTS;
    }
    own_mount_namespace();
    write_sysctls();
    if (!uts)
        return;
    if (plan.hostname && sethostname(plan.hostname, strlen(plan.hostname)) < 0)
        fail(S_HOSTNAME, errno, "%s in the joined UTS namespace", plan.hostname);
    if (plan.domainname && setdomainname(plan.domainname, strlen(plan.domainname)) < 0)
        fail(S_HOSTNAME, errno, "domain name %s in the joined UTS namespace", plan.domainname);
    /* Set here: init, which may not, leaves them alone. */
    plan.hostname = NULL;
    plan.domainname = NULL;
}
