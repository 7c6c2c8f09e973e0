package dev.crabcan.internal.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class HostInfoTest {

    @Test
    void effectiveIdsComeFromTheSecondFieldOfProcStatus() {
        String status = "Name:\tjava\nUmask:\t0022\nUid:\t1000\t0\t1000\t0\nGid:\t1001\t27\t1001\t27\nGroups:\t27\n";
        assertThat(HostInfo.effectiveId(status, "Uid:")).isZero();
        assertThat(HostInfo.effectiveId(status, "Gid:")).isEqualTo(27);
        assertThatThrownBy(() -> HostInfo.effectiveId("Name:\tjava\n", "Uid:"))
                .hasMessageContaining("/proc/self/status has no Uid: line");
    }

    @Test
    void thisProcessIdsMatchWhatTheFileSystemSays() throws Exception {
        Path probe = Files.createTempFile("hostinfo", ".probe");
        try {
            assertThat(HostInfo.get().euid()).isEqualTo(Files.getAttribute(probe, "unix:uid"));
        } finally {
            Files.delete(probe);
        }
    }
}
