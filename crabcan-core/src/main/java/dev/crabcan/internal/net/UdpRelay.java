package dev.crabcan.internal.net;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.StandardProtocolFamily;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A UDP port a root caller's sandbox publishes on an IPv6 host address, relayed by the JVM for
 * the reason {@link Relay} relays TCP: no translation serves {@code [::1]}. Each client address
 * is a flow with its own socket towards the sandbox's IPv4 address, so that the sandbox's
 * answers go back to the client that asked (as conntrack's translation does for IPv4); a flow
 * idle for {@link #IDLE_NANOS} goes, and the oldest goes when there are {@link #MAX_FLOWS}.
 * Inside, datagrams come from the host's end of the pair. One daemon thread a port.
 */
final class UdpRelay implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(UdpRelay.class);
    /** Linux's conntrack keeps an answered UDP flow for 120 s. */
    private static final long IDLE_NANOS = 120_000_000_000L;
    private static final int MAX_FLOWS = 1024;

    private final DatagramChannel host;
    private final InetSocketAddress target;
    private final Selector selector;
    /** By client, least recently used first. */
    private final Map<SocketAddress, Flow> flows = new LinkedHashMap<>(16, 0.75f, true);
    private volatile boolean closed;

    private static final class Flow {
        final DatagramChannel inside;
        long lastUsed;

        Flow(DatagramChannel inside) {
            this.inside = inside;
        }
    }

    private UdpRelay(DatagramChannel host, InetSocketAddress target, Selector selector) {
        this.host = host;
        this.target = target;
        this.selector = selector;
    }

    /** Relays what host (bound) receives to target, and the answers back, until closed. */
    static UdpRelay start(DatagramChannel host, InetSocketAddress target, String name) throws IOException {
        host.configureBlocking(false);
        Selector selector = Selector.open();
        host.register(selector, SelectionKey.OP_READ);
        UdpRelay relay = new UdpRelay(host, target, selector);
        Thread t = new Thread(relay::run, "crabcan-udp-relay " + name);
        t.setDaemon(true);
        t.start();
        return relay;
    }

    private void run() {
        ByteBuffer buffer = ByteBuffer.allocate(65536);
        try {
            while (!closed) {
                selector.select(1000);
                for (Iterator<SelectionKey> i = selector.selectedKeys().iterator(); i.hasNext(); ) {
                    SelectionKey key = i.next();
                    i.remove();
                    if (key.isValid() && key.isReadable()) {
                        buffer.clear();
                        if (key.channel() == host) {
                            fromClient(buffer);
                        } else {
                            toClient((DatagramChannel) key.channel(), (SocketAddress) key.attachment(), buffer);
                        }
                    }
                }
                expire(System.nanoTime() - IDLE_NANOS);
            }
        } catch (IOException e) {
            if (!closed) {
                log.debug("UDP relay to {}: {}", target, e.toString());
            }
        } finally {
            flows.values().forEach(f -> closeQuietly(f.inside));
            flows.clear();
            closeQuietly(selector);
        }
    }

    private void fromClient(ByteBuffer buffer) throws IOException {
        SocketAddress client = host.receive(buffer);
        if (client == null) {
            return;
        }
        Flow flow = flows.get(client);
        if (flow == null) {
            if (flows.size() >= MAX_FLOWS) {
                Iterator<Flow> eldest = flows.values().iterator();
                closeQuietly(eldest.next().inside);
                eldest.remove();
            }
            DatagramChannel inside = DatagramChannel.open(StandardProtocolFamily.INET);
            inside.configureBlocking(false);
            inside.connect(target);
            inside.register(selector, SelectionKey.OP_READ, client);
            flow = new Flow(inside);
            flows.put(client, flow);
        }
        flow.lastUsed = System.nanoTime();
        buffer.flip();
        try {
            flow.inside.write(buffer);
        } catch (IOException e) {
            // The sandbox refused an earlier datagram (ICMP port unreachable): this one goes as UDP's would.
            log.debug("UDP relay to {}: {}", target, e.toString());
        }
    }

    private void toClient(DatagramChannel inside, SocketAddress client, ByteBuffer buffer) {
        try {
            if (inside.read(buffer) > 0) {
                buffer.flip();
                host.send(buffer, client);
            }
        } catch (IOException e) {
            log.debug("UDP relay from {} to {}: {}", target, client, e.toString());
        }
    }

    /** The flows last used before {@code before}: least recently used first, so the first used since ends it. */
    private void expire(long before) {
        for (Iterator<Flow> i = flows.values().iterator(); i.hasNext(); ) {
            Flow f = i.next();
            if (f.lastUsed - before >= 0) {
                return;
            }
            closeQuietly(f.inside);
            i.remove();
        }
    }

    /** Stops relaying; the host port is its owner's to close. */
    @Override
    public void close() {
        closed = true;
        selector.wakeup();
    }

    private static void closeQuietly(java.io.Closeable c) {
        try {
            c.close();
        } catch (IOException e) {
            log.debug("closing a UDP relay's socket: {}", e.toString());
        }
    }
}
