package dev.crabcan.internal.net;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crabcan.internal.json.Json;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assertions;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * IPv6 literals, and whether a root caller's sandboxes get IPv6 ({@link Veth#whyNoIpv6}): decided
 * from /proc/net/ipv6_route and the host's settings as given here, or as a network namespace of
 * the test's own has them, so that no host is changed.
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

    /** A prefix route from a router advertisement: its addresses are renewed by advertisements too. */
    private static final String PREFIX_FROM_RA = STATIC.replace("00000001     eth0\n00000000", "00000001     eth0\n"
            + "20010db8000100000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 "
            + "00000100 00000001 00000000 004c0001     eth1\n00000000");

    @Test
    void anyRouteFromRouterAdvertisementsKeepsForwardingOffUnlessItsInterfaceTakesThemAnyway() {
        Map<String, String> s = settings("0", "1");
        s.put("conf/eth1/accept_ra", "1");
        assertThat(Veth.whyNoIpv6(PREFIX_FROM_RA, s::get)).get().asString()
                .contains("route to 2001:db8:1::/64 on eth1 was learned from router advertisements")
                .contains("set net.ipv6.conf.eth1.accept_ra=2");
        s.put("conf/eth1/accept_ra", "2");
        assertThat(Veth.whyNoIpv6(PREFIX_FROM_RA, s::get)).isEmpty();
    }

    /**
     * The kernel for real, in a network namespace of the test's own: a router advertises itself on
     * a veth pair. With accept_ra 1 on the receiving end, turning forwarding on drops the default
     * route it gave at once (the hazard), and sandboxes would get no IPv6; with accept_ra 2 the
     * route stays, and they would.
     */
    @Test
    void aRealRouterAdvertisementInANamespaceOfTheTestsOwn() throws Exception {
        String script;
        try (InputStream in = Ipv6Test.class.getResourceAsStream("router-advertisement.py")) {
            script = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        Process p = new ProcessBuilder("unshare", "--user", "--map-root-user", "--net", "/usr/bin/python3", "-c", script)
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(p.waitFor(60, TimeUnit.SECONDS)).isTrue();
        if (p.exitValue() != 0) {
            String why = "cannot make a network namespace with unshare (exit " + p.exitValue() + ")";
            if ("true".equals(System.getenv("CI"))) {
                Assertions.fail(why);
            }
            Assumptions.abort(why);
        }
        @SuppressWarnings("unchecked")
        Map<String, Map<String, Object>> cases = (Map<String, Map<String, Object>>) Json.parse(out);
        Map<String, Object> one = cases.get("acceptRa1");
        Map<String, Object> two = cases.get("acceptRa2");
        assertThat(one.get("learned")).as("ra1's default route from the advertisement").isEqualTo(true);
        assertThat(one.get("defaultRouteAfterForwarding")).as("with accept_ra 1, once forwarding is on").isEqualTo(false);
        assertThat(whyNoIpv6(one)).get().asString()
                .contains("default route on ra1 was learned from router advertisements").contains("accept_ra is 1, not 2");
        assertThat(two.get("learned")).isEqualTo(true);
        assertThat(two.get("defaultRouteAfterForwarding")).as("with accept_ra 2, once forwarding is on").isEqualTo(true);
        assertThat(whyNoIpv6(two)).isEmpty();
    }

    @SuppressWarnings("unchecked")
    private static java.util.Optional<String> whyNoIpv6(Map<String, Object> seen) {
        Map<String, Object> settings = (Map<String, Object>) seen.get("settings");
        return Veth.whyNoIpv6((String) seen.get("routes"), name -> (String) settings.get(name));
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
