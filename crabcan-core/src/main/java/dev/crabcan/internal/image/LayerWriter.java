package dev.crabcan.internal.image;

import java.io.FilterInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** Writes files of a directory tree as tar entries, reading them without following links. */
final class LayerWriter {
    private LayerWriter() {
    }

    /**
     * One entry named {@code name}, with the given ids and permission bits; fifos, sockets and
     * device nodes are left out (sandboxes mount nodev, and no build step needs them).
     */
    static void put(Tar.Writer w, Path root, Scan.Node node, String name, long uid, long gid, int mode)
            throws IOException {
        put(w, root, node, name, uid, gid, mode, null);
    }

    /** As {@link #put}, also writing a file's content to {@code copy} (unless null) as it is read. */
    static void put(Tar.Writer w, Path root, Scan.Node node, String name, long uid, long gid, int mode,
            OutputStream copy) throws IOException {
        Path p = root.resolve(node.path());
        long mtime = node.mtime().toMillis() / 1000;
        if (node.isDirectory()) {
            w.put(Tar.Entry.directory(name, mode, uid, gid, mtime));
        } else if (node.isSymlink()) {
            w.put(Tar.Entry.symlink(name, Files.readSymbolicLink(p).toString(), uid, gid, mtime));
        } else if (node.isFile()) {
            try (InputStream in = Files.newInputStream(p, StandardOpenOption.READ, LinkOption.NOFOLLOW_LINKS)) {
                w.put(Tar.Entry.file(name, mode, uid, gid, node.size(), mtime));
                w.write(copy == null ? in : new FilterInputStream(in) {
                    @Override
                    public int read(byte[] b, int off, int len) throws IOException {
                        int n = super.read(b, off, len);
                        if (n > 0) {
                            copy.write(b, off, n);
                        }
                        return n;
                    }
                });
            }
        }
    }
}
