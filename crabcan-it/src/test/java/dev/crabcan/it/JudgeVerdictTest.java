package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.CgroupUnavailableException;
import dev.crabcan.Crabcan;
import dev.crabcan.HostCapabilities;
import dev.crabcan.Limits;
import dev.crabcan.Rlimit;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.Stdio;
import dev.crabcan.Verdict;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * What a code judge needs: each limit's verdict however the output is taken ({@link Sandbox#run()},
 * the streams of {@link Sandbox#start()}, a file) and whichever mechanism fired; the grace of
 * time limits; accounting that says null, never 0, for what it does not know; and which limits
 * the host enforces. As root and, through RootlessSuiteTest, as uid 65534, which on this host
 * gets no cgroup: that run is the "no cgroup" case.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class JudgeVerdictTest {
    private static final int SIGXCPU = 24, SIGXFSZ = 25, SIGKILL = 9;

    @TempDir
    Path tmp;

    /** How the caller takes the command's stdout. */
    enum Mode { RUN, START_AND_STREAMS, WRITE_TO_FILE }

    /** The result of the script under these limits, its stdout taken as the mode says. */
    private SandboxResult in(Mode mode, Limits limits, String script) throws Exception {
        Sandbox.Builder b = Sandbox.builder().limits(limits).command("/bin/sh", "-c", script);
        switch (mode) {
            case RUN:
                return b.build().run();
            case START_AND_STREAMS:
                try (SandboxProcess p = b.build().start()) {
                    p.getOutputStream().close();
                    p.getInputStream().readAllBytes();
                    p.getErrorStream().readAllBytes();
                    return p.result();
                }
            default:
                return b.stdout(Stdio.writeTo(tmp.resolve("out-" + System.nanoTime()))).build().run();
        }
    }

    @Test
    void outputLimitInEveryMode() throws Exception {
        long limit = 64 << 10;
        Limits limits = Limits.builder().outputBytes(limit).wallTime(Duration.ofSeconds(60)).build();
        // exec: the command itself gets the limit's signal; a shell around it would turn SIGXFSZ into exit 153.
        SandboxResult run = in(Mode.RUN, limits, "exec yes");
        assertThat(run.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        assertThat(run.stdout()).hasSize((int) limit);

        // The caller reads the stream itself: it gets the limit's bytes, then end of file.
        try (SandboxProcess p = Sandbox.builder().limits(limits).command("/bin/sh", "-c", "exec yes").build().start()) {
            assertThat(p.getInputStream().readAllBytes()).hasSize((int) limit);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
            assertThat(p.result().stdoutTruncated()).isTrue();
            assertThat(p.result().verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        }

        // A file: the output limit is the file-size rlimit, so the file stops at it.
        Path out = tmp.resolve("out");
        SandboxResult file = Sandbox.builder().limits(limits).stdout(Stdio.writeTo(out))
                .command("/bin/sh", "-c", "exec yes").build().run();
        assertThat(file.status().signal()).as("SIGXFSZ").isEqualTo(SIGXFSZ);
        assertThat(file.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        assertThat(Files.size(out)).isEqualTo(limit);
        // Appended to: the file grows by the limit.
        Files.write(out, new byte[1000]);
        SandboxResult appended = Sandbox.builder().limits(limits).stdout(Stdio.appendTo(out))
                .command("/bin/sh", "-c", "exec yes").build().run();
        assertThat(appended.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        assertThat(Files.size(out)).isEqualTo(1000 + limit);

        // Up to the limit is no output limit, in each mode.
        for (Mode mode : Mode.values()) {
            assertThat(in(mode, limits, "exec head -c " + limit + " /dev/zero").verdict()).as("%s", mode)
                    .isEqualTo(Verdict.OK);
        }
    }

    @Test
    void theJudgePresetsFileSizeLimitOnAFileOutputIsAnOutputLimit() throws Exception {
        // Rlimit.FSIZE alone, as Limits.judge() sets it (64 MiB there; 1 MiB here to spare the disk).
        Limits limits = Limits.builder().rlimit(Rlimit.FSIZE, 1 << 20).build();
        SandboxResult r = in(Mode.WRITE_TO_FILE, limits, "exec head -c 2000000 /dev/zero");
        assertThat(r.status().signal()).isEqualTo(SIGXFSZ);
        assertThat(r.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
        if (Env.mayLimit()) {
            // The judge preset itself: its 16 MiB output limit is the file output's size limit.
            Path out = tmp.resolve("judged");
            SandboxResult judged = Sandbox.builder().limits(Limits.judge()).stdout(Stdio.writeTo(out))
                    .command("/bin/sh", "-c", "exec head -c 20000000 /dev/zero").build().run();
            assertThat(judged.verdict()).isEqualTo(Verdict.OUTPUT_LIMIT);
            assertThat(Files.size(out)).isEqualTo(16L << 20);
        }
        // Without a file-size limit the caller set, SIGXFSZ is a signal like any other.
        assertThat(in(Mode.RUN, Limits.none(), "kill -XFSZ $$").verdict()).isEqualTo(Verdict.SIGNALED);
    }

    @Test
    void wallTimeLimitInEveryModeWithTheCpuTimeItUsed() throws Exception {
        Limits limits = Limits.builder().wallTime(Duration.ofMillis(500)).build();
        for (Mode mode : Mode.values()) {
            SandboxResult r = in(mode, limits, "while :; do :; done");
            assertThat(r.verdict()).as("%s", mode).isEqualTo(Verdict.WALL_TIME_LIMIT);
            assertThat(r.status().signal()).isEqualTo(SIGKILL);
            assertThat(r.wallTime()).as("%s: the program's time, from its execve", mode)
                    .isGreaterThanOrEqualTo(Duration.ofMillis(500));
            // No cgroup (a wall-time limit needs none): init reaped the killed command and reported its accounting.
            assertThat(r.cpuTimeSource()).as("%s", mode).hasValue(SandboxResult.Source.RUSAGE);
            assertThat(r.cpuTime().orElseThrow()).as("%s: a busy loop's CPU time", mode).isPositive();
            assertThat(r.peakMemorySource()).hasValue(SandboxResult.Source.RUSAGE);
            assertThat(r.peakMemoryBytes().getAsLong()).isPositive();
            assertThat(r.toJson()).contains("\"cpuTimeSource\":\"rusage\"").doesNotContain("\"cpuTimeMs\":0,")
                    .doesNotContain("processesCreated");
        }
    }

    @Test
    void cpuRlimitIsACpuTimeVerdictInEveryMode() throws Exception {
        Limits soft = Limits.builder().rlimit(Rlimit.CPU, 1, 3).wallTime(Duration.ofSeconds(60)).build();
        for (Mode mode : Mode.values()) {
            SandboxResult r = in(mode, soft, "while :; do :; done");
            assertThat(r.status().signal()).as("%s: SIGXCPU at the soft limit", mode).isEqualTo(SIGXCPU);
            assertThat(r.verdict()).as("%s", mode).isEqualTo(Verdict.CPU_TIME_LIMIT);
        }
        // At the hard limit the kernel sends SIGKILL (also when the soft limit is the same, as
        // rlimit(CPU, 1) sets it, or when the command ignores SIGXCPU): still the CPU time limit.
        Limits hard = Limits.builder().rlimit(Rlimit.CPU, 1).wallTime(Duration.ofSeconds(60)).build();
        for (Mode mode : Mode.values()) {
            SandboxResult r = in(mode, hard, "while :; do :; done");
            assertThat(r.status().signal()).as("%s", mode).isEqualTo(SIGKILL);
            assertThat(r.verdict()).as("%s %s", mode, r.toJson()).isEqualTo(Verdict.CPU_TIME_LIMIT);
            assertThat(r.cpuTime().orElseThrow()).isGreaterThanOrEqualTo(Duration.ofMillis(500));
        }
        SandboxResult ignored = in(Mode.RUN, Limits.builder().rlimit(Rlimit.CPU, 1, 2).build(),
                "trap '' XCPU; while :; do :; done");
        assertThat(ignored.status().signal()).isEqualTo(SIGKILL);
        assertThat(ignored.verdict()).isEqualTo(Verdict.CPU_TIME_LIMIT);
        // A SIGKILL with CPU time to spare is not the rlimit's.
        assertThat(in(Mode.RUN, hard, "kill -KILL $$").verdict()).isEqualTo(Verdict.SIGNALED);
    }

    @Test
    void cgroupLimitsInEveryMode() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Limits cpu = Limits.builder().cpuTime(Duration.ofMillis(300)).wallTime(Duration.ofSeconds(60)).build();
        Limits memory = Limits.builder().memory(64L << 20).swap(0).wallTime(Duration.ofSeconds(60)).build();
        for (Mode mode : Mode.values()) {
            SandboxResult r = in(mode, cpu, "while :; do :; done");
            assertThat(r.verdict()).as("%s", mode).isEqualTo(Verdict.CPU_TIME_LIMIT);
            assertThat(r.cpuTimeSource()).hasValue(SandboxResult.Source.CGROUP);
            assertThat(in(mode, memory, "python3 -c 'a = bytearray(256 * 1024 * 1024)'").verdict()).as("%s", mode)
                    .isEqualTo(Verdict.MEMORY_LIMIT);
        }
    }

    @Test
    void aGraceKillsAtTheLimitPlusTheGraceAndTheLimitIsTheVerdictWhenPassed() throws Exception {
        Limits limits = Limits.builder().wallTime(Duration.ofMillis(300)).grace(Duration.ofSeconds(3)).build();
        // Ended by itself within the grace, having used more than the limit.
        SandboxResult late = in(Mode.RUN, limits, "sleep 1");
        assertThat(late.status().code()).isZero();
        assertThat(late.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        // Killed once the grace is over too.
        SandboxResult killed = in(Mode.START_AND_STREAMS, limits, "sleep 30");
        assertThat(killed.status().signal()).isEqualTo(SIGKILL);
        assertThat(killed.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        assertThat(killed.wallTime()).isGreaterThanOrEqualTo(Duration.ofMillis(3300)).isLessThan(Duration.ofSeconds(30));
        // Within the limit: no verdict of it.
        assertThat(in(Mode.WRITE_TO_FILE, limits, "true").verdict()).isEqualTo(Verdict.OK);

        assertThatThrownBy(() -> Limits.builder().grace(Duration.ofSeconds(1)).build())
                .hasMessageContaining("needs a CPU or wall time limit");
    }

    @Test
    void aCpuGraceWithACgroup() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Limits limits = Limits.builder().cpuTime(Duration.ofMillis(200)).grace(Duration.ofSeconds(20))
                .wallTime(Duration.ofSeconds(60)).build();
        SandboxResult r = in(Mode.RUN, limits, "python3 -c 'import time\nwhile time.process_time() < 0.5: pass'");
        assertThat(r.status().code()).as("not killed: within the grace").isZero();
        assertThat(r.verdict()).isEqualTo(Verdict.CPU_TIME_LIMIT);
    }

    @Test
    void aSandboxKilledFromOutsideHasNoAccountingNotZeros() throws Exception {
        try (SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "while :; do :; done").build().start()) {
            Thread.sleep(200);
            p.destroyForcibly();
            p.waitFor();
            SandboxResult r = p.result();
            assertThat(r.verdict()).isEqualTo(Verdict.SIGNALED);
            assertThat(r.cpuTime()).isEmpty();
            assertThat(r.cpuTimeSource()).isEmpty();
            assertThat(r.peakMemoryBytes()).isEmpty();
            assertThat(r.toJson()).contains("\"cpuTimeMs\":null", "\"peakMemoryBytes\":null",
                    "\"peakMemorySource\":null");
        }
    }

    @Test
    void wallTimeIsTheProgramsAndSetupTimeIsApart() throws Exception {
        long before = System.nanoTime();
        SandboxResult r = in(Mode.RUN, Limits.none(), "sleep 0.3");
        Duration elapsed = Duration.ofNanos(System.nanoTime() - before);
        assertThat(r.wallTime()).isGreaterThanOrEqualTo(Duration.ofMillis(300));
        assertThat(r.setupTime()).isPositive();
        // Measured apart (wall time in the sandbox from the execve, setup in the JVM until the execve's
        // report came), the two overlap by that report's way: each is bounded, not their sum.
        assertThat(r.wallTime()).isLessThanOrEqualTo(elapsed);
        assertThat(r.setupTime().plusMillis(300)).isLessThanOrEqualTo(elapsed);
        assertThat(r.toJson()).contains("\"setupTimeMs\":");
    }

    @Test
    void theHostSaysWhichLimitsItEnforcesAndARunItCannotLimitSaysWhy() throws Exception {
        HostCapabilities caps = Crabcan.defaultClient().capabilities();
        assertThat(caps.cgroupLimits()).as("%s", caps).isEqualTo(Env.mayLimit());
        assertThat(caps.unenforceable(Limits.builder().wallTime(Duration.ofSeconds(1)).outputBytes(1)
                .rlimit(Rlimit.CPU, 1).build())).as("limits without a cgroup").isEmpty();
        if (caps.cgroupLimits()) {
            assertThat(caps.cgroupProblem()).isEmpty();
            return;
        }
        assertThat(caps.unenforceable(Limits.judge())).containsExactly("memory", "swap", "pids", "cpus", "cpuTime");
        assertThat(caps.cgroupProblem().orElseThrow()).contains("Delegate=yes");
        assertThatThrownBy(() -> Sandbox.builder().limits(Limits.judge()).command("/bin/true").build().run())
                .isInstanceOfSatisfying(CgroupUnavailableException.class, e -> {
                    assertThat(e.limits()).containsExactly("memory", "swap", "pids", "cpus", "cpuTime");
                    assertThat(e.getMessage()).contains("need a cgroup", "run as root", "Delegate=yes");
                });
    }
}
