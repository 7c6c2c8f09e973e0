package dev.crabcan;

/** Checks shared by the value types and the builder; every message names the bad value. */
final class Validation {
    private Validation() {}

    static <T> T notNull(T value, String what) {
        if (value == null) {
            throw new SandboxSpecException(what + " must not be null");
        }
        return value;
    }

    static String noNul(String value, String what) {
        notNull(value, what);
        if (value.indexOf('\0') >= 0) {
            throw new SandboxSpecException(what + " must not contain a NUL character: " + printable(value));
        }
        if (!java.nio.charset.StandardCharsets.UTF_8.newEncoder().canEncode(value)) {
            throw new SandboxSpecException(what + " is not valid Unicode (an unpaired surrogate would reach the "
                    + "sandbox as '?'): " + printable(value));
        }
        return value;
    }

    /** An absolute path inside the sandbox, without "." or ".." segments that could walk out of it. */
    static String containerPath(String path, String what) {
        noNul(path, what);
        if (!path.startsWith("/")) {
            throw new SandboxSpecException(what + " must be an absolute path inside the sandbox, got '" + path + "'");
        }
        for (String segment : path.split("/")) {
            if (segment.equals("..") || segment.equals(".")) {
                throw new SandboxSpecException(
                        what + " must not contain '" + segment + "' segments, got '" + path + "'");
            }
        }
        return path;
    }

    /** The path without repeated or trailing slashes, so that equal targets compare equal. */
    static String normalize(String containerPath) {
        String joined = String.join("/", java.util.Arrays.stream(containerPath.split("/"))
                .filter(s -> !s.isEmpty()).toArray(String[]::new));
        return "/" + joined;
    }

    static String printable(String s) {
        return s.replace("\0", "\\0");
    }
}
