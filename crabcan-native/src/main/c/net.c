/*
 * The sandbox's network: init brings up loopback and its interface; the helper connects a root
 * caller's sandbox to the host with a veth pair, or starts and watches the plan's user-mode
 * network helper (pasta).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/fib_rules.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helper.h"
#include "kernel.h"

static int inet_socket(void)
{
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0)
        fail(S_NETWORK, errno, "socket");
    return s;
}

/* Sets the interface that ifr names up. */
static void bring_up(int s, struct ifreq *ifr)
{
    if (ioctl(s, SIOCGIFFLAGS, ifr) < 0)
        fail(S_NETWORK, errno, "read flags of %s", ifr->ifr_name);
    ifr->ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(s, SIOCSIFFLAGS, ifr) < 0)
        fail(S_NETWORK, errno, "bring %s up", ifr->ifr_name);
}

void loopback_up(void)
{
    int s = inet_socket();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    bring_up(s, &ifr);
    close(s);
}

static void set_inet(int s, struct ifreq *ifr, int request, uint32_t addr, const char *what)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&ifr->ifr_addr;
    memset(sin, 0, sizeof *sin);
    sin->sin_family = AF_INET;
    sin->sin_addr.s_addr = addr;
    if (ioctl(s, request, ifr) < 0)
        fail(S_NETWORK, errno, "set the %s of %s", what, plan.net.ifname);
}

/* Appends an attribute to the netlink message n (room bytes in all); returns it, to nest others in. */
struct rtattr *add_attr(struct nlmsghdr *n, size_t room, unsigned short type, const void *data, size_t len)
{
    size_t at = NLMSG_ALIGN(n->nlmsg_len);
    if (at + RTA_SPACE(len) > room)
        fail(S_NETWORK, E2BIG, "netlink message of type %u", n->nlmsg_type);
    struct rtattr *rta = (struct rtattr *)((char *)n + at);
    rta->rta_type = type;
    rta->rta_len = (unsigned short)RTA_LENGTH(len);
    if (len)
        memcpy(RTA_DATA(rta), data, len);
    n->nlmsg_len = (uint32_t)(at + RTA_SPACE(len));
    return rta;
}

/* Closes an attribute that add_attr opened with no data: it holds whatever was added after it. */
void end_nest(struct nlmsghdr *n, struct rtattr *nest)
{
    nest->rta_len = (unsigned short)((char *)n + n->nlmsg_len - (char *)nest);
}

/*
 * Sends one request about interface ifname on a route netlink socket and waits for the kernel's
 * acknowledgement: 0, or the kernel's errno where the caller accepts it (accept, 0 for none).
 */
static int netlink_call(int s, struct nlmsghdr *n, const char *what, const char *ifname, int accept)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(s, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        fail(S_NETWORK, errno, "%s on %s", what, ifname);
    union { struct nlmsghdr h; char buf[1024]; } reply;
    ssize_t got;
    while ((got = recv(s, &reply, sizeof reply, 0)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        fail(S_NETWORK, errno, "%s on %s: no answer from the kernel", what, ifname);
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || reply.h.nlmsg_type != NLMSG_ERROR)
        fail(S_NETWORK, EPROTO, "%s on %s: unexpected answer from the kernel", what, ifname);
    int error = -((struct nlmsgerr *)NLMSG_DATA(&reply.h))->error;
    if (error != 0 && error != accept)
        fail(S_NETWORK, error, "%s on %s", what, ifname);
    return error;
}

static int netlink_socket(void)
{
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0)
        fail(S_NETWORK, errno, "netlink socket");
    return s;
}

typedef union { struct nlmsghdr h; char buf[512]; } netlink_request;

/* A request of this type with a zeroed body of this size, which it returns. */
static void *start_request(netlink_request *req, unsigned short type, unsigned short flags, size_t body)
{
    memset(req, 0, sizeof *req);
    req->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(body);
    req->h.nlmsg_type = type;
    req->h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    return NLMSG_DATA(&req->h);
}

/* A new route of the main table, of this type, to prefix bits of dst (none: the default route). */
static void start_route(netlink_request *req, int family, unsigned char type, const void *dst, unsigned int prefix)
{
    struct rtmsg *rt = start_request(req, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rt);
    rt->rtm_family = (unsigned char)family;
    rt->rtm_dst_len = (unsigned char)prefix;
    rt->rtm_table = RT_TABLE_MAIN;
    rt->rtm_protocol = RTPROT_STATIC;
    rt->rtm_scope = RT_SCOPE_UNIVERSE;
    rt->rtm_type = type;
    if (dst)
        add_attr(&req->h, sizeof *req, RTA_DST, dst, family == AF_INET6 ? 16 : 4);
}

