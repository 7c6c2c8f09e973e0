package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
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
 * Rootless podman, with its own defaults, drives crabcan-oci's native front end: podman runs as
 * a user of its own, made here with subordinate id ranges (useradd gives them, from
 * /etc/login.defs), its storage under that user's home and its runtime directory
 * (XDG_RUNTIME_DIR) here, and runs crabcan-oci as root of its user namespace, which maps the
 * user's id and its subordinate ids. The user, its ranges, its processes (podman's pause
 * process, crabcan-oci's service) and every file are gone afterwards.
 *
 * <p>Host root only: making a user takes it. The test itself is about a rootless engine.
 */
@Timeout(value = 10, unit = TimeUnit.MINUTES)
class PodmanRootlessTest {
    static final String IMAGE = "localhost/crabcan-busybox:rootless";

    static Path base;
    static String user;
    static long uid;
    static Path home;
    static Path runtimeDir;
    static Path runtime;
    static boolean createdSubuid;
    static boolean createdSubgid;
    /**
     * The backups useradd and userdel write (/etc/passwd- and the like), as they were: restored
     * afterwards, or they would keep the test user's lines. Null for one that did not exist.
     */
    static final java.util.Map<Path, byte[]> BACKUPS = new java.util.LinkedHashMap<>();

    record Run(int status, String stdout, String stderr) {}

    /** podman, with its arguments, as some user with crabcan-oci as its runtime. */
    @FunctionalInterface
    interface Podman {
        Run run(String... args) throws Exception;
    }

    /** What a test checks of a running container, given its name and its command's host pid. */
    @FunctionalInterface
    interface RunningCheck {
        void check(String name, long pid) throws Exception;
    }

    @BeforeAll
    static void makeTheUserAndItsImage() throws Exception {
        assumeTrue(Env.isHostRoot(), "making a user for rootless podman takes host root");
        Env.tool("podman", "podman");
        Env.tool("newuidmap", "uidmap");
        Path useradd = Env.tool("useradd", "passwd");
        base = Files.createTempDirectory("crabcan-podman-rootless");
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxr-xr-x"));
        for (String f : List.of("passwd", "group", "shadow", "gshadow", "subuid", "subgid")) {
            Path backup = Path.of("/etc/" + f + "-");
            BACKUPS.put(backup, Files.exists(backup) ? Files.readAllBytes(backup) : null);
        }
        // useradd gives a new user subordinate ids only where the files exist (Debian's passwd makes them).
        createdSubuid = createIfMissing(Path.of("/etc/subuid"));
        createdSubgid = createIfMissing(Path.of("/etc/subgid"));
        user = "crabcan-rl-" + ProcessHandle.current().pid();
        home = base.resolve("home");
        Env.host(useradd.toString(), "--create-home", "--home-dir", home.toString(), "--shell", "/usr/sbin/nologin",
                "--comment", "Crabcan PodmanRootlessTest, removed afterwards", user);
        uid = (Integer) Files.getAttribute(home, "unix:uid");
        assertThat(subordinateIds("/etc/subuid")).as("useradd's subordinate uids for %s", user).isNotEmpty();
        assertThat(subordinateIds("/etc/subgid")).as("useradd's subordinate gids for %s", user).isNotEmpty();
        runtimeDir = ownedByTheUser(base.resolve("run"));
        runtime = installFrontEnd(base, ownedByTheUser(base.resolve("cache")));
        importBusybox(base, PodmanRootlessTest::podman);
    }

    /**
     * crabcan-oci's front end with the jar beside it in base/bin, where the user can run it, and the
     * runtime to give podman, base/crabcan-oci: conmon passes the runtime only PATH, HOME and
     * XDG_RUNTIME_DIR, so the Java and the cache come from this wrapper.
     */
    static Path installFrontEnd(Path base, Path cache) throws Exception {
        Path bin = Files.createDirectory(base.resolve("bin"));
        Files.copy(OciServiceTest.FRONT_END, bin.resolve("crabcan-oci"));
        Files.copy(Env.CLI_JAR, bin.resolve("crabcan.jar"));
        Path wrapper = base.resolve("crabcan-oci");
        Files.writeString(wrapper, "#!/bin/sh\nJAVA=" + Path.of(System.getProperty("java.home"), "bin", "java")
                + " CRABCAN_CACHE_DIR=" + cache + " exec " + bin.resolve("crabcan-oci") + " \"$@\"\n");
        for (Path p : List.of(bin, bin.resolve("crabcan-oci"), wrapper)) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.setPosixFilePermissions(bin.resolve("crabcan.jar"), PosixFilePermissions.fromString("rw-r--r--"));
        return wrapper;
    }

