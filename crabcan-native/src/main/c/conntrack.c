/*
 * What the host's connection tracking remembers of a sandbox address's previous owner. The
 * addresses of a /30 (and its IPv6 /126) pass from an ended sandbox to the next while the kernel
 * keeps their flows for minutes, each packet keeping its flow alive: a client's UDP flow to the
 * old owner's published port would be translated to the new owner, and the new owner could go on
 * with a flow the old one had with the host (the host's input chain lets established flows pass).
 * They are deleted once the old pair is gone and before the new one is up.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

/* The sandbox's range in one family: its /30 or its /126 (bits 0: none). */
typedef struct {
    int family;
    unsigned char prefix[16];
    unsigned int bits;
} range;

/* What deleting the flows found needs, one record after another: a header, then the attributes. */
typedef struct {
    uint16_t len, family;
} record_head;

typedef struct {
    char *data;
    size_t len, cap;
} pending;

typedef union { struct nlmsghdr h; char buf[512]; } ct_request;

static void start_ct(ct_request *req, unsigned short type, unsigned short flags, int family)
{
    memset(req, 0, sizeof *req);
    req->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(struct nfgenmsg));
    req->h.nlmsg_type = (unsigned short)(NFNL_SUBSYS_CTNETLINK << 8 | type);
    req->h.nlmsg_flags = NLM_F_REQUEST | flags;
    struct nfgenmsg *g = NLMSG_DATA(&req->h);
    g->nfgen_family = (uint8_t)family;
    g->version = NFNETLINK_V0;
}

static void send_ct(int s, struct nlmsghdr *n, const char *what)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(s, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        fail(S_NETWORK, errno, "%s (connection tracking)", what);
}

/* One datagram from the kernel into buf; a longer one than buf is an error, not a cut. */
static int receive(int s, void *buf, size_t size, const char *what)
{
    ssize_t got;
    while ((got = recv(s, buf, size, MSG_TRUNC)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        fail(S_NETWORK, errno, "%s (connection tracking)", what);
    if (got == 0 || (size_t)got > size)
        fail(S_NETWORK, EPROTO, "%s (connection tracking): %s answer from the kernel", what,
             got == 0 ? "no" : "too long an");
    return (int)got;
}

static struct rtattr *find_attr(struct rtattr *a, int len, unsigned short type)
{
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len))
        if ((a->rta_type & NLA_TYPE_MASK) == type)
            return a;
    return NULL;
}

/* Whether the tuple (a CTA_TUPLE_ORIG or CTA_TUPLE_REPLY) has its source in r. */
static int source_in(struct rtattr *tuple, const range *r)
{
    struct rtattr *ip = find_attr(RTA_DATA(tuple), (int)RTA_PAYLOAD(tuple), CTA_TUPLE_IP);
    if (!ip)
        return 0;
    size_t size = r->family == AF_INET ? 4 : 16;
    struct rtattr *src = find_attr(RTA_DATA(ip), (int)RTA_PAYLOAD(ip), r->family == AF_INET ? CTA_IP_V4_SRC
                                                                                           : CTA_IP_V6_SRC);
    if (!src || RTA_PAYLOAD(src) != size)
        return 0;
    const unsigned char *a = RTA_DATA(src);
    unsigned int whole = r->bits / 8, rest = r->bits % 8;
    return memcmp(a, r->prefix, whole) == 0
           && (rest == 0 || ((a[whole] ^ r->prefix[whole]) & (0xff << (8 - rest)) & 0xff) == 0);
}

