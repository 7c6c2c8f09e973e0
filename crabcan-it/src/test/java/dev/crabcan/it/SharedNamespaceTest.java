package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.KernelMount;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxResult;
import dev.crabcan.SandboxSetupException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

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
}
