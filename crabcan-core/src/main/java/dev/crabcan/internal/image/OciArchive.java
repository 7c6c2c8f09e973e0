package dev.crabcan.internal.image;

import dev.crabcan.image.Digest;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageException;
import dev.crabcan.internal.image.OciFormat.Descriptor;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Images in and out of the store: an OCI image layout archive ({@code crabcan save}, which
 * {@code podman load} reads), and OCI layouts (directories or archives, as
 * {@code podman save --format oci-archive} writes) and {@code docker save} archives read in.
 * Archives are unpacked into the store's tmp/ by {@link Unpacker} (nothing outside), and blobs
 * are read only as regular files inside them and checked against their digests.
 */
public final class OciArchive {
    private OciArchive() {
    }

    /** Writes the image as an OCI image layout archive, named as in the store; complete or not at all. */
    public static void save(Store store, Image image, Path file) throws ImageException {
        try {
            Path parent = file.toAbsolutePath().getParent();
            Path tmp = Files.createTempFile(parent, ".crabcan-save-", ".tmp");
            Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            try {
                try (OutputStream out = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                    Tar.Writer w = new Tar.Writer(out);
                    blob(w, "oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
                    byte[] manifest = store.readBlob(image.digest());
                    Map<String, String> annotations = image.name().map(n -> Map.of(OciFormat.REF_NAME, n))
                            .orElse(Map.of());
                    blob(w, "index.json", OciFormat.index(List.of(new Descriptor(OciFormat.MANIFEST, image.digest(),
                            manifest.length, annotations))));
                    w.put(Tar.Entry.directory("blobs", 0755, 0, 0, 0));
                    w.put(Tar.Entry.directory("blobs/sha256", 0755, 0, 0, 0));
                    blob(w, "blobs/sha256/" + image.digest().hex(), manifest);
                    blob(w, "blobs/sha256/" + image.configDigest().hex(), store.readBlob(image.configDigest()));
                    for (Image.Layer l : image.layers()) {
                        try (InputStream in = Files.newInputStream(store.blobPath(l.digest()))) {
                            w.put(Tar.Entry.file("blobs/sha256/" + l.digest().hex(), 0644, 0, 0, l.size(), 0));
                            w.write(in);
                        }
                    }
                    w.finish();
                }
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(tmp);
            }
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie : new ImageException("cannot save image to " + file + ": " + e, e);
        }
    }

    private static void blob(Tar.Writer w, String name, byte[] bytes) throws IOException {
        w.put(Tar.Entry.file(name, 0644, 0, 0, bytes.length, 0));
        w.write(bytes, 0, bytes.length);
    }

    /** Whether a path is an image to import rather than a root filesystem: an OCI layout or an image archive. */
    public static boolean isImage(Path p) {
        if (Files.isDirectory(p)) {
            return Files.isRegularFile(p.resolve("oci-layout"));
        }
        if (!Compression.isTar(p)) {
            return false;
        }
        try (InputStream in = Compression.open(p)) {
            Tar.Reader r = new Tar.Reader(in, p.toString());
            for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                String n = Unpacker.check(e.name(), p.toString());
                if (n.equals("oci-layout") || n.equals("manifest.json")) {
                    return true;
                }
            }
        } catch (IOException e) {
            return false;
        }
        return false;
    }

    /**
     * Imports every image of an OCI layout (directory or archive) or a {@code docker save}
     * archive, named as the archive names them unless {@code keepNames} is false.
     */
    public static List<Image> load(Store store, Path source, boolean keepNames) throws ImageException {
        try (StoreLock.Held h = store.use()) {
            if (Files.isDirectory(source)) {
                return importLayout(store, source.toRealPath(), keepNames);
            }
            Path dir = store.newTempDir();
            try {
                try (InputStream in = Compression.open(source)) {
                    new Unpacker(dir, new Unpacker.Owners()).apply(in, "", Unpacker.Policy.ARCHIVE, source.toString());
                }
                if (Files.isRegularFile(dir.resolve("oci-layout"), LinkOption.NOFOLLOW_LINKS)) {
                    return importLayout(store, dir.toRealPath(), keepNames);
                }
                if (Files.isRegularFile(dir.resolve("manifest.json"), LinkOption.NOFOLLOW_LINKS)) {
                    return importDocker(store, dir.toRealPath(), keepNames);
                }
                throw new ImageException(source + " is neither an OCI image archive (no oci-layout) nor a docker"
                        + " save archive (no manifest.json)");
            } finally {
                Unpacker.removeTree(dir);
            }
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie : new ImageException("cannot load " + source + ": " + e, e);
        }
    }

    private static List<Image> importLayout(Store store, Path dir, boolean keepNames) throws IOException {
        List<Image> out = new ArrayList<>();
        for (Descriptor d : OciFormat.parseIndex(read(dir, "index.json"), dir + "/index.json")) {
            Descriptor m = d;
            if (OciFormat.INDEX.equals(d.mediaType()) || "application/vnd.docker.distribution.manifest.list.v2+json"
                    .equals(d.mediaType())) {
                m = platformManifest(dir, d);
            }
            OciFormat.Manifest manifest = OciFormat.parseManifest(blob(dir, m.digest()), "manifest " + m.digest());
            List<Path> layers = new ArrayList<>();
            for (Descriptor l : manifest.layers()) {
                if (l.mediaType() != null && l.mediaType().contains("zstd")) {
                    throw new ImageException("layer " + l.digest() + " is zstd-compressed, which is not supported;"
                            + " save the image with gzip or uncompressed layers");
                }
                layers.add(checkedBlob(dir, l.digest()));
            }
            String name = d.annotations().get(OciFormat.REF_NAME);
            out.add(commit(store, blob(dir, manifest.config().digest()), layers, keepNames ? name : null));
        }
        if (out.isEmpty()) {
            throw new ImageException(dir + "/index.json lists no image");
        }
        return out;
    }

