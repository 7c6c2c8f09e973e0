package dev.crabcan.internal.cgroup;

import java.nio.file.Path;
import java.util.List;

/** The cgroup (one per hierarchy on v1) of one sandbox, created by us and removed by us. */
public interface SandboxCgroup {

    /** What the cgroup measured. peakMemoryBytes is -1 where the kernel does not keep a peak. */
    record Usage(long cpuNanos, long userNanos, long systemNanos, long peakMemoryBytes, long oomKills) {}

    /** The cgroup.procs files the helper writes the sandbox's init into before it runs anything. */
    List<Path> procsFiles();

    /**
     * The file systems that show this cgroup inside the sandbox, through a cgroup namespace rooted
     * at it: "cgroup2", or on v1 one "cgroup:HIERARCHY" for each hierarchy it is in, named as
     * /proc/self/cgroup names it (e.g. "cgroup:cpu,cpuacct"), in which each controller is an option.
     */
    List<String> fileSystems();

    /** CPU time of every process and thread that ran in the cgroup, in nanoseconds. */
    long cpuNanos();

    Usage usage();

    /** Kills every process left in the cgroup and removes it; safe to call more than once. */
    void remove();
}
