package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Host settings that forbid sandboxes, reproduced without changing this host: each start fails
 * with an UnsupportedHostException (CLI: exit 125) that names the setting and the fix. The
 * seccomp profile of a container is in {@link ContainerTest}.
 */
class HostSettingsTest {

    /** user.max_user_namespaces is per user namespace: 0 in a child one forbids them there only. */
    @Test
    void noUserNamespacesAllowedNamesTheSysctl(@TempDir Path dir) throws Exception {
        Env.tool("unshare", "util-linux");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        CliTest.Run r = CliTest.run(new ProcessBuilder(List.of("unshare", "-U", "-r", "sh", "-c",
                "echo 0 > /proc/sys/user/max_user_namespaces && exec \"$0\" \"$@\"", java, "-XX:-UsePerfData",
                "-Dcrabcan.cache.dir=" + dir.resolve("cache"), "-jar", Env.CLI_JAR.toString(), "--", "/bin/true"))
                .directory(dir.toFile()), "");
        assertThat(r.status()).as(r.stderr()).isEqualTo(125);
        assertThat(r.stderr()).contains("user namespaces are disabled (user.max_user_namespaces = 0)")
                .contains("sysctl -w user.max_user_namespaces=");
    }

    /**
     * A JVM in a pid namespace of its own whose /proc is still its parent's (unshare --pid --fork
     * without --mount-proc): /proc/PID would name other processes than the helper's.
     */
    @Test
    void aProcOfAnotherPidNamespaceNamesTheFix(@TempDir Path dir) throws Exception {
        Env.tool("unshare", "util-linux");
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        CliTest.Run r = CliTest.run(new ProcessBuilder(List.of("unshare", "-U", "-r", "--pid", "--fork", java,
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + dir.resolve("cache"), "-jar", Env.CLI_JAR.toString(), "--",
                "/bin/true")).directory(dir.toFile()), "");
        assertThat(r.status()).as(r.stderr()).isEqualTo(125);
        assertThat(r.stderr()).contains("/proc belongs to another pid namespace").contains("--mount-proc");
    }
}
