package dev.crabcan;

/**
 * How a mount updates access times: mount(8)'s {@code relatime}, {@code noatime},
 * {@code strictatime} and {@code nodiratime}.
 *
 * <p>Immutable and thread-safe.
 *
 * @param mode when a file's access time is updated
 * @param noDirAtime whether directories' access times are never updated
 */
public record Atime(Mode mode, boolean noDirAtime) {
    /**
     * When a file's access time is updated.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Mode {
        /** What the mount gets unasked: the kernel's relatime for a new file system, its source's for a bind. */
        DEFAULT,
        /** On access only when older than the last change or than a day. */
        RELATIME,
        /** Never. */
        NOATIME,
        /** On every access. */
        STRICTATIME
    }

    /** Nothing asked: {@link Mode#DEFAULT}, directories as files. */
    public static final Atime DEFAULT = new Atime(Mode.DEFAULT, false);

    public Atime {
        Validation.notNull(mode, "atime mode");
    }
}
