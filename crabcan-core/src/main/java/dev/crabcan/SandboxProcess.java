package dev.crabcan;

import dev.crabcan.internal.cgroup.SandboxCgroup;
import dev.crabcan.internal.host.HostIds;
import dev.crabcan.internal.launch.Launcher;
import dev.crabcan.internal.launch.Outcome;
import dev.crabcan.internal.launch.Session;
import dev.crabcan.internal.launch.Watchdog;
import dev.crabcan.internal.launch.IoThreads;
import dev.crabcan.internal.net.NetworkSetup;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

/**
 * A running sandbox, usable wherever a {@link Process} is. {@link #pid()} is the sandbox's init
 * on the host, whose {@linkplain #children() child} is the command. As with the JDK's processes,
 * {@link #destroy()} asks the command to stop (SIGTERM) and {@link #destroyForcibly()} kills every
 * process in the sandbox, including daemons the command left behind; when the command ends, for
 * whatever reason, the kernel kills whatever else is left in the sandbox. {@link #exitValue()}
 * follows the shell's convention (128 + signal); {@link #exitStatus()} keeps an exit code and a
 * signal apart, and {@link #verdict()} says whether a limit ended it.
 *
 * <p>It is {@link AutoCloseable}: {@link #close()} kills what is left, waits for the end and
 * closes the streams, so that try-with-resources leaves nothing behind. A process that is never
 * closed or waited for keeps running until its command ends or the JVM exits.
 *
 * <p>Thread-safe: every method may be called from any thread. {@link #onExit()}'s dependent
 * actions run on a thread of their own, never on one that serves other sandboxes.
 */
public final class SandboxProcess extends Process implements AutoCloseable {
    private static final int SIGKILL = 9, SIGTERM = 15, SIGSTOP = 19;
    private final Sandbox sandbox;
    private final Session session;
    private final SandboxCgroup cgroup;
    private final NetworkSetup net;
    private final HostIds.Lease ids;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final InputStream stderr;
    private final AtomicReference<Verdict> limitKill = new AtomicReference<>();
    private final List<Runnable> stopTimers = new ArrayList<>();
    private final CompletableFuture<Finished> finished;
    private final CompletableFuture<Process> onExit;
    private final long startNanos = System.nanoTime();
    private volatile long endNanos;

    /** The helper's outcome with what the cgroup measured (null without one) and the limit that killed it. */
    record Finished(Outcome outcome, SandboxCgroup.Usage usage, Verdict limitKill) {
        boolean oomKilled() {
            return usage != null && usage.oomKills() > 0;
        }

        Verdict verdict() {
            return Verdict.of(outcome.status(), limitKill, oomKilled());
        }

        /** A result needs the helper's word on how the sandbox ended; a vanished helper is an error. */
        void requireReported() throws SandboxException {
            if (outcome.helperLost() != null) {
                throw new SandboxException(outcome.helperLost());
            }
        }
    }

    private SandboxProcess(Sandbox sandbox, Launcher.Launched launched, SandboxCgroup cgroup, NetworkSetup net,
            HostIds.Lease ids) {
        this.sandbox = sandbox;
        this.session = launched.session();
        this.cgroup = cgroup;
        this.net = net;
        this.ids = ids;
        this.stdin = launched.stdin();
        this.stdout = launched.stdout();
        this.stderr = launched.stderr();
        // Removing a private network runs host tools: not on the monitor thread, which serves every sandbox.
        this.finished = sandbox.network().mode() == Network.Mode.PRIVATE
                ? session.ended().thenApplyAsync(this::finish, IoThreads.pool())
                : session.ended().thenApply(this::finish);
        // As the JDK's: completed on a thread of its own, so that whatever the caller chains to it
        // (even a blocking action) delays no other sandbox.
        this.onExit = finished.thenApplyAsync(f -> this, IoThreads.pool());
    }

    static SandboxProcess awaitStart(Sandbox sandbox, Launcher.Launched launched, SandboxCgroup cgroup,
            NetworkSetup net, HostIds.Lease ids) throws SandboxException {
        SandboxProcess p = new SandboxProcess(sandbox, launched, cgroup, net, ids);
        Session.Start start;
        try {
            if (net.plan().awaitJvm()) {
                p.connectNetwork();
            }
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
            p.startTimers();
            return p;
        }
        p.abandon();
        throw Failures.toException(start, sandbox);
    }

    /** Between the helper's READY and init's release: the namespaces exist, the command does not yet. */
    private void connectNetwork() throws SandboxException, InterruptedException, ExecutionException {
        CompletableFuture.anyOf(session.ready(), session.started()).get();
        if (!session.ready().isDone()) {
            return; // setup failed before the namespaces existed
        }
        try {
            net.attach(session.pid());
        } catch (SandboxSetupException e) {
            abandon();
            throw e;
        }
        session.proceed();
    }

    private void startTimers() {
        Limits limits = sandbox.limits();
        synchronized (stopTimers) {
            limits.wallTime().ifPresent(wall -> {
                var task = Watchdog.wallTime(wall.toNanos(), () -> killForLimit(Verdict.WALL_TIME_LIMIT));
                stopTimers.add(() -> task.cancel(false));
            });
            if (limits.cpuTime().isPresent() && cgroup != null) {
                double parallelism = limits.cpus().orElse(Runtime.getRuntime().availableProcessors());
                var check = Watchdog.cpuTime(limits.cpuTime().get().toNanos(), parallelism, cgroup::cpuNanos,
                        () -> killForLimit(Verdict.CPU_TIME_LIMIT));
                stopTimers.add(check::cancel);
            }
        }
    }

