package dev.crabcan.it;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestPlan;

/**
 * A root caller's private sandboxes turn IPv4 and IPv6 forwarding on and leave it on, as container
 * engines do; the tests give the machine back as they found it. Many classes start private
 * sandboxes (NetworkTest, EscapeTest, SoakTest, the CLI's), so this runs once around the whole
 * test plan of a JVM (registered in META-INF/services).
 */
public final class ForwardingRestorer implements TestExecutionListener {
    private static final Path[] SETTINGS = {Path.of("/proc/sys/net/ipv4/ip_forward"),
            Path.of("/proc/sys/net/ipv6/conf/all/forwarding")};
    private final Map<Path, String> found = new LinkedHashMap<>();

    @Override
    public void testPlanExecutionStarted(TestPlan plan) {
        for (Path p : SETTINGS) {
            try {
                found.put(p, Files.readString(p).trim());
            } catch (IOException e) {
                // No such setting here (IPv6 off in the kernel): nothing to give back.
            }
        }
    }

    @Override
    public void testPlanExecutionFinished(TestPlan plan) {
        if (!Env.isHostRoot()) {
            return; // nobody else may have changed them
        }
        found.forEach((p, value) -> {
            try {
                if (!Files.readString(p).trim().equals(value)) {
                    Files.writeString(p, value);
                }
            } catch (IOException e) {
                throw new UncheckedIOException("cannot give " + p + " back its value " + value, e);
            }
        });
    }
}
