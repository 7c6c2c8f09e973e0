package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.Stdio;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.InputStream;
import java.io.OutputStream;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Starts a helper run of one plan. Kept behind an interface so that how helpers are started
 * (today: forked by one long-lived zygote per JVM) can change without touching the API.
 */
public interface Launcher {

    /** The running sandbox's control session and its standard streams (null streams when not piped). */
    record Launched(Session session, OutputStream stdin, InputStream stdout, InputStream stderr) {}

    /**
     * Launches the plan that {@code plan} compiles once it knows where the sandbox's stdio comes from;
     * {@code passed} are the channels and FileDescriptors its T_PASS_FD records stand for, by target fd, in record order.
     */
    default Launched launch(Function<List<PlanCompiler.StdioSource>, byte[]> plan, Stdio stdin, Stdio stdout,
            Stdio stderr, Map<Integer, Object> passed) throws SandboxException {
        return launch(plan, stdin, stdout, stderr, passed, FileCopies.NONE);
    }

    /**
     * As above, with the descriptors of the plan's T_COPY_IN and T_COPY_OUT records sent after the
     * passed ones; the copy-in sources are closed once sent, the copy-out files kept for {@link
     * FileCopies#collect}.
     */
    Launched launch(Function<List<PlanCompiler.StdioSource>, byte[]> plan, Stdio stdin, Stdio stdout, Stdio stderr,
            Map<Integer, Object> passed, FileCopies copies) throws SandboxException;
}
