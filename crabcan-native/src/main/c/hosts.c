/*
 * The host's addresses, which a private sandbox that may not reach the host refuses
 * (T_NET_FILTER_HOSTS): those it has when the sandbox's filter is loaded, then each one it gains
 * while the sandbox lives. pasta carries a rootless sandbox's connections to whatever address the
 * host has, and hosts gain addresses all the time (DHCP, VPNs, a container engine's bridges); the
 * kernel announces each on the route netlink socket's address groups, which any user may hear.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

typedef struct {
    unsigned char family, bytes[16];
} address;

/*
 * Every address heard of, the first n_added of them in the sets, the rest still to add: the
 * kernel announces an IPv6 address again each time its lifetime is renewed.
 */
static address *known;
static size_t n_known, n_added, known_room;

/* The sandbox's user and network namespaces, which nft adds the addresses in. */
static int ns_user = -1, ns_net = -1;

/* The sequence number of the listing asked for last; 0 while none is under way. */
static uint32_t listing;
static int listing_wanted;

/*
 * Elements per nft run: in a user namespace other than the initial one the kernel takes no
 * transaction of 10000 (EMSGSIZE, seen on Linux 6.18), whatever the lines it is split into.
 */
#define ELEMENTS_PER_RUN 1000

/* Notes an address the kernel announced, unless it is known already or the sandbox's own view hides it. */
static int note(const struct nlmsghdr *n)
{
    if (n->nlmsg_type != RTM_NEWADDR || n->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifaddrmsg)))
        return 0;
    const struct ifaddrmsg *ifa = NLMSG_DATA(n);
    size_t size = ifa->ifa_family == AF_INET ? 4 : ifa->ifa_family == AF_INET6 ? 16 : 0;
    if (!size)
        return 0;
    /* IFA_LOCAL where there is a peer (IFA_ADDRESS is then the peer's), else IFA_ADDRESS. */
    const unsigned char *local = NULL, *any = NULL;
    int len = (int)IFA_PAYLOAD(n);
    for (const struct rtattr *a = IFA_RTA(ifa); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        if (RTA_PAYLOAD(a) != size)
            continue;
        if (a->rta_type == IFA_LOCAL)
            local = RTA_DATA(a);
        else if (a->rta_type == IFA_ADDRESS)
            any = RTA_DATA(a);
    }
    const unsigned char *bytes = local ? local : any;
    if (!bytes)
        return 0;
    /* Loopback is the sandbox's own; IPv6 link-local addresses are refused as a whole range. */
    static const unsigned char loopback6[16] = {[15] = 1};
    if (size == 4 ? bytes[0] == 127
                  : !memcmp(bytes, loopback6, 16) || (bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80))
        return 0;
    address a = {.family = ifa->ifa_family};
    memcpy(a.bytes, bytes, size);
    for (size_t i = 0; i < n_known; i++)
        if (!memcmp(&known[i], &a, sizeof a))
            return 0;
    if (n_known == known_room) {
        size_t room = known_room ? 2 * known_room : 32;
        address *more = realloc(known, room * sizeof *more);
        if (!more)
            return -1;
        known = more;
        known_room = room;
    }
    known[n_known++] = a;
    return 0;
}

/* Asks for a listing of every address: the kernel's answer goes through note like its announcements. */
static int ask_listing(int s)
{
    static uint32_t seq;
    struct {
        struct nlmsghdr h;
        struct ifaddrmsg ifa;
    } req = {.h = {.nlmsg_len = sizeof req, .nlmsg_type = RTM_GETADDR, .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
                   .nlmsg_seq = ++seq},
             .ifa = {.ifa_family = AF_UNSPEC}};
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(s, &req, sizeof req, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        return -1;
    listing = seq;
    listing_wanted = 0;
    return 0;
}

/*
 * Reads what the socket holds: where wait, until a listing ends with no announcement lost
 * meanwhile (else another one is asked for); else until nothing is left. Only the kernel's words
 * count: a process with CAP_NET_ADMIN may send to the socket. 0, or an errno.
 */
static int take(int s, int wait)
{
    static union {
        struct nlmsghdr h;
        char buf[32768];
    } m;
    for (;;) {
        if (listing_wanted && !listing && ask_listing(s) < 0)
            return errno;
        struct sockaddr_nl from;
        socklen_t from_len = sizeof from;
        ssize_t got = recvfrom(s, &m, sizeof m, wait ? 0 : MSG_DONTWAIT, (struct sockaddr *)&from, &from_len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && errno == EAGAIN)
            return 0;
        if (got < 0 && errno == ENOBUFS) {
            listing_wanted = 1; /* announcements were lost: list them all again */
            continue;
        }
        if (got < 0)
            return errno;
        if (from.nl_pid != 0)
            continue;
        int len = (int)got;
        for (struct nlmsghdr *n = &m.h; NLMSG_OK(n, len); n = NLMSG_NEXT(n, len)) {
            if (listing && n->nlmsg_seq == listing && n->nlmsg_type == NLMSG_ERROR)
                return -((struct nlmsgerr *)NLMSG_DATA(n))->error;
            if (listing && n->nlmsg_seq == listing && n->nlmsg_type == NLMSG_DONE) {
                listing = 0;
                if (wait && !listing_wanted)
                    return 0;
            } else if (note(n) < 0) {
                return ENOMEM;
            }
        }
    }
}

/* A text that grows. */
typedef struct {
    char *text;
    size_t len, room;
} buffer;

__attribute__((format(printf, 2, 3))) static int append(buffer *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->text ? b->text + b->len : NULL, b->text ? b->room - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0)
            return -1;
        if (b->text && b->len + (size_t)n < b->room) {
            b->len += (size_t)n;
            return 0;
        }
        size_t room = 2 * (b->room + (size_t)n + 1);
        char *more = realloc(b->text, room);
        if (!more)
            return -1;
        b->text = more;
        b->room = room;
    }
}

