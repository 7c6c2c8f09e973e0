package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.ServerSocketChannel;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The relay of ports published on IPv6 addresses, attacked through real sockets on the loopback:
 * more connections than it takes, connections left idle or half closed, and accepts that fail
 * because the JVM has no file descriptor left (its limit lowered for real, by another process).
 */
@Timeout(value = 2, unit = TimeUnit.MINUTES)
class RelayTest {
    /** Stands in for the sandbox: greets each connection with "hi", echoes what it reads, ends when its client does. */
    private final ServerSocket inside = new ServerSocket(0, 1000, InetAddress.getLoopbackAddress());
    private final List<Socket> clients = new ArrayList<>();
    private ServerSocketChannel port;
    private Relay relay;
    private volatile boolean closeOnEnd = true;

    RelayTest() throws IOException {
        Thread t = new Thread(this::serve, "relay-test inside");
        t.setDaemon(true);
        t.start();
    }

    private void serve() {
        while (!inside.isClosed()) {
            try {
                Socket c = inside.accept();
                Thread t = new Thread(() -> echo(c), "relay-test echo");
                t.setDaemon(true);
                t.start();
            } catch (IOException e) {
                return; // closed after the test
            }
        }
    }

    private void echo(Socket c) {
        try {
            OutputStream out = c.getOutputStream();
            out.write("hi\n".getBytes(StandardCharsets.UTF_8));
            byte[] buf = new byte[1024];
            for (int n; (n = c.getInputStream().read(buf)) > 0; ) {
                out.write(buf, 0, n);
            }
            if (closeOnEnd) {
                c.close();
            }
        } catch (IOException e) {
            // the relay closed it
        }
    }

    private Relay start(Relay.Limits limits) throws IOException {
        port = ServerSocketChannel.open();
        port.bind(new InetSocketAddress("::1", 0), 1000);
        relay = Relay.start(port, new InetSocketAddress(InetAddress.getLoopbackAddress(), inside.getLocalPort()), "test",
                limits);
        return relay;
    }

    private Socket connect() throws IOException {
        Socket s = new Socket();
        clients.add(s);
        s.connect(port.getLocalAddress(), 5000);
        s.setSoTimeout(10_000);
        return s;
    }

    /** The first line the relay passes on, or null for the end of the stream (a connection it closed). */
    private static String firstLine(Socket s) throws IOException {
        return new BufferedReader(new InputStreamReader(s.getInputStream(), StandardCharsets.UTF_8)).readLine();
    }

    @AfterEach
    void close() throws Exception {
        for (Socket s : clients) {
            s.close();
        }
        if (relay != null) {
            relay.close();
        }
        inside.close();
        assertThat(relayThreadsLeft()).as("the relay's threads, once closed").isEmpty();
    }

    /** The relay's threads still alive, once they had a few seconds to end. */
    private static List<String> relayThreadsLeft() throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            List<String> left = Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                    .map(Thread::getName).filter(n -> n.startsWith("crabcan-relay test")).toList();
            if (left.isEmpty() || System.nanoTime() > deadline) {
                return left;
            }
            Thread.sleep(20);
        }
    }

    @Test
    void connectionsPastTheBoundAreClosedAndThePortServesOnceOthersEnd() throws Exception {
        start(new Relay.Limits(4, 60_000, 60_000));
        List<String> lines = new ArrayList<>();
        List<Socket> six = new ArrayList<>();
        for (int i = 0; i < 6; i++) {
            Socket s = connect();
            six.add(s);
            lines.add(String.valueOf(firstLine(s)));
        }
        assertThat(lines).as("four relayed, two closed at once").containsExactly("hi", "hi", "hi", "hi", "null", "null");
        for (Socket s : six) {
            s.close();
        }
        // The pairs end as the relay reads each client's end, so the port is tried until one is free.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String line;
        do {
            line = firstLine(connect());
        } while (line == null && System.nanoTime() < deadline);
        assertThat(line).as("a connection after the others ended").isEqualTo("hi");
    }

    @Test
    void anIdleConnectionIsClosed() throws Exception {
        start(new Relay.Limits(4, 300, 60_000));
        Socket s = connect();
        assertThat(firstLine(s)).isEqualTo("hi");
        assertThat(s.getInputStream().read()).as("the end of the stream, once idle for long").isEqualTo(-1);
    }

    @Test
    void aHalfClosedConnectionIsClosedSoonerThanAnIdleOne() throws Exception {
        closeOnEnd = false; // the inside keeps its half open, silent
        start(new Relay.Limits(4, 60_000, 300));
        Socket s = connect();
        assertThat(firstLine(s)).isEqualTo("hi");
        s.shutdownOutput();
        assertThat(s.getInputStream().read()).as("the end of the stream, once half closed for long").isEqualTo(-1);
    }

    /**
     * Another process lowers this JVM's descriptor limit to the lowest one free and connects: the
     * relay's accept fails with EMFILE (its warning is read back), or, should the JVM free one
     * descriptor meanwhile, the connection is accepted and closed for want of one to the inside.
     * The other process then gives the limit back, and a new connection is served.
     */
    @Test
    void thePortServesAgainAfterAcceptsFailedForWantOfDescriptors() throws Exception {
        start(new Relay.Limits(4, 60_000, 60_000));
        assertThat(firstLine(connect())).as("warming up every class the relay needs").isEqualTo("hi");
        String script = String.join("\n",
                "import os, resource, socket, sys, time",
                "pid, port = int(sys.argv[1]), int(sys.argv[2])",
                "limit = resource.prlimit(pid, resource.RLIMIT_NOFILE)",
                "time.sleep(1)  # the JVM closes what it opened to start this process",
                "used = {int(f) for f in os.listdir('/proc/%d/fd' % pid)}",
                "resource.prlimit(pid, resource.RLIMIT_NOFILE, (min(set(range(len(used) + 1)) - used), limit[1]))",
                "try:",
                "    starved = socket.create_connection(('::1', port), timeout=5)",
                "    time.sleep(2)",
                "finally:",
                "    resource.prlimit(pid, resource.RLIMIT_NOFILE, limit)",
                "c = socket.create_connection(('::1', port), timeout=20)",
                "print('after', c.recv(3), flush=True)");
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream log = new java.io.ByteArrayOutputStream();
        // slf4j-simple writes to System.err as it is at each message.
        System.setErr(new java.io.PrintStream(new OutputStream() {
            @Override
            public void write(int b) {
                err.write(b);
                log.write(b);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                err.write(b, off, len);
                log.write(b, off, len);
            }
        }, true));
        try {
            Process p = new ProcessBuilder("/usr/bin/python3", "-c", script, Long.toString(ProcessHandle.current().pid()),
                    Integer.toString(((InetSocketAddress) port.getLocalAddress()).getPort())).redirectErrorStream(true)
                    .start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(out.lines()).as(out).containsExactly("after b'hi\\n'");
        } finally {
            System.setErr(err);
        }
        assertThat(log.toString(StandardCharsets.UTF_8)).as("the relay's log")
                .contains("relay of test: cannot accept a connection (Too many open files); trying again");
    }
}
