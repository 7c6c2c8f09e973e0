package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Nothing outlives its owner: destroy(), the command's own exit, and the JVM's death. */
class LifecycleTest {

    private static final String DAEMONS = "sleep 1000 & sleep 1000 & setsid sleep 1000 & echo started; ";

    @Test
    void destroyForciblyKillsEveryProcessIncludingDaemons() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "trap '' TERM; " + DAEMONS + "wait").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        String ns = Env.sandboxPidNamespace(p.pid());
        assertThat(Env.processesIn(ns)).as("sh and three sleeps (init is not readable rootless)").hasSizeGreaterThanOrEqualTo(4);
        var sandbox = Env.sandboxProcesses(p.pid());
        p.destroyForcibly();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitStatus()).isEqualTo(ExitStatus.signaled(9));
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).isEmpty();
    }

    /** As the JDK's destroy(): SIGTERM to the command, whose handler runs; then nothing is left. */
    @Test
    void destroyAsksTheCommandToStopAndItsHandlerRuns() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "trap 'echo cleaning up; exit 3' TERM; "
                + DAEMONS + "while :; do sleep 1; done").build().start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
        assertThat(out.readLine()).isEqualTo("started");
        var sandbox = Env.sandboxProcesses(p.pid());
        assertThat(p.supportsNormalTermination()).isTrue();
        p.destroy();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(out.readLine()).isEqualTo("cleaning up");
        assertThat(p.exitStatus()).isEqualTo(ExitStatus.exited(3));
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).as("daemons die with the command").isEmpty();
    }

    @Test
    void signalReachesTheCommandOnly() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "trap 'echo hup' HUP; trap 'echo usr1' USR1; "
                + "echo ready; while :; do sleep 0.1; done").build().start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
        assertThat(out.readLine()).isEqualTo("ready");
        p.signal(1);
        assertThat(out.readLine()).isEqualTo("hup");
        p.signal(10);
        assertThat(out.readLine()).isEqualTo("usr1");
        assertThat(p.isAlive()).isTrue();
        assertThatThrownBy(() -> p.signal(9)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("destroyForcibly()");
        assertThatThrownBy(() -> p.signal(32)).isInstanceOf(IllegalArgumentException.class);
        p.close();
        assertThat(p.exitStatus()).isEqualTo(ExitStatus.signaled(9));
        p.signal(1); // after the end: nothing to signal, no error
    }

    /** A signal the command sends its own process group (which init is in) reaches it once, not forwarded again. */
    @Test
    void signalsFromInsideAreNotForwardedAgain() throws Exception {
        SandboxResult r = Sandbox.builder().command("/bin/sh", "-c", "n=0; trap 'n=$((n+1))' USR1; i=0; "
                + "while [ $i -lt 5 ]; do kill -USR1 0; sleep 0.2; i=$((i+1)); done; sleep 0.5; echo $n; "
                + "kill -TERM 1; sleep 0.5; echo alive").build().run();
        assertThat(r.stdoutText()).as("five USR1 sent to the group, then SIGTERM to init from inside")
                .isEqualTo("5\nalive\n");
        assertThat(r.status()).isEqualTo(ExitStatus.exited(0));
    }

    @Test
    void tryWithResourcesLeavesNothingBehind() throws Exception {
        java.util.Map<Long, Long> sandbox;
        SandboxProcess kept;
        try (SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "trap '' TERM; " + DAEMONS + "wait").build()
                .start()) {
            assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
            sandbox = Env.sandboxProcesses(p.pid());
            kept = p;
        }
        assertThat(kept.isAlive()).isFalse();
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).isEmpty();
        assertThatThrownBy(() -> kept.getInputStream().read()).isInstanceOf(java.io.IOException.class);
        kept.close();
    }

    /**
     * A process nobody references is finished by the cleaner: its sandbox is killed (the command
     * and its daemons, which ignore SIGTERM and hold no stream that could end them) and nothing is
     * left. Bounded: a collection is asked for until the process is collected.
     */
    @Test
    @Timeout(180)
    void aProcessNobodyReferencesIsFinishedByTheCleaner() throws Exception {
        List<java.lang.ref.WeakReference<SandboxProcess>> seen = new ArrayList<>();
        var sandbox = startAndDrop(seen::add);
        java.lang.ref.WeakReference<SandboxProcess> dropped = seen.get(0);
        for (int i = 0; i < 100 && dropped.get() != null; i++) {
            System.gc();
            Thread.sleep(100);
        }
        assertThat(dropped.get()).as("collected after 100 collections").isNull();
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).as("the cleaner killed the sandbox").isEmpty();
    }

    /** Starts a sandbox that only a kill ends and returns its processes; the SandboxProcess is dropped. */
    private static java.util.Map<Long, Long> startAndDrop(
            java.util.function.Consumer<java.lang.ref.WeakReference<SandboxProcess>> watch) throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "trap '' TERM HUP PIPE; " + DAEMONS + "wait")
                .stdout(dev.crabcan.Stdio.pipe()).build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        watch.accept(new java.lang.ref.WeakReference<>(p));
        return Env.sandboxProcesses(p.pid());
    }

    /** Holding only a stream holds the process: the cleaner does not end a sandbox whose output is being read. */
    @Test
    @Timeout(180)
    void aStreamInUseKeepsItsProcess() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "sleep 3; echo done").build().start();
        java.lang.ref.WeakReference<SandboxProcess> process = new java.lang.ref.WeakReference<>(p);
        java.io.InputStream out = p.getInputStream();
        p = null;
        for (int i = 0; i < 5; i++) {
            System.gc();
            Thread.sleep(100);
        }
        assertThat(process.get()).as("held by its stream").isNotNull();
        assertThat(new String(out.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8)).isEqualTo("done\n");
    }

    @Test
    void daemonsDieWhenTheCommandExits() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", DAEMONS + "read go; exit 4").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        var sandbox = Env.sandboxProcesses(p.pid());
        p.getOutputStream().close();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.exited(4));
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).isEmpty();
        assertThat(p.getInputStream().read()).as("stdout reaches EOF: no daemon holds it").isEqualTo(-1);
    }

    @Test
    void destroyIsIdempotentAndHarmlessAfterExit() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/true").build().start();
        assertThat(p.waitFor()).isZero();
        p.destroy();
        p.destroy();
        p.destroyForcibly();
        assertThat(p.exitValue()).isZero();
    }

    @Test
    void sandboxesDieWithTheirJvmEvenOnKill9(@TempDir Path tmp) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-XX:-UsePerfData",
                "-Djava.io.tmpdir=" + tmp,
                "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir")));
        cmd.add(SandboxHolder.class.getName());
        // Its log (a note for root of a user namespace) must not come before its report.
        Process jvm = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        try {
            String line = new BufferedReader(new InputStreamReader(jvm.getInputStream())).readLine();
            assertThat(line).as("the holder JVM's report").endsWith(" started");
            long init = Long.parseLong(line.split(" ")[0]);
            String ns = Env.sandboxPidNamespace(init);
            assertThat(Env.processesIn(ns)).as("sh and three sleeps (init is not readable rootless)").hasSizeGreaterThanOrEqualTo(4);
            var sandbox = Env.sandboxProcesses(init);

            jvm.destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(jvm.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).as("sandbox processes after the JVM died")
                    .isEmpty();
        } finally {
            jvm.destroyForcibly();
        }
    }

    /**
     * A JVM killed with -9 leaves its cgroups and run directory behind (no shutdown hook ran);
     * the next JVM that uses the library removes them, and nothing of a JVM still alive.
     */
    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aDeadJvmsLeftoversAreRemovedByTheNextOneAndALiveJvmsAreNot(@TempDir Path tmp) throws Exception {
        // Where cgroups are not delegated to this user (rootless on this host): only run directories.
        boolean limits = Env.mayLimit();
        String mode = limits ? "limits" : "plain";
        Path cache = tmp.resolve("cache");
        Process dead = javaWith(tmp, cache, SandboxHolder.class, mode);
        Process live = javaWith(tmp, cache, SandboxHolder.class, mode);
        try {
            long deadInit = initOf(dead);
            long liveInit = initOf(live);
            var deadSandbox = Env.sandboxProcesses(deadInit);
            var liveSandbox = Env.sandboxProcesses(liveInit);
            Path deadRun = cache.resolve("run").resolve(Long.toString(dead.pid()));
            Path liveRun = cache.resolve("run").resolve(Long.toString(live.pid()));
            assertThat(deadRun).isDirectory();
            assertThat(liveRun).isDirectory();
            if (limits) {
                assertThat(jvmCgroups(dead.pid())).isNotEmpty();
                assertThat(jvmCgroups(live.pid())).isNotEmpty();
            }

            dead.destroyForcibly();
            assertThat(dead.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(Env.awaitGone(deadSandbox, Env.CLEANUP_CEILING_MS)).as("the dead JVM's sandbox after it died")
                    .isEmpty();
            assertThat(deadRun).as("left behind by kill -9").isDirectory();
            if (limits) {
                assertThat(jvmCgroups(dead.pid())).as("left behind by kill -9").isNotEmpty();
            }

            Process next = javaWith(tmp, cache, FirstSandbox.class, mode);
            String out = new String(next.getInputStream().readAllBytes());
            assertThat(next.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(next.exitValue()).as(out).isZero();

            assertThat(deadRun).as("the dead JVM's run directory").doesNotExist();
            assertThat(jvmCgroups(dead.pid())).as("the dead JVM's cgroups").isEmpty();
            assertThat(liveRun).as("the live JVM's run directory").isDirectory();
            assertThat(liveRun.resolve("control.sock")).exists();
            if (limits) {
                assertThat(jvmCgroups(live.pid())).as("the live JVM's cgroups").isNotEmpty();
            }
            assertThat(Env.awaitGone(liveSandbox, 0)).as("the live JVM's sandbox still runs").hasSameSizeAs(liveSandbox.keySet());

            live.destroy(); // SIGTERM: its shutdown hooks remove what it made
            assertThat(live.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(Env.awaitGone(liveSandbox, Env.CLEANUP_CEILING_MS)).isEmpty();
            assertThat(liveRun).doesNotExist();
            assertThat(jvmCgroups(live.pid())).isEmpty();
        } finally {
            dead.destroyForcibly();
            live.destroyForcibly();
        }
    }

    private static Process javaWith(Path tmp, Path cache, Class<?> main, String arg) throws Exception {
        return new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp",
                System.getProperty("java.class.path"), "-XX:-UsePerfData", "-Djava.io.tmpdir=" + tmp,
                "-Dcrabcan.cache.dir=" + cache, main.getName(), arg).redirectError(ProcessBuilder.Redirect.INHERIT)
                .start();
    }

    private static long initOf(Process holder) throws Exception {
        String line = new BufferedReader(new InputStreamReader(holder.getInputStream())).readLine();
        assertThat(line).as("the holder JVM's report").endsWith(" started");
        return Long.parseLong(line.split(" ")[0]);
    }

    /** A JVM's cgroup directories, {@code <parent>/crabcan-<pid>}, on every hierarchy. */
    private static List<Path> jvmCgroups(long jvmPid) throws Exception {
        return Env.cgroupDirs(p -> p.getFileName() != null && p.getFileName().toString().equals("crabcan-" + jvmPid));
    }

    /**
     * Found by an attack review: runtime hooks that threw an Error, not an Exception, left the
     * detached sandbox waiting for them, and its end, whenever it came, still interrupted the
     * caller's thread, in whatever unrelated call it was by then. Now the sandbox is killed and
     * nothing interrupts the caller afterwards.
     */
    @Test
    void runtimeHooksThatThrowAnErrorKillTheSandboxAndInterruptNothingAfter(@TempDir Path tmp) throws Exception {
        long[] init = {0};
        Sandbox sandbox = Sandbox.builder().stdin(dev.crabcan.Stdio.discard()).stdout(dev.crabcan.Stdio.discard())
                .stderr(dev.crabcan.Stdio.discard()).command("/bin/true").build();
        assertThatThrownBy(() -> sandbox.createDetached(tmp.resolve("release"), List.of(),
                dev.crabcan.ContainerHooks.none().withRuntime(pid -> {
                    init[0] = pid;
                    throw new AssertionError("a hook's bug");
                }))).isInstanceOf(AssertionError.class).hasMessage("a hook's bug");
        assertThat(init[0]).as("the hooks ran, with init waiting").isPositive();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
        while (ProcessHandle.of(init[0]).isPresent() && !Env.isZombie(init[0]) && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(ProcessHandle.of(init[0]).isEmpty() || Env.isZombie(init[0])).as("init %d killed", init[0]).isTrue();
        Thread.sleep(200); // an interrupt from the sandbox's end would throw here
        assertThat(Thread.currentThread().isInterrupted()).isFalse();
    }

    @Test
    void manySandboxesAtOnce() throws Exception {
        List<SandboxProcess> running = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            running.add(Sandbox.builder().command("/bin/sh", "-c", "read x; echo $x").build().start());
        }
        for (int i = 0; i < running.size(); i++) {
            try (var in = running.get(i).getOutputStream()) {
                in.write(("n" + i + "\n").getBytes());
            }
        }
        for (int i = 0; i < running.size(); i++) {
            SandboxProcess p = running.get(i);
            assertThat(new String(p.getInputStream().readAllBytes())).isEqualTo("n" + i + "\n");
            assertThat(p.waitFor()).isZero();
        }
    }

    @Test
    void sandboxDiesWithItsHelper() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", DAEMONS + "wait").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        var sandbox = Env.sandboxProcesses(p.pid());
        ProcessHandle helper = ProcessHandle.of(p.pid()).flatMap(ProcessHandle::parent).orElseThrow();
        assertThat(helper.destroyForcibly()).isTrue();
        assertThat(Env.awaitGone(sandbox, Env.CLEANUP_CEILING_MS)).as("the sandbox after its helper was killed")
                .isEmpty();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("the handle does not hang").isTrue();
        assertThatThrownBy(p::result).isInstanceOf(dev.crabcan.SandboxException.class)
                .hasMessageContaining("exited without reporting how the sandbox ended");
    }
}
