package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import dev.crabcan.it.OciCli.Run;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * crabcan-oci's native front end and its service (a JVM per user and state root): the commands
 * work through it, the container descends from the caller and outlives the service, and the
 * service can be neither used nor impersonated by another user or a container.
 */
@Timeout(value = 5, unit = TimeUnit.MINUTES)
class OciServiceTest {
    static final Path FRONT_END = Env.CLI_JAR.resolveSibling("crabcan-oci");

    @TempDir
    Path dir;
    Path root;
    Path cache;
    Path bundle;

    @BeforeEach
    void setUp() throws Exception {
        assertThat(FRONT_END).as("built by crabcan-examples").isExecutable();
        root = dir.resolve("state");
        cache = dir.resolve("cache");
        bundle = bundle("b", "echo hi; exit 3");
    }

    /**
     * Tests delete the containers a failed assertion left behind, then stop the services they
     * started; each runs as "java ... OciService <root>".
     */
    @AfterEach
    void deleteContainersAndStopServices() throws Exception {
        if (Files.isDirectory(root)) {
            try (var left = Files.list(root)) {
                for (Path container : left.filter(p -> Files.exists(p.resolve("state.json"))).toList()) {
                    oci("delete", "--force", container.getFileName().toString());
                }
            }
        }
        stopServices();
    }

    void stopServices() throws Exception {
        for (ProcessHandle p : services()) {
            p.destroy();
            p.onExit().get(Env.CLEANUP_CEILING_MS, TimeUnit.MILLISECONDS);
        }
    }

    List<ProcessHandle> services() {
        return ProcessHandle.allProcesses().filter(p -> p.info().commandLine()
                .map(c -> c.contains("dev.crabcan.examples.OciService") && c.endsWith(" " + root)).orElse(false))
                .toList();
    }

    Path bundle(String name, String script) throws Exception {
        Path b = Files.createDirectories(dir.resolve(name));
        OciRuntimeTest.minimalRootfs(b.resolve("rootfs"));
        Files.writeString(b.resolve("config.json"), """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh", "-c", %s], "cwd": "/", "env": ["PATH=/bin"]},
                 "root": {"path": "rootfs"},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}]}}
                """.formatted(dev.crabcan.internal.json.Json.write(script)));
        return b;
    }

    ProcessBuilder frontEnd(Path cwd, String... args) {
        List<String> cmd = new ArrayList<>(List.of(FRONT_END.toString(), "--root", root.toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Map<String, String> env = pb.environment();
        env.put("JAVA", Path.of(System.getProperty("java.home"), "bin", "java").toString());
        env.put("CRABCAN_CACHE_DIR", cache.toString());
        env.put("CRABCAN_OCI_IDLE", "60");
        return pb;
    }

    Run run(ProcessBuilder pb) throws Exception {
        File out = dir.resolve("out-" + System.nanoTime()).toFile();
        File err = dir.resolve("err-" + System.nanoTime()).toFile();
        Process p = pb.redirectOutput(out).redirectError(err).start();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("crabcan-oci %s", pb.command()).isTrue();
        return new Run(p.exitValue(), Files.readString(out.toPath()), Files.readString(err.toPath()));
    }

    Run oci(String... args) throws Exception {
        return run(frontEnd(bundle, args));
    }

    /** The service's pid, from the link to its socket in its run directory (run/PID/oci.sock). */
    long servicePid() throws Exception {
        Path socket = Files.readSymbolicLink(root.resolve(".service"));
        return Long.parseLong(socket.getParent().getFileName().toString());
    }

    /**
     * Through the native front end the container's init and the command waiting for start run the
     * front end's own file, a binary on disk: a startContainer hook from the image linked to
     * /proc/self/exe ran it inside the container (found by a security review). Refused by name, and
     * the binary is the same file with the same bytes afterwards.
     */
    @Test
    void aStartContainerHookLinkedToTheRuntimesBinaryIsRefusedAndTheBinaryUnchanged() throws Exception {
        Path front = Files.copy(FRONT_END, Files.createDirectories(dir.resolve("bin")).resolve("crabcan-oci"));
        byte[] before = Files.readAllBytes(front);
        Object inode = Files.getAttribute(front, "unix:ino");
        Path b = bundle("exe", "echo never");
        Files.createSymbolicLink(b.resolve("rootfs/hook"), Path.of("/proc/self/exe"));
        String config = Files.readString(b.resolve("config.json"));
        Files.writeString(b.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"startContainer\": "
                + "[{\"path\": \"/hook\", \"args\": [\"hook\", \"--root\", \"/tmp\", \"state\", \"x\"], \"timeout\": 30}]}, "
                + "\"root\":"));
        ProcessBuilder create = frontEnd(b, "create", "--bundle", b.toString(), "exe");
        create.command().set(0, front.toString());
        create.environment().put("CRABCAN_JAR", Env.CLI_JAR.toString());
        Run created = run(create);
        assertThat(created.status()).as(created.stderr()).isZero();
        ProcessBuilder start = frontEnd(b, "start", "exe");
        start.command().set(0, front.toString());
        start.environment().put("CRABCAN_JAR", Env.CLI_JAR.toString());
        Run refused = run(start);
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.stderr()).contains("hooks.startContainer failed", "hooks.startContainer[0] (/hook) is the runtime's own binary");
        assertThat(oci("delete", "--force", "exe").status()).isZero();
        assertThat(Files.readAllBytes(front)).as("the front end's bytes").isEqualTo(before);
        assertThat(Files.getAttribute(front, "unix:ino")).isEqualTo(inode);
    }

