package dev.crabcan.internal.launch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a host directory given to a sandbox would show it a cache directory. Compared where
 * the files are, not by the names a path gives them: each path is taken to its file system (the
 * device of the mount it lies on, and its path from that file system's root), so that no other
 * name gets through: a bind mount shows a directory under another name ({@code mount --bind
 * /data/home /home}, a volume), and every mount below the directory given shows what it mounts.
 */
final class CacheVisibility {
    private CacheVisibility() {}

    /** One line of /proc/self/mountinfo: the device, the directory of it mounted, where. */
    record Mount(String device, Path root, Path point) {}

    /** A place in a file system: its device and its path from that file system's root. */
    private record Place(String device, Path path) {}

    /**
     * Why {@code source} (a real path) must not be given to a sandbox: it, or a mount below it,
     * shows one of {@code caches} (real paths where they exist; one not made yet counts: a sandbox
     * given where it would be made could make it first), or lies in one. Null if neither.
     */
    static String exposure(Path source, List<Path> caches, List<Mount> mounts) {
        List<Place> shown = new ArrayList<>();
        List<String> how = new ArrayList<>();
        shown.add(locate(source, mounts));
        how.add(source.toString());
        for (Mount m : mounts) {
            if (m.point().startsWith(source) && !m.point().equals(source)) {
                shown.add(new Place(m.device(), m.root()));
                how.add(source + " has " + m.point() + " mounted below it, which");
            }
        }
        for (Path cache : caches) {
            Place c = locate(cache, mounts);
            for (int i = 0; i < shown.size(); i++) {
                Place s = shown.get(i);
                if (!s.device().equals(c.device())) {
                    continue;
                }
                if (c.path().startsWith(s.path())) {
                    return how.get(i) + " contains the Crabcan cache directory " + cache;
                }
                if (s.path().startsWith(c.path())) {
                    return how.get(i) + " lies in the Crabcan cache directory " + cache;
                }
            }
        }
        return null;
    }

    /** Where a path's files are: the topmost mount with the longest mount point above it. */
    private static Place locate(Path p, List<Mount> mounts) {
        Mount best = null;
        for (Mount m : mounts) {
            if (p.startsWith(m.point()) && (best == null || m.point().getNameCount() >= best.point().getNameCount())) {
                best = m; // later lines are mounted over earlier ones at the same point
            }
        }
        if (best == null) {
            return new Place("", p);
        }
        Path below = best.point().relativize(p);
        return new Place(best.device(), below.toString().isEmpty() ? best.root() : best.root().resolve(below));
    }

    /**
     * This mount namespace's mounts. Read as bytes and decoded as file names are, replacing what
     * does not decode (a mount point named in another encoding must not hide the others); failing
     * to read it at all fails the start, since the check would be blind.
     */
    static List<Mount> mounts() throws IOException {
        byte[] bytes = Files.readAllBytes(Path.of("/proc/self/mountinfo"));
        Charset names = Charset.forName(System.getProperty("sun.jnu.encoding", "UTF-8"));
        String text = names.newDecoder().onMalformedInput(CodingErrorAction.REPLACE)
                .onUnmappableCharacter(CodingErrorAction.REPLACE).decode(ByteBuffer.wrap(bytes)).toString();
        List<Mount> mounts = new ArrayList<>();
        for (String line : text.split("\n")) {
            String[] f = line.split(" ");
            if (f.length > 4) {
                mounts.add(new Mount(f[2], Path.of(unescape(f[3])), Path.of(unescape(f[4]))));
            }
        }
        return mounts;
    }

    /** mountinfo writes space, tab, newline and backslash in paths as octal escapes. */
    static String unescape(String s) {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 3 < s.length() && s.substring(i + 1, i + 4).matches("[0-7]{3}")) {
                out.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                out.append(c);
            }
        }
        return out.toString();
    }
}
