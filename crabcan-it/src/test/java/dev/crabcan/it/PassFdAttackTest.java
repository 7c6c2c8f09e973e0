package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.CommandNotFoundException;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSpecException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Attacks on passFd: the command gets exactly what the caller passed, and nothing is written into it for it. */
@Timeout(180)
class PassFdAttackTest {

    /**
     * A target that is the number of one of init's own fds (the exec status pipe, the report
     * pipe): a command that cannot be executed must be reported as such, with nothing of the
     * helper's written into the caller's file.
     */
    @Test
    void aTargetNeverTakesThePlaceOfTheFdsAFailureIsReportedOn(@TempDir Path dir) throws Exception {
        for (int target = 3; target <= 12; target++) {
            Path file = dir.resolve("fd" + target);
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
                Sandbox s = Sandbox.builder().passFd(target, ch).command("/nonexistent/command").build();
                assertThatThrownBy(s::start).as("target %d", target).isInstanceOf(CommandNotFoundException.class);
            }
            assertThat(Files.readString(file)).as("written into the file passed at %d", target).isEmpty();
        }
    }

    /**
     * The JDK shows a Unix socket's abstract peer address as "", as it does an unbound peer: a
     * server's connection from an abstract-bound client must not be taken for its connection from
     * an unbound one, whose client would then get what the sandbox writes.
     */
    @Test
    void aConnectionIsNeverTakenForAnotherThatLooksAlikeToTheJdk(@TempDir Path dir) throws Exception {
        Path sock = dir.resolve("sock");
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(sock));
            Process abstractClient = new ProcessBuilder("/usr/bin/python3", "-c", String.join("\n",
                    "import socket, sys",
                    "s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)",
                    "s.bind(b'\\0crabcan-it-passfd-' + str(__import__('os').getpid()).encode())",
                    "s.connect(sys.argv[1])",
                    "s.recv(1)"), sock.toString()).redirectErrorStream(true).start();
            try (SocketChannel fromAbstract = server.accept();
                    SocketChannel unbound = SocketChannel.open(UnixDomainSocketAddress.of(sock));
                    SocketChannel fromUnbound = server.accept()) {
                Sandbox s = Sandbox.builder().passFd(3, fromAbstract).command("/bin/sh", "-c", "echo not-for-you >&3").build();
                try {
                    SandboxResult r = s.run();
                    assertThat(r.status().code()).isZero(); // then it must have reached the abstract client, see below
                } catch (SandboxSpecException e) {
                    assertThat(e).hasMessageContaining("unique"); // ambiguous: refused
                }
                unbound.configureBlocking(false);
                assertThat(unbound.read(ByteBuffer.allocate(64))).as("the unbound client got the sandbox's output").isZero();
            } finally {
                abstractClient.destroyForcibly();
                abstractClient.waitFor(30, TimeUnit.SECONDS);
            }
        }
    }

    /** The copies the starts hold are never taken for the caller's channel: the same one twice, and by starts at once. */
    @Test
    void theSameListenerPassedTwiceAndByStartsAtOnce() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(null);
            SandboxResult twice = Sandbox.builder().passFd(3, server).passFd(9, server)
                    .command("/bin/sh", "-c", "readlink /proc/self/fd/3 /proc/self/fd/9 | uniq | wc -l").build().run();
            assertThat(twice.stdoutText().strip()).as("stderr: %s", twice.stderrText()).isEqualTo("1");
            Sandbox one = Sandbox.builder().passFd(3, server).command("/bin/true").build();
            java.util.List<CompletableFuture<SandboxResult>> runs = new java.util.ArrayList<>();
            for (int i = 0; i < 4; i++) {
                runs.add(CompletableFuture.supplyAsync(() -> {
                    try {
                        SandboxResult last = null;
                        for (int j = 0; j < 5; j++) {
                            last = one.run();
                        }
                        return last;
                    } catch (Exception e) {
                        throw new java.util.concurrent.CompletionException(e);
                    }
                }));
            }
            for (CompletableFuture<SandboxResult> r : runs) {
                assertThat(r.get(120, TimeUnit.SECONDS).status().code()).isZero();
            }
        }
    }

    /**
     * The caller closes a channel while the sandbox starts and opens another file, which gets the
     * closed one's fd number: the sandbox must never get that file.
     */
    @Test
    void aChannelClosedDuringTheStartNeverLetsTheFdNumbersNextOwnerIn(@TempDir Path dir) throws Exception {
        Path innocent = dir.resolve("innocent"), secret = dir.resolve("secret");
        Files.writeString(innocent, "innocent\n");
        Files.writeString(secret, "SECRET\n");
        int started = 0;
        for (int i = 0; i < 45; i++) {
            FileChannel ch = FileChannel.open(innocent);
            Sandbox s = Sandbox.builder().passFd(5, ch).command("/bin/cat", "/proc/self/fd/5").build();
            CompletableFuture<SandboxResult> run = CompletableFuture.supplyAsync(() -> {
                try {
                    return s.run();
                } catch (Exception e) {
                    return null; // refused or failed: nothing was given
                }
            });
            Thread.sleep(i % 15);
            ch.close();
            try (FileChannel next = FileChannel.open(secret)) {
                SandboxResult r = run.get(60, TimeUnit.SECONDS);
                if (r != null) {
                    started++;
                    assertThat(r.stdoutText()).as("attempt %d", i).doesNotContain("SECRET");
                }
            }
        }
        assertThat(started).as("some sandboxes started before their channel was closed").isPositive();
    }
}
