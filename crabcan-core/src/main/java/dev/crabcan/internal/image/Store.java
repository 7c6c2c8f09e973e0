package dev.crabcan.internal.image;

import dev.crabcan.image.Digest;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageConfig;
import dev.crabcan.image.ImageException;
import dev.crabcan.image.ImageNotFoundException;
import dev.crabcan.internal.image.OciFormat.Descriptor;
import dev.crabcan.internal.launch.PrivateDirs;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.UUID;
import java.util.regex.Pattern;

/**
 * The image store on disk. The store is itself an OCI image layout ({@code oci-layout},
 * {@code index.json}, {@code blobs/sha256/}), so OCI tools can read it, plus {@code tmp/} (files
 * being written), {@code cache/} (build cache entries) and {@code layers/} (layers unpacked for
 * overlayfs, each in a directory of its own named by its digest).
 *
 * <p>Every file appears by rename from {@code tmp/} once complete, so a killed JVM leaves at most
 * debris in {@code tmp/}, which {@link #prune} removes. Writers hold {@code store.lock} shared;
 * {@link #prune} holds it exclusively, so it never deletes what a running build is about to
 * reference. Changes of {@code index.json} are serialized by {@code index.lock}.
 *
 * <p>Thread-safe; any number of JVMs may use one store at once.
 */
public final class Store {
    private static final Pattern NAME = Pattern.compile("[a-z0-9]+(?:(?:[._]|__|-+|/)[a-z0-9]+)*");
    private static final Pattern TAG = Pattern.compile("[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}");

    private final Path root;
    private final Path blobs;
    private final Path tmp;
    private final Path cache;
    private final Path layers;
    private final StoreLock storeLock;
    private final StoreLock indexLock;

    /** A stored blob. */
    public record Blob(Digest digest, long size) {
        public Image.Layer asLayer() {
            return new Image.Layer(digest, size);
        }
    }

    /** What {@link #prune} removed. */
    public record Pruned(int files, long bytes) {}

    private Store(Path root) {
        this.root = root;
        this.blobs = root.resolve("blobs/sha256");
        this.tmp = root.resolve("tmp");
        this.cache = root.resolve("cache");
        this.layers = root.resolve("layers");
        this.storeLock = StoreLock.of(root.resolve("store.lock"));
        this.indexLock = StoreLock.of(root.resolve("index.lock"));
    }

    public static Store open(Path root) throws ImageException {
        Store s;
        try {
            // What the store holds is run and unpacked by the caller: nobody else may have made or change it.
            s = new Store(PrivateDirs.create(root, dev.crabcan.internal.host.HostInfo.get().euid()));
        } catch (IOException e) {
            throw new ImageException("cannot use " + root + " as the image store: " + e.getMessage()
                    + "; choose a directory of your own (crabcan --store DIR, or ImageStore.open(dir))", e);
        }
        try {
            // As the store itself: made 0700, or the caller's own and writable by nobody else. Another
            // user who could write to one could plant blobs, cache entries or unpacked layers (with
            // setuid files) that a build or sandbox would then use.
            int euid = dev.crabcan.internal.host.HostInfo.get().euid();
            PrivateDirs.child(PrivateDirs.child(s.root, "blobs", euid), "sha256", euid);
            for (Path d : List.of(s.cache, s.tmp, s.layers)) {
                PrivateDirs.child(s.root, d.getFileName().toString(), euid);
            }
        } catch (IOException e) {
            throw new ImageException("cannot use the image store " + root + ": " + e.getMessage()
                    + "; choose a directory of your own (crabcan --store DIR, or ImageStore.open(dir))", e);
        }
        try (StoreLock.Held h = s.storeLock.shared()) {
            if (!Files.exists(s.root.resolve("oci-layout"))) {
                s.writeAtomically(s.root.resolve("oci-layout"),
                        "{\"imageLayoutVersion\":\"1.0.0\"}".getBytes(StandardCharsets.UTF_8));
            }
            try (StoreLock.Held i = s.indexLock.exclusive()) {
                if (!Files.exists(s.indexFile())) {
                    s.writeAtomically(s.indexFile(), OciFormat.index(List.of()));
                }
            }
        }
        return s;
    }

