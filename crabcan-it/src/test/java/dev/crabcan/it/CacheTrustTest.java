package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.internal.launch.HelperRuntime;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Other local users attack the cache that holds the helper binary, the run directory and the
 * control socket: they plant directories where Crabcan would look, or a configured cache can be
 * changed by them. Their payload must never run, and a JVM must neither use nor trust what they
 * made.
 */
class CacheTrustTest {
    private static final int NOBODY = 65534;
    private static final int OTHER = 65533;
    private static final int RUNS = 3;

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void anotherUserRacingTheTmpdirFallbackNeverRunsItsPayloadAsRoot(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "acting as another user takes root (rootless against rootless: "
                + "oneRootlessUserCannotPlantForAnother, run as root)");
        raceThePlantedCache(dir, NOBODY, 0);
    }

    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void oneRootlessUserCannotPlantForAnother(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "acting as two other users takes root");
        raceThePlantedCache(dir, OTHER, NOBODY);
    }

    /**
     * A root process whose home or cache home is a user's: sudo -E keeps the user's
     * XDG_CACHE_HOME, a service may be given any home. That user controls the directory.
     */
    @Test
    @Timeout(value = 2, unit = TimeUnit.MINUTES)
    void rootWithAnotherUsersHomeLeavesItAlone(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isHostRoot(), "only root can be given another user's home");
        Files.setAttribute(dir, "unix:mode", 0755);
        Path tmp = stickyTmp(dir);
        Path jar = Files.copy(Env.CLI_JAR, dir.resolve("crabcan.jar"));
        Path home = Files.createDirectory(dir.resolve("home"));
        Files.setAttribute(home, "unix:uid", NOBODY);
        for (boolean xdg : List.of(false, true)) {
            CliTest.Run r = victim(0, jar, xdg ? Path.of("/nonexistent") : home, xdg ? home.resolve(".cache") : null,
                    tmp, dir);
            assertThat(r.status()).as(r.stderr()).isZero();
            assertThat(r.stdout()).isEqualTo("sandboxed\n");
            assertThat(r.stderr()).contains("not using the Crabcan cache directory " + home.resolve(".cache/crabcan"))
                    .contains(home + " (owner uid " + NOBODY);
            try (Stream<Path> s = Files.list(home)) {
                assertThat(s).as("nothing made in the other user's home").isEmpty();
            }
            assertNothingLeftIn(tmp);
        }
    }

    @Test
    void configuredCacheThatOthersCanChangeIsRefused(@TempDir Path tmp) throws Exception {
        Path open = Files.createDirectory(tmp.resolve("open"));
        Files.setAttribute(open, "unix:mode", 0777);
        String why = open + " (owner uid " + Env.uid() + ", mode 0777) is writable by other users";
        assertRefused(open.resolve("cache"), tmp, why);
        assertThat(open.resolve("cache")).as("nothing made where others can reach it").doesNotExist();
        assertRefused(open, tmp, why + "; make it private (chmod 700)");
        Path link = Files.createSymbolicLink(tmp.resolve("link"), open);
        assertRefused(link.resolve("cache"), tmp, why);
        if (Env.isHostRoot()) {
            Path theirs = Files.createDirectory(tmp.resolve("theirs"));
            Files.setAttribute(theirs, "unix:uid", NOBODY);
            assertRefused(theirs, tmp, theirs + " (owner uid " + NOBODY + ", mode 0");
            assertRefused(theirs, tmp, "belongs to another user");
        }
    }

    private static void assertRefused(Path cache, Path tmp, String why) throws Exception {
        String[] run = FaultTest.freshJvm(cache, tmp);
        assertThat(run[0]).as(run[1]).isNotEqualTo("0");
        assertThat(run[1]).contains("the Crabcan cache directory " + cache + " is refused: ").contains(why)
                .contains("-Dcrabcan.cache.dir=DIR");
    }

    /**
     * The attacker pre-creates the victim's predictable fallback {@code <tmpdir>/crabcan-<uid>}
     * with a genuine helper and a run directory, all writable by the victim, and keeps renaming
     * a payload and the genuine copy in turn over the helper, so that a hash check can read the
     * genuine bytes and the exec find the payload (the reported attack, without inotify).
     * Victim JVMs (no home, no configured cache) then run a sandbox each.
     */
    private static void raceThePlantedCache(Path dir, int attacker, int victim) throws Exception {
        Files.setAttribute(dir, "unix:mode", 0755);
        Path tmp = stickyTmp(dir);
        Path jar = Files.copy(Env.CLI_JAR, dir.resolve("crabcan.jar"));
        Path genuine = dir.resolve("genuine");
        try (java.io.InputStream in = HelperRuntime.resource(HelperRuntime.RESOURCE)) {
            Files.copy(in, genuine);
        }
        Files.setAttribute(genuine, "unix:mode", 0755);
        Path marker = tmp.resolve("payload-ran");
        Path payload = Files.writeString(dir.resolve("payload"), "#!/bin/sh\nid -u >> " + marker + "\nexit 0\n");
        Files.setAttribute(payload, "unix:mode", 0755);
        Path planted = tmp.resolve("crabcan-" + victim);
        // Where the helper was extracted before it was written anew for each zygote: a JVM of an older
        // version would have run it from there.
        String sha;
        try (java.io.InputStream in = HelperRuntime.resource(HelperRuntime.RESOURCE + ".sha256")) {
            sha = new String(in.readAllBytes(), StandardCharsets.US_ASCII).trim();
        }
        Path shaDir = planted.resolve(sha);
        Path stop = dir.resolve("stop");
        // Each swap is two syscalls in a tight loop (perl: a shell loop spawns a process per rename).
        String script = "set -e; mkdir -p " + shaDir + " " + planted + "/run; chmod 777 " + planted + " " + shaDir
                + " " + planted + "/run; cd " + shaDir + "; cp " + genuine + " .genuine; cp " + payload + " .payload;"
                + " cp .genuine crabcan-helper; echo ready; exec perl -e '($stop, $end) = @ARGV;"
                + " while (!-e $stop && time < $end) { for my $f (\".payload\", \".genuine\") {"
                + " link($f, \".new\") && rename(\".new\", \"crabcan-helper\") or die \"swap: $!\" } }' "
                + stop + " $(($(date +%s) + 90))";
        Process swapper = new ProcessBuilder(asUser(attacker, "/bin/sh", "-c", script)).redirectErrorStream(true)
                .start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(swapper.getInputStream(),
                    StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("ready");
            for (int i = 0; i < RUNS; i++) {
                CliTest.Run r = victim(victim, jar, Path.of("/nonexistent"), null, tmp, dir);
                assertThat(marker).as("the planted payload ran").doesNotExist();
                assertThat(r.status()).as(r.stderr()).isZero();
                assertThat(r.stdout()).isEqualTo("sandboxed\n");
                assertThat(r.stderr()).contains("not using the Crabcan cache directory " + planted)
                        .contains(planted + " (owner uid " + attacker);
            }
            assertThat(swapper.isAlive()).as("the attack ran all along").isTrue();
        } finally {
            Files.createFile(stop);
            if (!swapper.waitFor(30, TimeUnit.SECONDS)) {
                swapper.destroyForcibly().waitFor();
            }
        }
        assertThat(marker).as("the planted payload ran").doesNotExist();
        deleteTree(planted);
        assertNothingLeftIn(tmp);
    }

    /**
     * The cache is, in order: -Dcrabcan.cache.dir, CRABCAN_CACHE_DIR, $XDG_CACHE_HOME/crabcan,
     * ~/.cache/crabcan (when the home is a writable directory), else java.io.tmpdir/crabcan-UID.
     * A fresh JVM is given every rung, then one rung fewer each time from the top: its run
     * directory is made in the first one left, and nothing is made in the others. In /tmp itself: below
     * the rootless suite's temporary directory a control socket's path would be too long.
     */
    @Test
    @Timeout(value = 3, unit = TimeUnit.MINUTES)
    void theCacheIsTheFirstOfPropertyEnvironmentXdgHomeAndTmpdir() throws Exception {
        Path dir = Files.createTempDirectory(Path.of("/tmp"), "ccit");
        try {
            theCacheIsTheFirstRungIn(dir);
        } finally {
            deleteTree(dir);
        }
    }

    private static void theCacheIsTheFirstRungIn(Path dir) throws Exception {
        Path property = dir.resolve("property");
        Path environment = dir.resolve("environment");
        Path xdg = Files.createDirectory(dir.resolve("xdg"));
        Path home = Files.createDirectory(dir.resolve("home"));
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        List<Path> rungs = List.of(property, environment, xdg.resolve("crabcan"), home.resolve(".cache/crabcan"),
                tmp.resolve("crabcan-" + Env.uid()));
        for (int top = 0; top < rungs.size(); top++) {
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java")
                    .toString(), "-XX:-UsePerfData", "-cp", System.getProperty("java.class.path"),
                    "-Djava.io.tmpdir=" + tmp, "-Duser.home=" + (top <= 3 ? home : Path.of("/nonexistent"))));
            if (top == 0) {
                cmd.add("-D" + HelperRuntime.CACHE_PROPERTY + "=" + property);
            }
            cmd.add(FirstSandbox.class.getName());
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
            pb.environment().remove(HelperRuntime.CACHE_ENV);
            pb.environment().remove("XDG_CACHE_HOME");
            if (top <= 1) {
                pb.environment().put(HelperRuntime.CACHE_ENV, environment.toString());
            }
            if (top <= 2) {
                pb.environment().put("XDG_CACHE_HOME", xdg.toString());
            }
            CliTest.Run r = CliTest.run(pb, "");
            assertThat(r.status()).as("a JVM whose first rung is %s: %s", rungs.get(top), r.stdout()).isZero();
            for (int i = 0; i < rungs.size(); i++) {
                assertThat(runDirsIn(rungs.get(i))).as("run directories in %s, the first rung being %s", rungs.get(i),
                        rungs.get(top)).hasSize(i == top ? 1 : 0);
            }
            deleteTree(rungs.get(top));
        }
    }

    /** The run directories below a cache directory: where a JVM that used it kept its run directory. */
    private static List<Path> runDirsIn(Path cache) throws Exception {
        Path runs = cache.resolve("run");
        return Files.isDirectory(runs) ? List.of(runs) : List.of();
    }

    /** A directory like /tmp: everyone may create in it, nobody may rename another's entries. */
    private static Path stickyTmp(Path dir) throws Exception {
        Path tmp = Files.createDirectory(dir.resolve("tmp"));
        Files.setAttribute(tmp, "unix:mode", 01777);
        return tmp;
    }

    /** The CLI as that user, with no configured cache, so it picks its own; runs one sandbox. */
    private static CliTest.Run victim(int uid, Path jar, Path home, Path xdgCacheHome, Path tmp, Path cwd)
            throws Exception {
        ProcessBuilder pb = new ProcessBuilder(asUser(uid, Path.of(System.getProperty("java.home"), "bin", "java")
                .toString(), "-XX:-UsePerfData", "-Duser.home=" + home, "-Djava.io.tmpdir=" + tmp, "-jar",
                jar.toString(), "--", "/bin/sh", "-c", "echo sandboxed")).directory(cwd.toFile());
        pb.environment().remove("XDG_CACHE_HOME");
        if (xdgCacheHome != null) {
            pb.environment().put("XDG_CACHE_HOME", xdgCacheHome.toString());
        }
        pb.environment().remove(HelperRuntime.CACHE_ENV);
        return CliTest.run(pb, "");
    }

    private static List<String> asUser(int uid, String... cmd) {
        List<String> full = new ArrayList<>();
        if (uid != 0) {
            full.addAll(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"));
        }
        full.addAll(List.of(cmd));
        return full;
    }

    /** The fresh directory a JVM made instead is gone once it exited. */
    private static void assertNothingLeftIn(Path tmp) throws Exception {
        try (Stream<Path> s = Files.list(tmp)) {
            assertThat(s).as("left in the temp dir").isEmpty();
        }
    }

    private static void deleteTree(Path dir) throws Exception {
        try (Stream<Path> s = Files.walk(dir)) {
            s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
    }
}
