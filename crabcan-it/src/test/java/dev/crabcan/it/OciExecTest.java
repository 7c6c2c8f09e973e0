package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.internal.json.Json;
import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import dev.crabcan.it.OciCli.Run;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * crabcan-oci exec and terminals, every command a new process as an engine runs it: the exec'd
 * process is in the container (its namespaces, ids, capabilities, rlimits and filter), gets nothing
 * of the runtime, and the container cannot reach the runtime's code through it (the attacks of runc
 * CVE-2019-5736 and CVE-2024-21626, performed); a terminal's master reaches the console socket.
 */
class OciExecTest {
    private static final List<String> APPLETS = List.of("sh", "true", "cat", "echo", "ls", "readlink", "grep", "sleep",
            "tty", "stty", "mkdir", "pwd", "id", "hostname", "kill", "rm", "ln", "mkfifo", "stat", "touch", "chgrp");
    /** Capabilities the container's own process holds, which an exec'd process must hold too and no more. */
    private static final List<String> CAPS = List.of("CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SYS_PTRACE",
            "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER");

    @TempDir
    Path dir;
    private final List<String> created = new ArrayList<>();
    private OciCli cli;

    @org.junit.jupiter.api.BeforeEach
    void newCli() {
        cli = new OciCli(dir, 90);
    }


    @AfterEach
    void deleteContainers() throws Exception {
        for (String id : created) {
            oci("delete", "--force", id);
        }
        assertThat(dir.resolve("state")).satisfiesAnyOf(p -> assertThat(p).doesNotExist(),
                p -> assertThat(p).isEmptyDirectory());
    }

    /** A bundle of busybox (and the test programs given) whose process runs args; extra goes into config.json. */
    Path bundle(String name, List<String> args, Map<String, Object> process, String... programs) throws Exception {
        Path bundle = Files.createDirectories(dir.resolve(name));
        Path bin = Files.createDirectories(bundle.resolve("rootfs/bin"));
        Files.createDirectories(bundle.resolve("rootfs/tmp"));
        Files.copy(Env.tool("busybox", "busybox-static"), bin.resolve("busybox"));
        for (String applet : APPLETS) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        for (String program : programs) {
            Files.copy(Env.staticBinary(program), bin.resolve(program));
        }
        Map<String, Object> p = new LinkedHashMap<>(Map.of("user", Map.of("uid", 0, "gid", 0), "args", args, "cwd", "/",
                "env", List.of("PATH=/bin", "FOO=container"), "noNewPrivileges", true,
                "capabilities", Map.of("bounding", CAPS, "effective", CAPS, "permitted", CAPS),
                "rlimits", List.of(Map.of("type", "RLIMIT_NOFILE", "soft", 200, "hard", 300))));
        p.putAll(process);
        Map<String, Object> config = new LinkedHashMap<>();
        config.put("ociVersion", "1.0.2");
        config.put("process", p);
        config.put("root", Map.of("path", "rootfs"));
        config.put("hostname", "exec-test");
        config.put("mounts", List.of(Map.of("destination", "/proc", "type", "proc", "source", "proc"),
                Map.of("destination", "/dev/pts", "type", "devpts", "source", "devpts",
                        "options", List.of("newinstance", "ptmxmode=0666", "mode=0620"))));
        config.put("linux", Map.of("namespaces", List.of(Map.of("type", "pid"), Map.of("type", "network"),
                Map.of("type", "ipc"), Map.of("type", "uts"), Map.of("type", "mount")),
                // mkdir refused with EPERM: the exec'd process must have the container's filter.
                "seccomp", Map.of("defaultAction", "SCMP_ACT_ALLOW", "architectures", List.of("SCMP_ARCH_X86_64"),
                        "syscalls", List.of(Map.of("names", List.of("mkdir", "mkdirat"), "action", "SCMP_ACT_ERRNO",
                                "errnoRet", 1)))));
        Files.writeString(bundle.resolve("config.json"), Json.write(config));
        return bundle;
    }

