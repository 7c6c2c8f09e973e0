package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.internal.host.IdRange;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A root caller's sandbox runs as a host id of its own (issue 12, finding 4): host users such as
 * nobody, and other sandboxes, can neither signal, renice, limit nor inspect it, and ids are
 * handed out without collisions across JVMs and given back on every end, also kill -9.
 * Root only: a rootless caller's sandbox runs as the caller, as it always did.
 */
class HostIdsTest {
    private static final int NOBODY = 65534;


    /** A command as a host user with no groups, the way a local attacker runs it. */
    private static CliTest.Run as(long uid, String... command) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("setpriv", "--reuid=" + uid, "--regid=" + uid, "--clear-groups"));
        cmd.addAll(List.of(command));
        return run(new ProcessBuilder(cmd));
    }

    /** Runs it to the end with nothing on its stdin. */
    private static CliTest.Run run(ProcessBuilder pb) throws Exception {
        return CliTest.run(pb, "");
    }

    /**
     * The ways a host user reaches a process of its own uid and not of another's; each must be
     * refused. Not /proc/PID/mountinfo or cmdline: the kernel lets every user read those of any
     * process (only hidepid on the host's /proc hides them), whatever uid the sandbox runs as.
     */
    private static List<String[]> attacks(long pid) {
        String p = Long.toString(pid);
        return List.of(new String[] {"kill", "-STOP", p}, new String[] {"kill", "-KILL", p},
                new String[] {"prlimit", "--pid", p, "--nofile=1:1"}, new String[] {"renice", "-n", "19", "-p", p},
                new String[] {"cat", "/proc/" + p + "/environ"}, new String[] {"ls", "/proc/" + p + "/root/"},
                new String[] {"readlink", "-v", "/proc/" + p + "/cwd"});
    }

    private static void assertRefused(long attacker, long pid) throws Exception {
        for (String[] attack : attacks(pid)) {
            CliTest.Run r = as(attacker, attack);
            assertThat(r.status()).as("host uid %d: %s succeeded: %s", attacker, String.join(" ", attack), r.stdout())
                    .isNotZero();
            assertThat(r.stderr()).as("host uid %d: %s", attacker, String.join(" ", attack))
                    .containsAnyOf("Operation not permitted", "Permission denied");
        }
    }

    private static String state(long pid) throws Exception {
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        return stat.substring(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    }

    private static SandboxProcess waiting() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", "echo started; read line; echo \"got $line\"")
                .build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        return p;
    }

    private static long command(SandboxProcess p) {
        return ProcessHandle.of(p.pid()).orElseThrow().children().findFirst().orElseThrow().pid();
    }

    /** Lets a sandbox of {@link #waiting()} end and checks that it ended normally, untouched. */
    private static void endNormally(SandboxProcess p) throws Exception {
        p.getOutputStream().write("bye\n".getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.exited(0));
        assertThat(new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8)).isEqualTo("got bye\n");
    }

    @Test
    void hostNobodyCannotSignalReniceLimitOrInspectARootCallersSandbox() throws Exception {
        assumeTrue(Env.isHostRoot(), "a rootless caller's sandbox runs as the caller, whose processes are its own");
        SandboxProcess p = waiting();
        try {
            long command = command(p);
            long uid = Env.hostUid(command);
            assertThat(uid).isNotEqualTo(NOBODY).isNotZero();
            assertThat(Env.isSandboxHostId(uid)).as("host uid %d", uid).isTrue();
            for (long pid : List.of(p.pid(), command)) {
                assertRefused(NOBODY, pid);
                assertThat(state(pid)).as("process %d after the attacks", pid).isNotEqualTo("T");
            }
            // The attacks would work with the sandbox's own id: what refuses them is the id, nothing else.
            assertThat(as(uid, "kill", "-0", Long.toString(command)).status()).isZero();
            endNormally(p);
        } finally {
            p.destroy();
        }
    }

    @Test
    void twoSandboxesRunAsDifferentHostIdsAndCannotSignalEachOther() throws Exception {
        assumeTrue(Env.isHostRoot(), "a rootless caller's sandboxes all run as the caller, by design");
        SandboxProcess a = waiting();
        SandboxProcess b = waiting();
        try {
            long uidA = Env.hostUid(command(a));
            long uidB = Env.hostUid(command(b));
            assertThat(uidA).isNotEqualTo(uidB);
            assertThat(Env.hostUid(a.pid())).as("init runs as its sandbox's id").isEqualTo(uidA);
            assertThat(Env.hostUid(b.pid())).as("init runs as its sandbox's id").isEqualTo(uidB);
            assertRefused(uidA, command(b));
            assertRefused(uidA, b.pid());
            assertRefused(uidB, command(a));
            endNormally(a);
            endNormally(b);
        } finally {
            a.destroy();
            b.destroy();
        }
    }

    private static ProcessBuilder holder(IdRange range, String... args) {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-XX:-UsePerfData",
                "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "-D" + IdRange.PROPERTY + "=" + range.first() + ":" + range.count(), IdHolder.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT);
    }

    /** The host id a one-off sandbox of the CLI ran as, given the range in the environment; empty output if it failed. */
    private static CliTest.Run cliHostId(IdRange range) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"), "-jar",
                Env.CLI_JAR.toString(), "--", "/bin/sh", "-c", "read inside host count < /proc/self/uid_map; echo $host");
        pb.environment().put(IdRange.ENV, range.first() + ":" + range.count());
        return run(pb);
    }

    /** The "INIT HOSTID" lines of a holder JVM, as init pid to host id. */
    private static Map<Long, Long> held(Process holder, int sandboxes) throws Exception {
        BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream()));
        Map<Long, Long> ids = new java.util.HashMap<>();
        for (int i = 0; i < sandboxes; i++) {
            String line = out.readLine();
            assertThat(line).as("holder report %d", i).isNotNull().matches("\\d+ \\d+");
            String[] f = line.split(" ");
            ids.put(Long.parseLong(f[0]), Long.parseLong(f[1]));
        }
        return ids;
    }

    @Test
    void idsAreDistinctAcrossJvmsAndComeBackAfterKill9ButNotWhileADetachedSandboxLives(@TempDir Path tmp)
            throws Exception {
        assumeTrue(Env.isHostRoot(), "host ids are allocated for root callers only");
        // Three ids of the default range, which this JVM's own sandboxes use too: the locks keep them apart.
        int first = IdRange.DEFAULT.first() + ThreadLocalRandom.current().nextInt(IdRange.DEFAULT.count() - 3);
        IdRange three = new IdRange(first, 3, "test");
        Process a = holder(three, "hold", "2").start();
        Process b = holder(three, "hold", "1").start();
        try {
            Map<Long, Long> ofA = held(a, 2);
            Map<Long, Long> ofB = held(b, 1);
            Set<Long> ids = new HashSet<>(ofA.values());
            ids.addAll(ofB.values());
            assertThat(ids).as("ids of A %s and B %s", ofA, ofB).hasSize(3).allMatch(three::contains);
            for (var e : ofA.entrySet()) {
                assertThat(Env.hostUid(e.getKey())).isEqualTo(e.getValue());
            }

            CliTest.Run exhausted = cliHostId(three);
            assertThat(exhausted.status()).as(exhausted.stderr()).isEqualTo(125);
            assertThat(exhausted.stderr()).contains("every host id of " + first + "-" + (first + 2),
                    IdRange.ENV + "=" + first + ":3", "-D" + IdRange.PROPERTY);

            Map<Long, Long> sandboxesOfA = new java.util.HashMap<>();
            for (long init : ofA.keySet()) {
                sandboxesOfA.putAll(Env.sandboxProcesses(init));
            }
            a.destroyForcibly(); // SIGKILL: no shutdown hook, no release but the kernel's
            assertThat(a.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(Env.awaitGone(sandboxesOfA, Env.CLEANUP_CEILING_MS)).isEmpty();
            CliTest.Run reused = cliHostId(three);
            assertThat(reused.status()).as(reused.stderr()).isZero();
            assertThat(Long.parseLong(reused.stdout().trim())).as("an id of the killed JVM")
                    .isIn(ofA.values());
        } finally {
            a.destroyForcibly();
            b.destroyForcibly();
            a.waitFor(10, TimeUnit.SECONDS);
            b.waitFor(10, TimeUnit.SECONDS);
        }

        IdRange one = new IdRange(first, 1, "test");
        // B's sandbox holds the id until its helper has killed it.
        CliTest.Run free = null;
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Env.CLEANUP_CEILING_MS);
        while (System.nanoTime() < deadline) {
            free = cliHostId(one);
            if (free.status() == 0) {
                break;
            }
        }
        assertThat(free.status()).as(free.stderr()).isZero();

        Process detach = holder(one, "detach", tmp.resolve("release").toString()).start();
        String out = new String(detach.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertThat(detach.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(detach.exitValue()).as(out).isZero();
        long init = Long.parseLong(out);
        Map<Long, Long> detached = Env.sandboxProcesses(init);
        try {
            assertThat(Env.hostUid(init)).isEqualTo(first);
            CliTest.Run pinned = cliHostId(one);
            assertThat(pinned.status()).as("the detached sandbox outlived its JVM and keeps its id: %s",
                    pinned.stdout()).isEqualTo(125);
            assertThat(pinned.stderr()).contains("every host id of " + first + "-" + first);
        } finally {
            new ProcessBuilder("kill", "-KILL", Long.toString(init)).start().waitFor(10, TimeUnit.SECONDS);
        }
        assertThat(Env.awaitGone(detached, Env.CLEANUP_CEILING_MS)).isEmpty();
        CliTest.Run reclaimed = cliHostId(one);
        assertThat(reclaimed.status()).as(reclaimed.stderr()).isZero();
        assertThat(reclaimed.stdout().trim()).isEqualTo(Integer.toString(first));
    }

    /**
     * A root caller with supplementary groups (this JVM has none to show): its sandbox holds none,
     * so the groups' files on the host are out of its reach. A rootless caller's stay, as 65534
     * inside: no unprivileged user namespace may drop them (README, Ids).
     */
    @Test
    void aRootCallersSupplementaryGroupsAreDropped() throws Exception {
        assumeTrue(Env.isHostRoot(), "setting a caller's supplementary groups takes host root");
        List<String> groups = List.of("setpriv", "--groups=4,100");
        CliTest.Run caller = run(new ProcessBuilder(concat(groups, "/bin/grep", "Groups", "/proc/self/status")));
        assertThat(caller.stdout()).as("the caller's groups").containsPattern("Groups:\\s*4 100\\s*\n");
        CliTest.Run sandbox = run(new ProcessBuilder(concat(groups, Path.of(System.getProperty("java.home"), "bin",
                "java").toString(), "-XX:-UsePerfData", "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir"),
                "-jar", Env.CLI_JAR.toString(), "--", "/bin/grep", "Groups", "/proc/self/status")));
        assertThat(sandbox.status()).as(sandbox.stderr()).isZero();
        assertThat(sandbox.stdout()).as("the sandbox's groups").containsPattern("^Groups:\\s*\n$");
    }

    private static List<String> concat(List<String> head, String... tail) {
        List<String> all = new ArrayList<>(head);
        all.addAll(List.of(tail));
        return all;
    }

    @Test
    void aJvmGetsItsIdBackOnEveryEndOfASandbox() throws Exception {
        assumeTrue(Env.isHostRoot(), "host ids are allocated for root callers only");
        int first = IdRange.DEFAULT.first() + ThreadLocalRandom.current().nextInt(IdRange.DEFAULT.count());
        Process p = holder(new IdRange(first, 1, "test"), "cycle").start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).as(out).isZero();
        assertThat(out).isEqualTo("cycled\n");
    }

    // ---- supplementary groups of a root caller's sandbox -----------------------------------------

    /** The host gids a process holds as supplementary groups (/proc/PID/status, read from the host). */
    private static List<Long> hostGroups(long pid) throws java.io.IOException {
        String line = Files.readAllLines(Path.of("/proc/" + pid + "/status")).stream()
                .filter(l -> l.startsWith("Groups:")).findFirst().orElseThrow();
        return java.util.Arrays.stream(line.substring("Groups:".length()).trim().split("\\s+"))
                .filter(f -> !f.isEmpty()).map(Long::parseLong).toList();
    }

    /** The gids /etc/group names. */
    private static Set<Long> namedGroups() throws java.io.IOException {
        Set<Long> gids = new HashSet<>();
        for (String line : Files.readAllLines(Path.of("/etc/group"))) {
            String[] f = line.split(":");
            if (f.length > 2 && f[2].matches("\\d+")) {
                gids.add(Long.parseLong(f[2]));
            }
        }
        return gids;
    }

    /** A sandbox with these groups whose command says "started", its groups inside, and waits for a line. */
    private static SandboxProcess grouped(List<Integer> groups) throws Exception {
        SandboxProcess p = Sandbox.builder().uid(1000).supplementaryGroups(groups)
                .command("/bin/sh", "-c", "echo started; id -G; read line").build().start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream()));
        assertThat(out.readLine()).isEqualTo("started");
        assertThat(idG(out.readLine())).as("its groups inside").isEqualTo(idG(1000, groups));
        return p;
    }

    /** id -G's line as its gid and a set of groups (the kernel keeps groups sorted by host gid, a leased id's order). */
    private static List<Object> idG(String line) {
        List<String> ids = List.of(line.trim().split(" "));
        return List.of(ids.get(0), Set.copyOf(ids.subList(1, ids.size())));
    }

    private static List<Object> idG(int gid, List<Integer> groups) {
        return List.of(Integer.toString(gid), groups.stream().map(String::valueOf).collect(java.util.stream.Collectors.toSet()));
    }

    /**
     * A root caller's sandbox holds each supplementary group as a host gid leased for it: an id of
     * the range that no host user or group has, distinct from its own and from every group of another
     * sandbox that runs at the same time, so that two sandboxes given the same group (as container
     * ids) share nothing on the host.
     */
    @Test
    void aRootCallersGroupsAreHostGidsThatNoHostGroupAndNoOtherSandboxHas() throws Exception {
        assumeTrue(Env.isHostRoot(), "a rootless caller's groups are mapped as the caller's namespace's own (PodmanRootlessTest)");
        List<Integer> groups = List.of(0, 10, 42);
        SandboxProcess a = grouped(groups);
        SandboxProcess b = grouped(groups);
        try {
            Set<Long> named = namedGroups();
            Set<Long> seen = new HashSet<>();
            for (SandboxProcess p : List.of(a, b)) {
                long uid = Env.hostUid(command(p));
                List<Long> gids = hostGroups(command(p));
                assertThat(gids).as("host gids of %s's groups %s", p.pid(), groups).hasSize(groups.size())
                        .allMatch(Env::isSandboxHostId).doesNotContain(uid).doesNotHaveDuplicates();
                assertThat(gids).as("host groups").noneMatch(named::contains);
                assertThat(hostGroups(p.pid())).as("init's, the same").containsExactlyInAnyOrderElementsOf(gids);
                for (long id : concat(gids, uid)) {
                    assertThat(seen.add(id)).as("host id %d is held by both sandboxes", id).isTrue();
                }
            }
            for (SandboxProcess p : List.of(a, b)) {
                p.getOutputStream().write("bye\n".getBytes(StandardCharsets.UTF_8));
                p.getOutputStream().close();
                assertThat(p.waitForStatus()).isEqualTo(ExitStatus.exited(0));
            }
        } finally {
            a.destroy();
            b.destroy();
        }
    }

    private static List<Long> concat(List<Long> ids, long id) {
        List<Long> all = new ArrayList<>(ids);
        all.add(id);
        return all;
    }

    /**
     * The attack: a sandbox given groups 0, 10 and the shadow group (as container ids) reads what
     * those host groups may read where it sees host files as they are: the host's /etc of the
     * default root file system (/etc/shadow, 0640 root:shadow), a device node of group 0, a file of
     * group 10 in a bind. Each would open for a process holding that host group (checked as nobody
     * with just that group); the sandbox holds other ids and is refused.
     */
    @Test
    void aSandboxGivenGroupsOfHostGroupsCannotReadTheirFiles(@TempDir Path tmp) throws Exception {
        assumeTrue(Env.isHostRoot(), "a rootless caller's groups are mapped as the caller's namespace's own (PodmanRootlessTest)");
        Path shadow = Path.of("/etc/shadow");
        int shadowGroup = (Integer) Files.getAttribute(shadow, "unix:gid");
        assertThat((Integer) Files.getAttribute(shadow, "unix:mode") & 0777).as("/etc/shadow's mode").isEqualTo(0640);
        Files.setAttribute(tmp, "unix:mode", 0755);
        Path data = Files.createDirectory(tmp.resolve("data"));
        Files.setAttribute(data, "unix:mode", 0755);
        Path secret = Files.writeString(data.resolve("secret"), "group ten's\n");
        Files.setAttribute(secret, "unix:uid", 1);
        Files.setAttribute(secret, "unix:gid", 10);
        Files.setAttribute(secret, "unix:mode", 0640);
        Path node = tmp.resolve("null0");
        Env.host("mknod", "-m", "0660", node.toString(), "c", "1", "3");
        Env.host("chown", "1:0", node.toString());
        // What each host group may do, as nobody with just that group.
        assertThat(run(new ProcessBuilder("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY,
                "--groups=" + shadowGroup, "cat", shadow.toString())).status()).as("shadow's group reads it").isZero();
        assertThat(run(new ProcessBuilder("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--groups=10", "cat",
                secret.toString())).stdout()).as("group 10 reads the secret").isEqualTo("group ten's\n");
        assertThat(run(new ProcessBuilder("setpriv", "--reuid=" + NOBODY, "--regid=" + NOBODY, "--groups=0", "sh",
                "-c", "echo x > " + node)).status()).as("group 0 writes the node").isZero();

        dev.crabcan.SandboxResult r = Sandbox.builder().uid(1000).supplementaryGroups(List.of(0, 10, shadowGroup))
                .bind(data, "/data", true).device(node, "/dev/null0")
                .command("/bin/sh", "-c", "id -G; cat /etc/shadow; cat /data/secret; echo x > /dev/null0; "
                        + "stat -c '%g' /etc/shadow /data/secret /dev/null0")
                .build().run();
        assertThat(idG(r.stdoutText().lines().findFirst().orElseThrow())).isEqualTo(idG(1000, List.of(0, 10, shadowGroup)));
        assertThat(r.stdoutText()).doesNotContain("root:").doesNotContain("group ten's");
        assertThat(r.stderrText()).contains("/etc/shadow: Permission denied", "/data/secret: Permission denied",
                "/dev/null0: Permission denied");
        // None of these files is of a group the sandbox holds, whatever the numbers it was given.
        assertThat(r.stdoutText().lines().skip(1).toList()).containsOnly("65534");
    }

    /**
     * Its root file system is the sandbox's: a file there of one of its groups is of that group
     * inside (read through the group's permission), and a file it gives that group keeps it on disk
     * as the image's id; in /tmp too. A bind's file of that group is a host group's: not the sandbox's.
     */
    @Test
    void aRootCallersRootFileSystemShowsItsGroupsFilesAsThoseGroups(@TempDir Path tmp) throws Exception {
        assumeTrue(Env.isHostRoot(), "a rootless caller's root file system is shown as the caller's files");
        Path rootfs = Files.createDirectory(tmp.resolve("rootfs"));
        Path bin = Files.createDirectories(rootfs.resolve("bin"));
        Files.createDirectories(rootfs.resolve("tmp"));
        Files.copy(Env.tool("busybox", "busybox-static"), bin.resolve("busybox"));
        for (String applet : List.of("sh", "id", "cat", "stat", "touch", "chgrp", "echo")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of("busybox"));
        }
        Path ten = Files.writeString(rootfs.resolve("ten"), "the image's group ten\n");
        Files.setAttribute(ten, "unix:uid", 1);
        Files.setAttribute(ten, "unix:gid", 10);
        Files.setAttribute(ten, "unix:mode", 0640);
        Path data = Files.createDirectory(tmp.resolve("data"));
        Path secret = Files.writeString(data.resolve("secret"), "a host group's\n");
        Files.setAttribute(secret, "unix:uid", 1);
        Files.setAttribute(secret, "unix:gid", 10);
        Files.setAttribute(secret, "unix:mode", 0640);

        dev.crabcan.SandboxResult r = Sandbox.builder().rootfs(rootfs).rootfsWritable(true).uid(1000)
                .supplementaryGroups(List.of(10, 0)).bind(data, "/data", false).environment(Map.of("PATH", "/bin"))
                .command("/bin/sh", "-c", "id -G; cat /ten; stat -c '%u %g' /ten; cat /data/secret; "
                        + "touch /made /tmp/made /data/made && chgrp 10 /made && chgrp 10 /tmp/made && "
                        + "stat -c '%g' /made /tmp/made; chgrp 10 /data/made || echo refused in the bind")
                .build().run();
        assertThat(r.status()).as(r.stderrText()).isEqualTo(ExitStatus.exited(0));
        List<String> lines = r.stdoutText().lines().toList();
        assertThat(idG(lines.get(0))).isEqualTo(idG(1000, List.of(10, 0)));
        assertThat(lines.subList(1, lines.size())).containsExactly("the image's group ten", "65534 10", "10", "10",
                "refused in the bind");
        assertThat(r.stderrText()).contains("can't open '/data/secret': Permission denied");
        assertThat(Files.getAttribute(rootfs.resolve("made"), "unix:gid")).as("on disk").isEqualTo(10);
        assertThat(Files.getAttribute(data.resolve("made"), "unix:gid")).as("on disk").isEqualTo(0);
    }

    /**
     * A sandbox with groups takes one id of the range for itself and one per group, and gives them all
     * back when it ends; a detached one keeps them all pinned while its init lives.
     */
    @Test
    void aSandboxLeasesAnIdPerGroupAndGivesThemAllBackOrPinsThem(@TempDir Path tmp) throws Exception {
        assumeTrue(Env.isHostRoot(), "host ids are allocated for root callers only");
        int first = IdRange.DEFAULT.first() + ThreadLocalRandom.current().nextInt(IdRange.DEFAULT.count() - 3);
        try (dev.crabcan.Crabcan three = dev.crabcan.Crabcan.newBuilder().hostIdRange(first, 3).build()) {
            Sandbox twoGroups = Sandbox.builder().supplementaryGroups(List.of(5, 10)).command("/bin/sleep", "1000")
                    .stdin(dev.crabcan.Stdio.discard()).stdout(dev.crabcan.Stdio.discard())
                    .stderr(dev.crabcan.Stdio.discard()).build();
            Sandbox none = Sandbox.builder().command("/bin/true").build();
            dev.crabcan.SandboxSetupException tooMany = org.junit.jupiter.api.Assertions.assertThrows(
                    dev.crabcan.SandboxSetupException.class, () -> three.start(twoGroups.toBuilder()
                            .supplementaryGroups(List.of(5, 10, 20)).build()));
            assertThat(tooMany.getMessage()).contains("fewer than the 4 host ids that a sandbox with 3 supplementary "
                    + "groups takes");

            SandboxProcess p = three.start(twoGroups);
            try {
                List<Long> held = concat(hostGroups(command(p)), Env.hostUid(command(p)));
                assertThat(held).containsExactlyInAnyOrder((long) first, first + 1L, first + 2L);
                assertThat(org.junit.jupiter.api.Assertions.assertThrows(dev.crabcan.SandboxSetupException.class,
                        () -> three.run(none)).getMessage()).contains("every host id of " + first + "-" + (first + 2));
            } finally {
                p.destroy();
                p.waitFor();
            }
            assertThat(three.run(none).status()).as("its ids came back").isEqualTo(ExitStatus.exited(0));

            long init = three.createDetached(twoGroups, tmp.resolve("release"));
            Map<Long, Long> detached = Env.sandboxProcesses(init);
            try {
                assertThat(org.junit.jupiter.api.Assertions.assertThrows(dev.crabcan.SandboxSetupException.class,
                        () -> three.run(none)).getMessage()).as("all three pinned to its init")
                        .contains("every host id of " + first + "-" + (first + 2));
            } finally {
                new ProcessBuilder("kill", "-KILL", Long.toString(init)).start().waitFor(10, TimeUnit.SECONDS);
            }
            assertThat(Env.awaitGone(detached, Env.CLEANUP_CEILING_MS)).isEmpty();
            assertThat(three.run(none).status()).as("reclaimed once its init is gone").isEqualTo(ExitStatus.exited(0));
        }
    }
}
