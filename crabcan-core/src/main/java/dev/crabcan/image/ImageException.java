package dev.crabcan.image;

import java.io.IOException;

/**
 * An image could not be parsed, built, stored or read. Subclasses say why; the message always
 * names what failed and, where there is one, the fix.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows).
 */
public class ImageException extends IOException {
    private static final long serialVersionUID = 1L;

    public ImageException(String message) {
        super(message);
    }

    public ImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
