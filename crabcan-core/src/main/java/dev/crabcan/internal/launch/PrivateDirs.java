package dev.crabcan.internal.launch;

import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Map;
import java.util.Set;

/**
 * Directories that no other user can change, for everything on the way to the helper binary, the
 * run directory and the control socket: another user who can rename, replace or write any of
 * them could swap the helper between its hash check and its exec, feed plans to the helper or
 * pose as the JVM's socket. A path is walked from the root one component at a time, each read
 * without following links: a directory owned by root or the caller, writable by nobody else
 * unless it is sticky (like /tmp); a symbolic link is followed only if it is root's or the
 * caller's, in a directory that passed (so nobody else can have planted or changed it); the
 * last directory is the caller's own and writable by nobody else. In a user namespace that does
 * not map the host's root, root's directories show as owned by the overflow uid, like those of
 * every other id the namespace does not map: such directories are trusted on the way (not as
 * the last one, nor links), since nothing tells host root apart from other users there. Nothing that exists is ever
 * chmod'ed: what fails is refused. Each step is one lstat, cheap enough for the first sandbox.
 */
public final class PrivateDirs {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFLNK = 0120000;
    private static final int STICKY = 01000;
    private static final int GROUP_OTHER_WRITE = 0022;
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");

    /** A component that fails the check: its path, owner, mode, what is wrong and the fix. */
    public static final class Untrusted extends IOException {
        private static final long serialVersionUID = 1L;

        Untrusted(Path component, Attrs a, String problem) {
            super(component + " (owner uid " + a.uid + ", mode " + String.format("%04o", a.mode & 07777) + ") "
                    + problem);
        }
    }

    private record Attrs(int uid, int mode) {
        boolean is(int type) {
            return (mode & S_IFMT) == type;
        }
    }

    private PrivateDirs() {}

    /**
     * Makes the directory (missing parents too, all 0700) and returns its real path, checked.
     * What already exists is checked before anything is made in it, so a root caller whose home
     * is another user's (sudo -E) creates nothing there.
     */
    public static Path create(Path dir, int euid) throws IOException {
        return create(dir, euid, dev.crabcan.internal.host.HostInfo.get().unmappedOwner());
    }

    /** {@link #create(Path, int)} where directories of unmappedOwner (-1: none) are trusted on the way. */
    static Path create(Path dir, int euid, int unmappedOwner) throws IOException {
        Walked w = walk(dir.toAbsolutePath().normalize(), euid, unmappedOwner);
        Path real = w.reached();
        for (Path name : w.missing()) {
            real = real.resolve(name);
            try {
                Files.createDirectory(real, PosixFilePermissions.asFileAttribute(PRIVATE));
            } catch (FileAlreadyExistsException e) {
                checkOwn(real, attrs(real), euid); // made meanwhile: by us (another thread), or refused
            }
        }
        checkOwn(real, attrs(real), euid);
        return real;
    }

    /**
     * The real path of an existing directory that nobody but root and the caller can change: reached
     * as {@link #create} reaches one, itself theirs and writable by nobody else. For a directory that
     * a path names long after it was chosen (an overlayfs mount's layers, named in mountinfo as they
     * were when it was mounted): anyone who could rename a directory on the way could make the
     * same name lead anywhere since. ".." is taken where the links before it lead, as the kernel does.
     */
    public static Path existing(Path dir, int euid) throws IOException {
        Path real = reachable(dir, euid);
        checkOwn(real, attrs(real), euid);
        return real;
    }

    /**
     * {@link #existing}, but the directory itself, root's or the caller's, may be writable by
     * others: what it holds may change, but not what its name leads to.
     */
    public static Path reachable(Path dir, int euid) throws IOException {
        Walked w = walk(dir.toAbsolutePath(), euid, -1);
        if (!w.missing().isEmpty()) {
            throw new java.nio.file.NoSuchFileException(dir.toString());
        }
        return w.reached();
    }

    /** How far a walk got: the last directory that exists, checked, and the names below it still to make. */
    private record Walked(Path reached, java.util.List<Path> missing) {}

    private static final int MAX_LINKS = 40;

    /** Walks an absolute path from the root without following an untrusted link; see the class comment. */
    private static Walked walk(Path abs, int euid, int unmappedOwner) throws IOException {
        Path dir = abs.getRoot();
        checkTrustedDir(dir, attrs(dir), euid, unmappedOwner);
        java.util.Deque<Path> names = new java.util.ArrayDeque<>();
        for (Path name : abs) {
            names.add(name);
        }
        int links = 0;
        while (!names.isEmpty()) {
            Path name = names.pop();
            if (name.toString().equals(".")) {
                continue;
            }
            if (name.toString().equals("..")) {
                dir = dir.getParent() == null ? dir : dir.getParent();
                continue;
            }
            Path next = dir.resolve(name);
            Attrs a;
            try {
                a = attrs(next);
            } catch (java.nio.file.NoSuchFileException e) {
                java.util.List<Path> missing = new java.util.ArrayList<>();
                missing.add(name);
                missing.addAll(names);
                for (Path m : missing) {
                    if (m.toString().equals("..") || m.toString().equals(".")) {
                        // Made one by one, "a/../b" below a missing "a" would end anywhere.
                        throw new java.nio.file.NoSuchFileException(next.toString(), null,
                                "missing, and a link's target goes on with " + m + " after it");
                    }
                }
                return new Walked(dir, missing);
            }
            if (a.is(S_IFLNK)) {
                if (a.uid != euid && a.uid != 0) {
                    throw new Untrusted(next, a, "is a symbolic link of another user, which is not followed");
                }
                if (++links > MAX_LINKS) {
                    throw new Untrusted(next, a, "leads through more than " + MAX_LINKS + " symbolic links");
                }
                Path target = Files.readSymbolicLink(next);
                java.util.List<Path> parts = new java.util.ArrayList<>();
                for (Path part : target) {
                    parts.add(part);
                }
                for (int i = parts.size() - 1; i >= 0; i--) {
                    names.push(parts.get(i));
                }
                if (target.isAbsolute()) {
                    dir = target.getRoot();
                }
                continue;
            }
            if (names.isEmpty()) {
                checkTrusted(next, a, euid); // the last: the caller's own, checked by checkOwn
            } else {
                checkTrustedDir(next, a, euid, unmappedOwner);
            }
            dir = next;
        }
        return new Walked(dir, java.util.List.of());
    }

