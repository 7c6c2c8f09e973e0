package dev.crabcan.examples;

import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.HelperRuntime;
import dev.crabcan.internal.launch.PrivateDirs;
import dev.crabcan.internal.launch.RemoteZygotes;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.UserPrincipal;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;

/**
 * crabcan-oci's service: one long-lived JVM per user and state root that runs the native front
 * end's commands ({@link OciRuntime#run}) in-process, so that a call costs no JVM start. The
 * front end starts it (see crabcan-native's oci_front.c and oci_service.c for the protocol and
 * what it checks); it exits after {@code CRABCAN_OCI_IDLE} seconds (default 30) without a request.
 *
 * Its socket is in its Crabcan run directory, which no sandbox may be shown (see
 * HelperRuntime#exposure), linked from {@code <root>/.service}; it serves only its own user
 * (SO_PEERCRED). It never gets the caller's file descriptors: the front end forks every sandbox
 * helper itself, as the zygote of its request ({@link RemoteZygotes}), which inherits the
 * caller's stdio; so a container made by create depends on no JVM.
 */
public final class OciService {
    static final String LINK = ".service";
    static final String SOCKET = "oci.sock";
    private static final int REQUEST_MAX = 4 << 20;
    private static final long HELLO_TIMEOUT_MS = 10_000;
    /**
     * Options whose value is a path: the caller's relative ones are resolved against its directory,
     * which is not this JVM's.
     */
    private static final Set<String> PATH_OPTIONS = Set.of("--root", "--log", "--bundle", "-b", "--pid-file",
            "--process", "-p", "--console-socket");
    /**
     * Options whose value is no path: the command is the first word that is not an option or a
     * value, exec's container id the first after it.
     */
    private static final Set<String> VALUE_OPTIONS = Set.of("--log-format", "--rootless", "--hook-timeout", "--preserve-fds", "--cwd", "--user", "-u",
            "--env", "-e", "--cap", "-c", "--additional-gids", "-g", "--apparmor", "--process-label");

    private final Path socket;
    private final ServerSocketChannel server;
    private final UserPrincipal me;
    private final RemoteZygotes zygotes = new RemoteZygotes();
    private final AtomicInteger active = new AtomicInteger();
    private final AtomicLong lastActive = new AtomicLong(System.nanoTime());
    /** Threads for connections and their watches, kept between requests: a call should not pay for starting them. */
    private final java.util.concurrent.ExecutorService threads = java.util.concurrent.Executors.newCachedThreadPool(r -> {
        Thread t = new Thread(r, "crabcan-oci-request");
        t.setDaemon(true);
        return t;
    });

    private OciService(Path socket, ServerSocketChannel server, UserPrincipal me) {
        this.socket = socket;
        this.server = server;
        this.me = me;
    }

