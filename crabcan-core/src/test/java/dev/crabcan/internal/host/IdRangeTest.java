package dev.crabcan.internal.host;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.UnsupportedHostException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class IdRangeTest {
    private static final String PASSWD = """
            root:x:0:0:root:/root:/bin/bash
            nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
            alice:x:1000:1000:Alice:/home/alice:/bin/bash
            """;
    private static final String GROUP = """
            root:x:0:
            nogroup:x:65534:
            alice:x:1000:
            """;
    private static final IdRange.HostFiles PLAIN = new IdRange.HostFiles(PASSWD, GROUP, "", "");

    @Test
    void withoutAnySettingTheDefaultIsUsed() throws Exception {
        IdRange r = IdRange.resolve(null, null, PLAIN);
        assertThat(r).isEqualTo(IdRange.DEFAULT);
        assertThat(r.first()).isEqualTo(2_000_000_000);
        assertThat(r.last()).isEqualTo(2_000_065_535);
    }

    @ParameterizedTest
    @CsvSource({"3000000-3000009, 3000000, 10", "3000000:10, 3000000, 10", " 70000:1 , 70000, 1",
            "2147483647:1, 2147483647, 1"})
    void bothSpellingsAreAccepted(String value, int first, int count) throws Exception {
        IdRange r = IdRange.resolve(value, null, PLAIN);
        assertThat(r.first()).isEqualTo(first);
        assertThat(r.count()).isEqualTo(count);
        assertThat(r.setting()).isEqualTo("-Dcrabcan.idRange=" + value);
    }

    @Test
    void thePropertyComesBeforeTheEnvironmentWhichComesBeforeSubIds() throws Exception {
        IdRange.HostFiles subIds = new IdRange.HostFiles(PASSWD, GROUP, "crabcan:500000:100\n", "crabcan:500000:100\n");
        assertThat(IdRange.resolve("70000:5", "80000:5", subIds).first()).isEqualTo(70000);
        assertThat(IdRange.resolve(null, "80000:5", subIds).setting()).isEqualTo("CRABCAN_ID_RANGE=80000:5");
        IdRange fromFiles = IdRange.resolve(null, null, subIds);
        assertThat(fromFiles.first()).isEqualTo(500000);
        assertThat(fromFiles.count()).isEqualTo(100);
        assertThat(fromFiles.setting()).contains("/etc/subuid", "/etc/subgid", "crabcan:500000:100");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "abc", "100000", "100000-", "-5-10", "0x100-0x200", "1e6:10", "100000 - 100010",
            "12345678901:1"})
    void malformedValuesAreErrorsNamingTheSetting(String value) {
        assertThatThrownBy(() -> IdRange.resolve(value, null, PLAIN)).isInstanceOf(UnsupportedHostException.class)
                .hasMessageContaining("-Dcrabcan.idRange=" + value + " is not START-END or START:COUNT")
                .hasMessageContaining("CRABCAN_ID_RANGE");
    }

    @ParameterizedTest
    @CsvSource(delimiter = ';', value = {
            "200-100; is empty",
            "100000:0; is empty",
            "0-100; includes 0, host root",
            "0:1; includes 0, host root",
            "2147483000:1000; ids from 2^31",
            "900-1100; includes 1000, the id of the user alice in /etc/passwd",
            "65000-65600; includes 65534 (nobody",
            "65535:1; includes 65535 (the 16-bit -1)"})
    void unsafeRangesAreErrorsNamingTheSetting(String value, String why) {
        assertThatThrownBy(() -> IdRange.resolve(null, value, PLAIN)).isInstanceOf(UnsupportedHostException.class)
                .hasMessageContaining("CRABCAN_ID_RANGE=" + value)
                .hasMessageContaining(why)
                .hasMessageContaining("-Dcrabcan.idRange=START-END");
    }

    @Test
    void aRangeMustNotHoldAnIdOfTheGroupsFile() {
        IdRange.HostFiles files = new IdRange.HostFiles(PASSWD, GROUP + "builders:x:3000005:\n", "", "");
        assertThatThrownBy(() -> IdRange.resolve("3000000:10", null, files))
                .hasMessageContaining("includes 3000005, the id of the group builders in /etc/group");
    }

    @Test
    void aRangeMustNotOverlapAnotherUsersSubordinateIds() throws Exception {
        IdRange.HostFiles files = new IdRange.HostFiles(PASSWD, GROUP, "alice:100000:65536\n", "alice:100000:65536\n");
        assertThatThrownBy(() -> IdRange.resolve("165535:10", null, files))
                .hasMessageContaining("overlaps the entry alice:100000:65536 in /etc/subuid");
        assertThat(IdRange.resolve("165536:10", null, files).first()).isEqualTo(165536);
    }

    @Test
    void theDefaultIsCheckedToo() {
        IdRange.HostFiles files = new IdRange.HostFiles(PASSWD + "svc:x:2000000100:100::/:/bin/false\n", GROUP, "",
                "");
        assertThatThrownBy(() -> IdRange.resolve(null, null, files))
                .hasMessageContaining("Crabcan's default id range (ids 2000000000-2000065535) includes 2000000100, the "
                        + "id of the user svc in /etc/passwd")
                .hasMessageContaining("-Dcrabcan.idRange=START-END");
    }

    @Test
    void subIdsNeedOneEqualEntryInBothFiles() throws Exception {
        String entry = "# comment\nalice:100000:65536\ncrabcan:700000:1000\n";
        assertThat(IdRange.fromSubIds("alice:100000:65536\n", "alice:100000:65536\n")).isNull();
        assertThatThrownBy(() -> IdRange.fromSubIds(entry, ""))
                .hasMessageContaining("must be one line in each file (/etc/subuid has 1, /etc/subgid has 0)");
        assertThatThrownBy(() -> IdRange.fromSubIds(entry + "crabcan:800000:10\n", entry))
                .hasMessageContaining("/etc/subuid has 2");
        assertThatThrownBy(() -> IdRange.fromSubIds(entry, "crabcan:700000:999\n"))
                .hasMessageContaining("differ (crabcan:700000:1000 in /etc/subuid, crabcan:700000:999 in /etc/subgid)");
        assertThatThrownBy(() -> IdRange.fromSubIds("crabcan:x:10\n", "crabcan:x:10\n"))
                .hasMessageContaining("malformed");
        assertThatThrownBy(() -> IdRange.fromSubIds("crabcan:0:10\n", "crabcan:0:10\n"))
                .hasMessageContaining("includes 0, host root");
        IdRange r = IdRange.fromSubIds(entry, "crabcan:700000:1000");
        assertThat(r.first()).isEqualTo(700000);
        assertThat(r.last()).isEqualTo(700999);
    }

    @Test
    void theSubIdEntryOfCrabcanItselfIsNoConflict() throws Exception {
        String both = "alice:100000:65536\ncrabcan:700000:1000\n";
        IdRange r = IdRange.resolve(null, null, new IdRange.HostFiles(PASSWD, GROUP, both, both));
        assertThat(r.first()).isEqualTo(700000);
    }

    @Test
    void startTimeIsField22AndAZombieHasNone() {
        String stat = "4242 (a (weird) name) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 "
                + "1000 10 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        assertThat(HostIds.startTime(stat)).isEqualTo(987654);
        assertThat(HostIds.startTime(stat.replace(") S ", ") Z "))).isEqualTo(-1);
        assertThat(HostIds.startTime(ProcessHandle.current().pid())).isPositive();
        assertThat(HostIds.startTime(Integer.MAX_VALUE)).isEqualTo(-1);
    }
}
