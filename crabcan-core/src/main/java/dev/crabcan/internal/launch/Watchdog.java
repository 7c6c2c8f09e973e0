package dev.crabcan.internal.launch;

import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * One daemon thread that enforces every sandbox's wall and CPU time limits. A CPU check is
 * scheduled for the earliest moment the sandbox could reach its limit (remaining CPU time over
 * the CPUs it can use), so checks are rare while the limit is far and close together near it.
 */
public final class Watchdog {
    private static final ScheduledExecutorService TIMER = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "crabcan-watchdog");
        t.setDaemon(true);
        return t;
    });
    private static final long MIN_CHECK_NANOS = TimeUnit.MILLISECONDS.toNanos(1);

    private Watchdog() {}

    /** Runs onLimit once the wall time has passed. */
    public static ScheduledFuture<?> wallTime(long limitNanos, Runnable onLimit) {
        return TIMER.schedule(onLimit, limitNanos, TimeUnit.NANOSECONDS);
    }

    /**
     * Runs onLimit once cpuNanos reports at least limitNanos. parallelism is how many CPUs the
     * sandbox can use at once. Returns a handle whose cancel stops the checks.
     */
    public static Cancellable cpuTime(long limitNanos, double parallelism, LongSupplier cpuNanos, Runnable onLimit) {
        CpuCheck check = new CpuCheck(limitNanos, parallelism, cpuNanos, onLimit);
        check.schedule(0);
        return check;
    }

    /** Stops a recurring check. */
    public interface Cancellable {
        void cancel();
    }

    private static final class CpuCheck implements Runnable, Cancellable {
        private final long limitNanos;
        private final double parallelism;
        private final LongSupplier cpuNanos;
        private final Runnable onLimit;
        private volatile boolean cancelled;
        private volatile ScheduledFuture<?> next;

        CpuCheck(long limitNanos, double parallelism, LongSupplier cpuNanos, Runnable onLimit) {
            this.limitNanos = limitNanos;
            this.parallelism = parallelism;
            this.cpuNanos = cpuNanos;
            this.onLimit = onLimit;
        }

        @Override
        public void run() {
            if (cancelled) {
                return;
            }
            long remaining = limitNanos - cpuNanos.getAsLong();
            if (remaining <= 0) {
                onLimit.run();
            } else {
                schedule((long) (remaining / parallelism));
            }
        }

        void schedule(long delayNanos) {
            next = TIMER.schedule(this, Math.max(MIN_CHECK_NANOS, delayNanos), TimeUnit.NANOSECONDS);
        }

        @Override
        public void cancel() {
            cancelled = true;
            ScheduledFuture<?> f = next;
            if (f != null) {
                f.cancel(false);
            }
        }
    }
}
