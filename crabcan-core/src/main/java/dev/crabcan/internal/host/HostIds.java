package dev.crabcan.internal.host;

import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.UnsupportedHostException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The host uid and gid a sandbox runs as. A rootless caller's sandbox runs as the caller. A root
 * caller's gets one id of the {@link IdRange}, as its uid and its gid, that nothing else on the
 * host uses while the sandbox lives: not host root, not {@code nobody} (which host daemons run
 * as), not another sandbox, whose processes it could otherwise signal, trace or renice; and one
 * more id of the range for each of its supplementary groups, as that group's host gid, so that a
 * group gives it nothing of a host group or of another sandbox's.
 *
 * <p>Ids are handed out without a daemon, across threads and JVMs, through byte-range locks on
 * the root-only file {@code /run/crabcan-ids.lock} (see {@link HostLocks}): the JVM that gave id N
 * to a sandbox holds a lock on byte 16 * N until the sandbox has ended (its processes are gone),
 * and the kernel releases it if that JVM dies. The 16 bytes there pin the id beyond its JVM for a
 * detached sandbox: its init's pid and start time (field 22 of /proc/PID/stat). An allocator that
 * gets the lock of a pinned id skips it while that process lives and reclaims it once it is gone.
 * Ids that /etc/passwd or /etc/group name are skipped too. The file is sparse: its size says
 * nothing.
 */
public final class HostIds {
    private static final Logger log = LoggerFactory.getLogger(HostIds.class);
    private static final HostLocks LOCKS = new HostLocks(Path.of("/run/crabcan-ids.lock"), "crabcan-id-locks",
            "host ids");
    private static final int RECORD = 16;

    private static volatile IdRange range;
    private static final AtomicBoolean WARNED_NOT_HOST_ROOT = new AtomicBoolean();

    private HostIds() {}

    /** One sandbox's host ids, held until {@link #release()}. */
    public interface Lease {
        int uid();

        int gid();

        /**
         * The host gids of the sandbox's supplementary groups, one per group asked for at the lease,
         * in that order; none for a caller that maps its groups as themselves (root of a user namespace).
         */
        List<Integer> groupGids();

        /**
         * Keeps the id reserved beyond this JVM for as long as the process with this host pid
         * lives: a detached sandbox's init, whose sandbox outlives the JVM that made it.
         */
        void pin(long pid) throws SandboxSetupException;

        /** Lets the ids go once the sandbox's processes are gone (a pinned id stays reserved); idempotent. */
        void release();
    }

    /** Ids that belong to nobody but the caller: nothing to reserve or release. */
    public static Lease fixed(int uid, int gid) {
        return new Lease() {
            @Override
            public int uid() {
                return uid;
            }

            @Override
            public int gid() {
                return gid;
            }

            @Override
            public List<Integer> groupGids() {
                return List.of();
            }

            @Override
            public void pin(long pid) {}

            @Override
            public void release() {}
        };
    }

    /**
     * The ids a new sandbox of this caller runs as: a free id of the range for a caller that
     * {@linkplain HostInfo#leasesHostIds() leases host ids}, else the caller's own, unless the
     * caller is the host's uid 0 (then its sandbox would be host root: refused).
     *
     * @throws UnsupportedHostException the range is malformed or collides with the host's ids, or
     *     the caller is the host's uid 0 and cannot give its sandboxes other ids (in a user namespace, or
     *     without CAP_SETUID or CAP_SETGID)
     * @throws SandboxSetupException every id of the range is in use
     */
    public static Lease lease(HostInfo host) throws SandboxException {
        return lease(host, null, 0);
    }

