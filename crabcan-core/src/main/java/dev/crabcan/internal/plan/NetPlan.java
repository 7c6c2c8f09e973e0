package dev.crabcan.internal.plan;

import java.util.List;

/**
 * What the plan says about the sandbox's network.
 *
 * @param ownNamespace a new network namespace (false: the host's)
 * @param veth a veth pair the helper makes between the host and the namespace; null for none
 * @param iface an interface the JVM moves in, which init configures; null for none
 * @param resolvConf the text of a read-only /etc/resolv.conf, put there when that exists; null for none
 * @param helperCommand a user-mode network stack the helper runs for the sandbox (see the helper's
 *     T_NET_HELPER: the namespaces arrive as /proc/self/fd/3 and 4, it reports ready by writing
 *     its pid to /proc/self/fd/5); empty for none
 * @param filter nftables rules the helper loads into the namespace before the command runs; null
 *     for none
 */
public record NetPlan(boolean ownNamespace, HostEnd veth, Interface iface, String resolvConf,
        List<String> helperCommand, Filter filter) {
    /** Loopback only. */
    public static final NetPlan NONE = new NetPlan(true, null, null, null, List.of(), null);
    /** The host's network namespace. */
    public static final NetPlan HOST = new NetPlan(false, null, null, null, List.of(), null);

    public NetPlan {
        helperCommand = List.copyOf(helperCommand);
    }

    /**
     * An IPv4 interface with the default route through gateway; addresses as big-endian ints.
     *
     * @param ipv6 its IPv6 address and default route; null for none
     * @param refused ranges (CIDR) the sandbox refuses with routes of its own
     */
    public record Interface(String name, int address, int prefix, int gateway, Ipv6 ipv6, List<String> refused) {
        public Interface {
            refused = List.copyOf(refused);
        }
    }

    /** An IPv6 address (a literal) with its prefix length, and the default route through gateway. */
    public record Ipv6(String address, int prefix, String gateway) {}

    /**
     * The host's end of a veth pair, which holds the interface's gateway addresses; its other end
     * is the interface.
     *
     * @param routeLocalnet it routes packets from the host's loopback addresses (published loopback ports)
     */
    public record HostEnd(String name, boolean routeLocalnet) {}

    /**
     * nft (its path) and the rules it reads.
     *
     * @param hostSets the table (family and name) whose sets host4 and host6 the helper fills with
     *     the host's addresses as they are; null: none
     * @param watchHosts whether it adds those the host gains later as they come
     */
    public record Filter(String tool, String rules, String hostSets, boolean watchHosts) {}
}