    List<String> ociCommand(String... args) {
        return cli.command(args);
    }

    Run oci(String... args) throws Exception {
        return cli.oci(null, args);
    }

    Run run(List<String> cmd, File stdout) throws Exception {
        return cli.run(cmd, stdout);
    }

    /** Creates and starts a container; its output goes to the file returned. */
    Path start(String id, Path bundle, String... options) throws Exception {
        Path out = dir.resolve(id + ".out");
        List<String> args = new ArrayList<>(List.of("create", "--bundle", bundle.toString()));
        args.addAll(List.of(options));
        args.add(id);
        Run c = run(ociCommand(args.toArray(String[]::new)), out.toFile());
        assertThat(c.status()).as(c.stderr()).isZero();
        created.add(id);
        Run s = oci("start", id);
        assertThat(s.status()).as(s.stderr()).isZero();
        return out;
    }

    static String awaitText(Path file, String text) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        String s;
        while (!(s = Files.readString(file)).contains(text) && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        return s;
    }

    /**
     * runc's exec joins the container's session keyring by name (_ses.ID); an exec'd process held the
     * caller's (the engine's), whose keys it could read, link or clear. It joins the very keyring
     * of the container's process; with --no-new-keyring at create, exec keeps the caller's too. The callers have a session
     * keyring of their own, as an engine's (see OciRuntimeTest#aContainerJoinsASessionKeyringOfItsOwnUnlessToldNotTo).
     */
    @Test
    void anExecJoinsTheContainersSessionKeyring() throws Exception {
        String callers = "crabcan-it-caller-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        List<String> asCaller = List.of(Env.staticBinary("keyring").toString(), "join", callers);
        for (boolean own : List.of(true, false)) {
            String id = own ? "kr-own" : "kr-kept";
            Path bundle = bundle(id, List.of("/bin/sh", "-c", "keyring; sleep 1000"), Map.of(), "keyring");
            Path out = dir.resolve(id + ".out");
            List<String> create = new ArrayList<>(asCaller);
            create.addAll(ociCommand(own ? new String[] {"create", "--bundle", bundle.toString(), id}
                    : new String[] {"create", "--no-new-keyring", "--bundle", bundle.toString(), id}));
            Run c = run(create, out.toFile());
            assertThat(c.status()).as(c.stderr()).isZero();
            created.add(id);
            assertThat(oci("start", id).status()).isZero();
            String containers = awaitText(out, "\n").strip();
            assertThat(containers).matches("\\d+ \\Q" + (own ? "_ses." + id : callers) + "\\E");
            List<String> exec = new ArrayList<>(asCaller);
            exec.addAll(ociCommand("exec", id, "/bin/keyring"));
            Run e = run(exec, null);
            assertThat(e.status()).as(e.stderr()).isZero();
            // Kept: the callers' keyrings of one name, each joined anew (the kernel finds none it may search).
            assertThat(own ? e.stdout().strip() : e.stdout().strip().split(" ")[1]).isEqualTo(own ? containers : callers);
        }
    }

    /** What a process says of itself: namespaces, ids, capabilities, filter, limits, environment, place. */
    private static final String PROBE = "for n in user mnt pid ipc uts net cgroup; do readlink /proc/self/ns/$n; done; "
            + "grep -E '^(Uid|Gid|Groups|CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status; "
            + "cat /proc/self/uid_map /proc/self/cgroup; hostname; ulimit -n; ulimit -Hn; echo FOO=$FOO; "
            + "mkdir /tmp/new 2>&1; ls /proc | grep -c '^[0-9]'";

