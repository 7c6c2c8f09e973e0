package dev.crabcan.image;

/**
 * No image has the name or digest asked for; the message says how to build or load it.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows).
 */
public class ImageNotFoundException extends ImageException {
    private static final long serialVersionUID = 1L;

    public ImageNotFoundException(String message) {
        super(message);
    }
}
