package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Capability;
import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
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

    @ParameterizedTest
    @ValueSource(strings = {"chmod", "fchmod", "fchmodat", "fchmodat2"})
    void setuidBitsCannotBeSet(String how) throws Exception {
        assertThat(attack("chmod-setuid", how)).isEqualTo("BLOCKED EPERM");
    }

    @Test
    void setuidFilesCannotBeCreated() throws Exception {
        assertThat(attack("create-setuid")).isEqualTo("BLOCKED EPERM");
    }

    @ParameterizedTest
    @ValueSource(strings = {"unshare", "clone"})
    void noNestedUserNamespace(String how) throws Exception {
        assertThat(attack("userns", how)).isEqualTo("BLOCKED EPERM");
    }

    @Test
    void clone3IsNotAvailable() throws Exception {
        assertThat(attack("clone3")).isEqualTo("BLOCKED ENOSYS");
    }

    @ParameterizedTest
    @ValueSource(strings = {"plain", "high"})
    void tiocstiIsRefused(String variant) throws Exception {
        assertThat(attack("tiocsti", variant)).isEqualTo("BLOCKED EPERM");
    }

    static List<String> refusedSyscalls() {
        return List.of("keyctl", "add_key", "request_key", "mbind", "migrate_pages", "move_pages", "set_mempolicy",
                "userfaultfd", "perf_event_open", "io_uring_setup", "io_uring_enter", "io_uring_register", "ptrace",
                "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "bpf", "open_tree",
                "move_mount", "fsopen", "fsmount", "pivot_root", "swapon", "swapoff", "reboot", "acct",
                "settimeofday", "clock_settime", "mount", "umount2");
    }

    @ParameterizedTest
    @MethodSource("refusedSyscalls")
    void dangerousSyscallsAreRefused(String syscall) throws Exception {
        assertThat(attack("syscall", syscall)).isEqualTo("BLOCKED EPERM");
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

    @Test
    void helperBinaryCannotBeOverwrittenThroughProc() throws Exception {
        Path helper = dev.crabcan.internal.launch.HelperRuntime.get().helper();
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
    void capabilitiesCanBeChosen() throws Exception {
        SandboxResult r = Sandbox.builder().capabilities(java.util.Set.of()).addCapabilities(Capability.NET_ADMIN)
                .command("/bin/grep", "CapEff", "/proc/self/status").build().run();
        assertThat(r.stdoutText()).isEqualTo(String.format("CapEff:\t%016x%n", 1L << Capability.NET_ADMIN.number()));
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

    @Test
    void rootCallersCannotCreateSetuidFilesWhateverThePolicy(@TempDir Path dir) throws Exception {
        assumeTrue(Env.isRoot(), "a rootless caller's files are its own: a setuid bit gains nothing");
        SeccompPolicy allowAll = SeccompPolicy.builder(dev.crabcan.SeccompAction.allow()).build();
        Sandbox.Builder b = Sandbox.builder().seccomp(allowAll).bind(dir, "/rw", false);
        assertThat(attack(b, "chmod-setuid", "chmod")).isEqualTo("BLOCKED EPERM");
        assertThat(attack(Sandbox.builder().seccomp(SeccompPolicy.none()), "create-setuid"))
                .isEqualTo("BLOCKED EPERM");
    }

    @Test
    void theCommandStartsWithDefaultSignals() throws Exception {
        SandboxResult r = Sandbox.builder().command("/bin/grep", "-E", "^Sig(Blk|Ign)", "/proc/self/status").build()
                .run();
        assertThat(r.stdoutText()).isEqualTo("SigBlk:\t0000000000000000\nSigIgn:\t0000000000000000\n");
    }
}
