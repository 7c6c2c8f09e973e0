package dev.crabcan;

/** This host cannot run sandboxes at all (kernel too old, user namespaces disabled, ...). */
public class UnsupportedHostException extends SandboxException {
    private static final long serialVersionUID = 1L;

    public UnsupportedHostException(String message) {
        super(message);
    }
}
