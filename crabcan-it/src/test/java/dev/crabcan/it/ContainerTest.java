package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CLI inside a podman container, as root and as uid 65534: with podman's own defaults
 * (seccomp profile, capabilities, masked /proc), where Crabcan gives up what the container
 * refuses and says so; with the settings the README gives; and where a Docker-like profile
 * forbids namespaces altogether.
 */
class ContainerTest {
    /**
     * How podman runs here. No images offline: {@code --rootfs /:O} gives the container an
     * overlay of the host's root (the JDK, the CLI jar, /tmp). runc: this host's podman default
     * (crun) is not installed. No pids limit: it needs a cgroup this host does not give podman's
     * containers. RLIMIT_NOFILE and RLIMIT_NPROC within the host's hard limits (podman's default
     * 1048576 is above them).
     */
    static final List<String> PODMAN_RUN = List.of("run", "--rm", "--runtime", "runc", "--pids-limit", "-1",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024");

    /** The settings the README gives for containers: Crabcan's seccomp profile and the whole /proc. */
    static List<String> readmeSettings() {
        return List.of("--security-opt", "seccomp=" + Path.of("../containers/crabcan-seccomp.json").toAbsolutePath()
                .normalize(), "--security-opt", "unmask=ALL");
    }

    /** The sandbox's uid, hostname, whether it has /proc/self and /proc/meminfo. */
    static final String SHOW = "id -u; hostname; cat /proc/self/status 2>/dev/null | grep -c ^Pid:; "
            + "test -e /proc/meminfo && echo meminfo || echo no-meminfo";

    record Run(int status, String stdout, String stderr) {}

    /** The CLI in a container with these podman options, as user ("0" or "65534"). */
    static Run cliInPodman(Path dir, List<String> options, String user, String... args) throws Exception {
        Path podman = Env.tool("podman", "podman");
        Env.tool("runc", "runc");
        List<String> cmd = new ArrayList<>(List.of(podman.toString()));
        cmd.addAll(PODMAN_RUN);
        cmd.addAll(List.of("--network", "none"));
        cmd.addAll(options);
        cmd.addAll(List.of("--user", user + ":" + user, "--rootfs", "/:O",
                Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData",
                "-Djava.io.tmpdir=/tmp", "-Dcrabcan.cache.dir=/tmp/crabcan-in-container-" + user,
                "-jar", Env.CLI_JAR.toString()));
        cmd.addAll(List.of(args));
        CliTest.Run r = CliTest.run(new ProcessBuilder(cmd).directory(dir.toFile()), "");
        return new Run(r.status(), r.stdout(), r.stderr());
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65534"})
    void podmansDefaultsRunSandboxesWithoutWhatTheyRefuse(String user, @TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Run r = cliInPodman(dir, List.of(), user, "--", "/bin/sh", "-c", SHOW);
        assertThat(r.status()).as(r.stderr()).isZero();
        // The hostname is the container's (its id), kept in the sandbox's own UTS namespace; no /proc at all.
        assertThat(r.stdout()).matches("0\n[0-9a-f]{12}\n0\nno-meminfo\n");
        assertThat(r.stderr()).contains("sandboxes cannot set their hostname here")
                .contains("sandboxes cannot mount a full /proc here")
                .contains("let the container show its whole /proc");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65534"})
    void theReadmeSettingsGiveEverySandboxItsHostnameAndProc(String user, @TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Run r = cliInPodman(dir, readmeSettings(), user, "--hostname", "inside", "--", "/bin/sh", "-c", SHOW);
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("0\ninside\n1\nmeminfo\n");
        assertThat(r.stderr()).doesNotContain("WARN");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65534"})
    void namespacesForbiddenByTheSeccompProfileIsAnUnsupportedHost(String user, @TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Path profile = Path.of("src/test/resources/namespaces-forbidden-seccomp.json").toAbsolutePath();
        assertThat(profile).exists();
        Run r = cliInPodman(dir, List.of("--security-opt", "seccomp=" + profile), user, "--", "/bin/true");
        assertThat(r.status()).isEqualTo(125);
        assertThat(r.stderr()).contains("cannot create the sandbox's namespaces")
                .contains("runs under a seccomp filter").contains("crabcan-seccomp.json");
    }
}
