package dev.crabcan;

/**
 * The command exists in the sandbox but cannot be executed (shell status 126): no execute
 * permission, not an executable format, or a missing ELF or {@code #!} interpreter.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class CommandNotExecutableException extends SandboxException {
    private static final long serialVersionUID = 1L;

    private final String command;
    private final int errno;
    private final String interpreter;

    public CommandNotExecutableException(String command, int errno, String interpreter, String message) {
        super(message);
        this.command = command;
        this.errno = errno;
        this.interpreter = interpreter;
    }

    /** The path that was executed inside the sandbox. */
    public String command() {
        return command;
    }

    /** The errno execve returned. */
    public int errno() {
        return errno;
    }

    /** The missing interpreter, or null when the interpreter was not the problem. */
    public String interpreter() {
        return interpreter;
    }
}
