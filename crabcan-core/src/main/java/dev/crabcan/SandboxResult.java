package dev.crabcan;

import dev.crabcan.internal.launch.Outcome;
import java.nio.charset.StandardCharsets;
import java.time.Duration;

/** What {@link Sandbox#run()} saw: how the command ended, its captured output and what it used. */
public final class SandboxResult {
    private final ExitStatus status;
    private final byte[] stdout;
    private final byte[] stderr;
    private final Duration wallTime;
    private final Duration userTime;
    private final Duration systemTime;
    private final long maxRssBytes;

    SandboxResult(ExitStatus status, byte[] stdout, byte[] stderr, Duration wallTime, Outcome outcome) {
        this.status = status;
        this.stdout = stdout;
        this.stderr = stderr;
        this.wallTime = wallTime;
        this.userTime = Duration.ofNanos(outcome.userMicros() * 1000);
        this.systemTime = Duration.ofNanos(outcome.systemMicros() * 1000);
        this.maxRssBytes = outcome.maxRssKb() * 1024;
    }

    public ExitStatus status() {
        return status;
    }

    /** Captured stdout; empty unless stdout was {@link Stdio#pipe()}. */
    public byte[] stdout() {
        return stdout.clone();
    }

    public String stdoutText() {
        return new String(stdout, StandardCharsets.UTF_8);
    }

    /** Captured stderr; empty unless stderr was {@link Stdio#pipe()}. */
    public byte[] stderr() {
        return stderr.clone();
    }

    public String stderrText() {
        return new String(stderr, StandardCharsets.UTF_8);
    }

    /** From the call to {@link Sandbox#run()} until the command ended and its output was read. */
    public Duration wallTime() {
        return wallTime;
    }

    /** User CPU time of the command and of the children it waited for. */
    public Duration userTime() {
        return userTime;
    }

    public Duration systemTime() {
        return systemTime;
    }

    /** The largest resident set size of the command or a child it waited for. */
    public long maxRssBytes() {
        return maxRssBytes;
    }

    @Override
    public String toString() {
        return "SandboxResult[" + status + ", stdout " + stdout.length + " bytes, stderr " + stderr.length
                + " bytes, wall " + wallTime.toMillis() + " ms]";
    }
}
