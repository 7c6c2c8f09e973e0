package dev.crabcan;

/**
 * What the seccomp filter does with a system call: let it run, fail it with an errno, or stop
 * the caller. Immutable; two actions are equal when the kernel would treat them the same.
 *
 * <p>Immutable and thread-safe.
 */
public final class SeccompAction {

    private static final int RET_KILL_PROCESS = 0x80000000;
    private static final int RET_KILL_THREAD = 0x00000000;
    private static final int RET_TRAP = 0x00030000;
    private static final int RET_ERRNO = 0x00050000;
    private static final int RET_LOG = 0x7ffc0000;
    private static final int RET_ALLOW = 0x7fff0000;

    // The kernel clamps larger values to 4095 (MAX_ERRNO); rejecting them avoids a silent change.
    private static final int MAX_ERRNO = 4095;

    private static final SeccompAction ALLOW = new SeccompAction(RET_ALLOW);
    private static final SeccompAction KILL_PROCESS = new SeccompAction(RET_KILL_PROCESS);
    private static final SeccompAction KILL_THREAD = new SeccompAction(RET_KILL_THREAD);
    private static final SeccompAction TRAP = new SeccompAction(RET_TRAP);
    private static final SeccompAction LOG = new SeccompAction(RET_LOG);

    private final int returnValue;

    private SeccompAction(int returnValue) {
        this.returnValue = returnValue;
    }

    /** The system call runs normally. */
    public static SeccompAction allow() {
        return ALLOW;
    }

    /**
     * The system call does not run and returns {@code -errno} to the caller.
     *
     * @param errno between 1 and 4095, for example 1 (EPERM) or 38 (ENOSYS)
     */
    public static SeccompAction errno(int errno) {
        if (errno < 1 || errno > MAX_ERRNO) {
            throw new IllegalArgumentException(
                    "errno must be between 1 and " + MAX_ERRNO + ", got " + errno);
        }
        return new SeccompAction(RET_ERRNO | errno);
    }

    /** The whole process is killed, as if by an uncatchable SIGSYS. */
    public static SeccompAction killProcess() {
        return KILL_PROCESS;
    }

    /** Only the calling thread is killed; other threads of the process keep running. */
    public static SeccompAction killThread() {
        return KILL_THREAD;
    }

    /** The caller receives a SIGSYS it may handle. */
    public static SeccompAction trap() {
        return TRAP;
    }

    /** The system call runs and the kernel logs it (useful to find what a program needs). */
    public static SeccompAction log() {
        return LOG;
    }

    /** The value the filter returns for this action: a {@code SECCOMP_RET_*} constant. */
    public int returnValue() {
        return returnValue;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof SeccompAction && ((SeccompAction) other).returnValue == returnValue;
    }

    @Override
    public int hashCode() {
        return Integer.hashCode(returnValue);
    }

    @Override
    public String toString() {
        return switch (returnValue & 0xffff0000) {
            case RET_ALLOW -> "ALLOW";
            case RET_KILL_PROCESS -> "KILL_PROCESS";
            case RET_KILL_THREAD -> "KILL_THREAD";
            case RET_TRAP -> "TRAP";
            case RET_LOG -> "LOG";
            default -> "ERRNO(" + (returnValue & 0xffff) + ")";
        };
    }
}
