package dev.crabcan;

/** The resource limits a sandbox can set with setrlimit before execve, with the kernel's numbers. */
public enum Rlimit {
    /** Seconds of CPU time per process: SIGXCPU at the soft limit, SIGKILL at the hard one. */
    CPU(0),
    /** Largest file the process may create, in bytes: SIGXFSZ beyond it. */
    FSIZE(1),
    /** Stack size in bytes. */
    STACK(3),
    /** Largest core dump in bytes; 0 disables core dumps. */
    CORE(4),
    /** Processes (and threads) of the sandbox's uid, counted per user namespace owner on the host. */
    NPROC(6),
    /** Open file descriptors. */
    NOFILE(7),
    /** Locked memory in bytes. */
    MEMLOCK(8),
    /** Address space in bytes (virtual memory: the JVM and Go reserve far more than they use). */
    AS(9);

    private final int resource;

    Rlimit(int resource) {
        this.resource = resource;
    }

    /** The kernel's RLIMIT_* number. */
    public int resource() {
        return resource;
    }
}
