package dev.crabcan.internal.cgroup;

import dev.crabcan.Limits;
import dev.crabcan.SandboxException;
import dev.crabcan.internal.Text;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * What both drivers share: sandbox cgroups live in {@code <parent>/crabcan-<jvm pid>/}, one
 * such directory per parent (v1 has a parent per hierarchy). Directories of JVMs that are gone
 * are removed when a driver starts, and this JVM's at its shutdown; so is the (v2) leaf a dead
 * JVM moved its processes into, when nothing it started is left there. Nothing else is touched.
 */
abstract class JvmCgroupTree implements CgroupDriver {
    private final List<Path> parents;
    private final String jvmDirName = "crabcan-" + ProcessHandle.current().pid();
    private final AtomicLong counter = new AtomicLong();
    private final Set<SandboxCgroup> live = ConcurrentHashMap.newKeySet();

    JvmCgroupTree(List<Path> parents) {
        this.parents = List.copyOf(parents);
        removeStale();
        Runtime.getRuntime().addShutdownHook(new Thread(this::removeAll, "crabcan-cgroup-cleanup"));
    }

    Path jvmDir(Path parent) {
        return parent.resolve(jvmDirName);
    }

    String nextName() {
        return "sandbox-" + counter.incrementAndGet();
    }

    <T extends SandboxCgroup> T track(T cgroup) {
        live.add(cgroup);
        return cgroup;
    }

    void untrack(SandboxCgroup cgroup) {
        live.remove(cgroup);
    }

    /** mkdir that tolerates an existing directory and names the fix when it may not. */
    static void mkdir(Path dir) throws SandboxException {
        if (!mkdirInExisting(dir)) {
            throw new SandboxException("cannot create the cgroup " + dir + ": " + dir.getParent() + " does not exist");
        }
    }

    /**
     * A sandbox's cgroup, and this JVM's directory above it when that is missing: the first
     * sandbox below this parent does not pay for the check each one after it would.
     */
    static void mkdirSandbox(Path dir) throws SandboxException {
        if (!mkdirInExisting(dir)) {
            mkdir(dir.getParent());
            mkdir(dir);
        }
    }

    /** mkdir; false when the parent directory does not exist. */
    private static boolean mkdirInExisting(Path dir) throws SandboxException {
        try {
            Files.createDirectory(dir);
        } catch (FileAlreadyExistsException e) {
            // Ours from an earlier sandbox of this JVM.
        } catch (NoSuchFileException e) {
            return false;
        } catch (AccessDeniedException e) {
            throw new dev.crabcan.CgroupUnavailableException(java.util.List.of(), "cannot create the cgroup " + dir
                    + ": permission denied for uid "
                    + dev.crabcan.internal.host.HostInfo.get().euid() + "; limits need a cgroup this user may write: "
                    + "run as root, or on cgroup v2 run the JVM in a cgroup delegated to this user (e.g. systemd-run "
                    + "--user --scope -p Delegate=yes java ...), or name one with -D" + Cgroups.PARENT_PROPERTY + "=DIR");
        } catch (IOException e) {
            throw new SandboxException("cannot create the cgroup " + dir + ": " + e, e);
        }
        return true;
    }

    /** cpuset.cpus and cpuset.mems where set; the kernel refuses what the parent does not have, which the error names. */
    static void writeCpuset(Path dir, Limits limits) throws SandboxException {
        String[][] files = {{"cpuset.cpus", limits.cpusetCpus().orElse(null), "cpusetCpus"},
            {"cpuset.mems", limits.cpusetMems().orElse(null), "cpusetMems"}};
        for (String[] f : files) {
            if (f[1] == null) {
                continue;
            }
            try {
                write(dir.resolve(f[0]), f[1]);
            } catch (SandboxException e) {
                Path parent = dir.getParent().resolve(f[0] + (Files.exists(dir.resolve(f[0] + ".effective"))
                        ? ".effective" : ""));
                throw new dev.crabcan.SandboxSpecException("Limits." + f[2] + "(\"" + f[1] + "\") is not within what "
                        + "the sandbox's parent cgroup has (" + parent + ": " + CgroupFiles.readOrNull(parent) + "): "
                        + e.getMessage());
            }
        }
    }

    /**
     * A new v1 cpuset cgroup has no CPUs and no memory nodes, and takes no process until it has:
     * dir gets its parent's.
     */
    static void inheritCpuset(Path dir) throws SandboxException {
        for (String file : List.of("cpuset.cpus", "cpuset.mems")) {
            String value = CgroupFiles.readOrNull(dir.getParent().resolve(file));
            if (value == null) {
                throw new SandboxException("cannot read " + dir.getParent().resolve(file) + " for the cpuset cgroup "
                        + dir);
            }
            write(dir.resolve(file), value);
        }
    }

    static void write(Path file, String value) throws SandboxException {
        try {
            CgroupFiles.write(file, value);
        } catch (IOException e) {
            throw new SandboxException("cannot write '" + value + "' to " + file + ": " + e.getMessage(), e);
        }
    }

    private void removeStale() {
        for (Path parent : parents) {
            try (java.nio.file.DirectoryStream<Path> s = Files.newDirectoryStream(parent)) {
                for (Path p : s) {
                    String name = p.getFileName().toString();
                    if (name.startsWith("crabcan-") && Text.isDigits(name.substring("crabcan-".length())) && !alive(p)) {
                        removeTree(p);
                    } else if (Cgroups.isJvmLeaf(name) && !alive(p)) {
                        removeIfEmpty(p);
                    }
                }
            } catch (IOException e) {
                // Nothing to clean where we cannot even list.
            }
        }
    }

    private static boolean alive(Path jvmDir) {
        String name = jvmDir.getFileName().toString();
        long pid = Long.parseLong(name.substring(name.lastIndexOf('-') + 1));
        java.util.Optional<ProcessHandle> handle = ProcessHandle.of(pid);
        return handle.isPresent() && handle.get().isAlive();
    }

    /** A dead JVM's leaf (v2): what the JVM started may live on there, and is not ours to kill. */
    private static void removeIfEmpty(Path leaf) {
        try {
            Files.delete(leaf);
        } catch (IOException e) {
            // Busy: processes the JVM started are still in it.
        }
    }

    private static void removeTree(Path jvmDir) {
        try (Stream<Path> s = Files.list(jvmDir)) {
            s.filter(Files::isDirectory).forEach(CgroupFiles::killAndRemove);
        } catch (IOException e) {
            // Already gone.
        }
        CgroupFiles.killAndRemove(jvmDir);
    }

    private void removeAll() {
        live.forEach(SandboxCgroup::remove);
        parents.forEach(p -> removeTree(jvmDir(p)));
    }
}
