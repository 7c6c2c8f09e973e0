package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.internal.host.HostLocks;
import dev.crabcan.internal.plan.NetPlan;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileLock;
import java.nio.channels.DatagramChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A root caller's private network: a veth pair per sandbox, whose host end {@code ccn<hex>}
 * holds the first address of a /30 of the subnet and whose other end, made directly in the
 * sandbox's namespace, is its eth0 with the second. Where the host has IPv6 connectivity the two
 * ends also hold the first and second address of the /126 of the IPv6 subnet whose last 32 bits
 * are the /30's. One nftables table, {@code inet crabcan}, shared by every sandbox on the host,
 * translates outbound traffic of the {@code ccn*} interfaces to the host's address, drops traffic
 * between them, forwards ports published on IPv4 addresses through maps, and lets nothing else
 * in, from outside or from the host's own processes. It also isolates every sandbox that allows
 * neither the host nor any range (the host end's name starts with {@code ccn-}): its input chain
 * refuses them the host's addresses, all of them, and its isolate chain what {@link Reach}
 * refuses, so that such a sandbox costs no nft process of its own. Ports published on IPv6 addresses are
 * relayed by the JVM instead ({@link Relay}, {@link UdpRelay}): the kernel sends no packet from the IPv6 loopback
 * out of another interface, and has no route_localnet for IPv6.
 *
 * <p>Coordination across JVMs needs no daemon: each sandbox holds a byte-range lock, at an offset
 * given by its address, on {@code /run/crabcan-net.lock}, which the kernel releases when its JVM
 * dies; byte 0 serializes the table's creation and removal, and whoever finds no address locked
 * by anyone may create the table afresh (removing the {@code ip crabcan} of older versions, which
 * took the same locks) or remove it. The byte at an address's offset is 1 while
 * its sandbox has published ports, so that the next owner of an address whose JVM died removes
 * the forwards it left. A pair disappears with the sandbox's network namespace. A JVM keeps the
 * table (a shared lock on the byte of 0.0.0.0/30) from its first private sandbox until
 * {@link #TABLE_LINGER_MS} after its last one ends, so that sandboxes in a row do not make and
 * remove it each; the last JVM to let go removes it. Every lock operation runs on the file's
 * {@link HostLocks} thread.
 */
final class Veth implements NetworkSetup {
    private static final Logger log = LoggerFactory.getLogger(Veth.class);
    private static final Path IP_FORWARD = Path.of("/proc/sys/net/ipv4/ip_forward");
    private static final Path IPV6 = Path.of("/proc/sys/net/ipv6");
    /** /proc/net/ipv6_route's flag of a route learned from router advertisements. */
    private static final int RTF_ADDRCONF = 0x40000;
    private static final HostLocks LOCKS = new HostLocks(Path.of("/run/crabcan-net.lock"), "crabcan-net-locks",
            "network");
    private static final String TABLE = "crabcan";
    /**
     * The name of an isolated sandbox's host end starts with this (and with ccn, as every
     * sandbox's does): the table refuses it what a filter of its own would, with no nft per sandbox.
     */
    private static final String ISOLATED = "ccn-";
    /** Every /30 of the IPv4 space has its own lock byte, after byte 0. */
    private static final long ADDRESS_LOCKS = 1L << 30;
    /**
     * Every JVM that keeps the table holds a shared lock on this byte, the lock of 0.0.0.0/30,
     * which no subnet has (Network.subnet refuses 0.0.0.0/8): so that a JVM of any version, which
     * makes or removes the table only when it gets every address's lock, sees it kept.
     */
    private static final long KEEPER = 1;
    private static final long TABLE_LINGER_MS = 2000;
    private static final long VANISH_WAIT_NANOS = 200_000_000;
    private static final long FULL_SUBNET_PATIENCE_NANOS = 1_000_000_000;
    /** Past the removal of a pair that is slow to go (ip's timeout is HostCommand's). */
    private static final long LEAVING_CEILING_NANOS = 30_000_000_000L;

    private static final java.util.regex.Pattern ELEMENT = java.util.regex.Pattern.compile(
            "((?:[0-9.]+ \\. )?\\d+) : ([0-9.]+) \\. \\d+");
    private static final java.util.regex.Pattern RELAYED = java.util.regex.Pattern.compile("([0-9.]+) \\. \\d+");

    // Touched on the lock thread only.
    private static int active;
    /** Of the active sandboxes, those that ended and keep their addresses until their pairs are gone. */
    private static int leaving;
    private static boolean hostPrepared;
    /** This JVM's hold on the table, from its first private sandbox until a while after its last; null when none. */
    private static FileLock keeper;
    /** Counts the times the last sandbox ended, so that only the latest linger lets go of the table. */
    private static long lingers;
    /** Whether sandboxes get IPv6, decided as the JVM's first private sandbox starts. */
    private static boolean ipv6;
    private static final java.util.Set<Veth> LIVE = new java.util.HashSet<>();

    private final Path ip;
    private final Path nft;
    private final Network network;
    private final String name;
    private final int net;
    private final List<NetworkChannel> reserved;
    private final List<Relay> relays = new ArrayList<>();
    private final List<UdpRelay> udpRelays = new ArrayList<>();
    private final NetPlan plan;
    private final FileLock allocation;
    private boolean released;

    private Veth(Path ip, Path nft, Network network, int net, FileLock allocation, List<NetworkChannel> reserved,
            NetPlan plan) {
        this.ip = ip;
        this.nft = nft;
        this.network = network;
        this.name = name(network, net);
        this.net = net;
        this.allocation = allocation;
        this.reserved = reserved;
        this.plan = plan;
    }

    static Veth allocate(Network network) throws SandboxSetupException {
        Path ip = HostCommand.require("ip", "iproute2", "a private network");
        Path nft = HostCommand.require("nft", "nftables", "a private network");
        Ipv4.Range sandboxes = Ipv4.Range.parse(network.subnet());
        byte[] subnet6 = Ipv6.parse(network.subnet6().split("/")[0]).orElseThrow();
        List<NetworkChannel> reserved = reservePorts(network);
        Veth veth = null;
        try {
            String[] cidr = network.subnet().split("/");
            int base = Ipv4.parse(cidr[0]);
            int slots = 1 << (32 - Integer.parseInt(cidr[1]) - 2);
            int first = ThreadLocalRandom.current().nextInt(slots);
            long start = System.nanoTime();
            while ((veth = LOCKS.call(() -> {
                try (FileLock table = LOCKS.channel().lock(0, 1, false)) {
                    if (active == 0) {
                        prepareHost(nft);
                    }
                    for (int i = 0; i < slots; i++) {
                        int net = base + 4 * ((first + i) % slots);
                        FileLock lock = tryLock(addressLock(net));
                        if (lock != null) {
                            String gateway6 = ipv6 ? Ipv6.format(Ipv6.withLow32(subnet6, net + 1)) : null;
                            NetPlan.Ipv6 v6 = ipv6 ? new NetPlan.Ipv6(Ipv6.format(Ipv6.withLow32(subnet6, net + 2)), 126,
                                    gateway6) : null;
                            NetPlan plan = new NetPlan(true, new NetPlan.HostEnd(name(network, net),
                                    !network.ports().isEmpty()), new NetPlan.Interface("eth0", net + 2, 30, net + 1, v6,
                                    isolated(network) ? Reach.refusedRoutes(network.ports().isEmpty(), sandboxes,
                                            ipv6 ? network.subnet6() : null, net + 1, gateway6)
                                            : List.of()), ResolvConf.text(network, ipv6), List.of(), isolated(network) ? null
                                                    : Reach.filter(network, sandboxes, net + 1, gateway6));
                            active++;
                            Veth v = new Veth(ip, nft, network, net, lock, reserved, plan);
                            LIVE.add(v);
                            return v;
                        }
                    }
                    return null;
                }
            })) == null && worthWaiting(System.nanoTime() - start)) {
                try {
                    Thread.sleep(5);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            if (veth == null) {
                throw new SandboxSetupException("network", 0, "every address of the subnet " + network.subnet()
                        + " is in use by a sandbox; choose a larger range with Network.subnet(...)");
            }
            veth.removeForwardsOfDeadOwner();
            veth.publish();
            if (!isolated(network)) {
                veth.closeHost();
            }
            return veth;
        } catch (SandboxSetupException | RuntimeException e) {
            if (veth != null) {
                veth.release();
            } else {
                reserved.forEach(Veth::closeQuietly);
            }
            throw e;
        }
    }

    /**
     * With every address of the subnet held: whether to look again. Ended sandboxes hold theirs
     * until their pairs are gone: this JVM's (bounded by the pair's removal), or another JVM's,
     * whose caller's run() may have returned a moment ago.
     */
    private static boolean worthWaiting(long waitedNanos) throws SandboxSetupException {
        return waitedNanos < FULL_SUBNET_PATIENCE_NANOS
                || waitedNanos < LEAVING_CEILING_NANOS && LOCKS.call(() -> leaving > 0);
    }

    @Override
    public NetPlan plan() {
        return plan;
    }

    /**
     * Once the sandbox's processes are gone: its host ports and their forwards at once, so that
     * they may be published again, and the host ranges it was allowed; its address once the
     * kernel has removed the pair, which it does asynchronously as the namespace goes (tens of
     * milliseconds on a busy host), behind the caller's back, so that the sandbox's end does not
     * wait for it. Until then its host end stays refused the host (closed_host), whatever still
     * holds the namespace; the next sandbox of its name, or the table's removal, takes it out.
     */
    @Override
    public void release() {
        synchronized (this) {
            if (released) {
                return;
            }
            released = true;
        }
        reserved.forEach(Veth::closeQuietly);
        relays.forEach(Relay::close);
        udpRelays.forEach(UdpRelay::close);
        boolean forwardsRemoved = true;
        try {
            if (!network.ports().isEmpty()) {
                forwardsRemoved = HostCommand.run(nft, List.of("-f", "-"), elements("delete")).ok();
            }
            if (!isolated(network) && closesHost() && !network.allowed().isEmpty()) {
                HostCommand.run(nft, List.of("-f", "-"), allowances("delete"));
            }
        } catch (SandboxSetupException e) {
            forwardsRemoved = false;
            log.warn("cannot remove the forwards or filter of {}: {}", name, e.getMessage());
        }
        boolean clean = forwardsRemoved;
        LOCKS.submit(() -> {
            leaving++;
            return letGoOnceGone(System.nanoTime() + VANISH_WAIT_NANOS, clean);
        });
    }

    /**
     * On the lock thread, polled without holding it: the address goes to the next sandbox only
     * once no interface has its name. A pair the kernel takes long to remove (something holds its
     * namespace) is removed on a thread of its own, not stalling other sandboxes' allocations.
     *
     * @param clean whether its forwards are gone; else its marker stays for the next owner to remove them
     */
    private Void letGoOnceGone(long deadline, boolean clean) {
        if (!LIVE.contains(this)) {
            return null; // let go at the JVM's exit
        }
        if (Files.exists(Path.of("/sys/class/net", name))) {
            if (System.nanoTime() < deadline) {
                LOCKS.schedule(() -> letGoOnceGone(deadline, clean), 2);
            } else {
                dev.crabcan.internal.launch.IoThreads.pool().execute(() -> {
                    try {
                        HostCommand.run(ip, List.of("link", "del", name), "");
                    } catch (SandboxSetupException e) {
                        log.warn("cannot remove the veth pair {} of an ended sandbox: {}", name, e.getMessage());
                    }
                    LOCKS.submit(() -> letGo(clean));
                });
            }
            return null;
        }
        return letGo(clean);
    }

    private Void letGo(boolean clean) {
        if (!LIVE.remove(this)) {
            return null;
        }
        leaving--;
        try (FileLock table = LOCKS.channel().lock(0, 1, false)) {
            if (clean) {
                setMarker(0);
            }
            allocation.release();
        } catch (IOException | RuntimeException e) {
            // Its lock (and marker) then stay until this JVM exits: the next owner cleans up after it.
            log.warn("cannot let go of the address of {}: {}", name, e.toString());
        }
        if (--active == 0) {
            letGoOfTableLater(nft);
        }
        return null;
    }

    /** Whether the host input chain refuses this sandbox (but its allowed ranges): unless it allows the host. */
    private boolean closesHost() {
        return !network.hostAllowed();
    }

    /** Its host end in closed_host, and the ranges it may reach even where they are the host's addresses. */
    private String closeHostElement(String verb) {
        return verb + " element inet " + TABLE + " closed_host { \"" + name + "\" }\n" + allowances(verb);
    }

    /** The ranges it may reach even where they are the host's addresses. */
    private String allowances(String verb) {
        StringBuilder out = new StringBuilder();
        for (String range : outermost(network.allowed())) {
            out.append(verb).append(" element inet ").append(TABLE).append(range.contains(":") ? " host_allowed6" : " host_allowed")
                    .append(" { \"").append(name).append("\" . ").append(range).append(" }\n");
        }
        return out.toString();
    }

    /** The ranges none of the others contains: an interval set refuses overlapping elements. */
    private static List<String> outermost(List<String> ranges) {
        return ranges.stream().distinct()
                .filter(r -> ranges.stream().noneMatch(o -> !o.equals(r) && rangeContains(o, r))).toList();
    }

    private static boolean rangeContains(String outer, String inner) {
        String[] o = outer.split("/");
        String[] i = inner.split("/");
        int prefix = Integer.parseInt(o[1]);
        if (o[0].contains(":") != i[0].contains(":") || Integer.parseInt(i[1]) < prefix) {
            return false;
        }
        if (!o[0].contains(":")) {
            return Ipv4.Range.parse(outer).contains(Ipv4.Range.parse(inner));
        }
        return java.util.Arrays.equals(Ipv6.masked(Ipv6.parse(i[0]).orElseThrow(), prefix),
                Ipv6.parse(o[0]).orElseThrow());
    }

    /** Allowed ranges a JVM that died left for this name (a different sandbox's, perhaps wider). */
    private String staleAllowances() throws SandboxSetupException {
        StringBuilder delete = new StringBuilder();
        for (String set : List.of("host_allowed", "host_allowed6")) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"" + name + "\" \\. [0-9a-f.:/]+")
                    .matcher(HostCommand.run(nft, List.of("list", "set", "inet", TABLE, set), "").stdout());
            while (m.find()) {
                delete.append("delete element inet ").append(TABLE).append(' ').append(set).append(" { ")
                        .append(m.group()).append(" }\n");
            }
        }
        return delete.toString();
    }

    /**
     * Before the pair exists (a sandbox the table does not isolate by its name): its host end in
     * the set whose packets for the host are refused, or
     * out of it (an element a JVM that died left for this name) when the sandbox may reach the host.
     */
    private void closeHost() throws SandboxSetupException {
        String stale = staleAllowances();
        if (!stale.isEmpty()) {
            HostCommand.run(nft, List.of("-f", "-"), stale);
        }
        if (!closesHost()) {
            HostCommand.run(nft, List.of("delete", "element", "inet", TABLE, "closed_host", "{ \"" + name + "\" }"), "");
            return;
        }
        HostCommand.Result r = onTable(nft, closeHostElement("add"));
        if (!r.ok()) {
            throw new SandboxSetupException("network", 0, "cannot refuse the host to " + name + " (nftables set inet "
                    + TABLE + " closed_host; a JVM of an older Crabcan may hold the table): " + r.reason());
        }
    }

    /** Whether the table alone isolates a sandbox: one that may reach neither the host nor any range Reach refuses. */
    private static boolean isolated(Network network) {
        return !network.hostAllowed() && network.allowed().isEmpty();
    }

    /** The host end of the pair of the /30 at net, which the helper makes. */
    private static String name(Network network, int net) {
        return String.format(isolated(network) ? ISOLATED + "%08x" : "ccn%08x", net);
    }

    /**
     * Runs nft on the shared table; where it is gone although a JVM keeps it (nft flush ruleset),
     * makes it again first, atomically and only if it is still gone, and tries once more.
     */
    private static HostCommand.Result onTable(Path nft, String script) throws SandboxSetupException {
        HostCommand.Result r = HostCommand.run(nft, List.of("-f", "-"), script);
        if (r.ok() || !r.stderr().contains("No such file or directory")
                || HostCommand.run(nft, List.of("list", "table", "inet", TABLE), "").ok()) {
            return r;
        }
        log.warn("the nftables table inet {} is gone while Crabcan's JVMs keep it (nft flush ruleset?): making it again",
                TABLE);
        HostCommand.run(nft, List.of("-f", "-"), "create table inet " + TABLE + "\n" + TABLE_BODY);
        return HostCommand.run(nft, List.of("-f", "-"), script);
    }

    /**
     * Published ports: entries in the table's maps (and for relayed ones its set); a host port
     * this JVM could reserve has no live entry. Ports on IPv6 addresses get their relays.
     */
    private void publish() throws SandboxSetupException {
        if (network.ports().isEmpty()) {
            return;
        }
        for (int i = 0; i < network.ports().size(); i++) {
            Network.Port p = network.ports().get(i);
            InetSocketAddress inside = new InetSocketAddress(Ipv4.format(net + 2), p.containerPort());
            if (p.isIpv6() && p.protocol() == Network.Protocol.UDP) {
                try {
                    udpRelays.add(UdpRelay.start((DatagramChannel) reserved.get(i), inside, p.toString()));
                } catch (IOException e) {
                    throw new SandboxSetupException("network", 0, "cannot publish " + p + ": " + e.getMessage());
                }
            } else if (p.isIpv6()) {
                relays.add(Relay.start((ServerSocketChannel) reserved.get(i), inside, p.toString(), Relay.Limits.DEFAULT));
            }
        }
        HostCommand.Result r = onTable(nft, elements("add"));
        if (!r.ok() && r.stderr().contains("File exists")) {
            // Left by a JVM that died: its reservation of the host port went with it.
            HostCommand.run(nft, List.of("-f", "-"), elements("delete"));
            r = HostCommand.run(nft, List.of("-f", "-"), elements("add"));
        }
        if (!r.ok()) {
            throw new SandboxSetupException("network", 0, "cannot publish " + network.ports() + ": " + r.reason());
        }
        LOCKS.call(() -> {
            setMarker(1);
            return null;
        });
    }

    /** Forwards to this address left by a JVM that died with its sandbox (its marker byte is still 1). */
    private void removeForwardsOfDeadOwner() throws SandboxSetupException {
        boolean stale = LOCKS.call(() -> {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1);
            return LOCKS.channel().read(b, addressLock(net)) == 1 && b.get(0) == 1;
        });
        if (!stale) {
            return;
        }
        String sandbox = Ipv4.format(net + 2);
        StringBuilder delete = new StringBuilder();
        for (String map : MAPS) {
            java.util.regex.Matcher m = ELEMENT.matcher(HostCommand.run(nft, List.of("list", "map", "inet", TABLE, map), "")
                    .stdout());
            while (m.find()) {
                if (m.group(2).equals(sandbox)) {
                    delete.append("delete element inet ").append(TABLE).append(' ').append(map).append(" { ")
                            .append(m.group(1)).append(" }\n");
                }
            }
        }
        for (String set : List.of("relayed", "relayed_udp")) {
            java.util.regex.Matcher m = RELAYED.matcher(HostCommand.run(nft, List.of("list", "set", "inet", TABLE, set), "")
                    .stdout());
            while (m.find()) {
                if (m.group(1).equals(sandbox)) {
                    delete.append("delete element inet ").append(TABLE).append(' ').append(set).append(" { ")
                            .append(m.group()).append(" }\n");
                }
            }
        }
        if (delete.length() > 0) {
            log.info("removing port forwards to {} left by a JVM that died", sandbox);
            HostCommand.run(nft, List.of("-f", "-"), delete.toString());
        }
        LOCKS.call(() -> {
            setMarker(0);
            return null;
        });
    }

    /** On the lock thread: whether this address has published ports. */
    private void setMarker(int value) throws IOException {
        LOCKS.channel().write(java.nio.ByteBuffer.wrap(new byte[] {(byte) value}), addressLock(net));
    }

    private String elements(String verb) {
        String sandbox = Ipv4.format(net + 2);
        // Distinct: two relayed ports to one container port are one element, which nft deletes only once.
        java.util.Set<String> out = new java.util.LinkedHashSet<>();
        for (Network.Port p : network.ports()) {
            if (p.isIpv6()) {
                out.add(verb + " element inet " + TABLE + (p.protocol() == Network.Protocol.UDP ? " relayed_udp" : " relayed")
                        + " { " + sandbox + " . " + p.containerPort() + " }\n");
                continue;
            }
            boolean any = p.hostAddress().equals("0.0.0.0");
            String map = "published" + (any ? "_any" : "") + (p.protocol() == Network.Protocol.UDP ? "_udp" : "");
            out.add(verb + " element inet " + TABLE + " " + map + " { " + (any ? "" : p.hostAddress() + " . ")
                    + p.hostPort() + (verb.equals("add") ? " : " + sandbox + " . " + p.containerPort() : "") + " }\n");
        }
        return String.join("", out);
    }

    /** The maps of published ports: by host address and port, by port alone (every host address); TCP and UDP. */
    private static final List<String> MAPS = List.of("published", "published_any", "published_udp",
            "published_any_udp");

    /** The ICMPv6 of neighbour discovery, which IPv6 needs between a sandbox and the host's end of its pair. */
    private static final String NEIGHBOURS = "{ nd-neighbor-solicit, nd-neighbor-advert }";

    /**
     * Removes the table {@code ip crabcan} of Crabcan versions before IPv6, which a JVM killed with
     * -9 left: its forwards lead to addresses that sandboxes may have now.
     */
    private static final String OLD_TABLE_GONE = "add table ip " + TABLE + "\n" + "delete table ip " + TABLE + "\n";

    /** The table itself, which TABLE_RULES makes afresh and {@link #onTable} makes again where it is gone. */
    private static final String TABLE_BODY = "table inet " + TABLE + " {\n"
            + "  map published { type ipv4_addr . inet_service : ipv4_addr . inet_service; }\n"
            + "  map published_any { type inet_service : ipv4_addr . inet_service; }\n"
            + "  map published_udp { type ipv4_addr . inet_service : ipv4_addr . inet_service; }\n"
            + "  map published_any_udp { type inet_service : ipv4_addr . inet_service; }\n"
            // The host ends of sandboxes that may not reach the host: the host's addresses as they are
            // now, not as the sandbox's own filter listed them at its start.
            + "  set closed_host { type ifname; }\n"
            // What a sandbox in closed_host may reach nevertheless (Network.allow), by its host end.
            + "  set host_allowed { type ifname . ipv4_addr; flags interval; }\n"
            + "  set host_allowed6 { type ifname . ipv6_addr; flags interval; }\n"
            // The sandboxes' TCP and UDP ports the JVM relays ports published on IPv6 addresses to (see local_out).
            + "  set relayed { type ipv4_addr . inet_service; }\n"
            + "  set relayed_udp { type ipv4_addr . inet_service; }\n"
            + "  chain input {\n    type filter hook input priority filter; policy accept;\n"
            // An isolated sandbox reaches none of the host's addresses, also those added after it started.
            // Replies only: not whatever a sandbox that had the address before left in the shared conntrack.
            + "    iifname \"" + ISOLATED + "*\" ct direction reply accept\n"
            + "    iifname @closed_host ct state established,related accept\n"
            // IPv6 finds its neighbours, the gateway among them, with ICMPv6 to the host's addresses.
            + "    iifname \"" + ISOLATED + "*\" icmpv6 type " + NEIGHBOURS + " accept\n"
            + "    iifname \"" + ISOLATED + "*\" reject with icmpx type admin-prohibited\n"
            + "    iifname @closed_host icmpv6 type " + NEIGHBOURS + " accept\n"
            + "    iifname . ip daddr @host_allowed accept\n"
            + "    iifname . ip6 daddr @host_allowed6 accept\n"
            + "    iifname @closed_host reject with icmpx type admin-prohibited\n  }\n"
            // What Reach refuses, for the isolated sandboxes, which load no filter of their own; and a
            // port published on a host address, which is the host's. Before the forward chain's accepts.
            + "  chain isolate {\n    type filter hook forward priority filter - 1; policy accept;\n"
            + "    iifname != \"" + ISOLATED + "*\" accept\n"
            // Whatever the conntrack says: a sandbox that had the address before may have left entries there.
            + "    ip daddr { " + Reach.ALWAYS.stream().map(Ipv4.Range::toString).collect(
                    java.util.stream.Collectors.joining(", ")) + " } reject with icmpx type admin-prohibited\n"
            + "    ip6 daddr { " + String.join(", ", Reach.ALWAYS6) + " } reject with icmpx type admin-prohibited\n"
            + "    ct direction original ct status dnat reject with icmpx type admin-prohibited\n"
            + "  }\n"
            + "  chain guard {\n    type filter hook prerouting priority raw; policy accept;\n"
            // A sandbox's packets for the host's loopback (its interface has route_localnet for the
            // forwards) and packets whose source address is not the sandbox's own.
            + "    iifname \"ccn*\" ip daddr 127.0.0.0/8 drop\n"
            + "    iifname \"ccn*\" ip6 daddr ::1 drop\n"
            + "    iifname \"ccn*\" fib saddr . iif oif 0 drop\n  }\n"
            + "  chain prerouting {\n    type nat hook prerouting priority dstnat; policy accept;\n"
            // Forwards of loopback addresses are for this host's own clients (the output chain).
            + "    ip daddr 127.0.0.0/8 return\n"
            + "    dnat ip to ip daddr . tcp dport map @published\n"
            + "    meta nfproto ipv4 fib daddr type local dnat ip to tcp dport map @published_any\n"
            + "    dnat ip to ip daddr . udp dport map @published_udp\n"
            + "    meta nfproto ipv4 fib daddr type local dnat ip to udp dport map @published_any_udp\n  }\n"
            + "  chain output {\n    type nat hook output priority -100; policy accept;\n"
            + "    dnat ip to ip daddr . tcp dport map @published\n"
            + "    meta nfproto ipv4 fib daddr type local dnat ip to tcp dport map @published_any\n"
            + "    dnat ip to ip daddr . udp dport map @published_udp\n"
            + "    meta nfproto ipv4 fib daddr type local dnat ip to udp dport map @published_any_udp\n  }\n"
            + "  chain postrouting {\n    type nat hook postrouting priority srcnat; policy accept;\n"
            + "    iifname \"ccn*\" oifname != \"ccn*\" masquerade\n"
            + "    oifname \"ccn*\" ip saddr 127.0.0.0/8 masquerade\n  }\n"
            + "  chain forward {\n    type filter hook forward priority filter; policy accept;\n"
            // One sandbox reaches another only through a port published on a host address, which
            // its reject routes let it reach only with Network.allowHost().
            + "    iifname \"ccn*\" oifname \"ccn*\" ct status dnat accept\n"
            + "    iifname \"ccn*\" oifname \"ccn*\" drop\n"
            // Into a sandbox only replies and published ports, not whatever a neighbour routes here.
            + "    oifname \"ccn*\" ct state established,related accept\n"
            + "    oifname \"ccn*\" ct status dnat accept\n"
            + "    oifname \"ccn*\" drop\n  }\n"
            // The same for the host's own processes, whoever runs them: they reach a sandbox through
            // its published ports only, as with pasta (the address a connection to a published port
            // was translated to is not the one its first packet was routed by, so that is never ccn*).
            + "  chain local_out {\n    type filter hook output priority filter; policy accept;\n"
            + "    oifname \"ccn*\" ct state established,related accept\n"
            + "    oifname \"ccn*\" ct status dnat accept\n"
            + "    oifname \"ccn*\" icmpv6 type " + NEIGHBOURS + " accept\n"
            // The JVM's relays (a host process reaches there only what is published anyway).
            + "    oifname \"ccn*\" ip daddr . tcp dport @relayed accept\n"
            + "    oifname \"ccn*\" ip daddr . udp dport @relayed_udp accept\n"
            + "    oifname \"ccn*\" drop\n  }\n"
            + "}\n";

    /** The shared table, replacing whatever a dead JVM left. */
    static final String TABLE_RULES = "add table inet " + TABLE + "\n"
            + "delete table inet " + TABLE + "\n"
            + TABLE_BODY;

    /** Under the table lock, as this JVM's first private sandbox starts: the table exists when it returns. */
    private static void prepareHost(Path nft) throws SandboxSetupException, IOException {
        if (!hostPrepared) {
            if (!Files.readString(IP_FORWARD).trim().equals("1")) {
                log.warn("enabling net.ipv4.ip_forward: private sandboxes reach the outside through the host");
                writeSysctl(IP_FORWARD, "1");
            }
            Path routes = Path.of("/proc/net/ipv6_route");
            java.util.Optional<String> noIpv6 = whyNoIpv6(Files.exists(routes) ? Files.readString(routes) : null,
                    name -> readSysctl(IPV6.resolve(name)));
            if (noIpv6.isPresent()) {
                log.debug("private sandboxes get no IPv6: {}", noIpv6.get());
            } else {
                Path forwarding = IPV6.resolve("conf/all/forwarding");
                if (!Files.readString(forwarding).trim().equals("1")) {
                    log.warn("enabling net.ipv6.conf.all.forwarding: private sandboxes reach the outside through the host");
                    writeSysctl(forwarding, "1");
                }
                ipv6 = true;
            }
            hostPrepared = true;
            Runtime.getRuntime().addShutdownHook(new Thread(() -> atExit(nft), "crabcan-net-cleanup"));
        }
        if (keeper != null) {
            return; // kept since this JVM's last sandbox: nobody removed it meanwhile
        }
        FileLock everyone = tryLock(1);
        if (everyone == null) {
            // Another JVM keeps the table; an old one may be there too, which is not ours to remove.
            if (HostCommand.run(nft, List.of("list", "table", "ip", TABLE), "").ok()) {
                throw new SandboxSetupException("network", 0, "the nftables table ip " + TABLE + " of an older Crabcan "
                        + "is there while another JVM holds private-network addresses (locks on " + LOCKS.file()
                        + "): its port forwards may lead to addresses sandboxes have now; stop the JVMs of the older "
                        + "Crabcan, or if none runs, remove it with: nft delete table ip " + TABLE);
            }
            // Its isolated sandboxes have no filter of their own, so it must be this version's.
            HostCommand.Result r = HostCommand.run(nft, List.of("list", "chain", "inet", TABLE, "isolate"), "");
            if (!r.ok()) {
                throw new SandboxSetupException("network", 0, "the nftables table inet " + TABLE + " that another JVM "
                        + "keeps has no chain isolate: it is gone, or that JVM runs an older Crabcan; end that JVM, "
                        + "or give this one the same Crabcan version (nft: " + r.reason() + ")");
            }
        } else {
            try {
                HostCommand.Result r = HostCommand.run(nft, List.of("-f", "-"), OLD_TABLE_GONE + TABLE_RULES);
                if (!r.ok()) {
                    throw new SandboxSetupException("network", 0, "nft refused the table " + TABLE + ": " + r.reason());
                }
            } finally {
                everyone.release();
            }
        }
        keeper = LOCKS.channel().tryLock(KEEPER, 1, true);
        if (keeper == null) {
            throw new SandboxSetupException("network", 0, "cannot take a shared lock on byte " + KEEPER + " of "
                    + LOCKS.file() + ", which keeps the table " + TABLE);
        }
    }

    /**
     * Under the table lock, as this JVM's last running private sandbox ends: the table stays for
     * {@link #TABLE_LINGER_MS}, so that a next sandbox soon after finds it, then goes unless
     * another JVM keeps it.
     */
    private static void letGoOfTableLater(Path nft) {
        long generation = ++lingers;
        LOCKS.schedule(() -> {
            if (active == 0 && generation == lingers && keeper != null) {
                try (FileLock table = LOCKS.channel().lock(0, 1, false)) {
                    letGoOfTable(nft);
                }
            }
            return null;
        }, TABLE_LINGER_MS);
    }

    /** Under the table lock: this JVM keeps the table no longer, and removes it if no other JVM does. */
    private static void letGoOfTable(Path nft) throws IOException {
        if (keeper != null) {
            keeper.release();
            keeper = null;
        }
        removeTableIfUnused(nft);
    }

    /**
     * The JVM exits with sandboxes running (their helpers kill them once its sockets close): their
     * addresses are let go and the table removed if no other JVM uses it. A JVM killed with -9
     * leaves the table to the next one's first and last private sandbox.
     */
    private static void atExit(Path nft) {
        java.util.concurrent.Future<?> done = LOCKS.submit(() -> {
            try (FileLock table = LOCKS.channel().lock(0, 1, false)) {
                for (Veth v : LIVE) {
                    synchronized (v) {
                        v.released = true;
                    }
                    v.allocation.release();
                }
                LIVE.clear();
                active = 0;
                leaving = 0;
                letGoOfTable(nft);
            }
            return null;
        });
        try {
            done.get(5, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException | java.util.concurrent.ExecutionException
                | java.util.concurrent.TimeoutException e) {
            log.debug("network cleanup at exit: {}", e.toString());
        }
    }

    /** Under the table lock, with this JVM keeping the table no longer. */
    private static void removeTableIfUnused(Path nft) throws IOException {
        FileLock everyone = tryLock(1);
        if (everyone != null) {
            try {
                HostCommand.run(nft, List.of("delete", "table", "inet", TABLE), "");
            } finally {
                everyone.release();
            }
        }
    }

    /**
     * Why sandboxes get no IPv6, if they do not: the kernel has none, new interfaces get none, the
     * host has no IPv6 default route, or forwarding, which sandboxes need, is off and turning it on
     * would make an interface stop taking the router advertisements some of its routes came from
     * (an interface with forwarding takes them only with accept_ra 2): the kernel drops a default
     * route learned so at once, and the prefixes its addresses were made from expire unrenewed.
     *
     * @param routes the text of /proc/net/ipv6_route; null if the kernel has no IPv6
     * @param sysctl the value of a setting below /proc/sys/net/ipv6 (e.g. conf/eth0/accept_ra), null if none
     */
    static java.util.Optional<String> whyNoIpv6(String routes, java.util.function.Function<String, String> sysctl) {
        if (routes == null) {
            return java.util.Optional.of("the kernel has no IPv6");
        }
        if ("1".equals(sysctl.apply("conf/default/disable_ipv6"))) {
            return java.util.Optional.of("new interfaces get no IPv6 (net.ipv6.conf.default.disable_ipv6 is 1)");
        }
        // Destination, its prefix length, source, its prefix length, next hop, metric, counts, flags, interface.
        List<String[]> all = routes.lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length == 10).toList();
        if (Ipv6.defaultRoutes(routes).isEmpty()) {
            return java.util.Optional.of("the host has no IPv6 default route");
        }
        if ("1".equals(sysctl.apply("conf/all/forwarding"))) {
            return java.util.Optional.empty();
        }
        // The default route first: forwarding drops it at once, where other routes merely expire.
        for (String[] route : all.stream().sorted(java.util.Comparator.comparing(f -> !f[1].equals("00"))).toList()) {
            String acceptRa = sysctl.apply("conf/" + route[9] + "/accept_ra");
            if ((Integer.parseUnsignedInt(route[8], 16) & RTF_ADDRCONF) != 0 && !"2".equals(acceptRa)) {
                int prefix = Integer.parseInt(route[1], 16);
                String what = prefix == 0 ? "default route" : "route to " + Ipv6.format(java.util.HexFormat.of()
                        .parseHex(route[0])) + "/" + prefix;
                return java.util.Optional.of("the host's IPv6 " + what + " on " + route[9] + " was learned from router "
                        + "advertisements, which " + route[9] + " would stop taking (its accept_ra is " + acceptRa
                        + ", not 2) once net.ipv6.conf.all.forwarding, which sandboxes need, is turned on; for IPv6 in "
                        + "sandboxes, set net.ipv6.conf." + route[9] + ".accept_ra=2");
            }
        }
        return java.util.Optional.empty();
    }

    private static String readSysctl(Path file) {
        try {
            return Files.readString(file).trim();
        } catch (IOException e) {
            return null;
        }
    }

    /** The lock byte of an address's /30; position 1 with the whole range means "every address". */
    private static long addressLock(int net) {
        return 1 + (Integer.toUnsignedLong(net) >>> 2);
    }

    /**
     * A lock on one address (or, at position 1, on every address, the table's keeper byte among
     * them), or null if another process or this JVM holds it (or part of it).
     */
    private static FileLock tryLock(long position) throws IOException {
        return LOCKS.tryLock(position, position == 1 ? ADDRESS_LOCKS : 1);
    }

    /** Binds the published host ports for the sandbox's life: a taken port fails the start, and none is taken after. */
    private static List<NetworkChannel> reservePorts(Network network) throws SandboxSetupException {
        List<NetworkChannel> held = new ArrayList<>();
        for (Network.Port p : network.ports()) {
            try {
                NetworkChannel s = p.protocol() == Network.Protocol.UDP ? DatagramChannel.open()
                        : ServerSocketChannel.open();
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

    private static void writeSysctl(Path file, String value) throws SandboxSetupException {
        try {
            Files.writeString(file, value);
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot write " + file + ": " + e.getMessage());
        }
    }

    private static void closeQuietly(NetworkChannel s) {
        try {
            s.close();
        } catch (IOException e) {
            log.debug("closing a reserved port: {}", e.toString());
        }
    }
}
