package dev.crabcan.internal.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.UnsupportedHostException;
import dev.crabcan.internal.cgroup.CgroupTuning.Knob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which file each linux.resources field beyond Limits goes to on cgroup v1 and v2, and the
 * refusals that name the field: no v2 file, or none in this cgroup. The kernel's own checks
 * (OciRuntimeTest) are not here: these directories are plain ones with the files made empty.
 */
class CgroupTuningTest {
    @TempDir
    Path dir;

    private Path files(String sub, String... names) throws Exception {
        Path d = Files.createDirectories(dir.resolve(sub));
        for (String n : names) {
            Files.writeString(d.resolve(n), "");
        }
        return d;
    }

    @Test
    void cgroupV1FilesByController() throws Exception {
        Path memory = files("memory", "memory.soft_limit_in_bytes", "memory.kmem.tcp.limit_in_bytes",
                "memory.swappiness", "memory.oom_control");
        Path cpu = files("cpu", "cpu.cfs_burst_us", "cpu.idle", "cpu.rt_period_us", "cpu.rt_runtime_us");
        CgroupTuning.of(Map.of(Knob.MEMORY_RESERVATION, 33554432L, Knob.MEMORY_KERNEL_TCP, -1L,
                Knob.MEMORY_SWAPPINESS, 0L, Knob.MEMORY_DISABLE_OOM_KILLER, 1L, Knob.CPU_BURST, 20000L, Knob.CPU_IDLE, 1L,
                Knob.CPU_REALTIME_PERIOD, 500000L, Knob.CPU_REALTIME_RUNTIME, 1000L))
                .apply(false, Map.of("memory", memory, "cpu", cpu));
        assertThat(Files.readString(memory.resolve("memory.soft_limit_in_bytes"))).isEqualTo("33554432");
        assertThat(Files.readString(memory.resolve("memory.kmem.tcp.limit_in_bytes"))).isEqualTo("-1");
        assertThat(Files.readString(memory.resolve("memory.swappiness"))).isEqualTo("0");
        assertThat(Files.readString(memory.resolve("memory.oom_control"))).isEqualTo("1");
        assertThat(Files.readString(cpu.resolve("cpu.cfs_burst_us"))).isEqualTo("20000");
        assertThat(Files.readString(cpu.resolve("cpu.idle"))).isEqualTo("1");
        assertThat(Files.readString(cpu.resolve("cpu.rt_period_us"))).isEqualTo("500000");
        assertThat(Files.readString(cpu.resolve("cpu.rt_runtime_us"))).isEqualTo("1000");
    }

    @Test
    void cgroupV2FilesAndAReservationOfMinusOneIsMax() throws Exception {
        Path d = files("v2", "memory.low", "cpu.max.burst", "cpu.idle");
        Files.writeString(d.resolve("cgroup.controllers"), "cpu memory pids\n");
        CgroupTuning t = CgroupTuning.of(Map.of(Knob.MEMORY_RESERVATION, -1L, Knob.CPU_BURST, 0L, Knob.CPU_IDLE, 1L));
        assertThat(t.controllers()).containsExactly("memory", "cpu");
        t.apply(true, Map.of("", d));
        assertThat(Files.readString(d.resolve("memory.low"))).isEqualTo("max");
        assertThat(Files.readString(d.resolve("cpu.max.burst"))).isEqualTo("0");
        assertThat(Files.readString(d.resolve("cpu.idle"))).isEqualTo("1");
    }

    @Test
    void fieldsCgroupV2HasNoFileForAreRefusedByName() {
        for (Knob k : new Knob[] {Knob.MEMORY_KERNEL, Knob.MEMORY_KERNEL_TCP, Knob.MEMORY_SWAPPINESS,
            Knob.MEMORY_DISABLE_OOM_KILLER, Knob.CPU_REALTIME_PERIOD, Knob.CPU_REALTIME_RUNTIME}) {
            assertThatThrownBy(() -> CgroupTuning.of(Map.of(k, 1L)).checkFor(true))
                    .isInstanceOf(UnsupportedHostException.class)
                    .hasMessageStartingWith(k.field() + ": not supported because this host's container cgroups are "
                            + "cgroup v2, and ");
        }
        assertThatThrownBy(() -> CgroupTuning.of(Map.of(Knob.MEMORY_SWAPPINESS, 10L)).checkFor(true))
                .hasMessageContaining("cgroup v2 has no swappiness per cgroup");
    }

    @Test
    void aControllerTheV2CgroupLacksIsRefusedNamingTheField() throws Exception {
        Path d = files("v2", "cpu.idle");
        Files.writeString(d.resolve("cgroup.controllers"), "memory pids\n");
        assertThatThrownBy(() -> CgroupTuning.of(Map.of(Knob.CPU_IDLE, 1L)).apply(true, Map.of("", d)))
                .hasMessage("linux.resources.cpu.idle: not supported because the container's cgroup " + d + " has no "
                        + "cpu controller (create enables those its config's resources need)");
    }

    @Test
    void aFileTheCgroupLacksIsRefusedNamingTheFieldAndWhy() throws Exception {
        Path cpu = files("cpu");
        assertThatThrownBy(() -> CgroupTuning.of(Map.of(Knob.CPU_REALTIME_RUNTIME, 1000L)).apply(false,
                Map.of("cpu", cpu))).isInstanceOf(UnsupportedHostException.class)
                .hasMessage("linux.resources.cpu.realtimeRuntime: not supported because the container's cgroup " + cpu
                        + " has no cpu.rt_runtime_us (real-time group scheduling needs a kernel built with "
                        + "CONFIG_RT_GROUP_SCHED)");
        assertThatThrownBy(() -> CgroupTuning.of(Map.of(Knob.MEMORY_RESERVATION, 1L)).apply(false, Map.of("cpu", cpu)))
                .hasMessage("linux.resources.memory.reservation: not supported because no cgroup v1 memory hierarchy "
                        + "is mounted");
    }

    /**
     * update writes a new burst before the limits lower the quota (the kernel refuses a quota below
     * the burst, OciRuntimeTest); where the old quota refuses the burst, that is not an error yet:
     * a directory in the file's place fails the write as the kernel's EINVAL would.
     */
    @Test
    void aBurstGoesFirstWhereTheCgroupTakesItAndQuietlyWhereItDoesNot() throws Exception {
        Path d = files("v2", "cpu.max.burst", "memory.low");
        Files.writeString(d.resolve("cgroup.controllers"), "cpu memory\n");
        CgroupTuning.of(Map.of(Knob.CPU_BURST, 10000L, Knob.MEMORY_RESERVATION, 1L)).applyBurstFirst(true,
                Map.of("", d));
        assertThat(Files.readString(d.resolve("cpu.max.burst"))).isEqualTo("10000");
        assertThat(Files.readString(d.resolve("memory.low"))).as("only the burst goes first").isEmpty();
        Path refusing = Files.createDirectories(dir.resolve("refusing/cpu.max.burst")).getParent();
        Files.writeString(refusing.resolve("cgroup.controllers"), "cpu\n");
        CgroupTuning.of(Map.of(Knob.CPU_BURST, 10000L)).applyBurstFirst(true, Map.of("", refusing));
    }
}
