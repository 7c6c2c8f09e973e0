package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * IPv6 literals, and whether a root caller's sandboxes get IPv6 ({@link Veth#whyNoIpv6}): decided
 * from /proc/net/ipv6_route and the host's settings as given here, so that no host is changed.
 */
class Ipv6Test {
    /** This machine's routes: a static default route on eth0, and the kernel's reject route on lo. */
    private static final String STATIC = String.join("\n",
            "fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 00000400 00000003 00000000 00000003     eth0",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
            "");
    /** A default route learned from a router advertisement (RTF_ADDRCONF | RTF_DEFAULT | RTF_GATEWAY | RTF_UP). */
    private static final String FROM_RA = String.join("\n",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe80000000000000000000000000000001 00000400 00000001 00000000 00050003     eth0",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
            "");
    private static final String NO_DEFAULT = String.join("\n",
            "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000002 00000000 00000001     eth0",
            "00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo",
            "");

    private static Map<String, String> settings(String forwarding, String acceptRa) {
        Map<String, String> s = new HashMap<>();
        s.put("conf/all/forwarding", forwarding);
        s.put("conf/eth0/accept_ra", acceptRa);
        s.put("conf/default/disable_ipv6", "0");
        return s;
    }

    @Test
    void aStaticDefaultRouteGivesIpv6WhateverForwardingIs() {
        assertThat(Veth.whyNoIpv6(STATIC, settings("0", "1")::get)).isEmpty();
        assertThat(Veth.whyNoIpv6(STATIC, settings("1", "1")::get)).isEmpty();
    }

    @Test
    void aDefaultRouteFromRouterAdvertisementsKeepsForwardingOffUnlessTheInterfaceTakesThemAnyway() {
        assertThat(Veth.whyNoIpv6(FROM_RA, settings("0", "1")::get)).get().asString()
                .contains("learned from router advertisements").contains("accept_ra is 1, not 2");
        assertThat(Veth.whyNoIpv6(FROM_RA, settings("0", "0")::get)).isPresent();
        assertThat(Veth.whyNoIpv6(FROM_RA, settings("0", "2")::get)).isEmpty();
        // Forwarding already on: the host took its decision; nothing changes.
        assertThat(Veth.whyNoIpv6(FROM_RA, settings("1", "1")::get)).isEmpty();
    }

    @Test
    void noIpv6WithoutADefaultRouteOrWithoutIpv6InTheKernelOrOnNewInterfaces() {
        assertThat(Veth.whyNoIpv6(NO_DEFAULT, settings("0", "1")::get)).get().asString()
                .isEqualTo("the host has no IPv6 default route");
        assertThat(Veth.whyNoIpv6(null, settings("0", "1")::get)).get().asString().isEqualTo("the kernel has no IPv6");
        Map<String, String> disabled = settings("1", "1");
        disabled.put("conf/default/disable_ipv6", "1");
        assertThat(Veth.whyNoIpv6(STATIC, disabled::get)).get().asString().contains("disable_ipv6 is 1");
    }

    @Test
    void literalsAreWrittenCompressedAndASandboxsAddressEndsInItsIpv4One() {
        byte[] subnet = Ipv6.parse("fd7c:cc::").orElseThrow();
        assertThat(Ipv6.format(Ipv6.withLow32(subnet, 0x0ae70006))).isEqualTo("fd7c:cc::ae7:6");
        assertThat(Ipv6.format(Ipv6.parse("0:0:0:0:0:0:0:1").orElseThrow())).isEqualTo("::1");
        assertThat(Ipv6.format(new byte[16])).isEqualTo("::");
        assertThat(Ipv6.format(Ipv6.parse("fd00:0:0:1:0:0:0:2").orElseThrow())).isEqualTo("fd00:0:0:1::2");
        assertThat(Ipv6.format(Ipv6.parse("2001:db8:0:0:1:0:0:1").orElseThrow())).isEqualTo("2001:db8::1:0:0:1");
        assertThat(Ipv6.parse("localhost")).isEmpty();
        assertThat(Ipv6.parse("10.0.0.1")).isEmpty();
        assertThat(Ipv6.parse("fe80::1%eth0")).isEmpty();
        assertThat(Ipv6.isRangeStart(Ipv6.parse("fd7c:cc::").orElseThrow(), 48)).isTrue();
        assertThat(Ipv6.isRangeStart(Ipv6.parse("fd7c:cc:0:1::").orElseThrow(), 48)).isFalse();
    }
}
