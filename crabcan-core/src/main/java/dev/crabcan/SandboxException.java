package dev.crabcan;

import java.io.IOException;

/**
 * The sandbox could not run the command. Subclasses say why; the message always names what
 * failed and, where there is one, the fix.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class SandboxException extends IOException {
    private static final long serialVersionUID = 1L;

    public SandboxException(String message) {
        super(message);
    }

    public SandboxException(String message, Throwable cause) {
        super(message, cause);
    }
}
