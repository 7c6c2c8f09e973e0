package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.Stdio;
import dev.crabcan.internal.host.LibC;
import dev.crabcan.internal.plan.PlanCompiler.StdioSource;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;

/**
 * The sandbox's stdio when the JVM did not create the helper process: pipes made here with
 * pipe2(), whose sandbox ends the helper opens through /proc/JVM-PID/fd/N (the same pipe, no
 * descriptor passing needed), while the JVM keeps the other ends as ordinary streams opened
 * through /proc/self/fd/N. INHERIT keeps the helper's own descriptors, which are the JVM's.
 */
final class StdioPipes {
    private static final int O_RDONLY = 0, O_WRONLY = 01, O_CREAT = 0100, O_TRUNC = 01000, O_APPEND = 02000;
    /**
     * Files are opened by the helper with the caller's host ids: a symbolic link or a FIFO that a
     * sandbox planted at the path must not redirect or hang that open. (A directory on the path
     * that a sandbox can write remains the caller's risk; see README.)
     */
    private static final int FILE_SAFETY = 0400000 /* O_NOFOLLOW */ | 04000 /* O_NONBLOCK */;
    private static final long JVM_PID = ProcessHandle.current().pid();

    final List<StdioSource> sources = new ArrayList<>();
    OutputStream stdin = OutputStream.nullOutputStream();
    InputStream stdout = InputStream.nullInputStream();
    InputStream stderr = InputStream.nullInputStream();
    /** The raw pipe ends the helper opens; closed once it has. */
    private final List<Integer> sandboxEnds = new ArrayList<>();

    static StdioPipes open(Stdio in, Stdio out, Stdio err) throws SandboxException {
        StdioPipes p = new StdioPipes();
        try {
            p.stdin = p.input(in);
            p.stdout = p.output(1, out);
            p.stderr = p.output(2, err);
            return p;
        } catch (IOException | RuntimeException e) {
            p.closeAll();
            throw new SandboxException("cannot create the sandbox's stdio pipes: " + e, e);
        }
    }

    private OutputStream input(Stdio s) throws IOException {
        switch (s.kind()) {
            case PIPE, BYTES -> {
                int[] fds = pipe();
                sandboxEnds.add(fds[0]);
                sources.add(new StdioSource(0, O_RDONLY, 0, "/proc/" + JVM_PID + "/fd/" + fds[0]));
                return (OutputStream) jvmEnd(fds[1], false);
            }
            case INHERIT -> sources.add(new StdioSource(0, 0, 0, null));
            case DISCARD -> sources.add(new StdioSource(0, O_RDONLY, 0, "/dev/null"));
            case READ_FILE -> sources.add(new StdioSource(0, O_RDONLY | FILE_SAFETY, 0,
                    s.file().toAbsolutePath().toString()));
            default -> throw new IllegalArgumentException("not an input: " + s);
        }
        return OutputStream.nullOutputStream();
    }

    private InputStream output(int fd, Stdio s) throws IOException {
        switch (s.kind()) {
            case PIPE -> {
                int[] fds = pipe();
                sandboxEnds.add(fds[1]);
                sources.add(new StdioSource(fd, O_WRONLY, 0, "/proc/" + JVM_PID + "/fd/" + fds[1]));
                return (InputStream) jvmEnd(fds[0], true);
            }
            case INHERIT -> sources.add(new StdioSource(fd, 0, 0, null));
            case DISCARD -> sources.add(new StdioSource(fd, O_WRONLY, 0, "/dev/null"));
            case WRITE_FILE -> sources.add(new StdioSource(fd, O_WRONLY | O_CREAT | O_TRUNC | FILE_SAFETY, 0666,
                    s.file().toAbsolutePath().toString()));
            case APPEND_FILE -> sources.add(new StdioSource(fd, O_WRONLY | O_CREAT | O_APPEND | FILE_SAFETY, 0666,
                    s.file().toAbsolutePath().toString()));
            default -> throw new IllegalArgumentException("not an output: " + s);
        }
        return InputStream.nullInputStream();
    }

    private static int[] pipe() throws IOException {
        int[] fds = new int[2];
        if (LibC.INSTANCE.pipe2(fds, LibC.O_CLOEXEC) != 0) {
            throw new IOException("pipe2 failed");
        }
        return fds;
    }

    /**
     * A Java stream on our end of the pipe, opened afresh through /proc so the JDK owns it.
     * Reads are buffered as for the JDK's own process streams, which also keeps
     * FileInputStream.readAllBytes from seeking on a pipe (Java 17 fails with "Illegal seek").
     */
    private static java.io.Closeable jvmEnd(int fd, boolean read) throws IOException {
        try {
            String path = "/proc/self/fd/" + fd;
            return read ? new DrainingInput(new FileInputStream(path)) : new FileOutputStream(path);
        } finally {
            LibC.INSTANCE.close(fd);
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

    /** Closes the pipe ends meant for the sandbox, once the helper has its own. */
    void closeSandboxEnds() {
        synchronized (sandboxEnds) {
            // A loop, not forEach(LibC.INSTANCE::close): without pipes the bindings are never loaded.
            for (int fd : sandboxEnds) {
                LibC.INSTANCE.close(fd);
            }
            sandboxEnds.clear();
        }
    }

    void closeAll() {
        closeSandboxEnds();
        for (java.io.Closeable c : new java.io.Closeable[] {stdin, stdout, stderr}) {
            try {
                c.close();
            } catch (IOException ignored) {
                // A pipe end we no longer need.
            }
        }
    }
}
