package dev.crabcan.internal.image;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;

/** What a directory tree holds, by lstat. Immutable. */
final class Scan {
    static final int S_IFMT = 0170000;
    static final int S_IFDIR = 0040000;
    static final int S_IFREG = 0100000;
    static final int S_IFLNK = 0120000;
    static final int S_IFCHR = 0020000;

    /** One entry; {@code path} is relative, {@code /} separated. */
    record Node(String path, int mode, long uid, long gid, long ino, FileTime ctime, long size, FileTime mtime,
            int nlink) {
        boolean isDirectory() {
            return (mode & S_IFMT) == S_IFDIR;
        }

        boolean isFile() {
            return (mode & S_IFMT) == S_IFREG;
        }

        boolean isSymlink() {
            return (mode & S_IFMT) == S_IFLNK;
        }
    }

    private final List<Node> nodes;

    private Scan(List<Node> nodes) {
        this.nodes = List.copyOf(nodes);
    }

    /** The tree below {@code root} (not root itself), parents before children, following no link. */
    static Scan of(Path root) throws IOException {
        List<Node> out = new ArrayList<>();
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path dir, BasicFileAttributes attrs) throws IOException {
                if (!dir.equals(root)) {
                    out.add(node(root, dir));
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path file, BasicFileAttributes attrs) throws IOException {
                out.add(node(root, file));
                return FileVisitResult.CONTINUE;
            }
        });
        out.sort(Comparator.comparing(Node::path));
        return new Scan(out);
    }

    /**
     * Refuses a name that does not come back as the same bytes from its String (not valid in the
     * JVM's file name encoding, UTF-8 here): a Node's path is resolved again by its String, which
     * would name another file (a name with byte 0x80 becomes one with U+FFFD, a file the tree may
     * also have), and a layer names its files in UTF-8.
     */
    private static Node node(Path root, Path p) throws IOException {
        String relative = root.relativize(p).toString();
        boolean same;
        try {
            same = root.resolve(relative).equals(p);
        } catch (java.nio.file.InvalidPathException e) {
            same = false; // what the name became cannot even be encoded again (an ASCII locale)
        }
        if (!same) {
            String encoding = System.getProperty("sun.jnu.encoding");
            throw new IOException("the file name shown as " + relative + " in " + root + " is not valid " + encoding
                    + ": image layers name their files in UTF-8; rename it" + (encoding.equals("UTF-8") ? ""
                    : ", or run the JVM in a UTF-8 locale (LANG=C.UTF-8) if it is UTF-8"));
        }
        Map<String, Object> a = Files.readAttributes(p, "unix:mode,uid,gid,ino,ctime,size,lastModifiedTime,nlink",
                LinkOption.NOFOLLOW_LINKS);
        return new Node(relative, (Integer) a.get("mode"), (Integer) a.get("uid"),
                (Integer) a.get("gid"), (Long) a.get("ino"), (FileTime) a.get("ctime"), (Long) a.get("size"),
                (FileTime) a.get("lastModifiedTime"), (Integer) a.get("nlink"));
    }

    List<Node> nodes() {
        return nodes;
    }
}
