package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.ExitStatus;
import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Nothing outlives its owner: destroy(), the command's own exit, and the JVM's death. */
class LifecycleTest {

    private static final String DAEMONS = "sleep 1000 & sleep 1000 & setsid sleep 1000 & echo started; ";

    @Test
    void destroyKillsEveryProcessIncludingDaemons() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", DAEMONS + "wait").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        String ns = Env.sandboxPidNamespace(p.pid());
        assertThat(Env.processesIn(ns)).as("sh and three sleeps (init is not readable rootless)").hasSizeGreaterThanOrEqualTo(4);
        p.destroy();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitStatus()).isEqualTo(ExitStatus.signaled(9));
        assertThat(Env.awaitGone(p.pid(), ns, 1000)).isEmpty();
    }

    @Test
    void daemonsDieWhenTheCommandExits() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", DAEMONS + "read go; exit 4").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        String ns = Env.sandboxPidNamespace(p.pid());
        p.getOutputStream().close();
        assertThat(p.waitForStatus()).isEqualTo(ExitStatus.exited(4));
        assertThat(Env.awaitGone(p.pid(), ns, 1000)).isEmpty();
        assertThat(p.getInputStream().read()).as("stdout reaches EOF: no daemon holds it").isEqualTo(-1);
    }

    @Test
    void destroyIsIdempotentAndHarmlessAfterExit() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/true").build().start();
        assertThat(p.waitFor()).isZero();
        p.destroy();
        p.destroy();
        p.destroyForcibly();
        assertThat(p.exitValue()).isZero();
    }

    @Test
    void sandboxesDieWithTheirJvmEvenOnKill9(@TempDir Path tmp) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-XX:-UsePerfData",
                "-Djava.io.tmpdir=" + tmp,
                "-Dcrabcan.cache.dir=" + System.getProperty("crabcan.cache.dir")));
        cmd.add(SandboxHolder.class.getName());
        Process jvm = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String line = new BufferedReader(new InputStreamReader(jvm.getInputStream())).readLine();
            assertThat(line).as("the holder JVM's report").endsWith(" started");
            long init = Long.parseLong(line.split(" ")[0]);
            String ns = Env.sandboxPidNamespace(init);
            assertThat(Env.processesIn(ns)).as("sh and three sleeps (init is not readable rootless)").hasSizeGreaterThanOrEqualTo(4);

            jvm.destroyForcibly(); // SIGKILL: no shutdown hook runs
            assertThat(jvm.waitFor(10, TimeUnit.SECONDS)).isTrue();
            assertThat(Env.awaitGone(init, ns, 1000)).as("sandbox processes 1 s after the JVM died").isEmpty();
        } finally {
            jvm.destroyForcibly();
        }
    }

    @Test
    void manySandboxesAtOnce() throws Exception {
        List<SandboxProcess> running = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            running.add(Sandbox.builder().command("/bin/sh", "-c", "read x; echo $x").build().start());
        }
        for (int i = 0; i < running.size(); i++) {
            try (var in = running.get(i).getOutputStream()) {
                in.write(("n" + i + "\n").getBytes());
            }
        }
        for (int i = 0; i < running.size(); i++) {
            SandboxProcess p = running.get(i);
            assertThat(new String(p.getInputStream().readAllBytes())).isEqualTo("n" + i + "\n");
            assertThat(p.waitFor()).isZero();
        }
    }

    @Test
    void sandboxDiesWithItsHelper() throws Exception {
        SandboxProcess p = Sandbox.builder().command("/bin/sh", "-c", DAEMONS + "wait").build().start();
        assertThat(new BufferedReader(new InputStreamReader(p.getInputStream())).readLine()).isEqualTo("started");
        String ns = Env.sandboxPidNamespace(p.pid());
        ProcessHandle helper = ProcessHandle.of(p.pid()).flatMap(ProcessHandle::parent).orElseThrow();
        assertThat(helper.destroyForcibly()).isTrue();
        assertThat(Env.awaitGone(p.pid(), ns, 1000)).as("the sandbox 1 s after its helper was killed").isEmpty();
        assertThat(p.waitFor(10, TimeUnit.SECONDS)).as("the handle does not hang").isTrue();
        assertThatThrownBy(p::result).isInstanceOf(dev.crabcan.SandboxException.class)
                .hasMessageContaining("exited without reporting how the sandbox ended");
    }
}
