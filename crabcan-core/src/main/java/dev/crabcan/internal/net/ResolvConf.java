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

    /** The file's text: the network's name servers, or the host's that are not loopback. */
    static String text(Network network) {
        List<String> servers = network.dns().orElseGet(ResolvConf::hostServers);
        if (servers.isEmpty()) {
            log.warn("no name server for private sandboxes: the host's /etc/resolv.conf names none that is not a "
                    + "loopback address (a sandbox cannot reach the host's loopback), nor does systemd-resolved's "
                    + "/{}; set them with Network.dns(...)", RESOLVED_UPSTREAM);
        }
        StringBuilder text = new StringBuilder("# written by Crabcan for this sandbox\n");
        servers.forEach(s -> text.append("nameserver ").append(s).append('\n'));
        return text.toString();
    }

    /**
     * The host's name servers that are not loopback addresses; if it names only a loopback stub,
     * those systemd-resolved forwards to (its own list of them, which it keeps up to date).
     */
    static List<String> hostServers() {
        Path root = Path.of(System.getProperty(ROOT_PROPERTY, "/"));
        List<String> host = servers(root.resolve(HOST));
        List<String> reachable = host.stream().filter(a -> !Ipv4.isLoopback(a)).toList();
        if (!reachable.isEmpty() || host.isEmpty()) {
            return reachable;
        }
        List<String> upstream = servers(root.resolve(RESOLVED_UPSTREAM)).stream().filter(a -> !Ipv4.isLoopback(a))
                .toList();
        log.debug("the host names only loopback name servers {}; sandboxes get systemd-resolved's upstream {}", host,
                upstream);
        return upstream;
    }

    /** The IPv4 name servers a resolv.conf names; none if it does not exist. */
    private static List<String> servers(Path file) {
        try {
            return Files.readAllLines(file).stream().map(String::trim).filter(l -> l.startsWith("nameserver"))
                    .map(l -> l.substring("nameserver".length()).trim()).filter(a -> a.matches("[0-9.]+")).toList();
        } catch (NoSuchFileException e) {
            return List.of();
        } catch (IOException e) {
            log.warn("cannot read the host's {}: {}", file, e.toString());
            return List.of();
        }
    }
}
