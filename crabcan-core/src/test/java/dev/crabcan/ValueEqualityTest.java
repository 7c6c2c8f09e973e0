package dev.crabcan;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/** The public value types are equal exactly when their values are, with hash codes to match. */
class ValueEqualityTest {

    @Test
    void limitsCompareEveryLimitAndRlimitValues() {
        Limits a = Limits.builder().memory(64L << 20).wallTime(Duration.ofSeconds(2)).rlimit(Rlimit.NOFILE, 64, 128).build();
        Limits same = Limits.builder().rlimit(Rlimit.NOFILE, 64, 128).wallTime(Duration.ofMillis(2000)).memory(64L << 20)
                .build();
        assertThat(same).isEqualTo(a).hasSameHashCodeAs(a);
        assertThat(a.toBuilder().rlimit(Rlimit.NOFILE, 64, 129).build()).isNotEqualTo(a);
        assertThat(a.toBuilder().pids(5).build()).isNotEqualTo(a);
        assertThat(Limits.none()).isEqualTo(Limits.builder().build()).isNotEqualTo(a);
        Limits graced = a.toBuilder().grace(Duration.ofSeconds(1)).build();
        assertThat(graced).isNotEqualTo(a).isEqualTo(a.toBuilder().grace(Duration.ofMillis(1000)).build());
        assertThat(graced.toBuilder().build().grace()).hasValue(Duration.ofSeconds(1));
        assertThat(graced.toString()).contains("grace=1000ms");
    }

    @Test
    void cpusetListsAreCheckedComparedAndNeedACgroup() {
        Limits pinned = Limits.builder().cpusetCpus("0-3,6").cpusetMems("0").build();
        assertThat(pinned).isEqualTo(Limits.builder().cpusetMems("0").cpusetCpus("0-3,6").build())
                .isNotEqualTo(pinned.toBuilder().cpusetCpus("0-3").build());
        assertThat(pinned.toBuilder().build().cpusetCpus()).hasValue("0-3,6");
        assertThat(pinned.cgroupLimitNames()).containsExactly("cpusetCpus", "cpusetMems");
        assertThat(pinned.toString()).contains("cpusetCpus=0-3,6").contains("cpusetMems=0");
        for (String bad : new String[] {"", "0-", "a", "1,,2", " 1", "0-3;6"}) {
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> Limits.builder().cpusetCpus(bad))
                    .isInstanceOf(SandboxSpecException.class).hasMessageContaining("got '" + bad + "'");
        }
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Limits.builder().cpusetMems("2-1"))
                .isInstanceOf(SandboxSpecException.class).hasMessageContaining("the range 2-1 in '2-1' is descending");
    }

    @Test
    void aGraceNeedsATimeLimitAndTheCgroupLimitsAreNamed() {
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> Limits.builder().memory(1L << 30)
                .grace(Duration.ofSeconds(1)).build()).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("needs a CPU or wall time limit");
        assertThat(Limits.judge().cgroupLimitNames()).containsExactly("memory", "swap", "pids", "cpus", "cpuTime");
        assertThat(Limits.builder().wallTime(Duration.ofSeconds(1)).outputBytes(1).build().needsCgroup()).isFalse();
        HostCapabilities none = new HostCapabilities("no cgroup here", false);
        assertThat(none.unenforceable(Limits.judge())).containsExactly("memory", "swap", "pids", "cpus", "cpuTime");
        HostCapabilities noSwap = new HostCapabilities(null, false);
        assertThat(noSwap.unenforceable(Limits.judge())).as("swap(0) holds without swap accounting").isEmpty();
        assertThat(noSwap.unenforceable(Limits.judge().toBuilder().swap(1 << 20).build())).containsExactly("swap");
    }

    @Test
    void networksStdioAndExitStatuses() {
        Network n = Network.privateNetwork().publish(8080, 80).dns(java.util.List.of("9.9.9.9"));
        assertThat(Network.privateNetwork().publish(8080, 80).dns(java.util.List.of("9.9.9.9"))).isEqualTo(n)
                .hasSameHashCodeAs(n);
        assertThat(Network.privateNetwork().publish(8081, 80)).isNotEqualTo(n);
        assertThat(Network.privateNetwork().publishUdp(8080, 80)).isNotEqualTo(Network.privateNetwork().publish(8080, 80))
                .isEqualTo(Network.privateNetwork().publishUdp(8080, 80));
        assertThat(Network.privateNetwork().allowHost()).isNotEqualTo(Network.privateNetwork())
                .isEqualTo(Network.privateNetwork().allowHost());
        assertThat(Network.privateNetwork().allow("169.254.169.254/32")).isNotEqualTo(Network.privateNetwork())
                .hasSameHashCodeAs(Network.privateNetwork().allow("169.254.169.254/32"));
        assertThat(Network.none()).isNotEqualTo(Network.host());

        assertThat(Stdio.bytes(new byte[] {1, 2})).isEqualTo(Stdio.bytes(new byte[] {1, 2}))
                .hasSameHashCodeAs(Stdio.bytes(new byte[] {1, 2})).isNotEqualTo(Stdio.bytes(new byte[] {1}));
        assertThat(Stdio.writeTo(Path.of("/a"))).isEqualTo(Stdio.writeTo(Path.of("/a")))
                .isNotEqualTo(Stdio.appendTo(Path.of("/a")));
        assertThat(Stdio.toStdout()).isEqualTo(Stdio.toStdout()).isNotEqualTo(Stdio.pipe());

        assertThat(ExitStatus.exited(9)).isEqualTo(ExitStatus.exited(9)).hasSameHashCodeAs(ExitStatus.exited(9))
                .isNotEqualTo(ExitStatus.signaled(9));
    }

    @Test
    void seccompPoliciesActionsAndConditions() {
        SeccompPolicy p = SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.MKDIR, SeccompAction.errno(1), ArgCondition.arg(1).maskedEq(0700, 0700)).build();
        SeccompPolicy same = SeccompPolicy.builder(SeccompAction.allow())
                .rule(Syscall.MKDIR, SeccompAction.errno(1), ArgCondition.arg(1).maskedEq(0700, 0700)).build();
        assertThat(same).isEqualTo(p).hasSameHashCodeAs(p);
        assertThat(SeccompPolicy.builder(SeccompAction.allow()).rule(Syscall.MKDIR, SeccompAction.errno(2)).build())
                .isNotEqualTo(p);
        assertThat(SeccompAction.errno(13)).isEqualTo(SeccompAction.errno(13)).isNotEqualTo(SeccompAction.errno(1));
        assertThat(ArgCondition.arg(0).eq(5)).isEqualTo(ArgCondition.arg(0).eq(5)).isNotEqualTo(ArgCondition.arg(1).eq(5));
    }

    @Test
    void recordsCompareTheirComponents() {
        assertThat(new Tmpfs("/t", 4096)).isEqualTo(new Tmpfs("/t", 4096, Tmpfs.DEFAULT_MODE, false, false));
        assertThat(Bind.readOnly(Path.of("/a"), "/b")).isEqualTo(new Bind(Path.of("/a"), "/b", true))
                .isNotEqualTo(Bind.readWrite(Path.of("/a"), "/b"));
        assertThat(new KernelMount(KernelMount.Type.SYSFS, "/sys", true))
                .isEqualTo(new KernelMount(KernelMount.Type.SYSFS, "/sys", true));
    }
}
