package dev.crabcan.image;

/**
 * Receives a build's progress, on the building thread, in order. Every method does nothing by
 * default. Implementations must be thread-safe if one listener serves builds on several threads.
 */
public interface BuildListener {
    BuildListener NONE = new BuildListener() {};

    default void stepStarted(BuildStep step) {}

    /** One line the step's command wrote (stdout and stderr together), without its newline. */
    default void output(BuildStep step, String line) {}

    /**
     * @param cached whether the result came from the build cache
     * @param nanos how long the step took
     */
    default void stepFinished(BuildStep step, boolean cached, long nanos) {}

    /** Something the user should know that does not stop the build (an unused --build-arg, say). */
    default void warning(String message) {}
}
