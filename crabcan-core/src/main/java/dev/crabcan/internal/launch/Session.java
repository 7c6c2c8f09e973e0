package dev.crabcan.internal.launch;

import dev.crabcan.ExitStatus;
import dev.crabcan.SandboxException;
import dev.crabcan.internal.plan.Contract;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Java side of one sandbox's control channel: turns the helper's reports into two futures,
 * how the start went and how the sandbox ended. Reports arrive on the monitor thread only.
 */
public final class Session {
    /** The setup trace; enabling debug on this logger makes the helper report every step. */
    public static final Logger SETUP_LOG = LoggerFactory.getLogger("dev.crabcan.setup");
    private static final Logger log = LoggerFactory.getLogger(Session.class);

    /** How the start went. */
    public sealed interface Start permits Executed, Created, SetupFailed, ExecFailed, Lost {}

    /** The command is running. */
    public record Executed() implements Start {}

    /** A detached sandbox is set up; its command waits to be released (see {@link #detach()}). */
    public record Created() implements Start {}

    /** A setup step failed; nothing ran. */
    public record SetupFailed(String step, int errno, String detail) implements Start {}

    /**
     * execve failed. kind is one of the contract's EXEC_* words (not found; the file exists but
     * the interpreter its PT_INTERP or #! line names does not; other); interpreter is the one the
     * file asks for, or empty.
     */
    public record ExecFailed(int errno, String kind, String path, String interpreter) implements Start {}

    /** The sandbox ended or the helper vanished before the command started. */
    public record Lost(String why) implements Start {}

    private final SocketChannel channel;
    private final CompletableFuture<Start> started = new CompletableFuture<>();
    /** Completed when init waits for the runtime's hooks (PAUSED; see {@link #resume()}). */
    private final CompletableFuture<Void> paused = new CompletableFuture<>();
    private final CompletableFuture<Outcome> ended = new CompletableFuture<>();
    private volatile long pid = -1;
    /** Its start time as the helper read it before it could reap it (field 22 of /proc/PID/stat); -1 before. */
    private volatile long startTime = -1;
    /** System.nanoTime() when the command's execve was reported; 0 before. */
    private volatile long executedNanos;
    private Outcome reported;
    /** What made the helper kill a running sandbox (a FAIL line after the start), or null. */
    private String killedBecause;
    private volatile boolean detached;
    private final FileCopies copies;

    Session(SocketChannel channel, FileCopies copies) {
        this.channel = channel;
        this.copies = copies;
    }

    /** The files of its copy-outs, read back once it has ended (see {@link FileCopies#collect}). */
    public FileCopies copies() {
        return copies;
    }

    SocketChannel channel() {
        return channel;
    }

    public CompletableFuture<Start> started() {
        return started;
    }

    public CompletableFuture<Outcome> ended() {
        return ended;
    }

    /** Completed when the sandbox's init waits, its mounts made, for {@link #resume()}. */
    public CompletableFuture<Void> paused() {
        return paused;
    }

    /** Lets an init that {@link #paused()} go on to pivot_root and the command. */
    public void resume() throws IOException {
        write(Contract.C_RESUME);
    }

    /** The host pid of the sandbox's init, or -1 before it exists. */
    public long pid() {
        return pid;
    }

    /**
     * When the process {@link #pid()} names started (clock ticks after boot), or -1 before it exists:
     * the helper read it while that process could not have ended and been reaped, so a process at
     * that pid with another start time is not it.
     */
    public long startTime() {
        return startTime;
    }

    /** System.nanoTime() when the helper reported the command's execve; 0 before it did. */
    public long executedNanos() {
        return executedNanos;
    }

    /**
     * Kills every process of the sandbox but its init, which then reports the command's end with its
     * accounting: for a limit's kill, whose result needs those figures. {@link #kill()} remains the
     * way to end a sandbox whatever its init does.
     */
    public void killAndReport() {
        if (!ended.isDone()) {
            send(Contract.C_LIMIT_KILL, "limit kill request");
        }
    }

    /** Kills every process of the sandbox. Idempotent; a no-op once the sandbox is gone. */
    public void kill() {
        if (!ended.isDone()) {
            send(Contract.C_KILL, "kill request");
        }
    }

    /**
     * Sends a signal (1 to 31) to the command, through its init. A no-op once the sandbox is gone.
     * The helper is init's parent and reaps it, so the signal cannot reach a process that merely
     * reused its pid.
     */
    public void signal(int signal) {
        if (signal < 1 || signal > 31) {
            throw new IllegalArgumentException("signal " + signal + " is not between 1 and 31");
        }
        if (!ended.isDone()) {
            send((byte) (Contract.C_SIGNAL_BASE + signal), "signal " + signal);
        }
    }