    /**
     * An exec with supplementary groups (process.user.additionalGids, --additional-gids) that the
     * container cannot give got the kernel's EPERM from setgroups once the helper had joined it (found
     * by a security review: a container made without groups denies setgroups). It is refused before
     * anything runs, saying why for this caller and what to do; in a container made with groups, a
     * group it does not map is refused by name too.
     */
    @Test
    void anExecWithGroupsTheContainerCannotGiveIsRefusedBeforeAnythingRuns() throws Exception {
        start("g1", bundle("g1", List.of("sleep", "1000"), Map.of()));
        Run refused = oci("exec", "--additional-gids", "5", "g1", "/bin/sh", "-c", "echo RAN; echo RAN > /tmp/ran");
        dev.crabcan.internal.host.HostInfo host = dev.crabcan.internal.host.HostInfo.get();
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.stdout()).doesNotContain("RAN");
        assertThat(refused.stderr()).contains("supplementaryGroups [5]: ").contains(!host.isRoot()
                ? "an ordinary user's sandbox maps the caller's own group only"
                : "the running sandbox's user namespace denies setgroups (/proc/").hasLineCount(1);
        if (host.isRoot()) {
            assertThat(refused.stderr()).contains("give the groups to the sandbox when it is made (OCI: "
                    + "process.user.additionalGids at create)");
        }
        assertThat(oci("exec", "g1", "cat", "/tmp/ran").status()).as("nothing ran").isNotZero();