/* An address without duplicate address detection: a tentative one would fail the first connections for a second. */
static void add_address(int s, unsigned int ifindex, const char *ifname, int family, const void *address,
                        unsigned int prefix)
{
    netlink_request req;
    struct ifaddrmsg *ifa = start_request(&req, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, sizeof *ifa);
    ifa->ifa_family = (unsigned char)family;
    ifa->ifa_prefixlen = (unsigned char)prefix;
    ifa->ifa_flags = family == AF_INET6 ? IFA_F_NODAD : 0;
    ifa->ifa_index = ifindex;
    size_t len = family == AF_INET6 ? sizeof(struct in6_addr) : sizeof(struct in_addr);
    add_attr(&req.h, sizeof req, IFA_LOCAL, address, len);
    add_attr(&req.h, sizeof req, IFA_ADDRESS, address, len);
    netlink_call(s, &req.h, family == AF_INET6 ? "add the IPv6 address" : "add the address", ifname, 0);
}

/* Whether the refused range at i holds every address of fe80::/64, the sandbox's own link's. */
static int refuses_own_link(size_t i)
{
    static const unsigned char link_local[16] = {0xfe, 0x80};
    unsigned int prefix = plan.net_refuse[i].prefix, full = prefix / 8, rest = prefix % 8;
    const unsigned char *range = plan.net_refuse[i].address;
    return plan.net_refuse[i].family == AF_INET6 && prefix <= 64 && memcmp(range, link_local, full) == 0
           && (rest == 0 || ((range[full] ^ link_local[full]) & (0xff << (8 - rest))) == 0);
}

/*
 * Where link-local addresses are refused: a rule refuses them before any table is looked at. A
 * route cannot: the kernel looks a link-local destination up only among the routes of the
 * interface it leaves by, so the refusing route (on lo) never matches, and the link's own route
 * or the default route through the host's end would carry it to the host end's link-local
 * address, whatever becomes of the host's table. Neighbour discovery looks no route up.
 */
static void refuse_link_local_by_rule(void)
{
    for (size_t i = 0; i < plan.n_net_refuse; i++) {
        if (!refuses_own_link(i))
            continue;
        int s = netlink_socket();
        netlink_request req;
        struct fib_rule_hdr *rule = start_request(&req, RTM_NEWRULE, NLM_F_CREATE | NLM_F_EXCL, sizeof *rule);
        rule->family = AF_INET6;
        rule->dst_len = (unsigned char)plan.net_refuse[i].prefix;
        rule->action = FR_ACT_PROHIBIT;
        add_attr(&req.h, sizeof req, FRA_DST, plan.net_refuse[i].address, 16);
        uint32_t priority = 1; /* after the local table's rule (0): the sandbox's own addresses stay its own */
        add_attr(&req.h, sizeof req, FRA_PRIORITY, &priority, sizeof priority);
        netlink_call(s, &req.h, "add a rule refusing link-local addresses on", plan.net.ifname, 0);
        close(s);
        return;
    }
}

/*
 * IPv6 (T_NET6), by route netlink: the address without duplicate address detection (the ioctl
 * cannot say so, and a tentative address would make the first connections fail for a second),
 * then the default route through the host's end.
 */
static void interface6_up(unsigned int ifindex)
{
    struct in6_addr address, gateway;
    inet_pton(AF_INET6, plan.net6.address, &address); /* checked when the plan was read */
    inet_pton(AF_INET6, plan.net6.gateway, &gateway);
    int s = netlink_socket();
    add_address(s, ifindex, plan.net.ifname, AF_INET6, &address, plan.net6.prefix);

    netlink_request req;
    start_route(&req, AF_INET6, RTN_UNICAST, NULL, 0);
    uint32_t oif = ifindex;
    add_attr(&req.h, sizeof req, RTA_GATEWAY, &gateway, sizeof gateway);
    add_attr(&req.h, sizeof req, RTA_OIF, &oif, sizeof oif);
    netlink_call(s, &req.h, "add the IPv6 default route", plan.net.ifname, 0);
    close(s);
}

