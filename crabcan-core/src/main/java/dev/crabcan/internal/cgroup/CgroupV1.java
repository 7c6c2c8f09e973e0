package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.internal.Text;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** cgroup v1: one directory per hierarchy (memory, pids, cpu, cpuacct, cpuset, blkio). */
final class CgroupV1 extends JvmCgroupTree {
    private static final Logger log = LoggerFactory.getLogger(CgroupV1.class);
    /** cpuacct.stat counts in USER_HZ ticks, 100 per second on every Linux ABI. */
    private static final long NANOS_PER_TICK = 10_000_000L;

    /**
     * The hierarchies a sandbox's cgroup is made in (the freezer is for OCI pause only). The cpuset
     * one, unless the limits name CPUs or memory nodes, limits nothing: a cgroup of the sandbox's
     * own there lets its cgroup namespace show that hierarchy (HotSpot finds no limit on v1
     * without it) without showing the JVM's cpuset cgroup.
     */
    static final List<String> CONTROLLERS = List.of("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio");

    private final Map<String, Path> parents;
    /** Each controller's hierarchy, as /proc/self/cgroup names it ("cpu,cpuacct"). */
    private final Map<String, String> hierarchies;
    /** Whether this JVM's cpuset directory has CPUs and memory nodes, which its sandboxes' copy. */
    private boolean cpusetReady;

    private CgroupV1(Map<String, Path> parents, Map<String, String> hierarchies) {
        super(new ArrayList<>(new java.util.LinkedHashSet<>(parents.values())));
        this.parents = parents;
        this.hierarchies = Map.copyOf(hierarchies);
    }

    /** In each hierarchy below the JVM's cgroup, or below the configured cgroup path. */
    static CgroupV1 of(Map<String, Path> jvmDirs, Map<String, Path> mounts, Map<String, String> hierarchies,
            String configured) {
        Map<String, Path> parents = new LinkedHashMap<>();
        for (Map.Entry<String, Path> jvmDir : jvmDirs.entrySet()) {
            String controller = jvmDir.getKey();
            parents.put(controller, configured == null ? jvmDir.getValue()
                    : mounts.get(controller).resolve(Text.withoutLeadingSlashes(configured)));
        }
        parents.keySet().retainAll(CONTROLLERS);
        return new CgroupV1(parents, hierarchies);
    }

    @Override
    public SandboxCgroup create(Limits limits) throws SandboxException {
        String name = nextName();
        Map<String, Path> dirs = new LinkedHashMap<>();
        for (String controller : CONTROLLERS) {
            Path parent = parents.get(controller);
            if (parent == null || (controller.equals("blkio") && limits.ioWeight().isEmpty())) {
                continue;
            }
            dirs.put(controller, jvmDir(parent).resolve(name));
        }
        if (!dirs.containsKey("cpuacct")) {
            throw new SandboxException("no cgroup v1 cpuacct hierarchy is mounted; CPU accounting needs one");
        }
        V1Cgroup cgroup = track(new V1Cgroup(dirs));
        try {
            if (dirs.containsKey("cpuset")) {
                prepareCpuset(parents.get("cpuset"));
            }
            for (Path dir : dirs.values()) {
                mkdirSandbox(dir);
            }
            apply(dirs, limits);
            return cgroup;
        } catch (SandboxException | RuntimeException e) {
            cgroup.remove();
            throw e;
        }
    }

    /**
     * A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no process until it has:
     * this JVM's directory gets its parent's, and with clone_children every sandbox's cgroup made
     * in it starts with a copy of them.
     */
    private synchronized void prepareCpuset(Path parent) throws SandboxException {
        if (cpusetReady) {
            return;
        }
        Path jvm = jvmDir(parent);
        mkdir(jvm);
        inheritCpuset(jvm);
        write(jvm.resolve("cgroup.clone_children"), "1");
        cpusetReady = true;
    }

