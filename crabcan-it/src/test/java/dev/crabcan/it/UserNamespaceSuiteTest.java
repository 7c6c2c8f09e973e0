package dev.crabcan.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs every other test of this module again as root of a user namespace (`unshare -U -r`, as
 * rootless podman, rootless CI containers and user-namespaced pods run their root): once made by
 * host root (its root is host uid 0, without capabilities in the initial namespace), once made by
 * uid 65534 (its root is host uid 65534). Such a caller is root but not host root: its sandboxes
 * run as the caller, with the root caller's rules (see {@link SuiteLauncher}).
 */
class UserNamespaceSuiteTest {
    private static final int NOBODY = 65534;

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesAsRootOfAUserNamespaceMadeByRoot() throws Exception {
        assumeTrue(Env.isHostRoot(), "making the user namespaces takes host root");
        SuiteLauncher.run("as root of a user namespace made by host root", List.of("unshare", "-U", "-r"), 0,
                ROOT_IN_USER_NAMESPACE_SKIPS);
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesAsRootOfAUserNamespaceMadeByNobody() throws Exception {
        assumeTrue(Env.isHostRoot(), "making the user namespaces takes host root");
        SuiteLauncher.run("as root of a user namespace made by uid " + NOBODY, List.of("setpriv", "--reuid=" + NOBODY,
                "--regid=" + NOBODY, "--clear-groups", "unshare", "-U", "-r"), NOBODY, NOBODY_IN_USER_NAMESPACE_SKIPS);
    }

    /** What root of a user namespace cannot do whoever made it, each skipped with its reason. */
    private static final List<String> NOT_HOST_ROOT = List.of(
            // Acting as other host users takes host root: only the namespace's own id is mapped.
            "CacheTrustTest#anotherUserRacingTheTmpdirFallbackNeverRunsItsPayloadAsRoot",
            "CacheTrustTest#oneRootlessUserCannotPlantForAnother",
            "CacheTrustTest#rootWithAnotherUsersHomeLeavesItAlone",
            // podman needs host root here.
            "ContainerTest#namespacesForbiddenByTheSeccompProfileIsAnUnsupportedHost",
            "ContainerTest#podmansDefaultsRunSandboxesWithoutWhatTheyRefuse",
            "ContainerTest#theReadmeSettingsGiveEverySandboxItsHostnameAndProc",
            // Host ids are allocated for host root only; these sandboxes run as the caller.
            "HostIdsTest#aJvmGetsItsIdBackOnEveryEndOfASandbox",
            "HostIdsTest#hostNobodyCannotSignalReniceLimitOrInspectARootCallersSandbox",
            "HostIdsTest#idsAreDistinctAcrossJvmsAndComeBackAfterKill9ButNotWhileADetachedSandboxLives",
            "HostIdsTest#twoSandboxesRunAsDifferentHostIdsAndCannotSignalEachOther",
            // A veth pair into the host's network namespace, mounts on the host, podman and runc take host root.
            "NetworkTest#outboundTrafficLeavesWithTheHostsAddressAndNamesResolve",
            "PodmanTest#podmanKillStopAndRm",
            "PodmanTest#podmanRunShowsOutputAndExitCode",
            "RootfsTest#readOnlyRootfsIsReadOnlyAllTheWayDown",
            "RuncInteropTest#aConfigWrittenFromJavaRunsUnderRunc");

    /** Skipped as root of a user namespace made by host root. */
    static final List<String> ROOT_IN_USER_NAMESPACE_SKIPS = with(NOT_HOST_ROOT,
            // Its root is host uid 0, which owns this host's cgroups: limits work, so no error to show.
            "LimitsTest#cgroupLimitsRootlessFailClearlyOnThisHost");

    /** Skipped as root of a user namespace made by uid 65534. */
    static final List<String> NOBODY_IN_USER_NAMESPACE_SKIPS = with(NOT_HOST_ROOT,
            // Its root is host uid 65534, to whom this host's cgroups (v1) are not delegated.
            "LimitsTest#cgroupIsRemovedOnFailedStartsAndOnDestroy",
            "LimitsTest#cgroupNamespaceIsRootedAtTheSandboxCgroup",
            "LimitsTest#cgroupV2DriverOnTheUnifiedHierarchy",
            "LimitsTest#cpuTimeLimitCountsEveryProcessAndIsPrecise",
            "LimitsTest#cpuWeightCpuQuotaAndIoWeightReachTheCgroup",
            "LimitsTest#judgePreset",
            "LimitsTest#memoryLimitIsAMemoryVerdictNotASignal",
            "LimitsTest#pidsLimit");

    private static List<String> with(List<String> base, String... more) {
        List<String> all = new ArrayList<>(base);
        all.addAll(List.of(more));
        return all;
    }
}
