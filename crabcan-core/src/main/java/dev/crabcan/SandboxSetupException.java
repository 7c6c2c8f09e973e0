package dev.crabcan;

/**
 * A setup step failed before the command ran, for example
 * {@code bind /data/in -> /in: No such file or directory}.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class SandboxSetupException extends SandboxException {
    private static final long serialVersionUID = 1L;

    private final String step;
    private final int errno;

    public SandboxSetupException(String step, int errno, String message) {
        super(message);
        this.step = step;
        this.errno = errno;
    }

    /** The setup step that failed: "bind", "rootfs", "clone", "pivot_root", ... */
    public String step() {
        return step;
    }

    /** The errno the kernel returned, or 0 when the failure had none. */
    public int errno() {
        return errno;
    }
}
