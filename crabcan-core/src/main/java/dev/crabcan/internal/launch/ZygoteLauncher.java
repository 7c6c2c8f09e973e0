package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.internal.plan.Contract;
import dev.crabcan.Stdio;
import dev.crabcan.internal.cgroup.Cgroups;
import dev.crabcan.internal.plan.InheritedFd;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One long-lived helper process per JVM (the zygote), started once with ProcessBuilder, forks
 * a sandbox helper for each launch: no process start, exec or JDK reaper thread per sandbox.
 * A launch sends the zygote a token and the plan; the zygote opens a connection to this JVM's
 * control socket naming the token (its own says ZYGOTE) and forks the helper that starts on the
 * plan at once on that channel, which therefore closes if the helper dies at any point; an
 * acceptor thread hands each connection to its launch.
 */
final class ZygoteLauncher implements Launcher {
    private static final Logger log = LoggerFactory.getLogger(ZygoteLauncher.class);
    private static final long CONNECT_TIMEOUT_MS = 10_000;
    private static final long SHUTDOWN_WAIT_MS = 200;

    private final HelperRuntime runtime;
    private final Path socket;
    private final Map<String, CompletableFuture<Connection>> pending = new ConcurrentHashMap<>();

    /**
     * A helper's connection, and the abstract address its end is bound to (null for the zygote's):
     * the way to find this end's fd number when descriptors are passed on it.
     */
    record Connection(SocketChannel channel, String address) {}
    /** The control socket's name in the run directory. */
    static final String SOCKET = "control.sock";
    /** The longest path a Unix socket may have: sun_path's 108 bytes, the last one NUL. */
    static final int SOCKET_PATH_MAX = 107;

    private ServerSocketChannel server;
    /** The acceptor's: the control socket and the connections whose first line it waits for. */
    private Selector acceptSelector;
    private Thread acceptor;
    private Process zygote;
    /**
     * What the zygote's first line must say, given to it in its environment (no sandbox can read
     * that): any other process of this user that reaches the control socket while a zygote starts
     * could otherwise be handed the zygote's channel, and with it every plan.
     */
    private volatile String zygoteSecret;
    private SocketChannel zygoteChannel;

    ZygoteLauncher(HelperRuntime runtime, Path runDir) {
        this.runtime = runtime;
        this.socket = runDir.resolve(SOCKET);
    }

    @Override
    public Launched launch(Function<List<PlanCompiler.StdioSource>, byte[]> plan, Stdio stdin, Stdio stdout,
            Stdio stderr, Map<Integer, Object> passed, FileCopies copies) throws SandboxException {
        return launch(own, plan, stdin, stdout, stderr, passed, copies);
    }

    /** A zygote of any kind: it forks a sandbox helper on the plan, which connects back. */
    interface Zygote {
        /** Asks for a helper running this plan and returns the connection it opened. */
        Connection helperFor(byte[] plan) throws IOException;

        /**
         * The pid that connected the helper's channel (SO_PEERCRED), by which this JVM finds its end
         * to pass descriptors on; -1 where it cannot be known, and then none can be passed.
         */
        long pid();

        /** Whether this is crabcan-oci's front end, which keeps the caller's fds for the helpers it forks (inheritFd). */
        default boolean keepsCallersFds() {
            return false;
        }
    }

    /** This JVM's own zygote. */
    private final Zygote own = new Zygote() {
        @Override
        public Connection helperFor(byte[] plan) throws SandboxException {
            CompletableFuture<Connection> connected = new CompletableFuture<>();
            int token = newToken(connected);
            try {
                requestHelper(token, plan);
                return await(connected, "the sandbox helper");
            } catch (SandboxException | RuntimeException e) {
                pending.remove(Integer.toUnsignedString(token));
                throw e;
            }
        }

        @Override
        public long pid() {
            return zygotePid();
        }
    };

