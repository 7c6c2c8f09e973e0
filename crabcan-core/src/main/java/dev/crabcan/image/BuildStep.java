package dev.crabcan.image;

/**
 * One step of a build, as progress reports name it.
 *
 * <p>Immutable and thread-safe.
 *
 * @param number counted from 1 across all stages
 * @param total the number of steps of the build
 * @param instruction the instruction as written (its line is {@code instruction.line()})
 */
public record BuildStep(int number, int total, Instruction instruction) {
    /** {@code STEP 3/7: RUN make}, as the CLI prints it. */
    @Override
    public String toString() {
        return "STEP " + number + "/" + total + ": " + instruction.text();
    }
}
