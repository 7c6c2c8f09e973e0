package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real OCI engine drives crabcan-oci: podman (with conmon) runs, kills and removes containers
 * through it. Root only: rootless podman needs subordinate id ranges this machine does not give.
 */
class PodmanTest {
    /**
     * What the tests but {@link #podmansOwnDefaultsButThePidsLimit} pass: no network (faster, and
     * nothing of netavark's to leave behind), and the two defaults this host or Crabcan cannot
     * honour: a pids limit needs a cgroup, which a detached sandbox does not have yet; podman's
     * RLIMIT_NOFILE of 1048576 is above the hard limit it runs its runtime with (20000 here), and
     * this host's root lacks CAP_SYS_RESOURCE (not in its bounding set), so nothing may raise it
     * (runc fails the same way; with the capability the helper raises it, see OciRuntimeTest).
     */
    private static final List<String> RUN_OPTIONS = List.of("--network", "none", "--pids-limit", "-1",
            "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024");

    @TempDir
    Path dir;
    Path runtime;
    Path rootfs;
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
    }

    Run podman(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(podman.toString(), "--runtime", runtime.toString()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectError(dir.resolve("podman.err").toFile()).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(90, TimeUnit.SECONDS)).as("podman %s", List.of(args)).isTrue();
        return new Run(p.exitValue(), out, Files.readString(dir.resolve("podman.err")));
    }

    List<String> run(String... command) {
        List<String> args = new ArrayList<>(List.of("run"));
        args.addAll(RUN_OPTIONS);
        args.addAll(List.of("--rootfs", rootfs.toString()));
        args.addAll(List.of(command));
        return args;
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
        args.addAll(args.indexOf("--rootfs"), List.of("--rm", "--oom-score-adj", "200", "--ulimit", "nproc=1000:1024"));
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
     * podman's own defaults, checked from inside: its network namespace (joined by path, with its
     * ping sysctl), its eleven capabilities (a root caller's sandbox never holds SETFCAP and FSETID),
     * /dev/shm bound noexec, /dev/pts (gid=5 dropped), /dev/mqueue, /sys and the cgroup mount
     * read-only, its masked paths, the deny-all device rule and its seccomp profile. All but the pids
     * limit, which needs the cgroup a runtime makes at create; and RLIMIT_NOFILE where this host's
     * root lacks CAP_SYS_RESOURCE, which no runtime may then raise: that error is checked first.
     */
    @Test
    void podmansOwnDefaultsButThePidsLimit() throws Exception {
        long capEff = Long.parseLong(Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("CapEff:")).findFirst().orElseThrow().substring(7).trim(), 16);
        List<String> args = new ArrayList<>(List.of("run", "--rm", "--pids-limit", "-1"));
        if ((capEff & (1L << 24)) == 0) {
            Run refused = podman("run", "--rm", "--pids-limit", "-1", "--rootfs", rootfs.toString(), "/bin/true");
            assertThat(refused.status()).isNotZero();
            assertThat(refused.stderr()).containsPattern("raise the hard limit of RLIMIT_(NOFILE|NPROC) to \\d+, "
                    + "above the caller's").contains("CAP_SYS_RESOURCE");
            // Below any hard limit podman runs its runtime with (it lowers RLIMIT_NPROC for conmon).
            args.addAll(List.of("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"));
        }
        args.addAll(List.of("--rootfs", rootfs.toString(), "/bin/sh", "-c", "cat /proc/self/status "
                + "/proc/self/mountinfo /proc/net/dev; echo ping $(cat /proc/sys/net/ipv4/ping_group_range); "
                + "echo oom $(cat /proc/self/oom_score_adj)"));
        Run r = podman(args.toArray(String[]::new));
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