    /** Tells the helper that the JVM has opened its ends of the sandbox's pipes, so it drops its own. */
    void pipesOpened() {
        send(Contract.C_PIPES_OPENED, "pipes-opened note");
    }

    private void send(byte request, String what) {
        try {
            write(request);
        } catch (IOException e) {
            log.debug("{} not delivered, the helper is already gone: {}", what, e.toString());
        }
    }

    private void write(byte request) throws IOException {
        channel.write(ByteBuffer.wrap(new byte[] {request}));
    }

    /**
     * Says that the helper leaves a command that runs to whoever reaps orphans (a detached OCI exec)
     * and then ends without a report, which is then no loss.
     */
    public void leftRunning() {
        detached = true;
    }

    /** Lets a created detached sandbox go: its helper exits and leaves it running on its own. */
    public void detach() throws IOException {
        detached = true;
        write(Contract.C_DETACH);
    }

    void onLine(String line) {
        Report r = Report.parse(line);
        if (Contract.reportFields(r.kind()) != r.fields().size()) {
            log.warn("a report line the contract does not define, ignored: {}", line);
            return;
        }
        switch (r.kind()) {
            case Contract.R_PID -> {
                startTime = r.longField(1);
                pid = r.longField(0);
            }
            case Contract.R_LOG -> SETUP_LOG.debug("{}", r.field(0));
            case Contract.R_NETHELPER -> log.debug("sandbox {}: network helper {} is ready", pid, r.field(0));
            case Contract.R_EXECUTED -> {
                executedNanos = System.nanoTime();
                started.complete(new Executed());
            }
            case Contract.R_COPIED -> copies.reported(r.intField(0), r.longField(1), r.intField(2));
            case Contract.R_CREATED -> started.complete(new Created());
            case Contract.R_PAUSED -> paused.complete(null);
            case Contract.R_FAIL -> {
                if (!started.complete(new SetupFailed(r.field(0), r.intField(1), r.field(2)))) {
                    killedBecause = "sandbox " + pid + " was killed by its helper (" + r.field(0) + "): " + r.field(2);
                    log.warn("{}", killedBecause);
                }
            }
            case Contract.R_EXECFAIL -> started.complete(new ExecFailed(r.intField(0), r.field(1), r.field(2), r.field(3)));
            case Contract.R_EXIT, Contract.R_SIGNALED -> reported = new Outcome(
                    r.kind().equals(Contract.R_EXIT) ? ExitStatus.exited(r.intField(0)) : ExitStatus.signaled(r.intField(0)),
                    r.longField(1), r.longField(2), r.longField(3), r.longField(4), true, null);
            case Contract.R_END -> finish(r.intField(0));
            default -> log.warn("a report line the helper should not send here, ignored: {}", line);
        }
    }

    void onClosed() {
        if (detached) {
            closeChannel();
            ended.complete(Outcome.unreported(ExitStatus.exited(0), null));
            return;
        }
        if (!ended.isDone()) {
            // A setup failure before the namespaces existed ends the helper without an END report.
            boolean failedSetup = started.isDone() && !(started.join() instanceof Executed);
            if (!failedSetup) {
                log.warn("sandbox {}: the helper exited without reporting how the sandbox ended", pid);
            }
            started.complete(new Lost("the sandbox helper process exited unexpectedly during setup (was it "
                    + "killed?); the command did not run"));
            closeChannel();
            ended.complete(Outcome.unreported(ExitStatus.signaled(9), "the sandbox helper (the parent of "
                    + "sandbox init " + pid + ") exited without reporting how the sandbox ended; its processes were "
                    + "killed"));
        }
    }

    private void finish(int initStatus) {
        started.complete(new Lost("the sandbox ended before the command started"));
        Outcome outcome = reported;
        if (outcome == null) {
            // init did not report: it was killed (destroy, or the whole sandbox died) or failed setup.
            int signal = initStatus & 0x7f;
            outcome = Outcome.unreported(initStatus == -1 || signal == 0 ? ExitStatus.signaled(9)
                    : ExitStatus.signaled(signal), killedBecause);
        }
        closeChannel();
        ended.complete(outcome);
    }

    private void closeChannel() {
        try {
            channel.close();
        } catch (IOException e) {
            log.debug("closing the control channel: {}", e.toString());
        }
    }
}
