package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.CommandNotFoundException;
import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.Verdict;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Many sandboxes from several threads, mixing every way a run can end, with cgroups, private
 * networks and detached sandboxes among them; afterwards the JVM's open files, descendant
 * processes, mounts, cgroups, veth pairs and run directory are as before, and every run produced
 * what its command must. CI runs a short version; a long one:
 * {@code -Dtest=SoakTest -Dcrabcan.soak.runs=5000}.
 */
class SoakTest {
    private static final int RUNS = Integer.getInteger("crabcan.soak.runs", 260);
    private static final int KINDS = 13;

    @Test
    @Timeout(value = 60, unit = TimeUnit.MINUTES)
    void nothingLostNothingLeaked() throws Exception {
        // One run of each kind first: what the library keeps for the JVM's life (the zygote, its
        // threads, a private network's resolv.conf and lock thread) exists before we count.
        for (int kind = 0; kind < KINDS; kind++) {
            runOne(kind);
        }
        Snapshot before = Snapshot.take();
        long settle = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (before.cgroups != 0 && System.nanoTime() < settle) {
            Thread.sleep(50);
            before = Snapshot.take();
        }
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<?>> runs = new ArrayList<>();
            for (int i = 0; i < RUNS; i++) {
                int kind = i % KINDS;
                runs.add(pool.submit(() -> {
                    runOne(kind);
                    return null;
                }));
            }
            for (Future<?> f : runs) {
                f.get();
            }
        } finally {
            pool.shutdown();
            assertThat(pool.awaitTermination(1, TimeUnit.MINUTES)).isTrue();
        }
        // Helpers and sandboxes exit just after their results are reported: wait (up to a ceiling
        // that only a leak reaches) until nothing but what was there before is left.
        Snapshot after = Snapshot.take();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!after.settledTo(before) && System.nanoTime() < deadline) {
            Thread.sleep(50);
            after = Snapshot.take();
        }
        System.out.printf("soak: %d runs; before %s; after %s%n", RUNS, before, after);
        assertThat(after.fds).as("JVM open files").isLessThanOrEqualTo(before.fds + 2);
        assertThat(after.descendants).as("processes descended from the JVM").isEqualTo(before.descendants);
        assertThat(after.mounts).as("mounts").isEqualTo(before.mounts);
        assertThat(after.cgroups).as("sandbox cgroups").isZero();
        assertThat(after.links).as("veth host ends (ccn*)").isEqualTo(before.links);
        assertThat(after.runFiles).as("files in the run directory").isEqualTo(before.runFiles);
        assertThat(after.threads).as("JVM threads (not counting idle pools and the test's own): %s, before %s",
                        after.threadNames, before.threadNames)
                .isLessThanOrEqualTo(before.threads);
        assertThat(after.heapBytes).as("heap after GC").isLessThan(before.heapBytes + (16L << 20));
    }

    private static void runOne(int kind) throws Exception {
        Sandbox.Builder b = Sandbox.builder();
        switch (kind) {
            case 0 -> check(b.command("/bin/echo", "ok").build().run(), Verdict.OK, "ok\n");
            case 1 -> check(b.command("/bin/sh", "-c", "exit 3").build().run(), Verdict.NONZERO_EXIT, "");
            case 2 -> check(b.command("/bin/sh", "-c", "kill -TERM $$").build().run(), Verdict.SIGNALED, "");
            case 3 -> check(b.limits(Limits.builder().wallTime(Duration.ofMillis(100)).build())
                    .command("/bin/sleep", "5").build().run(), Verdict.WALL_TIME_LIMIT, "");
            case 4 -> {
                SandboxResult r = b.limits(Limits.builder().outputBytes(100_000).build())
                        .command("/bin/sh", "-c", "yes; echo x >&2").build().run();
                check(r, Verdict.OUTPUT_LIMIT, null);
                assertThat(r.stdout()).hasSize(100_000);
            }
            case 5 -> {
                try {
                    b.command("/no/such/command").build().run();
                    throw new AssertionError("ran a missing command");
                } catch (CommandNotFoundException expected) {
                    // The setup-error path.
                }
            }
            case 6 -> {
                try {
                    b.workingDirectory("/missing").command("/bin/true").build().run();
                    throw new AssertionError("ran in a missing directory");
                } catch (SandboxSetupException expected) {
                    // Another setup error, raised by the command's own child.
                }
            }
            case 7 -> check(b.command("/bin/sh", "-c", "sleep 100 & sleep 100 & echo forked").build().run(),
                    Verdict.OK, "forked\n");
            case 8 -> {
                // Floods both streams while the caller reads only stdout: stderr must not block it.
                SandboxProcess p = b.stderr(dev.crabcan.Stdio.discard())
                        .command("/bin/sh", "-c", "head -c 3000000 /dev/zero; head -c 3000000 /dev/zero >&2").build()
                        .start();
                try (InputStream out = p.getInputStream()) {
                    assertThat(out.readAllBytes()).hasSize(3_000_000);
                }
                assertThat(p.waitFor()).isZero();
            }
            case 10 -> {
                if (!Env.mayLimit()) {
                    // This host's cgroups are not delegated to unprivileged users (LimitsTest shows the error).
                    check(b.command("/bin/true").build().run(), Verdict.OK, "");
                    return;
                }
                // In a cgroup of its own, which the host sees while the command runs.
                SandboxProcess p = b.limits(Limits.builder().memory(64L << 20).pids(16).build())
                        .command("/bin/sh", "-c", "echo up; read go").build().start();
                assertThat(new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine())
                        .isEqualTo("up");
                String cgroups = Files.readString(Path.of("/proc/" + p.pid() + "/cgroup"));
                java.util.regex.Matcher m = java.util.regex.Pattern
                        .compile(":memory:(/\\S*crabcan-" + ProcessHandle.current().pid() + "/sandbox-\\d+)")
                        .matcher(cgroups);
                assertThat(m.find()).as("the sandbox's memory cgroup in %s", cgroups).isTrue();
                assertThat(Path.of("/sys/fs/cgroup/memory" + m.group(1))).isDirectory();
                p.getOutputStream().write('\n');
                p.getOutputStream().close();
                check(p.result(), Verdict.OK, null);
            }
            case 11 -> check(b.network(dev.crabcan.Network.privateNetwork())
                    .command("/bin/sh", "-c", "grep -c eth0 /proc/net/dev").build().run(), Verdict.OK, "1\n");
            case 12 -> {
                // Detached (OCI create/start): released through its FIFO, it runs and its init ends on its own.
                Path dir = Files.createTempDirectory("soak-detached-");
                try {
                    Path fifo = dir.resolve("release");
                    long init = b.stdin(dev.crabcan.Stdio.discard()).stdout(dev.crabcan.Stdio.discard())
                            .stderr(dev.crabcan.Stdio.discard()).command("/bin/true").build().createDetached(fifo);
                    try (InputStream release = Files.newInputStream(fifo)) {
                        assertThat(release.read()).as("the command's word that it goes on").isEqualTo('0');
                    }
                    // Polled: ProcessHandle.onExit would start JDK threads of its own, which the count would see.
                    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
                    while (!Env.isZombie(init) && System.nanoTime() < deadline) {
                        Thread.sleep(5);
                    }
                    assertThat(Env.isZombie(init)).as("the released detached sandbox's init is gone").isTrue();
                } finally {
                    try (Stream<Path> s = Files.walk(dir)) {
                        s.sorted(java.util.Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
                    }
                }
            }
            default -> {
                // Closes stdout early and never reads stdin.
                SandboxProcess p = b.command("/bin/sh", "-c", "exec >&-; sleep 0.05; exit 7").build().start();
                assertThat(p.getInputStream().readAllBytes()).isEmpty();
                assertThat(p.waitFor()).isEqualTo(7);
                p.getOutputStream().close();
                p.getErrorStream().close();
            }
        }
    }

    private static void check(SandboxResult r, Verdict verdict, String stdout) {
        assertThat(r.verdict()).as("%s / %s", r, r.stderrText()).isEqualTo(verdict);
        if (stdout != null) {
            assertThat(r.stdoutText()).isEqualTo(stdout);
        }
    }

    /** What a run could leak, counted. */
    record Snapshot(long fds, long descendants, long mounts, long cgroups, long links, long runFiles, long threads,
            List<String> threadNames, long heapBytes) {
        /** Whether the processes, mounts, cgroups and run files that runs leave for a moment are gone. */
        boolean settledTo(Snapshot before) {
            return descendants == before.descendants && mounts == before.mounts && cgroups == 0
                    && links == before.links && runFiles == before.runFiles;
        }

        static Snapshot take() throws Exception {
            System.gc();
            long fds;
            try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
                fds = s.count();
            }
            long mounts = Files.readAllLines(Path.of("/proc/self/mountinfo")).size();
            long descendants = ProcessHandle.current().descendants().filter(p -> !Env.isZombie(p.pid())).count();
            long cgroups = LimitsTest.sandboxCgroups().size();
            long links;
            try (Stream<Path> s = Files.list(Path.of("/sys/class/net"))) {
                links = s.filter(l -> l.getFileName().toString().startsWith("ccn")).count();
            }
            Path runDir = dev.crabcan.internal.launch.HelperRuntime.get().runDir();
            long runFiles;
            try (Stream<Path> s = Files.list(runDir)) {
                runFiles = s.count();
            }
            List<String> threadNames = Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive()
                    && !t.getName().startsWith("crabcan-io-") && !t.getName().startsWith("pool-")
                    // The JDK's idle reapers of host commands (mkfifo, nft) linger for a minute.
                    && !t.getName().equals("process reaper"))
                    .map(Thread::getName).sorted().toList();
            long threads = threadNames.size();
            System.gc();
            long heap = java.lang.management.ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed();
            return new Snapshot(fds, descendants, mounts, cgroups, links, runFiles, threads, threadNames, heap);
        }
    }
}
