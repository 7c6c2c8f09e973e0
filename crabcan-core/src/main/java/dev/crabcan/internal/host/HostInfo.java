package dev.crabcan.internal.host;

import dev.crabcan.UnsupportedHostException;
import dev.crabcan.internal.Text;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Facts about the host that decide how a sandbox is set up, read once per JVM. */
public final class HostInfo {
    /** mount_setattr (recursive read-only binds, idmapped mounts) arrived in 5.12. */
    public static final KernelVersion MINIMUM_KERNEL = new KernelVersion(5, 12, 0);

    private static final org.slf4j.Logger log = org.slf4j.LoggerFactory.getLogger(HostInfo.class);
    private static volatile HostInfo instance;

    /** The seccomp profile for containers that the project ships, as the README names it. */
    public static final String SECCOMP_PROFILE = "containers/crabcan-seccomp.json";

    /** The inode of the initial user namespace, fixed by the kernel (PROC_USER_INIT_INO). */
    static final String INITIAL_USER_NAMESPACE = "user:[4026531837]";

    /** CAP_SETGID, CAP_SETUID and CAP_SYS_ADMIN: what mapping host ids and idmapping binds take. */
    static final long HOST_ROOT_CAPABILITIES = 1L << 6 | 1L << 7 | 1L << 21;

    /** CAP_SETGID and CAP_SETUID: what mapping host ids of one's choice takes. */
    static final long MAP_IDS_CAPABILITIES = 1L << 6 | 1L << 7;

    /** A file of the kernel's that belongs to the host's uid 0 in every user namespace that maps it. */
    private static final String HOST_ROOT_FILE = "/proc/sys/kernel/osrelease";

    private final int euid;
    private final int egid;
    private final boolean hostRoot;
    private final boolean mapsHostIds;
    private final boolean hostUidZero;
    private final String release;

    private HostInfo(int euid, int egid, boolean hostRoot, boolean mapsHostIds, boolean hostUidZero, String release) {
        this.euid = euid;
        this.egid = egid;
        this.hostRoot = hostRoot;
        this.mapsHostIds = mapsHostIds;
        this.hostUidZero = hostUidZero;
        this.release = release;
    }

    /** Facts given rather than read, for tests of the decisions made from them; uid 0 is the host's root. */
    public static HostInfo of(int euid, int egid, String release) {
        return new HostInfo(euid, egid, euid == 0, euid == 0, euid == 0, release);
    }

    /**
     * Facts given rather than read: a caller that is root only in its own user namespace, one that
     * maps another host id to it (rootless podman, unshare -r by an ordinary user).
     */
    public static HostInfo rootWithoutHostPrivilege(int egid, String release) {
        return new HostInfo(0, egid, false, false, false, release);
    }

    /**
     * Facts given rather than read: the host's uid 0 without all of host root's capabilities,
     * either in the initial user namespace with CAP_SETUID and CAP_SETGID (a container's root), or
     * in a user namespace (unshare -r by root).
     */
    public static HostInfo hostUidZeroWithout(boolean mapsHostIds, String release) {
        return new HostInfo(0, 0, false, mapsHostIds, true, release);
    }

    public static HostInfo get() {
        HostInfo h = instance;
        if (h == null) {
            String status = readOr("/proc/self/status", "");
            int euid = effectiveId(status, "Uid:");
            String userNamespace;
            try {
                userNamespace = Files.readSymbolicLink(Path.of("/proc/self/ns/user")).toString();
            } catch (IOException e) {
                userNamespace = "";
            }
            long capabilities = effectiveCapabilities(status);
            boolean initial = userNamespace.equals(INITIAL_USER_NAMESPACE);
            h = new HostInfo(euid, effectiveId(status, "Gid:"), isHostRoot(euid, userNamespace, capabilities),
                    euid == 0 && initial && (capabilities & MAP_IDS_CAPABILITIES) == MAP_IDS_CAPABILITIES,
                    isHostUidZero(euid, ownerOf(HOST_ROOT_FILE), overflowUid(),
                            readOr("/proc/self/uid_map", "0 0 4294967295")),
                    readOr("/proc/sys/kernel/osrelease", "0.0"));
            instance = h;
        }
        return h;
    }

    /**
     * Whether a caller may do what a root caller's sandbox needs: map host ids of its choice and
     * idmap binds. Both take capabilities in the initial user namespace, so uid 0 is not enough: root
     * in a user namespace (unshare -r, rootless podman, a user-namespaced pod) holds them only over
     * its own namespace, and a container's root usually lacks CAP_SYS_ADMIN.
     */
    static boolean isHostRoot(int euid, String userNamespace, long effectiveCapabilities) {
        return euid == 0 && userNamespace.equals(INITIAL_USER_NAMESPACE)
                && (effectiveCapabilities & HOST_ROOT_CAPABILITIES) == HOST_ROOT_CAPABILITIES;
    }

