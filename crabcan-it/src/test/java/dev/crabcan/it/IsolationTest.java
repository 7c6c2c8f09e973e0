package dev.crabcan.it;

import static dev.crabcan.it.Env.shOk;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each namespace and mount rule, observed from inside a real sandbox. */
class IsolationTest {

    @Test
    void userNamespaceMapsRootToAnUnprivilegedHostId() throws Exception {
        String map = shOk("cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; id -g");
        List<String> lines = Arrays.asList(map.trim().split("\n"));
        String[] uidMap = lines.get(0).trim().split("\\s+");
        assertThat(uidMap[0]).isEqualTo("0");
        assertThat(uidMap[2]).isEqualTo("1");
        assertThat(Env.isSandboxHostId(Long.parseLong(uidMap[1]))).as("host id %s (never root, never nobody for a "
                + "root caller)", uidMap[1]).isTrue();
        if (Env.isHostRoot()) {
            assertThat(lines.get(1).trim().split("\\s+")).as("gid map: the same number as the uid")
                    .containsExactly("0", uidMap[1], "1");
        }
        assertThat(lines.get(2)).isEqualTo("0");
        assertThat(lines.get(3)).isEqualTo("0");
    }

    @Test
    void sandboxProcessesRunAsTheMappedHostId() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sleep", "30").build().start();
        try {
            long command = ProcessHandle.of(p.pid()).orElseThrow().children().findFirst().orElseThrow().pid();
            long uid = Env.hostUid(command);
            assertThat(Env.isSandboxHostId(uid)).as("host uid %d", uid).isTrue();
            assertThat(Env.hostUid(p.pid())).as("init's host uid").isEqualTo(uid);
        } finally {
            p.destroy();
        }
    }

    @Test
    void nonRootUidInside() throws Exception {
        SandboxResult r = Sandbox.builder().uid(1000).command("/bin/sh", "-c", "id -u; id -g; cat /proc/self/uid_map")
                .build().run();
        String[] lines = r.stdoutText().split("\n");
        assertThat(lines[0]).isEqualTo("1000");
        assertThat(lines[1]).isEqualTo("1000");
        String[] uidMap = lines[2].trim().split("\\s+");
        assertThat(uidMap[0]).isEqualTo("1000");
        assertThat(Env.isSandboxHostId(Long.parseLong(uidMap[1]))).as("host id %s", uidMap[1]).isTrue();
    }

    @Test
    void hostnameIsRandomOrAsSet() throws Exception {
        assertThat(shOk("hostname").trim()).matches("[a-z]+-[a-z]+-\\d{1,3}");
        SandboxResult r = Sandbox.builder().hostname("judge-7").command("/bin/hostname").build().run();
        assertThat(r.stdoutText()).isEqualTo("judge-7\n");
    }

    @Test
    void ownPidNamespace() throws Exception {
        SandboxProcess p = Sandbox.builder()
                .command("/bin/sh", "-c", "echo $$; ls /proc | grep -E '^[0-9]+$' | wc -l; sleep 30").build().start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream()));
            assertThat(out.readLine()).as("the command's pid inside").isEqualTo("2");
            assertThat(Integer.parseInt(out.readLine().trim())).as("processes visible inside").isLessThanOrEqualTo(6);
            assertThat(Env.sandboxPidNamespace(p.pid())).isNotEqualTo(Env.pidNamespace(ProcessHandle.current().pid()));
        } finally {
            p.destroy();
        }
    }

    @Test
    void noHostMountsVisible() throws Exception {
        String mountinfo = shOk("cat /proc/self/mountinfo");
        List<String> mountPoints = mountinfo.lines().map(l -> l.split(" ")[4]).toList();
        assertThat(mountPoints).contains("/", "/proc", "/dev", "/tmp", "/usr")
                .allMatch(m -> m.equals("/") || m.matches("/(usr|etc|proc|dev|tmp)(/.*)?"), "only the sandbox's own");
        assertThat(mountinfo).doesNotContain("cgroup").doesNotContain("/work/").doesNotContain("/root/");
    }

    @Test
    void onlyLoopbackAndItIsUp() throws Exception {
        String devices = shOk("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
        assertThat(devices).isEqualTo("lo\n");
        assertThat(shOk("ip -o link show lo")).contains("UP");
        assertThat(shOk("cat /proc/net/route | wc -l").trim()).as("no routes: only the header").isEqualTo("1");
    }

    @Test
    void ownIpcAndUtsAndCgroupNamespaces() throws Exception {
        String inside = shOk("readlink /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/cgroup /proc/self/ns/net "
                + "/proc/self/ns/mnt /proc/self/ns/user");
        for (String ns : List.of("ipc", "uts", "cgroup", "net", "mnt", "user")) {
            String host = Files.readSymbolicLink(Path.of("/proc/self/ns/" + ns)).toString();
            assertThat(inside).contains(ns + ":[").doesNotContain(host);
        }
    }

    @Test
    void defaultRootfsIsReadOnlyButTmpIsWritable() throws Exception {
        String out = shOk("touch /newfile 2>&1; touch /usr/newfile 2>&1; touch /etc/newfile 2>&1; "
                + "echo ok > /tmp/f && cat /tmp/f; ls -ld /bin | cut -c1");
        assertThat(out).contains("touch: cannot touch '/newfile': Read-only file system")
                .contains("touch: cannot touch '/usr/newfile': Read-only file system")
                .contains("touch: cannot touch '/etc/newfile': Read-only file system")
                .contains("ok\n");
        if (Files.isSymbolicLink(Path.of("/bin"))) {
            assertThat(out).endsWith("l\n");
        }
    }

    @Test
    void minimalDev() throws Exception {
        String out = shOk("ls /dev | tr '\\n' ' '; echo; echo x > /dev/null && head -c 4 /dev/zero | wc -c; "
                + "head -c 4 /dev/urandom | wc -c");
        assertThat(out.lines().findFirst().orElseThrow().trim().split(" "))
                .containsExactlyInAnyOrder("fd", "full", "null", "random", "shm", "stderr", "stdin", "stdout", "tty",
                        "urandom", "zero");
        assertThat(out).endsWith("4\n4\n");
    }

    @Test
    void readOnlyBindRefusesWrites(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("input"), "data\n");
        SandboxResult r = Sandbox.builder().bind(dir, "/in", true)
                .command("/bin/sh", "-c", "cat /in/input; echo x > /in/input; touch /in/new; mkdir /in/d").build().run();
        assertThat(r.stdoutText()).isEqualTo("data\n");
        assertThat(r.stderrText()).contains("Read-only file system");
        assertThat(r.status().code()).isNotZero();
        assertThat(Files.readString(dir.resolve("input"))).isEqualTo("data\n");
        assertThat(dir.resolve("new")).doesNotExist();
        assertThat(shOkWith(dir, "grep ' /in ' /proc/self/mountinfo")).contains(" ro,").contains("nosuid")
                .contains("nodev");
    }

    private static String shOkWith(Path dir, String script) throws Exception {
        SandboxResult r = Sandbox.builder().bind(dir, "/in", true).command("/bin/sh", "-c", script).build().run();
        assertThat(r.status().code()).as(r.stderrText()).isZero();
        return r.stdoutText();
    }

    @Test
    void readWriteBindIsWritableAndFilesBelongToTheCaller(@TempDir Path dir) throws Exception {
        Files.writeString(dir.resolve("existing"), "old\n");
        Files.writeString(dir.resolve("secret"), "only the caller's\n");
        Files.setPosixFilePermissions(dir.resolve("secret"), java.nio.file.attribute.PosixFilePermissions.fromString(
                "rw-------"));
        SandboxResult r = Sandbox.builder().bind(dir, "/work", false)
                .command("/bin/sh", "-c", "stat -c %u /work /work/existing; cat /work/secret; echo new > /work/created; "
                        + "echo more >> /work/existing; mkdir /work/sub")
                .build().run();
        assertThat(r.status().code()).as(r.stderrText()).isZero();
        assertThat(r.stdoutText()).as("the caller's files, 0600 ones too, appear as the sandbox root's")
                .isEqualTo("0\n0\nonly the caller's\n");
        assertThat(Files.readString(dir.resolve("created"))).isEqualTo("new\n");
        assertThat(Files.readString(dir.resolve("existing"))).isEqualTo("old\nmore\n");
        int caller = Env.uid();
        assertThat(Files.getAttribute(dir.resolve("created"), "unix:uid")).isEqualTo(caller);
        assertThat(Files.getAttribute(dir.resolve("sub"), "unix:uid")).isEqualTo(caller);
    }

    @Test
    void bindOfAFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("config"), "setting=1\n");
        SandboxResult r = Sandbox.builder().bind(file, "/srv/app.conf", true).command("/bin/cat", "/srv/app.conf")
                .build().run();
        assertThat(r.stdoutText()).isEqualTo("setting=1\n");
    }

    @Test
    void mountPointUnderAReadOnlyBindIsAClearError(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("config"), "setting=1\n");
        assertThatThrownBy(() -> Sandbox.builder().bind(file, "/etc/app.conf", true).command("/bin/true").build()
                .run())
                .isInstanceOf(SandboxSetupException.class)
                .hasMessageStartingWith("bind mount point /etc/app.conf: Read-only file system")
                .hasMessageContaining("choose a target elsewhere");
    }

    @Test
    void nestedBindsAndTmpfs(@TempDir Path dir) throws Exception {
        Path outer = Files.createDirectory(dir.resolve("outer"));
        Path inner = Files.createDirectory(dir.resolve("inner"));
        Files.writeString(inner.resolve("f"), "inner\n");
        SandboxResult r = Sandbox.builder().bind(outer, "/a", false).bind(inner, "/a/b/c", true).tmpfs("/scratch")
                .command("/bin/sh", "-c", "cat /a/b/c/f; echo s > /scratch/s && cat /scratch/s").build().run();
        assertThat(r.stdoutText()).as(r.stderrText()).isEqualTo("inner\ns\n");
        assertThat(outer.resolve("b/c")).isDirectory();
    }

    @Test
    void onlyStandardFileDescriptorsReachTheCommand() throws Exception {
        Path fds = Env.staticBinary("fds");
        SandboxResult r = Sandbox.builder().bind(fds.getParent(), "/t", true).command("/t/fds").build().run();
        assertThat(r.stdoutText()).isEqualTo("0\n1\n2\n");
    }

    @Test
    void noControllingTerminalAndOwnSession() throws Exception {
        String out = shOk("cat /proc/self/stat | cut -d' ' -f6,7; (exec 3</dev/tty) 2>&1 || true");
        String[] sessionAndTty = out.lines().findFirst().orElseThrow().split(" ");
        assertThat(sessionAndTty[1]).as("tty_nr").isEqualTo("0");
        assertThat(out).contains("No such device or address");
    }
}
