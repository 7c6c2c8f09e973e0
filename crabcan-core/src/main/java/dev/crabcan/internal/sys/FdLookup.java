package dev.crabcan.internal.sys;

import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.DatagramChannel;
import java.nio.channels.FileChannel;
import java.nio.channels.NetworkChannel;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.Charset;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Which of this JVM's fds a Java object stands for. The JDK exposes no fd number, so each kind
 * is found by what it shows through its public API and the kernel shows of each fd:
 * a socket by its type, listening state and addresses (getsockname, getpeername), a file by a
 * position set on it for the search and then restored (lseek). Nothing of the object changes.
 */
public final class FdLookup {
    private static final Path FDS = Path.of("/proc/self/fd");
    private static final int AF_UNIX = 1, AF_INET = 2, AF_INET6 = 10;
    private static final int SOCK_STREAM = 1, SOCK_DGRAM = 2;
    private static final Charset NAMES = Charset.forName(System.getProperty("sun.jnu.encoding", "UTF-8"));

    /**
     * The copies {@link #copy} made and {@link #closeCopy} has not closed yet: fds of this JVM
     * that look exactly like the caller's, which no search may take for it (the lock on this
     * class guards them, and every search holds it).
     */
    private static final java.util.Set<Integer> COPIES = new java.util.HashSet<>();

    private FdLookup() {}

    /**
     * A close-on-exec copy of the fd {@link #of} finds for {@code source}, which later searches
     * pass over until {@link #closeCopy}: the same channel passed twice, or by two starts at once,
     * is found again, not taken for its copy.
     */
    public static synchronized int copy(Object source) throws IOException {
        int fd = LibC.duplicate(of(source));
        COPIES.add(fd);
        return fd;
    }

    public static synchronized void closeCopy(int fd) {
        COPIES.remove(fd);
        LibC.close(fd);
    }

    /**
     * The fd of this JVM's socket whose peer is bound to this abstract Unix address (without its
     * NUL) and was connected by process {@code peerPid}. Abstract names are unique only within a
     * network namespace: a process elsewhere could bind the same name and connect to the same
     * socket, so the connecting process must match too, and exactly one socket may.
     */
    public static synchronized int peerOf(String abstractAddress, long peerPid) throws IOException {
        byte[] name = abstractAddress.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        List<Integer> found = new ArrayList<>();
        for (int fd : sockets()) {
            try {
                byte[] peer = LibC.peerName(fd);
                if (peer != null && peer.length == 3 + name.length && family(peer) == AF_UNIX && peer[2] == 0
                        && Arrays.equals(peer, 3, peer.length, name, 0, name.length) && LibC.peerPid(fd) == peerPid) {
                    found.add(fd);
                }
            } catch (LibC.ErrnoException e) {
                // closed meanwhile, or not a Unix socket: not it
            }
        }
        if (found.size() != 1) {
            throw new IOException(found.isEmpty() ? "no socket of this JVM is connected to @" + abstractAddress
                    : "fds " + found + " are all connected to @" + abstractAddress + " by pid " + peerPid);
        }
        return found.get(0);
    }

    /**
     * The fd a {@link NetworkChannel} (socket, server socket or datagram, IP or Unix domain), a
     * {@link FileChannel} or a {@link FileDescriptor} of a seekable file is.
     */
    private static synchronized int of(Object source) throws IOException {
        if (source == FileDescriptor.in) {
            return 0;
        } else if (source == FileDescriptor.out) {
            return 1;
        } else if (source == FileDescriptor.err) {
            return 2;
        } else if (source instanceof FileDescriptor fd) {
            if (!fd.valid()) {
                throw new IOException("the FileDescriptor is not valid (closed)");
            }
            // Not closed here: closing the stream would close the caller's fd.
            @SuppressWarnings("resource")
            FileChannel ch = new FileInputStream(fd).getChannel();
            return ofFile(ch);
        } else if (source instanceof FileChannel ch) {
            return ofFile(ch);
        } else if (source instanceof NetworkChannel ch) {
            return ofSocket(ch);
        }
        throw new IllegalArgumentException("cannot pass a " + source.getClass().getName()
                + ": pass a SocketChannel, ServerSocketChannel, DatagramChannel, FileChannel or FileDescriptor");
    }

