package dev.crabcan;

/**
 * The resource limits a sandbox can set with setrlimit before execve, with the kernel's numbers.
 *
 * <p>Immutable and thread-safe.
 */
public enum Rlimit {
    /** Seconds of CPU time per process: SIGXCPU at the soft limit, SIGKILL at the hard one. */
    CPU(0),
    /** Largest file the process may create, in bytes: SIGXFSZ beyond it. */
    FSIZE(1),
    /** Data segment (heap) size in bytes. */
    DATA(2),
    /** Stack size in bytes. */
    STACK(3),
    /** Largest core dump in bytes; 0 disables core dumps. */
    CORE(4),
    /** Resident set size; Linux ignores it. */
    RSS(5),
    /** Processes (and threads) of the sandbox's uid, counted per user namespace owner on the host. */
    NPROC(6),
    /** Open file descriptors. */
    NOFILE(7),
    /** Locked memory in bytes. */
    MEMLOCK(8),
    /** Address space in bytes (virtual memory: the JVM and Go reserve far more than they use). */
    AS(9),
    /** File locks. */
    LOCKS(10),
    /** Signals queued for the sandbox's uid. */
    SIGPENDING(11),
    /** Bytes in POSIX message queues. */
    MSGQUEUE(12),
    /** Ceiling of the nice value a process may raise itself to (20 - limit). */
    NICE(13),
    /** Highest real-time priority a process may set without CAP_SYS_NICE on the host. */
    RTPRIO(14),
    /** Microseconds of CPU a real-time process may use without blocking. */
    RTTIME(15);

    /** A limit value meaning no limit (the kernel's RLIM_INFINITY). */
    public static final long UNLIMITED = Long.MAX_VALUE;

    private final int resource;

    Rlimit(int resource) {
        this.resource = resource;
    }

    /** The kernel's RLIMIT_* number. */
    public int resource() {
        return resource;
    }
}
