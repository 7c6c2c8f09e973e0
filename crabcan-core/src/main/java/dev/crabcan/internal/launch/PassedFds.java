package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.plan.Contract;
import dev.crabcan.internal.sys.FdLookup;
import dev.crabcan.internal.sys.LibC;
import dev.crabcan.internal.sys.OwnedFd;
import java.io.IOException;
import java.util.Map;

/**
 * Descriptors of this JVM given to a sandbox (Sandbox.Builder.passFd, and the ends of SandboxPipes,
 * which are taken rather than copied: see OwnedFd): found and copied
 * before the helper is asked for, so that a closed or unfindable one fails the start before
 * anything exists, and sent as the first thing on the helper's channel (C_FDS), which the helper
 * waits for before it creates the sandbox. Only here are native calls made (LibC, loaded then).
 */
final class PassedFds {
    private PassedFds() {}

    /**
     * Copies of the passed descriptors, made as each is found, for {@link #send} and then {@link
     * #close}: the numbers alone could be closed by the caller during the start and reused by
     * whatever this JVM opens next, which the sandbox would then get. A copy made while the
     * channel is still open afterwards is of the channel (a channel is marked closed before its fd is).
     */
    static int[] copies(Map<Integer, Object> passed) {
        if (passed.isEmpty()) {
            return new int[0]; // and no native bindings loaded
        }
        int[] fds = new int[passed.size()];
        int n = 0;
        // An end given at several fds of this sandbox is taken once, then copied.
        Map<OwnedFd, Integer> taken = new java.util.IdentityHashMap<>();
        try {
            for (Map.Entry<Integer, Object> e : passed.entrySet()) {
                try {
                    if (e.getValue() instanceof OwnedFd own) {
                        Integer first = taken.get(own);
                        fds[n] = first != null ? LibC.duplicate(first) : own.take();
                        taken.putIfAbsent(own, fds[n]);
                        n++;
                        continue;
                    }
                    fds[n] = FdLookup.copy(e.getValue());
                    n++;
                    if (!stillOpen(e.getValue())) {
                        throw new IOException("it was closed while the sandbox was starting");
                    }
                } catch (IOException | RuntimeException x) {
                    throw spec((e.getKey() < 3 ? STDIO[e.getKey()] + ": " : "passFd(" + e.getKey() + ", ...): ")
                            + x.getMessage(), x);
                } catch (LinkageError x) {
                    throw spec("passFd(" + e.getKey() + ", ...) needs native calls, which this JVM cannot make (" + x
                            + "): is jffi (com.github.jnr:jffi and its native classifier) on the class or module path?", x);
                }
            }
            return fds;
        } catch (RuntimeException x) {
            close(java.util.Arrays.copyOf(fds, n));
            throw x;
        }
    }

    private static final String[] STDIO = {"stdin", "stdout", "stderr"};

    private static boolean stillOpen(Object source) {
        return source instanceof java.nio.channels.Channel ch ? ch.isOpen()
                : !(source instanceof java.io.FileDescriptor fd) || fd.valid();
    }

    /** Closes the copies, and the ends the start took: the helper has its own by now, or the start failed. */
    static void close(int[] copies) {
        for (int fd : copies) {
            FdLookup.closeCopy(fd);
        }
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