    /** A subdirectory of a checked directory: made 0700, or, if it exists, checked as the caller's own. */
    public static Path child(Path parent, String name, int euid) throws IOException {
        Path dir = parent.resolve(name);
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE));
        } catch (FileAlreadyExistsException e) {
            checkOwn(dir, attrs(dir), euid);
        }
        return dir;
    }

    /** A directory on the way: root's or the caller's, and writable by nobody else unless sticky. */
    private static void checkTrustedDir(Path dir, Attrs a, int euid, int unmappedOwner) throws Untrusted {
        checkTrusted(dir, a.uid == unmappedOwner ? new Attrs(0, a.mode) : a, euid);
        if ((a.mode & GROUP_OTHER_WRITE) != 0 && (a.mode & STICKY) == 0) {
            throw new Untrusted(dir, a, "is writable by other users, who could replace what is in it; make it "
                    + "writable only by its owner (chmod go-w)");
        }
    }

    private static void checkTrusted(Path dir, Attrs a, int euid) throws Untrusted {
        if (!a.is(S_IFDIR)) {
            throw new Untrusted(dir, a, a.is(S_IFLNK) ? "is a symbolic link" : "is not a directory");
        }
        if (a.uid != euid && a.uid != 0) {
            throw new Untrusted(dir, a, "belongs to another user; only directories of "
                    + (euid == 0 ? "root" : "uid " + euid + " or root") + " are trusted");
        }
    }

    /**
     * The caller's own directory, writable by nobody else. One that others may read is used as it
     * is (everything Crabcan makes in it is 0700): an existing directory is never chmod'ed, so no
     * path can make Crabcan change one it did not make.
     */
    private static void checkOwn(Path dir, Attrs a, int euid) throws IOException {
        checkTrusted(dir, a, euid);
        if (a.uid != euid) {
            throw new Untrusted(dir, a, "must belong to uid " + euid + " (chown it)");
        }
        if ((a.mode & GROUP_OTHER_WRITE) != 0) {
            // Others may already have put something in it: it is not ours to clean, nor to use.
            throw new Untrusted(dir, a, "is writable by other users; make it private (chmod 700) and empty it");
        }
    }

    /**
     * Deletes a directory tree that lies in a checked directory, following no link: each
     * directory is opened relative to its parent's open descriptor, with O_NOFOLLOW, so one that
     * is swapped for a link meanwhile (by a sandbox that can see it, say) stops the walk instead
     * of leading it elsewhere. Entries that are links are unlinked, never followed.
     */
    public static void deleteTree(Path dir) throws IOException {
        try (java.nio.file.DirectoryStream<Path> parent = Files.newDirectoryStream(dir.getParent())) {
            if (!(parent instanceof java.nio.file.SecureDirectoryStream<Path> secure)) {
                throw new IOException("this platform cannot delete " + dir + " without following links");
            }
            deleteIn(secure, dir.getFileName());
        }
    }

    private static void deleteIn(java.nio.file.SecureDirectoryStream<Path> parent, Path name) throws IOException {
        boolean directory = parent.getFileAttributeView(name, java.nio.file.attribute.BasicFileAttributeView.class,
                LinkOption.NOFOLLOW_LINKS).readAttributes().isDirectory();
        if (directory) {
            try (java.nio.file.SecureDirectoryStream<Path> child = parent.newDirectoryStream(name,
                    LinkOption.NOFOLLOW_LINKS)) {
                for (Path entry : child) {
                    deleteIn(child, entry.getFileName());
                }
            }
            parent.deleteDirectory(name);
        } else {
            parent.deleteFile(name);
        }
    }

    /** Whether a run directory found in a checked directory is one this user made (a directory, 0700, its own). */
    static boolean isOwnPrivateDir(Path dir, int euid) throws IOException {
        Attrs a = attrs(dir);
        return a.is(S_IFDIR) && a.uid == euid && (a.mode & 07777) == 0700;
    }

    private static Attrs attrs(Path p) throws IOException {
        Map<String, Object> m = Files.readAttributes(p, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
        return new Attrs((Integer) m.get("uid"), (Integer) m.get("mode"));
    }
}
