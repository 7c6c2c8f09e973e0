package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The host's name servers a sandbox gets, from resolver files under a directory standing for /. */
class ResolvConfTest {
    @TempDir
    Path root;

    @AfterEach
    void clear() {
        System.clearProperty(ResolvConf.ROOT_PROPERTY);
    }

    private void host(String resolvConf, String upstream) throws Exception {
        Files.createDirectories(root.resolve("etc"));
        Files.writeString(root.resolve("etc/resolv.conf"), resolvConf);
        if (upstream != null) {
            Files.createDirectories(root.resolve("run/systemd/resolve"));
            Files.writeString(root.resolve("run/systemd/resolve/resolv.conf"), upstream);
        }
        System.setProperty(ResolvConf.ROOT_PROPERTY, root.toString());
    }

    @Test
    void ipv6ServersComeAfterIpv4OnesAndOnlyWithIpv6() throws Exception {
        host("nameserver 2001:DB8:0::53\nnameserver 192.0.2.53\nnameserver ::1\nnameserver fe80::1%eth0\n"
                + "nameserver fe80::53\n", null);
        assertThat(ResolvConf.hostServers(true)).containsExactly("192.0.2.53", "2001:db8::53");
        assertThat(ResolvConf.hostServers(false)).containsExactly("192.0.2.53");
    }

    @Test
    void aLoopbackStubGivesItsIpv6Upstream() throws Exception {
        host("nameserver 127.0.0.53\n", "nameserver 2001:db8::53\n");
        assertThat(ResolvConf.hostServers(true)).containsExactly("2001:db8::53");
        assertThat(ResolvConf.hostServers(false)).isEmpty();
    }

    @Test
    void anIpv6LoopbackStubToo() throws Exception {
        host("nameserver ::1\n", "nameserver 192.0.2.53\n");
        assertThat(ResolvConf.hostServers(true)).containsExactly("192.0.2.53");
    }
}