    /** Writes the limits that are set into the hierarchies' directories (by controller); others are left as they are. */
    static void apply(Map<String, Path> dirs, Limits limits) throws SandboxException {
        Path memory = dirs.get("memory");
        if (limits.memoryBytes().isPresent()) {
            require(memory, "memory");
            long limit = limits.memoryBytes().getAsLong();
            write(memory.resolve("memory.limit_in_bytes"), Long.toString(limit));
            if (limits.swapBytes().isPresent()) {
                Path memsw = memory.resolve("memory.memsw.limit_in_bytes");
                if (Files.exists(memsw)) {
                    write(memsw, Long.toString(limit + limits.swapBytes().getAsLong()));
                } else if (limits.swapBytes().getAsLong() == 0) {
                    write(memory.resolve("memory.swappiness"), "0");
                } else {
                    throw new SandboxException("a swap limit needs swap accounting (memory.memsw.*), which this "
                            + "kernel does not have; boot it with swapaccount=1");
                }
            }
        }
        if (limits.pids().isPresent()) {
            require(dirs.get("pids"), "pids");
            write(dirs.get("pids").resolve("pids.max"), Integer.toString(limits.pids().getAsInt()));
        }
        Path cpu = dirs.get("cpu");
        if (limits.cpuWeight().isPresent()) {
            require(cpu, "cpu");
            write(cpu.resolve("cpu.shares"), Long.toString(Math.max(2, limits.cpuWeight().getAsInt() * 1024L / 100)));
        }
        if (limits.cpus().isPresent()) {
            require(cpu, "cpu");
            write(cpu.resolve("cpu.cfs_period_us"), "100000");
            write(cpu.resolve("cpu.cfs_quota_us"), Long.toString(Math.round(limits.cpus().getAsDouble() * 100_000)));
        }
        if (limits.cpusetCpus().isPresent() || limits.cpusetMems().isPresent()) {
            require(dirs.get("cpuset"), "cpuset");
            writeCpuset(dirs.get("cpuset"), limits);
        }
        if (limits.ioWeight().isPresent()) {
            // BFQ's: CFQ, whose file was blkio.weight, left the kernel in 5.0.
            Path weight = dirs.containsKey("blkio") ? dirs.get("blkio").resolve("blkio.bfq.weight") : null;
            if (weight != null && Files.exists(weight)) {
                write(weight, Integer.toString(Math.max(1, Math.min(1000, limits.ioWeight().getAsInt() / 10))));
            } else {
                log.debug("no blkio.bfq.weight on this host (BFQ is no disk's scheduler): the I/O weight is not "
                        + "applied");
            }
        }
    }

    private static void require(Path dir, String controller) throws SandboxException {
        if (dir == null) {
            throw new SandboxException("no cgroup v1 " + controller + " hierarchy is mounted; this limit needs one");
        }
    }

    @Override
    public String describe() {
        return "cgroup v1, below " + parents;
    }

    private final class V1Cgroup implements SandboxCgroup {
        private final Map<String, Path> dirs;

        V1Cgroup(Map<String, Path> dirs) {
            this.dirs = dirs;
        }

        @Override
        public List<Path> procsFiles() {
            return dirs.values().stream().distinct().map(d -> d.resolve("cgroup.procs")).toList();
        }

        @Override
        public List<String> fileSystems() {
            return dirs.keySet().stream().map(c -> "cgroup:" + hierarchies.getOrDefault(c, c)).distinct().toList();
        }

        @Override
        public long cpuNanos() {
            return CgroupFiles.readLong(dirs.get("cpuacct").resolve("cpuacct.usage"), 0);
        }

        @Override
        public Usage usage() {
            String acct = CgroupFiles.readOrNull(dirs.get("cpuacct").resolve("cpuacct.stat"));
            Path memory = dirs.get("memory");
            return new Usage(cpuNanos(), CgroupFiles.keyed(acct, "user", 0) * NANOS_PER_TICK,
                    CgroupFiles.keyed(acct, "system", 0) * NANOS_PER_TICK,
                    memory == null ? -1 : CgroupFiles.readLong(memory.resolve("memory.max_usage_in_bytes"), -1),
                    memory == null ? 0 : CgroupFiles.keyed(memory.resolve("memory.oom_control"), "oom_kill", 0));
        }

        @Override
        public void remove() {
            dirs.values().stream().distinct().forEach(CgroupFiles::killAndRemove);
            untrack(this);
        }
    }
}
