package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Crabcan;
import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Crabcan clients: several configurations in one JVM, each owning its helper, threads and sandboxes. */
@Timeout(120)
class ClientTest {
    private static final Sandbox ECHO = Sandbox.builder().command("/bin/echo", "hi").build();

    /** This JVM's zygotes that run the helper from a run directory under {@code cache}. */
    private static long zygotesOf(Path cache) throws Exception {
        String prefix = cache.toRealPath().toString() + "/";
        return ProcessHandle.current().children()
                .filter(p -> p.info().command().map(c -> c.startsWith(prefix) && c.contains("/helper.")).orElse(false))
                .count();
    }

    @Test
    void twoClientsWithTheirOwnCacheDirectoriesRunSideBySideAndCloseCleanly(@TempDir Path dir) throws Exception {
        Path a = Files.createDirectory(dir.resolve("a"));
        Path b = Files.createDirectory(dir.resolve("b"));
        try (Crabcan first = Crabcan.newBuilder().cacheDirectory(a).build();
                Crabcan second = Crabcan.newBuilder().cacheDirectory(b).build()) {
            assertThat(first.run(ECHO).stdoutText()).isEqualTo("hi\n");
            assertThat(second.run(ECHO).stdoutText()).isEqualTo("hi\n");
            assertThat(ECHO.run().stdoutText()).as("the default client still works").isEqualTo("hi\n");
            assertThat(runDirs(a)).hasSize(1);
            assertThat(runDirs(b)).hasSize(1);
            assertThat(zygotesOf(a)).as("a zygote per cache directory").isEqualTo(1);
            assertThat(zygotesOf(b)).isEqualTo(1);
        }
        assertThat(runDirs(a)).as("closing removed the run directory").isEmpty();
        assertThat(runDirs(b)).isEmpty();
        assertThat(zygotesOf(a) + zygotesOf(b)).as("and stopped the zygotes").isZero();
        assertThat(ECHO.run().stdoutText()).isEqualTo("hi\n");
    }

    private static List<Path> runDirs(Path cache) throws Exception {
        try (Stream<Path> s = Files.walk(cache)) {
            return s.filter(p -> p.getFileName().toString().equals("control.sock")).toList();
        }
    }

    @Test
    void closeKillsTheClientsRunningSandboxesAndRefusesNewOnes(@TempDir Path dir) throws Exception {
        Crabcan client = Crabcan.newBuilder().cacheDirectory(dir).build();
        SandboxProcess sleeping = client.start(Sandbox.builder().command("/bin/sleep", "100").build());
        SandboxProcess other = Sandbox.builder().command("/bin/sleep", "100").build().start();
        try {
            client.close();
            assertThat(sleeping.isAlive()).isFalse();
            assertThat(sleeping.waitForStatus().isSignaled()).isTrue();
            assertThat(other.isAlive()).as("another client's sandbox is not this client's").isTrue();
            assertThatThrownBy(() -> client.run(ECHO)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("closed");
            client.close(); // idempotent
        } finally {
            other.close();
        }
    }

    /** Its run directory holds its zygote's control socket: another client's sandbox must not reach it. */
    @Test
    void noClientsSandboxMayBindAnotherClientsCacheDirectory(@TempDir Path dir) throws Exception {
        Path a = Files.createDirectory(dir.resolve("a"));
        Path b = Files.createDirectory(dir.resolve("b"));
        try (Crabcan first = Crabcan.newBuilder().cacheDirectory(a).build();
                Crabcan second = Crabcan.newBuilder().cacheDirectory(b).build()) {
            assertThat(second.run(ECHO).stdoutText()).isEqualTo("hi\n");
            Sandbox peek = Sandbox.builder().bindReadOnly(b, "/peek").command("/bin/ls", "-R", "/peek").build();
            assertThatThrownBy(() -> first.run(peek)).isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining(b.toRealPath().toString());
        }
    }

    /** A client of the default cache directory shares the default client's helper, which its close leaves running. */
    @Test
    void closingAClientOfTheDefaultCacheDirectoryLeavesTheDefaultClientWorking() throws Exception {
        assertThat(ECHO.run().stdoutText()).isEqualTo("hi\n");
        try (Crabcan client = Crabcan.newBuilder().build()) {
            assertThat(client.run(ECHO).stdoutText()).isEqualTo("hi\n");
        }
        assertThat(ECHO.run().stdoutText()).isEqualTo("hi\n");
    }

    @Test
    void theDefaultClientCannotBeClosed() {
        assertThatThrownBy(() -> Crabcan.defaultClient().close()).isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("default");
    }

    @Test
    void onExitActionsRunOnTheClientsExecutor(@TempDir Path dir) throws Exception {
        ExecutorService callbacks = Executors.newSingleThreadExecutor(r -> new Thread(r, "judge-callbacks"));
        try (Crabcan client = Crabcan.newBuilder().cacheDirectory(dir).callbackExecutor(callbacks).build()) {
            // cat waits for its stdin to close: the action is chained while the sandbox still runs
            // (chained to a completed future, it would run on the chaining thread, as with the JDK's).
            SandboxProcess p = client.start(Sandbox.builder().command("/bin/cat").build());
            var name = p.onExit().thenApply(x -> Thread.currentThread().getName());
            p.getOutputStream().close();
            String thread = name.get(30, TimeUnit.SECONDS);
            assertThat(thread).isEqualTo("judge-callbacks");
        } finally {
            callbacks.shutdown();
        }
    }

    @Test
    void defaultLimitsApplyToSandboxesThatSetNone(@TempDir Path dir) throws Exception {
        try (Crabcan client = Crabcan.newBuilder().cacheDirectory(dir)
                .defaultLimits(Limits.builder().wallTime(Duration.ofMillis(500)).build()).build()) {
            SandboxResult limited = client.run(Sandbox.builder().command("/bin/sleep", "30").build());
            assertThat(limited.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
            SandboxResult own = client.run(Sandbox.builder().command("/bin/sh", "-c", "sleep 1; echo done")
                    .limits(Limits.builder().outputBytes(1000).build()).build());
            assertThat(own.stdoutText()).as("its own limits, not the client's").isEqualTo("done\n");
        }
    }

    @Test
    void aClientsCgroupParentIsTheOneUsed(@TempDir Path dir) throws Exception {
        assumeTrue(Env.mayLimit(), "this caller may not make cgroups here (the rootless error is LimitsTest's)");
        Path parent = Path.of("crabcan-no-such-parent-" + ProcessHandle.current().pid());
        try (Crabcan client = Crabcan.newBuilder().cacheDirectory(dir).cgroupParent(parent).build()) {
            assertThatThrownBy(() -> client.run(Sandbox.builder().command("/bin/true")
                    .limits(Limits.builder().memory(64L << 20).build()).build()))
                    .isInstanceOf(SandboxException.class).hasMessageContaining(parent.toString());
        }
    }

    @Test
    void aRootCallersClientGivesItsSandboxesIdsFromItsOwnRange(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "host ids are leased for host root only");
        int first = 2_100_000_000;
        try (Crabcan client = Crabcan.newBuilder().cacheDirectory(dir).hostIdRange(first, 100).build()) {
            SandboxProcess p = client.start(Sandbox.builder().command("/bin/sleep", "30").build());
            try {
                long uid = Env.hostUid(p.pid());
                assertThat(uid).isBetween((long) first, first + 99L);
            } finally {
                p.close();
            }
        }
        assertThatThrownBy(() -> Crabcan.newBuilder().hostIdRange(0, 10)).hasMessageContaining("hostIdRange(0, 10)");
    }
}