    public Path root() {
        return root;
    }

    /** Held by a build for its whole length, so that a prune waits for it. */
    public StoreLock.Held use() throws ImageException {
        return storeLock.shared();
    }

    /**
     * {@code name} with {@code :latest} unless it has a tag, after checking it is a valid image
     * name (lowercase letters, digits and {@code . _ - /} separators, then an optional tag).
     */
    public static String normalizeName(String ref) {
        if (ref == null || ref.isEmpty()) {
            throw new IllegalArgumentException("an image name must not be empty");
        }
        int colon = ref.lastIndexOf(':');
        String name = colon > ref.lastIndexOf('/') && colon >= 0 ? ref.substring(0, colon) : ref;
        String tag = name.length() < ref.length() ? ref.substring(colon + 1) : "latest";
        if (!NAME.matcher(name).matches() || !TAG.matcher(tag).matches()) {
            throw new IllegalArgumentException("'" + ref + "' is not an image name: use lowercase letters, digits"
                    + " and . _ - / between them, then an optional :tag (letters, digits, _ . -), e.g. judge/gcc:12");
        }
        return name + ":" + tag;
    }

    // ---- blobs

    public Path blobPath(Digest d) {
        return blobs.resolve(d.hex());
    }

    public boolean hasBlob(Digest d) {
        return Files.isRegularFile(blobPath(d), LinkOption.NOFOLLOW_LINKS);
    }

    public byte[] readBlob(Digest d) throws ImageException {
        try {
            return Files.readAllBytes(blobPath(d));
        } catch (NoSuchFileException e) {
            throw new ImageException("blob " + d + " is missing from the image store " + root
                    + "; build or load the image again", e);
        } catch (IOException e) {
            throw new ImageException("cannot read blob " + d + " of the image store " + root + ": " + e, e);
        }
    }

    /** Stores a blob (its bytes once however often it is stored). */
    public Blob putBlob(byte[] bytes) throws ImageException {
        return putBlob(new java.io.ByteArrayInputStream(bytes));
    }

    /** Stores the stream's bytes as a blob. */
    public Blob putBlob(InputStream in) throws ImageException {
        return writeBlob(out -> in.transferTo(out));
    }

    /** What writes a blob's bytes. */
    public interface BlobWriter {
        void write(OutputStream out) throws IOException;
    }