    /** Whether /proc/self/status says a seccomp filter applies ("Seccomp: 2"). */
    static boolean seccompFiltered(String status) {
        return status.lines().anyMatch(l -> l.startsWith("Seccomp:") && l.substring(8).trim().equals("2"));
    }

    /** The effective capability set from /proc/self/status ("CapEff:" in hex), 0 if there is none. */
    static long effectiveCapabilities(String status) {
        for (String line : status.split("\n")) {
            if (line.startsWith("CapEff:")) {
                return Long.parseUnsignedLong(line.substring("CapEff:".length()).trim(), 16);
            }
        }
        return 0;
    }

    /**
     * The effective id from a /proc/self/status line ("Uid:" real, effective, saved, fs). Read
     * there because the Java side has no native bindings (loading some cost a fresh JVM ~250 ms).
     */
    static int effectiveId(String status, String key) {
        for (String line : status.split("\n")) {
            if (line.startsWith(key)) {
                return Integer.parseInt(Text.fields(line.substring(key.length()))[1]);
            }
        }
        throw new IllegalStateException("/proc/self/status has no " + key + " line; is /proc mounted?");
    }

    public int euid() {
        return euid;
    }

    public int egid() {
        return egid;
    }

    /**
     * Whether the caller is uid 0 in its own user namespace: its sandbox's files belong to that root
     * (host root, or root of the caller's container), so the root caller's rules apply to it (see
     * {@link dev.crabcan.SeccompPolicy#withRootCallerRulesFirst()}), whether or not it is {@link #isHostRoot()}.
     */
    public boolean isRoot() {
        return euid == 0;
    }

    /**
     * Whether the caller is root of the host (uid 0 in the initial user namespace, with CAP_SYS_ADMIN,
     * CAP_SETUID and CAP_SETGID): only then does a sandbox get host ids of its own and idmapped binds.
     * Any other caller's sandbox runs as the caller, as an ordinary user's does, and gets no more than
     * the caller has.
     */
    public boolean isHostRoot() {
        return hostRoot;
    }

    /**
     * Whether this caller's sandboxes run as host ids of their own, leased from the {@link IdRange}:
     * host root's, and those of the host's uid 0 in the initial user namespace without
     * CAP_SYS_ADMIN but with CAP_SETUID and CAP_SETGID (a container's root), whose sandboxes must
     * not be the host's root (it owns /sys, root-only /proc files and every file of the host).
     * Only host root's binds are idmapped.
     */
    public boolean leasesHostIds() {
        return mapsHostIds;
    }

    /**
     * Whether this process is the host's uid 0, whatever its namespace and capabilities: the
     * kernel's own files belong to the id host root has in this namespace (the overflow uid where
     * it has none).
     */
    public boolean isHostUidZero() {
        return hostUidZero;
    }

    /**
     * Whether a process with this euid is the host's uid 0: host root's files show as owned by it.
     * Where this namespace does not map host root they show as owned by the overflow uid, which an
     * ordinary id may be too (nobody): then only a uid map that maps euid to the parent's 0 says so.
     */
    static boolean isHostUidZero(int euid, int hostRootFileOwner, int overflowUid, String uidMap) {
        return euid == hostRootFileOwner && (hostRootFileOwner != overflowUid || outsideId(uidMap, euid) == 0);
    }

    private static int overflowUid() {
        try {
            return Integer.parseInt(readOr("/proc/sys/kernel/overflowuid", "65534"));
        } catch (NumberFormatException e) {
            return 65534;
        }
    }

    private static int ownerOf(String file) {
        try {
            return (int) Files.getAttribute(Path.of(file), "unix:uid");
        } catch (IOException | RuntimeException e) {
            return -1;
        }
    }

    /**
     * The uid that files of host root show as owned by when this process's user namespace does not
     * map it (the overflow uid, as for every unmapped id), or -1 when it does (the initial namespace).
     */
    public int unmappedOwner() {
        return mapsOutsideId(readOr("/proc/self/uid_map", "0 0 4294967295"), 0) ? -1
                : Integer.parseInt(readOr("/proc/sys/kernel/overflowuid", "65534"));
    }

    /**
     * The uid this process has in the parent user namespace (its own where this is the initial
     * one): whose home and temporary directories are this user's, seen from outside.
     */
    public long parentUid() {
        return outsideId(readOr("/proc/self/uid_map", "0 0 4294967295"), euid);
    }

