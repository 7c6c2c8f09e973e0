package dev.crabcan.internal.oci;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Atime;
import dev.crabcan.Bind;
import dev.crabcan.Capability;
import dev.crabcan.KernelMount;
import dev.crabcan.Limits;
import dev.crabcan.Propagation;
import dev.crabcan.Rlimit;
import dev.crabcan.Network;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.SeccompAction;
import dev.crabcan.SeccompPolicy;
import dev.crabcan.Syscall;
import dev.crabcan.internal.cgroup.CgroupTuning;
import dev.crabcan.internal.cgroup.CgroupTuning.Knob;
import dev.crabcan.internal.host.HostInfo;
import dev.crabcan.internal.json.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

class OciConfigTest {
    private static final String MINIMAL = """
            {"ociVersion": "1.0.2", "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh"], "cwd": "/"},
             "root": {"path": "rootfs"},
             "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                      {"type": "mount"}]}}""";

    @TempDir
    Path bundle;

    /** Propagation options: the last one of a mount wins, and its r form means the same (binds are recursive). */
    @Test
    void propagationOfMountsAndTheRootFileSystem() throws Exception {
        Map<String, Object> c = json(MINIMAL);
        Files.createDirectory(bundle.resolve("rootfs"));
        c.put("mounts", List.of(
                Map.of("destination", "/a", "type", "bind", "source", "/", "options", List.of("rbind", "rslave")),
                Map.of("destination", "/b", "type", "bind", "source", "/", "options", List.of("bind", "shared")),
                Map.of("destination", "/c", "type", "tmpfs", "source", "tmpfs", "options", List.of("rshared",
                        "runbindable")),
                Map.of("destination", "/d", "type", "bind", "source", "/", "options", List.of("rslave", "rprivate"))));
        at(c, "linux").put("rootfsPropagation", "slave");
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.propagations()).containsExactly(Map.entry("/", Propagation.SLAVE),
                Map.entry("/a", Propagation.SLAVE), Map.entry("/b", Propagation.SHARED),
                Map.entry("/c", Propagation.UNBINDABLE));
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        assertThat(Sandbox.fromOciBundle(bundle).propagations()).isEqualTo(s.propagations());
    }

    /** additionalGids become the sandbox's supplementary groups; whether the caller may map them is the start's to check. */
    @Test
    void additionalGidsAreTheSupplementaryGroups() throws Exception {
        Map<String, Object> c = json(MINIMAL);
        Files.createDirectory(bundle.resolve("rootfs"));
        at(at(c, "process"), "user").put("additionalGids", List.of(0L, 5L, 10L));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.supplementaryGroups()).containsExactly(0, 5, 10);
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        assertThat(Sandbox.fromOciBundle(bundle).supplementaryGroups()).containsExactly(0, 5, 10);
        at(at(c, "process"), "user").put("additionalGids", List.of(-1L));
        assertThatThrownBy(() -> OciConfig.read(bundle, c)).hasMessageContaining("process.user.additionalGids[0]");
    }

    /** podman 4.3.1's config.json for `podman run --rootfs DIR --network none /bin/sh -c ...`, as crun got it. */
    @Test
    void readsPodmansDefaultConfig() throws Exception {
        Map<String, Object> c = json(Files.readString(Path.of("src/test/resources/oci/podman-4.3.1-config.json")));
        Files.createDirectory(bundle.resolve("rootfs"));
        at(c, "root").put("path", "rootfs");
        for (Object m : (List<?>) c.get("mounts")) {
            @SuppressWarnings("unchecked")
            Map<String, Object> mount = (Map<String, Object>) m;
            if (mount.get("type").equals("bind")) {
                Path source = bundle.resolve("src" + mount.get("destination").toString().replace('/', '_'));
                Files.createFile(source);
                mount.put("source", source.toString());
            }
        }
        Sandbox s = OciConfig.read(bundle, c);

        assertThat(s.command()).containsExactly("/bin/sh", "-c", "echo hello; id; exit 3");
        assertThat(s.environment()).containsEntry("TERM", "xterm").containsKey("PATH").containsKey("HOSTNAME");
        assertThat(s.uid()).isZero();
        assertThat(s.umask()).hasValue(022);
        assertThat(s.rootfs()).hasValue(bundle.resolve("rootfs").toRealPath());
        assertThat(s.rootfsWritable()).isTrue();
        assertThat(s.hostname()).hasValueSatisfying(h -> assertThat(h).hasSize(12));
        assertThat(s.capabilities()).hasSize(11).contains(Capability.DAC_OVERRIDE, Capability.SETFCAP)
                .doesNotContain(Capability.NET_RAW);
        assertThat(s.limits().rlimits()).containsOnlyKeys(Rlimit.NOFILE, Rlimit.NPROC);
        assertThat(s.limits().rlimits().get(Rlimit.NOFILE)).containsExactly(1048576, 1048576);
        assertThat(s.limits().pids()).hasValue(2048);
        assertThat(s.binds()).extracting(Bind::target)
                .containsExactlyInAnyOrder("/etc/hostname", "/etc/hosts", "/dev/shm", "/run/.containerenv");
        assertThat(s.binds()).filteredOn(Bind::noExec).extracting(Bind::target).containsExactly("/dev/shm");
        assertThat(s.kernelMounts()).containsExactly(new KernelMount(KernelMount.Type.SYSFS, "/sys", true),
                new KernelMount(KernelMount.Type.DEVPTS, "/dev/pts", false),
                new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false),
                new KernelMount(KernelMount.Type.CGROUP, "/sys/fs/cgroup", true, new Atime(Atime.Mode.RELATIME, false)));
        assertThat(s.sysctls()).containsExactly(Map.entry("net.ipv4.ping_group_range", "0 0"));
        assertThat(s.maskedPaths()).containsExactly("/sys/firmware", "/sys/fs/selinux", "/sys/dev/block");
        assertThat(s.readOnlyPaths()).isEmpty();
        assertThat(s.noNewPrivileges()).isTrue();
        assertThat(s.seccomp().defaultAction()).isEqualTo(SeccompAction.errno(38));
        // i386-only names (_llseek, chown32) match nothing on x86-64; the socket rules keep their order.
        assertThat(s.seccomp().rules()).extracting(SeccompPolicy.Rule::syscall).contains(Syscall.READ)
                .isNotEmpty();
        assertThat(s.seccomp().rules().stream().filter(r -> r.syscall() == Syscall.SOCKET).toList()).hasSize(4)
                .first().satisfies(r -> assertThat(r.action()).isEqualTo(SeccompAction.errno(22)));
    }

    static Stream<Arguments> refusals() {
        return Stream.of(
            Arguments.of("process.terminal", true, "process.terminal: not supported because its master goes to a "
                    + "console socket"),
            Arguments.of("linux.sysctl", Map.of("vm.swappiness", "10"), "linux.sysctl[\"vm.swappiness\"]: not "
                    + "supported because sysctl vm.swappiness is not one of the sandbox's own namespaces"),
            Arguments.of("linux.namespaces", List.of(Map.of("type", "pid"), Map.of("type", "ipc"), Map.of("type", "uts"),
                    Map.of("type", "network")), "linux.namespaces without mount: not supported because a sandbox "
                    + "never shares the host's mount namespace"),
            Arguments.of("linux.namespaces", List.of(Map.of("type", "pid", "path", "/proc/1/ns/pid")),
                    "linux.namespaces[0].path: not supported because a sandbox always gets its own pid namespace; it "
                    + "joins network, IPC and UTS namespaces only"),
            Arguments.of("linux.namespaces", List.of(Map.of("type", "uts", "path", "proc/1/ns/uts")),
                    "linux.namespaces[0].path: must be absolute"),
            Arguments.of("linux.namespaces", List.of(Map.of("type", "network", "path", "run/netns/x")),
                    "linux.namespaces[0].path: must be absolute"),
            Arguments.of("linux.personality", Map.of("domain", "LINUX32"), "linux.personality LINUX32 []: not "
                    + "supported because Crabcan runs x86-64 programs"),
            Arguments.of("linux.namespaces", List.of(Map.of("type", "time")), "linux.namespaces[0] (time): not supported"),
            Arguments.of("process.user.gid", 5L, "process.user.gid 5: not supported because"),
            Arguments.of("mounts", List.of(Map.of("destination", "/x", "type", "overlay", "source", "o")),
                    "mounts[0] (overlay at /x): not supported because Crabcan mounts binds, tmpfs"),
            Arguments.of("mounts", List.of(Map.of("destination", "/x", "type", "tmpfs", "options", List.of("nr_inodes=5"))),
                    "mounts[0] (tmpfs at /x) option \"nr_inodes=5\": not supported because"),
            Arguments.of("mounts", List.of(Map.of("destination", "/proc", "type", "proc", "source", "proc",
                    "options", List.of("rslave"))), "mounts[0] (proc at /proc) propagation slave: not supported "
                    + "because Crabcan makes /proc itself, private"),
            Arguments.of("linux.rootfsPropagation", "rsharedish", "linux.rootfsPropagation: \"rsharedish\" is none of "
                    + "private, slave, shared and unbindable"),
            Arguments.of("mounts", List.of(Map.of("destination", "/x", "type", "tmpfs", "options", List.of("dev"))),
                    "mounts[0] (tmpfs at /x) option \"dev\": not supported because a sandbox's mounts are always nosuid"),
            Arguments.of("linux.seccomp", Map.of("defaultAction", "SCMP_ACT_NOTIFY"),
                    "linux.seccomp.defaultAction SCMP_ACT_NOTIFY: not supported because"),
            Arguments.of("linux.seccomp", Map.of("defaultAction", "SCMP_ACT_ALLOW", "architectures",
                    List.of("SCMP_ARCH_AARCH64")), "linux.seccomp.architectures [SCMP_ARCH_AARCH64]: not supported"),
            Arguments.of("linux.resources", Map.of("hugepageLimits", List.of(Map.of("pageSize", "2MB", "limit", 1L))),
                    "linux.resources.hugepageLimits: not supported"),
            Arguments.of("linux.resources", Map.of("cpu", Map.of("burst", 1000L)), "linux.resources.cpu.burst: not "
                    + "supported because a sandbox's cgroup has no such setting (Limits); crabcan-oci create writes "
                    + "it into the container's cgroup"),
            Arguments.of("linux.resources", Map.of("cpu", Map.of("idle", 2L)), "linux.resources.cpu.idle: must be an "
                    + "integer from 0 to 1, got 2"),
            Arguments.of("linux.resources", Map.of("cpu", Map.of("realtimeRuntime", -2L)), "linux.resources.cpu."
                    + "realtimeRuntime: must be an integer from -1 to"),
            Arguments.of("linux.resources", Map.of("memory", Map.of("swappiness", 101L)), "linux.resources.memory."
                    + "swappiness: must be an integer from 0 to 100, got 101"),
            Arguments.of("linux.resources", Map.of("memory", Map.of("disableOOMKiller", 1L)), "linux.resources.memory."
                    + "disableOOMKiller: must be true or false"),
            Arguments.of("linux.resources", Map.of("cpu", Map.of("cpus", "3-1")), "linux.resources.cpu.cpus: cpuset "
                    + "CPUs: the range 3-1 in '3-1' is descending"),
            Arguments.of("linux.resources", Map.of("cpu", Map.of("mems", "0;1")), "linux.resources.cpu.mems: cpuset "
                    + "memory nodes must be a list such as 0-3,6"),
            Arguments.of("linux.resources", Map.of("memory", Map.of("swappiness", 0L)), "linux.resources.memory."
                    + "swappiness: not supported because a sandbox's cgroup has no such setting"),
            Arguments.of("linux.resources", Map.of("blockIO", Map.of("weightDevice", List.of(Map.of("major", 8L)))),
                    "linux.resources.blockIO.weightDevice: not supported"),
            Arguments.of("linux.resources", Map.of("unified", Map.of("memory.high", "1")), "linux.resources.unified: not "
                    + "supported"),
            Arguments.of("linux.resources", Map.of("devices", List.of(Map.of("allow", true, "type", "x"))),
                    "linux.resources.devices[0].type: must be a, b or c"),
            Arguments.of("linux.uidMappings", List.of(Map.of("containerID", 0L, "hostID", 100000L, "size", 65536L)),
                    "linux.uidMappings: not supported because a sandbox's user namespace maps just the process's id 0"),
            Arguments.of("process.rlimits", List.of(Map.of("type", "RLIMIT_NOPE", "soft", 1L, "hard", 1L)),
                    "process.rlimits[0].type: unknown resource RLIMIT_NOPE"),
            Arguments.of("process.rlimits", List.of(Map.of("type", "RLIMIT_CORE", "soft", 2L, "hard", 1L)),
                    "process.rlimits[0]: soft limit 2 is above the hard limit 1"),
            Arguments.of("process.oomScoreAdj", 1001L, "process.oomScoreAdj: must be an integer from -1000 to 1000"),
            Arguments.of("process.capabilities", Map.of("bounding", List.of("CAP_CHOWN"), "permitted",
                    List.of("CAP_SYS_ADMIN")), "permitted capabilities [SYS_ADMIN] are not in the bounding set"),
            Arguments.of("process.capabilities", Map.of("bounding", List.of("CAP_NOPE")),
                    "process.capabilities.bounding CAP_NOPE: not supported because Crabcan does not know"),
            Arguments.of("hooks", Map.of("prestart", List.of(Map.of("path", "/bin/true"))), "hooks.prestart: not "
                    + "supported because a sandbox runs no host programs on its own; crabcan-oci runs"),
            Arguments.of("ociVersion", "2.0.0", "ociVersion \"2.0.0\": not supported"),
            Arguments.of("linux.devices", List.of(Map.of("path", "/dev/null", "type", "c", "major", 1L, "minor", 4L)),
                    "linux.devices[0] (/dev/null c 1:4): not supported because"),
            Arguments.of("linux.devices", List.of(Map.of("path", "/dev/null", "type", "b", "major", 1L, "minor", 3L)),
                    "linux.devices[0] (/dev/null b 1:3): not supported because a sandbox's user namespace cannot make "
                    + "device nodes, so Crabcan binds the host's node at the same path, and the host's /dev/null is "
                    + "c 1:3"),
            Arguments.of("linux.devices", List.of(Map.of("path", "/dev/ptmx", "type", "c", "major", 5L, "minor", 2L,
                    "fileMode", 0600L)), "linux.devices[0].fileMode: not supported because the host's node is bound "
                    + "as it is, mode 666"),
            Arguments.of("linux.devices", List.of(Map.of("path", "/dev/crabcan-none", "type", "c", "major", 1L,
                    "minor", 5L)), "linux.devices[0] (/dev/crabcan-none c 1:5): not supported because"),
            Arguments.of("linux.devices", List.of(Map.of("path", "/dev/fifo", "type", "p")),
                    "linux.devices[0] (/dev/fifo): not supported because Crabcan binds device nodes from the host"),
            Arguments.of("process.env", List.of("NOEQUALS"), "process.env[0]: \"NOEQUALS\" is not NAME=VALUE"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusals")
    void refusesWhatItDoesNotSupportNamingTheField(String field, Object value, String message) throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        String[] path = field.split("\\.");
        Map<String, Object> parent = c;
        for (int i = 0; i < path.length - 1; i++) {
            parent = at(parent, path[i]);
        }
        parent.put(path[path.length - 1], value);
        assertThatThrownBy(() -> OciConfig.read(bundle, c)).isInstanceOf(SandboxSpecException.class)
                .hasMessageStartingWith(message);
    }

    @Test
    void rlimitsOfEveryKindUnlimitedIncludedAndOomScoreAdjRoundTrip() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(c, "process").put("oomScoreAdj", -300L);
        at(c, "process").put("rlimits", json("""
                {"r": [{"type": "RLIMIT_RTPRIO", "soft": 1, "hard": 2},
                       {"type": "RLIMIT_MEMLOCK", "soft": 18446744073709551615, "hard": 18446744073709551615},
                       {"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]}""").get("r"));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.oomScoreAdj()).hasValue(-300);
        assertThat(s.limits().rlimits().get(Rlimit.RTPRIO)).containsExactly(1, 2);
        assertThat(s.limits().rlimits().get(Rlimit.MEMLOCK)).containsExactly(Rlimit.UNLIMITED, Rlimit.UNLIMITED);
        String written = s.toOciConfig();
        assertThat(written).contains("18446744073709551615").contains("\"oomScoreAdj\": -300");
        Files.writeString(bundle.resolve("config.json"), written);
        Sandbox back = Sandbox.fromOciBundle(bundle);
        assertThat(back.limits().rlimits().get(Rlimit.MEMLOCK)).containsExactly(Rlimit.UNLIMITED, Rlimit.UNLIMITED);
        assertThat(back.oomScoreAdj()).hasValue(-300);
    }

    /** containerd 1.6.20 and later always list the primary gid in additionalGids: the group the command has. */
    @Test
    void additionalGidsOfOnlyThePrimaryGroupAreAccepted() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(at(c, "process"), "user").put("additionalGids", List.of(0L));
        assertThat(OciConfig.read(bundle, c).command()).containsExactly("/bin/sh");
    }

    /** Docker's and runc's default device list and cgroup rules: the nodes every sandbox has anyway. */
    @Test
    void theDefaultDevicesAndDeviceCgroupRulesAreAccepted() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(c, "linux").put("devices", List.of(
                Map.of("path", "/dev/null", "type", "c", "major", 1L, "minor", 3L, "fileMode", 438L, "uid", 0L, "gid", 0L),
                Map.of("path", "/dev/urandom", "type", "c", "major", 1L, "minor", 9L),
                Map.of("path", "/dev/tty", "type", "c", "major", 5L, "minor", 0L)));
        at(at(c, "linux"), "resources").put("devices", List.of(Map.of("allow", false, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 1L, "minor", 3L, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 136L, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 10L, "minor", 200L, "access", "rwm")));
        assertThat(OciConfig.read(bundle, c).command()).containsExactly("/bin/sh");
    }

    /**
     * A node beyond the six every sandbox has is the host's, bound at the same path; rules that
     * deny it refuse the config, rules that allow it (podman's --device) are accepted.
     */
    @Test
    void otherDevicesAreTheHostsNodesAndRulesThatDenyThemAreRefused() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        // /dev/zero stands for any device: the same everywhere, and usable by everyone.
        at(c, "linux").put("devices", List.of(Map.of("path", "/dev/zero", "type", "c", "major", 1L, "minor", 5L,
                "fileMode", 0666L, "uid", 0L, "gid", 0L)));
        at(c, "linux").put("resources", Map.of("devices", List.of(Map.of("allow", false, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 1L, "minor", 5L, "access", "rwm"))));
        assertThat(OciConfig.read(bundle, c).devices()).isEmpty();
        // /dev/ptmx (c 5:2, mode 0666 everywhere) stands for a device beyond the six.
        at(c, "linux").put("devices", List.of(Map.of("path", "/dev/zero", "type", "c", "major", 1L, "minor", 5L),
                Map.of("path", "/dev/ptmx", "type", "c", "major", 5L, "minor", 2L)));
        at(c, "linux").put("resources", Map.of("devices", List.of(Map.of("allow", false, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 5L, "access", "r"))));
        assertThatThrownBy(() -> OciConfig.read(bundle, c)).isInstanceOf(SandboxSpecException.class)
                .hasMessageStartingWith("linux.resources.devices[0]: not supported because it denies writing device "
                        + "c 5:2, which linux.devices gives the container");
        at(c, "linux").put("resources", Map.of("devices", List.of(Map.of("allow", false, "access", "rwm"),
                Map.of("allow", true, "type", "c", "major", 5L, "access", "rw"))));
        assertThat(OciConfig.read(bundle, c).devices()).containsExactly(new Bind(Path.of("/dev/ptmx"), "/dev/ptmx",
                false, true));
    }

    /** A device node at a path of its own is bound in from the host's node of that path. */
    @Test
    void aDeviceAtAnotherPathIsTheHostsNodeBoundThere(@TempDir Path dev) throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(c, "linux").put("devices", List.of(Map.of("path", "/dev/net/tun", "type", "c", "major", 10L, "minor",
                200L)));
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/dev/net/tun")), "no /dev/net/tun here");
        boolean usable = HostInfo.get().leasesHostIds()
                ? Files.getPosixFilePermissions(Path.of("/dev/net/tun")).contains(
                        java.nio.file.attribute.PosixFilePermission.OTHERS_READ)
                : Files.isReadable(Path.of("/dev/net/tun"));
        if (usable) {
            assertThat(OciConfig.read(bundle, c).devices()).containsExactly(new Bind(Path.of("/dev/net/tun"),
                    "/dev/net/tun", false, true));
        } else {
            assertThatThrownBy(() -> OciConfig.read(bundle, c)).hasMessageContaining("neither read nor write");
        }
    }

    /** What runtime-spec defines and a host does without a module: the domain name, LINUX, labels of absent modules. */
    @Test
    void domainnamePersonalityAndLabelsOfModulesTheHostLacks() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("domainname", "example.org");
        at(c, "linux").put("personality", Map.of("domain", "LINUX", "flags", List.of()));
        at(c, "process").put("apparmorProfile", "containers-default-0.50.1");
        at(c, "process").put("selinuxLabel", "system_u:system_r:container_t:s0:c1,c2");
        at(c, "linux").put("mountLabel", "system_u:object_r:container_file_t:s0:c1,c2");
        Set<String> modules = HostInfo.get().securityModules();
        if (modules.isEmpty()) {
            Sandbox s = OciConfig.read(bundle, c);
            assertThat(s.domainname()).hasValue("example.org");
            Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
            assertThat(Sandbox.fromOciBundle(bundle).domainname()).hasValue("example.org");
        } else {
            assertThatThrownBy(() -> OciConfig.read(bundle, c)).hasMessageContaining("Crabcan does not apply its "
                    + "labels");
        }
    }

    /** podman's default network: a namespace it made, named by path, and its ping sysctl. */
    @Test
    void aNetworkNamespaceNamedByPathIsJoinedAndWrittenBack() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(c, "linux").put("namespaces", List.of(Map.of("type", "pid"), Map.of("type", "network", "path",
                "/run/netns/netns-1"), Map.of("type", "ipc"), Map.of("type", "uts"), Map.of("type", "mount")));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.network()).isEqualTo(Network.namespace(Path.of("/run/netns/netns-1")));
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        assertThat(Sandbox.fromOciBundle(bundle).network()).isEqualTo(s.network());
        assertThat(s.toOciConfig()).contains("\"path\": \"/run/netns/netns-1\"");
    }

    /** A pod's container (the CRI's, podman's): the pod's network, IPC and UTS namespaces by path. */
    @Test
    void aPodsNamespacesNamedByPathAreJoinedAndWrittenBack() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("hostname", "pod");
        at(c, "linux").put("namespaces", List.of(Map.of("type", "pid"), Map.of("type", "network", "path",
                "/proc/7/ns/net"), Map.of("type", "ipc", "path", "/proc/7/ns/ipc"), Map.of("type", "uts", "path",
                "/proc/7/ns/uts"), Map.of("type", "mount")));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.network()).isEqualTo(Network.namespace(Path.of("/proc/7/ns/net")));
        assertThat(s.ipcNamespace()).hasValue(Path.of("/proc/7/ns/ipc"));
        assertThat(s.utsNamespace()).hasValue(Path.of("/proc/7/ns/uts"));
        assertThat(s.hostname()).hasValue("pod");
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        Sandbox back = Sandbox.fromOciBundle(bundle);
        assertThat(back.network()).isEqualTo(s.network());
        assertThat(back.ipcNamespace()).isEqualTo(s.ipcNamespace());
        assertThat(back.utsNamespace()).isEqualTo(s.utsNamespace());
    }

    @Test
    void anOciRuntimeReadsEveryKindOfHook() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("hooks", Map.of("prestart", List.of(Map.of("path", "/bin/echo", "args", List.of("echo", "a"),
                "env", List.of("X=1"), "timeout", 5L)), "poststop", List.of(Map.of("path", "/bin/true")),
                "startContainer", List.of()));
        Map<String, List<OciConfig.Hook>> hooks = OciConfig.hooks(bundle, c);
        assertThat(hooks).containsOnlyKeys("prestart", "poststop");
        assertThat(hooks.get("prestart")).containsExactly(new OciConfig.Hook("/bin/echo", List.of("echo", "a"),
                List.of("X=1"), java.util.OptionalInt.of(5)));
        c.put("hooks", Map.of("createContainer", List.of(Map.of("path", "/bin/true")), "startContainer",
                List.of(Map.of("path", "/bin/sh", "args", List.of("sh", "-c", "true")))));
        assertThat(OciConfig.hooks(bundle, c)).containsOnlyKeys("createContainer", "startContainer");
        c.put("hooks", Map.of("poststart", List.of(Map.of("path", "true"))));
        assertThatThrownBy(() -> OciConfig.hooks(bundle, c)).isInstanceOf(SandboxSpecException.class)
                .hasMessageStartingWith("hooks.poststart[0].path: must be absolute");
    }

    /** As runtime-tools' conformance configs and engines write them: every set given, ambient for a non-root uid. */
    @Test
    void allFiveCapabilitySetsAreRead() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(at(c, "process"), "user").putAll(Map.of("uid", 1000L, "gid", 1000L));
        List<String> two = List.of("CAP_NET_BIND_SERVICE", "CAP_KILL");
        at(c, "process").put("capabilities", Map.of("bounding", List.of("CAP_NET_BIND_SERVICE", "CAP_KILL", "CAP_CHOWN"),
                "effective", two, "permitted", two, "inheritable", two, "ambient", List.of("CAP_KILL")));
        Sandbox s = OciConfig.read(bundle, c);
        Set<Capability> expected = EnumSet.of(Capability.NET_BIND_SERVICE, Capability.KILL);
        assertThat(s.capabilities()).containsExactlyInAnyOrder(Capability.NET_BIND_SERVICE, Capability.KILL,
                Capability.CHOWN);
        assertThat(s.effectiveCapabilities()).isEqualTo(expected);
        assertThat(s.permittedCapabilities()).isEqualTo(expected);
        assertThat(s.inheritableCapabilities()).isEqualTo(expected);
        assertThat(s.ambientCapabilities()).containsExactly(Capability.KILL);
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        Sandbox back = Sandbox.fromOciBundle(bundle);
        assertThat(back.ambientCapabilities()).containsExactly(Capability.KILL);
        assertThat(back.inheritableCapabilities()).isEqualTo(expected);
        assertThat(back.toOciConfig()).isEqualTo(s.toOciConfig());
    }

    /**
     * runc spec lists its three capabilities as ambient with no inheritable set: the kernel cannot
     * raise them, and runc and crun skip them without a word (CapAmb 0 under both), as Crabcan does.
     */
    @Test
    void ambientCapabilitiesTheKernelCannotRaiseAreSkippedAsRuncDoes() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        List<String> three = List.of("CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE");
        at(c, "process").put("capabilities", Map.of("bounding", three, "effective", three, "permitted", three,
                "ambient", three));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.permittedCapabilities()).hasSize(3);
        assertThat(s.inheritableCapabilities()).isEmpty();
        assertThat(s.ambientCapabilities()).isEmpty();

        at(c, "process").put("capabilities", Map.of("bounding", three, "permitted", List.of("CAP_KILL"),
                "inheritable", List.of("CAP_KILL", "CAP_AUDIT_WRITE"), "ambient", three));
        assertThat(OciConfig.read(bundle, c).ambientCapabilities()).containsExactly(Capability.KILL);
    }

    /** containerd's default mounts (oci.WithDefaultSpec) plus the CRI's cgroup mount, as it writes them. */
    @Test
    void readsContainerdsDefaultMounts() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("mounts", json("""
                {"m": [
                 {"destination": "/proc", "type": "proc", "source": "proc", "options": ["nosuid", "noexec", "nodev"]},
                 {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                 {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                  "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
                 {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                  "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                 {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
                 {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
                 {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                  "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                 {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                  "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
                 {"destination": "/data", "type": "bind", "source": "rootfs", "options": ["rbind", "rro", "rnoexec", "rprivate"]}
                ]}""").get("m"));
        Sandbox s = OciConfig.read(bundle, c);
        Atime strict = new Atime(Atime.Mode.STRICTATIME, false);
        assertThat(s.tmpfs()).containsExactly(new dev.crabcan.Tmpfs("/dev/shm", 65536L << 10, 01777, false, true),
                new dev.crabcan.Tmpfs("/run", 65536L << 10, 0755, false, false, strict));
        assertThat(s.kernelMounts()).containsExactly(new KernelMount(KernelMount.Type.DEVPTS, "/dev/pts", false),
                new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false),
                new KernelMount(KernelMount.Type.SYSFS, "/sys", true),
                new KernelMount(KernelMount.Type.CGROUP, "/sys/fs/cgroup", true,
                        new Atime(Atime.Mode.RELATIME, false)));
        assertThat(s.binds()).containsExactly(new Bind(bundle.resolve("rootfs").toRealPath(), "/data", true, true));
    }

    /** As mount(8): the last atime mode said wins, nodiratime apart; each is written back. */
    @Test
    void atimeOptionsAreCarriedOutAndWrittenBack() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("mounts", List.of(Map.of("destination", "/a", "type", "tmpfs", "source", "tmpfs",
                "options", List.of("strictatime", "noatime")),
                Map.of("destination", "/b", "type", "bind", "source", "rootfs", "options", List.of("rbind", "noatime",
                        "atime", "rnodiratime")),
                Map.of("destination", "/c", "type", "mqueue", "source", "mqueue", "options", List.of("relatime"))));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.tmpfs().get(0).atime()).isEqualTo(new Atime(Atime.Mode.NOATIME, false));
        assertThat(s.binds().get(0).atime()).isEqualTo(new Atime(Atime.Mode.DEFAULT, true));
        assertThat(s.kernelMounts().get(0).atime()).isEqualTo(new Atime(Atime.Mode.RELATIME, false));
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        Sandbox back = Sandbox.fromOciBundle(bundle);
        // Written with the /dev/shm and /tmp every sandbox has.
        assertThat(back.tmpfs()).startsWith(s.tmpfs().get(0));
        assertThat(back.binds()).isEqualTo(s.binds());
        assertThat(back.kernelMounts()).isEqualTo(s.kernelMounts());
    }

    @Test
    void aReadOnlyNoexecTmpfsIsCarriedOutAndWrittenBack() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("mounts", List.of(Map.of("destination", "/empty", "type", "tmpfs", "source", "tmpfs",
                "options", List.of("ro", "noexec", "mode=555", "size=4k"))));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.tmpfs()).containsExactly(new dev.crabcan.Tmpfs("/empty", 4096, 0555, true, true));
        Files.writeString(bundle.resolve("config.json"), s.toOciConfig());
        assertThat(Sandbox.fromOciBundle(bundle).tmpfs()).contains(s.tmpfs().get(0));
    }

    /** runtime-spec: "Runtimes MUST NOT generate an error if they encounter an unknown property." */
    /** What engines write when they mean nothing: containerd's CRI writes "hugepageLimits": []. */
    @Test
    void emptyResourceFieldsAreAccepted() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        at(c, "linux").put("resources", Map.of("hugepageLimits", List.of(), "unified", Map.of(), "memory",
                Map.of("disableOOMKiller", false, "kernel", 0L), "cpu", Map.of("cpus", "", "mems", "")));
        assertThat(OciConfig.read(bundle, c).limits().memoryBytes()).isEmpty();
    }

    /**
     * The linux.resources fields beyond Limits go to crabcan-oci, which writes them into the
     * container's cgroup (CgroupTuning); a 0 that is unset (runc) or the new cgroup's default is
     * left out of a config, and kept by an update, where it undoes an earlier value.
     */
    @Test
    void resourcesBeyondLimitsAreTheRuntimesTuning() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        Map<String, Object> resources = Map.of("memory", Map.of("limit", 67108864L, "reservation", 33554432L,
                "kernelTCP", 16777216L, "swappiness", 0L, "disableOOMKiller", true, "kernel", -1L), "cpu",
                Map.of("shares", 1024L, "burst", 20000L, "idle", 1L, "realtimePeriod", 500000L, "realtimeRuntime", 1000L));
        at(c, "linux").put("resources", resources);
        OciConfig.Bundle read = OciConfig.readForRuntime(bundle, c, "config");
        assertThat(read.sandbox().limits().memoryBytes()).hasValue(67108864L);
        assertThat(read.tuning().values()).isEqualTo(Map.of(Knob.MEMORY_RESERVATION, 33554432L, Knob.MEMORY_KERNEL, -1L,
                Knob.MEMORY_KERNEL_TCP, 16777216L, Knob.MEMORY_SWAPPINESS, 0L, Knob.MEMORY_DISABLE_OOM_KILLER, 1L,
                Knob.CPU_BURST, 20000L, Knob.CPU_IDLE, 1L, Knob.CPU_REALTIME_PERIOD, 500000L,
                Knob.CPU_REALTIME_RUNTIME, 1000L));
        assertThat(OciConfig.readResources(resources).tuning()).isEqualTo(read.tuning());

        Map<String, Object> zeros = Map.of("memory", Map.of("reservation", 0L, "kernel", 0L, "kernelTCP", 0L,
                "disableOOMKiller", false), "cpu", Map.of("burst", 0L, "idle", 0L, "realtimePeriod", 0L,
                "realtimeRuntime", 0L));
        at(c, "linux").put("resources", zeros);
        assertThat(OciConfig.readForRuntime(bundle, c, "config").tuning()).isEqualTo(CgroupTuning.NONE);
        assertThat(OciConfig.read(bundle, c).limits()).isEqualTo(Limits.none());
        assertThat(OciConfig.readResources(zeros).tuning().values()).isEqualTo(Map.of(Knob.CPU_BURST, 0L,
                Knob.CPU_IDLE, 0L));
    }

    @Test
    void unknownPropertiesAreIgnoredAtEveryLevel() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Map<String, Object> c = json(MINIMAL);
        c.put("vendorExtension", Map.of("x", 1L));
        at(c, "process").put("color", "blue");
        at(at(c, "process"), "user").put("sid", "S-1-5");
        at(c, "linux").put("futureKnob", Map.of("eth9", Map.of()));
        at(c, "root").put("future", true);
        c.put("mounts", List.of(Map.of("destination", "/run", "type", "tmpfs", "source", "tmpfs", "future", 1L)));
        Sandbox s = OciConfig.read(bundle, c);
        assertThat(s.command()).containsExactly("/bin/sh");
        assertThat(s.tmpfs()).extracting(dev.crabcan.Tmpfs::target).containsExactly("/run");
    }

    @Test
    void aMinimalConfigGivesNoCapabilitiesNoFilterAndTheCallersUmask() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        Sandbox s = OciConfig.read(bundle, json(MINIMAL));
        assertThat(s.capabilities()).isEmpty();
        assertThat(s.seccomp().isNone()).isTrue();
        assertThat(s.noNewPrivileges()).isEqualTo(dev.crabcan.internal.host.HostInfo.get().isRoot());
        assertThat(s.umask()).isEmpty();
        assertThat(s.rootfsWritable()).isTrue();
        assertThat(s.limits()).isEqualTo(Limits.none());
    }

    @Test
    void aWrittenConfigReadsBackToTheSameSandbox() throws Exception {
        Path rootfs = Files.createDirectory(bundle.resolve("rootfs"));
        Path data = Files.createDirectory(bundle.resolve("data"));
        Sandbox original = Sandbox.builder()
                .rootfs(rootfs)
                .bind(data, "/data", true, true)
                .tmpfs("/run", 1 << 20, 0755)
                .kernelMount(KernelMount.Type.SYSFS, "/sys", true)
                .kernelMount(KernelMount.Type.DEVPTS, "/dev/pts", false)
                .uid(1000)
                .umask(027)
                .command("/bin/sh", "-c", "echo \"hi\"\t$HOME")
                .env("HOME", "/home/u")
                .workingDirectory("/data")
                .hostname("box")
                .sysctl("net.ipv4.ip_forward", "1")
                .maskPaths("/sys/firmware")
                .readOnlyPaths("/data")
                .limits(Limits.builder().memory(64 << 20).swap(0).pids(10).cpus(0.5).cpuWeight(100).ioWeight(500)
                        .rlimit(Rlimit.NOFILE, 64, 128).build())
                .build();
        String json = original.toOciConfig();
        Files.writeString(bundle.resolve("config.json"), json);
        Sandbox read = Sandbox.fromOciBundle(bundle);

        assertThat(read.toOciConfig()).isEqualTo(json);
        assertThat(read.command()).isEqualTo(original.command());
        assertThat(read.binds()).isEqualTo(original.binds());
        assertThat(read.kernelMounts()).isEqualTo(original.kernelMounts());
        assertThat(read.limits()).isEqualTo(original.limits());
        assertThat(read.seccomp()).isEqualTo(original.seccomp());
        assertThat(read.capabilities()).isEqualTo(original.capabilities());
        assertThat(read.maskedPaths()).isEqualTo(original.maskedPaths());
        assertThat(read.sysctls()).isEqualTo(original.sysctls());
        assertThat(read.umask()).isEqualTo(original.umask());
        assertThat(read.tmpfs()).contains(original.tmpfs().get(0));
    }

    /** A root caller's sandbox runs as a host id allocated when it starts: a config may name any but root's. */
    @Test
    void idMappingsNameTheProcesssIdAndTheHostIdCrabcanUses() throws Exception {
        Files.createDirectory(bundle.resolve("rootfs"));
        HostInfo host = HostInfo.get();
        long accepted = host.isRoot() ? 1_234_567 : host.euid();
        long refused = host.isRoot() ? 0 : host.euid() + 1L;
        for (long hostId : new long[] {accepted, refused}) {
            Map<String, Object> c = json(MINIMAL);
            at(c, "linux").put("uidMappings", List.of(Map.of("containerID", 0L, "hostID", hostId, "size", 1L)));
            if (hostId == accepted) {
                assertThat(OciConfig.read(bundle, c).uid()).isZero();
            } else {
                assertThatThrownBy(() -> OciConfig.read(bundle, c)).isInstanceOf(SandboxSpecException.class)
                        .hasMessageContaining("linux.uidMappings: not supported because a sandbox's user namespace "
                                + "maps just the process's id 0 to " + (host.isRoot() ? "a host id of its own"
                                : "host id " + host.euid()));
            }
        }
    }

    @Test
    void noNetworkNamespaceMeansTheHostsNetworkBothWays() throws Exception {
        Path rootfs = Files.createDirectory(bundle.resolve("rootfs"));
        Sandbox host = Sandbox.builder().rootfs(rootfs).network(Network.host()).command("/bin/true").build();
        String json = host.toOciConfig();
        assertThat(json).doesNotContain("\"network\"");
        Files.writeString(bundle.resolve("config.json"), json);
        assertThat(Sandbox.fromOciBundle(bundle).network()).isEqualTo(Network.host());
        assertThat(OciConfig.read(bundle, json(MINIMAL)).network()).isEqualTo(Network.none());
        assertThatThrownBy(() -> host.toBuilder().network(Network.privateNetwork()).build().toOciConfig())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("private network");
    }

    @Test
    void writingRefusesWhatOciCannotSay() {
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true").build().toOciConfig())
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("needs a root filesystem");
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> json(String text) throws Exception {
        return (Map<String, Object>) Json.parse(text);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> at(Map<String, Object> m, String key) {
        return (Map<String, Object>) m.computeIfAbsent(key, k -> new java.util.LinkedHashMap<String, Object>());
    }
}
