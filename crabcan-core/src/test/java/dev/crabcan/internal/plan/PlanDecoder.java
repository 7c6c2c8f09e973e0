package dev.crabcan.internal.plan;

import static dev.crabcan.internal.plan.PlanWriter.*;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Test-side reader of the helper's plan: the inverse of {@link PlanWriter}, as strict as the
 * helper's {@code parse_plan} in {@code crabcan-native/src/main/c/helper.c} (header, record
 * framing, per-tag payload lengths, NUL-terminated strings without inner NULs, table limits, the
 * final completeness check). Where the helper would {@code fail("plan", ...)}, this throws
 * {@link BadPlanException}.
 *
 * <p>Two checks go beyond the helper, because a plan that needs them can only come from a
 * compiler bug: a record that may appear once (every tag but mounts, rlimits, cgroups, args and env) is
 * rejected when repeated (the helper would silently keep the last one), and strings must be valid
 * UTF-8 (the helper passes bytes through; {@link PlanWriter} always writes UTF-8).
 */
final class PlanDecoder {
    /** Limits of helper.c's tables and of its read buffer. */
    static final int PLAN_MAX = 8 << 20, MAX_MOUNTS = 256, MAX_ARGS = 32768, MAX_ENV = 8192, MAX_RLIMITS = 16,
            MAX_CGROUPS = 8, BPF_MAXINSNS = 4096;

    /** What the helper reports as {@code FAIL plan EINVAL ...}. */
    static final class BadPlanException extends RuntimeException {
        BadPlanException(String message) {
            super(message);
        }
    }

    record Root(int kind, int flags, String path) {
        boolean has(int flag) {
            return (flags & flag) == flag;
        }
    }

    record Mount(int kind, int flags, int mode, long size, String source, String target) {
        boolean has(int flag) {
            return (flags & flag) == flag;
        }

        @Override
        public String toString() {
            return "Mount[" + kindName(kind) + " " + source + " -> " + target + " flags=" + flagNames(flags)
                    + " mode=0" + Integer.toOctalString(mode) + " size=" + size + "]";
        }
    }

    record Rlimit(int resource, long soft, long hard) {}

    /** Where a sandbox fd comes from (T_STDIO; T_PIPE: a pipe to the JVM, path null). */
    record Stdio(int fd, int flags, int mode, String path) {}

    /** The interface init configures (T_NET); addresses as big-endian ints. */
    record Net(int address, int netmask, int gateway, String ifname) {}

    record Plan(int cloneFlags, int options, String uidMap, String gidMap, String idmapUidMap, String idmapGidMap,
            String hostname, String staging, Root root, List<Mount> mounts, int uid, int gid, long capBounding,
            long capEffective, long capPermitted, long capInheritable, long capAmbient, byte[] seccomp,
            List<Rlimit> rlimits, List<String> cgroupProcs, List<Stdio> stdio, List<String> argv, List<String> env, String cwd,
            String searchPath, Net net, List<String> netHelper) {

        /** The mounts whose target is {@code target}, in plan order. */
        List<Mount> mountsAt(String target) {
            return mounts.stream().filter(m -> m.target().equals(target)).toList();
        }

        /** The one mount at {@code target}; fails unless there is exactly one. */
        Mount mountAt(String target) {
            List<Mount> at = mountsAt(target);
            if (at.size() != 1) {
                throw new AssertionError("expected exactly one mount at " + target + ", found " + at + " in " + mounts);
            }
            return at.get(0);
        }

        /** The plan index of the one mount at {@code target}. */
        int indexOf(String target) {
            return mounts.indexOf(mountAt(target));
        }

        /** The plan index of the one mount of this kind at {@code target}. */
        int indexOf(int kind, String target) {
            List<Mount> at = mountsAt(target).stream().filter(m -> m.kind() == kind).toList();
            if (at.size() != 1) {
                throw new AssertionError("expected exactly one " + kindName(kind) + " at " + target + " in " + mounts);
            }
            return mounts.indexOf(at.get(0));
        }
    }

    private PlanDecoder() {}

    static Plan decode(byte[] bytes) {
        if (bytes == null || bytes.length < 8) {
            throw new BadPlanException("bad plan header: " + (bytes == null ? "no plan" : bytes.length + " bytes"));
        }
        ByteBuffer header = ByteBuffer.wrap(bytes, 0, 8).order(ByteOrder.LITTLE_ENDIAN);
        int magic = header.getInt();
        long bodyLength = Integer.toUnsignedLong(header.getInt());
        if (magic != MAGIC || bodyLength > PLAN_MAX) {
            throw new BadPlanException("bad plan header: magic 0x" + Integer.toHexString(magic) + ", length " + bodyLength);
        }
        if (bodyLength != bytes.length - 8L) {
            // The helper reads exactly bodyLength bytes: fewer would block or fail with EPIPE, more
            // would be read as the start of the next plan.
            throw new BadPlanException("header says " + bodyLength + " body bytes, the plan has " + (bytes.length - 8));
        }
        return new Parser(bytes, 8, (int) bodyLength).parse();
    }

