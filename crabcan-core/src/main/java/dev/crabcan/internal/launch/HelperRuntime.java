package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.internal.plan.PlanCompiler;
import dev.crabcan.internal.host.HostInfo;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Set;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The helper binary on disk and this JVM's private run directory. The helper is extracted from
 * the jar into {@code <cache>/<sha256>/crabcan-helper} (the hash is computed by the build) and
 * checked before its first exec in each JVM, so a binary changed on disk is never run: a copy
 * this JVM extracted holds the jar's bytes; one found on disk is hashed. Both happen on the
 * thread that starts the zygote early, while the caller's thread compiles the first plan.
 */
public final class HelperRuntime {
    private static final Logger log = LoggerFactory.getLogger(HelperRuntime.class);
    static final String RESOURCE = "/dev/crabcan/native/linux-x86_64/crabcan-helper";
    public static final String CACHE_PROPERTY = "crabcan.cache.dir";
    public static final String CACHE_ENV = "CRABCAN_CACHE_DIR";
    private static final Set<PosixFilePermission> PRIVATE_DIR = PosixFilePermissions.fromString("rwx------");

    private static HelperRuntime instance;

    private final Path cache;
    private final Path helper;
    private final Path runDir;
    private final ZygoteLauncher launcher;
    private boolean verified;

    private HelperRuntime(Path cache, Path helper, Path runDir) {
        this.cache = cache;
        this.helper = helper;
        this.runDir = runDir;
        this.launcher = new ZygoteLauncher(this, runDir);
    }

    public static synchronized HelperRuntime get() throws SandboxException {
        if (instance == null) {
            Path cache = resolveCacheDir();
            Path helper = helperFile(cache);
            Path runDir = createRunDir(cache);
            instance = new HelperRuntime(realPath(cache), helper, runDir);
            instance.launcher.startZygoteEarly();
        }
        return instance;
    }

    public Path helper() {
        return helper;
    }

    /**
     * The helper binary, extracted if missing, else checked against the jar's hash; once per JVM,
     * or again after a failure, so that deleting a bad copy (as the error advises) is enough.
     */
    synchronized Path verifiedHelper() throws SandboxException {
        if (!verified) {
            extractOrCheck(helper);
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

    private static Path realPath(Path p) throws SandboxException {
        try {
            return p.toRealPath();
        } catch (IOException e) {
            throw cacheProblem(p, "cannot be resolved: " + e);
        }
    }

    /** Private to this JVM: control sockets live here, and sandboxes attach their new root here. */
    public Path runDir() {
        return runDir;
    }

    public Launcher launcher() {
        return launcher;
    }

    static Path resolveCacheDir() {
        String configured = System.getProperty(CACHE_PROPERTY, System.getenv(CACHE_ENV));
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured).toAbsolutePath();
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        if (xdg != null && !xdg.isBlank()) {
            return Path.of(xdg, "crabcan");
        }
        Path home = Path.of(System.getProperty("user.home"));
        if (Files.isDirectory(home) && Files.isWritable(home)) {
            return home.resolve(".cache").resolve("crabcan");
        }
        return Path.of(System.getProperty("java.io.tmpdir"), "crabcan-" + HostInfo.get().euid());
    }

    /** {@code <cache>/<sha256>/crabcan-helper}. */
    private static Path helperFile(Path cache) throws SandboxException {
        String sha;
        try (InputStream in = resource(RESOURCE + ".sha256")) {
            sha = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        } catch (IOException e) {
            throw new SandboxException("cannot read the helper binary's hash from the class path: " + e, e);
        }
        return cache.resolve(sha).resolve("crabcan-helper");
    }

    private static void extractOrCheck(Path file) throws SandboxException {
        Path dir = file.getParent();
        String sha = dir.getFileName().toString();
        Path cache = dir.getParent();
        try {
            if (!Files.exists(file)) {
                createPrivateDirectory(dir);
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

    private static InputStream resource(String name) throws SandboxException {
        InputStream in = HelperRuntime.class.getResourceAsStream(name);
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

    private static Path createRunDir(Path cache) throws SandboxException {
        Path runs = cache.resolve("run");
        Path dir = runs.resolve(Long.toString(ProcessHandle.current().pid()));
        try {
            createPrivateDirectory(runs);
            removeStaleRunDirs(runs);
            createPrivateDirectory(dir);
            // Sandboxes' roots are built on this subdirectory, leaving the rest of the run directory
            // (files the helper binds into sandboxes) visible beside it.
            createPrivateDirectory(dir.resolve(PlanCompiler.STAGING));
        } catch (IOException e) {
            throw cacheProblem(cache, "cannot hold the run directory " + dir + ": " + e);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> deleteTree(dir), "crabcan-cleanup"));
        return dir;
    }

    /** Run directories of JVMs that are gone (killed before their shutdown hook ran). */
    private static void removeStaleRunDirs(Path runs) throws IOException {
        try (DirectoryStream<Path> dirs = Files.newDirectoryStream(runs)) {
            for (Path d : dirs) {
                String name = d.getFileName().toString();
                if (name.matches("\\d+") && ProcessHandle.of(Long.parseLong(name)).isEmpty()) {
                    log.debug("removing the run directory of dead JVM {}", name);
                    deleteTree(d);
                }
            }
        }
    }

    private static void createPrivateDirectory(Path dir) throws IOException {
        try {
            Files.createDirectories(dir.getParent());
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE_DIR));
        } catch (FileAlreadyExistsException e) {
            if (!Files.isDirectory(dir)) {
                throw e;
            }
        }
        // Another user's or a shared directory could let someone swap the helper after the hash check.
        if (!Files.getPosixFilePermissions(dir).equals(PRIVATE_DIR)) {
            Files.setPosixFilePermissions(dir, PRIVATE_DIR);
        }
    }

    static void deleteTree(Path dir) {
        try (Stream<Path> paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
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
