package dev.crabcan;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
import org.junit.jupiter.params.provider.ValueSource;

/** The builder's checks: every invalid input is refused with a message naming it; valid ones are kept as given. */
class SandboxBuilderTest {

    /** One misuse of the builder; {@code dir} is an empty temporary directory it may use. */
    @FunctionalInterface
    interface Misuse {
        void apply(Path dir) throws Exception;
    }

    private static Arguments invalid(String description, String namedInMessage, Misuse misuse) {
        return arguments(description, namedInMessage, misuse);
    }

    /** A builder that would build: it has a command. */
    private static Sandbox.Builder valid() {
        return Sandbox.builder().command("/bin/true");
    }

    static Stream<Arguments> invalidInputs() {
        return Stream.of(
                // root filesystem
                invalid("rootfs missing", "no-such-rootfs",
                        dir -> Sandbox.builder().rootfs(dir.resolve("no-such-rootfs"))),
                invalid("rootfs is a regular file", "plain-file",
                        dir -> Sandbox.builder().rootfs(Files.createFile(dir.resolve("plain-file")))),

                // bind sources
                invalid("bind source missing", "no-such-source",
                        dir -> Sandbox.builder().bind(dir.resolve("no-such-source"), "/data", false)),
                invalid("bind source is a dangling symlink", "dangling symbolic link",
                        dir -> Sandbox.builder().bind(
                                Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("gone")), "/data", true)),
                invalid("bind source dangling symlink is named", "dangling",
                        dir -> Sandbox.builder().bind(
                                Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("gone")), "/data", true)),

                // bind targets, checked when given
                invalid("bind target relative", "'data'", dir -> Sandbox.builder().bind(dir, "data", false)),
                invalid("bind target empty", "''", dir -> Sandbox.builder().bind(dir, "", false)),
                invalid("bind target with '..'", "'/data/../etc'",
                        dir -> Sandbox.builder().bind(dir, "/data/../etc", false)),
                invalid("bind target ending in '..'", "'/data/..'", dir -> Sandbox.builder().bind(dir, "/data/..", false)),
                invalid("bind target with '.'", "'/data/./x'", dir -> Sandbox.builder().bind(dir, "/data/./x", false)),
                invalid("bind target ending in '.'", "'/data/.'", dir -> Sandbox.builder().bind(dir, "/data/.", false)),
                invalid("bind target with NUL", "/da\\0ta", dir -> Sandbox.builder().bind(dir, "/da\0ta", false)),

                // mount targets the sandbox provides itself, checked by build()
                invalid("bind target /", "over /:", dir -> valid().bind(dir, "/", false).build()),
                invalid("bind target //", "over /:", dir -> valid().bind(dir, "//", false).build()),
                invalid("bind target /proc", "over /proc:", dir -> valid().bind(dir, "/proc", false).build()),
                invalid("bind target /proc/", "over /proc:", dir -> valid().bind(dir, "/proc/", false).build()),
                invalid("bind target /proc/sys", "over /proc/sys:", dir -> valid().bind(dir, "/proc/sys", true).build()),
                invalid("bind target /dev", "over /dev:", dir -> valid().bind(dir, "/dev", false).build()),
                invalid("tmpfs target /", "over /:", dir -> valid().tmpfs("/").build()),
                invalid("tmpfs target /proc", "over /proc:", dir -> valid().tmpfs("/proc").build()),
                invalid("tmpfs target /proc/sys", "over /proc/sys:", dir -> valid().tmpfs("/proc/sys").build()),
                invalid("tmpfs target /dev", "over /dev:", dir -> valid().tmpfs("/dev").build()),

                // duplicate targets, compared after normalization
                invalid("two binds at /data", "same target /data",
                        dir -> valid().bind(dir, "/data", false).bind(dir, "/data", true).build()),
                invalid("binds at /data and /data/", "same target /data",
                        dir -> valid().bind(dir, "/data", false).bind(dir, "/data/", true).build()),
                invalid("binds at /data and //data", "same target /data",
                        dir -> valid().bind(dir, "/data", false).bind(dir, "//data", true).build()),
                invalid("binds at /data/ and //data", "same target /data",
                        dir -> valid().bind(dir, "/data/", false).bind(dir, "//data", true).build()),
                invalid("bind and tmpfs at /data", "same target /data",
                        dir -> valid().bind(dir, "/data", false).tmpfs("/data/").build()),
                invalid("two tmpfs at /scratch", "same target /scratch",
                        dir -> valid().tmpfs("/scratch").tmpfs("//scratch//").build()),

                // tmpfs
                invalid("tmpfs size negative", "-1", dir -> Sandbox.builder().tmpfs("/scratch", -1)),
                invalid("tmpfs target relative", "'scratch'", dir -> Sandbox.builder().tmpfs("scratch")),
                invalid("tmpfs target with '..'", "'/scratch/..'", dir -> Sandbox.builder().tmpfs("/scratch/..")),