    /**
     * One launch through a zygote: this JVM's own, or one in another process (see {@link RemoteZygotes}).
     */
    static Launched launch(Zygote zygote, Function<List<PlanCompiler.StdioSource>, byte[]> plan, Stdio stdin,
            Stdio stdout, Stdio stderr, Map<Integer, Object> passed, FileCopies copies) throws SandboxException {
        // An interrupt would close the zygote's channel in the middle of the request (channels are
        // interruptible) and cost every thread a new zygote: refuse before touching it.
        if (Thread.currentThread().isInterrupted()) {
            throw new SandboxException("interrupted before the sandbox was started; nothing was started");
        }
        Map<Integer, Object> sent = new java.util.LinkedHashMap<>(passed);
        sent.values().removeIf(source -> source == InheritedFd.FROM_ZYGOTE);
        if (sent.size() < passed.size() && !zygote.keepsCallersFds()) {
            throw new dev.crabcan.SandboxSpecException("inheritFd (crabcan-oci's --preserve-fds): this JVM's own "
                    + "zygote holds none of the caller's fds; only crabcan-oci's native front end with its service, the "
                    + "zygote of its own requests, keeps them");
        }
        if ((!sent.isEmpty() || !copies.isEmpty()) && zygote.pid() < 0) {
            throw new dev.crabcan.SandboxSpecException("passFd, SandboxPipe, copyIn and copyOut: descriptors cannot be "
                    + "passed through this launcher (crabcan-oci's service forks sandboxes in the calling front end)");
        }
        int[] fds = PassedFds.copies(sent);
        try {
            return launch(zygote, plan, stdin, stdout, stderr, fds, copies);
        } finally {
            PassedFds.close(fds); // the helper has its own by now, or the start failed
            copies.sent();
        }
    }

    private static Launched launch(Zygote zygote, Function<List<PlanCompiler.StdioSource>, byte[]> plan,
            Stdio stdin, Stdio stdout, Stdio stderr, int[] passed, FileCopies copies) throws SandboxException {
        int[] copied = copies.fds();
        int[] fds = java.util.Arrays.copyOf(passed, passed.length + copied.length);
        System.arraycopy(copied, 0, fds, passed.length, copied.length);
        StdioPipes io = StdioPipes.plan(stdin, stdout, stderr);
        SocketChannel channel = null;
        try {
            Connection connection = zygote.helperFor(plan.apply(io.sources));
            channel = connection.channel();
            if (fds.length > 0) {
                PassedFds.send(connection.address(), zygote.pid(), fds);
            }
            Session session = new Session(channel, copies);
            if (io.hasPipes() && !openPipes(session, io)) {
                return new Launched(session, io.stdin, io.stdout, io.stderr);
            }
            if (io.hasPipes()) {
                session.started().whenComplete((s, e) -> session.pipesOpened());
            }
            session.ended().whenComplete((o, e) -> io.sandboxEnded());
            Monitor.watch(session);
            if (stdin.kind() == Stdio.Kind.BYTES) {
                feed(io.stdin, stdin.bytes());
                io.stdin = java.io.OutputStream.nullOutputStream();
            }
            return new Launched(session, io.stdin, io.stdout, io.stderr);
        } catch (IOException | RuntimeException e) {
            io.closeAll();
            closeQuietly(channel);
            if (e instanceof dev.crabcan.SandboxSpecException spec) {
                throw spec; // the plan could not be made from this spec: the caller's to fix, not the helper's
            }
            throw e instanceof SandboxException s ? s : new SandboxException("cannot start the helper: " + e, e);
        }
    }

    /**
     * Unguessable, so that whatever else could reach the control socket cannot claim a launch's
     * connection by counting (the helper echoes it on the connection it opens for the sandbox).
     */
    static final class Tokens {
        static final java.security.SecureRandom RANDOM = new java.security.SecureRandom();
    }

    private int newToken(CompletableFuture<Connection> connected) {
        while (true) {
            int token = Tokens.RANDOM.nextInt();
            if (pending.putIfAbsent(Integer.toUnsignedString(token), connected) == null) {
                return token;
            }
        }
    }

