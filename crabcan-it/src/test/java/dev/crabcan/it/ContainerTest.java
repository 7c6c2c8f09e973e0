package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.api.Test;
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

    /** The setting the README gives for every container: Crabcan's seccomp profile. */
    static List<String> readmeSettings() {
        return List.of("--security-opt", "seccomp=" + Path.of("../containers/crabcan-seccomp.json").toAbsolutePath()
                .normalize());
    }

    /** The host ids a user-namespaced container's ids 0 to 65535 are, as podman --uidmap makes them. */
    static final int USERNS_FIRST = 200_000;

    /**
     * The README's settings with the whole /proc, which it gives for containers with a user
     * namespace of their own only: podman --uidmap (its root is host uid 200000) with the
     * seccomp profile and unmask=ALL. Its root file system is made in {@code dir}, owned by the
     * container's root, with the host's /usr (the JDK among it) and /etc bound read-only, and
     * {@code visible} bound read-write where they are (--rootfs /:O cannot be used: podman
     * cannot set up its overlay for a user namespace here). The last two are {@code --rootfs DIR}:
     * the command follows them.
     */
    static List<String> userNamespacedWithTheWholeProc(Path dir, Path... visible) throws java.io.IOException {
        Files.setAttribute(dir, "unix:mode", 0755); // the container's root, host uid 200000, must reach its root
        Path root = Files.createDirectories(dir.resolve("container-root"));
        for (String d : List.of("run", "tmp", "proc", "sys", "dev", "etc", "usr", "root", "home", "var/tmp")) {
            Files.createDirectories(root.resolve(d));
        }
        for (String link : List.of("bin", "lib", "lib64", "sbin")) {
            if (Files.isSymbolicLink(Path.of("/" + link))) {
                Files.createSymbolicLink(root.resolve(link), Files.readSymbolicLink(Path.of("/" + link)));
            }
        }
        try (java.util.stream.Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                Files.setAttribute(p, "unix:uid", USERNS_FIRST, java.nio.file.LinkOption.NOFOLLOW_LINKS);
                Files.setAttribute(p, "unix:gid", USERNS_FIRST, java.nio.file.LinkOption.NOFOLLOW_LINKS);
            }
        }
        Files.setAttribute(root.resolve("tmp"), "unix:mode", 01777);
        String map = "0:" + USERNS_FIRST + ":65536";
        List<String> options = new ArrayList<>(readmeSettings());
        options.addAll(List.of("--security-opt", "unmask=ALL", "--uidmap", map, "--gidmap", map,
                "--volume", "/usr:/usr:ro", "--volume", "/etc:/etc:ro"));
        for (Path v : visible) {
            options.addAll(List.of("--volume", v + ":" + v));
        }
        options.addAll(List.of("--rootfs", root.toString()));
        return options;
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
        cmd.addAll(List.of("--user", user + ":" + user, "--volume", Env.CLI_JAR + ":" + Env.CLI_JAR + ":ro"));
        cmd.addAll(options);
        // --rootfs DIR comes last (DIR is where an image would be): the options' own, else an overlay of the host's root.
        if (!options.contains("--rootfs")) {
            cmd.addAll(List.of("--rootfs", "/:O"));
        }
        cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-XX:-UsePerfData",
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
                .contains("never a container whose root is the host's");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65534"})
    void theReadmeProfileGivesEverySandboxItsHostname(String user, @TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Run r = cliInPodman(dir, readmeSettings(), user, "--hostname", "inside", "--", "/bin/sh", "-c", SHOW);
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("0\ninside\n0\nno-meminfo\n");
        assertThat(r.stderr()).doesNotContain("cannot set their hostname").contains("sandboxes cannot mount a full /proc")
                .contains("never a container whose root is the host's");
    }

    @ParameterizedTest
    @ValueSource(strings = {"0", "65534"})
    void inAUserNamespacedContainerWithTheWholeProcSandboxesGetTheirOwn(String user, @TempDir Path dir)
            throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Run r = cliInPodman(dir, userNamespacedWithTheWholeProc(dir), user, "--hostname", "inside", "--", "/bin/sh",
                "-c", SHOW);
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("0\ninside\n1\nmeminfo\n");
        assertThat(r.stderr()).doesNotContain("WARN");
    }

    /**
     * The attack: a rootful container's root is the host's uid 0 without CAP_SYS_ADMIN. Were its
     * sandbox that uid too, it could write the root-owned files it is given and the sysfs and
     * procfs it mounts for itself. Its sandbox runs as a host id of the range instead: it cannot
     * write the root-owned directory bound in read-write, and what it creates in a directory
     * anyone may write belongs to that host id.
     */
    @Test
    void aRootfulContainersRootDoesNotRunItsSandboxesAsTheHostsRoot(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Files.setAttribute(dir, "unix:mode", 0755); // the sandbox's host id may pass, as anybody may
        Path owned = Files.createDirectory(dir.resolve("roots"));
        Files.setAttribute(owned, "unix:mode", 0755);
        Path anyone = Files.createDirectory(dir.resolve("anyone"));
        Files.setAttribute(anyone, "unix:mode", 0777);
        List<String> options = new ArrayList<>(readmeSettings());
        options.addAll(List.of("--volume", dir + ":" + dir));
        Run r = cliInPodman(dir, options, "0", "-a", owned + ":/owned", "-a", anyone + ":/anyone", "--", "/bin/sh",
                "-c", "touch /owned/planted 2>/dev/null && echo WROTE; touch /anyone/made; echo done");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).doesNotContain("WROTE").endsWith("done\n");
        assertThat(owned.resolve("planted")).doesNotExist();
        long hostId = (int) Files.getAttribute(anyone.resolve("made"), "unix:uid");
        assertThat(dev.crabcan.internal.host.IdRange.DEFAULT.contains(hostId)).as("host id %d", hostId).isTrue();

        // A directory in one only root may enter cannot be bound, and the error says what to do.
        Path secret = Files.createDirectory(dir.resolve("secret"));
        Path inner = Files.createDirectory(secret.resolve("inner"));
        Files.setAttribute(secret, "unix:mode", 0700);
        Run refused = cliInPodman(dir, options, "0", "-a", inner + ":/inner", "--", "/bin/true");
        assertThat(refused.status()).isEqualTo(125);
        assertThat(refused.stderr()).contains("Permission denied").contains("chmod o+x")
                .contains("a user namespace of its own");
    }

    /**
     * A build tool in a rootful container (README settings): its root leases host ids and has no
     * idmapped mounts, so an image's root-owned files would be nobody's in its sandboxes. A build
     * is refused at its first RUN step, and running an image at once, saying what to do; in a
     * container with a user namespace of its own (ContainerSuiteTest runs BuildTest there) images
     * build and run.
     */
    @Test
    void aRootfulContainersRootIsToldToGiveTheContainerAUserNamespaceForImages(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Files.setAttribute(dir, "unix:mode", 0755);
        Path ctx = Files.createDirectory(dir.resolve("ctx"));
        BuildTest.busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\nRUN touch /made\n");
        String store = dir.resolve("store").toString();
        List<String> options = new ArrayList<>(readmeSettings());
        options.addAll(List.of("--volume", dir + ":" + dir));
        Run build = cliInPodman(dir, options, "0", "build", "--store", store, "-t", "t", ctx.toString());
        assertThat(build.status()).as(build.stdout() + build.stderr()).isEqualTo(1);
        assertThat(build.stderr()).contains("Crabfile:2: RUN").contains("a container's root")
                .contains("give the container a user namespace of its own");
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\n");
        assertThat(cliInPodman(dir, options, "0", "build", "--store", store, "-t", "t", ctx.toString()).status())
                .isZero();
        Run run = cliInPodman(dir, options, "0", "run", "--store", store, "t", "/bin/true");
        assertThat(run.status()).isNotZero();
        assertThat(run.stderr()).contains("an image's root filesystem cannot run here")
                .contains("give the container a user namespace of its own");
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
