package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.UnsupportedHostException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * cgroup v2: one leaf per sandbox in {@code <parent>/crabcan-<jvm pid>/}. The controllers a
 * sandbox needs must be enabled in the parent's cgroup.subtree_control, which cgroup v2 allows
 * only where the parent holds no process itself ("no internal processes") and has them in its
 * cgroup.controllers (given by the cgroup above it, which is not ours). So, as container engines
 * do, a JVM whose own cgroup is the parent first moves its own processes (itself, the zygote and
 * anything else it started that is still there) into a leaf {@code <parent>/crabcan-jvm-<pid>},
 * then enables the controllers; it refuses, saying why, when other processes share its cgroup.
 * A parent the user configured is enabled but never emptied. The per-JVM directory holds no
 * process, so the controllers are enabled again one level down.
 */
final class CgroupV2 extends JvmCgroupTree {
    private static final Logger log = LoggerFactory.getLogger(CgroupV2.class);
    /** The leaf a JVM's own processes move into, next to its per-JVM directory. */
    static final String JVM_LEAF_PREFIX = "crabcan-jvm-";

    private final Path parent;
    private final boolean configured;

    CgroupV2(Path parent, boolean configured) {
        super(List.of(parent));
        this.parent = parent;
        this.configured = configured;
    }

    @Override
    public SandboxCgroup create(Limits limits) throws SandboxException {
        List<String> needed = new ArrayList<>(controllers(limits));
        if (limits.ioWeight().isPresent() && words(parent.resolve("cgroup.controllers")).contains("io")) {
            needed.add("io");
        }
        enableInParent(needed);
        Path jvm = jvmDir(parent);
        mkdir(jvm);
        enable(jvm, needed);
        V2Cgroup cgroup = track(new V2Cgroup(jvm.resolve(nextName())));
        try {
            mkdir(cgroup.dir);
            apply(cgroup.dir, limits, needed.contains("io"));
            return cgroup;
        } catch (SandboxException | RuntimeException e) {
            cgroup.remove();
            throw e;
        }
    }

    /** Writes the limits that are set into the cgroup; io says whether it has the io controller. */
    static void apply(Path dir, Limits limits, boolean io) throws SandboxException {
        if (limits.memoryBytes().isPresent()) {
            write(dir.resolve("memory.max"), Long.toString(limits.memoryBytes().getAsLong()));
            if (limits.swapBytes().isPresent()) {
                write(dir.resolve("memory.swap.max"), Long.toString(limits.swapBytes().getAsLong()));
            }
        }
        if (limits.pids().isPresent()) {
            write(dir.resolve("pids.max"), Integer.toString(limits.pids().getAsInt()));
        }
        if (limits.cpuWeight().isPresent()) {
            write(dir.resolve("cpu.weight"), Integer.toString(limits.cpuWeight().getAsInt()));
        }
        if (limits.cpus().isPresent()) {
            write(dir.resolve("cpu.max"), Math.round(limits.cpus().getAsDouble() * 100_000) + " 100000");
        }
        if (limits.cpusetCpus().isPresent() || limits.cpusetMems().isPresent()) {
            writeCpuset(dir, limits);
        }
        if (limits.ioWeight().isPresent()) {
            if (io) {
                write(dir.resolve("io.weight"), "default " + limits.ioWeight().getAsInt());
            } else {
                log.debug("no io controller at {}: the I/O weight is not applied", dir);
            }
        }
    }

    /**
     * Makes sure the parent's children get these controllers. Synchronized: sandboxes started
     * from several threads would otherwise move the JVM's processes at the same time.
     */
    private synchronized void enableInParent(List<String> controllers) throws SandboxException {
        List<String> available = words(parent.resolve("cgroup.controllers"));
        List<String> missing = controllers.stream().filter(c -> !available.contains(c)).toList();
        if (!missing.isEmpty()) {
            throw new UnsupportedHostException("the cgroup v2 controllers " + missing + " are not available in "
                    + parent + " (cgroup.controllers: " + available + "): " + delegationFix(missing));
        }
        List<String> enabled = words(parent.resolve("cgroup.subtree_control"));
        if (enabled.containsAll(controllers)) {
            return;
        }
        // The root cgroup (the only one without cgroup.type) may hold processes and enable controllers.
        if (Files.exists(parent.resolve("cgroup.type"))) {
            if (configured) {
                List<Long> procs = pids(parent);
                if (!procs.isEmpty()) {
                    throw new UnsupportedHostException("the cgroup " + parent + " named by -D" + Cgroups.PARENT_PROPERTY
                            + " holds processes " + procs + ", so cgroup v2 lets no controller be enabled for its "
                            + "children (\"no internal processes\"); name a cgroup that holds none");
                }
            } else {
                moveOwnProcessesToLeaf();
            }
        }
        enable(parent, controllers);
    }

