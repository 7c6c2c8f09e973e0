package dev.crabcan.image;

import java.util.regex.Pattern;

/**
 * A content digest as OCI writes it, {@code sha256:} and 64 lowercase hex digits. Layers are
 * stored uncompressed, so a layer's digest is also its diff id.
 *
 * <p>Immutable and thread-safe.
 *
 * @param hex the 64 hex digits
 */
public record Digest(String hex) {
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

    public Digest {
        if (hex == null || !HEX.matcher(hex).matches()) {
            throw new IllegalArgumentException("not a sha256 digest (64 lowercase hex digits): " + hex);
        }
    }

    /** Parses {@code sha256:<64 hex digits>}. */
    public static Digest parse(String s) {
        if (s == null || !s.startsWith("sha256:")) {
            throw new IllegalArgumentException("not a sha256 digest (sha256:<64 hex digits>): " + s);
        }
        return new Digest(s.substring("sha256:".length()));
    }

    /** The first 12 hex digits, as image lists show them. */
    public String shortHex() {
        return hex.substring(0, 12);
    }

    @Override
    public String toString() {
        return "sha256:" + hex;
    }
}
