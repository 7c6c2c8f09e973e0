package dev.crabcan.image;

/**
 * A Crabfile that cannot be used: the message starts with {@code file:line:} and names the
 * instruction and what to change.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows).
 */
public class CrabfileException extends ImageException {
    private static final long serialVersionUID = 1L;

    private final String file;
    private final int line;
    private final String instruction;

    /**
     * @param instruction the instruction's keyword as written, or "" where the error is not in one
     */
    public CrabfileException(String file, int line, String instruction, String problem) {
        super(file + ":" + line + ": " + (instruction.isEmpty() ? "" : instruction + ": ") + problem);
        this.file = file;
        this.line = line;
        this.instruction = instruction;
    }

    /** The Crabfile's name as given to the parser. */
    public String file() {
        return file;
    }

    /** The line, counted from 1, where the failing instruction starts. */
    public int line() {
        return line;
    }

    /** The keyword as written in the file, or "" when the error is not in an instruction. */
    public String instruction() {
        return instruction;
    }
}
