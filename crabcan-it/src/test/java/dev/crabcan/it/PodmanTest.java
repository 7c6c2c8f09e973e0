package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real OCI engine drives crabcan-oci: podman (with conmon) runs, kills and removes containers
 * through it, of images on its own (overlay) storage. Rootful podman: rootless podman, as a user
 * of its own, is {@link PodmanRootlessTest}.
 */
class PodmanTest {
    /**
     * podman's defaults that this host cannot keep for these tests: podman's default network makes
     * what it never takes down again (podmansOwnDefaultsHoldInside runs it apart); its RLIMIT_NOFILE
     * and RLIMIT_NPROC of 1048576
     * are above the hard limits it runs its runtime with (20000 and 32768 here), and this host's root
     * lacks CAP_SYS_RESOURCE (not in its bounding set), so nothing may raise them (crun fails the same
     * way; with the capability the helper raises them, see OciRuntimeTest).
     */
    private static final List<String> RUN_OPTIONS = List.of("--network", "none",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024");

    @TempDir
    Path dir;
    Path runtime;
    Path rootfs;
    /** rootfs as an image on podman's own storage, which the tests run as podman users do. */
    String image;
    Path podman;

    record Run(int status, String stdout, String stderr) {}

    @BeforeEach
    void setUp() throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        podman = Env.tool("podman", "podman");
        rootfs = Files.createDirectory(dir.resolve("rootfs"));
        OciRuntimeTest.minimalRootfs(rootfs);
        // What podman runs as its runtime: our front end, with this build's jar and cache.
        runtime = dir.resolve("crabcan-oci");
        Files.writeString(runtime, "#!/bin/sh\nexec " + Path.of(System.getProperty("java.home"), "bin", "java")
                + " -XX:-UsePerfData -Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir") + " -cp "
                + Env.CLI_JAR + " dev.crabcan.examples.OciRuntime --root " + dir.resolve("state") + " \"$@\"\n");
        Files.setPosixFilePermissions(runtime, PosixFilePermissions.fromString("rwx------"));
        image = importImage(rootfs, "localhost/crabcan-podman:" + ProcessHandle.current().pid());
    }

    @AfterEach
    void removeImage() throws Exception {
        if (image != null) {
            Run removed = podman("rmi", "--force", image);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
    }

    Run podman(String... args) throws Exception {
        return podmanIn(List.of(), args);
    }

    /** podman run by a wrapper (empty: none), which gets podman's command line as its own arguments. */
    private Run podmanIn(List<String> wrapper, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.addAll(List.of(podman.toString(), "--runtime", runtime.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(dir.resolve("podman.err").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("podman %s", List.of(args)).isTrue();
        return new Run(p.exitValue(), out, Files.readString(dir.resolve("podman.err")));
    }

    /** podman run of the image, with RUN_OPTIONS and command. */
    List<String> run(String... command) {
        List<String> args = new ArrayList<>(List.of("run"));
        args.addAll(RUN_OPTIONS);
        args.add(image);
        args.addAll(List.of(command));
        return args;
    }

    /**
     * An image on podman's own storage, as root: its root is an overlayfs mount of the image's
     * layers (podman's overlay storage driver), which the kernel cannot idmap, so crabcan-oci mounts
     * the same layers and upper directory again, idmapped. The container's root owns the image's
     * files; what it changes lands in podman's upper directory as a container of host root's would
     * leave it (files host root's, a removed file a whiteout), so podman diff and commit see it.
     */
    @Test
    void anImageOnPodmansOverlayStorageRunsAndItsChangesAreCommitted() throws Exception {
        String busybox = importBusybox();
        String committed = busybox + "-committed";
        String name = "crabcan-overlay-" + ProcessHandle.current().pid();
        try {
            List<String> args = new ArrayList<>(List.of("run", "-d", "--name", name));
            args.addAll(RUN_OPTIONS);
            args.addAll(List.of(busybox, "/bin/sh", "-c", "echo made > /made && rm /data/old && exec sleep 1000"));
            Run started = podman(args.toArray(String[]::new));
            assertThat(started.status()).as(started.stderr()).isZero();
            Run seen = podman("exec", name, "/bin/sh", "-c", "while [ -e /data/old ]; do sleep 0.1; done; "
                    + "cat /made; stat -c '%u %g %n' / /bin/busybox /made; grep ' / / ' /proc/self/mountinfo");
            assertThat(seen.status()).as(seen.stderr()).isZero();
            assertThat(seen.stdout()).startsWith("made\n0 0 /\n0 0 /bin/busybox\n0 0 /made\n").contains(" - overlay ");
            long pid = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", name).stdout().trim());
            assertThat(Env.hostUid(pid)).as("the container's command on the host").isNotZero();

            Path upper = Path.of(podman("inspect", "--format", "{{.GraphDriver.Data.UpperDir}}", name).stdout().trim());
            assertThat(Files.getAttribute(upper.resolve("made"), "unix:uid", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0);
            int whiteout = (Integer) Files.getAttribute(upper.resolve("data/old"), "unix:mode", LinkOption.NOFOLLOW_LINKS);
            assertThat(whiteout & 0170000).as("a whiteout is a character device").isEqualTo(0020000);
            assertThat(Files.getAttribute(upper.resolve("data/old"), "unix:rdev", LinkOption.NOFOLLOW_LINKS)).isEqualTo(0L);
            assertThat(podman("diff", name).stdout()).contains("A /made", "D /data/old");

            Run stopped = podman("stop", "-t", "0", name);
            assertThat(stopped.status()).as(stopped.stderr()).isZero();
            Run commit = podman("commit", "--quiet", name, committed);
            assertThat(commit.status()).as(commit.stderr()).isZero();
            List<String> again = new ArrayList<>(List.of("run", "--rm"));
            again.addAll(RUN_OPTIONS);
            again.addAll(List.of(committed, "/bin/sh", "-c", "cat /made; ls /data"));
            Run fromCommitted = podman(again.toArray(String[]::new));
            assertThat(fromCommitted.status()).as(fromCommitted.stderr()).isZero();
            assertThat(fromCommitted.stdout()).isEqualTo("made\n");
        } finally {
            Run removed = podman("rm", "--force", "--time", "0", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
            Run removedImages = podman("rmi", "--force", committed, busybox);
            assertThat(removedImages.status()).as(removedImages.stderr()).isZero();
        }
        assertThat(podman("ps", "-a", "--format", "{{.Names}}").stdout()).doesNotContain(name);
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /**
     * A prestart hook that mounts below root.path in the container's mount namespace, as the NVIDIA
     * container toolkit's does, mounts into the container's root when that root is remade of
     * podman's overlay: it is attached over root.path, as a directory's is.
     */
    @Test
    void aPrestartHookMountsIntoAnImagesRootOnPodmansOverlayStorage() throws Exception {
        Path hooks = Files.createDirectory(dir.resolve("hooks.d"));
        Path hook = dir.resolve("mount-hook");
        Files.writeString(hook, """
                #!/bin/sh
                state=$(cat)
                pid=$(echo "$state" | sed 's/.*"pid":\\([0-9]*\\).*/\\1/')
                bundle=$(echo "$state" | sed 's/.*"bundle":"\\([^"]*\\)".*/\\1/')
                root=$(sed 's/.*"root":{"path":"\\([^"]*\\)".*/\\1/' "$bundle/config.json")
                exec nsenter --target "$pid" --mount -- mount -t tmpfs -o size=1m crabcan-hooked "$root/data"
                """);
        Files.setPosixFilePermissions(hook, PosixFilePermissions.fromString("rwx------"));
        Files.writeString(hooks.resolve("mount.json"), "{\"version\": \"1.0.0\", \"hook\": {\"path\": \"" + hook
                + "\"}, \"when\": {\"always\": true}, \"stages\": [\"prestart\"]}");
        String busybox = importBusybox();
        try {
            List<String> args = new ArrayList<>(List.of("--hooks-dir", hooks.toString(), "run", "--rm"));
            args.addAll(RUN_OPTIONS);
            args.addAll(List.of(busybox, "/bin/sh", "-c", "grep -E ' / / | /data ' /proc/self/mountinfo; ls /data"));
            Run r = podman(args.toArray(String[]::new));
            assertThat(r.status()).as(r.stderr()).isZero();
            assertThat(r.stdout()).contains(" - overlay ").containsPattern(" /data \\S+ - tmpfs crabcan-hooked ")
                    .doesNotContain("old");
        } finally {
            Run removed = podman("rmi", "--force", busybox);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /** Imports a busybox root filesystem (BuildTest's, with /data/old) into podman's storage; its name. */
    private String importBusybox() throws Exception {
        Path busybox = dir.resolve("busybox");
        BuildTest.busyboxRootfs(busybox);
        return importImage(busybox, "localhost/crabcan-busybox:" + ProcessHandle.current().pid());
    }

    /** Imports the root filesystem root into podman's storage as the image name (podman's overlay driver). */
    private String importImage(Path root, String name) throws Exception {
        Path tar = dir.resolve(root.getFileName() + ".tar");
        Env.host("tar", "-C", root.toString(), "-cf", tar.toString(), ".");
        Run imported = podman("import", tar.toString(), name);
        assertThat(imported.status()).as(imported.stderr()).isZero();
        return name;
    }

    /**
     * A pod as root, with podman's own infra container: its pause image (which podman builds the
     * first time) is on podman's overlay storage too. Members are host ids of their own, so none
     * makes a POSIX queue in the pod's IPC namespace (see the README's list of what engines still
     * cannot do); podman's defaults that this host cannot keep are set in a containers.conf.
     */
    @Test
    void aPodsContainersShareItsNetworkIpcAndHostname() throws Exception {
        Path conf = dir.resolve("containers.conf");
        Files.writeString(conf, "[containers]\nnetns = \"none\"\n"
                + "default_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n");
        PodmanRootlessTest.Podman root = args -> PodmanRootlessTest.podman(List.of(), runtime, dir,
                java.util.Map.of("CONTAINERS_CONF", conf.toString()), dir, args);
        List<String> pauseImages = pauseImages();
        PodmanRootlessTest.importBusybox(Files.createDirectory(dir.resolve("pod")), root);
        try {
            PodmanRootlessTest.aPodsContainersShareItsNetworkIpcAndHostname(root, dir.resolve("state"), false);
        } finally {
            Run removed = podman("rmi", "--force", PodmanRootlessTest.IMAGE);
            assertThat(removed.status()).as(removed.stderr()).isZero();
            for (String made : pauseImages()) {
                if (!pauseImages.contains(made)) {
                    Run pause = podman("rmi", "--force", made);
                    assertThat(pause.status()).as(pause.stderr()).isZero();
                }
            }
        }
    }

    /** podman's pause images (podman pod create builds one where none is). */
    private List<String> pauseImages() throws Exception {
        return podman("images", "--noheading", "--format", "{{.ID}} {{.Repository}}").stdout().lines()
                .filter(l -> l.endsWith("/podman-pause")).map(l -> l.substring(0, l.indexOf(' '))).toList();
    }

    @Test
    void podmanRunShowsOutputAndExitCode() throws Exception {
        List<String> args = run("/bin/sh", "-c", "echo hello from $(cat /etc/hostname); echo oops >&2; exit 3");
        args.add(1, "--rm");
        Run r = podman(args.toArray(String[]::new));
        assertThat(r.status()).as(r.stderr()).isEqualTo(3);
        assertThat(r.stdout()).startsWith("hello from ");
        assertThat(r.stderr()).contains("oops");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /** The rlimits and the oomScoreAdj podman writes reach the command. */
    @Test
    void podmansRlimitsAndOomScoreAdjHold() throws Exception {
        List<String> args = run("/bin/sh", "-c", "ulimit -Hp; ulimit -Sp; ulimit -Hn; cat /proc/self/oom_score_adj");
        // After RUN_OPTIONS: podman's last --ulimit for a resource wins.
        args.addAll(args.indexOf(image), List.of("--rm", "--oom-score-adj", "200", "--ulimit", "nproc=1000:1024"));
        Run r = podman(args.toArray(String[]::new));
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("1024\n1000\n1024\n200\n");
    }

    @Test
    void podmanKillStopAndRm() throws Exception {
        for (String[] how : List.of(new String[] {"kill", "137"}, new String[] {"stop", "143"})) {
            String name = "crabcan-podman-" + how[0] + "-" + ProcessHandle.current().pid();
            List<String> args = run("/bin/sleep", "1000");
            args.addAll(1, List.of("-d", "--name", name));
            Run started = podman(args.toArray(String[]::new));
            try {
                assertThat(started.status()).as(started.stderr()).isZero();
                assertThat(podman("ps", "--format", "{{.Names}} {{.Status}}").stdout()).contains(name + " Up");
                Run stopped = how[0].equals("kill") ? podman("kill", name) : podman("stop", "-t", "10", name);
                assertThat(stopped.status()).as(stopped.stderr()).isZero();
                Run waited = podman("wait", name);
                assertThat(waited.stdout().trim()).as(how[0]).isEqualTo(how[1]);
            } finally {
                Run removed = podman("rm", "-f", name);
                assertThat(removed.status()).as(removed.stderr()).isZero();
            }
            assertThat(podman("ps", "-a", "--format", "{{.Names}}").stdout()).doesNotContain(name);
            assertThat(dir.resolve("state")).isEmptyDirectory();
        }
    }

    /**
     * crabcan-oci makes the container's cgroup at create where podman says (cgroupsPath): podman's
     * default pids limit (2048) and --memory are in it, --pids-limit holds inside, pause freezes
     * it, and rm removes it.
     */
    @Test
    void podmansLimitsHoldAndPauseFreezes() throws Exception {
        List<String> forks = run("/bin/sh", "-c", "for i in 1 2 3 4 5 6; do sleep 30 & done; echo all forked");
        forks.addAll(1, List.of("--rm", "--pids-limit", "4"));
        Run limited = podman(forks.toArray(String[]::new));
        assertThat(limited.status()).isNotZero();
        assertThat(limited.stdout()).doesNotContain("all forked");
        assertThat(limited.stderr()).containsIgnoringCase("fork");

        String name = "crabcan-podman-limits-" + ProcessHandle.current().pid();
        List<String> args = run("/bin/sleep", "1000");
        args.addAll(1, List.of("-d", "--name", name, "--memory", "64m"));
        Run started = podman(args.toArray(String[]::new));
        Path pids = null;
        try {
            assertThat(started.status()).as(started.stderr()).isZero();
            long pid = Long.parseLong(podman("inspect", "--format", "{{.State.Pid}}", name).stdout().trim());
            pids = OciRuntimeTest.cgroupDir(pid, "pids");
            assertThat(Files.readString(pids.resolve("pids.max")).trim()).isEqualTo("2048");
            Path memory = OciRuntimeTest.cgroupDir(pid, "memory");
            assertThat(Files.readString(memory.resolve(Env.pureCgroupV2() ? "memory.max" : "memory.limit_in_bytes"))
                    .trim()).isEqualTo("67108864");
            Run paused = podman("pause", name);
            assertThat(paused.status()).as(paused.stderr()).isZero();
            assertThat(podman("inspect", "--format", "{{.State.Status}}", name).stdout().trim()).isEqualTo("paused");
            Run unpaused = podman("unpause", name);
            assertThat(unpaused.status()).as(unpaused.stderr()).isZero();
            assertThat(podman("inspect", "--format", "{{.State.Status}}", name).stdout().trim()).isEqualTo("running");
        } finally {
            Run removed = podman("rm", "-f", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(pids).doesNotExist();
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /**
     * podman exec into a running container, as podman calls it (conmon, exec --detach --pid-file
     * --process): output, exit codes, and a missing command as podman's 127.
     */
    @Test
    void podmanExecRunsCommandsInARunningContainer() throws Exception {
        String name = "crabcan-podman-exec-" + ProcessHandle.current().pid();
        List<String> args = run("/bin/sleep", "1000");
        args.addAll(1, List.of("-d", "--name", name));
        Run started = podman(args.toArray(String[]::new));
        try {
            assertThat(started.status()).as(started.stderr()).isZero();
            Run exec = podman("exec", name, "/bin/sh", "-c", "echo hi from $(cat /proc/1/comm); exit 4");
            assertThat(exec.status()).as(exec.stderr()).isEqualTo(4);
            assertThat(exec.stdout()).isEqualTo("hi from crabcan-init\n");
            Run missing = podman("exec", name, "/nope");
            assertThat(missing.status()).as(missing.stderr()).isEqualTo(127);
            Interactive it = interactive("exec", "-it", name, "/bin/sh");
            assertThat(it.status()).as(it.output()).isEqualTo(5);
            assertThat(it.output()).contains("typed-42");
            Run stopped = podman("stop", "-t", "10", name);
            assertThat(stopped.status()).as(stopped.stderr()).isZero();
        } finally {
            Run removed = podman("rm", "-f", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /**
     * --group-add, as podman as root also sends whenever the image's /etc/group lists the user: the
     * command of run and of exec has the groups (crabcan-oci holds each as a host gid it leased).
     */
    @Test
    void podmanGroupAddGivesRunAndExecSupplementaryGroups() throws Exception {
        String groups = "while read k v; do if [ \"$k\" = Groups: ]; then echo $v; fi; done < /proc/self/status";
        List<String> args = run("/bin/sh", "-c", groups);
        args.addAll(1, List.of("--rm", "--group-add", "5", "--group-add", "10"));
        Run r = podman(args.toArray(String[]::new));
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout().strip().split(" ")).containsExactlyInAnyOrder("5", "10");
        String name = "crabcan-podman-groups-" + ProcessHandle.current().pid();
        List<String> detached = run("/bin/sleep", "1000");
        detached.addAll(1, List.of("-d", "--name", name, "--group-add", "5"));
        Run started = podman(detached.toArray(String[]::new));
        try {
            assertThat(started.status()).as(started.stderr()).isZero();
            Run exec = podman("exec", name, "/bin/sh", "-c", groups);
            assertThat(exec.status()).as(exec.stderr()).isZero();
            assertThat(exec.stdout()).isEqualTo("5\n");
        } finally {
            Run removed = podman("rm", "-f", "-t", "0", name);
            assertThat(removed.status()).as(removed.stderr()).isZero();
        }
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /** podman run -it: an interactive shell in a terminal of the container's devpts echoes what is typed. */
    @Test
    void podmanRunItGivesAnInteractiveShell() throws Exception {
        List<String> args = run("/bin/sh");
        args.addAll(1, List.of("-it", "--rm"));
        Interactive it = interactive(args.toArray(String[]::new));
        assertThat(it.status()).as(it.output()).isEqualTo(5);
        assertThat(it.output()).contains("typed-42");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    record Interactive(int status, String output) {}

    /** {@link #inTerminal} of podman with crabcan-oci as its runtime. */
    Interactive interactive(String... args) throws Exception {
        List<String> podmanCommand = new ArrayList<>(List.of(podman.toString(), "--runtime", runtime.toString()));
        podmanCommand.addAll(List.of(args));
        return inTerminal(podmanCommand);
    }

    /**
     * Runs a command that starts a shell in a terminal (script(1) makes one), waits for the
     * shell's prompt, types a command and exit 5, and returns what the terminal showed.
     */
    static Interactive inTerminal(List<String> command) throws Exception {
        Process p = new ProcessBuilder(Env.tool("script", "bsdutils").toString(), "-qec", String.join(" ", command),
                "/dev/null").redirectErrorStream(true).start();
        StringBuffer output = new StringBuffer();
        Thread reader = new Thread(() -> {
            try (var in = p.getInputStream()) {
                byte[] buf = new byte[4096];
                for (int n; (n = in.read(buf)) > 0; ) {
                    output.append(new String(buf, 0, n, StandardCharsets.UTF_8));
                }
            } catch (java.io.IOException e) {
                output.append("[read failed: ").append(e).append(']');
            }
        });
        reader.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!output.toString().contains("# ") && p.isAlive() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        try (var in = p.getOutputStream()) {
            in.write("echo typed-$((6*7)); exit 5\n".getBytes(StandardCharsets.UTF_8));
            in.flush();
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s: %s", command, output).isTrue();
        } finally {
            p.destroyForcibly();
        }
        reader.join(10_000);
        return new Interactive(p.exitValue(), output.toString());
    }

    /**
     * podman's own defaults, checked from inside: its network namespace (joined by path, with its
     * ping sysctl), its eleven capabilities (a root caller's sandbox never holds SETFCAP and FSETID),
     * /dev/shm bound noexec, /dev/pts (gid=5 dropped), /dev/mqueue, /sys and the cgroup mount
     * read-only, its masked paths, the deny-all device rule, its seccomp profile and its pids limit
     * (in the cgroup crabcan-oci makes at create); RLIMIT_NOFILE and RLIMIT_NPROC only where the
     * host's root may raise them (CAP_SYS_RESOURCE), which no runtime may otherwise: that error is
     * checked first.
     *
     * <p>podman runs in network and mount namespaces of its own here: its default bridge network
     * makes what it never takes down again (netavark's nftables tables, forwarding turned on, the
     * bridge, /run/netns made a mount point), which the host's would keep after the test.
     */
    @Test
    void podmansOwnDefaultsHoldInside() throws Exception {
        long capEff = Long.parseLong(Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("CapEff:")).findFirst().orElseThrow().substring(7).trim(), 16);
        List<String> args = new ArrayList<>(List.of("run", "--rm"));
        Path netns = Path.of("/run/netns");
        boolean madeNetns = !Files.exists(netns);
        List<String> alone = List.of("unshare", "--net", "--mount", "--propagation", "private", "sh", "-c",
                "mount -t tmpfs -o mode=0755 crabcan-test /run/netns && ip link set lo up && exec \"$@\"", "sh");
        Run r;
        try {
            Files.createDirectories(netns);
            if ((capEff & (1L << 24)) == 0) {
                Run refused = podmanIn(alone, "run", "--rm", "--rootfs", rootfs.toString(), "/bin/true");
                assertThat(refused.status()).isNotZero();
                assertThat(refused.stderr()).containsPattern("raise the hard limit of RLIMIT_(NOFILE|NPROC) to \\d+, "
                        + "above the caller's").contains("CAP_SYS_RESOURCE");
                // Below any hard limit podman runs its runtime with (it lowers RLIMIT_NPROC for conmon).
                args.addAll(List.of("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"));
            }
            args.addAll(List.of("--rootfs", rootfs.toString(), "/bin/sh", "-c", "cat /proc/self/status "
                    + "/proc/self/mountinfo /proc/net/dev; echo ping $(cat /proc/sys/net/ipv4/ping_group_range); "
                    + "echo oom $(cat /proc/self/oom_score_adj)"));
            r = podmanIn(alone, args.toArray(String[]::new));
        } finally {
            if (madeNetns) {
                Files.delete(netns);
            }
        }
        assertThat(r.status()).as(r.stderr()).isZero();
        String out = r.stdout();
        assertThat(out).contains("CapBnd:\t00000000000405eb", "CapEff:\t00000000000405eb", "CapInh:\t0000000000000000",
                "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2", "ping 0 0", "oom 0");
        // podman's bridge: the interface netavark (or CNI) made in the namespace it named.
        assertThat(out).contains(" eth0:");
        assertThat(OciRuntimeTest.mountOptions(out, "/dev/shm")).contains("nosuid,nodev,noexec");
        assertThat(OciRuntimeTest.mountOptions(out, "/dev/pts")).contains("nosuid,noexec").contains("devpts");
        assertThat(OciRuntimeTest.mountOptions(out, "/dev/mqueue")).contains("nosuid,nodev,noexec");
        assertThat(OciRuntimeTest.mountOptions(out, "/sys")).startsWith("ro,nosuid,nodev,noexec").contains("sysfs");
        assertThat(OciRuntimeTest.mountOptions(out, "/sys/fs/cgroup")).startsWith("ro,").contains("cgroup2");
        assertThat(OciRuntimeTest.mountOptions(out, "/sys/firmware")).startsWith("ro,");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }
}
