package dev.crabcan;

/**
 * A sandbox specification that cannot work: the message names the bad value and how to fix it.
 * Thrown by {@link Sandbox.Builder} and by {@link Sandbox#start()} when the host no longer
 * matches the specification (a bind source was deleted, say).
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class SandboxSpecException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;

    public SandboxSpecException(String message) {
        super(message);
    }
}
