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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

typedef struct {
    unsigned char family, bytes[16];
} address;

/* The addresses already refused: the kernel announces an IPv6 address again each time its lifetime is renewed. */
static address *refused;
static size_t n_refused, refused_room;

/* The sandbox's user and network namespaces, which nft adds the addresses in. */
static int ns_user = -1, ns_net = -1;

/* The sequence number of the listing asked for last; 0 while none is under way. */
static uint32_t listing;
static int listing_wanted;

/* The elements found to add to one set, comma-separated. */
typedef struct {
    char *text;
    size_t len, room;
} list;

typedef struct {
    list v4, v6;
} found;

static int add_word(list *l, const char *word)
{
    size_t need = l->len + strlen(word) + 3;
    if (need > l->room) {
        size_t room = need > 2 * l->room ? need : 2 * l->room;
        char *more = realloc(l->text, room);
        if (!more)
            return -1;
        l->text = more;
        l->room = room;
    }
    l->len += (size_t)sprintf(l->text + l->len, "%s%s", l->len ? ", " : "", word);
    return 0;
}

/* Notes an address the kernel announced, unless it is refused already or the sandbox's own view hides it. */
static int note(const struct nlmsghdr *n, found *f)
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
    for (size_t i = 0; i < n_refused; i++)
        if (!memcmp(&refused[i], &a, sizeof a))
            return 0;
    if (n_refused == refused_room) {
        size_t room = refused_room ? 2 * refused_room : 32;
        address *more = realloc(refused, room * sizeof *more);
        if (!more)
            return -1;
        refused = more;
        refused_room = room;
    }
    char text[INET6_ADDRSTRLEN];
    inet_ntop(a.family, a.bytes, text, sizeof text);
    if (add_word(size == 4 ? &f->v4 : &f->v6, text) < 0)
        return -1;
    refused[n_refused++] = a; /* only once it is on its way into the sets */
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
 * Reads what the socket holds: until the listing under way ends where wait, else until nothing
 * is left. Only the kernel's words count: any process may send to the socket. 0, or an errno.
 */
static int take(int s, found *f, int wait)
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
                if (wait)
                    return 0;
            } else if (note(n, f) < 0) {
                return ENOMEM;
            }
        }
    }
}

/* nft's commands that add what was found to the sets, which it empties; NULL where nothing was, or where *err is set. */
static char *commands(found *f, int *err)
{
    static const char *const sets[2] = {"host4", "host6"};
    list *lists[2] = {&f->v4, &f->v6};
    char *out = NULL;
    for (int i = 0; i < 2; i++) {
        char *more;
        if (lists[i]->len && !*err) {
            if (asprintf(&more, "%sadd element %s %s { %s }\n", out ? out : "", plan.net_filter_hosts, sets[i],
                         lists[i]->text) < 0) {
                *err = ENOMEM;
            } else {
                free(out);
                out = more;
            }
        }
        free(lists[i]->text);
        *lists[i] = (list){0};
    }
    if (*err) {
        free(out);
        return NULL;
    }
    return out;
}

/*
 * Starts hearing of the host's new addresses, then lists those it has: nothing added in between
 * is missed. *adds: nft's commands that add them to the sets. The socket, which the helper keeps
 * while the sandbox lives, as it keeps the fds of the sandbox's namespaces given here.
 */
int watch_host_addresses(int sandbox_user, int sandbox_net, char **adds)
{
    ns_user = sandbox_user;
    ns_net = sandbox_net;
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (s < 0)
        fail(S_NETWORK, errno, "route netlink socket, which hears of the host's new addresses");
    struct sockaddr_nl groups = {.nl_family = AF_NETLINK, .nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR};
    if (bind(s, (struct sockaddr *)&groups, sizeof groups) < 0)
        fail(S_NETWORK, errno, "hear of the host's new addresses");
    found f = {0};
    int err = ask_listing(s) < 0 ? errno : take(s, &f, 1);
    *adds = commands(&f, &err);
    if (err)
        fail(S_NETWORK, err, "list the host's addresses, which the sandbox may not reach");
    return s;
}

/*
 * Adds the host's new addresses to the sandbox's sets. Where it cannot, the sandbox could reach
 * them: it is killed, and a FAIL line says why. 0, or -1 once the watch is over.
 */
int refuse_new_host_addresses(int s, pid_t init)
{
    found f = {0};
    int err = take(s, &f, 0);
    char *adds = commands(&f, &err);
    char why[1280] = "";
    if (err)
        snprintf(why, sizeof why, "cannot hear of the host's new addresses: %s", strerror(err));
    else if (adds && run_nft(ns_user, ns_net, adds, why, sizeof why) == 0)
        logd("Refused the host's new addresses: %s", adds);
    free(adds);
    if (!why[0])
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
