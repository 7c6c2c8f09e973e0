package dev.crabcan.it;

import static dev.crabcan.it.Env.sh;
import static dev.crabcan.it.Env.shOk;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.CommandNotExecutableException;
import dev.crabcan.CommandNotFoundException;
import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.Stdio;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Running commands: exit statuses, signals, stdio, argv, environment, working directory. */
class RunTest {

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 3, 125, 255})
    void exitCodesPassThrough(int code) throws Exception {
        SandboxResult r = sh("exit " + code);
        assertThat(r.status()).isEqualTo(ExitStatus.exited(code));
    }

    @ParameterizedTest
    @ValueSource(ints = {9, 15, 6, 11})
    void signalsAreReportedAsSignalsNotCodes(int signal) throws Exception {
        SandboxResult r = sh("kill -" + signal + " $$");
        assertThat(r.status()).isEqualTo(ExitStatus.signaled(signal));
        assertThat(r.status().shellCode()).isEqualTo(128 + signal);
    }

    @Test
    void exitCode137IsNotSigkill() throws Exception {
        SandboxResult r = sh("exit 137");
        assertThat(r.status().isSignaled()).isFalse();
        assertThat(r.status().code()).isEqualTo(137);
    }

    @Test
    void capturesStdoutAndStderrSeparately() throws Exception {
        SandboxResult r = sh("echo out; echo err >&2; printf 'no newline'");
        assertThat(r.stdoutText()).isEqualTo("out\nno newline");
        assertThat(r.stderrText()).isEqualTo("err\n");
    }

    @Test
    void largeOutputIsNotLost() throws Exception {
        SandboxResult r = sh("head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2");
        assertThat(r.stdout()).hasSize(5_000_000);
        assertThat(r.stderr()).hasSize(3_000_000);
    }

    @Test
    void argvIsPassedExactly() throws Exception {
        SandboxResult r = Sandbox.builder()
                .command("/bin/sh", "-c", "for a in \"$@\"; do printf '[%s]' \"$a\"; done", "zero", "a b", "", "*",
                        "$HOME", "ünï")
                .build().run();
        assertThat(r.stdoutText()).isEqualTo("[a b][][*][$HOME][ünï]");
    }

    @Test
    void environmentIsEmptyButForPath() throws Exception {
        assertThat(shOk("env | sort")).isEqualTo("PATH=" + Sandbox.DEFAULT_PATH + "\nPWD=/\n");
    }

    @Test
    void environmentAsSet() throws Exception {
        SandboxResult r = Sandbox.builder().env("A", "1").env("PATH", "/usr/bin").env("EMPTY", "")
                .command("/usr/bin/env").build().run();
        assertThat(r.stdoutText()).isEqualTo("A=1\nPATH=/usr/bin\nEMPTY=\n");
    }

    @Test
    void bareCommandNamesAreLookedUpInPath() throws Exception {
        SandboxResult r = Sandbox.builder().command("echo", "found").build().run();
        assertThat(r.stdoutText()).isEqualTo("found\n");
    }

    @Test
    void workingDirectory() throws Exception {
        SandboxResult r = Sandbox.builder().workingDirectory("/usr/bin").command("/bin/pwd").build().run();
        assertThat(r.stdoutText()).isEqualTo("/usr/bin\n");
    }

    @Test
    void missingWorkingDirectoryIsASetupError() {
        assertThatThrownBy(() -> Sandbox.builder().workingDirectory("/nope").command("/bin/true").build().run())
                .isInstanceOf(dev.crabcan.SandboxSetupException.class)
                .hasMessageContaining("/nope").hasMessageContaining("No such file or directory");
    }

    @Test
    void stdinFromBytes() throws Exception {
        SandboxResult r = Sandbox.builder().stdin(Stdio.bytes("line1\nline2\n".getBytes(StandardCharsets.UTF_8)))
                .command("/usr/bin/wc", "-l").build().run();
        assertThat(r.stdoutText().trim()).isEqualTo("2");
    }

    @Test
    void stdinFromFileAndOutputToFiles(@TempDir Path dir) throws Exception {
        Path in = Files.writeString(dir.resolve("in"), "hello\n");
        Path out = dir.resolve("out");
        Path err = Files.writeString(dir.resolve("err"), "previous\n");
        SandboxResult r = Sandbox.builder().stdin(Stdio.readFrom(in)).stdout(Stdio.writeTo(out))
                .stderr(Stdio.appendTo(err)).command("/bin/sh", "-c", "cat; echo oops >&2").build().run();
        assertThat(r.status().code()).isZero();
        assertThat(r.stdout()).isEmpty();
        assertThat(Files.readString(out)).isEqualTo("hello\n");
        assertThat(Files.readString(err)).isEqualTo("previous\noops\n");
    }

    /** run(Duration): a wall-time limit for this run only, with its verdict and the output written until then. */
    @Test
    void runWithATimeoutKillsAndSaysSo() throws Exception {
        Sandbox slow = Sandbox.builder().command("/bin/sh", "-c", "echo before; exec sleep 100").build();
        SandboxResult r = slow.run(java.time.Duration.ofMillis(300));
        assertThat(r.verdict()).isEqualTo(dev.crabcan.Verdict.WALL_TIME_LIMIT);
        assertThat(r.status()).isEqualTo(ExitStatus.signaled(9));
        assertThat(r.stdoutText()).isEqualTo("before\n");
        assertThat(slow.limits().wallTime()).as("the sandbox itself is unchanged").isEmpty();
        SandboxResult quick = Sandbox.builder().command("/bin/echo", "in time").build().run(java.time.Duration.ofSeconds(60));
        assertThat(quick.verdict()).isEqualTo(dev.crabcan.Verdict.OK);
        assertThat(quick.stdoutText()).isEqualTo("in time\n");
    }

    @Test
    void runWithInputBytesOrText() throws Exception {
        Sandbox cat = Sandbox.builder().command("/bin/cat").build();
        byte[] binary = {0, 1, (byte) 0xff, '\n', 0};
        assertThat(cat.run(binary).stdout()).isEqualTo(binary);
        assertThat(cat.run("grüße\n").stdoutText()).isEqualTo("grüße\n");
        assertThat(cat.run("grüße").stdout()).as("UTF-8").hasSize(7);
        assertThat(cat.run(new byte[0]).stdout()).isEmpty();
    }

    @Test
    void runAsyncRunsOnTheGivenExecutor() throws Exception {
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newSingleThreadExecutor();
        try {
            java.util.concurrent.atomic.AtomicInteger used = new java.util.concurrent.atomic.AtomicInteger();
            java.util.concurrent.Executor counting = task -> {
                used.incrementAndGet();
                pool.execute(task);
            };
            SandboxResult r = Sandbox.builder().command("/bin/echo", "async").build().runAsync(counting)
                    .get(60, TimeUnit.SECONDS);
            assertThat(r.stdoutText()).isEqualTo("async\n");
            assertThat(used).hasValue(1);
            assertThatThrownBy(() -> Sandbox.builder().command("/no/such/command").build().runAsync(pool)
                    .get(60, TimeUnit.SECONDS)).isInstanceOf(java.util.concurrent.ExecutionException.class)
                    .hasCauseInstanceOf(CommandNotFoundException.class);
        } finally {
            pool.shutdownNow();
        }
    }

    /** As ProcessBuilder.redirectErrorStream: one stream, in the order the command wrote it, wherever stdout goes. */
    @Test
    void stderrMergedIntoStdoutKeepsTheOrder(@TempDir Path dir) throws Exception {
        String script = "for i in 1 2 3 4 5 6; do echo out$i; echo err$i >&2; done";
        String inOrder = "out1\nerr1\nout2\nerr2\nout3\nerr3\nout4\nerr4\nout5\nerr5\nout6\nerr6\n";
        Sandbox merged = Sandbox.builder().command("/bin/sh", "-c", script).redirectErrorStream(true).build();
        SandboxResult r = merged.run();
        assertThat(r.stdoutText()).isEqualTo(inOrder);
        assertThat(r.stderr()).isEmpty();
        try (SandboxProcess p = merged.start()) {
            assertThat(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo(inOrder);
            assertThat(p.getErrorStream().read()).isEqualTo(-1);
        }
        Path out = dir.resolve("out");
        merged.toBuilder().stdout(Stdio.writeTo(out)).build().run();
        assertThat(Files.readString(out)).isEqualTo(inOrder);
    }

    @Test
    void discardedOutputAndEmptyInput() throws Exception {
        SandboxResult r = Sandbox.builder().stdin(Stdio.discard()).stdout(Stdio.discard())
                .command("/bin/sh", "-c", "cat; echo gone").build().run();
        assertThat(r.status().code()).isZero();
        assertThat(r.stdout()).isEmpty();
    }

    @Test
    void interactiveStdinThroughTheProcessApi() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/cat").build().start();
        try (OutputStream in = p.getOutputStream()) {
            in.write("ping\n".getBytes(StandardCharsets.UTF_8));
        }
        assertThat(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("ping\n");
        assertThat(p.waitFor()).isZero();
        assertThat(p.exitValue()).isZero();
        assertThat(p.isAlive()).isFalse();
        assertThat(p.onExit().get(10, TimeUnit.SECONDS)).isSameAs(p);
    }

    /**
     * The JDK never runs callers' actions on a thread that serves other processes; nor does Crabcan.
     * A consumer's action on one sandbox's onExit() blocks (as a 3 s sleep would, but until released);
     * other sandboxes still start, end and complete their onExit() meanwhile.
     */
    @Test
    @org.junit.jupiter.api.Timeout(300)
    void aBlockingOnExitActionDelaysNoOtherSandbox() throws Exception {
        java.util.concurrent.CountDownLatch entered = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        SandboxProcess first = Sandbox.builder().command("/bin/cat").build().start();
        // Chained while it runs, so that the action runs where the library completes onExit().
        java.util.concurrent.CompletableFuture<Void> blocked = first.onExit().thenAccept(p -> {
            entered.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        first.getOutputStream().close();
        assertThat(first.waitFor()).isZero();
        try {
            assertThat(entered.await(60, TimeUnit.SECONDS)).as("the blocking action runs").isTrue();
            for (int i = 0; i < 3; i++) {
                SandboxProcess other = Sandbox.builder().command("/bin/echo", "x").build().start();
                assertThat(other.onExit().get(60, TimeUnit.SECONDS)).isSameAs(other);
                java.util.concurrent.CompletableFuture<String> chained = other.onExit().thenApply(Process::toString);
                assertThat(chained.get(60, TimeUnit.SECONDS)).contains("exit code 0");
                assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
            }
            assertThat(blocked).as("the first action still blocks").isNotDone();
        } finally {
            release.countDown();
        }
        blocked.get(60, TimeUnit.SECONDS);
    }

    @Test
    void processApiWhileRunning() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sleep", "30").build().start();
        try {
            assertThat(p.pid()).isPositive();
            assertThat(p.isAlive()).isTrue();
            assertThat(p.waitFor(100, TimeUnit.MILLISECONDS)).isFalse();
            assertThatThrownBy(p::exitValue).isInstanceOf(IllegalThreadStateException.class);
            assertThat(p.supportsNormalTermination()).isTrue();
            ProcessHandle init = p.toHandle();
            assertThat(init.pid()).isEqualTo(p.pid());
            assertThat(p.children().map(ProcessHandle::pid).toList()).as("the command is init's child")
                    .hasSize(1).isEqualTo(init.children().map(ProcessHandle::pid).toList());
            ProcessHandle command = p.children().findFirst().orElseThrow();
            assertThat(command.info().command()).as("as the host sees it").hasValue("/usr/bin/sleep");
            assertThat(p.descendants().map(ProcessHandle::pid).toList()).containsExactly(command.pid());
            assertThat(p.info().startInstant()).isPresent();
            assertThat(p.info().command()).as("info() is the command's, not init's").hasValue("/usr/bin/sleep");
            assertThat(p.info().arguments()).hasValueSatisfying(a -> assertThat(a).containsExactly("30"));
        } finally {
            p.destroy();
        }
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.signaled(15));
        assertThat(p.exitValue()).isEqualTo(143);
        assertThatThrownBy(p::toHandle).isInstanceOf(IllegalStateException.class).hasMessageContaining("has ended");
        assertThat(p.children()).as("as the JDK's, once it has ended").isEmpty();
        assertThat(p.descendants()).isEmpty();
        assertThat(p.info().command()).isEmpty();
        assertThat(p.info().startInstant()).isEmpty();
    }

    /** The command's whole tree as the host sees it, and the command found among the processes it left behind. */
    @Test
    void descendantsAreTheCommandsTreeAndInfoIsTheCommand() throws Exception {
        try (SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c",
                "(sleep 1000 &); sleep 1001 & sleep 1002 & echo started; wait").build().start()) {
            assertThat(new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream())).readLine())
                    .isEqualTo("started");
            // A background child is forked before it has exec'd sleep: wait (bounded) until all three have.
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!p.descendants().map(h -> h.info().arguments().map(a -> a[0]).orElse("?")).toList()
                    .containsAll(java.util.List.of("1000", "1001", "1002")) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            ProcessHandle shell = ProcessHandle.of(p.pid()).orElseThrow().children()
                    .filter(h -> h.info().command().orElse("").endsWith("sh")).findFirst().orElseThrow();
            assertThat(p.info().command()).as("the command, also beside the orphan init adopted")
                    .isEqualTo(shell.info().command());
            assertThat(p.info().arguments().map(java.util.List::of).orElseThrow()).contains("-c");
            assertThat(p.children().map(h -> h.info().arguments().map(a -> a[0]).orElse("?")).toList())
                    .as("the shell, and the orphaned sleep 1000 that init adopted").hasSize(2).contains("1000");
            assertThat(p.descendants().map(h -> h.info().arguments().map(a -> a[0]).orElse("?")).toList())
                    .as("every process of the sandbox but init").hasSize(4).contains("1000", "1001", "1002");
        }
    }

    @Test
    void sandboxIsReusable() throws Exception {
        Sandbox s = Sandbox.builder().command("/bin/echo", "again").build();
        for (int i = 0; i < 3; i++) {
            assertThat(s.run().stdoutText()).isEqualTo("again\n");
        }
    }

    @Test
    void commandNotFound() {
        assertThatThrownBy(() -> Sandbox.builder().command("/no/such/program").build().start())
                .isInstanceOf(CommandNotFoundException.class)
                .hasMessage("command /no/such/program not found in the default root filesystem");
        assertThatThrownBy(() -> Sandbox.builder().command("nosuchprogram").build().start())
                .isInstanceOf(CommandNotFoundException.class)
                .hasMessageContaining("searched PATH=" + Sandbox.DEFAULT_PATH);
    }

    @Test
    void commandWithoutExecutePermission(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("script"), "#!/bin/sh\necho hi\n");
        assertThatThrownBy(() -> Sandbox.builder().bind(dir, "/w", true).command("/w/script").build().start())
                .isInstanceOf(CommandNotExecutableException.class)
                .hasMessageContaining("cannot execute /w/script: Permission denied");
    }

    @Test
    void commandInNoFormatTheKernelKnows(@TempDir Path dir) throws Exception {
        Path junk = Files.write(dir.resolve("junk"), new byte[] {1, 2, 3, 4});
        Files.setPosixFilePermissions(junk, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        assertThatThrownBy(() -> Sandbox.builder().bind(dir, "/w", true).command("/w/junk").build().start())
                .isInstanceOf(CommandNotExecutableException.class)
                .hasMessageContaining("cannot execute /w/junk: Exec format error");
    }

    @Test
    void resourceUseIsReported() throws Exception {
        SandboxResult r = sh("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
        assertThat(r.userTime().orElseThrow().plus(r.systemTime().orElseThrow())).isPositive();
        assertThat(r.cpuTimeSource()).hasValue(SandboxResult.Source.RUSAGE);
        assertThat(r.peakMemoryBytes().getAsLong()).isPositive();
        assertThat(r.peakMemorySource()).hasValue(SandboxResult.Source.RUSAGE);
        assertThat(r.verdict()).isEqualTo(dev.crabcan.Verdict.OK);
        assertThat(r.wallTime()).isPositive();
    }

    @Test
    void stdioFilesAreNotFollowedThroughPlantedLinksOrFifos(@TempDir Path dir) throws Exception {
        Path secret = Files.writeString(dir.resolve("secret"), "keep\n");
        Path link = Files.createSymbolicLink(dir.resolve("out.txt"), secret);
        assertThatThrownBy(() -> Sandbox.builder().stdout(Stdio.writeTo(link)).command("/bin/echo", "pwned").build()
                .run()).isInstanceOf(dev.crabcan.SandboxSetupException.class)
                .hasMessageContaining("stdio open " + link).hasMessageContaining("symbolic links");
        assertThat(Files.readString(secret)).isEqualTo("keep\n");
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        assertThatThrownBy(() -> Sandbox.builder().stdout(Stdio.writeTo(fifo)).command("/bin/true").build().run())
                .as("no reader: refused at once instead of hanging").isInstanceOf(dev.crabcan.SandboxSetupException.class);
    }
}