/*
 * The plan's refused ranges (T_NET_REFUSE), as routes in the sandbox's own table: they hold
 * whatever becomes of the host's nftables table, and the command cannot remove them (it holds no
 * NET_ADMIN). After the default routes: the kernel checks a route's gateway when it is added,
 * and the gateway is one of the host's addresses, which are refused.
 */
static void refuse_ranges(void)
{
    int s = netlink_socket();
    for (size_t i = 0; i < plan.n_net_refuse; i++) {
        netlink_request req;
        int family = plan.net_refuse[i].family;
        /* The errors connect() then gives, as a reject rule's ICMP did: "No route to host", "Permission denied". */
        start_route(&req, family, family == AF_INET6 ? RTN_PROHIBIT : RTN_UNREACHABLE, plan.net_refuse[i].address,
                    plan.net_refuse[i].prefix);
        /* The same route twice (a host address in a refused range) is one. */
        netlink_call(s, &req.h, "add a refusing route", plan.net.ifname, EEXIST);
    }
    close(s);
}

/* The interface the JVM moved in: address, up, default route through the host's end. */
void interface_up(void)
{
    int s = inet_socket();
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, plan.net.ifname);
    set_inet(s, &ifr, SIOCSIFADDR, plan.net.addr, "address");
    set_inet(s, &ifr, SIOCSIFNETMASK, plan.net.netmask, "netmask");
    bring_up(s, &ifr);
    struct rtentry route;
    memset(&route, 0, sizeof route);
    struct sockaddr_in *gw = (struct sockaddr_in *)&route.rt_gateway, *dst = (struct sockaddr_in *)&route.rt_dst,
                       *mask = (struct sockaddr_in *)&route.rt_genmask;
    gw->sin_family = dst->sin_family = mask->sin_family = AF_INET;
    gw->sin_addr.s_addr = plan.net.gateway;
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    route.rt_dev = (char *)plan.net.ifname;
    if (ioctl(s, SIOCADDRT, &route) < 0)
        fail(S_NETWORK, errno, "add the default route via %s", plan.net.ifname);
    close(s);
    if (plan.net6.address) {
        unsigned int ifindex = if_nametoindex(plan.net.ifname);
        if (ifindex == 0)
            fail(S_NETWORK, errno, "index of %s", plan.net.ifname);
        interface6_up(ifindex);
    }
    refuse_ranges();
    refuse_link_local_by_rule();
    logd("Interface %s is up", plan.net.ifname);
}

static int open_ns(pid_t pid, const char *ns)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, ns);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fail(S_NETWORK, errno, "open %s", path);
    return fd;
}

/* Writes a setting of the host's end of the pair, below /proc/sys/net (the helper's network namespace is the host's). */
static void set_host_end(const char *family, const char *setting, const char *value)
{
    char path[128];
    snprintf(path, sizeof path, "/proc/sys/net/%s/conf/%s/%s", family, plan.veth.name, setting);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && !plan.net6.address && !strcmp(family, "ipv6"))
        return; /* a kernel without IPv6 */
    if (fd < 0)
        fail(S_NETWORK, errno, "open %s", path);
    if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
        fail(S_NETWORK, errno, "write %s to %s", value, path);
    close(fd);
}

/* Makes the veth pair: or, where a pair of that name exists and accept is EEXIST, none (EEXIST). */
static int new_pair(int s, int netns, int accept)
{
    netlink_request req;
    ((struct ifinfomsg *)start_request(&req, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, sizeof(struct ifinfomsg)))
        ->ifi_family = AF_UNSPEC;
    add_attr(&req.h, sizeof req, IFLA_IFNAME, plan.veth.name, strlen(plan.veth.name) + 1);
    struct rtattr *info = add_attr(&req.h, sizeof req, IFLA_LINKINFO, NULL, 0);
    add_attr(&req.h, sizeof req, IFLA_INFO_KIND, "veth", 5);
    struct rtattr *data = add_attr(&req.h, sizeof req, IFLA_INFO_DATA, NULL, 0);
    struct ifinfomsg peer_info = {.ifi_family = AF_UNSPEC};
    struct rtattr *peer = add_attr(&req.h, sizeof req, VETH_INFO_PEER, &peer_info, sizeof peer_info);
    add_attr(&req.h, sizeof req, IFLA_IFNAME, plan.net.ifname, strlen(plan.net.ifname) + 1);
    add_attr(&req.h, sizeof req, IFLA_NET_NS_FD, &netns, sizeof netns);
    end_nest(&req.h, peer);
    end_nest(&req.h, data);
    end_nest(&req.h, info);
    return netlink_call(s, &req.h, "make the veth pair", plan.veth.name, accept);
}

