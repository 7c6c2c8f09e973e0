package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import dev.crabcan.internal.host.IdRange;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/** What the integration tests share: the host's facts, test binaries, process lookups. */
final class Env {
    static final Path TEST_C = Path.of(System.getProperty("crabcan.it.csrc", "src/test/c")).toAbsolutePath();
    static final Path CLI_JAR = Path.of(System.getProperty("crabcan.it.cli", "../crabcan-examples/target/crabcan.jar"))
            .toAbsolutePath().normalize();
    static final Path BIN = Path.of(System.getProperty("crabcan.it.bin", "target/test-bin")).toAbsolutePath();

    /**
     * How long a test waits for what a sandbox leaves to be gone (processes after a kill, a JVM's
     * or a helper's death). The waits return as soon as it is gone, usually within milliseconds:
     * the ceiling is for a loaded machine, not a promise of speed.
     */
    static final long CLEANUP_CEILING_MS = 10_000;

    private Env() {}

    /** uid 0 in this process's user namespace: the root caller's rules apply to its sandboxes. */
    static boolean isRoot() {
        return uid() == 0;
    }

    /**
     * Root of the host (uid 0 in the initial user namespace with CAP_SYS_ADMIN): its sandboxes get
     * host ids of their own, and it may act as other users, write the host's cgroups, make veth pairs.
     * Root in a user namespace (the user-namespace lane) is root but not host root.
     */
    static boolean isHostRoot() {
        return dev.crabcan.internal.host.HostInfo.get().isHostRoot();
    }