    /** OciService ROOT: binds, links, says READY on stdout (to the front end that started it), serves. */
    public static void main(String[] args) throws Exception {
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        long idleMs = TimeUnit.SECONDS.toMillis(Long.parseLong(System.getenv().getOrDefault("CRABCAN_OCI_IDLE", "30")));
        Path root = PrivateDirs.create(Path.of(args[0]), HostInfo.get().euid());
        HelperRuntime runtime = HelperRuntime.get();
        Path socket = runtime.runDir().resolve(SOCKET);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        server.bind(UnixDomainSocketAddress.of(socket));
        OciService service = new OciService(socket, server, Files.getOwner(runtime.runDir()));
        Path link = root.resolve(LINK);
        Path newLink = root.resolve(LINK + "." + ProcessHandle.current().pid());
        Files.deleteIfExists(newLink);
        Files.createSymbolicLink(newLink, socket);
        Files.move(newLink, link, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> unlink(link, socket), "crabcan-oci-unlink"));
        System.out.println("READY");
        System.out.flush();
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        Thread idle = new Thread(() -> service.exitWhenIdle(idleMs), "crabcan-oci-idle");
        idle.setDaemon(true);
        idle.start();
        service.serve();
    }

    /** The link, if it still names our socket (a later service may have replaced it). */
    private static void unlink(Path link, Path socket) {
        try {
            if (Files.readSymbolicLink(link).equals(socket)) {
                Files.delete(link);
            }
        } catch (IOException e) {
            // gone already, or another service's
        }
    }

    private void exitWhenIdle(long idleMs) {
        while (true) {
            try {
                Thread.sleep(Math.min(idleMs, 1000));
            } catch (InterruptedException e) {
                return;
            }
            if (active.get() == 0 && System.nanoTime() - lastActive.get() > TimeUnit.MILLISECONDS.toNanos(idleMs)) {
                // A front end that connects now finds the socket closed before its request is taken, and starts a new service.
                System.exit(0);
            }
        }
    }

    private void serve() {
        while (true) {
            SocketChannel ch;
            try {
                ch = server.accept();
            } catch (IOException e) {
                return;
            }
            lastActive.set(System.nanoTime());
            threads.execute(() -> handle(ch));
        }
    }

    /** A request, or a sandbox helper's channel; from this user only. */
    private void handle(SocketChannel ch) {
        java.util.concurrent.atomic.AtomicBoolean said = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.CompletableFuture.delayedExecutor(HELLO_TIMEOUT_MS, TimeUnit.MILLISECONDS, Runnable::run)
                .execute(() -> {
                    if (!said.get()) {
                        close(ch);
                    }
                });
        try {
            if (!ch.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED).user().equals(me)) {
                close(ch);
                return;
            }
            String hello = readLine(ch);
            said.set(true);
            if (hello.startsWith("REQUEST\t") && hello.substring(8).matches("\\d{1,7}")
                    && Integer.parseInt(hello.substring(8)) <= REQUEST_MAX) {
                request(ch, Integer.parseInt(hello.substring(8)));
            } else if (!zygotes.connected(hello, ch)) {
                close(ch);
            }
        } catch (IOException e) {
            close(ch);
        }
    }

    private void request(SocketChannel ch, int length) throws IOException {
        ByteBuffer body = ByteBuffer.allocate(length);
        while (body.hasRemaining()) {
            if (ch.read(body) < 0) {
                throw new IOException("request cut short");
            }
        }
        List<String> parts = new ArrayList<>(List.of(new String(body.array(), StandardCharsets.UTF_8).split("\0", -1)));
        parts.remove(parts.size() - 1); // after the last NUL
        Path cwd = Path.of(parts.remove(0));
        String[] args = withCallerPaths(parts, cwd);
        Frames frames = new Frames(ch);
        RemoteZygotes.Request launcher = zygotes.launcher(frames::plan);
        active.incrementAndGet();
        Thread worker = Thread.currentThread();
        // Guarded by itself: once the command is done, the watch must not interrupt this pooled thread.
        boolean[] done = {false};
        Runnable watch = () -> {
            // The front end sends nothing more: its end of the socket closing means it is gone.
            try {
                ch.read(ByteBuffer.allocate(1));
            } catch (IOException e) {
                // closed: gone too
            }
            synchronized (done) {
                if (!done[0]) {
                    launcher.abort();
                    worker.interrupt();
                }
            }
        };
        try {
            frames.send('A', new byte[0]);
            threads.execute(watch);
            PrintStream out = new PrintStream(frames.stream('O'), true, StandardCharsets.UTF_8);
            PrintStream err = new PrintStream(frames.stream('E'), true, StandardCharsets.UTF_8);
            int status;
            try {
                status = HelperRuntime.withLauncher(launcher, () -> OciRuntime.run(args, out, err));
            } catch (Exception e) {
                err.println("crabcan-oci: internal error: " + e);
                status = 1;
            }
            out.flush();
            err.flush();
            synchronized (done) {
                done[0] = true;
            }
            Thread.interrupted();
            frames.send('X', ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(status).array());
        } finally {
            synchronized (done) {
                done[0] = true;
            }
            Thread.interrupted();
            active.decrementAndGet();
            lastActive.set(System.nanoTime());
            close(ch);
        }
    }

    /**
     * The arguments with the caller's relative paths made absolute, and the caller's directory as
     * the bundle of a create or run that names none (OciRuntime's default is its own directory).
     * What follows exec's container id is the process's own command line, left alone.
     */
    static String[] withCallerPaths(List<String> args, Path cwd) {
        List<String> out = new ArrayList<>();
        String command = null;
        boolean bundle = false;
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if ("exec".equals(command) && !a.startsWith("-")) {
                out.addAll(args.subList(i, args.size())); // the id, then the process's own arguments
                break;
            }
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (PATH_OPTIONS.contains(name)) {
                bundle |= name.equals("--bundle") || name.equals("-b");
                if (a.contains("=")) {
                    out.add(name + "=" + cwd.resolve(a.substring(a.indexOf('=') + 1)));
                } else {
                    out.add(a);
                    if (i + 1 < args.size()) {
                        out.add(cwd.resolve(args.get(++i)).toString());
                    }
                }
                continue;
            }
            if (VALUE_OPTIONS.contains(a) && i + 1 < args.size()) {
                out.add(a);
                out.add(args.get(++i));
                continue;
            }
            if (command == null && !a.startsWith("-")) {
                command = a;
                out.add(a);
                if (a.equals("create") || a.equals("run")) {
                    out.add("--bundle=" + cwd);
                }
                continue;
            }
            out.add(a);
        }
        if (bundle) {
            out.remove("--bundle=" + cwd); // named its own; an explicit one later would win anyway
        }
        return out.toArray(String[]::new);
    }

    /** What the service sends a front end, one frame at a time from any thread. */
    private static final class Frames {
        private final SocketChannel ch;

        Frames(SocketChannel ch) {
            this.ch = ch;
        }

        synchronized void send(char type, byte[] payload) throws IOException {
            ByteBuffer b = ByteBuffer.allocate(5 + payload.length).order(ByteOrder.LITTLE_ENDIAN);
            b.put((byte) type).putInt(payload.length).put(payload).flip();
            while (b.hasRemaining()) {
                ch.write(b);
            }
        }

        /** A plan for the front end to fork a sandbox helper on: the token, then the plan as a zygote reads it. */
        void plan(int token, byte[] plan) throws IOException {
            send('P', ByteBuffer.allocate(4 + plan.length).order(ByteOrder.LITTLE_ENDIAN).putInt(token).put(plan)
                    .array());
        }

        OutputStream stream(char type) {
            return new OutputStream() {
                @Override
                public void write(int b) throws IOException {
                    write(new byte[] {(byte) b}, 0, 1);
                }

                @Override
                public void write(byte[] b, int off, int len) throws IOException {
                    send(type, java.util.Arrays.copyOfRange(b, off, off + len));
                }
            };
        }
    }

    private static String readLine(SocketChannel ch) throws IOException {
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (line.size() < 64) {
            one.clear();
            if (ch.read(one) < 0) {
                throw new IOException("closed before the end of a line");
            }
            if (one.get(0) == '\n') {
                return line.toString(StandardCharsets.US_ASCII);
            }
            line.write(one.get(0));
        }
        throw new IOException("first line too long");
    }

    private static void close(SocketChannel ch) {
        try {
            ch.close();
        } catch (IOException e) {
            // nothing to tell anyone
        }
    }
}
