package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A stage's root filesystem on disk, in the store's tmp/ (so a killed build leaves it to
 * {@code prune}): the layers applied so far, and what the image says about owners. A RUN step's
 * sandbox runs on it; what the step changed becomes the next layer. Not thread-safe.
 */
final class Workspace {
    /** Mount points a sandbox makes in its root filesystem: not part of a layer when they are new and empty. */
    private static final Set<String> MOUNT_POINTS = Set.of("proc", "dev", "tmp", "sys");

    private final Store store;
    final Path dir;
    private final Unpacker.Owners owners = new Unpacker.Owners();
    /** The layers on disk; null once a failed step left the disk in another state. */
    List<Image.Layer> applied = List.of();

    Workspace(Store store, Path dir) {
        this.store = store;
        this.dir = dir;
    }

    boolean isPrefixOf(List<Image.Layer> layers) {
        return applied != null && layers.size() >= applied.size() && layers.subList(0, applied.size()).equals(applied);
    }

    void bringUpTo(List<Image.Layer> layers) throws IOException {
        for (Image.Layer l : layers.subList(applied.size(), layers.size())) {
            try (InputStream in = Files.newInputStream(store.blobPath(l.digest()))) {
                new Unpacker(dir, owners).apply(in, "", Unpacker.Policy.LAYER, "layer " + l.digest());
            }
        }
        applied = List.copyOf(layers);
    }

    /** Before a RUN: what is there now, then its working directory made (so that the layer has it). */
    Scan prepare(String workdir) throws IOException {
        Scan before = Scan.of(dir);
        Path p = dir;
        for (String part : workdir.substring(1).split("/")) {
            if (part.isEmpty()) {
                continue;
            }
            p = p.resolve(part);
            if (Files.isSymbolicLink(p)) {
                throw new IllegalArgumentException("WORKDIR " + workdir + " lies under a symbolic link of the image ("
                        + dir.relativize(p) + "); use the path it points to");
            }
            if (!Files.exists(p)) {
                Files.createDirectory(p);
                Files.setAttribute(p, "unix:mode", 0755);
            }
        }
        return before;
    }

    /** After a failed step: the disk no longer matches any state. */
    void discard() {
        applied = null;
    }

    void delete() throws IOException {
        Unpacker.removeTree(dir);
    }

    /**
     * Writes what changed since {@code before} as a layer: changed and new entries, OCI whiteouts
     * for removed ones, an opaque marker for a directory that was replaced. Entries that were
     * there keep the owner the image gave them; new ones belong to the step's user.
     */
    Image.Layer commitChanges(Scan before, int[] ids) throws IOException {
        Scan after = Scan.of(dir);
        Set<String> present = new HashSet<>();
        after.nodes().forEach(n -> present.add(n.path()));
        Image.Layer layer = store.writeBlob(out -> {
            Tar.Writer w = new Tar.Writer(out);
            Map<Long, String> linked = new HashMap<>();
            for (Scan.Node node : after.nodes()) {
                Scan.Node old = before.get(node.path());
                if (old != null && old.sameAs(node)) {
                    continue;
                }
                if (old == null && MOUNT_POINTS.contains(node.path()) && node.isDirectory() && isEmpty(node)) {
                    continue;
                }
                long[] known = owners.get(node.path());
                boolean same = old != null && old.ino() == node.ino();
                long uid = same && known != null ? known[0] : same ? 0 : ids[0];
                long gid = same && known != null ? known[1] : same ? 0 : ids[1];
                int mode = node.mode() & 07777;
                if (node.isDirectory() && known != null && mode == ((int) known[2] | 0700)) {
                    mode = (int) known[2]; // the builder keeps directories writable on disk
                }
                if (node.isFile() && node.nlink() > 1 && linked.containsKey(node.ino())) {
                    w.put(new Tar.Entry(node.path(), Tar.Type.HARDLINK, mode, uid, gid, 0,
                            node.mtime().toMillis() / 1000, linked.get(node.ino()), 0, 0));
                } else {
                    LayerWriter.put(w, dir, node, node.path(), uid, gid, mode);
                    if (node.isFile() && node.nlink() > 1) {
                        linked.put(node.ino(), node.path());
                    }
                }
                owners.put(node.path(), uid, gid, mode);
                if (old != null && old.isDirectory() && node.isDirectory() && old.ino() != node.ino()) {
                    w.put(Tar.Entry.file(node.path() + "/.wh..wh..opq", 0, 0, 0, 0, 0));
                }
            }
            for (Scan.Node old : before.nodes()) {
                String path = old.path();
                int slash = path.lastIndexOf('/');
                String parent = slash < 0 ? "" : path.substring(0, slash);
                if (!present.contains(path) && (parent.isEmpty() || present.contains(parent))) {
                    Scan.Node p = after.get(parent);
                    if (parent.isEmpty() || (p.isDirectory() && before.get(parent).ino() == p.ino())) {
                        w.put(Tar.Entry.file((parent.isEmpty() ? "" : parent + "/") + ".wh." + path.substring(slash + 1),
                                0, 0, 0, 0, 0));
                    }
                    owners.removeUnder(path);
                }
            }
            w.finish();
        }).asLayer();
        return layer;
    }

    private boolean isEmpty(Scan.Node node) throws IOException {
        try (var s = Files.list(dir.resolve(node.path()))) {
            return s.findAny().isEmpty();
        }
    }
}