    /** The parent namespace's id of an id of this one, by a uid_map ("inside outside count" lines); -1 if unmapped. */
    static long outsideId(String uidMap, long inside) {
        for (String line : uidMap.split("\n")) {
            String[] f = Text.fields(line);
            if (f.length == 3 && Long.parseLong(f[0]) <= inside && inside - Long.parseLong(f[0]) < Long.parseLong(f[2])) {
                return Long.parseLong(f[1]) + inside - Long.parseLong(f[0]);
            }
        }
        return -1;
    }

    /** Whether a uid_map ("inside outside count" lines) maps this id of the parent namespace. */
    static boolean mapsOutsideId(String uidMap, long id) {
        for (String line : uidMap.split("\n")) {
            String[] f = Text.fields(line);
            if (f.length == 3 && Long.parseLong(f[1]) <= id && id - Long.parseLong(f[1]) < Long.parseLong(f[2])) {
                return true;
            }
        }
        return false;
    }

    public KernelVersion kernel() {
        return KernelVersion.parse(release);
    }

    private volatile boolean supported;

    /** Learned from a first sandbox that failed (see {@link #adaptTo}); this JVM's later sandboxes avoid it. */
    private volatile boolean hostnameRefused;
    private volatile ProcMount procMount = ProcMount.FULL;

    /** The /proc a sandbox gets: each is tried once the one before was refused. */
    public enum ProcMount {
        /** Its own procfs, as every sandbox gets outside containers. */
        FULL,
        /** Its own procfs with subset=pid: its processes only (kernels that allow it where a full one is refused). */
        PID_SUBSET,
        /** None: an empty read-only directory. */
        NONE
    }

    /** Whether sandboxes set their hostname (false where a container's seccomp profile refuses sethostname). */
    public boolean setsHostname() {
        return !hostnameRefused;
    }

    /** The /proc sandboxes get: less than a full one where the kernel refuses it (see {@link #adaptTo}). */
    public ProcMount procMount() {
        return procMount;
    }

    /**
     * Whether a sandbox that failed to set up with this error can be started again without what
     * failed, giving up isolation that this host (typically a container) does not allow: its own
     * hostname (when the caller did not ask for one) or a full /proc (then one with subset=pid, then
     * none). Logs a warning that says what
     * is given up, once per JVM; false when there is nothing to give up.
     */
    public synchronized boolean adaptTo(dev.crabcan.SandboxSetupException e, boolean hostnameAsked) {
        if (e.errno() != 1 /* EPERM */) {
            return false;
        }
        String what = e.getMessage().split(";")[0];
        if (e.step().equals(dev.crabcan.internal.plan.Contract.S_HOSTNAME) && !hostnameAsked && !hostnameRefused) {
            hostnameRefused = true;
            log.warn("sandboxes cannot set their hostname here ({}): they keep this host's in their own UTS "
                    + "namespace; a container's seccomp profile refuses sethostname without CAP_SYS_ADMIN (podman's "
                    + "default does; see the README, \"Running inside Docker, podman and Kubernetes\")", what);
            return true;
        }
        if (e.step().equals(dev.crabcan.internal.plan.Contract.S_PROC) && procMount == ProcMount.FULL) {
            procMount = ProcMount.PID_SUBSET;
            log.warn("sandboxes cannot mount a full /proc here ({}): the kernel refuses one where this process's "
                    + "/proc is partly hidden, as in a container; trying /proc with subset=pid, which holds their "
                    + "own processes only (no /proc/meminfo, /proc/cpuinfo, /proc/mounts or /proc/sys)", what);
            return true;
        }
        if (e.step().equals(dev.crabcan.internal.plan.Contract.S_PROC) && procMount == ProcMount.PID_SUBSET) {
            procMount = ProcMount.NONE;
            log.warn("sandboxes cannot mount /proc with subset=pid here either ({}): they get an empty /proc, and "
                    + "programs that read /proc/self (ps, /dev/fd, some runtimes) fail in them; a container with a "
                    + "user namespace of its own may show its whole /proc to make it work (rootless podman or podman "
                    + "--userns=auto with --security-opt unmask=ALL, Kubernetes hostUsers: false with procMount: "
                    + "Unmasked), never a container whose root is the host's (its root could then write host sysctls "
                    + "such as kernel.core_pattern); see the README, \"Running inside Docker, podman and Kubernetes\"",
                    what);
            return true;
        }
        return false;
    }

