/*
 * The plan: the one global that says what a sandbox is, and its parser. parse_plan is the only
 * reader of the JVM's bytes; everything after it trusts struct plan, so every check of the
 * wire format belongs here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/mount.h>

#include "helper.h"

/* The plan and its strings live here for the whole life of the process. */
uint8_t plan_buf[PLAN_MAX];
struct plan plan;

/* ---- the plan ---------------------------------------------------------- */

static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static uint64_t get64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A string field must be NUL-terminated and contain no other NUL. */
static char *get_str(uint8_t *p, uint32_t len, uint32_t tag)
{
    if (len == 0 || p[len - 1] != '\0' || strlen((char *)p) != len - 1)
        fail(S_PLAN, EINVAL, "field %u is not a string", tag);
    return (char *)p;
}

/* A mount record: T_MOUNT, or T_CGROUPFS, whose layout is the same. */
_Static_assert(T_CGROUPFS_FIXED == T_MOUNT_FIXED && T_CGROUPFS_AT_SIZE == T_MOUNT_AT_SIZE, "T_CGROUPFS is a T_MOUNT");
static void get_mount(struct mount_op *m, uint8_t *p, uint32_t len, uint32_t tag)
{
    if (len < T_MOUNT_FIXED + 2)
        fail(S_PLAN, EINVAL, "bad mount record %u", tag);
    m->kind = get32(p + T_MOUNT_AT_KIND);
    m->flags = get32(p + T_MOUNT_AT_FLAGS);
    m->mode = get32(p + T_MOUNT_AT_MODE);
    m->size = get64(p + T_MOUNT_AT_SIZE);
    m->fd = -1;
    char *strs = (char *)p + T_MOUNT_FIXED;
    size_t room = len - T_MOUNT_FIXED, src_len = strnlen(strs, room);
    if (src_len + 2 > room)
        fail(S_PLAN, EINVAL, "bad mount record %u", tag);
    m->src = strs;
    m->dst = get_str((uint8_t *)strs + src_len + 1, (uint32_t)(room - src_len - 1), tag);
}

/*
 * The command gets fd target: one the helper receives (T_PASS_FD), or the zygote's own of that
 * number, kept (T_INHERIT_FD).
 */
static void add_passed(uint32_t target, int inherited)
{
    if (plan.n_passed == MAX_PASSED_FDS)
        fail(S_PLAN, E2BIG, "more than %d passed fds", MAX_PASSED_FDS);
    if (target > INT32_MAX)
        fail(S_PLAN, EINVAL, "passed fd target %u", target);
    for (size_t i = 0; i < plan.n_passed; i++)
        if (plan.passed[i].target == target)
            fail(S_PLAN, EINVAL, "two passed fds for fd %u", target);
    plan.passed[plan.n_passed].target = target;
    plan.passed[plan.n_passed].inherited = inherited;
    plan.passed[plan.n_passed++].fd = inherited ? (int)target : -1;
    plan.n_inherited += inherited ? 1u : 0u;
}

/* One source for each of fds 0, 1 and 2: a second would replace the first. */
static void check_no_source(uint32_t fd)
{
    if (plan.stdio[fd].path || plan.stdio[fd].pipe || plan.stdio[fd].passed)
        fail(S_PLAN, EINVAL, "two sources for fd %u", fd);
}

static char **add_hook_string(char *s)
{
    if (plan.n_hook_strings == sizeof plan.hook_strings / sizeof plan.hook_strings[0])
        fail(S_PLAN, E2BIG, "more than %d hook strings", MAX_HOOK_STRINGS);
    plan.hook_strings[plan.n_hook_strings] = s;
    return &plan.hook_strings[plan.n_hook_strings++];
}

/*
 * A hook's strings: its path, then its argv (argc of them, as runtime-spec's args: the path alone
 * when there are none), then its envp; argv and envp each end with NULL.
 */
static void parse_hook(uint8_t *p, uint32_t len)
{
    if (len < T_HOOK_FIXED || plan.n_hooks == MAX_HOOKS)
        fail(S_PLAN, EINVAL, "bad or too many hook records");
    uint32_t phase = get32(p + T_HOOK_AT_PHASE), argc = get32(p + T_HOOK_AT_ARGC);
    if (phase != HOOK_CREATE_CONTAINER && phase != HOOK_START_CONTAINER)
        fail(S_PLAN, EINVAL, "bad hook record: phase %u", phase);
    char *s = (char *)p + T_HOOK_FIXED, *end = (char *)p + len;
    if (s == end || end[-1] != '\0')
        fail(S_PLAN, EINVAL, "hook strings not NUL-terminated");
    const char *path = s;
    if (path[0] != '/')
        fail(S_PLAN, EINVAL, "hook path %s is not absolute", path);
    s += strlen(s) + 1;
    char **argv = &plan.hook_strings[plan.n_hook_strings], **envp = NULL;
    if (argc == 0)
        add_hook_string((char *)path);
    uint32_t n = 0;
    for (; s < end; s += strlen(s) + 1, n++) {
        if (n == argc)
            envp = add_hook_string(NULL) + 1; /* ends argv; envp starts after it */
        add_hook_string(s);
    }
    if (n < argc)
        fail(S_PLAN, EINVAL, "hook record with %u of its %u arguments", n, argc);
    if (n == argc)
        envp = add_hook_string(NULL) + 1;
    add_hook_string(NULL);
    plan.hooks[plan.n_hooks].phase = phase;
    plan.hooks[plan.n_hooks].timeout = get32(p + T_HOOK_AT_TIMEOUT);
    plan.hooks[plan.n_hooks].path = path;
    plan.hooks[plan.n_hooks].argv = argv;
    plan.hooks[plan.n_hooks++].envp = envp;
}

