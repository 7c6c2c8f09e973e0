package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** What {@code Sandbox.Builder.image} needs of an image: its layers' directories and its user's id. */
public final class ImageRootfs {
    private ImageRootfs() {
    }

    /** The image's layers unpacked in its store (once; shared, never written), top-most first. */
    public static List<Path> layers(Image image) throws ImageException {
        return Store.open(image.store()).layerDirs(image);
    }

    /** Keeps a prune from removing the layer directories (of {@link #layers}) until released. */
    public static StoreLock.Held use(List<Path> layers) throws ImageException {
        return Store.useLayers(layers);
    }

    /** The uid of the image's USER (names looked up in its /etc/passwd), 0 when unset. */
    public static int uid(Image image, List<Path> layers) throws ImageException {
        try {
            return Owner.user(image.config().user(), Owner.Rootfs.layers(layers))[0];
        } catch (IOException | IllegalArgumentException e) {
            throw new ImageException("USER " + image.config().user() + " of image " + image.digest() + ": "
                    + e.getMessage(), e);
        }
    }
}
