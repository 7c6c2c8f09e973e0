package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs every other test of this module again as an unprivileged user (uid 65534, no groups),
 * so each behaviour is proven both for root callers and for rootless ones. The class path and
 * the test programs' sources are copied into a world-readable directory first, since the
 * build's own directories (and the Maven repository under /root) may not be readable by that
 * user.
 */
class RootlessSuiteTest {
    private static final int NOBODY = 65534;

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesRootless() throws Exception {
        assumeTrue(Env.isHostRoot(), "already running unprivileged");
        Path base = Files.createTempDirectory("ccit-rootless-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        try {
            List<String> classPath = copyClassPath(base.resolve("cp"));
            copyTree(Env.TEST_C, base.resolve("csrc"));
            copyTree(Env.CLI_JAR, base.resolve("crabcan.jar"));
            Path home = Files.createDirectory(base.resolve("home"));
            Path tmp = Files.createDirectory(base.resolve("tmp"));
            for (Path p : List.of(home, tmp)) {
                Files.setAttribute(p, "unix:uid", NOBODY);
                Files.setAttribute(p, "unix:gid", NOBODY);
            }
            List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY,
                    "--clear-groups", Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", String.join(":", classPath),
                    "-XX:-UsePerfData",
                    "-Djava.io.tmpdir=" + tmp,
                    "-Duser.home=" + home,
                    "-Dcrabcan.cache.dir=" + home.resolve("cache"),
                    "-Dcrabcan.it.csrc=" + base.resolve("csrc"),
                    "-Dcrabcan.it.bin=" + home.resolve("bin"),
                    "-Dcrabcan.it.cli=" + base.resolve("crabcan.jar"),
                    "-Djunit.jupiter.execution.timeout.default=120s",
                    "org.junit.platform.console.ConsoleLauncher", "execute",
                    "--disable-banner", "--disable-ansi-colors", "--details=tree", "--fail-if-no-tests",
                    "--reports-dir=" + home.resolve("reports"),
                    "--exclude-classname=.*(RootlessSuiteTest|BenchmarkTest|VmLaneTest)"));
            // -Dcrabcan.it.rootless=EscapeTest,CliTest reruns just those classes, while working on them.
            String only = System.getProperty("crabcan.it.rootless", "");
            if (only.isBlank()) {
                cmd.add("--select-package=dev.crabcan.it");
            } else {
                for (String c : only.split(",")) {
                    cmd.add("--select-class=dev.crabcan.it." + c.trim());
                }
            }
            Process p = new ProcessBuilder(cmd).directory(base.toFile()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(14, TimeUnit.MINUTES)).isTrue();
            System.out.println("---- the integration tests as uid " + NOBODY + " ----\n" + output);
            assertThat(p.exitValue()).as("rootless run (output above):\n%s", output).isZero();
            assertThat(output).containsPattern("\\[\\s*[1-9]\\d* tests successful\\s*\\]")
                    .containsPattern("\\[\\s*0 tests failed\\s*\\]");
            if (only.isBlank()) {
                assertThat(skipped(home.resolve("reports/TEST-junit-jupiter.xml")))
                        .as("tests skipped rootless: a new skip must be expected here, a missing one removed")
                        .containsExactlyInAnyOrderElementsOf(ROOT_ONLY);
            }
        } finally {
            try (Stream<Path> s = Files.walk(base)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** The tests that only make sense for a root caller, each skipped rootless with its reason. */
    private static final List<String> ROOT_ONLY = List.of(
            // Acting as other users, or with another user's home, takes root.
            "CacheTrustTest#anotherUserRacingTheTmpdirFallbackNeverRunsItsPayloadAsRoot",
            "CacheTrustTest#oneRootlessUserCannotPlantForAnother",
            "CacheTrustTest#rootWithAnotherUsersHomeLeavesItAlone",
            "EscapeTest#rootCallersCannotCopyASetuidFileUpIntoABind",
            "EscapeTest#rootCallersCannotCreateSetuidFilesWhateverThePolicy",
            "EscapeTest#rootCallersCannotLeaveTheFilterThroughIoUringAUserNamespaceOrAMount",
            // Host ids are allocated for root callers; a rootless caller's sandboxes all run as the caller.
            "HostIdsTest#aJvmGetsItsIdBackOnEveryEndOfASandbox",
            "HostIdsTest#aRootCallersSupplementaryGroupsAreDropped",
            "HostIdsTest#hostNobodyCannotSignalReniceLimitOrInspectARootCallersSandbox",
            "HostIdsTest#idsAreDistinctAcrossJvmsAndComeBackAfterKill9ButNotWhileADetachedSandboxLives",
            "HostIdsTest#twoSandboxesRunAsDifferentHostIdsAndCannotSignalEachOther",
            // This host's cgroups (v1) are not delegated to unprivileged users.
            "LimitsTest#cgroupIsRemovedOnFailedStartsAndOnDestroy",
            "LimitsTest#cgroupNamespaceIsRootedAtTheSandboxCgroup",
            "LimitsTest#cgroupV2DriverOnTheUnifiedHierarchy",
            "LimitsTest#cpuWeightCpuQuotaAndIoWeightReachTheCgroup",
            "LimitsTest#cpuTimeLimitCountsEveryProcessAndIsPrecise",
            "LimitsTest#judgePreset",
            "LimitsTest#memoryLimitIsAMemoryVerdictNotASignal",
            "LimitsTest#pidsLimit",
            // Veth pairs, their nftables table and the uplink namespace are a root caller's.
            "NetworkTest#aRootCallersSandboxWithRawPacketsCannotSpoofAddressesNorReachTheHostsLoopback",
            "NetworkTest#addressesAreDistinctAcrossJvmsAndAKilledJvmsComeBack",
            "NetworkTest#onlyRepliesAndPublishedPortsReachARootCallersSandbox",
            "NetworkTest#outboundTrafficLeavesWithTheHostsAddressAndNamesResolve",
            "PodmanTest#podmanKillStopAndRm",
            "PodmanTest#podmanRunShowsOutputAndExitCode",
            "PodmanTest#podmansRlimitsAndOomScoreAdjHold",
            "RootfsTest#readOnlyRootfsIsReadOnlyAllTheWayDown",
            "RuncInteropTest#aConfigWrittenFromJavaRunsUnderRunc");

    /** "Class#method" of each test the JUnit XML report lists as skipped (once per method). */
    static java.util.Set<String> skipped(Path report) throws Exception {
        org.w3c.dom.NodeList cases = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(report.toFile()).getElementsByTagName("testcase");
        java.util.Set<String> skipped = new java.util.TreeSet<>();
        for (int i = 0; i < cases.getLength(); i++) {
            org.w3c.dom.Element c = (org.w3c.dom.Element) cases.item(i);
            if (c.getElementsByTagName("skipped").getLength() > 0) {
                String cls = c.getAttribute("classname");
                String name = c.getAttribute("name");
                skipped.add(cls.substring(cls.lastIndexOf('.') + 1) + "#"
                        + (name.contains("(") ? name.substring(0, name.indexOf('(')) : name));
            }
        }
        return skipped;
    }

    static List<String> copyClassPath(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String entry : System.getProperty("java.class.path").split(":")) {
            Path source = Path.of(entry);
            if (!Files.exists(source)) {
                continue;
            }
            Path target = dir.resolve(i++ + (Files.isDirectory(source) ? "" : ".jar"));
            copyTree(source, target);
            entries.add(target.toString());
        }
        return entries;
    }

    static void copyTree(Path source, Path target) throws IOException {
        try (Stream<Path> s = Files.walk(source)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path t = target.resolve(source.relativize(p).toString());
                Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(t, PosixFilePermissions.fromString(
                        Files.isDirectory(t) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
    }
}
