package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxResult;
import dev.crabcan.SeccompPolicy;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import dev.crabcan.internal.json.Json;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import dev.crabcan.it.OciCli.Run;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The OCI runtime front end (crabcan-oci), every command a new process as an engine runs it. */
class OciRuntimeTest {
    @TempDir
    Path dir;

    private OciCli cli;

    /** A failed test leaves no container running: every one left in the state root is deleted by force. */
    @org.junit.jupiter.api.BeforeEach
    void newCli() {
        cli = new OciCli(dir, 60);
    }

    @AfterEach
    void deleteLeftContainers() throws Exception {
        if (Files.isDirectory(dir.resolve("state"))) {
            try (var left = Files.list(dir.resolve("state"))) {
                for (Path container : left.toList()) {
                    oci(null, "delete", "--force", container.getFileName().toString());
                }
            }
        }
    }

    /** A root filesystem with the host's /bin/sh, sleep, cat and the libraries they need. */
    static void minimalRootfs(Path rootfs) throws Exception {
        for (String bin : List.of("/bin/sh", "/bin/sleep", "/bin/cat", "/bin/echo")) {
            copy(Path.of(bin), rootfs);
            Process ldd = new ProcessBuilder("ldd", bin).redirectErrorStream(true).start();
            String out = new String(ldd.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            ldd.waitFor();
            Matcher m = Pattern.compile("(/\\S+)").matcher(out);
            while (m.find()) {
                copy(Path.of(m.group(1)), rootfs);
            }
        }
    }

    private static void copy(Path host, Path rootfs) throws Exception {
        Path target = rootfs.resolve(host.toString().substring(1));
        if (!Files.exists(target)) {
            Files.createDirectories(target.getParent());
            Files.copy(host.toRealPath(), target);
        }
    }

    /** A bundle whose command is the shell script given. */
    Path bundle(String name, String script) throws Exception {
        Path bundle = Files.createDirectories(dir.resolve(name));
        minimalRootfs(bundle.resolve("rootfs"));
        String args = "[\"/bin/sh\", \"-c\", \"" + script.replace("\\", "\\\\").replace("\"", "\\\"") + "\"]";
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": %s, "cwd": "/", "env": ["PATH=/bin"]},
                 "root": {"path": "rootfs"},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["ro"]},
                            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
                             "options": ["newinstance", "ptmxmode=0666", "mode=0620"]}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}],
                           "sysctl": {"net.ipv4.ping_group_range": "0 0"}}}
                """.formatted(args));
        return bundle;
    }

    /** A file with this text that everyone may execute (a hook, a command of the container). */
    static void executable(Path file, String text) throws java.io.IOException {
        Files.writeString(file, text);
        Files.setPosixFilePermissions(file, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
    }

    /** The bundle's config with these hooks (the inside of a JSON "hooks" object). */
    private static void withHooks(Path bundle, String config, String hooks) throws java.io.IOException {
        Files.writeString(bundle.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {" + hooks + "}, \"root\":"));
    }

    Run oci(File stdout, String... args) throws Exception {
        return cli.oci(stdout, args);
    }

    String status(String id) throws Exception {
        return cli.status(id);
    }

    String awaitStatus(String id, String wanted) throws Exception {
        return cli.awaitStatus(id, wanted);
    }

    /** One step of the lifecycle: a command line, the status it exits with and what its output contains. */
    record Step(String[] args, int status, String output) {
        static Step of(int status, String output, String... args) {
            return new Step(args, status, output);
        }
    }

    @Test
    void lifecycleThroughTheCommandLine() throws Exception {
        Path bundle = bundle("b1", "echo started $(cat /proc/sys/net/ipv4/ping_group_range); "
                + "trap 'echo got TERM; exit 42' TERM; while :; do sleep 0.1; done");
        File containerOut = dir.resolve("container.out").toFile();
        Path pidFile = dir.resolve("pid");
        Run created = oci(containerOut, "create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), "c1");
        assertThat(created.status()).as(created.stderr()).isZero();
        long pid = Long.parseLong(Files.readString(pidFile));
        assertThat(Path.of("/proc/" + pid)).exists();
        // As runc prints it: indented, runtime-spec's fields and runc's rootfs, created and owner.
        assertThat(oci(null, "state", "c1").stdout()).matches("""
                \\{
                  "ociVersion": "1.2.0",
                  "id": "c1",
                  "pid": %d,
                  "status": "created",
                  "bundle": "%s",
                  "rootfs": "%s",
                  "created": "\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d(\\.\\d+)?Z",
                  "owner": ""
                }
                """.formatted(pid, bundle, bundle.resolve("rootfs")));
        assertThat(Files.readString(containerOut.toPath())).as("nothing ran before start").isEmpty();

        List<Step> steps = List.of(
                Step.of(1, "container c1 is created: stop it first, or use delete --force", "delete", "c1"),
                Step.of(1, "container c1 already exists", "create", "--bundle", bundle.toString(), "c1"),
                Step.of(0, "", "start", "c1"),
                Step.of(1, "container c1 is running, not created", "start", "c1"),
                Step.of(1, "container c1 is running: stop it first, or use delete --force", "delete", "c1"),
                Step.of(1, "container nope does not exist", "state", "nope"),
                Step.of(1, "container nope does not exist", "start", "nope"),
                Step.of(1, "container nope does not exist", "kill", "nope", "KILL"),
                Step.of(1, "container nope does not exist", "delete", "nope"),
                Step.of(1, "unknown signal NOSUCH", "kill", "c1", "NOSUCH"),
                Step.of(1, "invalid container id '../x'", "state", "../x"),
                Step.of(1, "unknown command frobnicate", "frobnicate", "c1"));
        for (Step step : steps) {
            Run r = oci(null, step.args());
            assertThat(r.status()).as("%s: %s", String.join(" ", step.args()), r.stderr()).isEqualTo(step.status());
            assertThat(r.stderr()).as(String.join(" ", step.args())).contains(step.output());
        }
        assertThat(status("c1")).isEqualTo("running");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!Files.readString(containerOut.toPath()).contains("started") && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(Files.readString(containerOut.toPath())).startsWith("started 0 0\n");

        // SIGTERM goes through init to the command, whose trap answers.
        assertThat(oci(null, "kill", "c1", "TERM").status()).isZero();
        assertThat(awaitStatus("c1", "stopped")).isEqualTo("stopped");
        assertThat(Files.readString(containerOut.toPath())).contains("got TERM");
        assertThat(oci(null, "state", "c1").stdout()).contains("\"pid\": 0");
        assertThat(oci(null, "kill", "c1", "KILL").stderr()).contains("container c1 is not running");
        Run deleted = oci(null, "delete", "c1");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(oci(null, "state", "c1").stderr()).contains("does not exist");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /** The mounts containerd writes by default (and the CRI's cgroup mount), carried out on the kernel. */
    @Test
    void containerdsDefaultMountsAreMadeAsAsked() throws Exception {
        Path bundle = bundle("b9", "cat /proc/self/mounts; "
                + "echo x > /dev/shm/x && echo shm writable; echo x > /empty/x || echo empty read-only");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"mounts\": [", """
                "mounts": [{"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
                            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
                           {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
                            "options": ["nosuid", "noexec", "nodev"]},
                           {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
                            "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                           {"destination": "/empty", "type": "tmpfs", "source": "tmpfs", "options": ["ro", "rprivate"]},
                           {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
                            "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},"""));
        Run r = oci(null, "run", "--bundle", bundle.toString(), "c9");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).contains("/dev/shm tmpfs rw,nosuid,nodev,noexec,relatime,size=65536k")
                .contains("/run tmpfs rw,nosuid,nodev,size=65536k")
                .contains("/empty tmpfs ro,nosuid,nodev,relatime")
                .contains("/dev/mqueue mqueue rw,nosuid,nodev,noexec")
                .contains("/sys/fs/cgroup cgroup2 ro,nosuid,nodev,noexec")
                .contains("shm writable", "empty read-only");
    }

    /**
     * The config runc spec writes (ambient capabilities without an inheritable set, a read-only
     * root, /dev/pts with gid=5, /dev/shm with a size, /dev/mqueue, /sys read-only, a read-only
     * cgroup mount), with what engines add to it: inheritable and ambient sets, atime options,
     * mode and size, a domain name and a device node; each checked from inside.
     */
    @Test
    @SuppressWarnings("unchecked")
    void runcSpecsConfigAndEveryStandardMountOptionAreCarriedOut() throws Exception {
        Path runc = Env.tool("runc", "runc");
        Path bundle = bundle("spec", "cat /proc/self/status /proc/self/mountinfo; echo domain $(cat "
                + "/proc/sys/kernel/domainname); echo x > /written || echo root read-only");
        Files.createDirectories(bundle.resolve("rootfs/data"));
        Path spec = Files.createDirectories(dir.resolve("runc-spec"));
        Process p = new ProcessBuilder(runc.toString(), "spec").directory(spec.toFile()).redirectErrorStream(true)
                .start();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        Map<String, Object> c = (Map<String, Object>) Json.parse(Files.readString(spec.resolve("config.json")));
        Map<String, Object> ours = (Map<String, Object>) Json.parse(Files.readString(bundle.resolve("config.json")));
        Map<String, Object> process = (Map<String, Object>) c.get("process");
        process.put("terminal", false);
        process.put("args", ((Map<String, Object>) ours.get("process")).get("args"));
        // runc spec's three ambient capabilities are not inheritable: the kernel raises only KILL.
        ((Map<String, Object>) process.get("capabilities")).put("inheritable", List.of("CAP_KILL"));
        c.put("domainname", "crab.example");
        List<Object> mounts = new ArrayList<>((List<Object>) c.get("mounts"));
        mounts.add(Map.of("destination", "/a", "type", "tmpfs", "source", "tmpfs", "options",
                List.of("nosuid", "noatime", "mode=700", "size=1m")));
        mounts.add(Map.of("destination", "/b", "type", "bind", "source", bundle.resolve("rootfs/data").toString(),
                "options", List.of("rbind", "ro", "strictatime", "nodiratime", "noexec", "rprivate")));
        c.put("mounts", mounts);
        Path tun = Path.of("/dev/net/tun");
        boolean tunUsable = Files.exists(tun) && Files.getPosixFilePermissions(tun).containsAll(
                java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        if (tunUsable) {
            ((Map<String, Object>) c.get("linux")).put("devices", List.of(Map.of("path", "/dev/net/tun", "type", "c",
                    "major", 10L, "minor", 200L, "fileMode", 0666L, "uid", 0L, "gid", 0L)));
            // After runc spec's "deny all", as podman --device allows the device it gives.
            Map<String, Object> resources = (Map<String, Object>) ((Map<String, Object>) c.get("linux")).get("resources");
            List<Object> rules = new ArrayList<>((List<Object>) resources.get("devices"));
            rules.add(Map.of("allow", true, "type", "c", "major", 10L, "minor", 200L, "access", "rwm"));
            resources.put("devices", rules);
        }
        Files.writeString(bundle.resolve("config.json"), Json.writePretty(c));
        Run r = oci(null, "run", "--bundle", bundle.toString(), "spec");
        if (!Env.isHostRoot()) {
            // Only host root's binds are cloned outside the sandbox's user namespace; in it, the
            // kernel locks the access time mode of every mount it did not make.
            assertThat(r.status()).isNotZero();
            assertThat(r.stderr()).contains("bind /b: its access time options differ from those of the mount it "
                    + "binds, which the kernel locks");
            mounts.set(mounts.size() - 1, Map.of("destination", "/b", "type", "bind", "source",
                    bundle.resolve("rootfs/data").toString(), "options", List.of("rbind", "ro", "noexec")));
            Files.writeString(bundle.resolve("config.json"), Json.writePretty(c));
            r = oci(null, "run", "--bundle", bundle.toString(), "spec");
        }
        assertThat(r.status()).as(r.stderr()).isZero();
        String out = r.stdout();
        assertThat(out).contains("CapInh:\t0000000000000020", "CapPrm:\t0000000020000420",
                "CapEff:\t0000000020000420", "CapBnd:\t0000000020000420", "CapAmb:\t0000000000000020");
        assertThat(out).contains("domain crab.example", "root read-only");
        assertThat(mountOptions(out, "/")).startsWith("ro,");
        assertThat(mountOptions(out, "/a")).contains("rw,nosuid,nodev,noatime ").contains("size=1024k,mode=700");
        if (Env.isHostRoot()) {
            assertThat(mountOptions(out, "/b")).contains("ro,nosuid,nodev,noexec,nodiratime").doesNotContain("relatime");
        } else {
            assertThat(mountOptions(out, "/b")).startsWith("ro,nosuid,nodev,noexec");
        }
        assertThat(mountOptions(out, "/dev/pts")).contains("nosuid,noexec").contains("mode=620,ptmxmode=666");
        assertThat(mountOptions(out, "/dev/shm")).contains("nosuid,nodev,noexec").contains("size=65536k");
        assertThat(mountOptions(out, "/dev/mqueue")).contains("nosuid,nodev,noexec").contains("mqueue");
        assertThat(mountOptions(out, "/sys")).startsWith("ro,nosuid,nodev,noexec").contains("sysfs");
        assertThat(mountOptions(out, "/sys/fs/cgroup")).startsWith("ro,nosuid,nodev,noexec,relatime").contains("cgroup2");
        if (tunUsable) {
            assertThat(mountOptions(out, "/dev/net/tun")).contains("devtmpfs");
        }
    }

    /** The mount options and file system of the mount at target, from a mountinfo text: "ro,... - type source super". */
    static String mountOptions(String mountinfo, String target) {
        return mountinfo.lines().map(l -> l.split(" "))
                .filter(f -> f.length > 6 && f[4].equals(target))
                .map(f -> String.join(" ", java.util.Arrays.copyOfRange(f, 5, f.length)))
                .reduce((a, b) -> b).orElseThrow(() -> new AssertionError(target + " is not mounted in " + mountinfo));
    }

    /**
     * oomScoreAdj and rlimits above the caller's own hard limit, as podman sends them (its default
     * RLIMIT_NOFILE is 1048576): set on the host before init exists, so they need root where they
     * lower or raise past the caller's; a rootless caller gets an error naming why.
     */
    @Test
    void oomScoreAdjAndRlimitsAboveTheCallersAreSetWhereTheCallerMay() throws Exception {
        // crabcan-oci runs with this JVM's limits and capabilities (this host's root lacks CAP_SYS_RESOURCE).
        long ownHard = Long.parseLong(Files.readAllLines(Path.of("/proc/self/limits")).stream()
                .filter(l -> l.startsWith("Max open files")).findFirst().orElseThrow().split("\\s+")[4]);
        long above = ownHard + 1;
        boolean mayRaise = Env.isHostRoot() && (capEff() & (1L << 24)) != 0;
        for (int adj : new int[] {500, -500}) {
            Path bundle = bundle("oom" + (adj + 1000), "cat /proc/self/oom_score_adj; ulimit -Hn; ulimit -Sn");
            String config = Files.readString(bundle.resolve("config.json"));
            Files.writeString(bundle.resolve("config.json"), config.replace("\"cwd\": \"/\",", "\"cwd\": \"/\", "
                    + "\"oomScoreAdj\": " + adj + ", \"rlimits\": [{\"type\": \"RLIMIT_NOFILE\", \"soft\": 1024, "
                    + "\"hard\": " + (adj > 0 ? ownHard : above) + "}],"));
            Run r = oci(null, "run", "--bundle", bundle.toString(), "oom");
            String what = "own hard limit " + ownHard + ", config " + Files.readString(bundle.resolve("config.json"));
            if (adj > 0 || mayRaise) {
                assertThat(r.status()).as("%s %s", r.stderr(), what).isZero();
                assertThat(r.stdout()).as(what).isEqualTo(adj + "\n" + (adj > 0 ? ownHard : above) + "\n1024\n");
            } else {
                assertThat(r.status()).isNotZero();
                assertThat(r.stderr()).as(what).contains("raise the hard limit of RLIMIT_NOFILE to " + above)
                        .contains("needs root");
            }
        }
        if (!mayRaise) {
            Path bundle = bundle("oomlow", "true");
            String config = Files.readString(bundle.resolve("config.json"));
            Files.writeString(bundle.resolve("config.json"), config.replace("\"cwd\": \"/\",",
                    "\"cwd\": \"/\", \"oomScoreAdj\": -500,"));
            Run r = oci(null, "run", "--bundle", bundle.toString(), "oomlow");
            assertThat(r.status()).isNotZero();
            assertThat(r.stderr()).contains("oom_score_adj").contains("set oom_score_adj -500 (lowering it below the "
                    + "caller's needs root");
        }
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /**
     * Hooks run on the host with the state on stdin: prestart and createRuntime at create (while
     * init waits before pivot_root: "creating", init's pid), poststart, poststop.
     */
    @Test
    void hooksRunAtTheirPointsWithTheStateOnStdin() throws Exception {
        Path bundle = bundle("b10", "echo ran");
        Path seen = Files.createDirectory(dir.resolve("hooks"));
        String hook = "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %s/%s; echo $X >> %s/%s\"], "
                + "\"env\": [\"X=%s\"], \"timeout\": 30}";
        StringBuilder hooks = new StringBuilder("\"hooks\": {");
        for (String kind : List.of("prestart", "createRuntime", "poststart", "poststop")) {
            hooks.append('"').append(kind).append("\": [").append(hook.formatted(seen, kind, seen, kind, kind))
                    .append("], ");
        }
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"root\":",
                hooks.substring(0, hooks.length() - 2) + "}, \"root\":"));
        File out = dir.resolve("b10.out").toFile();
        Path pidFile = dir.resolve("c10.pid");
        Run created = oci(out, "create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), "c10");
        assertThat(created.status()).as(created.stderr()).isZero();
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        for (String kind : List.of("prestart", "createRuntime")) {
            assertThat(Files.readString(seen.resolve(kind))).contains("\"id\":\"c10\"", "\"status\":\"creating\"",
                    "\"pid\":" + pid + ",", "\"bundle\":\"" + bundle + "\"").endsWith(kind + "\n");
        }
        assertThat(seen.resolve("poststart")).doesNotExist();
        assertThat(oci(null, "start", "c10").status()).isZero();
        assertThat(Files.readString(seen.resolve("poststart"))).contains("\"id\":\"c10\"").endsWith("poststart\n");
        assertThat(awaitStatus("c10", "stopped")).isEqualTo("stopped");
        assertThat(seen.resolve("poststop")).doesNotExist();
        assertThat(oci(null, "delete", "c10").status()).isZero();
        assertThat(Files.readString(seen.resolve("poststop"))).contains("\"status\":\"stopped\"").endsWith("poststop\n");
        assertThat(Files.readString(out.toPath())).isEqualTo("ran\n");

        // A failing prestart hook fails create, names the hook and leaves no container; poststop runs.
        withHooks(bundle, config, "\"prestart\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo no network; exit 3\"]}], \"poststop\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > " + seen + "/after-failure\"]}]");
        Run refused = cli.refusedCreate(bundle, "c11");
        assertThat(refused.stderr()).contains("hooks.prestart[0] (/bin/sh) failed with status 3: no network");
        assertThat(dir.resolve("state")).isEmptyDirectory();
        assertThat(Files.readString(seen.resolve("after-failure"))).as("poststop after the failed create")
                .contains("\"id\":\"c11\"", "\"status\":\"stopped\"");
    }

    /**
     * createContainer and startContainer hooks run inside the container: createContainer in its
     * mount namespace before pivot_root (its path and the files it names resolve in the host's
     * view), startContainer at start before the command (resolved in the container), each with
     * the state on stdin, exactly its environment; a failing one fails create or start.
     */
    @Test
    void containerHooksRunInsideTheContainerAtTheirPoints() throws Exception {
        Path bundle = bundle("b12", "cat /hooks/create /tmp/start");
        Path tmp = Files.createDirectories(bundle.resolve("rootfs/hooks"));
        copy(Path.of("/bin/readlink"), bundle.resolve("rootfs")); // its libraries are cat's
        // As root, the container's root is another host id than this test's: it may pass and write.
        for (Path p : List.of(dir, bundle)) {
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        }
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        String create = ("{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > %1$s/create; echo >> %1$s/create; "
                + "readlink /proc/self/ns/mnt >> %1$s/create; echo $X >> %1$s/create\"], \"env\": [\"X=made\"]}")
                .formatted(tmp);
        String start = "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"cat > /tmp/start; echo >> /tmp/start; "
                + "readlink /proc/self/ns/mnt >> /tmp/start; echo $Y >> /tmp/start\"], \"env\": [\"Y=started\"], \"timeout\": 30}";
        String config = Files.readString(bundle.resolve("config.json"));
        withHooks(bundle, config, "\"createContainer\": ["
                + create + "], \"startContainer\": [" + start + "]");
        File out = dir.resolve("b12.out").toFile();
        Path pidFile = dir.resolve("c12.pid");
        Run created = oci(out, "create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), "c12");
        assertThat(created.status()).as(created.stderr()).isZero();
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        List<String> made = Files.readAllLines(tmp.resolve("create"));
        assertThat(made.get(0)).startsWith("{\"status\":\"creating\",\"pid\":" + pid + ",")
                .contains("\"id\":\"c12\"", "\"bundle\":\"" + bundle + "\"");
        assertThat(made.get(1)).as("a mount namespace not the runtime's")
                .isNotEqualTo(Files.readSymbolicLink(Path.of("/proc/self/ns/mnt")).toString());
        assertThat(made.get(2)).isEqualTo("made");
        assertThat(tmp.resolve("start")).doesNotExist();
        assertThat(oci(null, "start", "c12").status()).isZero();
        assertThat(awaitStatus("c12", "stopped")).isEqualTo("stopped");
        List<String> seen = Files.readAllLines(out.toPath());
        assertThat(seen).as("the command's output").hasSize(6);
        assertThat(seen.get(3)).startsWith("{\"status\":\"created\",\"pid\":" + pid + ",").contains("\"id\":\"c12\"");
        assertThat(seen.get(4)).as("the command's mount namespace, where startContainer ran").isEqualTo(made.get(1));
        assertThat(seen.get(5)).isEqualTo("started");
        assertThat(oci(null, "delete", "c12").status()).isZero();

        // A failing startContainer hook fails start with its words, and the command never runs.
        withHooks(bundle, config, "\"startContainer\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo no gpu; exit 3\"]}]");
        File out13 = dir.resolve("b13.out").toFile();
        assertThat(oci(out13, "create", "--bundle", bundle.toString(), "c13").status()).isZero();
        Run refused = cli.refusedStart("c13");
        assertThat(refused.stderr()).contains("hooks.startContainer failed", "hooks.startContainer[0] (/bin/sh) exited with 3: no gpu");
        assertThat(Files.readString(out13.toPath())).doesNotContain("{\"status\"");

        // A failing createContainer hook fails create, names it and leaves no container.
        withHooks(bundle, config, "\"createContainer\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo no driver >&2; exit 4\"]}]");
        Run failed = cli.refusedCreate(bundle, "c14");
        assertThat(failed.stderr()).contains("hooks.createContainer[0] (/bin/sh) exited with 4: no driver");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    /**
     * prestart and createRuntime run while init waits before pivot_root, as runc and crun run them
     * (they ran after create had set the container up, when nothing they mounted could reach it):
     * as the NVIDIA container toolkit's prestart hook does, a hook enters the container's mount
     * namespace through the state's pid and mounts below the bundle's rootfs path, and the command
     * sees that mount, which the host does not. Every kind of hook runs in runtime-spec's order. A
     * failing createRuntime hook fails create with its words and leaves no container state, init or
     * cgroup.
     */
    @Test
    void prestartAndCreateRuntimeHooksRunBeforePivotRootInTheSpecsOrder() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(),
                "entering a container's mount namespace from the host takes host root");
        Path bundle = bundle("b-pre", "cat /gpu/lib");
        Path rootfs = bundle.resolve("rootfs");
        Files.createDirectory(rootfs.resolve("gpu"));
        Path order = rootfs.resolve("order");
        Files.writeString(order, "");
        // The container's root is another host id than this test's: it may pass and append.
        for (Path p : List.of(dir, bundle)) {
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwx--x--x"));
        }
        Files.setPosixFilePermissions(order, java.nio.file.attribute.PosixFilePermissions.fromString("rw-rw-rw-"));
        String pid = "pid=$(sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p'); ";
        String inside = "nsenter --mount=/proc/$pid/ns/mnt ";
        String prestart = pid + "echo prestart >> " + order + "; " + inside + "mount -t tmpfs gpu " + rootfs + "/gpu && "
                + inside + "sh -c 'echo prestart > " + rootfs + "/gpu/lib'";
        String createRuntime = pid + "echo createRuntime >> " + order + "; " + inside + "sh -c 'echo createRuntime >> "
                + rootfs + "/gpu/lib'";
        String hooks = "\"prestart\": [" + shHook(prestart) + "], \"createRuntime\": [" + shHook(createRuntime)
                + "], \"createContainer\": [" + shHook("echo createContainer >> " + order) + "], \"startContainer\": ["
                + shHook("echo startContainer >> /order") + "], \"poststart\": [" + shHook("echo poststart >> " + order)
                + "], \"poststop\": [" + shHook("echo poststop >> " + order) + "]";
        String config = Files.readString(bundle.resolve("config.json"));
        withHooks(bundle, config, hooks);
        File out = dir.resolve("b-pre.out").toFile();
        Run created = oci(out, "create", "--bundle", bundle.toString(), "c-pre");
        assertThat(created.status()).as(created.stderr()).isZero();
        assertThat(oci(null, "start", "c-pre").status()).isZero();
        cli.awaitStoppedAndDelete("c-pre");
        assertThat(Files.readString(out.toPath())).as("what the hooks put in the container's mount").isEqualTo(
                "prestart\ncreateRuntime\n");
        try (var onHost = Files.list(rootfs.resolve("gpu"))) {
            assertThat(onHost).as("the mount was the container's alone").isEmpty();
        }
        assertThat(Files.readString(order)).isEqualTo(
                "prestart\ncreateRuntime\ncreateContainer\nstartContainer\npoststart\npoststop\n");

        Path seen = Files.createDirectory(dir.resolve("pre-seen"));
        withHooks(bundle, config, "\"createRuntime\": [" + shHook(pid + "echo $pid > " + seen + "/pid; cat /proc/$pid/cgroup > "
                + seen + "/cgroup; echo no gpu found; exit 1") + "]");
        Run refused = cli.refusedCreate(bundle, "c-pre2");
        assertThat(refused.stderr()).contains("hooks.createRuntime[0] (/bin/sh) failed with status 1: no gpu found");
        assertThat(dir.resolve("state")).isEmptyDirectory();
        assertThat(Path.of("/proc", Files.readString(seen.resolve("pid")).trim())).as("the container's init").doesNotExist();
        for (String line : Files.readAllLines(seen.resolve("cgroup"))) {
            String[] f = line.split(":", 3);
            if (f[2].contains("crabcan-oci-c-pre2")) {
                Path cgroup = f[1].isEmpty() ? Path.of("/sys/fs/cgroup", f[2])
                        : Path.of("/sys/fs/cgroup", f[1].split(",")[0].replace("name=", ""), f[2]);
                assertThat(cgroup).as("the container's cgroup").doesNotExist();
            }
        }
    }

    /**
     * While its prestart hook runs, a container is "creating" and can be killed, or deleted by
     * force (its state is recorded before the hooks run). Either way its create, seeing the
     * container end, kills the hook and everything it started at once (delete --force, which waits
     * for the create, returns once they are gone), fails, and leaves no container and no cgroup.
     * Before, the create waited for the hook to end. This hook would sleep 600 s, its timeout is
     * 600 s, and this test's @Timeout is far below: every wait here ended because the hook was
     * killed. A failing hook's create ends as soon as the container is gone.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aContainerWhosePrestartHookRunsCanBeKilledOrDeleted() throws Exception {
        Path bundle = bundle("b-prekill", "echo never");
        String config = Files.readString(bundle.resolve("config.json"));
        for (String how : List.of("kill", "delete")) {
            String marker = marker();
            Path seen = Files.createDirectory(dir.resolve("prekill." + how));
            withHooks(bundle, config, "\"prestart\": [" + sleepingHook(seen, marker) + "]");
            Path err = dir.resolve("prekill.err");
            Process create = new ProcessBuilder(jvm("create", "--bundle", bundle.toString(), "c-prekill"))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(err.toFile()).start();
            try {
                awaitHook(seen, create);
                assertThat(oci(null, "state", "c-prekill").stdout()).contains("\"status\": \"creating\"");
                Run done = how.equals("kill") ? oci(null, "kill", "c-prekill", "KILL")
                        : oci(null, "delete", "--force", "c-prekill");
                assertThat(done.status()).as(() -> how + ": " + done.stderr() + "; create said: " + read(err)).isZero();
                if (how.equals("delete")) {
                    assertThat(processesWith(marker)).as("the hook and what it started, once delete returned").isEmpty();
                }
                create.waitFor();
                assertThat(create.exitValue()).as(Files.readString(err)).isNotZero();
                assertThat(Files.readString(err)).contains("ended (was it killed?) while its runtime hooks ran");
            } finally {
                create.destroyForcibly().waitFor();
            }
            assertThat(processesWith(marker)).as("the hook and what it started, after " + how).isEmpty();
            assertThat(dir.resolve("state")).as("after " + how).isEmptyDirectory();
            assertContainerGone(seen, "c-prekill");
        }

        withHooks(bundle, config, "\"prestart\": [" + shHook("exit 4") + "]");
        Run refused = cli.refusedCreate(bundle, "c-prekill");
        assertThat(refused.stderr()).contains("hooks.prestart[0] (/bin/sh) failed with status 4")
                .doesNotContain("did not end within 10 s");
    }

    /**
     * The runtime killed while a prestart hook runs (the engine kills it, say for its own
     * timeout): the hook and everything it started, a process in a session of its own included,
     * were left to run to the hook's timeout (120 s by default). They are now killed at once, as
     * is the container; delete removes what the create recorded, and nothing is left. The hook
     * would sleep 600 s with a timeout of 600 s, far beyond this test's @Timeout. Through the front
     * end and its service: OciServiceTest#aHookEndsAtOnceWhenItsFrontEndIsKilledOrItsContainerDeleted.
     */
    @Test
    @org.junit.jupiter.api.Timeout(value = 4, unit = TimeUnit.MINUTES)
    void aRuntimeKilledWhileItsHookRunsTakesTheHookAndTheContainerWithIt() throws Exception {
        Path bundle = bundle("b-killed", "echo never");
        String marker = marker();
        Path seen = Files.createDirectory(dir.resolve("killed"));
        withHooks(bundle, Files.readString(bundle.resolve("config.json")),
                "\"prestart\": [" + sleepingHook(seen, marker) + "]");
        Process create = new ProcessBuilder(jvm("create", "--bundle", bundle.toString(), "c-killed"))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            awaitHook(seen, create);
        } finally {
            create.destroyForcibly().waitFor();
        }
        awaitNone(marker);
        Path init = Path.of("/proc", Files.readString(seen.resolve("pid")).trim());
        while (Files.exists(init)) {
            Thread.sleep(20);
        }
        Run deleted = oci(null, "delete", "c-killed");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(dir.resolve("state")).isEmptyDirectory();
        assertContainerGone(seen, "c-killed");
    }

    /** The JVM per call's command line: OciRuntime with this test's state root. */
    private List<String> jvm(String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "-cp", Env.CLI_JAR.toString(), "dev.crabcan.examples.OciRuntime", "--root", dir.resolve("state").toString()));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** A number that GNU sleep adds up with its other arguments, unique to one hook's processes. */
    static String marker() {
        return "0.00" + ProcessHandle.current().pid() + System.nanoTime() % 1_000_000;
    }

    /**
     * A prestart hook that writes init's pid and cgroups to seen, then says it started, leaves a
     * sleeper in a session of its own and sleeps itself: 600 s, its timeout too.
     */
    static String sleepingHook(Path seen, String marker) {
        String script = "sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' > " + seen + "/pid; cat /proc/$(cat " + seen + "/pid)/cgroup > "
                + seen + "/cgroup; (setsid sleep 600 " + marker + " >/dev/null 2>&1 &); touch " + seen + "/started; "
                + "sleep 600 " + marker;
        return "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", " + Json.write(script)
                + "], \"timeout\": 600}";
    }

    /** Until the sleeping hook started, while the runtime runs. */
    static void awaitHook(Path seen, Process runtime) throws InterruptedException {
        while (!Files.exists(seen.resolve("started")) && runtime.isAlive()) {
            Thread.sleep(10);
        }
        assertThat(seen.resolve("started")).as("the hook ran").exists();
    }

    /** Until no process has the marker: the caller's @Timeout bounds it. */
    static void awaitNone(String marker) throws Exception {
        while (!processesWith(marker).isEmpty()) {
            Thread.sleep(20);
        }
    }

    /** The container's init, whose pid a sleeping hook wrote to seen, and every cgroup named for it are gone. */
    static void assertContainerGone(Path seen, String id) throws java.io.IOException {
        assertThat(Path.of("/proc", Files.readString(seen.resolve("pid")).trim())).as("the container's init").doesNotExist();
        for (String line : Files.readAllLines(seen.resolve("cgroup"))) {
            String[] f = line.split(":", 3);
            if (f[2].contains(id)) {
                Path cgroup = f[1].isEmpty() ? Path.of("/sys/fs/cgroup", f[2])
                        : Path.of("/sys/fs/cgroup", f[1].split(",")[0].replace("name=", ""), f[2]);
                assertThat(cgroup).as("the container's cgroup").doesNotExist();
            }
        }
    }

    private static String read(Path file) {
        try {
            return Files.readString(file);
        } catch (java.io.IOException e) {
            return e.toString();
        }
    }

    /** A hook that runs this shell script, with a timeout. */
    private static String shHook(String script) {
        return "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"" + script.replace("\\", "\\\\").replace("\"", "\\\"")
                + "\"], \"timeout\": 30}";
    }

    /**
     * Attacks on the hooks' runner, each of which once held: a createContainer hook leaving a
     * process behind (in a session of its own, out of its process group), which would keep every
     * capability of the user namespace beside the command; a startContainer hook writing without
     * end, which kept start waiting past the hook's timeout; a hook's words carrying terminal
     * escapes into the engine's stderr. And the argv is runtime-spec's args as they are.
     */
    @Test
    void hooksLeaveNothingRunningCannotHoldUpStartAndCannotEscapeIntoTheTerminal() throws Exception {
        Path bundle = bundle("b15", "cat /tmp/argv0");
        String config = Files.readString(bundle.resolve("config.json"));
        String left = "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"setsid sleep 1000 >/dev/null 2>&1 & "
                + "sleep 1000 >/dev/null 2>&1 & exit 0\"]}";
        String argv0 = "{\"path\": \"/bin/sh\", \"args\": [\"hook-name\", \"-c\", \"echo $0 > /tmp/argv0\"]}";
        withHooks(bundle, config, "\"createContainer\": ["
                + left + "], \"startContainer\": [" + argv0 + "]");
        File out = dir.resolve("b15.out").toFile();
        Path pidFile = dir.resolve("c15.pid");
        Run created = oci(out, "create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), "c15");
        assertThat(created.status()).as(created.stderr()).isZero();
        long pid = Long.parseLong(Files.readString(pidFile).trim());
        // What a hook leaves is reparented to init. Read from stat: a caller that is not root may not
        // read the namespaces of processes as undumpable as init and the waiting command.
        assertThat(ProcessHandle.of(pid).orElseThrow().descendants().toList()).as("the command alone below init")
                .hasSize(1);
        assertThat(oci(null, "start", "c15").status()).isZero();
        assertThat(awaitStatus("c15", "stopped")).isEqualTo("stopped");
        assertThat(Files.readString(out.toPath()).strip()).isEqualTo("hook-name");
        assertThat(oci(null, "delete", "c15").status()).isZero();

        // Endless output and a timeout of 1 s: start ends (oci() allows it 60 s) with the timeout.
        withHooks(bundle, config, "\"startContainer\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"while :; do echo flood; done\"], "
                + "\"timeout\": 1}]");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c16").status()).isZero();
        Run flooded = cli.refusedStart("c16");
        assertThat(flooded.stderr()).contains("did not finish within its timeout of 1 s: flood flood");

        // Escapes in a failing hook's words reach the engine's terminal as '?'.
        withHooks(bundle, config, "\"startContainer\": "
                + "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"printf 'bad\\\\033[2Jthing\\\\302\\\\233x'; "
                + "exit 5\"]}]");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c17").status()).isZero();
        Run escaped = cli.refusedStart("c17");
        assertThat(escaped.stderr()).contains("exited with 5: bad?[2Jthing?x").doesNotContain("\u001b", "\u009b");
    }

    /**
     * A startContainer hook's file lies in the container's root, which the image controls. One
     * that stopped the process waiting for it (its parent, the command's process, which the
     * container's user may signal) held start forever whatever the hook's timeout, and with it
     * start's lock, which delete --force waits for. start now waits for the hooks no longer than
     * their timeouts allow, then fails and stops the container.
     */
    @Test
    void aStartContainerHookFromTheImageCannotHoldUpStartPastItsTimeout() throws Exception {
        Path bundle = bundle("b18", "echo never");
        executable(bundle.resolve("rootfs/hook"), "#!/bin/sh\nkill -STOP $PPID\n");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"startContainer\": "
                + "[{\"path\": \"/hook\", \"args\": [\"hook\"], \"timeout\": 1}]}, \"root\":"));
        File out = dir.resolve("b18.out").toFile();
        Run created = oci(out, "create", "--bundle", bundle.toString(), "c18");
        assertThat(created.status()).as(created.stderr()).isZero();
        Run held = cli.refusedStart("c18");
        assertThat(held.stderr()).contains("hooks.startContainer gave no verdict within their timeouts");
        assertThat(Files.readString(out.toPath())).doesNotContain("never");
    }

    /**
     * A startContainer hook's path is resolved in the container, so the image chooses its file: a
     * link there to /proc/self/exe ran the runtime's own binary inside the container (runc's
     * CVE-2019-5736 class; found by a security review). It is refused by name and the command never
     * runs. And a hook of the image's cannot open the binary that the container's init and the waiting
     * command run for writing, through their /proc entries.
     */
    @Test
    void aStartContainerHookCannotRunOrWriteTheRuntimesOwnBinary() throws Exception {
        Path bundle = bundle("b-exe", "cat /tmp/tried");
        Path rootfs = bundle.resolve("rootfs");
        Files.createSymbolicLink(rootfs.resolve("hook"), Path.of("/proc/self/exe"));
        executable(rootfs.resolve("writer"), "#!/bin/sh\nfor p in /proc/1/exe /proc/$PPID/exe; do\n"
                + "  if (: >> $p) 2>/dev/null; then echo wrote $p; else echo refused $p; fi\ndone > /tmp/tried\n");
        String config = Files.readString(bundle.resolve("config.json"));
        withHooks(bundle, config, "\"startContainer\": [{\"path\": \"/hook\", \"args\": [\"hook\"], \"timeout\": 30}]");
        File out = dir.resolve("b-exe.out").toFile();
        assertThat(oci(out, "create", "--bundle", bundle.toString(), "c-exe").status()).isZero();
        Run refused = cli.refusedStart("c-exe");
        assertThat(refused.stderr()).contains("hooks.startContainer failed", "hooks.startContainer[0] (/hook) is the runtime's own binary");
        assertThat(Files.readString(out.toPath())).as("the command never ran").doesNotContain("refused", "wrote");

        withHooks(bundle, config, "\"startContainer\": [{\"path\": \"/writer\", \"timeout\": 30}]");
        File tried = dir.resolve("b-exe-tried.out").toFile();
        assertThat(oci(tried, "create", "--bundle", bundle.toString(), "c-exe2").status()).isZero();
        Run started = oci(null, "start", "c-exe2");
        assertThat(started.status()).as(started.stderr()).isZero();
        cli.awaitStoppedAndDelete("c-exe2");
        assertThat(Files.readString(tried.toPath())).matches("refused /proc/1/exe\nrefused /proc/\\d+/exe\n");
    }

    /**
     * A hook whose config gives no timeout waited for without end (runc and crun wait too), holding
     * create or start and the container's lock forever. It now gets the runtime's default
     * (--hook-timeout, 120 s unless given; 2 s here): a prestart hook that never ends fails create,
     * a startContainer one from the image fails start, and each is killed.
     */
    @Test
    void aHookWithoutATimeoutIsBoundedByTheDefault() throws Exception {
        Path bundle = bundle("b-forever", "echo never");
        executable(bundle.resolve("rootfs/forever"), "#!/bin/sh\nexec sleep 100000\n");
        String config = Files.readString(bundle.resolve("config.json"));
        withHooks(bundle, config, "\"prestart\": [{\"path\": \"/bin/sleep\", \"args\": [\"sleep\", \"100000\"]}]");
        Run created = oci(null, "--hook-timeout", "2", "create", "--bundle", bundle.toString(), "c-forever");
        assertThat(created.status()).isEqualTo(1);
        assertThat(created.stderr()).contains("hooks.prestart[0] (/bin/sleep) did not finish within its timeout of 2 s");
        assertThat(oci(null, "state", "c-forever").stderr()).contains("does not exist");

        withHooks(bundle, config, "\"startContainer\": [{\"path\": \"/forever\"}]");
        File out = dir.resolve("b-forever.out").toFile();
        assertThat(oci(out, "--hook-timeout", "2", "create", "--bundle", bundle.toString(), "c-forever2").status())
                .isZero();
        // The default is the container's from create on, whatever start is given.
        Run started = cli.refusedStart("c-forever2");
        assertThat(started.stderr()).contains("hooks.startContainer failed",
                "hooks.startContainer[0] (/forever) did not finish within its timeout of 2 s");
        assertThat(Files.readString(out.toPath())).doesNotContain("never");
        assertThat(ProcessHandle.allProcesses().filter(p -> p.info().commandLine().orElse("").equals("sleep 100000")))
                .as("no hook left running").isEmpty();

        Run bad = oci(null, "--hook-timeout", "0", "state", "c-forever2");
        assertThat(bad.status()).isEqualTo(1);
        assertThat(bad.stderr()).contains("--hook-timeout 0: a number of seconds above 0");
    }

    /**
     * The processes whose command line holds this marker (read from /proc: a process of another
     * user's may hide what ProcessHandle.info() reads).
     */
    static List<Long> processesWith(String marker) throws java.io.IOException {
        List<Long> found = new ArrayList<>();
        try (var procs = Files.list(Path.of("/proc"))) {
            for (Path p : procs.filter(p -> p.getFileName().toString().matches("\\d+")).toList()) {
                try {
                    if (new String(Files.readAllBytes(p.resolve("cmdline")), StandardCharsets.UTF_8).replace('\0', ' ')
                            .contains(marker)) {
                        found.add(Long.parseLong(p.getFileName().toString()));
                    }
                } catch (java.io.IOException e) {
                    // gone meanwhile
                }
            }
        }
        return found;
    }

    /**
     * A hook that timed out was killed alone: what it had started stayed, also in a session of its
     * own and orphaned (found by a security review). A host hook now runs below a helper that is a
     * subreaper, which kills and reaps all of it before the command returns; a startContainer hook's
     * leftovers end with the container, whose start failed. GNU sleep adds up its arguments, so the
     * marker is a number.
     */
    @Test
    void aHookThatTimesOutLeavesNoProcessBehind() throws Exception {
        String marker = "0.00" + ProcessHandle.current().pid() + System.nanoTime() % 1_000_000;
        String leaver = "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"(setsid sleep 1000 " + marker
                + " >/dev/null 2>&1 &); sleep 1000 " + marker + " & sleep 1000 " + marker + "\"], \"timeout\": 1}";
        Path bundle = bundle("b-leave", "echo never");
        Files.copy(Path.of("/usr/bin/setsid"), bundle.resolve("rootfs/bin/setsid"));
        String config = Files.readString(bundle.resolve("config.json"));
        for (String kind : List.of("prestart", "createRuntime")) {
            withHooks(bundle, config, "\"" + kind + "\": [" + leaver + "]");
            Run created = cli.refusedCreate(bundle, "c-leave");
            assertThat(created.stderr()).contains("hooks." + kind + "[0] (/bin/sh) did not finish within its timeout of 1 s");
            assertThat(processesWith(marker)).as("what the %s hook started", kind).isEmpty();
        }

        withHooks(bundle, config, "\"poststop\": [" + leaver + "]");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c-leave").status()).isZero();
        assertThat(oci(null, "start", "c-leave").status()).isZero();
        assertThat(awaitStatus("c-leave", "stopped")).isEqualTo("stopped");
        Run deleted = oci(null, "delete", "c-leave");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(deleted.stderr()).contains("warning: hooks.poststop[0] (/bin/sh) did not finish within its timeout of 1 s");
        assertThat(processesWith(marker)).as("what the poststop hook started").isEmpty();

        withHooks(bundle, config, "\"startContainer\": [" + leaver + "]");
        File out = dir.resolve("b-leave.out").toFile();
        assertThat(oci(out, "create", "--bundle", bundle.toString(), "c-leave2").status()).isZero();
        Run started = oci(null, "start", "c-leave2");
        assertThat(started.status()).isEqualTo(1);
        assertThat(started.stderr()).contains("hooks.startContainer[0] (/bin/sh) did not finish within its timeout of 1 s");
        assertThat(awaitStatus("c-leave2", "stopped")).isEqualTo("stopped");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!processesWith(marker).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(processesWith(marker)).as("what the startContainer hook started").isEmpty();
        assertThat(oci(null, "delete", "c-leave2").status()).isZero();
        assertThat(Files.readString(out.toPath())).doesNotContain("never");
    }

    /**
     * A helper running a host hook that hangs itself (here the hook stops it) was killed alone once
     * its timeout and a margin passed: the hook and what it started went on, reparented to our
     * subreaper or init (found by a review). Everything below the helper is now killed with it,
     * for a prestart hook (while the container waits before pivot_root) as for a poststop one.
     */
    @Test
    void aHungHookHelperIsKilledWithEverythingItRuns() throws Exception {
        String marker = "0.00" + ProcessHandle.current().pid() + System.nanoTime() % 1_000_000;
        String hung = "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"(setsid sleep 1000 " + marker
                + " >/dev/null 2>&1 &); kill -STOP $PPID; sleep 1000 " + marker + "\"], \"timeout\": 1}]";
        Path bundle = bundle("b-hung", "echo never");
        String config = Files.readString(bundle.resolve("config.json"));
        withHooks(bundle, config, "\"prestart\": " + hung);
        Run created = cli.refusedCreate(bundle, "c-hung");
        assertThat(created.stderr()).contains("hooks.prestart[0] (/bin/sh): the helper running it did not end within "
                + "its timeout of 1 s");
        assertThat(processesWith(marker)).as("what the hook started").isEmpty();

        withHooks(bundle, config, "\"poststop\": " + hung);
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c-hung").status()).isZero();
        assertThat(oci(null, "start", "c-hung").status()).isZero();
        assertThat(awaitStatus("c-hung", "stopped")).isEqualTo("stopped");
        Run deleted = oci(null, "delete", "c-hung");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(deleted.stderr()).contains("hooks.poststop[0] (/bin/sh): the helper running it did not end within "
                + "its timeout of 1 s");
        assertThat(processesWith(marker)).as("what the poststop hook started").isEmpty();
    }

    /**
     * A startContainer hook runs after the container's seccomp filter is in place (as in runc
     * without noNewPrivileges), and the helper executed it with execveat on the descriptor it
     * checked: a filter that denies execveat, which runtime-spec lets a config do, failed every
     * such hook (found by a security review). It now falls back to execve of the descriptor's
     * /proc name once that name is shown to lead to the same file; a script runs too, and a hook
     * linked to the runtime's own binary is still refused.
     */
    @Test
    void startContainerHooksRunWhenTheFilterDeniesExecveat() throws Exception {
        Path bundle = bundle("b-noat", "cat /tmp/ran");
        executable(bundle.resolve("rootfs/script-hook"), "#!/bin/sh\necho script >> /tmp/ran\n");
        Files.createSymbolicLink(bundle.resolve("rootfs/exe-hook"), Path.of("/proc/self/exe"));
        String config = Files.readString(bundle.resolve("config.json")).replace("\"sysctl\":",
                "\"seccomp\": {\"defaultAction\": \"SCMP_ACT_ALLOW\", \"architectures\": [\"SCMP_ARCH_X86_64\"], "
                        + "\"syscalls\": [{\"names\": [\"execveat\"], \"action\": \"SCMP_ACT_ERRNO\", \"errnoRet\": 1}]}, "
                        + "\"sysctl\":");
        for (String errno : List.of("1", "38")) { // EPERM, and ENOSYS, which musl's fexecve took for an old kernel
            withHooks(bundle, config.replace("\"errnoRet\": 1", "\"errnoRet\": " + errno), "\"startContainer\": ["
                    + "{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", \"echo binary > /tmp/ran\"], \"timeout\": 30}, "
                    + "{\"path\": \"/script-hook\", \"timeout\": 30}]");
            File out = dir.resolve("b-noat-" + errno + ".out").toFile();
            assertThat(oci(out, "create", "--bundle", bundle.toString(), "c-noat").status()).isZero();
            Run started = oci(null, "start", "c-noat");
            assertThat(started.status()).as(started.stderr()).isZero();
            cli.awaitStoppedAndDelete("c-noat");
            assertThat(Files.readString(out.toPath())).as("errno %s", errno).isEqualTo("binary\nscript\n");
        }

        withHooks(bundle, config, "\"startContainer\": [{\"path\": \"/exe-hook\", \"timeout\": 30}]");
        File out = dir.resolve("b-noat-exe.out").toFile();
        assertThat(oci(out, "create", "--bundle", bundle.toString(), "c-noat").status()).isZero();
        Run refused = cli.refusedStart("c-noat");
        assertThat(refused.stderr()).contains("hooks.startContainer failed", "hooks.startContainer[0] (/exe-hook) is the runtime's own binary");
        assertThat(Files.readString(out.toPath())).isEmpty();
    }

    /**
     * A failing poststart or poststop hook is a warning, and its words, which may quote what the
     * container wrote, reached the engine's terminal with their escapes (and not the --log file).
     */
    @Test
    void aFailingPoststartOrPoststopHooksWordsCannotEscapeIntoTheTerminal() throws Exception {
        Path bundle = bundle("b19", "true");
        String hook = "[{\"path\": \"/bin/sh\", \"args\": [\"sh\", \"-c\", "
                + "\"printf 'bad\\\\033]0;owned\\\\007thing\\\\302\\\\2332J'; exit 2\"]}]";
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"root\":", "\"hooks\": {\"poststart\": "
                + hook + ", \"poststop\": " + hook + "}, \"root\":"));
        Path log = dir.resolve("b19.log");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c19").status()).isZero();
        Run started = oci(null, "--log", log.toString(), "start", "c19");
        assertThat(started.status()).as(started.stderr()).isZero();
        assertThat(started.stderr()).contains("warning: hooks.poststart[0] (/bin/sh) failed with status 2: bad?]0;owned?thing?2J")
                .doesNotContain("\u001b", "\u0007", "\u009b");
        assertThat(awaitStatus("c19", "stopped")).isEqualTo("stopped");
        Run deleted = oci(null, "--log", log.toString(), "delete", "c19");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(deleted.stderr()).contains("warning: hooks.poststop[0] (/bin/sh) failed with status 2: bad?]0;owned?thing?2J")
                .doesNotContain("\u001b", "\u0007", "\u009b");
        assertThat(Files.readString(log)).contains("hooks.poststart[0]", "hooks.poststop[0]", "\\u001b]0;owned", "\\u009b2J")
                .doesNotContain("\u001b", "\u009b");
    }

    private static long capEff() throws Exception {
        return Long.parseLong(Files.readAllLines(Path.of("/proc/self/status")).stream()
                .filter(l -> l.startsWith("CapEff:")).findFirst().orElseThrow().substring(7).trim(), 16);
    }

    @Test
    void deleteForceKillsAContainerAndItsProcesses() throws Exception {
        Path bundle = bundle("b2", "sleep 1000 & sleep 1000");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "--pid-file", dir.resolve("pid").toString(), "c2")
                .status()).isZero();
        long pid = Long.parseLong(Files.readString(dir.resolve("pid")));
        assertThat(oci(null, "start", "c2").status()).isZero();
        assertThat(status("c2")).isEqualTo("running");
        // Read through the command once it has exec'd: before, it is as undumpable as init.
        String ns = null;
        for (long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); ns == null; Thread.sleep(50)) {
            try {
                ns = Env.sandboxPidNamespace(pid);
            } catch (java.io.IOException | java.util.NoSuchElementException e) {
                assertThat(System.nanoTime()).as("the command's pid namespace is readable").isLessThan(deadline);
            }
        }
        Run r = oci(null, "delete", "--force", "c2");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(Env.awaitEmpty(ns, Env.CLEANUP_CEILING_MS)).isEmpty();
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    @Test
    void runWaitsAndExitsWithTheContainersStatus() throws Exception {
        Path bundle = bundle("b3", "echo out; echo err >&2; kill -TERM $$");
        Run r = oci(null, "run", "--bundle", bundle.toString(), "c3");
        assertThat(r.status()).as(r.stderr()).isEqualTo(143);
        assertThat(r.stdout()).isEqualTo("out\n");
        assertThat(r.stderr()).isEqualTo("err\n");
        assertThat(dir.resolve("state")).isEmptyDirectory();
    }

    @Test
    void theCliRunsABundle() throws Exception {
        Path bundle = bundle("b6", "echo from the bundle; exit 5");
        // The CLI keeps its state in the default root, which this test removes if it made it.
        Path defaultRoot = Env.isHostRoot() ? Path.of("/run/crabcan")
                : Path.of("/tmp", "crabcan-oci-" + System.getProperty("user.name")); // the CLI's default tmpdir
        boolean existed = Files.exists(defaultRoot);
        try {
            CliTest.Run r = CliTest.cli("", dir, "run", "--bundle", bundle.toString());
            assertThat(r.status()).as(r.stderr()).isEqualTo(5);
            assertThat(r.stdout()).isEqualTo("from the bundle\n");
        } finally {
            if (!existed) {
                Files.deleteIfExists(defaultRoot);
            }
        }
    }

    @Test
    void aContainerKilledBeforeStartIsStoppedAndStartSaysSo() throws Exception {
        Path bundle = bundle("b4", "echo never");
        assertThat(oci(null, "create", "--bundle", bundle.toString(), "c4").status()).isZero();
        assertThat(oci(null, "kill", "c4", "9").status()).isZero();
        assertThat(awaitStatus("c4", "stopped")).isEqualTo("stopped");
        assertThat(oci(null, "start", "c4").stderr()).contains("container c4 is stopped, not created");
        assertThat(oci(null, "delete", "c4").status()).isZero();
    }

    @Test
    void aRefusedConfigFieldIsAOneLineErrorAndLeavesNoState() throws Exception {
        Path bundle = bundle("b5", "true");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"net.ipv4.ping_group_range\": \"0 0\"",
                "\"vm.swappiness\": \"1\""));
        Run r = cli.refusedCreate(bundle, "c5");
        assertThat(r.stderr()).contains("linux.sysctl[\"vm.swappiness\"]: not supported because").hasLineCount(1);

        // Groups beyond its own host root gives as host gids leased for them (OciExecTest), root of a user
        // namespace where it maps them (PodmanRootlessTest), an ordinary user never.
        Files.writeString(bundle.resolve("config.json"), config.replace("\"gid\": 0}", "\"gid\": 0, "
                + "\"additionalGids\": [0, 5]}"));
        Run groups = oci(null, "create", "--bundle", bundle.toString(), "c5");
        dev.crabcan.internal.host.HostInfo host = dev.crabcan.internal.host.HostInfo.get();
        boolean mapsGroup5 = Files.readString(Path.of("/proc/self/gid_map")).lines().map(l -> l.trim().split("\\s+"))
                .anyMatch(f -> Long.parseLong(f[0]) <= 5 && 5 < Long.parseLong(f[0]) + Long.parseLong(f[2]));
        if (host.leasesHostIds() || host.isRoot() && mapsGroup5) {
            assertThat(groups.status()).as(groups.stderr()).isZero();
            assertThat(oci(null, "delete", "--force", "c5").status()).isZero();
            return;
        }
        assertThat(groups.status()).isEqualTo(1);
        assertThat(groups.stderr()).contains("supplementaryGroups [5]: " + (host.isRoot()
                ? "group 5 is not mapped in the caller's user namespace"
                : "an ordinary user's sandbox maps the caller's own group only")).hasLineCount(1);
        assertThat(oci(null, "state", "c5").stderr()).contains("does not exist");
    }

    @Test
    void optionsThatCannotBeHonouredAreRefusedByName() throws Exception {
        Path bundle = bundle("b7", "true");
        Run console = oci(null, "create", "--bundle", bundle.toString(), "--console-socket", dir.resolve("c.sock").toString(),
                "refused-console");
        assertThat(console.status()).isNotZero();
        assertThat(console.stderr()).contains("--console-socket is given, but process.terminal is false");
        Run noPivot = oci(null, "create", "--no-pivot", "--bundle", bundle.toString(), "refused-no-pivot");
        assertThat(noPivot.status()).isNotZero();
        assertThat(noPivot.stderr()).contains("--no-pivot: not supported: Crabcan always enters the container's root "
                + "with pivot_root").hasLineCount(1);
        assertThat(oci(null, "state", "refused-console").status()).as("nothing was created").isNotZero();

        // What engines may pass that has a meaning here is taken; the rest is refused by name.
        Run accepted = oci(null, "--systemd-cgroup=false", "--debug=0", "--rootless", "auto", "create",
                "--no-new-keyring", "--bundle", bundle.toString(), "c-flags");
        assertThat(accepted.status()).as(accepted.stderr()).isZero();
        assertThat(oci(null, "delete", "--force", "c-flags").status()).isZero();
        assertThat(oci(null, "run", "--no-subreaper", "--no-new-keyring", "--bundle", bundle.toString(), "r-flags")
                .status()).isZero();
        for (List<String> refused : List.of(List.of("--rootless=true", "state", "x"), List.of("--criu", "/bin/criu", "state",
                "x"), List.of("--notify-socket", "/run/n.sock", "state", "x"), List.of("--systemd-cgroup=maybe", "state", "x"),
                List.of("create", "--pidfd-socket", "/run/p.sock", "x"), List.of("run", "--detach", "x"),
                List.of("create", "--no-subreaper", "x"))) {
            Run r = oci(null, refused.toArray(String[]::new));
            assertThat(r.status()).as("%s", refused).isEqualTo(1);
            assertThat(r.stderr()).as("%s", refused).contains(refused.get(refused.get(0).startsWith("-") ? 0 : 1))
                    .hasLineCount(1);
        }
    }

    /** A bundle whose command is this script, with the keyring probe at /keyring. */
    private Path keyringBundle(String name, Path keyring, String script) throws Exception {
        Path bundle = bundle(name, script);
        Files.copy(keyring, bundle.resolve("rootfs/keyring"));
        Files.setPosixFilePermissions(bundle.resolve("rootfs/keyring"),
                java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        return bundle;
    }

    /**
     * Keyrings are not namespaced: a container kept the caller's session keyring (create and run took
     * --no-new-keyring as a no-op), whose keys its processes could read, link or clear. It now joins
     * a new one named _ses.ID before anything of it runs, as runc does; --no-new-keyring (true)
     * keeps the caller's. crabcan-oci runs with a session keyring of its own, as an engine's: the
     * test's JVM may have none, and the kernel's stand-in, the user's, differs by user namespace.
     */
    @Test
    void aContainerJoinsASessionKeyringOfItsOwnUnlessToldNotTo() throws Exception {
        Path keyring = Env.staticBinary("keyring");
        Path bundle = keyringBundle("b-keyring", keyring, "/keyring && /keyring perm");
        String callers = "crabcan-it-caller-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
        Map<String, String> expected = new java.util.LinkedHashMap<>();
        expected.put("", "_ses.k-default");
        expected.put("--no-new-keyring=false", "_ses.k-false");
        expected.put("--no-new-keyring", callers);
        expected.put("--no-new-keyring=true", callers);
        int n = 0;
        for (var flag : expected.entrySet()) {
            String id = flag.getValue().startsWith("_ses.") ? flag.getValue().substring(5) : "k-kept" + n++;
            List<String> args = new ArrayList<>(List.of("run", "--bundle", bundle.toString()));
            if (!flag.getKey().isEmpty()) {
                args.add(1, flag.getKey());
            }
            args.add(id);
            List<String> cmd = new ArrayList<>(List.of(keyring.toString(), "join", callers));
            cmd.addAll(cli.command(args.toArray(String[]::new)));
            File out = dir.resolve(id + ".out").toFile();
            Run run = cli.run(cmd, out);
            assertThat(run.status()).as("%s: %s", flag.getKey(), run.stderr()).isZero();
            assertThat(run.stdout()).as("the session keyring with %s", flag.getKey()).matches("\\d+ \\Q"
                    + flag.getValue() + "\\E\n[0-9a-f]+\n");
            if (flag.getValue().startsWith("_ses.")) {
                // An attack review linked a rootless container's keyring from another by its serial and
                // read its keys with the kernel's default bits: the owner's ids may only see and search it.
                assertThat(run.stdout().lines().toList().get(1)).as("its permissions").isEqualTo("3f090008");
            }
        }
    }

    /**
     * Found by an attack review: a Sandbox whose filter allows keyctl (an OCI bundle's without a
     * seccomp section, or SeccompPolicy.none()) kept the JVM's session keyring and read its keys. It
     * gets an anonymous one of its own; the default policy, which denies keyctl, needs none.
     */
    @Test
    void aSandboxWhoseFilterAllowsKeyctlHasAnAnonymousKeyringOfItsOwn() throws Exception {
        Path keyring = Env.staticBinary("keyring");
        Process own = new ProcessBuilder(keyring.toString()).redirectErrorStream(true).start();
        String callers = new String(own.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(own.waitFor()).as("the JVM's session keyring: %s", callers).isZero();
        SandboxResult r = Sandbox.builder().seccomp(SeccompPolicy.none()).bind(keyring.getParent(), "/t", true)
                .command("/t/keyring").build().run();
        assertThat(r.status().code()).as(r.stdoutText()).isZero();
        assertThat(r.stdoutText()).as("against the JVM's %s", callers).matches("\\d+ _ses\n")
                .isNotEqualTo(callers);
        SandboxResult denied = Sandbox.builder().bind(keyring.getParent(), "/t", true).command("/t/keyring").build().run();
        assertThat(denied.stdoutText()).as("with the default policy").isEqualTo("keyctl: Operation not permitted\n");
    }

    /**
     * Where keyctl is denied around the runtime (an outer container's seccomp profile), runc goes on
     * without a keyring of the container's own if the kernel says ENOSYS (LXC's profile) and fails
     * otherwise; so does crabcan-oci, and its words name the way on: --no-new-keyring. The
     * container's own keyctl is denied too, which its probe says.
     */
    @Test
    void whereKeyctlIsDeniedAroundTheRuntimeOnlyEnosysGoesOnWithoutAKeyring() throws Exception {
        Path keyring = Env.staticBinary("keyring");
        Path bundle = keyringBundle("b-denied", keyring, "/keyring");
        for (String[] c : new String[][] {{"38", "", "Function not implemented"}, {"1", "--no-new-keyring",
                "Operation not permitted"}, {"1", "", null}}) {
            String id = "k-denied-" + c[0] + c[1].length();
            List<String> cmd = new ArrayList<>(List.of(keyring.toString(), "deny", c[0]));
            cmd.addAll(cli.command(c[1].isEmpty() ? new String[] {"run", "--bundle", bundle.toString(), id}
                    : new String[] {"run", c[1], "--bundle", bundle.toString(), id}));
            Run run = cli.run(cmd, dir.resolve(id + ".out").toFile());
            if (c[2] != null) {
                assertThat(run.stdout()).as("errno %s %s: %s", c[0], c[1], run.stderr()).isEqualTo("keyctl: " + c[2] + "\n");
            } else {
                assertThat(run.status()).isEqualTo(1);
                assertThat(run.stdout()).as("nothing ran").isEmpty();
                assertThat(run.stderr()).contains("session keyring _ses." + id, "Operation not permitted",
                        "--no-new-keyring keeps the caller's session keyring");
            }
        }
    }

    /**
     * rootfsPropagation shared (for a container that runs containers itself): the root is made
     * shared, in a peer group of its own, once pivot_root is done, which refuses a shared new root
     * (create failed with EINVAL before).
     */
    @Test
    void aSharedRootFileSystemIsSharedInside() throws Exception {
        Path bundle = bundle("b-rshared", "cat /proc/self/mountinfo");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"linux\": {",
                "\"linux\": {\"rootfsPropagation\": \"shared\", "));
        File out = dir.resolve("b-rshared.out").toFile();
        Run created = oci(out, "create", "--bundle", bundle.toString(), "c-rshared");
        assertThat(created.status()).as(created.stderr()).isZero();
        assertThat(oci(null, "start", "c-rshared").status()).isZero();
        cli.awaitStoppedAndDelete("c-rshared");
        List<String> root = Files.readAllLines(out.toPath()).stream().filter(l -> l.split(" ")[4].equals("/")).toList();
        assertThat(root).as("the root's line of mountinfo").singleElement().asString().containsPattern(" shared:\\d+ ");
    }

    /**
     * Mount propagation as the config asks, for a host root caller, whose container itself may not
     * mount (see SeccompPolicy#withRootCallerRulesFirst): an rslave bind of a shared host mount is
     * its slave and shows what the host mounts below it after create; an rshared one too, and is
     * shared in a peer group of its own (see #aSharedBindLeavesNoMountOnTheHost); an rprivate one is
     * neither; with rootfsPropagation slave, host mounts below the root file system come in too.
     */
    @Test
    void mountPropagationAsTheConfigAsks() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "making shared mounts on the host takes host root");
        Path bundle = Files.createDirectories(dir.resolve("b-prop"));
        Path rootfs = bundle.resolve("rootfs");
        BuildTest.busyboxRootfs(rootfs);
        for (String d : List.of("proc", "slave", "shared", "private", "mnt")) {
            Files.createDirectories(rootfs.resolve(d));
        }
        Path src = Files.createDirectories(dir.resolve("src/sub")).getParent();
        String script = "ls /slave/sub /shared/sub /private/sub /mnt; cat /proc/self/mountinfo";
        String bind = "{\"destination\": \"/%s\", \"type\": \"bind\", \"source\": \"" + src
                + "\", \"options\": [\"rbind\", \"%s\"]}";
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh", "-c", %s], "cwd": "/", "env": ["PATH=/bin"]},
                 "root": {"path": "rootfs"},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}, %s, %s, %s],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}],
                           "rootfsPropagation": "slave"}}
                """.formatted(Json.write(script), bind.formatted("slave", "rslave"), bind.formatted("shared", "rshared"),
                bind.formatted("private", "rprivate")));
        File out = dir.resolve("b-prop.out").toFile();
        List<Path> shared = new ArrayList<>();
        try {
            // Shared host mounts (this host's own are private): the bind source and the root file system.
            for (Path p : List.of(src, rootfs)) {
                Env.host("mount", "--bind", p.toString(), p.toString());
                shared.add(p);
                Env.host("mount", "--make-shared", p.toString());
            }
            Run created = oci(out, "create", "--bundle", bundle.toString(), "c-prop");
            assertThat(created.status()).as(created.stderr()).isZero();
            // After the container's mounts are made: only propagation brings these in.
            for (Path p : List.of(src.resolve("sub"), rootfs.resolve("mnt"))) {
                Env.host("mount", "-t", "tmpfs", "host", p.toString());
                Files.writeString(p.resolve("from-host"), "");
            }
            assertThat(oci(null, "start", "c-prop").status()).isZero();
            assertThat(awaitStatus("c-prop", "stopped")).isEqualTo("stopped");
            String output = Files.readString(out.toPath());
            assertThat(output).startsWith("/mnt:\nfrom-host\n\n/private/sub:\n\n/shared/sub:\nfrom-host\n\n"
                    + "/slave/sub:\nfrom-host\n");
            List<String> host = Files.readAllLines(Path.of("/proc/self/mountinfo"));
            String srcGroup = peerGroup(host, src.toString());
            assertThat(peerFields(output, "/shared")).matches("shared:\\d+ master:" + srcGroup)
                    .isNotEqualTo("shared:" + srcGroup + " master:" + srcGroup);
            assertThat(peerFields(output, "/slave")).isEqualTo("master:" + srcGroup);
            assertThat(peerFields(output, "/private")).isEmpty();
            assertThat(peerFields(output, "/")).isEqualTo("master:" + peerGroup(host, rootfs.toString()));
            assertThat(oci(null, "delete", "c-prop").status()).isZero();
        } finally {
            // With what the host mounted below them.
            for (Path p : shared) {
                Env.host("umount", "--recursive", "--lazy", p.toString());
            }
        }
        assertThat(Files.readAllLines(Path.of("/proc/self/mountinfo"))).noneMatch(l -> l.contains(dir.toString()));
    }

    /**
     * An rshared bind of a root caller's container was a peer of its shared source on the host, so
     * what was mounted below it in the container (the config's own mounts, a createContainer hook's)
     * appeared on the host and stayed there after the container had gone (found by a security
     * review). A shared bind is now a slave of its source with a peer group of its own: nothing the
     * container mounts reaches the host, while it runs or after.
     */
    @Test
    void aSharedBindLeavesNoMountOnTheHost() throws Exception {
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isHostRoot(), "making shared mounts on the host takes host root");
        Path bundle = Files.createDirectories(dir.resolve("b-leak"));
        Path rootfs = bundle.resolve("rootfs");
        BuildTest.busyboxRootfs(rootfs);
        Files.createDirectories(rootfs.resolve("proc"));
        Files.createDirectories(rootfs.resolve("shared"));
        Path src = Files.createDirectories(dir.resolve("leak-src"));
        Files.createDirectories(src.resolve("planted"));
        Files.createDirectories(src.resolve("hooked"));
        String script = "cat /proc/self/mountinfo";
        Files.writeString(bundle.resolve("config.json"), """
                {"ociVersion": "1.0.2",
                 "process": {"user": {"uid": 0, "gid": 0}, "args": ["/bin/sh", "-c", %s], "cwd": "/", "env": ["PATH=/bin"]},
                 "root": {"path": "rootfs"},
                 "hooks": {"createContainer": [{"path": "/bin/mount", "args": ["mount", "-t", "tmpfs", "hooked",
                                                                            "shared/hooked"]}]},
                 "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"},
                            {"destination": "/shared", "type": "bind", "source": "%s", "options": ["rbind", "rshared"]},
                            {"destination": "/shared/planted", "type": "tmpfs", "source": "planted"}],
                 "linux": {"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                                          {"type": "mount"}]}}
                """.formatted(Json.write(script), src));
        File out = dir.resolve("b-leak.out").toFile();
        boolean mounted = false;
        try {
            Env.host("mount", "--bind", src.toString(), src.toString());
            mounted = true;
            Env.host("mount", "--make-shared", src.toString());
            Run created = oci(out, "create", "--bundle", bundle.toString(), "c-leak");
            assertThat(created.status()).as(created.stderr()).isZero();
            assertThat(mountsBelow(src)).as("the container's mounts on the host while it lives").isEmpty();
            assertThat(oci(null, "start", "c-leak").status()).isZero();
            assertThat(awaitStatus("c-leak", "stopped")).isEqualTo("stopped");
            String inside = Files.readString(out.toPath());
            assertThat(peerFields(inside, "/shared/planted")).as("made inside").isNotNull();
            assertThat(peerFields(inside, "/shared/hooked")).as("made inside").isNotNull();
            assertThat(oci(null, "delete", "c-leak").status()).isZero();
            assertThat(mountsBelow(src)).as("the container's mounts on the host after it").isEmpty();
        } finally {
            if (mounted) {
                Env.host("umount", "--recursive", "--lazy", src.toString()); // with whatever leaked below it
            }
        }
        assertThat(Files.readAllLines(Path.of("/proc/self/mountinfo"))).noneMatch(l -> l.contains(dir.toString()));
    }

    /** The host's mount points below dir, as this process's mountinfo shows them. */
    private static List<String> mountsBelow(Path dir) throws Exception {
        return Files.readAllLines(Path.of("/proc/self/mountinfo")).stream().map(l -> l.split(" ")[4])
                .filter(m -> m.startsWith(dir + "/")).toList();
    }

    /** The optional fields (shared:N, master:N) of the mount at a mount point in mountinfo text, space-separated. */
    private static String peerFields(String mountinfo, String mountPoint) {
        return mountinfo.lines().map(l -> l.split(" ")).filter(f -> f.length > 6 && f[4].equals(mountPoint))
                .reduce((a, b) -> b).map(f -> String.join(" ", java.util.Arrays.asList(f).subList(6,
                        java.util.Arrays.asList(f).indexOf("-")))).orElseThrow(() -> new AssertionError(
                        "no mount at " + mountPoint + " in " + mountinfo));
    }

    /** The peer group of the host's shared mount at a mount point. */
    private static String peerGroup(List<String> mountinfo, String mountPoint) {
        String fields = peerFields(String.join("\n", mountinfo), mountPoint);
        assertThat(fields).as("the host's mount at %s", mountPoint).startsWith("shared:");
        return fields.split(" ")[0].substring("shared:".length());
    }

    /** Its state names the pids that kill signals and the FIFO a container waits on: nobody else may plant it. */
    @Test
    void aStateDirectoryOthersCouldChangeIsRefused() throws Exception {
        Path bundle = bundle("b8", "true");
        Path shared = Files.createDirectory(dir.resolve("shared"));
        Files.setPosixFilePermissions(shared, java.nio.file.attribute.PosixFilePermissions.fromString("rwxrwxrwx"));
        for (Path root : List.of(shared, shared.resolve("state"))) {
            Run r = oci(null, "--root", root.toString(), "create", "--bundle", bundle.toString(), "planted");
            assertThat(r.status()).isNotZero();
            assertThat(r.stderr()).contains("cannot be trusted").contains(shared.toString()).contains("--root DIR");
        }
        try (var left = Files.list(shared)) {
            assertThat(left).as("nothing made in a directory others can write").isEmpty();
        }
    }

    /** Puts linux.resources and linux.cgroupsPath (if not null) into the bundle's config. */
    static void limit(Path bundle, String resources, String cgroupsPath) throws Exception {
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"linux\": {", "\"linux\": {\"resources\": "
                + resources + ", " + (cgroupsPath == null ? "" : "\"cgroupsPath\": \"" + cgroupsPath + "\", ")));
    }

    /** The directory of a process's cgroup for this controller (v1) or in the unified hierarchy (pure v2). */
    static Path cgroupDir(long pid, String controller) throws Exception {
        for (String line : Files.readAllLines(Path.of("/proc/" + pid + "/cgroup"))) {
            String[] f = line.split(":", 3);
            if (Env.pureCgroupV2() ? f[0].equals("0") : List.of(f[1].split(",")).contains(controller)) {
                return Path.of(Env.pureCgroupV2() ? "/sys/fs/cgroup" : "/sys/fs/cgroup/" + controller, f[2]);
            }
        }
        throw new AssertionError("process " + pid + " has no " + controller + " cgroup");
    }

    /** The CPUs and memory nodes a process may use, as the kernel lists them. */
    private static List<String> allowed(long pid) throws Exception {
        return Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("Cpus_allowed_list:") || l.startsWith("Mems_allowed_list:"))
                .map(l -> l.split("\t")[1].trim()).toList();
    }

    List<Long> psJson(String id) throws Exception {
        Run r = oci(null, "ps", "--format", "json", id);
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).matches("\\[(\\d+(,\\d+)*)?\\]\n");
        String inner = r.stdout().trim().substring(1, r.stdout().trim().length() - 1);
        return inner.isEmpty() ? List.of() : java.util.Arrays.stream(inner.split(",")).map(Long::parseLong).toList();
    }

    /**
     * The container's cgroup is made at create where linux.cgroupsPath says (the test names the
     * parent), with the config's limits, holds every process of the container with no Java
     * process left behind, and is what ps, kill --all, pause, resume and update act on; delete
     * removes it and the parent it made. The fields beyond Limits (CgroupTuning) are written
     * where this cgroup version has a file for them, and refused by name where it has none.
     * Rootless here (no delegated cgroups), asking for limits is a one-line error.
     */
    @Test
    void createMakesTheCgroupWhereCgroupsPathSaysAndTheCommandsActOnIt() throws Exception {
        Path bundle = bundle("b10", "sleep 1000 & exec sleep 1000");
        String parent = "crabcan-it-oci-" + ProcessHandle.current().pid();
        boolean v2 = Env.pureCgroupV2();
        // Real-time group scheduling: v1 only, and only in kernels built with CONFIG_RT_GROUP_SCHED.
        boolean rt = !v2 && Files.exists(cgroupDir(ProcessHandle.current().pid(), "cpu").resolve("cpu.rt_period_us"));
        // Only root makes a cgroup at the hierarchy's root, and systemd delegates no cpuset to users.
        org.junit.jupiter.api.Assumptions.assumeTrue(Env.isRoot() || !Env.mayLimit(), "a user with a delegated cgroup "
                + "(the VM lane's user way) may not make the container's cgroup at the hierarchy's root, where this test "
                + "names it, and systemd's user manager delegates no cpuset to pin it with: the VM lane runs it as root");
        limit(bundle, "{\"pids\": {\"limit\": 20}, \"memory\": {\"limit\": 67108864, \"reservation\": 33554432"
                + (v2 ? "" : ", \"kernelTCP\": 16777216, \"swappiness\": 10, \"disableOOMKiller\": true")
                + "}, \"cpu\": {\"cpus\": \"0\", \"mems\": \"0\", \"burst\": 20000, \"idle\": 1"
                + (rt ? ", \"realtimePeriod\": 500000" : "") + "}}", "/" + parent + "/c10");
        Path pidFile = dir.resolve("pid10");
        Run created = oci(null, "create", "--bundle", bundle.toString(), "--pid-file", pidFile.toString(), "c10");
        if (!Env.mayLimit()) {
            assertThat(created.status()).isEqualTo(1);
            assertThat(created.stderr()).contains("linux.resources").contains("needs a cgroup").hasLineCount(1);
            assertThat(dir.resolve("state")).isEmptyDirectory();
            return;
        }
        assertThat(created.status()).as(created.stderr()).isZero();
        long pid = Long.parseLong(Files.readString(pidFile));
        Path pids = cgroupDir(pid, "pids");
        Path memory = cgroupDir(pid, "memory");
        assertThat(pids).endsWith(Path.of(parent, "c10"));
        assertThat(Files.readString(pids.resolve("pids.max")).trim()).isEqualTo("20");
        assertThat(Files.readString(memory.resolve(Env.pureCgroupV2() ? "memory.max" : "memory.limit_in_bytes")).trim())
                .isEqualTo("67108864");
        assertThat(allowed(pid)).isEqualTo(List.of("0", "0"));
        Path cpu = cgroupDir(pid, "cpu");
        assertThat(read(memory, v2 ? "memory.low" : "memory.soft_limit_in_bytes")).isEqualTo("33554432");
        assertThat(read(cpu, v2 ? "cpu.max.burst" : "cpu.cfs_burst_us")).isEqualTo("20000");
        assertThat(read(cpu, "cpu.idle")).isEqualTo("1");
        if (!v2) {
            assertThat(read(memory, "memory.kmem.tcp.limit_in_bytes")).isEqualTo("16777216");
            assertThat(read(memory, "memory.swappiness")).isEqualTo("10");
            assertThat(read(memory, "memory.oom_control")).contains("oom_kill_disable 1");
        }
        if (rt) {
            assertThat(read(cpu, "cpu.rt_period_us")).isEqualTo("500000");
        }
        assertThat(oci(null, "start", "c10").status()).isZero();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (psJson("c10").size() < 3 && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        List<Long> all = psJson("c10");
        assertThat(all).as("init and two sleeps").hasSize(3).contains(pid);
        assertThat(Files.readString(pids.resolve("cgroup.procs")).lines().map(Long::parseLong).sorted().toList())
                .isEqualTo(all);
        Run table = oci(null, "ps", "c10");
        assertThat(table.stdout()).startsWith("UID").contains("sleep 1000").contains(" " + pid + " ");
        assertThat(table.stdout().lines()).hasSize(4);

        assertThat(oci(null, "pause", "c10").status()).isZero();
        assertThat(status("c10")).isEqualTo("paused");
        if (Env.pureCgroupV2()) {
            assertThat(Files.readString(pids.resolve("cgroup.events"))).contains("frozen 1");
        } else {
            assertThat(Files.readString(cgroupDir(pid, "freezer").resolve("freezer.state")).trim()).isEqualTo("FROZEN");
        }
        assertThat(oci(null, "pause", "c10").stderr()).contains("only a running container can be paused");
        assertThat(oci(null, "resume", "c10").status()).isZero();
        assertThat(status("c10")).isEqualTo("running");

        Run flags = oci(null, "update", "--pids-limit", "30", "--memory", "134217728", "c10");
        assertThat(flags.status()).as(flags.stderr()).isZero();
        assertThat(Files.readString(pids.resolve("pids.max")).trim()).isEqualTo("30");
        Path resources = Files.writeString(dir.resolve("resources.json"), "{\"pids\": {\"limit\": 40}}");
        Run file = oci(null, "update", "--resources", resources.toString(), "c10");
        assertThat(file.status()).as(file.stderr()).isZero();
        assertThat(Files.readString(pids.resolve("pids.max")).trim()).isEqualTo("40");
        assertThat(Files.readString(memory.resolve(Env.pureCgroupV2() ? "memory.max" : "memory.limit_in_bytes")).trim())
                .isEqualTo("134217728");
        assertThat(oci(null, "update", "--pids-limit", "many", "c10").stderr()).contains("--pids-limit many: not a number");
        // The I/O weight is BFQ's, which may be no disk's scheduler (this host's): set where it can be.
        Run weight = oci(null, "update", "--blkio-weight", "500", "c10");
        assertThat(weight.status()).as(weight.stderr()).isZero();
        assertThat(oci(null, "update", "--blkio-weight", "5000", "c10").stderr()).contains("linux.resources.blockIO.weight");
        Run cpuset = oci(null, "update", "--cpuset-cpus", LimitsTest.lastCpu(), "c10");
        assertThat(cpuset.status()).as(cpuset.stderr()).isZero();
        assertThat(allowed(pid)).isEqualTo(List.of(LimitsTest.lastCpu(), "0"));
        assertThat(oci(null, "update", "--cpuset-cpus", "3-1", "c10").stderr()).contains("linux.resources.cpu.cpus")
                .contains("descending");
        updatesTheTuning(pid, parent, v2, rt);

        assertThat(oci(null, "kill", "--all", "c10", "KILL").status()).isZero();
        assertThat(awaitStatus("c10", "stopped")).isEqualTo("stopped");
        assertThat(psJson("c10")).isEmpty();
        Run deleted = oci(null, "delete", "c10");
        assertThat(deleted.status()).as(deleted.stderr()).isZero();
        assertThat(pids).doesNotExist();
        assertThat(memory).doesNotExist();
        assertThat(pids.getParent()).as("the parent it made").doesNotExist();
        assertThat(dir.resolve("state")).isEmptyDirectory();
        assertThat(oci(null, "delete", "--force", "c10").status()).as("delete --force of what is gone, as runc")
                .isZero();
    }

    /** update's flags and --resources for the fields beyond Limits, on the running container c10 of the test above. */
    private void updatesTheTuning(long pid, String parent, boolean v2, boolean rt) throws Exception {
        Path memory = cgroupDir(pid, "memory");
        Path cpu = cgroupDir(pid, "cpu");
        Run flags = oci(null, "update", "--memory-reservation", "67108864", "--cpu-burst", "10000", "--cpu-idle", "0",
                "c10");
        assertThat(flags.status()).as(flags.stderr()).isZero();
        assertThat(read(memory, v2 ? "memory.low" : "memory.soft_limit_in_bytes")).isEqualTo("67108864");
        assertThat(read(cpu, v2 ? "cpu.max.burst" : "cpu.cfs_burst_us")).isEqualTo("10000");
        assertThat(read(cpu, "cpu.idle")).isEqualTo("0");
        assertThat(oci(null, "update", "--cpu-idle", "2", "c10").stderr()).contains("linux.resources.cpu.idle: must be "
                + "an integer from 0 to 1, got 2");
        // The kernel refuses a quota below the cgroup's burst: lowering both takes the new burst first.
        String quota = v2 ? "cpu.max" : "cpu.cfs_quota_us";
        for (String[] q : new String[][] {{"50000", "40000"}, {"20000", "10000"}}) {
            Run both = oci(null, "update", "--cpu-quota", q[0], "--cpu-period", "100000", "--cpu-burst", q[1], "c10");
            assertThat(both.status()).as(both.stderr()).isZero();
            assertThat(read(cpu, quota)).isEqualTo(v2 ? q[0] + " 100000" : q[0]);
            assertThat(read(cpu, v2 ? "cpu.max.burst" : "cpu.cfs_burst_us")).isEqualTo(q[1]);
        }
        Path resources = Files.writeString(dir.resolve("tuning.json"), "{\"memory\": {\"swappiness\": 20}}");
        Run file = oci(null, "update", "--resources", resources.toString(), "c10");
        if (v2) {
            assertThat(file.stderr()).contains("linux.resources.memory.swappiness: not supported because this host's "
                    + "container cgroups are cgroup v2, and cgroup v2 has no swappiness per cgroup");
            Path oom = Files.writeString(dir.resolve("oom.json"), "{\"memory\": {\"disableOOMKiller\": true}}");
            assertThat(oci(null, "update", "--resources", oom.toString(), "c10").stderr()).contains(
                    "linux.resources.memory.disableOOMKiller: not supported because this host's container cgroups are "
                    + "cgroup v2, and cgroup v2 cannot turn the OOM killer off");
            for (String[] refused : new String[][] {{"--kernel-memory", "1073741824", "memory.kernel"},
                    {"--kernel-memory-tcp", "33554432", "memory.kernelTCP"}, {"--cpu-rt-period", "500000",
                    "cpu.realtimePeriod"}, {"--cpu-rt-runtime", "1000", "cpu.realtimeRuntime"}}) {
                Run r = oci(null, "update", refused[0], refused[1], "c10");
                assertThat(r.status()).as(refused[0]).isEqualTo(1);
                assertThat(r.stderr()).contains("linux.resources." + refused[2] + ": not supported because this "
                        + "host's container cgroups are cgroup v2").hasLineCount(1);
            }
            assertThat(read(memory, "memory.low")).as("what was set stays").isEqualTo("67108864");
            return;
        }
        assertThat(file.status()).as(file.stderr()).isZero();
        assertThat(read(memory, "memory.swappiness")).isEqualTo("20");
        assertThat(oci(null, "update", "--kernel-memory-tcp", "33554432", "c10").status()).isZero();
        assertThat(read(memory, "memory.kmem.tcp.limit_in_bytes")).isEqualTo("33554432");
        // Linux refuses (5.16 on) or takes but ignores (later) a kernel memory limit: runc ignores it, crabcan-oci says so.
        Run kernel = oci(null, "update", "--kernel-memory", "1073741824", "c10");
        if (dev.crabcan.internal.host.HostInfo.get().kernel().atLeast(5, 16)) {
            assertThat(kernel.stderr()).contains("linux.resources.memory.kernel: ").contains("5.16").hasLineCount(1);
        } else {
            assertThat(kernel.status()).as(kernel.stderr()).isZero();
        }
        if (!rt) {
            assertThat(oci(null, "update", "--cpu-rt-period", "500000", "c10").stderr()).contains("linux.resources.cpu."
                    + "realtimePeriod: not supported because the container's cgroup").contains("CONFIG_RT_GROUP_SCHED");
            return;
        }
        // A child's real-time runtime must fit in its parent's, which the runtime's parent (made with 0) has not.
        Run runtime = oci(null, "update", "--cpu-rt-runtime", "1000", "c10");
        assertThat(runtime.stderr()).contains("linux.resources.cpu.realtimeRuntime: cannot write '1000'")
                .contains("must fit in its own (" + cpu.getParent().resolve("cpu.rt_runtime_us") + ": 0)");
        Files.writeString(cpu.getParent().resolve("cpu.rt_runtime_us"), "10000"); // the parent the runtime made for c10
        Run both = oci(null, "update", "--cpu-rt-runtime", "1000", "--cpu-rt-period", "400000", "c10");
        assertThat(both.status()).as(both.stderr()).isZero();
        assertThat(read(cpu, "cpu.rt_runtime_us")).isEqualTo("1000");
        assertThat(read(cpu, "cpu.rt_period_us")).isEqualTo("400000");
    }

    private static String read(Path dir, String file) throws Exception {
        return Files.readString(dir.resolve(file)).trim();
    }

    /**
     * A runtime killed (SIGKILL) in the middle of create leaves nothing that delete --force does
     * not remove: once it recorded the cgroup (before making it), and once the container's init
     * is in the cgroup and waits for a prestart hook (before the state is written: the hook tells
     * init's pid).
     */
    @Test
    void aCreateKilledHalfwayLeavesNothingDeleteForceCannotClean() throws Exception {
        String parent = "crabcan-it-oci-" + ProcessHandle.current().pid();
        String resources = Env.mayLimit() ? "{\"pids\": {\"limit\": 20}}" : "{}";
        Path recorded = bundle("b11", "sleep 1000");
        limit(recorded, resources, "/" + parent + "/c11");
        Path hooked = bundle("b11h", "sleep 1000");
        limit(hooked, resources, "/" + parent + "/c11");
        Path hookPid = dir.resolve("hook.pid");
        Path initPid = dir.resolve("init.pid");
        String config = Files.readString(hooked.resolve("config.json"));
        withHooks(hooked, config, "\"prestart\": [" + shHook("sed -n 's/.*\"pid\":\\([0-9]*\\).*/\\1/p' > " + initPid
                + "; echo $$ > " + hookPid + "; exec sleep 60") + "]");
        for (Path bundle : List.of(recorded, hooked)) {
            String stage = bundle.getFileName().toString();
            List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                    "-cp", Env.CLI_JAR.toString(), "dev.crabcan.examples.OciRuntime", "--root",
                    dir.resolve("state").toString(), "create", "--bundle", bundle.toString(), "c11"));
            Process create = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectError(ProcessBuilder.Redirect.DISCARD).start();
            Path record = dir.resolve("state/c11/cgroup.json");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (create.isAlive() && System.nanoTime() < deadline
                    && !(bundle == recorded ? Files.exists(record) : Files.exists(hookPid))) {
                Thread.sleep(1);
            }
            String ns = null;
            if (bundle == hooked && Files.exists(hookPid)) {
                long init = Long.parseLong(Files.readString(initPid).trim());
                ns = Env.isHostRoot() ? Env.pidNamespace(init) : null; // init is not dumpable for others
                if (Env.mayLimit()) {
                    assertThat(cgroupHoldsProcesses(Files.readString(record))).as("init is in the cgroup").isTrue();
                }
            }
            create.destroyForcibly();
            assertThat(create.waitFor(10, TimeUnit.SECONDS)).isTrue();
            if (Files.exists(hookPid)) {
                ProcessHandle.of(Long.parseLong(Files.readString(hookPid).trim())).ifPresent(ProcessHandle::destroyForcibly);
            }
            Run deleted = oci(null, "delete", "--force", "c11");
            assertThat(deleted.status()).as(stage + ": " + deleted.stderr()).isZero();
            assertThat(dir.resolve("state")).as(stage).isEmptyDirectory();
            assertThat(Env.cgroupDirs(d -> d.getFileName().toString().equals(parent))).as(stage).isEmpty();
            if (ns != null) {
                assertThat(Env.awaitEmpty(ns, Env.CLEANUP_CEILING_MS)).as(stage + ": the container's processes").isEmpty();
            }
        }
        assertThat(hookPid).as("the hook ran: the second create was killed while it waited for it").exists();
    }

    /** Whether a directory named in a cgroup record has a process in it. */
    private static boolean cgroupHoldsProcesses(String record) {
        Matcher m = Pattern.compile("\"(/sys/fs/cgroup/[^\"]+/c11)\"").matcher(record);
        while (m.find()) {
            try {
                if (!Files.readString(Path.of(m.group(1), "cgroup.procs")).isBlank()) {
                    return true;
                }
            } catch (java.io.IOException e) {
                // Not made yet.
            }
        }
        return false;
    }

    /**
     * With --systemd-cgroup, cgroupsPath is systemd's slice:prefix:name, and on a systemd host the
     * container's cgroup is the transient scope prefix-name.scope that systemd makes in that slice
     * (the VM lane runs this as root and as a user, whose user manager makes it): its only process
     * is the container's init, the container sees its limits, and delete stops it. Without systemd
     * (this host) create fails saying so, and leaves nothing.
     */
    @Test
    void withSystemdCgroupSystemdMakesTheScopeAndDeleteStopsIt() throws Exception {
        Path bundle = bundle("b12", "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max; sleep 1000");
        String slice = "crabcanit" + ProcessHandle.current().pid() + ".slice";
        limit(bundle, "{\"pids\": {\"limit\": 25}, \"memory\": {\"limit\": 67108864}}", slice + ":crabcan:c12");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"mounts\": [", "\"mounts\": [{\"destination\": "
                + "\"/sys/fs/cgroup\", \"type\": \"cgroup\", \"source\": \"cgroup\", \"options\": [\"ro\"]}, ")
                .replace("{\"type\": \"mount\"}", "{\"type\": \"mount\"}, {\"type\": \"cgroup\"}"));
        Path cgroupfsPath = bundle("b13", "true");
        limit(cgroupfsPath, "{}", "default/c13");
        Run bad = oci(null, "--systemd-cgroup", "create", "--bundle", cgroupfsPath.toString(), "c13");
        assertThat(bad.stderr()).as("a relative cgroupfs path is no systemd unit")
                .contains("with --systemd-cgroup it must be slice:prefix:name");
        Path pidFile = dir.resolve("pid12");
        Path out = dir.resolve("out12");
        Run created = oci(out.toFile(), "--systemd-cgroup", "create", "--bundle", bundle.toString(), "--pid-file",
                pidFile.toString(), "c12");
        if (!Files.isDirectory(Path.of("/run/systemd/system"))) {
            assertThat(created.status()).isEqualTo(1);
            assertThat(created.stderr()).contains("--systemd-cgroup: systemd is not this host's init");
            assertThat(dir.resolve("state")).isEmptyDirectory();
            return;
        }
        List<String> systemctl = new ArrayList<>(List.of("systemctl"));
        if (!Env.isRoot()) {
            systemctl.add("--user");
        }
        try {
            assertThat(created.status()).as(created.stderr()).isZero();
            long init = Long.parseLong(Files.readString(pidFile));
            Path scope = cgroupDir(init, "pids");
            assertThat(scope).endsWith(Path.of(slice, "crabcan-c12.scope"));
            assertThat(command(systemctl, "show", "-p", "ActiveState", "-p", "ControlGroup", "crabcan-c12.scope"))
                    .contains("ActiveState=active").contains("/" + slice + "/crabcan-c12.scope");
            // init and the command it forked, waiting for start; not the placeholder the scope was made around.
            for (String line : Files.readAllLines(scope.resolve("cgroup.procs"))) {
                long pid = Long.parseLong(line.trim());
                assertThat(pid == init || ProcessHandle.of(pid).flatMap(ProcessHandle::parent).map(ProcessHandle::pid)
                        .orElse(-1L) == init).as("process %d in the scope is init (%d) or its child", pid, init).isTrue();
            }
            assertThat(oci(null, "start", "c12").status()).isZero();
            assertThat(OciExecTest.awaitText(out, "67108864")).isEqualTo("25\n67108864\n");
            assertThat(oci(null, "delete", "--force", "c12").status()).isZero();
            assertThat(scope).doesNotExist();
            assertThat(command(systemctl, "show", "-p", "ActiveState", "crabcan-c12.scope"))
                    .doesNotContain("ActiveState=active");
            assertThat(dir.resolve("state")).isEmptyDirectory();
        } finally {
            command(systemctl, "stop", slice); // systemd made it for the scope; it stays active when empty
        }
    }

    /** A command's output, stdout and stderr together, once it ended (within 60 s). */
    private static String command(List<String> prefix, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(prefix);
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).as("%s", cmd).isTrue();
        return out;
    }

    /** containerd's shim reads a failure's reason from --log in json, one logrus object a line. */
    @Test
    void failuresAreLoggedAsRuncLogsThem() throws Exception {
        Path bundle = bundle("b14", "true");
        String config = Files.readString(bundle.resolve("config.json"));
        Files.writeString(bundle.resolve("config.json"), config.replace("\"net.ipv4.ping_group_range\": \"0 0\"",
                "\"vm.swappiness\": \"1\""));
        Path json = dir.resolve("log.json");
        Run r = oci(null, "--log", json.toString(), "--log-format", "json", "create", "--bundle", bundle.toString(), "c14");
        assertThat(r.status()).isEqualTo(1);
        assertThat(Files.readString(json)).matches("\\{\"level\":\"error\",\"msg\":\"[^\n]*linux.sysctl"
                + "\\[\\\\\"vm.swappiness\\\\\"\\]: not supported because[^\n]*\",\"time\":\"\\d{4}-[^\"]+Z\"}\n");
        Path text = dir.resolve("log.txt");
        oci(null, "--log", text.toString(), "--debug", "state", "c14");
        assertThat(Files.readString(text)).contains("level=debug msg=\"crabcan-oci ").contains(
                "level=error msg=\"container c14 does not exist in ");
        assertThat(oci(null, "--log-format", "xml", "state", "c14").stderr()).contains("--log-format xml: must be text "
                + "or json");
    }

    @Test
    void featuresIsRuntimeSpecsDocument() throws Exception {
        Run r = oci(null, "features");
        assertThat(r.status()).as(r.stderr()).isZero();
        assertThat(r.stdout()).contains("\"ociVersionMin\": \"1.0.0\"", "\"ociVersionMax\": \"1.2.0\"",
                "\"hooks\": [", "\"mountOptions\": [", "\"namespaces\": [", "\"CAP_SYS_ADMIN\"", "\"v1\": true",
                "\"SCMP_ACT_ERRNO\"", "\"SCMP_ARCH_X86_64\"");
    }
}
