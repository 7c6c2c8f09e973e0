package dev.crabcan.internal.launch;

import dev.crabcan.SandboxException;
import dev.crabcan.Stdio;
import dev.crabcan.internal.plan.Contract;
import dev.crabcan.internal.plan.PlanCompiler;
import java.io.IOException;
import java.nio.channels.SocketChannel;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Function;

/**
 * Sandbox helpers forked by zygotes in other processes. crabcan-oci's native front end is the
 * zygote of its own request: the container's init then descends from the caller (an engine's
 * subreaper reaps only its descendants) and inherits its stdio, while a long-lived JVM compiles
 * the plan and supervises. A request's launcher sends its zygote a random token and the plan;
 * the helper the zygote forks connects to the JVM's socket and names the token, and
 * {@link #connected} hands that connection to the launch, which goes on as with this JVM's own
 * zygote.
 */
public final class RemoteZygotes {
    private static final long CONNECT_TIMEOUT_MS = 10_000;

    private final Map<String, CompletableFuture<SocketChannel>> pending = new ConcurrentHashMap<>();

    /** Sends a zygote one request: the token its helper will name, and the plan. */
    public interface Zygote {
        void request(int token, byte[] plan) throws IOException;
    }

    /** A launcher whose sandbox helpers that zygote forks. */
    public Request launcher(Zygote zygote) {
        return new Request(zygote);
    }

    /**
     * Gives a connection whose first line was hello to the launch it names; false if it names
     * none (a stale or guessed token), and then the caller closes it.
     */
    public boolean connected(String hello, SocketChannel channel) {
        String prefix = Contract.R_SANDBOX + "\t";
        // The front end names no address of its channel ("-"): nothing is passed on it.
        if (!hello.startsWith(prefix) || !hello.substring(prefix.length()).matches("\\d{1,10}\t-")) {
            return false;
        }
        CompletableFuture<SocketChannel> launch = pending.remove(hello.substring(prefix.length(), hello.length() - 2));
        return launch != null && launch.complete(channel);
    }

    /** The launches of one zygote (one front end's request). */
    public final class Request implements Launcher {
        private final Zygote zygote;
        private final List<Session> sessions = new CopyOnWriteArrayList<>();
        private volatile CompletableFuture<SocketChannel> waiting;
        private volatile boolean gone;

        private Request(Zygote zygote) {
            this.zygote = zygote;
        }

        @Override
        public Launched launch(Function<List<PlanCompiler.StdioSource>, byte[]> plan, Stdio stdin, Stdio stdout,
                Stdio stderr, Map<Integer, Object> passed, FileCopies copies) throws SandboxException {
            Launched launched = ZygoteLauncher.launch(new ZygoteLauncher.Zygote() {
                @Override
                public ZygoteLauncher.Connection helperFor(byte[] p) throws IOException {
                    // The front end's channel has no address of its own: no descriptor is passed on it.
                    return new ZygoteLauncher.Connection(Request.this.helperFor(p), null);
                }

                @Override
                public long pid() {
                    return -1;
                }

                @Override
                public boolean keepsCallersFds() {
                    return true;
                }
            }, plan, stdin, stdout, stderr, passed, copies);
            sessions.add(launched.session());
            if (gone) {
                launched.session().kill();
            }
            return launched;
        }

        private SocketChannel helperFor(byte[] plan) throws IOException {
            CompletableFuture<SocketChannel> connected = new CompletableFuture<>();
            String key;
            int token;
            do {
                token = ZygoteLauncher.Tokens.RANDOM.nextInt();
                key = Integer.toUnsignedString(token);
            } while (pending.putIfAbsent(key, connected) != null);
            waiting = connected;
            try {
                if (gone) {
                    throw new SandboxException("the caller went away before its sandbox was started");
                }
                zygote.request(token, plan);
                return connected.get(CONNECT_TIMEOUT_MS, TimeUnit.MILLISECONDS);
            } catch (TimeoutException e) {
                throw new SandboxException("the sandbox helper did not connect within " + CONNECT_TIMEOUT_MS
                        + " ms: the calling front end did not fork it");
            } catch (ExecutionException e) {
                throw new SandboxException("the sandbox helper did not connect: " + e.getCause().getMessage(), e);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new SandboxException("interrupted while waiting for the sandbox helper");
            } finally {
                pending.remove(key);
                waiting = null;
            }
        }

        /**
         * The zygote (the calling front end) is gone: a launch waiting for it fails, and the
         * sandboxes it started end as they would with their JVM (a detached one, once let go, is
         * no longer reached by this).
         */
        public void abort() {
            gone = true;
            CompletableFuture<SocketChannel> w = waiting;
            if (w != null) {
                w.completeExceptionally(new IOException("the caller went away"));
            }
            sessions.forEach(Session::kill);
        }
    }
}
