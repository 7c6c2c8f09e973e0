package dev.crabcan.internal.image;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;

/** Finds files in the merged view of layer directories (see {@link Unpacker.Policy#LAYER_DIR}), as overlayfs would. */
final class LayerDirs {
    private LayerDirs() {
    }

    /**
     * The entry an overlay of {@code layers} (top-most first) shows at a relative path, or null
     * when it shows none.
     *
     * @throws IllegalArgumentException when the path, or a directory on the way, is a symbolic link
     */
    static Path find(List<Path> layers, String relative) throws IOException {
        String[] parts = relative.split("/");
        for (Path layer : layers) {
            Path p = layer;
            for (int i = 0; i < parts.length; i++) {
                boolean opaque = Unpacker.isOpaque(p);
                p = p.resolve(parts[i]);
                if (Files.isSymbolicLink(p)) {
                    throw new IllegalArgumentException("/" + relative + " of the image lies through a symbolic link");
                }
                boolean exists = Files.exists(p, LinkOption.NOFOLLOW_LINKS);
                boolean last = i == parts.length - 1;
                if (Unpacker.isWhiteout(p) || (!exists && opaque)
                        || (!last && exists && !Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))) {
                    return null; // hidden from every lower layer
                }
                if (!exists) {
                    break;
                }
                if (last) {
                    return p;
                }
            }
        }
        return null;
    }
}
