package dev.crabcan.image;

/**
 * A build step failed: the message names the Crabfile, the line and the instruction, and for a
 * RUN step its exit status and the last lines it wrote.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows).
 */
public class BuildFailedException extends CrabfileException {
    private static final long serialVersionUID = 1L;

    private final String output;

    public BuildFailedException(String file, int line, String instruction, String problem, String output) {
        super(file, line, instruction, problem + (output.isEmpty() ? "" : "; its output ended with:\n" + output));
        this.output = output;
    }

    /** The end of what the failing step wrote, or "" for steps that run nothing. */
    public String output() {
        return output;
    }
}
