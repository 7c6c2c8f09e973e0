package dev.crabcan.internal.cgroup;

import dev.crabcan.internal.Text;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The directory of this JVM's own cgroup in the unified hierarchy (null if none is mounted) and
 * where that is mounted, and the same for each v1 hierarchy Crabcan uses, from
 * /proc/self/mountinfo and /proc/self/cgroup; v1Hierarchies names each v1 controller's hierarchy
 * as /proc/self/cgroup does (the controllers mounted together, e.g. "cpu,cpuacct").
 */
record Hierarchies(Path unifiedDir, Path unifiedMount, Map<String, Path> v1Dirs, Map<String, Path> v1MountPoints,
        Map<String, String> v1Hierarchies) {

    /** The directory of a cgroup, given its hierarchy's mount point and the mount's root within it. */
    static Path dir(Path mount, String mountRoot, String cgroupPath) {
        String rel = cgroupPath.startsWith(mountRoot) ? cgroupPath.substring(mountRoot.length()) : cgroupPath;
        rel = Text.withoutLeadingSlashes(rel);
        return rel.isEmpty() ? mount : mount.resolve(rel);
    }

    static Hierarchies read() throws IOException {
        return parse(Files.readAllLines(Path.of("/proc/self/mountinfo")), Files.readAllLines(Path.of("/proc/self/cgroup")));
    }

    static Hierarchies parse(List<String> mountinfo, List<String> procCgroup) {
        Path unifiedMount = null;
        String unifiedRoot = "/";
        Map<String, Path> v1Mounts = new LinkedHashMap<>();
        Map<String, String> v1Roots = new LinkedHashMap<>();
        for (String line : mountinfo) {
            String[] f = line.split(" ");
            int dash = Arrays.asList(f).indexOf("-");
            if (dash < 0 || dash + 3 >= f.length) {
                continue;
            }
            String fsType = f[dash + 1];
            Path mountPoint = Path.of(unescape(f[4]));
            if (fsType.equals("cgroup2") && unifiedMount == null) {
                unifiedMount = mountPoint;
                unifiedRoot = f[3];
            } else if (fsType.equals("cgroup")) {
                for (String opt : f[dash + 3].split(",")) {
                    if (Set.of("memory", "pids", "cpu", "cpuacct", "cpuset", "blkio", "freezer").contains(opt)) {
                        v1Mounts.putIfAbsent(opt, mountPoint);
                        v1Roots.putIfAbsent(opt, f[3]);
                    }
                }
            }
        }
        String unifiedPath = null;
        Map<String, Path> v1Dirs = new LinkedHashMap<>();
        Map<String, String> v1Hierarchies = new LinkedHashMap<>();
        for (String line : procCgroup) {
            String[] f = line.split(":", 3);
            if (f.length < 3) {
                continue;
            }
            if (f[0].equals("0") && f[1].isEmpty()) {
                unifiedPath = f[2];
            }
            for (String controller : f[1].split(",")) {
                if (v1Mounts.containsKey(controller)) {
                    v1Dirs.put(controller, dir(v1Mounts.get(controller), v1Roots.get(controller), f[2]));
                    v1Hierarchies.put(controller, f[1]);
                }
            }
        }
        Path unifiedDir = unifiedMount == null || unifiedPath == null ? null : dir(unifiedMount, unifiedRoot, unifiedPath);
        return new Hierarchies(unifiedDir, unifiedMount, v1Dirs, v1Mounts, v1Hierarchies);
    }

    /** mountinfo escapes space, tab, newline and backslash as octal. */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            if (s.charAt(i) == '\\' && i + 3 < s.length()) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(s.charAt(i));
            }
        }
        return out.toString();
    }

    /** The controllers the unified hierarchy offers at the JVM's cgroup (empty on hybrid hosts like this one). */
    List<String> unifiedControllers() {
        if (unifiedDir == null) {
            return List.of();
        }
        String c = CgroupFiles.readOrNull(unifiedDir.resolve("cgroup.controllers"));
        return c == null || c.isEmpty() ? List.of() : new ArrayList<>(Arrays.asList(c.split(" ")));
    }
}
