package dev.crabcan;

/**
 * How the command ended: it exited with a code, or a signal killed it. The two are never
 * folded into one number except by {@link #shellCode()}, which is what a shell would report.
 *
 * <p>Immutable and thread-safe.
 */
public final class ExitStatus {
    private final boolean signaled;
    private final int value;

    private ExitStatus(boolean signaled, int value) {
        this.signaled = signaled;
        this.value = value;
    }

    public static ExitStatus exited(int code) {
        if (code < 0 || code > 255) {
            throw new IllegalArgumentException("exit code must be between 0 and 255, got " + code);
        }
        return new ExitStatus(false, code);
    }

    public static ExitStatus signaled(int signal) {
        if (signal < 1 || signal > 64) {
            throw new IllegalArgumentException("signal must be between 1 and 64, got " + signal);
        }
        return new ExitStatus(true, signal);
    }

    public boolean isSignaled() {
        return signaled;
    }

    /** The exit code; throws if a signal ended the command. */
    public int code() {
        if (signaled) {
            throw new IllegalStateException("the command was killed by signal " + value + ", it has no exit code");
        }
        return value;
    }

    /** The signal number; throws if the command exited. */
    public int signal() {
        if (!signaled) {
            throw new IllegalStateException("the command exited with code " + value + ", no signal killed it");
        }
        return value;
    }

    /**
     * Whether SIGSYS ended the command: what a seccomp filter's kill action does (a process
     * may also raise SIGSYS itself, which this cannot tell apart).
     */
    public boolean isSeccompViolation() {
        return signaled && value == 31;
    }

    /** The code, or 128 + the signal, as shells and {@link Process#exitValue()} report it. */
    public int shellCode() {
        return signaled ? 128 + value : value;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ExitStatus e && e.signaled == signaled && e.value == value;
    }

    @Override
    public int hashCode() {
        return signaled ? -value : value;
    }

    @Override
    public String toString() {
        return signaled ? "signal " + value + " (" + Signals.name(value) + ")" : "exit code " + value;
    }
}