    /** Throws with every reason this host cannot run sandboxes, or returns quietly (and then, cheaply, ever after). */
    public void requireSupported() throws UnsupportedHostException {
        if (supported) {
            return;
        }
        List<String> reasons = new ArrayList<>();
        String arch = System.getProperty("os.arch");
        if (!System.getProperty("os.name").equals("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            reasons.add("Crabcan runs on Linux x86-64 only; this is " + System.getProperty("os.name") + " " + arch);
        } else if (!kernel().atLeast(MINIMUM_KERNEL.major(), MINIMUM_KERNEL.minor())) {
            reasons.add("kernel " + release.trim() + " is older than " + MINIMUM_KERNEL.major() + "."
                    + MINIMUM_KERNEL.minor() + ", which Crabcan needs for mount_setattr "
                    + "(recursive read-only binds and idmapped mounts)");
        }
        reasons.addAll(userNamespaceProblems(false));
        String procSelf = procSelf();
        if (!procSelf.equals(Long.toString(ProcessHandle.current().pid()))) {
            reasons.add("/proc belongs to another pid namespace (/proc/self is " + procSelf + ", this process is pid "
                    + ProcessHandle.current().pid() + "), so the helper's /proc entries would name other processes; "
                    + "mount a /proc for this pid namespace (unshare --pid --fork --mount-proc)");
        }
        if (!reasons.isEmpty()) {
            throw new UnsupportedHostException("this host cannot run sandboxes: " + String.join("; ", reasons));
        }
        supported = true;
    }

    /** What /proc/self names: this process's pid in the pid namespace /proc belongs to, "" without /proc. */
    private static String procSelf() {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self")).toString();
        } catch (IOException | RuntimeException e) {
            return "";
        }
    }

    /**
     * Why user namespaces fail here, as far as the sysctls tell. The soft reasons (AppArmor's
     * restriction, which a profile may lift) only explain a failure, they do not predict one.
     */
    public List<String> userNamespaceProblems(boolean includeSoft) {
        List<String> reasons = new ArrayList<>();
        if (readOr("/proc/sys/user/max_user_namespaces", "1").equals("0")) {
            reasons.add("user namespaces are disabled (user.max_user_namespaces = 0); "
                    + "raise it with: sysctl -w user.max_user_namespaces=10000");
        }
        if (!isHostRoot() && readOr("/proc/sys/kernel/unprivileged_userns_clone", "1").equals("0")) {
            reasons.add("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); "
                    + "enable them with: sysctl -w kernel.unprivileged_userns_clone=1, or run as root");
        }
        if (includeSoft && seccompFiltered(readOr("/proc/self/status", ""))) {
            reasons.add("this process runs under a seccomp filter (Seccomp: 2 in /proc/self/status), as in a "
                    + "container: Docker's and containerd's default profiles (Kubernetes RuntimeDefault) refuse "
                    + "unshare and clone of namespaces without CAP_SYS_ADMIN; run the container with the profile "
                    + SECCOMP_PROFILE + " (docker or podman --security-opt seccomp=crabcan-seccomp.json, Kubernetes "
                    + "seccompProfile type Localhost; see the README, \"Running inside Docker, podman and Kubernetes\")");
        }
        if (includeSoft && !isHostRoot()
                && readOr("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0").equals("1")) {
            reasons.add("AppArmor restricts unprivileged user namespaces "
                    + "(kernel.apparmor_restrict_unprivileged_userns = 1); allow them for java with an AppArmor "
                    + "profile, or run as root");
        }
        return reasons;
    }

    /**
     * The Linux security modules that label processes here ("apparmor", "selinux"): securityfs's
     * list where it is mounted, else AppArmor's module parameter and SELinux's own file system.
     * Read each time: a rare question (OCI configs), and the answer does not change while we run.
     */
    public java.util.Set<String> securityModules() {
        String lsm = readOr("/sys/kernel/security/lsm", null);
        java.util.Set<String> out = new java.util.HashSet<>();
        if (lsm != null) {
            out.addAll(List.of(lsm.split(",")));
        } else {
            if (readOr("/sys/module/apparmor/parameters/enabled", "N").startsWith("Y")) {
                out.add("apparmor");
            }
            if (Files.exists(Path.of("/sys/fs/selinux/enforce"))) {
                out.add("selinux");
            }
        }
        out.retainAll(java.util.Set.of("apparmor", "selinux"));
        return out;
    }

    /**
     * The file's text, read to its end: Files.readString trusts the size a /proc/sys file reports (0)
     * and returned only the first character of "65534" there.
     */
    private static String readOr(String file, String fallback) {
        try (java.io.InputStream in = Files.newInputStream(Path.of(file))) {
            return new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }
}