    /**
     * Whether this caller can have cgroup limits, that is make cgroups below the JVM's own (in the
     * v1 memory hierarchy, else in the unified one): host root; a user whose cgroup (pure v2) is
     * delegated to it, as systemd does for systemd-run --user --scope -p Delegate=yes; not an
     * ordinary user on this host, which delegates none, nor root of a user namespace.
     */
    static boolean mayLimit() {
        String unified = null;
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/cgroup"))) {
                String[] f = line.split(":", 3);
                if (java.util.Arrays.asList(f[1].split(",")).contains("memory")) {
                    return Files.isWritable(Path.of("/sys/fs/cgroup/memory" + f[2]));
                }
                if (f[0].equals("0")) {
                    unified = f[2];
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        return unified != null && Files.isWritable(Path.of("/sys/fs/cgroup" + unified));
    }

    static int uid() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) {
                    return Integer.parseInt(line.split("\\s+")[2]);
                }
            }
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        throw new IllegalStateException("no Uid line in /proc/self/status");
    }

    /**
     * The cgroup directories below /sys/fs/cgroup (9 levels: a user's delegated scope on a pure
     * v2 host is 6 down) that match. Other JVMs' sandbox cgroups come and go during the walk:
     * what vanishes is passed over.
     */
    static List<Path> cgroupDirs(java.util.function.Predicate<Path> match) throws IOException {
        List<Path> found = new ArrayList<>();
        Files.walkFileTree(Path.of("/sys/fs/cgroup"), java.util.Set.of(), 9, new java.nio.file.SimpleFileVisitor<>() {
            @Override
            public java.nio.file.FileVisitResult preVisitDirectory(Path dir,
                    java.nio.file.attribute.BasicFileAttributes attrs) {
                if (match.test(dir)) {
                    found.add(dir);
                }
                return java.nio.file.FileVisitResult.CONTINUE;
            }

            @Override
            public java.nio.file.FileVisitResult visitFileFailed(Path file, IOException e) {
                return java.nio.file.FileVisitResult.CONTINUE;
            }
        });
        return found;
    }

    /** Whether this is a pure cgroup v2 host: the unified hierarchy is mounted at /sys/fs/cgroup. */
    static boolean pureCgroupV2() {
        return Files.exists(Path.of("/sys/fs/cgroup/cgroup.controllers"));
    }

    /**
     * On a pure cgroup v2 host, the JVM's cgroup, below which Crabcan makes its cgroups (above the
     * leaf it may have moved the JVM into); null elsewhere.
     */
    static Path cgroupV2() {
        if (!pureCgroupV2()) {
            return null;
        }
        try {
            String line = Files.readAllLines(Path.of("/proc/self/cgroup")).stream().filter(l -> l.startsWith("0::"))
                    .findFirst().orElseThrow();
            Path own = Path.of("/sys/fs/cgroup", line.substring(3));
            return own.getFileName() != null && own.getFileName().toString().matches("crabcan-jvm-\\d+")
                    ? own.getParent() : own;
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The cgroup v2 controllers the JVM's cgroup has (cgroup.controllers); empty where not pure v2. */
    static List<String> cgroupV2Controllers() throws IOException {
        Path own = cgroupV2();
        return own == null ? List.of() : List.of(Files.readString(own.resolve("cgroup.controllers")).trim().split(" "));
    }


    /**
     * Whether a sandbox's processes may run as this host id: the caller's own for a rootless
     * caller, else one of the range Crabcan allocates root callers' sandboxes from (the default
     * range: the tests set none).
     */
    static boolean isSandboxHostId(long id) {
        return isHostRoot() ? IdRange.DEFAULT.contains(id) : id == uid();
    }

    /** The host uid a process runs as (real, effective, saved and filesystem uid must agree). */
    static long hostUid(long pid) throws IOException {
        String line = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("Uid:")).findFirst().orElseThrow();
        String[] ids = line.substring(4).trim().split("\\s+");
        assertThat(ids).as("real, effective, saved, fs uid of %d", pid).containsOnly(ids[0]);
        return Long.parseLong(ids[0]);
    }

    /** Whether this is a CI run (CI=true), where a missing prerequisite fails instead of skipping. */
    static boolean inCi() {
        return "true".equals(System.getenv("CI"));
    }

    /**
     * A host program the test needs, found on PATH (and in the sbin directories, which an
     * unprivileged user's PATH may lack). Missing, it fails the test in CI, which installs it
     * (test.sh), and skips it elsewhere with a reason that names the package to install.
     */
    static Path tool(String name, String debianPackage) {
        String path = System.getenv().getOrDefault("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin";
        for (String dir : path.split(":")) {
            Path p = Path.of(dir.isEmpty() ? "." : dir, name);
            if (!dir.isEmpty() && Files.isExecutable(p) && !Files.isDirectory(p)) {
                return p;
            }
        }
        String why = name + " is not installed (Debian package " + debianPackage + "; ./test.sh installs it)";
        if (inCi()) {
            org.junit.jupiter.api.Assertions.fail("CI must have every prerequisite: " + why);
        }
        org.junit.jupiter.api.Assumptions.abort(why);
        throw new AssertionError("unreachable");
    }

    /** Runs sh -c script in the default sandbox and returns the result. */
    static SandboxResult sh(String script) throws Exception {
        return Sandbox.builder().command("/bin/sh", "-c", script).build().run();
    }

    static String shOk(String script) throws Exception {
        SandboxResult r = sh(script);
        assertThat(r.status().isSignaled()).as("signaled: %s %s", r, r.stderrText()).isFalse();
        assertThat(r.status().code()).as("exit code of %s; stderr: %s", script, r.stderrText()).isZero();
        return r.stdoutText();
    }

    /** A statically linked test program from src/test/c, compiled again whenever its source is newer. */
    static synchronized Path staticBinary(String name) throws Exception {
        Path out = BIN.resolve(name);
        Path source = TEST_C.resolve(name + ".c");
        if (!Files.exists(out) || Files.getLastModifiedTime(out).compareTo(Files.getLastModifiedTime(source)) < 0) {
            Files.createDirectories(BIN);
            Process gcc = new ProcessBuilder("gcc", "-static", "-O1", "-o", out.toString(),
                    source.toString()).inheritIO().start();
            assertThat(gcc.waitFor(120, TimeUnit.SECONDS)).isTrue();
            assertThat(gcc.exitValue()).as("gcc of %s", name).isZero();
        }
        return out;
    }

    /** The pid namespace of a host process, as the link target "pid:[inode]". */
    static String pidNamespace(long pid) throws IOException {
        return Files.readSymbolicLink(Path.of("/proc/" + pid + "/ns/pid")).toString();
    }

    /**
     * The pid namespace of the sandbox whose init has this host pid. Read through the command,
     * init's child: init itself is not dumpable, so a rootless caller cannot read its links.
     */
    static String sandboxPidNamespace(long initPid) throws IOException {
        long command = ProcessHandle.of(initPid).orElseThrow().children().findFirst().orElseThrow().pid();
        return pidNamespace(command);
    }

    /** Host pids of the processes in that pid namespace. */
    static List<Long> processesIn(String pidNamespace) {
        List<Long> pids = new ArrayList<>();
        ProcessHandle.allProcesses().forEach(p -> {
            try {
                if (pidNamespace(p.pid()).equals(pidNamespace) && !isZombie(p.pid())) {
                    pids.add(p.pid());
                }
            } catch (IOException | RuntimeException e) {
                // Gone meanwhile, or not ours to look at.
            }
        });
        return pids;
    }

    /**
     * A sandbox's processes (init and everything in its pid namespace), each with its start time:
     * pids and namespace inodes are both reused by the kernel, so what must be gone later is
     * named by pid and start time together, not found again by namespace.
     */
    static Map<Long, Long> sandboxProcesses(long initPid) throws IOException {
        Map<Long, Long> processes = new HashMap<>();
        processes.put(initPid, startTime(initPid));
        for (long pid : processesIn(sandboxPidNamespace(initPid))) {
            processes.put(pid, startTime(pid));
        }
        return processes;
    }

    /** Waits up to the timeout for those processes to be gone; describes the ones that remain. */
    static List<String> awaitGone(Map<Long, Long> processes, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<String> left = survivors(processes);
        while (!left.isEmpty() && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
            left = survivors(processes);
        }
        return left;
    }

    private static List<String> survivors(Map<Long, Long> processes) {
        List<String> left = new ArrayList<>();
        processes.forEach((pid, start) -> {
            try {
                String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
                String[] fields = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
                if (Long.parseLong(fields[19]) == start && !fields[0].equals("Z")) {
                    left.add(stat.substring(0, stat.lastIndexOf(')') + 1) + " state " + fields[0] + " wchan "
                            + Files.readString(Path.of("/proc/" + pid + "/wchan")));
                }
            } catch (IOException e) {
                // Gone.
            }
        });
        return left;
    }

    private static long startTime(long pid) throws IOException {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return Long.parseLong(stat.substring(stat.lastIndexOf(')') + 2).split(" ")[19]);
    }

    /** A process that has exited but not been reaped yet: dead, whatever ProcessHandle says. */
    static boolean isZombie(long pid) {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            return stat.substring(stat.lastIndexOf(')') + 2).startsWith("Z");
        } catch (IOException e) {
            return true;
        }
    }

    /** Waits up to the timeout for the pid namespace to be empty; returns what remains. */
    static List<Long> awaitEmpty(String pidNamespace, long timeoutMs) throws InterruptedException {
        long deadline = System.currentTimeMillis() + timeoutMs;
        List<Long> left = processesIn(pidNamespace);
        while (!left.isEmpty() && System.currentTimeMillis() < deadline) {
            Thread.sleep(20);
            left = processesIn(pidNamespace);
        }
        return left;
    }

    /** This JVM's helper zygote: its child that runs the helper from its run directory. */
    static ProcessHandle zygote() throws Exception {
        String helpers = dev.crabcan.internal.launch.HelperRuntime.get().runDir().resolve("helper.").toString();
        return ProcessHandle.current().children()
                .filter(p -> p.info().command().map(c -> c.startsWith(helpers)).orElse(false))
                .findFirst().orElseThrow();
    }

    /** Runs a command on the host as this JVM's user; fails with its output unless it exits 0 within a minute. */
    static void host(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        if (!p.waitFor(1, java.util.concurrent.TimeUnit.MINUTES) || p.exitValue() != 0) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + " failed: " + out);
        }
    }
}
