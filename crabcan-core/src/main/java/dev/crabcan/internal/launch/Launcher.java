package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.Stdio;
import java.io.InputStream;
import java.io.OutputStream;

/**
 * Starts a helper run of one plan. Kept behind an interface so that a long-lived helper that
 * clones sandboxes on request can replace the process-per-sandbox launcher without touching
 * the API.
 */
public interface Launcher {

    /** The running sandbox's control session and its standard streams (null when not piped). */
    record Launched(Session session, OutputStream stdin, InputStream stdout, InputStream stderr) {}

    Launched launch(byte[] plan, Stdio stdin, Stdio stdout, Stdio stderr) throws SandboxException;
}
