package dev.crabcan.internal.launch;

import java.util.concurrent.ExecutorService;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/** Daemon threads for blocking stream copies (feeding stdin bytes, draining captured output). */
public final class IoThreads {
    private static final AtomicInteger COUNT = new AtomicInteger();
    private static final ExecutorService POOL = new ThreadPoolExecutor(0, Integer.MAX_VALUE, 30, TimeUnit.SECONDS,
            new SynchronousQueue<>(), r -> {
                Thread t = new Thread(r, "crabcan-io-" + COUNT.incrementAndGet());
                t.setDaemon(true);
                return t;
            });

    private IoThreads() {}

    public static ExecutorService pool() {
        return POOL;
    }
}
