package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runs every other test of this module again as root of a user namespace (as rootless podman,
 * rootless CI containers and user-namespaced pods run their root): once made by host root with a
 * range of ids mapped (its root is host uid 300000), once made by uid 65534 with unshare -r (its
 * root is host uid 65534). Such a caller is root but not host root: its sandboxes run as the
 * caller, with the root caller's rules (see {@link SuiteLauncher}). unshare -r made by host root,
 * whose root is the host's uid 0, is refused.
 */
class UserNamespaceSuiteTest {
    private static final int NOBODY = 65534;

    /** The host ids host root maps into its user namespace, as rootful podman's --userns does. */
    private static final int MAPPED_FIRST = 300_000;

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesAsRootOfAUserNamespaceMadeByRoot() throws Exception {
        assumeTrue(Env.isHostRoot(), "making the user namespaces takes host root");
        // unshare --map-users would ask newuidmap, which wants /etc/subuid entries for root: the map is written here.
        String map = "0 " + MAPPED_FIRST + " 65536";
        String script = "unshare -U sleep 3600 & p=$!\n"
                + "while [ \"$(readlink /proc/$p/ns/user)\" = \"$(readlink /proc/self/ns/user)\" ]; do sleep 0.05; done\n"
                + "echo '" + map + "' > /proc/$p/uid_map && echo '" + map + "' > /proc/$p/gid_map || { kill $p; exit 1; }\n"
                + "nsenter -U -t $p -S 0 -G 0 -- \"$@\"; rc=$?\n"
                + "kill $p; exit $rc\n";
        // NetworkTest's outside world, which takes host root to make (see RootlessSuiteTest).
        try (NetworkTest.Uplink uplink = new NetworkTest.Uplink()) {
            SuiteLauncher.run("as root of a user namespace made by host root", List.of("/bin/sh", "-c", script,
                    "userns"), MAPPED_FIRST, SKIPS);
        }
    }

    /**
     * The attack it refuses: root that runs unshare -r gets a user namespace in which it is still
     * the host's uid 0, and maps nothing else. A sandbox made there could only be the host's root
     * (writable sysfs, root-only /proc files, every root-owned file it is given).
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void theHostsRootInAUserNamespaceThatMapsNothingElseIsRefused(@TempDir Path cache) throws Exception {
        assumeTrue(Env.isHostRoot(), "making the user namespace takes host root");
        CliTest.Run r = CliTest.run(new ProcessBuilder("unshare", "-U", "-r",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData",
                "-Dcrabcan.cache.dir=" + cache.resolve("cache"), "-jar", Env.CLI_JAR.toString(), "--",
                "/bin/sh", "-c", "echo RAN"), "");
        assertThat(r.status()).as(r.stderr()).isEqualTo(125);
        assertThat(r.stdout()).doesNotContain("RAN");
        assertThat(r.stderr()).contains("the host's root (uid 0) without the capabilities in the host's user namespace")
                .contains("--map-users");
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesAsRootOfAUserNamespaceMadeByNobody() throws Exception {
        assumeTrue(Env.isHostRoot(), "making the user namespaces takes host root");
        try (NetworkTest.Uplink uplink = new NetworkTest.Uplink()) {
            SuiteLauncher.run("as root of a user namespace made by uid " + NOBODY, List.of("setpriv", "--reuid=" + NOBODY,
                    "--regid=" + NOBODY, "--clear-groups", "unshare", "-U", "-r"), NOBODY, SKIPS);
        }
    }

    /**
     * Skipped as root of a user namespace, whoever made it: what only host root can do, the tests
     * the rootless run skips (see {@link RootlessSuiteTest#ROOT_ONLY} for each reason), but the
     * root caller's rules, which apply to any root caller (its sandbox's files are that root's).
     */
    static final List<String> SKIPS = RootlessSuiteTest.ROOT_ONLY.stream()
            .filter(t -> !t.startsWith("EscapeTest#rootCallers")).toList();
}
