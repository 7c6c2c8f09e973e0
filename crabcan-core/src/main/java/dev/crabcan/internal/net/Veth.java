package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.internal.plan.NetPlan;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A root caller's private network: a veth pair per sandbox, whose host end {@code cc<hex>} holds
 * the first address of a /30 of the subnet and whose other end becomes the sandbox's eth0 with
 * the second; an nftables table per sandbox translates its outbound traffic to the host's
 * address, keeps it from the rest of the subnet (other sandboxes) and forwards published ports.
 *
 * <p>Allocation needs no shared state: the interface name encodes the address, so the kernel's
 * "name exists" is the lock, across JVMs too. The table, named after this JVM's pid and the
 * address, is made before the interface, so an interface never exists without its owner's table;
 * a dead JVM's tables and unattached interfaces are removed by the next JVM to make one. An
 * attached pair disappears with the sandbox's network namespace.
 */
final class Veth implements NetworkSetup {
    private static final Logger log = LoggerFactory.getLogger(Veth.class);
    private static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");
    private static final Path CLEANUP_LOCK = Path.of("/run/crabcan-net.lock");
    private static final Pattern TABLE = Pattern.compile("table ip (crabcan_(\\d+)_([0-9a-f]{8}))");
    private static final Pattern LINK = Pattern.compile("^\\d+: (cc[0-9a-f]{8})[@:]", Pattern.MULTILINE);
    private static final long JVM_PID = ProcessHandle.current().pid();
    private static volatile boolean hostPrepared;

    private final Path ip;
    private final Path nft;
    private final String name;
    private final String table;
    private final List<ServerSocketChannel> reserved;
    private final NetPlan plan;
    private boolean released;

    private Veth(Path ip, Path nft, String name, String table, List<ServerSocketChannel> reserved, NetPlan plan) {
        this.ip = ip;
        this.nft = nft;
        this.name = name;
        this.table = table;
        this.reserved = reserved;
        this.plan = plan;
    }

    static Veth allocate(Network network, Path runDir) throws SandboxSetupException {
        Path ip = HostCommand.require("ip", "iproute2", "a private network");
        Path nft = HostCommand.require("nft", "nftables", "a private network");
        prepareHost(ip, nft);
        Path resolvConf = ResolvConf.file(network, runDir);
        List<ServerSocketChannel> reserved = reservePorts(network);
        try {
            String[] cidr = network.subnet().split("/");
            int base = Ipv4.parse(cidr[0]);
            int slots = 1 << (32 - Integer.parseInt(cidr[1]) - 2);
            int first = ThreadLocalRandom.current().nextInt(slots);
            for (int i = 0; i < slots; i++) {
                int net = base + 4 * ((first + i) % slots);
                String hex = String.format("%08x", net);
                String name = "cc" + hex;
                String table = "crabcan_" + JVM_PID + "_" + hex;
                nft(nft, rules(table, name, net, network));
                HostCommand.Result r = HostCommand.run(ip, List.of("-batch", "-"),
                        "link add " + name + " type veth peer name " + name + "p\n"
                                + "addr add " + Ipv4.format(net + 1) + "/30 dev " + name + "\n"
                                + "link set " + name + " up\n");
                if (r.ok()) {
                    if (!network.ports().isEmpty()) {
                        // Published loopback ports are translated to the sandbox's address; the kernel
                        // routes such packets out of an interface only with this set on it.
                        writeSysctl(Path.of("/proc/sys/net/ipv4/conf", name, "route_localnet"), "1");
                    }
                    NetPlan plan = new NetPlan(true, true, new NetPlan.Interface("eth0", net + 2, 30, net + 1),
                            resolvConf, List.of());
                    return new Veth(ip, nft, name, table, reserved, plan);
                }
                HostCommand.run(nft, List.of("delete", "table", "ip", table), "");
                if (!r.stderr().contains("File exists")) {
                    HostCommand.run(ip, List.of("link", "del", name), "");
                    throw new SandboxSetupException("network", 0, "cannot create the veth pair " + name + ": "
                            + r.reason());
                }
            }
            throw new SandboxSetupException("network", 0, "every address of the subnet " + network.subnet()
                    + " is in use by another sandbox; choose a larger range with Network.subnet(...)");
        } catch (SandboxSetupException | RuntimeException e) {
            reserved.forEach(Veth::closeQuietly);
            throw e;
        }
    }

    @Override
    public NetPlan plan() {
        return plan;
    }

    @Override
    public void attach(long initPid) throws SandboxSetupException {
        HostCommand.Result r = HostCommand.run(ip, List.of("link", "set", name + "p", "netns", Long.toString(initPid),
                "name", "eth0"), "");
        if (!r.ok()) {
            throw new SandboxSetupException("network", 0, "cannot move " + name + "p into sandbox " + initPid + ": "
                    + r.reason());
        }
    }

