package dev.crabcan.internal.sys;

import com.kenai.jffi.CallContext;
import com.kenai.jffi.CallingConvention;
import com.kenai.jffi.Invoker;
import com.kenai.jffi.LastError;
import com.kenai.jffi.Library;
import com.kenai.jffi.MemoryIO;
import com.kenai.jffi.Type;
import java.io.IOException;

/**
 * The system calls that only an in-process call can make: passing this JVM's descriptors to a
 * helper (SCM_RIGHTS) and finding which of its fds a channel is. Loaded on first use only, by
 * the features that need it (a plain sandbox never loads it: jffi's native stub costs a fresh JVM
 * its extraction and loading).
 *
 * <p>Made with jffi, the native-call core of jnr-ffi, rather than jnr-ffi's interface mapping:
 * that generates an implementation class in a class loader of its own, whose unnamed module can
 * only implement an interface in an exported package, and this package is internal. Each call
 * is one libc function with a fixed signature; struct layouts are x86-64 Linux's (the only
 * platform Crabcan runs on, see HostInfo).
 */
public final class LibC {
    public static final int SOL_SOCKET = 1;
    public static final int SO_TYPE = 3;
    public static final int SO_ACCEPTCONN = 30;
    static final int SO_PEERCRED = 17;
    public static final int SCM_RIGHTS = 1;
    public static final int SEEK_CUR = 1;
    static final int ENOTCONN = 107;

    private static final MemoryIO MEM = MemoryIO.getInstance();
    private static final Invoker INVOKER = Invoker.getInstance();
    private static final Fn SENDMSG = new Fn("sendmsg", Type.SINT, Type.POINTER, Type.SINT);
    private static final Fn GETSOCKNAME = new Fn("getsockname", Type.SINT, Type.POINTER, Type.POINTER);
    private static final Fn GETPEERNAME = new Fn("getpeername", Type.SINT, Type.POINTER, Type.POINTER);
    private static final Fn GETSOCKOPT = new Fn("getsockopt", Type.SINT, Type.SINT, Type.SINT, Type.POINTER,
            Type.POINTER);
    private static final Fn LSEEK = new Fn("lseek", Type.SINT, Type.SLONG, Type.SINT);
    private static final Fn SYSCALL = new Fn("syscall", Type.SLONG, Type.SLONG, Type.SLONG, Type.SLONG, Type.SLONG);
    private static final Fn CLOSE = new Fn("close", Type.SINT);
    private static final long SYS_FCNTL = 72, SYS_PIPE2 = 293, SYS_MEMFD_CREATE = 319, SYS_PIDFD_SEND_SIGNAL = 424,
            SYS_PIDFD_OPEN = 434, SYS_OPENAT2 = 437;
    private static final int O_CLOEXEC = 02000000, MFD_CLOEXEC = 1;
    private static final int F_DUPFD_CLOEXEC = 1030;

    private LibC() {}

    /** A libc function: its address and how it is called (every one returns a long, saving errno). */
    private record Fn(String name, long address, CallContext context) {
        Fn(String name, Type... params) {
            this(name, Library.getDefault().getSymbolAddress(name),
                    CallContext.getCallContext(Type.SLONG, params, CallingConvention.DEFAULT, true));
            if (address == 0) {
                throw new UnsatisfiedLinkError("libc has no " + name);
            }
        }

        long call(long... a) {
            return switch (a.length) {
                case 1 -> INVOKER.invokeN1(context, address, a[0]);
                case 2 -> INVOKER.invokeN2(context, address, a[0], a[1]);
                case 3 -> INVOKER.invokeN3(context, address, a[0], a[1], a[2]);
                case 4 -> INVOKER.invokeN4(context, address, a[0], a[1], a[2], a[3]);
                case 5 -> INVOKER.invokeN5(context, address, a[0], a[1], a[2], a[3], a[4]);
                default -> throw new IllegalArgumentException(name + " with " + a.length + " arguments");
            };
        }

        /** The call's result, or an IOException naming the call and its errno. */
        long checked(String what, long... a) throws IOException {
            long r = call(a);
            if (r < 0) {
                throw new ErrnoException(name + " " + what, LastError.getInstance().get());
            }
            return r;
        }
    }

