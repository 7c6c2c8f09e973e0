package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.CopiedFile;
import dev.crabcan.CopyIn;
import dev.crabcan.Limits;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.Tmpfs;
import dev.crabcan.Verdict;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Copy-in and copy-out through the sandbox's own tmpfs, with no host directory for the run. */
@Timeout(60)
class CopyFilesTest {
    private static Sandbox.Builder box(String script) {
        return Sandbox.builder().tmpfs(new Tmpfs("/box", 1 << 20)).workingDirectory("/box")
                .command("/bin/sh", "-c", script);
    }

    @Test
    void filesGoInBeforeTheCommandAndComeBackAfterIt(@TempDir Path dir) throws Exception {
        Path input = dir.resolve("input.txt");
        Files.writeString(input, "3 4\n");
        SandboxResult r = box("read a b < in/input.txt; echo $((a + b)) > out.txt; cat checker/key; "
                + "stat -c '%a %u' in/input.txt checker/key; echo more >> in/input.txt && cat in/input.txt")
                .copyIn(CopyIn.file("/box/in/input.txt", input))
                .copyIn(CopyIn.bytes("/box/checker/key", "secret\n".getBytes(StandardCharsets.UTF_8)).readOnly())
                .copyOut("/box/out.txt", 100).copyOut("/box/in/input.txt", 100)
                .build().run();
        assertThat(r.verdict()).as(r.stderrText()).isEqualTo(Verdict.OK);
        assertThat(r.stdoutText()).isEqualTo("secret\n644 0\n444 0\n3 4\nmore\n");
        assertThat(r.copiedFiles()).containsOnlyKeys("/box/out.txt", "/box/in/input.txt");
        CopiedFile out = r.copiedFiles().get("/box/out.txt");
        assertThat(out.text()).isEqualTo("7\n");
        assertThat(out.truncated()).isFalse();
        assertThat(r.copiedFiles().get("/box/in/input.txt").text()).isEqualTo("3 4\nmore\n");
        assertThat(Files.readString(input)).as("the host file is only read").isEqualTo("3 4\n");
    }

    /** Even the sandbox's root can neither change, chmod nor remove a read-only file. */
    @Test
    void aReadOnlyFileCannotBeChangedChmodedOrRemoved() throws Exception {
        SandboxResult r = box("for op in 'echo x > key' 'chmod 666 key' 'rm -f key'; do "
                + "if eval \"$op\" 2>/dev/null; then echo \"$op: done\"; else echo \"$op: refused\"; fi; done; cat key")
                .copyIn(CopyIn.bytes("/box/key", "k\n".getBytes(StandardCharsets.UTF_8)).readOnly())
                .build().run();
        assertThat(r.stdoutText()).isEqualTo("echo x > key: refused\nchmod 666 key: refused\nrm -f key: refused\nk\n");
    }

    /** The descriptors the copies travel through are init's: the command holds none of them. */
    @Test
    void theCommandHoldsNoneOfTheCopiesDescriptors() throws Exception {
        SandboxResult r = box("ls /proc/self/fd | tr '\\n' ' '").copyIn("/box/in", new byte[10])
                .copyOut("/box/out", 10).build().run();
        assertThat(r.stdoutText()).as("0-2 and the listing's own fd").isEqualTo("0 1 2 3 ");
    }

    /** Copies belong to the command's user, whatever it is; read-only ones stay so for it too. */
    @Test
    void copiesBelongToTheCommandsUser() throws Exception {
        SandboxResult r = box("stat -c '%u %a' dir dir/rw dir/ro; echo x >> dir/rw && echo rw-written; "
                + "(echo x >> dir/ro) 2>/dev/null || echo ro-refused; echo made > dir/new")
                .uid(1000)
                .copyIn("/box/dir/rw", new byte[0])
                .copyIn(CopyIn.bytes("/box/dir/ro", new byte[0]).readOnly())
                .copyOut("/box/dir/new", 10)
                .build().run();
        assertThat(r.verdict()).as(r.stderrText()).isEqualTo(Verdict.OK);
        assertThat(r.stdoutText()).isEqualTo("1000 755\n1000 644\n1000 444\nrw-written\nro-refused\n");
        assertThat(r.copiedFiles().get("/box/dir/new").text()).isEqualTo("made\n");
    }