    /** Imports a busybox root file system, made in base, as IMAGE. */
    static void importBusybox(Path base, Podman podman) throws Exception {
        Path rootfs = base.resolve("rootfs");
        BuildTest.busyboxRootfs(rootfs);
        Path tar = base.resolve("rootfs.tar");
        Env.host("tar", "-C", rootfs.toString(), "-cf", tar.toString(), ".");
        Files.setPosixFilePermissions(tar, PosixFilePermissions.fromString("rw-r--r--"));
        Run imported = podman.run("import", tar.toString(), IMAGE);
        assertThat(imported.status()).as(imported.stderr()).isZero();
    }

    private static boolean createIfMissing(Path file) throws Exception {
        if (Files.exists(file)) {
            return false;
        }
        Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-r--r--")));
        return true;
    }

    private static List<String> subordinateIds(String file) throws Exception {
        return Files.readAllLines(Path.of(file)).stream().filter(l -> l.startsWith(user + ":")).toList();
    }

    private static Path ownedByTheUser(Path dir) throws Exception {
        Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        Env.host("chown", user + ":" + user, dir.toString());
        return dir;
    }

    /**
     * Removes what podman left (containers, images, storage, its pause process), stops
     * crabcan-oci's service, checks that none of the user's processes is left, then removes the
     * user (userdel takes its subordinate ids too) and every file.
     */
    @AfterAll
    static void removeEverything() throws Exception {
        if (user == null) {
            return;
        }
        try {
            if (runtime != null) {
                podman("rm", "--all", "--force", "--time", "0");
                Run reset = podman("system", "reset", "--force");
                assertThat(reset.status()).as(reset.stderr()).isZero();
                stopServices(runtimeDir.resolve("crabcan"));
            }
            List<String> left = new ArrayList<>();
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
            do {
                left = ProcessHandle.allProcesses().filter(p -> ownedByTheUser(p) && !Env.isZombie(p.pid()))
                        .map(p -> p.pid() + " " + p.info().commandLine().orElse("?")).toList();
            } while (!left.isEmpty() && System.nanoTime() < deadline && sleep());
            assertThat(left).as("processes of %s after podman system reset", user).isEmpty();
        } finally {
            ProcessHandle.allProcesses().filter(PodmanRootlessTest::ownedByTheUser).forEach(ProcessHandle::destroyForcibly);
            Env.host("userdel", user);
            if (createdSubuid) {
                Files.delete(Path.of("/etc/subuid"));
            }
            if (createdSubgid) {
                Files.delete(Path.of("/etc/subgid"));
            }
            for (var b : BACKUPS.entrySet()) {
                if (b.getValue() == null) {
                    Files.deleteIfExists(b.getKey());
                } else {
                    Files.write(b.getKey(), b.getValue());
                }
            }
            try (Stream<Path> all = Files.walk(base)) {
                for (Path p : all.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
        assertThat(subordinateIds("/etc/subuid")).isEmpty();
        assertThat(subordinateIds("/etc/subgid")).isEmpty();
    }

    /** Stops the crabcan-oci services of this state root (podman's --root for crabcan-oci). */
    static void stopServices(Path state) throws Exception {
        for (ProcessHandle p : ProcessHandle.allProcesses().filter(p -> p.info().commandLine().map(c -> c.contains(
                "dev.crabcan.examples.OciService") && c.endsWith(" " + state)).orElse(false)).toList()) {
            p.destroy();
            p.onExit().get(Env.CLEANUP_CEILING_MS, TimeUnit.MILLISECONDS);
        }
    }

    private static boolean ownedByTheUser(ProcessHandle p) {
        try {
            return Files.readAllLines(Path.of("/proc/" + p.pid() + "/status")).stream()
                    .anyMatch(l -> l.startsWith("Uid:") && l.substring(4).trim().split("\\s+")[0].equals(Long.toString(uid)));
        } catch (java.io.IOException e) {
            return false; // gone
        }
    }

    private static boolean sleep() throws InterruptedException {
        Thread.sleep(100);
        return true;
    }

    /** podman as the user, with only the environment a login would give it, and crabcan-oci as its runtime. */
    static Run podman(String... args) throws Exception {
        return podman(List.of("setpriv", "--reuid=" + user, "--regid=" + user, "--init-groups"), runtime, home,
                Map.of("USER", user, "XDG_RUNTIME_DIR", runtimeDir.toString()), base, args);
    }

    /**
     * podman started by prefix (none: as this process's user) with runtime as its runtime, in home,
     * with only PATH, HOME and env as its environment; its stderr goes through a file in tmp.
     */
    static Run podman(List<String> prefix, Path runtime, Path home, Map<String, String> environment, Path tmp,
            String... args) throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(Env.tool("podman", "podman").toString(), "--runtime", runtime.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(home.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> env = pb.environment();
        String path = env.getOrDefault("PATH", "/usr/bin:/bin");
        env.clear();
        env.put("PATH", path);
        env.put("HOME", home.toString());
        env.putAll(environment);
        Path err = Files.createTempFile(tmp, "podman", ".err");
        Process p = pb.redirectError(err.toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("podman " + List.of(args) + " did not end within 90 s: " + Files.readString(err));
        }
        String stderr = Files.readString(err);
        Files.delete(err);
        return new Run(p.exitValue(), out, stderr);
    }

    /** crabcan-oci's state directory (podman's --root for it) holds only the link to the service. */
    static void assertNoContainerState(Path state) throws Exception {
        try (Stream<Path> names = Files.list(state)) {
            assertThat(names.map(p -> p.getFileName().toString()).toList()).isSubsetOf(".service");
        }
    }

    @Test
    void runRmShowsOutputAndExitCode() throws Exception {
        runRmShowsOutputAndExitCode(PodmanRootlessTest::podman, runtimeDir.resolve("crabcan"));
    }

    static void runRmShowsOutputAndExitCode(Podman podman, Path state) throws Exception {
        Run r = podman.run("run", "--rm", IMAGE, "/bin/sh", "-c",
                "echo hello from $(cat /etc/hostname) as $(id -u); echo oops >&2; exit 3");
        assertThat(r.status()).as(r.stderr()).isEqualTo(3);
        assertThat(r.stdout()).startsWith("hello from ").endsWith(" as 0\n");
        assertThat(r.stderr()).contains("oops");
        assertNoContainerState(state);
    }

    /**
     * --group-add: the command of run and of exec gets the groups (podman's user namespace maps
     * them to the user's subordinate gids; crabcan-oci maps each to itself).
     */
    @Test
    void groupAddGivesRunAndExecSupplementaryGroups() throws Exception {
        Run r = podman("run", "--rm", "--group-add", "5", "--group-add", "10", IMAGE, "/bin/sh", "-c", "id -G");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("0 5 10\n");
        String name = "crabcan-rootless-groups-" + ProcessHandle.current().pid();
        Run started = podman("run", "-d", "--name", name, "--group-add", "5", IMAGE, "/bin/busybox", "sleep", "1000");
        try {
            assertThat(started.status()).as(started.stderr()).isZero();
            Run exec = podman("exec", name, "/bin/sh", "-c", "id -G");
            assertThat(exec.status()).as(exec.stderr()).isZero();
            assertThat(exec.stdout()).isEqualTo("0 5\n");
        } finally {
            Run removed = podman("rm", "-f", "-t", "0", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertNoContainerState(runtimeDir.resolve("crabcan"));
    }

    /**
     * A pod as podman makes it with its own defaults: an infra container (catatonit, in an image
     * podman builds) whose network, IPC and UTS namespaces the pod's containers join by path. Two
     * containers see the same namespaces and hostname, one sees the POSIX message queue the other
     * made, and exec enters a member.
     */
    @Test
    void aPodsContainersShareItsNetworkIpcAndHostname() throws Exception {
        aPodsContainersShareItsNetworkIpcAndHostname(PodmanRootlessTest::podman, runtimeDir.resolve("crabcan"), true);
    }

    /**
     * Two containers of a pod see its namespaces and hostname; with queue, the first makes a POSIX
     * queue that the second sees (a root caller's members are host ids of their own, whom the pod's
     * IPC namespace does not map: no queue).
     */
    static void aPodsContainersShareItsNetworkIpcAndHostname(Podman podman, Path state, boolean queue)
            throws Exception {
        String pod = "crabcan-pod-" + ProcessHandle.current().pid();
        String namespaces = "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname";
        Run created = podman.run("pod", "create", "--name", pod, "--hostname", "crabcan-pod");
        try {
            assertThat(created.status()).as(created.stderr()).isZero();
            Run started = podman.run("run", "-d", "--pod", pod, "--name", pod + "-a", IMAGE, "/bin/sh", "-c",
                    (queue ? ": > /dev/mqueue/crabcan-q && " : "") + "exec sleep 1000");
            assertThat(started.status()).as(started.stderr()).isZero();
            Run first = podman.run("exec", pod + "-a", "/bin/sh", "-c", namespaces + "; ls /dev/mqueue");
            assertThat(first.status()).as(first.stderr()).isZero();
            Run second = podman.run("run", "--rm", "--pod", pod, IMAGE, "/bin/sh", "-c", namespaces + "; ls /dev/mqueue");
            assertThat(second.status()).as(second.stderr()).isZero();
            assertThat(second.stdout()).isEqualTo(first.stdout())
                    .endsWith(queue ? "\ncrabcan-pod\ncrabcan-q\n" : "\ncrabcan-pod\n");
            String infra = podman.run("pod", "inspect", "--format", "{{.InfraContainerID}}", pod).stdout().trim();
            assertThat(infra).as("the pod's infra container").isNotEmpty();
            String infraPid = podman.run("inspect", "--format", "{{.State.Pid}}", infra).stdout().trim();
            for (String ns : List.of("net", "ipc", "uts")) {
                assertThat(first.stdout()).as("the pod's %s namespace", ns)
                        .contains(Files.readSymbolicLink(Path.of("/proc/" + infraPid + "/ns/" + ns)).toString());
            }
        } finally {
            Run removed = podman.run("pod", "rm", "--force", "--time", "0", pod);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(podman.run("ps", "-a", "--format", "{{.Names}}").stdout()).doesNotContain(pod);
        assertNoContainerState(state);
    }

    /**
     * A detached container runs as the user on the host (root only in podman's user namespace);
     * exec runs commands in it, stop ends it with SIGTERM, rm removes it.
     */
    @Test
    void runDetachedExecStopAndRm() throws Exception {
        runDetachedExecStopAndRm(PodmanRootlessTest::podman, uid, runtimeDir.resolve("crabcan"), (name, pid) -> { });
    }

    /** The test above, for podman as the user uid; running is checked while the container runs. */
    static void runDetachedExecStopAndRm(Podman podman, long uid, Path state, RunningCheck running) throws Exception {
        String name = "crabcan-rootless-" + ProcessHandle.current().pid();
        Run started = podman.run("run", "-d", "--name", name, IMAGE, "/bin/busybox", "sleep", "1000");
        try {
            assertThat(started.status()).as(started.stderr()).isZero();
            Run listed = podman.run("ps", "-a", "--format", "{{.Names}} {{.Status}}");
            assertThat(listed.stdout()).as(listed.stderr()).contains(name + " Up");
            long pid = Long.parseLong(podman.run("inspect", "--format", "{{.State.Pid}}", name).stdout().trim());
            assertThat(Env.hostUid(pid)).as("the container's command on the host").isEqualTo(uid);
            running.check(name, pid);
            Run exec = podman.run("exec", name, "/bin/sh", "-c", "echo hi from $(cat /proc/1/comm); exit 4");
            assertThat(exec.status()).as(exec.stderr()).isEqualTo(4);
            assertThat(exec.stdout()).isEqualTo("hi from crabcan-init\n");
            Run missing = podman.run("exec", name, "/nope");
            assertThat(missing.status()).as(missing.stderr()).isEqualTo(127);
            Run stopped = podman.run("stop", "-t", "10", name);
            assertThat(stopped.status()).as(stopped.stderr()).isZero();
            assertThat(podman.run("wait", name).stdout().trim()).isEqualTo("143");
        } finally {
            Run removed = podman.run("rm", "-f", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(podman.run("ps", "-a", "--format", "{{.Names}}").stdout()).doesNotContain(name);
        assertNoContainerState(state);
    }
}
