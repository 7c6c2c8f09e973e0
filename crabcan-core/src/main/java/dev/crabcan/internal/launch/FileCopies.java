package dev.crabcan.internal.launch;

import dev.crabcan.CopiedFile;
import dev.crabcan.CopyIn;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.internal.sys.LibC;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The descriptors of one start's copy-in and copy-out files (T_COPY_IN, T_COPY_OUT), sent to the
 * helper after the passed fds: for each file copied in, an in-memory file (memfd) holding the
 * caller's bytes or the host file opened without following links; for each file copied out, an
 * empty in-memory file that the sandbox's init fills once the command has ended. The JVM keeps
 * the latter and reads them back when the sandbox has ended ({@link #collect}).
 */
public final class FileCopies {
    private static final Logger log = LoggerFactory.getLogger(FileCopies.class);
    private static final int O_RDONLY = 0, O_NOCTTY = 0400, O_NONBLOCK = 04000;
    private static final int ELOOP = 40;

    /** A start that copies nothing. */
    public static final FileCopies NONE = new FileCopies(new int[0], List.of(), new long[0], new int[0]);

    private int[] in;
    private final List<String> outPaths;
    private final long[] outMax;
    private final int[] out;
    private final long[] size;
    private final int[] errno;
    private final boolean[] reported;
    private Map<String, CopiedFile> collected;

    private FileCopies(int[] in, List<String> outPaths, long[] outMax, int[] out) {
        this.in = in;
        this.outPaths = outPaths;
        this.outMax = outMax;
        this.out = out;
        this.size = new long[out.length];
        this.errno = new int[out.length];
        this.reported = new boolean[out.length];
    }

    /**
     * Makes the descriptors for these copies, in record order. A host file that cannot be opened
     * fails the start here, before anything exists.
     */
    public static FileCopies open(List<CopyIn> ins, Map<String, Long> outs) {
        if (ins.isEmpty() && outs.isEmpty()) {
            return NONE; // and no native bindings loaded
        }
        List<Integer> made = new ArrayList<>();
        try {
            int[] in = new int[ins.size()];
            for (int i = 0; i < in.length; i++) {
                in[i] = source(ins.get(i));
                made.add(in[i]);
            }
            int[] out = new int[outs.size()];
            long[] max = new long[outs.size()];
            int k = 0;
            for (Map.Entry<String, Long> e : outs.entrySet()) {
                out[k] = memfd("crabcan-copy-out");
                made.add(out[k]);
                max[k++] = e.getValue();
            }
            return new FileCopies(in, List.copyOf(outs.keySet()), max, out);
        } catch (RuntimeException e) {
            made.forEach(LibC::close);
            throw e;
        } catch (LinkageError e) {
            made.forEach(LibC::close);
            throw new SandboxSpecException("copyIn and copyOut need native calls, which this JVM cannot make (" + e
                    + "): is jffi (com.github.jnr:jffi and its native classifier) on the class or module path?");
        }
    }

    private static int source(CopyIn c) {
        if (c.hostFile() == null) {
            int fd = memfd("crabcan-copy-in");
            try (OutputStream o = Files.newOutputStream(Path.of("/proc/self/fd/" + fd))) {
                o.write(c.content());
            } catch (IOException e) {
                LibC.close(fd);
                throw new SandboxSpecException("copyIn " + c.target() + ": cannot hold its " + c.content().length
                        + " bytes in memory: " + e);
            }
            return fd;
        }
        Path host = c.hostFile();
        try {
            return LibC.openWithoutLinks(host.toString(), O_RDONLY | O_NONBLOCK | O_NOCTTY);
        } catch (LibC.ErrnoException e) {
            throw new SandboxSpecException("copyIn " + c.target() + ": cannot open the host file " + host + ": "
                    + e.getMessage() + (e.errno() == ELOOP ? " (Crabcan follows no symbolic link on a copy-in's path, "
                    + "which a sandbox could have planted: give the real path)" : ""));
        } catch (IOException e) {
            throw new SandboxSpecException("copyIn " + c.target() + ": cannot open the host file " + host + ": " + e);
        }
    }

    private static int memfd(String name) {
        try {
            return LibC.memfd(name);
        } catch (IOException e) {
            throw new SandboxSpecException("cannot make an in-memory file to copy through: " + e.getMessage());
        }
    }

    boolean isEmpty() {
        return in.length == 0 && out.length == 0;
    }

    /** The descriptors to send, after the passed ones: the copy-in sources, then the copy-out files. */
    int[] fds() {
        int[] all = java.util.Arrays.copyOf(in, in.length + out.length);
        System.arraycopy(out, 0, all, in.length, out.length);
        return all;
    }

    /** The helper holds the sources now (or the start failed): this JVM's are closed. */
    synchronized void sent() {
        for (int fd : in) {
            LibC.close(fd);
        }
        in = new int[0];
    }

    /** A COPIED report: how the index-th copy-out went. */
    synchronized void reported(int index, long fileSize, int err) {
        if (index >= 0 && index < out.length) {
            size[index] = fileSize;
            errno[index] = err;
            reported[index] = true;
        }
    }

    /**
     * Once the sandbox has ended: the files init read back, by path; those it could not read (or
     * never got to, when the whole sandbox was killed) are left out. Reads them once, closing
     * every descriptor; later calls return the same map.
     */
    public synchronized Map<String, CopiedFile> collect() {
        if (collected != null) {
            return collected;
        }
        sent();
        Map<String, CopiedFile> files = new LinkedHashMap<>();
        for (int i = 0; i < out.length; i++) {
            String path = outPaths.get(i);
            if (!reported[i]) {
                log.debug("copy-out {}: not read, the sandbox was killed before its command ended", path);
            } else if (errno[i] != 0) {
                log.debug("copy-out {}: not read, errno {}", path, errno[i]);
            } else {
                try (InputStream s = Files.newInputStream(Path.of("/proc/self/fd/" + out[i]))) {
                    files.put(path, new CopiedFile(path, s.readNBytes((int) Math.min(Math.min(outMax[i], size[i]),
                            Integer.MAX_VALUE - 8)), size[i]));
                } catch (IOException e) {
                    log.warn("copy-out {}: cannot read it back: {}", path, e.toString());
                }
            }
            LibC.close(out[i]);
        }
        collected = Collections.unmodifiableMap(files);
        return collected;
    }
}
