package dev.crabcan;

import dev.crabcan.internal.net.Ipv4;
import dev.crabcan.internal.net.Ipv6;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A sandbox's network: {@link #none()} (the default), {@link #host()}, {@link #privateNetwork()},
 * with ports published from the host to a private network, or {@link #namespace(java.nio.file.Path)}.
 *
 * <pre>{@code
 * Network web = Network.privateNetwork().publish(8080, 80);   // 127.0.0.1:8080 -> port 80 inside
 * Network web6 = web.publish("::1", 8080, 80);                 // and [::1]:8080
 * }</pre>
 *
 * <ul>
 *   <li>{@code NONE}: an own network namespace with only the loopback interface, up.
 *   <li>{@code HOST}: the host's network namespace, unchanged. This gives up network isolation:
 *       the sandbox can reach everything the host can, including services on the host's loopback.
 *   <li>{@code PRIVATE}: an own network namespace with an interface {@code eth0}, a default route
 *       and outbound traffic translated to the host's address. A root caller gets a veth pair with
 *       a /30 of {@link #subnet()} for each sandbox and nftables rules for the translation (and
 *       {@code net.ipv4.ip_forward} enabled, as container engines do); a rootless caller gets
 *       {@code pasta} (Debian package {@code passt}), a user-mode network stack. Either way the
 *       sandbox gets an {@code /etc/resolv.conf} naming {@link #dns()} and reaches nothing on the
 *       host's loopback but what is published to it. Where the host has IPv6 connectivity the
 *       sandbox has IPv6 too: a root caller's gets a /126 of {@link #subnet6()} (with
 *       {@code net.ipv6.conf.all.forwarding} enabled, unless the host's IPv6 default route was
 *       learned from router advertisements that forwarding would stop it taking), a rootless
 *       caller's the host's IPv6 address and routes from pasta. By default it cannot open connections to
 *       the host's own addresses (any of them; a rootless caller's sandbox: those the host has as
 *       it starts, see the README), to
 *       link-local addresses (169.254.0.0/16, where clouds serve their metadata, and fe80::/10),
 *       to multicast and broadcast addresses, nor to other private sandboxes; {@link #allowHost()}
 *       and {@link #allow(String)} open what a sandbox needs. These are nftables rules in the
 *       sandbox's own network namespace (so {@code nft}, Debian package {@code nftables}, is
 *       needed in both cases), loaded before the command runs, which holds no {@code NET_ADMIN}
 *       to change them.
 *   <li>{@code NAMESPACE}: an existing network namespace, named by a path such as
 *       {@code /run/netns/NAME} or {@code /proc/PID/ns/net}, set up by whoever made it (as an OCI
 *       engine does: podman's netavark, a CNI plugin). The helper joins it before the sandbox's own
 *       user namespace exists, so the caller must be allowed to (root; an ordinary user only a
 *       namespace of its own user namespace), and the sandbox's root holds no privilege over it.
 * </ul>
 *
 * <p>Immutable and thread-safe: {@link #publish(int, int)}, {@link #subnet(String)},
 * {@link #dns(List)}, {@link #allowHost()} and {@link #allow(String)} return new networks.
 */
public final class Network {
    /**
     * Where a sandbox's network comes from.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Mode {
        NONE, HOST, PRIVATE, NAMESPACE
    }

    /**
     * The protocol of a published port.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Protocol {
        TCP, UDP
    }

    /**
     * A port published from the host into the sandbox: connections (TCP) or datagrams (UDP) to
     * hostAddress:hostPort reach containerPort inside. hostAddress is an IPv4 address or an IPv6
     * one (without brackets: {@code ::1}, {@code ::} for every address).
     *
     * <p>Immutable and thread-safe.
     */
    public record Port(String hostAddress, int hostPort, int containerPort, Protocol protocol) {
        public Port {
            Validation.notNull(hostAddress, "host address of a published port");
            Validation.notNull(protocol, "protocol of a published port");
            if (!Patterns.IPV4.matcher(hostAddress).matches() && Ipv6.parse(hostAddress).isEmpty()) {
                throw new SandboxSpecException("published port's host address must be an IPv4 address such as "
                        + "127.0.0.1 or an IPv6 one such as ::1 (no brackets), got '"
                        + Validation.printable(hostAddress) + "'");
            }
            port(hostPort, "host port");
            port(containerPort, "container port");
        }

        private static void port(int p, String what) {
            if (p < 1 || p > 65535) {
                throw new SandboxSpecException(what + " must be 1 to 65535, got " + p);
            }
        }

        /** A TCP port. */
        public Port(String hostAddress, int hostPort, int containerPort) {
            this(hostAddress, hostPort, containerPort, Protocol.TCP);
        }

        /** Whether hostAddress is an IPv6 address. */
        public boolean isIpv6() {
            return hostAddress.contains(":");
        }

        /** As Docker spells it: {@code 127.0.0.1:8080:80}, {@code [::1]:8080:80}, {@code 127.0.0.1:5353:53/udp}. */
        @Override
        public String toString() {
            return (isIpv6() ? "[" + hostAddress + "]" : hostAddress) + ":" + hostPort + ":" + containerPort
                    + (protocol == Protocol.UDP ? "/udp" : "");
        }

        /**
         * Whether both would take the same host port: the same address, or one of them every
         * address of its family ({@code ::} takes IPv4's too, as one socket serves both).
         */
        boolean overlaps(Port o) {
            if (o.protocol != protocol || o.hostPort != hostPort) {
                return false;
            }
            if (isIpv6() != o.isIpv6()) {
                return (isIpv6() && isEveryAddress()) || (o.isIpv6() && o.isEveryAddress());
            }
            return isEveryAddress() || o.isEveryAddress() || (isIpv6()
                    ? java.util.Arrays.equals(Ipv6.parse(hostAddress).get(), Ipv6.parse(o.hostAddress).get())
                    : hostAddress.equals(o.hostAddress));
        }

        private boolean isEveryAddress() {
            return isIpv6() ? java.util.Arrays.equals(Ipv6.parse(hostAddress).get(), new byte[16])
                    : hostAddress.equals("0.0.0.0");
        }
    }

    /** The range root callers' private sandboxes get their /30s from. */
    public static final String DEFAULT_SUBNET = "10.231.0.0/16";
    /** The IPv6 range (unique local) root callers' private sandboxes get their /126s from. */
    public static final String DEFAULT_SUBNET6 = "fd7c:cc::/48";

    /** Compiled by the first spec that names an address, not by every JVM's first sandbox. */
    private static final class Patterns {
        static final Pattern IPV4 = Pattern.compile("(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)(\\.(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)){3}");
    }
    private static final Network NONE = new Network(Mode.NONE, List.of(), DEFAULT_SUBNET, DEFAULT_SUBNET6, null, false,
            List.of(), null);
    private static final Network HOST = new Network(Mode.HOST, List.of(), DEFAULT_SUBNET, DEFAULT_SUBNET6, null, false,
            List.of(), null);

    private final Mode mode;
    private final List<Port> ports;
    private final String subnet;
    private final String subnet6;
    private final List<String> dns;
    private final boolean allowHost;
    private final List<String> allowed;
    private final java.nio.file.Path namespace;

    private Network(Mode mode, List<Port> ports, String subnet, String subnet6, List<String> dns, boolean allowHost,
            List<String> allowed, java.nio.file.Path namespace) {
        this.subnet6 = subnet6;
        this.namespace = namespace;
        this.mode = mode;
        this.ports = List.copyOf(ports);
        this.subnet = subnet;
        this.dns = dns == null ? null : List.copyOf(dns);
        this.allowHost = allowHost;
        this.allowed = List.copyOf(allowed);
    }

    /** Loopback only: nothing in, nothing out. The default. */
    public static Network none() {
        return NONE;
    }

    /** The host's own network; no isolation. */
    public static Network host() {
        return HOST;
    }

    /** An own interface with outbound access through the host, and no ports published yet. */
    public static Network privateNetwork() {
        return new Network(Mode.PRIVATE, List.of(), DEFAULT_SUBNET, DEFAULT_SUBNET6, null, false, List.of(), null);
    }

    /**
     * An existing network namespace, joined as it is (see {@link Mode#NAMESPACE}).
     *
     * @param path an absolute path that names a network namespace when the sandbox starts
     */
    public static Network namespace(java.nio.file.Path path) {
        Validation.notNull(path, "network namespace path");
        if (!path.isAbsolute()) {
            throw new SandboxSpecException("a network namespace path must be absolute, got '"
                    + Validation.printable(path.toString()) + "'");
        }
        return new Network(Mode.NAMESPACE, List.of(), DEFAULT_SUBNET, DEFAULT_SUBNET6, null, false, List.of(), path);
    }

    /** The namespace a {@link Mode#NAMESPACE} network joins. */
    public Optional<java.nio.file.Path> namespacePath() {
        return Optional.ofNullable(namespace);
    }

    public Mode mode() {
        return mode;
    }

    /** The published ports, in the order given. */
    public List<Port> ports() {
        return ports;
    }

    /** The IPv4 range (CIDR, /8 to /24) root callers' private sandboxes take their addresses from. */
    public String subnet() {
        return subnet;
    }

    /**
     * The IPv6 range (CIDR, /48 to /96, unique local: within fc00::/7) root callers' private
     * sandboxes take their IPv6 addresses from: each gets the /126 whose last 32 bits are its
     * IPv4 /30's, so the IPv4 allocation keeps them distinct.
     */
    public String subnet6() {
        return subnet6;
    }

    /**
     * The name servers a private sandbox's /etc/resolv.conf names; empty when they are the host's
     * (those of its /etc/resolv.conf that are not loopback addresses, which a sandbox cannot reach;
     * where that names only systemd-resolved's stub, the upstream servers resolved lists in
     * /run/systemd/resolve/resolv.conf).
     */
    public Optional<List<String>> dns() {
        return Optional.ofNullable(dns);
    }

    /** Whether the sandbox may open connections to the host's own addresses (never its loopback). */
    public boolean hostAllowed() {
        return allowHost;
    }

    /** The ranges (CIDR, IPv4 or IPv6) the sandbox may reach although the defaults refuse them, in the order given. */
    public List<String> allowed() {
        return allowed;
    }

    /** Publishes TCP port 127.0.0.1:hostPort to containerPort inside. */
    public Network publish(int hostPort, int containerPort) {
        return publish("127.0.0.1", hostPort, containerPort);
    }

    /**
     * Publishes TCP port hostAddress:hostPort (an address of this host: 0.0.0.0 for all its IPv4
     * ones, ::1 for its IPv6 loopback, :: for all its addresses) to containerPort inside.
     */
    public Network publish(String hostAddress, int hostPort, int containerPort) {
        return publish(hostAddress, hostPort, containerPort, Protocol.TCP);
    }

    /** Publishes UDP port 127.0.0.1:hostPort to containerPort inside. */
    public Network publishUdp(int hostPort, int containerPort) {
        return publishUdp("127.0.0.1", hostPort, containerPort);
    }

    /** Publishes UDP port hostAddress:hostPort (an address of this host, as for {@link #publish(String, int, int)}) to containerPort inside. */
    public Network publishUdp(String hostAddress, int hostPort, int containerPort) {
        return publish(hostAddress, hostPort, containerPort, Protocol.UDP);
    }

    private Network publish(String hostAddress, int hostPort, int containerPort, Protocol protocol) {
        requirePrivate("publish " + hostAddress + ":" + hostPort + ":" + containerPort);
        Port port = new Port(hostAddress, hostPort, containerPort, protocol);
        for (Port p : ports) {
            if (p.overlaps(port)) {
                throw new SandboxSpecException("host port " + port + " is already published as " + p);
            }
        }
        List<Port> more = new ArrayList<>(ports);
        more.add(port);
        return new Network(mode, more, subnet, subnet6, dns, allowHost, allowed, namespace);
    }

    /** The range root callers' sandboxes take their addresses from, e.g. {@code 10.231.0.0/16}. */
    public Network subnet(String cidr) {
        requirePrivate("subnet " + cidr);
        Validation.notNull(cidr, "subnet");
        String[] parts = cidr.split("/", -1);
        int prefix;
        try {
            prefix = parts.length == 2 ? Integer.parseInt(parts[1]) : -1;
        } catch (NumberFormatException e) {
            prefix = -1;
        }
        if (parts.length != 2 || !Patterns.IPV4.matcher(parts[0]).matches() || prefix < 8 || prefix > 24) {
            throw new SandboxSpecException("subnet must be an IPv4 range from /8 to /24 such as " + DEFAULT_SUBNET
                    + ", got '" + Validation.printable(cidr) + "'");
        }
        int base = Ipv4.parse(parts[0]);
        if ((base & ~Ipv4.netmask(prefix)) != 0) {
            throw new SandboxSpecException("subnet " + cidr + " has host bits set; the range starts at "
                    + Ipv4.format(base & Ipv4.netmask(prefix)) + "/" + prefix);
        }
        if ((base >>> 24) == 0) {
            // 0.0.0.0/30's lock byte keeps the shared table (see Veth), and 0.0.0.0/8 is no network's anyway.
            throw new SandboxSpecException("subnet " + cidr + " is in 0.0.0.0/8, which means \"this network\" and is "
                    + "never a network's address; choose a private range such as " + DEFAULT_SUBNET);
        }
        return new Network(mode, ports, cidr, subnet6, dns, allowHost, allowed, namespace);
    }

    /** The IPv6 range root callers' sandboxes take their addresses from, e.g. {@code fd7c:cc::/48}. */
    public Network subnet6(String cidr) {
        requirePrivate("subnet6 " + cidr);
        Validation.notNull(cidr, "IPv6 subnet");
        String[] parts = cidr.split("/", -1);
        int prefix = parts.length == 2 && parts[1].matches("\\d{1,3}") ? Integer.parseInt(parts[1]) : -1;
        Optional<byte[]> base = Ipv6.parse(parts[0]);
        if (parts.length != 2 || base.isEmpty() || prefix < 48 || prefix > 96 || (base.get()[0] & 0xfe) != 0xfc) {
            throw new SandboxSpecException("IPv6 subnet must be a unique local range (within fc00::/7) from /48 to /96 "
                    + "such as " + DEFAULT_SUBNET6 + ", got '" + Validation.printable(cidr) + "'");
        }
        if (!Ipv6.isRangeStart(base.get(), prefix)) {
            throw new SandboxSpecException("IPv6 subnet " + cidr + " has host bits set; the range starts at "
                    + Ipv6.format(Ipv6.masked(base.get(), prefix)) + "/" + prefix);
        }
        return new Network(mode, ports, subnet, cidr, dns, allowHost, allowed, namespace);
    }

    /**
     * Name servers (IPv4 or IPv6 addresses, the latter without brackets or zone) for the
     * sandbox's /etc/resolv.conf, instead of the host's; an IPv6 one serves only where the sandbox
     * has IPv6.
     */
    public Network dns(List<String> servers) {
        requirePrivate("dns " + servers);
        Validation.notNull(servers, "dns servers");
        for (String s : servers) {
            if (s == null || (!Patterns.IPV4.matcher(s).matches() && Ipv6.parse(s).isEmpty())) {
                throw new SandboxSpecException("dns server must be an IPv4 or IPv6 address such as 192.0.2.53 or "
                        + "2001:db8::53, got '" + s + "'");
            }
        }
        return new Network(mode, ports, subnet, subnet6, servers, allowHost, allowed, namespace);
    }

    /**
     * Lets the sandbox open connections to the host's addresses (not its loopback: a root
     * caller's sandbox reaches the host as its default gateway, a rootless caller's by the host's
     * other addresses, pasta having given the sandbox the address of the host's default
     * interface). Ports other sandboxes publish on those addresses are then reachable too.
     */
    public Network allowHost() {
        requirePrivate("allowHost");
        return new Network(mode, ports, subnet, subnet6, dns, true, allowed, namespace);
    }

    /**
     * Lets the sandbox reach a range the defaults refuse, e.g. {@code 169.254.169.254/32} for a
     * cloud's metadata service, {@code fd00:ec2::254/128} for its IPv6 one, or a host address:
     * what lies in it is reachable whatever else is refused.
     */
    public Network allow(String cidr) {
        requirePrivate("allow " + cidr);
        Validation.notNull(cidr, "allowed range");
        String[] parts = cidr.split("/", -1);
        if (parts[0].contains(":")) {
            int prefix6 = parts.length == 2 && parts[1].matches("\\d{1,3}") ? Integer.parseInt(parts[1]) : -1;
            Optional<byte[]> base = Ipv6.parse(parts[0]);
            if (parts.length != 2 || base.isEmpty() || prefix6 < 0 || prefix6 > 128) {
                throw new SandboxSpecException("allowed range must be in CIDR notation such as fd00:ec2::254/128, got '"
                        + Validation.printable(cidr) + "'");
            }
            if (!Ipv6.isRangeStart(base.get(), prefix6)) {
                throw new SandboxSpecException("allowed range " + cidr + " has host bits set; the range starts at "
                        + Ipv6.format(Ipv6.masked(base.get(), prefix6)) + "/" + prefix6);
            }
            List<String> more = new ArrayList<>(allowed);
            more.add(cidr);
            return new Network(mode, ports, subnet, subnet6, dns, allowHost, more, namespace);
        }
        int prefix = parts.length == 2 && parts[1].matches("\\d{1,2}") ? Integer.parseInt(parts[1]) : -1;
        if (parts.length != 2 || !Patterns.IPV4.matcher(parts[0]).matches() || prefix < 0 || prefix > 32) {
            throw new SandboxSpecException("allowed range must be IPv4 in CIDR notation such as 169.254.169.254/32, got '"
                    + Validation.printable(cidr) + "'");
        }
        int base = Ipv4.parse(parts[0]);
        if ((base & ~Ipv4.netmask(prefix)) != 0) {
            throw new SandboxSpecException("allowed range " + cidr + " has host bits set; the range starts at "
                    + Ipv4.format(base & Ipv4.netmask(prefix)) + "/" + prefix);
        }
        List<String> more = new ArrayList<>(allowed);
        more.add(cidr);
        return new Network(mode, ports, subnet, subnet6, dns, allowHost, more, namespace);
    }

    private void requirePrivate(String what) {
        if (mode != Mode.PRIVATE) {
            throw new SandboxSpecException(what + ": only a private network has ports, a subnet, name servers "
                    + "and reach of its own; use Network.privateNetwork()");
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Network n && n.mode == mode && n.ports.equals(ports) && n.subnet.equals(subnet)
                && n.subnet6.equals(subnet6)
                && java.util.Objects.equals(n.dns, dns) && n.allowHost == allowHost && n.allowed.equals(allowed)
                && java.util.Objects.equals(n.namespace, namespace);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(mode, ports, subnet, subnet6, dns, allowHost, allowed, namespace);
    }

    @Override
    public String toString() {
        return mode.name().toLowerCase(java.util.Locale.ROOT) + (ports.isEmpty() ? "" : " publish " + ports)
                + (allowHost ? " allow host" : "") + (allowed.isEmpty() ? "" : " allow " + allowed)
                + (namespace == null ? "" : " " + namespace);
    }
}
