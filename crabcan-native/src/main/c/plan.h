/*
 * The plan's wire format and struct plan, shared by every file of the helper. The Java side
 * (PlanWriter) writes the same numbers; PlanCompilerTest checks them against this file.
 */
#ifndef CRABCAN_PLAN_H
#define CRABCAN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#define PLAN_MAGIC 0x31425243u /* "CRB1" */
#define PLAN_MAX (8u << 20)
#define MAX_MOUNTS 256
#define MAX_ARGS 32768
#define MAX_ENV 8192
#define MAX_RLIMITS 16
#define MAX_CGROUPS 8
#define MAX_NET_HELPER_ARGS 64

enum tag {
    T_CONFIG = 1, T_UID_MAP, T_GID_MAP, T_IDMAP_UID_MAP, T_IDMAP_GID_MAP, T_HOSTNAME,
    T_STAGING, T_ROOT, T_MOUNT, T_CREDS, T_CAPS, T_SECCOMP, T_RLIMIT, T_ARG, T_ENV,
    T_CWD, T_SEARCH_PATH, T_CGROUP, T_STDIO,
    T_NET = 20, T_NET_HELPER,
    T_PIPE = 60,
};

/* M_INNER_BIND binds a path of the new root (not of the host) at dst, e.g. /dev/null over /proc/kcore. */
enum mount_kind { M_BIND = 1, M_TMPFS = 2, M_PROC = 3, M_SYMLINK = 4, M_INNER_BIND = 6, M_CONTENT = 7 };

/* Records and mount kinds for detached sandboxes and OCI configs. */
enum oci_tag { T_DETACH = 40, T_UMASK = 41 };
/* M_FS: a kernel file system, src "type[:flag,key=value...]"; M_WRITE: write src to the file dst inside. */
enum oci_mount_kind { M_FS = 40, M_WRITE = 41 };

#define MF_RDONLY 1u         /* read-only (recursively for binds) */
#define MF_FILE 2u           /* the mount point is a file, not a directory */
#define MF_IDMAP 4u          /* idmap the bind with the plan's idmap maps */
#define MF_PRECREATE 8u      /* create the mount point in the host rootfs before cloning */
#define MF_OPEN_IN_PARENT 16u /* open the bind source with the helper's host credentials */
#define MF_NOSUID 32u
#define MF_NODEV 64u
#define MF_NOEXEC 128u
#define MF_OPTIONAL 256u /* skip the mount when its target does not exist; never create it */

#define OPT_DEBUG 1u
#define OPT_NO_NEW_PRIVS 2u
#define OPT_SETSID 4u
#define OPT_LOOPBACK_UP 8u
#define OPT_UNSHARE_CGROUP 16u /* a cgroup namespace rooted at the sandbox's cgroup, once init is in it */
#define OPT_NET_WAIT 32u       /* report READY and wait for 'G' before releasing init */

#define ROOT_TMPFS 0u
#define ROOT_BIND 1u

struct mount_op {
    uint32_t kind, flags, mode;
    uint64_t size;
    const char *src, *dst;
    int fd; /* source opened by the parent, or -1 */
};

struct plan {
    uint32_t clone_flags, options;
    const char *uid_map, *gid_map, *idmap_uid_map, *idmap_gid_map;
    const char *hostname, *staging, *cwd, *search_path;
    int staging_fd; /* opened before the id switch: the sandbox's ids may not reach it */
    uint32_t root_kind, root_flags;
    const char *root_path;
    int root_fd;
    uint32_t uid, gid;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    const uint8_t *seccomp;
    uint32_t seccomp_len;
    struct { uint32_t resource; uint64_t cur, max; } rlimits[MAX_RLIMITS];
    size_t n_rlimits;
    struct mount_op mounts[MAX_MOUNTS];
    size_t n_mounts;
    const char *cgroup_procs[MAX_CGROUPS]; /* cgroup.procs files to put init in before it runs */
    size_t n_cgroups;
    /* path NULL and no pipe: keep the zygote's fd; pipe: a pipe whose other end the JVM opens */
    struct { uint32_t flags, mode; const char *path; int pipe; } stdio[3];
    /* An interface the JVM moves into the namespace, to be given an IPv4 address and the default route. */
    struct { const char *ifname; uint32_t addr, netmask, gateway; } net; /* addresses in network byte order */
    /*
     * A user-mode network stack (pasta) run by the helper, as the caller, once the id maps are
     * written: it gets the sandbox's network and user namespaces as fds 3 and 4, and says it is
     * ready by writing its pid to fd 5. It dies with the sandbox, or with the helper.
     */
    char *net_helper[MAX_NET_HELPER_ARGS + 1];
    size_t n_net_helper;
    char *argv[MAX_ARGS + 1];
    size_t argc;
    char *envp[MAX_ENV + 1];
    size_t envc;
    const char *release_fifo; /* detached: the FIFO the command waits on; else NULL */
    int release_fd;           /* that FIFO, opened O_PATH by the helper */
    int has_umask;
    uint32_t umask;
};

/* plan.c */
extern uint8_t plan_buf[PLAN_MAX];
extern struct plan plan;

/* Parses the first total bytes of plan_buf into plan; fail()s ("plan") on anything malformed. */
void parse_plan(uint32_t total);
/* Prints the parsed plan on stdout as text, for --check-plan. */
void dump_plan(void);

#endif
