package dev.crabcan;

import java.util.List;
import java.util.Optional;

/**
 * Which limits this host enforces for this caller ({@link Crabcan#capabilities()}): those that need
 * a cgroup of the sandbox's own ({@link Limits#cgroupLimitNames()}) only where the caller may
 * make one. Wall time, output and rlimits are always enforced.
 *
 * <p>Immutable and thread-safe.
 */
public final class HostCapabilities {
    private final String cgroupProblem;
    private final boolean swap;

    HostCapabilities(String cgroupProblem, boolean swap) {
        this.cgroupProblem = cgroupProblem;
        this.swap = swap;
    }

    /** Whether sandboxes get a cgroup of their own: memory, pids, CPU and I/O weight, CPU quota and CPU time limits hold. */
    public boolean cgroupLimits() {
        return cgroupProblem == null;
    }

    /** Why sandboxes get no cgroup here, and how to get one; empty where they do. */
    public Optional<String> cgroupProblem() {
        return Optional.ofNullable(cgroupProblem);
    }

    /** Whether a swap limit other than 0 holds (cgroup v1 needs the kernel's swap accounting). */
    public boolean swapLimit() {
        return cgroupProblem == null && swap;
    }

    /** The names of the limits set in {@code limits} that this host cannot enforce; empty when it enforces them all. */
    public List<String> unenforceable(Limits limits) {
        Validation.notNull(limits, "limits");
        if (cgroupProblem != null) {
            return limits.cgroupLimitNames();
        }
        return !swap && limits.swapBytes().orElse(0) > 0 ? List.of("swap") : List.of();
    }

    @Override
    public String toString() {
        return "HostCapabilities[" + (cgroupProblem == null ? "cgroup limits" + (swap ? "" : " but swap") : "no cgroup: "
                + cgroupProblem) + "]";
    }
}
