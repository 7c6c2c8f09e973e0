package dev.crabcan.internal.image;

import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;

/**
 * A shared/exclusive lock on a file of the image store that holds across threads and JVMs: a
 * count of holders inside this JVM (the JVM refuses overlapping file locks of its own), released
 * from whichever thread (a sandbox's end releases what its start took), and an fcntl lock on the
 * file between JVMs, which the kernel drops when a JVM dies. A thread that holds it shared may take
 * it shared again.
 *
 * <p>Thread-safe. One instance per file and JVM ({@link #of}).
 */
public final class StoreLock {
    private static final Map<Path, StoreLock> LOCKS = new ConcurrentHashMap<>();

    private final Path file;
    // Guarded by this: holders in this JVM, and the file lock all of its shared holders share.
    private int sharedHolders;
    private boolean exclusiveHeld;
    private FileChannel sharedChannel;

    /** A held lock; closing releases it (once, from any thread). */
    public interface Held extends AutoCloseable {
        @Override
        void close();
    }

    private StoreLock(Path file) {
        this.file = file;
    }

    public static StoreLock of(Path file) {
        return LOCKS.computeIfAbsent(file.toAbsolutePath().normalize(), StoreLock::new);
    }

    /** Blocks until no one holds it exclusively. */
    public Held shared() throws ImageException {
        synchronized (this) {
            awaitUninterruptibly(() -> !exclusiveHeld);
            if (sharedHolders == 0) {
                sharedChannel = lock(true);
            }
            sharedHolders++;
        }
        return once(() -> {
            synchronized (this) {
                if (--sharedHolders == 0) {
                    closeQuietly(sharedChannel);
                    sharedChannel = null;
                    notifyAll();
                }
            }
        });
    }

    /** Blocks until no one else holds it at all. */
    public Held exclusive() throws ImageException {
        synchronized (this) {
            awaitUninterruptibly(() -> !exclusiveHeld && sharedHolders == 0);
            exclusiveHeld = true;
        }
        FileChannel ch;
        try {
            ch = lock(false);
        } catch (ImageException | RuntimeException e) {
            releaseExclusive();
            throw e;
        }
        return once(() -> {
            closeQuietly(ch);
            releaseExclusive();
        });
    }

    /** Takes it exclusively if no one holds it at all; empty at once otherwise. */
    public Optional<Held> tryExclusive() throws ImageException {
        synchronized (this) {
            if (exclusiveHeld || sharedHolders > 0) {
                return Optional.empty();
            }
            exclusiveHeld = true;
        }
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            if (ch.tryLock(0, Long.MAX_VALUE, false) == null) {
                closeQuietly(ch);
                releaseExclusive();
                return Optional.empty();
            }
        } catch (IOException | RuntimeException e) {
            closeQuietly(ch);
            releaseExclusive();
            throw new ImageException("cannot lock " + file + " of the image store: " + e, e);
        }
        FileChannel held = ch;
        return Optional.of(once(() -> {
            closeQuietly(held);
            releaseExclusive();
        }));
    }

    private synchronized void releaseExclusive() {
        exclusiveHeld = false;
        notifyAll();
    }

    private static Held once(Runnable release) {
        AtomicBoolean done = new AtomicBoolean();
        return () -> {
            if (done.compareAndSet(false, true)) {
                release.run();
            }
        };
    }

    /** Waits on this until the condition holds, keeping an interrupt for the caller. Holds this. */
    private void awaitUninterruptibly(BooleanSupplier condition) {
        boolean interrupted = false;
        while (!condition.getAsBoolean()) {
            try {
                wait();
            } catch (InterruptedException e) {
                interrupted = true;
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
    }

    private FileChannel lock(boolean shared) throws ImageException {
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock unused = ch.lock(0, Long.MAX_VALUE, shared);
            return ch;
        } catch (IOException e) {
            closeQuietly(ch);
            throw new ImageException("cannot lock " + file + " of the image store: " + e
                    + " (an interrupted thread cannot wait for the lock; check the store's permissions)", e);
        }
    }

    private static void closeQuietly(FileChannel ch) {
        if (ch != null) {
            try {
                ch.close(); // releases the channel's lock
            } catch (IOException e) {
                // Closing a lock file cannot lose data; the kernel drops the lock with the descriptor.
            }
        }
    }
}
