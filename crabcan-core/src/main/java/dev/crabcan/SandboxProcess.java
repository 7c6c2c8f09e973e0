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
import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;

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
 * closes the streams, so that try-with-resources leaves nothing behind.
 *
 * <p>A process nobody references any more is finished by a {@link java.lang.ref.Cleaner}: once
 * the garbage collector has found it unreachable (at an unspecified time, possibly never if no
 * collection runs), its sandbox is killed as by {@link #destroyForcibly()}, the JVM's ends of its
 * pipes are closed, and its cgroup, network and host ids are released when its end is reported, as
 * after any end; a warning is logged if it was still running. The process is referenced for as
 * long as the caller holds it, one of its streams, or a pending {@link #onExit()} future, and while
 * a thread waits in {@link #waitFor()}, {@link #waitForStatus()} or {@link #result()}: so keep one
 * of those for as long as the command should run. An unreferenced process whose command already
 * ended only has its pipes closed.
 *
 * <p>Thread-safe: every method may be called from any thread. {@link #onExit()}'s dependent
 * actions run on a thread of their own, never on one that serves other sandboxes.
 */
public final class SandboxProcess extends Process implements AutoCloseable {
    private static final int SIGKILL = 9, SIGTERM = 15, SIGSTOP = 19, SIGXCPU = 24, SIGXFSZ = 25;
    /** How long init may take to kill the sandbox and report for a limit before its whole sandbox is killed without a report. */
    private static final long LIMIT_KILL_BACKSTOP_NANOS = TimeUnit.SECONDS.toNanos(2);
    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(SandboxProcess.class);
    /** Finishes the sandboxes of processes nobody references any more (see the class comment). */
    private static final Cleaner CLEANER = Cleaner.create(r -> {
        Thread t = new Thread(r, "crabcan-cleaner");
        t.setDaemon(true);
        return t;
    });
    private final Sandbox sandbox;
    /** Runs onExit's dependent actions: the client's executor, or the library's threads. */
    private final java.util.concurrent.Executor callbacks;
    private final Resources resources;
    private final OutputStream stdin;
    private final InputStream stdout;
    private final InputStream stderr;
    private final CompletableFuture<Finished> finished;
    private final Cleaner.Cleanable cleanable;

    /**
     * The helper's outcome with what the cgroup measured (null without one), the limit that killed
     * it, and what the verdict and the accounting need: when the start was asked for, when the
     * command's execve was reported, the limits, whether the command had a file-size limit, and
     * the files copied out.
     */
    record Finished(Outcome outcome, SandboxCgroup.Usage usage, Verdict limitKill, long startNanos, long executedNanos,
            long endNanos, Limits limits, boolean fileSizeLimited, java.util.Map<String, CopiedFile> files) {
        boolean oomKilled() {
            return usage != null && usage.oomKills() > 0;
        }

        /** The program's wall time: init's measure from its execve, else the JVM's from the report of it. */
        java.time.Duration wallTime() {
            return java.time.Duration.ofNanos(outcome.wallMicros() >= 0 ? outcome.wallMicros() * 1000
                    : endNanos - executedNanos);
        }

        /** From the call to start (or run) until the command's execve was reported. */
        java.time.Duration setupTime() {
            return java.time.Duration.ofNanos(executedNanos - startNanos);
        }

        /** The CPU time of every process of the cgroup, else of the processes init reaped; null when neither is known. */
        SandboxResult.Source cpuSource() {
            return usage != null ? SandboxResult.Source.CGROUP
                    : outcome.reportedByInit() ? SandboxResult.Source.RUSAGE : null;
        }

        long cpuMicros() {
            return usage != null ? usage.cpuNanos() / 1000 : outcome.userMicros() + outcome.systemMicros();
        }

        Verdict verdict(boolean outputTruncated) {
            Verdict limit = limitKill;
            if (limit == null && outputTruncated) {
                limit = Verdict.OUTPUT_LIMIT;
            }
            if (limit == null) {
                limit = exceededTime();
            }
            if (limit == null && !oomKilled()) {
                limit = rlimitKill();
            }
            return Verdict.of(outcome.status(), limit, oomKilled());
        }

        /** A time limit the command used more of than it was given, ended within its grace or not. */
        private Verdict exceededTime() {
            if (limits.cpuTime().isPresent() && cpuSource() != null
                    && cpuMicros() * 1000 > limits.cpuTime().get().toNanos()) {
                return Verdict.CPU_TIME_LIMIT;
            }
            if (limits.wallTime().isPresent() && wallTime().compareTo(limits.wallTime().get()) > 0) {
                return Verdict.WALL_TIME_LIMIT;
            }
            return null;
        }

        /**
         * The kernel's enforcement of an rlimit the caller set: SIGXCPU at the soft CPU limit, SIGKILL
         * at the hard one (told from other SIGKILLs by the CPU time init reported), SIGXFSZ past the
         * file-size limit (which an output limit on a file output sets too).
         */
        private Verdict rlimitKill() {
            ExitStatus status = outcome.status();
            if (!status.isSignaled()) {
                return null;
            }
            long[] cpu = limits.rlimits().get(Rlimit.CPU);
            if (cpu != null && status.signal() == SIGXCPU) {
                return Verdict.CPU_TIME_LIMIT;
            }
            // The reaped child's times fall short of the clock the kernel kills by, more so on a loaded
            // machine (846 ms and 959 ms reported for kills at a 1 s limit on this 2-core host): half
            // the limit tells the limit's SIGKILL from one the command sent itself early on.
            if (cpu != null && status.signal() == SIGKILL && outcome.reportedByInit() && cpu[1] <= Long.MAX_VALUE / 1_000_000
                    && 2 * (outcome.userMicros() + outcome.systemMicros()) >= cpu[1] * 1_000_000) {
                return Verdict.CPU_TIME_LIMIT;
            }
            return fileSizeLimited && status.signal() == SIGXFSZ ? Verdict.OUTPUT_LIMIT : null;
        }

        /** A result needs the helper's word on how the sandbox ended; a vanished helper is an error. */
        void requireReported() throws SandboxException {
            if (outcome.helperLost() != null) {
                throw new SandboxException(outcome.helperLost());
            }
        }
    }

    /**
     * What a running sandbox holds and what its end releases. Everything the monitor, the
     * watchdog and the cleaner reach goes through this, never through the SandboxProcess: so that
     * a process nobody references can become unreachable while its sandbox still runs.
     */
    private static final class Resources implements Runnable {
        private final Session session;
        private final SandboxCgroup cgroup;
        private final NetworkSetup net;
        private final HostIds.Lease ids;
        private final java.io.Closeable[] streams;
        private final AtomicReference<Verdict> limitKill = new AtomicReference<>();
        private final long startNanos;
        private final Limits limits;
        private final boolean fileSizeLimited;
        private final List<Runnable> stopTimers = new ArrayList<>();
        /** Set by the owner's close: then no warning, the owner asked for the end. */
        private volatile boolean closedByOwner;

        Resources(Launcher.Launched launched, SandboxCgroup cgroup, NetworkSetup net, HostIds.Lease ids,
                long startNanos, Sandbox sandbox) {
            this.session = launched.session();
            this.startNanos = startNanos;
            this.limits = sandbox.limits();
            this.fileSizeLimited = dev.crabcan.internal.plan.PlanCompiler.rlimits(sandbox).containsKey(Rlimit.FSIZE);
            this.cgroup = cgroup;
            this.net = net;
            this.ids = ids;
            this.streams = new java.io.Closeable[] {launched.stdin(), launched.stdout(), launched.stderr()};
        }

        /**
         * Kills the whole sandbox because a limit was reached; the first limit is the verdict. Init
         * kills and reports, so that the result has the command's accounting; should it not end
         * soon, the sandbox is killed without it.
         */
        void killForLimit(Verdict why) {
            if (limitKill.compareAndSet(null, why)) {
                session.killAndReport();
                Watchdog.wallTime(LIMIT_KILL_BACKSTOP_NANOS, session::kill);
            }
        }

        Finished finish(Outcome outcome) {
            long endNanos = System.nanoTime();
            synchronized (stopTimers) {
                for (Runnable stop : stopTimers) {
                    stop.run();
                }
            }
            SandboxCgroup.Usage usage = null;
            if (cgroup != null) {
                usage = cgroup.usage();
                cgroup.remove();
            }
            net.release();
            ids.release();
            return new Finished(outcome, usage, limitKill.get(), startNanos, session.executedNanos(), endNanos, limits,
                    fileSizeLimited, session.copies().collect());
        }

        /**
         * The cleaning action, run once: by {@link SandboxProcess#close()}, or by the cleaner when the
         * process became unreachable. Kills what is left (its end then releases the rest, see
         * {@link #finish}) and closes the JVM's ends of the pipes.
         */
        @Override
        public void run() {
            if (!closedByOwner && !session.ended().isDone()) {
                LOG.warn("A SandboxProcess (init pid {}) was dropped while its sandbox ran, without close() or "
                        + "waitFor(): its sandbox is killed", session.pid());
            }
            session.kill();
            for (java.io.Closeable c : streams) {
                try {
                    c.close();
                } catch (IOException e) {
                    // Closing our end of a pipe of a sandbox that is gone loses nothing.
                }
            }
        }
    }

    private SandboxProcess(Sandbox sandbox, Launcher.Launched launched, SandboxCgroup cgroup, NetworkSetup net,
            HostIds.Lease ids, java.util.concurrent.Executor callbacks, long startNanos) {
        this.sandbox = sandbox;
        this.callbacks = callbacks;
        Resources r = new Resources(launched, cgroup, net, ids, startNanos, sandbox);
        this.resources = r;
        this.stdin = new HeldOutput(launched.stdin(), this);
        long limit = sandbox.limits().outputBytes().orElse(Long.MAX_VALUE);
        this.stdout = new HeldInput(launched.stdout(), this, limit, r);
        this.stderr = new HeldInput(launched.stderr(), this, limit, r);
        // Removing a private network runs host tools, and copied-out files can be large: not on the
        // monitor thread, which serves every sandbox.
        this.finished = sandbox.network().mode() == Network.Mode.PRIVATE || !sandbox.copyOuts().isEmpty()
                ? r.session.ended().thenApplyAsync(r::finish, IoThreads.pool())
                : r.session.ended().thenApply(r::finish);
        this.cleanable = CLEANER.register(this, r);
    }

    static SandboxProcess awaitStart(Sandbox sandbox, Launcher.Launched launched, SandboxCgroup cgroup,
            NetworkSetup net, HostIds.Lease ids, java.util.concurrent.Executor callbacks, long startNanos)
            throws SandboxException {
        SandboxProcess p = new SandboxProcess(sandbox, launched, cgroup, net, ids, callbacks, startNanos);
        Session.Start start;
        try {
            start = p.resources.session.started().get();
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

    private void startTimers() {
        Limits limits = sandbox.limits();
        Resources r = resources;
        synchronized (r.stopTimers) {
            long grace = limits.grace().isPresent() ? limits.grace().get().toNanos() : 0L;
            limits.wallTime().ifPresent(wall -> {
                var task = Watchdog.wallTime(wall.toNanos() + grace, () -> r.killForLimit(Verdict.WALL_TIME_LIMIT));
                r.stopTimers.add(() -> task.cancel(false));
            });
            if (limits.cpuTime().isPresent() && r.cgroup != null) {
                double parallelism = limits.cpus().orElse(Runtime.getRuntime().availableProcessors());
                var check = Watchdog.cpuTime(limits.cpuTime().get().toNanos() + grace, parallelism, r.cgroup::cpuNanos,
                        () -> r.killForLimit(Verdict.CPU_TIME_LIMIT));
                r.stopTimers.add(check::cancel);
            }
        }
    }

    /** Kills what may exist and closes our ends of the pipes, after a failed start (Sandbox.start removes the cgroup). */
    private void abandon() {
        resources.closedByOwner = true;
        cleanable.clean();
    }

    /** The sandbox this process runs. */
    public Sandbox sandbox() {
        return sandbox;
    }

    @Override
    public OutputStream getOutputStream() {
        return stdin;
    }

    /**
     * The command's stdout, where it is a {@link Stdio#pipe()}. With an {@linkplain Limits#outputBytes()
     * output limit} it gives at most that many bytes: once the command has written more than the
     * limit and the caller has read up to it, the caller gets the first {@code outputBytes} bytes,
     * then end of file, and the sandbox is killed with verdict {@link Verdict#OUTPUT_LIMIT}. Output
     * nobody reads does not count: a command whose pipe is full waits (until a time limit ends it).
     * The same holds for {@link #getErrorStream()}, counted on its own.
     */
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
        } finally {
            // Whoever waits holds the process: the cleaner must not end it meanwhile.
            Reference.reachabilityFence(this);
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
        return finishedNow().verdict(outputTruncated());
    }

    /** Whether the command wrote more to a stream the caller reads than the output limit let through. */
    private boolean outputTruncated() {
        return stdoutTruncated() || stderrTruncated();
    }

    boolean stdoutTruncated() {
        return ((HeldInput) stdout).exceeded;
    }

    boolean stderrTruncated() {
        return ((HeldInput) stderr).exceeded;
    }

    /**
     * Waits for the end and returns the result, with the setup time from {@link Sandbox#start()}.
     * Its captured output is empty: this process's streams are the caller's to read; whether they
     * were cut at the output limit is its {@link SandboxResult#stdoutTruncated()} and {@link
     * SandboxResult#stderrTruncated()}.
     *
     * @throws SandboxException the helper died without saying how the sandbox ended (its
     *     processes are gone; {@link #waitFor()} reports SIGKILL)
     */
    public SandboxResult result() throws SandboxException, InterruptedException {
        Finished f = finishedWhenDone();
        f.requireReported();
        return new SandboxResult(f, new byte[0], stdoutTruncated(), new byte[0], stderrTruncated());
    }

    /**
     * The files read back from the sandbox once its command ended ({@link
     * Sandbox.Builder#copyOut(String, long)}), by path; one that was missing, not a regular file,
     * or not read because the whole sandbox was killed ({@link #destroyForcibly()}; a
     * sandbox stopped at a limit still copies out) is left out. Throws {@link
     * IllegalThreadStateException} while it runs.
     */
    public java.util.Map<String, CopiedFile> copiedFiles() {
        return finishedNow().files();
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
        resources.session.signal(SIGTERM);
    }

    /** Kills every process of the sandbox at once (SIGKILL). Idempotent, also after the sandbox ended. */
    @Override
    public SandboxProcess destroyForcibly() {
        resources.session.kill();
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
        resources.session.signal(signal);
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
        resources.closedByOwner = true;
        cleanable.clean();
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    @Override
    public long pid() {
        return resources.session.pid();
    }

    /** When {@link #pid()}'s process started, as the helper read it while it could not be another's. */
    long startTime() {
        return resources.session.startTime();
    }

    /**
     * The sandbox's init as the host sees it: its {@link ProcessHandle#children() children} are the
     * command and the processes it left behind (init adopts them), its descendants every other
     * process of the sandbox.
     *
     * @throws IllegalStateException the sandbox has ended, so its pid may belong to another process
     */
    @Override
    public ProcessHandle toHandle() {
        return initHandle().orElseThrow(() -> new IllegalStateException("the sandbox (init pid " + pid()
                + ") has ended; its processes are gone"));
    }

    /**
     * Init's handle while the sandbox runs; empty once it has ended (its pid may be reused). Init is
     * reaped milliseconds before isAlive() turns false, so the handle counts only if the pid still
     * has init's start time after it was taken: else it may be another process's, even another
     * sandbox's (found by an attack review).
     */
    private Optional<ProcessHandle> initHandle() {
        Optional<ProcessHandle> h = isAlive() ? ProcessHandle.of(pid()) : Optional.empty();
        return isAlive() && HostIds.startTime(pid()) == startTime() ? h : Optional.empty();
    }

    /**
     * The command as the host sees it (its host pid's {@link ProcessHandle#info()}: executable,
     * arguments, host user, start and CPU time), not the sandbox's init, which {@link #pid()}
     * names. Once the sandbox has ended, every field is empty, as the JDK reports a process that is
     * gone.
     */
    @Override
    public ProcessHandle.Info info() {
        return command().map(ProcessHandle::info).orElse(GONE);
    }

    /**
     * The command, as a host process, and the processes it left behind that init adopted; empty
     * once the sandbox has ended.
     */
    @Override
    public Stream<ProcessHandle> children() {
        return initHandle().map(ProcessHandle::children).orElseGet(Stream::empty);
    }

    /** Every process of the sandbox but its init, as host processes: the command and all it started; empty once the sandbox has ended. */
    @Override
    public Stream<ProcessHandle> descendants() {
        return initHandle().map(ProcessHandle::descendants).orElseGet(Stream::empty);
    }

    /**
     * The command among init's children: the one forked first, so with the lowest pid inside the
     * sandbox's pid namespace (those it left behind came later, and a sandbox's pids do not wrap).
     */
    private Optional<ProcessHandle> command() {
        return children().min(java.util.Comparator.comparingLong(SandboxProcess::pidInside));
    }

    /** The innermost pid of the NSpid line of /proc/PID/status; the largest long if the process is gone. */
    private static long pidInside(ProcessHandle h) {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/" + h.pid() + "/status"))) {
                if (line.startsWith("NSpid:")) {
                    String[] pids = dev.crabcan.internal.Text.fields(line.substring("NSpid:".length()));
                    return Long.parseLong(pids[pids.length - 1]);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Gone meanwhile.
        }
        return Long.MAX_VALUE;
    }

    /** What {@link #info()} says once the command is gone. */
    private static final ProcessHandle.Info GONE = new ProcessHandle.Info() {
        @Override
        public Optional<String> command() {
            return Optional.empty();
        }

        @Override
        public Optional<String> commandLine() {
            return Optional.empty();
        }

        @Override
        public Optional<String[]> arguments() {
            return Optional.empty();
        }

        @Override
        public Optional<java.time.Instant> startInstant() {
            return Optional.empty();
        }

        @Override
        public Optional<java.time.Duration> totalCpuDuration() {
            return Optional.empty();
        }

        @Override
        public Optional<String> user() {
            return Optional.empty();
        }

        @Override
        public String toString() {
            return "[]";
        }
    };

    /**
     * Completes, with this process, once the sandbox has ended and its resources are released.
     * As the JDK's, it is completed on a thread of its own (never one that serves other sandboxes),
     * so that whatever the caller chains to it, even a blocking action, delays no other sandbox; a
     * {@link Crabcan} client built with a {@linkplain Crabcan.Builder#callbackExecutor callback
     * executor} completes it there instead. A
     * pending onExit keeps the process from the cleaner until the end.
     */
    @Override
    public CompletableFuture<Process> onExit() {
        return finished.thenApplyAsync(f -> this, callbacks);
    }

    Finished finishedWhenDone() throws InterruptedException {
        try {
            return finished.get();
        } catch (ExecutionException e) {
            throw new IllegalStateException(e.getCause());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    private Finished finishedNow() {
        if (!finished.isDone()) {
            throw new IllegalThreadStateException("the sandbox is still running");
        }
        return finished.join();
    }

    /**
     * A stream of the sandbox that holds its process: while the caller reads or writes it, the
     * cleaner does not end the sandbox, even when the process itself is no longer referenced
     * ({@code sandbox.start().getInputStream()}).
     */
    private static final class HeldInput extends java.io.FilterInputStream {
        private final SandboxProcess owner;
        /** The output limit: past it, end of file and a limit kill. */
        private final long limit;
        private final Resources resources;
        private long delivered;
        /** More than the limit came: the caller got the limit's bytes and then end of file. */
        private volatile boolean exceeded;

        HeldInput(InputStream in, SandboxProcess owner, long limit, Resources resources) {
            super(in);
            this.owner = owner;
            this.limit = limit;
            this.resources = resources;
        }

        @Override
        public int read() throws IOException {
            byte[] one = new byte[1];
            int n = read(one, 0, 1);
            return n < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public synchronized int read(byte[] b, int off, int len) throws IOException {
            java.util.Objects.checkFromIndexSize(off, len, b.length);
            if (len == 0) {
                return 0;
            }
            try {
                if (exceeded) {
                    return -1;
                }
                long room = limit - delivered;
                // At the limit, one more byte read says whether the command wrote past it.
                int n = in.read(b, off, (int) Math.min(len, Math.max(1, room)));
                if (n > room) {
                    exceeded = true;
                    resources.killForLimit(Verdict.OUTPUT_LIMIT);
                    n = (int) room;
                    if (n == 0) {
                        return -1;
                    }
                }
                if (n > 0) {
                    delivered += n;
                }
                return n;
            } finally {
                Reference.reachabilityFence(owner);
            }
        }

        @Override
        public long skip(long n) throws IOException {
            byte[] buf = new byte[(int) Math.min(Math.max(n, 0), 8192)];
            long skipped = 0;
            while (skipped < n) {
                int r = read(buf, 0, (int) Math.min(buf.length, n - skipped));
                if (r < 0) {
                    break;
                }
                skipped += r;
            }
            return skipped;
        }
    }

    /** The sandbox's stdin, holding its process as {@link HeldInput} does. */
    private static final class HeldOutput extends java.io.FilterOutputStream {
        private final SandboxProcess owner;

        HeldOutput(OutputStream out, SandboxProcess owner) {
            super(out);
            this.owner = owner;
        }

        @Override
        public void write(int b) throws IOException {
            try {
                out.write(b);
            } finally {
                Reference.reachabilityFence(owner);
            }
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } finally {
                Reference.reachabilityFence(owner);
            }
        }

        @Override
        public void flush() throws IOException {
            try {
                out.flush();
            } finally {
                Reference.reachabilityFence(owner);
            }
        }
    }

    @Override
    public String toString() {
        return "SandboxProcess[pid " + pid() + ", " + (isAlive() ? "running" : exitStatus()) + "]";
    }
}
