package dev.crabcan.internal.cgroup;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cgroups a process joining a running sandbox (OCI exec) must enter: those of the sandbox's
 * init, in every hierarchy where they differ from this JVM's, whoever made them (a runtime, an
 * engine), as their cgroup.procs files.
 */
public final class JoinedCgroups {
    private static final Logger log = LoggerFactory.getLogger(JoinedCgroups.class);

    private JoinedCgroups() {}

    /**
     * The cgroup.procs files of pid's cgroups that are not this JVM's. A caller that may not write
     * one (an ordinary user in a cgroup not delegated to it) is not given it: it stays where it
     * is, as rootless runtimes do; root always is.
     */
    public static List<Path> procsFiles(long pid, boolean root) throws IOException {
        return parse(Files.readAllLines(Path.of("/proc/self/mountinfo")), Files.readAllLines(Path.of("/proc/self/cgroup")),
                Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))).stream()
                .filter(p -> {
                    if (root || Files.isWritable(p)) {
                        return true;
                    }
                    log.debug("not joining {}: this user may not write it", p);
                    return false;
                }).toList();
    }

    static List<Path> parse(List<String> mountinfo, List<String> own, List<String> theirs) {
        Map<String, String> ours = byHierarchy(own);
        List<Path> out = new ArrayList<>();
        byHierarchy(theirs).forEach((hierarchy, path) -> {
            if (path.equals(ours.get(hierarchy))) {
                return;
            }
            String controllers = hierarchy.substring(hierarchy.indexOf(':') + 1);
            for (String line : mountinfo) {
                String[] f = line.split(" ");
                int dash = Arrays.asList(f).indexOf("-");
                if (dash < 0 || dash + 3 >= f.length) {
                    continue;
                }
                List<String> options = Arrays.asList(f[dash + 3].split(","));
                boolean match = controllers.isEmpty() ? f[dash + 1].equals("cgroup2")
                        : f[dash + 1].equals("cgroup") && options.containsAll(Arrays.asList(controllers.split(",")));
                if (match) {
                    out.add(Hierarchies.dir(Path.of(Hierarchies.unescape(f[4])), f[3], path).resolve("cgroup.procs"));
                    return;
                }
            }
            log.debug("the sandbox's cgroup {} of hierarchy {} is not mounted here: not joined", path, hierarchy);
        });
        return out;
    }

    /** "id:controllers" to the cgroup's path, from a /proc/PID/cgroup. */
    private static Map<String, String> byHierarchy(List<String> procCgroup) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : procCgroup) {
            int second = line.indexOf(':', line.indexOf(':') + 1);
            if (second > 0) {
                m.put(line.substring(0, second), line.substring(second + 1));
            }
        }
        return m;
    }
}