    /**
     * CVE-2019-5736's shape, performed: the front end forks the container's helpers, so a process
     * of the container that executes /proc/self/exe (here an exec'd program linked to it) runs the
     * front end's binary, and another process of the container holds it through /proc/PID/exe and
     * writes it once that process is gone (an attack review found a rootless container, whose root
     * owns the file, rewriting it). Where a container could write the file (here a copy its group
     * may write; as 65534 also the caller's own), the front end runs from a sealed copy in memory,
     * which nobody can change; a root-owned file that only root may write (as the built one is)
     * runs in place, as no container runs as host root, where the front end runs in the initial
     * user namespace (else it cannot tell host root's files). Both ways the write fails and the
     * file is unchanged.
     */
    @Test
    void aContainerCannotRewriteTheFrontEndThroughAProcessThatRunsIt() throws Exception {
        Path copy = Files.copy(FRONT_END, Files.createDirectories(dir.resolve("bin")).resolve("crabcan-oci"));
        Files.setPosixFilePermissions(copy, PosixFilePermissions.fromString("rwxrwxr-x"));
        Path b = bundle("x", "exec sleep 600");
        Files.createSymbolicLink(b.resolve("rootfs/evil"), Path.of("/proc/self/exe"));
        // In the initial user namespace the built file (host root's, rwxr-xr-x) runs in place; in any other, sealed.
        boolean initialUserNamespace = Files.readSymbolicLink(Path.of("/proc/self/ns/user")).toString()
                .equals("user:[4026531837]");
        if (initialUserNamespace) {
            assertThat(Files.getFileStore(FRONT_END).type()).as("the built front end's file system").isIn("ext4", "xfs",
                    "btrfs", "tmpfs", "overlay");
            assertThat(Files.getOwner(FRONT_END).getName()).as("the built front end's owner").isEqualTo("root");
        }
        assertThat(oci("create", "--bundle", b.toString(), "x").status()).isZero();
        try {
            assertThat(oci("start", "x").status()).isZero();
            for (Path front : List.of(FRONT_END, copy)) {
                byte[] before = Files.readAllBytes(front);
                Path pidFile = dir.resolve("runner-" + front.getParent().getFileName());
                ProcessBuilder exec = frontEnd(b, "exec", "--pid-file", pidFile.toString(), "x", "/evil", "--check-plan")
                        .redirectInput(ProcessBuilder.Redirect.PIPE).redirectErrorStream(true)
                        .redirectOutput(ProcessBuilder.Redirect.DISCARD);
                exec.command().set(0, front.toString());
                exec.environment().put("CRABCAN_JAR", Env.CLI_JAR.toString());
                Process runner = exec.start(); // the front end's binary, reading a plan from stdin: it waits
                Process attacker = null;
                try {
                    long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                    while (!Files.exists(pidFile) && runner.isAlive() && System.nanoTime() < deadline) {
                        Thread.sleep(20);
                    }
                    Path exe = Files.readSymbolicLink(Path.of("/proc", Files.readString(pidFile).trim(), "exe"));
                    if (front.equals(copy) || !initialUserNamespace) {
                        assertThat(exe.toString()).as("a file a container could write runs as a sealed copy")
                                .startsWith("/memfd:crabcan-oci");
                    } else {
                        assertThat(exe).as("root's file that only root may write runs in place").isEqualTo(front);
                    }
                    ProcessBuilder attack = frontEnd(b, "exec", "x", "/bin/sh", "-c", """
                            # the runner: its command line without its NULs (not this script's, which names it too)
                            i=0
                            while [ $i -lt 600 ]; do
                                i=$((i + 1))
                                for p in /proc/[0-9]*; do
                                    [ "$(cat $p/cmdline 2>/dev/null)" = /evil--check-plan ] && a=${p#/proc/}
                                done
                                [ -n "$a" ] && break
                                sleep 0.05
                            done
                            exec 3< /proc/$a/exe || exit 8
                            echo holding
                            while [ -e /proc/$a ] && [ $i -lt 1800 ]; do i=$((i + 1)); sleep 0.05; done
                            if printf pwned >> /proc/self/fd/3; then echo WROTE; else echo refused; fi
                            """).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.PIPE);
                    attacker = attack.start();
                    var lines = new java.io.BufferedReader(new java.io.InputStreamReader(attacker.getInputStream(),
                            StandardCharsets.UTF_8));
                    assertThat(lines.readLine()).as("the attacker holds the runner's executable").isEqualTo("holding");
                    runner.getOutputStream().close(); // the runner reads an empty plan and ends
                    StringBuilder rest = new StringBuilder();
                    for (String line; (line = lines.readLine()) != null;) {
                        rest.append(line).append('\n');
                    }
                    assertThat(attacker.waitFor(60, TimeUnit.SECONDS)).isTrue();
                    assertThat(rest.toString()).as("the write through /proc/PID/exe").contains("refused")
                            .doesNotContain("WROTE");
                    assertThat(Files.readAllBytes(front)).as("%s's bytes", front).isEqualTo(before);
                } finally {
                    runner.destroyForcibly().waitFor(60, TimeUnit.SECONDS);
                    if (attacker != null) {
                        attacker.destroyForcibly().waitFor(60, TimeUnit.SECONDS);
                    }
                }
            }
        } finally {
            assertThat(oci("delete", "--force", "x").status()).isZero();
        }
    }

    @Test
    void runAndTheLifecycleGoThroughOneService() throws Exception {
        // No --bundle: the caller's directory is the bundle, as for the JVM per call.
        Run r = oci("run", "c1");
        assertThat(r.status()).as(r.stderr()).isEqualTo(3);
        assertThat(r.stdout()).isEqualTo("hi\n");
        long service = servicePid();
        assertThat(oci("create", "c2").status()).isZero();
        assertThat(oci("state", "c2").stdout()).containsPattern("\"status\": ?\"created\"");
        assertThat(oci("start", "c2").status()).isZero();
        Run missing = oci("state", "nosuch");
        assertThat(missing.status()).isEqualTo(1);
        assertThat(missing.stderr()).contains("container nosuch does not exist");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!oci("state", "c2").stdout().contains("stopped") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(oci("delete", "c2").status()).isZero();
        assertThat(servicePid()).as("one service served every call").isEqualTo(service);
        assertThat(services()).hasSize(1);
        try (var names = Files.list(root)) {
            assertThat(names.map(p -> p.getFileName().toString()).toList()).containsExactly(".service");
        }
    }

    /**
     * Through the front end, whose own child is the container's helper, prestart and createRuntime
     * run as through the JVM per call: before pivot_root, so that a mount a hook makes below the
     * bundle's rootfs in the container's mount namespace is the container's; a failing one fails
     * create with its words and leaves no container.
     */
    @Test
    void prestartAndCreateRuntimeHooksRunBeforePivotRootThroughTheFrontEnd() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(),
                "entering a container's mount namespace from the host takes host root");
        Path b = bundle("gpu", "cat /gpu/lib > /result");
        Path rootfs = b.resolve("rootfs");
        Files.createDirectory(rootfs.resolve("gpu"));
        // The container's root is another host id than this test's.
        Path result = Files.writeString(rootfs.resolve("result"), "");
        Files.setPosixFilePermissions(result, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        String inside = "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); nsenter --mount=/proc/$pid/ns/mnt ";
        String config = Files.readString(b.resolve("config.json"));
        Files.writeString(b.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"prestart\": [{\"path\": "
                + "\"/bin/sh\", \"args\": [\"sh\", \"-c\", " + dev.crabcan.internal.json.Json.write(inside + "mount -t tmpfs gpu "
                + rootfs + "/gpu") + "], \"timeout\": 30}], \"createRuntime\": [{\"path\": \"/bin/sh\", \"args\": [\"sh\", "
                + "\"-c\", " + dev.crabcan.internal.json.Json.write(inside + "sh -c 'echo driver > " + rootfs + "/gpu/lib'")
                + "], \"timeout\": 30}]}, \"root\":"));
        Run created = oci("create", "--bundle", b.toString(), "g1");
        assertThat(created.status()).as(created.stderr()).isZero();
        assertThat(oci("start", "g1").status()).isZero();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!oci("state", "g1").stdout().contains("stopped") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(oci("delete", "g1").status()).isZero();
        assertThat(Files.readString(result)).isEqualTo("driver\n");
        try (var onHost = Files.list(rootfs.resolve("gpu"))) {
            assertThat(onHost).as("the mount was the container's alone").isEmpty();
        }

        Files.writeString(b.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"createRuntime\": [{"
                + "\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo no gpu found; exit 1\"]}]}, \"root\":"));
        Run refused = oci("create", "--bundle", b.toString(), "g2");
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.stderr()).contains("hooks.createRuntime[0] (/bin/sh) failed with status 1: no gpu found");
        assertThat(oci("state", "g2").stderr()).contains("does not exist");
    }

    /**
     * Through the front end, a prestart hook (which would sleep 600 s, its timeout too, far beyond
     * this test's @Timeout) and everything it started end at once, with the container, when the
     * front end is killed (its service, the hook's parent, sees the request's socket close), for
     * the JVM per call as through the service; and when the container is deleted by force, which
     * returns once they are gone. Nothing is left: no process, no cgroup, no state (the service
     * cleans up after its killed caller; after a killed JVM, delete does).
     */
    @Test
    @Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aHookEndsAtOnceWhenItsFrontEndIsKilledOrItsContainerDeleted() throws Exception {
        Path b = bundle("hooked", "echo never");
        String config = Files.readString(b.resolve("config.json"));
        for (String how : List.of("front end killed", "JVM per call killed", "deleted")) {
            String marker = OciRuntimeTest.marker();
            Path seen = Files.createDirectory(dir.resolve("seen-" + how.replace(' ', '-')));
            Files.writeString(b.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"prestart\": ["
                    + OciRuntimeTest.sleepingHook(seen, marker) + "]}, \"root\":"));
            ProcessBuilder pb = frontEnd(b, "create", "--bundle", b.toString(), "h1");
            if (how.startsWith("JVM")) {
                pb.environment().put("CRABCAN_OCI_SERVICE", "0");
            }
            Path err = dir.resolve("err-" + how.replace(' ', '-'));
            Process create = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            try {
                OciRuntimeTest.awaitHook(seen, create);
                if (how.equals("deleted")) {
                    Run deleted = oci("delete", "--force", "h1");
                    assertThat(deleted.status()).as(deleted.stderr()).isZero();
                    assertThat(OciRuntimeTest.processesWith(marker)).as("the hook and what it started, once delete returned")
                            .isEmpty();
                    create.waitFor();
                    assertThat(create.exitValue()).isNotZero();
                    assertThat(Files.readString(err)).contains("ended (was it killed?) while its runtime hooks ran");
                } else {
                    create.destroyForcibly().waitFor();
                }
            } finally {
                create.destroyForcibly().waitFor();
            }
            OciRuntimeTest.awaitNone(marker);
            Path init = Path.of("/proc", Files.readString(seen.resolve("pid")).trim());
            while (Files.exists(init)) {
                Thread.sleep(20);
            }
            if (how.startsWith("JVM")) {
                Run deleted = oci("delete", "h1");
                assertThat(deleted.status()).as(deleted.stderr()).isZero();
            }
            while (Files.exists(root.resolve("h1"))) { // the service's create cleans up after its caller
                Thread.sleep(20);
            }
            OciRuntimeTest.assertContainerGone(seen, "h1");
            assertThat(oci("state", "h1").stderr()).as(how).contains("does not exist");
        }
    }

    /** conmon and containerd's shim reap the container only if it descends from them: from the caller, not the service. */
    @Test
    void theContainersInitDescendsFromTheCallerNotFromTheService() throws Exception {
        Path b = bundle("sleeper", "sleep 30");
        Path pidFile = dir.resolve("pid");
        Process front = frontEnd(b, "run", "--pid-file", pidFile.toString(), "s1")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!Files.exists(pidFile) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            long init = Long.parseLong(Files.readString(pidFile).trim());
            List<Long> ancestors = new ArrayList<>();
            for (var p = ProcessHandle.of(init).flatMap(ProcessHandle::parent); p.isPresent(); p = p.get().parent()) {
                ancestors.add(p.get().pid());
            }
            assertThat(ancestors).contains(front.pid()).doesNotContain(servicePid());
        } finally {
            front.destroy(); // the front end going away ends its run's container, as the JVM's exit did
            assertThat(front.waitFor(30, TimeUnit.SECONDS)).isTrue();
        }
    }

    /** Once create returned, the container needs no JVM: the service is killed, start and the command still work. */
    @Test
    void aCreatedContainerOutlivesItsServiceAndAStaleSocketIsReplaced() throws Exception {
        Path b = bundle("waiter", "exit 0");
        assertThat(oci("create", "--bundle", b.toString(), "k1").status()).isZero();
        long killed = servicePid();
        ProcessHandle.of(killed).orElseThrow().destroyForcibly();
        ProcessHandle.of(killed).ifPresent(p -> p.onExit().join());
        assertThat(oci("state", "k1").stdout()).containsPattern("\"status\": ?\"created\"");
        assertThat(servicePid()).as("a new service after kill -9").isNotEqualTo(killed);
        assertThat(oci("start", "k1").status()).isZero();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!oci("state", "k1").stdout().contains("stopped") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(oci("delete", "k1").status()).isZero();
    }

    @Test
    void racingFrontEndsStartOneService() throws Exception {
        List<Process> ps = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            ps.add(frontEnd(bundle, "state", "nosuch").redirectOutput(ProcessBuilder.Redirect.DISCARD)
                    .redirectError(ProcessBuilder.Redirect.DISCARD).start());
        }
        for (Process p : ps) {
            assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
            assertThat(p.exitValue()).isEqualTo(1);
        }
        assertThat(services()).hasSize(1);
    }

    @Test
    void anIdleServiceExitsAndRemovesItsLink() throws Exception {
        ProcessBuilder pb = frontEnd(bundle, "state", "nosuch");
        pb.environment().put("CRABCAN_OCI_IDLE", "1");
        assertThat(run(pb).status()).isEqualTo(1);
        ProcessHandle service = ProcessHandle.of(servicePid()).orElseThrow();
        assertThat(service.onExit().get(Env.CLEANUP_CEILING_MS + 2000, TimeUnit.MILLISECONDS).isAlive()).isFalse();
        assertThat(root.resolve(".service")).doesNotExist();
    }

    /** Without a service (turned off, or a state root that cannot be trusted) the JVM per call runs the command. */
    @Test
    void theJvmPerCallPathIsTheFallback() throws Exception {
        ProcessBuilder off = frontEnd(bundle, "run", "f1");
        off.environment().put("CRABCAN_OCI_SERVICE", "0");
        Run r = run(off);
        assertThat(r.status()).as(r.stderr()).isEqualTo(3);
        assertThat(r.stdout()).isEqualTo("hi\n");
        assertThat(services()).isEmpty();
        Files.createDirectories(root);
        Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxrwxrwx"));
        Run refused = oci("run", "f2");
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.stderr()).contains("cannot be trusted");
        assertThat(services()).isEmpty();
    }

    /** Neither the front end's other fds nor its environment nor its arguments reach the container. */
    @Test
    void theContainerGetsNoneOfTheFrontEndsFdsEnvironmentOrArguments() throws Exception {
        Path b = bundle("looker", "[ -e /proc/self/fd/7 ] && echo fd7; [ -e /proc/self/fd/3 ] && echo fd3; "
                + "case \"$(cat /proc/1/environ /proc/1/cmdline)\" in *MARK_6c1e*) echo env;; *" + dir + "*) echo args;; esac; "
                + "echo checked");
        Path file = Files.writeString(dir.resolve("held"), "x");
        ProcessBuilder pb = new ProcessBuilder("/bin/sh", "-c", "exec 7<\"$1\"; shift; exec \"$@\"", "sh", file.toString(),
                FRONT_END.toString(), "--root", root.toString(), "run", "--bundle", b.toString(), "l1");
        pb.environment().putAll(frontEnd(b).environment());
        pb.environment().put("SECRET", "MARK_6c1e");
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Run r = run(pb);
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).isEqualTo("checked\n");
    }

    /**
     * The front end run by a shell that opened {@code in} at fd 3 and 5 and {@code out} (appending)
     * at fd 4, as an engine hands a runtime the fds it preserves.
     */
    ProcessBuilder withFds(Path cwd, Path in, Path out, String... args) {
        List<String> cmd = new ArrayList<>(List.of("/bin/sh", "-c", "exec 3<\"$1\" 4>>\"$2\" 5<\"$1\"; shift 2; exec \"$@\"",
                "sh", in.toString(), out.toString()));
        cmd.addAll(frontEnd(cwd, args).command());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        pb.environment().putAll(frontEnd(cwd).environment());
        return pb;
    }

    /**
     * runc's --preserve-fds N: the caller's fds 3 to 3+N-1 reach the process of run, create and
     * exec as they are (read from fd 3, written to fd 4), the next one (5) does not, and the JVM
     * per call, which has none of them, refuses.
     */
    @Test
    void preserveFdsGivesTheCallersFdsToRunCreateAndExec() throws Exception {
        Path in = Files.writeString(dir.resolve("in"), "from-the-caller\n");
        Path out = dir.resolve("written");
        Path b = bundle("preserver", "{ cat <&3; [ -e /proc/self/fd/5 ] && echo fd5; echo done; } >&4");
        Run r = run(withFds(b, in, out, "run", "--preserve-fds", "2", "p1"));
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(Files.readString(out)).isEqualTo("from-the-caller\ndone\n");

        Files.delete(out);
        assertThat(run(withFds(b, in, out, "create", "--preserve-fds=2", "p2")).status()).isZero();
        assertThat(oci("start", "p2").status()).isZero();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!oci("state", "p2").stdout().contains("stopped") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(oci("delete", "p2").status()).isZero();
        assertThat(Files.readString(out)).isEqualTo("from-the-caller\ndone\n");

        Path sleeper = bundle("sleeper", "sleep 30");
        assertThat(oci("create", "--bundle", sleeper.toString(), "p3").status()).isZero();
        assertThat(oci("start", "p3").status()).isZero();
        Run e = run(withFds(sleeper, in, out, "exec", "--preserve-fds", "1", "p3", "/bin/sh", "-c",
                "cat <&3; [ -e /proc/self/fd/4 ] && echo fd4; echo exec-done"));
        assertThat(e.status()).as(e.stderr()).isZero();
        assertThat(e.stdout()).isEqualTo("from-the-caller\nexec-done\n");
        assertThat(oci("delete", "--force", "p3").status()).isZero();

        ProcessBuilder jvm = withFds(b, in, out, "run", "--preserve-fds", "2", "p4");
        jvm.environment().put("CRABCAN_OCI_SERVICE", "0");
        Run refused = run(jvm);
        assertThat(refused.status()).isEqualTo(1);
        assertThat(refused.stderr()).contains("--preserve-fds");
        Run bad = oci("run", "--preserve-fds", "many", "p5");
        assertThat(bad.status()).isEqualTo(1);
        assertThat(bad.stderr()).contains("--preserve-fds many");
    }

    /** A container is never shown the service's socket: binding the cache that holds it is refused. */
    @Test
    void aContainerCannotBeGivenTheServicesSocket() throws Exception {
        assertThat(oci("state", "nosuch").status()).isEqualTo(1); // the service, and its socket in the cache, exist
        Path b = bundle("binder", "echo reached");
        String config = Files.readString(b.resolve("config.json")).replace("\"mounts\": [", "\"mounts\": [{\"destination\": "
                + "\"/cache\", \"type\": \"bind\", \"source\": \"" + Files.readSymbolicLink(root.resolve(".service"))
                .getParent() + "\", \"options\": [\"rbind\"]}, ");
        Files.writeString(b.resolve("config.json"), config);
        Run r = run(frontEnd(b, "run", "x1"));
        assertThat(r.status()).isEqualTo(1);
        assertThat(r.stdout()).doesNotContain("reached");
        assertThat(r.stderr()).contains("cache");
    }

    /**
     * Another user who could reach the socket (here: made reachable on purpose) is refused by
     * SO_PEERCRED; a socket planted by another user, or by this user in another mount namespace
     * (as a container of a rootless caller would be), is not trusted: the front end sends it
     * nothing and starts the real service.
     */
    @Test
    void anotherUserCannotUseTheServiceNorCanAPlantedOneBeTrusted() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(),
                "acting as another user and making a mount namespace take host root");
        assertThat(oci("state", "nosuch").status()).isEqualTo(1);
        Path socket = Files.readSymbolicLink(root.resolve(".service"));
        for (Path p = socket; p.startsWith(dir); p = p.getParent()) {
            Files.setPosixFilePermissions(p, PosixFilePermissions.fromString(p.equals(socket) ? "rwxrwxrwx" : "rwx--x--x"));
        }
        Path client = Files.writeString(dir.resolve("client.py"), """
                import socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.connect(sys.argv[1])
                body = b"/\\0--root\\0" + sys.argv[2].encode() + b"\\0state\\0nosuch\\0"
                s.settimeout(20)
                try:
                    s.sendall(b"REQUEST\\t%d\\n" % len(body) + body)
                    got = s.recv(100)
                except (BrokenPipeError, ConnectionResetError):
                    got = b""
                print("answered" if got else "refused")
                """);
        Process p = new ProcessBuilder("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3",
                client.toString(), socket.toString(), root.toString()).redirectErrorStream(true).start();
        String said = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(said).as("the client connected: the attack was real").isEqualTo("refused\n");
        stopServices();

        Path server = Files.writeString(dir.resolve("server.py"), """
                import os, socket, sys
                s = socket.socket(socket.AF_UNIX)
                s.bind(sys.argv[1])
                os.chmod(sys.argv[1], 0o777)
                s.listen(8)
                print("ready", flush=True)
                while True:
                    c, _ = s.accept()
                    c.settimeout(2)
                    try:
                        data = c.recv(100)
                    except OSError:
                        data = b""
                    with open(sys.argv[2], "ab") as f:
                        f.write(b"connected " + data + b"\\n")
                """);
        Path open = Files.createDirectory(dir.resolve("open"));
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rwxrwxrwx"));
        Files.setPosixFilePermissions(dir, PosixFilePermissions.fromString("rwx--x--x"));
        List<List<String>> impostors = List.of(
                List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"),
                List.of("unshare", "--mount", "--propagation", "private"));
        for (List<String> how : impostors) {
            Path fake = open.resolve("fake-" + how.get(0) + ".sock");
            Path log = open.resolve("log-" + how.get(0));
            Files.writeString(log, "");
            Files.setPosixFilePermissions(log, PosixFilePermissions.fromString("rw-rw-rw-"));
            List<String> cmd = new ArrayList<>(how);
            cmd.addAll(List.of("/usr/bin/python3", server.toString(), fake.toString(), log.toString()));
            Process impostor = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            try {
                assertThat(new String(impostor.getInputStream().readNBytes(6), StandardCharsets.UTF_8)).isEqualTo("ready\n");
                Files.deleteIfExists(root.resolve(".service"));
                Files.createSymbolicLink(root.resolve(".service"), fake);
                Run r = oci("state", "nosuch");
                assertThat(r.stderr()).as(how.get(0)).contains("container nosuch does not exist");
                assertThat(Files.readSymbolicLink(root.resolve(".service"))).as(how.get(0)).isNotEqualTo(fake);
                assertThat(Files.readString(log)).as("what the impostor got (%s)", how.get(0))
                        .doesNotContain("REQUEST").contains("connected");
            } finally {
                impostor.destroyForcibly().waitFor();
            }
            stopServices();
        }
    }
}
