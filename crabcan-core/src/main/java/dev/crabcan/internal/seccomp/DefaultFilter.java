package dev.crabcan.internal.seccomp;

import dev.crabcan.SeccompPolicy;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The default policy's BPF program. Compiling it costs a fresh JVM about 45 ms, paid by its
 * first sandbox, so the build compiles it once ({@link #main}) into a resource next to this class.
 */
public final class DefaultFilter {
    static final String RESOURCE = "default-filter.bpf";

    private DefaultFilter() {}

    /** The program, from the build's resource; compiled here only where the resource is missing (an IDE build). */
    public static byte[] load() {
        try (InputStream in = DefaultFilter.class.getResourceAsStream(RESOURCE)) {
            return in != null ? in.readAllBytes() : BpfCompiler.compile(SeccompPolicy.defaultPolicy());
        } catch (IOException e) {
            throw new UncheckedIOException("reading the built-in seccomp program " + RESOURCE, e);
        }
    }

    /** Run by the build (process-classes): writes the program to the directory given. */
    public static void main(String[] args) throws IOException {
        Path dir = Path.of(args[0], DefaultFilter.class.getPackageName().replace('.', '/'));
        Files.createDirectories(dir);
        Files.write(dir.resolve(RESOURCE), BpfCompiler.compile(SeccompPolicy.defaultPolicy()));
    }
}
