package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * containerd (Debian's, with its runc v2 shim) runs containers through crabcan-oci as its runc:
 * the test starts a containerd of its own (root, state, socket and config in a temporary
 * directory), imports an OCI image archive it writes itself (Debian's busybox-static in one
 * layer) into its default snapshotter (overlayfs), drives it with ctr, and stops it; nothing is left behind (processes, shims, mounts,
 * cgroups, files). Root only: containerd needs host root.
 */
class ContainerdTest {
    private static final String IMAGE = "docker.io/crabcan/busybox:test";

    @TempDir
    Path dir;
    Path ctr;
    Path runtime;
    Path socket;
    Process containerd;
    /** ctr's namespace: also the top of the containers' cgroup paths (/NAMESPACE/ID), which the test names. */
    final String namespace = "crabcan-it-" + ProcessHandle.current().pid();
    /** The shim's sockets go to /run/containerd/s whatever the config says: removed after if it was not there. */
    boolean runContainerdExisted;
    final List<String> ids = new ArrayList<>();

    record Run(int status, String stdout, String stderr) {}

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(Env.isHostRoot(), "containerd needs host root");
        Path daemon = Env.tool("containerd", "containerd");
        ctr = Env.tool("ctr", "containerd");
        Env.tool("containerd-shim-runc-v2", "containerd");
        Path busybox = Env.tool("busybox", "busybox-static");
        Process ldd = new ProcessBuilder("ldd", busybox.toString()).redirectErrorStream(true).start();
        String linked = new String(ldd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        ldd.waitFor();
        assertThat(linked).as("the image's busybox must be static (Debian package busybox-static)")
                .contains("not a dynamic executable");
        runContainerdExisted = Files.exists(Path.of("/run/containerd"));
        runtime = dir.resolve("crabcan-oci");
        Files.writeString(runtime, "#!/bin/sh\nexec " + Path.of(System.getProperty("java.home"), "bin", "java")
                + " -XX:-UsePerfData -Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir") + " -cp "
                + Env.CLI_JAR + " dev.crabcan.examples.OciRuntime \"$@\"\n");
        Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwx------"));

        socket = dir.resolve("containerd.sock");
        Path config = Files.writeString(dir.resolve("config.toml"), """
                version = 2
                root = "%s"
                state = "%s"
                disabled_plugins = ["io.containerd.grpc.v1.cri"]
                [grpc]
                  address = "%s"
                [ttrpc]
                  address = "%s.ttrpc"
                """.formatted(dir.resolve("root"), dir.resolve("state"), socket, socket));
        containerd = new ProcessBuilder(daemon.toString(), "--config", config.toString()).redirectErrorStream(true)
                .redirectOutput(dir.resolve("containerd.log").toFile()).start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (ctr("version").status() != 0) {
            assertThat(containerd.isAlive()).as(Files.readString(dir.resolve("containerd.log"))).isTrue();
            assertThat(System.nanoTime()).as("containerd answers within 30 s").isLessThan(deadline);
            Thread.sleep(100);
        }
        Run imported = ctr("images", "import", image(busybox).toString());
        assertThat(imported.status()).as(imported.stderr()).isZero();
    }

    /**
     * An OCI image archive (image-spec's layout, tarred): one uncompressed layer with busybox and
     * its applets as links, named by the annotation ctr import reads.
     */
    Path image(Path busybox) throws Exception {
        Path layer = Files.createDirectories(dir.resolve("layer/bin"));
        Files.copy(busybox, layer.resolve("busybox"));
        for (String applet : List.of("sh", "echo", "cat", "sleep", "id", "hostname", "grep", "stat")) {
            Files.createSymbolicLink(layer.resolve(applet), Path.of("busybox"));
        }
        Path blobs = Files.createDirectories(dir.resolve("image/blobs/sha256"));
        Path layerTar = dir.resolve("layer.tar");
        Env.host("tar", "--numeric-owner", "--owner=0", "--group=0", "-C", dir.resolve("layer").toString(), "-cf",
                layerTar.toString(), "bin");
        String layerDigest = blob(blobs, Files.readAllBytes(layerTar));
        String configDigest = blob(blobs, ("{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Cmd\":[\"/bin/sh\"],"
                + "\"Env\":[\"PATH=/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" + layerDigest + "\"]}}")
                .getBytes(StandardCharsets.UTF_8));
        byte[] manifest = ("{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
                + "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" + configDigest
                + "\",\"size\":" + Files.size(blobs.resolve(configDigest.substring(7))) + "},\"layers\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" + layerDigest + "\",\"size\":"
                + Files.size(layerTar) + "}]}").getBytes(StandardCharsets.UTF_8);
        String manifestDigest = blob(blobs, manifest);
        Files.writeString(dir.resolve("image/index.json"), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
                + "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" + manifestDigest + "\",\"size\":"
                + manifest.length + ",\"annotations\":{\"io.containerd.image.name\":\"" + IMAGE + "\"}}]}");
        Files.writeString(dir.resolve("image/oci-layout"), "{\"imageLayoutVersion\":\"1.0.0\"}");
        Path archive = dir.resolve("image.tar");
        Env.host("tar", "-C", dir.resolve("image").toString(), "-cf", archive.toString(), "oci-layout", "index.json",
                "blobs");
        return archive;
    }

    private static String blob(Path blobs, byte[] content) throws Exception {
        String hex = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(content));
        Files.write(blobs.resolve(hex), content);
        return "sha256:" + hex;
    }

    Run ctr(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ctr.toString(), "--address", socket.toString(), "--namespace",
                namespace));
        cmd.addAll(List.of(args));
        File out = dir.resolve("ctr.out").toFile();
        File err = dir.resolve("ctr.err").toFile();
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(out).redirectError(err).start();
        if (!p.waitFor(90, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("ctr " + String.join(" ", args) + " did not finish within 90 s");
        }
        return new Run(p.exitValue(), Files.readString(out.toPath()), Files.readString(err.toPath()));
    }

    /** ctr run with crabcan-oci as the shim's runc. */
    Run run(String id, String... rest) throws Exception {
        ids.add(id);
        List<String> args = new ArrayList<>(List.of("run", "--runc-binary", runtime.toString(),
                "--runc-root", dir.resolve("runc").toString(), "--fifo-dir", dir.resolve("fifo").toString()));
        for (String r : rest) {
            if (r.equals(IMAGE)) {
                args.add(IMAGE);
                args.add(id);
            } else {
                args.add(r);
            }
        }
        return ctr(args.toArray(String[]::new));
    }

    /** The task's status and pid as ctr task ls shows them, e.g. {"RUNNING", "1234"}; null when there is none. */
    String[] task(String id) throws Exception {
        for (String line : ctr("task", "ls").stdout().lines().toList()) {
            String[] f = line.trim().split("\\s+");
            if (f[0].equals(id)) {
                return new String[] {f[2], f[1]};
            }
        }
        return null;
    }

    String awaitTask(String id, String status) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String[] t;
        while ((t = task(id)) != null && !t[0].equals(status) && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        return t == null ? null : t[0];
    }

    @Test
    void ctrRunShowsOutputAndExitCode() throws Exception {
        Run r = run("r1", "--rm", IMAGE, "sh", "-c", "echo hello from containerd; echo oops >&2; exit 7");
        assertThat(r.status()).as(r.stderr()).isEqualTo(7);
        assertThat(r.stdout()).isEqualTo("hello from containerd\n");
        assertThat(r.stderr()).contains("oops");
        assertThat(ctr("containers", "ls", "-q").stdout()).doesNotContain("r1");
    }

    /**
     * ctr run -t: the shim hands crabcan-oci a console socket, the container's shell gets a terminal
     * of its own devpts, and what is typed at ctr's terminal reaches it and is echoed back.
     */
    @Test
    void ctrRunTGivesAnInteractiveShell() throws Exception {
        ids.add("r6");
        List<String> command = new ArrayList<>(List.of(ctr.toString(), "--address", socket.toString(), "--namespace",
                namespace, "run", "-t", "--rm", "--runc-binary", runtime.toString(), "--runc-root",
                dir.resolve("runc").toString(), "--fifo-dir", dir.resolve("fifo").toString(), IMAGE, "r6", "sh"));
        PodmanTest.Interactive it = PodmanTest.inTerminal(command);
        assertThat(it.status()).as(it.output()).isEqualTo(5);
        assertThat(it.output()).contains("typed-42");
    }

    /**
     * containerd's default snapshotter gives the task an overlayfs mount of the image's layer, which
     * the kernel cannot idmap: crabcan-oci mounts the same layer and upper directory again, idmapped,
     * so that the container's root owns the image's files and writes to it.
     */
    @Test
    void theRootIsTheOverlayfsSnapshotsOwnLayers() throws Exception {
        Run r = run("r5", "--rm", IMAGE, "sh", "-c", "echo made > /made && cat /made && stat -c '%u %n' / /bin/busybox "
                + "/made && grep ' / / ' /proc/self/mountinfo");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).startsWith("made\n0 /\n0 /bin/busybox\n0 /made\n").contains(" - overlay ");
    }

    /** The shim reads the reason of a failed create from crabcan-oci's --log (json), and ctr shows it. */
    @Test
    void aFailedCreateShowsCrabcansReason() throws Exception {
        Run r = run("r3", "--rm", "--cgroup", "/" + namespace + "/../r3", IMAGE, "true");
        assertThat(r.status()).isNotZero();
        assertThat(r.stderr()).contains("OCI runtime create failed").contains("linux.cgroupsPath '/" + namespace
                + "/../r3': '..' is not allowed");
    }

    /**
     * A detached task in its cgroup (/NAMESPACE/ID, with ctr's memory limit), its processes,
     * pause and resume, SIGTERM through init to the command (exit 143), delete.
     */
    @Test
    void aDetachedTaskIsListedPausedKilledAndDeleted() throws Exception {
        Run started = run("r2", "-d", "--memory-limit", "67108864", IMAGE, "sleep", "1000");
        assertThat(started.status()).as(started.stderr()).isZero();
        assertThat(awaitTask("r2", "RUNNING")).isEqualTo("RUNNING");
        long pid = Long.parseLong(task("r2")[1]);
        Path memory = OciRuntimeTest.cgroupDir(pid, "memory");
        assertThat(memory).endsWith(Path.of(namespace, "r2"));
        assertThat(Files.readString(memory.resolve(Env.pureCgroupV2() ? "memory.max" : "memory.limit_in_bytes")).trim())
                .isEqualTo("67108864");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        Run ps;
        while ((ps = ctr("task", "ps", "r2")).stdout().lines().count() < 3 && System.nanoTime() < deadline) {
            Thread.sleep(100);
        }
        assertThat(ps.stdout()).as("init and sleep").contains(Long.toString(pid)).hasLineCount(3);

        assertThat(ctr("task", "pause", "r2").status()).isZero();
        assertThat(task("r2")[0]).isEqualTo("PAUSED");
        assertThat(ctr("task", "resume", "r2").status()).isZero();
        assertThat(task("r2")[0]).isEqualTo("RUNNING");

        assertThat(ctr("task", "kill", "r2").status()).isZero();
        assertThat(awaitTask("r2", "STOPPED")).isEqualTo("STOPPED");
        Run deleted = ctr("task", "delete", "r2");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(deleted.stdout() + deleted.stderr()).contains("exit code 143");
        assertThat(ctr("containers", "delete", "r2").status()).isZero();
        assertThat(memory).doesNotExist();
    }

    @Test
    void ctrTaskExecRunsInTheContainer() throws Exception {
        Run started = run("r4", "-d", IMAGE, "sleep", "1000");
        assertThat(started.status()).as(started.stderr()).isZero();
        assertThat(awaitTask("r4", "RUNNING")).isEqualTo("RUNNING");
        Run exec = ctr("task", "exec", "--exec-id", "e1", "--fifo-dir", dir.resolve("fifo").toString(), "r4", "sh",
                "-c", "echo in the container; exit 5");
        assertThat(exec.status()).as(exec.stderr()).isEqualTo(5);
        assertThat(exec.stdout()).isEqualTo("in the container\n");
        assertThat(ctr("task", "kill", "-s", "KILL", "r4").status()).isZero();
        assertThat(awaitTask("r4", "STOPPED")).isEqualTo("STOPPED");
        assertThat(ctr("task", "delete", "r4").status()).isZero();
        assertThat(ctr("containers", "delete", "r4").status()).isZero();
    }

    @AfterEach
    void tearDown() throws Exception {
        if (containerd == null) {
            return;
        }
        List<String> problems = new ArrayList<>();
        for (String id : ids) {
            if (task(id) != null) {
                problems.add("task " + id + " was left");
                ctr("task", "kill", "-s", "KILL", id);
                awaitTask(id, "STOPPED");
                ctr("task", "delete", "-f", id);
            }
            if (ctr("containers", "ls", "-q").stdout().lines().anyMatch(id::equals)) {
                problems.add("container " + id + " was left");
                ctr("containers", "delete", id);
            }
        }
        containerd.destroy();
        if (!containerd.waitFor(30, TimeUnit.SECONDS)) {
            problems.add("containerd did not stop on SIGTERM within 30 s");
            containerd.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
        List<ProcessHandle> left;
        while (!(left = leftProcesses()).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        for (ProcessHandle p : left) {
            problems.add("process " + p.pid() + " " + p.info().commandLine().orElse("?") + " was left");
            p.destroyForcibly();
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"))) {
            if (line.contains(dir.toString())) {
                problems.add("mount left: " + line);
                Env.host("umount", "-l", line.split(" ")[4]);
            }
        }
        List<Path> cgroups = Env.cgroupDirs(d -> d.getFileName().toString().equals(namespace));
        for (Path c : cgroups) {
            problems.add("cgroup left: " + c);
        }
        try (Stream<Path> runc = Files.walk(dir.resolve("runc"))) {
            runc.filter(p -> Files.isRegularFile(p)).forEach(p -> problems.add("runtime state left: " + p));
        } catch (java.nio.file.NoSuchFileException e) {
            // No container got as far as the runtime.
        }
        if (!runContainerdExisted) {
            try (Stream<Path> run = Files.walk(Path.of("/run/containerd"))) {
                for (Path p : run.sorted(Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            } catch (java.nio.file.NoSuchFileException e) {
                // The shim never ran.
            }
        }
        assertThat(problems).as("left behind").isEmpty();
    }

    /** Processes of this test's containerd: its shims (and what they run), found by the namespace in their command line. */
    private List<ProcessHandle> leftProcesses() {
        return ProcessHandle.allProcesses().filter(p -> p.info().commandLine().map(c -> c.contains(namespace)
                || c.contains(socket.toString())).orElse(false)).toList();
    }
}