                // command
                invalid("no command", "command is empty", dir -> Sandbox.builder().build()),
                invalid("empty command array", "command is empty", dir -> Sandbox.builder().command().build()),
                invalid("empty command list", "command is empty", dir -> Sandbox.builder().command(List.of()).build()),
                invalid("empty argv[0]", "argument 0", dir -> Sandbox.builder().command("", "x").build()),
                invalid("NUL in argv[0]", "/bin/e\\0cho", dir -> Sandbox.builder().command("/bin/e\0cho")),
                invalid("NUL in an argument", "a\\0b", dir -> Sandbox.builder().command("/bin/echo", "a\0b")),
                invalid("NUL in an argument names its index", "argument 2",
                        dir -> Sandbox.builder().command("/bin/echo", "ok", "a\0b")),

                // environment
                invalid("env name empty", "''", dir -> Sandbox.builder().env("", "x")),
                invalid("env name with '='", "'A=B'", dir -> Sandbox.builder().env("A=B", "x")),
                invalid("env name with NUL", "A\\0B", dir -> Sandbox.builder().env("A\0B", "x")),
                invalid("env value with NUL", "va\\0lue", dir -> Sandbox.builder().env("NAME", "va\0lue")),
                invalid("env value with NUL names the variable", "NAME", dir -> Sandbox.builder().env("NAME", "va\0lue")),
                invalid("environment map with a bad name", "'A=B'",
                        dir -> Sandbox.builder().environment(Map.of("A=B", "x"))),

                // ids, hostname, working directory
                invalid("uid negative", "-1", dir -> Sandbox.builder().uid(-1)),
                invalid("uid MIN_VALUE", String.valueOf(Integer.MIN_VALUE), dir -> Sandbox.builder().uid(Integer.MIN_VALUE)),
                invalid("hostname empty", "''", dir -> Sandbox.builder().hostname("")),
                invalid("hostname of 65 characters", "a".repeat(65), dir -> Sandbox.builder().hostname("a".repeat(65))),
                invalid("hostname with a space", "'my host'", dir -> Sandbox.builder().hostname("my host")),
                invalid("session keyring empty", "sessionKeyring", dir -> Sandbox.builder().sessionKeyring("")),
                invalid("session keyring named as the kernel's", "'.ses'", dir -> Sandbox.builder().sessionKeyring(".ses")),
                invalid("hostname with '_'", "'my_host'", dir -> Sandbox.builder().hostname("my_host")),
                invalid("hostname with NUL", "my\\0host", dir -> Sandbox.builder().hostname("my\0host")),
                invalid("working directory relative", "'work'", dir -> Sandbox.builder().workingDirectory("work")),
                invalid("working directory with '..'", "'/work/..'",
                        dir -> Sandbox.builder().workingDirectory("/work/..")),

                // stdio in the wrong direction
                invalid("stdin writeTo", "WRITE_FILE", dir -> Sandbox.builder().stdin(Stdio.writeTo(dir.resolve("out")))),
                invalid("stdin appendTo", "APPEND_FILE", dir -> Sandbox.builder().stdin(Stdio.appendTo(dir.resolve("out")))),
                invalid("stdout bytes", "BYTES(3 bytes)", dir -> Sandbox.builder().stdout(Stdio.bytes(new byte[3]))),
                invalid("stdout readFrom", "READ_FILE", dir -> Sandbox.builder().stdout(Stdio.readFrom(dir.resolve("in")))),
                invalid("stderr bytes", "BYTES(3 bytes)", dir -> Sandbox.builder().stderr(Stdio.bytes(new byte[3]))),
                invalid("stderr readFrom", "READ_FILE", dir -> Sandbox.builder().stderr(Stdio.readFrom(dir.resolve("in")))),

                // nulls
                invalid("null rootfs", "rootfs", dir -> Sandbox.builder().rootfs(null)),
                invalid("null bind source", "bind source", dir -> Sandbox.builder().bind(null, "/data", false)),
                invalid("null bind target", "bind target", dir -> Sandbox.builder().bind(dir, null, false)),
                invalid("null command array", "command", dir -> Sandbox.builder().command((String[]) null)),
                invalid("null env value", "NAME", dir -> Sandbox.builder().env("NAME", null)),
                invalid("null stdin", "stdin", dir -> Sandbox.builder().stdin(null)),