static void delete_link(int s, const char *name)
{
    netlink_request req;
    ((struct ifinfomsg *)start_request(&req, RTM_DELLINK, 0, sizeof(struct ifinfomsg)))->ifi_family = AF_UNSPEC;
    add_attr(&req.h, sizeof req, IFLA_IFNAME, name, strlen(name) + 1);
    netlink_call(s, &req.h, "remove the veth pair left by a sandbox that ended", name, ENODEV);
}

static void set_up(int s, unsigned int ifindex, const char *ifname)
{
    netlink_request req;
    struct ifinfomsg *ifi = start_request(&req, RTM_NEWLINK, 0, sizeof *ifi);
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = (int)ifindex;
    ifi->ifi_flags = IFF_UP;
    ifi->ifi_change = IFF_UP;
    netlink_call(s, &req.h, "bring up", ifname, 0);
}

/*
 * The pair of this address under its other name (the JVM names an isolated sandbox's ccn-<hex>,
 * another's ccn<hex>): an ended sandbox's too, whose JVM exited before the kernel removed it. It
 * holds the same addresses on the host, and its routes would win over the new pair's.
 */
static void delete_other_name(int s)
{
    const char *name = plan.veth.name;
    if (strncmp(name, "ccn", 3) != 0)
        return;
    char other[IFNAMSIZ];
    if (name[3] == '-')
        snprintf(other, sizeof other, "ccn%s", name + 4);
    else
        snprintf(other, sizeof other, "ccn-%s", name + 3);
    delete_link(s, other);
}

/*
 * A root caller's private network (T_VETH), by route netlink from the host's namespace: the pair,
 * its sandbox end made directly in init's namespace (init gives it its address); the host's end
 * with the gateway addresses, and up. The JVM's address lock says the name is this sandbox's: a
 * pair of that name is a sandbox's that ended, whose namespace the kernel is still tearing down.
 * No router advertisement from the sandbox may configure the host: its end takes none, set before
 * it is up, or has no IPv6 at all.
 */
void connect_veth(pid_t init)
{
    logd("Connecting the sandbox with the veth pair %s", plan.veth.name);
    int s = netlink_socket();
    int netns = open_ns(init, "net");
    delete_other_name(s);
    if (new_pair(s, netns, EEXIST) == EEXIST) {
        delete_link(s, plan.veth.name);
        new_pair(s, netns, 0);
    }
    close(netns);
    forget_previous_flows(); /* the old pairs gone: no packet of the old owner makes more */
    unsigned int ifindex = if_nametoindex(plan.veth.name);
    if (ifindex == 0)
        fail(S_NETWORK, errno, "index of %s", plan.veth.name);
    if (plan.net6.address) {
        set_host_end("ipv6", "accept_ra", "0");
        set_host_end("ipv6", "autoconf", "0");
    } else {
        set_host_end("ipv6", "disable_ipv6", "1");
    }
    /* Published loopback ports are translated to the sandbox's address; the kernel routes such packets out of
     * an interface only with this set on it. */
    if (plan.veth.flags & VETH_ROUTE_LOCALNET)
        set_host_end("ipv4", "route_localnet", "1");
    add_address(s, ifindex, plan.veth.name, AF_INET, &plan.net.gateway,
                (unsigned int)__builtin_popcount(plan.net.netmask));
    if (plan.net6.address) {
        struct in6_addr gateway;
        inet_pton(AF_INET6, plan.net6.gateway, &gateway); /* checked when the plan was read */
        add_address(s, ifindex, plan.veth.name, AF_INET6, &gateway, plan.net6.prefix);
    }
    set_up(s, ifindex, plan.veth.name);
    close(s);
}

/* Asked to kill (or the JVM is gone) before init was released: the sandbox ends there. */
__attribute__((noreturn)) static void give_up(pid_t init)
{
    kill(init, SIGKILL);
    int status = -1;
    while (waitpid(init, &status, 0) < 0 && errno == EINTR)
        ;
    emit(R_END, status);
    _exit(0);
}

/* The copy at target survives the exec (dup2 leaves O_CLOEXEC off). */
static void place_fd(int fd, int target)
{
    if (dup2(fd, target) < 0)
        _exit(127);
}