    @Override
    public synchronized void release() {
        if (released) {
            return;
        }
        released = true;
        reserved.forEach(Veth::closeQuietly);
        reserved.clear();
        try {
            // The interface goes first: it must never exist without its owner's table.
            HostCommand.run(ip, List.of("link", "del", name), "");
            HostCommand.Result r = HostCommand.run(nft, List.of("delete", "table", "ip", table), "");
            if (!r.ok() && !r.stderr().contains("No such file")) {
                log.warn("cannot delete nftables table {}: {}", table, r.reason());
            }
        } catch (SandboxSetupException e) {
            log.warn("cannot remove the network of {}: {}", name, e.getMessage());
        }
    }

    static String rules(String table, String name, int net, Network network) {
        String sandbox = Ipv4.format(net + 2);
        StringBuilder dnat = new StringBuilder();
        for (Network.Port p : network.ports()) {
            String match = p.hostAddress().equals("0.0.0.0") ? "fib daddr type local" : "ip daddr " + p.hostAddress();
            dnat.append("    ").append(match).append(" tcp dport ").append(p.hostPort()).append(" dnat to ")
                    .append(sandbox).append(':').append(p.containerPort()).append('\n');
        }
        return "table ip " + table + " {\n"
                + "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
                + "    ip saddr " + sandbox + " oifname != \"" + name + "\" masquerade\n"
                + "    oifname \"" + name + "\" ip saddr 127.0.0.0/8 masquerade\n  }\n"
                + "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
                + "    iifname \"" + name + "\" ip daddr " + network.subnet() + " drop\n  }\n"
                + "  chain output {\n    type nat hook output priority -100; policy accept;\n" + dnat + "  }\n"
                + "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n" + dnat + "  }\n"
                + "}\n";
    }

    /** Binds the published host ports for the sandbox's life: a taken port fails the start, and none is taken after. */
    private static List<ServerSocketChannel> reservePorts(Network network) throws SandboxSetupException {
        List<ServerSocketChannel> held = new ArrayList<>();
        for (Network.Port p : network.ports()) {
            try {
                ServerSocketChannel s = ServerSocketChannel.open();
                held.add(s);
                s.bind(new InetSocketAddress(p.hostAddress(), p.hostPort()));
            } catch (IOException e) {
                held.forEach(Veth::closeQuietly);
                throw new SandboxSetupException("network", 98, "cannot publish " + p + ": host port " + p.hostAddress()
                        + ":" + p.hostPort() + " is not available (" + e.getMessage() + ")");
            }
        }
        return held;
    }

    /** Once per JVM: forwarding on, and what dead JVMs left removed. */
    private static synchronized void prepareHost(Path ip, Path nft) throws SandboxSetupException {
        if (hostPrepared) {
            return;
        }
        try {
            if (!Files.readString(IP_FORWARD).trim().equals("1")) {
                log.warn("enabling net.ipv4.ip_forward: private sandboxes reach the outside through the host");
                writeSysctl(IP_FORWARD, "1");
            }
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot read " + IP_FORWARD + ": " + e.getMessage());
        }
        removeDeadJvmsLeftovers(ip, nft);
        hostPrepared = true;
    }

    /** Under a host-wide lock, so that two cleaners never race one JVM's new interface. */
    private static void removeDeadJvmsLeftovers(Path ip, Path nft) throws SandboxSetupException {
        try (FileChannel lockFile = FileChannel.open(CLEANUP_LOCK, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock lock = lockFile.lock()) {
            // Interfaces first: one made after this listing has its table in the next.
            String links = HostCommand.run(ip, List.of("-o", "link", "show"), "").stdout();
            String tables = HostCommand.run(nft, List.of("list", "tables"), "").stdout();
            List<String> liveOwners = new ArrayList<>();
            Matcher t = TABLE.matcher(tables);
            while (t.find()) {
                if (ProcessHandle.of(Long.parseLong(t.group(2))).isPresent()) {
                    liveOwners.add(t.group(3));
                } else {
                    log.info("removing nftables table {} of a JVM that is gone", t.group(1));
                    HostCommand.run(nft, List.of("delete", "table", "ip", t.group(1)), "");
                }
            }
            Matcher l = LINK.matcher(links);
            while (l.find()) {
                if (!liveOwners.contains(l.group(1).substring(2))) {
                    log.info("removing interface {} of a JVM that is gone", l.group(1));
                    HostCommand.run(ip, List.of("link", "del", l.group(1)), "");
                }
            }
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot lock " + CLEANUP_LOCK + ": " + e.getMessage());
        }
    }

    private static void nft(Path nft, String rules) throws SandboxSetupException {
        HostCommand.Result r = HostCommand.run(nft, List.of("-f", "-"), rules);
        if (!r.ok()) {
            throw new SandboxSetupException("network", 0, "nft refused the sandbox's rules: " + r.reason());
        }
    }

    private static void writeSysctl(Path file, String value) throws SandboxSetupException {
        try {
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot write " + file + ": " + e.getMessage());
        }
    }

    private static void closeQuietly(ServerSocketChannel s) {
        try {
            s.close();
        } catch (IOException e) {
            log.debug("closing a reserved port: {}", e.toString());
        }
    }
}
