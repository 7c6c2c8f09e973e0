package dev.crabcan;

/**
 * How mount events reach a mount of the sandbox and leave it (mount_namespaces(7)), set with
 * {@link Sandbox.Builder#propagation(String, Propagation)} for the root file system ("/") or the
 * target of a bind, tmpfs or kernel mount, and always for everything mounted below it. Without a
 * setting every mount of a sandbox is {@link #PRIVATE}.
 *
 * <p>Immutable and thread-safe.
 */
public enum Propagation {
    /** Nothing propagates in or out: a bind is a copy of its source as it was when the sandbox started. */
    PRIVATE,
    /**
     * Mounts and unmounts that the host makes later below a bind's source (or the root file
     * system's) appear inside; nothing the sandbox mounts there goes out. Where the source is not a
     * shared mount on the host, nothing comes in either.
     */
    SLAVE,
    /**
     * As {@link #SLAVE}, and the mount is shared: a bind of a host root caller stays a peer of
     * its source (where that is a shared mount), so what is mounted below it in the sandbox, by a
     * createContainer hook, would reach the host (the command of a root caller's sandbox may not
     * mount at all). A rootless caller's sandbox lives in a user namespace that the kernel gives
     * the host's mounts as slaves only, so its mounts below a shared bind reach its own peers
     * only; so do mounts below the root file system, which is made a slave first, so that the
     * sandbox's own mounts, made before its command runs, never reach the host.
     */
    SHARED,
    /** Private, and the mount cannot be bound elsewhere. */
    UNBINDABLE
}
