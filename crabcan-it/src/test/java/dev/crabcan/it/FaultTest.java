package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxSetupException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Faults: each a clear error, no hang, no leak. */
class FaultTest {

    /** Runs FirstSandbox in a fresh JVM with this cache directory; returns its exit code and output. */
    static String[] freshJvm(Path cache, Path tmp) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"), "-Djava.io.tmpdir=" + tmp,
                "-Dcrabcan.cache.dir=" + cache, FirstSandbox.class.getName()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new String[] {String.valueOf(p.exitValue()), out};
    }

    @Test
    void corruptedHelperBinaryIsRefused(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        assertThat(freshJvm(cache, tmp)[0]).isEqualTo("0");
        Path helper;
        try (Stream<Path> s = Files.walk(cache)) {
            helper = s.filter(p -> p.getFileName().toString().equals("crabcan-helper")).findFirst().orElseThrow();
        }
        Files.setPosixFilePermissions(helper, PosixFilePermissions.fromString("rwx------"));
        Files.write(helper, new byte[] {0}, StandardOpenOption.APPEND);
        String[] run = freshJvm(cache, tmp);
        assertThat(run[0]).isNotEqualTo("0");
        assertThat(run[1]).contains("the helper binary " + helper + " has been modified").contains("delete ");
    }

    @Test
    void unusableCacheDirectoryIsAClearError(@TempDir Path tmp) throws Exception {
        Path notADir = Files.writeString(tmp.resolve("cache"), "a file, not a directory");
        String[] run = freshJvm(notADir, tmp);
        assertThat(run[0]).isNotEqualTo("0");
        assertThat(run[1]).contains("the Crabcan cache directory " + notADir).contains("crabcan.cache.dir");
    }

    @Test
    void rootfsThatDisappearsBeforeStart(@TempDir Path tmp) throws Exception {
        Path rootfs = Files.createDirectory(tmp.resolve("rootfs"));
        Sandbox s = Sandbox.builder().rootfs(rootfs).command("/bin/true").build();
        Files.delete(rootfs);
        assertThatThrownBy(s::start).isInstanceOf(SandboxSetupException.class).hasMessageContaining(rootfs.toString())
                .hasMessageContaining("No such file or directory");
    }

    @Test
    void interruptDuringWaitForLeavesTheSandboxManaged() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sleep", "30").build().start();
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread waiter = new Thread(() -> {
            try {
                p.waitFor();
            } catch (Throwable t) {
                thrown.set(t);
            }
        });
        waiter.start();
        Thread.sleep(100);
        waiter.interrupt();
        waiter.join(5000);
        assertThat(thrown.get()).isInstanceOf(InterruptedException.class);
        assertThat(p.isAlive()).isTrue();
        p.destroy();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.signaled(9));
    }

    @Test
    void zygoteKilledBetweenRunsIsReplaced() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        ProcessHandle zygote = ProcessHandle.current().children()
                .filter(p -> p.info().command().map(c -> c.endsWith("crabcan-helper")).orElse(false))
                .findFirst().orElseThrow();
        zygote.destroyForcibly();
        zygote.onExit().get(5, TimeUnit.SECONDS);
        assertThat(Sandbox.builder().command("/bin/echo", "again").build().run().stdoutText()).isEqualTo("again\n");
    }

    @Test
    void theCacheDirectoryCannotBeBoundIntoASandbox() throws Exception {
        Path cache = dev.crabcan.internal.launch.HelperRuntime.get().cacheDir();
        for (Path exposing : List.of(cache, cache.getParent())) {
            assertThatThrownBy(() -> Sandbox.builder().bind(exposing, "/x", true).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining("contains Crabcan's cache directory " + cache);
        }
    }
}
