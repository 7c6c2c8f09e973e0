package dev.crabcan.internal.plan;

import static dev.crabcan.internal.plan.Contract.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Capability;
import dev.crabcan.KernelMount;
import dev.crabcan.Limits;
import dev.crabcan.Rlimit;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.Terminal;
import dev.crabcan.internal.host.HostIds;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.plan.PlanDecoder.BadPlanException;
import dev.crabcan.internal.plan.PlanDecoder.Mount;
import dev.crabcan.internal.plan.PlanDecoder.Plan;
import dev.crabcan.internal.plan.PlanDecoder.Root;
import dev.crabcan.internal.seccomp.BpfCompiler;
import java.io.IOException;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Every decision {@link PlanCompiler} makes, read back from the bytes the helper would get (with
 * {@link PlanDecoder}, which runs the helper's own parser), for a root caller and for a
 * rootless one. Parameterized tests take {@code root}: true for a caller with euid 0, false for a
 * caller with euid 1000 and egid 1001.
 */
class PlanCompilerTest {
    private static final HostInfo ROOT = HostInfo.of(0, 0, "6.1.0");
    private static final HostInfo ROOTLESS = HostInfo.of(1000, 1001, "6.1.0");
    private static final Path RUN_DIR = Path.of("/run/test");
    private static final String HOSTNAME = "test-host";

    private static final int CLONE_NEWNS = 0x00020000, CLONE_NEWCGROUP = 0x02000000, CLONE_NEWUTS = 0x04000000,
            CLONE_NEWIPC = 0x08000000, CLONE_NEWUSER = 0x10000000, CLONE_NEWPID = 0x20000000,
            CLONE_NEWNET = 0x40000000;

    private static final int NOSUID_NODEV = MF_NOSUID | MF_NODEV;
    private static final List<String> DEVICES = List.of("null", "zero", "full", "random", "urandom", "tty");
    /** OCI runtimes' readonlyPaths. */
    private static final List<String> PROC_READ_ONLY = List.of("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger");
    /** OCI runtimes' maskedPaths. */
    private static final List<String> PROC_MASKED = List.of("/proc/acpi", "/proc/asound", "/proc/interrupts",
            "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/sched_debug", "/proc/scsi", "/proc/timer_list",
            "/proc/timer_stats");

    private static HostInfo caller(boolean root) {
        return root ? ROOT : ROOTLESS;
    }

    private static Sandbox.Builder sandbox() {
        return Sandbox.builder().command("/bin/true");
    }

    /** The host id a root caller's sandbox was given, as HostIds would: one number for uid and gid. */
    private static final int SANDBOX_ID = 2_000_000_123;

    private static HostIds.Lease ids(HostInfo host) {
        return host.isHostRoot() ? HostIds.fixed(SANDBOX_ID, SANDBOX_ID) : HostIds.fixed(host.euid(), host.egid());
    }

    /** The plan of a sandbox without a cgroup of its own. */
    private static byte[] compile(Sandbox s, HostInfo host, Path runDir, String hostname) {
        return PlanCompiler.compile(s, host, ids(host), runDir, hostname, List.of(), List.of(), NetPlan.NONE);
    }

    private static Plan plan(Sandbox s, HostInfo host) {
        return PlanDecoder.decode(compile(s, host, RUN_DIR, HOSTNAME));
    }

    private static Plan plan(Sandbox.Builder b, boolean root) {
        return plan(b.build(), caller(root));
    }

    private static int debug() {
        return Session.SETUP_LOG.isDebugEnabled() ? OPT_DEBUG : 0;
    }

    private static long mask(Set<Capability> caps) {
        long m = 0;
        for (Capability c : caps) {
            m |= 1L << c.number();
        }
        return m;
    }

    private static boolean below(String path, String dir) {
        return path.startsWith(dir + "/");
    }

    // ---- namespaces and options ----------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void cloneFlagsCreateAllSevenNamespaces(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.cloneFlags()).isEqualTo(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS
                | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWCGROUP);
        assertThat(p.cloneFlags()).isEqualTo(0x7E020000);
        assertThat(Integer.bitCount(p.cloneFlags())).isEqualTo(7);
        assertThat(p.cloneFlags()).isEqualTo(PlanCompiler.CLONE_NEWUSER | PlanCompiler.CLONE_NEWNS
                | PlanCompiler.CLONE_NEWPID | PlanCompiler.CLONE_NEWUTS | PlanCompiler.CLONE_NEWIPC
                | PlanCompiler.CLONE_NEWNET | PlanCompiler.CLONE_NEWCGROUP);
    }

    /**
     * A pod's container: the pod's IPC and UTS namespaces are joined, not created, and what the
     * sandbox's root may not change there (sysctls, hostname, an mqueue mount) the helper does.
     */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void joinedIpcAndUtsNamespacesAreLeftToTheHelper(boolean root) {
        Sandbox.Builder b = sandbox().ipcNamespace(Path.of("/proc/7/ns/ipc")).utsNamespace(Path.of("/proc/7/ns/uts"))
                .network(dev.crabcan.Network.namespace(Path.of("/proc/7/ns/net")))
                .kernelMount(new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false));
        Plan p = PlanDecoder.decode(PlanCompiler.compile(b.build(), caller(root), ids(caller(root)), RUN_DIR, HOSTNAME,
                List.of(), List.of(), NetPlan.HOST));
        assertThat(p.cloneFlags()).isEqualTo(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWCGROUP);
        assertThat(p.joinedNamespaces()).containsExactly("0x40000000 /proc/7/ns/net", "0x8000000 /proc/7/ns/ipc",
                "0x4000000 /proc/7/ns/uts");
        assertThat(p.joinedSysctls()).isEmpty();
        assertThatThrownBy(() -> sandbox().ipcNamespace(Path.of("/proc/7/ns/ipc")).sysctl("kernel.shm_rmid_forced", "1")
                .build())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("sysctl kernel.shm_rmid_forced belongs to "
                        + "the IPC namespace the sandbox joins (/proc/7/ns/ipc), which only that namespace's root may "
                        + "change");
        assertThat(p.mountAt("/dev/mqueue").flags() & MF_OPEN_IN_PARENT).isEqualTo(MF_OPEN_IN_PARENT);
        // The pod's hostname stays unless the caller names one, which the helper then sets there.
        assertThat(p.hostname()).isNull();
        Plan named = PlanDecoder.decode(PlanCompiler.compile(b.hostname("pod").domainname("example.org").build(),
                caller(root), ids(caller(root)), RUN_DIR, "pod", List.of(), List.of(), NetPlan.HOST));
        assertThat(named.hostname()).isEqualTo("pod");
        assertThat(named.domainname()).isEqualTo("example.org");
        // Its own IPC namespace: the sysctl is the sandbox's to write, and mqueue init's to mount.
        Plan own = plan(sandbox().sysctl("kernel.shm_rmid_forced", "1")
                .kernelMount(new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false)), root);
        assertThat(own.joinedNamespaces()).isEmpty();
        assertThat(own.joinedSysctls()).isEmpty();
        assertThat(own.mountAt("/proc/sys/kernel/shm_rmid_forced").kind()).isEqualTo(M_WRITE);
        assertThat(own.mountAt("/dev/mqueue").flags() & MF_OPEN_IN_PARENT).isZero();
        assertThat(own.hostname()).isEqualTo(HOSTNAME);
        assertThatThrownBy(() -> sandbox().utsNamespace(Path.of("proc/7/ns/uts")))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("the UTS namespace path must be absolute");
    }

    /** joinNamespacesOf: the helper is told which process the /proc/PID paths are, by its start time. */
    @Test
    void namespacesOfAProcessCarryItsPidAndStartTime() {
        Sandbox s = sandbox().network(dev.crabcan.Network.namespace(Path.of("/proc/7/ns/net")))
                .ipcNamespace(Path.of("/proc/7/ns/ipc")).utsNamespace(Path.of("/run/pod/uts")).build();
        Plan p = PlanDecoder.decode(PlanCompiler.compile(s, ROOT, ids(ROOT), RUN_DIR, HOSTNAME, List.of(), List.of(),
                List.of(), NetPlan.HOST, null, dev.crabcan.ContainerHooks.none(),
                new PlanCompiler.JoinTarget(7, 12345, 0, 0)));
        // A path that is not that process's (set again afterwards) is joined as it is.
        assertThat(p.joinedNamespaces()).containsExactly("0x40000000 7@12345 /proc/7/ns/net",
                "0x8000000 7@12345 /proc/7/ns/ipc", "0x4000000 /run/pod/uts");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void hostNetworkKeepsTheHostsNamespaceAndItsInterfacesAlone(boolean root) {
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(root), ids(caller(root)), RUN_DIR, HOSTNAME, List.of(),
                List.of(), NetPlan.HOST));
        assertThat(p.cloneFlags() & CLONE_NEWNET).isZero();
        assertThat(p.cloneFlags()).isEqualTo(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC
                | CLONE_NEWCGROUP);
        assertThat(p.options() & OPT_LOOPBACK_UP).isZero();
        assertThat(p.net()).isNull();
        assertThat(p.veth()).isNull();
        assertThat(p.mountsAt("/etc/resolv.conf")).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void vethNetworkIsMadeByTheHelperAndConfiguresEth0InNetworkByteOrder(boolean root) {
        NetPlan veth = new NetPlan(true, new NetPlan.HostEnd("ccn-0ae70004", true), new NetPlan.Interface("eth0", 0x0ae70006, 30, 0x0ae70005,
                new NetPlan.Ipv6("fd7c:cc::ae7:6", 126, "fd7c:cc::ae7:5"), List.of("169.254.0.0/16", "fe80::/10")),
                "nameserver 10.0.0.53\n", List.of(),
                new NetPlan.Filter("/usr/sbin/nft", "table inet crabcan {\n}\n", "inet crabcan", true));
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(root), ids(caller(root)), RUN_DIR, HOSTNAME, List.of(),
                List.of(), veth));
        assertThat(p.cloneFlags() & CLONE_NEWNET).isEqualTo(CLONE_NEWNET);
        assertThat(p.options() & OPT_LOOPBACK_UP).isEqualTo(OPT_LOOPBACK_UP);
        assertThat(p.net()).isEqualTo(new PlanDecoder.Net(0x0ae70006, 0xfffffffc, 0x0ae70005, "eth0"));
        assertThat(p.veth()).isEqualTo(new PlanDecoder.Veth(VETH_ROUTE_LOCALNET, "ccn-0ae70004"));
        assertThat(p.refused()).containsExactly("169.254.0.0/16", "fe80::/10");
        assertThat(p.net6()).isEqualTo(new PlanDecoder.Net6(126, "fd7c:cc::ae7:6", "fd7c:cc::ae7:5"));
        assertThat(p.netHelper()).isEmpty();
        assertThat(p.netFilter()).isEqualTo(new PlanDecoder.Filter("/usr/sbin/nft", "table inet crabcan {\n}\n", "inet crabcan", true));
        Mount resolv = p.mountAt("/etc/resolv.conf");
        // Its text goes in the plan: a bind of a file in the run directory would name that host path in mountinfo.
        assertThat(resolv.kind()).isEqualTo(M_CONTENT);
        assertThat(resolv.source()).isEqualTo("nameserver 10.0.0.53\n");
        // The helper writes it in the sandbox's /dev tmpfs, which must be mounted first.
        assertThat(p.indexOf("/dev")).isLessThan(p.indexOf("/etc/resolv.conf"));
        // Never created in a caller's root filesystem that lacks it.
        assertThat(resolv.flags() & (MF_RDONLY | MF_FILE | MF_OPTIONAL | MF_NOSUID | MF_NODEV | MF_NOEXEC))
                .isEqualTo(MF_RDONLY | MF_FILE | MF_OPTIONAL | MF_NOSUID | MF_NODEV | MF_NOEXEC);
        assertThat(resolv.flags() & (MF_PRECREATE | MF_IDMAP)).isZero();
    }

    @Test
    void resolvConfIsNeverPrecreatedInACallersRootfs(@TempDir Path rootfs) {
        NetPlan net = new NetPlan(true, null, null, "nameserver 10.0.0.53\n", List.of("/usr/bin/pasta"),
                null);
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().rootfs(rootfs).build(), ROOTLESS, ids(ROOTLESS), RUN_DIR, HOSTNAME,
                List.of(), List.of(), net));
        assertThat(p.mountAt("/etc/resolv.conf").flags() & MF_PRECREATE).isZero();
        assertThat(p.mountAt("/proc").flags() & MF_PRECREATE).isEqualTo(MF_PRECREATE);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aPrivateNetworkNeverHoldsNetRawOrNetAdmin(boolean root) {
        Sandbox.Builder b = sandbox().addCapabilities(Capability.NET_RAW, Capability.NET_ADMIN);
        long raw = 1L << Capability.NET_RAW.number(), admin = 1L << Capability.NET_ADMIN.number();
        Plan none = plan(b, root);
        assertThat(none.capBounding() & (raw | admin)).isEqualTo(raw | admin);
        Plan priv = plan(b.network(dev.crabcan.Network.privateNetwork()), root);
        assertThat(priv.capBounding() & (raw | admin)).isZero();
        assertThat(priv.capEffective() & (raw | admin)).isZero();
        assertThat(priv.capBounding()).isEqualTo(none.capBounding() & ~(raw | admin));
    }

    @Test
    void networkHelperArgumentsAreCarriedInOrder() {
        List<String> argv = List.of("/usr/bin/pasta", "--netns", "/proc/self/fd/3", "--tcp-ports", "127.0.0.1/8080:80");
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), ROOTLESS, ids(ROOTLESS), RUN_DIR, HOSTNAME, List.of(),
                List.of(), new NetPlan(true, null, null, null, argv, null)));
        assertThat(p.netHelper()).isEqualTo(argv);
        assertThat(p.veth()).isNull();
        assertThat(p.net()).isNull();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultOptionsAreNoNewPrivsSetsidAndLoopback(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.options()).isEqualTo(OPT_NO_NEW_PRIVS | OPT_SETSID | OPT_LOOPBACK_UP | debug());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void keepTerminalDropsSetsidOnly(boolean root) {
        Plan p = plan(sandbox().keepTerminal(true), root);
        assertThat(p.options()).isEqualTo(OPT_NO_NEW_PRIVS | OPT_LOOPBACK_UP | debug());
        assertThat(p.options() & OPT_SETSID).isZero();
    }

    @Test
    void noNewPrivilegesFalseDropsNoNewPrivsOnly() {
        Plan p = plan(sandbox().noNewPrivileges(false).seccomp(SeccompPolicy.none()), false);
        assertThat(p.options()).isEqualTo(OPT_SETSID | OPT_LOOPBACK_UP | debug());
        assertThat(p.seccomp()).isNull();
    }

    @Test
    void aRootCallerCannotDropNoNewPrivsWithoutSysAdmin() {
        // Its sandbox always gets the setuid rules, and the kernel installs no filter without no_new_privs.
        assertThatThrownBy(() -> plan(sandbox().noNewPrivileges(false).seccomp(SeccompPolicy.none()), true))
                .isInstanceOf(dev.crabcan.SandboxSpecException.class).hasMessageContaining("noNewPrivileges(true)");
    }

    @Test
    void noNewPrivilegesFalseWithSysAdminKeepsTheFilter() {
        Plan p = plan(sandbox().noNewPrivileges(false).addCapabilities(Capability.SYS_ADMIN), true);
        assertThat(p.options() & OPT_NO_NEW_PRIVS).isZero();
        assertThat(p.seccomp()).isEqualTo(BpfCompiler.compile(SeccompPolicy.defaultPolicy()));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void hostnameAndStagingAreTheGivenOnes(boolean root) {
        byte[] bytes = compile(sandbox().build(), caller(root), Path.of("/run/other dir"), "box-7");
        Plan p = PlanDecoder.decode(bytes);
        assertThat(p.hostname()).isEqualTo("box-7");
        assertThat(p.staging()).isEqualTo("/run/other dir/root");
        assertThat(plan(sandbox(), root).staging()).isEqualTo("/run/test/root");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void withoutACgroupNoCgroupIsJoinedAndNoLaterUnshare(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.cgroupProcs()).isEmpty();
        assertThat(p.options() & OPT_UNSHARE_CGROUP).isZero();
        assertThat(p.cloneFlags() & CLONE_NEWCGROUP).isEqualTo(CLONE_NEWCGROUP);
    }

    @Test
    void stdioPipesFilesAndInheritedFdsAreRecordedAsTheLauncherChose() {
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(false), ids(caller(false)), RUN_DIR, HOSTNAME, List.of(),
                List.of(PlanCompiler.StdioSource.pipe(0), PlanCompiler.StdioSource.file(1, 01, 0666, "/out"),
                        PlanCompiler.StdioSource.inherit(2)), NetPlan.NONE));
        assertThat(p.stdio()).containsExactly(new PlanDecoder.Stdio(0, 0, 0, null),
                new PlanDecoder.Stdio(1, 01, 0666, "/out"));
    }

    /** Ends of SandboxPipes at stdio are passed fds at 0, 1, 2, before the others, in the order the launcher sends them. */
    @Test
    void stdioFromPassedFdsComesBeforeTheOtherPassedFds() throws Exception {
        try (var file = java.nio.channels.FileChannel.open(Path.of("/dev/null"))) {
            Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().passFd(7, file).build(), caller(false),
                    ids(caller(false)), RUN_DIR, HOSTNAME, List.of(), List.of(PlanCompiler.StdioSource.passed(0),
                            PlanCompiler.StdioSource.pipe(1), PlanCompiler.StdioSource.passed(2)), NetPlan.NONE));
            assertThat(p.passedFds()).containsExactly(0, 2, 7);
            assertThat(p.stdio()).containsExactly(new PlanDecoder.Stdio(1, 0, 0, null));
        }
    }

    @Test
    void copiesInAndOutAreRecordedInOrder() {
        Plan p = plan(sandbox().tmpfs(new dev.crabcan.Tmpfs("/box", 4096))
                .copyIn(dev.crabcan.CopyIn.bytes("/box/a", new byte[3]))
                .copyIn(dev.crabcan.CopyIn.bytes("/box/sub//b", new byte[0]).mode(0755).readOnly())
                .copyOut("/box/out", 99), false);
        assertThat(p.copies()).containsExactly(new PlanDecoder.Copy(0644, 0, 0, "/box/a"),
                new PlanDecoder.Copy(0755, MF_RDONLY, 0, "/box/sub/b"), new PlanDecoder.Copy(0, 0, 99, "/box/out"));
    }

    @Test
    void stderrToStdoutIsAnOptionAndGivesFd2NoSourceOfItsOwn() {
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(false), ids(caller(false)), RUN_DIR,
                HOSTNAME, List.of(), List.of(PlanCompiler.StdioSource.pipe(1), PlanCompiler.StdioSource.stderrToStdout()),
                NetPlan.NONE));
        assertThat(p.options() & OPT_STDERR_TO_STDOUT).isEqualTo(OPT_STDERR_TO_STDOUT);
        assertThat(p.stdio()).containsExactly(new PlanDecoder.Stdio(1, 0, 0, null));
        assertThat(plan(sandbox(), false).options() & OPT_STDERR_TO_STDOUT).as("not unless asked").isZero();
    }

    @Test
    void decoderRejectsStderrToStdoutBesideASourceForFd2() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.config(0, OPT_STDERR_TO_STDOUT);
            w.pipe(2);
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("fd 2 is both a copy of fd 1");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void inACgroupTheCgroupNamespaceIsUnsharedOnceInitIsInIt(boolean root) {
        List<Path> procs = List.of(Path.of("/sys/fs/cgroup/memory/crabcan/s1/cgroup.procs"),
                Path.of("/sys/fs/cgroup/pids/crabcan/s1/cgroup.procs"));
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(root), ids(caller(root)), RUN_DIR, HOSTNAME, procs, List.of(), NetPlan.NONE));
        assertThat(p.cgroupProcs()).containsExactly("/sys/fs/cgroup/memory/crabcan/s1/cgroup.procs",
                "/sys/fs/cgroup/pids/crabcan/s1/cgroup.procs");
        // Six namespaces at clone, the cgroup one later (rooted at the sandbox's cgroup).
        assertThat(p.cloneFlags()).isEqualTo(CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS
                | CLONE_NEWIPC | CLONE_NEWNET);
        assertThat(p.options()).isEqualTo(OPT_NO_NEW_PRIVS | OPT_SETSID | OPT_LOOPBACK_UP | OPT_UNSHARE_CGROUP
                | debug());
        // Everything else is as without a cgroup.
        Plan without = plan(sandbox(), root);
        assertThat(p.mounts()).isEqualTo(without.mounts());
        assertThat(p.argv()).isEqualTo(without.argv());
    }

    @Test
    void aSandboxInItsOwnCgroupSeesItReadOnlyAtSysFsCgroupAsRuncShowsIt() {
        List<Path> procs = List.of(Path.of("/sys/fs/cgroup/memory/crabcan/s1/cgroup.procs"));
        int ro = MF_RDONLY | MF_NOSUID | MF_NODEV | MF_NOEXEC;
        Plan v2 = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(true), ids(caller(true)), RUN_DIR,
                HOSTNAME, procs, List.of("cgroup2"), List.of(), NetPlan.NONE));
        assertThat(v2.cgroupfs()).containsExactly(new PlanDecoder.Mount(M_FS, ro, 0, 0, "cgroup2", "/sys/fs/cgroup"));
        assertThat(v2.options() & OPT_UNSHARE_CGROUP).isEqualTo(OPT_UNSHARE_CGROUP);

        Plan v1 = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), caller(false), ids(caller(false)), RUN_DIR,
                HOSTNAME, procs, List.of("cgroup:memory", "cgroup:cpu,cpuacct"), List.of(), NetPlan.NONE));
        assertThat(v1.cgroupfs()).containsExactly(
                new PlanDecoder.Mount(M_TMPFS, ro, 0755, 64 << 10, "", "/sys/fs/cgroup"),
                new PlanDecoder.Mount(M_FS, ro, 0, 0, "cgroup:memory", "/sys/fs/cgroup/memory"),
                new PlanDecoder.Mount(M_FS, ro, 0, 0, "cgroup:cpu,cpuacct", "/sys/fs/cgroup/cpu,cpuacct"),
                new PlanDecoder.Mount(M_SYMLINK, 0, 0, 0, "cpu,cpuacct", "/sys/fs/cgroup/cpu"),
                new PlanDecoder.Mount(M_SYMLINK, 0, 0, 0, "cpu,cpuacct", "/sys/fs/cgroup/cpuacct"));
        // The other mounts are as without it.
        assertThat(v1.mounts()).isEqualTo(plan(sandbox(), false).mounts());
    }

    @Test
    void theCallersOwnMountAtOrBelowSysFsCgroupReplacesTheView() {
        List<Path> procs = List.of(Path.of("/sys/fs/cgroup/crabcan/s1/cgroup.procs"));
        for (Sandbox.Builder b : List.of(
                sandbox().kernelMount(new KernelMount(KernelMount.Type.CGROUP, "/sys/fs/cgroup", true)),
                sandbox().tmpfs("/sys/fs/cgroup/x"), sandbox().maskPaths("/sys/fs/cgroup"))) {
            Plan p = PlanDecoder.decode(PlanCompiler.compile(b.build(), caller(true), ids(caller(true)), RUN_DIR,
                    HOSTNAME, procs, List.of("cgroup2"), List.of(), NetPlan.NONE));
            assertThat(p.cgroupfs()).as("%s", b.build()).isEmpty();
        }
        // A sysfs at /sys is not: the view goes on top of its (empty) /sys/fs/cgroup.
        Plan sysfs = PlanDecoder.decode(PlanCompiler.compile(sandbox().kernelMount(new KernelMount(
                KernelMount.Type.SYSFS, "/sys", true)).build(), caller(true), ids(caller(true)), RUN_DIR, HOSTNAME,
                procs, List.of("cgroup2"), List.of(), NetPlan.NONE));
        assertThat(sysfs.cgroupfs()).hasSize(1);
    }

    @Test
    void decoderRejectsCgroupFileSystemsWithoutTheSandboxsCgroupNamespace() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.cgroupfs(M_FS, MF_RDONLY, 0, 0, "cgroup2", "/sys/fs/cgroup");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("without a cgroup namespace");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.config(0, OPT_UNSHARE_CGROUP);
            w.cgroupfs(M_BIND, MF_RDONLY, 0, 0, "/sys/fs/cgroup", "/sys/fs/cgroup");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("of mount kind 1");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void noRlimitsAreEmittedByDefault(boolean root) {
        assertThat(plan(sandbox(), root).rlimits()).isEmpty();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void rlimitsAreEmittedWithTheKernelsNumbers(boolean root) {
        Limits limits = Limits.builder().rlimit(Rlimit.NOFILE, 64).rlimit(Rlimit.CORE, 0)
                .rlimit(Rlimit.FSIZE, 10, 20).rlimit(Rlimit.AS, Long.MAX_VALUE).build();
        Plan p = plan(sandbox().limits(limits), root);
        assertThat(p.rlimits()).containsExactlyInAnyOrder(new PlanDecoder.Rlimit(7, 64, 64),
                new PlanDecoder.Rlimit(4, 0, 0), new PlanDecoder.Rlimit(1, 10, 20),
                new PlanDecoder.Rlimit(9, -1L, -1L)); // Rlimit.UNLIMITED is RLIM_INFINITY
        assertThat(plan(sandbox().limits(Limits.judge()), root).rlimits()).containsExactlyInAnyOrder(
                new PlanDecoder.Rlimit(7, 64, 64), new PlanDecoder.Rlimit(1, 64L << 20, 64L << 20),
                new PlanDecoder.Rlimit(4, 0, 0));
        // Cgroup limits are not the plan's business.
        assertThat(plan(sandbox().limits(Limits.builder().memory(64L << 20).pids(10).build()), root).rlimits())
                .isEmpty();
    }

    // ---- id maps -------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 1000, 65534, 123456})
    void rootCallerMapsTheSandboxUidToItsAllocatedHostId(int uid) {
        Plan p = plan(sandbox().uid(uid).build(), ROOT);
        assertThat(p.uidMap()).isEqualTo(uid + " " + SANDBOX_ID + " 1\n");
        assertThat(p.gidMap()).isEqualTo(uid + " " + SANDBOX_ID + " 1\n");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 1, 1000, 123456})
    void rootlessCallerMapsTheSandboxUidToItsOwnIds(int uid) {
        Plan p = plan(sandbox().uid(uid).build(), ROOTLESS);
        assertThat(p.uidMap()).isEqualTo(uid + " 1000 1\n");
        assertThat(p.gidMap()).isEqualTo(uid + " 1001 1\n");
    }

    @Test
    void idmapMapsArePresentForARootCallerOnly() {
        Plan root = plan(sandbox().uid(1000).build(), ROOT);
        assertThat(root.idmapUidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n");
        assertThat(root.idmapGidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n");

        Plan rootWithGroup = plan(sandbox().build(), HostInfo.of(0, 50, "6.1.0"));
        assertThat(rootWithGroup.idmapUidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n");
        assertThat(rootWithGroup.idmapGidMap()).isEqualTo("50 " + SANDBOX_ID + " 1\n");
        assertThat(rootWithGroup.gidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n");

        Plan rootless = plan(sandbox().uid(1000).build(), ROOTLESS);
        assertThat(rootless.idmapUidMap()).isNull();
        assertThat(rootless.idmapGidMap()).isNull();
    }

    /** The host gids a root caller's sandbox leased for its groups, as HostIds would: ids of the range, none a host id. */
    private static final List<Integer> GROUP_IDS = List.of(2_000_000_200, 2_000_000_201, 2_000_000_202);

    private static HostIds.Lease withGroups(int id, List<Integer> groupGids) {
        return new HostIds.Lease() {
            @Override
            public int uid() {
                return id;
            }

            @Override
            public int gid() {
                return id;
            }

            @Override
            public List<Integer> groupGids() {
                return groupGids;
            }

            @Override
            public void pin(long pid) {}

            @Override
            public void release() {}
        };
    }

    /**
     * A root caller's sandbox holds each supplementary group as the host gid leased for it, never the
     * host group of that number; its root file system (a directory or an image's layers) shows its
     * files of each group as that group, binds and the default root file system do not.
     */
    @Test
    void aRootCallersGroupsAreItsLeasedHostGidsAndItsRootFileSystemsGroups(@TempDir Path rootfs) throws IOException {
        Sandbox s = sandbox().uid(1000).supplementaryGroups(List.of(5, 1000, 0, 10)).rootfs(rootfs)
                .bind(rootfs, "/data", false).build();
        Plan p = PlanDecoder.decode(PlanCompiler.compile(s, ROOT, withGroups(SANDBOX_ID, GROUP_IDS), RUN_DIR, HOSTNAME,
                List.of(), List.of(), NetPlan.NONE));
        assertThat(p.options() & OPT_SETGROUPS).isEqualTo(OPT_SETGROUPS);
        assertThat(p.gidMap()).isEqualTo("1000 " + SANDBOX_ID + " 1\n5 2000000200 1\n0 2000000201 1\n10 2000000202 1\n");
        assertThat(p.uidMap()).isEqualTo("1000 " + SANDBOX_ID + " 1\n");
        // Binds: the caller's own ids only. The root: its group 0 is the caller's, which the first line gives.
        assertThat(p.idmapGidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n");
        assertThat(p.idmapRootGidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n5 2000000200 1\n10 2000000202 1\n");
        assertThat(p.mountAt("/data").has(MF_IDMAP)).isTrue();

        Plan image = PlanDecoder.decode(PlanCompiler.compile(sandbox().supplementaryGroups(List.of(5))
                .image(twoLayerImage(rootfs)).build(), ROOT, withGroups(SANDBOX_ID, GROUP_IDS.subList(0, 1)), RUN_DIR,
                HOSTNAME, List.of(), List.of(), NetPlan.NONE));
        assertThat(image.idmapRootGidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n5 2000000200 1\n");

        Plan hostRootfs = PlanDecoder.decode(PlanCompiler.compile(sandbox().supplementaryGroups(List.of(5)).build(),
                ROOT, withGroups(SANDBOX_ID, GROUP_IDS.subList(0, 1)), RUN_DIR, HOSTNAME, List.of(), List.of(),
                NetPlan.NONE));
        assertThat(hostRootfs.gidMap()).isEqualTo("0 " + SANDBOX_ID + " 1\n5 2000000200 1\n");
        assertThat(hostRootfs.idmapRootGidMap()).as("the host's own directories are not idmapped").isNull();

        Plan none = plan(sandbox().rootfs(rootfs).build(), ROOT);
        assertThat(none.idmapRootGidMap()).isNull();
        assertThat(none.options() & OPT_SETGROUPS).isZero();
    }

    /** The helper refuses a root file system's gid map without an idmapped root to use it for. */
    @Test
    void theHelperRefusesARootIdmapWithoutAnIdmappedRoot() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.idmapRootGidMap("0 2000000000 1\n");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("a root idmap gid map goes with an idmapped root");
    }

    /**
     * An engine's overlay root, remade by the helper: its layers, upper directory, work directory
     * and options reach it; it is made in the parent and idmapped, or refused.
     */
    @Test
    void aHostOverlayRootReachesTheHelperOnlyIdmappedAndMadeInTheParent() {
        int both = MF_OPEN_IN_PARENT | MF_IDMAP;
        Plan p = PlanDecoder.decode(hostOverlayPlan(both, "/s/overlay/c1/diff", "/s/overlay/c1/work/crabcan"));
        assertThat(p.root()).isEqualTo(new Root(ROOT_HOST_OVERLAY, both, "/s/overlay/c1/diff",
                List.of("/s/overlay/l1/diff"), List.of("/s/overlay/c1/merged", "/s/overlay/c1/work/crabcan",
                        "metacopy=on,index=off")));
        assertThatThrownBy(() -> PlanDecoder.decode(hostOverlayPlan(MF_IDMAP, "/s/overlay/c1/diff", "/w")))
                .isInstanceOf(BadPlanException.class).hasMessageContaining("a host overlay root is made in the parent");
        assertThatThrownBy(() -> PlanDecoder.decode(hostOverlayPlan(MF_OPEN_IN_PARENT, "/s/overlay/c1/diff", "/w")))
                .isInstanceOf(BadPlanException.class).hasMessageContaining("a host overlay root is made in the parent");
        assertThatThrownBy(() -> PlanDecoder.decode(hostOverlayPlan(both, "", "/w"))).as("a work directory alone")
                .isInstanceOf(BadPlanException.class).hasMessageContaining("with a work directory if it has an upper one");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.hostOverlay("/m", "/w", "");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("a host overlay record goes with a host overlay");
    }

    private static byte[] hostOverlayPlan(int flags, String upper, String work) {
        PlanWriter w = new PlanWriter();
        w.uidMap("0 2000000000 1\n");
        w.gidMap("0 2000000000 1\n");
        w.idmapUidMap("0 2000000000 1\n");
        w.idmapGidMap("0 2000000000 1\n");
        w.staging("/run/test");
        w.root(ROOT_HOST_OVERLAY, flags, upper);
        w.hostOverlay("/s/overlay/c1/merged", work, "metacopy=on,index=off");
        w.layer("/s/overlay/l1/diff");
        w.arg("/bin/true");
        return w.toByteArray();
    }

    @Test
    void aSandboxTakesAtMost128SupplementaryGroups(@TempDir Path rootfs) {
        List<Integer> many = java.util.stream.IntStream.range(0, Sandbox.MAX_SUPPLEMENTARY_GROUPS + 1).boxed().toList();
        assertThatThrownBy(() -> sandbox().supplementaryGroups(many)).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("at most 128 supplementary groups, got 129");
        // The most, each with the longest ids, still fits the kernel's page.
        List<Integer> most = java.util.stream.IntStream.range(0, Sandbox.MAX_SUPPLEMENTARY_GROUPS)
                .mapToObj(i -> Integer.MAX_VALUE - i).toList();
        List<Integer> hostGids = java.util.stream.IntStream.range(0, most.size()).mapToObj(i -> 2_000_000_000 + i)
                .toList();
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().uid(Integer.MAX_VALUE - 200)
                .supplementaryGroups(most).rootfs(rootfs).build(), ROOT, withGroups(SANDBOX_ID, hostGids), RUN_DIR,
                HOSTNAME, List.of(), List.of(), NetPlan.NONE));
        assertThat(p.gidMap().lines()).hasSize(Sandbox.MAX_SUPPLEMENTARY_GROUPS + 1);
        assertThat(p.gidMap().length()).isLessThan(4096);
        assertThat(p.idmapRootGidMap().length()).isLessThan(4096);
    }

    @Test
    void onlyTheEffectiveUidMakesARootCaller() {
        // Only euid decides: a caller with egid 0 but euid 1000 is rootless.
        Plan p = plan(sandbox().build(), HostInfo.of(1000, 0, "6.1.0"));
        assertThat(p.uidMap()).isEqualTo("0 1000 1\n");
        assertThat(p.gidMap()).isEqualTo("0 0 1\n");
        assertThat(p.idmapUidMap()).isNull();
    }

    @Test
    void rootWithoutHostPrivilegeRunsAsItselfWithTheRootCallersRules() {
        // Root of a user namespace, or a container's root without CAP_SYS_ADMIN: it cannot map host ids
        // of its choice nor idmap binds, so its sandbox runs as the caller; files it makes belong to that
        // root, so the rules against privileged files still hold.
        HostInfo userNamespaceRoot = HostInfo.rootWithoutHostPrivilege(0, "6.1.0");
        Plan p = plan(sandbox().uid(1000).bind(Path.of("/tmp"), "/data", false)
                .addCapabilities(Capability.SETFCAP, Capability.FSETID).seccomp(SeccompPolicy.none()).build(),
                userNamespaceRoot);
        assertThat(p.uidMap()).isEqualTo("1000 0 1\n");
        assertThat(p.gidMap()).isEqualTo("1000 0 1\n");
        assertThat(p.idmapUidMap()).isNull();
        assertThat(p.idmapGidMap()).isNull();
        assertThat(p.mountAt("/data").flags() & (MF_IDMAP | MF_OPEN_IN_PARENT)).isZero();
        assertThat(p.mountAt("/usr").flags() & MF_OPEN_IN_PARENT).isZero();
        assertThat(p.capBounding() & (1L << Capability.SETFCAP.number() | 1L << Capability.FSETID.number())).isZero();
        assertThat(p.seccomp()).isEqualTo(BpfCompiler.compile(SeccompPolicy.none().withRootCallerRulesFirst()));
    }

    @Test
    void aHostThatRefusedAHostnameAndAProcGetsNeither() {
        HostInfo container = HostInfo.rootWithoutHostPrivilege(0, "6.1.0");
        assertThat(plan(sandbox().build(), container).hostname()).isEqualTo(HOSTNAME);
        assertThat(plan(sandbox().build(), container).mountAt("/proc").kind()).isEqualTo(M_PROC);
        container.adaptTo(new dev.crabcan.SandboxSetupException("hostname", 1, "EPERM"), false);
        container.adaptTo(new dev.crabcan.SandboxSetupException("proc", 1, "EPERM"), false);
        Plan subset = plan(sandbox().build(), container);
        assertThat(subset.hostname()).isNull();
        assertThat(subset.mountAt("/proc")).isEqualTo(new Mount(M_FS, NOSUID_NODEV | MF_NOEXEC, 0, 0,
                "proc:subset=pid", "/proc"));
        container.adaptTo(new dev.crabcan.SandboxSetupException("proc", 1, "EPERM"), false);
        assertThat(plan(sandbox().build(), container).mountAt("/proc")).isEqualTo(new Mount(M_TMPFS,
                MF_RDONLY | NOSUID_NODEV | MF_NOEXEC, 0555, 4096, "", "/proc"));
    }

    // ---- the default root filesystem -----------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultRootIsAReadOnlyTmpfs(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.root()).isEqualTo(new Root(ROOT_TMPFS, MF_RDONLY | MF_NOSUID | MF_NODEV, ""));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultRootfsBindsUsrAndEtcReadOnly(boolean root) {
        Plan p = plan(sandbox(), root);
        int expected = MF_RDONLY | NOSUID_NODEV | (root ? MF_OPEN_IN_PARENT : 0);
        for (String dir : List.of("/usr", "/etc")) {
            assertThat(p.mountAt(dir)).isEqualTo(new Mount(M_BIND, expected, 0, 0, dir, dir));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultRootfsRecreatesTheHostsLinksAndBindsItsDirectories(boolean root) throws IOException {
        Plan p = plan(sandbox(), root);
        List<String> expectedOrder = new ArrayList<>();
        for (String dir : List.of("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64")) {
            Path host = Path.of(dir);
            if (Files.isSymbolicLink(host)) {
                assertThat(p.mountAt(dir))
                        .isEqualTo(new Mount(M_SYMLINK, 0, 0, 0, Files.readSymbolicLink(host).toString(), dir));
                expectedOrder.add(dir);
            } else if (Files.isDirectory(host)) {
                assertThat(p.mountAt(dir)).isEqualTo(new Mount(M_BIND,
                        MF_RDONLY | NOSUID_NODEV | (root ? MF_OPEN_IN_PARENT : 0), 0, 0, dir, dir));
                expectedOrder.add(dir);
            } else {
                assertThat(p.mountsAt(dir)).isEmpty();
            }
        }
        // They come first, before /proc, in this order.
        assertThat(p.mounts().subList(0, expectedOrder.size()).stream().map(Mount::target).toList())
                .isEqualTo(expectedOrder);
        assertThat(p.mounts().get(expectedOrder.size()).target()).isEqualTo("/proc");
    }

    @Test
    void onThisUsrMergedDebianHostBinLibAndSbinAreLinks() throws IOException {
        assumeTrue(Files.isSymbolicLink(Path.of("/bin")), "not a usr-merged host");
        Plan p = plan(sandbox(), false);
        assertThat(p.mountAt("/bin")).isEqualTo(new Mount(M_SYMLINK, 0, 0, 0, "usr/bin", "/bin"));
        assertThat(p.mountAt("/sbin")).isEqualTo(new Mount(M_SYMLINK, 0, 0, 0, "usr/sbin", "/sbin"));
        assertThat(p.mountAt("/lib")).isEqualTo(new Mount(M_SYMLINK, 0, 0, 0, "usr/lib", "/lib"));
        if (Files.isSymbolicLink(Path.of("/lib64"))) {
            assertThat(p.mountAt("/lib64")).isEqualTo(new Mount(M_SYMLINK, 0, 0, 0,
                    Files.readSymbolicLink(Path.of("/lib64")).toString(), "/lib64"));
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultRootfsPrecreatesNothing(boolean root, @TempDir Path dir) throws IOException {
        Path file = Files.writeString(dir.resolve("f"), "x");
        Plan p = plan(sandbox().bind(dir, "/a", true).bind(file, "/data/f", false).tmpfs("/scratch"), root);
        assertThat(p.mounts()).isNotEmpty().noneMatch(m -> m.has(MF_PRECREATE));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultRootfsIsNeverIdmapped(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.root().has(MF_IDMAP)).isFalse();
        assertThat(p.mounts()).noneMatch(m -> m.has(MF_IDMAP));
    }

    // ---- a user root filesystem ----------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userRootfsIsAReadOnlyBind(boolean root, @TempDir Path dir) throws IOException {
        Plan p = plan(sandbox().rootfs(dir), root);
        int parent = root ? MF_OPEN_IN_PARENT | MF_IDMAP : 0;
        assertThat(p.root()).isEqualTo(new Root(ROOT_BIND, MF_RDONLY | NOSUID_NODEV | parent,
                dir.toRealPath().toString()));
        // None of the default root filesystem.
        for (String d : List.of("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64")) {
            assertThat(p.mountsAt(d)).isEmpty();
        }
        assertThat(p.mounts().get(0).target()).isEqualTo("/proc");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void writableUserRootfsIsNotReadOnly(boolean root, @TempDir Path dir) {
        Plan p = plan(sandbox().rootfs(dir).rootfsWritable(true), root);
        assertThat(p.root().kind()).isEqualTo(ROOT_BIND);
        assertThat(p.root().flags()).isEqualTo(NOSUID_NODEV | (root ? MF_OPEN_IN_PARENT | MF_IDMAP : 0));
    }

    // ---- an image's root filesystem ------------------------------------------------------------

    /** An image of two layers (a directory, then a file), committed to a store in {@code dir}. */
    private static dev.crabcan.image.Image twoLayerImage(Path dir) throws IOException {
        dev.crabcan.internal.image.Store store = dev.crabcan.internal.image.Store.open(dir.resolve("store"));
        List<dev.crabcan.image.Image.Layer> layers = new ArrayList<>();
        for (dev.crabcan.internal.image.Tar.Entry e : List.of(dev.crabcan.internal.image.Tar.Entry.directory("bin", 0755, 0, 0, 0),
                dev.crabcan.internal.image.Tar.Entry.file("bin/x", 0755, 0, 0, 0, 0))) {
            java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
            dev.crabcan.internal.image.Tar.Writer w = new dev.crabcan.internal.image.Tar.Writer(b);
            w.put(e);
            w.finish();
            layers.add(store.putBlob(b.toByteArray()).asLayer());
        }
        try (var held = store.use()) {
            return store.commit(dev.crabcan.image.ImageConfig.builder().build(), layers, List.of(),
                    java.util.Optional.empty());
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void imageRootIsAReadOnlyOverlayOfItsLayersTopMostFirstWithMountPointsMadeInside(boolean root, @TempDir Path dir)
            throws IOException {
        dev.crabcan.image.Image image = twoLayerImage(dir);
        Plan p = plan(sandbox().image(image), root);
        Path layers = dir.resolve("store/layers");
        int parent = root ? MF_OPEN_IN_PARENT | MF_IDMAP : 0;
        assertThat(p.root()).isEqualTo(new Root(ROOT_OVERLAY, MF_RDONLY | NOSUID_NODEV | parent, "",
                List.of(layers.resolve(image.layers().get(1).digest().hex()).toString(),
                        layers.resolve(image.layers().get(0).digest().hex()).toString())));
        assertThat(p.mounts()).as("never in a layer").noneMatch(m -> m.has(MF_PRECREATE));
        for (String d : List.of("/usr", "/etc", "/bin")) {
            assertThat(p.mountsAt(d)).isEmpty();
        }
        assertThat(plan(sandbox().image(image).rootfsWritable(true), root).root().flags())
                .isEqualTo(NOSUID_NODEV | parent);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userRootfsGivenThroughALinkIsItsRealPath(boolean root, @TempDir Path dir) throws IOException {
        Path real = Files.createDirectory(dir.resolve("real"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        assertThat(plan(sandbox().rootfs(link), root).root().path()).isEqualTo(real.toRealPath().toString());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void precreateMarksTopLevelMountPointsOnly(boolean root, @TempDir Path dir) throws IOException {
        Path rootfs = Files.createDirectory(dir.resolve("rootfs"));
        Path src = Files.createDirectory(dir.resolve("src"));
        Path file = Files.writeString(dir.resolve("file"), "x");
        Plan p = plan(sandbox().rootfs(rootfs)
                .bind(src, "/a", true)
                .bind(src, "/a/b", false)
                .bind(src, "/ab", true)          // shares a prefix with /a but is not below it
                .bind(file, "/data/f", true)
                .bind(src, "/tmp/in", true)      // below the sandbox's own /tmp
                .bind(src, "/dev/extra", true)   // below /dev
                .tmpfs("/scratch")
                .tmpfs("/a/c"), root);

        List<String> precreated = List.of("/proc", "/dev", "/tmp", "/a", "/ab", "/data/f", "/scratch");
        List<String> nested = List.of("/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom",
                "/dev/tty", "/dev/shm", "/a/b", "/a/c", "/tmp/in", "/dev/extra");
        for (String t : precreated) {
            assertThat(p.mountAt(t).has(MF_PRECREATE)).as("PRECREATE on %s", t).isTrue();
        }
        for (String t : nested) {
            assertThat(p.mountAt(t).has(MF_PRECREATE)).as("no PRECREATE on %s", t).isFalse();
        }
        // /proc hardening is below /proc; links are never precreated.
        assertThat(p.mounts()).filteredOn(m -> below(m.target(), "/proc")).isNotEmpty()
                .noneMatch(m -> m.has(MF_PRECREATE));
        assertThat(p.mounts()).filteredOn(m -> m.kind() == M_SYMLINK).isNotEmpty()
                .noneMatch(m -> m.has(MF_PRECREATE));
        // And in general: exactly the non-link mounts not below an earlier mount.
        for (int i = 0; i < p.mounts().size(); i++) {
            Mount m = p.mounts().get(i);
            boolean nestedBelowEarlier = p.mounts().subList(0, i).stream().anyMatch(e -> below(m.target(), e.target()));
            assertThat(m.has(MF_PRECREATE)).as("PRECREATE on %s", m)
                    .isEqualTo(m.kind() != M_SYMLINK && !nestedBelowEarlier);
        }
        // A file target is precreated as a file.
        assertThat(p.mountAt("/data/f").has(MF_FILE)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userRootfsMountsHaveOnlyTheFlagsTheyHadPlusPrecreate(boolean root, @TempDir Path dir) {
        // The rootfs only adds PRECREATE; every other flag is as with the default rootfs.
        Plan withDefault = plan(sandbox(), root);
        Plan withRootfs = plan(sandbox().rootfs(dir), root);
        List<Mount> stripped = withRootfs.mounts().stream()
                .map(m -> new Mount(m.kind(), m.flags() & ~MF_PRECREATE, m.mode(), m.size(), m.source(), m.target()))
                .toList();
        List<Mount> systemMounts = withDefault.mounts().stream()
                .filter(m -> !List.of("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib64").contains(m.target()))
                .toList();
        assertThat(stripped).isEqualTo(systemMounts);
    }

    // ---- /proc, /dev, /tmp ---------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void procIsANosuidNodevNoexecProcfs(boolean root) {
        assertThat(plan(sandbox(), root).mountAt("/proc"))
                .isEqualTo(new Mount(M_PROC, MF_NOSUID | MF_NODEV | MF_NOEXEC, 0, 0, "", "/proc"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void devIsATmpfsThatAllowsDevices(boolean root) {
        Plan p = plan(sandbox(), root);
        Mount dev = p.mountAt("/dev");
        assertThat(dev).isEqualTo(new Mount(M_TMPFS, MF_NOSUID | MF_NOEXEC, 0755, 0, "", "/dev"));
        assertThat(dev.has(MF_NODEV)).isFalse();
        assertThat(p.indexOf("/dev")).isGreaterThan(p.indexOf("/proc"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void deviceNodesAreBoundFromTheHostAsFiles(boolean root) {
        Plan p = plan(sandbox(), root);
        int dev = p.indexOf("/dev");
        for (String d : DEVICES) {
            Mount m = p.mountAt("/dev/" + d);
            assertThat(m).isEqualTo(new Mount(M_BIND, MF_FILE | MF_NOSUID | MF_NOEXEC | (root ? MF_OPEN_IN_PARENT : 0),
                    0, 0, "/dev/" + d, "/dev/" + d));
            assertThat(m.has(MF_NODEV)).as("nodev on /dev/%s", d).isFalse();
            assertThat(m.has(MF_RDONLY)).isFalse();
            assertThat(m.has(MF_IDMAP)).isFalse();
            assertThat(p.mounts().indexOf(m)).isGreaterThan(dev);
        }
        // Nothing else is bound from the host's /dev.
        assertThat(p.mounts()).filteredOn(m -> m.kind() == M_BIND && below(m.source(), "/dev"))
                .extracting(Mount::target)
                .containsExactlyElementsOf(DEVICES.stream().map(d -> "/dev/" + d).toList());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void devHasTheStdioLinks(boolean root) {
        Plan p = plan(sandbox(), root);
        Map<String, String> links = new LinkedHashMap<>();
        links.put("/dev/fd", "/proc/self/fd");
        links.put("/dev/stdin", "/proc/self/fd/0");
        links.put("/dev/stdout", "/proc/self/fd/1");
        links.put("/dev/stderr", "/proc/self/fd/2");
        links.forEach((target, source) -> {
            assertThat(p.mountAt(target)).isEqualTo(new Mount(M_SYMLINK, 0, 0, 0, source, target));
            assertThat(p.indexOf(target)).isGreaterThan(p.indexOf("/dev"));
        });
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void devShmIsAStickyTmpfs(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.mountAt("/dev/shm")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 0, "", "/dev/shm"));
        assertThat(p.indexOf("/dev/shm")).isGreaterThan(p.indexOf("/dev"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void tmpIsAStickyTmpfs(boolean root) {
        assertThat(plan(sandbox(), root).mountAt("/tmp"))
                .isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 0, "", "/tmp"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void tmpIsLeftOutWhenTheUserBindsTmp(boolean root, @TempDir Path dir) throws IOException {
        Plan p = plan(sandbox().bind(dir, "/tmp", false), root);
        Mount tmp = p.mountAt("/tmp");
        assertThat(tmp.kind()).isEqualTo(M_BIND);
        assertThat(tmp.source()).isEqualTo(dir.toRealPath().toString());
        // Also when the target is written with a trailing or doubled slash.
        assertThat(plan(sandbox().bind(dir, "/tmp/", false), root).mountAt("/tmp").kind()).isEqualTo(M_BIND);
        assertThat(plan(sandbox().bind(dir, "//tmp", false), root).mountAt("/tmp").kind()).isEqualTo(M_BIND);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void tmpIsLeftOutWhenTheUserMountsATmpfsAtTmp(boolean root) {
        Plan p = plan(sandbox().tmpfs("/tmp", 1 << 20), root);
        assertThat(p.mountAt("/tmp")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 1 << 20, "", "/tmp"));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void tmpStaysWhenTheUserMountsBelowIt(boolean root, @TempDir Path dir) {
        Plan p = plan(sandbox().bind(dir, "/tmp/in", true).tmpfs("/tmpx"), root);
        assertThat(p.mountAt("/tmp")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 0, "", "/tmp"));
        assertThat(p.indexOf("/tmp")).isLessThan(p.indexOf("/tmp/in"));
    }

    // ---- /proc hardening -----------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void procKnobsAreBoundReadOnlyOverThemselves(boolean root) {
        Plan p = plan(sandbox(), root);
        int proc = p.indexOf("/proc");
        for (String path : PROC_READ_ONLY) {
            Mount m = p.mountAt(path);
            assertThat(m).isEqualTo(new Mount(M_INNER_BIND, MF_RDONLY | MF_NOSUID | MF_NODEV | MF_NOEXEC | MF_OPTIONAL,
                    0, 0, path, path));
            assertThat(p.mounts().indexOf(m)).isGreaterThan(proc);
        }
        assertThat(PlanCompiler.PROC_READ_ONLY).containsExactlyInAnyOrderElementsOf(PROC_READ_ONLY);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void procMaskedPathsAreHiddenAfterProcAndDevNull(boolean root) {
        Plan p = plan(sandbox(), root);
        int proc = p.indexOf("/proc");
        int dev = p.indexOf("/dev");
        int devNull = p.indexOf(M_BIND, "/dev/null");
        for (String path : PROC_MASKED) {
            Mount m = p.mountAt(path);
            if (Files.isDirectory(Path.of(path))) {
                assertThat(m).isEqualTo(new Mount(M_TMPFS,
                        MF_RDONLY | MF_NOSUID | MF_NODEV | MF_NOEXEC | MF_OPTIONAL, 0555, 4096, "", path));
            } else {
                // /dev/null of the new root, so not nodev: reading the device through it must work.
                assertThat(m).isEqualTo(new Mount(M_INNER_BIND, MF_RDONLY | MF_NOSUID | MF_NOEXEC | MF_OPTIONAL,
                        0, 0, "/dev/null", path));
            }
            int i = p.mounts().indexOf(m);
            assertThat(i).as("%s after /proc", path).isGreaterThan(proc);
            assertThat(i).as("%s after /dev", path).isGreaterThan(dev);
            assertThat(i).as("%s after the /dev/null bind", path).isGreaterThan(devNull);
        }
        assertThat(PlanCompiler.PROC_MASKED).containsExactlyInAnyOrderElementsOf(PROC_MASKED);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void everyInnerBindComesAfterItsSourceAndTarget(boolean root, @TempDir Path dir) {
        // An inner bind opens both its source and its target inside the new root: whatever provides
        // them must already be mounted.
        for (Plan p : List.of(plan(sandbox(), root), plan(sandbox().rootfs(dir), root))) {
            for (int i = 0; i < p.mounts().size(); i++) {
                Mount m = p.mounts().get(i);
                if (m.kind() != M_INNER_BIND) {
                    continue;
                }
                for (String path : List.of(m.source(), m.target())) {
                    int provider = -1;
                    for (int j = 0; j < p.mounts().size(); j++) {
                        Mount e = p.mounts().get(j);
                        if (e != m && (path.equals(e.target()) || below(path, e.target()))
                                && e.kind() != M_INNER_BIND) {
                            provider = Math.max(provider, j);
                        }
                    }
                    assertThat(provider).as("%s is provided by a mount", path).isGreaterThanOrEqualTo(0);
                    assertThat(i).as("%s after what provides %s", m, path).isGreaterThan(provider);
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void onlyTheProcHardeningIsOptional(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.mounts()).filteredOn(m -> m.has(MF_OPTIONAL)).extracting(Mount::target)
                .containsExactlyInAnyOrderElementsOf(
                        java.util.stream.Stream.concat(PROC_READ_ONLY.stream(), PROC_MASKED.stream()).toList());
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void systemMountsComeInTheDocumentedOrder(boolean root, @TempDir Path dir) {
        Plan p = plan(sandbox().rootfs(dir), root);
        List<String> targets = p.mounts().stream().map(Mount::target).toList();
        List<String> expected = new ArrayList<>(List.of("/proc", "/dev"));
        DEVICES.forEach(d -> expected.add("/dev/" + d));
        expected.addAll(List.of("/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr", "/dev/shm", "/tmp"));
        expected.addAll(PROC_READ_ONLY);
        expected.addAll(PROC_MASKED);
        assertThat(targets).isEqualTo(expected);
    }

    // ---- user binds and tmpfs ------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userBindFlags(boolean root, @TempDir Path dir) throws IOException {
        Path ro = Files.createDirectory(dir.resolve("ro"));
        Path rw = Files.createDirectory(dir.resolve("rw"));
        Path file = Files.writeString(dir.resolve("file.txt"), "x");
        Plan p = plan(sandbox().bind(ro, "/in", true).bind(rw, "/out", false).bind(file, "/etc/data.txt", true)
                .bind(file, "/rwfile", false), root);
        int parent = root ? MF_OPEN_IN_PARENT | MF_IDMAP : 0;
        assertThat(p.mountAt("/in")).isEqualTo(new Mount(M_BIND, NOSUID_NODEV | MF_RDONLY | parent, 0, 0,
                ro.toRealPath().toString(), "/in"));
        assertThat(p.mountAt("/out")).isEqualTo(new Mount(M_BIND, NOSUID_NODEV | parent, 0, 0,
                rw.toRealPath().toString(), "/out"));
        assertThat(p.mountAt("/etc/data.txt")).isEqualTo(new Mount(M_BIND,
                NOSUID_NODEV | MF_RDONLY | MF_FILE | parent, 0, 0, file.toRealPath().toString(), "/etc/data.txt"));
        assertThat(p.mountAt("/rwfile")).isEqualTo(new Mount(M_BIND, NOSUID_NODEV | MF_FILE | parent, 0, 0,
                file.toRealPath().toString(), "/rwfile"));
        for (String t : List.of("/in", "/out", "/etc/data.txt", "/rwfile")) {
            assertThat(p.mountAt(t).has(MF_IDMAP)).as("IDMAP on %s", t).isEqualTo(root);
            assertThat(p.mountAt(t).has(MF_OPEN_IN_PARENT)).as("OPEN_IN_PARENT on %s", t).isEqualTo(root);
            assertThat(p.mountAt(t).has(MF_NOEXEC)).isFalse();
        }
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userBindsComeAfterTheSystemMountsInTheirOrder(boolean root, @TempDir Path dir) throws IOException {
        Path a = Files.createDirectory(dir.resolve("a"));
        Path b = Files.createDirectory(dir.resolve("b"));
        Plan p = plan(sandbox().bind(b, "/z", true).bind(a, "/y", false).bind(a, "/dev/extra", true), root);
        List<Mount> mounts = p.mounts();
        List<Mount> user = mounts.subList(mounts.size() - 3, mounts.size());
        assertThat(user).extracting(Mount::target).containsExactly("/z", "/y", "/dev/extra");
        assertThat(user).extracting(Mount::source)
                .containsExactly(b.toRealPath().toString(), a.toRealPath().toString(), a.toRealPath().toString());
        int lastMask = PROC_MASKED.stream().mapToInt(p::indexOf).max().orElseThrow();
        assertThat(p.indexOf("/z")).isGreaterThan(lastMask);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userBindSourceGivenThroughALinkIsItsRealPath(boolean root, @TempDir Path dir) throws IOException {
        Path real = Files.createDirectory(dir.resolve("real"));
        Path link = Files.createSymbolicLink(dir.resolve("link"), real);
        Path fileLink = Files.createSymbolicLink(dir.resolve("flink"), Files.writeString(dir.resolve("f"), "x"));
        Plan p = plan(sandbox().bind(link, "/in", true).bind(fileLink, "/f", true), root);
        assertThat(p.mountAt("/in").source()).isEqualTo(real.toRealPath().toString());
        assertThat(p.mountAt("/in").has(MF_FILE)).isFalse();
        assertThat(p.mountAt("/f").source()).isEqualTo(dir.resolve("f").toRealPath().toString());
        assertThat(p.mountAt("/f").has(MF_FILE)).isTrue();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void userTmpfsSizeAndMode(boolean root) {
        Plan p = plan(sandbox().tmpfs("/scratch", 64L << 20).tmpfs("/big", 5L << 30).tmpfs("/default"), root);
        assertThat(p.mountAt("/scratch")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 64L << 20, "", "/scratch"));
        assertThat(p.mountAt("/big")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 5L << 30, "", "/big"));
        assertThat(p.mountAt("/default")).isEqualTo(new Mount(M_TMPFS, NOSUID_NODEV, 01777, 0, "", "/default"));
        List<String> targets = p.mounts().stream().map(Mount::target).toList();
        assertThat(targets.subList(targets.size() - 3, targets.size())).containsExactly("/scratch", "/big", "/default");
    }

    /** A bind below a tmpfs must be mounted after it, or the tmpfs hides it. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aBindBelowAUserTmpfsIsMountedAfterIt(boolean root, @TempDir Path dir) throws IOException {
        Path rootfs = Files.createDirectory(dir.resolve("rootfs"));
        Path in = Files.createDirectory(dir.resolve("in"));
        Plan p = plan(sandbox().tmpfs("/work").bind(in, "/work/in", true), root);
        assertThat(p.indexOf("/work/in")).isGreaterThan(p.indexOf("/work"));
        // With a host rootfs, /work/in is then made inside the tmpfs, not precreated in the rootfs.
        Plan withRootfs = plan(sandbox().rootfs(rootfs).tmpfs("/work").bind(in, "/work/in", true), root);
        assertThat(withRootfs.indexOf("/work/in")).isGreaterThan(withRootfs.indexOf("/work"));
        assertThat(withRootfs.mountAt("/work/in").has(MF_PRECREATE)).isFalse();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void everyUserMountComesAfterEveryMountAboveIt(boolean root, @TempDir Path dir) {
        // Binds nested in binds, in the order given.
        Plan p = plan(sandbox().bind(dir, "/a", true).bind(dir, "/a/b", false).bind(dir, "/a/b/c", true), root);
        assertThat(p.indexOf("/a")).isLessThan(p.indexOf("/a/b"));
        assertThat(p.indexOf("/a/b")).isLessThan(p.indexOf("/a/b/c"));
        // Tmpfs nested in tmpfs, in the order given.
        Plan t = plan(sandbox().tmpfs("/x").tmpfs("/x/y"), root);
        assertThat(t.indexOf("/x")).isLessThan(t.indexOf("/x/y"));
    }

    // ---- credentials and capabilities ----------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void credsAreTheSandboxUid(boolean root) {
        Plan p0 = plan(sandbox(), root);
        assertThat(p0.uid()).isZero();
        assertThat(p0.gid()).isZero();
        Plan p1000 = plan(sandbox().uid(1000), root);
        assertThat(p1000.uid()).isEqualTo(1000);
        assertThat(p1000.gid()).isEqualTo(1000);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void uid0KeepsTheDefaultCapabilities(boolean root) {
        Plan p = plan(sandbox(), root);
        long kept = mask(Capability.DEFAULT_KEPT);
        assertThat(kept).isEqualTo((1L << 0) | (1L << 3) | (1L << 5) | (1L << 6) | (1L << 7) | (1L << 8)
                | (1L << 10) | (1L << 13) | (1L << 18));
        assertThat(p.capBounding()).isEqualTo(kept);
        assertThat(p.capEffective()).isEqualTo(kept);
        assertThat(p.capPermitted()).isEqualTo(kept);
        assertThat(p.capInheritable()).isZero();
        assertThat(p.capAmbient()).isZero();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void nonZeroUidHoldsNoCapabilitiesButTheBoundingSetIsTheKeptSet(boolean root) {
        Plan p = plan(sandbox().uid(1000), root);
        assertThat(p.capBounding()).isEqualTo(mask(Capability.DEFAULT_KEPT));
        assertThat(p.capEffective()).isZero();
        assertThat(p.capPermitted()).isZero();
        assertThat(p.capInheritable()).isZero();
        assertThat(p.capAmbient()).isZero();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void customCapabilitiesAreHonoured(boolean root) {
        Set<Capability> keep = EnumSet.of(Capability.NET_BIND_SERVICE, Capability.CHECKPOINT_RESTORE,
                Capability.MAC_OVERRIDE);
        long expected = (1L << 10) | (1L << 40) | (1L << 32);
        Plan p = plan(sandbox().capabilities(keep), root);
        assertThat(p.capBounding()).isEqualTo(expected);
        assertThat(p.capEffective()).isEqualTo(expected);
        assertThat(p.capPermitted()).isEqualTo(expected);
        assertThat(p.capInheritable()).isZero();
        assertThat(p.capAmbient()).isZero();

        Plan user = plan(sandbox().capabilities(keep).uid(1), root);
        assertThat(user.capBounding()).isEqualTo(expected);
        assertThat(user.capEffective()).isZero();
        assertThat(user.capPermitted()).isZero();

        Plan added = plan(sandbox().addCapabilities(Capability.SYS_PTRACE).dropCapabilities(Capability.CHOWN), root);
        long addedMask = (mask(Capability.DEFAULT_KEPT) | (1L << 19)) & ~1L;
        assertThat(added.capBounding()).isEqualTo(addedMask);
        assertThat(added.capEffective()).isEqualTo(addedMask);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aRootCallersSandboxNeverHoldsSetfcapOrFsetid(boolean root) {
        long asked = mask(Capability.DEFAULT_KEPT) | (1L << Capability.SETFCAP.number())
                | (1L << Capability.FSETID.number());
        Plan p = plan(sandbox().addCapabilities(Capability.SETFCAP, Capability.FSETID), root);
        // Rootless, file capabilities and setgid bits are the caller's own and give nothing.
        long expected = root ? mask(Capability.DEFAULT_KEPT) : asked;
        assertThat(p.capBounding()).isEqualTo(expected);
        assertThat(p.capEffective()).isEqualTo(expected);
        assertThat(p.capPermitted()).isEqualTo(expected);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void allFiveSetsAreCarriedAndTheDeniedOnesLeaveEverySet(boolean root) {
        Set<Capability> all = EnumSet.of(Capability.NET_BIND_SERVICE, Capability.SETFCAP, Capability.FSETID,
                Capability.NET_RAW, Capability.CHOWN);
        long bind = 1L << Capability.NET_BIND_SERVICE.number(), chown = 1L << Capability.CHOWN.number();
        Plan p = plan(sandbox().uid(1000).network(dev.crabcan.Network.privateNetwork()).capabilities(all)
                .permittedCapabilities(all).effectiveCapabilities(EnumSet.of(Capability.CHOWN, Capability.SETFCAP))
                .inheritableCapabilities(all).ambientCapabilities(all), root);
        // A private network never holds NET_RAW; a root caller's sandbox never SETFCAP or FSETID.
        long allowed = bind | chown | (root ? 0 : (1L << Capability.SETFCAP.number())
                | (1L << Capability.FSETID.number()));
        assertThat(new long[] {p.capBounding(), p.capPermitted(), p.capInheritable(), p.capAmbient()})
                .containsOnly(allowed);
        assertThat(p.capEffective()).isEqualTo(chown | (root ? 0 : 1L << Capability.SETFCAP.number()));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void oomScoreAdjAndUnlimitedRlimitsReachThePlan(boolean root) {
        Plan p = plan(sandbox().oomScoreAdj(-999).limits(dev.crabcan.Limits.builder()
                .rlimit(dev.crabcan.Rlimit.MEMLOCK, 1 << 20, dev.crabcan.Rlimit.UNLIMITED)
                .rlimit(dev.crabcan.Rlimit.RTPRIO, 5).build()), root);
        assertThat(p.oomScoreAdj()).isEqualTo(-999);
        assertThat(p.rlimits()).contains(new PlanDecoder.Rlimit(8, 1 << 20, -1L), new PlanDecoder.Rlimit(14, 5, 5));
        assertThat(plan(sandbox(), root).oomScoreAdj()).isNull();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void noCapabilitiesMeansEmptySets(boolean root) {
        Plan p = plan(sandbox().capabilities(Set.of()), root);
        assertThat(new long[] {p.capBounding(), p.capEffective(), p.capPermitted(), p.capInheritable(),
                p.capAmbient()}).containsOnly(0L);
    }

    // ---- seccomp -------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void defaultSeccompFilterIsTheCompiledDefaultPolicy(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.seccomp()).isNotNull().isNotEmpty();
        assertThat(p.seccomp().length % 8).isZero();
        assertThat(p.seccomp()).isEqualTo(BpfCompiler.compile(SeccompPolicy.defaultPolicy()));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void noFilterMeansOnlyTheSetuidRulesForARootCaller(boolean root) {
        assertThat(plan(sandbox().seccomp(SeccompPolicy.none()), root).seccomp())
                .isEqualTo(root ? BpfCompiler.compile(SeccompPolicy.none().withRootCallerRulesFirst()) : null);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void customSeccompPolicyIsCompiled(boolean root) {
        SeccompPolicy policy = SeccompPolicy.defaultPolicy().toBuilder().build();
        assertThat(plan(sandbox().seccomp(policy), root).seccomp()).isEqualTo(BpfCompiler.compile(policy));
        SeccompPolicy empty = SeccompPolicy.none().toBuilder().build();
        byte[] emptyFilter = plan(sandbox().seccomp(empty), root).seccomp();
        // A root caller's policy always has the setuid rules in front.
        assertThat(emptyFilter).isNotNull()
                .isEqualTo(BpfCompiler.compile(root ? empty.withRootCallerRulesFirst() : empty));
        assertThat(emptyFilter.length % 8).isZero();
    }

    // ---- argv, env, cwd ------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void argvIsPassedExactly(boolean root) {
        List<String> argv = List.of("/bin/echo", "", "héllo wörld", "日本語 ✓ 𝄞", "a b\tc\nd", "--x=y", "$HOME", "'\"",
                " ");
        assertThat(plan(sandbox().command(argv), root).argv()).isEqualTo(argv);
        assertThat(plan(sandbox().command("sh"), root).argv()).containsExactly("sh");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void longArgvIsPassedExactly(boolean root) {
        List<String> argv = new ArrayList<>();
        argv.add("/bin/true");
        for (int i = 0; i < 1000; i++) {
            argv.add("arg-" + i + "-" + "x".repeat(i % 50));
        }
        assertThat(plan(sandbox().command(argv), root).argv()).isEqualTo(argv);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void envIsOnlyTheDefaultPathByDefault(boolean root) {
        Plan p = plan(sandbox(), root);
        assertThat(p.env()).containsExactly("PATH=" + Sandbox.DEFAULT_PATH);
        assertThat(p.searchPath()).isEqualTo(Sandbox.DEFAULT_PATH);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void envKeepsTheUsersVariablesInOrderAndAddsPath(boolean root) {
        Plan p = plan(sandbox().env("ZED", "1").env("A", "").env("UNI", "ünï=cødé ✓").env("LANG", "C.UTF-8"), root);
        assertThat(p.env()).containsExactly("ZED=1", "A=", "UNI=ünï=cødé ✓", "LANG=C.UTF-8",
                "PATH=" + Sandbox.DEFAULT_PATH);
        assertThat(p.searchPath()).isEqualTo(Sandbox.DEFAULT_PATH);
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aUserPathReplacesTheDefaultAndIsTheSearchPath(boolean root) {
        Plan p = plan(sandbox().env("HOME", "/root").env("PATH", "/opt/bin:/bin"), root);
        assertThat(p.env()).containsExactly("HOME=/root", "PATH=/opt/bin:/bin");
        assertThat(p.searchPath()).isEqualTo("/opt/bin:/bin");

        Plan replaced = plan(sandbox().environment(Map.of("PATH", "/x")), root);
        assertThat(replaced.env()).containsExactly("PATH=/x");
        assertThat(replaced.searchPath()).isEqualTo("/x");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void cwdIsTheWorkingDirectory(boolean root) {
        assertThat(plan(sandbox(), root).cwd()).isEqualTo("/");
        assertThat(plan(sandbox().workingDirectory("/work/dir ü"), root).cwd()).isEqualTo("/work/dir ü");
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void compilingIsDeterministic(boolean root, @TempDir Path dir) {
        Sandbox s = sandbox().rootfs(dir).bind(dir, "/in", true).tmpfs("/t", 4096).env("X", "y").build();
        assertThat(compile(s, caller(root), RUN_DIR, HOSTNAME)).isEqualTo(compile(s, caller(root), RUN_DIR, HOSTNAME));
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void everyMountKindAndFlagIsOneTheHelperKnows(boolean root, @TempDir Path dir) {
        int knownFlags = MF_RDONLY | MF_FILE | MF_IDMAP | MF_PRECREATE | MF_OPEN_IN_PARENT | MF_NOSUID | MF_NODEV
                | MF_NOEXEC | MF_OPTIONAL;
        for (Plan p : List.of(plan(sandbox().bind(dir, "/in", false).tmpfs("/t"), root),
                plan(sandbox().rootfs(dir).bind(dir, "/in", false).tmpfs("/t"), root))) {
            assertThat(p.root().flags() & ~knownFlags).isZero();
            for (Mount m : p.mounts()) {
                assertThat(m.kind()).isIn(M_BIND, M_TMPFS, M_PROC, M_SYMLINK, M_INNER_BIND, M_CONTENT);
                assertThat(m.flags() & ~knownFlags).as("%s", m).isZero();
                // Only binds from the host are opened in the parent or idmapped.
                if (m.kind() != M_BIND) {
                    assertThat(m.has(MF_OPEN_IN_PARENT) || m.has(MF_IDMAP)).as("%s", m).isFalse();
                }
                // Symlinks carry no flags; only tmpfs carry a mode or size.
                if (m.kind() == M_SYMLINK) {
                    assertThat(m.flags()).isZero();
                }
                if (m.kind() != M_TMPFS) {
                    assertThat(m.mode()).isZero();
                    assertThat(m.size()).isZero();
                }
                assertThat(m.target()).startsWith("/");
                // Every mount the sandbox can write through is nosuid.
                if (m.kind() != M_SYMLINK) {
                    assertThat(m.has(MF_NOSUID)).as("nosuid on %s", m).isTrue();
                }
            }
        }
    }

    @Test
    void theDecoderReadsTheWholePlanAndTheHeaderLength() {
        byte[] bytes = compile(sandbox().build(), ROOT, RUN_DIR, HOSTNAME);
        ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(b.getInt(0)).isEqualTo(0x31425243);
        assertThat(new String(bytes, 0, 4, StandardCharsets.US_ASCII)).isEqualTo("CRB1");
        assertThat(b.getInt(4)).isEqualTo(bytes.length - 8);
    }

    // ---- OCI exec and terminals -----------------------------------------------------------------

    /** A sandbox's own session keyring (an OCI container's) is named in its plan and in an exec's; none by default. */
    @Test
    void aSessionKeyringIsNamedForTheSandboxAndForAnExec() {
        assertThat(plan(sandbox(), true).sessionKeyring()).isNull();
        Sandbox s = sandbox().sessionKeyring("_ses.c1").build();
        assertThat(plan(s, ROOTLESS).sessionKeyring()).isEqualTo("_ses.c1");
        assertThat(PlanDecoder.decode(PlanCompiler.compileJoin(s, ROOT, new PlanCompiler.JoinTarget(4000, 123, 4001, 124),
                List.of(), List.of(), false)).sessionKeyring()).isEqualTo("_ses.c1");
    }

    @Test
    void anExecJoinsTheSandboxWithTheProcessOfItsSpecAndNothingOfItsOwnSetup() {
        Sandbox s = sandbox().capabilities(java.util.Set.of(Capability.KILL, Capability.SETFCAP)).kernelMount(KernelMount.Type.DEVPTS,
                "/dev/pts", false).terminal(Terminal.sentTo(Path.of("/run/console.sock")).withSize(30, 100)).build();
        Plan p = PlanDecoder.decode(PlanCompiler.compileJoin(s, ROOT, new PlanCompiler.JoinTarget(4000, 123, 4001, 124),
                List.of(Path.of("/sys/fs/cgroup/pids/c/cgroup.procs")), List.of(), true));
        assertThat(p.join()).isEqualTo(new PlanDecoder.Join(4000, 4001, 123, 124));
        assertThat(p.console()).isEqualTo(new PlanDecoder.Console(30, 100, "/run/console.sock"));
        assertThat(p.cloneFlags()).isEqualTo(PlanCompiler.CLONE_NEWUSER | PlanCompiler.CLONE_NEWNS
                | PlanCompiler.CLONE_NEWPID | PlanCompiler.CLONE_NEWUTS | PlanCompiler.CLONE_NEWIPC
                | PlanCompiler.CLONE_NEWCGROUP | PlanCompiler.CLONE_NEWNET);
        assertThat(p.options() & (OPT_DETACHED | OPT_NO_NEW_PRIVS | OPT_SETSID))
                .isEqualTo(OPT_DETACHED | OPT_NO_NEW_PRIVS | OPT_SETSID);
        assertThat(p.cgroupProcs()).containsExactly("/sys/fs/cgroup/pids/c/cgroup.procs");
        // A root caller's rules hold for an exec'd process as for the sandbox's own.
        assertThat(p.capBounding()).isEqualTo(1L << Capability.KILL.number());
        assertThat(p.seccomp()).isNotNull();
        assertThat(p.uidMap()).isNull();
        assertThat(p.root()).isNull();
        assertThat(p.mounts()).isEmpty();
        assertThatThrownBy(() -> PlanCompiler.compileJoin(s, ROOT, new PlanCompiler.JoinTarget(4000, 123, 0, 0),
                List.of(), List.of(PlanCompiler.StdioSource.pipe(1)), false)).hasMessageContaining("piped stdio");
        // Groups the sandbox cannot give are refused before a helper runs, not by the kernel once it joined:
        // a root caller's sandbox gives those its user namespace maps (this JVM's maps every group).
        Sandbox grouped = sandbox().supplementaryGroups(List.of(5)).build();
        long self = ProcessHandle.current().pid();
        assertThat(PlanDecoder.decode(PlanCompiler.compileJoin(grouped, ROOT, new PlanCompiler.JoinTarget(self, 123, 0,
                0), List.of(), List.of(), false)).options() & OPT_SETGROUPS).isEqualTo(OPT_SETGROUPS);
        assertThatThrownBy(() -> PlanCompiler.compileJoin(grouped, ROOTLESS, new PlanCompiler.JoinTarget(self, 123, 0,
                0), List.of(), List.of(), false)).hasMessageContaining("supplementaryGroups [5]: an ordinary user's "
                + "sandbox maps the caller's own group only");
    }

    @Test
    void theHelperRefusesAJoiningPlanWithASandboxsOwnSetup() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.join(4000, 0, 1, 0);
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("a joining plan has a sandbox's own setup");
    }

    @Test
    void aTerminalNeedsTheSandboxsOwnDevpts() {
        assertThatThrownBy(() -> sandbox().terminal(Terminal.sentTo(Path.of("/run/c.sock"))).build())
                .hasMessageContaining("a terminal is made in the sandbox's own devpts");
        assertThatThrownBy(() -> Terminal.sentTo(Path.of("relative.sock"))).hasMessageContaining("absolute path");
        assertThat(plan(sandbox().kernelMount(KernelMount.Type.DEVPTS, "/dev/pts", false)
                .terminal(Terminal.sentTo(Path.of("/run/c.sock"))), true).console())
                .isEqualTo(new PlanDecoder.Console(0, 0, "/run/c.sock"));
    }

    // ---- the helper's parser (parse_plan, through crabcan-helper --check-plan) -----------------

    private static byte[] validPlan() {
        return compile(sandbox().build(), ROOTLESS, RUN_DIR, HOSTNAME);
    }

    private static byte[] withHeader(byte[] body) {
        return ByteBuffer.allocate(8 + body.length).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(PLAN_MAGIC).putInt(body.length).put(body).array();
    }

    private static byte[] body(byte[] plan) {
        return Arrays.copyOfRange(plan, 8, plan.length);
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        ByteBuffer b = ByteBuffer.allocate(n);
        for (byte[] p : parts) {
            b.put(p);
        }
        return b.array();
    }

    private static byte[] record(int tag, byte[] payload) {
        return ByteBuffer.allocate(8 + payload.length).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(tag).putInt(payload.length).put(payload).array();
    }

    /** A minimal plan the helper accepts, with one record appended as it is, for records the writer would not make. */
    private static byte[] minimalWithRaw(int tag, byte[] payload) {
        return withHeader(concat(body(minimalWith(w -> w)), record(tag, payload)));
    }

    private static byte[] ints(int... values) {
        ByteBuffer b = ByteBuffer.allocate(4 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (int v : values) {
            b.putInt(v);
        }
        return b.array();
    }

    private static byte[] longs(long... values) {
        ByteBuffer b = ByteBuffer.allocate(8 * values.length).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        return b.array();
    }

    private static byte[] str(String s) {
        return concat(s.getBytes(StandardCharsets.UTF_8), new byte[1]);
    }

    /** A minimal plan the helper accepts, with one extra record appended. */
    private static byte[] minimalWith(UnaryOperator<PlanWriter> extra) {
        PlanWriter w = new PlanWriter();
        w.uidMap("0 1000 1\n");
        w.gidMap("0 1000 1\n");
        w.staging("/run/test");
        w.root(ROOT_TMPFS, 0, "");
        w.arg("/bin/true");
        extra.apply(w);
        return w.toByteArray();
    }

    @Test
    void decoderAcceptsACompiledPlanAndAMinimalOne() {
        assertThat(PlanDecoder.decode(validPlan()).argv()).containsExactly("/bin/true");
        Plan minimal = PlanDecoder.decode(minimalWith(w -> w));
        assertThat(minimal.mounts()).isEmpty();
        assertThat(minimal.seccomp()).isNull();
        assertThat(minimal.hostname()).isNull();
    }

    @Test
    void decoderReadsRlimits() {
        Plan p = PlanDecoder.decode(minimalWith(w -> {
            w.rlimit(7, 64, 128);
            w.rlimit(3, -1, -1);
            return w;
        }));
        assertThat(p.rlimits()).containsExactly(new PlanDecoder.Rlimit(7, 64, 128), new PlanDecoder.Rlimit(3, -1, -1));
    }

    @Test
    void decoderRejectsABadMagic() {
        byte[] plan = validPlan();
        plan[0] ^= 1;
        assertThatThrownBy(() -> PlanDecoder.decode(plan)).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("header");
        assertThatThrownBy(() -> PlanDecoder.decode(new byte[4])).isInstanceOf(BadPlanException.class);
        assertThatThrownBy(() -> PlanDecoder.decode(new byte[0])).isInstanceOf(BadPlanException.class);
    }

    @Test
    void decoderRejectsAWrongBodyLength() {
        byte[] plan = validPlan();
        ByteBuffer b = ByteBuffer.wrap(plan).order(ByteOrder.LITTLE_ENDIAN);
        int length = b.getInt(4);
        b.putInt(4, length + 1);
        assertThatThrownBy(() -> PlanDecoder.decode(plan)).isInstanceOf(BadPlanException.class);
        b.putInt(4, length - 1);
        assertThatThrownBy(() -> PlanDecoder.decode(plan)).isInstanceOf(BadPlanException.class);
        b.putInt(4, -1); // 4 GiB: more than the helper's 8 MiB buffer
        assertThatThrownBy(() -> PlanDecoder.decode(plan)).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("header");
        b.putInt(4, length);
        assertThatThrownBy(() -> PlanDecoder.decode(Arrays.copyOf(plan, plan.length + 8)))
                .isInstanceOf(BadPlanException.class);
        assertThat(PlanDecoder.decode(plan).argv()).containsExactly("/bin/true");
    }

    @Test
    void decoderRejectsATruncatedRecord() {
        byte[] body = body(validPlan());
        // Fewer than 8 bytes left for a record header.
        assertThatThrownBy(() -> PlanDecoder.decode(withHeader(concat(body, new byte[] {1, 0, 0, 0}))))
                .isInstanceOf(BadPlanException.class).hasMessageContaining("truncated");
        // A record whose length runs past the end of the plan.
        byte[] cut = Arrays.copyOf(body, body.length - 1);
        assertThatThrownBy(() -> PlanDecoder.decode(withHeader(cut))).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("overruns");
        byte[] overrun = concat(body, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
                .putInt(T_ARG).putInt(-8).array());
        assertThatThrownBy(() -> PlanDecoder.decode(withHeader(overrun))).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("overruns");
    }

    @ParameterizedTest
    @ValueSource(ints = {0, 53, 99, -1, 5 | 0x100})
    void decoderRejectsUnknownTags(int tag) {
        byte[] plan = withHeader(concat(body(validPlan()), record(tag, new byte[] {'x', 0})));
        assertThatThrownBy(() -> PlanDecoder.decode(plan)).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("unknown record");
    }

    @Test
    void decoderRejectsBadFixedSizeRecords() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_CONFIG, ints(1, 2, 3)))).isInstanceOf(BadPlanException.class).hasMessageContaining("config");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_CREDS, ints(0)))).isInstanceOf(BadPlanException.class).hasMessageContaining("credentials");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_CAPS, longs(1, 2, 3, 4)))).isInstanceOf(BadPlanException.class).hasMessageContaining("capabilities");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_SECCOMP, new byte[12]))).isInstanceOf(BadPlanException.class).hasMessageContaining("seccomp");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_SECCOMP, new byte[0]))).isInstanceOf(BadPlanException.class).hasMessageContaining("seccomp");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_SECCOMP, new byte[8 * 4097]))).isInstanceOf(BadPlanException.class).hasMessageContaining("seccomp");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_RLIMIT, new byte[16]))).isInstanceOf(BadPlanException.class).hasMessageContaining("rlimit");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_ROOT, new byte[8]))).isInstanceOf(BadPlanException.class);
    }

    @Test
    void decoderRejectsNamespacesJoinedTwiceOrAlsoCreated() {
        byte[] ipc = concat(ints(CLONE_NEWIPC, 0), longs(0), str("/proc/7/ns/ipc"));
        assertThat(PlanDecoder.decode(minimalWithRaw(T_JOIN_NS, ipc)).joinedNamespaces())
                .containsExactly("0x8000000 /proc/7/ns/ipc");
        assertThatThrownBy(() -> PlanDecoder.decode(withHeader(concat(body(validPlan()), record(T_JOIN_NS, ipc)))))
                .isInstanceOf(BadPlanException.class).hasMessageContaining("both joined (/proc/7/ns/ipc) and created");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.joinNs(CLONE_NEWUTS, 0, 0, "/a");
            w.joinNs(CLONE_NEWUTS, 0, 0, "/b");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("bad or repeated namespace to join");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.joinNs(CLONE_NEWPID, 0, 0, "/proc/7/ns/pid");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("bad or repeated namespace to join");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.joinedSysctl("kernel/shm_rmid_forced", "1");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("sysctls for joined namespaces without any");
    }

    @Test
    void decoderRejectsBadMountRecords() {
        // Too short to hold the fixed part and two strings.
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_MOUNT, new byte[25]))).isInstanceOf(BadPlanException.class);
        // No NUL after the target.
        byte[] noNul = ByteBuffer.allocate(28).order(ByteOrder.LITTLE_ENDIAN).putInt(M_TMPFS).putInt(0).putInt(0)
                .putInt(0).putLong(0).put((byte) 0).put((byte) '/').put((byte) 't').put((byte) 'x').array();
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_MOUNT, noNul))).isInstanceOf(BadPlanException.class);
        // An empty source is fine, as in the helper.
        Plan p = PlanDecoder.decode(minimalWith(w -> {
            w.mount(M_TMPFS, MF_NOSUID, 0700, 99, "", "/t");
            return w;
        }));
        assertThat(p.mounts()).containsExactly(new Mount(M_TMPFS, MF_NOSUID, 0700, 99, "", "/t"));
        // More than the helper's 256 mounts.
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            for (int i = 0; i < 257; i++) {
                w.mount(M_TMPFS, 0, 0, 0, "", "/t" + i);
            }
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("too many");
    }

    @Test
    void decoderRejectsBadStrings() {
        // Empty (no NUL at all), unterminated, and with an inner NUL.
        for (byte[] payload : List.of(new byte[0], new byte[] {'a'}, new byte[] {'a', 0, 'b', 0})) {
            assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_ENV, payload))).isInstanceOf(BadPlanException.class).hasMessageContaining("not a string");
        }
        // The empty string is a single NUL, and allowed.
        assertThat(PlanDecoder.decode(minimalWithRaw(T_ARG, str(""))).argv()).containsExactly("/bin/true", "");
    }

    @Test
    void decoderRejectsAnIncompletePlan() {
        PlanWriter w = new PlanWriter();
        w.uidMap("0 1000 1\n");
        w.gidMap("0 1000 1\n");
        w.staging("/run/test");
        w.root(ROOT_TMPFS, 0, "");
        assertThatThrownBy(() -> PlanDecoder.decode(w.toByteArray())).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("incomplete");
        PlanWriter noRoot = new PlanWriter();
        noRoot.uidMap("0 1000 1\n");
        noRoot.gidMap("0 1000 1\n");
        noRoot.staging("/run/test");
        noRoot.arg("/bin/true");
        assertThatThrownBy(() -> PlanDecoder.decode(noRoot.toByteArray())).isInstanceOf(BadPlanException.class)
                .hasMessageContaining("incomplete");
    }

    @Test
    void decoderRejectsARepeatedSingleRecord() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_UID_MAP, str("0 0 1\n")))).isInstanceOf(BadPlanException.class).hasMessageContaining("twice");
    }

    @Test
    void decoderRejectsTwoSourcesForOneFd() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.pipe(1);
            w.stdio(1, 01, 0666, "/out");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("two sources for fd 1");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(w -> {
            w.stdio(2, 01, 0666, "/a");
            w.stdio(2, 01, 0666, "/b");
            return w;
        }))).isInstanceOf(BadPlanException.class).hasMessageContaining("two sources for fd 2");
    }

    // ---- records of detached sandboxes and OCI configs ------------------------------------------

    @Test
    void aDetachedSandboxNamesItsReleaseFifo() {
        Path fifo = Path.of("/run/test/c1/release");
        Plan p = PlanDecoder.decode(PlanCompiler.compile(sandbox().build(), ROOTLESS, ids(ROOTLESS), RUN_DIR, HOSTNAME,
                List.of(), List.of(), NetPlan.NONE, fifo, dev.crabcan.ContainerHooks.none()));
        assertThat(p.detach()).isEqualTo(fifo.toString());
        assertThat(plan(sandbox(), false).detach()).isNull();
    }

    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void aUmaskIsPassedOnOnlyWhenSet(boolean root) {
        assertThat(plan(sandbox().umask(027), root).umask()).isEqualTo(027);
        assertThat(plan(sandbox().umask(0), root).umask()).isZero();
        assertThat(plan(sandbox(), root).umask()).isNull();
    }

    @Test
    void decoderReadsTheDetachAndUmaskRecords() {
        Plan p = PlanDecoder.decode(minimalWith(w -> {
            w.detach("/run/test/tab\there");
            w.umask(0777);
            return w;
        }));
        assertThat(p.detach()).isEqualTo("/run/test/tab\there");
        assertThat(p.umask()).isEqualTo(0777);
    }

    @Test
    void decoderRejectsBadDetachAndUmaskRecords() {
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_UMASK, ints(01000)))).isInstanceOf(BadPlanException.class).hasMessageContaining("umask");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_UMASK, longs(022)))).isInstanceOf(BadPlanException.class).hasMessageContaining("umask");
        assertThatThrownBy(() -> PlanDecoder.decode(minimalWithRaw(T_DETACH, new byte[] {'/', 'f'}))).isInstanceOf(BadPlanException.class).hasMessageContaining("not a string");
        for (UnaryOperator<PlanWriter> twice : List.<UnaryOperator<PlanWriter>>of(w -> {
            w.detach("/a");
            w.detach("/b");
            return w;
        }, w -> {
            w.umask(022);
            w.umask(077);
            return w;
        })) {
            assertThatThrownBy(() -> PlanDecoder.decode(minimalWith(twice))).isInstanceOf(BadPlanException.class)
                    .hasMessageContaining("twice");
        }
    }

    // ---- the helper's limits --------------------------------------------------------------------

    /** What the helper's tables cannot hold is refused by build(), not by the helper at start(). */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void theHelpersLimitsAreCheckedWhenTheSpecIsBuilt(boolean root, @TempDir Path dir) {
        String[] args = new String[MAX_ARGS + 1];
        java.util.Arrays.fill(args, "x");
        assertThatThrownBy(() -> Sandbox.builder().command(args).build()).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("32769 arguments").hasMessageContaining("at most 32768");
        Map<String, String> env = new java.util.HashMap<>();
        for (int i = 0; i < MAX_ENV; i++) {
            env.put("V" + i, "x");
        }
        assertThatThrownBy(() -> sandbox().environment(env).build()).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("8193 variables with PATH");
        // Arguments and environment must leave the plan within PLAN_MAX, however few they are.
        String big = "x".repeat(1 << 20);
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true", big, big, big, big, big).build())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("at most " + PLAN_MAX + " bytes");
        assertThatThrownBy(() -> sandbox().environment(Map.of("A", big, "B", big, "C", big, "D", big, "E", big)).build())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("pass long arguments or environment in a file");
        assertThat(plan(sandbox().command("/bin/true", big, big, big, big), root).argv().get(4)).isEqualTo(big);
        // The most binds that build() lets through still fit the helper's table once compiled.
        Sandbox.Builder many = sandbox();
        int n = 0;
        while (true) {
            Sandbox.Builder next = sandbox();
            for (int i = 0; i <= n; i++) {
                next.bind(dir, "/m" + i, true);
            }
            try {
                next.build();
            } catch (SandboxSpecException e) {
                assertThat(e).hasMessageContaining("the helper makes at most 256");
                break;
            }
            many = next;
            n++;
        }
        assertThat(n).as("binds allowed beside the sandbox's own mounts").isGreaterThan(200);
        assertThat(plan(many, root).mounts()).hasSizeLessThanOrEqualTo(MAX_MOUNTS);
    }

    /** podman's ping sysctl, written by the helper in a joined namespace: the sandbox's one group, as a host id. */
    @Test
    void pingGroupRangeOfAJoinedNetworkNamespaceNamesTheHostGroup() {
        assertThat(PlanCompiler.hostIdsIn("net.ipv4.ping_group_range", "0 0", 0, 2000001)).isEqualTo("2000001 2000001");
        assertThat(PlanCompiler.hostIdsIn("net.ipv4.ping_group_range", "0 2147483647", 1000, 7))
                .isEqualTo("7 7");
        assertThat(PlanCompiler.hostIdsIn("net.ipv4.ping_group_range", "1 0", 0, 7)).isEqualTo("1 0");
        assertThat(PlanCompiler.hostIdsIn("net.ipv4.ip_unprivileged_port_start", "0", 0, 7)).isEqualTo("0");
        assertThatThrownBy(() -> PlanCompiler.hostIdsIn("net.ipv4.ping_group_range", "x", 0, 7))
                .hasMessageContaining("must be two group ids");
    }
}
