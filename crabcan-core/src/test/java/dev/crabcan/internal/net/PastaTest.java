package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Network;
import dev.crabcan.SandboxSetupException;
import org.junit.jupiter.api.Test;

/** The redirects that stand in for pasta's UDP port translation ({@link Pasta#udpTranslations}). */
class PastaTest {
    @Test
    void udpPortsPublishedToAnotherPortAreRedirectedInsideForTheirAddressFamily() throws Exception {
        String rules = Pasta.udpTranslations(Network.privateNetwork().publishUdp(5353, 53).publishUdp("::1", 5354, 54)
                .publishUdp("::", 6000, 6000).publish(8080, 80));
        assertThat(rules).contains("table inet crabcan_ports {")
                .contains("meta nfproto ipv4 fib daddr type local udp dport 5353 redirect to :53\n")
                .contains("meta nfproto ipv6 fib daddr type local udp dport 5354 redirect to :54\n")
                .doesNotContain("6000").doesNotContain("8080");
        assertThat(rules.split("redirect", -1)).as("in prerouting and output, each").hasSize(5);
    }

    @Test
    void noTranslationNoTable() throws Exception {
        assertThat(Pasta.udpTranslations(Network.privateNetwork().publishUdp(53, 53).publish(8080, 80))).isEmpty();
    }

    @Test
    void oneHostPortToTwoPortsInsideIsAClearError() {
        assertThatThrownBy(() -> Pasta.udpTranslations(Network.privateNetwork().publishUdp("127.0.0.1", 5353, 53)
                .publishUdp("127.0.0.2", 5353, 54))).isInstanceOf(SandboxSetupException.class)
                .hasMessageContaining("127.0.0.1:5353:53/udp").hasMessageContaining("different host ports");
    }
}
