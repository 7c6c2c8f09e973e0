package dev.crabcan.internal.image;

import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * A shared/exclusive lock on a file of the image store that holds across threads and JVMs: a
 * read-write lock inside this JVM (the JVM refuses overlapping file locks of its own) and an
 * fcntl lock on the file between JVMs, which the kernel drops when a JVM dies.
 *
 * <p>Thread-safe. One instance per file and JVM ({@link #of}).
 */
public final class StoreLock {
    private static final Map<Path, StoreLock> LOCKS = new ConcurrentHashMap<>();

    private final Path file;
    private final ReentrantReadWriteLock inJvm = new ReentrantReadWriteLock();
    // Guarded by this: the file lock all of this JVM's shared holders share.
    private int sharedHolders;
    private FileChannel sharedChannel;

    /** A held lock; closing releases it. */
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
        inJvm.readLock().lock();
        try {
            synchronized (this) {
                if (sharedHolders == 0) {
                    sharedChannel = lock(true);
                }
                sharedHolders++;
            }
        } catch (ImageException | RuntimeException e) {
            inJvm.readLock().unlock();
            throw e;
        }
        return () -> {
            synchronized (this) {
                if (--sharedHolders == 0) {
                    closeQuietly(sharedChannel);
                    sharedChannel = null;
                }
            }
            inJvm.readLock().unlock();
        };
    }

    /** Blocks until no one else holds it at all. */
    public Held exclusive() throws ImageException {
        inJvm.writeLock().lock();
        FileChannel ch;
        try {
            ch = lock(false);
        } catch (ImageException | RuntimeException e) {
            inJvm.writeLock().unlock();
            throw e;
        }
        return () -> {
            closeQuietly(ch);
            inJvm.writeLock().unlock();
        };
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
