/*
 * Namespaces and mounts: the id maps, the idmap user namespace for idmapped binds, the work done
 * with the caller's host credentials before cloning (prepare_in_parent), and the new root that
 * init builds from the plan's mount ops and pivots into (enter_root).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

/* ---- namespaces and mounts ---------------------------------------------- */

static void write_proc(pid_t pid, const char *file, const char *data)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        fail(S_ID_MAP, errno, "open %s", path);
    ssize_t n = write(fd, data, strlen(data));
    if (n != (ssize_t)strlen(data))
        fail(S_ID_MAP, n < 0 ? errno : EIO, "write '%s' to %s", data, path);
    close(fd);
}

void write_id_maps(pid_t pid, const char *uid_map, const char *gid_map, int allow_setgroups)
{
    write_proc(pid, "uid_map", uid_map);
    if (!allow_setgroups)
        write_proc(pid, "setgroups", "deny");
    write_proc(pid, "gid_map", gid_map);
}

pid_t clone_raw(unsigned long flags)
{
    return (pid_t)syscall(SYS_clone, flags | SIGCHLD, NULL, NULL, NULL, 0);
}

/* A user namespace whose maps (the plan's idmap uid map, this gid map) say how an idmapped mount shows host ids inside. */
static int make_idmap_userns(const char *gid_map)
{
    int sync[2];
    if (pipe2(sync, O_CLOEXEC) < 0)
        fail(S_IDMAP, errno, "pipe");
    pid_t pid = clone_raw(CLONE_NEWUSER);
    if (pid < 0)
        fail(S_IDMAP, errno, "clone a user namespace for idmapped binds");
    if (pid == 0) {
        char c;
        close(sync[1]);
        while (read(sync[0], &c, 1) < 0 && errno == EINTR)
            ;
        _exit(0);
    }
    close(sync[0]);
    write_id_maps(pid, plan.idmap_uid_map, gid_map, 0);
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(S_IDMAP, errno, "open %s", path);
    close(sync[1]);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
    return fd;
}

