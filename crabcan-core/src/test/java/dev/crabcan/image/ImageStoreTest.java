package dev.crabcan.image;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.internal.image.OciFormat;
import dev.crabcan.internal.image.Store;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

class ImageStoreTest {
    @TempDir
    Path dir;

    private static final ImageConfig CONFIG = ImageConfig.builder().env("PATH", "/bin").env("A", "a=b")
            .user("1000:1000").workingDir("/app").entrypoint(List.of("/bin/app")).cmd(List.of("--x", "y z"))
            .label("org.example", "v").exposedPort("80").exposedPort("53/udp").volume("/data").stopSignal("SIGINT")
            .shell(List.of("/bin/ash", "-c")).build();

    private Image commit(ImageStore store, String name, String... layerTexts) throws Exception {
        List<Image.Layer> layers = new ArrayList<>();
        for (String t : layerTexts) {
            layers.add(store.store().putBlob(t.getBytes(StandardCharsets.UTF_8)).asLayer());
        }
        return store.store().commit(CONFIG, layers, List.of(), Optional.ofNullable(name));
    }

    @Test
    void aStoreWhoseLayersBlobsCacheOrTmpOthersCanChangeIsRefused() throws Exception {
        for (String sub : List.of("layers", "blobs", "blobs/sha256", "cache", "tmp")) {
            Path root = dir.resolve(sub.replace('/', '-'));
            ImageStore.open(root);
            for (String d : List.of("layers", "blobs", "blobs/sha256", "cache", "tmp")) {
                assertThat(Files.getAttribute(root.resolve(d), "unix:mode")).as(d).isEqualTo(040700);
            }
            Files.setAttribute(root.resolve(sub), "unix:mode", 0777);

            assertThatThrownBy(() -> ImageStore.open(root)).isInstanceOf(ImageException.class)
                    .hasMessageContaining(root.resolve(sub).toString()).hasMessageContaining("writable by other users");
        }
        boolean root = Files.getAttribute(Path.of("/proc/self"), "unix:uid").equals(0);
        if (root) {
            Path planted = dir.resolve("planted");
            Files.createDirectories(planted.resolve("layers"));
            Files.setAttribute(planted, "unix:mode", 0700);
            Files.setAttribute(planted.resolve("layers"), "unix:uid", 65534);
            assertThatThrownBy(() -> ImageStore.open(planted)).isInstanceOf(ImageException.class)
                    .hasMessageContaining("belongs to another user");
        }
    }

    @Test
    void theStoreIsAnOciLayoutAndImagesRoundTrip() throws Exception {
        ImageStore store = ImageStore.open(dir.resolve("s"));
        Image built = commit(store, "judge/gcc", "layer one", "layer two");

        assertThat(dir.resolve("s/oci-layout")).hasContent("{\"imageLayoutVersion\":\"1.0.0\"}");
        assertThat(Files.readString(dir.resolve("s/index.json"))).contains(OciFormat.MANIFEST)
                .contains("\"org.opencontainers.image.ref.name\":\"judge/gcc:latest\"");
        Image read = ImageStore.open(dir.resolve("s")).get("judge/gcc");
        assertThat(read).isEqualTo(built);
        assertThat(read.name()).contains("judge/gcc:latest");
        assertThat(read.config()).isEqualTo(CONFIG);
        assertThat(read.layers()).extracting(Image.Layer::size).containsExactly(9L, 9L);
        assertThat(store.get(built.digest().toString())).isEqualTo(built);
        assertThat(store.get(built.configDigest().shortHex())).isEqualTo(built);
        assertThat(store.images()).containsExactly(built);
    }

