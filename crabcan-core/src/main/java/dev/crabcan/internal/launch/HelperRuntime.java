package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.internal.plan.PlanCompiler;
import dev.crabcan.internal.host.HostInfo;
import java.io.IOException;
import java.io.InputStream;
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
 * The helper binary on disk and this JVM's private run directory. The helper is extracted from
 * the jar into {@code <cache>/<sha256>/crabcan-helper} (the hash is computed by the build) and
 * checked before its first exec in each JVM, so a binary changed on disk is never run: a copy
 * this JVM extracted holds the jar's bytes; one found on disk is hashed. Both happen on the
 * thread that starts the zygote early, while the caller's thread compiles the first plan.
 * Every directory on the way to the helper and the run directory is checked first (see
 * {@link PrivateDirs}): the helper is executed by a path nobody else can change, so the bytes
 * that run are the bytes that were checked.
 */
public final class HelperRuntime {
    private static final Logger log = LoggerFactory.getLogger(HelperRuntime.class);
    public static final String RESOURCE = "/dev/crabcan/native/linux-x86_64/crabcan-helper";
    public static final String CACHE_PROPERTY = "crabcan.cache.dir";
    public static final String CACHE_ENV = "CRABCAN_CACHE_DIR";

    private static HelperRuntime instance;

    private final Path cache;
    private final Path helper;
    private final Path runDir;
    private final int euid;
    private final ZygoteLauncher launcher;
    private boolean verified;

    private HelperRuntime(Path cache, Path helper, Path runDir, int euid) {
        this.cache = cache;
        this.helper = helper;
        this.runDir = runDir;
        this.euid = euid;
        this.launcher = new ZygoteLauncher(this, runDir);
    }

    public static synchronized HelperRuntime get() throws SandboxException {
        if (instance == null) {
            int euid = HostInfo.get().euid();
            String sha = helperSha();
            Location location = cacheLocation(euid);
            Path fresh = null;
            Dirs dirs;
            try {
                dirs = prepare(location.dir(), sha, euid);
            } catch (IOException e) {
                if (location.configured()) {
                    throw cacheProblem(location.dir(), "is refused: " + why(e));
                }
                fresh = freshCache();
                log.warn("not using the Crabcan cache directory {}: {}; using {} instead (removed at exit)",
                        location.dir(), why(e), fresh);
                try {
                    dirs = prepare(fresh, sha, euid);
                } catch (IOException e2) {
                    deleteTree(fresh);
                    throw cacheProblem(fresh, "is refused: " + why(e2));
                }
            }
            Path remove = fresh != null ? fresh : dirs.run();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTreeWithin(remove), "crabcan-cleanup"));
            instance = new HelperRuntime(dirs.cache(), dirs.cache().resolve(sha).resolve("crabcan-helper"),
                    dirs.run(), euid);
            instance.launcher.startZygoteEarly();
        }
        return instance;
    }

    public Path helper() {
        return helper;
    }

    /**
     * The helper binary, extracted if missing, else checked against the jar's hash: once per JVM,
     * again after a failure (so that deleting a bad copy, as the error advises, is enough), and
     * again before a zygote is started anew ({@code again}): the file may have been replaced
     * since (the zygote died for a reason), and a replaced helper must never run.
     */
    synchronized Path verifiedHelper(boolean again) throws SandboxException {
        if (!verified || again) {
            extractOrCheck(helper, euid);
            verified = true;
        }
        return helper;
    }

    /**
     * The cache directory with every link resolved. It holds the helper binary and this JVM's
     * control socket, so no sandbox may see it.
     */
    public Path cacheDir() {
        return cache;
    }

    /**
     * This JVM's cache and the places where another JVM of this user would put its own (the
     * usual locations, whatever this JVM chose): a sandbox given any of them could swap that
     * JVM's helper or talk to its control socket. Real paths where they exist.
     */
    public java.util.List<Path> cacheDirsOfThisUser() {
        java.util.List<Path> dirs = new java.util.ArrayList<>(java.util.List.of(cache));
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            dirs.add(Path.of(xdg, "crabcan"));
        }
        dirs.add(Path.of(System.getProperty("user.home"), ".cache", "crabcan"));
        dirs.add(Path.of(System.getProperty("java.io.tmpdir"), "crabcan-" + euid));
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

    /** Private to this JVM: control sockets live here, and sandboxes attach their new root here. */
    public Path runDir() {
        return runDir;
    }

    public Launcher launcher() {
        return launcher;
    }

    /** Where the cache is, and whether the user chose it (then it is used or refused, never bypassed). */
    record Location(Path dir, boolean configured) {}

    static Location cacheLocation(int euid) {
        String configured = System.getProperty(CACHE_PROPERTY, System.getenv(CACHE_ENV));
        if (configured != null && !configured.isBlank()) {
            return new Location(Path.of(configured).toAbsolutePath(), true);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return new Location(Path.of(xdg, "crabcan").toAbsolutePath(), false);
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

    /** Makes and checks the cache, the helper's directory and this JVM's run directory. */
    private static Dirs prepare(Path dir, String sha, int euid) throws IOException {
        Path cache = PrivateDirs.create(dir, euid);
        Path socket = cache.resolve("run").resolve(Long.toString(ProcessHandle.current().pid()))
                .resolve(ZygoteLauncher.SOCKET);
        int length = socket.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8).length;
        if (length > ZygoteLauncher.SOCKET_PATH_MAX) {
            throw new Unusable("its control socket's path " + socket + " would be " + length
                    + " bytes long (a Unix socket's path can have at most " + ZygoteLauncher.SOCKET_PATH_MAX
                    + ")");
        }
        PrivateDirs.child(cache, sha, euid);
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

    private static void extractOrCheck(Path file, int euid) throws SandboxException {
        Path dir = file.getParent();
        String sha = dir.getFileName().toString();
        Path cache = dir.getParent();
        try {
            if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) {
                byte[] binary;
                try (InputStream in = resource(RESOURCE)) {
                    binary = in.readAllBytes();
                }
                // Not createTempFile, whose SecureRandom costs the first sandbox ~15 ms: the directory is
                // private and the name is this JVM's, so only a dead JVM with our pid can have left it.
                Path tmp = dir.resolve("crabcan-helper." + ProcessHandle.current().pid() + ".tmp");
                Files.deleteIfExists(tmp);
                Files.write(tmp, binary, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("r-x------"));
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
                log.debug("extracted the helper to {}", file);
                return;
            }
            try {
                PrivateDirs.checkFile(file, euid);
            } catch (PrivateDirs.Untrusted e) {
                throw new SandboxException("the helper binary " + e.getMessage() + "; delete " + dir
                        + " and Crabcan will extract it again", e);
            }
            String onDisk = sha256(Files.readAllBytes(file));
            if (!onDisk.equals(sha)) {
                throw new SandboxException("the helper binary " + file + " has been modified (sha256 " + onDisk
                        + ", expected " + sha + "); delete " + dir + " and Crabcan will extract it again");
            }
        } catch (AccessDeniedException e) {
            throw cacheProblem(cache, "is not writable (" + e.getMessage() + ")");
        } catch (IOException e) {
            throw cacheProblem(cache, "cannot hold the helper binary: " + e);
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
                if (name.matches("\\d+") && ProcessHandle.of(Long.parseLong(name)).isEmpty()
                        && PrivateDirs.isOwnPrivateDir(d, euid)) {
                    log.debug("removing the run directory of dead JVM {}", name);
                    deleteTree(d);
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

    private static String sha256(byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }
}
