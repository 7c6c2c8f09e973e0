package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.plan.NetPlan;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * A rootless caller's private network: pasta (Debian package passt), a user-mode TCP/IP stack
 * that joins the sandbox's user and network namespaces, configures eth0 with the host's address
 * and routes, and carries the sandbox's traffic through ordinary sockets of the caller.
 *
 * <p>The sandbox helper runs it in the foreground as its child (pasta would otherwise outlive the
 * sandbox: its reference keeps the namespace alive), and it dies with the sandbox or the helper.
 */
final class Pasta {
    private static final Path TUN = Path.of("/dev/net/tun");

    private Pasta() {}

    static NetworkSetup prepare(Network network) throws SandboxSetupException {
        Path pasta = HostCommand.require("pasta", "passt", "a private network for a rootless caller");
        if (!Files.isReadable(TUN) || !Files.isWritable(TUN)) {
            throw new SandboxSetupException("network", 13, "a private network for a rootless caller needs " + TUN
                    + ", which this user cannot open (Debian's default is mode 0666); make it usable, or run as root "
                    + "for a veth network");
        }
        // IPv6 too where the host has it (pasta copies the host's address and routes, and goes without where there are none).
        List<String> argv = new java.util.ArrayList<>(List.of(pasta.toString(), "--foreground", "--quiet",
                "--config-net", "--ns-ifname", "eth0", "--netns", "/proc/self/fd/3",
                "--userns", "/proc/self/fd/4", "--pid", "/proc/self/fd/5",
                // Nothing of the host's loopback, nor the gateway standing in for it: only what is published.
                "--no-map-gw", "--tcp-ns", "none", "--udp-ns", "none"));
        argv.addAll(forwards(network, Network.Protocol.UDP, "--udp-ports"));
        argv.addAll(forwards(network, Network.Protocol.TCP, "--tcp-ports"));
        HostInfo host = HostInfo.get();
        if (host.isRoot()) {
            // Root without the host's privileges (a container's): pasta would become nobody, who cannot enter
            // the sandbox's namespaces, which are root's. It stays the caller, as it does for everyone else.
            argv.addAll(List.of("--runas", "0:" + host.egid()));
        }
        NetPlan.Filter filter = Reach.filter(network, null, 0, null);
        return NetworkSetup.fixed(new NetPlan(true, null, null, ResolvConf.text(network, hasIpv6()), argv,
                new NetPlan.Filter(filter.tool(), filter.rules() + udpTranslations(network), filter.hostSets(),
                filter.watchHosts())));
    }

    /**
     * pasta (Debian 12's, 2023-03) loses the answers to datagrams it forwards from the host's
     * loopback when the port inside is not the host port: it is told to forward each UDP port to
     * the same port, which a table in the sandbox's namespace (loaded with its filter, before the
     * command runs) redirects to the container port, and conntrack translates the answers back.
     * Inside, the host port is taken for UDP to the sandbox's own addresses.
     */
    static String udpTranslations(Network network) throws SandboxSetupException {
        StringBuilder rules = new StringBuilder();
        List<Network.Port> udp = network.ports().stream().filter(p -> p.protocol() == Network.Protocol.UDP).toList();
        for (Network.Port p : udp) {
            for (Network.Port o : udp) {
                if (p.hostPort() == o.hostPort() && p.containerPort() != o.containerPort()
                        && (families(p).equals("") || families(o).equals("") || families(p).equals(families(o)))) {
                    throw new SandboxSetupException("network", 0, "cannot publish both " + p + " and " + o + " for a "
                            + "rootless caller: datagrams to one host port reach the sandbox alike whatever the host "
                            + "address; publish them on different host ports");
                }
            }
            if (p.hostPort() != p.containerPort()) {
                rules.append("    ").append(families(p)).append("fib daddr type local udp dport ").append(p.hostPort())
                        .append(" redirect to :").append(p.containerPort()).append('\n');
            }
        }
        if (rules.length() == 0) {
            return "";
        }
        return "table inet crabcan_ports {\n"
                + "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" + rules + "  }\n"
                + "  chain output {\n    type nat hook output priority -100; policy accept;\n" + rules + "  }\n}\n";
    }

    /** The match of the address families a port's datagrams come in with: "" for both ([::] is dual-stack). */
    private static String families(Network.Port p) {
        if (p.isIpv6() && java.util.Arrays.equals(Ipv6.parse(p.hostAddress()).orElseThrow(), new byte[16])) {
            return "";
        }
        return p.isIpv6() ? "meta nfproto ipv6 " : "meta nfproto ipv4 ";
    }

    /** Whether pasta gives the sandbox IPv6: it does where the host has an IPv6 default route, which it copies. */
    private static boolean hasIpv6() {
        try {
            Path routes = Path.of("/proc/net/ipv6_route");
            return Files.exists(routes) && !Ipv6.defaultRoutes(Files.readString(routes)).isEmpty();
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /**
     * pasta's options for the ports published with a protocol: one per host address (its address
     * applies to the whole list), ADDRESS/HOSTPORT:CONTAINERPORT,..., or "none". Ports on [::]
     * name no address: pasta then binds both 0.0.0.0 and [::] (given [::], Debian 12's binds it for
     * IPv6 only), as a root caller's relay serves both on one socket.
     */
    private static List<String> forwards(Network network, Network.Protocol protocol, String option) {
        java.util.Map<String, String> byAddress = network.ports().stream().filter(p -> p.protocol() == protocol)
                .collect(Collectors.groupingBy(p -> families(p).isEmpty() ? "" : p.hostAddress(),
                        java.util.LinkedHashMap::new,
                        Collectors.mapping(p -> p.hostPort() + ":" + (protocol == Network.Protocol.UDP ? p.hostPort()
                        : p.containerPort()), Collectors.joining(","))));
        if (byAddress.isEmpty()) {
            return List.of(option, "none");
        }
        List<String> out = new java.util.ArrayList<>();
        byAddress.forEach((address, ports) -> out.addAll(List.of(option,
                address.isEmpty() ? ports : address + "/" + ports)));
        return out;
    }
}
