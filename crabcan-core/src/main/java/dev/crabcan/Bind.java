package dev.crabcan;

import java.nio.file.Path;

/**
 * A host file or directory made visible inside the sandbox.
 *
 * <p>Immutable and thread-safe.
 *
 * @param source the host path; the builder stores it with every symbolic link resolved, so
 *     binding Debian's {@code /lib} (a link to {@code usr/lib}) binds {@code /usr/lib}
 * @param target the absolute path inside the sandbox
 * @param readOnly whether writes are refused (recursively, for everything mounted below)
 * @param noExec whether nothing in it may be executed
 * @param atime how access times are updated (recursively)
 */
public record Bind(Path source, String target, boolean readOnly, boolean noExec, Atime atime) {
    public Bind {
        Validation.notNull(source, "bind source");
        Validation.containerPath(target, "bind target");
        Validation.notNull(atime, "bind atime");
    }

    /** A bind that keeps its source's access time updates. */
    public Bind(Path source, String target, boolean readOnly, boolean noExec) {
        this(source, target, readOnly, noExec, Atime.DEFAULT);
    }

    /** A bind whose files may be executed. */
    public Bind(Path source, String target, boolean readOnly) {
        this(source, target, readOnly, false);
    }

    /** The host path {@code source} at {@code target}, read-only; see {@link Sandbox.Builder#bind(Bind)}. */
    public static Bind readOnly(Path source, String target) {
        return new Bind(source, target, true);
    }

    /** The host path {@code source} at {@code target}, writable (as far as the host lets the sandbox's ids write). */
    public static Bind readWrite(Path source, String target) {
        return new Bind(source, target, false);
    }
}
