package dev.crabcan.internal.cgroup;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class JoinedCgroupsTest {
    private static final List<String> MOUNTINFO = List.of(
            "30 24 0:26 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw",
            "31 24 0:27 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids",
            "32 24 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:12 - cgroup cgroup rw,cpu,cpuacct",
            "33 24 0:29 /outer /sys/fs/cgroup/memory rw,nosuid shared:13 - cgroup cgroup rw,memory",
            "34 24 0:30 / /sys/fs/cgroup/systemd rw,nosuid shared:14 - cgroup cgroup rw,name=systemd");

    @Test
    void theSandboxsCgroupsThatAreNotOursAreJoinedWhereTheyAreMounted() {
        List<String> ours = List.of("12:pids:/jvm", "11:cpu,cpuacct:/jvm", "10:memory:/outer/jvm",
                "1:name=systemd:/user.slice", "0::/jvm");
        List<String> theirs = List.of("12:pids:/box", "11:cpu,cpuacct:/jvm", "10:memory:/outer/box",
                "1:name=systemd:/user.slice", "9:freezer:/box", "0::/box");
        assertThat(JoinedCgroups.parse(MOUNTINFO, ours, theirs)).containsExactly(
                Path.of("/sys/fs/cgroup/pids/box/cgroup.procs"), Path.of("/sys/fs/cgroup/memory/box/cgroup.procs"),
                Path.of("/sys/fs/cgroup/unified/box/cgroup.procs"));
    }
}
