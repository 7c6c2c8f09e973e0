package dev.crabcan.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs every other test of this module again as an unprivileged user (uid 65534, no groups),
 * so each behaviour is proven both for root callers and for rootless ones (see {@link SuiteLauncher}).
 */
class RootlessSuiteTest {
    private static final int NOBODY = 65534;

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void everyIntegrationTestPassesRootless() throws Exception {
        assumeTrue(Env.isHostRoot(), "already running unprivileged");
        // NetworkTest's outside world, which takes root to make.
        try (NetworkTest.Uplink uplink = new NetworkTest.Uplink()) {
            SuiteLauncher.run("as uid " + NOBODY, List.of("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY,
                    "--clear-groups"), NOBODY, ROOT_ONLY);
        }
    }

    /** The tests that only make sense for a root caller, each skipped rootless with its reason. */
    static final List<String> ROOT_ONLY = List.of(
            // Acting as other users, or with another user's home, takes root.
            "ImageAttackTest#anImagesSetuidFilesUnpackedByRootGiveOtherUsersNothing",
            "ImageAttackTest#aStoreDirectoryOfAnotherUserIsRefused",
            "CacheTrustTest#anotherUserRacingTheTmpdirFallbackNeverRunsItsPayloadAsRoot",
            "CacheTrustTest#oneRootlessUserCannotPlantForAnother",
            "CacheTrustTest#rootWithAnotherUsersHomeLeavesItAlone",
            "HostOverlayAttackTest#aSandboxOnARemadeOverlayMakesNoPrivilegedFileAndLeavesItsLayerAlone",
            "HostOverlayAttackTest#anOverlayWhoseLayersAnotherUserCanSwapIsRefused",
            // Attacks on crabcan-oci's service as another user and from another mount namespace.
            "OciServiceTest#anotherUserCannotUseTheServiceNorCanAPlantedOneBeTrusted",
            // podman needs root here.
            "ContainerTest#aRootfulContainersRootDoesNotRunItsSandboxesAsTheHostsRoot",
            "ContainerTest#aRootfulContainersRootIsToldToGiveTheContainerAUserNamespaceForImages",
            "ContainerTest#inAUserNamespacedContainerWithTheWholeProcSandboxesGetTheirOwn",
            "ContainerTest#namespacesForbiddenByTheSeccompProfileIsAnUnsupportedHost",
            "ContainerTest#podmansDefaultsRunSandboxesWithoutWhatTheyRefuse",
            "ContainerTest#theReadmeProfileGivesEverySandboxItsHostname",
            // containerd needs host root.
            "ContainerdTest#aDetachedTaskIsListedPausedKilledAndDeleted",
            "ContainerdTest#aFailedCreateShowsCrabcansReason",
            "ContainerdTest#ctrRunShowsOutputAndExitCode",
            "ContainerdTest#ctrRunTGivesAnInteractiveShell",
            "ContainerdTest#ctrTaskExecRunsInTheContainer",
            "ContainerdTest#theRootIsTheOverlayfsSnapshotsOwnLayers",
            "EscapeTest#rootCallersCannotCopyASetuidFileUpIntoABind",
            "EscapeTest#rootCallersCannotCreateSetuidFilesWhateverThePolicy",
            "EscapeTest#rootCallersCannotLeaveTheFilterThroughIoUringAUserNamespaceOrAMount",
            // The host's ns_last_pid hands the attacker the pod's pid.
            "SharedNamespaceTest#aSandboxThatTakesTheEndedPodsPidBeforeItsEndIsHandledIsNotJoined",
            // Host ids are leased for root callers only.
            "ClientTest#aRootCallersClientGivesItsSandboxesIdsFromItsOwnRange",
            // This host's cgroups (v1) are not delegated to unprivileged users.
            "ClientTest#aClientsCgroupParentIsTheOneUsed",
            "JudgeTest#memoryLimitsAndAJavaSubmissionThatSeesItsLimit",
            // mmdebstrap makes the judge environments' Debian base as root.
            "JudgeTest#environmentsDeclaredAsCrabfilesAreBuiltOnceAndJudgedIn",
            "JudgeVerdictTest#aCpuGraceWithACgroup",
            "JudgeVerdictTest#cgroupLimitsInEveryMode",
            // podman as root (rootless podman, as a user of its own, is PodmanRootlessTest).
            "ImageCliTest#podmanRunsWhatCrabcanSavesAndCrabcanRunsWhatPodmanSaves",
            // Adding an address to the host takes host root.
            "NetworkTest#aHostAddressAddedAfterTheStartIsRefusedToo",
            "NetworkTest#aHostAddressAddedAfterARootlessSandboxStartedIsRefusedToo",
            "NetworkTest#aConnectionARootlessSandboxOpenedBeforeItsFilterHadTheAddressIsCut",
            "NetworkTest#aRootlessSandboxRefusesEachOfThousandsOfHostAddressesAddedBeforeOrAfterItStarted",
            // The shared nftables table is a root caller's, on the host.
            "NetworkTest#anOlderCrabcansLeftoverTableIsRemovedOrRefused",
            "NetworkTest#sandboxesInARowWaitForTheLastAddressToBeFree",
            "NetworkTest#theNextSandboxOfAnAddressGetsNoneOfItsPreviousOwnersFlows",
            "NetworkTest#aTableKeptByAnOlderCrabcanIsRefusedNotTrusted",
            "NetworkTest#isolationHoldsWithoutTheTableAndAnOlderCrabcanCannotTakeIt",
            // The JVM relays ports published on IPv6 addresses for root callers; pasta carries a rootless caller's.
            "NetworkTest#aRelayedPortTakesABoundedNumberOfConnectionsAndServesAgainOnceTheyEnd",
            // Mounting on the host takes host root.
            "FaultTest#theCacheDirectoryCannotBeBoundUnderAnotherName",
            "FaultTest#anOverlayRootWithTheCacheAsALayerNamedWithABackslashOrAColonIsRefused",
            "OciRuntimeTest#mountPropagationAsTheConfigAsks",
            "OciRuntimeTest#aSharedBindLeavesNoMountOnTheHost",
            // Entering a container's mount namespace from the host takes host root.
            "OciRuntimeTest#prestartAndCreateRuntimeHooksRunBeforePivotRootInTheSpecsOrder",
            "OciServiceTest#prestartAndCreateRuntimeHooksRunBeforePivotRootThroughTheFrontEnd",
            // Host ids are allocated for root callers; a rootless caller's sandboxes all run as the caller.
            "BuildTest#aRootCallersImageSandboxHasItsGroups",
            "HostIdsTest#aJvmGetsItsIdBackOnEveryEndOfASandbox",
            "OciExecTest#aRootCallersContainerHasItsAdditionalGidsInItsProcessAndExec",
            "HostIdsTest#aRootCallersGroupsAreHostGidsThatNoHostGroupAndNoOtherSandboxHas",
            "HostIdsTest#aRootCallersRootFileSystemShowsItsGroupsFilesAsThoseGroups",
            "HostIdsTest#aRootCallersSupplementaryGroupsAreDropped",
            "HostIdsTest#aSandboxGivenGroupsOfHostGroupsCannotReadTheirFiles",
            "HostIdsTest#aSandboxLeasesAnIdPerGroupAndGivesThemAllBackOrPinsThem",
            "HostIdsTest#hostNobodyCannotSignalReniceLimitOrInspectARootCallersSandbox",
            "HostIdsTest#idsAreDistinctAcrossJvmsAndComeBackAfterKill9ButNotWhileADetachedSandboxLives",
            "HostIdsTest#twoSandboxesRunAsDifferentHostIdsAndCannotSignalEachOther",
            // This host's cgroups (v1) are not delegated to unprivileged users.
            "LimitsTest#cgroupIsRemovedOnFailedStartsAndOnDestroy",
            "LimitsTest#cgroupNamespaceIsRootedAtTheSandboxCgroup",
            "LimitsTest#cgroupV2DriverOnTheUnifiedHierarchy",
            "LimitsTest#cpuWeightCpuQuotaAndIoWeightReachTheCgroup",
            "LimitsTest#cpusetPinsTheSandboxToItsCpusAndRefusesOthersByName",
            "LimitsTest#cpuTimeLimitCountsEveryProcessAndIsPrecise",
            "LimitsTest#judgePreset",
            "LimitsTest#memoryLimitIsAMemoryVerdictNotASignal",
            "LimitsTest#pidsLimit",
            "SubmissionLimitsTest#aJavaSubmissionPastItsHeapGetsOutOfMemoryErrorNotTheMemoryLimit",
            "SubmissionLimitsTest#aJavaSubmissionSeesItsCpuQuota",
            "SubmissionLimitsTest#aJavaSubmissionSeesItsMemoryLimitAndSizesItsHeapFromIt",
            "SubmissionLimitsTest#aReadOnlyRootFilesystemWithoutSysFsCgroupRunsWithoutTheView",
            "SubmissionLimitsTest#theSandboxSeesOnlyItsOwnCgroupReadOnly",
            // Veth pairs, their nftables table and the uplink namespace are a root caller's.
            "NetworkTest#aRootCallersSandboxWithRawPacketsCannotSpoofAddressesNorReachTheHostsLoopback",
            "NetworkTest#addressesAreDistinctAcrossJvmsAndAKilledJvmsComeBack",
            "NetworkTest#onlyRepliesAndPublishedPortsReachARootCallersSandbox",
            "NetworkTest#outboundTrafficLeavesWithTheHostsAddressAndNamesResolve",
            "NetworkTest#aRouterAdvertisementFromARootCallersSandboxConfiguresNothingOnTheHost",
            // Making the user that runs rootless podman takes host root.
            "PodmanRootlessTest#aPodsContainersShareItsNetworkIpcAndHostname",
            "PodmanRootlessTest#groupAddGivesRunAndExecSupplementaryGroups",
            "PodmanRootlessTest#runDetachedExecStopAndRm",
            "PodmanRootlessTest#runRmShowsOutputAndExitCode",
            // Rootless podman with systemd's cgroup manager needs a user with a systemd user manager (the VM lane's).
            "PodmanSystemdCgroupTest#memoryAndPidsLimitsReachTheContainersScope",
            "PodmanSystemdCgroupTest#runDetachedExecStopAndRmInTheUsersScope",
            "PodmanSystemdCgroupTest#runRmShowsOutputAndExitCode",
            "PodmanTest#aPodsContainersShareItsNetworkIpcAndHostname",
            "PodmanTest#aPrestartHookMountsIntoAnImagesRootOnPodmansOverlayStorage",
            "PodmanTest#anImageOnPodmansOverlayStorageRunsAndItsChangesAreCommitted",
            "PodmanTest#podmanExecRunsCommandsInARunningContainer",
            "PodmanTest#podmanGroupAddGivesRunAndExecSupplementaryGroups",
            "PodmanTest#podmanKillStopAndRm",
            "PodmanTest#podmanRunItGivesAnInteractiveShell",
            "PodmanTest#podmanRunShowsOutputAndExitCode",
            "PodmanTest#podmansLimitsHoldAndPauseFreezes",
            "PodmanTest#podmansOwnDefaultsHoldInside",
            "PodmanTest#podmansRlimitsAndOomScoreAdjHold",
            "RootfsTest#readOnlyRootfsIsReadOnlyAllTheWayDown",
            "RuncInteropTest#aConfigWrittenFromJavaRunsUnderRunc");
}
