package dev.crabcan.image;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.internal.image.Store;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A local store of images: layers stored once, content-addressed by the sha256 of their tar, and
 * images as OCI manifests and configs. The directory is an OCI image layout, so OCI tools read it
 * too ({@code skopeo copy oci:DIR:name:tag ...}).
 *
 * <p>Safe for concurrent use by any number of threads and JVMs: files appear complete or not at
 * all (written aside, then renamed), a killed build leaves nothing half-written that a later
 * one would use, and {@link #prune()} waits for running builds.
 *
 * <p>Immutable and thread-safe.
 */
public final class ImageStore {
    private final Store store;

    private ImageStore(Store store) {
        this.store = store;
    }

    /** Opens the store in {@code dir}, creating it if needed. */
    public static ImageStore open(Path dir) throws ImageException {
        return new ImageStore(Store.open(dir));
    }

    /** Opens the store in {@link #defaultDirectory()}. */
    public static ImageStore openDefault() throws ImageException {
        return open(defaultDirectory());
    }

    /**
     * {@code $XDG_DATA_HOME/crabcan/images}, or {@code ~/.local/share/crabcan/images} when
     * XDG_DATA_HOME is unset or not absolute (as the XDG base directory spec says).
     */
    public static Path defaultDirectory() {
        String xdg = System.getenv("XDG_DATA_HOME");
        Path data = xdg != null && xdg.startsWith("/") ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".local", "share");
        return data.resolve("crabcan").resolve("images");
    }

    public Path directory() {
        return store.root();
    }

    /** Every image in the store, named or not, in the order they were stored. */
    public List<Image> images() throws ImageException {
        return store.images();
    }

    /**
     * The image {@code reference} names: {@code name[:tag]} ({@code :latest} by default), or a
     * manifest or config digest ({@code sha256:...} or its first 12 or more hex digits).
     *
     * @throws ImageNotFoundException when there is none
     */
    public Image get(String reference) throws ImageException {
        return store.get(reference);
    }

    /** Like {@link #get} but empty when there is no such image. */
    public Optional<Image> find(String reference) throws ImageException {
        try {
            return Optional.of(store.get(reference));
        } catch (ImageNotFoundException e) {
            return Optional.empty();
        }
    }

    /** Removes a name; its layers stay until {@link #prune()}. */
    public void remove(String reference) throws ImageException {
        store.remove(reference);
    }

    /**
     * Frees the space no named image needs: unnamed images, their layers, build cache entries
     * whose layers are gone, and leftovers of interrupted builds.
     *
     * @return how many files and directories went, and the bytes of the files
     */
    public Pruned prune() throws ImageException {
        Store.Pruned p = store.prune();
        return new Pruned(p.files(), p.bytes());
    }

    /**
     * Writes an image as an OCI image layout archive ({@code podman load -i FILE} reads it),
     * complete or not at all.
     */
    public void save(Image image, Path file) throws ImageException {
        dev.crabcan.internal.image.OciArchive.save(store, image, file);
    }

    /**
     * Imports the images of an OCI image layout (a directory, or an archive such as
     * {@code podman save --format oci-archive} writes) or of a {@code docker save} archive, under
     * the names they carry.
     */
    public List<Image> load(Path source) throws ImageException {
        return dev.crabcan.internal.image.OciArchive.load(store, source, true);
    }

    /**
     * Commits what a sandbox of an image wrote as a new image (as {@code docker commit} does):
     * {@code base}, with the sandbox's writable layer on top as one more layer, and base's
     * config. The sandbox must have run {@code base} with
     * {@link Sandbox.Builder#writableLayerDirectory} (only that keeps what it wrote) and have ended,
     * every process of it gone: one still running could change the layer as it is read. In the
     * layer, files it removed are whited out, files it made are its uid's, and files of the image
     * it changed or moved keep their owners, as in a build's RUN step (its filter refuses the calls
     * that would write the marks that say them). The directory is the caller's, trusted as such,
     * and left as it is: delete it, or run another sandbox on it.
     *
     * @param ended the sandbox's process, ended ({@link SandboxProcess#waitFor()})
     * @param name the new image's name ({@code name[:tag]}), or null for none
     * @throws ImageException when the sandbox still runs, ran another image or kept no writable
     *     layer, or the layer cannot be written
     */
    public Image commit(Image base, SandboxProcess ended, String name) throws ImageException {
        Objects.requireNonNull(base, "base");
        Objects.requireNonNull(ended, "ended");
        if (ended.isAlive()) {
            throw new ImageException("the sandbox (pid " + ended.pid() + ") still runs: commit what it wrote once it "
                    + "has ended (waitFor)");
        }
        Optional<String> ref;
        try {
            ref = name == null ? Optional.empty() : Optional.of(Store.normalizeName(name));
        } catch (IllegalArgumentException e) {
            throw new ImageException("cannot commit as " + name + ": " + e.getMessage(), e);
        }
        Sandbox sandbox = ended.sandbox();
        Path dir = sandbox.writableLayerDirectory().orElseThrow(() -> new ImageException("the sandbox kept no "
                + "writable layer: give it Sandbox.Builder.writableLayerDirectory(dir) to commit what it writes"));
        if (!sandbox.rootfsLayers().equals(store.layerDirs(base))) {
            throw new ImageException("the sandbox did not run image " + base.name().orElse(base.digest().toString())
                    + " (its root filesystem is " + (sandbox.rootfsLayers().isEmpty() ? "no image"
                    : "another image's layers") + "): commit it on the image it ran");
        }
        Path upper = dir.resolve("upper");
        if (!Files.isDirectory(upper, LinkOption.NOFOLLOW_LINKS)) {
            throw new ImageException(dir + " has no upper/ directory: the sandbox has not run yet");
        }
        return store.commitChanges(base, upper, sandbox.uid(), "commit " + sandbox.command(), ref);
    }

    /**
     * What {@link #prune()} removed. Immutable and thread-safe.
     *
     * @param entries files and directories removed
     * @param bytes the size of the files removed (unpacked layer directories not counted)
     */
    public record Pruned(int entries, long bytes) {}

    Store store() {
        return store;
    }

    @Override
    public String toString() {
        return "ImageStore[" + store.root() + "]";
    }
}
