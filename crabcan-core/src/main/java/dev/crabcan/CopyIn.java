package dev.crabcan;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;

/**
 * A file put into the sandbox before its command starts, without a host directory for the run
 * (go-judge's copy-in): the caller's bytes, or a host file's. Its target lies in a {@link Tmpfs}
 * of the sandbox, whose size is then the run's disk quota; the file belongs to the command's
 * user, with {@link #mode()}. A {@linkplain #readOnly() read-only} one is bound read-only onto
 * itself, so the command can read it but neither change, chmod nor remove it. See {@link
 * Sandbox.Builder#copyIn(CopyIn)}.
 *
 * <p>Immutable and thread-safe (the bytes are copied in and out).
 */
public final class CopyIn {
    private final String target;
    private final byte[] content;
    private final Path hostFile;
    private final int mode;
    private final boolean readOnly;

    private CopyIn(String target, byte[] content, Path hostFile, int mode, boolean readOnly) {
        Validation.containerPath(Validation.notNull(target, "copy-in target"), "copy-in target");
        if (target.equals("/") || target.endsWith("/")) {
            throw new SandboxSpecException("copy-in target " + target + " must name a file, not a directory");
        }
        if (mode < 0 || mode > 0777) {
            throw new SandboxSpecException("copy-in mode must be between 0 and 0777, got " + Integer.toOctalString(mode)
                    + " for " + target);
        }
        this.target = Validation.normalize(target);
        this.content = content;
        this.hostFile = hostFile;
        this.mode = mode;
        this.readOnly = readOnly;
    }

    /** These bytes at {@code target}, writable by the command, mode 0644. */
    public static CopyIn bytes(String target, byte[] content) {
        return new CopyIn(target, Validation.notNull(content, "copy-in bytes for " + target).clone(), null, 0644, false);
    }

    /**
     * The host file's bytes at {@code target}, writable by the command, mode 0644. The file is read
     * when the sandbox starts, with this JVM's ids, following no symbolic link on its path (as
     * stdio files are: one a sandbox planted would otherwise send the read anywhere); it must be a
     * regular file.
     */
    public static CopyIn file(String target, Path hostFile) {
        return new CopyIn(target, null, Validation.notNull(hostFile, "copy-in host file for " + target)
                .toAbsolutePath().normalize(), 0644, false);
    }

    /** This file with these permissions (e.g. 0755 for a program to run). */
    public CopyIn mode(int newMode) {
        return new CopyIn(target, content, hostFile, newMode, readOnly);
    }

    /** This file, read-only for the command (mode 0444 unless one was set). */
    public CopyIn readOnly() {
        return new CopyIn(target, content, hostFile, mode == 0644 ? 0444 : mode, true);
    }

    public String target() {
        return target;
    }

    /** A copy of the bytes; null for a host file. */
    public byte[] content() {
        return content == null ? null : content.clone();
    }

    /** The host file; null for bytes. */
    public Path hostFile() {
        return hostFile;
    }

    public int mode() {
        return mode;
    }

    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof CopyIn c && c.target.equals(target) && Arrays.equals(c.content, content)
                && Objects.equals(c.hostFile, hostFile) && c.mode == mode && c.readOnly == readOnly;
    }

    @Override
    public int hashCode() {
        return Objects.hash(target, Arrays.hashCode(content), hostFile, mode, readOnly);
    }

    @Override
    public String toString() {
        return "CopyIn[" + target + " from " + (content != null ? content.length + " bytes" : hostFile) + ", mode "
                + Integer.toOctalString(mode) + (readOnly ? ", read-only" : "") + "]";
    }
}