    /** Kills the whole sandbox because a limit was reached; the first limit is the verdict. */
    void killForLimit(Verdict why) {
        if (limitKill.compareAndSet(null, why)) {
            session.kill();
        }
    }

    private Finished finish(Outcome outcome) {
        endNanos = System.nanoTime();
        synchronized (stopTimers) {
            stopTimers.forEach(Runnable::run);
        }
        SandboxCgroup.Usage usage = null;
        if (cgroup != null) {
            usage = cgroup.usage();
            cgroup.remove();
        }
        net.release();
        ids.release();
        return new Finished(outcome, usage, limitKill.get());
    }

    /** Kills what may exist and closes our ends of the pipes, after a failed start (Sandbox.start removes the cgroup). */
    private void abandon() {
        session.kill();
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
            finished.get(timeout, unit);
            return true;
        } catch (TimeoutException e) {
            return false;
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    /** Waits for the command to end and says how it ended. */
    public ExitStatus waitForStatus() throws InterruptedException {
        return finishedWhenDone().outcome().status();
    }

    /** How the command ended; throws {@link IllegalThreadStateException} while it runs. */
    public ExitStatus exitStatus() {
        return finishedNow().outcome().status();
    }

    /** Why it ended, limits included (see {@link Verdict}); throws {@link IllegalThreadStateException} while it runs. */
    public Verdict verdict() {
        return finishedNow().verdict();
    }

    /**
     * Waits for the end and returns the result, with the wall time from {@link Sandbox#start()}.
     * Its captured output is empty: this process's streams are the caller's to read.
     *
     * @throws SandboxException the helper died without saying how the sandbox ended (its
     *     processes are gone; {@link #waitFor()} reports SIGKILL)
     */
    public SandboxResult result() throws SandboxException, InterruptedException {
        Finished f = finishedWhenDone();
        f.requireReported();
        return new SandboxResult(f, new byte[0], false, new byte[0], false,
                java.time.Duration.ofNanos(endNanos - startNanos));
    }

    @Override
    public int exitValue() {
        return exitStatus().shellCode();
    }

    @Override
    public boolean isAlive() {
        return !finished.isDone();
    }

    /**
     * Asks the command to stop: sends it SIGTERM, which it may handle (to clean up) or ignore.
     * When it ends, everything else in the sandbox is killed. A no-op after the end.
     */
    @Override
    public void destroy() {
        session.signal(SIGTERM);
    }

    /** Kills every process of the sandbox at once (SIGKILL). Idempotent, also after the sandbox ended. */
    @Override
    public SandboxProcess destroyForcibly() {
        session.kill();
        return this;
    }

    /** True: {@link #destroy()} sends SIGTERM, which the command may handle. */
    @Override
    public boolean supportsNormalTermination() {
        return true;
    }

    /**
     * Sends a signal to the command (not to the other processes of the sandbox), e.g. 1 (SIGHUP)
     * to reload or 10 (SIGUSR1). A no-op after the end.
     *
     * @throws IllegalArgumentException the signal is not between 1 and 31 (use {@link
     *     #destroyForcibly()} to kill)
     */
    public void signal(int signal) {
        if (signal == SIGKILL || signal == SIGSTOP) {
            throw new IllegalArgumentException("signal " + signal + " cannot be forwarded to the command; "
                    + (signal == SIGKILL ? "destroyForcibly() kills the sandbox" : "it would stop init's forwarding"));
        }
        session.signal(signal);
    }

    /** Kills whatever is left of the sandbox, waits for its end and closes the streams. Idempotent. */
    @Override
    public void close() {
        destroyForcibly();
        boolean interrupted = false;
        while (true) {
            try {
                finished.get();
                break;
            } catch (InterruptedException e) {
                interrupted = true;
            } catch (ExecutionException e) {
                break; // the end was recorded as a failure; nothing more to wait for
            }
        }
        for (java.io.Closeable c : new java.io.Closeable[] {stdin, stdout, stderr}) {
            try {
                c.close();
            } catch (IOException e) {
                // Closing our end of a pipe of a sandbox that is gone loses nothing.
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public long pid() {
        return session.pid();
    }

    /**
     * The sandbox's init as the host sees it: its {@link ProcessHandle#children() children} are the
     * command (and orphans it left), its descendants every process of the sandbox; {@link #info()},
     * {@link #children()} and {@link #descendants()} come from it.
     *
     * @throws IllegalStateException the sandbox has ended, so its pid may belong to another process
     */
    @Override
    public ProcessHandle toHandle() {
        ProcessHandle h = isAlive() ? ProcessHandle.of(pid()).orElse(null) : null;
        if (h == null || !isAlive()) {
            throw new IllegalStateException("the sandbox (init pid " + pid() + ") has ended; its processes are gone");
        }
        return h;
    }

    @Override
    public CompletableFuture<Process> onExit() {
        return onExit;
    }

    Finished finishedWhenDone() throws InterruptedException {
        try {
            return finished.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        }
    }

    private Finished finishedNow() {
        if (!finished.isDone()) {
            throw new IllegalThreadStateException("the sandbox is still running");
        }
        return finished.join();
    }

    @Override
    public String toString() {
        return "SandboxProcess[pid " + pid() + ", " + (isAlive() ? "running" : exitStatus()) + "]";
    }
}
