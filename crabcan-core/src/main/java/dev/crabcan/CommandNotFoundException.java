package dev.crabcan;

/**
 * The command does not exist in the sandbox's root filesystem (shell status 127).
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class CommandNotFoundException extends SandboxException {
    private static final long serialVersionUID = 1L;

    private final String command;

    public CommandNotFoundException(String command, String message) {
        super(message);
        this.command = command;
    }

    /** The command as it was looked up inside the sandbox. */
    public String command() {
        return command;
    }
}
