package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxPipe;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Stdio;
import dev.crabcan.Verdict;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * An interactive problem judged as a judge would: an interactor and a solution, each in its own
 * sandbox, wired stdout to stdin both ways by {@link SandboxPipe}s the JVM never reads or writes.
 */
@Timeout(60)
class InteractiveJudgeTest {
    /** Guess the number: answers "<", ">" or "=", says its verdict on stderr and in its exit code. */
    private static final String INTERACTOR = String.join("\n",
            "import os, sys",
            "sys.stderr.write('stdout %s\\n' % os.readlink('/proc/self/fd/1'))",
            "secret, n = int(sys.argv[1]), 0",
            "for line in sys.stdin:",
            "    n += 1",
            "    g = int(line)",
            "    if g == secret:",
            "        print('=', flush=True)",
            "        sys.stderr.write('OK in %d\\n' % n)",
            "        sys.exit(0)",
            "    print('<' if secret < g else '>', flush=True)",
            "sys.stderr.write('WA end of file after %d\\n' % n)",
            "sys.exit(1)");

    private static final String BINARY_SEARCH = String.join("\n",
            "import os, sys",
            "sys.stderr.write('stdin %s\\n' % os.readlink('/proc/self/fd/0'))",
            "lo, hi = 1, 1000000",
            "while True:",
            "    m = (lo + hi) // 2",
            "    print(m, flush=True)",
            "    r = input()",
            "    if r == '=':",
            "        break",
            "    if r == '<':",
            "        hi = m - 1",
            "    else:",
            "        lo = m + 1");

    private static Sandbox python(String script, String... args) {
        String[] command = new String[args.length + 3];
        command[0] = "/usr/bin/python3";
        command[1] = "-c";
        command[2] = script;
        System.arraycopy(args, 0, command, 3, args.length);
        return Sandbox.builder().limits(Limits.builder().wallTime(Duration.ofSeconds(20)).build()).command(command)
                .build();
    }

    /** Both results and what each said on stderr. */
    private record Judged(SandboxResult interactor, SandboxResult solution, String interactorErr, String solutionErr) {}

    private static Judged judge(Sandbox interactor, Sandbox solution) throws Exception {
        try (SandboxPipe toSolution = SandboxPipe.create(); SandboxPipe toInteractor = SandboxPipe.create()) {
            Sandbox i = interactor.toBuilder().stdin(Stdio.from(toInteractor)).stdout(Stdio.to(toSolution)).build();
            Sandbox s = solution.toBuilder().stdin(Stdio.from(toSolution)).stdout(Stdio.to(toInteractor)).build();
            try (SandboxProcess ip = i.start(); SandboxProcess sp = s.start()) {
                // Every end went to a sandbox: this JVM holds none, so nothing here could relay or keep a pipe open.
                for (SandboxPipe p : new SandboxPipe[] {toSolution, toInteractor}) {
                    assertThat(p.readEnd().isAvailable()).isFalse();
                    assertThat(p.writeEnd().isAvailable()).isFalse();
                }
                String ie = new String(ip.getErrorStream().readAllBytes());
                String se = new String(sp.getErrorStream().readAllBytes());
                assertThat(ip.waitFor(30, TimeUnit.SECONDS)).isTrue();
                assertThat(sp.waitFor(30, TimeUnit.SECONDS)).isTrue();
                return new Judged(ip.result(), sp.result(), ie, se);
            }
        }
    }

    @Test
    void aSolutionThatFindsTheNumberIsAcceptedOverPipesTheJvmNeverTouches() throws Exception {
        Judged j = judge(python(INTERACTOR, "777777"), python(BINARY_SEARCH));
        assertThat(j.interactor().verdict()).as("interactor: %s", j.interactorErr()).isEqualTo(Verdict.OK);
        assertThat(j.solution().verdict()).as("solution: %s", j.solutionErr()).isEqualTo(Verdict.OK);
        assertThat(j.interactorErr()).contains("OK in ");
        // The interactor's stdout is the very pipe that is the solution's stdin.
        String pipe = j.interactorErr().lines().filter(l -> l.startsWith("stdout ")).findFirst().orElseThrow()
                .substring(7);
        assertThat(pipe).startsWith("pipe:[");
        assertThat(j.solutionErr()).contains("stdin " + pipe);
    }

