package dev.crabcan.internal.launch;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One daemon thread that reads the control channels of all sandboxes of this JVM, so that a
 * running sandbox costs no thread of its own.
 */
final class Monitor implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(Monitor.class);
    private static final Monitor INSTANCE = new Monitor();

    private final Selector selector;
    private final Queue<Session> pending = new ConcurrentLinkedQueue<>();
    private final ByteBuffer buffer = ByteBuffer.allocate(64 * 1024);
    private final Thread thread = new Thread(this, "crabcan-monitor");
    /** Channels registered and not yet closed; only the monitor thread changes it. */
    private volatile int watched;
    private volatile boolean exiting;
    private boolean stopped;

    private Monitor() {
        try {
            selector = Selector.open();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open a selector for sandbox control channels", e);
        }
        thread.setDaemon(true);
        thread.start();
        Runtime.getRuntime().addShutdownHook(new Thread(this::stopWhenIdle, "crabcan-monitor-stop"));
    }

    /** Starts delivering the channel's reports to the session. */
    static void watch(Session session) throws IOException {
        session.channel().configureBlocking(false);
        synchronized (INSTANCE) {
            if (INSTANCE.stopped) {
                throw new IOException("the JVM is shutting down");
            }
            INSTANCE.pending.add(session);
        }
        INSTANCE.selector.wakeup();
    }

    /**
     * At JVM exit HotSpot waits up to 300 ms for threads blocked in a native call such as
     * select(), so an idle monitor ends then; one that still watches sandboxes keeps serving them.
     */
    private void stopWhenIdle() {
        exiting = true;
        selector.wakeup();
        if (watched > 0) {
            return;
        }
        try {
            thread.join(200);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public void run() {
        for (;;) {
            try {
                selector.select();
                for (Session s; (s = pending.poll()) != null; ) {
                    s.channel().register(selector, SelectionKey.OP_READ, new Connection(s));
                    watched++;
                }
                for (SelectionKey key : selector.selectedKeys()) {
                    ((Connection) key.attachment()).read((SocketChannel) key.channel(), key);
                }
                selector.selectedKeys().clear();
                if (exiting && watched == 0) {
                    synchronized (this) {
                        if (pending.isEmpty()) {
                            stopped = true;
                            return;
                        }
                    }
                }
            } catch (IOException | RuntimeException e) {
                log.error("sandbox monitor: {}", e.toString(), e);
            }
        }
    }

    private final class Connection {
        private final Session session;
        private final ByteArrayOutputStream partial = new ByteArrayOutputStream();

        Connection(Session session) {
            this.session = session;
        }

        void read(SocketChannel channel, SelectionKey key) {
            int n;
            try {
                buffer.clear();
                n = channel.read(buffer);
            } catch (IOException e) {
                n = -1;
            }
            if (n > 0) {
                byte[] data = buffer.array();
                int start = 0;
                for (int i = 0; i < n; i++) {
                    if (data[i] == '\n') {
                        partial.write(data, start, i - start);
                        deliver(partial.toString(StandardCharsets.UTF_8));
                        partial.reset();
                        start = i + 1;
                    }
                }
                partial.write(data, start, n - start);
            }
            if (n < 0 || !channel.isOpen()) {
                key.cancel();
                watched--;
                session.onClosed();
            }
        }

        private void deliver(String line) {
            try {
                session.onLine(line);
            } catch (RuntimeException e) {
                log.error("bad report from the helper '{}': {}", line, e.toString(), e);
            }
        }
    }
}