    /** A failed call, with its errno. */
    public static final class ErrnoException extends IOException {
        private final int errno;

        ErrnoException(String call, int errno) {
            super(call + ": " + errnoName(errno));
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }

        private static String errnoName(int errno) {
            jnr.constants.platform.Errno e = jnr.constants.platform.Errno.valueOf(errno);
            return e == null || !e.defined() ? "errno " + errno : e.name() + " (" + e.description() + ")";
        }
    }

    /** Native memory freed on close. */
    private static final class Block implements AutoCloseable {
        final long address;

        Block(long size) {
            address = MEM.allocateMemory(size, true);
            if (address == 0) {
                throw new OutOfMemoryError("native memory for a system call");
            }
        }

        @Override
        public void close() {
            MEM.freeMemory(address);
        }
    }

    /** Sends one byte with the fds attached (SCM_RIGHTS), all in one message. */
    public static void sendFds(int socket, byte data, int[] fds) throws IOException {
        long controlLen = 16 + 4L * fds.length;  // CMSG_LEN: cmsghdr (len, level, type) + the ints
        long controlSpace = (controlLen + 7) & ~7L; // CMSG_SPACE
        try (Block msg = new Block(56); Block iov = new Block(16); Block buf = new Block(1);
                Block control = new Block(controlSpace)) {
            MEM.putByte(buf.address, data);
            MEM.putLong(iov.address, buf.address);       // iov_base
            MEM.putLong(iov.address + 8, 1);             // iov_len
            MEM.putLong(msg.address + 16, iov.address);  // msg_iov
            MEM.putLong(msg.address + 24, 1);            // msg_iovlen
            MEM.putLong(msg.address + 32, control.address); // msg_control
            MEM.putLong(msg.address + 40, controlSpace);    // msg_controllen
            MEM.putLong(control.address, controlLen);    // cmsg_len
            MEM.putInt(control.address + 8, SOL_SOCKET); // cmsg_level
            MEM.putInt(control.address + 12, SCM_RIGHTS); // cmsg_type
            for (int i = 0; i < fds.length; i++) {
                MEM.putInt(control.address + 16 + 4L * i, fds[i]);
            }
            while (true) {
                long sent = SENDMSG.call(socket, msg.address, 0x4000 /* MSG_NOSIGNAL */);
                if (sent == 1) {
                    return;
                }
                int errno = LastError.getInstance().get();
                if (sent < 0 && errno == 4 /* EINTR */) {
                    continue;
                }
                throw new ErrnoException("sendmsg of " + fds.length + " fds on fd " + socket, sent < 0 ? errno : 5);
            }
        }
    }

    /** The socket's own address (sockaddr bytes), or the peer's. */
    public static byte[] socketName(int fd, boolean peer) throws IOException {
        try (Block addr = new Block(128); Block len = new Block(4)) {
            MEM.putInt(len.address, 128);
            (peer ? GETPEERNAME : GETSOCKNAME).checked("of fd " + fd, fd, addr.address, len.address);
            byte[] out = new byte[Math.min(MEM.getInt(len.address), 128)];
            MEM.getByteArray(addr.address, out, 0, out.length);
            return out;
        }
    }

    /** The peer's address, or null when not connected. */
    public static byte[] peerName(int fd) throws IOException {
        try {
            return socketName(fd, true);
        } catch (ErrnoException e) {
            if (e.errno() == ENOTCONN) {
                return null;
            }
            throw e;
        }
    }

    /** An int socket option (SOL_SOCKET level). */
    public static int socketOption(int fd, int option) throws IOException {
        try (Block value = new Block(4); Block len = new Block(4)) {
            MEM.putInt(len.address, 4);
            GETSOCKOPT.checked("option " + option + " of fd " + fd, fd, SOL_SOCKET, option, value.address, len.address);
            return MEM.getInt(value.address);
        }
    }

