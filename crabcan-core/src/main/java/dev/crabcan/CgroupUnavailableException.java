package dev.crabcan;

import java.util.List;

/**
 * Limits that need a cgroup of the sandbox's own (memory, swap, pids, CPU weight and quota, I/O
 * weight, CPU time: {@link Limits#cgroupLimitNames()}) were asked for, and this caller cannot
 * make one here: an unprivileged user on a host whose cgroups are not delegated to it. Run as
 * root, or on cgroup v2 run the JVM in a cgroup delegated to its user (for example {@code
 * systemd-run --user --scope -p Delegate=yes java ...}), or name such a cgroup with {@link
 * Crabcan.Builder#cgroupParent}. {@link Crabcan#capabilities()} says in advance which limits this
 * host can enforce for this caller; limits without a cgroup (wall time, output, rlimits) always
 * work.
 *
 * <p>Immutable and thread-safe (beyond what every Throwable allows, such as adding suppressed
 * exceptions, which Throwable itself guards).
 */
public class CgroupUnavailableException extends SandboxException {
    private static final long serialVersionUID = 1L;
    private final List<String> limits;

    /** A cgroup could not be made, for why's reason (its message names the cgroup and the fix). */
    public CgroupUnavailableException(List<String> limits, String why) {
        super((limits.isEmpty() ? "" : "the limits " + limits + " need a cgroup of the sandbox's own, and ") + why);
        this.limits = List.copyOf(limits);
    }

    /** The limits of the failed run that need a cgroup, as {@link Limits#cgroupLimitNames()} names them; empty if not known. */
    public List<String> limits() {
        return limits;
    }
}
