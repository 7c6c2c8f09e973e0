package dev.crabcan.internal.net;

import dev.crabcan.Network;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The /etc/resolv.conf a private sandbox gets: the name servers it can reach. */
final class ResolvConf {
    private static final Logger log = LoggerFactory.getLogger(ResolvConf.class);
    private static final Path HOST = Path.of("/etc/resolv.conf");

    private ResolvConf() {}

    /** The file's text: the network's name servers, or the host's that are not loopback. */
    static String text(Network network) {
        List<String> servers = network.dns().orElseGet(ResolvConf::hostServers);
        if (servers.isEmpty()) {
            log.warn("no name server for private sandboxes: the host's /etc/resolv.conf names none that is not a "
                    + "loopback address (a sandbox cannot reach the host's loopback); set them with Network.dns(...)");
        }
        StringBuilder text = new StringBuilder("# written by Crabcan for this sandbox\n");
        servers.forEach(s -> text.append("nameserver ").append(s).append('\n'));
        return text.toString();
    }

    static List<String> hostServers() {
        try {
            return Files.readAllLines(HOST).stream().map(String::trim).filter(l -> l.startsWith("nameserver"))
                    .map(l -> l.substring("nameserver".length()).trim())
                    .filter(a -> a.matches("[0-9.]+") && !Ipv4.isLoopback(a)).toList();
        } catch (IOException e) {
            log.warn("cannot read the host's {}: {}", HOST, e.toString());
            return List.of();
        }
    }
}