    private static final class Parser {
        private final ByteBuffer body;
        private final int total;
        private final Set<Integer> seen = new HashSet<>();

        int cloneFlags, options, uid, gid;
        String uidMap, gidMap, idmapUidMap, idmapGidMap, hostname, staging, cwd, searchPath;
        Net net;
        final List<String> netHelper = new ArrayList<>();
        Root root;
        long capBounding, capEffective, capPermitted, capInheritable, capAmbient;
        byte[] seccomp;
        final List<Mount> mounts = new ArrayList<>();
        final List<Rlimit> rlimits = new ArrayList<>();
        final List<String> cgroupProcs = new ArrayList<>();
        final List<Stdio> stdio = new ArrayList<>();
        final List<String> argv = new ArrayList<>();
        final List<String> env = new ArrayList<>();

        Parser(byte[] bytes, int offset, int length) {
            this.body = ByteBuffer.wrap(bytes, offset, length).slice().order(ByteOrder.LITTLE_ENDIAN);
            this.total = length;
        }

        Plan parse() {
            int off = 0;
            while (off < total) {
                if (total - off < 8) {
                    throw new BadPlanException("truncated record at " + off);
                }
                int tag = body.getInt(off);
                long len = Integer.toUnsignedLong(body.getInt(off + 4));
                off += 8;
                if (len > total - off) {
                    throw new BadPlanException("record " + Integer.toUnsignedString(tag) + " overruns the plan");
                }
                int p = off, n = (int) len;
                off += n;
                record(tag, p, n);
            }
            if (argv.isEmpty() || uidMap == null || gidMap == null || staging == null || root == null) {
                throw new BadPlanException("incomplete plan");
            }
            return new Plan(cloneFlags, options, uidMap, gidMap, idmapUidMap, idmapGidMap, hostname, staging, root,
                    Collections.unmodifiableList(mounts), uid, gid, capBounding, capEffective, capPermitted,
                    capInheritable, capAmbient, seccomp, Collections.unmodifiableList(rlimits),
                    Collections.unmodifiableList(cgroupProcs), Collections.unmodifiableList(stdio),
                    Collections.unmodifiableList(argv), Collections.unmodifiableList(env), cwd, searchPath, net, Collections.unmodifiableList(netHelper));
        }

