package dev.crabcan.internal.image;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * The sources of a COPY or ADD: files and directories of the build context (never outside it,
 * whether through {@code ..} or a symbolic link, and never what the ignore file leaves out) or of
 * an earlier stage's root filesystem, and for ADD local tar archives, which are extracted.
 */
final class CopySource {
    private enum Kind { FILE, DIRECTORY, ARCHIVE }

    /** One source: {@code path} on disk, {@code rel} its path from the root it was found in. */
    private record Item(Path path, String rel, Kind kind) {}

    private final Path root;
    private final IgnoreRules ignore;
    private final List<Item> items;
    private final String where;

    private CopySource(Path root, IgnoreRules ignore, List<Item> items, String where) {
        this.root = root;
        this.ignore = ignore;
        this.items = items;
        this.where = where;
    }

    static CopySource fromContext(Path context, IgnoreRules ignore, List<String> sources, boolean add)
            throws IOException {
        Path realContext = context.toRealPath();
        List<Item> items = new ArrayList<>();
        for (String s : sources) {
            if (s.matches("[a-zA-Z][a-zA-Z0-9+.-]*://.*") || s.startsWith("git@")) {
                throw new IllegalArgumentException("source " + s + " is a URL: builds do not download (RUN steps"
                        + " have no network by default); put the file in the build context");
            }
            for (String rel : expand(realContext, ignore, s)) {
                Path p = realContext.resolve(rel);
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS) || ignore.ignored(rel)) {
                    throw new IllegalArgumentException("source " + s + " is not in the build context " + context
                            + (Files.exists(p, LinkOption.NOFOLLOW_LINKS) ? " (the ignore file leaves it out)" : ""));
                }
                Path real = p.toRealPath();
                if (!real.startsWith(realContext)) {
                    throw new IllegalArgumentException("source " + s + " leads outside the build context " + context
                            + " (through a symbolic link, to " + real + "); copy the file into the context instead");
                }
                Kind kind = Files.isDirectory(real) ? Kind.DIRECTORY
                        : add && Compression.isTar(real) ? Kind.ARCHIVE : Kind.FILE;
                items.add(new Item(real, realContext.relativize(real).toString(), kind));
            }
        }
        return new CopySource(realContext, ignore, items, "build context " + context);
    }

    /** Sources in an earlier stage's root filesystem: reached through no symbolic link. */
    static CopySource fromRootfs(Path rootfs, List<String> sources, String where) throws IOException {
        List<Item> items = new ArrayList<>();
        for (String s : sources) {
            for (String rel : expand(rootfs, IgnoreRules.NONE, s)) {
                Path p = rootfs;
                for (String part : rel.split("/")) {
                    if (part.isEmpty()) {
                        continue;
                    }
                    if (Files.isSymbolicLink(p)) {
                        throw new IllegalArgumentException("source " + s + " of " + where + " lies under a symbolic"
                                + " link (" + rootfs.relativize(p) + "); name the path it points to");
                    }
                    p = p.resolve(part);
                }
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    throw new IllegalArgumentException("source " + s + " is not in " + where);
                }
                items.add(new Item(p, rel, Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS) ? Kind.DIRECTORY : Kind.FILE));
            }
        }
        return new CopySource(rootfs, IgnoreRules.NONE, items, where);
    }

    /** A source made relative to its root; a pattern becomes the paths it matches. */
    private static List<String> expand(Path root, IgnoreRules ignore, String source) throws IOException {
        Path rel = Path.of("/").relativize(Path.of("/", source).normalize());
        String norm = rel.toString();
        if (Path.of(source.startsWith("/") ? source.substring(1) : source).normalize().startsWith("..")) {
            throw new IllegalArgumentException("source " + source + " is outside the build context ('..')");
        }
        if (!norm.matches(".*[*?\\[].*")) {
            return List.of(norm);
        }
        PathMatcher m = FileSystems.getDefault().getPathMatcher("glob:" + norm);
        int depth = rel.getNameCount();
        List<String> out = new ArrayList<>();
        try (Stream<Path> s = Files.walk(root, depth)) {
            s.map(root::relativize).filter(p -> p.getNameCount() == depth && m.matches(p))
                    .map(Path::toString).filter(p -> !ignore.ignored(p)).sorted().forEach(out::add);
        }
        if (out.isEmpty()) {
            throw new IllegalArgumentException("no file matches source " + source);
        }
        return out;
    }

    int count() {
        return items.size();
    }

    boolean anyDirectory() {
        return items.stream().anyMatch(i -> i.kind != Kind.FILE);
    }

    /** The sha256 of every source's names, types, modes, link targets and bytes: the cache's input. */
    String digest() throws IOException {
        return pass(null, "", false, null, null, true);
    }

    /** The item's own path, then (for a directory) everything below it not ignored, parents first. */
    private List<Path> tree(Item i) throws IOException {
        if (i.kind != Kind.DIRECTORY) {
            return List.of(i.path);
        }
        try (Stream<Path> s = Files.walk(i.path)) {
            return s.filter(p -> p.equals(i.path) || !ignore.ignored(root.relativize(p).toString())).sorted().toList();
        }
    }

    private static Scan.Node node(Path p) throws IOException {
        var a = Files.readAttributes(p, "unix:mode,uid,gid,ino,ctime,size,lastModifiedTime,nlink", LinkOption.NOFOLLOW_LINKS);
        return new Scan.Node(p.toString(), (Integer) a.get("mode"), (Integer) a.get("uid"), (Integer) a.get("gid"),
                (Long) a.get("ino"), (java.nio.file.attribute.FileTime) a.get("ctime"), (Long) a.get("size"),
                (java.nio.file.attribute.FileTime) a.get("lastModifiedTime"), (Integer) a.get("nlink"));
    }

    /**
     * Writes the sources as entries under {@code dest} (relative to the image root); the caller
     * writes the directories on the way, {@code dest} itself when it is one.
     *
     * @param destIsDir whether a file source goes into {@code dest} rather than becoming it
     * @param owner the --chown owner, or null for the archive's own ids (ADD) / root
     * @param chmod the --chmod bits, or null for the sources' own
     */
    void write(Tar.Writer w, String dest, boolean destIsDir, Owner owner, Integer chmod) throws IOException {
        pass(w, dest, destIsDir, owner, chmod, false);
    }

    /**
     * As {@link #write}, hashing the sources as they are read for the entries (each file read
     * once): returns what {@link #digest} would.
     */
    String writeAndDigest(Tar.Writer w, String dest, boolean destIsDir, Owner owner, Integer chmod)
            throws IOException {
        return pass(w, dest, destIsDir, owner, chmod, true);
    }

    /**
     * One walk of the sources: their entries written to {@code w} unless it is null, and when
     * {@code hashing}, their digest returned.
     */
    private String pass(Tar.Writer w, String dest, boolean destIsDir, Owner owner, Integer chmod, boolean hashing)
            throws IOException {
        Owner o = owner == null ? Owner.ROOT : owner;
        // Read in large blocks: through DigestInputStream.transferTo's 8 KiB ones, hashing 100 MiB
        // took 1.6 times the CPU (BenchmarkTest's row 20 copies such a tree).
        byte[] buf = new byte[1 << 16];
        MessageDigest sha = Store.sha256();
        // In this thread: a layer written meanwhile has its own hash on a thread of its own.
        OutputStream hash = hashing ? new DigestOutputStream(OutputStream.nullOutputStream(), sha)
                : OutputStream.nullOutputStream();
        for (Item i : items) {
            hash.write((i.kind + " " + i.rel + "\n").getBytes(StandardCharsets.UTF_8));
            for (Path p : tree(i)) {
                Scan.Node n = node(p);
                hash.write((root.relativize(p) + " " + Integer.toOctalString(n.mode()) + "\n")
                        .getBytes(StandardCharsets.UTF_8));
                if (n.isSymlink()) {
                    hash.write(Files.readSymbolicLink(p).toString().getBytes(StandardCharsets.UTF_8));
                }
                int mode = chmod != null && !n.isSymlink() ? chmod : n.mode() & 07777;
                OutputStream content = hashing && n.isFile() ? hash : null;
                if (w != null && i.kind == Kind.FILE) {
                    String name = destIsDir ? join(dest, p.getFileName().toString()) : dest;
                    LayerWriter.put(w, p.getParent(), withPath(n, p.getFileName().toString()), name,
                            o.uid(), o.gid(), mode, content);
                } else if (w != null && i.kind == Kind.DIRECTORY && !p.equals(i.path)) {
                    String below = i.path.relativize(p).toString();
                    LayerWriter.put(w, i.path, withPath(n, below), join(dest, below), o.uid(), o.gid(), mode,
                            content);
                } else if (content != null) {
                    try (InputStream in = Files.newInputStream(p, LinkOption.NOFOLLOW_LINKS)) {
                        for (int read = in.read(buf); read >= 0; read = in.read(buf)) {
                            content.write(buf, 0, read);
                        }
                    }
                }
            }
            if (w != null && i.kind == Kind.ARCHIVE) {
                extract(w, i, dest, owner);
            }
        }
        return hashing ? HexFormat.of().formatHex(sha.digest()) : null;
    }

    private static Scan.Node withPath(Scan.Node n, String path) {
        return new Scan.Node(path, n.mode(), n.uid(), n.gid(), n.ino(), n.ctime(), n.size(), n.mtime(), n.nlink());
    }

    /** ADD of a local tarball: its entries under dest, refusing what could write outside it. */
    private void extract(Tar.Writer w, Item i, String dest, Owner owner) throws IOException {
        String name = i.rel;
        Set<String> links = new HashSet<>();
        try (InputStream in = Compression.open(i.path)) {
            Tar.Reader r = new Tar.Reader(in, name);
            for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                String rel = Unpacker.check(e.name(), name);
                if (rel.isEmpty()) {
                    continue;
                }
                for (String l : links) {
                    if (rel.startsWith(l + "/")) {
                        throw new IllegalArgumentException(name + ": entry '" + e.name() + "' lies under '" + l
                                + "', a symbolic link of the same archive; writing through it could reach outside"
                                + " the image, so it is refused");
                    }
                }
                long uid = owner == null ? e.uid() : owner.uid();
                long gid = owner == null ? e.gid() : owner.gid();
                switch (e.type()) {
                    case CHAR, BLOCK, FIFO -> throw new IllegalArgumentException(name + ": entry '" + e.name()
                            + "' is a device node or fifo; ADD does not make those: remove it from the archive");
                    case SYMLINK -> {
                        links.add(rel);
                        w.put(Tar.Entry.symlink(join(dest, rel), e.linkName(), uid, gid, e.mtime()));
                    }
                    case HARDLINK -> w.put(new Tar.Entry(join(dest, rel), Tar.Type.HARDLINK, e.mode(), uid, gid, 0,
                            e.mtime(), join(dest, Unpacker.check(e.linkName(), name)), 0, 0));
                    case DIRECTORY -> w.put(Tar.Entry.directory(join(dest, rel), e.mode(), uid, gid, e.mtime()));
                    case FILE -> {
                        w.put(Tar.Entry.file(join(dest, rel), e.mode(), uid, gid, e.size(), e.mtime()));
                        w.write(r.content());
                    }
                    default -> throw new IllegalStateException(e.type().toString());
                }
            }
        }
    }

    private static String join(String a, String b) {
        return a.isEmpty() ? b : a + "/" + b;
    }

    @Override
    public String toString() {
        return where;
    }
}
