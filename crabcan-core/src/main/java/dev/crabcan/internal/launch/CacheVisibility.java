package dev.crabcan.internal.launch;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.Charset;
import java.nio.charset.CodingErrorAction;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Whether a host directory given to a sandbox would show it a cache directory. Compared where
 * the files are, not by the names a path gives them: each path is taken to its file system (the
 * device of the mount the kernel resolves it on, and its path from that file system's root), so
 * that no other name gets through: a bind mount shows a directory under another name ({@code
 * mount --bind /data/home /home}, a volume), every mount below the directory given shows what it
 * mounts, and an overlay shows its layers. File systems that show another one's files without
 * saying so in mountinfo (FUSE such as bindfs, NFS of a local export) are not seen through.
 */
final class CacheVisibility {
    private CacheVisibility() {}

    /** One line of /proc/self/mountinfo. */
    record Mount(int id, String device, Path root, Path point, String type, String options) {}

    /** A place in a file system: its device and its path from that file system's root. */
    record Place(String device, Path path) {}

    /** Where a path's files are: the mount the kernel resolves it on (see {@link #locator}). */
    interface Locator {
        Place locate(Path path) throws IOException;
    }

    /**
     * Why {@code source} (a real path) must not be given to a sandbox: it, a mount below it or a
     * layer of an overlay it shows, shows one of {@code caches} or lies in one. A cache not made
     * yet counts: a sandbox given where it would be made could make it first. Null if none.
     */
    static String exposure(Path source, List<Path> caches, List<Mount> mounts, Locator locator) throws IOException {
        List<Place> shown = new ArrayList<>();
        List<String> how = new ArrayList<>();
        Place own = locator.locate(source);
        shown.add(own);
        how.add(source.toString());
        for (Mount m : mounts) {
            if (m.point().startsWith(source) && !m.point().equals(source)) {
                shown.add(new Place(m.device(), m.root()));
                how.add(source + " has " + m.point() + " mounted below it, which");
            }
        }
        for (int i = 0, n = shown.size(); i < n; i++) {
            for (Path layer : layers(shown.get(i), mounts)) {
                Place p = locatePresent(layer, locator);
                if (p != null) {
                    shown.add(p);
                    how.add(how.get(i) + " shows the overlay layer " + layer + ", which");
                }
            }
        }
        for (Path cache : caches) {
            Place c = locator.locate(cache);
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

    /** A layer's place, or null where this process cannot reach it (it shows nothing here then). */
    private static Place locatePresent(Path layer, Locator locator) {
        try {
            return locator.locate(layer);
        } catch (IOException e) {
            return null;
        }
    }

    /** Where the files of an overlay place are in its layers: each upper and lower directory, below. */
    private static List<Path> layers(Place place, List<Mount> mounts) {
        List<Path> layers = new ArrayList<>();
        for (Mount m : mounts) {
            if (!m.type().equals("overlay") || !m.device().equals(place.device())) {
                continue;
            }
            Path within = Path.of("/").relativize(place.path());
            for (String option : splitUnescaped(m.options(), ',')) {
                int eq = option.indexOf('=');
                String key = eq < 0 ? option : option.substring(0, eq);
                if (key.equals("upperdir") || key.equals("lowerdir") || key.equals("lowerdir+")) {
                    for (String dir : splitUnescaped(option.substring(eq + 1), ':')) {
                        if (!dir.isEmpty()) {
                            layers.add(Path.of(dir.replace("\\", "")).resolve(within));
                        }
                    }
                }
            }
            break; // every mount of one overlay has the same options
        }
        return layers;
    }

    /** Splits where the separator is not escaped with a backslash, as overlay options escape it. */
    private static List<String> splitUnescaped(String s, char separator) {
        List<String> parts = new ArrayList<>();
        StringBuilder part = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && i + 1 < s.length()) {
                part.append(c).append(s.charAt(++i));
            } else if (c == separator) {
                parts.add(part.toString());
                part.setLength(0);
            } else {
                part.append(c);
            }
        }
        parts.add(part.toString());
        return parts;
    }

    /**
     * The kernel's answer: the mount a path resolves on (its mnt_id, read from /proc/self/fdinfo
     * of an open descriptor of it, or of its nearest existing ancestor), so that mounts shadowed
     * by another or moved cannot mislead a guess from mount points. Throws when it cannot tell.
     */
    static Locator locator(List<Mount> mounts) {
        Map<Integer, Mount> byId = new HashMap<>();
        mounts.forEach(m -> byId.put(m.id(), m));
        return path -> {
            Path existing = path.toAbsolutePath().normalize();
            Path missing = Path.of("");
            while (!Files.exists(existing)) {
                missing = existing.getFileName().resolve(missing.toString());
                existing = existing.getParent();
            }
            Path real = existing.toRealPath();
            Mount m;
            try {
                m = byId.get(mountId(real));
            } catch (java.nio.file.AccessDeniedException e) {
                // A directory this user may pass but not read (0711): its mount by mount points. Only
                // one who may mount here can shadow or move mounts to mislead that.
                m = topmostAbove(real, mounts);
            }
            if (m == null || !real.startsWith(m.point())) {
                throw new IOException("cannot tell which mount " + real + " lies on");
            }
            Path within = m.root().resolve(m.point().relativize(real).toString());
            return new Place(m.device(), missing.toString().isEmpty() ? within : within.resolve(missing.toString()));
        };
    }

    /** The mount with the longest mount point above a path, the later of equal ones (mounted over it). */
    static Mount topmostAbove(Path real, List<Mount> mounts) {
        Mount best = null;
        for (Mount m : mounts) {
            if (real.startsWith(m.point()) && (best == null || m.point().getNameCount() >= best.point().getNameCount())) {
                best = m;
            }
        }
        return best;
    }

    /** The mount id of an existing path, from the fdinfo of a descriptor opened on it here. */
    private static int mountId(Path real) throws IOException {
        String name = real.toString();
        Set<String> before = fdsNamed(name);
        try (FileChannel ch = FileChannel.open(real, StandardOpenOption.READ)) {
            Set<String> opened = fdsNamed(name);
            opened.removeAll(before);
            if (opened.size() != 1) {
                throw new IOException("cannot tell which file descriptor holds " + real);
            }
            for (String line : Files.readAllLines(Path.of("/proc/self/fdinfo", opened.iterator().next()))) {
                if (line.startsWith("mnt_id:")) {
                    return Integer.parseInt(line.substring("mnt_id:".length()).trim());
                }
            }
            throw new IOException("no mnt_id in /proc/self/fdinfo for " + real);
        }
    }

    private static Set<String> fdsNamed(String name) throws IOException {
        Set<String> fds = new HashSet<>();
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
            for (Path e : entries) {
                try {
                    if (Files.readSymbolicLink(e).toString().equals(name)) {
                        fds.add(e.getFileName().toString());
                    }
                } catch (IOException closed) {
                    // closed meanwhile (the directory stream's own fd among them)
                }
            }
        }
        return fds;
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
            int dash = List.of(f).indexOf("-");
            if (f.length > 4 && dash > 4 && dash + 3 < f.length) {
                mounts.add(new Mount(Integer.parseInt(f[0]), f[2], Path.of(unescape(f[3])), Path.of(unescape(f[4])),
                        f[dash + 1], unescape(f[dash + 3])));
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
