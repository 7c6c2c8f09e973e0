package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.ArgCondition;
import dev.crabcan.Capability;
import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The escape suite: a hostile static program (src/test/c/escape.c) tries one attack per run
 * inside a default sandbox, and each test fails if the attack works. The whole class also runs
 * rootless (see RootlessSuiteTest).
 */
class EscapeTest {
    static Path escape;

    @BeforeAll
    static void compile() throws Exception {
        escape = Env.staticBinary("escape");
    }

    /** Runs "escape ATTACK ARG" in a sandbox built from b and returns its one-line verdict. */
    static String attack(Sandbox.Builder b, String... args) throws Exception {
        String[] argv = Stream.concat(Stream.of("/t/escape"), Stream.of(args)).toArray(String[]::new);
        SandboxResult r = b.bind(escape.getParent(), "/t", true).command(argv).build().run();
        String out = r.stdoutText().trim();
        assertThat(out).as("verdict of %s (stderr: %s)", List.of(args), r.stderrText()).doesNotStartWith("UNKNOWN");
        return out;
    }

    static String attack(String... args) throws Exception {
        return attack(Sandbox.builder(), args);
    }

    /**
     * The default policy with every refusal's errno replaced by one that the kernel never gives
     * for these calls (EHWPOISON for EPERM, ERFKILL for ENOSYS): under it, a verdict naming the
     * tag can only be the filter's, so a lost rule cannot hide behind the kernel's own EPERM.
     */
    static final SeccompPolicy TAGGED = tagged(SeccompPolicy.defaultPolicy());

    private static SeccompPolicy tagged(SeccompPolicy policy) {
        SeccompPolicy.Builder b = SeccompPolicy.builder(policy.defaultAction());
        for (SeccompPolicy.Rule r : policy.rules()) {
            SeccompAction action = r.action().equals(SeccompAction.errno(1)) ? SeccompAction.errno(133)
                    : r.action().equals(SeccompAction.errno(38)) ? SeccompAction.errno(132) : r.action();
            b.rule(r.syscall(), action, r.conditions().toArray(new ArgCondition[0]));
        }
        return b.build();
    }

    /**
     * The attack is refused with errno under the default policy, and by the filter's rule itself:
     * under {@link #TAGGED} it gets the tag. A root caller's own rules (rootCallerRule) come before
     * any policy and answer with the real errno; those attacks are ones the kernel alone would let
     * through (a setuid bit on the caller's own file, a user namespace, io_uring, openat2), so
     * there too the refusal can only be the filter's.
     */
    static void assertFilterRefuses(Path rw, String errno, boolean rootCallerRule, String... args) throws Exception {
        assertThat(attack(withBind(Sandbox.builder(), rw), args)).as("default policy").isEqualTo("BLOCKED " + errno);
        String tag = rootCallerRule && Env.isRoot() ? errno : errno.equals("ENOSYS") ? "ERFKILL" : "EHWPOISON";
        assertThat(attack(withBind(Sandbox.builder().seccomp(TAGGED), rw), args)).as("tagged policy")
                .isEqualTo("BLOCKED " + tag);
    }

    private static Sandbox.Builder withBind(Sandbox.Builder b, Path rw) {
        return rw == null ? b : b.bind(rw, "/rw", false);
    }