    @Test
    void aSolutionThatStopsEarlyLeavesTheInteractorAnEndOfFile() throws Exception {
        Judged j = judge(python(INTERACTOR, "5"), python("print(1, flush=True); input()"));
        assertThat(j.solution().verdict()).as("solution: %s", j.solutionErr()).isEqualTo(Verdict.OK);
        // Nobody else holds the write end: the interactor reads the end of file at once, not at its wall-time limit.
        assertThat(j.interactor().verdict()).as("interactor: %s", j.interactorErr()).isEqualTo(Verdict.NONZERO_EXIT);
        assertThat(j.interactorErr()).contains("WA end of file after 1");
    }

    @Test
    void aSolutionKilledAtItsLimitEndsTheInteractorsInput() throws Exception {
        Sandbox slow = python("import time; time.sleep(30)").toBuilder()
                .limits(Limits.builder().wallTime(Duration.ofSeconds(1)).build()).build();
        Judged j = judge(python(INTERACTOR, "5"), slow);
        assertThat(j.solution().verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        assertThat(j.interactor().verdict()).as("interactor: %s", j.interactorErr()).isEqualTo(Verdict.NONZERO_EXIT);
        assertThat(j.interactorErr()).contains("WA end of file after 0");
    }

    /** go-judge's pipe mapping: ends at chosen fd numbers, one end at two fds of the same sandbox. */
    @Test
    void pipeEndsGoToChosenFdNumbers() throws Exception {
        try (SandboxPipe pipe = SandboxPipe.create()) {
            Sandbox writer = Sandbox.builder().passFd(5, pipe.writeEnd()).passFd(9, pipe.writeEnd())
                    .command("/bin/sh", "-c", "echo five >&5; echo nine >&9").build();
            Sandbox reader = Sandbox.builder().passFd(6, pipe.readEnd()).command("/bin/sh", "-c", "cat <&6").build();
            try (SandboxProcess r = reader.start()) {
                SandboxResult w = writer.run();
                assertThat(w.verdict()).as(w.stderrText()).isEqualTo(Verdict.OK);
                assertThat(new String(r.getInputStream().readAllBytes())).isEqualTo("five\nnine\n");
                assertThat(r.waitFor(30, TimeUnit.SECONDS)).isTrue();
                assertThat(r.exitValue()).isZero();
            }
        }
    }

    @Test
    void anEndGoesToOneStartOnly() throws Exception {
        try (SandboxPipe pipe = SandboxPipe.create()) {
            Sandbox writer = Sandbox.builder().stdout(Stdio.to(pipe)).command("/bin/true").build();
            assertThat(writer.run().verdict()).isEqualTo(Verdict.OK);
            assertThatThrownBy(writer::run).isInstanceOf(SandboxSpecException.class)
                    .hasMessageContaining("stdout: the write end of " + pipe + " was already given to a sandbox");
        }
    }

    /** A FIFO without a reader cannot be stdout (the open does not block); the error names what to use. */
    @Test
    void aFifoWithoutAReaderIsRefusedNamingSandboxPipe(@TempDir Path dir) throws Exception {
        Path fifo = dir.resolve("fifo");
        assertThat(new ProcessBuilder("mkfifo", fifo.toString()).start().waitFor()).isZero();
        Sandbox s = Sandbox.builder().stdout(Stdio.writeTo(fifo)).command("/bin/true").build();
        assertThatThrownBy(s::run).isInstanceOf(SandboxSetupException.class)
                .hasMessageContaining("nobody has open for reading").hasMessageContaining("SandboxPipe");
    }
}