    /** Called under the class's lock, as every search: two at once would see each other's marks. */
    private static int ofFile(FileChannel ch) throws IOException {
        if (!ch.isOpen()) {
            throw new IOException("the FileChannel is closed");
        }
        long was;
        try {
            was = ch.position();
        } catch (IOException e) {
            throw new IOException("only seekable files and sockets can be passed; this one is not ("
                    + e.getMessage() + ")", e);
        }
        long mark = (1L << 40) + ThreadLocalRandom.current().nextLong(1L << 40);
        ch.position(mark);
        try {
            for (int fd : fds(false)) {
                try {
                    if (LibC.position(fd) == mark) {
                        return fd;
                    }
                } catch (LibC.ErrnoException e) {
                    // not seekable, or closed meanwhile: not it
                }
            }
        } finally {
            ch.position(was);
        }
        throw new IOException("the file's fd was not found among this JVM's: its position did not stay where it was "
                + "set (a device such as /dev/null, or another thread or process moving it)");
    }

    private static int ofSocket(NetworkChannel ch) throws IOException {
        if (!ch.isOpen()) {
            throw new IOException("the channel is closed");
        }
        SocketAddress local = ch.getLocalAddress();
        if (local == null) {
            throw new IOException("the channel is not bound: bind or connect it before it is passed");
        }
        int type = ch instanceof DatagramChannel ? SOCK_DGRAM : SOCK_STREAM;
        boolean listening = ch instanceof ServerSocketChannel;
        SocketAddress remote = ch instanceof SocketChannel s ? s.getRemoteAddress()
                : ch instanceof DatagramChannel d ? d.getRemoteAddress() : null;
        List<Integer> found = new ArrayList<>();
        for (int fd : sockets()) {
            try {
                if (LibC.socketOption(fd, LibC.SO_TYPE) == type
                        && (LibC.socketOption(fd, LibC.SO_ACCEPTCONN) != 0) == listening
                        && same(local, address(LibC.socketName(fd, false)))
                        && same(remote, address(LibC.peerName(fd)))) {
                    found.add(fd);
                }
            } catch (LibC.ErrnoException e) {
                // closed meanwhile: not it
            }
        }
        if (found.size() != 1) {
            throw new IOException(found.isEmpty() ? "the socket bound to " + local + " was not found among this JVM's fds"
                    : "fds " + found + " all look like the socket bound to " + local + " (SO_REUSEPORT, or Unix "
                    + "sockets whose peers are unbound or abstract?): pass one that is unique");
        }
        return found.get(0);
    }

    /** Two addresses alike: the wildcard matches the wildcard of either family, v4-mapped is v4. */
    private static boolean same(SocketAddress expected, SocketAddress actual) {
        if (expected instanceof InetSocketAddress e && actual instanceof InetSocketAddress a) {
            return e.getPort() == a.getPort() && (e.getAddress().isAnyLocalAddress() && a.getAddress().isAnyLocalAddress()
                    || e.getAddress().equals(a.getAddress()));
        }
        return Objects.equals(expected, actual);
    }

    /** A sockaddr as the JDK shows it; null for none. */
    private static SocketAddress address(byte[] sa) throws IOException {
        if (sa == null || sa.length < 2) {
            return null;
        }
        ByteBuffer b = ByteBuffer.wrap(sa);
        switch (family(sa)) {
            case AF_UNIX -> {
                int end = 2;
                while (end < sa.length && sa[end] != 0) {
                    end++;
                }
                // Up to the first NUL, as the JDK shows it: an abstract address is "" there, as an
                // unbound one is, so that a socket whose peer is either matches both (ambiguous).
                return UnixDomainSocketAddress.of(new String(sa, 2, end - 2, NAMES));
            }
            case AF_INET -> {
                return new InetSocketAddress(InetAddress.getByAddress(Arrays.copyOfRange(sa, 4, 8)),
                        Short.toUnsignedInt(b.getShort(2)));
            }
            case AF_INET6 -> {
                // getByAddress gives an Inet4Address for a v4-mapped address, as the JDK's channels do.
                return new InetSocketAddress(InetAddress.getByAddress(Arrays.copyOfRange(sa, 8, 24)),
                        Short.toUnsignedInt(b.getShort(2)));
            }
            default -> {
                return null;
            }
        }
    }

    private static int family(byte[] sa) {
        return Short.toUnsignedInt(ByteBuffer.wrap(sa, 0, 2).order(ByteOrder.nativeOrder()).getShort());
    }

    private static List<Integer> sockets() throws IOException {
        return fds(true);
    }

    /** This JVM's fds that are sockets, or that are not. */
    private static List<Integer> fds(boolean sockets) throws IOException {
        List<Integer> out = new ArrayList<>();
        try (var list = Files.newDirectoryStream(FDS)) {
            for (Path p : list) {
                try {
                    int fd = Integer.parseInt(p.getFileName().toString());
                    if (!COPIES.contains(fd) && Files.readSymbolicLink(p).toString().startsWith("socket:[") == sockets) {
                        out.add(fd);
                    }
                } catch (IOException e) {
                    // closed since the listing (the listing's own fd among them)
                }
            }
        }
        return out;
    }
}
