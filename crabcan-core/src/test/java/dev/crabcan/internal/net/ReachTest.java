package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.Network;
import dev.crabcan.internal.plan.NetPlan;
import org.junit.jupiter.api.Test;

class ReachTest {
    @Test
    void theHostsAddressesAreTheHelpersToFillAsTheyCome() throws Exception {
        NetPlan.Filter f = Reach.filter(Network.privateNetwork(), null, 0, null);
        assertThat(f.hostSets()).isEqualTo("inet crabcan");
        assertThat(f.watchHosts()).as("pasta's: the host's later addresses are the helper's to add").isTrue();
        assertThat(Reach.filter(Network.privateNetwork().allow("203.0.113.0/24"), Ipv4.Range.parse("10.231.0.0/16"),
                Ipv4.parse("10.231.0.1"), null).watchHosts()).as("a root caller's: the shared table's").isFalse();
        assertThat(f.rules()).startsWith("table inet crabcan {\n  set host4 { type ipv4_addr; }\n"
                + "  set host6 { type ipv6_addr; }\n")
                .contains("    ct direction original ip daddr @host4 reject with icmpx type admin-prohibited\n")
                .contains("    ct direction original ip6 daddr @host6 meta l4proto != ipv6-icmp reject")
                .contains("    ct direction original ip6 daddr @host6 icmpv6 type != {");
        assertThat(f.rules().indexOf("ct direction original ip daddr @host4 ct state established meta l4proto tcp "
                + "reject with tcp reset")).as("a flow opened before the set had its address is cut").isPositive()
                .isLessThan(f.rules().indexOf("ct state established,related accept"));
    }

    @Test
    void allowingTheHostLeavesItsAddressesOut() throws Exception {
        NetPlan.Filter f = Reach.filter(Network.privateNetwork().allowHost(), null, 0, null);
        assertThat(f.hostSets()).isNull();
        assertThat(f.rules()).doesNotContain("host4").doesNotContain("host6");
    }

    @Test
    void anAllowedRangeComesBeforeTheHostsAddresses() throws Exception {
        String rules = Reach.filter(Network.privateNetwork().allow("198.51.100.0/24"), null, 0, null).rules();
        assertThat(rules.indexOf("ip daddr { 198.51.100.0/24 } accept")).isPositive()
                .isLessThan(rules.indexOf("@host4"));
    }
}