void parse_plan(uint32_t total)
{
    uint32_t off = 0;
    uint64_t seen = 0; /* the tags met so far (every known tag is below 64) */
    while (off < total) {
        if (total - off < 8)
            fail(S_PLAN, EINVAL, "truncated record at %u", off);
        uint32_t tag = get32(plan_buf + off), len = get32(plan_buf + off + 4);
        off += 8;
        if (len > total - off)
            fail(S_PLAN, EINVAL, "record %u overruns the plan", tag);
        uint8_t *p = plan_buf + off;
        off += len;
        uint64_t bit = tag < 64 ? 1ull << tag : 0;
        /* a second copy of any other record would replace the first */
        if (seen & bit & ~REPEATED_TAGS)
            fail(S_PLAN, EINVAL, "record %u appears twice", tag);
        seen |= bit;
        switch (tag) {
        case T_CONFIG:
            if (len != T_CONFIG_FIXED)
                fail(S_PLAN, EINVAL, "bad config record");
            plan.clone_flags = get32(p + T_CONFIG_AT_CLONE_FLAGS);
            plan.options = get32(p + T_CONFIG_AT_OPTIONS);
            break;
        case T_UID_MAP: plan.uid_map = get_str(p, len, tag); break;
        case T_GID_MAP: plan.gid_map = get_str(p, len, tag); break;
        case T_IDMAP_UID_MAP: plan.idmap_uid_map = get_str(p, len, tag); break;
        case T_IDMAP_GID_MAP: plan.idmap_gid_map = get_str(p, len, tag); break;
        case T_IDMAP_ROOT_GID_MAP: plan.idmap_root_gid_map = get_str(p, len, tag); break;
        case T_HOSTNAME: plan.hostname = get_str(p, len, tag); break;
        case T_STAGING: plan.staging = get_str(p, len, tag); break;
        case T_CWD: plan.cwd = get_str(p, len, tag); break;
        case T_SEARCH_PATH: plan.search_path = get_str(p, len, tag); break;
        case T_ROOT:
            if (len < T_ROOT_FIXED + 1)
                fail(S_PLAN, EINVAL, "bad root record");
            plan.root_kind = get32(p + T_ROOT_AT_KIND);
            plan.root_flags = get32(p + T_ROOT_AT_FLAGS);
            plan.root_path = get_str(p + T_ROOT_FIXED, len - T_ROOT_FIXED, tag);
            break;
        case T_LAYER:
            if (plan.n_layers == MAX_LAYERS)
                fail(S_PLAN, EINVAL, "too many layer records (at most %d)", MAX_LAYERS);
            plan.layers[plan.n_layers++] = get_str(p, len, tag);
            break;
        case T_OVERLAY_SIZE:
            if (len != T_OVERLAY_SIZE_FIXED)
                fail(S_PLAN, EINVAL, "bad overlay size record");
            plan.overlay_size = get64(p + T_OVERLAY_SIZE_AT_BYTES);
            break;
        case T_HOST_OVERLAY: {
            size_t point_len = strnlen((char *)p, len);
            size_t work_len = point_len + 1 < len ? strnlen((char *)p + point_len + 1, len - point_len - 1) : len;
            if (point_len + work_len + 3 > len)
                fail(S_PLAN, EINVAL, "bad host overlay record");
            plan.host_overlay_point = (char *)p;
            plan.host_overlay_work = (char *)p + point_len + 1;
            plan.host_overlay_options = get_str(p + point_len + work_len + 2, (uint32_t)(len - point_len - work_len - 2),
                                                tag);
            break;
        }
        case T_MOUNT:
            if (plan.n_mounts == MAX_MOUNTS)
                fail(S_PLAN, EINVAL, "too many mount records (at most %d)", MAX_MOUNTS);
            get_mount(&plan.mounts[plan.n_mounts++], p, len, tag);
            break;
        case T_CGROUPFS:
            if (plan.n_cgroupfs == MAX_CGROUPFS)
                fail(S_PLAN, EINVAL, "too many cgroup file system records (at most %d)", MAX_CGROUPFS);
            get_mount(&plan.cgroupfs[plan.n_cgroupfs++], p, len, tag);
            break;
        case T_CREDS:
            if (len != T_CREDS_FIXED)
                fail(S_PLAN, EINVAL, "bad credentials record");
            plan.uid = get32(p + T_CREDS_AT_UID);
            plan.gid = get32(p + T_CREDS_AT_GID);
            break;
        case T_CAPS:
            if (len != T_CAPS_FIXED)
                fail(S_PLAN, EINVAL, "bad capabilities record");
            plan.cap_bounding = get64(p + T_CAPS_AT_BOUNDING);
            plan.cap_effective = get64(p + T_CAPS_AT_EFFECTIVE);
            plan.cap_permitted = get64(p + T_CAPS_AT_PERMITTED);
            plan.cap_inheritable = get64(p + T_CAPS_AT_INHERITABLE);
            plan.cap_ambient = get64(p + T_CAPS_AT_AMBIENT);
            break;
        case T_SECCOMP:
            if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
                fail(S_PLAN, EINVAL, "bad seccomp program of %u bytes", len);
            plan.seccomp = p;
            plan.seccomp_len = len;
            break;
        case T_RLIMIT:
            if (len != T_RLIMIT_FIXED || plan.n_rlimits == MAX_RLIMITS)
                fail(S_PLAN, EINVAL, "bad or too many rlimit records");
            plan.rlimits[plan.n_rlimits].resource = get32(p + T_RLIMIT_AT_RESOURCE);
            plan.rlimits[plan.n_rlimits].cur = get64(p + T_RLIMIT_AT_SOFT);
            plan.rlimits[plan.n_rlimits].max = get64(p + T_RLIMIT_AT_HARD);
            plan.n_rlimits++;
            break;
        case T_CGROUP:
            if (plan.n_cgroups == MAX_CGROUPS)
                fail(S_PLAN, E2BIG, "more than %d cgroups", MAX_CGROUPS);
            plan.cgroup_procs[plan.n_cgroups++] = get_str(p, len, tag);
            break;
        case T_STDIO: {
            if (len < T_STDIO_FIXED + 1 || get32(p + T_STDIO_AT_FD) > 2)
                fail(S_PLAN, EINVAL, "bad stdio record");
            uint32_t fd = get32(p + T_STDIO_AT_FD);
            check_no_source(fd);
            plan.stdio[fd].flags = get32(p + T_STDIO_AT_FLAGS);
            plan.stdio[fd].mode = get32(p + T_STDIO_AT_MODE);
            plan.stdio[fd].path = get_str(p + T_STDIO_FIXED, len - T_STDIO_FIXED, tag);
            break;
        }
        case T_NET:
            if (len < T_NET_FIXED + 2)
                fail(S_PLAN, EINVAL, "bad network record");
            memcpy(&plan.net.addr, p + T_NET_AT_ADDRESS, 4);
            memcpy(&plan.net.netmask, p + T_NET_AT_NETMASK, 4);
            memcpy(&plan.net.gateway, p + T_NET_AT_GATEWAY, 4);
            plan.net.ifname = get_str(p + T_NET_FIXED, len - T_NET_FIXED, tag);
            if (strlen(plan.net.ifname) >= IFNAMSIZ)
                fail(S_PLAN, EINVAL, "interface name %s too long", plan.net.ifname);
            break;
        case T_VETH:
            if (len < T_VETH_FIXED + 2 || (get32(p + T_VETH_AT_FLAGS) & ~(uint32_t)VETH_ROUTE_LOCALNET))
                fail(S_PLAN, EINVAL, "bad veth record");
            plan.veth.flags = get32(p + T_VETH_AT_FLAGS);
            plan.veth.name = get_str(p + T_VETH_FIXED, len - T_VETH_FIXED, tag);
            if (strlen(plan.veth.name) >= IFNAMSIZ || strchr(plan.veth.name, '/') || plan.veth.name[0] == '.')
                fail(S_PLAN, EINVAL, "bad veth name %s", plan.veth.name);
            break;
        case T_NET_REFUSE: {
            if (plan.n_net_refuse == MAX_NET_REFUSE)
                fail(S_PLAN, E2BIG, "more than %d refused ranges", MAX_NET_REFUSE);
            const char *range = get_str(p, len, tag);
            char address[INET6_ADDRSTRLEN];
            const char *slash = strchr(range, '/');
            size_t at = slash ? (size_t)(slash - range) : 0;
            char *end = NULL;
            unsigned long prefix = slash ? strtoul(slash + 1, &end, 10) : 0;
            int family = strchr(range, ':') ? AF_INET6 : AF_INET;
            if (!slash || at >= sizeof address || !end || *end || end == slash + 1
                || prefix > (family == AF_INET6 ? 128u : 32u))
                fail(S_PLAN, EINVAL, "bad refused range %s", range);
            memcpy(address, range, at);
            address[at] = '\0';
            if (inet_pton(family, address, plan.net_refuse[plan.n_net_refuse].address) != 1)
                fail(S_PLAN, EINVAL, "bad refused range %s", range);
            plan.net_refuse[plan.n_net_refuse].family = family;
            plan.net_refuse[plan.n_net_refuse].prefix = (unsigned int)prefix;
            plan.n_net_refuse++;
            break;
        }
        case T_NET_HELPER:
            if (plan.n_net_helper == MAX_NET_HELPER_ARGS)
                fail(S_PLAN, E2BIG, "more than %d network helper arguments", MAX_NET_HELPER_ARGS);
            plan.net_helper[plan.n_net_helper++] = get_str(p, len, tag);
            break;
        case T_NET6: {
            if (len < T_NET6_FIXED + 4)
                fail(S_PLAN, EINVAL, "bad IPv6 network record");
            plan.net6.prefix = get32(p + T_NET6_AT_PREFIX);
            uint8_t *strs = p + T_NET6_FIXED;
            size_t room = len - T_NET6_FIXED, address_len = strnlen((char *)strs, room);
            if (address_len + 2 > room)
                fail(S_PLAN, EINVAL, "bad IPv6 network record");
            plan.net6.address = (char *)strs;
            plan.net6.gateway = get_str(strs + address_len + 1, (uint32_t)(room - address_len - 1), tag);
            struct in6_addr check;
            if (plan.net6.prefix > 128 || inet_pton(AF_INET6, plan.net6.address, &check) != 1
                || inet_pton(AF_INET6, plan.net6.gateway, &check) != 1)
                fail(S_PLAN, EINVAL, "bad IPv6 network record: %s/%u via %s", plan.net6.address, plan.net6.prefix,
                     plan.net6.gateway);
            break;
        }
        case T_NET_FILTER: {
            size_t tool_len = strnlen((char *)p, len);
            if (tool_len + 2 > len)
                fail(S_PLAN, EINVAL, "bad network filter record");
            plan.net_filter_tool = (char *)p;
            plan.net_filter_rules = get_str(p + tool_len + 1, (uint32_t)(len - tool_len - 1), tag);
            break;
        }
        case T_NET_FILTER_HOSTS:
            if (len < T_NET_FILTER_HOSTS_FIXED + 2 || get32(p + T_NET_FILTER_HOSTS_AT_WATCH) > 1)
                fail(S_PLAN, EINVAL, "bad host addresses record");
            plan.net_filter_hosts_watch = get32(p + T_NET_FILTER_HOSTS_AT_WATCH);
            plan.net_filter_hosts = get_str(p + T_NET_FILTER_HOSTS_FIXED, len - T_NET_FILTER_HOSTS_FIXED, tag);
            break;
        case T_PIPE:
            if (len != T_PIPE_FIXED || get32(p + T_PIPE_AT_FD) > 2)
                fail(S_PLAN, EINVAL, "bad pipe record");
            check_no_source(get32(p + T_PIPE_AT_FD));
            plan.stdio[get32(p + T_PIPE_AT_FD)].pipe = 1;
            break;
        case T_ARG:
            if (plan.argc == MAX_ARGS)
                fail(S_PLAN, E2BIG, "more than %d arguments", MAX_ARGS);
            plan.argv[plan.argc++] = get_str(p, len, tag);
            break;
        case T_ENV:
            if (plan.envc == MAX_ENV)
                fail(S_PLAN, E2BIG, "more than %d environment entries", MAX_ENV);
            plan.envp[plan.envc++] = get_str(p, len, tag);
            break;
        case T_PASS_FD: {
            if (len != T_PASS_FD_FIXED)
                fail(S_PLAN, EINVAL, "bad pass fd record");
            uint32_t target = get32(p + T_PASS_FD_AT_TARGET);
            if (target <= 2) {
                check_no_source(target);
                plan.stdio[target].passed = 1;
            }
            add_passed(target, 0);
            break;
        }
        case T_INHERIT_FD: {
            if (len != T_INHERIT_FD_FIXED)
                fail(S_PLAN, EINVAL, "bad inherit fd record");
            uint32_t target = get32(p + T_INHERIT_FD_AT_TARGET);
            if (target <= 2)
                fail(S_PLAN, EINVAL, "inherited fd target %u", target);
            add_passed(target, 1);
            if (fcntl((int)target, F_GETFD) < 0)
                fail(S_PASS_FDS, errno, "fd %u, which the sandbox's zygote was to keep for the command", target);
            break;
        }
        case T_COPY_IN:
            if (len < T_COPY_IN_FIXED + 2 || plan.n_copy_in == MAX_COPIES || p[T_COPY_IN_FIXED] != '/')
                fail(S_PLAN, EINVAL, "bad or too many copy-in records (at most %d)", MAX_COPIES);
            plan.copy_in[plan.n_copy_in].mode = get32(p + T_COPY_IN_AT_MODE) & 07777;
            plan.copy_in[plan.n_copy_in].flags = get32(p + T_COPY_IN_AT_FLAGS);
            plan.copy_in[plan.n_copy_in].fd = -1;
            plan.copy_in[plan.n_copy_in++].path = get_str(p + T_COPY_IN_FIXED, len - T_COPY_IN_FIXED, tag);
            break;
        case T_COPY_OUT:
            if (len < T_COPY_OUT_FIXED + 2 || plan.n_copy_out == MAX_COPIES || p[T_COPY_OUT_FIXED] != '/')
                fail(S_PLAN, EINVAL, "bad or too many copy-out records (at most %d)", MAX_COPIES);
            plan.copy_out[plan.n_copy_out].max = get64(p + T_COPY_OUT_AT_MAX);
            plan.copy_out[plan.n_copy_out].fd = -1;
            plan.copy_out[plan.n_copy_out++].path = get_str(p + T_COPY_OUT_FIXED, len - T_COPY_OUT_FIXED, tag);
            break;
        case T_DETACH: plan.release_fifo = get_str(p, len, tag); break;
        case T_UMASK:
            if (len != T_UMASK_FIXED || get32(p + T_UMASK_AT_UMASK) > 0777)
                fail(S_PLAN, EINVAL, "bad umask record");
            plan.has_umask = 1;
            plan.umask = get32(p + T_UMASK_AT_UMASK);
            break;
        case T_JOIN_NS: {
            uint32_t type = len > T_JOIN_NS_FIXED ? get32(p + T_JOIN_NS_AT_TYPE) : 0;
            int known = type == CLONE_NEWNET || type == CLONE_NEWIPC || type == CLONE_NEWUTS;
            for (size_t i = 0; i < plan.n_join_ns; i++)
                known = known && plan.join_ns[i].type != type;
            if (len < T_JOIN_NS_FIXED + 2 || p[T_JOIN_NS_FIXED] != '/' || !known)
                fail(S_PLAN, EINVAL, "bad or repeated namespace to join (type %#x)", type);
            plan.join_ns[plan.n_join_ns].type = type;
            plan.join_ns[plan.n_join_ns].pid = get32(p + T_JOIN_NS_AT_PID);
            plan.join_ns[plan.n_join_ns].start_time = get64(p + T_JOIN_NS_AT_START_TIME);
            plan.join_ns[plan.n_join_ns++].path = get_str(p + T_JOIN_NS_FIXED, len - T_JOIN_NS_FIXED, tag);
            break;
        }
        case T_GROUPS:
            if (len % 4 != 0)
                fail(S_PLAN, EINVAL, "bad groups record");
            plan.groups = p;
            plan.n_groups = len / 4;
            break;
        case T_PROPAGATION: {
            uint32_t flags = len > T_PROPAGATION_FIXED ? get32(p + T_PROPAGATION_AT_FLAGS) : 0;
            if (len < T_PROPAGATION_FIXED + 2 || p[T_PROPAGATION_FIXED] != '/' || plan.n_propagation == MAX_MOUNTS + 1
                || (flags != MS_SHARED && flags != MS_SLAVE && flags != MS_UNBINDABLE))
                fail(S_PLAN, EINVAL, "bad or too many propagation records (at most %d)", MAX_MOUNTS + 1);
            plan.propagation[plan.n_propagation].flags = flags;
            plan.propagation[plan.n_propagation++].target =
                get_str(p + T_PROPAGATION_FIXED, len - T_PROPAGATION_FIXED, tag);
            break;
        }
        case T_DOMAINNAME: plan.domainname = get_str(p, len, tag); break;
        case T_SESSION_KEYRING: plan.session_keyring = get_str(p, len, tag); break;
        case T_HOOK: parse_hook(p, len); break;
        case T_HOOK_STATE: plan.hook_state = get_str(p, len, tag); break;
        case T_JOINED_SYSCTL: {
            size_t name_len = strnlen((const char *)p, len);
            if (name_len + 2 > len || plan.n_joined_sysctls == MAX_JOINED_SYSCTLS)
                fail(S_PLAN, EINVAL, "bad or too many joined sysctl records (at most %d)", MAX_JOINED_SYSCTLS);
            plan.joined_sysctls[plan.n_joined_sysctls].name = (const char *)p;
            plan.joined_sysctls[plan.n_joined_sysctls++].value =
                get_str(p + name_len + 1, (uint32_t)(len - name_len - 1), tag);
            break;
        }
        case T_OOM_SCORE_ADJ:
            if (len != T_OOM_SCORE_ADJ_FIXED || (int32_t)get32(p + T_OOM_SCORE_ADJ_AT_VALUE) < -1000 ||
                (int32_t)get32(p + T_OOM_SCORE_ADJ_AT_VALUE) > 1000)
                fail(S_PLAN, EINVAL, "bad oom_score_adj record");
            plan.has_oom_score_adj = 1;
            plan.oom_score_adj = (int32_t)get32(p + T_OOM_SCORE_ADJ_AT_VALUE);
            break;
        case T_JOIN:
            if (len != T_JOIN_FIXED || get32(p + T_JOIN_AT_PID) == 0)
                fail(S_PLAN, EINVAL, "bad join record");
            plan.join.pid = get32(p + T_JOIN_AT_PID);
            plan.join.cmd_pid = get32(p + T_JOIN_AT_CMD_PID);
            plan.join.start_time = get64(p + T_JOIN_AT_START_TIME);
            plan.join.cmd_start_time = get64(p + T_JOIN_AT_CMD_START_TIME);
            break;
        case T_CONSOLE:
            if (len < T_CONSOLE_FIXED + 2)
                fail(S_PLAN, EINVAL, "bad console record");
            plan.console_rows = get32(p + T_CONSOLE_AT_ROWS);
            plan.console_cols = get32(p + T_CONSOLE_AT_COLS);
            plan.console_socket = get_str(p + T_CONSOLE_FIXED, len - T_CONSOLE_FIXED, tag);
            break;
        default:
            fail(S_PLAN, EINVAL, "unknown record %u", tag);
        }
    }
    if (plan.net6.address && !plan.net.ifname)
        fail(S_PLAN, EINVAL, "an IPv6 network record without its interface's network record");
    if (plan.n_net_refuse && !plan.net.ifname)
        fail(S_PLAN, EINVAL, "refused ranges without the interface's network record");
    if (plan.veth.name && !plan.net.ifname)
        fail(S_PLAN, EINVAL, "a veth record without its sandbox end's network record");
    /* A joining plan makes no namespaces, maps and root of its own. */
    if (plan.argc == 0 || (!plan.join.pid && (!plan.uid_map || !plan.gid_map || !plan.staging || !plan.root_path)))
        fail(S_PLAN, EINVAL, "incomplete plan");
    int overlay = plan.root_kind == ROOT_OVERLAY || plan.root_kind == ROOT_HOST_OVERLAY;
    if (plan.root_path && plan.root_kind != ROOT_TMPFS && plan.root_kind != ROOT_BIND && !overlay)
        fail(S_PLAN, EINVAL, "unknown root kind %u", plan.root_kind);
    if (overlay != (plan.n_layers > 0))
        fail(S_PLAN, EINVAL, "layer records go with an overlay root, which needs at least one");
    if ((plan.root_kind == ROOT_HOST_OVERLAY) != (plan.host_overlay_work != NULL))
        fail(S_PLAN, EINVAL, "a host overlay record goes with a host overlay root, which needs one");
    if (plan.root_kind == ROOT_HOST_OVERLAY
        && ((~plan.root_flags & (MF_OPEN_IN_PARENT | MF_IDMAP)) || !plan.idmap_uid_map || !plan.idmap_gid_map
            || !plan.root_path[0] != !plan.host_overlay_work[0] || plan.host_overlay_point[0] != '/'))
        fail(S_PLAN, EINVAL, "a host overlay root is made in the parent and idmapped, at an absolute mount point, "
             "with a work directory if it has an upper one");
    if (plan.overlay_size && (plan.root_kind != ROOT_OVERLAY || !plan.root_path || plan.root_path[0]))
        fail(S_PLAN, EINVAL, "an overlay size record goes with an overlay root whose writable layer is a tmpfs");
    if (plan.idmap_root_gid_map && (!plan.idmap_uid_map || !plan.idmap_gid_map || !(plan.root_flags & MF_IDMAP)))
        fail(S_PLAN, EINVAL, "a root idmap gid map goes with an idmapped root and the idmap maps of binds");
    if ((plan.options & OPT_LISTEN_PID) && plan.envc == MAX_ENV)
        fail(S_PLAN, E2BIG, "no room for LISTEN_PID after %d environment entries", MAX_ENV);
    if (plan.join.pid && (plan.uid_map || plan.gid_map || plan.staging || plan.root_path || plan.n_mounts
                          || plan.n_cgroupfs
                          || plan.release_fifo || plan.net.ifname || plan.veth.name || plan.n_net_helper || plan.hostname
                          || plan.stdio[0].pipe || plan.stdio[1].pipe || plan.stdio[2].pipe || plan.n_copy_in
                          || plan.n_copy_out || plan.n_join_ns || plan.n_joined_sysctls))
        fail(S_PLAN, EINVAL, "a joining plan has a sandbox's own setup");
    for (size_t i = 0; i < plan.n_join_ns; i++)
        if (plan.clone_flags & plan.join_ns[i].type)
            fail(S_PLAN, EINVAL, "namespace %#x both joined (%s) and created", plan.join_ns[i].type, plan.join_ns[i].path);
    if (plan.n_joined_sysctls && !plan.n_join_ns)
        fail(S_PLAN, EINVAL, "sysctls for joined namespaces without any");
    if (plan.net_filter_hosts && !plan.net_filter_tool)
        fail(S_PLAN, EINVAL, "the host's addresses for a network filter without the filter");
    if (plan.n_hooks && !plan.hook_state)
        fail(S_PLAN, EINVAL, "hooks without the state they read");
    /* Only a cgroup namespace rooted at the sandbox's cgroup makes them show nothing but that cgroup. */
    if (plan.n_cgroupfs && !(plan.options & OPT_UNSHARE_CGROUP))
        fail(S_PLAN, EINVAL, "cgroup file systems without a cgroup namespace of the sandbox's cgroup");
    for (size_t i = 0; i < plan.n_cgroupfs; i++)
        if (plan.cgroupfs[i].kind != M_FS && plan.cgroupfs[i].kind != M_TMPFS && plan.cgroupfs[i].kind != M_SYMLINK)
            fail(S_PLAN, EINVAL, "cgroup file system record of mount kind %u", plan.cgroupfs[i].kind);
    if ((plan.options & OPT_STDERR_TO_STDOUT) && (plan.stdio[2].path || plan.stdio[2].pipe || plan.stdio[2].passed))
        fail(S_PLAN, EINVAL, "fd 2 is both a copy of fd 1 and a pipe or file");
}

