package dev.crabcan.internal.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.SocketTimeoutException;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TCP port a root caller's sandbox publishes on an IPv6 host address, relayed by the JVM (as
 * Docker's userland proxy does): the JVM accepts on the host port it holds anyway and connects to
 * the sandbox's IPv4 address. The kernel sends no packet from the IPv6 loopback out of another
 * interface (IPv6 has no route_localnet), so a translation like IPv4's cannot serve {@code [::1]};
 * the relay serves every IPv6 address alike, and works whether the sandbox has IPv6 or not.
 * Inside, connections come from the host's end of the pair.
 *
 * <p>What anyone who reaches the port can make the JVM spend is bounded: at most {@link
 * Limits#connections()} connections at once (more are closed as they are accepted), two daemon
 * threads each and one for the port, and a connection that carries nothing for a while is closed
 * (sooner once one side has ended its stream). A failed accept (no file descriptor left, say)
 * is tried again after a pause, so the port serves again once the cause is gone. Closing the relay
 * closes its port and every connection, and its threads end with them.
 */
final class Relay implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Relay.class);
    private static final int CONNECT_TIMEOUT_MS = 5000;
    private static final long FIRST_PAUSE_MS = 10;
    private static final long LONGEST_PAUSE_MS = 1000;

    /**
     * How much a relay takes on.
     *
     * @param connections connections relayed at once; more are closed as they come
     * @param idleMillis a connection with no byte either way for this long is closed
     * @param halfClosedMillis the same once one side has ended its stream
     */
    record Limits(int connections, long idleMillis, long halfClosedMillis) {
        /** Generous for a service, yet no end to the threads and descriptors anyone reaching the port could cost. */
        static final Limits DEFAULT = new Limits(256, 15 * 60_000L, 60_000L);
    }

    private final ServerSocketChannel server;
    private final InetSocketAddress target;
    private final String name;
    private final Limits limits;
    private final Set<Pair> open = new HashSet<>();
    private Thread acceptor;
    private boolean closed;
    private boolean full;

    private Relay(ServerSocketChannel server, InetSocketAddress target, String name, Limits limits) {
        this.server = server;
        this.target = target;
        this.name = name;
        this.limits = limits;
    }

    /** Relays what server (bound and listening) accepts to target, until closed. */
    static Relay start(ServerSocketChannel server, InetSocketAddress target, String name, Limits limits) {
        Relay relay = new Relay(server, target, name, limits);
        synchronized (relay) {
            relay.acceptor = daemon(relay::accept, "crabcan-relay " + name);
            relay.acceptor.start();
        }
        return relay;
    }

    private void accept() {
        long pause = 0;
        while (true) {
            SocketChannel client;
            try {
                client = server.accept();
            } catch (ClosedChannelException e) {
                return; // closed with the sandbox
            } catch (IOException e) {
                // EMFILE and the like pass; the connection waits in the backlog meanwhile.
                if (pause == 0) {
                    log.warn("relay of {}: cannot accept a connection ({}); trying again", name, e.getMessage());
                } else {
                    log.debug("relay of {}: cannot accept a connection ({})", name, e.getMessage());
                }
                pause = Math.min(LONGEST_PAUSE_MS, Math.max(FIRST_PAUSE_MS, 2 * pause));
                try {
                    Thread.sleep(pause);
                } catch (InterruptedException interrupted) {
                    return; // closed with the sandbox
                }
                continue;
            }
            pause = 0;
            Pair pair = admit(client);
            if (pair != null) {
                daemon(() -> relay(pair), "crabcan-relay " + name + " out").start();
            }
        }
    }

    /** The pair for a new connection, or null (and the connection closed) if the relay is closed or full. */
    private synchronized Pair admit(SocketChannel client) {
        if (closed || open.size() >= limits.connections()) {
            if (!closed && !full) {
                log.warn("relay of {}: {} connections open, the most it takes; closing new ones until some end", name,
                        open.size());
            }
            full = !closed;
            closeQuietly(client);
            return null;
        }
        full = false;
        Pair pair = new Pair(client);
        open.add(pair);
        return pair;
    }

    private void relay(Pair pair) {
        SocketChannel inside = null;
        try {
            inside = SocketChannel.open();
            if (!pair.attach(inside)) {
                return;
            }
            inside.socket().connect(target, CONNECT_TIMEOUT_MS);
            // Reads wake this often to see whether the pair has been idle too long.
            int tick = (int) Math.max(1, Math.min(limits.idleMillis(), limits.halfClosedMillis()));
            pair.client.socket().setSoTimeout(tick);
            inside.socket().setSoTimeout(tick);
        } catch (IOException e) {
            log.debug("relay of {} to {}: {}", name, target, e.toString());
            pair.close();
            return;
        }
        SocketChannel to = inside;
        daemon(() -> pump(pair, pair.client, to), "crabcan-relay " + name + " in").start();
        pump(pair, to, pair.client);
    }

    /** Copies from one end to the other until the end of its stream, which it passes on; the pair closes once both ended. */
    private void pump(Pair pair, SocketChannel from, SocketChannel to) {
        byte[] buf = new byte[16384];
        try {
            InputStream in = from.socket().getInputStream();
            OutputStream out = to.socket().getOutputStream();
            while (true) {
                int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    if (pair.idleTooLong()) {
                        log.debug("relay of {}: closing a connection idle for longer than its limit", name);
                        break;
                    }
                    continue;
                }
                if (n < 0) {
                    to.shutdownOutput();
                    if (!pair.ended()) {
                        return; // the other direction still runs, and closes the pair
                    }
                    break;
                }
                pair.touch();
                out.write(buf, 0, n);
                pair.touch();
            }
        } catch (IOException e) {
            log.debug("relay of {} to {}: {}", name, target, e.toString());
        }
        pair.close();
    }

    @Override
    public void close() {
        closeQuietly(server);
        List<Pair> all;
        synchronized (this) {
            closed = true;
            all = new ArrayList<>(open);
            open.clear();
            acceptor.interrupt(); // a pause after a failed accept
        }
        for (Pair p : all) {
            p.closeChannels();
        }
    }

    /** One relayed connection: the client's end, the end inside once opened, and when a byte last passed. */
    private final class Pair {
        final SocketChannel client;
        private SocketChannel inside;
        private volatile long lastActive = System.nanoTime();
        private int ended;

        Pair(SocketChannel client) {
            this.client = client;
        }

        /** Whether inside belongs to the pair now; if the pair was closed meanwhile, inside is closed. */
        boolean attach(SocketChannel c) {
            synchronized (Relay.this) {
                if (open.contains(this)) {
                    inside = c;
                    return true;
                }
            }
            closeQuietly(c);
            return false;
        }

        void touch() {
            lastActive = System.nanoTime();
        }

        /** Records one direction's end of stream; whether both have ended. */
        boolean ended() {
            synchronized (Relay.this) {
                return ++ended == 2;
            }
        }

        boolean idleTooLong() {
            long limit;
            synchronized (Relay.this) {
                limit = ended > 0 ? limits.halfClosedMillis() : limits.idleMillis();
            }
            return System.nanoTime() - lastActive > limit * 1_000_000;
        }

        void close() {
            synchronized (Relay.this) {
                if (!open.remove(this)) {
                    return;
                }
            }
            closeChannels();
        }

        void closeChannels() {
            SocketChannel in;
            synchronized (Relay.this) {
                in = inside;
            }
            closeQuietly(client);
            closeQuietly(in);
        }
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
