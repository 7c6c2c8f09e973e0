package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.plan.Contract;
import dev.crabcan.internal.sys.FdLookup;
import dev.crabcan.internal.sys.LibC;
import java.io.IOException;
import java.util.Map;

/**
 * Descriptors of this JVM given to a sandbox (Sandbox.Builder.passFd): their numbers are found
 * before the helper is asked for, so that a closed or unfindable one fails the start before
 * anything exists, and sent as the first thing on the helper's channel (C_FDS), which the helper
 * waits for before it creates the sandbox. Only here are native calls made (LibC, loaded then).
 */
final class PassedFds {
    private PassedFds() {}

    static int[] numbers(Map<Integer, Object> passed) {
        if (passed.isEmpty()) {
            return new int[0]; // and no native bindings loaded
        }
        int[] fds = new int[passed.size()];
        int i = 0;
        for (Map.Entry<Integer, Object> e : passed.entrySet()) {
            try {
                fds[i++] = FdLookup.of(e.getValue());
            } catch (IOException | RuntimeException x) {
                throw spec("passFd(" + e.getKey() + ", ...): " + x.getMessage(), x);
            } catch (LinkageError x) {
                throw spec("passFd(" + e.getKey() + ", ...) needs native calls, which this JVM cannot make (" + x
                        + "): is jffi (com.github.jnr:jffi and its native classifier) on the class or module path?", x);
            }
        }
        return fds;
    }

    private static SandboxSpecException spec(String message, Throwable cause) {
        SandboxSpecException e = new SandboxSpecException(message);
        e.initCause(cause);
        return e;
    }

    /** Sends them on the channel the zygote (pid {@code zygote}) connected from that address. */
    static void send(String helperAddress, long zygote, int[] fds) throws SandboxException {
        try {
            LibC.sendFds(FdLookup.peerOf(helperAddress, zygote), Contract.C_FDS, fds);
        } catch (IOException e) {
            throw new SandboxException("cannot pass " + fds.length + " fds to the sandbox helper: " + e.getMessage(), e);
        }
    }
}