    @Test
    void copiesOutAreCappedAndOnlyRegularFilesWithoutLinks() throws Exception {
        SandboxResult r = box("head -c 10000 /dev/zero > big; ln -s /etc/passwd link; mkfifo fifo; mkdir dir")
                .copyOut("/box/big", 100).copyOut("/box/link", 1000).copyOut("/box/fifo", 10)
                .copyOut("/box/dir", 10).copyOut("/box/missing", 10)
                .build().run();
        assertThat(r.verdict()).as(r.stderrText()).isEqualTo(Verdict.OK);
        assertThat(r.copiedFiles()).containsOnlyKeys("/box/big");
        CopiedFile big = r.copiedFiles().get("/box/big");
        assertThat(big.content()).hasSize(100);
        assertThat(big.size()).isEqualTo(10000);
        assertThat(big.truncated()).isTrue();
    }

    /** The tmpfs's size is the run's disk quota, for the copies as for the command. */
    @Test
    void theTmpfsSizeIsTheQuota() throws Exception {
        SandboxResult r = box("head -c 2000000 /dev/zero > fill; echo \"exit $?\" >&2; ls -s fill")
                .copyOut("/box/fill", 10).build().run();
        assertThat(r.stderrText()).contains("No space left on device").contains("exit 1");
        assertThat(r.copiedFiles().get("/box/fill").size()).isLessThanOrEqualTo(1 << 20);
        Sandbox tooBig = box("true").copyIn("/box/big", new byte[2 << 20]).build();
        assertThatThrownBy(tooBig::run).isInstanceOf(SandboxSetupException.class).hasMessageContaining("copy in")
                .hasMessageContaining("/box/big");
    }

    @Test
    void aStartedProcessGivesItsFilesOnceEnded() throws Exception {
        try (SandboxProcess p = box("echo done > result").copyOut("/box/result", 10).build().start()) {
            assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
            assertThat(p.copiedFiles().get("/box/result").text()).isEqualTo("done\n");
        }
    }

    /** A limit kills the whole sandbox, its init too: nothing is read back then. */
    @Test
    void aSandboxStoppedAtALimitStillCopiesOutAndOneKilledWholeDoesNot() throws Exception {
        SandboxResult r = box("echo partial > result; sleep 30").copyOut("/box/result", 10)
                .limits(Limits.builder().wallTime(Duration.ofMillis(500)).build()).build().run();
        assertThat(r.verdict()).isEqualTo(Verdict.WALL_TIME_LIMIT);
        assertThat(r.copiedFiles().get("/box/result").text()).isEqualTo("partial\n");
        try (SandboxProcess p = box("echo partial > result; sleep 30").copyOut("/box/result", 10).build().start()) {
            p.destroyForcibly();
            p.waitFor();
            assertThat(p.copiedFiles()).isEmpty();
        }
    }

    @Test
    void badCopiesAreRefusedBeforeAnythingRuns(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> Sandbox.builder().copyIn("/etc/x", new byte[1]).command("true").build())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("lies in no tmpfs");
        assertThatThrownBy(() -> box("true").bindReadOnly(dir, "/box/data").copyIn("/box/data/x", new byte[1]).build())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("lies in the mount at /box/data");
        Files.createDirectory(dir.resolve("real"));
        Files.writeString(dir.resolve("real/f"), "x");
        Files.createSymbolicLink(dir.resolve("link"), dir.resolve("real"));
        Sandbox linked = box("true").copyIn(CopyIn.file("/box/f", dir.resolve("link/f"))).build();
        assertThatThrownBy(linked::run).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("follows no symbolic link");
    }
}
