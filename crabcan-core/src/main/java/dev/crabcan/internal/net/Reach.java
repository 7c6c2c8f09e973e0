package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.internal.plan.NetPlan;
import java.net.Inet4Address;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.stream.Collectors;

/**
 * What a private sandbox may not open connections to: the host's own addresses, link-local
 * addresses and the IPv6 addresses clouds serve their metadata on, their multicast and broadcast
 * neighbours, and the other sandboxes, less what the network allows. An nftables table in the
 * sandbox's own network namespace, which the helper loads before the command runs (see the contract's T_NET_FILTER);
 * stateful, so that replies to connections from outside (published ports) still leave. The host's
 * addresses are the helper's to add to its sets (T_NET_FILTER_HOSTS): those the host has when the
 * filter is loaded, and those it gains while the sandbox lives, which pasta would carry a rootless
 * sandbox's connections to.
 */
final class Reach {
    static final List<Ipv4.Range> ALWAYS = List.of(Ipv4.Range.parse("169.254.0.0/16"),
            Ipv4.Range.parse("224.0.0.0/4"), Ipv4.Range.parse("255.255.255.255/32"));
    /**
     * Clouds serve IPv6 metadata on unique local addresses, which no scope rule catches: AWS on
     * fd00:ec2::254, GCP on fd20:ce::254.
     */
    static final List<String> ALWAYS6 = List.of("fe80::/10", "ff00::/8", "fd00:ec2::254/128", "fd20:ce::254/128");
    /** What IPv6 needs of refused addresses: finding neighbours (the gateway too) and joining multicast groups. */
    private static final String NEIGHBOURS = "{ nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, "
            + "mld-listener-report, mld2-listener-report }";

    /** The table of a sandbox's filter, whose sets host4 and host6 the helper fills with the host's addresses. */
    private static final String TABLE = "inet crabcan";

    private Reach() {}

    /**
     * The filter for a sandbox.
     *
     * @param sandboxes a root caller's subnet, the other sandboxes' and the host ends of their veth
     *     pairs; null for pasta, whose sandboxes share the host's address
     * @param gateway the host end of a root caller's veth pair, the host as the sandbox sees it
     * @param gateway6 that end's IPv6 address; null for pasta's sandboxes and those without IPv6
     */
    static NetPlan.Filter filter(Network network, Ipv4.Range sandboxes, int gateway, String gateway6)
            throws SandboxSetupException {
        Path nft = HostCommand.require("nft", "nftables", "a private network's filter");
        List<Ipv4.Range> refused = new ArrayList<>(ALWAYS);
        List<String> refused6 = new ArrayList<>(ALWAYS6);
        if (sandboxes != null) {
            refused.add(sandboxes);
            refused6.add(network.subnet6());
        }
        List<Ipv4.Range> outer = outermost(refused);
        StringBuilder rules = new StringBuilder("table " + TABLE + " {\n");
        if (!network.hostAllowed()) {
            rules.append("  set host4 { type ipv4_addr; }\n  set host6 { type ipv6_addr; }\n");
        }
        rules.append("  chain output {\n")
                .append("    type filter hook output priority filter; policy accept;\n")
                // The sandbox's own addresses: pasta gives it the host's.
                .append("    fib daddr type local accept\n");
        List<String> allowed = new ArrayList<>(network.allowed().stream().filter(r -> !r.contains(":")).toList());
        List<String> allowed6 = new ArrayList<>(network.allowed().stream().filter(r -> r.contains(":")).toList());
        if (network.hostAllowed() && sandboxes != null) {
            allowed.add(Ipv4.format(gateway));
            if (gateway6 != null) {
                allowed6.add(gateway6);
            }
        }
        if (!allowed.isEmpty()) {
            rules.append("    ip daddr { ").append(String.join(", ", allowed)).append(" } accept\n");
        }
        if (!allowed6.isEmpty()) {
            rules.append("    ip6 daddr { ").append(String.join(", ", allowed6)).append(" } accept\n");
        }
        if (!network.hostAllowed()) {
            // Before the established flows: a connection opened in the moment between the host's gaining an
            // address and the helper's adding it to the set (an attack review held one open that way) is
            // cut at its next packet, TCP with a reset.
            for (String family : List.of("ip", "ip6")) {
                String set = family.equals("ip") ? "@host4" : "@host6";
                rules.append("    ct direction original ").append(family).append(" daddr ").append(set)
                        .append(" ct state established meta l4proto tcp reject with tcp reset\n");
                refusal(rules, family, "ct direction original " + family + " daddr " + set);
            }
        }
        rules.append("    ct state established,related accept\n");
        refusal(rules, "ip", "ip daddr { " + outer.stream().map(Ipv4.Range::toString).collect(Collectors.joining(", "))
                + " }");
        refusal(rules, "ip6", "ip6 daddr { " + String.join(", ", refused6) + " }");
        rules.append("  }\n}\n");
        // A root caller's sandbox (sandboxes not null): the shared table's input hook refuses the host's later addresses.
        return new NetPlan.Filter(nft.toString(), rules.toString(), network.hostAllowed() ? null : TABLE,
                !network.hostAllowed() && sandboxes == null);
    }

