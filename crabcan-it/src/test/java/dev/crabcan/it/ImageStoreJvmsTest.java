package dev.crabcan.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crabcan.Sandbox;
import dev.crabcan.SandboxProcess;
import dev.crabcan.SandboxSpecException;
import dev.crabcan.image.Image;
import dev.crabcan.image.ImageBuild;
import dev.crabcan.image.ImageStore;
import dev.crabcan.internal.image.Store;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** One image store shared by several JVMs, and a JVM killed while writing to it. */
class ImageStoreJvmsTest {

    private static Process writer(Path tmp, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-cp", System.getProperty("java.class.path"), "-XX:-UsePerfData", "-Djava.io.tmpdir=" + tmp,
                StoreWriter.class.getName()));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
    }

    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void severalJvmsCommitWhileAnotherPrunesAndNothingIsLost(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("store");
        ImageStore store = ImageStore.open(dir);
        List<Process> writers = new ArrayList<>();
        try {
            for (int w = 0; w < 3; w++) {
                writers.add(writer(tmp, "commit", dir.toString(), "w" + w, "15"));
            }
            int prunes = 0;
            while (writers.stream().anyMatch(Process::isAlive)) {
                store.prune();
                prunes++;
            }
            for (Process p : writers) {
                assertThat(p.waitFor()).as("writer exit status").isZero();
                assertThat(new String(p.getInputStream().readAllBytes())).isEqualTo("done\n");
            }
            assertThat(prunes).as("prunes while the writers ran").isPositive();
        } finally {
            writers.forEach(Process::destroyForcibly);
        }
        store.prune();
        assertThat(store.images()).hasSize(45);
        for (int w = 0; w < 3; w++) {
            for (int i = 0; i < 15; i++) {
                Image image = store.get("w" + w + "-" + i);
                assertThat(image.config().env()).containsEntry("I", Integer.toString(i));
                for (Image.Layer l : image.layers()) {
                    assertThat(dir.resolve("blobs/sha256").resolve(l.digest().hex())).isRegularFile();
                }
            }
        }
    }

    @Test
    @Timeout(value = 180, unit = TimeUnit.SECONDS)
    void aPruneLeavesTheLayersOfARunningSandboxAndRemovesWhatNothingUses(@TempDir Path tmp) throws Exception {
        Path ctx = Files.createDirectories(tmp.resolve("ctx"));
        BuildTest.busyboxRootfs(ctx.resolve("rootfs"));
        Files.writeString(ctx.resolve("Crabfile"), "FROM ./rootfs\n");
        Path dir = tmp.resolve("store");
        ImageStore store = ImageStore.open(dir);
        Image image = ImageBuild.builder(store, ctx).tag("t").build().run();
        Sandbox sandbox = Sandbox.builder().image(image).command("/bin/sh", "-c", "read x; cat /etc/group").build();
        Path layer = dir.resolve("layers").resolve(image.layers().get(0).digest().hex());
        // Flattened trees of an earlier store format, which nothing reads any more.
        Files.createDirectories(dir.resolve("rootfs/old/etc"));
        Files.writeString(dir.resolve("rootfs/old/etc/passwd"), "root:x:0:0::/:/bin/sh\n");
        store.remove("t");

        try (SandboxProcess p = sandbox.start()) {
            store.prune();
            Process other = writer(tmp, "prune", dir.toString());
            assertThat(other.waitFor()).as("the other JVM's prune").isZero();
            assertThat(layer).as("the running sandbox's layer, kept by both prunes").isDirectory();
            p.getOutputStream().write("go\n".getBytes());
            p.getOutputStream().close();
            assertThat(new String(p.getInputStream().readAllBytes())).isEqualTo("root:x:0:\napp:x:1000:\n");
            assertThat(p.waitFor()).isZero();
        }

        Process other = writer(tmp, "prune", dir.toString());
        assertThat(other.waitFor()).isZero();
        assertThat(layer).as("unused once the sandbox ended").doesNotExist();
        assertThat(dir.resolve("rootfs")).doesNotExist();
        try (Stream<Path> left = Files.list(dir.resolve("layers"))) {
            assertThat(left).as("nor its lock file").isEmpty();
        }
        assertThatThrownBy(() -> sandbox.start()).isInstanceOf(SandboxSpecException.class)
                .hasMessageContaining("prune");
    }

    @Test
    @Timeout(value = 120, unit = TimeUnit.SECONDS)
    void aJvmKilledWhileWritingALayerLeavesNothingHalfWritten(@TempDir Path tmp) throws Exception {
        Path dir = tmp.resolve("store");
        ImageStore.open(dir);
        Process p = writer(tmp, "stall", dir.toString());
        try {
            String line = new BufferedReader(new InputStreamReader(p.getInputStream())).readLine();
            assertThat(line).isEqualTo("writing");
            p.destroyForcibly(); // SIGKILL: nothing of the JVM runs after it
            assertThat(p.waitFor(10, TimeUnit.SECONDS)).isTrue();
        } finally {
            p.destroyForcibly();
        }

        try (Stream<Path> blobs = Files.list(dir.resolve("blobs/sha256"))) {
            for (Path b : blobs.toList()) {
                String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(b)));
                assertThat(sha).as("every blob is complete: its name is its bytes' sha256").isEqualTo(b.getFileName().toString());
            }
        }
        try (Stream<Path> debris = Files.list(dir.resolve("tmp"))) {
            assertThat(debris.count()).as("the killed writer's partial file, only in tmp/").isEqualTo(1);
        }

        ImageStore next = ImageStore.open(dir);
        Store s = Store.open(dir);
        s.commit(dev.crabcan.image.ImageConfig.empty(), List.of(s.putBlob(new byte[] {1}).asLayer()), List.of(),
                java.util.Optional.of("after"));
        assertThat(next.get("after").layers()).hasSize(1);
        // What the writer had handed over, less what its 64 KiB buffer still held when it was killed.
        assertThat(next.prune().bytes()).as("the partial file's bytes").isGreaterThanOrEqualTo((8 << 20) - (1 << 16));
        try (Stream<Path> debris = Files.list(dir.resolve("tmp"))) {
            assertThat(debris.count()).isZero();
        }
    }
}