    /** Moves this JVM and its descendants out of the parent into the JVM's leaf; refuses if others are there. */
    private void moveOwnProcessesToLeaf() throws SandboxException {
        Path leaf = parent.resolve(JVM_LEAF_PREFIX + ProcessHandle.current().pid());
        // Children forked while their parent was being moved land in the parent: another round moves them.
        for (int round = 0; round < 10; round++) {
            List<Long> procs = pids(parent);
            if (procs.isEmpty()) {
                return;
            }
            Set<Long> ours = ProcessHandle.current().descendants().map(ProcessHandle::pid).collect(Collectors.toSet());
            ours.add(ProcessHandle.current().pid());
            List<Long> others = procs.stream().filter(p -> !ours.contains(p)).toList();
            if (!others.isEmpty()) {
                throw new UnsupportedHostException("the JVM's cgroup " + parent + " also holds processes that are not "
                        + "this JVM's " + others + ": cgroup v2 enables controllers for a cgroup's children only when "
                        + "it holds no process itself, and Crabcan moves only this JVM's own processes (into "
                        + leaf.getFileName() + "); start the JVM in a cgroup of its own (as the main process of its "
                        + "systemd unit, or with systemd-run --scope), or name a cgroup for the sandboxes with -D"
                        + Cgroups.PARENT_PROPERTY + "=DIR");
            }
            mkdir(leaf);
            for (long pid : procs) {
                try {
                    CgroupFiles.write(leaf.resolve("cgroup.procs"), Long.toString(pid));
                } catch (IOException e) {
                    log.debug("moving {} into {}: {}", pid, leaf, e.toString()); // ended meanwhile
                }
            }
            log.debug("moved this JVM's processes {} from {} into {}", procs, parent, leaf);
        }
        throw new SandboxException("this JVM's processes kept appearing in " + parent + " while they were moved into "
                + leaf);
    }

    /** How to get these controllers, for the cgroup manager the parent's path shows. */
    private String delegationFix(List<String> missing) {
        String unit = null;
        boolean userManager = false;
        for (Path p = parent; p != null && p.getFileName() != null; p = p.getParent()) {
            String name = p.getFileName().toString();
            if (unit == null && (name.endsWith(".service") || name.endsWith(".scope"))) {
                unit = name;
            }
            userManager |= name.matches("user@\\d+\\.service") && !name.equals(unit);
        }
        String fix;
        if (configured) {
            fix = "enable them in the cgroup.subtree_control of the cgroup above the one named by -D"
                    + Cgroups.PARENT_PROPERTY;
        } else if (userManager) {
            fix = "systemd gives users' units only what user@.service delegates: add them to its Delegate= (e.g. "
                    + "systemctl edit user@.service, [Service] Delegate=cpu cpuset io memory pids), start the JVM with "
                    + "systemd-run --user --scope -p Delegate=yes, or name a cgroup that has them with -D"
                    + Cgroups.PARENT_PROPERTY + "=DIR";
        } else if (unit != null) {
            fix = "run " + unit + " with Delegate=yes (systemd-run -p Delegate=yes), or have systemd enable them for it ("
                    + missing.stream().map(CgroupV2::property).collect(Collectors.joining(" ", "systemctl set-property "
                    + unit + " ", "")) + "), or name a cgroup that has them with -D" + Cgroups.PARENT_PROPERTY + "=DIR";
        } else {
            fix = "the cgroup above must enable them in its cgroup.subtree_control, or name a cgroup that has them "
                    + "with -D" + Cgroups.PARENT_PROPERTY + "=DIR";
        }
        return fix + "; on hosts that still mount them as cgroup v1 use -D" + Cgroups.VERSION_PROPERTY + "=1";
    }

    /** The systemd unit setting that makes systemd enable a controller for the unit. */
    private static String property(String controller) {
        return switch (controller) {
            case "cpu" -> "CPUWeight=100";
            case "io" -> "IOWeight=100";
            case "memory" -> "MemoryAccounting=yes";
            case "cpuset" -> "AllowedCPUs=0-" + (Runtime.getRuntime().availableProcessors() - 1);
            default -> "TasksAccounting=yes";
        };
    }

    /** The controllers limits need (io aside: only where the host offers it, see create). */
    static List<String> controllers(Limits limits) {
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
        if (limits.cpusetCpus().isPresent() || limits.cpusetMems().isPresent()) {
            needed.add("cpuset");
        }
        return needed;
    }

    /** Enables the controllers for dir's children where they are not enabled yet. */
    static void enable(Path dir, List<String> controllers) throws SandboxException {
        List<String> enabled = words(dir.resolve("cgroup.subtree_control"));
        for (String c : controllers) {
            if (!enabled.contains(c)) {
                write(dir.resolve("cgroup.subtree_control"), "+" + c);
            }
        }
    }

    private static List<Long> pids(Path dir) {
        return words(dir.resolve("cgroup.procs")).stream().map(Long::parseLong).toList();
    }

    static List<String> words(Path file) {
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
        public List<String> fileSystems() {
            return List.of("cgroup2");
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
