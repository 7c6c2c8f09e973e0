package dev.crabcan.internal.cgroup;

import dev.crabcan.SandboxException;
import dev.crabcan.UnsupportedHostException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The runtime-spec {@code linux.resources} fields an OCI runtime's container cgroup carries out
 * beyond {@link dev.crabcan.Limits}: each is one cgroup file, written where the host's cgroup has
 * it and otherwise refused, naming the field and why. They stay out of the public Limits: a
 * sandbox's own cgroup has no use for a real-time budget, a soft limit or an OOM killer turned
 * off, while an engine's container config may ask for them. Immutable.
 */
public final class CgroupTuning {
    public static final CgroupTuning NONE = new CgroupTuning(new EnumMap<>(Knob.class));

    /**
     * The fields, in the order they are written: after the {@link dev.crabcan.Limits} (a CPU burst
     * after the quota, cpu.idle after the shares, which an idle cgroup refuses).
     */
    public enum Knob {
        MEMORY_RESERVATION("linux.resources.memory.reservation", "memory", "memory.soft_limit_in_bytes", "memory.low",
                true, null, null),
        MEMORY_KERNEL("linux.resources.memory.kernel", "memory", "memory.kmem.limit_in_bytes", null, true,
                "cgroup v2 has no kernel memory limit of its own; memory.max counts kernel memory too",
                "Linux refuses or ignores kernel memory limits since 5.16 (runc ignores the field, with a warning); "
                        + "leave it out: linux.resources.memory.limit counts kernel memory too"),
        MEMORY_KERNEL_TCP("linux.resources.memory.kernelTCP", "memory", "memory.kmem.tcp.limit_in_bytes", null, true,
                "cgroup v2 has no TCP buffer limit of its own; memory.max counts TCP buffers too", null),
        MEMORY_SWAPPINESS("linux.resources.memory.swappiness", "memory", "memory.swappiness", null, false,
                "cgroup v2 has no swappiness per cgroup (crun refuses it there too, and podman takes "
                        + "--memory-swappiness on cgroup v1 only)", null),
        MEMORY_DISABLE_OOM_KILLER("linux.resources.memory.disableOOMKiller", "memory", "memory.oom_control", null, false,
                "cgroup v2 cannot turn the OOM killer off for a cgroup (crun refuses it there too; runc ignores it)",
                null),
        CPU_BURST("linux.resources.cpu.burst", "cpu", "cpu.cfs_burst_us", "cpu.max.burst", false, null,
                "CPU burst needs Linux 5.14"),
        CPU_IDLE("linux.resources.cpu.idle", "cpu", "cpu.idle", "cpu.idle", false, null, "cpu.idle needs Linux 5.15"),
        CPU_REALTIME_PERIOD("linux.resources.cpu.realtimePeriod", "cpu", "cpu.rt_period_us", null, false,
                "real-time group scheduling has no cgroup v2 interface", "real-time group scheduling needs a kernel "
                        + "built with CONFIG_RT_GROUP_SCHED"),
        CPU_REALTIME_RUNTIME("linux.resources.cpu.realtimeRuntime", "cpu", "cpu.rt_runtime_us", null, false,
                "real-time group scheduling has no cgroup v2 interface", "real-time group scheduling needs a kernel "
                        + "built with CONFIG_RT_GROUP_SCHED");

        private final String field;
        private final String controller;
        private final String v1File;
        private final String v2File;
        /** A byte limit, where -1 is "max" on v2 and a v1 file that reads back more than was written ignores it. */
        private final boolean bytes;
        private final String noV2;
        private final String missing;

        Knob(String field, String controller, String v1File, String v2File, boolean bytes, String noV2,
                String missing) {
            this.field = field;
            this.controller = controller;
            this.v1File = v1File;
            this.v2File = v2File;
            this.bytes = bytes;
            this.noV2 = noV2;
            this.missing = missing;
        }

        /** The runtime-spec field, e.g. linux.resources.cpu.idle. */
        public String field() {
            return field;
        }

        /** The file's content for this value. */
        String text(boolean v2, long value) {
            return bytes && v2 && value == -1 ? "max" : Long.toString(value);
        }
    }

    private final Map<Knob, Long> values;

    private CgroupTuning(EnumMap<Knob, Long> values) {
        this.values = Collections.unmodifiableMap(values);
    }

    /** These fields set to these values (disableOOMKiller: 1). */
    public static CgroupTuning of(Map<Knob, Long> values) {
        return values.isEmpty() ? NONE : new CgroupTuning(new EnumMap<>(values));
    }

    public Map<Knob, Long> values() {
        return values;
    }

