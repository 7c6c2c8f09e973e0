package dev.crabcan;

/**
 * How a run ended, in one word. When several apply, the first in this order wins:
 * <ol>
 *   <li>{@link #SETUP_ERROR}: the command never ran;
 *   <li>a limit Crabcan enforced by killing the sandbox, the one that fired first:
 *       {@link #WALL_TIME_LIMIT}, {@link #CPU_TIME_LIMIT} or {@link #OUTPUT_LIMIT};
 *   <li>{@link #MEMORY_LIMIT}: the kernel's OOM killer killed a process of the sandbox at its
 *       memory limit (also when the command itself survived and then failed);
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

    static Verdict of(ExitStatus status, Verdict limitKill, boolean oomKilled) {
        if (limitKill != null) {
            return limitKill;
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
