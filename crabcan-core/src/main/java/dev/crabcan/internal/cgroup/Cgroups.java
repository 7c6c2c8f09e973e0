package dev.crabcan.internal.cgroup;

import dev.crabcan.SandboxException;
import dev.crabcan.internal.Text;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Picks the cgroup driver for this host once per JVM: cgroup v2 where the unified hierarchy
 * offers the controllers (most hosts), else v1. Sandbox cgroups are created below
 * {@code <parent>/crabcan-<jvm pid>/}, where the parent is the JVM's own cgroup or the one the
 * system property {@value #PARENT_PROPERTY} (environment {@value #PARENT_ENV}) names.
 */
public final class Cgroups {
    private static final Logger log = LoggerFactory.getLogger(Cgroups.class);
    public static final String PARENT_PROPERTY = "crabcan.cgroup.parent";
    public static final String PARENT_ENV = "CRABCAN_CGROUP_PARENT";
    /** "1" or "2" forces a version; for tests and odd hosts. */
    public static final String VERSION_PROPERTY = "crabcan.cgroup.version";

    /** The driver of each cgroup parent in use; the key "" is the default parent's. */
    private static final java.util.Map<String, CgroupDriver> DRIVERS = new java.util.HashMap<>();

    private Cgroups() {}

    /** Whether a cgroup's name is that of a JVM's leaf ({@code crabcan-jvm-<pid>}). */
    static boolean isJvmLeaf(String name) {
        return name.startsWith(CgroupV2.JVM_LEAF_PREFIX) && Text.isDigits(name.substring(CgroupV2.JVM_LEAF_PREFIX.length()));
    }

    /** The default client's driver: the parent of the system property, environment, or the JVM's own cgroup. */
    public static CgroupDriver driver() throws SandboxException {
        return driver(null);
    }

    /** The driver for sandboxes below {@code configuredParent} (null: the default parent), made once per parent. */
    public static synchronized CgroupDriver driver(Path configuredParent) throws SandboxException {
        String key = configuredParent == null ? "" : configuredParent.toString();
        CgroupDriver driver = DRIVERS.get(key);
        if (driver == null) {
            Hierarchies h;
            try {
                h = Hierarchies.read();
            } catch (IOException e) {
                throw new SandboxException("cannot read this process's cgroups: " + e, e);
            }
            String configured = configuredParent != null ? configuredParent.toString() : System.getProperty(PARENT_PROPERTY, System.getenv(PARENT_ENV));
            String forced = System.getProperty(VERSION_PROPERTY, "");
            // Hybrid hosts mount cgroup2 too, but with the controllers still bound to v1 hierarchies.
            boolean v2 = forced.equals("2") || (!forced.equals("1") && h.unifiedDir() != null
                    && (h.v1Dirs().isEmpty() || h.unifiedControllers().containsAll(List.of("memory", "pids", "cpu"))));
            if (v2) {
                if (h.unifiedDir() == null) {
                    throw new SandboxException("cgroup v2 was asked for, but no cgroup2 file system is mounted");
                }
                Path own = h.unifiedDir();
                // A JVM started by a JVM that moved into its leaf works below the same cgroup as that JVM.
                if (own.getFileName() != null && isJvmLeaf(own.getFileName().toString())) {
                    own = own.getParent();
                }
                Path parent = configured == null ? own : Path.of(configured);
                driver = new CgroupV2(parent, configured != null);
            } else {
                if (h.v1Dirs().isEmpty()) {
                    throw new dev.crabcan.CgroupUnavailableException(List.of(), "no cgroup hierarchy with the memory, "
                            + "pids or cpu controller is mounted; mount one (cgroup v2, or v1 memory, pids, cpu,cpuacct)");
                }
                driver = CgroupV1.of(h.v1Dirs(), h.v1MountPoints(), h.v1Hierarchies(), configured);
            }
            log.debug("cgroups: {}", driver.describe());
            DRIVERS.put(key, driver);
        }
        return driver;
    }
}
