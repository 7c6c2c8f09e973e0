package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A RUN step's changes: the upper directory of the overlayfs its sandbox ran on, over the stage's
 * layer directories, made into an OCI layer. Overlayfs's whiteouts (character devices 0/0, or
 * empty files marked {@code user.overlay.whiteout}) become {@code .wh.NAME} entries, and its opaque
 * directories ({@code user.overlay.opaque=y}) {@code .wh..wh..opq} ones.
 */
final class UpperLayer {
    /** Mount points a sandbox makes in its root filesystem: not part of a layer when they are new and empty. */
    private static final Set<String> MOUNT_POINTS = Set.of("proc", "dev", "tmp", "sys");
    private static final Logger LOG = LoggerFactory.getLogger(UpperLayer.class);

    private UpperLayer() {
    }

    /**
     * Before the step: its working directory made in {@code upper} (so that the layer has it), each
     * directory on the way that the lower layers have made with their mode, so the overlay merges it.
     * As BuildKit does, the image's symbolic links on the way are followed inside the image (see
     * {@link LayerDirs#resolve}): the directory made is where the sandbox's chdir, inside its root,
     * arrives.
     */
    static void makeWorkdir(Path upper, List<Path> lower, String workdir) throws IOException {
        String resolved;
        try {
            resolved = LayerDirs.resolve(lower, workdir.substring(1));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("WORKDIR " + workdir + ": " + e.getMessage(), e);
        }
        Path p = upper;
        String rel = "";
        for (String part : resolved.split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            rel = rel.isEmpty() ? part : rel + "/" + part;
            p = p.resolve(part);
            Path existing = LayerDirs.find(lower, rel);
            if (existing != null && !Files.isDirectory(existing, LinkOption.NOFOLLOW_LINKS)) {
                throw new IllegalArgumentException("WORKDIR " + workdir + ": /" + rel + " of the image is not a directory");
            }
            if (!Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                Files.createDirectory(p);
                if (existing != null) {
                    Unpacker.copyOwner(existing, p);
                }
                Files.setAttribute(p, "unix:mode", existing == null ? 0755
                        : (Integer) Files.getAttribute(existing, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777);
            }
        }
    }

    /**
     * Writes the layer. Entries the stage's layers had and the step changed or moved keep the owner
     * the layers gave them, which the mark each one carries ({@link Unpacker#owner}) says: overlayfs
     * copies it up with a file, and a rename keeps it. New ones, and those the step removed and made
     * anew, have none and belong to the step's user ({@code ids}), as they would where the ids are
     * real. When the step's user is not root, a setuid or setgid file of another user or group keeps
     * those bits only as the layers had it at that path, same mark, mode and bytes: during a step
     * every file seems to be its user's, and a write through a shared mapping keeps the bits (the
     * kernel clears them on write(2) only), so the step could otherwise change root's setuid
     * program, or move it onto a copy of its own bytes.
     */
    static Image.Layer write(Store store, Path upper, List<Path> lower, int[] ids) throws IOException {
        if (!Unpacker.keepsXattrs(upper)) {
            throw new ImageException("the file system of " + upper + " keeps no user extended attributes, which "
                    + "overlayfs's layers and image builds need: put the image store on ext4, xfs, btrfs or tmpfs");
        }
        for (Path l : lower) {
            if (!Unpacker.marksOwners(l)) {
                throw new ImageException("layer directory " + l + " carries no owner marks (unpacked by an earlier "
                        + "version of Crabcan, which the store unpacks again when an image is next used): run it again");
            }
        }
        Scan scan = Scan.of(upper);
        return store.writeBlob(out -> {
            Tar.Writer w = new Tar.Writer(out);
            Map<Long, String> linked = new HashMap<>();
            for (Scan.Node node : scan.nodes()) {
                String path = node.path();
                Path p = upper.resolve(path);
                if (isWhiteout(node, p)) {
                    int slash = path.lastIndexOf('/');
                    w.put(Tar.Entry.file(path.substring(0, slash + 1) + ".wh." + path.substring(slash + 1), 0, 0, 0,
                            0, 0));
                    continue;
                }
                long[] known = Unpacker.owner(p, node);
                if (known == null && MOUNT_POINTS.contains(path) && node.isDirectory() && isEmpty(p)) {
                    continue;
                }
                long uid = known != null ? known[0] : ids[0];
                long gid = known != null ? known[1] : ids[1];
                int mode = node.mode() & 07777;
                if (node.isDirectory() && known != null && mode == ((int) known[2] | 0700)) {
                    mode = (int) known[2]; // layer directories stay writable by the builder on disk
                }
                if (node.isFile() && (mode & 06000) != 0 && ids[0] != 0 && (uid != ids[0] || gid != ids[1])
                        && !unchanged(p, known, mode, lower, path)) {
                    LOG.debug("{}: setuid and setgid bits dropped: the step changed or moved another user's file", path);
                    mode &= ~06000;
                }
                if (node.isFile() && node.nlink() > 1 && linked.containsKey(node.ino())) {
                    w.put(new Tar.Entry(path, Tar.Type.HARDLINK, mode, uid, gid, 0, node.mtime().toMillis() / 1000,
                            linked.get(node.ino()), 0, 0));
                    continue;
                }
                LayerWriter.put(w, upper, node, path, uid, gid, mode);
                if (node.isFile() && node.nlink() > 1) {
                    linked.put(node.ino(), path);
                }
                if (node.isDirectory() && Unpacker.isOpaque(p)) {
                    w.put(Tar.Entry.file(path + "/.wh..wh..opq", 0, 0, 0, 0, 0));
                }
            }
            w.finish();
        }).asLayer();
    }

    /**
     * Whether a file of the upper directory is, at the same path, what the layers had: a regular
     * file with the same mark ({@code known}, or none), the same mode and the same bytes.
     */
    private static boolean unchanged(Path file, long[] known, int mode, List<Path> lower, String path)
            throws IOException {
        Path below;
        try {
            below = LayerDirs.find(lower, path);
        } catch (IllegalArgumentException e) {
            return false; // under a link of the layers
        }
        if (below == null || !Files.isRegularFile(below, LinkOption.NOFOLLOW_LINKS)
                || ((Integer) Files.getAttribute(below, "unix:mode", LinkOption.NOFOLLOW_LINKS) & 07777) != mode
                || !java.util.Arrays.equals(Unpacker.owner(below), known)
                || Files.size(below) != Files.size(file)) {
            return false;
        }
        try (InputStream a = Files.newInputStream(file, LinkOption.NOFOLLOW_LINKS);
                InputStream b = Files.newInputStream(below, LinkOption.NOFOLLOW_LINKS)) {
            byte[] x = new byte[65536];
            byte[] y = new byte[65536];
            for (int n = a.readNBytes(x, 0, x.length); n > 0; n = a.readNBytes(x, 0, x.length)) {
                if (b.readNBytes(y, 0, n) != n || !java.util.Arrays.equals(x, 0, n, y, 0, n)) {
                    return false;
                }
            }
            return b.read() < 0;
        }
    }

    private static boolean isWhiteout(Scan.Node node, Path p) throws IOException {
        if ((node.mode() & Scan.S_IFMT) == Scan.S_IFCHR) {
            return ((Number) Files.getAttribute(p, "unix:rdev", LinkOption.NOFOLLOW_LINKS)).longValue() == 0;
        }
        return node.isFile() && node.size() == 0 && Unpacker.isWhiteout(p);
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }
}
