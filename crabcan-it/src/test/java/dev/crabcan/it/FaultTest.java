package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.ExitStatus;
import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxException;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxSetupException;
import java.io.IOException;
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
import org.junit.jupiter.api.Timeout;
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

    /**
     * Nothing on disk is run: a helper planted in the cache, where Crabcan kept the one it ran
     * before it wrote the helper anew for each zygote, is left alone.
     */
    @Test
    void aHelperPlantedInTheCacheNeverRuns(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("cache");
        assertThat(freshJvm(cache, tmp)[0]).isEqualTo("0");
        String sha;
        try (java.io.InputStream in = dev.crabcan.internal.launch.HelperRuntime.resource(
                dev.crabcan.internal.launch.HelperRuntime.RESOURCE + ".sha256")) {
            sha = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
        Path marker = tmp.resolve("planted-helper-ran");
        Path planted = Files.createDirectories(cache.resolve(sha)).resolve("crabcan-helper");
        Files.writeString(planted, "#!/bin/sh\ntouch " + marker + "\n");
        Files.setPosixFilePermissions(planted, PosixFilePermissions.fromString("rwx------"));
        String[] run = freshJvm(cache, tmp);
        assertThat(run[0]).as(run[1]).isEqualTo("0");
        assertThat(marker).doesNotExist();
    }

    @Test
    void unusableCacheDirectoryIsAClearError(@TempDir Path tmp) throws Exception {
        Path notADir = Files.writeString(tmp.resolve("cache"), "a file, not a directory");
        String[] run = freshJvm(notADir, tmp);
        assertThat(run[0]).isNotEqualTo("0");
        assertThat(run[1]).contains("the Crabcan cache directory " + notADir).contains("crabcan.cache.dir");
    }

    /** The control socket lies in the cache, and a Unix socket's path has at most 107 bytes. */
    @Test
    void aCacheTooLongForTheControlSocketIsAClearError(@TempDir Path tmp) throws Exception {
        Path cache = tmp.resolve("c".repeat(Math.max(1, 110 - tmp.toString().length())));
        String[] run = freshJvm(cache, tmp);
        assertThat(run[0]).isNotEqualTo("0");
        assertThat(run[1]).contains("the Crabcan cache directory " + cache + " is refused: its control socket's path ")
                .contains("a Unix socket's path can have at most 107").contains("crabcan.cache.dir");
    }

    @Test
    void rootfsThatDisappearsBeforeStart(@TempDir Path tmp) throws Exception {
        Path rootfs = Files.createDirectory(tmp.resolve("rootfs"));
        Sandbox s = Sandbox.builder().rootfs(rootfs).command("/bin/true").build();
        Files.delete(rootfs);
        assertThatThrownBy(s::start).isInstanceOf(SandboxSetupException.class).hasMessageContaining(rootfs.toString())
                .hasMessageContaining("No such file or directory");
    }

    /** Report lines are UTF-8 end to end: a non-ASCII path in the helper's first failure arrives intact. */
    @Test
    void aNonAsciiPathInAnEarlyFailureArrivesIntact(@TempDir Path tmp) throws Exception {
        Path missing = tmp.resolve("données-ü-日本.txt");
        Sandbox s = Sandbox.builder().stdin(dev.crabcan.Stdio.readFrom(missing)).stdout(dev.crabcan.Stdio.pipe())
                .command("/bin/true").build();
        assertThatThrownBy(s::start).isInstanceOf(SandboxSetupException.class).hasMessageContaining(missing.toString())
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
        p.destroyForcibly();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.signaled(9));
    }

    @Test
    void startInterruptedDuringSetupKillsTheSandboxAndTheNextStartWorks() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        ProcessHandle zygote = Env.zygote();
        Path children = Path.of("/proc/" + zygote.pid() + "/task/" + zygote.pid() + "/children");
        Sandbox sandbox = Sandbox.builder().command("/bin/sleep", "4711").build();
        for (int i = 0; i < 5; i++) {
            Thread.currentThread().interrupt(); // the start meets it at its first wait
            try {
                assertThatThrownBy(sandbox::start).isInstanceOf(SandboxException.class).hasMessageContaining("interrupted");
                assertThat(Thread.currentThread().isInterrupted()).as("the interrupt is kept for the caller").isTrue();
            } finally {
                Thread.interrupted();
            }
        }
        assertThat(zygote.isAlive()).as("the zygote survives interrupted starts").isTrue();
        assertThat(awaitLeftovers(children, Env.CLEANUP_CEILING_MS)).as("sandbox helpers left by interrupted starts")
                .isEmpty();
        SandboxProcess p = sandbox.start();
        p.destroy();
        p.destroy();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.signaled(15));
        p.destroy();
    }

    @Test
    void zygoteKilledBetweenRunsIsReplaced() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        ProcessHandle zygote = Env.zygote();
        zygote.destroyForcibly();
        zygote.onExit().get(5, TimeUnit.SECONDS);
        assertThat(Sandbox.builder().command("/bin/echo", "again").build().run().stdoutText()).isEqualTo("again\n");
    }

    /**
     * Every zygote runs the jar's helper from a file no path leads to: written anew for each start
     * and unlinked before it was written, so there is nothing on disk to replace, before a start or
     * after it.
     */
    @Test
    void eachZygoteRunsTheJarsHelperFromAnUnlinkedFile() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        String jars;
        try (java.io.InputStream in = dev.crabcan.internal.launch.HelperRuntime.resource(
                dev.crabcan.internal.launch.HelperRuntime.RESOURCE)) {
            jars = sha256(in.readAllBytes());
        }
        for (int start = 0; start < 2; start++) {
            ProcessHandle zygote = Env.zygote();
            Path exe = Path.of("/proc", Long.toString(zygote.pid()), "exe");
            assertThat(Files.readSymbolicLink(exe).toString()).endsWith(" (deleted)")
                    .contains(dev.crabcan.internal.launch.HelperRuntime.get().runDir().toString());
            assertThat(sha256(Files.readAllBytes(exe))).isEqualTo(jars);
            zygote.destroyForcibly();
            zygote.onExit().get(5, TimeUnit.SECONDS);
            assertThat(Sandbox.builder().command("/bin/echo", "again").build().run().stdoutText()).isEqualTo("again\n");
        }
        try (java.util.stream.Stream<Path> run = Files.list(dev.crabcan.internal.launch.HelperRuntime.get().runDir())) {
            assertThat(run.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("helper."));
        }
    }

    /**
     * The secret the zygote proves itself with is wiped from its environment block once said:
     * /proc/PID/environ of the zygote, and of the helpers and inits it forks, shows none of it.
     */
    @Test
    void theZygotesSecretIsWipedFromItsEnvironment() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        String environ = new String(Files.readAllBytes(Path.of("/proc", Long.toString(Env.zygote().pid()), "environ")),
                StandardCharsets.ISO_8859_1);
        String name = dev.crabcan.internal.plan.Contract.E_ZYGOTE_SECRET + "=";
        assertThat(environ).startsWith(name);
        assertThat(environ.substring(name.length())).matches("\\x00+");
    }

    private static String sha256(byte[] bytes) throws Exception {
        return java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
    }

    /**
     * kill -9 of the sandbox's helper while it sets the sandbox up. Setup takes a few
     * milliseconds and nothing in it waits for the caller, so each attempt kills the helper after
     * it appears as a child of the zygote, after a random delay of up to 1.5 times a measured
     * start; which step it was in varies from attempt to attempt. Every outcome must be a clear
     * error from start(), or (killed just after the command started) a handle that ends and says
     * the helper vanished; never a hang or an exit code, and nothing left running.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void helperKilledDuringSetup() throws Exception {
        Limits limits = Env.mayLimit() ? Limits.builder().pids(16).build() : Limits.none();
        Sandbox sandbox = Sandbox.builder().limits(limits).command("/bin/sleep", "4711").build();
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        ProcessHandle zygote = Env.zygote();
        Path children = Path.of("/proc/" + zygote.pid() + "/task/" + zygote.pid() + "/children");
        long[] setup = new long[5];
        for (int i = 0; i < setup.length; i++) {
            long t0 = System.nanoTime();
            SandboxProcess p = sandbox.start();
            setup[i] = System.nanoTime() - t0;
            p.destroy();
            p.waitFor();
        }
        java.util.Arrays.sort(setup);
        assertThat(awaitLeftovers(children, Env.CLEANUP_CEILING_MS)).isEmpty();
        java.util.Random random = new java.util.Random(6);
        int failedStarts = 0;
        for (int attempt = 0; attempt < 40; attempt++) {
            List<String> before = List.of(Files.readString(children).trim().split(" "));
            long delayNanos = (long) (random.nextDouble() * 1.5 * setup[setup.length / 2]);
            AtomicReference<Long> killed = new AtomicReference<>();
            Thread killer = new Thread(() -> {
                try {
                    String helper = null;
                    while (helper == null) {
                        if (Thread.interrupted()) {
                            return; // no helper appeared: leave later tests' helpers alone
                        }
                        helper = Stream.of(Files.readString(children).trim().split(" "))
                                .filter(pid -> !pid.isEmpty() && !before.contains(pid)).findFirst().orElse(null);
                    }
                    for (long end = System.nanoTime() + delayNanos; System.nanoTime() < end; ) {
                        Thread.onSpinWait();
                    }
                    ProcessHandle.of(Long.parseLong(helper)).ifPresent(ProcessHandle::destroyForcibly);
                    killed.set(Long.parseLong(helper));
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            killer.start();
            SandboxProcess p = null;
            try {
                p = sandbox.start();
            } catch (SandboxException e) {
                failedStarts++;
                assertThat(e).isNotInstanceOf(dev.crabcan.CommandNotFoundException.class)
                        .hasMessageContaining("helper process exited unexpectedly during setup")
                        .hasMessageContaining("the command did not run");
            } finally {
                killer.join(10_000);
                killer.interrupt();
                killer.join();
            }
            if (killed.get() == null && p != null) {
                p.destroy();
            }
            assertThat(killed.get()).as("attempt %d: the helper was found and killed", attempt).isNotNull();
            if (p != null) {
                assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("attempt %d: the handle ends", attempt).isTrue();
                SandboxProcess started = p;
                assertThatThrownBy(started::result).isInstanceOf(SandboxException.class)
                        .hasMessageContaining("exited without reporting how the sandbox ended");
            }
            assertThat(awaitLeftovers(children, Env.CLEANUP_CEILING_MS)).as("attempt %d: processes left", attempt)
                    .isEmpty();
        }
        assertThat(failedStarts).as("kills that landed during setup").isPositive();
        if (Env.mayLimit()) {
            assertThat(LimitsTest.sandboxCgroups()).isEmpty();
        }
        assertThat(Sandbox.builder().command("/bin/echo", "fine").build().run().stdoutText()).isEqualTo("fine\n");
    }

    /**
     * What is still alive after the timeout: children of the zygote (helpers, and inits whose
     * helper died, which the zygote adopts as a subreaper) and the test's commands.
     */
    private static List<String> awaitLeftovers(Path zygoteChildren, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        while (true) {
            List<String> left = new java.util.ArrayList<>();
            for (String pid : Files.readString(zygoteChildren).trim().split(" ")) {
                if (!pid.isEmpty() && !Env.isZombie(Long.parseLong(pid))) {
                    left.add("zygote child " + pid);
                }
            }
            ProcessHandle.allProcesses().filter(h -> h.info().arguments().map(a -> a.length == 1 && a[0].equals("4711"))
                    .orElse(false) && !Env.isZombie(h.pid())).forEach(h -> left.add("sleep 4711 as " + h.pid()));
            if (left.isEmpty() || System.currentTimeMillis() > deadline) {
                return left;
            }
            Thread.sleep(10);
        }
    }

    @Test
    void theCacheDirectoryCannotBeBoundIntoASandbox() throws Exception {
        Path cache = dev.crabcan.internal.launch.HelperRuntime.get().cacheDir();
        for (Path exposing : List.of(cache, cache.getParent())) {
            assertThatThrownBy(() -> Sandbox.builder().bind(exposing, "/x", true).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining("contains the Crabcan cache directory " + cache);
        }
        // Nor anything in it: its run directory holds the control sockets, its <sha> the helper.
        Path inside = dev.crabcan.internal.launch.HelperRuntime.get().runDir().getParent();
        assertThatThrownBy(() -> Sandbox.builder().bind(inside, "/x", true).command("/bin/true").build().start())
                .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                .hasMessageContaining("lies in the Crabcan cache directory " + cache);
    }

    /**
     * The attack review's: the cache's parent under another name (a bind mount, as a volume or a
     * second mount of /home makes), and a directory with it mounted below. Compared by path, both
     * were given to a sandbox, which then wrote into its own JVM's run directory.
     */
    @Test
    void theCacheDirectoryCannotBeBoundUnderAnotherName(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "mounting on the host takes host root");
        Path cache = dev.crabcan.internal.launch.HelperRuntime.get().cacheDir();
        Path alias = Files.createDirectory(dir.resolve("alias"));
        Path outer = Files.createDirectory(dir.resolve("outer"));
        Path below = Files.createDirectory(outer.resolve("below"));
        Path merged = Files.createDirectory(dir.resolve("merged"));
        Path empty = Files.createDirectory(dir.resolve("empty"));
        List<Path> mounted = new java.util.ArrayList<>();
        try {
            for (Path at : List.of(alias, below)) {
                Env.host("mount", "--bind", cache.getParent().toString(), at.toString());
                mounted.add(at);
            }
            // Read-only (lower layers only): the live cache is not written through it.
            Env.host("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + cache.getParent() + ":" + empty,
                    merged.toString());
            mounted.add(merged);
            assertThatThrownBy(() -> Sandbox.builder().bind(merged, "/x", true).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining(merged + " shows the overlay layer " + cache.getParent()
                            + ", which contains the Crabcan cache directory " + cache);
            assertThatThrownBy(() -> Sandbox.builder().bind(alias, "/x", false).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining(alias + " contains the Crabcan cache directory " + cache);
            assertThatThrownBy(() -> Sandbox.builder().bind(outer, "/x", false).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining(outer + " has " + below + " mounted below it, which contains the Crabcan "
                            + "cache directory " + cache);
        } finally {
            for (Path at : mounted) {
                Env.host("umount", at.toString());
            }
        }
    }

    /**
     * The seventeenth review's: a host root caller's root filesystem that is an overlay (remade of
     * its layers, idmapped) of the cache's parent over the host's /, given as lowerdir+ (the new
     * mount API: one layer each, its name as given) under a name with a '\\' or a ':'. The check
     * split and stripped such names as it does lowerdir's, found no such directory and let the
     * sandbox start, which then saw the cache as its /crabcan.
     */
    @Test
    void anOverlayRootWithTheCacheAsALayerNamedWithABackslashOrAColonIsRefused(@TempDir Path dir) throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "mounting on the host takes host root");
        Path cache = dev.crabcan.internal.launch.HelperRuntime.get().cacheDir();
        Path base = dir.resolve("base");
        BuildTest.busyboxRootfs(base);
        for (String point : List.of("proc", "dev", "sys", "tmp")) {
            Files.createDirectory(base.resolve(point)); // the overlay is read-only: its mount points must be there
        }
        Path colon = Files.createDirectories(dir.resolve("c:/d"));
        for (Path layer : List.of(dir.resolve("a\\b"), colon.resolve("e"))) {
            Files.createSymbolicLink(layer, cache.getParent());
            Path merged = Files.createDirectories(dir.resolve("merged"));
            // Read-only (lower layers only): the live cache is not written through it.
            Env.host("mount", "-t", "overlay", "overlay", "-o", "lowerdir+=" + layer + ",lowerdir+=" + base,
                    merged.toString());
            try {
                assertThatThrownBy(() -> {
                    int seen = Sandbox.builder().rootfs(merged).command("/bin/sh", "-c",
                            "test -d /" + cache.getFileName()).build().run().status().code();
                    throw new AssertionError("the sandbox started; test -d /" + cache.getFileName() + ": " + seen);
                }).isInstanceOf(dev.crabcan.SandboxSpecException.class)
                        .hasMessageContaining(merged + " shows the overlay layer " + layer
                                + ", which contains the Crabcan cache directory " + cache);
            } finally {
                Env.host("umount", merged.toString());
            }
        }
    }

    /** The fourth review's: the bind check opens nothing, so a FIFO given to a sandbox neither hangs its start. */
    @Test
    @org.junit.jupiter.api.Timeout(value = 60, unit = TimeUnit.SECONDS)
    void aFifoCanBeBoundWithoutTheCheckOpeningIt(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        Env.host("mkfifo", fifo.toString());
        assertThat(Sandbox.builder().bind(fifo, "/fifo", true).command("/bin/sh", "-c", "test -p /fifo").build().run()
                .status().code()).isZero();
    }

    /**
     * The third review's: ~/.cache is a link to another disk and holds no cache yet; its target,
     * where a JVM would make the cache, cannot be given to a sandbox, which could make it first.
     */
    @Test
    void aCacheLocationBehindALinkCannotBeBoundWhereItLeads(@TempDir Path dir) throws Exception {
        Env.shOk("true");
        Path home = Files.createDirectory(dir.resolve("home"));
        Path disk = Files.createDirectories(dir.resolve("disk/cache"));
        Files.createSymbolicLink(home.resolve(".cache"), disk);
        String saved = System.getProperty("user.home");
        System.setProperty("user.home", home.toString());
        try {
            assertThatThrownBy(() -> Sandbox.builder().bind(dir.resolve("disk"), "/x", false).command("/bin/true")
                    .build().start()).isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining("contains the Crabcan cache directory " + home.resolve(".cache/crabcan"));
        } finally {
            System.setProperty("user.home", saved);
        }
    }

    /**
     * Nor the places where another JVM of this user would keep its cache, whatever this one uses
     * (a sandbox given another JVM's cache could swap its helper or forge its reports): a home
     * directory, here one that holds no cache of this JVM's.
     */
    @Test
    void aUsualCacheLocationOfThisUserCannotBeBoundIntoASandbox(@TempDir Path home) throws Exception {
        Env.shOk("true"); // this JVM's runtime exists, its own cache elsewhere
        String saved = System.getProperty("user.home");
        System.setProperty("user.home", home.toString());
        try {
            assertThatThrownBy(() -> Sandbox.builder().bind(home, "/x", true).command("/bin/true").build().start())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class)
                    .hasMessageContaining("contains the Crabcan cache directory " + home.resolve(".cache/crabcan"));
        } finally {
            System.setProperty("user.home", saved);
        }
    }

    /**
     * Whatever else reached the control socket (the attack review's sandbox, given another JVM's
     * cache through a bind): a connection that says nothing must not stall launches, and ones
     * that guess tokens must not take a launch's place and forge its result.
     */
    @Test
    void silentOrForgingConnectionsToTheControlSocketChangeNothing() throws Exception {
        Env.shOk("true"); // the control socket exists once the zygote has started
        Path sock = dev.crabcan.internal.launch.HelperRuntime.get().runDir().resolve("control.sock");
        List<java.nio.channels.SocketChannel> held = new java.util.ArrayList<>();
        try {
            java.nio.channels.SocketChannel silent = java.nio.channels.SocketChannel.open(
                    java.net.UnixDomainSocketAddress.of(sock));
            silent.write(java.nio.ByteBuffer.wrap("SANDBOX\t".getBytes(java.nio.charset.StandardCharsets.UTF_8)));
            held.add(silent);
            for (int k = 1; k <= 40; k++) {
                java.nio.channels.SocketChannel forger = java.nio.channels.SocketChannel.open(
                        java.net.UnixDomainSocketAddress.of(sock));
                String forged = "SANDBOX\t" + k + "\nPID\t1\nEXECUTED\nEXIT\t0\t0\t0\t0\nEND\t0\n";
                forger.write(java.nio.ByteBuffer.wrap(forged.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
                held.add(forger);
            }
            for (int i = 0; i < 3; i++) {
                dev.crabcan.SandboxResult r = Sandbox.builder().command("/bin/false").build().run();
                assertThat(r.status().code()).as("launch %d: its own result, not a forged one", i).isEqualTo(1);
            }
        } finally {
            for (java.nio.channels.SocketChannel c : held) {
                c.close();
            }
        }
    }

    /** This JVM's helper zygote: its child running crabcan-helper. */
}