    /**
     * As {@link #lease(HostInfo)}, from the range {@code START-END} (null: the default range), with
     * {@code groups} more ids for a sandbox with that many supplementary groups: their host gids
     * ({@link Lease#groupGids()}), leased, pinned and released with the sandbox's own id.
     */
    public static Lease lease(HostInfo host, String configuredRange, int groups) throws SandboxException {
        if (!host.leasesHostIds()) {
            if (host.isHostUidZero()) {
                throw new UnsupportedHostException("this JVM is the host's root (uid 0) without the capabilities in the "
                        + "host's user namespace to give its sandboxes ids of their own (it runs in a user namespace, as "
                        + "unshare -r run by root makes, or lacks CAP_SETUID or CAP_SETGID): its sandboxes could only run "
                        + "as the host's root, which owns /sys, root-only /proc files and every file of the host. Run "
                        + "the JVM as root outside that user namespace, run it in the namespace as an id that is not the "
                        + "host's root (map a range with unshare --map-users and --map-groups), or run it as an "
                        + "ordinary user");
            }
            if (host.isRoot() && WARNED_NOT_HOST_ROOT.compareAndSet(false, true)) {
                log.info("this JVM runs as root of a user namespace (rootless podman, unshare -r by an ordinary user): "
                        + "sandboxes run as the caller, uid 0 here, like an ordinary user's, instead of as host ids "
                        + "of their own, and their binds are not idmapped; the root caller's seccomp rules still apply");
            }
            return fixed(host.euid(), host.egid());
        }
        if (!host.isHostRoot() && WARNED_NOT_HOST_ROOT.compareAndSet(false, true)) {
            log.info("this JVM runs as the host's root without CAP_SYS_ADMIN, as in a container: sandboxes run as host "
                    + "ids of their own as root's do, but their binds are not idmapped, so the caller's files show "
                    + "as owned by nobody inside and are writable only where their permissions let anyone write");
        }
        IdRange r = configuredRange == null ? range() : range(configuredRange);
        Set<Long> named = NamedIds.current();
        long start = ThreadLocalRandom.current().nextLong(r.count());
        int wanted = 1 + groups;
        Lease lease = LOCKS.call(() -> {
            List<Integer> ids = new ArrayList<>();
            List<FileLock> locks = new ArrayList<>();
            try {
                for (long i = 0; i < r.count() && ids.size() < wanted; i++) {
                    int id = (int) (r.first() + (start + i) % r.count());
                    if (named.contains((long) id)) {
                        continue;
                    }
                    FileLock lock = LOCKS.tryLock(position(id), 1);
                    if (lock == null) {
                        continue;
                    }
                    locks.add(lock);
                    if (pinnedToLiveProcess(id)) {
                        locks.remove(lock);
                        lock.release();
                        continue;
                    }
                    ids.add(id);
                }
            } catch (IOException | RuntimeException e) {
                ids.clear(); // the ids taken so far go back; the failure is the lease's
                throw e;
            } finally {
                if (ids.size() < wanted) {
                    for (FileLock lock : locks) {
                        lock.release();
                    }
                }
            }
            if (ids.size() < wanted) {
                return null;
            }
            return new Allocated(ids, locks);
        });
        if (lease == null) {
            throw new SandboxSetupException("host ids", 0, (groups == 0 ? "every host id of " + r + " is in use"
                    : "fewer than the " + wanted + " host ids that a sandbox with " + groups + " supplementary "
                    + "groups takes (one for its uid and gid, one for each group) are free in " + r)
                    + " by running sandboxes (each root caller's sandbox runs as ids of its own); wait for some to "
                    + "end, or give root callers' sandboxes a larger range with -D" + IdRange.PROPERTY + "=START-END or "
                    + IdRange.ENV + " (see the README, \"Ids\")");
        }
        return lease;
    }

    /** A client's configured range, resolved once per JVM and range. */
    private static final java.util.Map<String, IdRange> CONFIGURED = new java.util.concurrent.ConcurrentHashMap<>();

    static IdRange range(String configured) throws UnsupportedHostException {
        IdRange r = CONFIGURED.get(configured);
        if (r == null) {
            r = IdRange.configured(configured, new IdRange.HostFiles(read("/etc/passwd"), read("/etc/group"),
                    read("/etc/subuid"), read("/etc/subgid")));
            CONFIGURED.put(configured, r);
        }
        return r;
    }

    /** The range, resolved once per JVM. */
    static IdRange range() throws UnsupportedHostException {
        IdRange r = range;
        if (r == null) {
            r = IdRange.resolve(System.getProperty(IdRange.PROPERTY), System.getenv(IdRange.ENV),
                    new IdRange.HostFiles(read("/etc/passwd"), read("/etc/group"), read("/etc/subuid"),
                            read("/etc/subgid")));
            log.debug("root callers' sandboxes run as host ids {}", r);
            range = r;
        }
        return r;
    }

    private static long position(int id) {
        return (long) id * RECORD;
    }

    /** On the lock thread, holding the id's lock: whether a detached sandbox's init that still lives pinned it. */
    private static boolean pinnedToLiveProcess(int id) throws IOException {
        ByteBuffer record = ByteBuffer.allocate(RECORD);
        LOCKS.channel().read(record, position(id));
        long pid = record.getLong(0);
        if (pid == 0) {
            return false;
        }
        if (pid > 0 && startTime(pid) == record.getLong(8)) {
            return true;
        }
        LOCKS.channel().write(ByteBuffer.allocate(RECORD), position(id));
        return false;
    }

