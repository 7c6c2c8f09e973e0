/*
 * struct plan, what parse_plan makes of the JVM's bytes, shared by every file of the helper. The
 * wire format itself (tags, layouts, limits, flags) is contract.h, generated from contract.def
 * like the Java side's PlanWriter.
 */
#ifndef CRABCAN_PLAN_H
#define CRABCAN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "contract.h" /* generated from crabcan-native/contract/contract.def */

struct mount_op {
    uint32_t kind, flags, mode;
    uint64_t size;
    const char *src, *dst;
    int fd; /* source opened by the parent, or -1 */
};

struct plan {
    uint32_t clone_flags, options;
    const char *uid_map, *gid_map, *idmap_uid_map, *idmap_gid_map;
    const char *idmap_root_gid_map; /* T_IDMAP_ROOT_GID_MAP, or NULL: the root is idmapped as binds are */
    const char *hostname, *staging, *cwd, *search_path;
    int staging_fd; /* where the root is attached (see root_attach_point); opened before the id switch */
    int resume_fd;  /* OPT_RUNTIME_HOOKS: init's end of the sync pipe, on which C_RESUME arrives; else -1 */
    uint32_t root_kind, root_flags;
    const char *root_path;
    int root_fd;
    const char *layers[MAX_LAYERS]; /* ROOT_OVERLAY's layer directories, top-most first */
    size_t n_layers;
    uint64_t overlay_size; /* T_OVERLAY_SIZE: the tmpfs upper layer's size in bytes, 0: the kernel's default */
    const char *host_overlay_point, *host_overlay_work, *host_overlay_options; /* T_HOST_OVERLAY, or NULL */
    uint32_t uid, gid;
    const uint8_t *groups; /* T_GROUPS: n_groups little-endian u32s */
    size_t n_groups;
    uint64_t cap_bounding, cap_effective, cap_permitted, cap_inheritable, cap_ambient;
    const uint8_t *seccomp;
    uint32_t seccomp_len;
    struct { uint32_t resource; uint64_t cur, max; } rlimits[MAX_RLIMITS];
    size_t n_rlimits;
    struct mount_op mounts[MAX_MOUNTS];
    size_t n_mounts;
    /* T_PROPAGATION: MS_SHARED, MS_SLAVE or MS_UNBINDABLE for a mount's target ("/": the root file system). */
    struct { uint32_t flags; const char *target; } propagation[MAX_MOUNTS + 1];
    size_t n_propagation;
    struct mount_op cgroupfs[MAX_CGROUPFS]; /* the sandbox's cgroups at /sys/fs/cgroup (T_CGROUPFS) */
    size_t n_cgroupfs;
    const char *cgroup_procs[MAX_CGROUPS]; /* cgroup.procs files to put init in before it runs */
    size_t n_cgroups;
    /*
     * path NULL, no pipe, not passed: keep the zygote's fd; pipe: a pipe whose other end the JVM
     * opens; passed: a T_PASS_FD record targets it (an end of a pipe between sandboxes)
     */
    struct { uint32_t flags, mode; const char *path; int pipe, passed; } stdio[3];
    /* An interface the JVM moves into the namespace, to be given an IPv4 address and the default route. */
    struct { const char *ifname; uint32_t addr, netmask, gateway; } net; /* addresses in network byte order */
    /* Its IPv6 address and default route (T_NET6), as literals checked when the plan is read; address NULL: none. */
    struct { const char *address, *gateway; uint32_t prefix; } net6;
    /*
     * A veth pair the helper makes (T_VETH): this end in the host's namespace, holding T_NET's
     * gateway and T_NET6's, the other end the sandbox's T_NET interface; name NULL: none.
     */
    struct { const char *name; uint32_t flags; } veth;
    /* Ranges the interface refuses with routes (T_NET_REFUSE), checked when the plan is read. */
    struct { int family; unsigned char address[16]; unsigned int prefix; } net_refuse[MAX_NET_REFUSE];
    size_t n_net_refuse;
    /*
     * A user-mode network stack (pasta) run by the helper, as the caller, once the id maps are
     * written: it gets the sandbox's network and user namespaces as fds 3 and 4, and says it is
     * ready by writing its pid to fd 5. It dies with the sandbox, or with the helper.
     */
    char *net_helper[MAX_NET_HELPER_ARGS + 1];
    size_t n_net_helper;
    /* nft and the rules it loads into the sandbox's network namespace (T_NET_FILTER); NULL for none. */
    const char *net_filter_tool, *net_filter_rules;
    /*
     * The table whose sets host4 and host6 refuse the host's addresses (T_NET_FILTER_HOSTS; NULL:
     * none), and whether those the host gains later are added as they come.
     */
    const char *net_filter_hosts;
    uint32_t net_filter_hosts_watch;
    char *argv[MAX_ARGS + 1];
    size_t argc;
    char *envp[MAX_ENV + 2]; /* room for LISTEN_PID (OPT_LISTEN_PID) and the NULL */
    size_t envc;
    /*
     * Descriptors given to the command at target: those the JVM passed (T_PASS_FD), received by the
     * helper, and those it inherited from its zygote (T_INHERIT_FD, inherited set), at target already.
     */
    struct { uint32_t target; int fd, inherited; } passed[MAX_PASSED_FDS];
    size_t n_passed, n_inherited;
    /*
     * Files init copies in once the mounts are made (T_COPY_IN) and out once the command ended
     * (T_COPY_OUT), each with the descriptor the JVM sent for it (after the passed ones).
     */
    struct { uint32_t mode, flags; const char *path; int fd; } copy_in[MAX_COPIES];
    size_t n_copy_in;
    struct { uint64_t max; const char *path; int fd; } copy_out[MAX_COPIES];
    size_t n_copy_out;
    const char *release_fifo; /* detached: the FIFO the command waits on; else NULL */
    int release_fd;           /* that FIFO, opened O_PATH by the helper */
    int has_umask;
    uint32_t umask;
    int has_oom_score_adj;
    int32_t oom_score_adj;
    /* OCI exec (T_JOIN): the running sandbox's init and command to join instead of cloning; pid 0: none. */
    struct { uint32_t pid, cmd_pid; uint64_t start_time, cmd_start_time; } join;
    /* T_CONSOLE: the socket the terminal's master goes to (NULL: no terminal), and its size. */
    const char *console_socket;
    uint32_t console_rows, console_cols;
    int console_fd; /* that socket, connected by the helper on the host; -1 before */
    const char *domainname;
    const char *session_keyring; /* T_SESSION_KEYRING, or NULL: the caller's is kept */
    struct { uint32_t type, pid; uint64_t start_time; const char *path; } join_ns[3]; /* T_JOIN_NS: net, IPC, UTS */
    size_t n_join_ns;
    struct { const char *name, *value; } joined_sysctls[MAX_JOINED_SYSCTLS];
    size_t n_joined_sysctls;
    /* OCI hooks run inside the sandbox (T_HOOK): argv and envp point into hook_strings. */
    struct { uint32_t phase, timeout; const char *path; char **argv, **envp; } hooks[MAX_HOOKS];
    size_t n_hooks;
    char *hook_strings[MAX_HOOK_STRINGS + 3 * MAX_HOOKS]; /* each hook's argv and envp, NULL-ended */
    size_t n_hook_strings;
    const char *hook_state; /* T_HOOK_STATE */
};

/* plan.c */
extern uint8_t plan_buf[PLAN_MAX];
extern struct plan plan;

/* Parses the first total bytes of plan_buf into plan; fail()s ("plan") on anything malformed. */
void parse_plan(uint32_t total);
/* Prints the parsed plan on stdout as text, for --check-plan. */
void dump_plan(void);

#endif
