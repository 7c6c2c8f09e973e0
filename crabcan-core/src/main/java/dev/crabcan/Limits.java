package dev.crabcan;

import java.time.Duration;
import java.util.Collections;
import java.util.EnumMap;
import java.util.Map;
import java.util.Objects;
import java.util.OptionalDouble;
import java.util.OptionalInt;
import java.util.OptionalLong;

/**
 * What a sandbox may use. Immutable; {@link #none()} (the default) limits nothing, so a build
 * tool is never surprised, and {@link #judge()} is a starting point for untrusted code.
 *
 * <p>Memory, pids, CPU weight and quota, the CPUs and memory nodes it may run on (cpuset) and I/O
 * weight are enforced by a cgroup of the sandbox's own (cgroup v1 or v2); CPU time is measured on that cgroup (all processes and threads) and
 * wall time from the command's execve, and the whole sandbox is killed within a few milliseconds
 * of either limit (plus the {@linkplain #grace() grace}). {@link Crabcan#capabilities()} says
 * whether this host gives a caller such a cgroup; where it does not, a run with these limits
 * throws {@link CgroupUnavailableException}. Output limits apply to every stream the command
 * writes to: to a pipe whatever reads it ({@link Sandbox#run()} or the caller, see {@link
 * SandboxProcess#getInputStream()}), and to a file ({@link Stdio#writeTo}, {@link Stdio#appendTo})
 * through the file-size rlimit. rlimits are set inside the sandbox before execve. A run that a
 * limit the caller set ended gets that limit's {@link Verdict}, whichever mechanism fired.
 *
 * <p>Immutable and thread-safe.
 */
public final class Limits {
    private static final Limits NONE = builder().build();

    private final Long memoryBytes;
    private final Long swapBytes;
    private final Integer pids;
    private final Integer cpuWeight;
    private final Double cpus;
    private final Integer ioWeight;
    private final String cpusetCpus;
    private final String cpusetMems;
    private final Duration cpuTime;
    private final Duration wallTime;
    private final Duration grace;
    private final Long outputBytes;
    private final Map<Rlimit, long[]> rlimits;

    private Limits(Builder b) {
        memoryBytes = b.memoryBytes;
        swapBytes = b.swapBytes;
        pids = b.pids;
        cpuWeight = b.cpuWeight;
        cpus = b.cpus;
        ioWeight = b.ioWeight;
        cpusetCpus = b.cpusetCpus;
        cpusetMems = b.cpusetMems;
        cpuTime = b.cpuTime;
        wallTime = b.wallTime;
        grace = b.grace;
        outputBytes = b.outputBytes;
        Map<Rlimit, long[]> r = new EnumMap<>(Rlimit.class);
        copyInto(r, b.rlimits);
        rlimits = Collections.unmodifiableMap(r);
    }

    /** No limits at all: the default. */
    public static Limits none() {
        return NONE;
    }

    /**
     * A preset for one untrusted submission: 256 MiB of memory and no swap, 64 processes, one
     * CPU, 2 s of CPU time, 5 s of wall time, 16 MiB of output per stream, 64 open files, files
     * up to 64 MiB and no core dumps. Derive your own with {@link #toBuilder()}.
     */
    public static Limits judge() {
        return builder().memory(256L << 20).swap(0).pids(64).cpus(1).cpuTime(Duration.ofSeconds(2))
                .wallTime(Duration.ofSeconds(5)).outputBytes(16L << 20).rlimit(Rlimit.NOFILE, 64)
                .rlimit(Rlimit.FSIZE, 64L << 20).rlimit(Rlimit.CORE, 0).build();
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        Builder b = new Builder();
        b.memoryBytes = memoryBytes;
        b.swapBytes = swapBytes;
        b.pids = pids;
        b.cpuWeight = cpuWeight;
        b.cpus = cpus;
        b.ioWeight = ioWeight;
        b.cpusetCpus = cpusetCpus;
        b.cpusetMems = cpusetMems;
        b.cpuTime = cpuTime;
        b.wallTime = wallTime;
        b.grace = grace;
        b.outputBytes = outputBytes;
        copyInto(b.rlimits, rlimits);
        return b;
    }