    /** Refuses what match matches, but for IPv6 the neighbour discovery and group joining that IPv6 needs of it. */
    private static void refusal(StringBuilder rules, String family, String match) {
        if (family.equals("ip")) {
            rules.append("    ").append(match).append(" reject with icmpx type admin-prohibited\n");
        } else {
            rules.append("    ").append(match).append(" meta l4proto != ipv6-icmp reject with icmpx type admin-prohibited\n")
                    .append("    ").append(match).append(" icmpv6 type != ").append(NEIGHBOURS)
                    .append(" reject with icmpx type admin-prohibited\n");
        }
    }

    /**
     * What a sandbox the shared table isolates (a root caller's that allows neither the host nor
     * any range) refuses itself with unreachable (IPv4) and prohibit (IPv6) routes in its own
     * namespace, which init adds without a process and which hold should the table go: the
     * ranges the table refuses it and, unless it publishes ports, the other sandboxes, the host's
     * addresses as they are at its start and its own gateway. A route is stateless: a sandbox that
     * publishes ports answers clients at host addresses (the host end's, where the host's loopback
     * clients are translated to it) and in other sandboxes (allowHost() lets those reach its ports),
     * which the table's replies-only rule lets through. A kernel route more specific than one of
     * them (fe80::/64 on eth0, IPv6 multicast in the local table) is left to the table.
     *
     * @param closed whether the sandbox publishes no ports
     * @param subnet6 the sandboxes' IPv6 range; null where the sandbox has no IPv6 (then no IPv6 routes)
     * @param gateway the host end of the sandbox's pair, a host address that is not there yet when the plan is made
     * @param gateway6 its IPv6 address; null where the sandbox has no IPv6
     */
    static List<String> refusedRoutes(boolean closed, Ipv4.Range sandboxes, String subnet6, int gateway,
            String gateway6) throws SandboxSetupException {
        List<Ipv4.Range> refused = new ArrayList<>(ALWAYS);
        List<String> out = new ArrayList<>();
        List<String> refused6 = new ArrayList<>();
        if (subnet6 != null) {
            refused6.addAll(ALWAYS6);
        }
        if (closed) {
            refused.add(sandboxes);
            refused.add(new Ipv4.Range(gateway, 32));
            if (subnet6 != null) {
                refused6.add(subnet6);
                refused6.add(gateway6 + "/128");
            }
            for (InetAddress a : hostAddresses()) {
                if (a instanceof Inet4Address) {
                    refused.add(new Ipv4.Range(java.nio.ByteBuffer.wrap(a.getAddress()).getInt(), 32));
                } else if (subnet6 != null && !a.isLinkLocalAddress()) {
                    refused6.add(a.getHostAddress().replaceFirst("%.*", "") + "/128");
                }
            }
        }
        // Not only the outermost: the gateway is in the sandbox's own /30, whose route is more specific than the subnet's.
        for (Ipv4.Range r : refused) {
            if (!out.contains(r.toString())) {
                out.add(r.toString());
            }
        }
        refused6.stream().distinct().forEach(out::add);
        return out;
    }

    /** The ranges none of the others contains: an interval set refuses overlapping elements. */
    private static List<Ipv4.Range> outermost(List<Ipv4.Range> ranges) {
        return ranges.stream().distinct()
                .filter(r -> ranges.stream().noneMatch(o -> !o.equals(r) && o.contains(r))).toList();
    }

    /** The host's addresses but its loopback, which a sandbox's own loopback hides anyway. */
    private static List<InetAddress> hostAddresses() throws SandboxSetupException {
        List<InetAddress> out = new ArrayList<>();
        try {
            for (NetworkInterface i : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                for (InetAddress a : Collections.list(i.getInetAddresses())) {
                    if (!a.isLoopbackAddress() && (a instanceof Inet4Address || a instanceof Inet6Address)) {
                        out.add(a);
                    }
                }
            }
        } catch (SocketException e) {
            throw new SandboxSetupException("network", 0, "cannot list the host's addresses, which a private sandbox "
                    + "must not reach: " + e.getMessage());
        }
        return out;
    }
}