__attribute__((noreturn)) static void exec_net_helper(int ns_net, int ns_user, int ready_wr, int err_wr)
{
    /* Above the fds they are going to, so that no dup2 overwrites one still needed. */
    int fds[4] = {ns_net, ns_user, ready_wr, err_wr};
    for (int i = 0; i < 4; i++)
        if ((fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 10)) < 0)
            _exit(127);
    int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (devnull < 0)
        _exit(127);
    /* Never the sandbox's stdio: holding its pipes open would keep the JVM from seeing their end. */
    place_fd(devnull, 0);
    place_fd(devnull, 1);
    place_fd(fds[3], 2);
    place_fd(fds[0], 3);
    place_fd(fds[1], 4);
    place_fd(fds[2], 5);
    if (close_range(6, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        _exit(127);
    default_signals();
    execve(plan.net_helper[0], plan.net_helper, (char *[]){NULL});
    dprintf(2, "cannot execute %s: %s\n", plan.net_helper[0], strerror(errno));
    _exit(127);
}


/* The last line of text that is not pasta's complaint that it has no syslog to write to. */
static const char *last_line(char *text)
{
    const char *last = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n"))
        if (!strstr(line, "to syslog"))
            last = line;
    return last;
}

/* What a child printed, up to size - 1 bytes, NUL-terminated; what is past that is left unread. */
static void read_text(int fd, char *buf, size_t size)
{
    ssize_t m, got = 0;
    while (got < (ssize_t)size - 1 && (m = read(fd, buf + got, size - 1 - (size_t)got)) != 0) {
        if (m < 0 && errno == EINTR)
            continue;
        if (m < 0)
            break;
        got += m;
    }
    buf[got] = '\0';
}

/* The filter's nft, in the sandbox's user and network namespaces: CAP_NET_ADMIN there, kept across execve. */
__attribute__((noreturn)) static void exec_net_filter(int ns_user, int ns_net, int in_rd, int err_wr)
{
    if (setns(ns_user, CLONE_NEWUSER) < 0 || setns(ns_net, CLONE_NEWNET) < 0) {
        dprintf(err_wr, "cannot enter the sandbox's namespaces: %s\n", strerror(errno));
        _exit(127);
    }
    /* Entering the user namespace gave every capability in it; an uid that is not 0 there would lose them at execve. */
    struct __user_cap_header_struct header = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) < 0) {
        dprintf(err_wr, "capget: %s\n", strerror(errno));
        _exit(127);
    }
    data[CAP_TO_INDEX(CAP_NET_ADMIN)].inheritable |= CAP_TO_MASK(CAP_NET_ADMIN);
    if (syscall(SYS_capset, &header, data) < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_ADMIN, 0, 0) < 0) {
        dprintf(err_wr, "cannot keep CAP_NET_ADMIN for nft: %s\n", strerror(errno));
        _exit(127);
    }
    place_fd(in_rd, 0);
    place_fd(err_wr, 1);
    place_fd(err_wr, 2);
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
        _exit(127);
    default_signals();
    execve(plan.net_filter_tool, (char *[]){(char *)plan.net_filter_tool, "-f", "-", NULL}, (char *[]){NULL});
    dprintf(2, "cannot execute %s: %s\n", plan.net_filter_tool, strerror(errno));
    _exit(127);
}

/*
 * Has nft load rules into the sandbox's network namespace (ns_user and ns_net: the sandbox's user
 * and network namespaces): 0, or -1 with why it did not. An nft that hangs is killed.
 */
