package dev.crabcan;

/**
 * This host cannot run sandboxes at all (kernel too old, user namespaces disabled, ...).
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class UnsupportedHostException extends SandboxException {
    private static final long serialVersionUID = 1L;

    public UnsupportedHostException(String message) {
        super(message);
    }
}