    /**
     * Stores what {@code writer} writes as a blob: written to tmp/ and hashed as it is written
     * (on a thread of its own, see {@link HashingOutputStream}), synced (mostly while it is
     * written, see {@link SyncingOutputStream}), then renamed.
     */
    public Blob writeBlob(BlobWriter writer) throws ImageException {
        try (StoreLock.Held h = storeLock.shared()) {
            Path t = newTempFile();
            try {
                byte[] sha;
                try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE);
                        SyncingOutputStream synced = new SyncingOutputStream(ch);
                        HashingOutputStream out = new HashingOutputStream(synced)) {
                    writer.write(out);
                    out.flush();
                    synced.force();
                    out.close();
                    sha = out.digest();
                }
                long size = Files.size(t);
                Digest d = new Digest(HexFormat.of().formatHex(sha));
                if (!hasBlob(d)) {
                    Files.move(t, blobPath(d), StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                }
                return new Blob(d, size);
            } finally {
                Files.deleteIfExists(t);
            }
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie : new ImageException("cannot write a blob to the image store "
                    + root + ": " + e + " (is the disk full?)", e);
        }
    }

    /** A new empty file in tmp/, for a writer that renames it into place when complete. */
    public Path newTempFile() throws IOException {
        return Files.createFile(tmp.resolve(UUID.randomUUID().toString()));
    }

    /** A new empty directory in tmp/. */
    public Path newTempDir() throws IOException {
        return Files.createDirectory(tmp.resolve(UUID.randomUUID().toString()));
    }

    private void writeAtomically(Path target, byte[] bytes) throws ImageException {
        try {
            Path t = newTempFile();
            try {
                try (FileChannel ch = FileChannel.open(t, StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap(bytes));
                    ch.force(false);
                }
                Files.move(t, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } finally {
                Files.deleteIfExists(t);
            }
        } catch (IOException e) {
            throw new ImageException("cannot write " + target + " in the image store: " + e + " (is the disk full?)", e);
        }
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("every Java platform has SHA-256", e);
        }
    }

    // ---- images

    /**
     * Writes an image's config and manifest and, with a name, points the name at it (moving the
     * name from any image it named before).
     */
    public Image commit(ImageConfig config, List<Image.Layer> layerList, List<String> history, Optional<String> name)
            throws ImageException {
        Optional<String> ref = name.map(Store::normalizeName);
        try (StoreLock.Held h = storeLock.shared()) {
            for (Image.Layer l : layerList) {
                if (!hasBlob(l.digest())) {
                    throw new ImageException("layer " + l.digest() + " is not in the image store " + root);
                }
            }
            List<Digest> diffIds = layerList.stream().map(Image.Layer::digest).toList();
            Blob cfg = putBlob(OciFormat.config(config, diffIds, history));
            Descriptor cfgDesc = new Descriptor(OciFormat.CONFIG, cfg.digest(), cfg.size(), Map.of());
            List<Descriptor> layerDescs = layerList.stream()
                    .map(l -> new Descriptor(OciFormat.LAYER, l.digest(), l.size(), Map.of())).toList();
            Blob manifest = putBlob(OciFormat.manifest(cfgDesc, layerDescs));
            Descriptor mDesc = new Descriptor(OciFormat.MANIFEST, manifest.digest(), manifest.size(),
                    ref.map(r -> Map.of(OciFormat.REF_NAME, r)).orElse(Map.of()));
            updateIndex(entries -> {
                entries.removeIf(e -> ref.isPresent() ? ref.get().equals(e.annotations().get(OciFormat.REF_NAME))
                        : e.digest().equals(mDesc.digest()) && !e.annotations().containsKey(OciFormat.REF_NAME));
                entries.add(mDesc);
            });
            return new Image(ref, manifest.digest(), cfg.digest(), config, layerList, root);
        }
    }

    /**
     * {@code base} with one more layer: what a sandbox of it wrote in {@code upper} (its writable
     * layer directory's upper directory, in overlayfs's format), each file it made {@code uid}'s
     * (see {@link UpperLayer#write}), and base's config.
     */
    public Image commitChanges(Image base, Path upper, int uid, String createdBy, Optional<String> name)
            throws ImageException {
        try (StoreLock.Held h = use()) {
            Image.Layer layer = UpperLayer.write(this, upper, layerDirs(base), new int[] {uid, uid});
            List<Image.Layer> layerList = new ArrayList<>(base.layers());
            layerList.add(layer);
            List<String> history = new ArrayList<>(OciFormat.parseConfig(readBlob(base.configDigest()),
                    "config " + base.configDigest()).history());
            while (history.size() < base.layers().size()) {
                history.add(0, "");
            }
            history.add(createdBy);
            return commit(base.config(), layerList, history, name);
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie
                    : new ImageException("cannot commit " + upper + " on image " + base.digest() + ": " + e, e);
        }
    }

    /** Every entry of index.json: named images and unnamed build results. */
    public List<Image> images() throws ImageException {
        List<Image> out = new ArrayList<>();
        for (Descriptor d : readIndex()) {
            out.add(load(d));
        }
        return out;
    }

    /**
     * The image a reference names: {@code name[:tag]}, or a digest of its manifest or config
     * ({@code sha256:...}, or at least 12 hex digits of one).
     */
    public Image get(String reference) throws ImageException {
        List<Descriptor> index = readIndex();
        String ref = reference.startsWith("sha256:") ? reference.substring(7) : reference;
        if (ref.matches("[0-9a-f]{12,64}")) {
            for (Descriptor d : index) {
                Image i = load(d);
                if (i.digest().hex().startsWith(ref) || i.configDigest().hex().startsWith(ref)) {
                    return i;
                }
            }
        } else {
            String name;
            try {
                name = normalizeName(reference);
            } catch (IllegalArgumentException e) {
                throw new ImageNotFoundException(e.getMessage());
            }
            for (Descriptor d : index) {
                if (name.equals(d.annotations().get(OciFormat.REF_NAME))) {
                    return load(d);
                }
            }
        }
        throw new ImageNotFoundException("no image '" + reference + "' in the image store " + root
                + "; build it (crabcan build -t " + reference + " DIR) or load it (crabcan load -i FILE);"
                + " crabcan images lists what is there");
    }

    /** Removes a name (its layers stay until {@link #prune}). */
    public void remove(String reference) throws ImageException {
        Image image = get(reference);
        try (StoreLock.Held h = storeLock.shared()) {
            updateIndex(entries -> entries.removeIf(e -> image.name().isPresent()
                    ? image.name().get().equals(e.annotations().get(OciFormat.REF_NAME))
                    : e.digest().equals(image.digest())));
        }
    }

    private Image load(Descriptor d) throws ImageException {
        OciFormat.Manifest m = OciFormat.parseManifest(readBlob(d.digest()), "manifest " + d.digest());
        OciFormat.Config c = OciFormat.parseConfig(readBlob(m.config().digest()), "config " + m.config().digest());
        List<Image.Layer> ls = m.layers().stream().map(l -> new Image.Layer(l.digest(), l.size())).toList();
        return new Image(Optional.ofNullable(d.annotations().get(OciFormat.REF_NAME)), d.digest(),
                m.config().digest(), c.config(), ls, root);
    }

    private Path indexFile() {
        return root.resolve("index.json");
    }

    private List<Descriptor> readIndex() throws ImageException {
        try {
            return OciFormat.parseIndex(Files.readAllBytes(indexFile()), indexFile().toString());
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie
                    : new ImageException("cannot read " + indexFile() + " of the image store: " + e, e);
        }
    }

    private interface IndexEdit {
        void apply(List<Descriptor> entries);
    }

    private void updateIndex(IndexEdit edit) throws ImageException {
        try (StoreLock.Held i = indexLock.exclusive()) {
            List<Descriptor> entries = new ArrayList<>(readIndex());
            edit.apply(entries);
            writeAtomically(indexFile(), OciFormat.index(entries));
        }
    }

    // ---- build cache

    /** A cache entry's text, or empty when there is none. */
    public Optional<String> cacheGet(String key) throws ImageException {
        try {
            return Optional.of(Files.readString(cache.resolve(checkKey(key))));
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            throw new ImageException("cannot read build cache entry " + key + " in " + root + ": " + e, e);
        }
    }

    /**
     * Stores a cache entry: JSON whose {@code layers} array lists the blobs it needs, so that
     * {@link #prune} drops it with them.
     */
    public void cachePut(String key, String json) throws ImageException {
        try (StoreLock.Held h = storeLock.shared()) {
            writeAtomically(cache.resolve(checkKey(key)), json.getBytes(StandardCharsets.UTF_8));
        }
    }

    private static String checkKey(String key) {
        if (!key.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("cache key '" + key + "' is not 64 hex digits");
        }
        return key;
    }

    // ---- unpacked layers

    /**
     * The directories of an image's layers, top-most first, each unpacked once (in tmp/, then
     * renamed into layers/; see {@link Unpacker.Policy#LAYER_DIR}) and shared by every sandbox
     * that runs an image with it, which never writes to it: an overlayfs of them is its root.
     */
    public List<Path> layerDirs(Image image) throws ImageException {
        return layerDirs(image.layers());
    }

    /**
     * The directories of these layers (bottom first), top-most first, as {@link #layerDirs(Image)}.
     * A layer the list has twice (two steps that wrote the same bytes) is there once, where it is
     * top-most: overlayfs refuses a directory as two of its layers (ELOOP), and the lower copy
     * shows nothing the upper one does not (what the layers between hide, the upper one shows again).
     */
    public List<Path> layerDirs(List<Image.Layer> layerList) throws ImageException {
        List<Path> out = new ArrayList<>();
        for (int i = layerList.size() - 1; i >= 0; i--) {
            Path dir = layerDir(layerList.get(i));
            if (!out.contains(dir)) {
                out.add(dir);
            }
        }
        return out;
    }

    /**
     * Keeps {@link #prune} from removing these layer directories (of {@link #layerDirs}) while the
     * returned lock is held: a shared lock on each one's {@code layers/<digest>.lock}, taken under
     * {@code store.lock} so that no prune runs meanwhile, then the directories checked.
     *
     * @throws ImageException when a directory is gone (a prune removed it since it was made)
     */
    public static StoreLock.Held useLayers(List<Path> dirs) throws ImageException {
        List<StoreLock.Held> held = new ArrayList<>();
        StoreLock.Held all = () -> held.forEach(StoreLock.Held::close);
        if (dirs.isEmpty()) {
            return all;
        }
        Path root = dirs.get(0).getParent().getParent();
        try (StoreLock.Held h = StoreLock.of(root.resolve("store.lock")).shared()) {
            for (Path d : dirs) {
                held.add(StoreLock.of(d.resolveSibling(d.getFileName() + ".lock")).shared());
                if (!Files.isDirectory(d, LinkOption.NOFOLLOW_LINKS)) {
                    throw new ImageException("layer directory " + d + " is gone: a prune of the image store removed"
                            + " it; get the image from the store again (ImageStore.get) and run it");
                }
            }
            return all;
        } catch (ImageException | RuntimeException e) {
            all.close();
            throw e;
        }
    }

    private Path layerDir(Image.Layer layer) throws ImageException {
        Path target = layers.resolve(layer.digest().hex());
        try {
            if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS) && Unpacker.marksOwners(target)) {
                return target;
            }
        } catch (IOException e) {
            throw new ImageException("cannot read layer directory " + target + ": " + e, e);
        }
        try (StoreLock.Held h = storeLock.shared()) {
            Path made = newTempDir();
            try {
                if (Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                    if (Unpacker.marksOwners(target) || !Unpacker.keepsXattrs(made)) {
                        return target; // made meanwhile; or no marks here, ever: builds say why they cannot
                    }
                    // Unpacked by an earlier version, without the owner marks builds need: set aside in tmp/,
                    // which the next prune empties (under a sandbox still running on it, if any), and made again.
                    try {
                        Files.move(target, made.resolveSibling(made.getFileName() + "-unmarked"),
                                StandardCopyOption.ATOMIC_MOVE);
                    } catch (java.nio.file.NoSuchFileException e) {
                        // another JVM or thread set it aside first
                    }
                }
                try (InputStream in = Files.newInputStream(blobPath(layer.digest()))) {
                    new Unpacker(made, new Unpacker.Owners()).apply(in, "", Unpacker.Policy.LAYER_DIR,
                            "layer " + layer.digest());
                }
                Files.move(made, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (FileAlreadyExistsException | java.nio.file.DirectoryNotEmptyException e) {
                // another JVM or thread was first
            } finally {
                Unpacker.removeTree(made);
            }
            return target;
        } catch (IOException e) {
            throw e instanceof ImageException ie ? ie
                    : new ImageException("cannot unpack layer " + layer.digest() + " in " + layers + ": " + e, e);
        }
    }

    // ---- prune

    /**
     * Removes what no named image needs: unnamed images, blobs, build cache entries and unpacked
     * layers nothing named refers to (but those a running sandbox uses, see {@link #useLayers}),
     * leftovers of killed writers in tmp/, and the {@code rootfs/} of an earlier store format.
     * Waits for running builds to end.
     */
    public Pruned prune() throws ImageException {
        try (StoreLock.Held h = storeLock.exclusive()) {
            List<Descriptor> named = new ArrayList<>();
            for (Descriptor d : readIndex()) {
                if (d.annotations().containsKey(OciFormat.REF_NAME)) {
                    named.add(d);
                }
            }
            try (StoreLock.Held i = indexLock.exclusive()) {
                writeAtomically(indexFile(), OciFormat.index(named));
            }
            Set<String> keep = new HashSet<>();
            for (Descriptor d : named) {
                keep.add(d.digest().hex());
                OciFormat.Manifest m = OciFormat.parseManifest(readBlob(d.digest()), "manifest " + d.digest());
                keep.add(m.config().digest().hex());
                m.layers().forEach(l -> keep.add(l.digest().hex()));
            }
            long[] bytes = {0};
            int files = 0;
            for (Path cacheEntry : list(cache)) {
                if (!keep.containsAll(cacheLayers(cacheEntry))) {
                    files += delete(cacheEntry, bytes);
                }
            }
            for (Path blob : list(blobs)) {
                if (!keep.contains(blob.getFileName().toString())) {
                    files += delete(blob, bytes);
                }
            }
            for (Path dir : list(layers)) {
                String name = dir.getFileName().toString();
                if (keep.contains(name) || name.endsWith(".lock")) {
                    continue;
                }
                // A running sandbox's layer (useLayers) stays: it is mounted.
                Path lockFile = layers.resolve(name + ".lock");
                Optional<StoreLock.Held> unused = StoreLock.of(lockFile).tryExclusive();
                if (unused.isPresent()) {
                    try (StoreLock.Held l = unused.get()) {
                        files += delete(dir, bytes);
                        delete(lockFile, bytes); // no starter opens it meanwhile: they take store.lock first
                    }
                }
            }
            for (Path t : list(tmp)) {
                if (Files.isDirectory(t, LinkOption.NOFOLLOW_LINKS)) {
                    removeBuildDir(t); // a killed RUN step's upper and work directories
                    files++;
                } else {
                    files += delete(t, bytes);
                }
            }
            // Flattened root filesystems of an earlier store format, which nothing reads any more.
            if (Files.exists(root.resolve("rootfs"), LinkOption.NOFOLLOW_LINKS)) {
                files += delete(root.resolve("rootfs"), bytes);
            }
            return new Pruned(files, bytes[0]);
        }
    }

    private Set<String> cacheLayers(Path entry) {
        try {
            Object layersJson = OciFormat.object(OciFormat.parse(Files.readAllBytes(entry), entry.toString()),
                    entry.toString()).get("layers");
            Set<String> out = new HashSet<>();
            for (String l : OciFormat.strings(layersJson, entry + " layers")) {
                out.add(Digest.parse(l).hex());
            }
            return out;
        } catch (IOException | IllegalArgumentException e) {
            return Set.of("unreadable entry"); // never kept: a damaged entry is removed
        }
    }

    private static List<Path> list(Path dir) throws ImageException {
        List<Path> out = new ArrayList<>();
        try (DirectoryStream<Path> s = Files.newDirectoryStream(dir)) {
            s.forEach(out::add);
        } catch (IOException e) {
            throw new ImageException("cannot list " + dir + " of the image store: " + e, e);
        }
        return out;
    }

    private static int delete(Path p, long[] bytes) throws ImageException {
        try {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
                deleteTree(p);
            } else {
                bytes[0] += Files.size(p);
                Files.deleteIfExists(p);
            }
            return 1;
        } catch (IOException e) {
            throw new ImageException("cannot delete " + p + " from the image store: " + e, e);
        }
    }

    private static void removeBuildDir(Path dir) throws ImageException {
        try {
            Unpacker.removeTree(dir);
        } catch (IOException e) {
            throw new ImageException("cannot delete " + dir + " from the image store: " + e, e);
        }
    }

    private static void deleteTree(Path dir) throws ImageException {
        try {
            PrivateDirs.deleteTree(dir);
        } catch (IOException e) {
            throw new ImageException("cannot delete " + dir + " from the image store: " + e, e);
        }
    }
}
