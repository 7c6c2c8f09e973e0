package dev.crabcan.internal.host;

import dev.crabcan.SandboxSetupException;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Coordination of root callers across threads and JVMs without a daemon: byte-range locks on a
 * root-only file under /run, which the kernel releases when the JVM holding them dies.
 *
 * <p>Every operation on the file runs on one thread of its own that nobody interrupts: an
 * interrupt during a FileChannel operation closes the channel, and closing it drops all of this
 * JVM's locks on the file.
 */
public final class HostLocks {
    private final Path file;
    private final String step;
    private final ScheduledExecutorService thread;
    // Touched on the lock thread only.
    private FileChannel channel;

    /**
     * @param step names the setup step in the {@link SandboxSetupException} of a failed operation
     */
    public HostLocks(Path file, String threadName, String step) {
        this.file = file;
        this.step = step;
        this.thread = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, threadName);
            t.setDaemon(true);
            return t;
        });
    }

    public Path file() {
        return file;
    }

    /** Runs an operation on the lock thread and waits for it, whatever interrupts the caller. */
    public <T> T call(Callable<T> task) throws SandboxSetupException {
        Future<T> f = thread.submit(task);
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof SandboxSetupException s) {
                        throw s;
                    }
                    throw new SandboxSetupException(step, 0, "cannot lock " + file + ": " + e.getCause());
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Queues an operation on the lock thread without waiting for it. */
    public Future<?> submit(Callable<?> task) {
        return thread.submit(task);
    }

    /** Queues an operation on the lock thread to run after a delay. */
    public void schedule(Callable<?> task, long delayMillis) {
        thread.schedule(task, delayMillis, TimeUnit.MILLISECONDS);
    }

    /**
     * On the lock thread: a lock on {@code size} bytes from {@code position}, or null if another
     * process or this JVM holds any of them.
     */
    public FileLock tryLock(long position, long size) throws IOException {
        try {
            return channel().tryLock(position, size, false);
        } catch (OverlappingFileLockException e) {
            return null;
        }
    }

    /**
     * On the lock thread: the file, opened once. Root's only: a user who could open it could take
     * read locks and stall every root caller's sandbox.
     */
    public FileChannel channel() throws IOException {
        if (channel == null) {
            FileChannel f = FileChannel.open(file, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE), PosixFilePermissions.asFileAttribute(
                            PosixFilePermissions.fromString("rw-------")));
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            if (!Files.getOwner(file).getName().equals("root")) {
                f.close();
                throw new IOException(file + " is not owned by root");
            }
            channel = f;
        }
        return channel;
    }
}
