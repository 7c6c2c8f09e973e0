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
     * As {@link #SLAVE}, and the mount is shared with a peer group of its own: what is mounted
     * below it in the sandbox reaches the sandbox's own peers (mounts cloned from it there), never
     * the host. Whoever the caller, a bind (or the root file system) is made a slave of its source
     * first, then shared, so that nothing the sandbox mounts can appear on the host and stay there
     * after the sandbox has gone (a mount namespace's end unmounts nothing in its peers). Mounts
     * made inside therefore never propagate to the host, unlike runc's {@code rshared}.
     */
    SHARED,
    /** Private, and the mount cannot be bound elsewhere. */
    UNBINDABLE
}
