package dev.crabcan.internal.plan;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * Encodes the plan as the helper reads it: a "CRB1" header with the body length, then records of
 * (u32 tag, u32 length, payload), little-endian, strings NUL-terminated. Tags and flags mirror
 * the definitions in the helper's plan.h.
 */
final class PlanWriter {
    static final int MAGIC = 0x31425243;

    static final int T_CONFIG = 1, T_UID_MAP = 2, T_GID_MAP = 3, T_IDMAP_UID_MAP = 4, T_IDMAP_GID_MAP = 5,
            T_HOSTNAME = 6, T_STAGING = 7, T_ROOT = 8, T_MOUNT = 9, T_CREDS = 10, T_CAPS = 11, T_SECCOMP = 12,
            T_RLIMIT = 13, T_ARG = 14, T_ENV = 15, T_CWD = 16, T_SEARCH_PATH = 17, T_CGROUP = 18, T_STDIO = 19,
            T_NET = 20, T_NET_HELPER = 21;

    /** Detached sandboxes (OCI create/start) and process settings from OCI configs. */
    static final int T_DETACH = 40, T_UMASK = 41;
    static final int T_PIPE = 60;

    static final int M_BIND = 1, M_TMPFS = 2, M_PROC = 3, M_SYMLINK = 4, M_INNER_BIND = 6, M_CONTENT = 7;

    /** A kernel file system "type[:option,key=value...]"; writing a value (source) to a file (target) inside. */
    static final int M_FS = 40, M_WRITE = 41;

    static final int MF_RDONLY = 1, MF_FILE = 2, MF_IDMAP = 4, MF_PRECREATE = 8, MF_OPEN_IN_PARENT = 16,
            MF_NOSUID = 32, MF_NODEV = 64, MF_NOEXEC = 128, MF_OPTIONAL = 256;

    static final int OPT_DEBUG = 1, OPT_NO_NEW_PRIVS = 2, OPT_SETSID = 4, OPT_LOOPBACK_UP = 8, OPT_UNSHARE_CGROUP = 16,
            OPT_NET_WAIT = 32;

    static final int ROOT_TMPFS = 0, ROOT_BIND = 1;
    /** The helper's tables (plan.h): a spec that needs more is refused when it is built. */
    static final int MAX_MOUNTS = 256, MAX_ARGS = 32768, MAX_ENV = 8192;

    private final ByteArrayOutputStream body = new ByteArrayOutputStream(4096);

    void string(int tag, String value) {
        record(tag, cString(value));
    }

    void ints(int tag, int... values) {
        ByteBuffer b = buffer(4 * values.length);
        for (int v : values) {
            b.putInt(v);
        }
        record(tag, b.array());
    }

    void longs(int tag, long... values) {
        ByteBuffer b = buffer(8 * values.length);
        for (long v : values) {
            b.putLong(v);
        }
        record(tag, b.array());
    }

    void root(int kind, int flags, String path) {
        byte[] p = cString(path);
        record(T_ROOT, buffer(8 + p.length).putInt(kind).putInt(flags).put(p).array());
    }

    void mount(int kind, int flags, int mode, long size, String source, String target) {
        byte[] s = cString(source), t = cString(target);
        record(T_MOUNT, buffer(24 + s.length + t.length)
                .putInt(kind).putInt(flags).putInt(mode).putInt(0).putLong(size).put(s).put(t).array());
    }

    void stdio(int fd, int flags, int mode, String path) {
        byte[] p = cString(path);
        record(T_STDIO, buffer(12 + p.length).putInt(fd).putInt(flags).putInt(mode).put(p).array());
    }

    /** Addresses in network byte order, as the helper hands them to the kernel. */
    void net(int address, int netmask, int gateway, String ifname) {
        byte[] name = cString(ifname);
        record(T_NET, ByteBuffer.allocate(12 + name.length).putInt(address).putInt(netmask).putInt(gateway)
                .order(ByteOrder.LITTLE_ENDIAN).put(name).array());
    }

    void pipe(int fd) {
        record(T_PIPE, buffer(4).putInt(fd).array());
    }

    void rlimit(int resource, long soft, long hard) {
        record(T_RLIMIT, buffer(24).putInt(resource).putInt(0).putLong(soft).putLong(hard).array());
    }

    void bytes(int tag, byte[] payload) {
        record(tag, payload);
    }

    byte[] toByteArray() {
        byte[] b = body.toByteArray();
        return buffer(8 + b.length).putInt(MAGIC).putInt(b.length).put(b).array();
    }

    private void record(int tag, byte[] payload) {
        body.writeBytes(buffer(8).putInt(tag).putInt(payload.length).array());
        body.writeBytes(payload);
    }

    private static ByteBuffer buffer(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    private static byte[] cString(String s) {
        byte[] utf8 = s.getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[utf8.length + 1];
        System.arraycopy(utf8, 0, out, 0, utf8.length);
        return out;
    }
}