    /** The memory limit in bytes (cgroup memory.max / memory.limit_in_bytes). */
    public OptionalLong memoryBytes() {
        return memoryBytes == null ? OptionalLong.empty() : OptionalLong.of(memoryBytes);
    }

    /** Swap allowed on top of the memory limit; 0 forbids swap. Empty: the host's default. */
    public OptionalLong swapBytes() {
        return swapBytes == null ? OptionalLong.empty() : OptionalLong.of(swapBytes);
    }

    public OptionalInt pids() {
        return pids == null ? OptionalInt.empty() : OptionalInt.of(pids);
    }

    /** CPU weight, 1 to 10000 (cgroup v2 scale; 100 is the default share). */
    public OptionalInt cpuWeight() {
        return cpuWeight == null ? OptionalInt.empty() : OptionalInt.of(cpuWeight);
    }

    /** CPU quota in cores, e.g. 0.5 or 2. */
    public OptionalDouble cpus() {
        return cpus == null ? OptionalDouble.empty() : OptionalDouble.of(cpus);
    }

    /** I/O weight, 1 to 10000, where the host has an I/O controller. */
    public OptionalInt ioWeight() {
        return ioWeight == null ? OptionalInt.empty() : OptionalInt.of(ioWeight);
    }

    /** The CPUs the sandbox may run on, in the kernel's list syntax ("0-3,6"): cgroup cpuset.cpus. */
    public java.util.Optional<String> cpusetCpus() {
        return java.util.Optional.ofNullable(cpusetCpus);
    }

    /** The memory nodes the sandbox may allocate on, in the same syntax: cgroup cpuset.mems. */
    public java.util.Optional<String> cpusetMems() {
        return java.util.Optional.ofNullable(cpusetMems);
    }

    /** CPU time of all processes and threads of the sandbox. */
    public java.util.Optional<Duration> cpuTime() {
        return java.util.Optional.ofNullable(cpuTime);
    }

    /** Wall time of the command, from its execve (the sandbox's setup does not count). */
    public java.util.Optional<Duration> wallTime() {
        return java.util.Optional.ofNullable(wallTime);
    }

    /**
     * Extra time past the CPU and wall time limits before the sandbox is killed, as isolate's
     * {@code --extra-time}: the command is killed at a limit plus the grace, and its verdict is
     * that time limit whenever it used more than the limit, also when it ended by itself within
     * the grace. Empty: killed at the limit.
     */
    public java.util.Optional<Duration> grace() {
        return java.util.Optional.ofNullable(grace);
    }

    /**
     * Most bytes of each output stream: {@link Sandbox#run()} captures at most this many, the caller
     * reads at most this many from {@link SandboxProcess#getInputStream()} and {@link
     * SandboxProcess#getErrorStream()}, and a file the output is written to ({@link Stdio#writeTo},
     * {@link Stdio#appendTo}) grows by at most this many (it is the command's file-size rlimit,
     * unless {@link Rlimit#FSIZE} is lower, and so holds for every file the command writes). More
     * ends the run with {@link Verdict#OUTPUT_LIMIT}.
     */
    public OptionalLong outputBytes() {
        return outputBytes == null ? OptionalLong.empty() : OptionalLong.of(outputBytes);
    }

    /** Each rlimit set, as {soft, hard}. */
    public Map<Rlimit, long[]> rlimits() {
        Map<Rlimit, long[]> copy = new EnumMap<>(Rlimit.class);
        copyInto(copy, rlimits);
        return copy;
    }

    /** A loop, not a lambda: every JVM's first sandbox comes here, and a fresh JVM makes a class for each lambda. */
    private static void copyInto(Map<Rlimit, long[]> to, Map<Rlimit, long[]> from) {
        for (Map.Entry<Rlimit, long[]> e : from.entrySet()) {
            to.put(e.getKey(), e.getValue().clone());
        }
    }

    /** Whether any limit needs a cgroup of the sandbox's own. */
    public boolean needsCgroup() {
        return !cgroupLimitNames().isEmpty();
    }