/* ---- the dump (--check-plan) --------------------------------------------- */

/* One field, escaped as report fields are, and the character that ends it. */
static void put_field(const char *s, char end)
{
    size_t n = 2 * strlen(s) + 3; /* esc's room for a string of nothing but escapes */
    char *out = malloc(n);
    if (!out)
        fail(S_PLAN, ENOMEM, "dump the plan");
    printf("%s%c", esc(s, out, n), end);
    free(out);
}

/* Lines for strings the plan does not have are left out. */
static void dump_str(const char *key, const char *s)
{
    if (!s)
        return;
    printf("%s\t", key);
    put_field(s, '\n');
}

static void dump_mount(const char *key, const struct mount_op *m)
{
    printf("%s\t%u\t%#x\t%#o\t%llu\t", key, m->kind, m->flags, m->mode, (unsigned long long)m->size);
    put_field(m->src, '\t');
    put_field(m->dst, '\n');
}

static void dump_addr(uint32_t addr)
{
    const uint8_t *b = (const uint8_t *)&addr; /* network byte order */
    printf("%u.%u.%u.%u\t", b[0], b[1], b[2], b[3]);
}

/*
 * Everything parse_plan filled in, one line per field or table entry, in a fixed order: the text
 * the Java tests read a plan back from. Numbers are hexadecimal for flag sets, octal for modes.
 */