    /**
     * Sends a signal to the process that ran as {@code pid} when {@code identity} said it was
     * that process (e.g. its start time matches), without the race of kill(2): the pidfd opened
     * first pins the process, so a pid reused after the check is never signalled. False if that
     * process is gone.
     */
    public static boolean signal(long pid, int signal, java.util.function.BooleanSupplier identity) throws IOException {
        long pidfd = SYSCALL.call(SYS_PIDFD_OPEN, pid, 0, 0, 0);
        if (pidfd < 0) {
            int errno = LastError.getInstance().get();
            if (errno == 3 /* ESRCH */) {
                return false;
            }
            throw new ErrnoException("pidfd_open of pid " + pid, errno);
        }
        try {
            if (!identity.getAsBoolean()) {
                return false;
            }
            long r = SYSCALL.call(SYS_PIDFD_SEND_SIGNAL, pidfd, signal, 0, 0);
            if (r < 0) {
                int errno = LastError.getInstance().get();
                if (errno == 3 /* ESRCH: exited since */) {
                    return false;
                }
                throw new ErrnoException("pidfd_send_signal " + signal + " to pid " + pid, errno);
            }
            return true;
        } finally {
            CLOSE.call(pidfd);
        }
    }

    /** The pid of the process that connected a Unix socket's peer end (SO_PEERCRED), as this JVM's pid namespace sees it. */
    public static long peerPid(int fd) throws IOException {
        try (Block cred = new Block(12); Block len = new Block(4)) {
            MEM.putInt(len.address, 12);
            GETSOCKOPT.checked("SO_PEERCRED of fd " + fd, fd, SOL_SOCKET, SO_PEERCRED, cred.address, len.address);
            return MEM.getInt(cred.address);
        }
    }

    /** A close-on-exec copy of fd, numbered 3 or more. */
    public static int duplicate(int fd) throws IOException {
        long r = SYSCALL.call(SYS_FCNTL, fd, F_DUPFD_CLOEXEC, 3, 0);
        if (r < 0) {
            throw new ErrnoException("fcntl F_DUPFD_CLOEXEC of fd " + fd, LastError.getInstance().get());
        }
        return (int) r;
    }

    /** A close-on-exec OS pipe: its read end, then its write end. */
    public static int[] pipe() throws IOException {
        try (Block fds = new Block(8)) {
            long r = SYSCALL.call(SYS_PIPE2, fds.address, O_CLOEXEC, 0, 0);
            if (r < 0) {
                throw new ErrnoException("pipe2", LastError.getInstance().get());
            }
            return new int[] {MEM.getInt(fds.address), MEM.getInt(fds.address + 4)};
        }
    }

    /** A close-on-exec anonymous in-memory file (memfd_create), empty; the name shows in /proc only. */
    public static int memfd(String name) throws IOException {
        byte[] bytes = (name + "\0").getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (Block n = new Block(bytes.length)) {
            MEM.putByteArray(n.address, bytes, 0, bytes.length);
            long r = SYSCALL.call(SYS_MEMFD_CREATE, n.address, MFD_CLOEXEC, 0, 0);
            if (r < 0) {
                throw new ErrnoException("memfd_create " + name, LastError.getInstance().get());
            }
            return (int) r;
        }
    }

    /**
     * Opens a path with these open(2) flags (close-on-exec added), following no symbolic link on
     * the way, not even a magic one (openat2 RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS): ELOOP if
     * one is there.
     */
    public static int openWithoutLinks(String path, int flags) throws IOException {
        byte[] bytes = (path + "\0").getBytes(System.getProperty("sun.jnu.encoding", "UTF-8"));
        try (Block p = new Block(bytes.length); Block how = new Block(24)) {
            MEM.putByteArray(p.address, bytes, 0, bytes.length);
            MEM.putLong(how.address, (flags | O_CLOEXEC) & 0xffffffffL); // flags
            MEM.putLong(how.address + 8, 0);                             // mode
            MEM.putLong(how.address + 16, 0x04 | 0x02);                  // RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS
            long r = SYSCALL.call(SYS_OPENAT2, -100 /* AT_FDCWD */, p.address, how.address, 24);
            if (r < 0) {
                throw new ErrnoException("open " + path, LastError.getInstance().get());
            }
            return (int) r;
        }
    }

    /** Closes an fd this class made (a {@link #duplicate}). */
    public static void close(int fd) {
        CLOSE.call(fd);
    }

    /** The file offset of fd's open file description. */
    public static long position(int fd) throws IOException {
        return LSEEK.checked("of fd " + fd, fd, 0, SEEK_CUR);
    }
}