    /**
     * When the process with this host pid started (clock ticks after boot), or -1 if there is none
     * or it has exited: a zombie init's sandbox is gone, since a PID namespace's init exits last.
     */
    public static long startTime(long pid) {
        String stat;
        try {
            stat = Files.readString(Path.of("/proc", Long.toString(pid), "stat"));
        } catch (IOException e) {
            return -1;
        }
        return startTime(stat);
    }

    /** Field 22 of a /proc/PID/stat line, or -1 for a zombie; the command name (field 2) may hold spaces and parentheses. */
    static long startTime(String stat) {
        String[] fields = stat.substring(stat.lastIndexOf(')') + 2).trim().split(" ");
        return fields[0].equals("Z") ? -1 : Long.parseLong(fields[19]);
    }

    /**
     * The ids /etc/passwd and /etc/group name, read and parsed again only when either file is
     * another one (its inode), or was written since (its size or modification time): every start
     * of a root caller's sandbox asks, and parsing both files each time cost more than the rest of
     * the lease.
     */
    private record NamedIds(List<Object> stamps, Set<Long> ids) {
        private static final List<Path> FILES = List.of(Path.of("/etc/passwd"), Path.of("/etc/group"));
        private static volatile NamedIds last;

        static Set<Long> current() throws UnsupportedHostException {
            List<Object> stamps = new ArrayList<>();
            for (Path file : FILES) {
                stamps.add(stamp(file));
            }
            NamedIds known = last;
            if (known != null && known.stamps.equals(stamps)) {
                return known.ids;
            }
            Set<Long> ids = new HashSet<>();
            for (Path file : FILES) {
                for (long[] e : IdRange.idsOf(read(file.toString()), 2)) {
                    ids.add(e[0]);
                }
            }
            // Stamped before the read: a file written meanwhile is read again next time.
            NamedIds fresh = new NamedIds(stamps, Set.copyOf(ids));
            last = fresh;
            return fresh.ids;
        }

        private static List<Object> stamp(Path file) throws UnsupportedHostException {
            try {
                BasicFileAttributes a = Files.readAttributes(file, BasicFileAttributes.class);
                return List.of(String.valueOf(a.fileKey()), a.size(), a.lastModifiedTime());
            } catch (NoSuchFileException e) {
                return List.of();
            } catch (IOException e) {
                throw new UnsupportedHostException("cannot read " + file + ", which the host ids of root callers' "
                        + "sandboxes are checked against: " + e);
            }
        }
    }

    private static String read(String file) throws UnsupportedHostException {
        try {
            return Files.readString(Path.of(file));
        } catch (NoSuchFileException e) {
            return "";
        } catch (IOException e) {
            throw new UnsupportedHostException("cannot read " + file + ", which the host ids of root callers' "
                    + "sandboxes are checked against: " + e);
        }
    }

    /** The sandbox's own id (the first) and its groups' (the rest), each with its lock. */
    private static final class Allocated implements Lease {
        private final List<Integer> ids;
        private final List<FileLock> locks;
        private final AtomicBoolean released = new AtomicBoolean();

        Allocated(List<Integer> ids, List<FileLock> locks) {
            this.ids = List.copyOf(ids);
            this.locks = List.copyOf(locks);
        }

        @Override
        public int uid() {
            return ids.get(0);
        }

        @Override
        public int gid() {
            return ids.get(0);
        }

        @Override
        public List<Integer> groupGids() {
            return ids.subList(1, ids.size());
        }

        @Override
        public void pin(long pid) throws SandboxSetupException {
            long start = startTime(pid);
            if (start < 0) {
                throw new SandboxSetupException("host ids", 0, "sandbox init " + pid + " exited before its host ids "
                        + ids + " could be reserved for it");
            }
            LOCKS.call(() -> {
                for (int id : ids) {
                    ByteBuffer record = ByteBuffer.allocate(RECORD).putLong(pid).putLong(start).flip();
                    LOCKS.channel().write(record, position(id));
                }
                return null;
            });
        }

        @Override
        public void release() {
            if (released.compareAndSet(false, true)) {
                // Nobody waits for it: the ids are free the moment the locks go, whoever looks next.
                LOCKS.submit(() -> {
                    for (int i = 0; i < ids.size(); i++) {
                        try {
                            locks.get(i).release();
                        } catch (IOException e) {
                            log.warn("cannot release host id {} in {}: {}", ids.get(i), LOCKS.file(), e.toString());
                        }
                    }
                    return null;
                });
            }
        }
    }
}
