package dev.crabcan.internal.net;

/** IPv4 addresses as big-endian ints, and CIDR ranges. */
public final class Ipv4 {
    private Ipv4() {}

    /**
     * A CIDR range whose address has no host bits set.
     *
     * <p>Immutable and thread-safe.
     */
    public record Range(int address, int prefix) {
        public Range {
            if (prefix < 0 || prefix > 32 || (address & ~netmask(prefix)) != 0) {
                throw new IllegalArgumentException("not a range: " + format(address) + "/" + prefix);
            }
        }

        /** a.b.c.d/n, already checked to be well formed and without host bits. */
        public static Range parse(String cidr) {
            String[] parts = cidr.split("/", -1);
            return new Range(Ipv4.parse(parts[0]), Integer.parseInt(parts[1]));
        }

        public boolean contains(int a) {
            return (a & netmask(prefix)) == address;
        }

        public boolean contains(Range r) {
            return r.prefix >= prefix && contains(r.address);
        }

        @Override
        public String toString() {
            return format(address) + "/" + prefix;
        }
    }

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
