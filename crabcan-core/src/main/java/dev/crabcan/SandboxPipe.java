package dev.crabcan;

import dev.crabcan.internal.sys.LibC;
import dev.crabcan.internal.sys.OwnedFd;
import java.util.concurrent.atomic.AtomicLong;

/**
 * An OS pipe that connects sandboxes directly: what one sandbox writes into its write end,
 * another reads from its read end, and the bytes never pass through this JVM (no relay thread,
 * no copy). For an interactive problem, the interactor's stdout is the solution's stdin and the
 * solution's stdout the interactor's stdin:
 *
 * <pre>{@code
 * try (SandboxPipe toSolution = SandboxPipe.create(); SandboxPipe toInteractor = SandboxPipe.create()) {
 *     SandboxProcess interactor = judge.toBuilder().stdin(Stdio.from(toInteractor)).stdout(Stdio.to(toSolution))
 *             .build().start();
 *     SandboxProcess solution = submission.toBuilder().stdin(Stdio.from(toSolution)).stdout(Stdio.to(toInteractor))
 *             .build().start();
 *     ... solution.result(), interactor.result()
 * }
 * }</pre>
 *
 * Either end can also be given at any other fd number ({@link Sandbox.Builder#passFd(int, End)}),
 * as go-judge's pipe mapping does.
 *
 * <p><b>Each end goes to one start.</b> {@link Sandbox#start()} hands the ends its sandbox uses
 * to the sandbox's helper and closes this JVM's copies as soon as the helper holds its own,
 * whether the start succeeds or not; a second start with the same end throws a {@link
 * SandboxSpecException}. So once both ends have been handed over, only sandboxes hold the pipe:
 * a reader sees the end of file as soon as every sandbox that writes to it has ended, and a
 * writer whose readers have all ended gets SIGPIPE (verdict {@link Verdict#SIGNALED}, signal 13)
 * or, if it ignores that signal, EPIPE, as in a shell pipeline. An end may be used at several fds
 * of the one sandbox (stdout and stderr, say). {@link #close()} closes the ends no start took.
 *
 * <p><b>Limits.</b> {@link Limits#outputBytes()} does not apply to a stream that goes into a
 * pipe: this JVM never sees those bytes, and no file-size limit applies to a pipe. What bounds
 * a writer is its reader: once the pipe's buffer (64 KiB) is full, a write blocks until the
 * reader reads, so a sandbox whose reader stops reading ends at its own time limits.
 *
 * <p>Thread-safe. Not a value: two pipes are equal only if they are the same pipe. Making one
 * loads native bindings (jffi), as {@link Sandbox.Builder#passFd(int, java.nio.channels.Channel)} does.
 */
public final class SandboxPipe implements AutoCloseable {
    private static final AtomicLong NEXT = new AtomicLong();

    private final long number;
    private final End read;
    private final End write;

    private SandboxPipe(long number, int readFd, int writeFd) {
        this.number = number;
        this.read = new End(this, false, new OwnedFd(readFd, "the read end of " + this));
        this.write = new End(this, true, new OwnedFd(writeFd, "the write end of " + this));
    }

    /**
     * A new pipe (pipe2, close-on-exec: no process this JVM starts inherits it).
     *
     * @throws SandboxException the kernel refused (out of file descriptors, say)
     */
    public static SandboxPipe create() throws SandboxException {
        int[] fds;
        try {
            fds = LibC.pipe();
        } catch (java.io.IOException e) {
            throw new SandboxException("cannot make a pipe for sandboxes: " + e.getMessage(), e);
        } catch (LinkageError e) {
            throw new SandboxException("a SandboxPipe needs native calls, which this JVM cannot make (" + e
                    + "): is jffi (com.github.jnr:jffi and its native classifier) on the class or module path?", e);
        }
        return new SandboxPipe(NEXT.incrementAndGet(), fds[0], fds[1]);
    }

    /** The end a sandbox reads from: {@link Stdio#from(SandboxPipe)}, or {@code passFd(fd, pipe.readEnd())}. */
    public End readEnd() {
        return read;
    }

    /** The end a sandbox writes into: {@link Stdio#to(SandboxPipe)}, or {@code passFd(fd, pipe.writeEnd())}. */
    public End writeEnd() {
        return write;
    }

    /** Closes the ends that no start has taken. Idempotent; sandboxes that hold an end keep it. */
    @Override
    public void close() {
        read.fd.close();
        write.fd.close();
    }

    @Override
    public String toString() {
        return "SandboxPipe#" + number;
    }

    /**
     * One end of a {@link SandboxPipe}, handed to the one sandbox start that uses it.
     *
     * <p>Thread-safe; equal only to itself.
     */
    public static final class End {
        private final SandboxPipe pipe;
        private final boolean writes;
        final OwnedFd fd;

        private End(SandboxPipe pipe, boolean writes, OwnedFd fd) {
            this.pipe = pipe;
            this.writes = writes;
            this.fd = fd;
        }

        public SandboxPipe pipe() {
            return pipe;
        }

        /** Whether the sandbox writes into this end (else it reads from it). */
        public boolean isWriteEnd() {
            return writes;
        }

        /** Whether this JVM still holds it, so that a start can take it. */
        public boolean isAvailable() {
            return fd.isOpen();
        }

        @Override
        public String toString() {
            return fd.toString();
        }
    }
}
