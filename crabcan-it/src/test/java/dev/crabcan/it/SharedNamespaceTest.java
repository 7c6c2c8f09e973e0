package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.crabcan.Capability;
import dev.crabcan.KernelMount;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import dev.crabcan.SeccompPolicy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Sandboxes that share IPC and UTS namespaces, as a pod's containers share the pod's: what one
 * makes there the others see, and none may change what the namespace's owner keeps for itself.
 */
@Timeout(value = 3, unit = TimeUnit.MINUTES)
class SharedNamespaceTest {

    /**
     * A pod's "infra" sandbox: it holds the namespaces the others join, under a hostname of its own,
     * with a POSIX message queue it made.
     */
    private static SandboxProcess pod() throws Exception {
        SandboxProcess pod = Sandbox.builder().hostname("the-pod")
                .kernelMount(new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false))
                .command("/bin/sh", "-c", ": > /dev/mqueue/pod-q && echo ready && exec sleep 600").build().start();
        byte[] ready = pod.getInputStream().readNBytes(6);
        assertThat(new String(ready)).as("the pod's output").isEqualTo("ready\n");
        return pod;
    }

    private static Sandbox.Builder member(SandboxProcess pod, String script) {
        return Sandbox.builder().ipcNamespace(Path.of("/proc/" + pod.pid() + "/ns/ipc"))
                .utsNamespace(Path.of("/proc/" + pod.pid() + "/ns/uts"))
                .kernelMount(new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false))
                .command("/bin/sh", "-c", script);
    }

    private static String ok(SandboxResult r) {
        assertThat(r.status().code()).as(r.stderrText()).isZero();
        return r.stdoutText();
    }

    private static void end(SandboxProcess p) throws Exception {
        p.destroyForcibly();
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
    }

    /**
     * Joining takes CAP_SYS_ADMIN in the caller's own user namespace: root, or root of a user
     * namespace (as under rootless podman). An ordinary user is told so.
     */
    @Test
    void membersShareThePodsIpcObjectsAndHostnameButCannotChangeIt() throws Exception {
        SandboxProcess pod = pod();
        try {
            if (!Env.isRoot()) {
                assertThatThrownBy(() -> member(pod, "true").build().run()).isInstanceOf(SandboxSetupException.class)
                        .hasMessageContaining("IPC namespace /proc/" + pod.pid() + "/ns/ipc")
                        .hasMessageContaining("takes CAP_SYS_ADMIN over it")
                        .satisfies(e -> assertThat(((SandboxSetupException) e).step()).isEqualTo("namespace"));
                return;
            }
            String ipc = Files.readSymbolicLink(Path.of("/proc/" + pod.pid() + "/ns/ipc")).toString();
            String uts = Files.readSymbolicLink(Path.of("/proc/" + pod.pid() + "/ns/uts")).toString();
            // One member sees the pod's POSIX queue and makes a private System V one; the attack on the
            // pod's hostname fails.
            String first = ok(member(pod, "readlink /proc/self/ns/ipc /proc/self/ns/uts; hostname; ls /dev/mqueue; "
                    + "ipcmk -Q -p 0600 | tr -dc 0-9; echo; "
                    + "if hostname stolen 2>/dev/null; then echo CHANGED; else echo refused; fi; hostname")
                    .build().run());
            String[] lines = first.split("\n");
            assertThat(lines).hasSize(7);
            assertThat(lines[0]).isEqualTo(ipc);
            assertThat(lines[1]).isEqualTo(uts);
            assertThat(lines[2]).isEqualTo("the-pod");
            assertThat(lines[3]).isEqualTo("pod-q");
            String queue = lines[4];
            assertThat(queue).isNotEmpty();
            assertThat(lines[5]).isEqualTo("refused");
            assertThat(lines[6]).isEqualTo("the-pod");
            // Another member sees it; the queue is its maker's, not every member root's.
            String second = ok(member(pod, "ipcs -q | grep -c '^0x'; "
                    + "if ipcrm -q " + queue + " 2>/dev/null; then echo REMOVED; else echo kept; fi; hostname")
                    .build().run());
            assertThat(second.split("\n")).containsExactly("1", Env.isHostRoot() ? "kept" : second.split("\n")[1],
                    "the-pod");
            if (Env.isHostRoot()) { // nsenter's view of the pod's namespaces, as host root has it
                String host = new String(new ProcessBuilder("nsenter", "--ipc=/proc/" + pod.pid() + "/ns/ipc",
                        "--uts=/proc/" + pod.pid() + "/ns/uts", "sh", "-c", "hostname; ipcs -q | grep -c '^0x'")
                        .redirectErrorStream(true).start().getInputStream().readAllBytes());
                assertThat(host).isEqualTo("the-pod\n1\n");
            }
            // A member's own hostname, which the caller gives it, is set for the whole pod, as runc does.
            assertThat(ok(member(pod, "hostname").hostname("renamed").build().run())).isEqualTo("renamed\n");
            assertThat(ok(member(pod, "hostname").build().run())).isEqualTo("renamed\n");
        } finally {
            end(pod);
        }
    }

    /**
     * joinNamespacesOf: a member joins the pod's network, IPC and UTS namespaces while the pod
     * lives; once it has ended, the start fails instead of joining whatever process has its pid by
     * then (a path would).
     */
    @Test
    void aSandboxJoinsAnotherByItsProcessAndNeverOnceThatHasEnded() throws Exception {
        SandboxProcess pod = pod();
        Sandbox member;
        try {
            member = Sandbox.builder().joinNamespacesOf(pod).command("/bin/sh", "-c",
                    "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname").build();
            if (Env.isRoot()) {
                StringBuilder expected = new StringBuilder();
                for (String ns : new String[] {"net", "ipc", "uts"}) {
                    expected.append(Files.readSymbolicLink(Path.of("/proc/" + pod.pid() + "/ns/" + ns))).append('\n');
                }
                assertThat(ok(member.run())).isEqualTo(expected + "the-pod\n");
            }
        } finally {
            end(pod);
        }
        assertThatThrownBy(member::run).isInstanceOf(SandboxSetupException.class)
                .hasMessageContaining("the sandbox whose network namespace this one joins (pid " + pod.pid()
                        + ") has ended")
                .satisfies(e -> assertThat(((SandboxSetupException) e).step()).isEqualTo("namespace"));
        assertThatThrownBy(() -> Sandbox.builder().joinNamespacesOf(pod)).isInstanceOf(
                dev.crabcan.SandboxSpecException.class).hasMessageContaining("whose namespaces to join has ended");
    }

    /**
     * The attack on joinNamespacesOf: the helper reaps the pod's init before the JVM has handled its
     * end, so isAlive() is still true for a while after init's pid was freed (milliseconds here, in
     * about half the runs); another sandbox takes the pid then (through ns_last_pid, for speed), and a
     * start time read then was the attacker's, whose namespaces the member joined. Each pod here ends
     * and, once its init is seen gone while it still seems alive, the attacker takes its pid: the
     * builder must refuse it, and the pod's toHandle() must not be the attacker's process. A run
     * where the window was missed checks nothing, so several are made.
     */
    @Test
    void aSandboxThatTakesTheEndedPodsPidBeforeItsEndIsHandledIsNotJoined() throws Exception {
        assumeTrue(Env.isHostRoot(), "the pid is taken through the host's ns_last_pid");
        SandboxProcess attacker = Sandbox.builder().hostname("attacker")
                .command("/bin/sh", "-c", "echo ready; while read x; do sleep 600 & done").build().start();
        try {
            assertThat(new String(attacker.getInputStream().readNBytes(6))).isEqualTo("ready\n");
            for (int i = 0, taken = 0; i < 30 && taken < 3; i++) {
                SandboxProcess pod = Sandbox.builder().hostname("the-pod")
                        .command("/bin/sh", "-c", "echo ready; read x").build().start();
                assertThat(new String(pod.getInputStream().readNBytes(6))).isEqualTo("ready\n");
                Path stat = Path.of("/proc/" + pod.pid() + "/stat");
                // Past init's start tick (10 ms): a pid taken again within it passes (see THREAT-MODEL.md).
                Thread.sleep(50);
                pod.getOutputStream().write('\n');
                pod.getOutputStream().flush();
                while (pod.isAlive() && Files.exists(stat)) {
                    Thread.onSpinWait();
                }
                if (pod.isAlive()) {
                    Files.writeString(Path.of("/proc/sys/kernel/ns_last_pid"), Long.toString(pod.pid() - 1));
                    attacker.getOutputStream().write('\n');
                    attacker.getOutputStream().flush();
                    for (int spin = 0; spin < 100_000 && !Files.exists(stat); spin++) {
                        Thread.onSpinWait();
                    }
                    taken += pod.isAlive() && Files.exists(stat) ? 1 : 0;
                    Throwable refused = org.assertj.core.api.Assertions.catchThrowable(
                            () -> Sandbox.builder().joinNamespacesOf(pod));
                    assertThat(refused).as("joining pod %d, whose init was reaped and its pid %s", pod.pid(),
                            Files.exists(stat) ? "taken" : "left free").isInstanceOf(dev.crabcan.SandboxSpecException.class)
                            .hasMessageContaining("whose namespaces to join has ended");
                    if (Files.exists(stat)) { // nor is the process that took it the pod's init
                        assertThat(org.assertj.core.api.Assertions.catchThrowable(pod::toHandle))
                                .as("pod %d's handle once its pid was taken", pod.pid())
                                .isInstanceOf(IllegalStateException.class);
                    }
                }
                pod.waitFor();
            }
        } finally {
            end(attacker);
        }
    }

    /**
     * The attack: a path naming the caller's own IPC or UTS namespace, the host's, which a sandbox
     * never shares (its hostname would be the host's to change, its IPC objects the host's). Also
     * through /proc/PID of a process that is the host's, as a pid reused after a pod ended would be.
     */
    @Test
    void theCallersOwnIpcAndUtsNamespacesAreRefused() throws Exception {
        String hostname = Files.readString(Path.of("/proc/sys/kernel/hostname"));
        for (String path : new String[] {"/proc/self/ns/ipc", "/proc/" + ProcessHandle.current().pid() + "/ns/uts"}) {
            Sandbox.Builder b = Sandbox.builder().command("/bin/hostname", "stolen");
            b = path.endsWith("ipc") ? b.ipcNamespace(Path.of(path)) : b.utsNamespace(Path.of(path)).hostname("stolen");
            assertThatThrownBy(b.build()::run).isInstanceOf(SandboxSetupException.class)
                    .hasMessageContaining(path + " is the caller's own " + (path.endsWith("ipc") ? "IPC" : "UTS")
                            + " namespace (the host's, as a rule), which a sandbox never shares");
        }
        assertThat(Files.readString(Path.of("/proc/sys/kernel/hostname"))).isEqualTo(hostname);
    }

    /**
     * The attack (src/test/c/podattack.c) by a member given every capability, under the default
     * filter and under none, on a pod whose root keeps System V objects and a POSIX queue of mode
     * 0600: the member may not change the pod's hostname, domain name or IPC sysctls, nor reach the
     * pod's mqueue instance through the mount the helper gave it; a root caller's member, a host id
     * of its own, may not read, change or remove the pod's objects either. Root of a user namespace
     * runs the pod and its members as itself, one host id: the objects are every member's, and the
     * kernel's check of IPC sysctls (by uid) passes, so only the read-only /proc/sys keeps them.
     */
    @Test
    void aMemberWithEveryCapabilityCannotChangeThePodOrReachItsPrivateIpcObjects() throws Exception {
        Path attack = Env.staticBinary("podattack");
        SandboxProcess pod = Sandbox.builder().hostname("the-pod")
                .kernelMount(new KernelMount(KernelMount.Type.MQUEUE, "/dev/mqueue", false))
                .command("/bin/sh", "-c", "umask 077; : > /dev/mqueue/pod-secret && ipcmk -M 64 -p 0600 >/dev/null "
                        + "&& ipcmk -Q -p 0600 >/dev/null && ipcmk -S 1 -p 0600 >/dev/null && echo ready "
                        + "&& exec sleep 600").build().start();
        try {
            assertThat(new String(pod.getInputStream().readNBytes(6))).isEqualTo("ready\n");
            Sandbox.Builder member = member(pod, "").capabilities(EnumSet.allOf(Capability.class))
                    .bind(attack.getParent(), "/t", true).command("/t/podattack");
            if (!Env.isRoot()) {
                assertThatThrownBy(member.build()::run).isInstanceOf(SandboxSetupException.class)
                        .hasMessageContaining("takes CAP_SYS_ADMIN over it");
                return;
            }
            String before = podSettings(pod);
            for (SeccompPolicy policy : new SeccompPolicy[] {SeccompPolicy.defaultPolicy(), SeccompPolicy.none()}) {
                String out = ok(member.seccomp(policy).build().run());
                // Its own namespaces, which it may make, are the one thing it does.
                assertThat(out).contains("sethostname refused", "setdomainname refused", "proc-hostname refused",
                        "shmmax refused", "msgmnb refused", "shm_next_id refused", "queues_max refused",
                        "remount-mqueue refused", "new-mqueue refused", "umount-mqueue refused",
                        "unshare-ipc-uts DONE");
                if (Env.isHostRoot()) {
                    assertThat(out.lines().filter(l -> l.endsWith("DONE"))).containsExactly("unshare-ipc-uts DONE");
                    assertThat(out).contains("shm 0 ", "msg 0 ", "sem 0 ", "shmat refused", "mq_open refused",
                            "mq_unlink refused");
                }
            }
            assertThat(podSettings(pod)).isEqualTo(before);
        } finally {
            end(pod);
        }
    }

    /** The pod's hostname, domain name and IPC sysctls (and, for host root, its objects), as its own root sees them. */
    private static String podSettings(SandboxProcess pod) throws Exception {
        Process p = new ProcessBuilder("nsenter", "--ipc=/proc/" + pod.pid() + "/ns/ipc",
                "--uts=/proc/" + pod.pid() + "/ns/uts", "sh", "-c", "hostname; domainname; cd /proc/sys; "
                        + "cat kernel/shmmax kernel/msgmnb kernel/shm_rmid_forced fs/mqueue/queues_max"
                        + (Env.isHostRoot() ? "; ipcs | grep -c '^0x'" : ""))
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertThat(p.waitFor()).as(out).isZero();
        return out;
    }

    /**
     * A path that leads to the caller's own UTS namespace through a link, and one that names a
     * namespace of another type (the caller's network namespace given as an IPC one), are refused.
     */
    @Test
    void aLinkToTheCallersOwnNamespaceOrANamespaceOfAnotherTypeIsRefused(@TempDir Path dir) throws Exception {
        Path link = Files.createSymbolicLink(dir.resolve("uts"), Path.of("/proc/" + ProcessHandle.current().pid()
                + "/ns/uts"));
        assertThatThrownBy(Sandbox.builder().utsNamespace(link).command("/bin/true").build()::run)
                .isInstanceOf(SandboxSetupException.class).hasMessageContaining("is the caller's own UTS namespace");
        assertThatThrownBy(Sandbox.builder().ipcNamespace(Path.of("/proc/" + ProcessHandle.current().pid()
                + "/ns/net")).command("/bin/true").build()::run).isInstanceOf(SandboxSetupException.class)
                .hasMessageContaining("join IPC namespace /proc/" + ProcessHandle.current().pid() + "/ns/net");
    }
}
