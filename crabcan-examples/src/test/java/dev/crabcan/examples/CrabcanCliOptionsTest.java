package dev.crabcan.examples;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.params.provider.Arguments.arguments;

import dev.crabcan.Sandbox;
import dev.crabcan.Stdio;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CLI's option parsing, and its refusals of command lines that cannot work. Every command
 * line given to {@link CrabcanCli#run} here fails before a sandbox is started.
 */
class CrabcanCliOptionsTest {

    private static CrabcanCli.Options parse(String... args) {
        return CrabcanCli.Options.parse(args);
    }

    /** What {@link CrabcanCli#run} printed and returned. */
    private record Run(int status, String output) {
        String firstLine() {
            return output.lines().findFirst().orElse("");
        }
    }

    private static Run run(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream err = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        int status = CrabcanCli.run(args, err);
        return new Run(status, bytes.toString(StandardCharsets.UTF_8));
    }

    private static Arguments refused(String description, String namedInReason, Function<Path, String[]> args) {
        return arguments(description, namedInReason, args);
    }

    private static Arguments refused(String description, String namedInReason, String... args) {
        return refused(description, namedInReason, dir -> args);
    }

    // ---- command lines refused before any sandbox starts ----

    static Stream<Arguments> refusedCommandLines() {
        return Stream.of(
                refused("unknown short option", "'-x'", "-x", "--", "/bin/true"),
                refused("unknown long option", "'--network'", "--network", "-c", "/bin/true"),
                refused("-m without a value", "-m needs a value", "-m"),
                refused("--mount without a value", "--mount needs a value", "-c", "/bin/true", "--mount"),
                refused("-u without a value", "-u needs a value", "-u"),
                refused("-a without a value", "-a needs a value", "-a"),
                refused("-r without a value", "-r needs a value", "-r"),
                refused("-t without a value", "-t needs a value", "-t"),
                refused("-e without a value", "-e needs a value", "-e"),
                refused("-w without a value", "-w needs a value", "-w"),
                refused("--hostname without a value", "--hostname needs a value", "--hostname"),
                refused("-c without a value", "-c needs a value", "-c"),
                refused("-u -1", "'-1'", "-u", "-1", "--", "/bin/true"),
                refused("-u abc", "'abc'", "-u", "abc", "--", "/bin/true"),
                refused("-u beyond int", "'4294967296'", "-u", "4294967296", "--", "/bin/true"),
                refused("-a without ':'", "'/lib'", "-a", "/lib", "--", "/bin/true"),
                refused("-a with empty FROM", "':/lib'", "-a", ":/lib", "--", "/bin/true"),
                refused("-a with empty TO", "'/lib:'", "-a", "/lib:", "--", "/bin/true"),
                refused("-r with only ':'", "':'", "-r", ":", "--", "/bin/true"),
                refused("-c empty string", "-c wants a command", "-c", ""),
                refused("-c blank string", "-c wants a command", "-c", "  \t "),
                refused("no command at all", "no command given", "-u", "5"),
                refused("no arguments at all", "no command given"),
                refused("both -c and --", "given twice", "-c", "/bin/true", "--", "/bin/true"),
                refused("-c twice", "given twice", "-c", "/bin/true", "-c", "/bin/false"),
                refused("-- with nothing after", "command is empty", "--"),
                refused("--writable-rootfs without -m", "--writable-rootfs", "--writable-rootfs", "--", "/bin/true"),
                refused("--json with a value", "takes no value", "--json=yes", "/bin/true"),
                refused("--cap-add unknown", "'NET_TELEPATHY'", "--cap-add", "NET_TELEPATHY", "/bin/true"),
                refused("--stop-signal KILL", "'KILL'", "--stop-signal", "KILL", "/bin/true"),
                refused("--wall-time with a bad unit", "'10h'", "--wall-time", "10h", "/bin/true"),
                refused("-e with empty name", "'=bar'", "-e", "=bar", "--", "/bin/true"),
                refused("-w relative", "'work'", "-w", "work", "--", "/bin/true"),
                refused("--hostname with '_'", "'my_host'", "--hostname", "my_host", "--", "/bin/true"),
                refused("-t relative", "'scratch'", "-t", "scratch", "--", "/bin/true"),
                refused("-a with relative TO", "'data'", dir -> new String[] {"-a", dir + ":data", "--", "/bin/true"}),
                refused("-m nonexistent dir", "no-such-root",
                        dir -> new String[] {"-m", dir.resolve("no-such-root").toString(), "--", "/bin/true"}),
                refused("-r source missing", "no-such-source",
                        dir -> new String[] {"-r", dir.resolve("no-such-source") + ":/data", "--", "/bin/true"}),
                refused("-a source missing", "no-such-source",
                        dir -> new String[] {"-a", dir.resolve("no-such-source") + ":/data", "-c", "/bin/true"}),
                refused("-a at /proc", "/proc", dir -> new String[] {"-a", dir + ":/proc", "--", "/bin/true"}),
                refused("--net without a value", "--net needs a value", "--net"),
                refused("--net unknown mode", "'bridge'", "--net", "bridge", "--", "/bin/true"),
                refused("-p without a value", "-p needs a value", "-p"),
                refused("-p without --net private", "--publish needs --net private", "-p", "8080:80", "--", "/bin/true"),
                refused("-p with --net host", "--publish needs --net private", "--net", "host", "-p", "8080:80", "--",
                        "/bin/true"),
                refused("-p with one port", "'8080'", "--net", "private", "-p", "8080", "--", "/bin/true"),
                refused("-p with too many parts", "'1:2:3:4'", "--net", "private", "-p", "1:2:3:4", "--", "/bin/true"),
                refused("-p sctp", "tcp or udp", "--net", "private", "-p", "53:53/sctp", "--", "/bin/true"),
                refused("--net-allow-host without --net private", "--net-allow-host and --net-allow need --net private",
                        "--net-allow-host", "--", "/bin/true"),
                refused("--net-allow not a range", "'169.254.169.254'", "--net", "private", "--net-allow",
                        "169.254.169.254", "--", "/bin/true"),
                refused("--net-allow with host bits", "169.254.0.0/16", "--net", "private", "--net-allow",
                        "169.254.1.0/16", "--", "/bin/true"),
                refused("-p port not a number", "'http'", "--net", "private", "-p", "http:80", "--", "/bin/true"),
                refused("-p port out of range", "65536", "--net", "private", "-p", "65536:80", "--", "/bin/true"),
                refused("-p bad address", "'localhost'", "--net", "private", "-p", "localhost:8080:80", "--",
                        "/bin/true"),
                refused("-p same host port twice", "already published", "--net", "private", "-p", "8080:80", "-p",
                        "8080:81", "--", "/bin/true"),
                refused("-p IPv6 without its bracket", "'[::1:8080:80'", "--net", "private", "-p", "[::1:8080:80", "--",
                        "/bin/true"),
                refused("-p [::] and 0.0.0.0 on one port", "already published", "--net", "private", "-p",
                        "0.0.0.0:8080:80", "-p", "[::]:8080:81", "--", "/bin/true"));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedCommandLines")
    void refusedCommandLineExits125(String description, String namedInReason, Function<Path, String[]> args,
            @TempDir Path dir) {
        assertThat(run(args.apply(dir)).status()).isEqualTo(125);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("refusedCommandLines")
    void refusedCommandLinePrintsTheReasonOnTheFirstLine(String description, String namedInReason,
            Function<Path, String[]> args, @TempDir Path dir) {
        assertThat(run(args.apply(dir)).firstLine()).startsWith("crabcan: ").contains(namedInReason);
    }

    @Test
    void parseRefusesAnUnknownOptionWithIllegalArgumentException() {
        assertThatThrownBy(() -> parse("--bogus")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("'--bogus'");
    }

    // ---- help ----

    @ParameterizedTest
    @ValueSource(strings = {"-h", "--help"})
    void helpExitsZero(String flag) {
        assertThat(run(flag).status()).isZero();
    }

    @ParameterizedTest
    @ValueSource(strings = {"-h", "--help"})
    void helpPrintsUsage(String flag) {
        assertThat(run(flag).output()).startsWith("Usage:").contains("-m, --mount DIR").contains("-c");
    }

    @Test
    void networkFlagsMakeTheNetwork() {
        dev.crabcan.Network n = parse("--net", "private", "-p", "8080:80", "-p", "0.0.0.0:5353:53/udp",
                "-p", "[::1]:8080:80", "-p", "[::]:9090:90/tcp", "--net-allow-host", "--net-allow",
                "169.254.169.254/32", "--net-allow", "fd00:ec2::254/128", "--", "/bin/true").network();
        assertThat(n.ports()).containsExactly(new dev.crabcan.Network.Port("127.0.0.1", 8080, 80),
                new dev.crabcan.Network.Port("0.0.0.0", 5353, 53, dev.crabcan.Network.Protocol.UDP),
                new dev.crabcan.Network.Port("::1", 8080, 80), new dev.crabcan.Network.Port("::", 9090, 90));
        assertThat(n.ports().get(2)).hasToString("[::1]:8080:80");
        assertThat(n.hostAllowed()).isTrue();
        assertThat(n.allowed()).containsExactly("169.254.169.254/32", "fd00:ec2::254/128");
    }

    @Test
    void helpNeedsNoCommand() {
        assertThat(parse("-h").help).isTrue();
    }

    // ---- commands ----

    @Test
    void dashCSplitsOnWhitespace() {
        assertThat(parse("-c", "/bin/sh -c id").command).containsExactly("/bin/sh", "-c", "id");
    }

    @Test
    void dashCIgnoresLeadingTrailingAndRepeatedWhitespace() {
        assertThat(parse("-c", "  /bin/echo \t a   b  ").command).containsExactly("/bin/echo", "a", "b");
    }

    @Test
    void doubleDashKeepsEachArgumentWhole() {
        assertThat(parse("--", "/bin/echo", "a b").command).containsExactly("/bin/echo", "a b");
    }

    @Test
    void optionsAfterDoubleDashBelongToTheCommand() {
        CrabcanCli.Options o = parse("--", "/bin/ls", "-u", "5", "-h");

        assertThat(o.command).containsExactly("/bin/ls", "-u", "5", "-h");
        assertThat(o.uid).isZero();
        assertThat(o.help).isFalse();
    }

    @Test
    void optionsMayFollowDashC() {
        assertThat(parse("-c", "/bin/true", "-u", "7").uid).isEqualTo(7);
    }

    @Test
    void theCommandMayFollowTheOptionsWithoutDoubleDash() {
        CrabcanCli.Options o = parse("-u", "5", "ls", "-l", "-u", "/");
        assertThat(o.command).containsExactly("ls", "-l", "-u", "/");
        assertThat(o.uid).isEqualTo(5);
    }

    @Test
    void longOptionsTakeEqualsValues() {
        CrabcanCli.Options o = parse("--uid=7", "--env=A=b", "--wall-time=2s", "--add-ro=/usr:/u", "--", "/bin/true");
        assertThat(o.uid).isEqualTo(7);
        assertThat(o.env).containsExactly("A=b");
        assertThat(o.limits.wallTime()).contains(java.time.Duration.ofSeconds(2));
        assertThat(o.binds).containsExactly(new String[] {"/usr", "/u", "ro"});
    }

    @ParameterizedTest
    @CsvSource({"10, 10000", "0.5, 500", "2s, 2000", "250ms, 250", "1m, 60000"})
    void durationsWithoutAUnitAreSeconds(String given, long millis) {
        assertThat(parse("--wall-time", given, "--cpu-time", given, "/bin/true").limits.wallTime())
                .contains(java.time.Duration.ofMillis(millis));
    }

    @Test
    void versionIsPrintedOnStdout() {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int status = CrabcanCli.run(new String[] {"--version"}, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8));
        assertThat(status).isZero();
        assertThat(out.toString(StandardCharsets.UTF_8)).matches("crabcan \\d+\\.\\d+\\.\\d+.*\n");
    }

    @Test
    void helpSaysHowDashCSplitsAndHowToQuote() {
        assertThat(run("--help").output()).contains("splits its one string on white space")
                .contains("crabcan /bin/sh -c 'echo \"a b\"'");
    }

    // ---- binds and other options ----

    @Test
    void dockersReadOnlySuffixMakesAReadOnlyBind() {
        assertThat(parse("-a", "/usr:/usr:ro", "-a", "/srv:/srv:rw", "-c", "x").binds)
                .containsExactly(new String[] {"/usr", "/usr", "ro"}, new String[] {"/srv", "/srv", "rw"});
    }

    @Test
    void dashENamePassesTheHostsValue() {
        String path = System.getenv("PATH");
        Sandbox s = parse("-e", "PATH", "-e", "CRABCAN_SURELY_UNSET_VARIABLE", "/bin/true").toSandbox();
        assertThat(s.environment()).containsEntry("PATH", path).doesNotContainKey("CRABCAN_SURELY_UNSET_VARIABLE");
    }

    @Test
    void capabilitiesAreAddedAndDropped() {
        assertThat(parse("--cap-add", "NET_RAW", "--cap-drop", "CAP_CHOWN", "/bin/true").toSandbox().capabilities())
                .contains(dev.crabcan.Capability.NET_RAW).doesNotContain(dev.crabcan.Capability.CHOWN);
        assertThat(parse("--cap-drop", "ALL", "--cap-add", "KILL", "/bin/true").toSandbox().capabilities())
                .containsExactly(dev.crabcan.Capability.KILL);
        assertThat(parse("--cap-add", "ALL", "/bin/true").toSandbox().capabilities())
                .containsExactlyInAnyOrder(dev.crabcan.Capability.values());
    }

    @ParameterizedTest
    @CsvSource({"TERM, 15", "SIGINT, 2", "hup, 1", "10, 10"})
    void stopSignalsByNameOrNumber(String given, int number) {
        assertThat(parse("--stop-signal", given, "/bin/true").stopSignal).isEqualTo(number);
    }

    @Test
    void dashAIsAReadWriteBind() {
        assertThat(parse("-a", "/lib:/lib", "-c", "x").binds).containsExactly(new String[] {"/lib", "/lib", "rw"});
    }

    @Test
    void dashRIsAReadOnlyBind() {
        assertThat(parse("-r", "/usr:/opt/usr", "-c", "x").binds)
                .containsExactly(new String[] {"/usr", "/opt/usr", "ro"});
    }

    @Test
    void repeatedBindsAccumulateInOrder() {
        CrabcanCli.Options o = parse("-a", "/a:/a", "-r", "/b:/b", "--add", "/c:/c", "-c", "x");

        assertThat(o.binds).containsExactly(
                new String[] {"/a", "/a", "rw"}, new String[] {"/b", "/b", "ro"}, new String[] {"/c", "/c", "rw"});
    }

    @Test
    void repeatedEnvAccumulates() {
        assertThat(parse("-e", "A=1", "--env", "B=2", "-c", "x").env).containsExactly("A=1", "B=2");
    }

    @Test
    void repeatedTmpfsAccumulates() {
        assertThat(parse("-t", "/x", "--tmpfs", "/y", "-c", "x").tmpfs).containsExactly("/x", "/y");
    }

    @Test
    void laterUidWins() {
        assertThat(parse("-u", "1", "--uid", "2", "-c", "x").uid).isEqualTo(2);
    }

    @Test
    void debugIsAccepted() {
        assertThat(parse("-d", "--debug", "-c", "x").command).containsExactly("x");
    }

    @ParameterizedTest
    @CsvSource({
        "-m, --mount, /srv/root",
        "-u, --uid, 1000",
        "-a, --add, /src:/dst",
        "-r, --add-ro, /src:/dst",
        "-t, --tmpfs, /scratch",
        "-e, --env, NAME=VALUE",
        "-w, --workdir, /work",
    })
    void shortAndLongFormsParseAlike(String shortForm, String longForm, String value) {
        assertThat(describe(parse(shortForm, value, "-c", "/bin/true")))
                .isEqualTo(describe(parse(longForm, value, "-c", "/bin/true")));
    }

    @Test
    void longCommandFormSplitsLikeDashC() {
        assertThat(parse("--command", "/bin/echo hi").command).isEqualTo(parse("-c", "/bin/echo hi").command);
    }

    @Test
    void longOnlyOptions() {
        CrabcanCli.Options o = parse("--writable-rootfs", "--hostname", "crab", "-c", "x");

        assertThat(o.writableRootfs).isTrue();
        assertThat(o.hostname).isEqualTo("crab");
    }

    @Test
    void everyOptionLandsInItsField() {
        CrabcanCli.Options o = parse("-m", "/srv/root", "-u", "1000", "-t", "/scratch", "-e", "A=b=c",
                "-w", "/work", "--", "/bin/true");

        assertThat(o.rootfs).isEqualTo(Path.of("/srv/root"));
        assertThat(o.uid).isEqualTo(1000);
        assertThat(o.tmpfs).containsExactly("/scratch");
        assertThat(o.env).containsExactly("A=b=c");
        assertThat(o.workdir).isEqualTo("/work");
    }

    @Test
    void toSandboxMapsOptionsOntoTheBuilder(@TempDir Path dir) {
        Sandbox sandbox = parse("-m", dir.toString(), "--writable-rootfs", "-u", "1000", "-r", dir + ":/data",
                "-e", "A=b=c", "-w", "/data", "--hostname", "crab", "--", "/bin/echo", "hi").toSandbox();

        assertThat(sandbox.rootfs()).contains(dir.toAbsolutePath());
        assertThat(sandbox.rootfsWritable()).isTrue();
        assertThat(sandbox.uid()).isEqualTo(1000);
        assertThat(sandbox.binds()).singleElement()
                .satisfies(b -> assertThat(b.target()).isEqualTo("/data"))
                .satisfies(b -> assertThat(b.readOnly()).isTrue());
        assertThat(sandbox.environment()).containsEntry("A", "b=c");
        assertThat(sandbox.workingDirectory()).isEqualTo("/data");
        assertThat(sandbox.hostname()).contains("crab");
        assertThat(sandbox.command()).containsExactly("/bin/echo", "hi");
        assertThat(sandbox.stdout()).isEqualTo(Stdio.inherit());
    }

    private static String describe(CrabcanCli.Options o) {
        List<String> binds = o.binds.stream().map(Arrays::toString).toList();
        return String.join("|", String.valueOf(o.rootfs), String.valueOf(o.writableRootfs), String.valueOf(o.uid),
                binds.toString(), o.tmpfs.toString(), o.env.toString(), String.valueOf(o.workdir),
                String.valueOf(o.hostname), String.valueOf(o.command), String.valueOf(o.help));
    }

    @Test
    void readWriteBindsOfSystemDirectoriesAreNamedForTheWarning(@TempDir Path dir) throws Exception {
        // /lib is a link to usr/lib on merged-/usr hosts: found as given and as resolved.
        assertThat(parse("-a", "/lib64:/lib64", "-a", "/lib:/lib", "-a", "/usr/lib/x86_64-linux-gnu:/x", "-a", "/:/host",
                "-a", "/var:/var", "-a", dir + ":/data", "-r", "/usr:/usr", "-a", "/etc/:/etc2", "--", "/bin/true")
                .writableSystemBinds())
                .containsExactly("/lib64", "/lib", "/usr/lib/x86_64-linux-gnu", "/", "/var", "/etc/");
        java.nio.file.Files.createSymbolicLink(dir.resolve("sneaky"), Path.of("/usr"));
        assertThat(parse("-a", dir.resolve("sneaky") + ":/x", "--", "/bin/true").writableSystemBinds())
                .containsExactly(dir.resolve("sneaky").toString());
        assertThat(parse("-a", "/var/tmp:/x", "-a", "/usrlocal-not:/y", "--", "/bin/true").writableSystemBinds())
                .isEmpty();
    }

    /** --seccomp FILE: runtime-spec's linux.seccomp object, read by the OCI config's own reader. */
    @Test
    void seccompFileIsReadAsAnOciSeccompObject(@TempDir Path dir) throws Exception {
        Path profile = java.nio.file.Files.writeString(dir.resolve("deny-mkdir.json"), """
                {"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}
                """);
        Sandbox sandbox = parse("--seccomp", profile.toString(), "/bin/true").toSandbox();
        assertThat(sandbox.seccomp()).isEqualTo(dev.crabcan.SeccompPolicy.builder(dev.crabcan.SeccompAction.allow())
                .rule(dev.crabcan.Syscall.MKDIR, dev.crabcan.SeccompAction.errno(1))
                .rule(dev.crabcan.Syscall.MKDIRAT, dev.crabcan.SeccompAction.errno(1)).build());
        assertThat(parse("--seccomp=" + profile, "/bin/true").toSandbox().seccomp()).isEqualTo(sandbox.seccomp());
        assertThat(parse("/bin/true").toSandbox().seccomp()).isEqualTo(dev.crabcan.SeccompPolicy.defaultPolicy());
    }

    @Test
    void aBadSeccompFileIsRefusedNamingTheFileAndTheField(@TempDir Path dir) throws Exception {
        Path bad = java.nio.file.Files.writeString(dir.resolve("bad.json"), """
                {"defaultAction": "SCMP_ACT_ALLOW",
                 "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                              {"names": ["rmdir"], "action": "SCMP_ACT_BOGUS"}]}
                """);
        Run r = run("--seccomp", bad.toString(), "/bin/true");
        assertThat(r.status()).isEqualTo(125);
        assertThat(r.firstLine()).startsWith("crabcan: " + bad + ": syscalls[1].action SCMP_ACT_BOGUS: not supported");
        Path noDefault = java.nio.file.Files.writeString(dir.resolve("nodefault.json"), "{\"syscalls\": []}");
        assertThat(run("--seccomp", noDefault.toString(), "/bin/true").firstLine())
                .isEqualTo("crabcan: " + noDefault + ": defaultAction: is required");
        Path notJson = java.nio.file.Files.writeString(dir.resolve("not.json"), "defaultAction: allow");
        assertThat(run("--seccomp", notJson.toString(), "/bin/true").firstLine())
                .startsWith("crabcan: " + notJson + " is not valid JSON");
        assertThat(run("--seccomp", dir.resolve("missing.json").toString(), "/bin/true").firstLine())
                .startsWith("crabcan: cannot read the seccomp profile " + dir.resolve("missing.json"));
        assertThat(run("--seccomp").firstLine()).contains("--seccomp needs a value");
    }
}
