package dev.crabcan.internal.net;

import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/** IPv6 addresses as 16 bytes, parsed from and written as literals (RFC 5952's compressed form). */
public final class Ipv6 {
    /** Hex groups, colons and an IPv4 tail at most: what no name lookup could be made of. */
    private static final Pattern LITERAL = Pattern.compile("[0-9a-fA-F:.]*:[0-9a-fA-F:.]*");

    private Ipv6() {}

    /** The address an IPv6 literal (no brackets, no zone) names, or empty if it is none. */
    public static Optional<byte[]> parse(String literal) {
        if (literal == null || !LITERAL.matcher(literal).matches()) {
            return Optional.empty();
        }
        try {
            byte[] b = InetAddress.getByName(literal).getAddress(); // a literal: checked, never looked up
            return b.length == 16 ? Optional.of(b) : Optional.empty();
        } catch (UnknownHostException e) {
            return Optional.empty();
        }
    }

    private static final byte[] LOOPBACK = parse("::1").orElseThrow();
    /** /proc/net/ipv6_route's flag of a reject route. */
    private static final int RTF_REJECT = 0x0200;

    public static boolean isLoopback(byte[] address) {
        return Arrays.equals(address, LOOPBACK);
    }

    /**
     * The default routes in the text of /proc/net/ipv6_route that send packets somewhere (not
     * the loopback, not a reject route), as its fields: destination, its prefix length, source,
     * its prefix length, next hop, metric, counts, flags, interface.
     */
    static List<String[]> defaultRoutes(String routes) {
        return routes.lines().map(l -> l.trim().split("\\s+"))
                .filter(f -> f.length == 10 && f[0].matches("0{32}") && f[1].equals("00") && !f[9].equals("lo")
                        && (Integer.parseUnsignedInt(f[8], 16) & RTF_REJECT) == 0)
                .toList();
    }

    /** Whether address is in fe80::/10, which names a link and needs an interface to go with it. */
    public static boolean isLinkLocal(byte[] address) {
        return (address[0] & 0xff) == 0xfe && (address[1] & 0xc0) == 0x80;
    }

    /** Whether the bits of address past prefix are all 0. */
    public static boolean isRangeStart(byte[] address, int prefix) {
        return Arrays.equals(address, masked(address, prefix));
    }

    /** address with the bits past prefix cleared. */
    public static byte[] masked(byte[] address, int prefix) {
        byte[] out = address.clone();
        for (int bit = prefix; bit < 128; bit++) {
            out[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        return out;
    }

    /** The address of range whose last 32 bits are low (the range is at most a /96). */
    public static byte[] withLow32(byte[] range, int low) {
        byte[] out = range.clone();
        for (int i = 0; i < 4; i++) {
            out[12 + i] = (byte) (low >>> (24 - 8 * i));
        }
        return out;
    }

    /** The compressed literal: lower case, no leading zeros, the longest run of two or more zero groups as "::". */
    public static String format(byte[] address) {
        int[] groups = new int[8];
        for (int i = 0; i < 8; i++) {
            groups[i] = (address[2 * i] & 0xff) << 8 | (address[2 * i + 1] & 0xff);
        }
        int bestStart = -1;
        int bestLength = 1;
        for (int i = 0; i < 8; ) {
            int j = i;
            while (j < 8 && groups[j] == 0) {
                j++;
            }
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = j == i ? i + 1 : j;
        }
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            if (i == bestStart) {
                out.append("::");
                i += bestLength - 1;
                continue;
            }
            if (out.length() > 0 && out.charAt(out.length() - 1) != ':') {
                out.append(':');
            }
            out.append(Integer.toHexString(groups[i]));
        }
        return out.toString();
    }
}
