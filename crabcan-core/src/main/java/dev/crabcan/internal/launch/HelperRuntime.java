package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.internal.Text;
import dev.crabcan.internal.plan.PlanCompiler;
import dev.crabcan.internal.host.HostInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The helper binary and this JVM's private run directory. The helper is never run from a file
 * anyone can reach by a path: for each zygote it is written from the jar into a new file of the
 * run directory (mode 0000 until then), the file is unlinked at once, its bytes are hashed
 * through a read-only descriptor of it and compared with the hash the build computed, and the
 * zygote is executed through that descriptor ({@code /proc/<this JVM>/fd/N}). Whoever can reach
 * the run directory had the moment between create and unlink to chmod and open the file, and
 * could then write it between the hash and the exec: no sandbox may reach a run directory (see
 * {@link #exposure}), and only a sealed memfd, which takes a native call, would close that for
 * other processes of the user too. Every directory on the way to the run directory is checked
 * first (see {@link PrivateDirs}).
 */
public final class HelperRuntime {
    private static final Logger log = LoggerFactory.getLogger(HelperRuntime.class);
    public static final String RESOURCE = "/dev/crabcan/native/linux-x86_64/crabcan-helper";
    public static final String CACHE_PROPERTY = "crabcan.cache.dir";
    public static final String CACHE_ENV = "CRABCAN_CACHE_DIR";

    /** The runtime of each cache directory in use, with how many clients hold it; the default's is never released. */
    private static final java.util.Map<Path, HelperRuntime> RUNTIMES = new java.util.HashMap<>();
    private static HelperRuntime defaultRuntime;

    private final Path cache;
    private final Path runDir;
    /** What to delete when the runtime ends: the run directory, or a fresh cache made for this JVM. */
    private final Path remove;
    private final ZygoteLauncher launcher;
    /** Names the helper's file of each zygote start: unique in the run directory, which is this JVM's. */
    private int starts;
    private int users;

    private HelperRuntime(Path cache, Path runDir, Path remove) {
        this.cache = cache;
        this.runDir = runDir;
        this.remove = remove;
        this.launcher = new ZygoteLauncher(this, runDir);
    }

    /** The default client's runtime (the cache directory of the system property, environment or usual location). */
    public static synchronized HelperRuntime get() throws SandboxException {
        if (defaultRuntime == null) {
            Location location = cacheLocation(HostInfo.get().euid());
            defaultRuntime = RUNTIMES.get(location.dir());
            if (defaultRuntime == null) {
                defaultRuntime = create(location);
                RUNTIMES.put(location.dir(), defaultRuntime);
            }
            defaultRuntime.users++; // held for the JVM's life
        }
        return defaultRuntime;
    }

    /**
     * The runtime of a client's cache directory ({@code null}: the default one), shared by every
     * client of the same directory; {@link #release} gives it back.
     */
    public static synchronized HelperRuntime acquire(Path configured) throws SandboxException {
        HelperRuntime r = configured == null ? get() : RUNTIMES.get(configured);
        if (r == null) {
            r = create(new Location(configured, true));
            RUNTIMES.put(configured, r);
        }
        r.users++;
        return r;
    }

    /** A client is done with the runtime: the last one stops its zygote and removes its run directory. */
    public static void release(HelperRuntime r) {
        synchronized (HelperRuntime.class) {
            if (--r.users > 0) {
                return;
            }
            RUNTIMES.values().remove(r);
        }
        r.launcher.stop();
        deleteTreeWithin(r.remove);
    }

    private static HelperRuntime create(Location location) throws SandboxException {
        int euid = HostInfo.get().euid();
        Path fresh = null;
        Dirs dirs;
        try {
            dirs = prepare(location.dir(), euid);
        } catch (IOException e) {
            if (location.configured()) {
                throw cacheProblem(location.dir(), "is refused: " + why(e));
            }
            fresh = freshCache();
            log.warn("not using the Crabcan cache directory {}: {}; using {} instead (removed at exit)",
                    location.dir(), why(e), fresh);
            try {
                dirs = prepare(fresh, euid);
            } catch (IOException e2) {
                deleteTree(fresh);
                throw cacheProblem(fresh, "is refused: " + why(e2));
            }
        }
        Path remove = fresh != null ? fresh : dirs.run();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTreeWithin(remove), "crabcan-cleanup"));
        HelperRuntime runtime = new HelperRuntime(dirs.cache(), dirs.run(), remove);
        runtime.launcher.startZygoteEarly();
        return runtime;
    }

    /**
     * The helper, written anew, unlinked, and checked (see the class comment): the caller executes
     * {@link OpenHelper#execPath()} and then closes it.
     */
    synchronized OpenHelper openFreshHelper() throws SandboxException {
        Path file = runDir.resolve("helper." + starts++);
        String sha = helperSha();
        FileChannel writer = null;
        FileChannel reader = null;
        try {
            byte[] binary;
            try (InputStream in = resource(RESOURCE)) {
                binary = in.readAllBytes();
            }
            java.util.Set<String> before = fdsOf(file.toString());
            // Mode 0000 until unlinked: opening it by name in the moment before takes a chmod first.
            writer = FileChannel.open(file, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("---------")));
            String written = newFd(before, file.toString(), file);
            Files.delete(file);
            for (java.nio.ByteBuffer b = java.nio.ByteBuffer.wrap(binary); b.hasRemaining(); ) {
                writer.write(b);
            }
            Files.setPosixFilePermissions(Path.of("/proc/self/fd", written), PosixFilePermissions.fromString("r-x------"));
            String deleted = file + " (deleted)";
            before = fdsOf(deleted);
            reader = FileChannel.open(Path.of("/proc/self/fd", written), StandardOpenOption.READ);
            String fd = newFd(before, deleted, file);
            writer.close();
            writer = null;
            String hashed = sha256(reader);
            if (!hashed.equals(sha)) {
                throw new SandboxException("the helper written to " + file + " (unlinked) was changed before it could "
                        + "run (sha256 " + hashed + ", expected " + sha + "): another process of this user opened it in "
                        + "the run directory " + runDir + "; nothing was run");
            }
            OpenHelper open = new OpenHelper(reader, "/proc/" + Files.readSymbolicLink(Path.of("/proc/self")) + "/fd/"
                    + fd);
            reader = null;
            return open;
        } catch (IOException e) {
            throw cacheProblem(cache, "cannot hold the helper binary: " + e);
        } finally {
            closeQuietly(writer);
            closeQuietly(reader);
        }
    }

    /**
     * Starts the helper, checked as a zygote's is, with these arguments (one of its host-side tools,
     * such as {@code --hook}) and the rest of what pb sets (environment, redirects).
     */
    public Process startHelper(ProcessBuilder pb, java.util.List<String> args) throws SandboxException, IOException {
        try (OpenHelper helper = openFreshHelper()) {
            java.util.List<String> command = new java.util.ArrayList<>();
            command.add(helper.execPath());
            command.addAll(args);
            return pb.command(command).start();
        }
    }

    /** The one file descriptor that names the file now and did not before. */
    private static String newFd(java.util.Set<String> before, String name, Path file) throws IOException {
        java.util.Set<String> opened = fdsOf(name);
        opened.removeAll(before);
        if (opened.size() != 1) {
            throw new IOException("cannot tell which file descriptor of this JVM holds " + file + " (new ones: "
                    + opened + "); is /proc mounted?");
        }
        return opened.iterator().next();
    }

    /** The helper, open, and the path that executes exactly that open file while it stays open. */
    record OpenHelper(FileChannel channel, String execPath) implements java.io.Closeable {
        @Override
        public void close() {
            closeQuietly(channel);
        }
    }

    /** This JVM's file descriptors that have a file open by the name /proc shows for it. */
    private static java.util.Set<String> fdsOf(String name) throws IOException {
        java.util.Set<String> fds = new java.util.HashSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path e : entries) {
                try {
                    if (Files.readSymbolicLink(e).toString().equals(name)) {
                        fds.add(e.getFileName().toString());
                    }
                } catch (IOException closed) {
                    // closed meanwhile (the directory stream's own fd among them)
                }
            }
        }
        return fds;
    }

    private static void closeQuietly(java.io.Closeable c) {
        if (c != null) {
            try {
                c.close();
            } catch (IOException e) {
                log.debug("closing the helper: {}", e.toString());
            }
        }
    }

    /**
     * The cache directory with every link resolved. It holds this JVM's run directory (its control
     * socket, the files it binds into sandboxes, the helper's file for a moment at each zygote
     * start), so no sandbox may see it.
     */
    public Path cacheDir() {
        return cache;
    }

    /**
     * This JVM's caches (every client's) and the places where another JVM of this user would put its own (the
     * usual locations, whatever this JVM chose): a sandbox given any of them could talk to that
     * JVM's control socket or change what it binds into its sandboxes. In a user namespace
     * (unshare -r, rootless podman) the same user also runs JVMs outside it, whose locations
     * follow from its id outside, its home directory ($HOME, and the one /etc/passwd gives that
     * id) and /tmp. Real paths where they exist; {@link #exposure} resolves the others through their
     * nearest existing directory, so a link on the way (a home or ~/.cache on another disk) leads
     * where the cache would be made.
     */
    public java.util.List<Path> cacheDirsOfThisUser() {
        int euid = HostInfo.get().euid();
        java.util.List<Path> dirs = new java.util.ArrayList<>(java.util.List.of(cache));
        // Every client of this JVM has its cache (its run directory, its zygote's control socket),
        // and the default client would use the configured or usual one.
        synchronized (HelperRuntime.class) {
            for (HelperRuntime r : RUNTIMES.values()) {
                dirs.add(r.cache);
            }
        }
        dirs.add(cacheLocation(euid).dir());
        Path xdg = xdgCacheHome();
        if (xdg != null) {
            dirs.add(xdg.resolve("crabcan"));
        }
        java.util.Set<String> homes = new java.util.LinkedHashSet<>();
        homes.add(System.getProperty("user.home"));
        String home = System.getenv("HOME");
        if (home != null && !home.isBlank()) {
            homes.add(home);
        }
        long outside = HostInfo.get().parentUid();
        homes.addAll(homesOf(outside));
        for (String h : homes) {
            dirs.add(Path.of(h, ".cache", "crabcan"));
        }
        for (String tmp : new java.util.LinkedHashSet<>(java.util.List.of(System.getProperty("java.io.tmpdir"), "/tmp"))) {
            for (long id : outside >= 0 && outside != euid ? new long[] {euid, outside} : new long[] {euid}) {
                Path dir = Path.of(tmp, "crabcan-" + id);
                // Anybody may make this name in a sticky directory: only this user's own directory (or none)
                // is a cache; a JVM refuses the rest, and following another user's link would let it decide.
                if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS) || ownDirectory(dir, euid)) {
                    dirs.add(dir);
                }
            }
        }
        java.util.List<Path> real = new java.util.ArrayList<>();
        for (Path d : dirs) {
            Path abs = d.toAbsolutePath().normalize();
            try {
                real.add(abs.toRealPath());
            } catch (IOException e) {
                real.add(abs); // not there (yet): its name is what a bind would contain
            }
        }
        return real;
    }

    /**
     * Why one of these host paths must not be given to a sandbox: it would show it one of
     * {@link #cacheDirsOfThisUser()}, by any name (see {@link CacheVisibility}); null if none would.
     */
    public String exposure(java.util.List<Path> sources) throws SandboxException {
        if (sources.isEmpty()) {
            return null;
        }
        java.util.List<Path> caches = cacheDirsOfThisUser();
        java.util.List<dev.crabcan.internal.host.MountInfo.Mount> mounts;
        try {
            mounts = dev.crabcan.internal.host.MountInfo.read();
        } catch (IOException e) {
            throw new SandboxException("cannot read /proc/self/mountinfo (" + e + "), which tells whether a bind would "
                    + "show a sandbox a Crabcan cache directory; is /proc mounted?", e);
        }
        CacheVisibility.Locator locator = CacheVisibility.locator(mounts);
        for (Path source : sources) {
            try {
                String why = CacheVisibility.exposure(source.toAbsolutePath().normalize(), caches, mounts, locator);
                if (why != null) {
                    return why;
                }
            } catch (IOException e) {
                throw new SandboxException("cannot tell whether " + source + " would show a sandbox a Crabcan cache "
                        + "directory: " + e.getMessage(), e);
            }
        }
        return null;
    }

    /** Whether dir is a directory of this user's, itself and not through a link. */
    private static boolean ownDirectory(Path dir, int euid) {
        try {
            return Files.isDirectory(dir, LinkOption.NOFOLLOW_LINKS)
                    && (int) Files.getAttribute(dir, "unix:uid", LinkOption.NOFOLLOW_LINKS) == euid;
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** $XDG_CACHE_HOME, which the XDG specification ignores unless it is an absolute path; null if none. */
    private static Path xdgCacheHome() {
        String xdg = System.getenv("XDG_CACHE_HOME");
        return xdg != null && xdg.startsWith("/") ? Path.of(xdg) : null;
    }

    /** The home directories /etc/passwd gives this uid. */
    static java.util.List<String> homesOf(long uid) {
        java.util.List<String> homes = new java.util.ArrayList<>();
        try {
            for (String line : Files.readAllLines(Path.of("/etc/passwd"))) {
                String[] f = line.split(":", -1);
                if (f.length >= 7 && f[2].equals(Long.toString(uid)) && !f[5].isBlank()) {
                    homes.add(f[5]);
                }
            }
        } catch (IOException | RuntimeException e) {
            log.debug("reading /etc/passwd: {}", e.toString());
        }
        return homes;
    }

    /** Private to this JVM: control sockets live here, and sandboxes attach their new root here. */
    public Path runDir() {
        return runDir;
    }

    /** The launcher of this thread's launches: this JVM's zygote unless {@link #withLauncher} chose another. */
    public Launcher launcher() {
        Launcher chosen = THREAD_LAUNCHER.get();
        return chosen != null ? chosen : launcher;
    }

    /**
     * The seam for choosing, per launch, who forks the sandbox helper: the sandboxes that task
     * starts on this thread are launched by the given launcher (crabcan-oci's service launches
     * each request's sandboxes through the calling front end, see {@link RemoteZygotes}). A
     * thread-scoped choice rather than a client object: the public API has no such object yet.
     */
    public static <T> T withLauncher(Launcher chosen, java.util.concurrent.Callable<T> task) throws Exception {
        Launcher before = THREAD_LAUNCHER.get();
        THREAD_LAUNCHER.set(chosen);
        try {
            return task.call();
        } finally {
            THREAD_LAUNCHER.set(before);
        }
    }

    private static final ThreadLocal<Launcher> THREAD_LAUNCHER = new ThreadLocal<>();

    /** Where the cache is, and whether the user chose it (then it is used or refused, never bypassed). */
    record Location(Path dir, boolean configured) {}

    static Location cacheLocation(int euid) {
        String configured = System.getProperty(CACHE_PROPERTY, System.getenv(CACHE_ENV));
        if (configured != null && !configured.isBlank()) {
            return new Location(Path.of(configured).toAbsolutePath(), true);
        }
        Path xdg = xdgCacheHome();
        if (xdg != null) {
            return new Location(xdg.resolve("crabcan"), false);
        }
        Path home = Path.of(System.getProperty("user.home"));
        if (Files.isDirectory(home) && Files.isWritable(home)) {
            return new Location(home.resolve(".cache").resolve("crabcan").toAbsolutePath(), false);
        }
        return new Location(Path.of(System.getProperty("java.io.tmpdir"), "crabcan-" + euid).toAbsolutePath(), false);
    }

    /**
     * A directory of an unpredictable name for this JVM alone, when the usual one cannot be
     * trusted: its name was free, so nobody else has put anything in it.
     */
    private static Path freshCache() throws SandboxException {
        try {
            return Files.createTempDirectory("crabcan-");
        } catch (IOException e) {
            throw new SandboxException("cannot create a private Crabcan cache directory in java.io.tmpdir ("
                    + e + "); choose one with -D" + CACHE_PROPERTY + "=DIR or the " + CACHE_ENV
                    + " environment variable", e);
        }
    }

    /** The cache's real path and this JVM's run directory in it. */
    private record Dirs(Path cache, Path run) {}

    /** Makes and checks the cache and this JVM's run directory. */
    private static Dirs prepare(Path dir, int euid) throws IOException {
        Path cache = PrivateDirs.create(dir, euid);
        Path socket = cache.resolve("run").resolve(Long.toString(ProcessHandle.current().pid()))
                .resolve(ZygoteLauncher.SOCKET);
        int length = socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (length > ZygoteLauncher.SOCKET_PATH_MAX) {
            throw new Unusable("its control socket's path " + socket + " would be " + length
                    + " bytes long (a Unix socket's path can have at most " + ZygoteLauncher.SOCKET_PATH_MAX
                    + ")");
        }
        Path runs = PrivateDirs.child(cache, "run", euid);
        removeStaleRunDirs(runs, euid);
        Path run = PrivateDirs.child(runs, Long.toString(ProcessHandle.current().pid()), euid);
        // Sandboxes' roots are built on this subdirectory, leaving the rest of the run directory
        // (files the helper binds into sandboxes) visible beside it.
        PrivateDirs.child(run, PlanCompiler.STAGING, euid);
        return new Dirs(cache, run);
    }

    private static String why(IOException e) {
        return e instanceof PrivateDirs.Untrusted || e instanceof Unusable ? e.getMessage() : e.toString();
    }

    /** A cache directory that can be trusted but not used. */
    private static final class Unusable extends IOException {
        private static final long serialVersionUID = 1L;

        Unusable(String message) {
            super(message);
        }
    }

    private static String helperSha() throws SandboxException {
        try (InputStream in = resource(RESOURCE + ".sha256")) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            throw new SandboxException("cannot read the helper binary's hash from the class path: " + e, e);
        }
    }

    /** One of the helper's resources (RESOURCE, RESOURCE + ".sha256"), wherever the crabcan-native jar is. */
    public static InputStream resource(String name) throws SandboxException {
        // Through the class loader: on the module path the helper is a resource of another module (dev.crabcan.helper).
        InputStream in = HelperRuntime.class.getClassLoader().getResourceAsStream(name.substring(1));
        if (in == null) {
            throw new SandboxException("the helper binary " + name + " is not on the class path; "
                    + "add the crabcan-native jar to the application");
        }
        return in;
    }

    private static SandboxException cacheProblem(Path cache, String what) {
        return new SandboxException("the Crabcan cache directory " + cache + " " + what + "; choose another with -D"
                + CACHE_PROPERTY + "=DIR or the " + CACHE_ENV + " environment variable");
    }

    /**
     * Run directories of JVMs that are gone (killed before their shutdown hook ran): only the
     * private directories this user made, deleted without following a link.
     */
    private static void removeStaleRunDirs(Path runs, int euid) throws IOException {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(runs)) {
            for (Path d : dirs) {
                String name = d.getFileName().toString();
                try {
                    if (Text.isDigits(name) && ProcessHandle.of(Long.parseLong(name)).isEmpty()
                            && PrivateDirs.isOwnPrivateDir(d, euid)) {
                        log.debug("removing the run directory of dead JVM {}", name);
                        deleteTree(d);
                    }
                } catch (java.nio.file.NoSuchFileException e) {
                    // Another JVM starting at the same time removed it first.
                }
            }
        }
    }

    /**
     * At exit: the deletion runs on a daemon thread that exit does not wait for past a bound, so
     * nothing planted in the tree (a FIFO where a directory was, which an open would wait on)
     * can hold the JVM.
     */
    private static void deleteTreeWithin(Path dir) {
        Thread t = new Thread(() -> deleteTree(dir), "crabcan-cleanup-tree");
        t.setDaemon(true);
        t.start();
        try {
            t.join(2000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static void deleteTree(Path dir) {
        try {
            PrivateDirs.deleteTree(dir);
        } catch (IOException | RuntimeException e) {
            log.debug("cleaning {}: {}", dir, e.toString());
        }
    }

    /** The hash of the whole file, read through the channel from its start. */
    private static String sha256(FileChannel channel) throws IOException {
        MessageDigest digest;
        try {
            digest = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(64 * 1024);
        long position = 0;
        for (int n; (n = channel.read(buffer, position)) > 0; position += n) {
            digest.update(buffer.flip());
            buffer.clear();
        }
        return HexFormat.of().formatHex(digest.digest());
    }
}
