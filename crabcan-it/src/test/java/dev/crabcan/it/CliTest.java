package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI jar as a user runs it: the tutorial's session and the exit status contract. */
class CliTest {

    record Run(int status, String stdout, String stderr) {}

    static Run cli(String stdin, Path dir, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "-jar", Env.CLI_JAR.toString()));
        cmd.addAll(List.of(args));
        return run(new ProcessBuilder(cmd).directory(dir.toFile()), stdin);
    }

    /** Starts the process, writes stdin and closes it, and collects both outputs and the status. */
    static Run run(ProcessBuilder pb, String stdin) throws Exception {
        return run(pb, stdin, 60);
    }

    static Run run(ProcessBuilder pb, String stdin, int timeoutSeconds) throws Exception {
        Process p = pb.start();
        try (var in = p.getOutputStream()) {
            in.write(stdin.getBytes(StandardCharsets.UTF_8));
        }
        var err = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(timeoutSeconds, TimeUnit.SECONDS)).isTrue();
        return new Run(p.exitValue(), out, err.get());
    }

    /** --stop-signal: the command's handler runs when crabcan itself is asked to stop, as with docker stop. */
    @Test
    void aStopSignalLetsTheCommandCleanUpWhenCrabcanIsStopped(@TempDir Path dir) throws Exception {
        Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"), "-jar",
                Env.CLI_JAR.toString(), "--stop-signal", "TERM", "--stop-timeout=60", "/bin/sh", "-c",
                "trap 'echo cleaned up; exit 0' TERM; echo ready; while :; do sleep 0.1; done")
                .directory(dir.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
            assertThat(out.readLine()).isEqualTo("ready");
            // SIGTERM to crabcan's JVM (Process.destroy() would also close the stream read here).
            assertThat(new ProcessBuilder("kill", "-TERM", String.valueOf(p.pid())).start().waitFor()).isZero();
            assertThat(out.readLine()).isEqualTo("cleaned up");
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }
    }

    /** --seccomp FILE with a real profile: mkdir fails with EPERM inside, and only with the profile. */
    @Test
    void aSeccompFileDeniesWhatItSays(@TempDir Path dir) throws Exception {
        Path profile = Files.writeString(dir.resolve("deny-mkdir.json"), """
                {"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
                """);
        Run denied = cli("", dir, "--seccomp", profile.toString(), "/bin/sh", "-c", "mkdir /tmp/x && echo made");
        assertThat(denied.status()).as(denied.stderr()).isEqualTo(1);
        assertThat(denied.stderr()).contains("Operation not permitted");
        assertThat(denied.stdout()).isEmpty();
        Run allowed = cli("", dir, "/bin/sh", "-c", "mkdir /tmp/x && echo made");
        assertThat(allowed.status()).as(allowed.stderr()).isZero();
        assertThat(allowed.stdout()).isEqualTo("made\n");
        Path bad = Files.writeString(dir.resolve("bad.json"), "{\"defaultAction\": \"SCMP_ACT_NOTIFY\"}");
        Run refused = cli("", dir, "--seccomp", bad.toString(), "/bin/true");
        assertThat(refused.status()).isEqualTo(125);
        assertThat(refused.stderr()).startsWith("crabcan: " + bad + ": defaultAction SCMP_ACT_NOTIFY: not supported");
    }

    @Test
    void defaultRootfsShell(@TempDir Path dir) throws Exception {
        Run r = cli("echo $((6*7)); ls /\n", dir, "-c", "/bin/sh");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).startsWith("42\n").contains("usr\n").contains("proc\n");
    }

    @Test
    void exitCodesAndSignals(@TempDir Path dir) throws Exception {
        assertThat(cli("", dir, "--", "/bin/sh", "-c", "exit 3").status()).isEqualTo(3);
        assertThat(cli("", dir, "--", "/bin/sh", "-c", "kill -9 $$").status()).isEqualTo(137);
        assertThat(cli("", dir, "--", "/bin/sh", "-c", "kill -15 $$").status()).isEqualTo(143);
    }

    @Test
    void notFoundIs127WithOneLine(@TempDir Path dir) throws Exception {
        Run r = cli("", dir, "-c", "nosuchcommand --flag");
        assertThat(r.status()).isEqualTo(127);
        assertThat(r.stderr()).startsWith("crabcan: command nosuchcommand not found").hasLineCount(1);
    }

    @Test
    void setupFailureIs125WithOneLine(@TempDir Path dir) throws Exception {
        Run r = cli("", dir, "-a", "/no/such/dir:/x", "-c", "/bin/true");
        assertThat(r.status()).isEqualTo(125);
        assertThat(r.stderr()).contains("crabcan: bind source /no/such/dir does not exist");
        assertThat(cli("", dir, "-u", "-1", "-c", "/bin/true").status()).isEqualTo(125);
        assertThat(cli("", dir, "-w", "/nope", "-c", "/bin/true").stderr())
                .isEqualTo("crabcan: chdir working directory /nope: No such file or directory\n");
    }

    @Test
    void theTutorialsSession(@TempDir Path dir) throws Exception {
        Path mountdir = Files.createDirectory(dir.resolve("mountdir"));
        Files.copy(Path.of("/bin/bash"), mountdir.resolve("bash"));
        Files.copy(Path.of("/bin/ls"), mountdir.resolve("ls"));

        Run missing = cli("", dir, "--debug", "-u", "0", "-m", "./mountdir", "-c", "/bash");
        assertThat(missing.status()).isEqualTo(126);
        assertThat(missing.stderr()).contains("crabcan: cannot execute /bash: its ELF interpreter "
                + "/lib64/ld-linux-x86-64.so.2 is missing").contains("-r /lib64:/lib64");

        Run ok = cli("./ls\nexit\n", dir, "--debug", "-u", "0", "-m", "./mountdir", "-c", "/bash",
                "-r", "/lib64:/lib64", "-r", "/lib:/lib");
        assertThat(ok.status()).as(ok.stderr()).isZero();
        assertThat(ok.stderr()).doesNotContain("warning");
        assertThat(ok.stdout().split("\n")).containsExactly("bash", "dev", "lib", "lib64", "ls", "proc", "tmp");
        assertThat(ok.stderr()).contains("Container hostname is now").contains("Binding /usr/lib64 at /lib64")
                .contains("Pivoting root").contains("Unmounting old root").contains("Starting container with command /bash");
    }

    @Test
    void aRootCallerIsWarnedOfReadWriteBindsOfSystemDirectories(@TempDir Path dir) throws Exception {
        // The command does not exist, so nothing runs with the host's /lib writable.
        Run r = cli("", dir, "-a", "/lib:/lib", "-a", dir + ":/data", "--", "/no-such-command");
        assertThat(r.status()).isEqualTo(127);
        String warning = "crabcan: warning: -a /lib gives the sandbox's root write access to the host's /lib as host "
                + "root; bind system directories read-only with -r";
        if (Env.isRoot()) {
            assertThat(r.stderr()).contains(warning).doesNotContain("-a " + dir);
        } else {
            assertThat(r.stderr()).as("a rootless sandbox writes as the caller, who cannot write /lib").doesNotContain("warning");
        }
    }

    @Test
    void limitsAndTheJsonResult(@TempDir Path dir) throws Exception {
        Run wall = cli("", dir, "--json", "--wall-time", "200ms", "--", "/bin/sleep", "5");
        assertThat(wall.status()).isEqualTo(137);
        assertThat(wall.stderr().trim()).startsWith("{\"exitCode\":null,\"signal\":9,\"verdict\":\"WALL_TIME_LIMIT\"")
                .contains("\"wallTimeMs\":").contains("\"stdoutTruncated\":false").endsWith("}");

        Path result = dir.resolve("result.json");
        Run output = cli("", dir, "--result", result.toString(), "--output-limit", "4", "--", "/bin/sh", "-c",
                "echo hello world");
        assertThat(output.stdout()).isEqualTo("hell");
        assertThat(Files.readString(result)).contains("\"verdict\":\"OUTPUT_LIMIT\"").contains("\"stdoutTruncated\":true");

        Run exit = cli("", dir, "--json", "--rlimit", "NOFILE=9", "--", "/bin/sh", "-c", "ulimit -n; exit 3");
        assertThat(exit.status()).isEqualTo(3);
        assertThat(exit.stdout()).isEqualTo("9\n");
        assertThat(exit.stderr()).contains("\"exitCode\":3,\"signal\":null,\"verdict\":\"NONZERO_EXIT\"");

        Run missing = cli("", dir, "--json", "-c", "/nope");
        assertThat(missing.status()).isEqualTo(127);
        assertThat(missing.stderr()).contains("{\"exitCode\":null,\"signal\":null,\"verdict\":\"SETUP_ERROR\",\"error\":");

        assertThat(cli("", dir, "--memory", "lots", "-c", "/bin/true").stderr())
                .startsWith("crabcan: --memory wants a size such as 256m or 1g, got 'lots'");
    }
}
