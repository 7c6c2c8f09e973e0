package dev.crabcan;

import static dev.crabcan.ArgCondition.arg;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.EnumSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * Which system calls the sandboxed command may make: a default action and an ordered list of
 * rules. Immutable.
 *
 * <p>For a system call, the first rule that names it and whose conditions all hold decides; when
 * none does, the default action decides. A rule without conditions always holds.
 *
 * <p>Whatever the policy (except {@link #none()}), the filter also kills the process on any
 * system call made through the i386 ({@code int 0x80}) or x32 ABIs, whose numbers and arguments
 * the rules, written for x86-64, would misread.
 *
 * <p>Immutable and thread-safe.
 */
public final class SeccompPolicy {

    /**
     * One rule: when {@code syscall} is called and every condition holds, {@code action} is taken.
     *
     * <p>Immutable and thread-safe.
     */
    public record Rule(Syscall syscall, SeccompAction action, List<ArgCondition> conditions) {

        public Rule {
            if (syscall == null) {
                throw new NullPointerException("syscall of a seccomp rule must not be null");
            }
            String name = syscall.kernelName();
            if (action == null) {
                throw new NullPointerException("action of the rule for " + name + " must not be null");
            }
            if (conditions == null) {
                throw new NullPointerException("conditions of the rule for " + name + " must not be null");
            }
            for (int i = 0; i < conditions.size(); i++) {
                if (conditions.get(i) == null) {
                    throw new NullPointerException("condition " + i + " of the rule for " + name + " is null");
                }
            }
            conditions = List.copyOf(conditions);
        }
    }

    private static final int EPERM = 1;
    private static final int ENOSYS = 38;
    private static final long S_ISUID = 04000;
    private static final long S_ISGID = 02000;
    private static final long CLONE_NEWUSER = 0x10000000L;
    private static final long TIOCLINUX = 0x541c;
    private static final long O_CREAT = 0100;
    private static final long O_TMPFILE_BIT = 020000000;
    private static final long TIOCSTI = 0x5412;
    private static final long LOW_32_BITS = 0xffffffffL;

    private static final SeccompPolicy NONE = new SeccompPolicy(true, SeccompAction.allow(), List.of());
    /** Its rules are made on first use: most sandboxes never need them, the build compiled its program. */
    private static final SeccompPolicy DEFAULT = new SeccompPolicy(false, SeccompAction.allow(), null);

    private static final class DefaultRules {
        static final List<Rule> RULES = buildDefaultPolicy().rules;
    }

    private final boolean none;
    private final SeccompAction defaultAction;
    private final List<Rule> rules; // null only in DEFAULT: see rules()

    private SeccompPolicy(boolean none, SeccompAction defaultAction, List<Rule> rules) {
        this.none = none;
        this.defaultAction = defaultAction;
        this.rules = rules == null ? null : List.copyOf(rules);
    }

    /**
     * The default policy: allow everything except what lets a process escape or attack the host
     * kernel. Each listed call fails with EPERM unless stated otherwise:
     * <ul>
     *   <li>{@code chmod}, {@code fchmod} (mode in argument 1), {@code fchmodat}, {@code fchmodat2}
     *       (mode in argument 2), when the mode has S_ISUID (04000) or S_ISGID (02000) set;
     *   <li>{@code unshare} and {@code clone} when the flags (argument 0) have CLONE_NEWUSER;
     *   <li>{@code ioctl} TIOCSTI (0x5412): only the low 32 bits of the request are compared,
     *       as the kernel does, so setting the upper bits does not get past the rule
     *       (CVE-2019-10063);
     *   <li>{@code ioctl} TIOCLINUX (0x541c), the same kind of terminal injection
     *       (CVE-2023-28100), compared the same way;
     *   <li>{@code open}, {@code openat} (with O_CREAT or O_TMPFILE), {@code creat}, {@code mknod}
     *       and {@code mknodat} creating a file with S_ISUID or S_ISGID: in a read-write bind it
     *       would be a setuid file of the caller on the host;
     *   <li>{@code openat2} fails with ENOSYS, because its mode is in memory that seccomp cannot
     *       read; C libraries then use {@code openat};
     *   <li>{@code clone3} fails with ENOSYS, because its flags are in memory that seccomp cannot
     *       read; C libraries then fall back to {@code clone}, whose flags the rule above sees;
     *   <li>{@code personality}, except the queries and settings that keep address space
     *       randomization and memory protections: 0 (PER_LINUX), 0x8 (PER_LINUX32), 0x20000
     *       (UNAME26), 0x20008 and 0xffffffff (query); only the low 32 bits are compared, as the
     *       kernel reads an {@code unsigned int};
     *   <li>always: {@code keyctl}, {@code add_key}, {@code request_key}, {@code mbind},
     *       {@code migrate_pages}, {@code move_pages}, {@code set_mempolicy},
     *       {@code userfaultfd}, {@code perf_event_open}, {@code io_uring_setup},
     *       {@code io_uring_enter}, {@code io_uring_register}, {@code ptrace},
     *       {@code kexec_load}, {@code kexec_file_load}, {@code init_module},
     *       {@code finit_module}, {@code delete_module}, {@code bpf}, {@code open_tree},
     *       {@code open_tree_attr}, {@code move_mount}, {@code fsopen}, {@code fsconfig}, {@code fsmount},
     *       {@code fspick}, {@code mount_setattr}, {@code mount}, {@code umount2},
     *       {@code pivot_root}, {@code swapon}, {@code swapoff}, {@code reboot}, {@code acct},
     *       {@code settimeofday}, {@code clock_settime}, {@code clock_adjtime},
     *       {@code adjtimex}, {@code lookup_dcookie}, {@code quotactl}, {@code quotactl_fd},
     *       {@code name_to_handle_at}, {@code open_by_handle_at}, {@code vhangup},
     *       {@code nfsservctl}, {@code iopl}, {@code ioperm}, {@code setns}.
     * </ul>
     */
    public static SeccompPolicy defaultPolicy() {
        return DEFAULT;
    }

    /** No seccomp filter at all. */
    public static SeccompPolicy none() {
        return NONE;
    }

    /** Only the given system calls are allowed; every other one gets {@code otherwise}. */
    public static SeccompPolicy allowList(SeccompAction otherwise, Syscall... allowed) {
        Objects.requireNonNull(allowed, "allowed");
        return allowListOf(otherwise, Arrays.asList(allowed));
    }

    /** Only the given system calls are allowed; every other one gets {@code otherwise}. */
    public static SeccompPolicy allowList(SeccompAction otherwise, Set<Syscall> allowed) {
        Objects.requireNonNull(allowed, "allowed");
        return allowListOf(otherwise, allowed);
    }

    private static SeccompPolicy allowListOf(SeccompAction otherwise, Collection<Syscall> allowed) {
        Objects.requireNonNull(otherwise, "otherwise");
        if (allowed.isEmpty()) {
            throw new IllegalArgumentException(
                    "an allow list needs at least one system call: the command could not even start");
        }
        // EnumSet orders the calls by number, so the same set always compiles to the same program.
        EnumSet<Syscall> sorted = EnumSet.noneOf(Syscall.class);
        for (Syscall syscall : allowed) {
            sorted.add(Objects.requireNonNull(syscall, "the allowed system calls must not contain null"));
        }
        Builder builder = builder(otherwise);
        for (Syscall syscall : sorted) {
            builder.rule(syscall, SeccompAction.allow());
        }
        return builder.build();
    }

    /** Starts an empty policy: {@code defaultAction} for every call until rules are added. */
    public static Builder builder(SeccompAction defaultAction) {
        return new Builder(defaultAction, List.of());
    }

    /**
     * A builder with this policy's default action and rules. Rules added to it are checked
     * before this policy's rules, so they can make exceptions to it (for example, allow
     * {@code ptrace} on top of {@link #defaultPolicy()}). On {@link #none()} this gives an empty
     * policy that allows everything: once built, it is a real filter, with the ABI checks every
     * filter has.
     */
    public Builder toBuilder() {
        return new Builder(defaultAction, rules());
    }

    /** The action for calls no rule matches. */
    public SeccompAction defaultAction() {
        return defaultAction;
    }

    /** The rules, in the order they are checked. */
    public List<Rule> rules() {
        return rules != null ? rules : DefaultRules.RULES;
    }

    /** Whether this is {@link #none()}: no filter is installed. */
    public boolean isNone() {
        return none;
    }

    @Override
    public boolean equals(Object other) {
        if (!(other instanceof SeccompPolicy)) {
            return false;
        }
        SeccompPolicy that = (SeccompPolicy) other;
        return this == that
                || none == that.none && defaultAction.equals(that.defaultAction) && rules().equals(that.rules());
    }

    @Override
    public int hashCode() {
        return Objects.hash(none, defaultAction, rules());
    }

    @Override
    public String toString() {
        return none ? "SeccompPolicy[none]"
                : "SeccompPolicy[default=" + defaultAction + ", " + rules().size() + " rules]";
    }

    /**
     * Collects rules for a {@link SeccompPolicy}.
     *
     * <p>Not thread-safe: confine a builder to one thread; the {@link SeccompPolicy} it builds is immutable
     * and thread-safe.
     */
    public static final class Builder {

        private final SeccompAction defaultAction;
        private final List<Rule> added = new ArrayList<>();
        private final List<Rule> inherited;

        private Builder(SeccompAction defaultAction, List<Rule> inherited) {
            this.defaultAction = Objects.requireNonNull(defaultAction, "defaultAction");
            this.inherited = inherited;
        }

        /**
         * Adds a rule after the rules added so far (and before any inherited through
         * {@link SeccompPolicy#toBuilder()}).
         */
        public Builder rule(Syscall syscall, SeccompAction action, ArgCondition... conditions) {
            Objects.requireNonNull(conditions, "conditions");
            added.add(new Rule(syscall, action, Arrays.asList(conditions)));
            return this;
        }

        public SeccompPolicy build() {
            List<Rule> rules = new ArrayList<>(added);
            rules.addAll(inherited);
            return new SeccompPolicy(false, defaultAction, rules);
        }
    }

    /**
     * This policy with the rules that every sandbox of a root caller gets checked first; on
     * {@link #none()}, a filter of just those rules. The files such a sandbox creates in a
     * read-write bind belong to host root (its binds are idmapped), so whatever its policy, it
     * must not be able to give a file privilege on the host. These rules refuse:
     * <ul>
     *   <li>setuid and setgid bits (EPERM): the chmod family, and {@code open}, {@code openat},
     *       {@code creat}, {@code mknod} and {@code mknodat} creating a file that has them;
     *   <li>{@code openat2} (ENOSYS), whose mode lies in memory that seccomp cannot read;
     *   <li>{@code io_uring_setup}, {@code io_uring_enter} and {@code io_uring_register}
     *       (EPERM): io_uring opens files and sets extended attributes without any system call
     *       that seccomp could see;
     *   <li>new user namespaces: {@code unshare} and {@code clone} with CLONE_NEWUSER (EPERM),
     *       and {@code clone3} (ENOSYS), whose flags seccomp cannot read. A new user namespace
     *       holds every capability again, SETFCAP included, and the file capabilities it writes
     *       through an idmapped bind would be host root's;
     *   <li>every mount call (EPERM): {@code mount}, {@code umount2}, {@code pivot_root},
     *       {@code open_tree}, {@code open_tree_attr}, {@code move_mount}, {@code fsopen},
     *       {@code fsconfig}, {@code fsmount}, {@code fspick}, {@code mount_setattr}. With
     *       SYS_ADMIN a sandbox could mount an overlay whose copy-up writes a setuid file into a
     *       read-write bind with the kernel's own credentials, past every rule above.
     * </ul>
     * File capabilities themselves are kept out by the capability sets: a root caller's sandbox
     * never holds SETFCAP or FSETID, whatever it asks for.
     */
    public SeccompPolicy withRootCallerRulesFirst() {
        Builder b = builder(none ? SeccompAction.allow() : defaultAction);
        addRootCallerRules(b);
        for (Rule r : rules()) {
            b.rule(r.syscall(), r.action(), r.conditions().toArray(new ArgCondition[0]));
        }
        return b.build();
    }

    private static void addRootCallerRules(Builder builder) {
        SeccompAction eperm = SeccompAction.errno(EPERM);
        addSetidRules(builder);
        // openat2 takes its mode in memory the filter cannot read; libraries fall back to openat.
        builder.rule(Syscall.OPENAT2, SeccompAction.errno(ENOSYS));
        builder.rule(Syscall.IO_URING_SETUP, eperm).rule(Syscall.IO_URING_ENTER, eperm)
                .rule(Syscall.IO_URING_REGISTER, eperm);
        // clone3's flags are in memory too; C libraries then fall back to clone, whose flags the rule sees.
        builder.rule(Syscall.UNSHARE, eperm, arg(0).maskedEq(CLONE_NEWUSER, CLONE_NEWUSER))
                .rule(Syscall.CLONE, eperm, arg(0).maskedEq(CLONE_NEWUSER, CLONE_NEWUSER))
                .rule(Syscall.CLONE3, SeccompAction.errno(ENOSYS));
        // Not a static field: that would load Syscall's 470 constants with this class, for every sandbox.
        for (Syscall mountCall : List.of(Syscall.MOUNT, Syscall.UMOUNT2, Syscall.PIVOT_ROOT, Syscall.OPEN_TREE,
                Syscall.OPEN_TREE_ATTR, Syscall.MOVE_MOUNT, Syscall.FSOPEN, Syscall.FSCONFIG, Syscall.FSMOUNT,
                Syscall.FSPICK, Syscall.MOUNT_SETATTR)) {
            builder.rule(mountCall, eperm);
        }
    }

    /** EPERM for setting S_ISUID or S_ISGID, and for creating a file that has them. */
    private static void addSetidRules(Builder builder) {
        SeccompAction eperm = SeccompAction.errno(EPERM);
        for (long bit : new long[] {S_ISUID, S_ISGID}) {
            builder.rule(Syscall.CHMOD, eperm, arg(1).maskedEq(bit, bit))
                    .rule(Syscall.FCHMOD, eperm, arg(1).maskedEq(bit, bit))
                    .rule(Syscall.FCHMODAT, eperm, arg(2).maskedEq(bit, bit))
                    .rule(Syscall.FCHMODAT2, eperm, arg(2).maskedEq(bit, bit));
            // The mode only counts with O_CREAT or O_TMPFILE; otherwise the register is garbage.
            for (long creating : new long[] {O_CREAT, O_TMPFILE_BIT}) {
                builder.rule(Syscall.OPEN, eperm, arg(1).maskedEq(creating, creating), arg(2).maskedEq(bit, bit))
                        .rule(Syscall.OPENAT, eperm, arg(2).maskedEq(creating, creating), arg(3).maskedEq(bit, bit));
            }
            builder.rule(Syscall.CREAT, eperm, arg(1).maskedEq(bit, bit))
                    .rule(Syscall.MKNOD, eperm, arg(1).maskedEq(bit, bit))
                    .rule(Syscall.MKNODAT, eperm, arg(2).maskedEq(bit, bit));
        }
    }

    private static SeccompPolicy buildDefaultPolicy() {
        SeccompAction eperm = SeccompAction.errno(EPERM);
        Builder builder = builder(SeccompAction.allow());

        addRootCallerRules(builder);

        builder.rule(Syscall.IOCTL, eperm, arg(1).maskedEq(LOW_32_BITS, TIOCSTI))
                .rule(Syscall.IOCTL, eperm, arg(1).maskedEq(LOW_32_BITS, TIOCLINUX));

        for (long persona : new long[] {0x0, 0x8, 0x20000, 0x20008, 0xffffffffL}) {
            builder.rule(Syscall.PERSONALITY, SeccompAction.allow(), arg(0).maskedEq(LOW_32_BITS, persona));
        }
        builder.rule(Syscall.PERSONALITY, eperm);

        for (Syscall syscall : List.of(
                Syscall.KEYCTL, Syscall.ADD_KEY, Syscall.REQUEST_KEY,
                Syscall.MBIND, Syscall.MIGRATE_PAGES, Syscall.MOVE_PAGES, Syscall.SET_MEMPOLICY,
                Syscall.USERFAULTFD, Syscall.PERF_EVENT_OPEN,
                Syscall.PTRACE,
                Syscall.KEXEC_LOAD, Syscall.KEXEC_FILE_LOAD,
                Syscall.INIT_MODULE, Syscall.FINIT_MODULE, Syscall.DELETE_MODULE,
                Syscall.BPF,
                Syscall.SWAPON, Syscall.SWAPOFF, Syscall.REBOOT, Syscall.ACCT,
                Syscall.SETTIMEOFDAY, Syscall.CLOCK_SETTIME, Syscall.CLOCK_ADJTIME, Syscall.ADJTIMEX,
                Syscall.LOOKUP_DCOOKIE, Syscall.QUOTACTL, Syscall.QUOTACTL_FD,
                Syscall.NAME_TO_HANDLE_AT, Syscall.OPEN_BY_HANDLE_AT,
                Syscall.VHANGUP, Syscall.NFSSERVCTL, Syscall.IOPL, Syscall.IOPERM, Syscall.SETNS)) {
            builder.rule(syscall, eperm);
        }
        return builder.build();
    }
}
