package dev.crabcan;

/**
 * An empty in-memory file system mounted inside the sandbox, gone when it ends.
 *
 * <p>Immutable and thread-safe.
 *
 * @param target the absolute path inside the sandbox
 * @param sizeBytes the most it may hold; 0 means the kernel's default (half of RAM)
 * @param mode the permissions of its root directory, e.g. {@code 01777}
 * @param readOnly whether it is mounted read-only (an empty directory, e.g. to hide one)
 * @param noExec whether nothing in it may be executed
 * @param atime how access times are updated
 */
public record Tmpfs(String target, long sizeBytes, int mode, boolean readOnly, boolean noExec, Atime atime) {
    /** The mode of a tmpfs that does not name one: everyone may create files, as in /tmp. */
    public static final int DEFAULT_MODE = 01777;

    public Tmpfs {
        Validation.containerPath(target, "tmpfs target");
        Validation.notNull(atime, "tmpfs atime");
        if (sizeBytes < 0) {
            throw new SandboxSpecException("tmpfs size must not be negative, got " + sizeBytes + " for " + target);
        }
        if (mode < 0 || mode > 07777) {
            throw new SandboxSpecException("tmpfs mode must be between 0 and 07777, got " + Integer.toOctalString(mode)
                    + " for " + target);
        }
    }

    /** A tmpfs with the kernel's access time updates (relatime). */
    public Tmpfs(String target, long sizeBytes, int mode, boolean readOnly, boolean noExec) {
        this(target, sizeBytes, mode, readOnly, noExec, Atime.DEFAULT);
    }

    public Tmpfs(String target, long sizeBytes) {
        this(target, sizeBytes, DEFAULT_MODE);
    }

    /** A writable tmpfs whose files may be executed. */
    public Tmpfs(String target, long sizeBytes, int mode) {
        this(target, sizeBytes, mode, false, false);
    }
}
