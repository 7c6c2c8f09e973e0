package dev.crabcan.internal.launch;

import dev.crabcan.Stdio;
import dev.crabcan.internal.plan.PlanCompiler.StdioSource;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The sandbox's stdio when the JVM did not create the helper process: the helper makes the
 * pipes and reports which of its fds are the JVM's ends; the JVM opens those through
 * /proc/HELPER-PID/fd/N (the same pipe, no descriptor passing or native call needed) as
 * ordinary streams. INHERIT keeps the helper's own descriptors, which are the JVM's.
 */
final class StdioPipes {
    private static final int O_RDONLY = 0, O_WRONLY = 01, O_CREAT = 0100, O_TRUNC = 01000, O_APPEND = 02000;
    /**
     * Files are opened by the helper with the caller's host ids: a FIFO that a sandbox planted at
     * the path must not hang that open, and no link on it may redirect it (see {@link #unlinked}).
     */
    private static final int FILE_SAFETY = 0400000 /* O_NOFOLLOW */ | 04000 /* O_NONBLOCK */;

    final List<StdioSource> sources = new ArrayList<>();
    OutputStream stdin = OutputStream.nullOutputStream();
    InputStream stdout = InputStream.nullInputStream();
    InputStream stderr = InputStream.nullInputStream();
    private final boolean[] piped = new boolean[3];

    /** Decides where each fd comes from; pipes are opened later, from what the helper reports. */
    static StdioPipes plan(Stdio in, Stdio out, Stdio err) {
        StdioPipes p = new StdioPipes();
        p.input(in);
        p.output(1, out);
        p.output(2, err);
        return p;
    }

    boolean hasPipes() {
        return piped[0] || piped[1] || piped[2];
    }

    private void input(Stdio s) {
        switch (s.kind()) {
            case PIPE, BYTES -> pipe(0);
            case INHERIT -> sources.add(StdioSource.inherit(0));
            case DISCARD -> sources.add(StdioSource.file(0, O_RDONLY, 0, "/dev/null"));
            case READ_FILE -> sources.add(StdioSource.file(0, O_RDONLY | FILE_SAFETY, 0, unlinked(s.file())));
            case FROM_SANDBOX_PIPE -> sources.add(StdioSource.passed(0));
            default -> throw new IllegalArgumentException("not an input: " + s);
        }
    }

    private void output(int fd, Stdio s) {
        switch (s.kind()) {
            case PIPE -> pipe(fd);
            case INHERIT -> sources.add(StdioSource.inherit(fd));
            case DISCARD -> sources.add(StdioSource.file(fd, O_WRONLY, 0, "/dev/null"));
            case WRITE_FILE -> sources.add(StdioSource.file(fd, O_WRONLY | O_CREAT | O_TRUNC | FILE_SAFETY, 0666,
                    unlinked(s.file())));
            case APPEND_FILE -> sources.add(StdioSource.file(fd, O_WRONLY | O_CREAT | O_APPEND | FILE_SAFETY, 0666,
                    unlinked(s.file())));
            case TO_STDOUT -> sources.add(StdioSource.stderrToStdout());
            case TO_SANDBOX_PIPE -> sources.add(StdioSource.passed(fd));
            default -> throw new IllegalArgumentException("not an output: " + s);
        }
    }

    /**
     * The file's path, which must name no symbolic link: the helper opens it with the caller's
     * host ids (root's, for a root caller) and follows no link, so that one a sandbox planted in a
     * directory it can write (a root caller's sandbox makes root-owned links there) cannot send
     * that open anywhere else on the host. Refused here too, to say which link and what to give.
     */
    private static String unlinked(java.nio.file.Path file) {
        java.nio.file.Path abs = file.toAbsolutePath().normalize();
        java.nio.file.Path dir = abs.getParent();
        java.nio.file.Path real;
        try {
            real = dir.toRealPath();
        } catch (IOException e) {
            throw new dev.crabcan.SandboxSpecException("the directory " + dir + " of the stdio file " + abs
                    + " cannot be resolved (" + e + "); it must exist");
        }
        if (!real.equals(dir)) {
            throw new dev.crabcan.SandboxSpecException("the stdio file " + abs + " lies below a symbolic link ("
                    + dir + " is " + real + "), which Crabcan does not follow for stdio files: a sandbox could "
                    + "have planted it; give the real path " + real.resolve(abs.getFileName()));
        }
        return abs.toString();
    }

    private void pipe(int fd) {
        piped[fd] = true;
        sources.add(StdioSource.pipe(fd));
    }

    /**
     * Opens the JVM's ends from the helper's PIPES report (its pid, then its fd for each of 0, 1,
     * 2). Reads are buffered as for the JDK's own process streams, which also keeps
     * FileInputStream.readAllBytes from seeking on a pipe (Java 17 fails with "Illegal seek").
     */
    void open(Report pipes) throws IOException {
        String fds = "/proc/" + pipes.longField(0) + "/fd/";
        if (piped[0]) {
            stdin = new FileOutputStream(fds + pipes.intField(1));
        }
        if (piped[1]) {
            stdout = new DrainingInput(new FileInputStream(fds + pipes.intField(2)));
        }
        if (piped[2]) {
            stderr = new DrainingInput(new FileInputStream(fds + pipes.intField(3)));
        }
    }

    /**
     * Once the sandbox has ended, like the JDK's own process streams: what is left in the pipe
     * is read into memory and the pipe is closed, so that a caller who never reads or closes a
     * stream does not hold a file descriptor until the next garbage collection. The sandbox is
     * gone, so nothing more can arrive.
     */
    void sandboxEnded() {
        for (InputStream in : new InputStream[] {stdout, stderr}) {
            if (in instanceof DrainingInput d) {
                d.drainAndClose();
            }
        }
        try {
            stdin.close();
        } catch (IOException ignored) {
            // Nobody is left to read it.
        }
    }

    /** A buffered pipe that can swap itself for what was left in it. */
    private static final class DrainingInput extends java.io.BufferedInputStream {
        DrainingInput(InputStream in) {
            super(in);
        }

        synchronized void drainAndClose() {
            if (in == null || !(in instanceof FileInputStream)) {
                return;
            }
            try {
                // The writers are gone, so this ends at once. (Not readAllBytes: Java 17 seeks the pipe.)
                java.io.ByteArrayOutputStream rest = new java.io.ByteArrayOutputStream();
                in.transferTo(rest);
                in.close();
                in = new java.io.ByteArrayInputStream(rest.toByteArray());
            } catch (IOException e) {
                // Closed by the caller meanwhile.
            }
        }
    }

    /** Closes the pipe ends; the sandbox, if it still runs, gets none of its streams. */
    void closeAll() {
        for (java.io.Closeable c : new java.io.Closeable[] {stdin, stdout, stderr}) {
            try {
                c.close();
            } catch (IOException ignored) {
                // A pipe end we no longer need.
            }
        }
        stdin = OutputStream.nullOutputStream();
        stdout = InputStream.nullInputStream();
        stderr = InputStream.nullInputStream();
    }
}
