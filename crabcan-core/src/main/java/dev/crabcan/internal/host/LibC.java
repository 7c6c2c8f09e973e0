package dev.crabcan.internal.host;

import jnr.ffi.LibraryLoader;
import jnr.ffi.annotations.Out;

/** The few libc calls the Java side makes itself; everything else happens in the helper. */
public interface LibC {
    int O_CLOEXEC = 02000000;

    LibC INSTANCE = LibraryLoader.create(LibC.class).load("c");

    int pipe2(@Out int[] fds, int flags);

    int close(int fd);
}
