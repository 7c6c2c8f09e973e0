package dev.crabcan.it;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Runs the integration tests that make sense in a container inside a podman container with the
 * settings the README gives (Crabcan's seccomp profile, the whole /proc), as root and as uid
 * 65534, each with its exact list of skips. The container has a user namespace of its own, as
 * the README asks for the whole /proc: neither is host root, and sandboxes run as the caller
 * (see {@link SuiteLauncher}, and {@link ContainerTest} for podman's own defaults and a rootful
 * container's root).
 */
class ContainerSuiteTest {
    /** What a library user runs in a container; tests of the host (ids, cgroups, networks, podman) are left out. */
    static final List<String> CLASSES = List.of("RunTest", "IsolationTest", "EscapeTest", "RootfsTest", "CliTest",
            "BuildTest");

    static List<String> podman(Path base, int user) {
        List<String> cmd = new ArrayList<>(List.of(Env.tool("podman", "podman").toString()));
        cmd.addAll(ContainerTest.PODMAN_RUN);
        // The host's network and /dev/net/tun: private networks (pasta) need an outside interface and a tun device.
        cmd.addAll(List.of("--network", "host", "--device", "/dev/net/tun"));
        cmd.addAll(List.of("--user", user + ":" + user));
        // The README's settings for the whole /proc: a user namespace of the container's own. The copied
        // class path, sources and reports live in base: the container writes its reports there.
        try {
            cmd.addAll(ContainerTest.userNamespacedWithTheWholeProc(base, base));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        // The JVM as a child with a pid far above the few a sandbox's own processes have (and the small
        // numbers of its mountinfo): podman makes its command pid 1, which the tests that look for the
        // JVM's pid in a sandbox would find there.
        cmd.addAll(List.of("/bin/sh", "-c", "for i in $(seq 2000); do /bin/true; done; \"$0\" \"$@\""));
        return cmd;
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void theIntegrationTestsPassInPodmanAsRoot() throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Env.tool("runc", "runc");
        SuiteLauncher.run("in a podman container as root", base -> podman(base, 0), ContainerTest.USERNS_FIRST,
                SKIPPED_AS_ROOT, CLASSES);
    }

    @Test
    @Timeout(value = 15, unit = TimeUnit.MINUTES)
    void theIntegrationTestsPassInPodmanAsNobody() throws Exception {
        assumeTrue(Env.isHostRoot(), "podman needs root here");
        Env.tool("runc", "runc");
        SuiteLauncher.run("in a podman container as uid 65534", base -> podman(base, 65534),
                ContainerTest.USERNS_FIRST + 65534,
                SKIPPED_AS_NOBODY, CLASSES);
    }

    /**
     * Skipped as the container's root: it is not the host's root, who alone may mount on the host
     * and lease host gids for a sandbox's groups.
     */
    static final List<String> SKIPPED_AS_ROOT = List.of("RootfsTest#readOnlyRootfsIsReadOnlyAllTheWayDown",
            "BuildTest#aRootCallersImageSandboxHasItsGroups");

    /** Skipped as uid 65534: the same, and the root caller's rules, as in RootlessSuiteTest. */
    static final List<String> SKIPPED_AS_NOBODY = List.of(
            "BuildTest#aRootCallersImageSandboxHasItsGroups",
            "EscapeTest#rootCallersCannotCopyASetuidFileUpIntoABind",
            "EscapeTest#rootCallersCannotCreateSetuidFilesWhateverThePolicy",
            "EscapeTest#rootCallersCannotLeaveTheFilterThroughIoUringAUserNamespaceOrAMount",
            "RootfsTest#readOnlyRootfsIsReadOnlyAllTheWayDown");
}