/* A host path's tree, opened without following a link (see open_without_links); -1 with errno on failure. */
static int clone_tree(const char *src)
{
    int path = open_without_links(src, O_PATH, 0);
    if (path < 0)
        return -1;
    int tree = open_tree(path, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
    int saved = errno;
    close(path);
    errno = saved;
    return tree;
}

static int new_fs_with_options(const char *spec, uint64_t attrs, const char *what);

/* The propagation T_PROPAGATION gives the mount at dst ("/": the root file system), 0 for none (private). */
static uint32_t propagation_of(const char *dst)
{
    for (size_t i = 0; i < plan.n_propagation; i++)
        if (strcmp(plan.propagation[i].target, dst) == 0)
            return plan.propagation[i].flags;
    return 0;
}

/*
 * What a clone of a bind's source (or the root file system's) is made as it is attached: a slave
 * of its source where the plan wants one linked to it, so that host mounts below the source come in
 * and nothing the sandbox mounts there goes out. A shared one too, made shared later (set_propagation)
 * with a peer group of its own: as a peer of the host's source, what the sandbox mounted below it
 * (its plan's mounts, a createContainer hook's) reached the host and stayed there after the sandbox
 * had gone, since a mount namespace's end unmounts nothing in its peers (found by a security review).
 */
static uint64_t clone_propagation(const char *dst)
{
    uint32_t p = propagation_of(dst);
    return p == MS_SLAVE || p == MS_SHARED ? MS_SLAVE : MS_PRIVATE;
}

/* Whether a clone of dst must be made before the sandbox's mounts are made private (see enter_root). */
static int linked_to_source(const char *dst)
{
    uint32_t p = propagation_of(dst);
    return p == MS_SLAVE || p == MS_SHARED;
}
static uint64_t mount_attrs(uint32_t flags);

/*
 * Said by mount_attrs when the plan names an atime mode: MOUNT_ATTR_RELATIME is 0, so only this bit
 * tells mount_setattr to replace the source's mode (attr_clr MOUNT_ATTR__ATIME) with relatime.
 */
#define ATTR_ATIME_GIVEN (1ULL << 62)

static void set_attr(int fd, uint64_t set, uint64_t propagation, int userns, const char *step, const char *what)
{
    struct mount_attr attr = {.attr_set = set & ~ATTR_ATIME_GIVEN, .propagation = propagation};
    if (set & ATTR_ATIME_GIVEN)
        attr.attr_clr = MOUNT_ATTR__ATIME;
    if (userns >= 0)
        attr.userns_fd = (uint64_t)userns;
    if (mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
        if (errno == EPERM && (set & (ATTR_ATIME_GIVEN | MOUNT_ATTR_NODIRATIME)))
            fail(step, errno, "%s: its access time options differ from those of the mount it binds, which the "
                 "kernel locks for a user namespace that did not make that mount (ask for the source's, or none)",
                 what);
        fail(step, errno, "%s", what);
    }
}

static int new_fs(const char *type, const struct mount_op *m, uint64_t attrs, const char *what);
static int create_mount(int fs, const char *type, uint64_t attrs, const char *what);
static int mount_created(int fs, const char *type, uint64_t attrs, const char *what);
static int set_fs_options(int fs, char *options, char *bad, size_t bad_size);

/* The sandbox's host ids: what the idmap maps the caller's ids to ("CALLER HOST 1"). */
static void sandbox_host_ids(unsigned *uid, unsigned *gid)
{
    if (sscanf(plan.idmap_uid_map, "%*u %u", uid) != 1 || sscanf(plan.idmap_gid_map, "%*u %u", gid) != 1)
        fail(S_PLAN, EINVAL, "idmap maps '%s' and '%s'", plan.idmap_uid_map, plan.idmap_gid_map);
}

/*
 * A ROOT_HOST_OVERLAY layer: the directory src alone, idmapped. Not what is mounted below it: an
 * engine's layer directory may hold the mount point of its own overlay (merged, beside an upper
 * directory), and the kernel cannot idmap an overlayfs mount. overlayfs does not look into the
 * mounts below its layers either.
 */
static int idmapped_directory(const char *src, int userns, const char *what)
{
    int path = open_without_links(src, O_PATH | O_DIRECTORY, 0);
    if (path < 0)
        fail(S_ROOTFS, errno, "%s %s", what, src);
    int tree = open_tree(path, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
    if (tree < 0)
        fail(S_ROOTFS, errno, "%s %s", what, src);
    close(path);
    set_attr(tree, MOUNT_ATTR_IDMAP, 0, userns, S_IDMAP, src);
    return tree;
}

/*
 * A ROOT_HOST_OVERLAY's upper directory and its work directory below the same parent, opened in
 * one idmapped clone of that parent (returned; see make_overlay): overlayfs wants both on one mount.
 */
static int host_overlay_upper(int userns, int *upper, int *work)
{
    const char *name = strrchr(plan.root_path, '/');
    size_t n = name ? (size_t)(name - plan.root_path) : 0;
    if (n == 0 || strncmp(plan.host_overlay_work, plan.root_path, n) != 0 || plan.host_overlay_work[n] != '/')
        fail(S_PLAN, EINVAL, "the overlay's work directory %s is not below the directory of its upper one %s",
             plan.host_overlay_work, plan.root_path);
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%.*s", (int)n, plan.root_path);
    int base = idmapped_directory(parent, userns, "the directory of the overlay's upper layer");
    *upper = open_beneath(base, name + 1, O_PATH | O_DIRECTORY);
    if (*upper < 0)
        fail(S_ROOTFS, errno, "the overlay's upper directory %s", plan.root_path);
    *work = open_beneath(base, plan.host_overlay_work + n + 1, O_PATH | O_DIRECTORY);
    if (*work < 0)
        fail(S_ROOTFS, errno, "the overlay's work directory %s", plan.host_overlay_work);
    return base;
}

/*
 * Creates the configured overlay fs with the sandbox's host ids as the file system ids that
 * overlayfs keeps as its mounter's, for its work in the upper layer: through the idmapped upper
 * they are stored as the caller's, while host root's own have no mapping there (overlayfs then
 * mounts read-only, EOVERFLOW). setfsuid takes the file capabilities out of the effective set,
 * which overlayfs keeps too; they are raised again for the create and the ids restored after it.
 */
static void create_as_sandbox(int fs)
{
    unsigned uid, gid;
    sandbox_host_ids(&uid, &gid);
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct caps[2], raised[2];
    if (syscall(SYS_capget, &header, caps) < 0)
        fail(S_ROOTFS, errno, "capget");
    unsigned fsgid = (unsigned)setfsgid(gid), fsuid = (unsigned)setfsuid(uid);
    if ((unsigned)setfsuid(-1) != uid || (unsigned)setfsgid(-1) != gid)
        fail(S_ROOTFS, EPERM, "take the sandbox's host ids %u:%u to create the overlay", uid, gid);
    memcpy(raised, caps, sizeof raised);
    raised[0].effective = raised[0].permitted;
    raised[1].effective = raised[1].permitted;
    if (syscall(SYS_capset, &header, raised) < 0)
        fail(S_ROOTFS, errno, "capset to create the overlay");
    int r = fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int saved = errno;
    setfsuid(fsuid);
    setfsgid(fsgid);
    if ((unsigned)setfsuid(-1) != fsuid || (unsigned)setfsgid(-1) != fsgid)
        fail(S_ROOTFS, EPERM, "restore the helper's file system ids %u:%u", fsuid, fsgid);
    if (syscall(SYS_capset, &header, caps) < 0)
        fail(S_ROOTFS, errno, "restore the helper's capabilities");
    if (r < 0)
        fail(S_ROOTFS, saved, "create the overlay root");
}

/*
 * The overlay root (ROOT_OVERLAY, ROOT_HOST_OVERLAY) as a detached mount: the plan's layers,
 * top-most first, under an upper layer. ROOT_OVERLAY's: the directory upper of the root path (work
 * beside it), which outlives the sandbox, or else a tmpfs of its own (T_OVERLAY_SIZE bytes at most),
 * which nobody else can reach and which goes with the mount. ROOT_HOST_OVERLAY's: the root path, if
 * any, with T_HOST_OVERLAY's work directory and options.
 * userns >= 0 (the helper, as host root): each layer is an idmapped bind, and ROOT_OVERLAY's upper
 * directory, whose owner the overlay's root shows, belongs to the sandbox's host ids as the layers
 * appear to (the JVM chowned a root path's); else (init, in the sandbox's user namespace) the layers
 * and the root path are used as they are, the caller's own.
 */
static int make_overlay(int userns)
{
    /*
     * Every layer's descriptor stays open until the overlay is made: closing the last one of a
     * detached mount dissolves it, and overlayfs clones its layers' mounts only then.
     */
    static int layers[MAX_LAYERS];
    int host = plan.root_kind == ROOT_HOST_OVERLAY;
    int fs = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fs < 0)
        fail(S_ROOTFS, errno, "fsopen overlay");
    if (host) {
        char options[1024], bad[160];
        if (snprintf(options, sizeof options, "%s", plan.host_overlay_options) >= (int)sizeof options)
            fail(S_PLAN, E2BIG, "overlay options %s", plan.host_overlay_options);
        if (set_fs_options(fs, options, bad, sizeof bad) < 0)
            fail(S_ROOTFS, errno, "overlay option %s", bad);
    } else if (fsconfig(fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0) {
        /* Whiteouts and opaque directories are user.overlay.* xattrs, which a rootless store can hold. */
        fail(S_ROOTFS, errno, "overlay option userxattr");
    }
    for (size_t i = 0; i < plan.n_layers; i++) {
        if (host)
            layers[i] = idmapped_directory(plan.layers[i], userns, "layer");
        else
            layers[i] = userns >= 0 ? clone_tree(plan.layers[i])
                                    : open_without_links(plan.layers[i], O_PATH | O_DIRECTORY, 0);
        if (layers[i] < 0)
            fail(S_ROOTFS, errno, "layer %s", plan.layers[i]);
        if (userns >= 0 && !host)
            set_attr(layers[i], MOUNT_ATTR_IDMAP, 0, userns, S_IDMAP, plan.layers[i]);
        if (fsconfig(fs, FSCONFIG_SET_FD, "lowerdir+", NULL, layers[i]) < 0)
            fail(S_ROOTFS, errno, "overlay layer %s%s", plan.layers[i],
                 errno == EINVAL ? " (overlayfs takes a layer by its descriptor, lowerdir+, from Linux 6.8 on)" : "");
    }
    int base = -1, upper = -1, work = -1;
    if (host) {
        if (plan.root_path[0])
            base = host_overlay_upper(userns, &upper, &work);
    } else if (plan.root_path[0]) {
        /*
         * Not idmapped: overlayfs makes its work files with the mounter's ids, which an idmapped
         * mount could not store. The JVM gave a host root caller's directory to the sandbox's host ids.
         */
        base = open_without_links(plan.root_path, O_PATH | O_DIRECTORY, 0);
        if (base < 0)
            fail(S_ROOTFS, errno, "the overlay's writable layer %s", plan.root_path);
    } else {
        struct mount_op upper_mode = {.mode = 0755, .size = plan.overlay_size};
        base = new_fs(S_TMPFS, &upper_mode, 0, "the overlay's upper layer");
        if (mkdirat(base, "upper", 0755) < 0 || mkdirat(base, "work", 0700) < 0)
            fail(S_ROOTFS, errno, "the overlay's upper and work directories");
        if (userns >= 0) {
            unsigned uid, gid;
            sandbox_host_ids(&uid, &gid);
            if (fchownat(base, "upper", uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
                fail(S_ROOTFS, errno, "chown the overlay's upper directory");
        }
    }
    if (base >= 0 && !host) {
        upper = openat(base, "upper", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        work = openat(base, "work", O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (upper < 0 || work < 0)
            fail(S_ROOTFS, errno, "open the overlay's upper and work directories");
    }
    if (upper >= 0 && (fsconfig(fs, FSCONFIG_SET_FD, "upperdir", NULL, upper) < 0 ||
                       fsconfig(fs, FSCONFIG_SET_FD, "workdir", NULL, work) < 0))
        fail(S_ROOTFS, errno, "overlay upper and work directories");
    uint64_t attrs = mount_attrs(plan.root_flags & ~MF_RDONLY);
    int root;
    if (host && upper >= 0) {
        create_as_sandbox(fs);
        root = mount_created(fs, S_ROOTFS, attrs, "the overlay root");
    } else {
        root = create_mount(fs, S_ROOTFS, attrs, "the overlay root");
    }
    if (upper >= 0) {
        close(upper);
        close(work);
    }
    if (base >= 0)
        close(base);
    for (size_t i = 0; i < plan.n_layers; i++)
        close(layers[i]);
    return root;
}

/* Work that needs the caller's host credentials, done before any namespace exists. */
void prepare_in_parent(void)
{
    int userns = -1;
    for (size_t i = 0; i < plan.n_mounts; i++)
        if (plan.mounts[i].flags & MF_IDMAP)
            userns = userns >= 0 ? userns : make_idmap_userns(plan.idmap_gid_map);
    /* The root file system's own namespace where its files' groups are the sandbox's too (T_IDMAP_ROOT_GID_MAP). */
    int root_userns = -1;
    if (plan.root_flags & MF_IDMAP) {
        if (plan.idmap_root_gid_map)
            root_userns = make_idmap_userns(plan.idmap_root_gid_map);
        else
            root_userns = userns = userns >= 0 ? userns : make_idmap_userns(plan.idmap_gid_map);
    }

    if (plan.root_kind == ROOT_BIND) {
        /* One descriptor for the mount points and the clone: both are made in the directory checked. */
        int rootfd = open_without_links(plan.root_path, O_PATH | O_DIRECTORY, 0);
        if (rootfd < 0)
            fail(S_ROOTFS, errno, "%s", plan.root_path);
        for (size_t i = 0; i < plan.n_mounts; i++) {
            struct mount_op *m = &plan.mounts[i];
            if (!(m->flags & MF_PRECREATE))
                continue;
            int fd = make_mount_point(rootfd, m->dst, (m->flags & MF_FILE) != 0);
            if (fd < 0)
                fail(S_MOUNT_POINT, errno, "create %s in the root filesystem %s", m->dst, plan.root_path);
            close(fd);
        }
        if (plan.root_flags & MF_OPEN_IN_PARENT) {
            plan.root_fd = open_tree(rootfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
            if (plan.root_fd < 0)
                fail(S_ROOTFS, errno, "%s", plan.root_path);
            if (plan.root_flags & MF_IDMAP)
                set_attr(plan.root_fd, MOUNT_ATTR_IDMAP, 0, root_userns, S_IDMAP, plan.root_path);
        }
        close(rootfd);
    }
    if ((plan.root_kind == ROOT_OVERLAY || plan.root_kind == ROOT_HOST_OVERLAY) && (plan.root_flags & MF_OPEN_IN_PARENT)) {
        logd("Mounting an overlay of %zu layers before the namespaces exist", plan.n_layers);
        plan.root_fd = make_overlay(root_userns);
    }
    for (size_t i = 0; i < plan.n_mounts; i++) {
        struct mount_op *m = &plan.mounts[i];
        /* A kernel file system that only the host's root may mount, e.g. sysfs of a joined network namespace. */
        if (m->kind == M_FS && (m->flags & MF_OPEN_IN_PARENT)) {
            logd("Mounting %s for %s before the namespaces exist", m->src, m->dst);
            m->fd = new_fs_with_options(m->src, mount_attrs(m->flags), m->dst);
            continue;
        }
        if (m->kind != M_BIND || !(m->flags & MF_OPEN_IN_PARENT))
            continue;
        m->fd = clone_tree(m->src);
        if (m->fd < 0)
            fail(S_BIND, errno, "%s -> %s", m->src, m->dst);
        if (m->flags & MF_IDMAP)
            set_attr(m->fd, MOUNT_ATTR_IDMAP, 0, userns, S_IDMAP, m->src);
    }
    if (root_userns >= 0 && root_userns != userns)
        close(root_userns);
    if (userns >= 0)
        close(userns);
}

/* The configured file system context fs as a detached mount with attrs. */
static int create_mount(int fs, const char *type, uint64_t attrs, const char *what)
{
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        fail(type, errno, "create %s", what);
    return mount_created(fs, type, attrs, what);
}

/* The created file system context fs as a detached mount with attrs. */
static int mount_created(int fs, const char *type, uint64_t attrs, const char *what)
{
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned int)(attrs & ~ATTR_ATIME_GIVEN));
    if (mnt < 0)
        fail(type, errno, "mount %s", what);
    close(fs);
    return mnt;
}

static int new_fs(const char *type, const struct mount_op *m, uint64_t attrs, const char *what)
{
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0)
        fail(type, errno, "fsopen for %s", what);
    if (m && m->mode) {
        char mode[16];
        snprintf(mode, sizeof mode, "%o", m->mode);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0)
            fail(type, errno, "mode %s for %s", mode, what);
    }
    if (m && m->size) {
        char size[32];
        snprintf(size, sizeof size, "%llu", (unsigned long long)m->size);
        if (fsconfig(fs, FSCONFIG_SET_STRING, "size", size, 0) < 0)
            fail(type, errno, "size %s for %s", size, what);
    }
    return create_mount(fs, type, attrs, what);
}

/* Sets each of "flag,key=value,..." (changed in place) on fs; -1 with errno and the refused one in bad. */
static int set_fs_options(int fs, char *options, char *bad, size_t bad_size)
{
    for (char *save = NULL, *opt = strtok_r(options, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(opt, '=');
        if (eq)
            *eq = '\0';
        int r = eq ? fsconfig(fs, FSCONFIG_SET_STRING, opt, eq + 1, 0) : fsconfig(fs, FSCONFIG_SET_FLAG, opt, NULL, 0);
        if (r < 0) {
            snprintf(bad, bad_size, "%s%s%s", opt, eq ? "=" : "", eq ? eq + 1 : "");
            return -1;
        }
    }
    return 0;
}

/*
 * A kernel file system from "type[:flag,key=value,...]" (each option one fsconfig call) as a detached
 * mount with attrs; -1 with errno when the kernel refuses it, and what it refused in why.
 */
static int try_fs(const char *spec, uint64_t attrs, char *why, size_t why_size)
{
    char type[32], options[256];
    size_t tlen = strcspn(spec, ":");
    if (tlen >= sizeof type || strlen(spec) - tlen >= sizeof options) {
        snprintf(why, why_size, "file system %s", spec);
        errno = EINVAL;
        return -1;
    }
    memcpy(type, spec, tlen);
    type[tlen] = '\0';
    strcpy(options, spec[tlen] ? spec + tlen + 1 : "");
    int fs = fsopen(type, FSOPEN_CLOEXEC);
    if (fs < 0) {
        snprintf(why, why_size, "fsopen %s", type);
        return -1;
    }
    char bad[160];
    if (set_fs_options(fs, options, bad, sizeof bad) < 0) {
        snprintf(why, why_size, "%s option %s", type, bad);
        goto refused;
    }
    if (fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
        snprintf(why, why_size, "create %s", spec);
        goto refused;
    }
    int mnt = fsmount(fs, FSMOUNT_CLOEXEC, (unsigned int)(attrs & ~ATTR_ATIME_GIVEN));
    if (mnt < 0) {
        snprintf(why, why_size, "mount %s", spec);
        goto refused;
    }
    close(fs);
    return mnt;
refused:;
    int saved = errno;
    close(fs);
    errno = saved;
    return -1;
}

static int new_fs_with_options(const char *spec, uint64_t attrs, const char *what)
{
    char why[320];
    int mnt = try_fs(spec, attrs, why, sizeof why);
    if (mnt < 0) {
        char type[32];
        snprintf(type, sizeof type, "%.*s", (int)strcspn(spec, ":"), spec);
        fail(type, errno, "%s for %s", why, what);
    }
    return mnt;
}

/* Writes a value into a file of the new root, such as a sysctl of the sandbox's namespaces. */
static void write_in_root(int rootfd, const struct mount_op *m)
{
    logd("Writing '%s' to %s", m->src, m->dst);
    int fd = open_in_root(rootfd, m->dst, O_WRONLY);
    if (fd < 0)
        fail(S_WRITE, errno, "open %s", m->dst);
    ssize_t n = write(fd, m->src, strlen(m->src));
    if (n != (ssize_t)strlen(m->src))
        fail(S_WRITE, n < 0 ? errno : EIO, "write '%s' to %s", m->src, m->dst);
    close(fd);
}

/*
 * Moves the detached mount src to its mount point and closes both. target is an optional
 * mount's, looked up before the mount was made; any other mount point is made only here, once
 * the mount exists, so that a mount that fails leaves none behind.
 */
static void attach(int src, int target, int rootfd, const struct mount_op *m, const char *step)
{
    if (target < 0)
        target = make_mount_point(rootfd, m->dst, (m->flags & MF_FILE) != 0);
    if (target < 0)
        fail(step, errno, "mount point %s", m->dst);
    if (move_mount(src, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        fail(step, errno, "attach %s", m->dst);
    close(target);
    close(src);
}

/*
 * A file with the plan's text (src) at dst, such as a private network's resolv.conf. It is
 * written to the sandbox's own /dev tmpfs (always mounted before), bound from there and then
 * unlinked: the sandbox's mountinfo names that tmpfs, where a bind of a file the JVM wrote would
 * name its host path (the caller's cache directory, with the JVM's pid).
 */
static void mount_content(int rootfd, const struct mount_op *m, int target, uint64_t attrs)
{
    static const char name[] = ".crabcan-content";
    int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY);
    if (dev < 0)
        fail(S_CONTENT, errno, "/dev for %s", m->dst);
    int fd = openat(dev, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0444);
    if (fd < 0)
        fail(S_CONTENT, errno, "create /dev/%s for %s", name, m->dst);
    size_t len = strlen(m->src);
    ssize_t n = write(fd, m->src, len);
    if (n != (ssize_t)len)
        fail(S_CONTENT, n < 0 ? errno : EIO, "write %s", m->dst);
    close(fd);
    int src = open_tree(dev, name, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (src < 0)
        fail(S_CONTENT, errno, "bind /dev/%s for %s", name, m->dst);
    set_attr(src, attrs, MS_PRIVATE, -1, S_CONTENT, m->dst);
    attach(src, target, rootfd, m, S_CONTENT);
    /* Only once attached: a mount whose source is already unlinked cannot be attached. */
    if (unlinkat(dev, name, 0) < 0)
        fail(S_CONTENT, errno, "unlink /dev/%s", name);
    close(dev);
}

static uint64_t mount_attrs(uint32_t flags)
{
    return ((flags & MF_RDONLY) ? MOUNT_ATTR_RDONLY : 0) | ((flags & MF_NOSUID) ? MOUNT_ATTR_NOSUID : 0) |
           ((flags & MF_NODEV) ? MOUNT_ATTR_NODEV : 0) | ((flags & MF_NOEXEC) ? MOUNT_ATTR_NOEXEC : 0) |
           ((flags & MF_NOATIME) ? MOUNT_ATTR_NOATIME : 0) | ((flags & MF_STRICTATIME) ? MOUNT_ATTR_STRICTATIME : 0) |
           ((flags & (MF_RELATIME | MF_NOATIME | MF_STRICTATIME)) ? ATTR_ATIME_GIVEN : 0) |
           ((flags & MF_NODIRATIME) ? MOUNT_ATTR_NODIRATIME : 0);
}

static void do_mount(int rootfd, struct mount_op *m)
{
    uint64_t attrs = mount_attrs(m->flags);
    /*
     * An optional mount whose target is missing is skipped before it is made: closing a detached
     * mount unused costs an expedited RCU grace period (0.1 to 0.5 ms here), and the default
     * /proc masks name several files that kernels often lack.
     */
    int target = -1;
    if ((m->flags & MF_OPTIONAL) && m->kind != M_WRITE && m->kind != M_SYMLINK) {
        target = open_in_root(rootfd, m->dst, O_PATH);
        if (target < 0 && errno == ENOENT) {
            if (m->fd >= 0)
                close(m->fd);
            return;
        }
        if (target < 0)
            fail(S_MOUNT_POINT, errno, "%s", m->dst);
    }
    switch (m->kind) {
    case M_BIND: {
        logd("Binding %s at %s (%s)", m->src, m->dst, (m->flags & MF_RDONLY) ? "read-only" : "read-write");
        int src = m->fd >= 0 ? m->fd : clone_tree(m->src);
        if (src < 0)
            fail(S_BIND, errno, "%s -> %s", m->src, m->dst);
        set_attr(src, attrs, clone_propagation(m->dst), -1, S_BIND, m->dst);
        attach(src, target, rootfd, m, S_BIND);
        return;
    }
    case M_INNER_BIND: {
        logd("Binding %s at %s inside the new root (%s)", m->src, m->dst,
             (m->flags & MF_RDONLY) ? "read-only" : "read-write");
        int path = open_in_root(rootfd, m->src, O_PATH);
        if (path < 0 && errno == ENOENT && (m->flags & MF_OPTIONAL)) {
            close(target);
            return;
        }
        if (path < 0)
            fail(S_BIND, errno, "%s -> %s inside the new root", m->src, m->dst);
        int src = open_tree(path, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH | AT_RECURSIVE);
        if (src < 0)
            fail(S_BIND, errno, "%s -> %s inside the new root", m->src, m->dst);
        close(path);
        set_attr(src, attrs, MS_PRIVATE, -1, S_BIND, m->dst);
        attach(src, target, rootfd, m, S_BIND);
        return;
    }
    case M_CONTENT:
        logd("Writing %s", m->dst);
        mount_content(rootfd, m, target, attrs);
        return;
    case M_TMPFS:
        logd("Mounting tmpfs at %s", m->dst);
        attach(new_fs(S_TMPFS, m, attrs, m->dst), target, rootfd, m, S_TMPFS);
        return;
    case M_PROC:
        logd("Mounting proc at %s", m->dst);
        attach(new_fs(S_PROC, NULL, attrs, m->dst), target, rootfd, m, S_PROC);
        return;
    case M_FS:
        logd("Mounting %s at %s", m->src, m->dst);
        attach(m->fd >= 0 ? m->fd : new_fs_with_options(m->src, attrs, m->dst), target, rootfd, m, S_MOUNT);
        return;
    case M_WRITE:
        write_in_root(rootfd, m);
        return;
    case M_SYMLINK: {
        char parent[PATH_MAX];
        const char *slash = strrchr(m->dst, '/');
        size_t plen = slash ? (size_t)(slash - m->dst) : 0;
        if (!slash || plen >= sizeof parent)
            fail(S_SYMLINK, EINVAL, "%s", m->dst);
        memcpy(parent, m->dst, plen);
        parent[plen] = '\0';
        logd("Linking %s -> %s", m->dst, m->src);
        int dir = make_mount_point(rootfd, plen ? parent : "/", 0);
        if (dir < 0 || symlinkat(m->src, dir, slash + 1) < 0)
            fail(S_SYMLINK, errno, "%s -> %s", m->dst, m->src);
        close(dir);
        return;
    }
    default:
        fail(S_PLAN, EINVAL, "unknown mount kind %u", m->kind);
    }
}

/*
 * The sandbox's cgroups (T_CGROUPFS), once the plan's mounts are made: in the cgroup namespace init
 * made in its cgroup, each file system shows that cgroup as its root and nothing above or beside it.
 * All or none: the file systems are made before anything is attached, and where the kernel refuses
 * one (v1 hierarchies in a user namespace, a security module) or the view's mount point cannot be
 * made (a read-only root file system without it), the sandbox goes without them.
 */
static void mount_cgroups(int rootfd)
{
    if (plan.n_cgroupfs == 0)
        return;
    const struct mount_op *top = &plan.cgroupfs[0];
    int point = make_mount_point(rootfd, top->dst, 0);
    if (point < 0) {
        logd("No cgroups at %s: cannot make the mount point (%s)", top->dst, strerror(errno));
        return;
    }
    close(point);
    for (size_t i = 0; i < plan.n_cgroupfs; i++) {
        struct mount_op *m = &plan.cgroupfs[i];
        if (m->kind != M_FS)
            continue;
        char why[320];
        m->fd = try_fs(m->src, mount_attrs(m->flags), why, sizeof why);
        if (m->fd < 0) {
            logd("No cgroups at %s: %s for %s refused (%s)", top->dst, why, m->dst, strerror(errno));
            for (size_t j = 0; j < i; j++)
                if (plan.cgroupfs[j].fd >= 0)
                    close(plan.cgroupfs[j].fd);
            return;
        }
    }
    /* A tmpfs holds the hierarchies' mount points and links: read-only only once they are made. */
    for (size_t i = 0; i < plan.n_cgroupfs; i++) {
        struct mount_op m = plan.cgroupfs[i];
        if (m.kind == M_TMPFS)
            m.flags &= ~MF_RDONLY;
        do_mount(rootfd, &m);
    }
    for (size_t i = 0; i < plan.n_cgroupfs; i++) {
        const struct mount_op *m = &plan.cgroupfs[i];
        if (m->kind != M_TMPFS || !(m->flags & MF_RDONLY))
            continue;
        int fd = open_in_root(rootfd, m->dst, O_PATH | O_DIRECTORY);
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (fd < 0 || mount_setattr(fd, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            fail(S_TMPFS, errno, "make %s read-only", m->dst);
        close(fd);
    }
}

/*
 * T_PROPAGATION, once the mounts are made: each mount and everything below it, the root file system
 * alone (what lies below it is the sandbox's own mounts, each private unless the plan names it).
 * A shared root only after pivot_root (after_pivot), which refuses a shared new root (EINVAL).
 */
static void set_propagation(int root, int after_pivot)
{
    for (size_t i = 0; i < plan.n_propagation; i++) {
        const char *dst = plan.propagation[i].target;
        int is_root = strcmp(dst, "/") == 0;
        if ((is_root && (plan.propagation[i].flags & MS_SHARED)) != after_pivot)
            continue;
        int fd = is_root ? root : open_in_root(root, dst, O_PATH);
        if (fd < 0)
            fail(S_MOUNT, errno, "open %s to set its propagation", dst);
        logd("Setting the propagation of %s to %#x", dst, plan.propagation[i].flags);
        struct mount_attr attr = {.propagation = plan.propagation[i].flags};
        if (mount_setattr(fd, "", AT_EMPTY_PATH | (is_root ? 0 : AT_RECURSIVE), &attr, sizeof attr) < 0)
            fail(S_MOUNT, errno, "set the propagation of %s", dst);
        if (!is_root)
            close(fd);
    }
}

/*
 * Where the new root is attached before pivot_root: the staging directory; with the runtime's
 * hooks, a ROOT_BIND root's own path, as runc binds the rootfs onto itself, and a ROOT_HOST_OVERLAY
 * root's over the engine's mount it remakes: a hook that mounts below the bundle's root.path in the
 * sandbox's mount namespace (the NVIDIA container toolkit's does) then mounts into the sandbox's root.
 */
const char *root_attach_point(void)
{
    if (!(plan.options & OPT_RUNTIME_HOOKS))
        return plan.staging;
    return plan.root_kind == ROOT_BIND ? plan.root_path
           : plan.root_kind == ROOT_HOST_OVERLAY ? plan.host_overlay_point : plan.staging;
}

/*
 * A root attached over its own path: the directory init opened there must be the one the root
 * was cloned from, or a rename between the two lookups would put the root over another directory.
 */
static void check_attach_point(int root)
{
    struct stat a, b;
    if (fstat(root, &a) < 0 || fstat(plan.staging_fd, &b) < 0)
        fail(S_ROOTFS, errno, "stat the root filesystem %s", plan.root_path);
    if (a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        fail(S_ROOTFS, EXDEV, "%s changed while the sandbox was made (it is not the directory its root was cloned "
             "from): was it renamed or mounted over? make the container again", plan.root_path);
}

/* OPT_RUNTIME_HOOKS: reports that the mounts are made, then waits until the helper lets init go on. */
static void await_runtime_hooks(void)
{
    char c = 0;
    ssize_t n;
    emit(R_PAUSED);
    while ((n = read(plan.resume_fd, &c, 1)) < 0 && errno == EINTR)
        ;
    if (n != 1 || c != 'G')
        _exit(1); /* the helper is gone, and the sandbox with it */
    close(plan.resume_fd);
    plan.resume_fd = -1;
}

/* Builds the new root at its attach point, mounts everything, pivots into it. */
void enter_root(void)
{
    /*
     * Binds to stay linked to their sources are cloned while this namespace's copies of the host's
     * mounts still are (host root's were cloned on the host, in prepare_in_parent): made private
     * below, they would give private clones.
     */
    if (plan.root_kind == ROOT_BIND && plan.root_fd < 0 && linked_to_source("/")) {
        plan.root_fd = clone_tree(plan.root_path);
        if (plan.root_fd < 0)
            fail(S_ROOTFS, errno, "%s", plan.root_path);
    }
    for (size_t i = 0; i < plan.n_mounts; i++) {
        struct mount_op *m = &plan.mounts[i];
        if (m->kind == M_BIND && m->fd < 0 && linked_to_source(m->dst)) {
            m->fd = clone_tree(m->src);
            if (m->fd < 0)
                fail(S_BIND, errno, "%s -> %s", m->src, m->dst);
        }
    }
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        fail(S_MOUNT, errno, "make / private");
    int root;
    if (plan.root_kind == ROOT_BIND) {
        logd("Mounting root filesystem %s", plan.root_path);
        root = plan.root_fd >= 0 ? plan.root_fd : clone_tree(plan.root_path);
        if (root < 0)
            fail(S_ROOTFS, errno, "%s", plan.root_path);
        /* Read-only down to whatever is mounted below it; the plan's mount points already exist. */
        set_attr(root, mount_attrs(plan.root_flags), clone_propagation("/"), -1, S_ROOTFS, plan.root_path);
        if (plan.options & OPT_RUNTIME_HOOKS)
            check_attach_point(root);
    } else if (plan.root_kind == ROOT_OVERLAY || plan.root_kind == ROOT_HOST_OVERLAY) {
        logd("Mounting an overlay of %zu layers as the root filesystem", plan.n_layers);
        root = plan.root_fd >= 0 ? plan.root_fd : make_overlay(-1);
    } else {
        logd("Mounting an empty tmpfs as the root filesystem");
        struct mount_op root_mode = {.mode = 0755};
        root = new_fs(S_TMPFS, &root_mode, mount_attrs(plan.root_flags & ~MF_RDONLY), "/");
    }
    if (move_mount(root, "", plan.staging_fd, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        fail(S_ROOTFS, errno, "attach the root filesystem at %s", root_attach_point());
    close(plan.staging_fd);

    for (size_t i = 0; i < plan.n_mounts; i++)
        do_mount(root, &plan.mounts[i]);
    mount_cgroups(root);

    /* A tmpfs or overlay root becomes read-only only now, its mount points made (and not recursively). */
    if (plan.root_kind != ROOT_BIND && (plan.root_flags & MF_RDONLY)) {
        struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
        if (mount_setattr(root, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            fail(S_ROOTFS, errno, "make the root filesystem read-only");
    }

    set_propagation(root, 0);
    if (plan.options & OPT_RUNTIME_HOOKS)
        await_runtime_hooks();

    /*
     * runtime-spec: in the container's namespaces, its mounts made, before pivot_root. In the new
     * root, as runc does: a working directory in the host's files would outlive pivot_root.
     */
    if (plan.n_hooks) {
        char why[2048];
        if (fchdir(root) < 0)
            fail(S_HOOK, errno, "enter the new root for the createContainer hooks");
        if (run_hooks(HOOK_CREATE_CONTAINER, "creating", why, sizeof why) < 0)
            fail(S_HOOK, errno, "%s", why);
    }

    logd("Pivoting root");
    if (fchdir(root) < 0)
        fail(S_PIVOT_ROOT, errno, "enter the new root");
    if (syscall(SYS_pivot_root, ".", ".") < 0)
        fail(S_PIVOT_ROOT, errno, "pivot to the new root");
    logd("Unmounting old root");
    if (umount2(".", MNT_DETACH) < 0)
        fail(S_PIVOT_ROOT, errno, "detach the old root");
    if (chdir("/") < 0)
        fail(S_PIVOT_ROOT, errno, "chdir /");
    set_propagation(root, 1);
    close(root);
}
