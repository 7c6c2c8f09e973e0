package dev.crabcan.internal.cgroup;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.SandboxSpecException;
import org.junit.jupiter.api.Test;

/**
 * systemd's slice:prefix:name as the cgroup path systemd gives the unit (systemd.slice(5): each
 * dash of a slice's name is one level down; a scope is prefix-name.scope), the path crabcan-oci
 * makes with --systemd-cgroup.
 */
class RuntimeCgroupTest {
    @Test
    void slicesNestAtEachDashAndTheUnitIsAScope() {
        assertThat(RuntimeCgroup.systemdPath("system.slice:docker:abc")).isEqualTo("/system.slice/docker-abc.scope");
        assertThat(RuntimeCgroup.systemdPath("machine.slice:libpod:f00")).isEqualTo("/machine.slice/libpod-f00.scope");
        assertThat(RuntimeCgroup.systemdPath("kubepods-besteffort-pod12.slice:cri-containerd:c1"))
                .isEqualTo("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod12.slice/"
                        + "cri-containerd-c1.scope");
        assertThat(RuntimeCgroup.systemdPath("user-1000.slice:crabcan:x"))
                .isEqualTo("/user.slice/user-1000.slice/crabcan-x.scope");
    }

    @Test
    void theRootSliceAnEmptyPrefixAndASliceAsTheUnit() {
        assertThat(RuntimeCgroup.systemdPath("-.slice:crabcan:x")).isEqualTo("/crabcan-x.scope");
        assertThat(RuntimeCgroup.systemdPath(":crabcan:x")).isEqualTo("/crabcan-x.scope");
        assertThat(RuntimeCgroup.systemdPath("system.slice::x")).isEqualTo("/system.slice/x.scope");
        assertThat(RuntimeCgroup.systemdPath("kubepods.slice::kubepods-burstable.slice"))
                .isEqualTo("/kubepods.slice/kubepods-burstable.slice");
    }

    @Test
    void whatIsNoSystemdUnitIsRefusedNamingIt() {
        assertThatThrownBy(() -> RuntimeCgroup.systemdPath("/default/c1")).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("must be slice:prefix:name");
        assertThatThrownBy(() -> RuntimeCgroup.systemdPath("system:crabcan:c1"))
                .hasMessageContaining("'system' is no slice");
        assertThatThrownBy(() -> RuntimeCgroup.systemdPath("a--b.slice:crabcan:c1"))
                .hasMessageContaining("no valid slice name");
        assertThatThrownBy(() -> RuntimeCgroup.systemdPath("system.slice:crabcan:../x"))
                .hasMessageContaining("is no systemd unit name");
        assertThatThrownBy(() -> RuntimeCgroup.systemdPath("system.slice:crabcan:"))
                .hasMessageContaining("is no systemd unit name");
    }
}
