package dev.crabcan;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * What {@link Sandbox#run()} saw: how the command ended and why ({@link #verdict()}), its
 * captured output, and what it used. {@link #toJson()} gives the same as one JSON object with
 * the keys scripts parse: exitCode, signal, verdict, cpuTimeMs, userTimeMs, systemTimeMs,
 * cpuTimeSource, wallTimeMs, setupTimeMs, peakMemoryBytes, peakMemorySource, oomKilled,
 * stdoutTruncated, stderrTruncated.
 *
 * <p>A figure Crabcan does not know is empty here and null in the JSON, never 0: the CPU times
 * and the peak memory come from the sandbox's cgroup where it has one, else from the kernel's
 * accounting of the processes the sandbox's init reaped (the command, and what it waited for),
 * which init reports also when a limit killed the sandbox; only a sandbox killed from outside
 * ({@link SandboxProcess#destroyForcibly()}) or whose helper vanished has neither.
 *
 * <p>Immutable and thread-safe (the output accessors return copies).
 */
public final class SandboxResult {
    /**
     * Where {@link #cpuTime()} and {@link #peakMemoryBytes()} come from.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Source {
        /** The sandbox cgroup's counters: every process and thread, and for memory the page cache too. */
        CGROUP,
        /**
         * The kernel's accounting of the processes the sandbox's init reaped: the command and the
         * children it waited for (CPU times added up, the largest maximum resident set).
         */
        RUSAGE
    }

    private final ExitStatus status;
    private final Verdict verdict;
    private final byte[] stdout;
    private final byte[] stderr;
    private final boolean stdoutTruncated;
    private final boolean stderrTruncated;
    private final Duration wallTime;
    private final Duration setupTime;
    private final Source cpuSource;
    private final Duration cpuTime;
    private final Duration userTime;
    private final Duration systemTime;
    private final Source peakMemorySource;
    private final long peakMemoryBytes;
    private final boolean oomKilled;
    private final Map<String, CopiedFile> copiedFiles;

    SandboxResult(SandboxProcess.Finished f, byte[] stdout, boolean stdoutTruncated, byte[] stderr,
            boolean stderrTruncated) {
        this.status = f.outcome().status();
        this.verdict = f.verdict(stdoutTruncated || stderrTruncated);
        this.stdout = stdout;
        this.stderr = stderr;
        this.stdoutTruncated = stdoutTruncated;
        this.stderrTruncated = stderrTruncated;
        this.wallTime = f.wallTime();
        this.setupTime = f.setupTime();
        this.cpuSource = f.cpuSource();
        this.cpuTime = Duration.ofNanos(f.cpuMicros() * 1000);
        if (f.usage() != null) {
            this.userTime = Duration.ofNanos(f.usage().userNanos());
            this.systemTime = Duration.ofNanos(f.usage().systemNanos());
        } else {
            this.userTime = Duration.ofNanos(f.outcome().userMicros() * 1000);
            this.systemTime = Duration.ofNanos(f.outcome().systemMicros() * 1000);
        }
        if (f.usage() != null && f.usage().peakMemoryBytes() >= 0) {
            this.peakMemorySource = Source.CGROUP;
            this.peakMemoryBytes = f.usage().peakMemoryBytes();
        } else if (f.outcome().reportedByInit()) {
            this.peakMemorySource = Source.RUSAGE;
            this.peakMemoryBytes = f.outcome().maxRssKb() * 1024;
        } else {
            this.peakMemorySource = null;
            this.peakMemoryBytes = -1;
        }
        this.oomKilled = f.oomKilled();
        this.copiedFiles = f.files();
    }

    public ExitStatus status() {
        return status;
    }

    public Verdict verdict() {
        return verdict;
    }

    /** Captured stdout (up to the output limit); empty unless stdout was {@link Stdio#pipe()}. */
    public byte[] stdout() {
        return stdout.clone();
    }

    public String stdoutText() {
        return new String(stdout, StandardCharsets.UTF_8);
    }

    /** Captured stderr (up to the output limit); empty unless stderr was {@link Stdio#pipe()}. */
    public byte[] stderr() {
        return stderr.clone();
    }

    public String stderrText() {
        return new String(stderr, StandardCharsets.UTF_8);
    }

    /** Whether the command wrote more to stdout than the output limit let through. */
    public boolean stdoutTruncated() {
        return stdoutTruncated;
    }

    public boolean stderrTruncated() {
        return stderrTruncated;
    }

    /**
     * The program's wall time: from the command's execve until it ended, as the sandbox's init
     * measured it (the JVM's measure from the report of the execve, when init could not say). The
     * sandbox's setup is {@link #setupTime()}; a {@linkplain Limits#wallTime() wall-time limit}
     * applies to this.
     */
    public Duration wallTime() {
        return wallTime;
    }

    /** From the call to {@link Sandbox#run()} or {@link Sandbox#start()} until the command's execve was reported. */
    public Duration setupTime() {
        return setupTime;
    }

    /** CPU time, user and system together (see {@link #cpuTimeSource()} for whose); empty when not known. */
    public Optional<Duration> cpuTime() {
        return cpuSource == null ? Optional.empty() : Optional.of(cpuTime);
    }

    /** User CPU time; empty when not known. */
    public Optional<Duration> userTime() {
        return cpuSource == null ? Optional.empty() : Optional.of(userTime);
    }

    /** System CPU time; empty when not known. */
    public Optional<Duration> systemTime() {
        return cpuSource == null ? Optional.empty() : Optional.of(systemTime);
    }

    /** Where the CPU times come from; empty when they are not known. */
    public Optional<Source> cpuTimeSource() {
        return Optional.ofNullable(cpuSource);
    }

    /** The peak memory (see {@link #peakMemorySource()} for what it counts); empty when not known. */
    public OptionalLong peakMemoryBytes() {
        return peakMemorySource == null ? OptionalLong.empty() : OptionalLong.of(peakMemoryBytes);
    }

    /** Where {@link #peakMemoryBytes()} comes from; empty when it is not known. */
    public Optional<Source> peakMemorySource() {
        return Optional.ofNullable(peakMemorySource);
    }

    /** Whether the kernel's OOM killer killed a process of the sandbox at its memory limit. */
    public boolean oomKilled() {
        return oomKilled;
    }

    /** The files read back once the command ended, by path: see {@link SandboxProcess#copiedFiles()}. */
    public Map<String, CopiedFile> copiedFiles() {
        return copiedFiles;
    }

    /**
     * Always empty: no kernel interface counts the processes a sandbox created (the pids controller
     * counts those alive, the kernel's fork counter is the host's, and init reaps only the command
     * and orphans), so the figure is not part of the result.
     *
     * @deprecated not counted, and no longer in {@link #toJson()}; to be removed
     */
    @Deprecated(forRemoval = true)
    public OptionalLong processesCreated() {
        return OptionalLong.empty();
    }

    /** The result as one JSON object, keys in the documented order. */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("exitCode", status.isSignaled() ? null : status.code());
        m.put("signal", status.isSignaled() ? status.signal() : null);
        m.put("verdict", verdict.name());
        m.put("cpuTimeMs", cpuTime().map(Duration::toMillis).orElse(null));
        m.put("userTimeMs", userTime().map(Duration::toMillis).orElse(null));
        m.put("systemTimeMs", systemTime().map(Duration::toMillis).orElse(null));
        m.put("cpuTimeSource", cpuTimeSource().map(SandboxResult::name).orElse(null));
        m.put("wallTimeMs", wallTime.toMillis());
        m.put("setupTimeMs", setupTime.toMillis());
        m.put("peakMemoryBytes", peakMemorySource == null ? null : peakMemoryBytes);
        m.put("peakMemorySource", peakMemorySource().map(SandboxResult::name).orElse(null));
        m.put("oomKilled", oomKilled);
        m.put("stdoutTruncated", stdoutTruncated);
        m.put("stderrTruncated", stderrTruncated);
        return dev.crabcan.internal.json.Json.write(m);
    }

    private static String name(Source s) {
        return s.name().toLowerCase(java.util.Locale.ROOT);
    }

    /** The JSON of a run whose sandbox could not be set up: verdict SETUP_ERROR and the reason. */
    public static String setupErrorJson(String reason) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("exitCode", null);
        m.put("signal", null);
        m.put("verdict", "SETUP_ERROR");
        m.put("error", reason);
        return dev.crabcan.internal.json.Json.write(m);
    }

    @Override
    public String toString() {
        return "SandboxResult[" + verdict + ", " + status + ", stdout " + stdout.length + " bytes, stderr "
                + stderr.length + " bytes, wall " + wallTime.toMillis() + " ms, cpu "
                + cpuTime().map(d -> d.toMillis() + " ms").orElse("unknown") + "]";
    }
}
