package dev.crabcan;

import dev.crabcan.internal.launch.Launcher;
import dev.crabcan.internal.launch.Outcome;
import dev.crabcan.internal.launch.Session;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * A running sandbox, usable wherever a {@link Process} is. {@link #pid()} is the sandbox's init
 * on the host; {@link #destroy()} kills every process in the sandbox, including daemons the
 * command left behind. {@link #exitValue()} follows the shell's convention (128 + signal);
 * {@link #exitStatus()} keeps an exit code and a signal apart.
 */
public final class SandboxProcess extends Process {
    private final Sandbox sandbox;
    private final Session session;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final InputStream stderr;
    private final CompletableFuture<Process> onExit;

    private SandboxProcess(Sandbox sandbox, Launcher.Launched launched) {
        this.sandbox = sandbox;
        this.session = launched.session();
        this.stdin = launched.stdin();
        this.stdout = launched.stdout();
        this.stderr = launched.stderr();
        this.onExit = session.ended().thenApply(o -> this);
    }

    static SandboxProcess awaitStart(Sandbox sandbox, Launcher.Launched launched) throws SandboxException {
        SandboxProcess p = new SandboxProcess(sandbox, launched);
        Session.Start start;
        try {
            start = p.session.started().get();
        } catch (InterruptedException e) {
            p.abandon();
            Thread.currentThread().interrupt();
            throw new SandboxException("interrupted while the sandbox was starting; it has been killed");
        } catch (ExecutionException e) {
            p.abandon();
            throw new SandboxException("the sandbox failed to start: " + e.getCause(), e.getCause());
        }
        if (start instanceof Session.Executed) {
            return p;
        }
        p.abandon();
        throw Failures.toException(start, sandbox);
    }

    /** Kills what may exist and closes our ends of the pipes, after a failed start. */
    private void abandon() {
        destroy();
        for (java.io.Closeable c : new java.io.Closeable[] {stdin, stdout, stderr}) {
            try {
                c.close();
            } catch (IOException ignored) {
                // Nothing to save: the sandbox never ran.
            }
        }
    }

    /** The sandbox this process runs. */
    public Sandbox sandbox() {
        return sandbox;
    }

    @Override
    public OutputStream getOutputStream() {
        return stdin;
    }

    @Override
    public InputStream getInputStream() {
        return stdout;
    }

    @Override
    public InputStream getErrorStream() {
        return stderr;
    }

    @Override
    public int waitFor() throws InterruptedException {
        return waitForStatus().shellCode();
    }

    @Override
    public boolean waitFor(long timeout, TimeUnit unit) throws InterruptedException {
        try {
            session.ended().get(timeout, unit);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Waits for the command to end and says how it ended. */
    public ExitStatus waitForStatus() throws InterruptedException {
        return outcomeWhenDone().status();
    }

    /** How the command ended; throws {@link IllegalThreadStateException} while it runs. */
    public ExitStatus exitStatus() {
        if (!session.ended().isDone()) {
            throw new IllegalThreadStateException("the sandbox is still running");
        }
        return outcome().status();
    }

    @Override
    public int exitValue() {
        return exitStatus().shellCode();
    }

    @Override
    public boolean isAlive() {
        return !session.ended().isDone();
    }

    /** Kills every process of the sandbox. Idempotent, also after the sandbox ended. */
    @Override
    public void destroy() {
        session.kill();
    }

    @Override
    public SandboxProcess destroyForcibly() {
        session.kill();
        return this;
    }

    /** False: the sandbox is always killed with SIGKILL, every process at once. */
    @Override
    public boolean supportsNormalTermination() {
        return false;
    }

    @Override
    public long pid() {
        return session.pid();
    }

    @Override
    public CompletableFuture<Process> onExit() {
        return onExit;
    }

    Outcome outcome() {
        return session.ended().join();
    }

    private Outcome outcomeWhenDone() throws InterruptedException {
        try {
            return session.ended().get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    @Override
    public String toString() {
        return "SandboxProcess[pid " + pid() + ", " + (isAlive() ? "running" : exitStatus()) + "]";
    }
}
