package dev.crabcan.internal.net;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.HashSet;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP port a root caller's sandbox publishes on an IPv6 host address, relayed by the JVM (as
 * Docker's userland proxy does): the JVM accepts on the host port it holds anyway and connects to
 * the sandbox's IPv4 address. The kernel sends no packet from the IPv6 loopback out of another
 * interface (IPv6 has no route_localnet), so a translation like IPv4's cannot serve {@code [::1]};
 * the relay serves every IPv6 address alike, and works whether the sandbox has IPv6 or not.
 * Inside, connections come from the host's end of the pair. Two daemon threads a connection, one
 * a port; closing the relay closes its port and every connection.
 */
final class Relay implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Relay.class);
    private static final int CONNECT_TIMEOUT_MS = 5000;

    private final ServerSocketChannel server;
    private final InetSocketAddress target;
    private final Set<SocketChannel> open = new HashSet<>();
    private boolean closed;

    private Relay(ServerSocketChannel server, InetSocketAddress target) {
        this.server = server;
        this.target = target;
    }

    /** Relays what server (bound and listening) accepts to target, until closed. */
    static Relay start(ServerSocketChannel server, InetSocketAddress target, String name) {
        Relay relay = new Relay(server, target);
        daemon(relay::accept, "crabcan-relay " + name).start();
        return relay;
    }

    private void accept() {
        while (true) {
            SocketChannel client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return; // closed with the sandbox
            }
            daemon(() -> connect(client), "crabcan-relay " + target).start();
        }
    }

    private void connect(SocketChannel client) {
        SocketChannel inside = null;
        try {
            if (!track(client)) {
                return;
            }
            inside = SocketChannel.open();
            if (!track(inside)) {
                return;
            }
            inside.socket().connect(target, CONNECT_TIMEOUT_MS);
        } catch (IOException e) {
            log.debug("relay to {}: {}", target, e.toString());
            finish(client);
            if (inside != null) {
                finish(inside);
            }
            return;
        }
        SocketChannel to = inside;
        daemon(() -> pump(client, to), "crabcan-relay " + target + " in").start();
        pump(to, client);
    }

    /** Copies from one end to the other until the end of its stream, which it passes on; both close once both ends did. */
    private void pump(SocketChannel from, SocketChannel to) {
        ByteBuffer buf = ByteBuffer.allocate(16384);
        try {
            while (from.read(buf) >= 0) {
                buf.flip();
                while (buf.hasRemaining()) {
                    to.write(buf);
                }
                buf.clear();
            }
            to.shutdownOutput();
            if (!from.socket().isOutputShutdown()) {
                return; // the other direction still runs; it closes both
            }
        } catch (IOException e) {
            log.debug("relay to {}: {}", target, e.toString());
        }
        finish(from);
        finish(to);
    }

    private void finish(SocketChannel c) {
        synchronized (this) {
            open.remove(c);
        }
        closeQuietly(c);
    }

    private synchronized boolean track(SocketChannel c) {
        if (closed) {
            closeQuietly(c);
            return false;
        }
        open.add(c);
        return true;
    }

    @Override
    public void close() {
        closeQuietly(server);
        Set<SocketChannel> all;
        synchronized (this) {
            closed = true;
            all = new HashSet<>(open);
            open.clear();
        }
        all.forEach(Relay::closeQuietly);
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static void closeQuietly(java.nio.channels.Channel c) {
        if (c == null) {
            return;
        }
        try {
            c.close();
        } catch (IOException e) {
            log.debug("closing a relayed connection: {}", e.toString());
        }
    }
}
