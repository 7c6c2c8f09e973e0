package dev.crabcan.internal.launch;

import dev.crabcan.internal.host.MountInfo;
import dev.crabcan.internal.host.MountInfo.Mount;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Whether a host directory given to a sandbox would show it a cache directory. Compared where
 * the files are, not by the names a path gives them: each path is taken to its file system (the
 * device of the mount it lies on, and its path from that file system's root), so that no other
 * name gets through: a bind mount shows a directory under another name ({@code mount --bind
 * /data/home /home}, a volume), every mount below the directory given shows what it mounts, and
 * an overlay shows its layers (and a cache on an overlay lies in them). File systems that show
 * another one's files without saying so in mountinfo (FUSE such as bindfs, NFS of a local
 * export) are not seen through.
 */
final class CacheVisibility {
    private CacheVisibility() {}

    /** How many places one path may show through overlays and mounts below it before the check stops looking. */
    private static final int MAX_PLACES = 256;

    /** A place in a file system: its device and its path from that file system's root. */
    record Place(String device, Path path) {}

    /** Where a path's files are: the mount the kernel resolves it on (see {@link #locator}). */
    interface Locator {
        Place locate(Path path) throws IOException;

        /** Whether a directory is there (an overlay's layer, which mountinfo names as it was named then). */
        default boolean isDirectory(Path dir) {
            return Files.isDirectory(dir);
        }
    }

    /**
     * Why {@code source} (a real path) must not be given to a sandbox: it, a mount below it or a
     * layer of an overlay it shows, shows one of {@code caches} or lies in one. A cache not made
     * yet counts: a sandbox given where it would be made could make it first. Null if none.
     */
    static String exposure(Path source, List<Path> caches, List<Mount> mounts, Locator locator) throws IOException {
        List<Place> shown = new ArrayList<>();
        List<String> how = new ArrayList<>();
        shown.add(locator.locate(source));
        how.add(source.toString());
        for (Mount m : mounts) {
            if (m.point().startsWith(source) && !m.point().equals(source)) {
                shown.add(new Place(m.device(), m.root()));
                how.add(source + " has " + m.point() + " mounted below it, which");
            }
        }
        // Layers of layers too (an overlay on an overlay), as far as they go: each place is expanded once.
        for (int i = 0; i < shown.size() && shown.size() < MAX_PLACES; i++) {
            for (Path layer : layers(shown.get(i), mounts)) {
                // mountinfo shows the layers as they were named when mounted. A relative name cannot be
                // followed. One not there is in no directory this namespace could bind (a container's
                // own root file system names the host's layers), unless moved since, as only one who
                // may mount here could do.
                if (!layer.isAbsolute()) {
                    return how.get(i) + " shows an overlay whose layer " + layer + " was named relative to where it "
                            + "was mounted, so what it shows cannot be told apart from a Crabcan cache directory";
                }
                if (locator.isDirectory(layerRoot(layer, shown.get(i)))) {
                    shown.add(locator.locate(layer));
                    how.add(how.get(i) + " shows the overlay layer " + layer + ", which");
                }
            }
        }
        for (Path cache : caches) {
            // A cache on an overlay is in its layers too: a bind of an upper or lower directory shows it.
            List<Place> places = new ArrayList<>(List.of(locator.locate(cache)));
            for (int j = 0; j < places.size() && places.size() < MAX_PLACES; j++) {
                for (Path layer : layers(places.get(j), mounts)) {
                    if (layer.isAbsolute() && locator.isDirectory(layerRoot(layer, places.get(j)))) {
                        places.add(locator.locate(layer));
                    }
                }
            }
            for (Place c : places) {
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
        }
        return null;
    }

    /** The layer directory itself, of a layer path that has the place's path within the overlay appended. */
    private static Path layerRoot(Path layer, Place place) {
        Path root = layer;
        for (int i = 0; i < place.path().getNameCount(); i++) {
            root = root.getParent();
        }
        return root;
    }

    /**
     * Where the files of an overlay place are in its layers: each upper, lower and data-only
     * directory, with the place's path within the overlay below it. Empty if it is no overlay's.
     */
    private static List<Path> layers(Place place, List<Mount> mounts) {
        List<Path> layers = new ArrayList<>();
        for (Mount m : mounts) {
            if (!m.type().equals("overlay") || !m.device().equals(place.device())) {
                continue;
            }
            String within = Path.of("/").relativize(place.path()).toString();
            // mountinfo escapes a ',' within a value as octal: the options split only at the others.
            for (String raw : m.options().split(",")) {
                String option = MountInfo.unescape(raw);
                int eq = option.indexOf('=');
                String key = eq < 0 ? option : option.substring(0, eq);
                if (key.equals("workdir")) {
                    continue; // overlayfs's own, showing nothing
                }
                // Named as the kernel took them: a lowerdir+ layer's ':' or '\' is part of its name.
                for (String dir : MountInfo.overlayDirs(key, eq < 0 ? "" : option.substring(eq + 1))) {
                    if (!dir.isEmpty()) {
                        Path layer = Path.of(dir);
                        layers.add(within.isEmpty() ? layer : layer.resolve(within));
                    }
                }
            }
            break; // every mount of one overlay has the same options
        }
        return layers;
    }

    /**
     * Where a path's files are: every link on the way followed, as far as its names exist (a
     * dangling link too: a directory made along it is made where it points), then the mount with
     * the longest mount point above it. Nothing is opened (a FIFO would block, a device act).
     * Mounts shadowed by another or moved could mislead this, but only one who may mount in this
     * namespace can arrange that.
     */
    static Locator locator(List<Mount> mounts) {
        return path -> {
            Path real = followLinks(path.toAbsolutePath().normalize());
            Mount m = topmostAbove(real, mounts);
            if (m == null) {
                throw new IOException("no mount holds " + real);
            }
            Path below = m.point().relativize(real);
            return new Place(m.device(), below.toString().isEmpty() ? m.root() : m.root().resolve(below.toString()));
        };
    }

    /** The path with each link on the way replaced by its target, name by name; names that do not exist stay. */
    static Path followLinks(Path path) throws IOException {
        java.util.Deque<String> todo = new java.util.ArrayDeque<>();
        path.forEach(n -> todo.add(n.toString()));
        Path done = path.getRoot();
        int links = 0;
        while (!todo.isEmpty()) {
            String name = todo.pop();
            if (name.equals("..")) {
                done = done.getParent() == null ? done : done.getParent();
                continue;
            }
            if (name.equals(".") || name.isEmpty()) {
                continue;
            }
            Path next = done.resolve(name);
            if (!Files.isSymbolicLink(next)) {
                done = next;
                continue;
            }
            if (++links > 40) {
                throw new IOException("too many links on the way to " + path);
            }
            Path target = Files.readSymbolicLink(next);
            List<String> names = new ArrayList<>();
            target.forEach(n -> names.add(n.toString()));
            for (int i = names.size() - 1; i >= 0; i--) {
                todo.push(names.get(i));
            }
            if (target.isAbsolute()) {
                done = target.getRoot();
            }
        }
        return done;
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
}
