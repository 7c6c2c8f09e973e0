package dev.crabcan;

import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;

/**
 * Linux capabilities, with the kernel's numbers (linux/capability.h).
 *
 * <p>Immutable and thread-safe.
 */
public enum Capability {
    CHOWN(0), DAC_OVERRIDE(1), DAC_READ_SEARCH(2), FOWNER(3), FSETID(4), KILL(5), SETGID(6), SETUID(7),
    SETPCAP(8), LINUX_IMMUTABLE(9), NET_BIND_SERVICE(10), NET_BROADCAST(11), NET_ADMIN(12), NET_RAW(13),
    IPC_LOCK(14), IPC_OWNER(15), SYS_MODULE(16), SYS_RAWIO(17), SYS_CHROOT(18), SYS_PTRACE(19), SYS_PACCT(20),
    SYS_ADMIN(21), SYS_BOOT(22), SYS_NICE(23), SYS_RESOURCE(24), SYS_TIME(25), SYS_TTY_CONFIG(26), MKNOD(27),
    LEASE(28), AUDIT_WRITE(29), AUDIT_CONTROL(30), SETFCAP(31), MAC_OVERRIDE(32), MAC_ADMIN(33), SYSLOG(34),
    WAKE_ALARM(35), BLOCK_SUSPEND(36), AUDIT_READ(37), PERFMON(38), BPF(39), CHECKPOINT_RESTORE(40);

    /**
     * What a sandbox's root (uid 0 inside) keeps by default: Docker's default set without the
     * crabcan tutorial's drops (DAC_OVERRIDE, FSETID, MKNOD, SETFCAP) and without AUDIT_WRITE.
     * Every other capability, including ones newer kernels add, is dropped from all five sets,
     * the bounding set included. These apply inside the sandbox's user namespace only; a
     * sandbox never holds a capability on the host. A non-zero uid inside holds none.
     */
    public static final Set<Capability> DEFAULT_KEPT = Collections.unmodifiableSet(EnumSet.of(
            CHOWN, FOWNER, KILL, SETGID, SETUID, SETPCAP, NET_BIND_SERVICE, NET_RAW, SYS_CHROOT));

    private final int number;

    Capability(int number) {
        this.number = number;
    }

    /** The kernel's number for this capability. */
    public int number() {
        return number;
    }

    /** Looks up "CAP_SYS_ADMIN", "sys_admin" or "SYS_ADMIN". */
    public static Capability byName(String name) {
        String n = Validation.notNull(name, "capability name").toUpperCase(java.util.Locale.ROOT);
        try {
            return valueOf(n.startsWith("CAP_") ? n.substring(4) : n);
        } catch (IllegalArgumentException e) {
            throw new SandboxSpecException("unknown capability '" + name + "': use a name such as SYS_ADMIN or "
                    + "CAP_NET_RAW (see dev.crabcan.Capability)");
        }
    }
}
