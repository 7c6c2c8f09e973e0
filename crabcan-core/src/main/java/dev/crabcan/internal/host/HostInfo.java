package dev.crabcan.internal.host;

import dev.crabcan.UnsupportedHostException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Facts about the host that decide how a sandbox is set up, read once per JVM. */
public final class HostInfo {
    /** mount_setattr (recursive read-only binds, idmapped mounts) arrived in 5.12. */
    public static final KernelVersion MINIMUM_KERNEL = new KernelVersion(5, 12, 0);

    private static volatile HostInfo instance;

    private final int euid;
    private final int egid;
    private final String release;

    private HostInfo(int euid, int egid, String release) {
        this.euid = euid;
        this.egid = egid;
        this.release = release;
    }

    /** Facts given rather than read, for tests of the decisions made from them. */
    public static HostInfo of(int euid, int egid, String release) {
        return new HostInfo(euid, egid, release);
    }

    public static HostInfo get() {
        HostInfo h = instance;
        if (h == null) {
            String status = readOr("/proc/self/status", "");
            h = new HostInfo(effectiveId(status, "Uid:"), effectiveId(status, "Gid:"),
                    readOr("/proc/sys/kernel/osrelease", "0.0"));
            instance = h;
        }
        return h;
    }

    /**
     * The effective id from a /proc/self/status line ("Uid:" real, effective, saved, fs). Read
     * there because the Java side has no native bindings (loading some cost a fresh JVM ~250 ms).
     */
    static int effectiveId(String status, String key) {
        for (String line : status.split("\n")) {
            if (line.startsWith(key)) {
                return Integer.parseInt(line.substring(key.length()).trim().split("\\s+")[1]);
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

    public boolean isRoot() {
        return euid == 0;
    }

    public KernelVersion kernel() {
        return KernelVersion.parse(release);
    }

    private volatile boolean supported;

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
        if (!reasons.isEmpty()) {
            throw new UnsupportedHostException("this host cannot run sandboxes: " + String.join("; ", reasons));
        }
        supported = true;
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
        if (!isRoot() && readOr("/proc/sys/kernel/unprivileged_userns_clone", "1").equals("0")) {
            reasons.add("unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone = 0); "
                    + "enable them with: sysctl -w kernel.unprivileged_userns_clone=1, or run as root");
        }
        if (includeSoft && !isRoot()
                && readOr("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "0").equals("1")) {
            reasons.add("AppArmor restricts unprivileged user namespaces "
                    + "(kernel.apparmor_restrict_unprivileged_userns = 1); allow them for java with an AppArmor "
                    + "profile, or run as root");
        }
        return reasons;
    }

    private static String readOr(String file, String fallback) {
        try {
            return Files.readString(Path.of(file)).trim();
        } catch (IOException | RuntimeException e) {
            return fallback;
        }
    }
}