        private void record(int tag, int p, int len) {
            boolean repeatable = tag == T_MOUNT || tag == T_RLIMIT || tag == T_CGROUP || tag == T_STDIO || tag == T_ARG
                    || tag == T_ENV || tag == T_NET_HELPER || tag == T_PIPE;
            if (!repeatable && tag >= T_CONFIG && tag <= T_NET && !seen.add(tag)) {
                throw new BadPlanException("record " + tag + " appears twice");
            }
            switch (tag) {
                case T_CONFIG -> {
                    if (len != 8) {
                        throw new BadPlanException("bad config record");
                    }
                    cloneFlags = body.getInt(p);
                    options = body.getInt(p + 4);
                }
                case T_UID_MAP -> uidMap = string(p, len, tag);
                case T_GID_MAP -> gidMap = string(p, len, tag);
                case T_IDMAP_UID_MAP -> idmapUidMap = string(p, len, tag);
                case T_IDMAP_GID_MAP -> idmapGidMap = string(p, len, tag);
                case T_HOSTNAME -> hostname = string(p, len, tag);
                case T_STAGING -> staging = string(p, len, tag);
                case T_CWD -> cwd = string(p, len, tag);
                case T_SEARCH_PATH -> searchPath = string(p, len, tag);
                case T_ROOT -> {
                    if (len < 9) {
                        throw new BadPlanException("bad root record");
                    }
                    root = new Root(body.getInt(p), body.getInt(p + 4), string(p + 8, len - 8, tag));
                }
                case T_MOUNT -> {
                    if (len < 26 || mounts.size() == MAX_MOUNTS) {
                        throw new BadPlanException("bad or too many mount records (at most " + MAX_MOUNTS + ")");
                    }
                    int kind = body.getInt(p), flags = body.getInt(p + 4), mode = body.getInt(p + 8);
                    // p + 12: the reserved u32, which the helper ignores.
                    long size = body.getLong(p + 16);
                    int strs = p + 24, room = len - 24;
                    int srcLen = strnlen(strs, room);
                    if (srcLen + 2 > room) {
                        throw new BadPlanException("bad mount record");
                    }
                    // Like the helper: the source is only required to be NUL-terminated (it may be empty).
                    String source = utf8(strs, srcLen, tag);
                    String target = string(strs + srcLen + 1, room - srcLen - 1, tag);
                    mounts.add(new Mount(kind, flags, mode, size, source, target));
                }
                case T_CREDS -> {
                    if (len != 8) {
                        throw new BadPlanException("bad credentials record");
                    }
                    uid = body.getInt(p);
                    gid = body.getInt(p + 4);
                }
                case T_CAPS -> {
                    if (len != 40) {
                        throw new BadPlanException("bad capabilities record");
                    }
                    capBounding = body.getLong(p);
                    capEffective = body.getLong(p + 8);
                    capPermitted = body.getLong(p + 16);
                    capInheritable = body.getLong(p + 24);
                    capAmbient = body.getLong(p + 32);
                }
                case T_SECCOMP -> {
                    if (len % 8 != 0 || len / 8 > BPF_MAXINSNS) {
                        throw new BadPlanException("bad seccomp program of " + len + " bytes");
                    }
                    seccomp = new byte[len];
                    body.get(p, seccomp);
                }
                case T_RLIMIT -> {
                    if (len != 24 || rlimits.size() == MAX_RLIMITS) {
                        throw new BadPlanException("bad or too many rlimit records");
                    }
                    rlimits.add(new Rlimit(body.getInt(p), body.getLong(p + 8), body.getLong(p + 16)));
                }
                case T_CGROUP -> {
                    if (cgroupProcs.size() == MAX_CGROUPS) {
                        throw new BadPlanException("more than " + MAX_CGROUPS + " cgroups");
                    }
                    cgroupProcs.add(string(p, len, tag));
                }
                case T_STDIO -> {
                    if (len < 13 || body.getInt(p) < 0 || body.getInt(p) > 2) {
                        throw new BadPlanException("bad stdio record");
                    }
                    stdio.add(new Stdio(body.getInt(p), body.getInt(p + 4), body.getInt(p + 8),
                            string(p + 12, len - 12, tag)));
                }
                case T_PIPE -> {
                    if (len != 4 || body.getInt(p) < 0 || body.getInt(p) > 2) {
                        throw new BadPlanException("bad pipe record");
                    }
                    stdio.add(new Stdio(body.getInt(p), 0, 0, null));
                }
                case T_ARG -> {
                    if (argv.size() == MAX_ARGS) {
                        throw new BadPlanException("more than " + MAX_ARGS + " arguments");
                    }
                    argv.add(string(p, len, tag));
                }
                case T_ENV -> {
                    if (env.size() == MAX_ENV) {
                        throw new BadPlanException("more than " + MAX_ENV + " environment entries");
                    }
                    env.add(string(p, len, tag));
                }
                case T_NET -> {
                    if (len < 14) {
                        throw new BadPlanException("bad network record");
                    }
                    ByteBuffer be = body.duplicate().order(java.nio.ByteOrder.BIG_ENDIAN);
                    String ifname = string(p + 12, len - 12, tag);
                    if (ifname.length() >= 16) {
                        throw new BadPlanException("interface name " + ifname + " too long");
                    }
                    net = new Net(be.getInt(p), be.getInt(p + 4), be.getInt(p + 8), ifname);
                }
                case T_NET_HELPER -> {
                    if (netHelper.size() == 64) {
                        throw new BadPlanException("more than 64 network helper arguments");
                    }
                    netHelper.add(string(p, len, tag));
                }
                default -> throw new BadPlanException("unknown record " + Integer.toUnsignedString(tag));
            }
        }

        /** helper.c's get_str: non-empty, NUL-terminated, no other NUL. */
        private String string(int p, int len, int tag) {
            if (len == 0 || body.get(p + len - 1) != 0 || strnlen(p, len) != len - 1) {
                throw new BadPlanException("field " + tag + " is not a string");
            }
            return utf8(p, len - 1, tag);
        }

        private int strnlen(int p, int max) {
            int i = 0;
            while (i < max && body.get(p + i) != 0) {
                i++;
            }
            return i;
        }

        private String utf8(int p, int len, int tag) {
            byte[] b = new byte[len];
            body.get(p, b);
            try {
                return StandardCharsets.UTF_8.newDecoder()
                        .onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT)
                        .decode(ByteBuffer.wrap(b))
                        .toString();
            } catch (CharacterCodingException e) {
                throw new BadPlanException("field " + tag + " is not UTF-8");
            }
        }
    }

    static String kindName(int kind) {
        return switch (kind) {
            case M_BIND -> "BIND";
            case M_TMPFS -> "TMPFS";
            case M_PROC -> "PROC";
            case M_SYMLINK -> "SYMLINK";
            case M_INNER_BIND -> "INNER_BIND";
            case M_CONTENT -> "CONTENT";
            default -> "KIND" + kind;
        };
    }

    static String flagNames(int flags) {
        String[] names = {"RDONLY", "FILE", "IDMAP", "PRECREATE", "OPEN_IN_PARENT", "NOSUID", "NODEV", "NOEXEC",
                "OPTIONAL"};
        List<String> out = new ArrayList<>();
        for (int i = 0; i < names.length; i++) {
            if ((flags & (1 << i)) != 0) {
                out.add(names[i]);
            }
        }
        int unknown = flags & ~((1 << names.length) - 1);
        if (unknown != 0) {
            out.add("0x" + Integer.toHexString(unknown));
        }
        return out.isEmpty() ? "0" : String.join("|", out);
    }
}
