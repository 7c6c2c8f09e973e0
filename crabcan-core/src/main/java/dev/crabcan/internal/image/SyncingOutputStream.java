package dev.crabcan.internal.image;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;

/**
 * Writes to a file and has the kernel write it out to disk while it is still being written: a
 * force of what is written so far after every 16 MiB, on a thread of its own, one at a time. The
 * {@link #force} before a blob is renamed into place then waits for the last few MiB only (of a
 * 100 MiB layer, about 15 ms instead of 60). Not thread-safe: one writer.
 */
final class SyncingOutputStream extends OutputStream {
    private static final long EVERY = 16L << 20;

    private final FileChannel ch;
    private final OutputStream out;
    private long unforced;
    private Thread forcing;
    /**
     * What a background force failed with: the kernel reports a write-back error to one fsync of
     * the file only, so {@link #force} must report it even though its own fsync succeeds.
     */
    private volatile IOException failed;

    SyncingOutputStream(FileChannel ch) {
        this.ch = ch;
        this.out = Channels.newOutputStream(ch);
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        out.write(b, off, len);
        unforced += len;
        if (unforced >= EVERY && (forcing == null || !forcing.isAlive())) {
            unforced = 0;
            forcing = new Thread(() -> {
                try {
                    ch.force(false);
                } catch (IOException e) {
                    failed = e;
                }
            }, "crabcan-blob-sync");
            forcing.setDaemon(true);
            forcing.start();
        }
    }

    /** Forces everything written to disk, failing if any force of it did. */
    void force() throws IOException {
        await();
        ch.force(false);
        if (failed != null) {
            throw failed;
        }
    }

    private void await() throws IOException {
        if (forcing == null) {
            return;
        }
        try {
            forcing.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while writing a blob to disk");
        }
    }

    /** Waits for a background force (whose file the caller may delete next), then closes the channel. */
    @Override
    public void close() throws IOException {
        try (out) {
            await();
        }
    }
}
