package dev.crabcan;

/**
 * How a run ended, in one word. A limit the caller set ends with that limit's verdict however the
 * output is taken ({@link Sandbox#run()}, the streams of {@link Sandbox#start()}, a file) and
 * whichever mechanism fired (Crabcan's kill, the kernel's rlimit signal, the cgroup's OOM killer).
 * When several apply, the first in this order wins:
 * <ol>
 *   <li>{@link #SETUP_ERROR}: the command never ran;
 *   <li>a limit Crabcan enforced by killing the sandbox, the one that fired first:
 *       {@link #WALL_TIME_LIMIT}, {@link #CPU_TIME_LIMIT} or {@link #OUTPUT_LIMIT} (more output
 *       than {@link Limits#outputBytes()} on a stream that was read);
 *   <li>a time limit the command used more of than it was given, though it ended by itself within
 *       the {@linkplain Limits#grace() grace}: {@link #CPU_TIME_LIMIT}, then {@link #WALL_TIME_LIMIT};
 *   <li>{@link #MEMORY_LIMIT}: the kernel's OOM killer killed a process of the sandbox at its
 *       memory limit (also when the command itself survived and then failed);
 *   <li>an rlimit the caller set, enforced by the kernel: {@link #CPU_TIME_LIMIT} for SIGXCPU at
 *       {@link Rlimit#CPU}'s soft limit or SIGKILL at its hard one, {@link #OUTPUT_LIMIT} for SIGXFSZ
 *       past {@link Rlimit#FSIZE} (which an output limit on a file output sets);
 *   <li>{@link #SECCOMP_VIOLATION}: SIGSYS, what the seccomp filter's kill action sends;
 *   <li>{@link #SIGNALED}: another signal ended the command;
 *   <li>{@link #NONZERO_EXIT}, then {@link #OK}.
 * </ol>
 *
 * <p>Immutable and thread-safe.
 */
public enum Verdict {
    OK, NONZERO_EXIT, SIGNALED, SECCOMP_VIOLATION, CPU_TIME_LIMIT, WALL_TIME_LIMIT, MEMORY_LIMIT, OUTPUT_LIMIT,
    SETUP_ERROR;

    /** limit: the limit that ended the run, from any of the mechanisms above, or null. */
    static Verdict of(ExitStatus status, Verdict limit, boolean oomKilled) {
        if (limit != null) {
            return limit;
        }
        if (oomKilled) {
            return MEMORY_LIMIT;
        }
        if (status.isSeccompViolation()) {
            return SECCOMP_VIOLATION;
        }
        if (status.isSignaled()) {
            return SIGNALED;
        }
        return status.code() == 0 ? OK : NONZERO_EXIT;
    }
}
