package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import dev.crabcan.Verdict;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Runtimes that size themselves from their cgroup (a judge's Java submissions) see the sandbox's
 * limits: the sandbox's own cgroup is at /sys/fs/cgroup, read-only, and nothing else of the
 * host's cgroups is. As root here (v1) and in the VM lane (pure v2, also as a delegated user),
 * but for the CPU quota, which a VM service without Delegate= cannot have, and the root filesystem
 * test, which needs busybox.
 */
class SubmissionLimitsTest {
    private static final long LIMIT = 256L << 20;

    /** The JVM these tests run on (17 here and in the VM lane), under /usr: in the default root filesystem. */
    private static final Path JAVA = Path.of(System.getProperty("java.home"), "bin", "java");

    @AfterEach
    void noCgroupLeftBehind() throws Exception {
        assertThat(LimitsTest.sandboxCgroups()).isEmpty();
    }

    private static Sandbox.Builder java(Limits limits, String... args) {
        List<String> command = new ArrayList<>(List.of(JAVA.toString(), "-XX:-UsePerfData"));
        command.addAll(List.of(args));
        Sandbox.Builder b = Sandbox.builder().limits(limits).command(command);
        return JAVA.startsWith("/usr/") ? b : b.bindReadOnly(Path.of(System.getProperty("java.home")),
                System.getProperty("java.home"));
    }

    /**
     * HotSpot sees no cgroup v2 limit, not even memory, in a cgroup without the cpu controller
     * (what systemd gives a service without Delegate=); a Java submission there needs -Xmx.
     */
    private static void assumeHotSpotSeesCgroupV2Limits() throws Exception {
        assumeTrue(!Env.pureCgroupV2() || Env.cgroupV2Controllers().contains("cpu"),
                "no cpu controller in this cgroup, without which HotSpot sees no cgroup v2 limit");
    }

    @Test
    void aJavaSubmissionSeesItsMemoryLimitAndSizesItsHeapFromIt() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        assumeHotSpotSeesCgroupV2Limits();
        SandboxResult r = java(Limits.builder().memory(LIMIT).swap(0).build(), "-XshowSettings:system",
                "-XX:+PrintFlagsFinal", "-version").build().run();
        String out = r.stdoutText() + r.stderrText();
        assertThat(r.verdict()).as("%s", out).isEqualTo(Verdict.OK);
        assertThat(out).contains("Memory Limit: 256.00M");
        assertThat(maxHeap(out)).as("MaxHeapSize, from the limit, not from the host's memory")
                .isPositive().isLessThanOrEqualTo(LIMIT / 2);
    }

    @Test
    void aJavaSubmissionSeesItsCpuQuota() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        // systemd gives a pure v2 service without Delegate= no cpu controller: LimitsTest checks the refusal.
        assumeHotSpotSeesCgroupV2Limits();
        SandboxResult r = java(Limits.builder().cpus(0.5).build(), "-XshowSettings:system", "-version").build().run();
        String out = r.stdoutText() + r.stderrText();
        assertThat(r.verdict()).as("%s", out).isEqualTo(Verdict.OK);
        assertThat(out).contains("CPU Quota: 50000us").contains("CPU Period: 100000us");
    }

    /**
     * Past its own heap, a Java submission gets OutOfMemoryError, a verdict of the program, not
     * the cgroup's OOM kill. Without the view (masked here) the same run sizes its heap from the
     * host's memory and is killed: the view is what makes the difference.
     */
    @Test
    void aJavaSubmissionPastItsHeapGetsOutOfMemoryErrorNotTheMemoryLimit(@TempDir Path classes) throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        assumeHotSpotSeesCgroupV2Limits();
        String name = HeapHog.class.getName();
        Path file = classes.resolve(name.replace('.', '/') + ".class");
        Files.createDirectories(file.getParent());
        try (InputStream in = HeapHog.class.getResourceAsStream(name.substring(name.lastIndexOf('.') + 1) + ".class")) {
            Files.write(file, in.readAllBytes());
        }
        Limits limits = Limits.builder().memory(LIMIT).swap(0).build();
        SandboxResult r = java(limits, "-cp", "/submission", name).bindReadOnly(classes, "/submission").build().run();
        assertThat(r.stderrText()).contains("java.lang.OutOfMemoryError");
        assertThat(r.verdict()).as("%s", r.stderrText()).isEqualTo(Verdict.NONZERO_EXIT);
        assertThat(r.oomKilled()).isFalse();

        // HotSpot gives a heap of a quarter of the memory it sees: here and in the VM lane far above the limit.
        long hostMemory = Long.parseLong(Files.readAllLines(Path.of("/proc/meminfo")).get(0).replaceAll("\\D", "")) << 10;
        assertThat(hostMemory / 4).isGreaterThan(2 * LIMIT);
        SandboxResult blind = java(limits, "-cp", "/submission", name).bindReadOnly(classes, "/submission")
                .maskPaths("/sys/fs/cgroup").build().run();
        assertThat(blind.verdict()).as("%s", blind.stderrText()).isEqualTo(Verdict.MEMORY_LIMIT);
    }

    /** What a Java submission that allocates past its heap runs. */
    public static final class HeapHog {
        public static void main(String[] args) {
            List<byte[]> kept = new ArrayList<>();
            while (true) {
                kept.add(new byte[1 << 20]);
            }
        }
    }

    @Test
    void theSandboxSeesOnlyItsOwnCgroupReadOnly() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Limits limits = Limits.builder().memory(LIMIT).pids(100).build();
        List<String> mounts = sh(limits, "grep ' /sys/fs/cgroup' /proc/self/mountinfo").stdoutText().lines().toList();
        assertThat(mounts).as("the view").isNotEmpty()
                .allSatisfy(m -> assertThat(m.split(" ")[5]).as("mount options of %s", m).startsWith("ro,"))
                // A cgroup file system's root is the sandbox's cgroup, its cgroup namespace's root.
                .filteredOn(m -> m.contains(" - cgroup")).isNotEmpty().allMatch(m -> m.split(" ")[3].equals("/"));
        assertThat(mounts).as("v1: a tmpfs holds the hierarchies; v2: one cgroup2")
                .anyMatch(m -> m.contains(Env.pureCgroupV2() ? " - cgroup2 " : " - tmpfs "));

        // The sandbox's cgroup and nothing below or beside it: no directory below a hierarchy's root.
        String root = Env.pureCgroupV2() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/memory";
        String limitFile = root + (Env.pureCgroupV2() ? "/memory.max" : "/memory.limit_in_bytes");
        assertThat(sh(limits, "find /sys/fs/cgroup/ -mindepth 1 -type d").stdoutText().lines())
                .allMatch(d -> !Env.pureCgroupV2() && d.matches("/sys/fs/cgroup/[^/]+"));
        assertThat(sh(limits, "cat " + limitFile).stdoutText().trim()).isEqualTo(String.valueOf(LIMIT));

        // Whoever owns the files (a delegated user's sandbox owns its cgroup's), every write is refused.
        SandboxResult writes = sh(limits, "mkdir " + root + "/escape && echo WROTE; echo max > " + limitFile
                + " && echo WROTE; echo 1 > " + root + "/cgroup.procs && echo WROTE; touch /sys/fs/cgroup/file && echo WROTE");
        assertThat(writes.stdoutText()).isEmpty();
        assertThat(writes.stderrText().lines()).hasSize(4).allMatch(l -> l.contains("Read-only file system"));
    }

    /**
     * Where the view's mount point cannot be made (a read-only root file system without
     * /sys/fs/cgroup), the sandbox runs without it; a writable one gets it.
     */
    @Test
    void aReadOnlyRootFilesystemWithoutSysFsCgroupRunsWithoutTheView(@TempDir Path rootfs) throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Files.copy(Env.tool("busybox", "busybox-static"), rootfs.resolve("busybox"));
        Sandbox.Builder b = Sandbox.builder().rootfs(rootfs).limits(Limits.builder().memory(LIMIT).build())
                .command("/busybox", "cat", "/sys/fs/cgroup/" + (Env.pureCgroupV2() ? "memory.max"
                        : "memory/memory.limit_in_bytes"));
        SandboxResult readOnly = b.build().run();
        assertThat(readOnly.stderrText()).contains("No such file or directory");
        assertThat(readOnly.verdict()).isEqualTo(Verdict.NONZERO_EXIT);
        assertThat(rootfs.resolve("sys")).doesNotExist();

        SandboxResult writable = b.rootfsWritable(true).build().run();
        assertThat(writable.stdoutText().trim()).as("%s", writable.stderrText()).isEqualTo(String.valueOf(LIMIT));
    }

    private static SandboxResult sh(Limits limits, String script) throws Exception {
        return Sandbox.builder().limits(limits).command("/bin/sh", "-c", script).build().run();
    }

    private static long maxHeap(String flags) {
        return flags.lines().filter(l -> l.matches("\\s*size_t MaxHeapSize\\s+=.*")).findFirst()
                .map(l -> Long.parseLong(l.replaceAll(".*=\\s*(\\d+).*", "$1"))).orElseThrow();
    }
}
