package dev.crabcan.internal.cgroup;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The JVM's cgroups from mountinfo and /proc/self/cgroup, as a hybrid Debian or Ubuntu host shows them. */
class HierarchiesTest {
    private static final List<String> MOUNTINFO = List.of(
            "30 22 0:27 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755",
            "31 30 0:28 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate",
            "32 30 0:29 / /sys/fs/cgroup/systemd rw,nosuid - cgroup cgroup rw,xattr,name=systemd",
            "33 30 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct",
            "34 30 0:31 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory",
            "35 30 0:32 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset,clone_children",
            "36 30 0:33 / /sys/fs/cgroup/devices rw,nosuid - cgroup cgroup rw,devices");
    private static final List<String> PROC_CGROUP = List.of("6:devices:/system.slice/judge.service",
            "5:cpuset:/", "4:memory:/system.slice/judge.service", "3:cpu,cpuacct:/system.slice/judge.service",
            "1:name=systemd:/system.slice/judge.service", "0::/system.slice/judge.service");

    @Test
    void eachControllerHasItsDirectoryAndItsHierarchyAsProcSelfCgroupNamesIt() {
        Hierarchies h = Hierarchies.parse(MOUNTINFO, PROC_CGROUP);
        assertThat(h.v1Dirs()).containsOnlyKeys("cpu", "cpuacct", "memory", "cpuset")
                .containsEntry("cpu", Path.of("/sys/fs/cgroup/cpu,cpuacct/system.slice/judge.service"))
                .containsEntry("cpuset", Path.of("/sys/fs/cgroup/cpuset"));
        // The name a v1 cgroup file system is mounted with inside the sandbox: all of its hierarchy's controllers.
        assertThat(h.v1Hierarchies()).containsEntry("cpu", "cpu,cpuacct").containsEntry("cpuacct", "cpu,cpuacct")
                .containsEntry("memory", "memory").containsEntry("cpuset", "cpuset").hasSize(4);
        assertThat(h.unifiedDir()).isEqualTo(Path.of("/sys/fs/cgroup/unified/system.slice/judge.service"));
    }
}
