package dev.crabcan;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalLong;

/**
 * What {@link Sandbox#run()} saw: how the command ended and why ({@link #verdict()}), its
 * captured output, and what it used. {@link #toJson()} gives the same as one JSON object with
 * the keys scripts parse: exitCode, signal, verdict, cpuTimeMs, userTimeMs, systemTimeMs,
 * wallTimeMs, peakMemoryBytes, peakMemorySource, oomKilled, processesCreated, stdoutTruncated,
 * stderrTruncated.
 *
 * <p>Immutable and thread-safe (the output accessors return copies).
 */
public final class SandboxResult {
    /**
     * Where {@link #peakMemoryBytes()} comes from.
     *
     * <p>Immutable and thread-safe.
     */
    public enum MemorySource {
        /** The sandbox cgroup's peak: every process, page cache included. */
        CGROUP,
        /** The largest maximum resident set of the command and the children it waited for. */
        RUSAGE
    }

    private final ExitStatus status;
    private final Verdict verdict;
    private final byte[] stdout;
    private final byte[] stderr;
    private final boolean stdoutTruncated;
    private final boolean stderrTruncated;
    private final Duration wallTime;
    private final Duration cpuTime;
    private final Duration userTime;
    private final Duration systemTime;
    private final long peakMemoryBytes;
    private final MemorySource peakMemorySource;
    private final boolean oomKilled;
    private final Map<String, CopiedFile> copiedFiles;

    SandboxResult(SandboxProcess.Finished f, byte[] stdout, boolean stdoutTruncated, byte[] stderr,
            boolean stderrTruncated, Duration wallTime) {
        this.status = f.outcome().status();
        // Output past the limit is an output-limit run even when the command ended before the kill.
        Verdict limit = f.limitKill() == null && (stdoutTruncated || stderrTruncated) ? Verdict.OUTPUT_LIMIT
                : f.limitKill();
        this.verdict = Verdict.of(status, limit, f.oomKilled());
        this.stdout = stdout;
        this.stderr = stderr;
        this.stdoutTruncated = stdoutTruncated;
        this.stderrTruncated = stderrTruncated;
        this.wallTime = wallTime;
        if (f.usage() != null) {
            this.userTime = Duration.ofNanos(f.usage().userNanos());
            this.systemTime = Duration.ofNanos(f.usage().systemNanos());
            this.cpuTime = Duration.ofNanos(f.usage().cpuNanos());
        } else {
            this.userTime = Duration.ofNanos(f.outcome().userMicros() * 1000);
            this.systemTime = Duration.ofNanos(f.outcome().systemMicros() * 1000);
            this.cpuTime = userTime.plus(systemTime);
        }
        boolean cgroupPeak = f.usage() != null && f.usage().peakMemoryBytes() >= 0;
        this.peakMemoryBytes = cgroupPeak ? f.usage().peakMemoryBytes() : f.outcome().maxRssKb() * 1024;
        this.peakMemorySource = cgroupPeak ? MemorySource.CGROUP : MemorySource.RUSAGE;
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

    /** From the call to {@link Sandbox#run()} until the command ended and its output was read. */
    public Duration wallTime() {
        return wallTime;
    }

    /** CPU time of every process and thread of the sandbox with a cgroup, else of the command and the children it waited for. */
    public Duration cpuTime() {
        return cpuTime;
    }

    public Duration userTime() {
        return userTime;
    }

    public Duration systemTime() {
        return systemTime;
    }

    /** See {@link #peakMemorySource()} for what this counts. */
    public long peakMemoryBytes() {
        return peakMemoryBytes;
    }

    public MemorySource peakMemorySource() {
        return peakMemorySource;
    }

    /** Whether the kernel's OOM killer killed a process of the sandbox at its memory limit. */
    public boolean oomKilled() {
        return oomKilled;
    }

    /** The files read back once the command ended, by path: see {@link SandboxProcess#copiedFiles()}. */
    public Map<String, CopiedFile> copiedFiles() {
        return copiedFiles;
    }

    /** How many processes the sandbox created; no kernel interface Crabcan uses counts them yet, so always empty. */
    public OptionalLong processesCreated() {
        return OptionalLong.empty();
    }

    /** The result as one JSON object, keys in the documented order. */
    public String toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("exitCode", status.isSignaled() ? null : status.code());
        m.put("signal", status.isSignaled() ? status.signal() : null);
        m.put("verdict", verdict.name());
        m.put("cpuTimeMs", cpuTime.toMillis());
        m.put("userTimeMs", userTime.toMillis());
        m.put("systemTimeMs", systemTime.toMillis());
        m.put("wallTimeMs", wallTime.toMillis());
        m.put("peakMemoryBytes", peakMemoryBytes);
        m.put("peakMemorySource", peakMemorySource.name().toLowerCase(java.util.Locale.ROOT));
        m.put("oomKilled", oomKilled);
        m.put("processesCreated", null);
        m.put("stdoutTruncated", stdoutTruncated);
        m.put("stderrTruncated", stderrTruncated);
        return dev.crabcan.internal.json.Json.write(m);
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
                + stderr.length + " bytes, wall " + wallTime.toMillis() + " ms, cpu " + cpuTime.toMillis() + " ms]";
    }
}