/* nft's commands that add known[from, to) to the sets, after rules (NULL: none); NULL without memory. */
static char *commands(const char *rules, size_t from, size_t to)
{
    static const char *const sets[2] = {"host4", "host6"};
    buffer b = {0};
    if (append(&b, "%s", rules ? rules : "") < 0)
        goto nomem;
    for (int set = 0; set < 2; set++) {
        int family = set ? AF_INET6 : AF_INET;
        size_t count = 0;
        for (size_t i = from; i < to; i++) {
            char text[INET6_ADDRSTRLEN];
            if (known[i].family != family)
                continue;
            inet_ntop(family, known[i].bytes, text, sizeof text);
            if ((count++ ? append(&b, ", %s", text)
                         : append(&b, "add element %s %s { %s", plan.net_filter_hosts, sets[set], text)) < 0)
                goto nomem;
        }
        if (count && append(&b, " }\n") < 0)
            goto nomem;
    }
    return b.text;
nomem:
    free(b.text);
    return NULL;
}

/*
 * Adds what is still to add to the sets, after rules (NULL: none; then nothing runs where nothing
 * is to add): 0, or -1 with why not.
 */
static int add_known(const char *rules, char *why, size_t size)
{
    while (rules || n_added < n_known) {
        size_t to = n_known - n_added > ELEMENTS_PER_RUN ? n_added + ELEMENTS_PER_RUN : n_known;
        char *adds = commands(rules, n_added, to);
        if (!adds) {
            snprintf(why, size, "out of memory");
            return -1;
        }
        int failed = run_nft(ns_user, ns_net, adds, why, size);
        if (!failed && to > n_added)
            logd("Refused the host's addresses: %s", rules ? adds + strlen(rules) : adds);
        free(adds);
        if (failed)
            return -1;
        n_added = to;
        rules = NULL;
    }
    return 0;
}

/*
 * Loads rules (the sandbox's filter) with the host's addresses in its sets: starts hearing of the
 * host's new addresses first, then lists those it has, so that nothing added in between is missed.
 * The socket, which the helper keeps while the sandbox lives, as it keeps the fds of the sandbox's
 * namespaces given here; -1 with why not.
 */
int watch_host_addresses(int sandbox_user, int sandbox_net, const char *rules, char *why, size_t size)
{
    ns_user = sandbox_user;
    ns_net = sandbox_net;
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0)
        fail(S_NETWORK, errno, "route netlink socket, which hears of the host's new addresses");
    /* Room for a burst of announcements (a host given thousands of addresses); where none is given, the default. */
    int room = 4 << 20;
    if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &room, sizeof room) < 0)
        setsockopt(s, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
    struct sockaddr_nl groups = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR};
    if (bind(s, (struct sockaddr *)&groups, sizeof groups) < 0)
        fail(S_NETWORK, errno, "hear of the host's new addresses");
    int err = ask_listing(s) < 0 ? errno : take(s, 1);
    if (err)
        fail(S_NETWORK, err, "list the host's addresses, which the sandbox may not reach");
    if (add_known(rules, why, size) < 0) {
        close(s);
        return -1;
    }
    return s;
}

/*
 * Adds the host's new addresses to the sandbox's sets. Where it cannot, the sandbox could reach
 * them: it is killed, and a FAIL line says why. 0, or -1 once the watch is over.
 */
int refuse_new_host_addresses(int s, pid_t init)
{
    int err = take(s, 0);
    char why[1280] = "";
    if (err)
        snprintf(why, sizeof why, "cannot hear of the host's new addresses: %s", strerror(err));
    else if (add_known(NULL, why, sizeof why) == 0)
        return 0;
    kill(init, SIGKILL);
    char detail[1536], escaped[3072];
    snprintf(detail, sizeof detail, "the sandbox was killed: the host gained an address it could not refuse (%s)",
             why);
    emit(R_FAIL, S_NETWORK, err, esc(detail, escaped, sizeof escaped));
    close(s);
    close(ns_user);
    close(ns_net);
    return -1;
}
