package dev.crabcan.internal.sys;

/**
 * A descriptor this JVM made for a sandbox (an end of a SandboxPipe) and gives away once: the
 * start that {@linkplain #take takes} it owns it from then on and closes it once the sandbox's
 * helper has its own copy, so that this JVM never holds it open past that start (a pipe's reader
 * then sees the end of file when its writers are gone).
 */
public final class OwnedFd {
    private final String name;
    private int fd;
    private boolean taken;

    public OwnedFd(int fd, String name) {
        this.fd = fd;
        this.name = name;
    }

    /**
     * The descriptor, now the caller's to close; a second take fails, naming what it is and why.
     */
    public synchronized int take() throws java.io.IOException {
        if (fd < 0) {
            throw new java.io.IOException(name + (taken ? " was already given to a sandbox started before (an end goes "
                    + "to one start only: create a new pipe for each run)" : " is closed"));
        }
        int f = fd;
        fd = -1;
        taken = true;
        return f;
    }

    /** Closes it unless a start took it. Idempotent. */
    public synchronized void close() {
        if (fd >= 0) {
            LibC.close(fd);
            fd = -1;
        }
    }

    /** Whether it is still here to be taken. */
    public synchronized boolean isOpen() {
        return fd >= 0;
    }

    @Override
    public String toString() {
        return name;
    }
}
