package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * A stage's root filesystem unpacked in one directory of the store's tmp/ (so a killed build
 * leaves it to {@code prune}), for COPY --from to read: the layers applied so far. Not thread-safe.
 */
final class Workspace {
    private final Store store;
    final Path dir;
    private List<Image.Layer> applied = List.of();

    Workspace(Store store, Path dir) {
        this.store = store;
        this.dir = dir;
    }

    boolean isPrefixOf(List<Image.Layer> layers) {
        return layers.size() >= applied.size() && layers.subList(0, applied.size()).equals(applied);
    }

    void bringUpTo(List<Image.Layer> layers) throws IOException {
        for (Image.Layer l : layers.subList(applied.size(), layers.size())) {
            try (InputStream in = Files.newInputStream(store.blobPath(l.digest()))) {
                new Unpacker(dir, new Unpacker.Owners()).apply(in, "", Unpacker.Policy.LAYER, "layer " + l.digest());
            }
        }
        applied = List.copyOf(layers);
    }

    void delete() throws IOException {
        Unpacker.removeTree(dir);
    }
}