/* Keeps the flow of message n for deleting, where its original or reply direction comes from its family's range. */
static void keep_if_from(struct nlmsghdr *n, const range ranges[2], pending *p)
{
    int family = ((struct nfgenmsg *)NLMSG_DATA(n))->nfgen_family;
    const range *r = family == AF_INET ? &ranges[0] : family == AF_INET6 ? &ranges[1] : NULL;
    if (!r || r->bits == 0)
        return;
    struct rtattr *attrs = (struct rtattr *)((char *)NLMSG_DATA(n) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
    int len = (int)NLMSG_PAYLOAD(n, sizeof(struct nfgenmsg));
    struct rtattr *orig = find_attr(attrs, len, CTA_TUPLE_ORIG), *reply = find_attr(attrs, len, CTA_TUPLE_REPLY);
    if (!orig || !((reply && source_in(reply, r)) || source_in(orig, r)))
        return;
    const unsigned short keep[] = {CTA_TUPLE_ORIG, CTA_ZONE, CTA_ID};
    size_t need = sizeof(record_head);
    for (size_t i = 0; i < 3; i++) {
        struct rtattr *a = find_attr(attrs, len, keep[i]);
        need += a ? RTA_ALIGN(a->rta_len) : 0;
    }
    if (p->len + need > p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 16384;
        while (cap < p->len + need)
            cap *= 2;
        char *more = realloc(p->data, cap);
        if (!more)
            fail(S_NETWORK, ENOMEM, "keep the flows of the sandbox's addresses (connection tracking)");
        p->data = more;
        p->cap = cap;
    }
    record_head head = {(uint16_t)(need - sizeof head), (uint16_t)family};
    memcpy(p->data + p->len, &head, sizeof head);
    p->len += sizeof head;
    for (size_t i = 0; i < 3; i++) {
        struct rtattr *a = find_attr(attrs, len, keep[i]);
        if (a) {
            memcpy(p->data + p->len, a, a->rta_len);
            p->len += RTA_ALIGN(a->rta_len);
        }
    }
}

/*
 * Lists every flow (both families: one walk of the kernel's table, which is what a listing costs,
 * filtered or not) and keeps those from the ranges in p. The kernel's filter is not used: for IPv6
 * its source test is inverted (in every kernel since it came, 5.8, to 6.18 at least: it lists the
 * flows of every other address). 0, or ENODEV / EOPNOTSUPP where the kernel has no connection
 * tracking netlink to ask.
 */
static int list(int s, const range ranges[2], pending *p)
{
    ct_request req;
    start_ct(&req, IPCTNL_MSG_CT_GET, NLM_F_DUMP, AF_UNSPEC);
    send_ct(s, &req.h, "list the flows of the sandbox's addresses");
    static union { struct nlmsghdr h; char buf[65536]; } reply;
    for (;;) {
        int len = receive(s, &reply, sizeof reply, "list the flows of the sandbox's addresses");
        for (struct nlmsghdr *n = &reply.h; NLMSG_OK(n, len); n = NLMSG_NEXT(n, len)) {
            if (n->nlmsg_type == NLMSG_DONE)
                return 0;
            if (n->nlmsg_type == NLMSG_ERROR) {
                int error = -((struct nlmsgerr *)NLMSG_DATA(n))->error;
                if (error == ENODEV || error == EOPNOTSUPP)
                    return error;
                fail(S_NETWORK, error, "list the flows of the sandbox's addresses (connection tracking)");
            }
            keep_if_from(n, ranges, p);
        }
    }
}

static void forget(int s, const pending *p)
{
    union { struct nlmsghdr h; char buf[1024]; } answer;
    for (size_t at = 0; at < p->len;) {
        record_head head;
        memcpy(&head, p->data + at, sizeof head);
        at += sizeof head;
        ct_request req;
        start_ct(&req, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, head.family);
        size_t start = NLMSG_ALIGN(req.h.nlmsg_len);
        if (start + head.len > sizeof req)
            fail(S_NETWORK, E2BIG, "forget a flow of the sandbox's addresses (connection tracking)");
        memcpy(req.buf + start, p->data + at, head.len);
        req.h.nlmsg_len = (uint32_t)(start + head.len);
        at += head.len;
        send_ct(s, &req.h, "forget a flow of the sandbox's addresses");
        int len = receive(s, &answer, sizeof answer, "forget a flow of the sandbox's addresses");
        if (len < (int)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || answer.h.nlmsg_type != NLMSG_ERROR)
            fail(S_NETWORK, EPROTO, "forget a flow of the sandbox's addresses (connection tracking): unexpected answer");
        int error = -((struct nlmsgerr *)NLMSG_DATA(&answer.h))->error;
        if (error != 0 && error != ENOENT) /* ENOENT: it ended meanwhile */
            fail(S_NETWORK, error, "forget a flow of the sandbox's addresses (connection tracking)");
    }
}

/*
 * Whether the host's connection tracking holds any flow (a listing walks every bucket of its table,
 * 262144 here, a few milliseconds, for nothing where there is none); 1 where that cannot be read.
 */
static int any_flow(void)
{
    int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 1;
    char count[32];
    ssize_t n = read(fd, count, sizeof count - 1);
    close(fd);
    return n <= 0 || count[0] != '0' || (n > 1 && count[1] != '\n');
}

/*
 * Every flow whose original or reply direction comes from the sandbox's /30 or /126, listed in one
 * pass and then deleted: the whole ranges, whatever a sandbox bound with IPV6_FREEBIND to another
 * address of its /126 (an attack review did; IPv4 refuses it).
 */
void forget_previous_flows(void)
{
    if (!any_flow())
        return;
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (s < 0 && errno != EPROTONOSUPPORT)
        fail(S_NETWORK, errno, "netfilter netlink socket");
    range ranges[2] = {{.family = AF_INET, .bits = 30}, {.family = AF_INET6}};
    uint32_t net = plan.net.addr & htonl(0xfffffffcu);
    memcpy(ranges[0].prefix, &net, 4);
    if (plan.net6.address) {
        inet_pton(AF_INET6, plan.net6.address, ranges[1].prefix); /* checked when the plan was read */
        ranges[1].prefix[15] &= 0xfc;
        ranges[1].bits = 126;
    }
    pending p = {0};
    int unavailable = s < 0 ? EPROTONOSUPPORT : list(s, ranges, &p);
    if (unavailable)
        logd("The host's connection tracking cannot be listed (%s): the flows of the sandbox's addresses' previous "
             "owner stay", strerror(unavailable));
    else
        forget(s, &p);
    free(p.data);
    if (s >= 0)
        close(s);
}
