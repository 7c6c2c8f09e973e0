package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * cgroup v2: one leaf per sandbox in {@code <parent>/crabcan-<jvm pid>/}. The controllers must
 * be enabled in the parent's cgroup.subtree_control: by the host (systemd's delegation) for the
 * JVM's own cgroup, which we never reconfigure, or by us for a parent the user configured for
 * Crabcan. The per-JVM directory holds no process, so the "no internal processes" rule lets us
 * enable them again one level down.
 */
final class CgroupV2 extends JvmCgroupTree {
    private static final Logger log = LoggerFactory.getLogger(CgroupV2.class);

    private final Path parent;
    private final boolean configured;

    CgroupV2(Path parent, boolean configured) {
        super(List.of(parent));
        this.parent = parent;
        this.configured = configured;
    }

    @Override
    public SandboxCgroup create(Limits limits) throws SandboxException {
        List<String> needed = new ArrayList<>();
        if (limits.memoryBytes().isPresent()) {
            needed.add("memory");
        }
        if (limits.pids().isPresent()) {
            needed.add("pids");
        }
        if (limits.cpuWeight().isPresent() || limits.cpus().isPresent()) {
            needed.add("cpu");
        }
        if (limits.ioWeight().isPresent() && words(parent.resolve("cgroup.controllers")).contains("io")) {
            needed.add("io");
        }
        enable(parent, needed, configured);
        Path jvm = jvmDir(parent);
        mkdir(jvm);
        enable(jvm, needed, true);
        V2Cgroup cgroup = track(new V2Cgroup(jvm.resolve(nextName())));
        try {
            mkdir(cgroup.dir);
            if (limits.memoryBytes().isPresent()) {
                write(cgroup.dir.resolve("memory.max"), Long.toString(limits.memoryBytes().getAsLong()));
                if (limits.swapBytes().isPresent()) {
                    write(cgroup.dir.resolve("memory.swap.max"), Long.toString(limits.swapBytes().getAsLong()));
                }
            }
            if (limits.pids().isPresent()) {
                write(cgroup.dir.resolve("pids.max"), Integer.toString(limits.pids().getAsInt()));
            }
            if (limits.cpuWeight().isPresent()) {
                write(cgroup.dir.resolve("cpu.weight"), Integer.toString(limits.cpuWeight().getAsInt()));
            }
            if (limits.cpus().isPresent()) {
                write(cgroup.dir.resolve("cpu.max"), Math.round(limits.cpus().getAsDouble() * 100_000) + " 100000");
            }
            if (limits.ioWeight().isPresent()) {
                if (needed.contains("io")) {
                    write(cgroup.dir.resolve("io.weight"), "default " + limits.ioWeight().getAsInt());
                } else {
                    log.debug("no io controller at {}: the I/O weight is not applied", parent);
                }
            }
            return cgroup;
        } catch (SandboxException | RuntimeException e) {
            cgroup.remove();
            throw e;
        }
    }

    /** Makes sure dir's children get these controllers, enabling them only where we may. */
    private static void enable(Path dir, List<String> controllers, boolean mayWrite) throws SandboxException {
        List<String> available = words(dir.resolve("cgroup.controllers"));
        List<String> missing = controllers.stream().filter(c -> !available.contains(c)).toList();
        if (!missing.isEmpty()) {
            throw new SandboxException("the cgroup v2 controllers " + missing + " are not available in " + dir
                    + " (cgroup.controllers: " + available + "); on hosts that still mount them as cgroup v1 use "
                    + "-D" + Cgroups.VERSION_PROPERTY + "=1, or delegate them to a cgroup and name it with -D"
                    + Cgroups.PARENT_PROPERTY);
        }
        List<String> enabled = words(dir.resolve("cgroup.subtree_control"));
        for (String c : controllers) {
            if (enabled.contains(c)) {
                continue;
            }
            if (!mayWrite) {
                throw new SandboxException("the cgroup v2 controller " + c + " is not enabled for the children of "
                        + dir + " (the JVM's own cgroup, which Crabcan does not reconfigure); enable it in its "
                        + "cgroup.subtree_control, or name a delegated cgroup with -D" + Cgroups.PARENT_PROPERTY);
            }
            write(dir.resolve("cgroup.subtree_control"), "+" + c);
        }
    }

    private static List<String> words(Path file) {
        String s = CgroupFiles.readOrNull(file);
        return s == null || s.isEmpty() ? List.of() : Arrays.asList(s.split("\\s+"));
    }

    @Override
    public String describe() {
        return "cgroup v2, below " + parent + (configured ? " (configured)" : " (the JVM's cgroup)");
    }

    private final class V2Cgroup implements SandboxCgroup {
        private final Path dir;

        V2Cgroup(Path dir) {
            this.dir = dir;
        }

        @Override
        public List<Path> procsFiles() {
            return List.of(dir.resolve("cgroup.procs"));
        }

        @Override
        public long cpuNanos() {
            return CgroupFiles.keyed(dir.resolve("cpu.stat"), "usage_usec", 0) * 1000;
        }

        @Override
        public Usage usage() {
            String stat = CgroupFiles.readOrNull(dir.resolve("cpu.stat"));
            return new Usage(cpuNanos(), CgroupFiles.keyed(stat, "user_usec", 0) * 1000,
                    CgroupFiles.keyed(stat, "system_usec", 0) * 1000,
                    Files.exists(dir.resolve("memory.peak")) ? CgroupFiles.readLong(dir.resolve("memory.peak"), -1) : -1,
                    CgroupFiles.keyed(dir.resolve("memory.events"), "oom_kill", 0));
        }

        @Override
        public void remove() {
            CgroupFiles.killAndRemove(dir);
            untrack(this);
        }
    }
}
