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
        return NetworkSetup.fixed(new NetPlan(true, null, null, ResolvConf.text(network), argv,
                Reach.filter(network, null, 0, null)));
    }

    /**
     * pasta's options for the ports published with a protocol: one per host address (its address
     * applies to the whole list), ADDRESS/HOSTPORT:CONTAINERPORT,..., or "none".
     */
    private static List<String> forwards(Network network, Network.Protocol protocol, String option) {
        java.util.Map<String, String> byAddress = network.ports().stream().filter(p -> p.protocol() == protocol)
                .collect(Collectors.groupingBy(Network.Port::hostAddress, java.util.LinkedHashMap::new,
                        Collectors.mapping(p -> p.hostPort() + ":" + p.containerPort(), Collectors.joining(","))));
        if (byAddress.isEmpty()) {
            return List.of(option, "none");
        }
        List<String> out = new java.util.ArrayList<>();
        byAddress.forEach((address, ports) -> out.addAll(List.of(option, address + "/" + ports)));
        return out;
    }
}
