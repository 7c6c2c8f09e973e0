package dev.crabcan.internal.net;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The /etc/resolv.conf a private sandbox gets: the name servers it can reach. */
final class ResolvConf {
    private static final Logger log = LoggerFactory.getLogger(ResolvConf.class);
    private static final Path HOST = Path.of("/etc/resolv.conf");

    private ResolvConf() {}

    /** A file in the run directory naming the network's name servers, or the host's that are not loopback. */
    static Path file(Network network, Path runDir) throws SandboxSetupException {
        List<String> servers = network.dns().orElseGet(ResolvConf::hostServers);
        if (servers.isEmpty()) {
            log.warn("no name server for private sandboxes: the host's /etc/resolv.conf names none that is not a "
                    + "loopback address (a sandbox cannot reach the host's loopback); set them with Network.dns(...)");
        }
        StringBuilder text = new StringBuilder("# written by Crabcan for this sandbox\n");
        servers.forEach(s -> text.append("nameserver ").append(s).append('\n'));
        byte[] bytes = text.toString().getBytes(StandardCharsets.UTF_8);
        Path file = runDir.resolve("resolv-" + Integer.toHexString(java.util.Arrays.hashCode(bytes)) + ".conf");
        try {
            if (!Files.exists(file)) {
                Path tmp = Files.createTempFile(runDir, "resolv", ".tmp");
                Files.write(tmp, bytes);
                tmp.toFile().setReadable(true, false);
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new SandboxSetupException("network", 0, "cannot write " + file + ": " + e.getMessage());
        }
        return file;
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