    private static Descriptor platformManifest(Path dir, Descriptor index) throws IOException {
        byte[] bytes = blob(dir, index.digest());
        List<Descriptor> all = OciFormat.parseIndex(bytes, "index " + index.digest());
        Object list = OciFormat.object(OciFormat.parse(bytes, "index"), "index").get("manifests");
        if (list instanceof List<?> entries) {
            for (int i = 0; i < entries.size(); i++) {
                if (entries.get(i) instanceof Map<?, ?> e && e.get("platform") instanceof Map<?, ?> p
                        && "linux".equals(p.get("os")) && OciFormat.architecture().equals(p.get("architecture"))) {
                    return all.get(i);
                }
            }
        }
        throw new ImageException("index " + index.digest() + " has no image for linux/" + OciFormat.architecture());
    }

    private static List<Image> importDocker(Store store, Path dir, boolean keepNames) throws IOException {
        List<Image> out = new ArrayList<>();
        Object parsed = OciFormat.parse(read(dir, "manifest.json"), "manifest.json");
        if (!(parsed instanceof List<?> entries)) {
            throw new ImageException(dir + "/manifest.json: expected a JSON array");
        }
        for (Object o : entries) {
            Map<String, Object> e = OciFormat.object(o, "manifest.json entry");
            List<Path> layers = new ArrayList<>();
            for (String l : OciFormat.strings(e.get("Layers"), "manifest.json Layers")) {
                layers.add(file(dir, l));
            }
            List<String> tags = OciFormat.strings(e.get("RepoTags"), "manifest.json RepoTags");
            String name = tags.isEmpty() ? null : tags.get(0).replaceFirst("^(docker\\.io/)?(library/)?", "");
            out.add(commit(store, read(dir, OciFormat.string(e.get("Config"), "manifest.json Config")), layers,
                    keepNames ? name : null));
        }
        return out;
    }

    /** Stores the layers uncompressed, checks them against the config's diff ids, and the image. */
    private static Image commit(Store store, byte[] configJson, List<Path> layerFiles, String name) throws IOException {
        OciFormat.Config c = OciFormat.parseConfig(configJson, "image config");
        if (c.diffIds().size() != layerFiles.size()) {
            throw new ImageException("image config lists " + c.diffIds().size() + " layers, the manifest "
                    + layerFiles.size());
        }
        List<Image.Layer> layers = new ArrayList<>();
        for (int i = 0; i < layerFiles.size(); i++) {
            Image.Layer l;
            try (InputStream in = Compression.open(layerFiles.get(i))) {
                l = store.putBlob(in).asLayer();
            }
            if (!l.digest().equals(c.diffIds().get(i))) {
                throw new ImageException("layer " + (i + 1) + " has diff id " + l.digest() + " but the config says "
                        + c.diffIds().get(i) + ": the archive is damaged");
            }
            try (InputStream in = Files.newInputStream(store.blobPath(l.digest()))) {
                Tar.Reader r = new Tar.Reader(in, "layer " + l.digest());
                for (Tar.Entry e = r.next(); e != null; e = r.next()) {
                    Unpacker.check(e.name(), "layer " + l.digest());
                }
            }
            layers.add(l);
        }
        Optional<String> ref = Optional.empty();
        if (name != null) {
            try {
                ref = Optional.of(Store.normalizeName(name));
            } catch (IllegalArgumentException e) {
                ref = Optional.empty(); // a bare tag or a registry name this store cannot hold: loaded unnamed
            }
        }
        return store.commit(c.config(), layers, c.history(), ref);
    }

    private static Path checkedBlob(Path dir, Digest d) throws IOException {
        Path p = file(dir, "blobs/sha256/" + d.hex());
        MessageDigest sha = Store.sha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(p), sha)) {
            in.transferTo(OutputStream.nullOutputStream());
        }
        if (!HexFormat.of().formatHex(sha.digest()).equals(d.hex())) {
            throw new ImageException("blob " + d + " does not have that digest: the archive is damaged");
        }
        return p;
    }

    private static byte[] blob(Path dir, Digest d) throws IOException {
        return Files.readAllBytes(checkedBlob(dir, d));
    }

    private static byte[] read(Path dir, String rel) throws IOException {
        return Files.readAllBytes(file(dir, rel));
    }

    /** A regular file inside dir, reached through no link. */
    private static Path file(Path dir, String rel) throws IOException {
        Path p = dir.resolve(Unpacker.check(rel, dir.toString())).normalize();
        if (!p.startsWith(dir) || !Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS) || !p.toRealPath().startsWith(dir)) {
            throw new ImageException(rel + " is missing from the image archive, or not a file inside it");
        }
        return p;
    }
}
