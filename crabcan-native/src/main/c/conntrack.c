/*
 * What the host's connection tracking remembers of a sandbox address's previous owner. The
 * address (the sandbox's end of its /30, and its IPv6 one) passes from an ended sandbox to the
 * next while the kernel keeps their flows for minutes, each packet keeping its flow alive: a
 * client's UDP flow to the old owner's published port would be translated to the new owner, and
 * the new owner could go on with a flow the old one had with the host (the host's input chain lets
 * established flows pass). They are deleted before the new pair exists, when no packet of the
 * address can make more.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helper.h"

/* The kernel's CTA_FILTER_F_CTA_IP_SRC (net/netfilter/nf_conntrack_netlink.c), which no uapi header names. */
#define FILTER_IP_SRC 1u

/* Flows deleted per dump; a dump that found more is made again. */
#define BATCH 64

/* One flow's identity as a dump gave it: its CTA_TUPLE_ORIG, CTA_ZONE and CTA_ID attributes. */
typedef struct {
    size_t len;
    char attrs[256];
} flow;

typedef union { struct nlmsghdr h; char buf[512]; } ct_request;

static struct nfgenmsg *start_ct(ct_request *req, unsigned short type, unsigned short flags, int family)
{
    memset(req, 0, sizeof *req);
    req->h.nlmsg_len = (uint32_t)NLMSG_LENGTH(sizeof(struct nfgenmsg));
    req->h.nlmsg_type = (unsigned short)(NFNL_SUBSYS_CTNETLINK << 8 | type);
    req->h.nlmsg_flags = NLM_F_REQUEST | flags;
    struct nfgenmsg *g = NLMSG_DATA(&req->h);
    g->nfgen_family = (uint8_t)family;
    g->version = NFNETLINK_V0;
    return g;
}

static void send_ct(int s, struct nlmsghdr *n, const char *what)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    if (sendto(s, n, n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0)
        fail(S_NETWORK, errno, "%s (connection tracking)", what);
}