    @Test
    void aLayerIsNamedByTheSha256OfItsBytesAndStoredOnce() throws Exception {
        ImageStore store = ImageStore.open(dir);
        byte[] bytes = "the same tar".getBytes(StandardCharsets.UTF_8);
        Digest d = store.store().putBlob(bytes).digest();
        store.store().putBlob(bytes);

        assertThat(d.hex()).isEqualTo(HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)));
        assertThat(Files.readAllBytes(dir.resolve("blobs/sha256").resolve(d.hex()))).isEqualTo(bytes);
        try (Stream<Path> s = Files.list(dir.resolve("blobs/sha256"))) {
            assertThat(s.count()).isEqualTo(1);
        }
        try (Stream<Path> s = Files.list(dir.resolve("tmp"))) {
            assertThat(s.count()).as("nothing left in tmp").isZero();
        }
    }

    @Test
    void theSameImageHasTheSameDigestAndARenameMovesTheName() throws Exception {
        ImageStore store = ImageStore.open(dir);
        Image a = commit(store, "a", "x");
        Image b = commit(store, "b", "x");
        Image a2 = commit(store, "a:latest", "y");

        assertThat(b.digest()).isEqualTo(a.digest());
        assertThat(store.get("a")).isEqualTo(a2);
        assertThat(store.get("b")).isEqualTo(b);
        assertThat(store.images()).hasSize(2);
    }

    @Test
    void namesAreCheckedAndAMissingImageSaysHowToGetIt() throws Exception {
        assertThat(Store.normalizeName("a")).isEqualTo("a:latest");
        assertThat(Store.normalizeName("judge/gcc-12:v1.0")).isEqualTo("judge/gcc-12:v1.0");
        assertThatThrownBy(() -> Store.normalizeName("Judge")).hasMessageContaining("lowercase");
        assertThatThrownBy(() -> Store.normalizeName("a:")).hasMessageContaining("is not an image name");
        assertThatThrownBy(() -> Store.normalizeName("../x")).hasMessageContaining("is not an image name");
        ImageStore store = ImageStore.open(dir);
        assertThatThrownBy(() -> store.get("nope")).isInstanceOf(ImageNotFoundException.class)
                .hasMessageContaining("crabcan build -t nope").hasMessageContaining("crabcan load");
        assertThat(store.find("nope")).isEmpty();
    }

    @Test
    void pruneKeepsNamedImagesAndRemovesTheRest() throws Exception {
        ImageStore store = ImageStore.open(dir);
        Image kept = commit(store, "kept", "shared", "kept only");
        Image dropped = commit(store, "dropped", "shared", "dropped only");
        commit(store, null, "unnamed");
        Digest droppedOnly = dropped.layers().get(1).digest();
        Digest keptLayer = kept.layers().get(1).digest();
        store.store().cachePut("a".repeat(64), "{\"layers\":[\"" + droppedOnly + "\"]}");
        store.store().cachePut("b".repeat(64), "{\"layers\":[\"" + keptLayer + "\"]}");
        Files.writeString(store.store().newTempFile(), "debris of a killed build");
        Path unpacked = Files.createDirectory(dir.resolve("layers").resolve(droppedOnly.hex()));
        store.remove("dropped");

        assertThat(store.images()).hasSize(2);
        ImageStore.Pruned p = store.prune();

        assertThat(store.images()).containsExactly(kept);
        assertThat(store.store().hasBlob(droppedOnly)).isFalse();
        assertThat(store.store().hasBlob(keptLayer)).isTrue();
        assertThat(store.store().hasBlob(kept.layers().get(0).digest())).isTrue();
        assertThat(store.store().cacheGet("a".repeat(64))).isEmpty();
        assertThat(store.store().cacheGet("b".repeat(64))).isPresent();
        assertThat(unpacked).doesNotExist();
        try (Stream<Path> s = Files.list(dir.resolve("tmp"))) {
            assertThat(s.count()).isZero();
        }
        assertThat(p.entries()).isGreaterThanOrEqualTo(7);
        assertThat(p.bytes()).isPositive();
        assertThat(store.prune().entries()).isZero();
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void threadsCommittingWhilePruningLoseNothing() throws Exception {
        ImageStore store = ImageStore.open(dir);
        ExecutorService pool = Executors.newFixedThreadPool(5);
        try {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int thread = t;
                jobs.add(pool.submit(() -> {
                    for (int i = 0; i < 25; i++) {
                        try (var held = store.store().use()) {
                            commit(store, "t" + thread + "-" + i, "common", "t" + thread + " " + i);
                        }
                    }
                    return null;
                }));
            }
            jobs.add(pool.submit(() -> {
                for (int i = 0; i < 10; i++) {
                    store.prune();
                }
                return null;
            }));
            for (Future<?> f : jobs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        store.prune();
        assertThat(store.images()).hasSize(100);
        for (int t = 0; t < 4; t++) {
            for (int i = 0; i < 25; i++) {
                Image image = store.get("t" + t + "-" + i);
                for (Image.Layer l : image.layers()) {
                    assertThat(store.store().hasBlob(l.digest())).isTrue();
                }
            }
        }
    }

    @Test
    void theDefaultDirectoryFollowsXdg() {
        String xdg = System.getenv("XDG_DATA_HOME");
        Path expected = xdg != null && xdg.startsWith("/") ? Path.of(xdg, "crabcan", "images")
                : Path.of(System.getProperty("user.home"), ".local/share/crabcan/images");
        assertThat(ImageStore.defaultDirectory()).isEqualTo(expected);
    }
}
