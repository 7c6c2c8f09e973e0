package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.it.PodmanRootlessTest.Run;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Rootless podman with its own defaults on a pure cgroup v2 host with systemd, where its cgroup
 * manager is systemd: it runs crabcan-oci's native front end with --systemd-cgroup and a
 * cgroupsPath user.slice:libpod:ID, and crabcan-oci asks the user's systemd manager for the scope
 * libpod-ID.scope. Run by the user itself, with its systemd user manager and that manager's D-Bus
 * ($XDG_RUNTIME_DIR/bus): the VM lane's user way (tester, whose manager runs from boot on). Neither
 * this host (no systemd) nor a user made by a test (no manager) has that. podman's storage is in
 * a home of the test's own; podman system reset removes it, and no scope, cgroup or process of
 * podman or crabcan-oci is left.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PodmanSystemdCgroupTest {
    static Path base;
    static Path runtime;
    static Path home;
    static Path runtimeDir;
    /** The user manager's cgroup, below which it makes its units' (user.slice holds podman's scopes). */
    static Path manager;

    @BeforeAll
    static void podmansCgroupManagerIsSystemd() throws Exception {
        String xdg = System.getenv("XDG_RUNTIME_DIR");
        assumeTrue(!Env.isRoot() && Env.pureCgroupV2() && xdg != null && Files.exists(Path.of(xdg, "bus")),
                "rootless podman with systemd's cgroup manager needs an ordinary user with a systemd user manager "
                        + "(its D-Bus at $XDG_RUNTIME_DIR/bus) on pure cgroup v2: the VM lane runs it as its user");
        Env.tool("podman", "podman");
        Env.tool("newuidmap", "uidmap");
        runtimeDir = Path.of(xdg);
        manager = Path.of("/sys/fs/cgroup/user.slice/user-" + Env.uid() + ".slice/user@" + Env.uid() + ".service");
        assertThat(manager).as("the user manager's cgroup").isDirectory();
        base = Files.createTempDirectory("crabcan-podman-systemd");
        home = Files.createDirectory(base.resolve("home"));
        runtime = PodmanRootlessTest.installFrontEnd(base, Files.createDirectory(base.resolve("cache")));
        Run info = podman("info", "--format", "{{.Host.CgroupManager}} {{.Host.CgroupsVersion}}");
        assertThat(info.stdout()).as(info.stderr()).isEqualTo("systemd v2\n");
        PodmanRootlessTest.importBusybox(base, PodmanSystemdCgroupTest::podman);
    }

    /** podman as this user, with a login's environment: its runtime directory and its user manager's bus. */
    static Run podman(String... args) throws Exception {
        return PodmanRootlessTest.podman(List.of(), runtime, home, Map.of("USER", System.getProperty("user.name"),
                "XDG_RUNTIME_DIR", runtimeDir.toString(), "DBUS_SESSION_BUS_ADDRESS", "unix:path="
                + runtimeDir.resolve("bus")), base, args);
    }

    private static Path state() {
        return runtimeDir.resolve("crabcan");
    }

    @AfterAll
    static void removeEverything() throws Exception {
        if (base == null) {
            return;
        }
        try {
            podman("rm", "--all", "--force", "--time", "0");
            Run reset = podman("system", "reset", "--force");
            assertThat(reset.status()).as(reset.stderr()).isZero();
            PodmanRootlessTest.stopServices(state());
            List<String> left;
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
            do {
                left = leftovers();
            } while (!left.isEmpty() && System.nanoTime() < deadline && sleep());
            assertThat(left).as("podman's and crabcan-oci's processes and scopes after podman system reset").isEmpty();
        } finally {
            if (Files.isDirectory(state())) {
                try (Stream<Path> s = Files.walk(state())) {
                    s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
                }
            }
            try (Stream<Path> s = Files.walk(base)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
        assertThat(base).doesNotExist();
    }

    /**
     * podman's, conmon's and crabcan-oci's processes (this user's: the test runs as the user), and the
     * cgroups systemd made for them below the user manager: its libpod scopes (the container's and
     * conmon's) and the scope of podman's pause process.
     */
    private static List<String> leftovers() throws IOException {
        Stream<String> processes = ProcessHandle.allProcesses().filter(p -> !Env.isZombie(p.pid()))
                .filter(p -> p.info().commandLine().map(c -> c.contains("dev.crabcan.examples.OciService")
                        || Stream.of("podman", "conmon", "slirp4netns", "crabcan-oci", "crabcan-init").anyMatch(n ->
                        p.info().command().map(x -> Path.of(x).getFileName().toString().equals(n)).orElse(false)))
                        .orElse(false))
                .map(p -> p.pid() + " " + p.info().commandLine().orElse("?"));
        List<String> scopes;
        try (Stream<Path> s = Files.walk(manager)) {
            scopes = s.filter(Files::isDirectory).map(d -> d.getFileName().toString())
                    .filter(n -> n.startsWith("libpod") || n.startsWith("podman")).toList();
        }
        return Stream.concat(processes, scopes.stream()).toList();
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(100);
        return true;
    }

    @Test
    void runRmShowsOutputAndExitCode() throws Exception {
        PodmanRootlessTest.runRmShowsOutputAndExitCode(PodmanSystemdCgroupTest::podman, state());
    }

    /**
     * --memory and --pids-limit reach the container's scope (crabcan-oci gives them to systemd as
     * MemoryMax and TasksMax, and writes its files): the container reads them through its cgroup mount.
     */
    @Test
    void memoryAndPidsLimitsReachTheContainersScope() throws Exception {
        Run r = podman("run", "--rm", "--memory", "64m", "--pids-limit", "20", PodmanRootlessTest.IMAGE, "/bin/sh", "-c",
                "cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/pids.max");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("67108864\n20\n");
        assertNoScopeLeft();
    }

    /**
     * run -d, exec, stop, rm: the container's command is in the scope podman's systemd cgroup
     * manager asked for, libpod-ID.scope in the user manager's user.slice, which is active while it
     * runs and gone with the container.
     */
    @Test
    void runDetachedExecStopAndRmInTheUsersScope() throws Exception {
        Path[] scope = new Path[1];
        PodmanRootlessTest.runDetachedExecStopAndRm(PodmanSystemdCgroupTest::podman, Env.uid(), state(), (name, pid) -> {
            String id = podman("inspect", "--format", "{{.Id}}", name).stdout().trim();
            String cgroup = Files.readAllLines(Path.of("/proc/" + pid + "/cgroup")).get(0);
            scope[0] = Path.of("/sys/fs/cgroup" + cgroup.substring("0::".length()));
            assertThat(scope[0]).isEqualTo(manager.resolve("user.slice/libpod-" + id + ".scope"));
            assertThat(Files.readString(scope[0].resolve("cgroup.procs")).lines().toList()).as("the scope holds the "
                    + "container's init, whose child is the command").isNotEmpty();
            Process show = new ProcessBuilder("systemctl", "--user", "show", "-p", "ActiveState", "libpod-" + id
                    + ".scope").redirectErrorStream(true).start();
            assertThat(new String(show.getInputStream().readAllBytes())).isEqualTo("ActiveState=active\n");
            assertThat(show.waitFor(60, TimeUnit.SECONDS)).isTrue();
        });
        assertThat(scope[0]).as("the container's scope after rm").doesNotExist();
        assertNoScopeLeft();
    }

    /**
     * No container scope is left in user.slice once podman returned. (conmon's scopes are not looked
     * at here: crabcan-oci's service stays in the cgroup of the call that started it, conmon's scope,
     * until it is stopped; {@link #removeEverything} checks that nothing is left then.)
     */
    private static void assertNoScopeLeft() throws Exception {
        List<String> left;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
        do {
            try (Stream<Path> s = Files.list(manager.resolve("user.slice"))) {
                left = s.map(p -> p.getFileName().toString())
                        .filter(n -> n.startsWith("libpod-") && !n.startsWith("libpod-conmon-")).toList();
            } catch (java.nio.file.NoSuchFileException e) {
                left = List.of(); // no unit in user.slice any more: systemd removed the slice too
            }
        } while (!left.isEmpty() && System.nanoTime() < deadline && sleep());
        assertThat(left).as("container scopes in the user manager's user.slice").isEmpty();
    }
}
