package dev.crabcan.internal.image;

import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.attribute.UserDefinedFileAttributeView;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributeView;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Applies tar archives to a root filesystem being built, never writing outside it: names that
 * are absolute or contain {@code ..} are refused, no entry is written through a symbolic link
 * (a parent that is one is refused, an existing final component is replaced, not followed),
 * hard links must point at files inside, and with {@link Policy#LAYER} OCI whiteouts remove what
 * lower layers had.
 *
 * <p>Ownership: files belong to the builder on disk, for root and rootless builders alike (so a
 * build step's sandbox, whose single mapped id is the builder's, may change them as the image's
 * root would); {@link Owners} keeps the ids and modes the archive said, so the image still says
 * them. Directories stay writable by the builder on disk. Not thread-safe.
 */
public final class Unpacker {
    private static final Logger LOG = LoggerFactory.getLogger(Unpacker.class);
    private static final LinkOption[] NOFOLLOW = {LinkOption.NOFOLLOW_LINKS};

    /** What an archive is. */
    public enum Policy {
        /** An image layer: whiteouts apply; device nodes and fifos are skipped (sandboxes mount nodev). */
        LAYER,
        /**
         * An image layer unpacked into an empty directory of its own, a lower layer of an overlayfs
         * mounted with {@code userxattr}: whiteouts become overlayfs's, as xattrs a rootless store
         * can hold (a character device 0/0 Java cannot make): {@code .wh..wh..opq} marks its
         * directory {@code user.overlay.opaque=y}; {@code .wh.NAME} is an empty file NAME marked
         * {@code user.overlay.whiteout}, in a directory marked {@code user.overlay.opaque=x} (it
         * holds such files; Linux 6.7 and later). Device nodes and fifos are skipped as for LAYER,
         * so no entry of an archive can become a whiteout or an xattr but by these names.
         */
        LAYER_DIR,
        /** A tarball of the build context (ADD): device nodes and fifos are refused. */
        ARCHIVE
    }

    /** The ids and modes an image says files have, where the disk cannot say it (a rootless build). */
    public static final class Owners {
        /** Relative path to {uid, gid, mode}; sorted, so that what lies under a path is a range ('0' follows '/'). */
        final java.util.NavigableMap<String, long[]> byPath = new java.util.TreeMap<>();

        public long[] get(String relative) {
            return byPath.get(relative);
        }

        public void put(String relative, long uid, long gid, int mode) {
            byPath.put(relative, new long[] {uid, gid, mode});
        }

        void removeUnder(String relative) {
            byPath.remove(relative);
            byPath.subMap(relative + "/", relative + "0").clear();
        }

        /** What a layer of the store says about owners, as {@link #applyLayer(InputStream, String)}. */
        void applyLayer(Store store, dev.crabcan.image.Image.Layer layer) throws IOException {
            try (InputStream in = Files.newInputStream(store.blobPath(layer.digest()))) {
                applyLayer(in, "layer " + layer.digest());
            }
        }

        /**
         * What a layer says about owners, read from its headers alone (its files' bytes are
         * skipped), applied as {@link Policy#LAYER} would apply the layer.
         */
        void applyLayer(InputStream tar, String where) throws IOException {
            Tar.Reader r = new Tar.Reader(tar, where);
            Set<String> made = new HashSet<>();
            for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                String rel = check(e.name(), where);
                if (rel.isEmpty()) {
                    continue;
                }
                int slash = rel.lastIndexOf('/');
                String parentRel = slash < 0 ? "" : rel.substring(0, slash);
                String base = rel.substring(slash + 1);
                if (base.equals(".wh..wh..opq")) {
                    String prefix = parentRel.isEmpty() ? "" : parentRel + "/";
                    Map<String, long[]> under = parentRel.isEmpty() ? byPath : byPath.subMap(prefix, parentRel + "0");
                    under.keySet().removeIf(k -> !made.contains(prefix + k.substring(prefix.length()).split("/", 2)[0]));
                } else if (base.startsWith(".wh.")) {
                    removeUnder(join(parentRel, base.substring(4)));
                } else if (e.type() == Tar.Type.HARDLINK) {
                    made.add(rel);
                    long[] o = get(check(e.linkName(), where));
                    if (o != null) {
                        put(rel, o[0], o[1], (int) o[2]);
                    }
                } else if (e.type() != Tar.Type.CHAR && e.type() != Tar.Type.BLOCK && e.type() != Tar.Type.FIFO) {
                    made.add(rel);
                    if (e.type() != Tar.Type.DIRECTORY) {
                        removeUnder(rel);
                    }
                    put(rel, e.uid(), e.gid(), e.mode());
                }
            }
        }
    }

    private record Deferred(String rel, int mode, long mtime) {}

    private static final String OPAQUE = "overlay.opaque";
    private static final String WHITEOUT = "overlay.whiteout";
    /**
     * On each file and directory of a LAYER_DIR layer: the ids and mode its archive gave it, as
     * "uid gid mode" (mode in octal). Overlayfs copies it up with the file, and a rename keeps it,
     * so a RUN step's layer knows whose a file it changed or moved was (see UpperLayer); a build
     * step cannot set it (its filter refuses every xattr call that writes).
     */
    private static final String OWNER = "crabcan.owner";
    /** On a LAYER_DIR layer's root: each of its files and directories carries {@link #OWNER}. */
    private static final String OWNERS_MARKED = "crabcan.owners";
    private static final String PROBE = "crabcan.probe";

    private final Path root;
    private final Owners owners;
    /** LAYER_DIR: the whiteout files and opaque directories made so far, relative. */
    private final Set<String> whiteouts = new HashSet<>();
    private final Set<String> opaque = new HashSet<>();
    /** LAYER_DIR on a file system with user xattrs: entries get {@link #OWNER}. */
    private boolean markOwners;

    public Unpacker(Path root, Owners owners) {
        this.root = root;
        this.owners = owners;
    }

    /**
     * Applies one archive.
     *
     * @param under where in the root the archive's names start ("" for the root)
     * @param where names the archive in errors
     */
    public void apply(InputStream tar, String under, Policy policy, String where) throws IOException {
        Tar.Reader r = new Tar.Reader(tar, where);
        Set<String> made = new HashSet<>();
        List<Deferred> dirs = new ArrayList<>();
        markOwners = policy == Policy.LAYER_DIR && keepsXattrs(root);
        for (Tar.Entry e = r.next(); e != null; e = r.next()) {
            String rel = join(under, check(e.name(), where));
            if (rel.isEmpty()) {
                if (e.type() == Tar.Type.DIRECTORY) {
                    continue; // the root's own entry: its mode stays the builder's
                }
                throw new ImageException(where + ": entry '" + e.name() + "' would replace the root directory");
            }
            int slash = rel.lastIndexOf('/');
            String parentRel = slash < 0 ? "" : rel.substring(0, slash);
            String base = rel.substring(slash + 1);
            Path parent = parentDir(parentRel, where, e.name());
            if (policy == Policy.LAYER_DIR && base.startsWith(".wh.")) {
                overlayWhiteout(parent, parentRel, base, where, e.name());
                continue;
            }
            if (policy == Policy.LAYER && base.startsWith(".wh.")) {
                if (base.equals(".wh..wh..opq")) {
                    emptyExcept(parent, parentRel, made);
                } else {
                    String hidden = base.substring(4);
                    if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..")) {
                        // ".wh..." would remove the root's parent, ".wh." and ".wh.." the directory itself
                        throw new ImageException(where + ": whiteout '" + e.name() + "' names no file of its directory");
                    }
                    removeTree(parent.resolve(hidden));
                    owners.removeUnder(join(parentRel, hidden));
                }
                continue;
            }
            Path target = parent.resolve(base);
            made.add(rel);
            boolean wasWhiteout = whiteouts.remove(rel);
            switch (e.type()) {
                case DIRECTORY -> {
                    BasicFileAttributes a = attrs(target);
                    if (a == null || !a.isDirectory()) {
                        removeTree(target);
                        Files.createDirectory(target);
                        if (wasWhiteout) {
                            // removed from the lower layers, then made anew: what they had in it stays hidden
                            mark(target, OPAQUE, "y");
                            opaque.add(rel);
                        }
                    }
                    setOwner(rel, e, target);
                    dirs.add(new Deferred(rel, e.mode(), e.mtime()));
                    continue;
                }
                case FILE -> {
                    removeTree(target);
                    try (OutputStream out = Files.newOutputStream(target, StandardOpenOption.CREATE_NEW,
                            StandardOpenOption.WRITE, LinkOption.NOFOLLOW_LINKS)) {
                        r.content().transferTo(out);
                    }
                }
                case SYMLINK -> {
                    removeTree(target);
                    Files.createSymbolicLink(target, Path.of(e.linkName()));
                }
                case HARDLINK -> {
                    String linkRel = join(under, check(e.linkName(), where));
                    int ls = linkRel.lastIndexOf('/');
                    Path existing = parentDir(ls < 0 ? "" : linkRel.substring(0, ls), where, e.linkName())
                            .resolve(linkRel.substring(ls + 1));
                    BasicFileAttributes a = attrs(existing);
                    if (a == null || a.isDirectory() || whiteouts.contains(linkRel)) {
                        throw new ImageException(where + ": hard link '" + e.name() + "' points at '" + e.linkName()
                                + "', which is not a file of the archive's root filesystem");
                    }
                    removeTree(target);
                    Files.createLink(target, existing);
                    long[] o = owners.get(linkRel);
                    if (o != null) {
                        owners.put(rel, o[0], o[1], (int) o[2]);
                    }
                    continue;
                }
                case CHAR, BLOCK, FIFO -> {
                    if (policy == Policy.ARCHIVE) {
                        throw new ImageException(where + ": entry '" + e.name() + "' is a device node or fifo;"
                                + " ADD does not make those: remove it from the archive");
                    }
                    LOG.debug("{}: skipping device node or fifo {}", where, e.name());
                    made.remove(rel);
                    continue;
                }
                default -> throw new IllegalStateException(e.type().toString());
            }
            setOwner(rel, e, target);
            setTime(target, e.mtime()); // before the mode: the JDK opens the file to set its times
            if (e.type() != Tar.Type.SYMLINK) {
                Files.setAttribute(target, "unix:mode", e.mode(), NOFOLLOW);
            }
        }
        // Last, so that a read-only directory's own entries could still be written into it. Reached
        // again from the root: a later entry may have replaced a directory on the way with a link.
        for (int i = dirs.size() - 1; i >= 0; i--) {
            Deferred d = dirs.get(i);
            Path dir = existingDir(d.rel);
            if (dir != null) {
                Files.setAttribute(dir, "unix:mode", d.mode | 0700, NOFOLLOW);
                setTime(dir, d.mtime);
            }
        }
        if (markOwners) {
            mark(root, OWNERS_MARKED, "y");
        }
    }

    /** An OCI whiteout in a LAYER_DIR archive (see {@link Policy#LAYER_DIR}). */
    private void overlayWhiteout(Path parent, String parentRel, String base, String where, String entry)
            throws IOException {
        if (base.equals(".wh..wh..opq")) {
            // A whiteout file in an opaque directory would show as the empty file it is: it is not needed there.
            for (java.util.Iterator<String> i = whiteouts.iterator(); i.hasNext();) {
                String w = i.next();
                if (w.substring(0, Math.max(w.lastIndexOf('/'), 0)).equals(parentRel)) {
                    Files.deleteIfExists(root.resolve(w));
                    i.remove();
                }
            }
            mark(parent, OPAQUE, "y");
            opaque.add(parentRel);
            return;
        }
        String hidden = base.substring(4);
        if (hidden.isEmpty() || hidden.equals(".") || hidden.equals("..") || hidden.startsWith(".wh.")) {
            throw new ImageException(where + ": whiteout '" + entry + "' names no file of its directory");
        }
        Path target = parent.resolve(hidden);
        if (opaque.contains(parentRel) || attrs(target) != null) {
            return; // hidden already, or this layer's own, which a whiteout of the same layer leaves
        }
        Files.createFile(target);
        mark(target, WHITEOUT, "y");
        whiteouts.add(join(parentRel, hidden));
        mark(parent, OPAQUE, "x");
    }

    private static void mark(Path p, String name, String value) throws IOException {
        try {
            Files.getFileAttributeView(p, UserDefinedFileAttributeView.class, NOFOLLOW)
                    .write(name, ByteBuffer.wrap(value.getBytes(StandardCharsets.US_ASCII)));
        } catch (IOException e) {
            throw new IOException("cannot set the xattr user." + name + " on " + p + " (" + e.getMessage()
                    + "): the image store must be on a file system with user extended attributes (ext4, xfs, btrfs,"
                    + " tmpfs), which image layers need for overlayfs's whiteouts", e);
        }
    }

    /** The value of the xattr {@code user.NAME} of a file (not followed), or null when it has none. */
    static String xattr(Path p, String name) throws IOException {
        UserDefinedFileAttributeView v = Files.getFileAttributeView(p, UserDefinedFileAttributeView.class, NOFOLLOW);
        if (v == null || !v.list().contains(name)) {
            return null;
        }
        ByteBuffer b = ByteBuffer.allocate(v.size(name));
        v.read(name, b);
        return new String(b.array(), 0, b.position(), StandardCharsets.US_ASCII);
    }

    /** Whether a directory of a LAYER_DIR layer hides what lower layers have in it. */
    static boolean isOpaque(Path dir) throws IOException {
        return Files.isDirectory(dir, NOFOLLOW) && "y".equals(xattr(dir, OPAQUE));
    }

    /** Whether a file of a LAYER_DIR layer is a whiteout. */
    static boolean isWhiteout(Path p) throws IOException {
        return Files.isRegularFile(p, NOFOLLOW) && xattr(p, WHITEOUT) != null;
    }

    /** A name of an archive, made relative; absolute names and ".." are refused. */
    static String check(String name, String where) throws ImageException {
        String n = name;
        while (n.startsWith("./")) {
            n = n.substring(2);
        }
        if (n.equals(".")) {
            return "";
        }
        if (n.startsWith("/")) {
            throw new ImageException(where + ": entry '" + name + "' has an absolute path; archives must hold"
                    + " relative names (tar -C DIR -cf FILE .)");
        }
        List<String> parts = new ArrayList<>();
        for (String p : n.split("/")) {
            if (p.equals("..")) {
                throw new ImageException(where + ": entry '" + name + "' leaves the archive's root with '..'");
            }
            if (!p.isEmpty() && !p.equals(".")) {
                parts.add(p);
            }
        }
        return String.join("/", parts);
    }

    private static String join(String a, String b) {
        return a.isEmpty() ? b : b.isEmpty() ? a : a + "/" + b;
    }

    /** The directory {@code relative} in the root, made as needed, reached through no link. */
    private Path parentDir(String relative, String where, String entry) throws IOException {
        Path p = root;
        if (relative.isEmpty()) {
            return p;
        }
        for (String part : relative.split("/")) {
            p = p.resolve(part);
            BasicFileAttributes a = attrs(p);
            if (a == null) {
                Files.createDirectory(p);
                Files.setAttribute(p, "unix:mode", 0755, NOFOLLOW);
                if (markOwners) {
                    markOwner(p, 0, 0, 0755); // a directory made on the way, which no header names, is root's
                }
            } else if (a.isSymbolicLink()) {
                throw new ImageException(where + ": entry '" + entry + "' lies under '" + root.relativize(p)
                        + "', a symbolic link; writing through it could reach outside the image, so it is refused");
            } else if (!a.isDirectory()) {
                throw new ImageException(where + ": entry '" + entry + "' lies under '" + root.relativize(p)
                        + "', which is not a directory");
            }
        }
        return p;
    }

    /** The directory {@code relative} in the root if it is still one, reached through no link; else null. */
    private Path existingDir(String relative) throws IOException {
        Path p = root;
        for (String part : relative.split("/")) {
            p = p.resolve(part);
            BasicFileAttributes a = attrs(p);
            if (a == null || !a.isDirectory()) {
                return null;
            }
        }
        return p;
    }

    /** Before its mode is set: a rootless builder could not write the xattr of a read-only file. */
    private void setOwner(String rel, Tar.Entry e, Path target) throws IOException {
        owners.put(rel, e.uid(), e.gid(), e.mode());
        if (markOwners && e.type() != Tar.Type.SYMLINK) { // no user xattr on a link
            markOwner(target, e.uid(), e.gid(), e.mode());
        }
    }

    private static void markOwner(Path p, long uid, long gid, int mode) throws IOException {
        mark(p, OWNER, uid + " " + gid + " " + Integer.toOctalString(mode & 07777));
    }

    /**
     * The ids and mode, {uid, gid, mode}, that an image gives a file or directory of a layer whose
     * root {@link #marksOwners}, or of a RUN step's upper directory over such layers (a copy-up
     * keeps the mark); null for one made since (or a link, or a special file, never opened).
     */
    static long[] owner(Path p, Scan.Node node) throws IOException {
        return node.isFile() || node.isDirectory() ? owner(p) : null;
    }

    /** {@link #owner(Path, Scan.Node)} of what is known to be a regular file or a directory. */
    static long[] owner(Path p) throws IOException {
        String v = xattr(p, OWNER);
        if (v == null) {
            return null;
        }
        if (!v.matches("\\d{1,10} \\d{1,10} [0-7]{1,4}")) {
            throw new ImageException("the xattr user." + OWNER + " of " + p + " is damaged (\"" + v + "\"): remove"
                    + " the store's layers/ directory, which images unpack again");
        }
        String[] f = v.split(" ");
        return new long[] {Long.parseLong(f[0]), Long.parseLong(f[1]), Integer.parseInt(f[2], 8)};
    }

    /** Whether each file and directory of this layer directory carries its owner (see {@link #owner}). */
    static boolean marksOwners(Path layerDir) throws IOException {
        return xattr(layerDir, OWNERS_MARKED) != null;
    }

    /** Copies a file's owner mark to a directory made in its place in an upper directory, as a copy-up would. */
    static void copyOwner(Path from, Path to) throws IOException {
        String v = xattr(from, OWNER);
        if (v != null) {
            mark(to, OWNER, v);
        }
    }

    /** Whether the file system of this directory keeps user xattrs. */
    static boolean keepsXattrs(Path dir) throws IOException {
        var view = Files.getFileAttributeView(dir, UserDefinedFileAttributeView.class, NOFOLLOW);
        try {
            view.write(PROBE, ByteBuffer.wrap(new byte[] {'y'}));
            view.delete(PROBE);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private static void setTime(Path p, long seconds) throws IOException {
        FileTime t = FileTime.from(seconds, TimeUnit.SECONDS);
        Files.getFileAttributeView(p, BasicFileAttributeView.class, NOFOLLOW).setTimes(t, null, null);
    }

    private static BasicFileAttributes attrs(Path p) throws IOException {
        try {
            return Files.readAttributes(p, BasicFileAttributes.class, NOFOLLOW);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    /** An opaque directory: what lower layers put in it goes; what this layer put there stays. */
    private void emptyExcept(Path dir, String dirRel, Set<String> made) throws IOException {
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            for (Path child : s) {
                String rel = join(dirRel, child.getFileName().toString());
                if (!made.contains(rel)) {
                    removeTree(child);
                    owners.removeUnder(rel);
                }
            }
        }
    }

    /** Removes a file or tree, following no link; nothing when it does not exist. */
    static void removeTree(Path p) throws IOException {
        BasicFileAttributes a = attrs(p);
        if (a == null) {
            return;
        }
        if (a.isDirectory()) {
            // A read-only directory of the image (rootless: the caller owns it) must be writable to empty it.
            // Set through the path: with NOFOLLOW the JDK opens the directory first, which mode 0 forbids
            // (overlayfs leaves its work directory so); lstat said it is no link.
            Files.setAttribute(p, "unix:mode", 0700);
            try (DirectoryStream<Path> s = Files.newDirectoryStream(p)) {
                for (Path child : s) {
                    removeTree(child);
                }
            }
        }
        Files.delete(p);
    }
}