    /**
     * Reads the helper's first report, which names its ends of the sandbox's pipes, and opens
     * them. The helper keeps those ends until told (C_PIPES_OPENED, once the start is decided), even past
     * the sandbox's end, so an open fails only when the helper is going (it failed before the
     * command could run, or was killed) or /proc refuses. Either way the sandbox is killed and
     * its reports are read to the end: in the first case they (or their absence) tell the caller
     * what happened and this returns false; in the second the open error is thrown.
     */
    private static boolean openPipes(Session session, StdioPipes io) throws SandboxException {
        SocketChannel channel = session.channel();
        String first;
        try {
            first = readLine(channel, Contract.REPORT_MAX);
        } catch (IOException e) {
            return true; // the helper is gone; the monitor finds the channel closed and says so
        }
        Report pipes = Report.parse(first);
        if (!pipes.kind().equals(Contract.R_PIPES)) {
            session.onLine(first); // it failed before making them
            return true;
        }
        try {
            io.open(pipes);
            return true;
        } catch (IOException e) {
            io.closeAll();
            session.kill();
            try {
                channel.shutdownOutput(); // nor will it wait for us to open the pipes
                while (true) {
                    session.onLine(readLine(channel, Contract.REPORT_MAX));
                }
            } catch (IOException closed) {
                session.onClosed();
            }
            Session.Start start = session.started().join();
            if (start instanceof Session.SetupFailed || start instanceof Session.ExecFailed
                    || session.ended().join().helperLost() != null) {
                return false;
            }
            throw new SandboxException("cannot open the sandbox's stdio pipes through /proc/" + pipes.field(0)
                    + "/fd (" + e.getMessage() + "); is /proc mounted with hidepid, or the helper not dumpable?", e);
        }
    }

    /**
     * Starts the zygote on a thread of its own, so that the first launch finds it ready instead
     * of starting it after compiling its plan. A failure here is left for that launch to meet
     * again and report.
     */
    void startZygoteEarly() {
        Thread t = new Thread(() -> {
            Tokens.RANDOM.nextInt(); // seeds it here, not on the first launch's thread
            synchronized (this) {
                try {
                    ensureZygote();
                } catch (SandboxException | IllegalStateException e) {
                    // IllegalStateException: the JVM is already exiting (a refused start), no hook may be added.
                    log.debug("starting the helper zygote early: {}", e.getMessage());
                }
            }
            // Choosing the cgroup driver removes what dead JVMs left, also for a JVM that sets no limits.
            try {
                Cgroups.driver();
            } catch (SandboxException | RuntimeException e) {
                // No cgroups here, or the JVM is already exiting (no shutdown hook can be added then).
                log.debug("cgroup driver not chosen early: {}", e.toString());
            }
        }, "crabcan-zygote-start");
        t.setDaemon(true);
        t.start();
    }

    /** Asks the zygote for a sandbox helper, starting (or restarting) the zygote if needed. */
    private synchronized void requestHelper(int token, byte[] plan) throws SandboxException {
        ByteBuffer request = ByteBuffer.allocate(4 + plan.length).order(java.nio.ByteOrder.LITTLE_ENDIAN)
                .putInt(token).put(plan).flip();
        for (int attempt = 0; ; attempt++) {
            ensureZygote();
            try {
                zygoteChannel.write(request.rewind());
                return;
            } catch (IOException e) {
                if (attempt > 0) {
                    throw new SandboxException("the helper zygote is not responding: " + e, e);
                }
                log.warn("the helper zygote went away ({}); starting a new one", e.toString());
                stopZygote();
            }
        }
    }

