package dev.crabcan;

import java.nio.file.Path;
import java.util.Objects;

/**
 * Where one of the sandbox's standard streams comes from or goes to. Like
 * {@link ProcessBuilder.Redirect}, plus {@link #bytes(byte[])} for stdin.
 *
 * <p>Immutable and thread-safe (the stdin bytes are copied in and out).
 */
public final class Stdio {
    /**
     * How the stream is connected.
     *
     * <p>Immutable and thread-safe.
     */
    public enum Kind {
        PIPE, INHERIT, DISCARD, READ_FILE, WRITE_FILE, APPEND_FILE, BYTES, TO_STDOUT,
        /** Stdin reads the read end of a {@link SandboxPipe}. */
        FROM_SANDBOX_PIPE,
        /** Output goes into the write end of a {@link SandboxPipe}. */
        TO_SANDBOX_PIPE
    }

    private static final Stdio PIPE = new Stdio(Kind.PIPE, null, null);
    private static final Stdio INHERIT = new Stdio(Kind.INHERIT, null, null);
    private static final Stdio DISCARD = new Stdio(Kind.DISCARD, null, null);
    private static final Stdio TO_STDOUT = new Stdio(Kind.TO_STDOUT, null, null);

    private final Kind kind;
    private final Path file;
    private final byte[] bytes;
    private final SandboxPipe.End pipeEnd;

    private Stdio(Kind kind, Path file, byte[] bytes) {
        this(kind, file, bytes, null);
    }

    private Stdio(Kind kind, Path file, byte[] bytes, SandboxPipe.End pipeEnd) {
        this.kind = kind;
        this.file = file;
        this.bytes = bytes;
        this.pipeEnd = pipeEnd;
    }

    /** A pipe to or from the Java side: {@link SandboxProcess#getInputStream()} and friends. The default. */
    public static Stdio pipe() {
        return PIPE;
    }

    /** The JVM's own stream. */
    public static Stdio inherit() {
        return INHERIT;
    }

    /** Output is thrown away; input is empty. */
    public static Stdio discard() {
        return DISCARD;
    }

    /**
     * For stderr only: the same as stdout, wherever stdout goes (fd 2 is a copy of fd 1), so that
     * the two are one stream in the order the command wrote them, as with
     * {@link ProcessBuilder#redirectErrorStream(boolean)} or a shell's {@code 2>&1}. The
     * {@linkplain SandboxProcess#getErrorStream() error stream} is then empty.
     */
    public static Stdio toStdout() {
        return TO_STDOUT;
    }

    /** Stdin read from a host file. */
    public static Stdio readFrom(Path file) {
        return new Stdio(Kind.READ_FILE, Validation.notNull(file, "stdin file"), null);
    }

    /**
     * Stdin read from the read end of a pipe to another sandbox, made below this JVM: the bytes
     * never pass through it. See {@link SandboxPipe} for the end of file and limits.
     */
    public static Stdio from(SandboxPipe pipe) {
        return new Stdio(Kind.FROM_SANDBOX_PIPE, null, null, Validation.notNull(pipe, "pipe").readEnd());
    }

    /**
     * Output written into the write end of a pipe to another sandbox, made below this JVM: the
     * bytes never pass through it, so {@link Limits#outputBytes()} does not apply. See {@link
     * SandboxPipe}.
     */
    public static Stdio to(SandboxPipe pipe) {
        return new Stdio(Kind.TO_SANDBOX_PIPE, null, null, Validation.notNull(pipe, "pipe").writeEnd());
    }

    /**
     * Output written to a host file, replacing its contents. A FIFO works only if something already
     * has it open for reading (the file is opened without blocking, so that one planted at the path
     * cannot hang the start; with no reader the start fails with ENXIO): to connect two sandboxes,
     * use {@link #to(SandboxPipe)} and {@link #from(SandboxPipe)}.
     */
    public static Stdio writeTo(Path file) {
        return new Stdio(Kind.WRITE_FILE, Validation.notNull(file, "output file"), null);
    }

    /** Output appended to a host file. */
    public static Stdio appendTo(Path file) {
        return new Stdio(Kind.APPEND_FILE, Validation.notNull(file, "output file"), null);
    }

    /** Stdin fed from these bytes, then closed. */
    public static Stdio bytes(byte[] input) {
        return new Stdio(Kind.BYTES, null, Validation.notNull(input, "stdin bytes").clone());
    }

    public Kind kind() {
        return kind;
    }

    /** The host file, for the file kinds; null otherwise. */
    public Path file() {
        return file;
    }

    /** A copy of the stdin bytes, for {@link Kind#BYTES}; null otherwise. */
    public byte[] bytes() {
        return bytes == null ? null : bytes.clone();
    }

    /** The pipe's end, for {@link Kind#FROM_SANDBOX_PIPE} and {@link Kind#TO_SANDBOX_PIPE}; null otherwise. */
    public SandboxPipe.End pipeEnd() {
        return pipeEnd;
    }

    boolean isInput() {
        return kind != Kind.WRITE_FILE && kind != Kind.APPEND_FILE && kind != Kind.TO_STDOUT
                && kind != Kind.TO_SANDBOX_PIPE;
    }

    boolean isOutput() {
        return kind != Kind.READ_FILE && kind != Kind.BYTES && kind != Kind.FROM_SANDBOX_PIPE;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Stdio s && s.kind == kind && Objects.equals(s.file, file)
                && java.util.Arrays.equals(s.bytes, bytes) && s.pipeEnd == pipeEnd;
    }

    @Override
    public int hashCode() {
        return Objects.hash(kind, file, java.util.Arrays.hashCode(bytes), pipeEnd);
    }

    @Override
    public String toString() {
        return switch (kind) {
            case READ_FILE, WRITE_FILE, APPEND_FILE -> kind + "(" + file + ")";
            case FROM_SANDBOX_PIPE, TO_SANDBOX_PIPE -> kind + "(" + pipeEnd.pipe() + ")";
            case BYTES -> "BYTES(" + bytes.length + " bytes)";
            default -> kind.toString();
        };
    }
}
