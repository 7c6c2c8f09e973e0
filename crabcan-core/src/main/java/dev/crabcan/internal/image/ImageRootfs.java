package dev.crabcan.internal.image;

import dev.crabcan.image.Image;
import dev.crabcan.image.ImageException;
import java.io.IOException;
import java.nio.file.Path;

/** What {@code Sandbox.Builder.image} needs of an image: its root filesystem and its user's id. */
public final class ImageRootfs {
    private ImageRootfs() {
    }

    /** The image unpacked in its store (once; shared, to be mounted read-only). */
    public static Path of(Image image) throws ImageException {
        return Store.open(image.store()).rootfs(image);
    }

    /** The uid of the image's USER (names looked up in its /etc/passwd), 0 when unset. */
    public static int uid(Image image, Path rootfs) throws ImageException {
        try {
            return Owner.user(image.config().user(), rootfs)[0];
        } catch (IOException | IllegalArgumentException e) {
            throw new ImageException("USER " + image.config().user() + " of image " + image.digest() + ": "
                    + e.getMessage(), e);
        }
    }
}
