package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The examples judge (`crabcan judge`) driven end to end, as a judge backend uses Crabcan:
 * submissions in C, Python and Java compiled in a sandbox and copied out, every test run with
 * the judge preset, each verdict a judge gives, and an interactive problem whose interactor and
 * solution talk through pipes the JVM never relays.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class JudgeTest {
    @TempDir
    Path dir;
    Path tests;

    @BeforeEach
    void problem() throws Exception {
        Env.tool("gcc", "gcc");
        Env.tool("python3", "python3");
        tests = Files.createDirectory(dir.resolve("sum"));
        Files.writeString(tests.resolve("1.in"), "1 2\n");
        Files.writeString(tests.resolve("1.ans"), "3\n");
        Files.writeString(tests.resolve("2.in"), "5 7\n");
        Files.writeString(tests.resolve("2.ans"), "12\n");
    }

    CliTest.Run judge(String submission, String code, String... more) throws Exception {
        Files.writeString(dir.resolve(submission), code);
        List<String> args = new java.util.ArrayList<>(List.of("judge", submission, "sum"));
        args.addAll(List.of(more));
        return CliTest.cli("", dir, args.toArray(String[]::new));
    }

    static List<String> outcomes(CliTest.Run r) {
        return r.stdout().lines().map(l -> l.split("\\s+")[1]).toList();
    }

    @Test
    void everyVerdictAJudgeGives() throws Exception {
        CliTest.Run ok = judge("ok.c", "#include <stdio.h>\nint main(void){long a,b;scanf(\"%ld %ld\",&a,&b);"
                + "printf(\"%ld\\n\",a+b);return 0;}\n");
        assertThat(ok.status()).as(ok.stderr()).isZero();
        assertThat(outcomes(ok)).containsExactly("ACCEPTED", "ACCEPTED");

        CliTest.Run wa = judge("wa.py", "a, b = map(int, input().split())\nprint(a + b + (b > 5))\n");
        assertThat(wa.status()).as(wa.stderr()).isEqualTo(1);
        assertThat(outcomes(wa)).containsExactly("ACCEPTED", "WRONG_ANSWER");

        CliTest.Run tle = judge("tle.c", "int main(void){for(;;);}\n", "--time", "500ms");
        assertThat(outcomes(tle)).as(tle.stderr()).containsExactly("TIME_LIMIT", "TIME_LIMIT");

        CliTest.Run ole = judge("ole.c", "#include <stdio.h>\nint main(void){for(;;)puts(\"yyyyyyyyyyyyyyyy\");}\n");
        assertThat(outcomes(ole)).as(ole.stderr()).containsExactly("OUTPUT_LIMIT", "OUTPUT_LIMIT");

        CliTest.Run re = judge("re.c", "#include <stdlib.h>\nint main(void){abort();}\n");
        assertThat(outcomes(re)).as(re.stderr()).containsExactly("RUNTIME_ERROR", "RUNTIME_ERROR");

        CliTest.Run ce = judge("ce.c", "int main(void){ return }\n");
        assertThat(ce.status()).isEqualTo(2);
        assertThat(ce.stderr()).contains("does not compile", "error");
    }

    /** With a cgroup: the memory limit, and a Java submission that sizes its heap from it. */
    @Test
    void memoryLimitsAndAJavaSubmissionThatSeesItsLimit() throws Exception {
        assumeTrue(Env.mayLimit(), "this host's cgroups are not delegated to this user");
        Env.tool("javac", "openjdk-17-jdk-headless");
        CliTest.Run mle = judge("mle.c", "#include <stdlib.h>\n#include <string.h>\nint main(void){for(;;){char *p=malloc(1<<20);"
                + "if(!p)return 3;memset(p,1,1<<20);}}\n", "--memory", "64m");
        assertThat(outcomes(mle)).as(mle.stderr()).containsExactly("MEMORY_LIMIT", "MEMORY_LIMIT");

        String sum = "import java.util.Scanner;\npublic class Main { public static void main(String[] a) {"
                + " Scanner s = new Scanner(System.in); System.out.println(s.nextLong() + s.nextLong()); } }\n";
        CliTest.Run java = judge("Main.java", sum, "--time", "10s");
        assertThat(outcomes(java)).as(java.stderr()).containsExactly("ACCEPTED", "ACCEPTED");

        // Past its own heap (a quarter of the 256 MiB limit it sees): OutOfMemoryError, not the kernel's OOM kill.
        Files.createDirectory(dir.resolve("oom"));
        String hog = "import java.util.*;\npublic class Main { public static void main(String[] a) {"
                + " List<long[]> l = new ArrayList<>(); for (;;) l.add(new long[1 << 17]); } }\n";
        CliTest.Run oom = judge("oom/Main.java", hog, "--time", "10s", "--json");
        assertThat(oom.stdout().lines()).as(oom.stderr()).hasSize(2)
                .allMatch(l -> l.contains("\"outcome\":\"RUNTIME_ERROR\"") && l.contains("OutOfMemoryError"));
    }

    /** Guess the number: the interactor answers <, > or = and gives up after 20 guesses. */
    @Test
    void anInteractiveProblemThroughPipesBelowTheJvm() throws Exception {
        Files.writeString(tests.resolve("1.in"), "77\n");
        Files.writeString(tests.resolve("2.in"), "1000000\n");
        Files.writeString(dir.resolve("interactor.c"), """
                #include <stdio.h>
                int main(void) {
                    long secret, guess;
                    FILE *in = fopen("/box/input", "r");
                    if (!in || fscanf(in, "%ld", &secret) != 1) return 2;
                    for (int i = 0; i < 20; i++) {
                        if (scanf("%ld", &guess) != 1) { fprintf(stderr, "WA end of file after %d\\n", i); return 1; }
                        puts(guess < secret ? "<" : guess > secret ? ">" : "=");
                        fflush(stdout);
                        if (guess == secret) return 0;
                    }
                    fprintf(stderr, "WA 20 guesses\\n");
                    return 1;
                }
                """);
        String bisect = """
                lo, hi = 1, 1 << 20
                while True:
                    mid = (lo + hi) // 2
                    print(mid, flush=True)
                    r = input()
                    if r == "=":
                        break
                    if r == "<":
                        lo = mid + 1
                    else:
                        hi = mid - 1
                """;
        CliTest.Run good = judge("bisect.py", bisect, "--interactor", "interactor.c");
        assertThat(good.status()).as(good.stderr()).isZero();
        assertThat(outcomes(good)).containsExactly("ACCEPTED", "ACCEPTED");

        CliTest.Run bad = judge("ones.py", "while True:\n    print(1, flush=True)\n    input()\n",
                "--interactor", "interactor.c");
        assertThat(bad.status()).isEqualTo(1);
        assertThat(outcomes(bad)).containsExactly("WRONG_ANSWER", "WRONG_ANSWER");
        assertThat(bad.stdout()).contains("interactor: WA 20 guesses");
    }

    /**
     * Language environments declared as Crabfiles (crabcan-examples/judge-envs: c and py, FROM a
     * Debian root file system made here by mmdebstrap from Debian's packages, once per build
     * directory): each is built into the image store on first use and is a cache hit on the
     * next judge run, and submissions compile and run in the image, not in the host's files.
     */
    @Test
    @Timeout(value = 20, unit = TimeUnit.MINUTES)
    void environmentsDeclaredAsCrabfilesAreBuiltOnceAndJudgedIn() throws Exception {
        assumeTrue(Env.isHostRoot(), "mmdebstrap makes the Debian base as root (the environments' Crabfiles build "
                + "rootless too: BuildTest)");
        Path base = debianWithGccAndPython();
        Path envs = Path.of("../crabcan-examples/judge-envs").toAbsolutePath().normalize();
        // Accepted only where the host's files are out of sight: this host has mmdebstrap, the image has not.
        String c = "#include <stdio.h>\n#include <unistd.h>\nint main(void){long a,b;scanf(\"%ld %ld\",&a,&b);"
                + "printf(\"%ld\\n\",access(\"/usr/bin/mmdebstrap\",F_OK)==0?0:a+b);return 0;}\n";
        String py = "import os\na, b = map(int, input().split())\nprint(0 if os.path.exists('/usr/bin/mmdebstrap') else a + b)\n";
        Files.writeString(dir.resolve("sum.c"), c);
        Files.writeString(dir.resolve("sum.py"), py);
        for (int round = 0; round < 2; round++) {
            for (String submission : List.of("sum.c", "sum.py")) {
                CliTest.Run r = CliTest.run(new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java")
                        .toString(), "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                        "-jar", Env.CLI_JAR.toString(), "judge", submission, "sum", "--env", envs.toString(), "--build-arg",
                        "BASE=" + base, "--store", dir.resolve("store").toString()).directory(dir.toFile()), "", 600);
                assertThat(r.status()).as("%s, round %d: %s", submission, round, r.stderr()).isZero();
                assertThat(outcomes(r)).containsExactly("ACCEPTED", "ACCEPTED");
                java.util.regex.Matcher built = java.util.regex.Pattern.compile("environment " + submission.substring(4)
                        + " is image [0-9a-f]{12} \\((\\d+) steps, (\\d+) from the cache\\)").matcher(r.stderr());
                assertThat(built.find()).as(r.stderr()).isTrue();
                // ARG, FROM, RUN: RUN (which proves the toolchain) is built the first time, and FROM (the
                // tarball read) for the first language; the next time everything is a cache hit.
                assertThat(Integer.parseInt(built.group(1))).as(r.stderr()).isEqualTo(3);
                assertThat(Integer.parseInt(built.group(2))).as(r.stderr())
                        .isEqualTo(round == 1 ? 3 : submission.endsWith(".c") ? 1 : 2);
            }
        }
    }

    /** A Debian 12 root file system with gcc and python3, made once in the build directory (about 250 MB). */
    private static Path debianWithGccAndPython() throws Exception {
        Path tar = Path.of("target/judge-base/debian.tar").toAbsolutePath();
        if (Files.exists(tar)) {
            return tar;
        }
        Env.tool("mmdebstrap", "mmdebstrap");
        Files.createDirectories(tar.getParent());
        Path partial = tar.resolveSibling("debian.tar.partial");
        Process p = new ProcessBuilder("mmdebstrap", "--mode=root", "--variant=apt", "--format=tar",
                "--aptopt=APT::Install-Recommends \"false\"", "--include=gcc,libc6-dev,python3-minimal", "bookworm",
                partial.toString(), "deb http://deb.debian.org/debian bookworm main").redirectErrorStream(true)
                .redirectOutput(tar.resolveSibling("mmdebstrap.log").toFile()).start();
        try {
            assertThat(p.waitFor(15, TimeUnit.MINUTES)).as("mmdebstrap within 15 minutes").isTrue();
        } finally {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
        }
        assertThat(p.exitValue()).as("mmdebstrap (%s)", tar.resolveSibling("mmdebstrap.log")).isZero();
        Files.move(partial, tar);
        return tar;
    }
}
