package dev.crabcan.internal.net;

/** IPv4 addresses as big-endian ints, and CIDR ranges. */
public final class Ipv4 {
    private Ipv4() {}

    /** a.b.c.d, already checked to be four numbers from 0 to 255. */
    public static int parse(String dotted) {
        int value = 0;
        for (String part : dotted.split("\\.")) {
            value = value << 8 | Integer.parseInt(part);
        }
        return value;
    }

    public static String format(int address) {
        return (address >>> 24) + "." + (address >>> 16 & 0xff) + "." + (address >>> 8 & 0xff) + "." + (address & 0xff);
    }

    public static int netmask(int prefix) {
        return prefix == 0 ? 0 : -1 << (32 - prefix);
    }

    public static boolean isLoopback(String dotted) {
        return dotted.startsWith("127.");
    }
}
