package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.UnsupportedHostException;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * The cgroup of an OCI runtime's container: made at create by a runtime process that then exits,
 * and found again by later commands from the directories that process recorded. Unlike a
 * sandbox's cgroup ({@link CgroupDriver}) it belongs to no JVM: nothing removes it but
 * {@link #remove}. Where it goes is the engine's decision (runtime-spec {@code linux.cgroupsPath});
 * without one it goes below the runtime's own cgroup. Only directories this class made are ever
 * removed: an engine may name an existing cgroup to join, and keeps it.
 */
public final class RuntimeCgroup {
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(RuntimeCgroup.class);
    /** v1 hierarchies a container's cgroup is made in: the limits', and the freezer for pause. */
    private static final List<String> V1_CONTROLLERS = List.of("memory", "pids", "cpu", "cpuacct", "cpuset",
            "freezer");

    private final boolean v2;
    /** By controller on v1 ("" on v2): the container's cgroup in each hierarchy. */
    private final Map<String, Path> dirs;
    /** The directories made for it, parents before children; the only ones {@link #remove} deletes. */
    private final List<Path> created;

    private RuntimeCgroup(boolean v2, Map<String, Path> dirs, List<Path> created) {
        this.v2 = v2;
        this.dirs = Map.copyOf(dirs);
        this.created = List.copyOf(created);
    }

    /** Where a container's cgroup goes and which of those directories do not exist yet: see {@link #create}. */
    public record Placement(boolean v2, Map<String, Path> dirs, List<Path> toCreate) {}

    /**
     * Where the container's cgroup goes on this host. cgroupsPath (may be null) is the config's:
     * absolute, from the root of each hierarchy; relative, from the runtime's own cgroup; with
     * systemd true, systemd's {@code slice:prefix:name}, placed where systemd would place that
     * scope. Without one, defaultName below the runtime's own cgroup, which must not exist yet:
     * the runtime chose it, so another's cgroup there would be removed with the container's.
     */
    public static Placement place(String cgroupsPath, boolean systemd, String id, String defaultName)
            throws SandboxException {
        Hierarchies h;
        try {
            h = Hierarchies.read();
        } catch (IOException e) {
            throw new SandboxException("cannot read this process's cgroups: " + e, e);
        }
        boolean v2 = h.unifiedDir() != null && (h.v1Dirs().isEmpty()
                || h.unifiedControllers().containsAll(List.of("memory", "pids", "cpu")));
        String relative = systemd ? systemdPath(cgroupsPath == null || cgroupsPath.isEmpty()
                ? "system.slice:crabcan:" + id : cgroupsPath) : cgroupsPath;
        Map<String, Path> dirs = new LinkedHashMap<>();
        if (v2) {
            dirs.put("", resolve(h.unifiedMount(), ownDir(h.unifiedDir()), relative, defaultName));
        } else {
            for (String c : V1_CONTROLLERS) {
                if (h.v1Dirs().containsKey(c)) {
                    dirs.put(c, resolve(h.v1MountPoints().get(c), h.v1Dirs().get(c), relative, defaultName));
                }
            }
            if (dirs.isEmpty()) {
                throw new UnsupportedHostException("no cgroup hierarchy with the memory, pids, cpu or freezer "
                        + "controller is mounted");
            }
        }
        TreeSet<Path> toCreate = new TreeSet<>();
        for (Path dir : dirs.values()) {
            if (relative == null || relative.isEmpty()) {
                if (Files.exists(dir)) {
                    throw new SandboxException("the cgroup " + dir + ", which crabcan-oci names for this container, "
                            + "exists already: another container's? Remove it, or name one in linux.cgroupsPath");
                }
            }
            for (Path p = dir; p != null && !Files.isDirectory(p); p = p.getParent()) {
                toCreate.add(p);
            }
        }
        return new Placement(v2, dirs, new ArrayList<>(toCreate)); // sorted: parents first
    }

    /**
     * The cgroups process pid is in, as a container's cgroup that someone else made (a systemd
     * scope around that process): nothing to create, and nothing that {@link #remove} deletes.
     */
    public static Placement placeOf(long pid) throws SandboxException {
        Hierarchies h;
        try {
            h = Hierarchies.parse(Files.readAllLines(Path.of("/proc/self/mountinfo")),
                    Files.readAllLines(Path.of("/proc/" + pid + "/cgroup")));
        } catch (IOException e) {
            throw new SandboxException("cannot read the cgroups of process " + pid + ": " + e, e);
        }
        boolean v2 = h.unifiedDir() != null && (h.v1Dirs().isEmpty()
                || h.unifiedControllers().containsAll(List.of("memory", "pids", "cpu")));
        Map<String, Path> dirs = new LinkedHashMap<>();
        if (v2) {
            dirs.put("", h.unifiedDir());
        } else {
            V1_CONTROLLERS.stream().filter(h.v1Dirs()::containsKey).forEach(c -> dirs.put(c, h.v1Dirs().get(c)));
        }
        return new Placement(v2, dirs, List.of());
    }

    /** A JVM started by a JVM that moved into its leaf counts as in that JVM's cgroup. */
    private static Path ownDir(Path dir) {
        return dir.getFileName() != null && dir.getFileName().toString().matches(CgroupV2.JVM_LEAF_PREFIX + "\\d+")
                ? dir.getParent() : dir;
    }

    private static Path resolve(Path mount, Path own, String path, String defaultName) {
        if (path == null || path.isEmpty()) {
            return own.resolve(defaultName);
        }
        if (List.of(path.split("/")).contains("..")) {
            throw new dev.crabcan.SandboxSpecException("linux.cgroupsPath '" + path + "': '..' is not allowed: the "
                    + "container's cgroup goes below the hierarchy's root or the runtime's own cgroup");
        }
        return path.startsWith("/") ? mount.resolve(path.replaceAll("^/+", "")) : own.resolve(path);
    }

    /**
     * systemd's {@code slice:prefix:name} as the cgroup path systemd gives that unit: the slice
     * {@code a-b.slice} is {@code /a.slice/a-b.slice} ({@code -.slice} is the root), and the unit
     * is the scope {@code prefix-name.scope}, or the slice {@code name} when name ends in .slice.
     */
    public static String systemdPath(String cgroupsPath) {
        String[] f = cgroupsPath.split(":", -1);
        if (f.length != 3) {
            throw new dev.crabcan.SandboxSpecException("linux.cgroupsPath '" + cgroupsPath + "': with --systemd-cgroup "
                    + "it must be slice:prefix:name, e.g. system.slice:crabcan:ID");
        }
        String slice = f[0].isEmpty() ? "-.slice" : f[0];
        String unit = f[2].endsWith(".slice") ? f[2] : (f[1].isEmpty() ? "" : f[1] + "-") + f[2] + ".scope";
        for (String part : List.of(slice, unit)) {
            if (part.contains("/") || part.equals(".") || part.equals("..") || f[2].isEmpty()) {
                throw new dev.crabcan.SandboxSpecException("linux.cgroupsPath '" + cgroupsPath + "': '" + part
                        + "' is no systemd unit name");
            }
        }
        if (!slice.endsWith(".slice")) {
            throw new dev.crabcan.SandboxSpecException("linux.cgroupsPath '" + cgroupsPath + "': '" + slice
                    + "' is no slice (a slice's name ends in .slice)");
        }
        StringBuilder path = new StringBuilder();
        if (!slice.equals("-.slice")) {
            String stem = slice.substring(0, slice.length() - ".slice".length());
            if (stem.startsWith("-") || stem.endsWith("-") || stem.contains("--")) {
                throw new dev.crabcan.SandboxSpecException("linux.cgroupsPath '" + cgroupsPath + "': '" + slice
                        + "' is no valid slice name");
            }
            int dash = -1;
            do {
                dash = stem.indexOf('-', dash + 1);
                path.append('/').append(dash < 0 ? stem : stem.substring(0, dash)).append(".slice");
            } while (dash >= 0);
        }
        return path.append('/').append(unit).toString();
    }

    /**
     * Makes the placement's directories (the caller has recorded {@link Placement#toCreate} first,
     * so that a runtime killed meanwhile leaves nothing {@link #remove} cannot find) and applies
     * the limits and the tuning. On cgroup v2 the controllers they need are enabled on the way
     * down, starting at the nearest directory that existed.
     */
    public static RuntimeCgroup create(Placement p, Limits limits, CgroupTuning tuning) throws SandboxException {
        tuning.checkFor(p.v2());
        RuntimeCgroup cgroup = new RuntimeCgroup(p.v2(), p.dirs(), p.toCreate());
        try {
            if (p.v2()) {
                Path dir = p.dirs().get("");
                List<String> needed = new ArrayList<>(CgroupV2.controllers(limits));
                tuning.controllers().stream().filter(c -> !needed.contains(c)).forEach(needed::add);
                Path top = p.toCreate().isEmpty() ? dir : p.toCreate().get(0).getParent();
                List<String> available = CgroupV2.words(top.resolve("cgroup.controllers"));
                if (!available.containsAll(needed)) {
                    throw new UnsupportedHostException("the cgroup v2 controllers " + needed + " are not all available "
                            + "in " + top + " (cgroup.controllers: " + available + "), where the container's cgroup "
                            + dir + " goes: enable them there, or name another place in linux.cgroupsPath");
                }
                for (Path d : p.toCreate()) {
                    CgroupV2.enable(d.getParent(), needed);
                    mkdir(d);
                }
                CgroupV2.apply(dir, limits, needed.contains("io"));
            } else {
                Path cpuset = p.dirs().get("cpuset");
                for (Path d : p.toCreate()) {
                    mkdir(d);
                    if (cpuset != null && cpuset.startsWith(d)) {
                        JvmCgroupTree.inheritCpuset(d); // each one made on the way
                    }
                }
                CgroupV1.apply(p.dirs(), limits);
            }
            tuning.apply(p.v2(), p.dirs());
        } catch (SandboxException | RuntimeException e) {
            cgroup.remove();
            throw e;
        }
        return cgroup;
    }

    private static void mkdir(Path dir) throws SandboxException {
        try {
            Files.createDirectory(dir);
        } catch (java.nio.file.FileAlreadyExistsException e) {
            // Made meanwhile by the engine or another container of the same parent; not ours to remove then,
            // but the record says it is: rmdir of a cgroup that still holds others fails harmlessly.
        } catch (AccessDeniedException e) {
            throw new SandboxException("cannot create the cgroup " + dir + ": permission denied for uid "
                    + dev.crabcan.internal.host.HostInfo.get().euid() + "; the container's limits need a cgroup this "
                    + "user may write: run the engine as root, or give it a delegated cgroup v2 subtree");
        } catch (IOException e) {
            throw new SandboxException("cannot create the cgroup " + dir + ": " + e, e);
        }
    }

    /** The cgroup recorded by {@link #record}, for a later command. */
    public static RuntimeCgroup of(Map<String, Object> record) {
        Map<String, Path> dirs = new LinkedHashMap<>();
        ((Map<?, ?>) record.get("dirs")).forEach((k, v) -> dirs.put((String) k, Path.of((String) v)));
        List<Path> created = ((List<?>) record.get("created")).stream().map(x -> Path.of((String) x)).toList();
        return new RuntimeCgroup(Boolean.TRUE.equals(record.get("v2")), dirs, created);
    }

    /** What a later command needs to find the placement's cgroup again (JSON-ready). */
    public static Map<String, Object> record(Placement p) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("v2", p.v2());
        Map<String, Object> dirs = new LinkedHashMap<>();
        p.dirs().forEach((k, v) -> dirs.put(k, v.toString()));
        m.put("dirs", dirs);
        m.put("created", p.toCreate().stream().map(Path::toString).toList());
        return m;
    }

    /** The cgroup.procs files the container's init is put into before it runs anything. */
    public List<Path> procsFiles() {
        return dirs.values().stream().distinct().map(d -> d.resolve("cgroup.procs")).toList();
    }

    /** The pids of every process in the container's cgroup. */
    public List<Long> pids() {
        TreeSet<Long> pids = new TreeSet<>();
        for (Path f : procsFiles()) {
            CgroupV2.words(f).forEach(w -> pids.add(Long.parseLong(w)));
        }
        return new ArrayList<>(pids);
    }

    /** Whether the container can be paused here: cgroup v2, or a v1 freezer hierarchy. */
    public boolean canFreeze() {
        return v2 ? Files.exists(dirs.get("").resolve("cgroup.freeze")) : dirs.containsKey("freezer");
    }

    /** Freezes or thaws every process of the container, returning once the kernel says it is done. */
    public void freeze(boolean frozen) throws SandboxException {
        if (!canFreeze()) {
            throw new UnsupportedHostException("pause needs a cgroup v2 hierarchy or a cgroup v1 freezer hierarchy; "
                    + "this container's cgroup " + dirs.values() + " has neither");
        }
        for (int attempt = 0; attempt < 1000; attempt++) {
            if (v2) {
                JvmCgroupTree.write(dirs.get("").resolve("cgroup.freeze"), frozen ? "1" : "0");
            } else {
                JvmCgroupTree.write(dirs.get("freezer").resolve("freezer.state"), frozen ? "FROZEN" : "THAWED");
            }
            if (frozen() == frozen) {
                return;
            }
            try {
                Thread.sleep(1); // FREEZING: tasks are still being stopped
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        throw new SandboxException("the cgroup of the container " + dirs.values() + " did not become "
                + (frozen ? "frozen" : "thawed"));
    }

    public boolean frozen() {
        if (v2) {
            return CgroupFiles.keyed(dirs.get("").resolve("cgroup.events"), "frozen", 0) == 1;
        }
        Path freezer = dirs.get("freezer");
        return freezer != null && "FROZEN".equals(CgroupFiles.readOrNull(freezer.resolve("freezer.state")));
    }

    /** Changes the limits and the tuning that are set (OCI update); others stay as they are. */
    public void update(Limits limits, CgroupTuning tuning) throws SandboxException {
        tuning.checkFor(v2);
        tuning.applyBurstFirst(v2, dirs);
        if (v2) {
            CgroupV2.apply(dirs.get(""), limits, CgroupV2.words(dirs.get("").resolve("cgroup.controllers")).contains("io"));
        } else {
            CgroupV1.apply(dirs, limits);
        }
        tuning.apply(v2, dirs);
    }

    /**
     * Kills what is left in the container's cgroup and removes the directories made for it,
     * children first; a directory this runtime did not make is left as it is.
     */
    public void remove() {
        if (frozen()) {
            try {
                freeze(false); // a frozen task dies of SIGKILL only once thawed (v1)
            } catch (SandboxException e) {
                LOG.debug("thawing {} before removing it: {}", dirs.values(), e.toString());
            }
        }
        List<Path> ours = new ArrayList<>(created);
        java.util.Collections.reverse(ours);
        for (Path dir : ours) {
            if (dirs.containsValue(dir)) {
                CgroupFiles.killAndRemove(dir);
            } else {
                try {
                    Files.deleteIfExists(dir);
                } catch (IOException e) {
                    // Another container's cgroup is still below it (the engine's parent): it stays.
                }
            }
        }
    }

    public String describe() {
        return (v2 ? "cgroup v2 " : "cgroup v1 ") + dirs.values().stream().distinct().toList();
    }
}
