package dev.crabcan.internal.host;

/** A kernel release such as "6.1.0-18-amd64" or "5.15.0-1051-azure", compared by its numbers. */
public record KernelVersion(int major, int minor, int patch) implements Comparable<KernelVersion> {
    /**
     * What the regular expression {@code ^(\d+)\.(\d+)(?:\.(\d+))?} finds at the start of the
     * trimmed release, read without one: every JVM parses its kernel's release on its first sandbox.
     */
    public static KernelVersion parse(String release) {
        String r = release.trim();
        int majorEnd = digitsEnd(r, 0);
        int minorEnd = majorEnd > 0 && majorEnd < r.length() && r.charAt(majorEnd) == '.' ? digitsEnd(r, majorEnd + 1) : -1;
        if (minorEnd <= majorEnd + 1) {
            throw new IllegalArgumentException("not a kernel release: '" + release + "'");
        }
        int patchEnd = minorEnd < r.length() && r.charAt(minorEnd) == '.' ? digitsEnd(r, minorEnd + 1) : minorEnd;
        return new KernelVersion(Integer.parseInt(r.substring(0, majorEnd)),
                Integer.parseInt(r.substring(majorEnd + 1, minorEnd)),
                patchEnd > minorEnd + 1 ? Integer.parseInt(r.substring(minorEnd + 1, patchEnd)) : 0);
    }

    /** Where the ASCII digits from {@code from} on end. */
    private static int digitsEnd(String s, int from) {
        int i = from;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') {
            i++;
        }
        return i;
    }

    @Override
    public int compareTo(KernelVersion o) {
        int c = Integer.compare(major, o.major);
        if (c == 0) {
            c = Integer.compare(minor, o.minor);
        }
        return c != 0 ? c : Integer.compare(patch, o.patch);
    }

    public boolean atLeast(int maj, int min) {
        return compareTo(new KernelVersion(maj, min, 0)) >= 0;
    }

    @Override
    public String toString() {
        return major + "." + minor + "." + patch;
    }
}
