package dev.crabcan.internal.net;

import dev.crabcan.Network;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The /etc/resolv.conf a private sandbox gets: the name servers it can reach. */
final class ResolvConf {
    private static final Logger log = LoggerFactory.getLogger(ResolvConf.class);
    /** A directory that stands for / where the host's resolver files are read; for tests. */
    static final String ROOT_PROPERTY = "crabcan.net.resolvRoot";
    private static final String HOST = "etc/resolv.conf";
    /** systemd-resolved's list of its upstream servers, when its stub (127.0.0.53) is all the host's file names. */
    private static final String RESOLVED_UPSTREAM = "run/systemd/resolve/resolv.conf";

    private ResolvConf() {}

    /**
     * The file's text: the network's name servers, or the host's that a sandbox can reach (not
     * loopback, not link-local; IPv6 ones only if it has IPv6, after the IPv4 ones).
     *
     * @param ipv6 whether the sandbox has IPv6
     */
    static String text(Network network, boolean ipv6) {
        List<String> servers = network.dns().orElseGet(() -> hostServers(ipv6));
        if (servers.isEmpty()) {
            log.warn("no name server for private sandboxes: the host's /etc/resolv.conf names none that is not a "
                    + "loopback or link-local address (a sandbox reaches neither), nor does systemd-resolved's "
                    + "/{}{}; set them with Network.dns(...)", RESOLVED_UPSTREAM,
                    ipv6 ? "" : " (IPv6 ones are left out: the sandbox has no IPv6)");
        }
        StringBuilder text = new StringBuilder("# written by Crabcan for this sandbox\n");
        servers.forEach(s -> text.append("nameserver ").append(s).append('\n'));
        return text.toString();
    }

    /**
     * The host's name servers a sandbox can reach; if it names only a loopback stub, those
     * systemd-resolved forwards to (its own list of them, which it keeps up to date).
     */
    static List<String> hostServers(boolean ipv6) {
        Path root = Path.of(System.getProperty(ROOT_PROPERTY, "/"));
        List<String> host = servers(root.resolve(HOST));
        List<String> reachable = reachable(host, ipv6);
        if (!reachable.isEmpty() || host.stream().noneMatch(ResolvConf::isLoopback)) {
            return reachable;
        }
        List<String> upstream = reachable(servers(root.resolve(RESOLVED_UPSTREAM)), ipv6);
        log.debug("the host names only loopback name servers {}; sandboxes get systemd-resolved's upstream {}", host,
                upstream);
        return upstream;
    }

    /** IPv4 first: a resolver tries them in order, and a sandbox's IPv4 is never missing. */
    private static List<String> reachable(List<String> servers, boolean ipv6) {
        List<String> v4 = servers.stream().filter(a -> !a.contains(":") && !isLoopback(a)).toList();
        List<String> v6 = servers.stream().filter(a -> a.contains(":") && ipv6 && !isLoopback(a)
                && !Ipv6.isLinkLocal(Ipv6.parse(a).orElseThrow())).toList();
        return java.util.stream.Stream.concat(v4.stream(), v6.stream()).toList();
    }

    private static boolean isLoopback(String address) {
        return address.contains(":") ? Ipv6.isLoopback(Ipv6.parse(address).orElseThrow())
                : Ipv4.isLoopback(address);
    }

    /**
     * The name servers a resolv.conf names, IPv4 and IPv6 (not those with a zone, which name the
     * host's interfaces); none if it does not exist.
     */
    private static List<String> servers(Path file) {
        try {
            return Files.readAllLines(file).stream().map(String::trim).filter(l -> l.startsWith("nameserver"))
                    .map(l -> l.substring("nameserver".length()).trim())
                    .filter(a -> a.matches("[0-9.]+") || Ipv6.parse(a).isPresent())
                    .map(a -> a.contains(":") ? Ipv6.format(Ipv6.parse(a).orElseThrow()) : a).toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            log.warn("cannot read the host's {}: {}", file, e.toString());
            return List.of();
        }
    }
}