        boolean mapsGroup5 = Files.readString(Path.of("/proc/self/gid_map")).lines().map(l -> l.trim().split("\\s+"))
                .anyMatch(f -> Long.parseLong(f[0]) <= 5 && 5 < Long.parseLong(f[0]) + Long.parseLong(f[2]));
        if (host.leasesHostIds() || host.isRoot() && mapsGroup5) {
            // Host root, or root of a user namespace that maps groups 5 and 7: a container made with group 5
            // maps it alone (host root's, to the host gid leased for it).
            start("g2", bundle("g2", List.of("sleep", "1000"), Map.of("user", Map.of("uid", 0, "gid", 0,
                    "additionalGids", List.of(5)))));
            assertThat(oci("exec", "--additional-gids", "5", "g2", "id", "-G").stdout().strip()).isEqualTo("0 5");
            Run unmapped = oci("exec", "--additional-gids", "5", "--additional-gids", "7", "g2", "/bin/sh", "-c",
                    "echo RAN");
            assertThat(unmapped.status()).isEqualTo(1);
            assertThat(unmapped.stdout()).doesNotContain("RAN");
            assertThat(unmapped.stderr()).contains("supplementaryGroups [5, 7]: group 7 is not mapped in the running "
                    + "sandbox's user namespace").hasLineCount(1);
        }
    }

    /**
     * podman as root sends additionalGids whenever the image's /etc/group lists the user (and
     * containerd the primary gid always): a host root caller's container has them, in its process and
     * in an exec'd one, each as a host gid leased for it; its root file system's files of a group are
     * that group's, and a file it gives the group keeps it.
     */
    @Test
    void aRootCallersContainerHasItsAdditionalGidsInItsProcessAndExec() throws Exception {
        assumeTrue(Env.isHostRoot(), "host root's groups are leased host gids; root of a user namespace maps its own "
                + "(anExecWithGroupsTheContainerCannotGiveIsRefusedBeforeAnythingRuns, PodmanRootlessTest)");
        Path bundle = bundle("ag", List.of("/bin/sh", "-c", "id -G; cat /ten; stat -c %g /ten; echo ready; "
                + "exec sleep 1000"), Map.of("user", Map.of("uid", 1000, "gid", 1000, "additionalGids",
                List.of(1000, 0, 10))));
        Path ten = Files.writeString(bundle.resolve("rootfs/ten"), "the image's group ten\n");
        Files.setAttribute(ten, "unix:uid", 1);
        Files.setAttribute(ten, "unix:gid", 10);
        Files.setAttribute(ten, "unix:mode", 0640);
        Path out = start("ag", bundle);
        assertThat(awaitText(out, "ready")).endsWith("the image's group ten\n10\nready\n");
        assertThat(supplementary(Files.readString(out).lines().findFirst().orElseThrow())).isEqualTo(Set.of("0", "10"));

        Run exec = oci("exec", "ag", "/bin/sh", "-c", "id -G; touch /made && chgrp 10 /made && stat -c %g /made");
        assertThat(exec.status()).as(exec.stderr()).isZero();
        List<String> lines = exec.stdout().lines().toList();
        assertThat(supplementary(lines.get(0))).isEqualTo(Set.of("0", "10"));
        assertThat(lines.get(1)).isEqualTo("10");
        assertThat(Files.getAttribute(bundle.resolve("rootfs/made"), "unix:gid")).as("on disk").isEqualTo(10);
        Run fewer = oci("exec", "--additional-gids", "10", "ag", "id", "-G");
        assertThat(fewer.stdout().strip()).isEqualTo("1000 10");

        long pid = ((Number) ((Map<?, ?>) Json.parse(oci("state", "ag").stdout())).get("pid")).longValue();
        long command = ProcessHandle.of(pid).orElseThrow().children().findFirst().orElseThrow().pid();
        String groups = Files.readAllLines(Path.of("/proc/" + command + "/status")).stream()
                .filter(l -> l.startsWith("Groups:")).findFirst().orElseThrow();
        assertThat(groups.substring("Groups:".length()).trim().split("\\s+")).as("host gids").hasSize(2)
                .allMatch(g -> Env.isSandboxHostId(Long.parseLong(g)));
    }

    /** The supplementary groups of an id -G line (its first id is the gid), as a set: the kernel orders them by host gid. */
    private static Set<String> supplementary(String idG) {
        List<String> ids = List.of(idG.trim().split(" "));
        return Set.copyOf(ids.subList(1, ids.size()));
    }

    @Test
    void anExecdProcessIsInTheContainerWithItsIdsCapabilitiesLimitsAndFilter() throws Exception {
        Path out = start("e1", bundle("b1", List.of("/bin/sh", "-c", "(" + PROBE + ") > /tmp/main; echo ready; "
                + "while :; do sleep 0.1; done"), Map.of()));
        awaitText(out, "ready");
        Run main = oci("exec", "e1", "cat", "/tmp/main");
        assertThat(main.status()).as(main.stderr()).isZero();
        Run exec = oci("exec", "e1", "/bin/sh", "-c", PROBE);
        assertThat(exec.status()).as(exec.stderr()).isZero();
        // Everything but the number of processes (the exec'd ones are two more) and the pids.
        List<String> mainLines = main.stdout().lines().toList();
        List<String> execLines = exec.stdout().lines().toList();
        assertThat(execLines.subList(0, execLines.size() - 1)).isEqualTo(mainLines.subList(0, mainLines.size() - 1));
        assertThat(exec.stdout()).contains("CapBnd:\t000000000008042e", "CapEff:\t000000000008042e", "CapAmb:\t0000000000000000",
                "NoNewPrivs:\t1", "Seccomp:\t2", "exec-test\n200\n300\nFOO=container\n",
                "mkdir: can't create directory '/tmp/new': Operation not permitted");
        assertThat(Integer.parseInt(execLines.get(execLines.size() - 1))).as("only the container's processes are seen")
                .isBetween(3, 6);

        // runc's flags: environment added, working directory, a capability added.
        Run flags = oci("exec", "--env", "FOO=exec", "--env", "BAR=1", "--cwd", "/tmp", "--cap", "CAP_CHOWN", "e1",
                "/bin/sh", "-c", "echo FOO=$FOO BAR=$BAR; pwd; grep CapBnd /proc/self/status");
        assertThat(flags.status()).as(flags.stderr()).isZero();
        assertThat(flags.stdout()).isEqualTo("FOO=exec BAR=1\n/tmp\nCapBnd:\t000000000008042f\n");
    }

    @Test
    void theExitStatusIsTheCommandsAndAFailureSaysWhy() throws Exception {
        start("e2", bundle("b2", List.of("/bin/sleep", "1000"), Map.of()));
        assertThat(oci("exec", "e2", "/bin/sh", "-c", "echo out; echo err >&2; exit 7"))
                .isEqualTo(new Run(7, "out\n", "err\n"));
        assertThat(oci("exec", "e2", "/bin/sh", "-c", "kill -9 $$").status()).isEqualTo(137);
        Run missing = oci("exec", "e2", "/nope");
        assertThat(missing.status()).isNotZero();
        assertThat(missing.stderr()).contains("exec failed: /nope: executable file not found in $PATH");
        Run stopped = oci("exec", "nope", "/bin/true");
        assertThat(stopped.stderr()).contains("container nope does not exist");
        Run process = oci("exec", "--process", dir.resolve("none.json").toString(), "e2");
        assertThat(process.stderr()).contains("none.json");
    }

    /**
     * --process, as engines call exec: the process file is the whole process. Detached, exec returns at
     * once with the pid in --pid-file, and the process is left to the caller's subreaper (conmon, a
     * containerd shim), which reaps it and gets its exit status even when it ended before exec returned.
     */
    @Test
    @SuppressWarnings("unchecked")
    void aDetachedExecIsReapedByTheCallersSubreaperWithItsExitStatus() throws Exception {
        Path bundle = bundle("b3", List.of("/bin/sleep", "1000"), Map.of());
        start("e3", bundle);
        Path process = dir.resolve("process.json");
        Map<String, Object> config = (Map<String, Object>) Json.parse(Files.readString(bundle.resolve("config.json")));
        Map<String, Object> p = new LinkedHashMap<>((Map<String, Object>) config.get("process"));
        p.put("args", List.of("/bin/sh", "-c", "echo $FOO >/tmp/detached; exit 9"));
        p.put("env", List.of("PATH=/bin", "FOO=from-the-process-file"));
        Files.writeString(process, Json.write(p));
        Path subreaper = dir.resolve("subreaper.py");
        Files.writeString(subreaper, """
                import ctypes, os, signal, subprocess, sys
                signal.alarm(60)
                ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
                print("RUNTIME", subprocess.call(sys.argv[2:]), flush=True)
                pid = int(open(sys.argv[1]).read())
                while True:
                    p, status = os.waitpid(-1, 0)
                    if p == pid:
                        print("EXITED", os.waitstatus_to_exitcode(status), flush=True)
                        break
                """);
        Path pidFile = dir.resolve("exec.pid");
        List<String> cmd = new ArrayList<>(List.of(Env.tool("python3", "python3").toString(), subreaper.toString(),
                pidFile.toString()));
        cmd.addAll(ociCommand("exec", "--process", process.toString(), "--detach", "--pid-file", pidFile.toString(), "e3"));
        Run r = run(cmd, null);
        assertThat(r.stdout()).as(r.stderr()).isEqualTo("RUNTIME 0\nEXITED 9\n");
        assertThat(oci("exec", "e3", "cat", "/tmp/detached").stdout()).isEqualTo("from-the-process-file\n");
    }

    /**
     * runc CVE-2019-5736 and kin: the container (with SYS_PTRACE, KILL and DAC_OVERRIDE in its own user
     * namespace) watches for exec'd processes, stops each before its execve, while it still runs the
     * runtime's binary with the runtime's fds, and attacks it: writes its /proc/PID/exe, opens its mem,
     * fds, cwd and root, takes its fds with pidfd_getfd, attaches with ptrace. Every attack must fail.
     */
    @Test
    void theContainerCannotReachTheRuntimeThroughAnExecdProcessBeforeItsExecve() throws Exception {
        Path out = start("e4", bundle("b4", List.of("/bin/execwatch", "true", "120"), Map.of(), "execwatch"));
        int caught = 0;
        for (int i = 0; i < 60 && caught < 3; i++) {
            Run r = oci("exec", "e4", "/bin/true");
            assertThat(r.status()).as(r.stderr()).isZero();
            caught = (int) Files.readString(out).lines().filter(l -> l.startsWith("CAUGHT")).count();
        }
        String report = Files.readString(out);
        assertThat(caught).as("the attacker stopped an exec'd process before its execve at least once:\n%s", report)
                .isPositive();
        assertThat(report.lines().filter(l -> l.startsWith("ESCAPED"))).as(report).isEmpty();
        assertThat(report).contains("BLOCKED", "ptrace-seize", "open-exe-for-writing", "pidfd-getfd-3");
    }

    /**
     * runc CVE-2024-21626: a working directory that leads out of the root through a runtime's fd
     * (/proc/self/fd/N, also behind a link the container planted) is refused; only stdio reaches the
     * process.
     */
    @Test
    void aWorkingDirectoryOutOfTheRootIsRefusedAndOnlyStdioReachesTheProcess() throws Exception {
        Path out = start("e5", bundle("b5", List.of("/bin/sh", "-c", "ln -s /proc/self/fd/5 /tmp/link; echo ready; "
                + "while :; do sleep 0.1; done"), Map.of(), "fds"));
        awaitText(out, "ready");
        List<String> cwds = new ArrayList<>(List.of("/tmp/link"));
        for (int fd = 3; fd < 12; fd++) {
            cwds.add("/proc/self/fd/" + fd);
        }
        for (String cwd : cwds) {
            Run r = oci("exec", "--cwd", cwd, "e5", "/bin/sh", "-c", "echo RAN in $(pwd); ls ..");
            assertThat(r.status()).as("%s: %s %s", cwd, r.stdout(), r.stderr()).isNotZero();
            assertThat(r.stdout()).as(cwd).doesNotContain("RAN");
            assertThat(r.stderr()).as(cwd).contains("exec failed: chdir working directory " + cwd);
        }
        Run fds = oci("exec", "e5", "/bin/fds");
        assertThat(fds.stdout()).as(fds.stderr()).isEqualTo("0\n1\n2\n");
    }

    /** A console socket receiver: takes the master, types a line, reads until it sees the answer. */
    private static final String RECEIVER = """
            import os, select, socket, sys, time
            path, line, expect = sys.argv[1:4]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.bind(path)
            s.listen(1)
            print("LISTENING", flush=True)
            s.settimeout(60)
            c, _ = s.accept()
            msg, fds, _, _ = socket.recv_fds(c, 1024, 1)
            if not fds:
                print("NO TERMINAL", flush=True)
                sys.exit(1)
            print("NAME", msg.decode(), flush=True)
            master = fds[0]
            os.write(master, line.encode() + b"\\n")
            # Read on after the answer until the terminal's other end is gone: closing the master earlier
            # would hang the command up (SIGHUP) before it exits by itself.
            seen, deadline = b"", time.time() + 30
            while time.time() < deadline:
                if select.select([master], [], [], 0.5)[0]:
                    try:
                        data = os.read(master, 4096)
                    except OSError:
                        break
                    if not data:
                        break
                    seen += data
            print("OUTPUT", seen.decode(errors="replace").replace("\\r", "").replace("\\n", "|"), flush=True)
            """;

    /** Starts the receiver on a new socket and returns it once it listens. */
    Process receiver(String socket, String line, String expect) throws Exception {
        Path script = dir.resolve("receiver.py");
        Files.writeString(script, RECEIVER);
        Process p = new ProcessBuilder(Env.tool("python3", "python3").toString(), script.toString(), socket, line, expect)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertThat(r.readLine()).isEqualTo("LISTENING");
        return p;
    }

    static String received(Process receiver) throws Exception {
        assertThat(receiver.waitFor(60, TimeUnit.SECONDS)).isTrue();
        return new String(receiver.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    }

    @Test
    @SuppressWarnings("unchecked")
    void aTerminalsMasterGoesToTheConsoleSocketForCreateAndExec() throws Exception {
        String typed = "tty; test -t 0 && echo tty-$((6*7)); exit 3";
        Path bundle = bundle("b6", List.of("/bin/sh"), Map.of("terminal", true,
                "consoleSize", Map.of("height", 30, "width", 100)));
        String socket = dir.resolve("console.sock").toString();
        Process console = receiver(socket, "stty size; " + typed, "tty-42");
        start("e6", bundle, "--console-socket", socket);
        String said = received(console);
        Matcher name = Pattern.compile("NAME (/dev/pts/\\d+)").matcher(said);
        assertThat(name.find()).as(said).isTrue();
        assertThat(said).contains("30 100|" + name.group(1) + "|tty-42");

        Path bundle2 = bundle("b7", List.of("/bin/sleep", "1000"), Map.of());
        start("e7", bundle2);
        String socket2 = dir.resolve("exec.sock").toString();
        Process execConsole = receiver(socket2, typed, "tty-42");
        Run exec = oci("exec", "--tty", "--console-socket", socket2, "e7", "/bin/sh");
        assertThat(exec.status()).as(exec.stderr()).isEqualTo(3);
        String execSaid = received(execConsole);
        Matcher execName = Pattern.compile("NAME (/dev/pts/\\d+)").matcher(execSaid);
        assertThat(execName.find()).as(execSaid).isTrue();
        assertThat(execSaid).contains("|" + execName.group(1) + "|tty-42");

        Run noSocket = oci("exec", "--tty", "e7", "/bin/sh");
        assertThat(noSocket.stderr()).contains("--console-socket PATH is needed");
        Path noDevpts = bundle("b8", List.of("/bin/sh"), Map.of("terminal", true));
        Map<String, Object> config = (Map<String, Object>) Json.parse(Files.readString(noDevpts.resolve("config.json")));
        config.put("mounts", ((List<Object>) config.get("mounts")).subList(0, 1));
        Files.writeString(noDevpts.resolve("config.json"), Json.write(config));
        Run refused = oci("create", "--bundle", noDevpts.toString(), "--console-socket", socket, "e8");
        assertThat(refused.stderr()).contains("a terminal is made in the sandbox's own devpts");
    }

    /**
     * The container plants a FIFO, a link to the exec'd process's own stdin (a host file) and another
     * device at /dev/ptmx: exec --tty fails at once, saying so, and opens none of them as the terminal.
     */
    @Test
    void aPlantedPtmxIsRefusedNotOpened() throws Exception {
        start("e9", bundle("b9", List.of("/bin/sleep", "1000"), Map.of()));
        String socket = dir.resolve("planted.sock").toString();
        Map<String, String> plants = Map.of("mkfifo /dev/ptmx", "is not the pty multiplexer",
                "ln -s /proc/self/fd/0 /dev/ptmx", "open /dev/ptmx of the sandbox",
                "ln -s null /dev/ptmx", "is not the pty multiplexer");
        for (Map.Entry<String, String> plant : plants.entrySet()) {
            Run planted = oci("exec", "e9", "/bin/sh", "-c", "rm -f /dev/ptmx && " + plant.getKey());
            assertThat(planted.status()).as(planted.stderr()).isZero();
            Files.deleteIfExists(Path.of(socket));
            Process console = receiver(socket, "echo RAN", "RAN");
            try {
                Run r = oci("exec", "--tty", "--console-socket", socket, "e9", "/bin/sh");
                assertThat(r.status()).as(plant.getKey()).isNotZero();
                assertThat(r.stderr()).as(plant.getKey()).contains("exec failed: console", plant.getValue());
                assertThat(received(console)).as(plant.getKey()).doesNotContain("NAME");
            } finally {
                console.destroyForcibly();
            }
        }
    }
}
