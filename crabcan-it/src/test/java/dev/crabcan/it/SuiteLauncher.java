package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Runs this module's integration tests again in another environment (as another user, in a user
 * namespace, in a container): a command prefix that enters it, then a JVM with JUnit's console
 * launcher. The class path, the test programs' sources and the CLI are copied into a
 * world-readable directory first, since the build's own directories (and the Maven repository
 * under /root) may not be readable there; the run gets a home and a tmpdir of its own, owned by
 * {@code owner}. The *SuiteTest classes (which start such runs) and the benchmark are left out.
 */
final class SuiteLauncher {
    /** -Dcrabcan.it.rootless=EscapeTest,CliTest reruns just those classes, while working on them. */
    static final String ONLY_PROPERTY = "crabcan.it.rootless";

    private SuiteLauncher() {}

    /** What a run left: JUnit's summary and the "Class#method" of each skipped test. */
    record Outcome(String output, java.util.Set<String> skipped) {}

    /**
     * Runs the tests with {@code prefix} (a command that runs the rest of the line in the
     * environment, e.g. setpriv or unshare), asserts that none failed and, unless just some classes
     * were asked for, that exactly {@code expectedSkips} were skipped. name says which run it is in
     * the output.
     */
    static Outcome run(String name, List<String> prefix, int owner, List<String> expectedSkips) throws Exception {
        return run(name, base -> prefix, owner, expectedSkips, List.of());
    }

    /**
     * The same with a prefix made for the directory everything is copied to (a container must
     * see it), and only these test classes (none: all).
     */
    static Outcome run(String name, java.util.function.Function<Path, List<String>> prefix, int owner,
            List<String> expectedSkips, List<String> classes) throws Exception {
        Path base = Files.createTempDirectory("ccit-suite-", PosixFilePermissions.asFileAttribute(
                PosixFilePermissions.fromString("rwxr-xr-x")));
        try {
            List<String> classPath = copyClassPath(base.resolve("cp"));
            copyTree(Env.TEST_C, base.resolve("csrc"));
            copyTree(Env.CLI_JAR, base.resolve("crabcan.jar"));
            // crabcan-oci, the native front end, beside the jar where OciServiceTest looks for it.
            Path front = Files.copy(OciServiceTest.FRONT_END, base.resolve("crabcan-oci"));
            Files.setPosixFilePermissions(front, PosixFilePermissions.fromString("rwxr-xr-x"));
            Path home = Files.createDirectory(base.resolve("home"));
            Path tmp = Files.createDirectory(base.resolve("tmp"));
            for (Path p : List.of(home, tmp)) {
                Files.setAttribute(p, "unix:uid", owner);
                Files.setAttribute(p, "unix:gid", owner);
            }
            List<String> cmd = new ArrayList<>(prefix.apply(base));
            cmd.addAll(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-cp", String.join(":", classPath),
                    "-XX:-UsePerfData",
                    "-Djava.io.tmpdir=" + tmp,
                    "-Duser.home=" + home,
                    "-Dcrabcan.cache.dir=" + home.resolve("cache"),
                    "-Dcrabcan.it.csrc=" + base.resolve("csrc"),
                    "-Dcrabcan.it.bin=" + home.resolve("bin"),
                    "-Dcrabcan.it.cli=" + base.resolve("crabcan.jar"),
                    "-Djunit.jupiter.execution.timeout.default=120s",
                    "org.junit.platform.console.ConsoleLauncher", "execute",
                    "--disable-banner", "--disable-ansi-colors", "--details=tree", "--fail-if-no-tests",
                    "--reports-dir=" + home.resolve("reports"),
                    "--exclude-classname=.*(SuiteTest|BenchmarkTest|VmLaneTest)"));
            // Asked for on the command line, some classes run and their skips are not checked.
            boolean asDesigned = System.getProperty(ONLY_PROPERTY, "").isBlank();
            String only = asDesigned ? String.join(",", classes) : System.getProperty(ONLY_PROPERTY);
            if (only.isBlank()) {
                cmd.add("--select-package=dev.crabcan.it");
            } else {
                for (String c : only.split(",")) {
                    cmd.add("--select-class=dev.crabcan.it." + c.trim());
                }
            }
            Process p = new ProcessBuilder(cmd).directory(base.toFile()).redirectErrorStream(true).start();
            p.getOutputStream().close();
            String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(14, TimeUnit.MINUTES)).isTrue();
            System.out.println("---- the integration tests " + name + " ----\n" + output);
            assertThat(p.exitValue()).as("run %s (output above):\n%s", name, output).isZero();
            assertThat(output).containsPattern("\\[\\s*[1-9]\\d* tests successful\\s*\\]")
                    .containsPattern("\\[\\s*0 tests failed\\s*\\]");
            java.util.Set<String> skipped = skipped(home.resolve("reports/TEST-junit-jupiter.xml"));
            if (asDesigned) {
                assertThat(skipped).as("tests skipped %s: a new skip must be expected here, a missing one removed", name)
                        .containsExactlyInAnyOrderElementsOf(expectedSkips);
            }
            return new Outcome(output, skipped);
        } finally {
            try (Stream<Path> s = Files.walk(base)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /** "Class#method" of each test the JUnit XML report lists as skipped (once per method). */
    static java.util.Set<String> skipped(Path report) throws Exception {
        org.w3c.dom.NodeList cases = javax.xml.parsers.DocumentBuilderFactory.newInstance().newDocumentBuilder()
                .parse(report.toFile()).getElementsByTagName("testcase");
        java.util.Set<String> skipped = new java.util.TreeSet<>();
        for (int i = 0; i < cases.getLength(); i++) {
            org.w3c.dom.Element c = (org.w3c.dom.Element) cases.item(i);
            if (c.getElementsByTagName("skipped").getLength() > 0) {
                String cls = c.getAttribute("classname");
                String name = c.getAttribute("name");
                skipped.add(cls.substring(cls.lastIndexOf('.') + 1) + "#"
                        + (name.contains("(") ? name.substring(0, name.indexOf('(')) : name));
            }
        }
        return skipped;
    }

    static List<String> copyClassPath(Path dir) throws IOException {
        Files.createDirectories(dir);
        List<String> entries = new ArrayList<>();
        int i = 0;
        for (String entry : System.getProperty("java.class.path").split(":")) {
            Path source = Path.of(entry);
            if (!Files.exists(source)) {
                continue;
            }
            Path target = dir.resolve(i++ + (Files.isDirectory(source) ? "" : ".jar"));
            copyTree(source, target);
            entries.add(target.toString());
        }
        return entries;
    }

    static void copyTree(Path source, Path target) throws IOException {
        try (Stream<Path> s = Files.walk(source)) {
            for (Path p : (Iterable<Path>) s::iterator) {
                Path t = target.resolve(source.relativize(p).toString());
                Files.copy(p, t, StandardCopyOption.REPLACE_EXISTING);
                Files.setPosixFilePermissions(t, PosixFilePermissions.fromString(
                        Files.isDirectory(t) ? "rwxr-xr-x" : "rw-r--r--"));
            }
        }
    }
}