    public boolean isEmpty() {
        return values.isEmpty();
    }

    /** The cgroup v2 controllers these fields need. */
    List<String> controllers() {
        return values.keySet().stream().map(k -> k.controller).distinct().toList();
    }

    /**
     * Refuses, naming the first, fields that cgroup v2 has no file for; before anything is made
     * for the container.
     */
    void checkFor(boolean v2) throws UnsupportedHostException {
        for (Knob k : values.keySet()) {
            if (v2 && k.v2File == null) {
                throw new UnsupportedHostException(k.field + ": not supported because this host's container cgroups "
                        + "are cgroup v2, and " + k.noV2);
            }
        }
    }

    /**
     * Writes the fields into the container's cgroup; dirs is by controller (on v2 one directory for
     * both). A write the kernel refuses is tried again once the others are written: a real-time
     * period shorter than the runtime set so far is only taken after the new runtime, as runc does.
     */
    void apply(boolean v2, Map<String, Path> dirs) throws SandboxException {
        checkFor(v2);
        List<Knob> retry = new ArrayList<>();
        for (Map.Entry<Knob, Long> e : values.entrySet()) {
            if (!write(v2, dirs, e.getKey(), e.getValue(), false)) {
                retry.add(e.getKey());
            }
        }
        for (Knob k : retry) {
            write(v2, dirs, k, values.get(k), true);
        }
    }

    /**
     * Writes a new CPU burst before {@link #apply}'s caller changes the quota, where the cgroup takes
     * it: the kernel refuses a quota below the burst the cgroup has, so lowering both in one update
     * needs the burst first (runc does the same). A burst the old quota cannot hold is refused
     * quietly here and written by apply, after the new quota.
     */
    void applyBurstFirst(boolean v2, Map<String, Path> dirs) throws SandboxException {
        Long burst = values.get(Knob.CPU_BURST);
        if (burst != null) {
            write(v2, dirs, Knob.CPU_BURST, burst, false);
        }
    }

    /** false: the kernel refused the value and strict is not set. */
    private static boolean write(boolean v2, Map<String, Path> dirs, Knob k, long value, boolean strict)
            throws SandboxException {
        Path dir = dirs.get(v2 ? "" : k.controller);
        if (dir == null) {
            throw new UnsupportedHostException(k.field + ": not supported because no cgroup v1 " + k.controller
                    + " hierarchy is mounted");
        }
        Path file = dir.resolve(v2 ? k.v2File : k.v1File);
        if (v2 && !CgroupV2.words(dir.resolve("cgroup.controllers")).contains(k.controller)) {
            throw new UnsupportedHostException(k.field + ": not supported because the container's cgroup " + dir
                    + " has no " + k.controller + " controller (create enables those its config's resources need)");
        }
        if (!Files.exists(file)) {
            throw new UnsupportedHostException(k.field + ": not supported because the container's cgroup " + dir
                    + " has no " + file.getFileName() + (k.missing == null ? "" : " (" + k.missing + ")"));
        }
        String text = k.text(v2, value);
        try {
            CgroupFiles.write(file, text);
        } catch (IOException e) {
            if (!strict) {
                return false;
            }
            Path budget = dir.getParent().resolve(Knob.CPU_REALTIME_RUNTIME.v1File);
            String why = k == Knob.CPU_REALTIME_RUNTIME || k == Knob.CPU_REALTIME_PERIOD ? "; a runtime must fit in "
                    + "its period, and the real-time runtimes of a cgroup's children must fit in its own (" + budget
                    + ": " + CgroupFiles.readOrNull(budget) + ")" : k == Knob.MEMORY_KERNEL ? "; " + k.missing : "";
            throw new SandboxException(k.field + ": cannot write '" + text + "' to " + file + ": " + e.getMessage()
                    + why, e);
        }
        if (k.bytes && !v2 && value != -1 && CgroupFiles.readLong(file, value) > value) {
            throw new UnsupportedHostException(k.field + ": not supported because this kernel takes but ignores "
                    + file.getFileName() + " (it still reads " + CgroupFiles.readOrNull(file) + ")"
                    + (k.missing == null ? "" : ": " + k.missing));
        }
        return true;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CgroupTuning t && t.values.equals(values);
    }

    @Override
    public int hashCode() {
        return Objects.hash(values);
    }

    @Override
    public String toString() {
        StringBuilder s = new StringBuilder("CgroupTuning[");
        values.forEach((k, v) -> s.append(k.field.substring("linux.resources.".length())).append('=').append(v)
                .append(' '));
        return s.toString().trim() + "]";
    }
}