#define NET_FILTER_MS 20000
int run_nft(int ns_user, int ns_net, const char *rules, char *why, size_t size)
{
    int in[2] = {-1, -1}, err[2] = {-1, -1};
    pid_t parent = getpid(), pid = -1;
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
        snprintf(why, size, "cannot start %s: %s", plan.net_filter_tool, strerror(errno));
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0)
                close(in[i]);
            if (err[i] >= 0)
                close(err[i]);
        }
        return -1;
    }
    if (pid == 0) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
            _exit(127);
        exec_net_filter(ns_user, ns_net, in[0], err[1]);
    }
    close(in[0]);
    close(err[1]);
    /* nft reads all of its input before it says anything: no deadlock with its output. */
    size_t len = strlen(rules), done = 0;
    while (done < len) {
        ssize_t n = write(in[1], rules + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break; /* nft is gone: its status says why */
        done += (size_t)n;
    }
    close(in[1]);
    /* Its output ends when it does (a hang-up). */
    struct pollfd out = {.fd = err[0], .events = POLLIN};
    int ready;
    while ((ready = poll(&out, 1, NET_FILTER_MS)) < 0 && errno == EINTR)
        ;
    if (ready == 0)
        kill(pid, SIGKILL);
    char text[1024];
    read_text(err[0], text, sizeof text);
    close(err[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (ready == 0) {
        snprintf(why, size, "%s did not load the rules within %d ms", plan.net_filter_tool, NET_FILTER_MS);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    /* nft names the error on one line, then quotes the rules and points into them. */
    char *error = strstr(text, "Error: ");
    if (error) {
        while (error > text && error[-1] != '\n')
            error--;
        error[strcspn(error, "\n")] = '\0';
    }
    snprintf(why, size, "%s refused the rules (status %#x): %s", plan.net_filter_tool, status,
             error ? error : last_line(text));
    return -1;
}

/*
 * Loads the plan's packet filter (T_NET_FILTER) into the sandbox's network namespace, before init
 * is released: rules the command, which holds no NET_ADMIN, cannot change. With the host's
 * addresses in it (T_NET_FILTER_HOSTS), as they are now: the socket that hears of more (which keeps
 * the namespaces' fds to add them with), or -1. A failure ends the start.
 */
int load_net_filter(pid_t init)
{
    logd("Loading the network filter with %s", plan.net_filter_tool);
    /* Opened now, while init is still ours to look into: the command it becomes is not dumpable. */
    int ns_user = open_ns(init, "user"), ns_net = open_ns(init, "net");
    char why[1280];
    int watch = -1;
    if (plan.net_filter_hosts ? (watch = watch_host_addresses(ns_user, ns_net, plan.net_filter_rules, why,
                                                               sizeof why)) < 0
                              : run_nft(ns_user, ns_net, plan.net_filter_rules, why, sizeof why) < 0) {
        kill(init, SIGKILL);
        fail(S_NETWORK, 0, "cannot load the sandbox's network filter: %s", why);
    }
    if (watch >= 0 && !plan.net_filter_hosts_watch) {
        close(watch);
        watch = -1;
    }
    if (watch < 0) {
        close(ns_user);
        close(ns_net);
    }
    return watch;
}

/*
 * Starts the network helper and waits until it says it is ready; on failure reports its stderr.
 * A kill request or the JVM going away ends the wait, and so does a helper that hangs.
 */
#define NET_HELPER_READY_MS 20000
pid_t start_net_helper(int sock, pid_t init)
{
    int ns_net = open_ns(init, "net"), ns_user = open_ns(init, "user");
    int ready[2], err[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        fail(S_PIPE, errno, "network helper pipes");
    logd("Starting the network helper %s", plan.net_helper[0]);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        fail(S_FORK, errno, "start the network helper");
    if (pid == 0) {
        /* If we died before the death signal was armed, nobody would ever end it. */
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
            _exit(127);
        exec_net_helper(ns_net, ns_user, ready[1], err[1]);
    }
    close(ns_net);
    close(ns_user);
    close(ready[1]);
    close(err[1]);
    char buf[64];
    ssize_t n = -1;
    struct pollfd fds[2] = {{.fd = ready[0], .events = POLLIN}, {.fd = sock, .events = POLLIN}};
    int ready_now;
    while ((ready_now = poll(fds, 2, NET_HELPER_READY_MS)) < 0 && errno == EINTR)
        ;
    if (ready_now > 0 && fds[1].revents) {
        kill(pid, SIGKILL);
        give_up(init);
    }
    if (ready_now == 0) {
        kill(pid, SIGKILL);
        kill(init, SIGKILL);
        fail(S_NETWORK, ETIMEDOUT, "%s was not ready within %d ms", plan.net_helper[0], NET_HELPER_READY_MS);
    }
    while ((n = read(ready[0], buf, sizeof buf)) < 0 && errno == EINTR)
        ;
    close(ready[0]);
    if (n <= 0) {
        char why[1024];
        read_text(err[0], why, sizeof why);
        kill(pid, SIGKILL);
        kill(init, SIGKILL);
        fail(S_NETWORK, 0, "%s exited before the network was ready: %s", plan.net_helper[0], last_line(why));
    }
    close(err[0]);
    emit(R_NETHELPER, (int)pid);
    return pid;
}
