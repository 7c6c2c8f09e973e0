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
 * pose as the JVM's socket. A path is resolved to its real path once, then every component is
 * read without following links: a directory owned by root or the caller, writable by nobody
 * else unless it is sticky (like /tmp); the last one the caller's own, mode 0700. Each check
 * is one lstat, cheap enough for the first sandbox.
 */
public final class PrivateDirs {
    private static final int S_IFMT = 0170000;
    private static final int S_IFDIR = 0040000;
    private static final int S_IFREG = 0100000;
    private static final int S_IFLNK = 0120000;
    private static final int STICKY = 01000;
    private static final int GROUP_OTHER_WRITE = 0022;
    private static final Set<PosixFilePermission> PRIVATE = PosixFilePermissions.fromString("rwx------");

    /** A component that fails the check: its path, owner, mode, what is wrong and the fix. */
    static final class Untrusted extends IOException {
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
        Path existing = dir;
        while (!Files.exists(existing)) {
            existing = existing.getParent();
        }
        Path real = existing.toRealPath();
        if (!existing.equals(dir)) {
            check(real, euid, false);
            // Made under the checked real path: a link on the way to it could point elsewhere by now.
            real = real.resolve(existing.relativize(dir));
            Files.createDirectories(real, PosixFilePermissions.asFileAttribute(PRIVATE));
        }
        check(real, euid, true);
        return real;
    }

    /** A subdirectory of a checked directory: made 0700, or, if it exists, checked as the caller's own. */
    static Path child(Path parent, String name, int euid) throws IOException {
        Path dir = parent.resolve(name);
        try {
            Files.createDirectory(dir, PosixFilePermissions.asFileAttribute(PRIVATE));
        } catch (FileAlreadyExistsException e) {
            checkOwn(dir, attrs(dir), euid);
        }
        return dir;
    }

    /** The helper binary found in a checked directory: a regular file of the caller's that nobody else can write. */
    static void checkFile(Path file, int euid) throws IOException {
        Attrs a = attrs(file);
        if (!a.is(S_IFREG)) {
            throw new Untrusted(file, a, a.is(S_IFLNK) ? "is a symbolic link" : "is not a regular file");
        }
        if (a.uid != euid || (a.mode & GROUP_OTHER_WRITE) != 0) {
            throw new Untrusted(file, a, "must belong to uid " + euid + " and be writable by nobody else");
        }
    }

    /**
     * Each component of a real path, root first; the last is the caller's own if {@code own}.
     * Every component must be root's or the caller's, so a sticky directory's entries on the way
     * can be renamed by nobody else.
     */
    private static void check(Path real, int euid, boolean own) throws IOException {
        Path dir = real.getRoot();
        for (int i = 0; ; i++) {
            Attrs a = attrs(dir);
            boolean last = i == real.getNameCount();
            if (last && own) {
                checkOwn(dir, a, euid);
                return;
            }
            checkTrusted(dir, a, euid);
            if ((a.mode & GROUP_OTHER_WRITE) != 0 && (a.mode & STICKY) == 0) {
                throw new Untrusted(dir, a, "is writable by other users, who could replace what is in it; make it "
                        + "writable only by its owner (chmod go-w)");
            }
            if (last) {
                return;
            }
            dir = dir.resolve(real.getName(i));
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

    /** The caller's own directory: nobody else may write it, and it is made 0700 if it is not. */
    private static void checkOwn(Path dir, Attrs a, int euid) throws IOException {
        checkTrusted(dir, a, euid);
        if (a.uid != euid) {
            throw new Untrusted(dir, a, "must belong to uid " + euid + " (chown it)");
        }
        if ((a.mode & GROUP_OTHER_WRITE) != 0) {
            // Others may already have put something in it: it is not ours to clean, nor to use.
            throw new Untrusted(dir, a, "is writable by other users; make it private (chmod 700) and empty it");
        }
        if ((a.mode & 07777) != 0700) {
            // Only its owner (we) or root can change the mode, so setting it once holds.
            Files.setPosixFilePermissions(dir, PRIVATE);
        }
    }

    private static Attrs attrs(Path p) throws IOException {
        Map<String, Object> m = Files.readAttributes(p, "unix:uid,mode", LinkOption.NOFOLLOW_LINKS);
        return new Attrs((Integer) m.get("uid"), (Integer) m.get("mode"));
    }
}