/* The kernel's answer to a request that asked for an acknowledgement: 0 or its errno. */
static int ct_ack(int s, const char *what)
{
    union { struct nlmsghdr h; char buf[1024]; } reply;
    ssize_t got;
    while ((got = recv(s, &reply, sizeof reply, 0)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        fail(S_NETWORK, errno, "%s (connection tracking): no answer from the kernel", what);
    if (got < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || reply.h.nlmsg_type != NLMSG_ERROR)
        fail(S_NETWORK, EPROTO, "%s (connection tracking): unexpected answer from the kernel", what);
    return -((struct nlmsgerr *)NLMSG_DATA(&reply.h))->error;
}

/* Keeps what deleting the flow in message n needs; false where it has not all of it. */
static int remember(struct nlmsghdr *n, flow *f)
{
    int len = (int)NLMSG_PAYLOAD(n, sizeof(struct nfgenmsg));
    f->len = 0;
    int tuple = 0;
    for (struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(n) + NLMSG_ALIGN(sizeof(struct nfgenmsg)));
         RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        unsigned short type = a->rta_type & NLA_TYPE_MASK;
        if (type != CTA_TUPLE_ORIG && type != CTA_ZONE && type != CTA_ID)
            continue;
        if (f->len + RTA_ALIGN(a->rta_len) > sizeof f->attrs)
            return 0;
        memcpy(f->attrs + f->len, a, a->rta_len);
        f->len += RTA_ALIGN(a->rta_len);
        tuple |= type == CTA_TUPLE_ORIG;
    }
    return tuple;
}

/*
 * Dumps the flows of family whose tuple in direction (CTA_TUPLE_ORIG or CTA_TUPLE_REPLY) has the
 * source address, the kernel filtering them, into flows (at most BATCH); returns how many it found,
 * which may be more. 0 also where the host has no connection tracking to ask.
 */
static int dump(int s, int family, unsigned short direction, const void *address, size_t size, flow *flows,
                int *kept)
{
    ct_request req;
    start_ct(&req, IPCTNL_MSG_CT_GET, NLM_F_DUMP, family);
    struct rtattr *tuple = add_attr(&req.h, sizeof req, direction | NLA_F_NESTED, NULL, 0);
    struct rtattr *ip = add_attr(&req.h, sizeof req, CTA_TUPLE_IP | NLA_F_NESTED, NULL, 0);
    add_attr(&req.h, sizeof req, family == AF_INET ? CTA_IP_V4_SRC : CTA_IP_V6_SRC, address, size);
    end_nest(&req.h, ip);
    end_nest(&req.h, tuple);
    struct rtattr *filter = add_attr(&req.h, sizeof req, CTA_FILTER | NLA_F_NESTED, NULL, 0);
    uint32_t flags = FILTER_IP_SRC;
    add_attr(&req.h, sizeof req, direction == CTA_TUPLE_ORIG ? CTA_FILTER_ORIG_FLAGS : CTA_FILTER_REPLY_FLAGS,
             &flags, sizeof flags);
    end_nest(&req.h, filter);
    send_ct(s, &req.h, "list the flows of the sandbox's address");
    int found = 0;
    *kept = 0;
    static union { struct nlmsghdr h; char buf[32768]; } reply;
    for (;;) {
        ssize_t got;
        while ((got = recv(s, &reply, sizeof reply, 0)) < 0 && errno == EINTR)
            ;
        if (got < 0)
            fail(S_NETWORK, errno, "list the flows of the sandbox's address (connection tracking)");
        int len = (int)got;
        for (struct nlmsghdr *n = &reply.h; NLMSG_OK(n, len); n = NLMSG_NEXT(n, len)) {
            if (n->nlmsg_type == NLMSG_DONE)
                return found;
            if (n->nlmsg_type == NLMSG_ERROR) {
                int error = -((struct nlmsgerr *)NLMSG_DATA(n))->error;
                /* No ctnetlink in this kernel, nor a module of it to load: nothing of the host's to ask. */
                if (error == EOPNOTSUPP && found == 0) {
                    logd("The host's connection tracking cannot be listed (%s): no flows to forget",
                         strerror(error));
                    return 0;
                }
                fail(S_NETWORK, error, "list the flows of the sandbox's address (connection tracking)");
            }
            found++;
            if (*kept < BATCH && remember(n, &flows[*kept]))
                (*kept)++;
        }
    }
}

static void forget(int s, int family, const flow *f)
{
    ct_request req;
    start_ct(&req, IPCTNL_MSG_CT_DELETE, NLM_F_ACK, family);
    size_t at = NLMSG_ALIGN(req.h.nlmsg_len);
    if (at + f->len > sizeof req)
        fail(S_NETWORK, E2BIG, "forget a flow of the sandbox's address (connection tracking)");
    memcpy(req.buf + at, f->attrs, f->len);
    req.h.nlmsg_len = (uint32_t)(at + f->len);
    send_ct(s, &req.h, "forget a flow of the sandbox's address");
    int error = ct_ack(s, "forget a flow of the sandbox's address");
    if (error != 0 && error != ENOENT) /* ENOENT: it ended meanwhile */
        fail(S_NETWORK, error, "forget a flow of the sandbox's address (connection tracking)");
}

/* Every flow whose original or reply tuple comes from the address. */
static void forget_address(int s, int family, const void *address, size_t size)
{
    static flow flows[BATCH];
    const unsigned short directions[] = {CTA_TUPLE_ORIG, CTA_TUPLE_REPLY};
    for (size_t d = 0; d < 2; d++) {
        int found, kept;
        /* More than a batch: again, for what the batch left; the address has no interface to make more. */
        for (int round = 0; (found = dump(s, family, directions[d], address, size, flows, &kept)) > 0; round++) {
            if (kept == 0 || round == 1000)
                fail(S_NETWORK, EAGAIN, "forget the %d flows of the sandbox's address (connection tracking)",
                     found);
            for (int i = 0; i < kept; i++)
                forget(s, family, &flows[i]);
            if (found <= kept)
                break;
        }
    }
}

void forget_previous_flows(void)
{
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    if (s < 0) {
        if (errno == EPROTONOSUPPORT) { /* no netfilter netlink: no connection tracking to ask */
            logd("No netfilter netlink on this host: no flows to forget");
            return;
        }
        fail(S_NETWORK, errno, "netfilter netlink socket");
    }
    uint32_t address = plan.net.addr;
    forget_address(s, AF_INET, &address, sizeof address);
    if (plan.net6.address) {
        struct in6_addr address6;
        inet_pton(AF_INET6, plan.net6.address, &address6); /* checked when the plan was read */
        forget_address(s, AF_INET6, &address6, sizeof address6);
    }
    close(s);
}