void dump_plan(void)
{
    printf("config\t%#x\t%#x\n", plan.clone_flags, plan.options);
    dump_str("uid_map", plan.uid_map);
    dump_str("gid_map", plan.gid_map);
    dump_str("idmap_uid_map", plan.idmap_uid_map);
    dump_str("idmap_gid_map", plan.idmap_gid_map);
    dump_str("idmap_root_gid_map", plan.idmap_root_gid_map);
    dump_str("hostname", plan.hostname);
    dump_str("staging", plan.staging);
    if (plan.root_path) {
        printf("root\t%u\t%#x\t", plan.root_kind, plan.root_flags);
        put_field(plan.root_path, '\n');
    }
    for (size_t i = 0; i < plan.n_layers; i++)
        dump_str("layer", plan.layers[i]);
    if (plan.host_overlay_work) {
        fputs("host_overlay\t", stdout);
        put_field(plan.host_overlay_point, '\t');
        put_field(plan.host_overlay_work, '\t');
        put_field(plan.host_overlay_options, '\n');
    }
    for (size_t i = 0; i < plan.n_mounts; i++)
        dump_mount("mount", &plan.mounts[i]);
    for (size_t i = 0; i < plan.n_cgroupfs; i++)
        dump_mount("cgroupfs", &plan.cgroupfs[i]);
    printf("creds\t%u\t%u\n", plan.uid, plan.gid);
    printf("caps\t%#llx\t%#llx\t%#llx\t%#llx\t%#llx\n", (unsigned long long)plan.cap_bounding,
           (unsigned long long)plan.cap_effective, (unsigned long long)plan.cap_permitted,
           (unsigned long long)plan.cap_inheritable, (unsigned long long)plan.cap_ambient);
    if (plan.seccomp) {
        printf("seccomp\t%u\t", plan.seccomp_len);
        for (uint32_t i = 0; i < plan.seccomp_len; i++)
            printf("%02x", plan.seccomp[i]);
        printf("\n");
    }
    for (size_t i = 0; i < plan.n_rlimits; i++)
        printf("rlimit\t%u\t%llu\t%llu\n", plan.rlimits[i].resource, (unsigned long long)plan.rlimits[i].cur,
               (unsigned long long)plan.rlimits[i].max);
    for (size_t i = 0; i < plan.n_cgroups; i++)
        dump_str("cgroup", plan.cgroup_procs[i]);
    for (int fd = 0; fd <= 2; fd++) {
        if (plan.stdio[fd].pipe)
            printf("pipe\t%d\n", fd);
        if (plan.stdio[fd].path) {
            printf("stdio\t%d\t%#x\t%#o\t", fd, plan.stdio[fd].flags, plan.stdio[fd].mode);
            put_field(plan.stdio[fd].path, '\n');
        }
    }
    if (plan.net.ifname) {
        printf("net\t");
        dump_addr(plan.net.addr);
        dump_addr(plan.net.netmask);
        dump_addr(plan.net.gateway);
        put_field(plan.net.ifname, '\n');
    }
    for (size_t i = 0; i < plan.n_net_refuse; i++) {
        char text[INET6_ADDRSTRLEN];
        inet_ntop(plan.net_refuse[i].family, plan.net_refuse[i].address, text, sizeof text);
        printf("refuse\t%s/%u\n", text, plan.net_refuse[i].prefix);
    }
    if (plan.veth.name) {
        printf("veth\t%#x\t", plan.veth.flags);
        put_field(plan.veth.name, '\n');
    }
    if (plan.net6.address) {
        printf("net6\t%u\t", plan.net6.prefix);
        put_field(plan.net6.address, '\t');
        put_field(plan.net6.gateway, '\n');
    }
    for (size_t i = 0; i < plan.n_net_helper; i++)
        dump_str("net_helper", plan.net_helper[i]);
    if (plan.net_filter_tool) {
        printf("net_filter\t");
        put_field(plan.net_filter_tool, '\t');
        put_field(plan.net_filter_rules, '\n');
    }
    if (plan.net_filter_hosts) {
        printf("net_filter_hosts\t%u\t", plan.net_filter_hosts_watch);
        put_field(plan.net_filter_hosts, '\n');
    }
    for (size_t i = 0; i < plan.argc; i++)
        dump_str("arg", plan.argv[i]);
    for (size_t i = 0; i < plan.envc; i++)
        dump_str("env", plan.envp[i]);
    dump_str("cwd", plan.cwd);
    if (plan.join.pid)
        printf("join\t%u\t%u\t%llu\t%llu\n", plan.join.pid, plan.join.cmd_pid,
               (unsigned long long)plan.join.start_time, (unsigned long long)plan.join.cmd_start_time);
    if (plan.console_socket) {
        printf("console\t%u\t%u\t", plan.console_rows, plan.console_cols);
        put_field(plan.console_socket, '\n');
    }
    dump_str("search_path", plan.search_path);
    dump_str("detach", plan.release_fifo);
    if (plan.has_umask)
        printf("umask\t%#o\n", plan.umask);
    if (plan.has_oom_score_adj)
        printf("oom_score_adj\t%d\n", plan.oom_score_adj);
    for (size_t i = 0; i < plan.n_passed; i++)
        printf("%s\t%u\n", plan.passed[i].inherited ? "inherit_fd" : "pass_fd", plan.passed[i].target);
    for (size_t i = 0; i < plan.n_copy_in; i++) {
        printf("copy_in\t%#o\t%#x\t", plan.copy_in[i].mode, plan.copy_in[i].flags);
        put_field(plan.copy_in[i].path, '\n');
    }
    for (size_t i = 0; i < plan.n_copy_out; i++) {
        printf("copy_out\t%llu\t", (unsigned long long)plan.copy_out[i].max);
        put_field(plan.copy_out[i].path, '\n');
    }
    for (size_t i = 0; i < plan.n_join_ns; i++) {
        printf("join_ns\t%#x\t%u\t%llu\t", plan.join_ns[i].type, plan.join_ns[i].pid,
               (unsigned long long)plan.join_ns[i].start_time);
        put_field(plan.join_ns[i].path, '\n');
    }
    if (plan.domainname)
        dump_str("domainname", plan.domainname);
    if (plan.session_keyring)
        dump_str("session_keyring", plan.session_keyring);
    for (size_t i = 0; i < plan.n_joined_sysctls; i++) {
        dump_str("joined_sysctl", plan.joined_sysctls[i].name);
        dump_str("joined_sysctl_value", plan.joined_sysctls[i].value);
    }
    if (fflush(stdout) != 0)
        fail(S_PLAN, errno, "write the dump");
}
