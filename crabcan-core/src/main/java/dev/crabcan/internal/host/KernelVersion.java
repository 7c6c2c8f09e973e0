package dev.crabcan.internal.host;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** A kernel release such as "6.1.0-18-amd64" or "5.15.0-1051-azure", compared by its numbers. */
public record KernelVersion(int major, int minor, int patch) implements Comparable<KernelVersion> {
    private static final Pattern RELEASE = Pattern.compile("^(\\d+)\\.(\\d+)(?:\\.(\\d+))?");

    public static KernelVersion parse(String release) {
        Matcher m = RELEASE.matcher(release.trim());
        if (!m.find()) {
            throw new IllegalArgumentException("not a kernel release: '" + release + "'");
        }
        return new KernelVersion(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)),
                m.group(3) == null ? 0 : Integer.parseInt(m.group(3)));
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
