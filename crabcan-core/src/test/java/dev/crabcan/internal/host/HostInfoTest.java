package dev.crabcan.internal.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.SandboxSetupException;
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
    void onlyUidZeroInTheInitialUserNamespaceWithItsCapabilitiesIsHostRoot() {
        long all = 0x1ffffffffffL;
        assertThat(HostInfo.isHostRoot(0, "user:[4026531837]", all)).isTrue();
        // unshare -U -r, rootless podman, a user-namespaced pod: root of another user namespace.
        assertThat(HostInfo.isHostRoot(0, "user:[4026532741]", all)).isFalse();
        // A container's root without CAP_SYS_ADMIN (podman's and Docker's default set).
        assertThat(HostInfo.isHostRoot(0, "user:[4026531837]", 0x800425fbL)).isFalse();
        assertThat(HostInfo.isHostRoot(1000, "user:[4026531837]", all)).isFalse();
        assertThat(HostInfo.effectiveCapabilities("Name:\tjava\nCapPrm:\t0\nCapEff:\t000001ffffffffff\n"))
                .isEqualTo(all);
        assertThat(HostInfo.effectiveCapabilities("Name:\tjava\n")).isZero();
    }

    @Test
    void hostRootIsUnmappedUnlessAUidMapLineCoversIt() {
        assertThat(HostInfo.mapsOutsideId("         0          0 4294967295", 0)).isTrue();
        assertThat(HostInfo.mapsOutsideId("         0      65534          1", 0)).isFalse();
        assertThat(HostInfo.mapsOutsideId("0 1000 1\n1 100000 65536", 0)).isFalse();
        assertThat(HostInfo.mapsOutsideId("0 1000 1\n1 0 1", 0)).isTrue();
    }

    @Test
    void aContainerThatRefusesAHostnameOrAProcIsAdaptedToOnceEach() {
        HostInfo host = HostInfo.of(0, 0, "6.1.0");
        assertThat(host.setsHostname()).isTrue();
        assertThat(host.procMount()).isEqualTo(HostInfo.ProcMount.FULL);
        SandboxSetupException hostname = new SandboxSetupException("hostname", 1, "hostname a-b-1: EPERM");
        assertThat(host.adaptTo(hostname, true)).as("a hostname the caller asked for").isFalse();
        assertThat(host.adaptTo(new SandboxSetupException("hostname", 22, "EINVAL"), false)).isFalse();
        assertThat(host.adaptTo(hostname, false)).isTrue();
        assertThat(host.setsHostname()).isFalse();
        assertThat(host.adaptTo(hostname, false)).as("already without").isFalse();
        SandboxSetupException proc = new SandboxSetupException("proc", 1, "proc mount /proc: EPERM");
        assertThat(host.adaptTo(proc, false)).isTrue();
        assertThat(host.procMount()).isEqualTo(HostInfo.ProcMount.PID_SUBSET);
        assertThat(host.adaptTo(proc, false)).isTrue();
        assertThat(host.procMount()).isEqualTo(HostInfo.ProcMount.NONE);
        assertThat(host.adaptTo(proc, false)).isFalse();
        assertThat(host.adaptTo(new SandboxSetupException("bind", 1, "bind /usr -> /usr: EPERM"), false)).isFalse();
    }

    @Test
    void aSeccompFilterIsNamedOnlyWhereStatusSaysSo() {
        assertThat(HostInfo.seccompFiltered("Name:\tjava\nSeccomp:\t2\nSeccomp_filters:\t1\n")).isTrue();
        assertThat(HostInfo.seccompFiltered("Name:\tjava\nSeccomp:\t0\nSeccomp_filters:\t0\n")).isFalse();
    }

    @Test
    void procSysFilesAreReadToTheirEnd() {
        // Files.readString trusted the size 0 that /proc/sys reports and read "6" of "65534".
        assertThat(HostInfo.get().kernel().major()).isGreaterThanOrEqualTo(5);
        assertThat(HostInfo.get().unmappedOwner()).isIn(-1, 65534);
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

    @Test
    void theParentUidComesFromTheUidMap() {
        assertThat(HostInfo.outsideId("         0       1000          1\n", 0)).isEqualTo(1000);
        assertThat(HostInfo.outsideId("0 100000 65536\n", 5)).isEqualTo(100005);
        assertThat(HostInfo.outsideId("0 1000 1\n", 1)).isEqualTo(-1);
    }

    @Test
    void theHostsUidZeroThatMapsNoOtherIdGetsNoSandboxAndAContainersRootLeasesIds() throws Exception {
        assertThatThrownBy(() -> HostIds.lease(HostInfo.hostUidZeroWithout(false, "6.1.0")))
                .isInstanceOf(dev.crabcan.UnsupportedHostException.class)
                .hasMessageContaining("without the capabilities in the host's user namespace")
                .hasMessageContaining("--map-users");
        HostInfo containerRoot = HostInfo.hostUidZeroWithout(true, "6.1.0");
        assertThat(containerRoot.leasesHostIds()).isTrue();
        assertThat(containerRoot.isHostRoot()).isFalse();
        HostIds.Lease fixed = HostIds.lease(HostInfo.rootWithoutHostPrivilege(0, "6.1.0"));
        assertThat(fixed.uid()).isZero();
    }

    @Test
    void theHostsUidZeroIsTheOwnerOfHostRootsFilesButNotTheOverflowId() {
        assertThat(HostInfo.isHostUidZero(0, 0, 65534, "0 0 4294967295\n")).isTrue(); // initial namespace
        assertThat(HostInfo.isHostUidZero(0, 0, 65534, "0 0 1\n")).isTrue(); // unshare -r by root
        assertThat(HostInfo.isHostUidZero(0, 65534, 65534, "0 1000 1\n")).isFalse(); // unshare -r by a user
        // nobody in a namespace that does not map host root sees its files as its own uid
        assertThat(HostInfo.isHostUidZero(65534, 65534, 65534, "0 100000 65536\n")).isFalse();
        assertThat(HostInfo.isHostUidZero(65534, 65534, 65534, "65534 0 1\n")).isTrue();
    }
}
