package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSpecException;
import java.io.FileOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Descriptors of the JVM given to the command (Sandbox.Builder.passFd, socketActivation), as consumer code uses them. */
@Timeout(60)
class PassFdTest {

    /**
     * Socket activation: the JVM listens on a host port, the sandbox has no network at all, and
     * the command serves the connection the JVM makes, on the fd it was given (sd_listen_fds's
     * checks: LISTEN_PID is its own pid, LISTEN_FDS the count).
     */
    @Test
    void aListeningSocketIsServedFromInsideASandboxWithoutNetwork() throws Exception {
        try (ServerSocketChannel server = ServerSocketChannel.open()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            Sandbox sandbox = Sandbox.builder().network(Network.none()).socketActivation(server)
                    .command("/usr/bin/python3", "-c", String.join("\n",
                            "import os, socket",
                            "s = socket.socket(fileno=3)",
                            "c, _ = s.accept()",
                            "ok = os.environ['LISTEN_PID'] == str(os.getpid())",
                            "c.sendall(('pid-ok=%s fds=%s type=%s\\n' % (ok, os.environ['LISTEN_FDS'], s.type.name)).encode())",
                            "c.close()",
                            "print(sorted(os.listdir('/proc/self/fd')))"))
                    .build();
            try (SandboxProcess p = sandbox.start()) {
                String said;
                try (SocketChannel client = SocketChannel.open(server.getLocalAddress())) {
                    said = readAll(client);
                }
                assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
                String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
                assertThat(p.exitValue()).as("stderr: %s", err).isZero();
                assertThat(said).isEqualTo("pid-ok=True fds=1 type=SOCK_STREAM\n");
                // 0-2, the passed socket, and the directory listing's own fd: nothing else of the JVM's or the helper's.
                assertThat(out.strip()).isEqualTo("['0', '1', '2', '3', '4']");
            }
            assertThat(server.isOpen()).as("the JVM's own socket stays the caller's").isTrue();
        }
    }

    @Test
    void aUnixSocketAndAFileArrivedAtTheirNumbers(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("log");
        try (ServerSocketChannel unix = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                FileChannel file = FileChannel.open(log, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            unix.bind(UnixDomainSocketAddress.of(dir.resolve("sock")));
            file.write(ByteBuffer.wrap("before\n".getBytes(StandardCharsets.UTF_8)));
            long position = file.position();
            SandboxResult r = Sandbox.builder().passFd(7, file).passFd(12, unix)
                    .command("/bin/sh", "-c", "echo inside >&7; readlink /proc/self/fd/12 | cut -c1-7; [ -e /proc/self/fd/3 ] || echo no-3")
                    .build().run();
            assertThat(r.status().code()).as("stderr: %s", r.stderrText()).isZero();
            assertThat(r.stdoutText()).isEqualTo("socket:\nno-3\n");
            assertThat(Files.readString(log)).isEqualTo("before\ninside\n");
            assertThat(file.position()).as("the search for the file's fd leaves its position as it was")
                    .isEqualTo(position + "inside\n".length());
        }
    }

    @Test
    void aFileDescriptorIsPassedToo(@TempDir Path dir) throws Exception {
        Path log = dir.resolve("log");
        try (FileOutputStream out = new FileOutputStream(log.toFile())) {
            SandboxResult r = Sandbox.builder().passFd(3, out.getFD()).command("/bin/sh", "-c", "echo via-fd >&3")
                    .build().run();
            assertThat(r.status().code()).as("stderr: %s", r.stderrText()).isZero();
        }
        assertThat(Files.readString(log)).isEqualTo("via-fd\n");
    }

    @Test
    void badPassesFailBeforeAnythingStarts() throws Exception {
        assertThatThrownBy(() -> Sandbox.builder().passFd(2, FileChannel.open(Path.of("/dev/null"))))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("from 3");
        ServerSocketChannel closed = ServerSocketChannel.open();
        closed.close();
        Sandbox s = Sandbox.builder().passFd(3, closed).command("/bin/true").build();
        assertThatThrownBy(s::run).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("passFd(3, ...)").hasMessageContaining("closed");
        try (ServerSocketChannel unbound = ServerSocketChannel.open()) {
            Sandbox u = Sandbox.builder().passFd(3, unbound).command("/bin/true").build();
            assertThatThrownBy(u::run).isInstanceOf(SandboxSpecException.class).hasMessageContaining("not bound");
        }
    }

    private static String readAll(SocketChannel ch) throws Exception {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        ByteBuffer buf = ByteBuffer.allocate(256);
        while (ch.read(buf.clear()) >= 0) {
            out.write(buf.array(), 0, buf.position());
        }
        return out.toString(StandardCharsets.UTF_8);
    }
}
