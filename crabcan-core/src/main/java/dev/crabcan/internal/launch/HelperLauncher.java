package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.Stdio;
import java.io.IOException;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One helper process per sandbox, started with {@link ProcessBuilder}: the JDK creates the
 * sandbox's stdio pipes, and the helper connects back to a Unix socket in the run directory for
 * the plan and its reports.
 */
final class HelperLauncher implements Launcher {
    private static final Logger log = LoggerFactory.getLogger(HelperLauncher.class);
    private static final long CONNECT_TIMEOUT_MS = 10_000;

    private final Path helper;
    private final Path runDir;
    private final AtomicLong counter = new AtomicLong();

    HelperLauncher(Path helper, Path runDir) {
        this.helper = helper;
        this.runDir = runDir;
    }

    @Override
    public Launched launch(byte[] plan, Stdio stdin, Stdio stdout, Stdio stderr) throws SandboxException {
        Path socket = runDir.resolve(counter.incrementAndGet() + ".sock");
        Process process = null;
        SocketChannel channel = null;
        try (ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            server.bind(UnixDomainSocketAddress.of(socket));
            ProcessBuilder pb = new ProcessBuilder(helper.toString(), socket.toString())
                    .redirectInput(input(stdin))
                    .redirectOutput(output(stdout))
                    .redirectError(output(stderr));
            pb.environment().clear();
            process = start(pb);
            channel = accept(server, process);
            channel.write(ByteBuffer.wrap(plan));
            Session session = new Session(channel);
            Monitor.watch(session);
            OutputStream in = process.getOutputStream();
            if (stdin.kind() == Stdio.Kind.BYTES) {
                feed(in, stdin.bytes());
                in = OutputStream.nullOutputStream();
            }
            return new Launched(session, in, process.getInputStream(), process.getErrorStream());
        } catch (IOException e) {
            closeQuietly(channel);
            if (process != null) {
                process.destroyForcibly();
            }
            throw e instanceof SandboxException s ? s : new SandboxException("cannot start the helper: " + e, e);
        } finally {
            try {
                Files.deleteIfExists(socket);
            } catch (IOException e) {
                log.debug("removing {}: {}", socket, e.toString());
            }
        }
    }

    private Process start(ProcessBuilder pb) throws SandboxException {
        try {
            return pb.start();
        } catch (IOException e) {
            throw new SandboxException("cannot execute the helper " + helper + " (" + e.getMessage() + "); if its "
                    + "directory is on a noexec mount, choose another with -D" + HelperRuntime.CACHE_PROPERTY
                    + "=DIR or " + HelperRuntime.CACHE_ENV, e);
        }
    }

    /** Waits for the helper to connect, giving up if it exits first. */
    private static SocketChannel accept(ServerSocketChannel server, Process process) throws IOException {
        server.configureBlocking(false);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MS);
        try (Selector selector = Selector.open()) {
            server.register(selector, SelectionKey.OP_ACCEPT);
            for (;;) {
                SocketChannel channel = server.accept();
                if (channel != null) {
                    channel.configureBlocking(true);
                    return channel;
                }
                if (!process.isAlive()) {
                    throw new SandboxException("the helper exited with status " + process.exitValue()
                            + " before connecting to its control socket");
                }
                if (System.nanoTime() > deadline) {
                    throw new SandboxException("the helper did not connect within " + CONNECT_TIMEOUT_MS + " ms");
                }
                selector.select(50);
                selector.selectedKeys().clear();
            }
        }
    }

    private static ProcessBuilder.Redirect input(Stdio s) {
        return switch (s.kind()) {
            case PIPE, BYTES -> ProcessBuilder.Redirect.PIPE;
            case INHERIT -> ProcessBuilder.Redirect.INHERIT;
            case DISCARD -> ProcessBuilder.Redirect.from(new java.io.File("/dev/null"));
            case READ_FILE -> ProcessBuilder.Redirect.from(s.file().toFile());
            default -> throw new IllegalArgumentException("not an input: " + s);
        };
    }

    private static ProcessBuilder.Redirect output(Stdio s) {
        return switch (s.kind()) {
            case PIPE -> ProcessBuilder.Redirect.PIPE;
            case INHERIT -> ProcessBuilder.Redirect.INHERIT;
            case DISCARD -> ProcessBuilder.Redirect.DISCARD;
            case WRITE_FILE -> ProcessBuilder.Redirect.to(s.file().toFile());
            case APPEND_FILE -> ProcessBuilder.Redirect.appendTo(s.file().toFile());
            default -> throw new IllegalArgumentException("not an output: " + s);
        };
    }

    private static void feed(OutputStream in, byte[] bytes) {
        IoThreads.pool().execute(() -> {
            try (in) {
                in.write(bytes);
            } catch (IOException e) {
                log.debug("stdin closed before all {} bytes were written: {}", bytes.length, e.toString());
            }
        });
    }

    private static void closeQuietly(SocketChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                log.debug("closing the control channel: {}", e.toString());
            }
        }
    }
}
