package dev.crabcan.internal.image;

import java.io.IOException;
import java.io.OutputStream;
import java.security.MessageDigest;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;

/**
 * Writes to a stream in blocks of 1 MiB and hashes them with SHA-256 on a thread of its own, so
 * that hashing a blob (the CPU most of a large COPY takes) runs beside reading and writing it
 * instead of after them. {@link #close} waits for the hash; {@link #digest} gives it once closed.
 * Not thread-safe: one writer.
 */
final class HashingOutputStream extends OutputStream {
    private static final int BLOCK = 1 << 20;
    /** Blocks in flight: one being filled, one being hashed, one waiting. */
    private static final int BLOCKS = 3;
    private static final byte[] END = new byte[0];

    private final OutputStream out;
    private final MessageDigest sha = Store.sha256();
    private final BlockingQueue<byte[]> free = new ArrayBlockingQueue<>(BLOCKS);
    /** Filled blocks, each followed by its length as a block of its own: {@link #END} ends the queue. */
    private final BlockingQueue<Object> filled = new ArrayBlockingQueue<>(2 * BLOCKS + 1);
    private final Thread hasher;
    private byte[] block;
    private int used;
    private boolean closed;
    private byte[] digest;

    HashingOutputStream(OutputStream out) {
        this.out = out;
        for (int i = 1; i < BLOCKS; i++) {
            free.add(new byte[BLOCK]);
        }
        block = new byte[BLOCK];
        hasher = new Thread(this::hash, "crabcan-blob-hash");
        hasher.setDaemon(true);
        hasher.start();
    }

    private void hash() {
        try {
            while (true) {
                Object b = filled.take();
                if (b == END) {
                    return;
                }
                byte[] bytes = (byte[]) b;
                sha.update(bytes, 0, (Integer) filled.take());
                free.put(bytes);
            }
        } catch (InterruptedException e) {
            // close() interrupts the hasher last: one still running has a writer that failed, whose hash is not wanted
        }
    }

    @Override
    public void write(int b) throws IOException {
        write(new byte[] {(byte) b}, 0, 1);
    }

    @Override
    public void write(byte[] b, int off, int len) throws IOException {
        while (len > 0) {
            int n = Math.min(len, BLOCK - used);
            System.arraycopy(b, off, block, used, n);
            used += n;
            off += n;
            len -= n;
            if (used == BLOCK) {
                pass();
            }
        }
    }

    /** Writes the block and gives it to the hasher. */
    private void pass() throws IOException {
        out.write(block, 0, used);
        try {
            filled.put(block);
            filled.put(used);
            block = free.take();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while hashing a blob");
        }
        used = 0;
    }

    /** Writes what is buffered; the hash goes on. */
    @Override
    public void flush() throws IOException {
        if (used > 0) {
            pass();
        }
        out.flush();
    }

    /** Writes what is buffered, waits for the hash and closes the stream below. */
    @Override
    public void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        try (out) {
            flush();
            filled.put(END);
            hasher.join();
            digest = sha.digest();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.InterruptedIOException("interrupted while hashing a blob");
        } finally {
            hasher.interrupt();
        }
    }

    /** The SHA-256 of everything written; only once closed. */
    byte[] digest() {
        if (digest == null) {
            throw new IllegalStateException("the stream is not closed, or its writing failed");
        }
        return digest;
    }
}