                // network
                invalid("null network", "network", dir -> Sandbox.builder().network(null)),
                invalid("publish on no network", "Network.privateNetwork()", dir -> Network.none().publish(8080, 80)),
                invalid("publish on the host network", "publish 127.0.0.1:8080:80", dir -> Network.host().publish(8080, 80)),
                invalid("host port 0", "host port must be 1 to 65535, got 0", dir -> Network.privateNetwork().publish(0, 80)),
                invalid("container port too large", "container port must be 1 to 65535, got 65536",
                        dir -> Network.privateNetwork().publish(8080, 65536)),
                invalid("host address a name", "'localhost'", dir -> Network.privateNetwork().publish("localhost", 8080, 80)),
                invalid("host address out of range", "'127.0.0.256'",
                        dir -> Network.privateNetwork().publish("127.0.0.256", 8080, 80)),
                invalid("host port published twice", "127.0.0.1:8080:81 is already published as 127.0.0.1:8080:80",
                        dir -> Network.privateNetwork().publish(8080, 80).publish(8080, 81)),
                invalid("host port published twice through 0.0.0.0", "already published",
                        dir -> Network.privateNetwork().publish("0.0.0.0", 8080, 80).publish(8080, 81)),
                invalid("subnet without prefix", "'10.0.0.0'", dir -> Network.privateNetwork().subnet("10.0.0.0")),
                invalid("subnet prefix too long", "'10.0.0.0/30'", dir -> Network.privateNetwork().subnet("10.0.0.0/30")),
                invalid("subnet prefix not a number", "'10.0.0.0/x'", dir -> Network.privateNetwork().subnet("10.0.0.0/x")),
                invalid("subnet with host bits", "starts at 10.1.0.0/16", dir -> Network.privateNetwork().subnet("10.1.2.3/16")),
                invalid("dns server a name", "'ns.example'", dir -> Network.privateNetwork().dns(List.of("ns.example"))),
                invalid("dns on no network", "dns", dir -> Network.none().dns(List.of("10.0.0.1"))),
                invalid("allow without prefix", "'169.254.169.254'", dir -> Network.privateNetwork().allow("169.254.169.254")),
                invalid("allow prefix too long", "'10.0.0.0/33'", dir -> Network.privateNetwork().allow("10.0.0.0/33")),
                invalid("allow IPv6 with host bits", "starts at fe80::/10", dir -> Network.privateNetwork().allow("fe80::1/10")),
                invalid("allow IPv6 prefix too long", "'fe80::/129'", dir -> Network.privateNetwork().allow("fe80::/129")),
                invalid("host address an IPv6 one with a zone", "'fe80::1%eth0'",
                        dir -> Network.privateNetwork().publish("fe80::1%eth0", 8080, 80)),
                invalid("host address in brackets", "'[::1]'", dir -> Network.privateNetwork().publish("[::1]", 8080, 80)),
                invalid("host port published on :: and 127.0.0.1", "[::]:8080:81 is already published as 127.0.0.1:8080:80",
                        dir -> Network.privateNetwork().publish(8080, 80).publish("::", 8080, 81)),
                invalid("host port published on ::1 twice", "already published as [::1]:8080:80",
                        dir -> Network.privateNetwork().publish("::1", 8080, 80).publish("0:0::1", 8080, 81)),
                invalid("subnet6 not unique local", "'2001:db8::/48'", dir -> Network.privateNetwork().subnet6("2001:db8::/48")),
                invalid("subnet6 prefix too long", "'fd00::/97'", dir -> Network.privateNetwork().subnet6("fd00::/97")),
                invalid("subnet6 with host bits", "starts at fd00:1::/48", dir -> Network.privateNetwork().subnet6("fd00:1::1/48")),
                invalid("subnet6 on no network", "subnet6", dir -> Network.none().subnet6("fd00::/48")),
                invalid("allow with host bits", "starts at 169.254.0.0/16", dir -> Network.privateNetwork().allow("169.254.1.0/16")),
                invalid("allowHost on the host's network", "allowHost", dir -> Network.host().allowHost()),
                invalid("same UDP host port twice", "already published",
                        dir -> Network.privateNetwork().publishUdp(5353, 53).publishUdp("0.0.0.0", 5353, 54)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("invalidInputs")
    void invalidInputIsRefusedWithAMessageNamingIt(String description, String namedInMessage, Misuse misuse,
            @TempDir Path dir) {
        assertThatThrownBy(() -> misuse.apply(dir))
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining(namedInMessage);
    }

    // ---- valid inputs ----

    @Test
    void relativeRootfsIsResolvedToAnAbsolutePath(@TempDir Path dir) {
        Path relative = Path.of("").toAbsolutePath().relativize(dir);
        assertThat(relative.isAbsolute()).isFalse();

        Sandbox sandbox = valid().rootfs(relative).build();

        assertThat(sandbox.rootfs()).contains(dir.toAbsolutePath().normalize());
    }

    @Test
    void relativeBindSourceIsResolvedToAnAbsolutePath(@TempDir Path dir) {
        Path relative = Path.of("").toAbsolutePath().relativize(dir);

        Sandbox sandbox = valid().bind(relative, "/data", true).build();

        assertThat(sandbox.binds()).containsExactly(new Bind(dir.toAbsolutePath().normalize(), "/data", true));
    }

    @ParameterizedTest
    @ValueSource(strings = {"/a//b/", "/a/b/", "//a/b", "/a/b//", "/a/b"})
    void bindTargetIsNormalized(String target, @TempDir Path dir) {
        Sandbox sandbox = valid().bind(dir, target, false).build();

        assertThat(sandbox.binds()).extracting(Bind::target).containsExactly("/a/b");
    }

    @Test
    void propagationIsForTheRootOrAMountOfTheSandboxAndPrivateIsNoSetting(@TempDir Path dir) {
        Sandbox sandbox = valid().bind(dir, "/data", true).tmpfs("/t").propagation("/data/", Propagation.SLAVE)
                .propagation("/", Propagation.SHARED).propagation("/t", Propagation.UNBINDABLE)
                .propagation("/t", Propagation.PRIVATE).build();

        assertThat(sandbox.propagations()).containsExactly(Map.entry("/data", Propagation.SLAVE),
                Map.entry("/", Propagation.SHARED));
        assertThat(sandbox.toBuilder().build()).isEqualTo(sandbox);
        assertThat(sandbox.toBuilder().propagation("/", Propagation.SLAVE).build()).isNotEqualTo(sandbox);
        assertThatThrownBy(() -> valid().propagation("/nomount", Propagation.SLAVE).build())
                .hasMessageContaining("propagation(\"/nomount\", SLAVE): /nomount is not the target of a bind, tmpfs "
                        + "or kernel mount");
        assertThatThrownBy(() -> valid().propagation("relative", Propagation.SLAVE))
                .hasMessageContaining("propagation target must be an absolute path");
    }

    @Test
    void tmpfsTargetIsNormalized() {
        Sandbox sandbox = valid().tmpfs("/a//b/", 1 << 20).build();

        assertThat(sandbox.tmpfs()).containsExactly(new Tmpfs("/a/b", 1 << 20));
    }

    @Test
    void nestedTargetsAreNotDuplicates(@TempDir Path dir) {
        Sandbox sandbox = valid().bind(dir, "/data", true).tmpfs("/data/tmp").build();

        assertThat(sandbox.binds()).hasSize(1);
        assertThat(sandbox.tmpfs()).hasSize(1);
    }

    @Test
    void targetsOnlyStartingLikeProcOrDevAreAllowed(@TempDir Path dir) {
        Sandbox sandbox = valid().bind(dir, "/process", true).tmpfs("/devices").build();

        assertThat(sandbox.binds()).extracting(Bind::target).containsExactly("/process");
    }

    @Test
    void hostnameOf64CharactersIsAccepted() {
        String name = "a".repeat(30) + "." + "b".repeat(33);

        assertThat(valid().hostname(name).build().hostname()).contains(name);
    }

    @Test
    void tmpfsOfSizeZeroMeansKernelDefault() {
        assertThat(valid().tmpfs("/scratch").build().tmpfs()).containsExactly(new Tmpfs("/scratch", 0));
    }

    @Test
    void toBuilderRoundTripKeepsEverySetting(@TempDir Path dir) throws Exception {
        Path rootfs = Files.createDirectory(dir.resolve("root"));
        Path data = Files.createDirectory(dir.resolve("data"));
        @SuppressWarnings("resource") // never bound: nothing to release but the channel, closed at the end
        java.nio.channels.ServerSocketChannel listener = java.nio.channels.ServerSocketChannel.open();
        Sandbox original = Sandbox.builder()
                .rootfs(rootfs)
                .rootfsWritable(true)
                .writableLayerSize(8 << 20)
                .bind(data, "/data", false)
                .bind(data, "/data-ro", true)
                .tmpfs("/scratch", 4096)
                .copyIn(CopyIn.bytes("/scratch/in", new byte[] {1, 2}).readOnly())
                .copyIn(CopyIn.file("/scratch/dir/data", data).mode(0755))
                .copyOut("/scratch/out", 100)
                .uid(1000)
                .command("/bin/sh", "-c", "echo hi")
                .env("B", "2")
                .env("A", "1")
                .workingDirectory("/data")
                .hostname("crab-host")
                .domainname("crab.example")
                .sessionKeyring("_ses.crab")
                .device(Path.of("/dev/zero"), "/dev/zero-too")
                .stdin(Stdio.bytes("input".getBytes(StandardCharsets.UTF_8)))
                .stdout(Stdio.writeTo(dir.resolve("out")))
                .stderr(Stdio.discard())
                .bind(data, "/data-noexec", false, true)
                .tmpfs("/scratch-0700", 8192, 0700)
                .kernelMount(KernelMount.Type.SYSFS, "/sys", true)
                .umask(027)
                .maskPaths("/proc/version")
                .readOnlyPaths("/proc/cpuinfo")
                .sysctl("net.ipv4.ping_group_range", "0 0")
                .capabilities(java.util.EnumSet.of(Capability.CHOWN))
                .addCapabilities(Capability.NET_BIND_SERVICE)
                .dropCapabilities(Capability.CHOWN)
                .oomScoreAdj(-17)
                .permittedCapabilities(Set.of(Capability.NET_BIND_SERVICE))
                .effectiveCapabilities(Set.of(Capability.NET_BIND_SERVICE))
                .inheritableCapabilities(Set.of(Capability.NET_BIND_SERVICE))
                .ambientCapabilities(Set.of(Capability.NET_BIND_SERVICE))
                .noNewPrivileges(true)
                .seccomp(SeccompPolicy.builder(SeccompAction.allow()).rule(Syscall.PTRACE, SeccompAction.errno(1)).build())
                .network(Network.privateNetwork().publish(8080, 80))
                .limits(Limits.builder().memory(64L << 20).pids(10).wallTime(java.time.Duration.ofSeconds(3)).build())
                .keepTerminal(true)
                .socketActivation(listener)
                .passFd(9, java.io.FileDescriptor.out)
                .kernelMount(KernelMount.Type.DEVPTS, "/dev/pts", false)
                .terminal(Terminal.sentTo(dir.resolve("console.sock")).withSize(24, 80))
                .propagation("/data-noexec", Propagation.SLAVE)
                .supplementaryGroups(List.of(5, 10, 5))
                .ipcNamespace(Path.of("/proc/7/ns/ipc"))
                .utsNamespace(Path.of("/proc/7/ns/uts"))
                .build();

        Sandbox copy = original.toBuilder().build();

        assertThat(copy.rootfs()).isEqualTo(original.rootfs());
        assertThat(copy.rootfsWritable()).isTrue();
        assertThat(copy.binds()).isEqualTo(original.binds());
        assertThat(copy.tmpfs()).isEqualTo(original.tmpfs());
        assertThat(copy.uid()).isEqualTo(1000);
        assertThat(copy.command()).isEqualTo(original.command());
        assertThat(copy.environment()).containsExactly(Map.entry("B", "2"), Map.entry("A", "1"),
                Map.entry("LISTEN_FDS", "1"));
        assertThat(copy.workingDirectory()).isEqualTo("/data");
        assertThat(copy.hostname()).contains("crab-host");
        assertThat(copy.domainname()).contains("crab.example");
        assertThat(copy.sessionKeyring()).contains("_ses.crab");
        assertThat(copy.devices()).isEqualTo(original.devices()).hasSize(1);
        assertThat(copy.stdin()).isEqualTo(original.stdin());
        assertThat(copy.stdout()).isEqualTo(original.stdout());
        assertThat(copy.stderr()).isEqualTo(original.stderr());
        assertThat(copy.kernelMounts()).isEqualTo(original.kernelMounts()).hasSize(2);
        assertThat(copy.propagations()).containsExactly(Map.entry("/data-noexec", Propagation.SLAVE));
        assertThat(copy.supplementaryGroups()).containsExactly(5, 10);
        assertThat(copy.umask()).hasValue(027);
        assertThat(copy.oomScoreAdj()).hasValue(-17);
        assertThat(copy.maskedPaths()).isEqualTo(original.maskedPaths()).contains("/proc/version");
        assertThat(copy.readOnlyPaths()).isEqualTo(original.readOnlyPaths()).contains("/proc/cpuinfo");
        assertThat(copy.sysctls()).containsExactly(Map.entry("net.ipv4.ping_group_range", "0 0"));
        assertThat(copy.capabilities()).containsExactly(Capability.NET_BIND_SERVICE);
        assertThat(copy.effectiveCapabilities()).containsExactly(Capability.NET_BIND_SERVICE);
        assertThat(copy.permittedCapabilities()).containsExactly(Capability.NET_BIND_SERVICE);
        assertThat(copy.inheritableCapabilities()).containsExactly(Capability.NET_BIND_SERVICE);
        assertThat(copy.ambientCapabilities()).containsExactly(Capability.NET_BIND_SERVICE);
        assertThat(copy.noNewPrivileges()).isTrue();
        assertThat(copy.seccomp()).isEqualTo(original.seccomp()).isNotEqualTo(SeccompPolicy.defaultPolicy());
        assertThat(copy.network()).isEqualTo(original.network());
        assertThat(copy.network().ports()).hasSize(1);
        assertThat(copy.ipcNamespace()).hasValue(Path.of("/proc/7/ns/ipc"));
        assertThat(copy.utsNamespace()).hasValue(Path.of("/proc/7/ns/uts"));
        assertThat(copy).isEqualTo(original).hasSameHashCodeAs(original);
        assertThat(original.toBuilder().ipcNamespace(Path.of("/proc/8/ns/ipc")).build()).isNotEqualTo(original);
        assertThat(copy.limits()).isEqualTo(original.limits());
        assertThat(copy.limits().memoryBytes()).hasValue(64L << 20);
        assertThat(copy.keepTerminal()).isTrue();
        assertThat(copy.passedFds()).containsExactly(Map.entry(3, listener), Map.entry(9, java.io.FileDescriptor.out));
        assertThat(copy.socketActivation()).isTrue();
        assertThat(copy.copyIns()).isEqualTo(original.copyIns()).hasSize(2);
        assertThat(copy.copyOuts()).containsExactly(Map.entry("/scratch/out", 100L));
        assertThat(copy.terminal()).isEqualTo(original.terminal())
                .hasValue(new Terminal(dir.resolve("console.sock"), 24, 80));
        assertThat(copy.rootfsLayers()).isEqualTo(original.rootfsLayers()); // an image's: PlanCompilerTest, BuildTest
        assertThat(copy.writableLayerSize()).isEqualTo(8 << 20);
        assertThat(copy.writableLayerDirectory()).isEqualTo(original.writableLayerDirectory()); // an image's: BuildTest
        // Every accessor is compared above: a new setting must be added to this test.
        assertThat(java.util.Arrays.stream(Sandbox.class.getDeclaredMethods())
                .filter(m -> java.lang.reflect.Modifier.isPublic(m.getModifiers()) && m.getParameterCount() == 0
                        && !java.lang.reflect.Modifier.isStatic(m.getModifiers()))
                .map(java.lang.reflect.Method::getName).sorted().toList())
                .containsExactlyInAnyOrder("ambientCapabilities", "binds", "capabilities", "command", "devices",
                        "domainname", "sessionKeyring", "keepsCallersSessionKeyring",
                        "effectiveCapabilities", "environment", "hostname", "inheritableCapabilities",
                        "ipcNamespace", "utsNamespace",
                        "permittedCapabilities", "rootfsLayers",
                        "kernelMounts", "keepTerminal", "limits", "maskedPaths", "network", "noNewPrivileges",
                        "oomScoreAdj", "passedFds", "propagations", "socketActivation", "copyIns", "copyOuts",
                        "readOnlyPaths", "redirectErrorStream", "rootfs", "rootfsWritable", "run", "seccomp", "start",
                        "stderr", "stdin", "stdout", "supplementaryGroups", "sysctls", "terminal", "tmpfs", "toBuilder", "toOciConfig", "toString", "uid",
                        "umask", "workingDirectory", "writableLayerDirectory", "writableLayerSize", "hashCode");
        assertThat(copy).as("equal in every setting").isEqualTo(original).hasSameHashCodeAs(original);
        assertThat(copy.redirectErrorStream()).isFalse();
        Sandbox keeps = original.toBuilder().keepCallersSessionKeyring().build();
        assertThat(keeps.toBuilder().build()).isEqualTo(keeps).isNotEqualTo(original);
        assertThat(keeps.keepsCallersSessionKeyring()).isTrue();
        assertThat(keeps.sessionKeyring()).isEmpty();
        assertThat(copy.keepsCallersSessionKeyring()).isFalse();
        listener.close();
    }

    @Test
    void aBuilderCopiesItselfAndTheCopiesGoTheirOwnWays(@TempDir Path dir) {
        Sandbox.Builder base = valid().bind(dir, "/data", true).env("A", "1")
                .capabilities(java.util.EnumSet.of(Capability.CHOWN)).limits(Limits.judge());
        Sandbox.Builder copy = base.toBuilder();
        assertThat(copy.build()).isEqualTo(base.build()).hasSameHashCodeAs(base.build());

        copy.command("/bin/false").bindReadOnly(dir, "/more").env("B", "2").addCapabilities(Capability.KILL)
                .stdout(Stdio.discard());
        Sandbox original = base.build();
        assertThat(original.command()).containsExactly("/bin/true");
        assertThat(original.binds()).hasSize(1);
        assertThat(original.environment()).containsOnlyKeys("A");
        assertThat(original.capabilities()).containsExactly(Capability.CHOWN);
        assertThat(original.stdout()).isEqualTo(Stdio.pipe());
        assertThat(copy.build()).isNotEqualTo(original);
        // A builder that cannot build yet can still be copied.
        assertThat(Sandbox.builder().toBuilder().command("/bin/true").build()).isEqualTo(valid().build());
    }

    @Test
    void sandboxesAreEqualExactlyWhenEverySettingIs(@TempDir Path dir) {
        Sandbox a = valid().bind(dir, "/d", true).build();
        assertThat(valid().bind(dir, "/d", true).build()).isEqualTo(a).hasSameHashCodeAs(a);
        assertThat(valid().bind(dir, "/d", false).build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).uid(1).build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).hostname("h").build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).redirectErrorStream(true).build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).limits(Limits.judge()).build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).seccomp(SeccompPolicy.none()).build()).isNotEqualTo(a);
        assertThat(valid().bind(dir, "/d", true).effectiveCapabilities(Set.of()).build())
                .as("an explicit empty set is not the derived default").isNotEqualTo(a);
        assertThat(a).isNotEqualTo(null).isNotEqualTo("Sandbox");
    }

    @Test
    void readableBindForms(@TempDir Path dir) {
        Path real = dir.toAbsolutePath();
        assertThat(Bind.readOnly(real, "/in")).isEqualTo(new Bind(real, "/in", true, false));
        assertThat(Bind.readWrite(real, "/out")).isEqualTo(new Bind(real, "/out", false, false));
        Sandbox s = valid().bindReadOnly(dir, "/a").bind(Bind.readOnly(dir, "/b//")).bind(Bind.readWrite(dir, "/c"))
                .build();
        assertThat(s.binds()).containsExactly(new Bind(s.binds().get(0).source(), "/a", true),
                new Bind(s.binds().get(0).source(), "/b", true), new Bind(s.binds().get(0).source(), "/c", false));
        assertThat(s).isEqualTo(valid().bind(dir, "/a", true).bind(dir, "/b", true).bind(dir, "/c", false).build());
        assertThatThrownBy(() -> valid().bind(Bind.readOnly(dir.resolve("missing"), "/x")))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("does not exist");
        assertThatThrownBy(() -> Bind.readWrite(dir, "relative")).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("absolute");
    }

    @Test
    void stderrCanGoToStdoutAndNothingElseCan() {
        Sandbox merged = valid().redirectErrorStream(true).build();
        assertThat(merged.redirectErrorStream()).isTrue();
        assertThat(merged.stderr()).isEqualTo(Stdio.toStdout()).isEqualTo(valid().stderr(Stdio.toStdout()).build().stderr());
        assertThat(merged.toBuilder().redirectErrorStream(false).build().stderr()).isEqualTo(Stdio.pipe());
        assertThat(valid().stderr(Stdio.discard()).redirectErrorStream(false).build().stderr())
                .as("false leaves a stderr of its own alone").isEqualTo(Stdio.discard());
        assertThatThrownBy(() -> valid().stdout(Stdio.toStdout())).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("only stderr can go to stdout");
        assertThatThrownBy(() -> valid().stdin(Stdio.toStdout())).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("stdin cannot be TO_STDOUT");
    }

    @Test
    void changingAToBuilderCopyLeavesTheOriginalAlone(@TempDir Path dir) {
        Sandbox original = valid().bind(dir, "/data", true).env("A", "1").build();

        original.toBuilder().command("/bin/false").bind(dir, "/more", true).env("B", "2").build();

        assertThat(original.command()).containsExactly("/bin/true");
        assertThat(original.binds()).hasSize(1);
        assertThat(original.environment()).containsOnlyKeys("A");
    }

    @Test
    void reusingABuilderAfterBuildLeavesTheBuiltSandboxAlone() {
        Sandbox.Builder builder = valid().env("A", "1");
        Sandbox first = builder.build();

        builder.command("/bin/false").env("B", "2").tmpfs("/scratch");

        assertThat(first.command()).containsExactly("/bin/true");
        assertThat(first.environment()).containsOnlyKeys("A");
        assertThat(first.tmpfs()).isEmpty();
    }

    @Test
    void commandIsCopiedFromTheCallersList() {
        List<String> argv = new ArrayList<>(List.of("/bin/echo", "a"));
        Sandbox.Builder builder = Sandbox.builder().command(argv);

        argv.set(1, "changed");

        assertThat(builder.build().command()).containsExactly("/bin/echo", "a");
    }

    @Test
    void environmentReplacesEarlierVariables() {
        Sandbox sandbox = valid().env("OLD", "1").environment(Map.of("NEW", "2")).build();

        assertThat(sandbox.environment()).containsExactly(Map.entry("NEW", "2"));
    }

    @Test
    void returnedListsAndMapsAreUnmodifiable(@TempDir Path dir) {
        Sandbox sandbox = valid().bind(dir, "/data", true).tmpfs("/scratch").env("A", "1").build();

        assertThatThrownBy(() -> sandbox.binds().clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> sandbox.tmpfs().clear()).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> sandbox.command().set(0, "/bin/sh")).isInstanceOf(UnsupportedOperationException.class);
        assertThatThrownBy(() -> sandbox.environment().put("B", "2")).isInstanceOf(UnsupportedOperationException.class);
    }

    @Test
    void stdioBytesCopiesItsInput() {
        byte[] input = {1, 2, 3};
        Stdio stdio = Stdio.bytes(input);

        input[0] = 99;

        assertThat(stdio.bytes()).containsExactly(1, 2, 3);
    }

    @Test
    void stdioBytesReturnsACopy() {
        Stdio stdio = Stdio.bytes(new byte[] {1, 2, 3});

        stdio.bytes()[0] = 99;

        assertThat(stdio.bytes()).containsExactly(1, 2, 3);
    }

    @Test
    void defaultPathIsTheUsualSearchPath() {
        assertThat(Sandbox.DEFAULT_PATH).isEqualTo("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    }

    @Test
    void defaultWorkingDirectoryIsRoot() {
        assertThat(valid().build().workingDirectory()).isEqualTo("/");
    }

    @Test
    void defaultStdioIsPipe() {
        Sandbox sandbox = valid().build();

        assertThat(List.of(sandbox.stdin(), sandbox.stdout(), sandbox.stderr()))
                .extracting(Stdio::kind)
                .containsOnly(Stdio.Kind.PIPE);
    }

    @Test
    void otherDefaults() {
        Sandbox sandbox = valid().build();

        assertThat(sandbox.rootfs()).isEmpty();
        assertThat(sandbox.rootfsWritable()).isFalse();
        assertThat(sandbox.uid()).isZero();
        assertThat(sandbox.hostname()).isEmpty();
        assertThat(sandbox.binds()).isEmpty();
        assertThat(sandbox.tmpfs()).isEmpty();
    }

    @Test
    void capabilitySetsDefaultFromTheUidAndRoundTripThroughToBuilder() {
        Sandbox root = Sandbox.builder().command("/bin/true").build();
        assertThat(root.effectiveCapabilities()).isEqualTo(Capability.DEFAULT_KEPT);
        assertThat(root.permittedCapabilities()).isEqualTo(Capability.DEFAULT_KEPT);
        assertThat(root.inheritableCapabilities()).isEmpty();
        assertThat(root.ambientCapabilities()).isEmpty();
        assertThat(root.toBuilder().uid(1000).build().permittedCapabilities()).as("derived from the new uid").isEmpty();

        Set<Capability> bind = EnumSet.of(Capability.NET_BIND_SERVICE);
        Sandbox user = Sandbox.builder().command("/bin/true").uid(1000).permittedCapabilities(bind)
                .effectiveCapabilities(bind).inheritableCapabilities(bind).ambientCapabilities(bind).build();
        Sandbox copy = user.toBuilder().build();
        for (Sandbox s : List.of(user, copy)) {
            assertThat(List.of(s.effectiveCapabilities(), s.permittedCapabilities(), s.inheritableCapabilities(),
                    s.ambientCapabilities())).containsOnly(bind);
        }
        assertThat(user.toBuilder().dropCapabilities(Capability.NET_BIND_SERVICE).build().ambientCapabilities())
                .as("dropped from every set").isEmpty();
    }

    @Test
    void capabilitySetsNeverExceedTheBoundingSetOrWhatTheKernelAllows() {
        Set<Capability> admin = EnumSet.of(Capability.SYS_ADMIN);
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true").permittedCapabilities(admin).build())
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("permitted capabilities [SYS_ADMIN] are not in the bounding set");
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true").inheritableCapabilities(admin).build())
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("inheritable capabilities [SYS_ADMIN] are not in the bounding set");
        Set<Capability> chown = EnumSet.of(Capability.CHOWN);
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true").uid(5).effectiveCapabilities(chown).build())
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("effective capabilities [CHOWN] are not in the permitted set");
        assertThatThrownBy(() -> Sandbox.builder().command("/bin/true").ambientCapabilities(chown).build())
                .isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("ambient capabilities [CHOWN] are not in both the permitted and the inheritable");
    }

    @Test
    void aSandboxPipesEndsGoOnlyWhereTheyCanBeUsed() throws Exception {
        try (SandboxPipe pipe = SandboxPipe.create(); SandboxPipe other = SandboxPipe.create()) {
            assertThatThrownBy(() -> Sandbox.builder().stdout(Stdio.from(pipe))).isInstanceOf(SandboxSpecException.class);
            assertThatThrownBy(() -> Sandbox.builder().stdin(Stdio.to(pipe))).isInstanceOf(SandboxSpecException.class)
                    .hasMessageContaining("from(SandboxPipe)");
            assertThatThrownBy(() -> Sandbox.builder().passFd(1, pipe.writeEnd()))
                    .isInstanceOf(SandboxSpecException.class).hasMessageContaining("from 3");
            assertThat(Stdio.from(pipe)).isEqualTo(Stdio.from(pipe)).isNotEqualTo(Stdio.from(other))
                    .isNotEqualTo(Stdio.to(pipe));
            assertThat(Stdio.to(pipe).pipeEnd()).isSameAs(pipe.writeEnd());
            assertThat(pipe.readEnd().isAvailable()).isTrue();
            pipe.close();
            assertThat(pipe.readEnd().isAvailable()).isFalse();
            assertThat(pipe.writeEnd().isAvailable()).isFalse();
        }
    }

    @Test
    void copiesAreCheckedWhenBuilt() {
        assertThatThrownBy(() -> CopyIn.bytes("box/a", new byte[0])).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("absolute");
        assertThatThrownBy(() -> CopyIn.bytes("/box/", new byte[0])).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("must name a file");
        assertThatThrownBy(() -> CopyIn.bytes("/box/a", new byte[0]).mode(01755))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("mode");
        assertThatThrownBy(() -> Sandbox.builder().command("true").tmpfs(new Tmpfs("/ro", 0, 0755, true, false))
                .copyIn("/ro/a", new byte[0]).build()).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("read-only tmpfs /ro");
        assertThatThrownBy(() -> Sandbox.builder().copyIn("/box/a", new byte[0]).copyIn("/box//a", new byte[1]))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("already copied in");
        assertThatThrownBy(() -> Sandbox.builder().copyOut("/box/a", -1)).isInstanceOf(SandboxSpecException.class);
        byte[] bytes = {1, 2, 3};
        CopyIn c = CopyIn.bytes("/box/a", bytes);
        bytes[0] = 9;
        assertThat(c.content()).containsExactly(1, 2, 3);
        assertThat(c).isEqualTo(CopyIn.bytes("/box/a", new byte[] {1, 2, 3})).isNotEqualTo(c.readOnly());
        assertThat(c.readOnly().mode()).isEqualTo(0444);
    }
}
