package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The pure cgroup v2 lane: this host's cgroups are hybrid (v1 controllers), so the cgroup tests
 * run again in a Debian 12 VM that boots Debian's kernel and systemd on pure cgroup v2 under
 * qemu's software emulation (src/test/vm/lane.sh builds and boots it, guest.sh runs inside). They
 * run there three ways: as root in a system service without Delegate=, as root in a delegated
 * service, and as an ordinary user in a scope systemd's user manager delegates. The VM's verdict
 * comes back through a 9p share (qemu exits 0 whatever the guest did): this test fails when a
 * test fails or is skipped there (but for the skips it expects), when a way ran no test, or when the VM did not boot or report; a
 * way whose JVM crashed (qemu's emulation) runs again, up to twice, and the crash reports are printed. The
 * image and the share are removed afterwards; the reports, the VM's console and journal stay in
 * target/vm-lane.
 */
class VmLaneTest {
    private static final Path LANE = Path.of("src/test/vm").toAbsolutePath();
    private static final Path LOGS = Path.of("target/vm-lane").toAbsolutePath();
    private static final String GUEST_SHARE = "/mnt/share";
    /**
     * The tests that depend on cgroups, run in the VM; not the CPU time limit's precision, which
     * software emulation on a loaded host cannot keep (1.05 s measured for a 0.5 s limit). And
     * crabcan-oci's cgroups: its v2 files and refusals, --systemd-cgroup, which needs systemd (this
     * host runs none), and rootless podman, whose cgroup manager is systemd there.
     */
    private static final List<String> SELECTORS = Stream.concat(Stream.of("memoryLimitIsAMemoryVerdictNotASignal",
            "pidsLimit", "cgroupNamespaceIsRootedAtTheSandboxCgroup", "judgePreset",
            "cpuWeightCpuQuotaAndIoWeightReachTheCgroup", "cpusetPinsTheSandboxToItsCpusAndRefusesOthersByName",
            "cgroupIsRemovedOnFailedStartsAndOnDestroy")
            .map(m -> "--select-method=dev.crabcan.it.LimitsTest#" + m),
            Stream.of("--select-method=dev.crabcan.it.LifecycleTest"
                    + "#aDeadJvmsLeftoversAreRemovedByTheNextOneAndALiveJvmsAreNot(java.nio.file.Path)",
                    "--select-method=dev.crabcan.it.SubmissionLimitsTest#aJavaSubmissionSeesItsMemoryLimitAndSizesItsHeapFromIt",
                    "--select-method=dev.crabcan.it.SubmissionLimitsTest"
                    + "#aJavaSubmissionPastItsHeapGetsOutOfMemoryErrorNotTheMemoryLimit(java.nio.file.Path)",
                    "--select-method=dev.crabcan.it.SubmissionLimitsTest#theSandboxSeesOnlyItsOwnCgroupReadOnly",
                    "--select-method=dev.crabcan.it.SubmissionLimitsTest#aJavaSubmissionSeesItsCpuQuota",
                    "--select-method=dev.crabcan.it.OciRuntimeTest#withSystemdCgroupSystemdMakesTheScopeAndDeleteStopsIt",
                    "--select-method=dev.crabcan.it.OciRuntimeTest#createMakesTheCgroupWhereCgroupsPathSaysAndTheCommandsActOnIt",
                    "--select-class=dev.crabcan.it.PodmanSystemdCgroupTest"))
            .toList();
    private static final List<String> MODES = List.of("service", "delegated", "user");
    /**
     * Rootless podman runs as the user only: as root it would be rootful podman (PodmanTest's).
     */
    private static final List<String> PODMAN_AS_THE_USER = List.of("PodmanSystemdCgroupTest#runRmShowsOutputAndExitCode",
            "PodmanSystemdCgroupTest#memoryAndPidsLimitsReachTheContainersScope",
            "PodmanSystemdCgroupTest#runDetachedExecStopAndRmInTheUsersScope");
    /**
     * systemd gives a service without Delegate= memory and pids but no cpu controller (system.slice's
     * subtree_control), and HotSpot sees no cgroup v2 limit at all without one: a JVM in such a
     * sandbox sizes its heap from the machine's memory (780 MB of 3 GB measured here, against 126 MiB
     * in the delegated ways). Crabcan cannot give a cgroup a controller its parent withholds. The
     * user may not make crabcan-oci's cgroup where OciRuntimeTest names it, at the hierarchy's root.
     */
    private static final java.util.Map<String, java.util.Set<String>> EXPECTED_SKIPS = java.util.Map.of("service",
            java.util.Set.copyOf(Stream.concat(PODMAN_AS_THE_USER.stream(), Stream.of(
                    "SubmissionLimitsTest#aJavaSubmissionSeesItsMemoryLimitAndSizesItsHeapFromIt",
                    "SubmissionLimitsTest#aJavaSubmissionPastItsHeapGetsOutOfMemoryErrorNotTheMemoryLimit",
                    "SubmissionLimitsTest#aJavaSubmissionSeesItsCpuQuota")).toList()),
            "delegated", java.util.Set.copyOf(PODMAN_AS_THE_USER),
            "user", java.util.Set.of("OciRuntimeTest#createMakesTheCgroupWhereCgroupsPathSaysAndTheCommandsActOnIt"));

    @Test
    @Timeout(value = 55, unit = TimeUnit.MINUTES)
    void cgroupTestsPassOnPureCgroupV2WithSystemdAsRootAndAsADelegatedUser() throws Exception {
        // ./test.sh (and so CI) runs it; a plain mvn verify, run while working, leaves its 10 to 30 minutes out.
        assumeTrue(Boolean.getBoolean("crabcan.it.vm"), "the pure cgroup v2 VM lane runs in ./test.sh (or with "
                + "-Dcrabcan.it.vm=true)");
        assumeTrue(Env.isRoot(), "building the VM's root file system (mmdebstrap) needs root");
        for (String[] tool : new String[][] {{"mmdebstrap", "mmdebstrap"}, {"qemu-system-x86_64", "qemu-system-x86"},
                {"mkfs.ext4", "e2fsprogs"}}) {
            Env.tool(tool[0], tool[1]);
        }
        deleteTree(LOGS);
        Path work = Files.createDirectories(LOGS.resolve("work"));
        Path share = Files.createDirectories(LOGS.resolve("share"));
        try {
            List<String> classPath = new ArrayList<>();
            for (String entry : SuiteLauncher.copyClassPath(share.resolve("cp"))) {
                classPath.add(GUEST_SHARE + "/cp/" + Path.of(entry).getFileName());
            }
            Files.write(share.resolve("cp.txt"), classPath);
            Files.write(share.resolve("tests.txt"), SELECTORS);
            SuiteLauncher.copyTree(Env.TEST_C, share.resolve("csrc"));
            Files.copy(Env.CLI_JAR, share.resolve("crabcan.jar")); // crabcan-oci's (OciRuntimeTest)
            Files.copy(OciServiceTest.FRONT_END, share.resolve("crabcan-oci")); // beside it (PodmanSystemdCgroupTest)

            Process lane = new ProcessBuilder("bash", LANE.resolve("lane.sh").toString(), work.toString(),
                    share.toString()).redirectErrorStream(true).redirectOutput(LOGS.resolve("lane.log").toFile()).start();
            try {
                assertThat(lane.waitFor(52, TimeUnit.MINUTES)).as("the lane within 52 minutes").isTrue();
            } finally {
                lane.descendants().forEach(ProcessHandle::destroyForcibly);
                lane.destroyForcibly();
            }
            Path results = share.resolve("results");
            String times = read(results.resolve("times"));
            System.out.println("---- the VM lane: times ----\n" + times + "---- facts ----\n" + read(results.resolve("facts")));
            assertThat(lane.exitValue()).as("lane.sh (target/vm-lane/lane.log):\n%s", tail(LOGS.resolve("lane.log"))).isZero();
            assertThat(times).as("the VM booted and ran the lane (its console:\n%s)", tail(work.resolve("console.log")))
                    .contains("boot ");
            for (String mode : MODES) {
                Path dir = results.resolve(mode);
                String output = read(dir.resolve("output"));
                System.out.println("---- the cgroup tests in the VM, " + mode + " ----\n" + output);
                String crashes = crashReports(dir);
                if (!crashes.isEmpty()) {
                    System.out.println("---- " + mode + ": a JVM crashed in the VM and the tests ran again ----\n" + crashes);
                }
                // CI shows the assertion's message, not this test's output: the evidence goes into it.
                assertThat(read(dir.resolve("exit")).trim()).as("%s: exit code of the tests (255 from systemd-run: killed "
                        + "by a signal); the output's end:%n%s%nJVM crash reports:%n%s%nthe VM's journal on kills:%n%s",
                        mode, tail(dir.resolve("output")), crashes, kills(results.resolve("journal"))).isEqualTo("0");
                assertThat(output).containsPattern("\\[\\s*[1-9]\\d* tests successful\\s*\\]")
                        .containsPattern("\\[\\s*0 tests failed\\s*\\]");
                assertThat(SuiteLauncher.skipped(dir.resolve("TEST-junit-jupiter.xml"))).as("%s: skipped", mode)
                        .containsExactlyInAnyOrderElementsOf(EXPECTED_SKIPS.getOrDefault(mode, java.util.Set.of()));
            }
        } finally {
            // The logs stay; the class path copy goes (the image is gone with lane.sh).
            deleteTree(share.resolve("cp"));
            Files.deleteIfExists(share.resolve("crabcan.jar"));
            Files.deleteIfExists(share.resolve("crabcan-oci"));
            deleteTree(work.resolve("rootfs"));
        }
    }

    private static String read(Path file) throws IOException {
        return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8) : "(no " + file + ")\n";
    }

    /** The heads of the JVM error reports -XX:ErrorFile left in DIR (guest.sh runs a crashed mode again). */
    private static String crashReports(Path dir) throws IOException {
        StringBuilder all = new StringBuilder();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path report : files.filter(f -> f.getFileName().toString().startsWith("hs_err_pid")).sorted().toList()) {
                String text = read(report);
                all.append(report.getFileName()).append(":\n").append(text, 0, Math.min(text.length(), 2500)).append('\n');
            }
        }
        return all.toString();
    }

    private static String kills(Path journal) throws IOException {
        return read(journal).lines().filter(l -> l.contains("ccit-") || l.contains("oom") || l.contains("Killed"))
                .limit(40).reduce("", (a, b) -> a + b + "\n");
    }

    private static String tail(Path file) throws IOException {
        String s = read(file);
        return s.substring(Math.max(0, s.length() - 4000));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (Files.exists(dir)) {
            try (Stream<Path> s = Files.walk(dir)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }
}