    /** The names of the limits set here that need a cgroup of the sandbox's own (memory, pids, cpuTime, ...). */
    public java.util.List<String> cgroupLimitNames() {
        java.util.List<String> names = new java.util.ArrayList<>();
        Object[] values = {memoryBytes, swapBytes, pids, cpuWeight, cpus, ioWeight, cpusetCpus, cpusetMems, cpuTime};
        String[] all = {"memory", "swap", "pids", "cpuWeight", "cpus", "ioWeight", "cpusetCpus", "cpusetMems",
            "cpuTime"};
        for (int i = 0; i < all.length; i++) {
            if (values[i] != null) {
                names.add(all[i]);
            }
        }
        return java.util.List.copyOf(names);
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof Limits l)) {
            return false;
        }
        if (!l.rlimits.keySet().equals(rlimits.keySet())) {
            return false;
        }
        for (Map.Entry<Rlimit, long[]> e : rlimits.entrySet()) {
            if (!java.util.Arrays.equals(e.getValue(), l.rlimits.get(e.getKey()))) {
                return false;
            }
        }
        return Objects.equals(memoryBytes, l.memoryBytes) && Objects.equals(swapBytes, l.swapBytes)
                && Objects.equals(pids, l.pids) && Objects.equals(cpuWeight, l.cpuWeight)
                && Objects.equals(cpus, l.cpus) && Objects.equals(ioWeight, l.ioWeight)
                && Objects.equals(cpusetCpus, l.cpusetCpus) && Objects.equals(cpusetMems, l.cpusetMems)
                && Objects.equals(cpuTime, l.cpuTime) && Objects.equals(wallTime, l.wallTime)
                && Objects.equals(grace, l.grace) && Objects.equals(outputBytes, l.outputBytes);
    }

    @Override
    public int hashCode() {
        return Objects.hash(memoryBytes, swapBytes, pids, cpuWeight, cpus, ioWeight, cpusetCpus, cpusetMems, cpuTime,
                wallTime, grace, outputBytes, rlimits.keySet());
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("Limits[");
        if (memoryBytes != null) s.append("memory=").append(memoryBytes).append(' ');
        if (swapBytes != null) s.append("swap=").append(swapBytes).append(' ');
        if (pids != null) s.append("pids=").append(pids).append(' ');
        if (cpuWeight != null) s.append("cpuWeight=").append(cpuWeight).append(' ');
        if (cpus != null) s.append("cpus=").append(cpus).append(' ');
        if (ioWeight != null) s.append("ioWeight=").append(ioWeight).append(' ');
        if (cpusetCpus != null) s.append("cpusetCpus=").append(cpusetCpus).append(' ');
        if (cpusetMems != null) s.append("cpusetMems=").append(cpusetMems).append(' ');
        if (cpuTime != null) s.append("cpuTime=").append(cpuTime.toMillis()).append("ms ");
        if (wallTime != null) s.append("wallTime=").append(wallTime.toMillis()).append("ms ");
        if (grace != null) s.append("grace=").append(grace.toMillis()).append("ms ");
        if (outputBytes != null) s.append("output=").append(outputBytes).append(' ');
        rlimits.forEach((k, v) -> s.append(k).append('=').append(v[0]).append('/').append(v[1]).append(' '));
        return s.toString().trim() + "]";
    }

    /**
     * Each setter checks its value at once and names it in the message.
     *
     * <p>Not thread-safe: confine a builder to one thread; the {@link Limits} it builds is immutable
     * and thread-safe.
     */
    public static final class Builder {
        private Long memoryBytes;
        private Long swapBytes;
        private Integer pids;
        private Integer cpuWeight;
        private Double cpus;
        private Integer ioWeight;
        private String cpusetCpus;
        private String cpusetMems;
        private Duration cpuTime;
        private Duration wallTime;
        private Duration grace;
        private Long outputBytes;
        private final Map<Rlimit, long[]> rlimits = new EnumMap<>(Rlimit.class);

        private Builder() {}

        /** At least 1 MiB: less cannot even start a process. */
        public Builder memory(long bytes) {
            if (bytes < (1L << 20)) {
                throw new SandboxSpecException("memory limit must be at least 1 MiB (1048576 bytes), got " + bytes);
            }
            memoryBytes = bytes;
            return this;
        }

        public Builder swap(long bytes) {
            if (bytes < 0) {
                throw new SandboxSpecException("swap must not be negative, got " + bytes);
            }
            swapBytes = bytes;
            return this;
        }

        public Builder pids(int max) {
            if (max < 1) {
                throw new SandboxSpecException("pids limit must be at least 1, got " + max);
            }
            pids = max;
            return this;
        }

        public Builder cpuWeight(int weight) {
            if (weight < 1 || weight > 10000) {
                throw new SandboxSpecException("CPU weight must be between 1 and 10000, got " + weight);
            }
            cpuWeight = weight;
            return this;
        }

        public Builder cpus(double cores) {
            if (!(cores >= 0.01) || cores > 4096) {
                throw new SandboxSpecException("CPU quota must be between 0.01 and 4096 cores, got " + cores);
            }
            cpus = cores;
            return this;
        }

        /**
         * The CPUs the sandbox may run on, as the kernel lists them ("0-3,6"), within those its
         * parent cgroup has (checked when it starts). A judge pins submissions to CPUs of their own
         * with it, for steadier times.
         */
        public Builder cpusetCpus(String cpus) {
            cpusetCpus = cpuList(cpus, "cpuset CPUs");
            return this;
        }

        /** The memory nodes (NUMA) the sandbox may allocate on, in the same syntax. */
        public Builder cpusetMems(String nodes) {
            cpusetMems = cpuList(nodes, "cpuset memory nodes");
            return this;
        }

        private static String cpuList(String list, String what) {
            Validation.notNull(list, what);
            if (!list.matches("\\d{1,5}(-\\d{1,5})?(,\\d{1,5}(-\\d{1,5})?)*")) {
                throw new SandboxSpecException(what + " must be a list such as 0-3,6 (numbers and ascending ranges, "
                        + "comma-separated), got '" + list + "'");
            }
            for (String range : list.split(",")) {
                String[] ends = range.split("-");
                if (ends.length == 2 && Integer.parseInt(ends[0]) > Integer.parseInt(ends[1])) {
                    throw new SandboxSpecException(what + ": the range " + range + " in '" + list + "' is descending");
                }
            }
            return list;
        }

        public Builder ioWeight(int weight) {
            if (weight < 1 || weight > 10000) {
                throw new SandboxSpecException("I/O weight must be between 1 and 10000, got " + weight);
            }
            ioWeight = weight;
            return this;
        }

        public Builder cpuTime(Duration limit) {
            cpuTime = positive(limit, "CPU time limit");
            return this;
        }

        public Builder wallTime(Duration limit) {
            wallTime = positive(limit, "wall time limit");
            return this;
        }

        /** See {@link Limits#grace()}; needs a CPU or wall time limit. */
        public Builder grace(Duration extra) {
            grace = positive(extra, "time limit grace");
            return this;
        }

        public Builder outputBytes(long max) {
            if (max < 0) {
                throw new SandboxSpecException("output limit must not be negative, got " + max);
            }
            outputBytes = max;
            return this;
        }

        /** Soft and hard limit the same. */
        public Builder rlimit(Rlimit resource, long value) {
            return rlimit(resource, value, value);
        }

        public Builder rlimit(Rlimit resource, long soft, long hard) {
            Validation.notNull(resource, "rlimit resource");
            if (soft < 0 || hard < 0 || soft > hard) {
                throw new SandboxSpecException("rlimit " + resource + " needs 0 <= soft <= hard, got soft " + soft
                        + ", hard " + hard);
            }
            rlimits.put(resource, new long[] {soft, hard});
            return this;
        }

        public Limits build() {
            if (swapBytes != null && memoryBytes == null) {
                throw new SandboxSpecException("swap(" + swapBytes + ") needs a memory limit: swap is allowed on top of it");
            }
            if (grace != null && cpuTime == null && wallTime == null) {
                throw new SandboxSpecException("grace(" + grace + ") needs a CPU or wall time limit: it is extra time past them");
            }
            return new Limits(this);
        }

        private static Duration positive(Duration d, String what) {
            Validation.notNull(d, what);
            if (d.isNegative() || d.isZero()) {
                throw new SandboxSpecException(what + " must be positive, got " + d);
            }
            return d;
        }
    }
}
