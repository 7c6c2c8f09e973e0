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
        String tcp = forwards(network, Network.Protocol.TCP);
        String udp = forwards(network, Network.Protocol.UDP);
        List<String> argv = new java.util.ArrayList<>(List.of(pasta.toString(), "--foreground", "--quiet",
                "--config-net", "--ipv4-only", "--ns-ifname", "eth0", "--netns", "/proc/self/fd/3",
                "--userns", "/proc/self/fd/4", "--pid", "/proc/self/fd/5",
                // Nothing of the host's loopback, nor the gateway standing in for it: only what is published.
                "--no-map-gw", "--tcp-ns", "none", "--udp-ns", "none", "--udp-ports", udp, "--tcp-ports", tcp));
        HostInfo host = HostInfo.get();
        if (host.isRoot()) {
            // Root without the host's privileges (a container's): pasta would become nobody, who cannot enter
            // the sandbox's namespaces, which are root's. It stays the caller, as it does for everyone else.
            argv.addAll(List.of("--runas", "0:" + host.egid()));
        }
        return NetworkSetup.fixed(new NetPlan(true, false, null, ResolvConf.text(network), argv,
                Reach.filter(network, null, 0)));
    }

    /** pasta's spelling of the ports published with a protocol: ADDRESS/HOSTPORT:CONTAINERPORT,... or none. */
    private static String forwards(Network network, Network.Protocol protocol) {
        String ports = network.ports().stream().filter(p -> p.protocol() == protocol)
                .map(p -> p.hostAddress() + "/" + p.hostPort() + ":" + p.containerPort())
                .collect(Collectors.joining(","));
        return ports.isEmpty() ? "none" : ports;
    }
}