    /**
     * What the attacks left in a read-write bind, seen from the host: no file with a setuid or
     * setgid bit or file capabilities, and none that makes a host user (uid 65534) root.
     */
    static void assertNothingPrivileged(Path dir) throws Exception {
        try (Stream<Path> files = Files.walk(dir).filter(Files::isRegularFile)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                String inspect = host(escape.toString(), "inspect", f.toString());
                assertThat(inspect).as("host's view of %s", f).matches("MODE [0-7]{1,3} FCAP no");
                // Root of a user namespace cannot become another host user: "FCAP no" above must do there.
                if (f.getFileName().toString().equals("escape-fcap") && (Env.isHostRoot() || !Env.isRoot())) {
                    assertThat(asHostNobody(f.toString(), "become-root")).as("%s run by host uid 65534", f).startsWith("NOT-ROOT");
                }
            }
        }
    }

    /** Runs the command on the host as uid 65534 (the rootless suite already is). */
    private static String asHostNobody(String... command) throws Exception {
        if (Env.uid() == 65534) {
            return host(command);
        }
        return host(Stream.concat(Stream.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
                Stream.of(command)).toArray(String[]::new));
    }

    private static String host(String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        p.getOutputStream().close();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).trim();
        assertThat(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS)).as("%s finished", List.of(command)).isTrue();
        return out;
    }

    /** A read-write directory the sandbox's root can write, as a bind that the attacks target. */
    static Path writableDir(Path tempDir) throws Exception {
        Path rw = Files.createDirectory(tempDir.resolve("rw"));
        Files.setPosixFilePermissions(rw, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        return rw;
    }

    @ParameterizedTest
    @ValueSource(strings = {"chmod", "fchmod", "fchmodat", "fchmodat2"})
    void setuidBitsCannotBeSet(String how, @TempDir Path tmp) throws Exception {
        Path rw = writableDir(tmp);
        assertFilterRefuses(rw, "EPERM", true, "chmod-setuid", how, "/rw");
        assertNothingPrivileged(rw);
    }

    @ParameterizedTest
    @ValueSource(strings = {"open", "openat", "creat", "mknod", "mknodat", "tmpfile"})
    void setuidFilesCannotBeCreated(String how, @TempDir Path tmp) throws Exception {
        Path rw = writableDir(tmp);
        assertFilterRefuses(rw, "EPERM", true, "create-setuid", how, "/rw");
        assertNothingPrivileged(rw);
    }

    @Test
    void openat2IsNotAvailable(@TempDir Path tmp) throws Exception {
        Path rw = writableDir(tmp);
        assertFilterRefuses(rw, "ENOSYS", true, "create-setuid", "openat2", "/rw");
        assertNothingPrivileged(rw);
    }

    @ParameterizedTest
    @ValueSource(strings = {"unshare", "clone"})
    void noNestedUserNamespace(String how) throws Exception {
        assertFilterRefuses(null, "EPERM", true, "userns", how);
    }

    @Test
    void clone3IsNotAvailable() throws Exception {
        assertFilterRefuses(null, "ENOSYS", true, "clone3");
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "high"})
    void tiocstiIsRefused(String variant) throws Exception {
        assertFilterRefuses(null, "EPERM", false, "tiocsti", variant);
    }

    static List<String> refusedSyscalls() {
        return List.of("keyctl", "add_key", "request_key", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
                "userfaultfd", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace",
                "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "open_tree",
                "open_tree_attr", "quotactl_fd", "move_mount", "fsopen", "fsmount", "pivot_root", "swapon", "swapoff", "reboot", "acct",
                "settimeofday", "clock_settime", "mount", "umount2");
    }

    /** The refused calls that are also among a root caller's own rules (io_uring and the mount calls). */
    static final java.util.Set<String> ROOT_CALLER_RULES = java.util.Set.of("io_uring_setup", "io_uring_enter",
            "io_uring_register", "open_tree", "open_tree_attr", "move_mount", "fsopen", "fsmount", "pivot_root",
            "mount", "umount2");

    @ParameterizedTest
    @MethodSource("refusedSyscalls")
    void dangerousSyscallsAreRefused(String syscall) throws Exception {
        assertFilterRefuses(null, "EPERM", ROOT_CALLER_RULES.contains(syscall), "syscall", syscall);
    }

    @Test
    void i386AbiIsKilled() throws Exception {
        // SIGSYS from the filter; kernels built without IA-32 emulation answer int 0x80 with SIGSEGV.
        assertThat(attack("i386")).isIn("KILLED 31", "KILLED 11");
    }

    @Test
    void x32AbiIsKilled() throws Exception {
        assertThat(attack("x32")).isEqualTo("KILLED 31");
    }

    @Test
    void seccompKillIsReportedAsSigsys() throws Exception {
        SandboxResult killed = Sandbox.builder().bind(escape.getParent(), "/t", true)
                .seccomp(SeccompPolicy.builder(dev.crabcan.SeccompAction.allow())
                        .rule(dev.crabcan.Syscall.GETPID, dev.crabcan.SeccompAction.killProcess()).build())
                .command("/bin/sh", "-c", "echo $$").build().run();
        assertThat(killed.status()).isEqualTo(ExitStatus.signaled(31));
        assertThat(killed.status().isSeccompViolation()).isTrue();
    }

    @Test
    void readOnlyBindCannotBeRemountedOrWritten(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("data"), "original\n");
        Sandbox.Builder b = Sandbox.builder().bind(dir, "/ro", true);
        assertThat(attack(b, "remount-rw", "/ro")).startsWith("BLOCKED");
        assertThat(attack(Sandbox.builder().bind(dir, "/ro", true), "write", "/ro/data")).isEqualTo("BLOCKED EROFS");
        assertThat(attack(Sandbox.builder().bind(dir, "/ro", true), "mount-tmpfs", "/ro")).startsWith("BLOCKED");
        // Without the seccomp filter, the missing capabilities still stop the remount.
        assertThat(attack(Sandbox.builder().bind(dir, "/ro", true).seccomp(SeccompPolicy.none()), "remount-rw", "/ro"))
                .isEqualTo("BLOCKED EPERM");
        assertThat(Files.readString(dir.resolve("data"))).isEqualTo("original\n");
        assertThat(dir.resolve("escaped")).doesNotExist();
    }

    @Test
    void modulesCannotBeLoaded() throws Exception {
        assertThat(attack("load-module")).isEqualTo("BLOCKED EPERM");
        // Without the filter: EPERM (no CAP_SYS_MODULE), or ENOSYS on kernels built without modules.
        assertThat(attack(Sandbox.builder().seccomp(SeccompPolicy.none()), "load-module"))
                .isIn("BLOCKED EPERM", "BLOCKED ENOSYS");
    }

    @Test
    void hostProcessesAreInvisible() throws Exception {
        assertThat(ProcessHandle.current().pid()).as("the JVM's pid, which must not be one a sandbox's own processes "
                + "have (pid 1 of a container is)").isGreaterThan(16);
        String jvm = String.valueOf(ProcessHandle.current().pid());
        assertThat(attack("kill-host", jvm)).isEqualTo("BLOCKED ESRCH");
        assertThat(attack("read-host-proc", jvm)).isEqualTo("BLOCKED ENOENT");
    }

    @Test
    void hostLoopbackListenerIsUnreachable() throws Exception {
        try (ServerSocket listener = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            assertThat(attack("connect", String.valueOf(listener.getLocalPort()))).isEqualTo("BLOCKED ECONNREFUSED");
        }
    }

    /**
     * The attack review's race, made certain: a sandbox that may write the directory holding
     * another sandbox's bind source swaps the source (or a directory on its way) for a link to
     * a directory of its choice after the JVM checked the path. The helper follows no link when it
     * opens the source: the start fails, and the link's target is never mounted.
     */
    @Test
    void aBindSourceSwappedForALinkIsRefused(@TempDir Path dir) throws Exception {
        Path decoy = Files.createDirectory(dir.resolve("decoy"));
        Files.writeString(decoy.resolve("secret"), "the decoy's\n");
        Path decoyParent = Files.createDirectory(dir.resolve("decoy-parent"));
        Files.createSymbolicLink(decoyParent.resolve("data"), decoy);
        Path parent = Files.createDirectory(dir.resolve("parent"));
        Path source = Files.createDirectory(parent.resolve("data"));
        for (Path swapped : List.of(source, parent)) {
            Sandbox s = Sandbox.builder().bind(source, "/data", false).command("/bin/cat", "/data/secret").build();
            Path aside = Files.move(swapped, swapped.resolveSibling(swapped.getFileName() + ".real"));
            Files.createSymbolicLink(swapped, swapped == source ? decoy : decoyParent);
            try {
                org.assertj.core.api.Assertions.assertThatThrownBy(s::run)
                        .isInstanceOf(dev.crabcan.SandboxSetupException.class)
                        .hasMessageContaining("bind " + source).hasMessageContaining("Too many levels of symbolic links");
            } finally {
                Files.delete(swapped);
                Files.move(aside, swapped);
            }
        }
    }

    @Test
    void helperBinaryCannotBeOverwrittenThroughProc() throws Exception {
        assertThat(Sandbox.builder().command("/bin/true").build().run().status().code()).isZero();
        Path helper = Path.of("/proc", Long.toString(Env.zygote().pid()), "exe");
        String before = sha256(helper);
        for (Sandbox.Builder b : List.of(Sandbox.builder(), Sandbox.builder().uid(1000),
                Sandbox.builder().seccomp(SeccompPolicy.none()))) {
            assertThat(attack(b, "proc-exe", "1")).startsWith("BLOCKED");
        }
        assertThat(sha256(helper)).isEqualTo(before);
    }

    /**
     * What ps inside shows: init is a fork of the zygote, whose arguments the JVM filled with the
     * control socket's path (the cache, under the user's home, and the JVM's pid in it).
     */
    @Test
    void processesInsideNameNothingOfTheHost() throws Exception {
        String out = Env.shOk("for f in /proc/[0-9]*/cmdline /proc/[0-9]*/environ /proc/[0-9]*/comm; do"
                + " echo \"== $f\"; cat \"$f\" 2>&1 | tr '\\0' ' '; echo; done");
        // Sandbox pids are small and could equal the JVM's; only what the files hold counts.
        String contents = out.lines().filter(l -> !l.startsWith("== ")).collect(Collectors.joining("\n"));
        // Exactly the title: padding would tell the length of the host path it replaced.
        assertThat(out).contains("== /proc/1/cmdline\ncrabcan-init \n").contains("== /proc/1/comm\ncrabcan-init\n");
        assertThat(contents)
                .doesNotContain(dev.crabcan.internal.launch.HelperRuntime.get().cacheDir().toString())
                .doesNotContain(System.getProperty("user.home"))
                .doesNotContain("control.sock")
                .doesNotContain("--zygote")
                .doesNotContainPattern("(?<![0-9])" + ProcessHandle.current().pid() + "(?![0-9])");
    }

    /**
     * The command's own mountinfo names nothing of the host's but what the caller bound in (a
     * bind shows its source's path): no run directory, cache or home, no JVM pid; with a private
     * network too, whose resolv.conf is made inside.
     */
    @ParameterizedTest
    @ValueSource(booleans = {false, true})
    void mountinfoNamesNothingOfTheHost(boolean privateNetwork) throws Exception {
        SandboxResult r = Sandbox.builder()
                .network(privateNetwork ? dev.crabcan.Network.privateNetwork() : dev.crabcan.Network.none())
                .command("/bin/sh", "-c", "cat /proc/self/mountinfo; cat /etc/resolv.conf").build().run();
        assertThat(r.status().code()).as(r.stderrText()).isZero();
        String mountinfo = r.stdoutText();
        if (privateNetwork) {
            assertThat(mountinfo).contains(" /etc/resolv.conf ro,").contains("# written by Crabcan for this sandbox");
        }
        assertThat(mountinfo)
                .doesNotContain(dev.crabcan.internal.launch.HelperRuntime.get().cacheDir().toString())
                .doesNotContain(dev.crabcan.internal.launch.HelperRuntime.get().runDir().toString())
                .doesNotContain(System.getProperty("user.home"))
                .doesNotContainPattern("(?<![0-9])" + ProcessHandle.current().pid() + "(?![0-9])");
    }

    @Test
    void procHidesTheHost() throws Exception {
        assertThat(attack("read", "/proc/kcore")).isIn("BLOCKED ENOENT", "BLOCKED empty");
        assertThat(attack("read", "/proc/keys")).isIn("BLOCKED empty", "BLOCKED ENOENT");
        assertThat(attack("read", "/proc/timer_list")).isIn("BLOCKED empty", "BLOCKED ENOENT");
        assertThat(attack("write", "/proc/sys/kernel/hostname")).isEqualTo("BLOCKED EROFS");
        assertThat(attack("write", "/proc/sysrq-trigger")).isIn("BLOCKED EROFS", "BLOCKED ENOENT");
    }

    @Test
    void capabilitiesAreDropped() throws Exception {
        String root = Env.shOk("grep Cap /proc/self/status");
        long kept = 0;
        for (Capability c : Capability.DEFAULT_KEPT) {
            kept |= 1L << c.number();
        }
        String keptHex = String.format("%016x", kept);
        assertThat(root).contains("CapEff:\t" + keptHex).contains("CapPrm:\t" + keptHex)
                .contains("CapBnd:\t" + keptHex).contains("CapInh:\t0000000000000000")
                .contains("CapAmb:\t0000000000000000");
        for (Capability dropped : List.of(Capability.SYS_ADMIN, Capability.DAC_OVERRIDE, Capability.SYS_PTRACE,
                Capability.SYS_MODULE, Capability.MKNOD, Capability.SETFCAP, Capability.NET_ADMIN)) {
            assertThat(kept & (1L << dropped.number())).as(dropped.name()).isZero();
        }
        SandboxResult user = Sandbox.builder().uid(1000).command("/bin/grep", "Cap", "/proc/self/status").build().run();
        assertThat(user.stdoutText()).contains("CapEff:\t0000000000000000").contains("CapPrm:\t0000000000000000")
                .contains("CapInh:\t0000000000000000").contains("CapAmb:\t0000000000000000");
        assertThat(Env.shOk("grep NoNewPrivs /proc/self/status")).isEqualTo("NoNewPrivs:\t1\n");
        assertThat(Env.shOk("grep Seccomp: /proc/self/status")).isEqualTo("Seccomp:\t2\n");
    }

    @Test
    void droppedCapabilitiesAndSupplementaryGroupsAreGoneOnTheKernel() throws Exception {
        SandboxResult r = Sandbox.builder().dropCapabilities(Capability.CHOWN, Capability.KILL)
                .command("/bin/grep", "-E", "^(CapEff|CapBnd|Groups):", "/proc/self/status").build().run();
        long expected = 0;
        for (Capability c : Capability.DEFAULT_KEPT) {
            expected |= c == Capability.CHOWN || c == Capability.KILL ? 0 : 1L << c.number();
        }
        assertThat(r.stdoutText()).contains(String.format("CapEff:\t%016x", expected))
                .contains(String.format("CapBnd:\t%016x", expected)).contains("Groups:\t" + keptGroups() + "\n");
    }

    /**
     * The supplementary groups a sandbox keeps, as it sees them: none of root's, where setgroups is
     * allowed; the caller's own otherwise (nobody can drop them where it is denied), its gid shown as
     * the sandbox's (0), the others unmapped (65534). Space-separated and ending in a space, as the kernel
     * prints them.
     */
    private static String keptGroups() throws Exception {
        if (Env.isRoot() && !Files.readString(Path.of("/proc/self/setgroups")).trim().equals("deny")) {
            return " ";
        }
        String status = Files.readString(Path.of("/proc/self/status"));
        String gid = status.lines().filter(l -> l.startsWith("Gid:")).findFirst().orElseThrow().split("\\s+")[2];
        String groups = status.lines().filter(l -> l.startsWith("Groups:")).findFirst().orElseThrow().substring(7).trim();
        List<String> kept = new java.util.ArrayList<>();
        for (String g : groups.isEmpty() ? new String[0] : groups.split("\\s+")) {
            kept.add(g.equals(gid) ? "0" : "65534");
        }
        return String.join(" ", kept) + " ";
    }

    @Test
    void noNewPrivilegesCanBeTurnedOffOnlyWithoutAFilter() throws Exception {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Sandbox.builder().noNewPrivileges(false)
                .command("/bin/true").build()).isInstanceOf(dev.crabcan.SandboxSpecException.class)
                .hasMessageContaining("a seccomp filter needs noNewPrivileges(true)");
        Sandbox.Builder off = Sandbox.builder().noNewPrivileges(false).seccomp(SeccompPolicy.none())
                .command("/bin/grep", "NoNewPrivs", "/proc/self/status");
        if (Env.isRoot()) {
            // A root caller's sandbox always has its filter, which needs no_new_privs unless it may set one up itself.
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> off.build().run())
                    .isInstanceOf(dev.crabcan.SandboxSpecException.class).hasMessageContaining("noNewPrivileges(true)");
            off.addCapabilities(Capability.SYS_ADMIN);
        }
        assertThat(off.build().run().stdoutText()).isEqualTo("NoNewPrivs:\t0\n");
    }

    @Test
    void capabilitiesCanBeChosen() throws Exception {
        SandboxResult r = Sandbox.builder().capabilities(java.util.Set.of()).addCapabilities(Capability.NET_ADMIN)
                .command("/bin/grep", "CapEff", "/proc/self/status").build().run();
        assertThat(r.stdoutText()).isEqualTo(String.format("CapEff:\t%016x%n", 1L << Capability.NET_ADMIN.number()));
    }

    /**
     * All five sets reach the kernel: a non-root command keeps its ambient set across execve. A root
     * caller's sandbox holds SETFCAP in none of them, even when every set asks for it.
     */
    @Test
    void ambientCapabilitiesReachANonRootCommandAndDeniedOnesNoSet() throws Exception {
        java.util.Set<Capability> asked = java.util.EnumSet.of(Capability.NET_BIND_SERVICE, Capability.SETFCAP);
        SandboxResult r = Sandbox.builder().uid(1000).capabilities(asked).permittedCapabilities(asked)
                .effectiveCapabilities(asked).inheritableCapabilities(asked).ambientCapabilities(asked)
                .command("/bin/grep", "Cap", "/proc/self/status").build().run();
        long held = (1L << Capability.NET_BIND_SERVICE.number())
                | (Env.isRoot() ? 0 : 1L << Capability.SETFCAP.number());
        String hex = String.format("%016x", held);
        assertThat(r.stdoutText()).as(r.stderrText()).contains("CapInh:\t" + hex).contains("CapPrm:\t" + hex)
                .contains("CapEff:\t" + hex).contains("CapBnd:\t" + hex).contains("CapAmb:\t" + hex);
    }

    private static String sha256(Path p) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
    }

    @Test
    void allowListPolicyRunsOnlyWhatItLists() throws Exception {
        java.util.Set<dev.crabcan.Syscall> startup = java.util.EnumSet.of(dev.crabcan.Syscall.EXECVE,
                dev.crabcan.Syscall.BRK, dev.crabcan.Syscall.ARCH_PRCTL, dev.crabcan.Syscall.SET_TID_ADDRESS,
                dev.crabcan.Syscall.SET_ROBUST_LIST, dev.crabcan.Syscall.RSEQ, dev.crabcan.Syscall.PRLIMIT64,
                dev.crabcan.Syscall.MPROTECT, dev.crabcan.Syscall.READLINK, dev.crabcan.Syscall.GETRANDOM,
                dev.crabcan.Syscall.NEWFSTATAT, dev.crabcan.Syscall.FSTAT, dev.crabcan.Syscall.WRITE,
                dev.crabcan.Syscall.EXIT_GROUP, dev.crabcan.Syscall.MMAP, dev.crabcan.Syscall.UNAME);
        Path hello = Env.staticBinary("hello");
        Sandbox.Builder b = Sandbox.builder().bind(hello.getParent(), "/t", true).command("/t/hello");
        SandboxResult ok = b.seccomp(SeccompPolicy.allowList(dev.crabcan.SeccompAction.killProcess(), startup))
                .build().run();
        assertThat(ok.stdoutText()).as("%s %s", ok.status(), ok.stderrText()).isEqualTo("Hello, world!\n");

        java.util.Set<dev.crabcan.Syscall> noWrite = java.util.EnumSet.copyOf(startup);
        noWrite.remove(dev.crabcan.Syscall.WRITE);
        SandboxResult killed = b.seccomp(SeccompPolicy.allowList(dev.crabcan.SeccompAction.killProcess(), noWrite))
                .build().run();
        assertThat(killed.status().isSeccompViolation()).as("%s", killed.status()).isTrue();
        assertThat(killed.stdout()).isEmpty();
    }

    @Test
    void newSessionUnlessTheTerminalIsKept() throws Exception {
        String stat = "cut -d' ' -f6 /proc/self/stat";
        assertThat(Env.shOk(stat)).as("session id: the sandbox's init").isEqualTo("1\n");
        SandboxResult kept = Sandbox.builder().keepTerminal(true).command("/bin/sh", "-c", stat).build().run();
        assertThat(kept.stdoutText()).as("session id: the caller's, outside the pid namespace").isEqualTo("0\n");
    }

    /** A sandbox with that policy, the capabilities that podman's default gives, and rw bound read-write at /rw. */
    private static Sandbox.Builder askingForAll(SeccompPolicy policy, Path rw) {
        return Sandbox.builder().seccomp(policy).addCapabilities(Capability.SETFCAP, Capability.FSETID)
                .bind(rw, "/rw", false);
    }

    /** Policies a caller may choose, from strictest to none at all. */
    static List<SeccompPolicy> everyKindOfPolicy() {
        return List.of(SeccompPolicy.defaultPolicy(), SeccompPolicy.builder(SeccompAction.allow()).build(),
                SeccompPolicy.none());
    }

    @ParameterizedTest
    @ValueSource(strings = {"open", "openat", "creat", "mknod", "mknodat", "tmpfile", "openat2"})
    void rootCallersCannotCreateSetuidFilesWhateverThePolicy(String how, @TempDir Path tmp) throws Exception {
        assumeTrue(Env.isRoot(), "a rootless caller's files are its own: a setuid bit gains nothing");
        Path rw = writableDir(tmp);
        for (SeccompPolicy policy : everyKindOfPolicy()) {
            assertThat(attack(askingForAll(policy, rw), "create-setuid", how, "/rw")).as("%s", policy)
                    .isEqualTo(how.equals("openat2") ? "BLOCKED ENOSYS" : "BLOCKED EPERM");
            assertThat(attack(askingForAll(policy, rw), "chmod-setuid", "fchmodat2", "/rw")).as("%s", policy)
                    .isEqualTo("BLOCKED EPERM");
        }
        assertNothingPrivileged(rw);
    }

    /**
     * A file capability written through a root caller's idmapped bind would be host root's: run
     * by any host user, the file would become root. It is refused whatever the policy and the
     * capabilities asked for (a root caller's sandbox never holds SETFCAP), also from a new user
     * namespace, which would hold every capability again. Rootless, the kernel writes the
     * capability for the caller's own uid, which gives nothing on the host.
     */
    @ParameterizedTest
    @ValueSource(strings = {"setxattr", "fsetxattr", "lsetxattr"})
    void fileCapabilitiesWrittenInsideGiveNothingOnTheHost(String how, @TempDir Path tmp) throws Exception {
        Path rw = writableDir(tmp);
        for (SeccompPolicy policy : everyKindOfPolicy()) {
            String direct = attack(askingForAll(policy, rw), "setxattr-cap", how, "/rw");
            String nested = attack(askingForAll(policy, rw), "userns-fcap", how, "/rw");
            if (Env.isRoot()) {
                assertThat(direct).as("%s", policy).isEqualTo("BLOCKED EPERM");
                assertThat(nested).as("from a new user namespace, %s", policy).startsWith("BLOCKED EPERM");
            }
            assertNothingPrivilegedButOwnCapabilities(rw);
        }
    }

    /**
     * Stdio files are opened by the helper as the caller (root, for a root caller): a link that a
     * sandbox planted in a directory it could write must not send that open elsewhere on the host.
     */
    @Test
    void aLinkPlantedOnTheWayToAStdioFileIsNotFollowed(@TempDir Path tmp) throws Exception {
        Path rw = writableDir(tmp);
        Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
        SandboxResult plant = Sandbox.builder().bind(rw, "/w", false)
                .command("/bin/ln", "-s", elsewhere.toString(), "/w/out").build().run();
        assertThat(plant.status().code()).as(plant.stderrText()).isZero();
        assertThat(rw.resolve("out")).isSymbolicLink();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Sandbox.builder()
                .stdout(dev.crabcan.Stdio.writeTo(rw.resolve("out/report"))).command("/bin/echo", "pwned").build()
                .run()).isInstanceOf(dev.crabcan.SandboxSpecException.class).hasMessageContaining("symbolic link");
        try (Stream<Path> s = Files.list(elsewhere)) {
            assertThat(s).as("nothing written through the planted link").isEmpty();
        }
    }

    /**
     * With SYS_ADMIN and no filter of its own, a root caller's sandbox would mount an overlay whose
     * copy-up writes a setuid-root file from a read-only bind into the read-write one: the mount
     * calls are among a root caller's own rules.
     */
    @Test
    void rootCallersCannotCopyASetuidFileUpIntoABind(@TempDir Path tmp) throws Exception {
        assumeTrue(Env.isRoot(), "a rootless caller's sandbox owns no setuid-root file to copy");
        Path lower = Files.createDirectory(tmp.resolve("lower"));
        Path victim = Files.copy(escape, lower.resolve("victim"));
        Files.setAttribute(victim, "unix:mode", 04755);
        Path rw = writableDir(tmp);
        for (SeccompPolicy policy : everyKindOfPolicy()) {
            Sandbox.Builder b = Sandbox.builder().seccomp(policy).bind(lower, "/lower", true).bind(rw, "/rw", false)
                    .addCapabilities(Capability.SYS_ADMIN, Capability.DAC_OVERRIDE);
            assertThat(attack(b, "overlay-copyup", "/lower", "/rw")).as("%s", policy).isEqualTo("BLOCKED EPERM");
        }
        assertNothingPrivileged(rw);
    }

    /**
     * The reviewer's reproduction: an OCI bundle whose process keeps podman's default
     * capabilities (SETFCAP and FSETID among them), without linux.seccomp, with a read-write bind.
     */
    @ParameterizedTest
    @ValueSource(strings = {"setxattr-cap setxattr", "create-setuid openat2", "userns-fcap setxattr"})
    void anOciBundleWithPodmansCapabilitiesCannotMakeAPrivilegedFile(String attack, @TempDir Path tmp)
            throws Exception {
        Path rw = writableDir(tmp);
        Path rootfs = Files.createDirectory(tmp.resolve("rootfs"));
        Files.copy(escape, rootfs.resolve("escape"));
        Files.createDirectory(rootfs.resolve("rw"));
        String caps = "[\"CAP_CHOWN\", \"CAP_DAC_OVERRIDE\", \"CAP_FOWNER\", \"CAP_FSETID\", \"CAP_KILL\", "
                + "\"CAP_NET_BIND_SERVICE\", \"CAP_SETFCAP\", \"CAP_SETGID\", \"CAP_SETPCAP\", \"CAP_SETUID\", "
                + "\"CAP_SYS_CHROOT\"]";
        String[] a = attack.split(" ");
        Files.writeString(tmp.resolve("config.json"), """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": ["/escape", "%s", "%s", "/rw"], "cwd": "/",
                             "capabilities": {"bounding": %s, "effective": %s, "permitted": %s}},
                 "root": {"path": "rootfs", "readonly": true},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/rw", "type": "bind", "source": "%s", "options": ["rbind", "rw"]}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}, {"type": "user"}]}}
                """.formatted(a[0], a[1], caps, caps, caps, rw));
        SandboxResult r = Sandbox.fromOciBundle(tmp).run();
        if (Env.isRoot()) {
            assertThat(r.stdoutText().trim()).as(r.stderrText()).startsWith("BLOCKED");
        }
        assertNothingPrivilegedButOwnCapabilities(rw);
    }

    /**
     * Like {@link #assertNothingPrivileged} for a root caller. A rootless caller's sandbox may
     * set a setuid bit or a file capability on a file in a bind, but the file is the caller's
     * own (the capability is written for the caller's uid): it gives nobody more than the
     * caller has.
     */
    private static void assertNothingPrivilegedButOwnCapabilities(Path rw) throws Exception {
        if (Env.isRoot()) {
            assertNothingPrivileged(rw);
            return;
        }
        try (Stream<Path> files = Files.list(rw)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                assertThat((int) Files.getAttribute(f, "unix:uid", java.nio.file.LinkOption.NOFOLLOW_LINKS))
                        .as("owner of %s", f).isEqualTo(Env.uid());
                if (f.getFileName().toString().equals("escape-fcap")) {
                    assertThat(asHostNobody(f.toString(), "become-root")).as("%s run by host uid 65534", f)
                            .startsWith("NOT-ROOT");
                }
            }
        }
    }

    @Test
    void rootCallersCannotLeaveTheFilterThroughIoUringAUserNamespaceOrAMount() throws Exception {
        assumeTrue(Env.isRoot(), "rules forced on root callers only");
        for (SeccompPolicy policy : everyKindOfPolicy()) {
            List<String[]> attacks = new java.util.ArrayList<>(List.of(new String[] {"userns", "unshare"},
                    new String[] {"userns", "clone"}));
            ROOT_CALLER_RULES.forEach(call -> attacks.add(new String[] {"syscall", call}));
            for (String[] a : attacks) {
                // SYS_ADMIN would let the mount calls through the kernel's own checks.
                assertThat(attack(Sandbox.builder().seccomp(policy).addCapabilities(Capability.SYS_ADMIN), a))
                        .as("%s %s", a[1], policy).isEqualTo("BLOCKED EPERM");
            }
            assertThat(attack(Sandbox.builder().seccomp(policy), "clone3")).as("%s", policy)
                    .isEqualTo("BLOCKED ENOSYS");
        }
    }

    @Test
    void theCommandStartsWithDefaultSignals() throws Exception {
        SandboxResult r = Sandbox.builder().command("/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status").build()
                .run();
        assertThat(r.stdoutText()).isEqualTo("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    }
}
