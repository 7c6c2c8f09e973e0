package dev.crabcan.image;

import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * An image in an {@link ImageStore}: its layers, bottom first, and its config. Running one is
 * {@code Sandbox.builder().image(image)}.
 *
 * <p>Immutable and thread-safe; compares by value.
 *
 * @param name {@code name:tag}, or empty for an image no name points at
 * @param digest the digest of its OCI manifest, which names it exactly
 * @param configDigest the digest of its OCI config (Docker shows its start as the image id)
 * @param config how it runs
 * @param layers its layers, bottom first
 * @param store the directory of the {@link ImageStore} that holds it
 */
public record Image(Optional<String> name, Digest digest, Digest configDigest, ImageConfig config,
        List<Layer> layers, Path store) {

    /**
     * One layer: an uncompressed tar in OCI's layer format (whiteouts as {@code .wh.} files).
     * Immutable and thread-safe.
     *
     * @param digest the sha256 of the tar, which is also its diff id
     * @param size its length in bytes
     */
    public record Layer(Digest digest, long size) {
        public Layer {
            Objects.requireNonNull(digest, "digest");
            if (size < 0) {
                throw new IllegalArgumentException("layer size " + size + " is negative");
            }
        }
    }

    public Image {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(digest, "digest");
        Objects.requireNonNull(configDigest, "configDigest");
        Objects.requireNonNull(config, "config");
        layers = List.copyOf(layers);
        Objects.requireNonNull(store, "store");
    }

    /** The same image under another name (or none). */
    public Image withName(Optional<String> newName) {
        return new Image(newName, digest, configDigest, config, layers, store);
    }

    /** Its total size: the layers' bytes. */
    public long size() {
        return layers.stream().mapToLong(Layer::size).sum();
    }
}