    private void ensureZygote() throws SandboxException {
        if (zygote != null && zygote.isAlive() && zygoteChannel != null && zygoteChannel.isOpen()) {
            return;
        }
        stopZygote();
        try {
            if (server == null) {
                Files.deleteIfExists(socket);
                ServerSocketChannel bound = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    bound.bind(UnixDomainSocketAddress.of(socket));
                } catch (IOException e) {
                    // Not kept: the next launch tries again instead of starting a zygote on no socket.
                    bound.close();
                    throw e;
                }
                Selector selector = Selector.open();
                try {
                    bound.configureBlocking(false);
                    bound.register(selector, SelectionKey.OP_ACCEPT);
                } catch (IOException e) {
                    selector.close();
                    bound.close();
                    throw e;
                }
                server = bound;
                acceptSelector = selector;
                acceptor = new Thread(this::acceptLoop, "crabcan-accept");
                acceptor.setDaemon(true);
                acceptor.start();
                Runtime.getRuntime().addShutdownHook(new Thread(this::shutDown, "crabcan-zygote-stop"));
            }
            CompletableFuture<Connection> connected = new CompletableFuture<>();
            pending.put(Contract.R_ZYGOTE, connected);
            zygoteSecret = newSecret();
            try (HelperRuntime.OpenHelper helper = runtime.openFreshHelper()) {
                // The zygote's stdio is the JVM's, which is what Stdio.inherit() gives a sandbox.
                ProcessBuilder pb = new ProcessBuilder(helper.execPath(), "--zygote", socket.toString()).inheritIO();
                pb.environment().clear();
                pb.environment().put(Contract.E_ZYGOTE_SECRET, zygoteSecret);
                try {
                    zygote = pb.start();
                } catch (IOException e) {
                    throw new SandboxException("cannot execute the helper from the run directory " + runtime.runDir()
                            + " (" + e.getMessage() + "); if it is on a noexec mount, choose another cache directory "
                            + "with -D" + HelperRuntime.CACHE_PROPERTY + "=DIR or " + HelperRuntime.CACHE_ENV, e);
                }
            }
            try {
                zygoteChannel = await(connected, "the helper zygote").channel();
            } catch (SandboxException e) {
                // Interrupted or timed out: a zygote without its channel is of no use to the next launch.
                pending.remove(Contract.R_ZYGOTE);
                stopZygote();
                throw e;
            }
        } catch (IOException e) {
            throw e instanceof SandboxException s ? s : new SandboxException("cannot start the helper zygote: " + e, e);
        }
    }

    private void stopZygote() {
        stopZygoteChannel();
        if (zygote != null) {
            zygote.destroyForcibly();
            zygote = null;
        }
    }

    /**
     * At JVM exit HotSpot waits up to 300 ms for every thread blocked in a native call, such as
     * the acceptor in accept() and the JDK's reaper in waitpid() for the zygote. So both are let
     * go: the zygote exits when its channel closes, and the server socket is closed. Running
     * sandboxes are unaffected: their helpers have channels of their own, closed by the exit.
     */
    private void shutDown() {
        Process z = stopQuickly();
        if (z != null) {
            try {
                z.waitFor(SHUTDOWN_WAIT_MS, TimeUnit.MILLISECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /**
     * For good, when the runtime's last client closed (not at JVM exit): the zygote is waited for,
     * killed if it lingers, so that nothing of the client is left.
     */
    void stop() {
        Process z = stopQuickly();
        if (z != null) {
            try {
                if (!z.waitFor(SHUTDOWN_WAIT_MS, TimeUnit.MILLISECONDS)) {
                    z.destroyForcibly().waitFor();
                }
            } catch (InterruptedException e) {
                z.destroyForcibly();
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Closes the zygote's channel and the control socket, lets the acceptor go; returns the zygote to wait for. */
    private Process stopQuickly() {
        Process z;
        Thread a;
        synchronized (this) {
            z = zygote;
            a = acceptor;
            stopZygoteChannel();
            zygote = null;
            if (server != null) {
                try {
                    server.close();
                } catch (IOException e) {
                    log.debug("closing the control socket: {}", e.toString());
                }
                acceptSelector.wakeup(); // its loop sees the socket closed and ends
            }
        }
        if (a != null) {
            try {
                a.join(SHUTDOWN_WAIT_MS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        return z;
    }

    private void stopZygoteChannel() {
        closeQuietly(zygoteChannel);
        zygoteChannel = null;
    }

    /** The zygote's pid, or -1 when there is none (then no channel can match it). */
    private synchronized long zygotePid() {
        return zygote == null ? -1 : zygote.pid();
    }

    /** Waits for a helper's connection, giving up early if the zygote is gone. */
    private Connection await(CompletableFuture<Connection> connected, String what) throws SandboxException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MS);
        while (true) {
            try {
                return connected.get(50, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                Process z = zygote;
                if (z == null || !z.isAlive()) {
                    throw new SandboxException(what + " did not connect: the helper zygote exited"
                            + (z == null ? "" : " with status " + z.exitValue()));
                }
                if (System.nanoTime() > deadline) {
                    throw new SandboxException(what + " did not connect within " + CONNECT_TIMEOUT_MS + " ms");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SandboxException("interrupted while waiting for " + what);
            } catch (ExecutionException e) {
                throw new SandboxException(what + " failed to connect: " + e.getCause(), e.getCause());
            }
        }
    }

    /**
     * Accepts connections and reads each one's first line, all on this thread: a connection that
     * says nothing is given up on after {@link #CONNECT_TIMEOUT_MS} and stalls no other (the line
     * is read without blocking, a byte at a time, so that nothing of what follows it is taken).
     */
    private void acceptLoop() {
        Selector selector = acceptSelector;
        List<FirstLine> named = new ArrayList<>();
        try {
            while (server.isOpen()) {
                selector.select(untilNearestDeadline(selector));
                for (SelectionKey key : selector.selectedKeys()) {
                    if (key.isValid() && key.isAcceptable()) {
                        acceptAll(selector);
                    } else if (key.isValid() && key.isReadable() && key.attachment() instanceof FirstLine f
                            && f.read()) {
                        key.cancel();
                        named.add(f);
                    }
                }
                selector.selectedKeys().clear();
                long now = System.nanoTime();
                for (SelectionKey key : selector.keys()) {
                    if (key.isValid() && key.attachment() instanceof FirstLine f && now - f.deadline > 0) {
                        key.cancel();
                        closeQuietly(f.channel);
                    }
                }
                if (!named.isEmpty()) {
                    selector.selectNow(); // deregisters the named ones' keys, so that they can block again
                    for (FirstLine f : named) {
                        handOver(f);
                    }
                    named.clear();
                }
            }
        } catch (IOException | RuntimeException e) {
            if (server.isOpen()) {
                log.error("the control socket {} stopped accepting: {}", socket, e.toString());
            }
        } finally {
            for (SelectionKey key : selector.keys()) {
                if (key.attachment() instanceof FirstLine f) {
                    closeQuietly(f.channel);
                }
            }
            try {
                selector.close();
            } catch (IOException e) {
                log.debug("closing the control socket's selector: {}", e.toString());
            }
        }
    }

    private void acceptAll(Selector selector) throws IOException {
        for (SocketChannel ch; (ch = server.accept()) != null; ) {
            ch.configureBlocking(false);
            ch.register(selector, SelectionKey.OP_READ, new FirstLine(ch));
        }
    }

    /** Milliseconds until the first connection that has not named itself is given up on; 0 (none) to wait for ever. */
    private static long untilNearestDeadline(Selector selector) {
        long now = System.nanoTime();
        long nearest = Long.MAX_VALUE;
        for (SelectionKey key : selector.keys()) {
            if (key.attachment() instanceof FirstLine f) {
                nearest = Math.min(nearest, Math.max(1, TimeUnit.NANOSECONDS.toMillis(f.deadline - now) + 1));
            }
        }
        return nearest == Long.MAX_VALUE ? 0 : nearest;
    }

    /** A new connection's first line, as far as it came. */
    private static final class FirstLine {
        private static final int MAX = 256;
        final SocketChannel channel;
        final long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CONNECT_TIMEOUT_MS);
        private final java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        private final ByteBuffer one = ByteBuffer.allocate(1);

        FirstLine(SocketChannel channel) {
            this.channel = channel;
        }

        /** Reads what has come; true once the line is complete. A closed, broken or overlong one is closed. */
        boolean read() {
            try {
                while (line.size() < MAX) {
                    one.clear();
                    int n = channel.read(one);
                    if (n == 0) {
                        return false;
                    }
                    if (n < 0) {
                        break;
                    }
                    if (one.get(0) == '\n') {
                        return true;
                    }
                    line.write(one.get(0));
                }
            } catch (IOException e) {
                // Closed below.
            }
            closeQuietly(channel);
            return false;
        }

        String text() {
            return line.toString(StandardCharsets.UTF_8);
        }
    }

    private volatile java.nio.file.attribute.UserPrincipal me;

    /** Whether the peer runs as this JVM's user (the owner of the run directory, which is ours). */
    private boolean fromThisUser(SocketChannel ch) throws IOException {
        if (me == null) {
            me = Files.getOwner(socket.getParent());
        }
        return ch.getOption(jdk.net.ExtendedSocketOptions.SO_PEERCRED).user().equals(me);
    }

    private boolean isZygote(String hello) {
        String secret = zygoteSecret;
        String prefix = Contract.R_ZYGOTE + "\t";
        return secret != null && hello.startsWith(prefix) && java.security.MessageDigest.isEqual(
                hello.substring(prefix.length()).getBytes(StandardCharsets.US_ASCII),
                secret.getBytes(StandardCharsets.US_ASCII));
    }

    private static String newSecret() {
        byte[] bytes = new byte[32];
        Tokens.RANDOM.nextBytes(bytes);
        return java.util.HexFormat.of().formatHex(bytes);
    }

    /** Gives the connection to the launch its first line names (a random token), or closes it. */
    private void handOver(FirstLine first) {
        SocketChannel ch = first.channel;
        String hello = first.text();
        try {
            ch.configureBlocking(true);
            String[] sandbox = hello.split("\t", -1);
            boolean isSandbox = sandbox.length == 3 && sandbox[0].equals(Contract.R_SANDBOX)
                    && digits(sandbox[1], 10, false) && digits(sandbox[2], 16, true);
            String key = isZygote(hello) ? Contract.R_ZYGOTE : isSandbox ? sandbox[1] : null;
            // Only this user's processes: a root caller's sandboxes run as host ids of their own.
            if (key != null && !fromThisUser(ch)) {
                log.warn("connection on {} from another user refused", socket);
                key = null;
            }
            CompletableFuture<Connection> f = key == null ? null : pending.remove(key);
            if (f == null) {
                log.warn("unexpected connection on {}: '{}'", socket, hello);
                ch.close();
            } else {
                f.complete(new Connection(ch, isSandbox ? sandbox[2] : null));
            }
        } catch (IOException e) {
            closeQuietly(ch);
        }
    }

    /** Whether s is 1 to max decimal (or lower-case hexadecimal) digits: no regex on every start. */
    private static boolean digits(String s, int max, boolean hex) {
        if (s.isEmpty() || s.length() > max) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (!(c >= '0' && c <= '9') && !(hex && c >= 'a' && c <= 'f')) {
                return false;
            }
        }
        return true;
    }

    /**
     * One line from a blocking channel; lines read this way are few and short, so reading a byte
     * at a time costs little and never takes a byte of what follows.
     */
    static String readLine(SocketChannel ch, int max) throws IOException {
        java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
        ByteBuffer one = ByteBuffer.allocate(1);
        while (line.size() < max) {
            one.clear();
            if (ch.read(one) < 0) {
                throw new IOException("closed before the end of a line");
            }
            byte b = one.get(0);
            if (b == '\n') {
                // UTF-8, as every report line: a FAIL line names paths, which need not be ASCII.
                return line.toString(java.nio.charset.StandardCharsets.UTF_8);
            }
            line.write(b);
        }
        throw new IOException("first line too long");
    }

    private static void feed(java.io.OutputStream in, byte[] bytes) {
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
                log.debug("closing a control channel: {}", e.toString());
            }
        }
    }
}
