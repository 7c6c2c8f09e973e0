package dev.crabcan;

/**
 * A kernel file system mounted inside the sandbox, showing the sandbox's own namespaces.
 *
 * <p>Immutable and thread-safe.
 *
 * @param type which file system
 * @param target the absolute path inside the sandbox
 * @param readOnly whether writes are refused
 * @param atime how access times are updated
 */
public record KernelMount(Type type, String target, boolean readOnly, Atime atime) {
/** Immutable and thread-safe. */
        public enum Type {
        /** sysfs: devices and kernel objects; the network part shows the sandbox's own network. */
        SYSFS,
        /** A new devpts instance for the sandbox's own pseudo-terminals; {@code /dev/ptmx} points into it. */
        DEVPTS,
        /** POSIX message queues of the sandbox's IPC namespace. */
        MQUEUE,
        /** cgroup2, rooted at the sandbox's cgroup namespace. */
        CGROUP
    }

    public KernelMount {
        Validation.notNull(type, "kernel mount type");
        Validation.containerPath(target, "kernel mount target");
        Validation.notNull(atime, "kernel mount atime");
    }

    /** A kernel mount with the kernel's access time updates (relatime). */
    public KernelMount(Type type, String target, boolean readOnly) {
        this(type, target, readOnly, Atime.DEFAULT);
    }
}
