package dev.crabcan;

/**
 * A file read back from the sandbox once its command ended ({@link Sandbox.Builder#copyOut(String,
 * long)}): at most the bytes asked for, and how large it was.
 *
 * <p>Immutable and thread-safe (the bytes are copied out).
 *
 * @param path the path inside the sandbox
 * @param size the file's size when it was read
 */
public record CopiedFile(String path, byte[] content, long size) {
    public CopiedFile {
        content = content.clone();
    }

    /** A copy of the bytes read: the whole file, unless {@link #truncated()}. */
    @Override
    public byte[] content() {
        return content.clone();
    }

    /** The bytes as UTF-8 text. */
    public String text() {
        return new String(content, java.nio.charset.StandardCharsets.UTF_8);
    }

    /** Whether the file held more than the most that was asked for. */
    public boolean truncated() {
        return size > content.length;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CopiedFile f && f.path.equals(path) && java.util.Arrays.equals(f.content, content)
                && f.size == size;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(path, java.util.Arrays.hashCode(content), size);
    }

    @Override
    public String toString() {
        return "CopiedFile[" + path + ", " + content.length + " of " + size + " bytes]";
    }
}
