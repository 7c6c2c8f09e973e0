package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A RUN step's changes: the upper directory of the overlayfs its sandbox ran on, over the stage's
 * layer directories, made into an OCI layer. Overlayfs's whiteouts (character devices 0/0, or
 * empty files marked {@code user.overlay.whiteout}) become {@code .wh.NAME} entries, and its opaque
 * directories ({@code user.overlay.opaque=y}) {@code .wh..wh..opq} ones.
 */
final class UpperLayer {
    /** Mount points a sandbox makes in its root filesystem: not part of a layer when they are new and empty. */
    private static final Set<String> MOUNT_POINTS = Set.of("proc", "dev", "tmp", "sys");
    /** overlayfs's mark of a copied-up entry, with {@code userxattr}: {@code user.overlay.origin}. */
    private static final String ORIGIN = "overlay.origin";

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
     * the layers gave them; new ones, and those the step removed and made anew, belong to the step's
     * user ({@code ids}), as they would where the ids are real. Where the layers mark each entry's
     * owner ({@link Unpacker#owner}) and the upper directory keeps xattrs, the mark, which
     * overlayfs copies up with a file and a rename keeps, says it. Otherwise (layers unpacked by an
     * earlier version, a file system without user xattrs) the owner goes by path ({@code owners})
     * and what overlayfs records tells a changed entry from one made anew (see {@link #recreated}).
     */
    static Image.Layer write(Store store, Path upper, List<Path> lower, Unpacker.Owners owners, int[] ids)
            throws IOException {
        Scan scan = Scan.of(upper);
        boolean originsKept = Unpacker.keepsXattrs(upper);
        boolean byMark = originsKept && ownersMarked(lower);
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
                long[] known = byMark ? Unpacker.owner(p, node) : owners.get(path);
                boolean existed = known != null || !byMark && inLower(lower, path);
                if (!existed && MOUNT_POINTS.contains(path) && node.isDirectory() && isEmpty(p)) {
                    continue;
                }
                if (!byMark && existed && recreated(node, p, lower, path, originsKept)) {
                    known = null;
                    existed = false;
                }
                // A directory the layers made on the way to their entries, which no header names, is root's.
                long uid = known != null ? known[0] : existed ? 0 : ids[0];
                long gid = known != null ? known[1] : existed ? 0 : ids[1];
                int mode = node.mode() & 07777;
                if (node.isDirectory() && known != null && mode == ((int) known[2] | 0700)) {
                    mode = (int) known[2]; // layer directories stay writable by the builder on disk
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
     * Whether an entry of the upper directory at a path the lower layers have is one the step
     * made anew (removed, then made) rather than changed, by what overlayfs records: a directory
     * made where the lower one was removed is opaque; a copied-up file or directory is marked
     * {@code user.overlay.origin} (a file handle of the lower one, or an empty value where the
     * lower file system gives none), a new one is not (Linux's copy_up.c: "so we can use the
     * overlay.origin xattr to distinguish between a copy up and a pure upper inode"). Two cases
     * get no origin however they came: a symbolic link or special file (no user xattr can be set
     * on one), taken as made anew (a link's target cannot change otherwise); and a file the lower
     * layer has hard links to (its copy-up breaks the link, and overlayfs records no origin
     * then), taken as changed.
     * Without xattrs on the upper directory's file system nothing is recorded: everything is
     * taken as changed.
     */
    private static boolean recreated(Scan.Node node, Path p, List<Path> lower, String path, boolean originsKept)
            throws IOException {
        if (node.isDirectory()) {
            return Unpacker.isOpaque(p);
        }
        if (!node.isFile()) {
            // No user xattr on a link or a special file; and opening a fifo to read one would block.
            return originsKept;
        }
        if (!originsKept || Unpacker.xattr(p, ORIGIN) != null) {
            return false;
        }
        Path below;
        try {
            below = LayerDirs.find(lower, path);
        } catch (IllegalArgumentException e) {
            return true; // under a link of the layers: none of their files
        }
        return below == null || !Files.isRegularFile(below, LinkOption.NOFOLLOW_LINKS)
                || (Integer) Files.getAttribute(below, "unix:nlink", LinkOption.NOFOLLOW_LINKS) == 1;
    }

    private static boolean ownersMarked(List<Path> lower) throws IOException {
        for (Path l : lower) {
            if (!Unpacker.marksOwners(l)) {
                return false;
            }
        }
        return true;
    }

    private static boolean isWhiteout(Scan.Node node, Path p) throws IOException {
        if ((node.mode() & Scan.S_IFMT) == Scan.S_IFCHR) {
            return ((Number) Files.getAttribute(p, "unix:rdev", LinkOption.NOFOLLOW_LINKS)).longValue() == 0;
        }
        return node.isFile() && node.size() == 0 && Unpacker.isWhiteout(p);
    }

    private static boolean inLower(List<Path> lower, String path) throws IOException {
        try {
            return LayerDirs.find(lower, path) != null;
        } catch (IllegalArgumentException e) {
            return false; // under a link: not a directory the layers made on the way
        }
    }

    private static boolean isEmpty(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.findAny().isEmpty();
        }
    }
}
