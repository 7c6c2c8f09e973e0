package dev.crabcan.internal.cgroup;

import dev.crabcan.SandboxException;
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
 * are removed when a driver starts, and this JVM's at its shutdown. Nothing else is touched.
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
            throw new SandboxException("cannot create the cgroup " + dir + ": permission denied for uid "
                    + dev.crabcan.internal.host.HostInfo.get().euid() + "; limits need a cgroup this user may write: "
                    + "run as root, or on cgroup v2 delegate one (e.g. systemd-run --user -p Delegate=yes --scope ...) "
                    + "and name it with -D" + Cgroups.PARENT_PROPERTY + "=DIR");
        } catch (IOException e) {
            throw new SandboxException("cannot create the cgroup " + dir + ": " + e, e);
        }
        return true;
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
            try (Stream<Path> s = Files.list(parent)) {
                s.filter(p -> p.getFileName().toString().matches("crabcan-\\d+") && !alive(p)).forEach(JvmCgroupTree::removeTree);
            } catch (IOException e) {
                // Nothing to clean where we cannot even list.
            }
        }
    }

    private static boolean alive(Path jvmDir) {
        long pid = Long.parseLong(jvmDir.getFileName().toString().substring("crabcan-".length()));
        return ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false);
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
